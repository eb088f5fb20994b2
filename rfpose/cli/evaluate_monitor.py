"""Replay a simulated fall benchmark's sessions through the room monitor and score falls and presence.

  rfpose evaluate-monitor [RUN] --data data/sim-falls-v1 [--split test] [--config monitor.toml] [--json] [--out F]

The sessions of the split's subjects (``rfpose simulate-dataset --preset sim-falls-v1``) go through the
monitor's own path (the run's preprocessing and model, or without RUN clusters of CFAR points as a board's
demo firmware would send; tracking, posture, fall and presence rules) with the
frame times as its clock, faster than real time. Reports fall recall, false alarms per hour of non-fall
activity (and the hours), time from the floor to the first alert, occupancy after entry and empty after
leaving. Tune the rules (``--config``) on ``--split val``, report ``--split test``.
"""

from __future__ import annotations

import json


def add_arguments(p) -> None:
    from rfpose.cli import args as a

    p.add_argument("run_dir", metavar="RUN", nargs="?",
                   help="training run directory (rfpose train); none: people as clusters of CFAR points ([clusters])")
    p.add_argument("--data", required=True, help="the --out directory of rfpose simulate-dataset (preset.json, sessions/)")
    p.add_argument("--split", default="test", choices=["train", "val", "test"], help="whose sessions (by subject)")
    p.add_argument("--config", help="monitor.toml whose room, tracking and [events] rules are evaluated "
                                    "(default: the defaults, the radar 1 m above the floor as simulated)")
    p.add_argument("--pre", type=a.nonnegative_float, default=3.0, help="seconds of empty room before each person")
    p.add_argument("--post", type=a.nonnegative_float, default=35.0,
                   help="seconds of empty room after a person leaves (leave trials)")
    p.add_argument("--leave-trials", type=a.nonnegative_int,
                   help="non-fall sessions that end with the person leaving, spread over scenarios (default: all)")
    p.add_argument("--runtime", default="torch", choices=["torch", "onnx", "auto"])
    p.add_argument("--threads", type=a.positive_int, default=1, help="inference threads (per worker)")
    p.add_argument("--workers", type=a.positive_int, default=1,
                   help="trials replayed at once, each in its own process with its own model (same result)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--out", help="also write the JSON here")
    a.add_force(p)


def run(args) -> int:
    from rfpose.app.monitor.evaluate import evaluate_monitor, format_table
    from rfpose.cli.args import output_file

    if args.out:
        output_file(args.out, args.force)
    cfg = None
    if args.config:
        from rfpose.app.monitor.config import load_config

        cfg = load_config(args.config)
    summary = evaluate_monitor(args.run_dir, args.data, cfg, args.split, args.pre, args.post, args.leave_trials,
                               args.runtime, args.threads, workers=args.workers)
    text = json.dumps(summary, indent=2, default=float)
    print(text if args.json else format_table(summary))
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    return 0
