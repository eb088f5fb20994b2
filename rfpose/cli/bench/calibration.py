"""Calibration against the simulator's truth: simulated board and reflector captures per seed, every solver
of ``rfpose calibrate``, each sensor's error and the time it took.

  rfpose bench calibration [--seeds 0,1,2] [--board awr1843boost] [--camera-hz 10] [--json] [--out F.json]

See :mod:`rfpose.app.benchmarking.calibration`; the bounds are issue #15's (README, docs/calibration-*.md).
"""

from __future__ import annotations


def add_arguments(p) -> None:
    from rfpose.cli import args as a

    p.add_argument("--seeds", type=a.comma_list(a.int_range(0)), default="0,1,2",
                   help="comma-separated rig seeds (one simulated rig each)")
    p.add_argument("--board", default="awr1843boost", help="radar board (awr1843boost, mmwcas, …)")
    p.add_argument("--camera-hz", type=a.positive_float, default=10.0, help="camera frame rate of the captures")
    p.add_argument("--work", help="keep the captures in this directory (default: a temporary one)")


def run(args) -> int:
    from rfpose.app.benchmarking import calibration, emit

    rows, timing = calibration.run(args.seeds, args.board, args.camera_hz, args.work, progress=not args.json)
    emit(rows, args.json, args.out, title=f"rfpose bench calibration ({args.board}, cameras {args.camera_hz:g} Hz)",
         extra={"timing": timing, "board": args.board, "camera_hz": args.camera_hz})
    if not args.json:
        for t in timing:
            print(f"seed {t['seed']}: calibration {t['calibrate_wall_s']} s wall, {t['calibrate_cpu_s']} s CPU "
                  f"(captures simulated in {t['simulate_wall_s']} s)")
    return 0
