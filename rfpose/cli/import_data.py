"""Import third-party recordings as rfpose datasets.

  rfpose import mars MARS_DIR --out MARS.zarr                    upstream's train / validate / test split
  rfpose import mars MARS_DIR --out MARS-loso1.zarr --test-subject 1   subject 1 held out as test

MARS (SizheAn/MARS): TI demo-firmware point clouds labelled with Kinect V2 skeletons, in its upstream
layout (synced_data/woutlier/subjectK/radar_dataM.mat, timesplit/kinect_data_<split>.csv,
feature/labels_<split>.npy). Points and joints are converted to rfpose's radar frame (x forward = MARS y,
y left = -MARS x, z up); the skeleton is kinect19. Splits without labels are skipped with a note.
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


def run(args) -> int:
    from rfpose.preprocessing.mars import load_mars, write_dataset

    summary = write_dataset(load_mars(args.mars_dir), args.out, args.test_subject, overwrite=args.force)
    print(f"{summary['out']}: {summary['frames']} labelled frames, {summary['points']} points "
          f"(train {summary['splits']['train']}, val {summary['splits']['val']}, test {summary['splits']['test']})")
    for k, d in summary["per_subject"].items():
        print(f"  subject {k}: " + ", ".join(f"{s} {n}" for s, n in d.items()))
    for note in summary["notes"]:
        print(f"note: {note}")
    return 0
