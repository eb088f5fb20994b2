"""Turn recorded sessions into a training dataset (DATASET.zarr).

  rfpose preprocess SESSION.zarr... --out DATASET.zarr --format rtpose|hupr|points
        [--labels gt] [--radar-stream radar] [--hori-stream radar_hori --vert-stream radar_vert]
        [--val-subjects 3 --test-subjects 4,5 | --val-fraction 0.1 --test-fraction 0.2]
        [--scheduler synchronous|ADDRESS] [--frames-per-task 8] [--overwrite]

Each radar frame gets the label entry nearest in time (set --labels); frames without a label within half
a frame period are skipped. Splits are by the sessions' ``subject`` attr: named subjects, or fractions of
the sorted subject list (test = the last subjects, val the ones before them); with neither, all train.

Work runs on Dask: a local cluster (2 workers x 1 thread, no dashboard) by default, a running cluster with
--scheduler ADDRESS, or in-process with --scheduler synchronous. An interrupted build resumes: rerun the
same command and finished tasks are skipped. The dataset layout is in rfpose.preprocessing.dataset.
"""

from __future__ import annotations


def _subjects(text: str | None) -> tuple[str, ...]:
    return tuple(s.strip() for s in text.split(",") if s.strip()) if text else ()


def add_arguments(p) -> None:
    from rfpose.cli import args as a

    p.add_argument("sessions", nargs="+", help="session directories (SESSION.zarr)")
    p.add_argument("--out", required=True, help="output DATASET.zarr")
    p.add_argument("--format", choices=("rtpose", "hupr", "points"), default="rtpose")
    p.add_argument("--labels", default="gt", help="label set to use (default gt)")
    p.add_argument("--radar-stream", default="radar", help="radar stream for rtpose/points")
    p.add_argument("--hori-stream", default="radar_hori", help="hupr: horizontal radar stream")
    p.add_argument("--vert-stream", default="radar_vert", help="hupr: vertical radar stream")
    p.add_argument("--camera-stream", default=None, help="camera for joints_2d (default: the first camera)")
    p.add_argument("--val-subjects", default=None, help="comma-separated subjects for the val split")
    p.add_argument("--test-subjects", default=None, help="comma-separated subjects for the test split")
    p.add_argument("--val-fraction", type=a.probability, default=0.0, help="fraction of subjects for val")
    p.add_argument("--test-fraction", type=a.probability, default=0.0, help="fraction of subjects for test")
    p.add_argument("--cfar", choices=("ca", "os"), default="ca", help="points: CFAR method")
    p.add_argument("--doppler-window", default="none", help="rtpose: window over the loops (none, hann, ...)")
    p.add_argument("--angle-window", default="none", help="rtpose: window over the virtual array (none, hann, ...)")
    p.add_argument("--frames-per-task", type=a.positive_int, default=8)
    p.add_argument("--scheduler", type=a.scheduler, default=None,
                   help="'synchronous' (in process) or a dask scheduler address; default a local 2-worker cluster")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output instead of resuming")
    p.add_argument("--no-progress", action="store_true")


def run(args) -> int:
    import json

    from rfpose.preprocessing.dataset import PreprocessConfig, build_dataset

    cfg = PreprocessConfig(format=args.format, radar_stream=args.radar_stream, hori_stream=args.hori_stream,
                           vert_stream=args.vert_stream, labels=args.labels, camera_stream=args.camera_stream,
                           frames_per_task=args.frames_per_task, val_subjects=_subjects(args.val_subjects),
                           test_subjects=_subjects(args.test_subjects), val_fraction=args.val_fraction,
                           test_fraction=args.test_fraction, cfar=args.cfar, doppler_window=args.doppler_window,
                           angle_window=args.angle_window)
    scheduler = None if args.scheduler == "local" else args.scheduler
    summary = build_dataset(args.sessions, args.out, cfg, scheduler=scheduler, overwrite=args.overwrite,
                            progress=not args.no_progress)
    print(json.dumps(summary))
    return 0
