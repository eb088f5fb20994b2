"""Import third-party recordings.

  rfpose import mars MARS_DIR --out MARS.zarr                    upstream's train / validate / test split
  rfpose import mars MARS_DIR --out MARS-loso1.zarr --test-subject 1   subject 1 held out as test
  rfpose import ti-uart FILE.dat --cfg FILE.cfg --out SESSION.zarr [--sdk auto|2|3] [--board NAME]

MARS (SizheAn/MARS): TI demo-firmware point clouds labelled with Kinect V2 skeletons, in its upstream
layout (synced_data/woutlier/subjectK/radar_dataM.mat, timesplit/kinect_data_<split>.csv,
feature/labels_<split>.npy). Points and joints are converted to rfpose's radar frame (x forward = MARS y,
y left = -MARS x, z up); the skeleton is kinect19. Splits without labels are skipped with a note.

ti-uart: a recording of the demo firmware's data UART (TI's mmWave Demo Visualizer saves one with
"Record") becomes a session with one point-cloud stream. SDK 1.x/2.x packets (Q-format points with Doppler
bin indices) and SDK 3.x packets (float points) are told apart by each packet's version, or forced with
--sdk; the .cfg the board ran gives the velocity scale and the frame period (the file has no host times).
"""

from __future__ import annotations


def add_arguments(p) -> None:
    sub = p.add_subparsers(dest="source", metavar="SOURCE", required=True)
    m = sub.add_parser("mars", help="MARS point clouds with Kinect skeletons → points DATASET.zarr",
                       description=__doc__)
    m.add_argument("mars_dir", metavar="MARS_DIR", help="the MARS tree (holds synced_data/ and feature/)")
    m.add_argument("--out", required=True, help="DATASET.zarr to write")
    m.add_argument("--test-subject", type=int, metavar="K",
                   help="leave subject K out: all its labelled frames become the test split")
    m.add_argument("--force", action="store_true", help="replace --out if it exists")
    m.set_defaults(_import=_mars)
    u = sub.add_parser("ti-uart", help="a recorded demo-firmware UART stream → SESSION.zarr", description=__doc__)
    u.add_argument("file", metavar="FILE.dat", help="the data-UART recording")
    u.add_argument("--cfg", required=True, help="the .cfg the board ran")
    u.add_argument("--out", required=True, help="SESSION.zarr to write")
    u.add_argument("--sdk", choices=("auto", "2", "3"), default="auto",
                   help="point format: 2 = SDK 1.x/2.x Q-format, 3 = SDK 3.x floats (default: from each packet)")
    u.add_argument("--board", help="the board's preset name, checked against the .cfg and stored")
    u.add_argument("--stream", default="radar_points", help="the session's stream name (default radar_points)")
    u.add_argument("--force", action="store_true", help="replace --out if it exists")
    u.set_defaults(_import=_ti_uart)


def run(args) -> int:
    return args._import(args)


def _mars(args) -> int:
    from rfpose.preprocessing.mars import load_mars, write_dataset

    summary = write_dataset(load_mars(args.mars_dir), args.out, args.test_subject, overwrite=args.force)
    print(f"{summary['out']}: {summary['frames']} labelled frames, {summary['points']} points "
          f"(train {summary['splits']['train']}, val {summary['splits']['val']}, test {summary['splits']['test']})")
    for k, d in summary["per_subject"].items():
        print(f"  subject {k}: " + ", ".join(f"{s} {n}" for s, n in d.items()))
    for note in summary["notes"]:
        print(f"note: {note}")
    return 0


def _ti_uart(args) -> int:
    from rfpose.boards import get_board
    from rfpose.drivers.uart_recording import UartRecordingSource
    from rfpose.radar_config import load_cfg
    from rfpose.session import SessionWriter

    cfg = load_cfg(args.cfg, get_board(args.board) if args.board else None)
    src = UartRecordingSource(args.file, cfg, sdk=None if args.sdk == "auto" else int(args.sdk), board=args.board,
                              name=args.stream)
    meta = {k: src.metadata[k] for k in ("recording", "sdk", "frames", "bad_packets", "skipped_bytes")}
    with SessionWriter(args.out, attrs={"config": {"import": "ti-uart", **meta}}, overwrite=args.force,
                       commit_every=256) as writer:
        writer.add_points_stream(args.stream, board=args.board, cfg_text=cfg.to_text(), attrs={"import": meta})
        points = 0
        for frame in src:
            writer.append(args.stream, frame)
            points += len(frame.points)
    s = src.stats
    print(f"{args.out}: {s['frames']} frames, {points} points; {s['bad_packets']} bad packets and "
          f"{s['skipped_bytes']} stray bytes skipped")
    return 0
