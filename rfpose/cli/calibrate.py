"""Calibrate the rig from calibration captures, or write a calibration into sessions.

  rfpose calibrate apply CALIB.json SESSION.zarr [SESSION.zarr ...]
  rfpose calibrate radar-lidar REFLECTOR.zarr --out RADAR.json [--method polar|cfar] [--json]
  rfpose calibrate clocks WALK.zarr --out CLOCKS.json [--json]

``apply`` writes the calibration into each session's stream attrs (extrinsics, intrinsics, distortion,
clock_offset_ns; versioned, the previous values kept in ``calibration_history``); the session reader then
returns the calibrated geometry and offset-corrected timestamps. ``radar-lidar`` solves the radar → LiDAR
extrinsics from a corner-reflector capture (``rfpose simulate --scenario calibration-reflector``);
``clocks`` every stream's clock offset against the radar from a capture of someone walking. Each writes a
partial calibration (CALIB.json contract, docs/calibration.md); ``--json`` prints it alone on stdout.
"""

from __future__ import annotations

import json
import sys

SUBCOMMANDS = ("apply", "radar-lidar", "clocks")


def add_arguments(p) -> None:
    p.add_argument("args", nargs="+", metavar="ARG",
                   help="'apply CALIB.json SESSION...', 'radar-lidar SESSION', 'clocks SESSION', or SESSION... "
                        "(every solver the captures allow)")
    p.add_argument("--out", help="calibration JSON to write")
    p.add_argument("--force", action="store_true", help="replace an existing --out file")
    p.add_argument("--json", action="store_true", help="print the calibration (or the apply summary) as JSON")
    p.add_argument("--method", choices=("polar", "cfar"), default="polar",
                   help="radar-lidar: reflector from the interpolated polar-tensor peak (default) or CFAR points")
    p.add_argument("--edge", type=float, default=0.10, help="radar-lidar: the reflector's edge length (m)")
    p.add_argument("--max-offset", type=float, default=0.5, help="clocks: largest offset searched (s)")


def _emit(calib, args) -> int:
    from rfpose.errors import ConfigError

    if args.out:
        calib.save(args.out, overwrite=args.force)
    elif not args.json:
        raise ConfigError("give --out CALIB.json (or --json)")
    if args.json:
        print(calib.to_json())
    else:
        print(f"wrote {args.out}", file=sys.stderr)
    return 0


def run_apply(args) -> int:
    from rfpose.errors import ConfigError
    from rfpose.rig_calibration import Calibration
    from rfpose.session.calibration import apply_calibration

    if len(args.args) < 3:
        raise ConfigError("usage: rfpose calibrate apply CALIB.json SESSION.zarr [SESSION.zarr ...]")
    calib = Calibration.load(args.args[1])
    out = {}
    for session in args.args[2:]:
        out[session] = summary = apply_calibration(session, calib, source=args.args[1])
        if not args.json:
            parts = "; ".join(f"{n}: {', '.join(f)}" for n, f in summary["streams"].items())
            skipped = f" (not in the session: {', '.join(summary['skipped'])})" if summary["skipped"] else ""
            print(f"{session}: calibration version {summary['version']}: {parts}{skipped}")
    if args.json:
        print(json.dumps(out, indent=1))
    return 0


def run(args) -> int:
    from rfpose.errors import ConfigError

    cmd = args.args[0]
    if cmd == "apply":
        return run_apply(args)
    if cmd == "radar-lidar":
        from rfpose.app.calibration_inputs import radar_lidar_from_session

        if len(args.args) != 2:
            raise ConfigError("usage: rfpose calibrate radar-lidar REFLECTOR.zarr --out RADAR.json")
        return _emit(radar_lidar_from_session(args.args[1], method=args.method, edge_m=args.edge), args)
    if cmd == "clocks":
        from rfpose.app.calibration_inputs import clock_offsets_from_session

        if len(args.args) != 2:
            raise ConfigError("usage: rfpose calibrate clocks WALK.zarr --out CLOCKS.json")
        return _emit(clock_offsets_from_session(args.args[1], max_offset_s=args.max_offset), args)
    return run_all(args)


def run_all(args) -> int:
    """``rfpose calibrate SESSION... --out CALIB.json``: every solver the captures allow (the orchestration;
    see rfpose.app)."""
    from rfpose.errors import ConfigError

    raise ConfigError(f"unknown calibrate subcommand {args.args[0]!r}; valid: {', '.join(SUBCOMMANDS)}")
