"""Build a fixed, seeded dataset preset from the simulator (sessions → DATASET.zarr).

  rfpose simulate-dataset --list
  rfpose simulate-dataset --preset sim-bench-v1 --out data/sim-bench-v1 [--workers 2]
  rfpose simulate-dataset --preset sim-bench-v1 --out /tmp/smoke --subjects 3 --frames-per-session 2 --scenarios walk
  rfpose simulate-dataset --preset sim-falls-v1 --out data/sim-falls-small --subjects 4 --frames-per-session 60 --test-takes 1
  rfpose simulate-dataset --preset sim-falls-v1 --out data/falls-val-13-20 --held-out val:13,14,15,16,17,18,19,20

The presets live in ``rfpose.app.sim_datasets`` (one module each); ``--list`` names them.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from rfpose.app.sim_datasets import build_preset, get_preset, held_out_only, presets, simulate_sessions


def add_arguments(p) -> None:
    from rfpose.cli import args as a

    p.add_argument("--list", action="store_true", help="list the presets and exit")
    p.add_argument("--preset", default="sim-bench-v1")
    p.add_argument("--out", help="output directory (sessions/, dataset.zarr, preset.json)")
    p.add_argument("--subjects", type=a.positive_int, help="use only the first N subject seeds (smoke runs; changes the preset)")
    p.add_argument("--frames-per-session", type=a.positive_int, help="override frames per session (smoke runs)")
    p.add_argument("--scenarios", help="comma-separated scenario subset (smoke runs; changes the preset)")
    p.add_argument("--test-takes", type=a.positive_int,
                   help="takes of every scenario per test subject (presets that have test_takes; smoke runs)")
    p.add_argument("--train-takes", type=a.positive_int,
                   help="takes of every scenario per training subject (at most the preset's; reduced runs)")
    p.add_argument("--held-out", metavar="SPLIT:SEEDS", type=_held_out,
                   help="simulate only these subjects, as the preset's val or test subjects (val:9,10 or test:21,22): "
                        "more held-out subjects of the same design for evaluate-monitor; no dataset.zarr")
    p.add_argument("--workers", type=a.positive_int, default=1, help="sessions simulated at once (one process and core each)")
    p.add_argument("--scheduler", type=a.scheduler, default="synchronous",
                   help="dataset build: 'synchronous' (default), 'local' (dask LocalCluster) or a scheduler address")


def _held_out(text: str) -> tuple[str, tuple[int, ...]]:
    import argparse

    from rfpose.cli import args as a

    split, _, seeds = text.partition(":")
    if split not in ("val", "test") or not seeds:
        raise argparse.ArgumentTypeError(f"{text!r}: expected val:SEEDS or test:SEEDS (e.g. val:9,10)")
    values = tuple(a.comma_list(a.positive_int)(seeds))
    if len(set(values)) != len(values):
        raise argparse.ArgumentTypeError(f"{text!r}: a seed repeats")
    return split, values


def _refuse_another_preset(out: Path, preset) -> None:
    """Held-out subjects go to a directory of their own: one that holds another preset (a full build, or other
    subjects) keeps its preset.json."""
    from rfpose.errors import ConfigError

    path = out / "preset.json"
    if not path.is_file():
        return
    try:
        old = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ConfigError(f"{path}: unreadable ({e}); give --held-out a directory of its own") from None
    new = preset.to_dict()
    keys = ("name", "subject_seeds", "val_seeds", "test_seeds")
    if [old.get(k) for k in keys] != [json.loads(json.dumps(new[k])) for k in keys]:
        raise ConfigError(f"{out}: holds another preset ({old.get('name')}, subjects {old.get('subject_seeds')}); "
                          "give --held-out a directory of its own")


def run(args) -> int:
    from rfpose.errors import ConfigError

    if args.list:
        for name, pr in presets().items():
            print(f"{name}  {pr.description}")
        return 0
    if args.scenarios:
        from rfpose.sim.scenarios import get_scenario

        for a in args.scenarios.split(","):
            get_scenario(a.strip())  # UnknownNameError lists the valid ones
    if not args.out:
        raise ConfigError("--out DIR is required (or --list)")
    preset = get_preset(args.preset)
    if args.subjects:
        seeds = preset.subject_seeds[: args.subjects]
        if len(seeds) < 3:
            raise ConfigError("--subjects must be at least 3 (train, val and test need one subject each)")
        preset = replace(preset, name=f"{preset.name}-s{len(seeds)}", subject_seeds=seeds,
                         val_seeds=(seeds[-2],), test_seeds=(seeds[-1],))
    if args.scenarios:
        preset = replace(preset, name=f"{preset.name}-a{len(args.scenarios.split(','))}",
                         scenarios=tuple(a.strip() for a in args.scenarios.split(",")))
    if args.frames_per_session:
        preset = replace(preset, name=f"{preset.name}-f{args.frames_per_session}",
                         frames_per_session=args.frames_per_session)
    if args.test_takes:
        if not hasattr(preset, "test_takes"):
            raise ConfigError(f"--test-takes: preset {args.preset} has no test takes")
        preset = replace(preset, name=f"{preset.name}-k{args.test_takes}", test_takes=args.test_takes)
    if args.train_takes:
        if args.train_takes > preset.train_takes:
            raise ConfigError(f"--train-takes {args.train_takes}: preset {args.preset} has {preset.train_takes}")
        preset = replace(preset, name=f"{preset.name}-t{args.train_takes}", train_takes=args.train_takes)
    if args.held_out:
        split, seeds = args.held_out
        preset = held_out_only(preset, split, seeds)
        _refuse_another_preset(Path(args.out), preset)
        plan, done = simulate_sessions(preset, args.out, workers=args.workers, only_seeds=seeds)
        print(json.dumps({"preset": preset.name, "split": split, "seeds": list(seeds), "sessions": len(plan),
                          "simulated_now": len(done), "out": str(args.out)}))
        return 0
    scheduler = None if args.scheduler == "local" else args.scheduler
    summary = build_preset(preset, args.out, scheduler=scheduler, workers=args.workers)
    print(json.dumps(summary))
    return 0
