"""every registered model: parameters, multiply-adds, latency, throughput (CPU)

See :mod:`rfpose.app.benchmarking.model`.
"""

from __future__ import annotations


def add_arguments(p) -> None:
    p.add_argument("--models", default="*", help="comma-separated names or glob (default: every registered model)")
    p.add_argument("--quick", action="store_true", help="2 runs, no throughput batch, for a smoke check")
    p.add_argument("--runs", type=int, default=10, help="timed runs per model (default 10)")
    p.add_argument("--warmup", type=int, default=2, help="untimed runs first (default 2)")
    p.add_argument("--batch-size", type=int, default=4, help="batch for the throughput figure (default 4)")
    p.add_argument("--heavy-gmacs", type=float, default=20.0,
                   help="models above this many GMACs/frame get 1 warm-up + 1 run (default 20)")
    p.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's)")


def run(args) -> int:
    from rfpose.app.benchmarking import emit, model

    rows = model.run(args.models.split(","), args.runs, args.warmup, args.batch_size, args.heavy_gmacs, args.quick,
                     args.threads)
    emit(rows, args.json, args.out, title="rfpose bench model (CPU, float32, inference mode)")
    return 0
