"""Run the whole pipeline on the simulated rig and write a report.

  rfpose demo [--out DIR] [--quick]

Emulated radar devices stream simulated data through the real drivers into a recorded session; a
simulated training set is preprocessed, hrradarpose-lite is trained and evaluated on held-out subjects,
and the captured session is replayed radar-only through the trained model. DIR/report.html shows it
all; DIR/report.json holds every number. The full run takes up to ~15 min on 2 cores, --quick ~3 min.
"""

from __future__ import annotations


def add_arguments(p) -> None:
    p.add_argument("--out", default="demo-out", help="output directory (default: demo-out)")
    p.add_argument("--quick", action="store_true", help="a small run (~3 min): fewer subjects, short training")
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--train-minutes", type=float, help="training budget (default: 7, quick: 0.6)")
    p.add_argument("--scheduler", help="Dask scheduler for preprocessing: an address, or 'synchronous' "
                                       "(default: a local cluster)")


def run(args) -> int:
    from rfpose.app.demo import DemoConfig, run_demo

    overrides = {"out": args.out, "seed": args.seed, "scheduler": args.scheduler}
    if args.train_minutes is not None:
        overrides["train_minutes"] = args.train_minutes
    doc = run_demo(DemoConfig.preset(args.quick, **overrides))
    failed = [s["stage"] for s in doc["stages"] if s["status"] == "failed"]
    return 1 if failed else 0
