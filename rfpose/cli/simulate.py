"""Simulate a multi-sensor session on the virtual rig (raw ADC, LiDAR, RGB, ground-truth skeletons).

  rfpose simulate --list
  rfpose simulate --scenario walk --frames 50 --out walk.zarr --board awr1843boost --seed 3

Writes the session format (rfpose.session): radar streams with the exact wire words, LiDAR sweeps, camera
images, label set "gt" (rtpose15, 3D, rig = radar frame, metres; provenance method "simulator") at each
radar frame, and "gt_2d_<camera>" (projected keypoints, confidence 1 inside the image, 0 outside).
"""

from __future__ import annotations


def add_arguments(p) -> None:
    from rfpose.cli import args as a

    p.add_argument("--list", action="store_true", help="list the scenarios and exit")
    p.add_argument("--scenario", default="walk", help="scenario name (see --list)")
    p.add_argument("--frames", type=a.positive_int,
                   help="radar frames to simulate (other sensors cover the same time); default 10, or all of a "
                        "calibration scenario's target poses")
    p.add_argument("--out", help="session directory to write (SESSION.zarr)")
    p.add_argument("--board", help="radar board preset (default: mmwcas; hupr-rig: awr1843boost)")
    p.add_argument("--cfg", help="radar .cfg file instead of the board's default")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--people", type=a.positive_int, help="number of people (actions of the scenario cycle)")
    p.add_argument("--no-camera", action="store_true", help="no camera streams")
    p.add_argument("--no-lidar", action="store_true", help="no LiDAR stream")
    p.add_argument("--lidar-pattern", default="livox", choices=("livox", "spinning32", "spinning64"))
    p.add_argument("--multipath", action="store_true", help="add floor-bounce paths to the radar")
    p.add_argument("--breathing", action="store_true",
                   help="radar body model with fixed echoes and a breathing chest (someone holding still shows "
                        "only breathing); default: every frame redraws the body's echoes")
    p.add_argument("--overwrite", action="store_true", help="replace an existing session")
    p.add_argument("--scene", choices=("clean", "cluttered"), help="room override (default: the scenario's)")
    p.add_argument("--motion-seed", type=int,
                   help="same subjects as --seed, another take of the motion (default: drawn from --seed)")
    p.add_argument("--rig-seed", type=int,
                   help="record on the physical rig of this seed (sensor poses, camera models, clocks) instead of "
                        "--seed's own: several subjects on one rig and one calibration")
    p.add_argument("--stereo-baseline", type=float, metavar="M",
                   help="place cam_left/cam_right M metres apart, toed in to converge 3.5 m ahead (a rig built "
                        "for stereo labelling; default: the compact pair, 12 cm apart, parallel)")


def run(args) -> int:
    from rfpose.sim.scenarios import SCENARIOS

    if args.list:
        width = max(map(len, SCENARIOS))
        for name, spec in SCENARIOS.items():
            print(f"{name.ljust(width)}  {spec.description}")
        return 0
    if not args.out:
        from rfpose.errors import ConfigError

        raise ConfigError("--out SESSION.zarr is required (or --list)")
    from rfpose.sim.session_writer import simulate_session

    cfg_text = None
    if args.cfg:
        from pathlib import Path

        from rfpose.errors import ConfigError

        try:
            cfg_text = Path(args.cfg).read_text()
        except OSError as e:
            raise ConfigError(f"cannot read: {e.strerror}", args.cfg) from None
    summary = simulate_session(args.out, args.scenario, args.frames, seed=args.seed, board=args.board,
                               people=args.people, camera=not args.no_camera, lidar=not args.no_lidar,
                               lidar_pattern=args.lidar_pattern, multipath=args.multipath, cfg_text=cfg_text,
                               overwrite=args.overwrite, progress=True, scene=args.scene,
                               motion_seed=args.motion_seed, rig_seed=args.rig_seed,
                               stereo_baseline_m=args.stereo_baseline, breathing=args.breathing)
    parts = ", ".join(f"{n}: {c}" for n, c in summary["frames"].items())
    print(f"wrote {args.out} ({summary['scenario']}, seed {summary['seed']}; {parts})")
    return 0
