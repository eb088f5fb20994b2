"""MARS (real TI point clouds): import, train mars-cnn and pointpose, evaluate on every labelled split

  rfpose bench mars ../shared/data/mars --out bench/mars --minutes 14

See :mod:`rfpose.app.benchmarking.mars`.
"""

from __future__ import annotations

import json
import sys


def add_arguments(p) -> None:
    """(``--out`` and ``--json`` come from ``rfpose bench``; here ``--out`` is the output directory.)"""
    for action in p._actions:
        if "--out" in action.option_strings:
            action.help, action.metavar = "output directory (dataset, runs, one JSON per model and split)", "OUT_DIR"
    p.add_argument("mars_dir", metavar="MARS_DIR", help="the MARS tree (synced_data/, feature/)")
    p.add_argument("--minutes", type=float, default=14.0, help="training budget per model (default 14)")
    p.add_argument("--models", nargs="+", default=["mars-cnn", "pointpose"],
                   help="models to train (default: mars-cnn pointpose)")
    p.add_argument("--test-subject", type=int, metavar="K",
                   help="leave subject K out (its frames are the test split)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads (default 1: fastest on a shared 2-core machine)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--force", action="store_true",
                   help="re-import MARS and retrain even if OUT_DIR holds the dataset and finished runs")


def run(args) -> int:
    from rfpose.app.benchmarking import print_table
    from rfpose.app.benchmarking.mars import run_bench
    from rfpose.errors import ConfigError

    if not args.out:
        raise ConfigError("rfpose bench mars needs --out OUT_DIR")
    rows = run_bench(args.mars_dir, args.out, args.minutes, args.models, args.test_subject, args.threads, args.seed,
                     args.force)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    table = [{"model": r["model"], "split": r["split"], "frames": r["frames"],
              **{f"mae_{a}_cm": round(r["mae_cm"][a], 2) for a in ("x", "y", "z", "mean")},
              "mpjpe_mm": round(r["mpjpe_mm"], 1), "pa_mpjpe_mm": round(r["pa_mpjpe_mm"], 1),
              "train_min": r["train_minutes"], "epochs": r["epochs"]} for r in rows]
    print_table(table, file=sys.stdout)  # print_table's default stream is the one at its import
    return 0
