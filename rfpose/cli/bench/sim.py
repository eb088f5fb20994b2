"""Simulator speed: radar (per board), LiDAR and camera frames per second.

See :mod:`rfpose.app.benchmarking.sim`.
"""

from __future__ import annotations


def add_arguments(p) -> None:
    p.add_argument("--boards", default="awr1843boost,mmwcas", help="comma-separated radar boards")
    p.add_argument("--repeat", type=int, default=3, help="timing rounds (best is reported)")
    p.add_argument("--seed", type=int, default=0)


def run(args) -> int:
    from rfpose.app.benchmarking import emit, sim

    rows = sim.run([b.strip() for b in args.boards.split(",") if b.strip()], args.repeat, args.seed)
    emit(rows, args.json, args.out, title="rfpose bench sim")
    return 0
