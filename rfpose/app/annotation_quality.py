"""Fit and evaluate the per-frame quality score of ``rfpose annotate`` (evaluation tooling: reads ``gt``).

  python -m rfpose.app.annotation_quality fit TRAIN.zarr... [--modes mono,fused,stereo] [--out MODEL.json]
  python -m rfpose.app.annotation_quality eval HELD_OUT.zarr... [--model MODEL.json] [--out RESULT.json]

``fit`` runs the stage (cached detections) on the training sessions in every mode, takes each labelled radar
frame's quality cues (:data:`rfpose.annotation.quality.ALL_CUES`, person 0) and whether its mean joint error
against ``gt`` exceeds 80 mm, fits the logistic model (:func:`~rfpose.annotation.quality.fit_logistic`) and
prints it as the Python literal that goes into :data:`rfpose.annotation.quality.MODEL`. ``eval`` scores
held-out sessions with the shipped model (or ``--model``): per session and mode the AUROC of the quality for
frames over 80 mm, and pooled over all of them. Modes as in :mod:`rfpose.app.annotation_eval`.
"""

from __future__ import annotations

import argparse
import json
import pprint
import warnings

import numpy as np

from rfpose.annotation.pipeline import AnnotateParams
from rfpose.annotation.quality import ALL_CUES, fit_logistic, quality
from rfpose.annotation.run import annotate_session
from rfpose.app.annotation_eval import MODES, auroc, params_from
from rfpose.app.annotation_report import truth_errors

BAD_M = 0.08


def collect(path: str, modes, detector: str = "mediapipe", params: AnnotateParams = AnnotateParams()) -> dict:
    """``{mode: (cues (n, F), bad (n,) bool, quality (n,))}`` over the radar frames with a label and truth."""
    from rfpose.session import open_session

    reader = open_session(path)
    cams_all = [s for s in reader.streams if reader.kind(s) == "camera"]
    has_lidar = any(reader.kind(s) == "lidar" for s in reader.streams)
    out = {}
    for mode in modes:
        n_cam, lidar = MODES[mode]
        cams = cams_all[:n_cam] if n_cam else cams_all
        if (mode != "mono" and len(cams) < 2) or (lidar and not has_lidar):
            continue
        ann, _ = annotate_session(reader, detector, cams, lidar, params, progress=False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            frame_err = np.nanmean(truth_errors(reader, ann), 1)
        has = np.isfinite(frame_err) & np.isfinite(ann.joints[:, 0]).all((-1, -2))
        out[mode] = (ann.cues[has, 0], frame_err[has] > BAD_M, ann.quality[has])
    return out


def fit(data: list[dict], l2: float = 1.0) -> dict:
    """The model dict (:data:`rfpose.annotation.quality.MODEL`) from :func:`collect` outputs."""
    X = np.concatenate([c for d in data for c, _, _ in d.values()])
    y = np.concatenate([b for d in data for _, b, _ in d.values()]).astype(float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean, scale = np.nanmean(X, 0), np.nanstd(X, 0)
    mean, scale = np.nan_to_num(mean), np.where(np.nan_to_num(scale) > 1e-9, np.nan_to_num(scale), 1.0)
    Z = np.nan_to_num((X - mean) / scale, nan=0.0)
    w, b = fit_logistic(Z, y, l2)
    r = lambda a: [float(round(v, 5)) for v in a]  # noqa: E731
    return {"cues": list(ALL_CUES), "mean": r(mean), "scale": r(scale), "coef": r(w), "intercept": round(b, 5),
            "frames": int(len(y)), "bad_frames": int(y.sum())}


def evaluate(data: dict[str, dict], model: dict | None) -> dict:
    """AUROC per session and mode, and pooled, of ``quality(cues)`` (low quality = over 80 mm)."""
    res, qs, bads = {}, [], []
    for s, d in data.items():
        res[s] = {}
        for mode, (c, bad, q_stage) in d.items():
            q = quality(c, model) if model is not None else q_stage
            res[s][mode] = {"frames": int(len(bad)), "bad": int(bad.sum()), "auroc_80mm": auroc(q[bad], q[~bad])}
            qs.append(q)
            bads.append(bad)
    q, bad = np.concatenate(qs), np.concatenate(bads)
    res["pooled"] = {"frames": int(len(bad)), "bad": int(bad.sum()), "auroc_80mm": auroc(q[bad], q[~bad])}
    return res


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m rfpose.app.annotation_quality", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", choices=("fit", "eval"))
    p.add_argument("sessions", nargs="+")
    p.add_argument("--detector", default="mediapipe")
    p.add_argument("--modes", default="mono,fused,stereo")
    p.add_argument("--l2", type=float, default=1.0, help="fit: ridge penalty on the standardised coefficients")
    p.add_argument("--model", default=None, help="eval: a model JSON instead of the shipped constants")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="override an AnnotateParams field (lidar.NAME for the LiDAR depth's); repeatable")
    p.add_argument("--out", default=None)
    a = p.parse_args(argv)
    modes = [m for m in a.modes.split(",") if m]
    params = params_from(a.param)
    data = {s: collect(s, modes, a.detector, params) for s in a.sessions}
    if a.command == "fit":
        model = fit(list(data.values()), a.l2)
        model["fitted_by"] = ("python -m rfpose.app.annotation_quality fit " + " ".join(a.sessions)
                              + f" --modes {a.modes} --l2 {a.l2}" + "".join(f" --param {x}" for x in a.param))
        model["training_auroc"] = evaluate(data, model)["pooled"]["auroc_80mm"]
        result = model
        print("MODEL = " + pprint.pformat(model, width=116, sort_dicts=False))
    else:
        model = json.load(open(a.model)) if a.model else None
        result = evaluate(data, model)
        print(json.dumps(result, indent=1))
    if a.out:
        with open(a.out, "w") as f:
            json.dump(result, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
