"""Score the non-learned baselines of a benchmark on a dataset split.

  rfpose baseline --data DIR/dataset.zarr --split test [--kind KIND,...] [--json] [--out FILE]

rtpose datasets (3-D; metrics in mm) — kinds mean-at-root, mean-at-peak, mean-at-moving-peak, mean-pose
(points datasets: mean-at-root, mean-pose):

mean-at-root: the training split's mean root-relative pose at the TRUE root (MRPE 0 by construction).
mean-at-peak: the same pose at the DETECTED radar peak (arg-max of the Doppler-summed voxel magnitude, in
metres with the dataset's grid) plus the training split's median peak-to-pelvis height offset.
mean-at-moving-peak: the same with the 0 m/s Doppler channel left out (the strongest moving reflector).
mean-pose: the training split's mean pose (radar frame) for every frame, whatever the input (any format;
  points datasets add MARS's mae_cm).
hupr datasets (2-D; COCO OKS AP and PCK@0.2 in the label image) — kinds mean-at-pelvis, mean-at-moving-peak:
mean-at-pelvis: the training split's mean pelvis-relative 2-D pose at the TRUE pelvis (midpoint of the hips).
mean-at-moving-peak: the same pose where the two radars' strongest moving return falls in the image (a
3 x 4 radar-to-image matrix fitted on the training split).
Metrics are those of `rfpose evaluate` (rfpose.metrics).
"""

from __future__ import annotations

import json


def add_arguments(p) -> None:
    p.add_argument("--data", required=True, help="DATASET.zarr (rtpose format)")
    p.add_argument("--split", default="test", choices=["train", "val", "test"])
    p.add_argument("--kind", help="comma-separated baselines (default: every baseline of the dataset's format)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--out", help="also write the JSON (a list, one entry per baseline) here")


KEYS = ("mpjpe_rtpose_mm", "mpjpe_mm", "pa_mpjpe_mm", "mrpe_mm", "pck3d_150")
KEYS_2D = ("ap", "ap50", "ap75", "pck_0_2")


def run(args) -> int:
    from pathlib import Path

    from rfpose.models.baselines import evaluate_baselines

    kinds = tuple(k.strip() for k in args.kind.split(",") if k.strip()) if args.kind else None
    rows = evaluate_baselines(args.data, args.split, kinds)
    text = json.dumps(rows, indent=2, default=float)
    if args.json:
        print(text)
    else:
        keys = KEYS_2D if rows and "ap" in rows[0] else KEYS + (("mae_cm_mean",) if any("mae_cm_mean" in r for r in rows) else ())
        print("baseline".ljust(20) + "".join(k.rjust(17) for k in keys))
        for r in rows:
            print(r["baseline"].ljust(20) + "".join(f"{r.get(k, float('nan')):17.4g}" for k in keys))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text)
    return 0
