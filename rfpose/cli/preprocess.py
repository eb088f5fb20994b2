"""Turn recorded sessions into a training dataset (DATASET.zarr).

  rfpose preprocess SESSION.zarr... --out DATASET.zarr --format rtpose|hupr|points
        [--labels gt] [--radar-stream radar] [--hori-stream radar_hori --vert-stream radar_vert]
        [--grid-x-m=0.77,7.98 --grid-y-m=-5.03,4.87 --grid-z-m=-1.09,4.35 --grid-n-zyx=16,64,160]
        [--doppler-window hann] [--angle-window hann] [--clutter-removal] [--doppler-pool 2]
        [--val-subjects 3 --test-subjects 4,5 | --val-fraction 0.1 --test-fraction 0.2]
        [--scheduler synchronous|ADDRESS] [--frames-per-task 8] [--overwrite]

Each radar frame gets the label entry nearest in time (set --labels); frames without a label within half
a frame period are skipped. Splits are by the sessions' ``subject`` attr: named subjects, or fractions of
the sorted subject list (test = the last subjects, val the ones before them); with neither, all train.

--format points on a raw-ADC radar stream runs rfpose's CFAR (--cfar ca|os); on a point-cloud stream (a
demo-firmware UART recording: --radar-stream radar_points) it stores the device's points as sent (x, y, z,
Doppler, SNR). The dataset records which (``points_from``), so a run deploys on the matching source.

Work runs on Dask: a local cluster (2 workers x 1 thread, no dashboard) by default, a running cluster with
--scheduler ADDRESS, or in-process with --scheduler synchronous. An interrupted build resumes: rerun the
same command and finished tasks are skipped. The dataset records the whole configuration (and the label
set it was built from); training copies it into its run so the live pipeline rebuilds the same chain.
The dataset layout is in rfpose.dataset.
"""

from __future__ import annotations


def _subjects(text: str | None) -> tuple[str, ...]:
    return tuple(s.strip() for s in text.split(",") if s.strip()) if text else ()


def _numbers(kind, count: int):
    """argparse type: ``count`` comma-separated numbers."""
    def parse(text: str):
        import argparse

        try:
            values = tuple(kind(v) for v in text.split(","))
        except ValueError:
            values = ()
        if len(values) != count:
            raise argparse.ArgumentTypeError(f"expected {count} comma-separated numbers, got {text!r}")
        return values
    return parse


def add_arguments(p) -> None:
    from rfpose.cli import args as a
    from rfpose.dataset import DEFAULT_LABELS, PreprocessConfig
    from rfpose.dataset.preprocess_config import HUPR_ELEVATION

    d = PreprocessConfig()
    p.add_argument("sessions", nargs="+", help="session directories (SESSION.zarr)")
    p.add_argument("--out", required=True, help="output DATASET.zarr")
    p.add_argument("--format", choices=("rtpose", "hupr", "points"), default="rtpose")
    p.add_argument("--labels", default=DEFAULT_LABELS,
                   help=f"session label set to build from (default {DEFAULT_LABELS}); recorded in the dataset")
    p.add_argument("--include-flagged", action="store_true",
                   help="keep label entries that rfpose annotate flagged (default: skip them)")
    p.add_argument("--radar-stream", default="radar", help="radar stream for rtpose/points (for points: raw ADC, or a point-cloud stream)")
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
    p.add_argument("--clutter-removal", action="store_true", help="rtpose: subtract the mean over loops (static clutter)")
    p.add_argument("--doppler-pool", type=a.positive_int, default=d.doppler_pool,
                   help=f"rtpose: max-pool over this many adjacent Doppler bins (default {d.doppler_pool}; 1 = off)")
    p.add_argument("--hupr-doppler-bins", type=a.positive_int, default=d.hupr_doppler_bins,
                   help=f"hupr: central Doppler bins kept (default {d.hupr_doppler_bins}, HuPR's; its models use 8)")
    p.add_argument("--hupr-elevation", choices=HUPR_ELEVATION, default=d.hupr_elevation,
                   help="hupr: keep the 8 elevation bins (default) or store their z-scored mean, the models' "
                        "first step (8 times smaller)")
    p.add_argument("--grid-x-m", type=_numbers(float, 2), default=d.grid_x_m, metavar="MIN,MAX",
                   help="rtpose: first and last voxel centre along x (m, radar frame; default RT-Pose's ROI)")
    p.add_argument("--grid-y-m", type=_numbers(float, 2), default=d.grid_y_m, metavar="MIN,MAX")
    p.add_argument("--grid-z-m", type=_numbers(float, 2), default=d.grid_z_m, metavar="MIN,MAX")
    p.add_argument("--grid-n-zyx", type=_numbers(int, 3), default=d.grid_n_zyx, metavar="NZ,NY,NX",
                   help="rtpose: voxel counts (default 16,64,160)")
    p.add_argument("--frames-per-task", type=a.positive_int, default=8)
    p.add_argument("--scheduler", type=a.scheduler, default=None,
                   help="'synchronous' (in process) or a dask scheduler address; default a local 2-worker cluster")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output instead of resuming")
    p.add_argument("--no-progress", action="store_true")


def run(args) -> int:
    import json

    from rfpose.dataset import PreprocessConfig
    from rfpose.preprocessing.dataset import build_dataset

    cfg = PreprocessConfig(format=args.format, radar_stream=args.radar_stream, hori_stream=args.hori_stream,
                           vert_stream=args.vert_stream, labels=args.labels, include_flagged=args.include_flagged,
                           camera_stream=args.camera_stream,
                           frames_per_task=args.frames_per_task, val_subjects=_subjects(args.val_subjects),
                           test_subjects=_subjects(args.test_subjects), val_fraction=args.val_fraction,
                           test_fraction=args.test_fraction, cfar=args.cfar, doppler_window=args.doppler_window,
                           angle_window=args.angle_window, clutter_removal=args.clutter_removal,
                           doppler_pool=args.doppler_pool, hupr_doppler_bins=args.hupr_doppler_bins,
                           hupr_elevation=args.hupr_elevation, grid_x_m=args.grid_x_m, grid_y_m=args.grid_y_m,
                           grid_z_m=args.grid_z_m, grid_n_zyx=args.grid_n_zyx)
    scheduler = None if args.scheduler == "local" else args.scheduler
    summary = build_dataset(args.sessions, args.out, cfg, scheduler=scheduler, overwrite=args.overwrite,
                            progress=not args.no_progress)
    print(json.dumps(summary))
    return 0
