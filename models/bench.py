"""every registered model: parameters, multiply-adds, latency, throughput (CPU)

Latency is the median wall time of one batch-1 forward pass (no autograd) over ``--runs`` runs after
``--warmup`` runs; throughput is frames per second at ``--batch-size``. Models above ``--heavy-gmacs``
(the full HRRadarPose is ~93 GMACs, tens of seconds per frame on two cores) get one warm-up and one
timed run, and the row says so (``runs``). MACs are counted analytically on the meta device.
"""

from __future__ import annotations

import statistics
import time


def add_arguments(p) -> None:
    p.add_argument("--models", default="*", help="comma-separated names or glob (default: every registered model)")
    p.add_argument("--quick", action="store_true", help="2 runs, no throughput batch, for a smoke check")
    p.add_argument("--runs", type=int, default=10, help="timed runs per model (default 10)")
    p.add_argument("--warmup", type=int, default=2, help="untimed runs first (default 2)")
    p.add_argument("--batch-size", type=int, default=4, help="batch for the throughput figure (default 4)")
    p.add_argument("--heavy-gmacs", type=float, default=20.0,
                   help="models above this many GMACs/frame get 1 warm-up + 1 run (default 20)")
    p.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's)")


def _time(fn, runs: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def bench_model(name: str, runs: int, warmup: int, batch_size: int, heavy_gmacs: float, quick: bool) -> dict:
    import torch

    from rfpose.models import create_model
    from rfpose.models.complexity import count_macs_meta

    model = create_model(name).eval()
    shapes = [tuple(t.shape) for t in model.example_inputs(1)]
    macs = count_macs_meta(lambda: create_model(name), shapes)
    heavy = macs / 1e9 > heavy_gmacs
    if heavy or quick:
        runs, warmup = (1, 1) if heavy else (2, 1)
    g = torch.Generator().manual_seed(0)
    x1 = [torch.rand(s, generator=g) for s in shapes]
    with torch.inference_mode():
        lat = _time(lambda: model(*x1), runs, warmup)
        row = {"model": name, "params": sum(p.numel() for p in model.parameters()), "macs": macs,
               "gmacs": round(macs / 1e9, 3),
               "input": "x".join(map(str, shapes[0][1:])) + (" x2 views" if len(shapes) > 1 else ""),
               "latency_ms": statistics.median(lat) * 1e3, "runs": runs}
        if heavy or quick or batch_size <= 1:
            row["frames_per_s"] = 1.0 / statistics.median(lat)
            row["throughput_batch"] = 1
        else:
            xb = [torch.rand((batch_size, *s[1:]), generator=g) for s in shapes]
            tb = _time(lambda: model(*xb), max(runs // 2, 1), 1)
            row["frames_per_s"] = batch_size / statistics.median(tb)
            row["throughput_batch"] = batch_size
    return row


def run(args) -> int:
    import fnmatch

    import torch

    from rfpose.benchmarking import emit
    from rfpose.errors import UnknownNameError
    from rfpose.models import list_models

    if args.threads:
        torch.set_num_threads(args.threads)
    names = []
    for pat in args.models.split(","):
        hits = [n for n in list_models() if fnmatch.fnmatch(n, pat.strip())]
        if not hits:
            raise UnknownNameError("model", pat, list_models())
        names += [h for h in hits if h not in names]
    rows = [bench_model(n, args.runs, args.warmup, args.batch_size, args.heavy_gmacs, args.quick) for n in names]
    emit(rows, args.json, args.out, title="rfpose bench model (CPU, float32, inference mode)")
    return 0
