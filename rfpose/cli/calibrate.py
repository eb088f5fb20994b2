"""Calibrate the rig from calibration captures, or write a calibration into sessions.

  rfpose calibrate SESSION.zarr [SESSION.zarr ...] --out CALIB.json [--json] [--force]
  rfpose calibrate intrinsics BOARD.zarr... --out CAMS.json
  rfpose calibrate lidar-camera BOARD.zarr... --out LIDAR_CAM.json
  rfpose calibrate apply CALIB.json SESSION.zarr [SESSION.zarr ...]
  rfpose calibrate radar-lidar REFLECTOR.zarr --out RADAR.json [--method polar|cfar] [--json]
  rfpose calibrate clocks WALK.zarr --out CLOCKS.json [--json]

Without a subcommand, every solver the captures allow runs: board captures (a ChArUco board in the
camera frames) give each camera's intrinsics and LiDAR → camera pose, reflector captures the radar → LiDAR
pose, a capture with a moving person the clock offsets; the results are merged into one CALIB.json (radar
= rig origin when a reflector capture is given) and a self-contained CALIB.html next to it (LiDAR points
and radar reflector detections projected onto the images, residual histograms, covariances).
``intrinsics`` and ``lidar-camera`` run those solvers alone on board captures.

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

SUBCOMMANDS = ("apply", "radar-lidar", "clocks", "intrinsics", "lidar-camera")


def add_arguments(p) -> None:
    p.add_argument("args", nargs="+", metavar="ARG",
                   help="SESSION... (every solver the captures allow), 'intrinsics SESSION...', "
                        "'lidar-camera SESSION...', 'radar-lidar SESSION', 'clocks SESSION' or 'apply CALIB.json SESSION...'")
    p.add_argument("--out", help="calibration JSON to write")
    p.add_argument("--force", action="store_true", help="replace an existing --out file")
    p.add_argument("--json", action="store_true", help="print the calibration (or the apply summary) as JSON")
    p.add_argument("--method", choices=("polar", "cfar"), default="polar",
                   help="radar-lidar: reflector from the interpolated polar-tensor peak (default) or CFAR points")
    p.add_argument("--edge", type=float, default=0.10, help="radar-lidar: the reflector's edge length (m)")
    p.add_argument("--max-offset", type=float, default=0.5, help="clocks: largest offset searched (s)")
    p.add_argument("--target", default="7x5:0.08:0.06:DICT_5X5_100",
                   help="the printed ChArUco board: COLSxROWS:SQUARE_M:MARKER_M[:DICTIONARY[:legacy]] "
                        "(default: %(default)s, the simulator's; 'legacy' for boards from OpenCV < 4.6)")
    p.add_argument("--no-html", action="store_true", help="do not write CALIB.html next to --out")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


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
    if cmd in ("intrinsics", "lidar-camera"):
        return run_all(args, ("intrinsics", "lidar-camera") if cmd == "lidar-camera" else ("intrinsics",))
    return run_all(args)


def run_all(args, solvers=None) -> int:
    """``rfpose calibrate [intrinsics|lidar-camera] SESSION... --out CALIB.json``: every solver the captures
    allow (or the named one), merged; CALIB.html next to CALIB.json."""
    from pathlib import Path

    from rfpose.app.calibrate import SOLVERS, CalibrateOptions, calibrate_captures
    from rfpose.calibration.charuco import CharucoTarget
    from rfpose.errors import CalibrationError, ConfigError

    sessions = args.args[1:] if solvers else args.args
    if not sessions:
        raise ConfigError("give at least one calibration capture (SESSION.zarr)")
    if not args.out and not args.json:
        raise ConfigError("give --out CALIB.json (or --json)")
    if args.out and Path(args.out).exists() and not args.force:
        raise CalibrationError(f"{args.out}: exists; pass --force to replace it")
    opts = CalibrateOptions(solvers=tuple(solvers or SOLVERS), target=CharucoTarget.parse(args.target),
                            radar_method=args.method, reflector_edge_m=args.edge, max_clock_offset_s=args.max_offset,
                            progress=not args.quiet and sys.stderr.isatty())
    run = calibrate_captures(sessions, opts)
    _emit(run.calibration, args)
    if args.out and not args.no_html:
        from rfpose.app.calibration_report import write_report

        html = Path(args.out).with_suffix(".html")
        write_report(run, html)
        print(f"wrote {html}", file=sys.stderr)
    _summary(run)
    return 0


def _summary(run) -> None:
    """One line per solver result on stderr."""
    for cam, fit in run.radar_camera.items():
        d = run.calibration.sensors[cam].residual.get("radar_camera_direct", {})
        agree = d.get("agreement_with_chained")
        print(f"{run.calibration.rig_frame}->{cam} direct (reflector marker): {d.get('inliers')} of {d.get('stops')} stops, "
              f"radar residual RMS {d.get('radar_rms_mm', float('nan')):.1f} mm"
              + ("" if agree is None else f"; vs chained through the LiDAR {agree['trans_mm']:.1f} mm / "
                 f"{agree['rot_deg']:.3f} deg"), file=sys.stderr)
    for cam, r in run.intrinsics.items():
        print(f"{cam}: fx {r.K[0, 0]:.2f} fy {r.K[1, 1]:.2f} cx {r.K[0, 2]:.2f} cy {r.K[1, 2]:.2f} px, RMS "
              f"{r.rms_px:.3f} px over {len(r.per_view)} views ({r.counts['rejected_few_corners']} rejected for too "
              "few corners)", file=sys.stderr)
    for cam, r in run.lidar_camera.items():
        s = r.residual
        print(f"{r.lidar}->{cam}: {s['poses']} board poses, LiDAR range RMS {s['plane_rms_mm']:.1f} mm, corners "
              f"{s['rms_px']:.3f} px, 1-sigma {max(s['std_trans_mm']):.1f} mm / {max(s['std_rot_deg']):.3f} deg",
              file=sys.stderr)
