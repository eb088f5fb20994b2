"""Label a session's radar frames with 3D skeletons from its cameras and LiDAR (auto-annotation).

  rfpose annotate SESSION.zarr [--labels auto] [--detector mediapipe] [--cameras cam_left,cam_right]
        [--no-lidar] [--no-floor] [--smoothing savgol|least-squares|one-euro|none] [--quality-threshold 0.02]
        [--max-gap-ms 100] [--cache DIR] [--report QA.html] [--json] [--force]
  rfpose annotate --install-detector     # first use: install MediaPipe into this environment

2D pose per camera frame (cached next to the session in SESSION.zarr.detections/, resumable), lifted to
the radar frame with the calibrated cameras (triangulation), the LiDAR (depth at the joints) or both,
refined (left/right swaps, constant bone lengths, smoothing), placed at the radar frames' times through the
calibrated clock offsets, scored, and written as a label set (rtpose15, radar frame, metres; frames below
the quality threshold are flagged and `rfpose preprocess` skips them). Uses only the session's calibration
(stream attrs), never simulator truth. Detectors: mediapipe (default; BlazePose, offline, one person) and
groundtruth (a simulated session's exact 2D joints; for tests).
"""

from __future__ import annotations


def add_arguments(p) -> None:
    p.add_argument("session", nargs="?", help="session directory (SESSION.zarr)")
    p.add_argument("--labels", default="auto", help="label set to write (default auto)")
    p.add_argument("--detector", default="mediapipe", help="2D detector: mediapipe (default) or groundtruth")
    p.add_argument("--cameras", default=None, help="comma-separated camera streams (default: all)")
    p.add_argument("--no-lidar", action="store_true", help="do not use the LiDAR (needs two cameras)")
    p.add_argument("--no-floor", action="store_true",
                   help="do not hold the ankles above the floor the LiDAR sees (docs/annotation.md, 'The floor')")
    p.add_argument("--smoothing", default="least-squares", choices=("savgol", "least-squares", "one-euro", "none"),
                   help="temporal smoothing (default: least-squares trajectory, docs/annotation.md)")
    p.add_argument("--quality-threshold", type=float, default=None,
                   help="flag frames below this quality, P(error <= 80 mm) (0-1; default 0.02, docs/annotation.md)")
    p.add_argument("--max-gap-ms", type=float, default=None,
                   help="never interpolate labels between camera frames further apart (ms; default 100)")
    p.add_argument("--cache", default=None, help="detection cache directory (default SESSION.zarr.detections)")
    p.add_argument("--report", default=None, help="also write a self-contained HTML QA page here")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--force", action="store_true", help="replace an existing label set")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--install-detector", action="store_true",
                   help="install MediaPipe (the mediapipe detector) into this Python environment and exit")


def run(args) -> int:
    import json

    from rfpose.errors import ConfigError

    if args.install_detector:
        from rfpose.annotation.install import install_mediapipe

        install_mediapipe()
        return 0
    if not args.session:
        raise ConfigError("rfpose annotate: give a session (SESSION.zarr)")
    from rfpose.annotation.pipeline import AnnotateParams
    from rfpose.annotation.run import annotate_session, write_labels
    from rfpose.session import open_session

    given = {k: v for k, v in (("quality_threshold", args.quality_threshold), ("max_gap_ms", args.max_gap_ms))
             if v is not None}
    if args.no_floor:
        given["ankle_floor_m"] = None
    params = AnnotateParams(smoothing=args.smoothing, **given)  # the defaults are AnnotateParams'
    if not 0 <= params.quality_threshold <= 1:
        raise ConfigError(f"--quality-threshold must be in [0, 1], got {params.quality_threshold}")
    if params.max_gap_ms <= 0:
        raise ConfigError(f"--max-gap-ms must be positive, got {params.max_gap_ms}")
    cams = [c.strip() for c in args.cameras.split(",") if c.strip()] if args.cameras else None
    reader = open_session(args.session)
    if args.labels in reader.label_sets and not args.force:
        raise ConfigError(f"label set {args.labels!r} already exists; --force replaces it", args.session)
    ann, summary = annotate_session(reader, args.detector, cams, not args.no_lidar, params, args.cache,
                                    progress=not args.no_progress)
    summary["entries_written"] = write_labels(args.session, args.labels, ann, force=args.force)
    summary["label_set"] = args.labels
    if args.report:
        from rfpose.app.annotation_report import write_report

        summary["report"] = write_report(args.report, open_session(args.session), ann, summary)
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"{args.session}: label set {args.labels!r}: {summary['labelled']} of {summary['radar_frames']} radar "
              f"frames labelled, flagged {summary['flagged']}, mean quality {summary['mean_quality']:.2f}; "
              f"labelling {summary['labelling_fps']} frames/s, detector {summary['detector_seconds']} s")
    return 0
