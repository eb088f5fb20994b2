"""Evaluate a training run on a dataset split.

  rfpose evaluate runs/lite --data DATASET.zarr --split test --json --out eval.json

3-D models: MPJPE (RT-Pose's root-relative mean with the root included, and the common root-excluded
one), PA-MPJPE, absolute MPJPE, MRPE, PCK3D@150 mm, AUC 0–150 mm, per joint, per-frame and per-session
means (mm). 2-D models: COCO OKS AP, AP50, AP75 and per-joint AP with the skeleton's sigmas.
The dataset's input spec must equal the run's (format, shape, normalisation, skeleton, grid).
"""

from __future__ import annotations

import json


def add_arguments(p) -> None:
    from rfpose.cli import args as a

    p.add_argument("run_dir", metavar="RUN", help="training run directory")
    p.add_argument("--data", required=True, help="DATASET.zarr")
    p.add_argument("--split", default="test", choices=["train", "val", "test"])
    p.add_argument("--checkpoint", default="best", choices=["best", "last"])
    p.add_argument("--batch-size", type=a.positive_int, default=4)
    p.add_argument("--max-people", type=a.positive_int, help="3-D decoding: people per frame (default: the model's, 1)")
    p.add_argument("--limit", type=a.positive_int, help="evaluate only the first N samples of the split")
    p.add_argument("--device", type=a.torch_device, default="cpu")
    p.add_argument("--flip-test", action="store_true",
                   help="3-D, one person: average with the mirrored prediction on the flipped input")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--out", help="also write the JSON here")
    a.add_force(p)


def run(args) -> int:
    from rfpose.cli.args import output_file
    from rfpose.models.evaluate import evaluate_run, print_report, write_json

    if args.out:
        output_file(args.out, args.force)
    summary = evaluate_run(args.run_dir, args.data, args.split, args.checkpoint, args.batch_size, args.max_people,
                           args.limit, args.device, flip_test=args.flip_test)
    if args.json:
        print(json.dumps(summary, indent=2, default=float))
    else:
        print_report(summary)
    if args.out:
        write_json(summary, args.out)
    return 0
