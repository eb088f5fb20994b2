"""Evaluate ``rfpose annotate`` against the simulator's truth (evaluation only: the stage never reads it).

  python -m rfpose.app.annotation_eval SESSION.zarr... [--detector mediapipe] [--modes mono,stereo,fused]
         [--json] [--out RESULT.json]
  python -m rfpose.app.annotation_eval SESSION.zarr... --stored auto [--out RESULT.json]

For every session and mode (``mono``: first camera + LiDAR; ``stereo``: all cameras, no LiDAR; ``fused``:
all cameras + LiDAR) the stage runs as ``rfpose annotate`` does (cached detections) and is scored at the
radar frames against label set ``gt``:

- ``coverage``: labelled (unflagged, complete) frames among the radar frames whose true joints all project
  inside every used camera's image ("fully in view");
- ``mpjpe_mm`` / ``pelvis_mm``: over the labelled frames; ``mpjpe_all_mm`` over every frame with a label;
- ``auroc_80mm``: how well the frame quality separates frames with > 80 mm error from the rest;
- ``accel_*``: acceleration error (mm/frame², radar frames) of the labels with the configured smoothing and
  with none, over every label and (``accel_labelled_*``) over three consecutive labelled frames (those
  ``preprocess`` keeps), and their MPJPE; like every error here against the true person nearest to the label's
  pelvis;
- ``labelling_fps``: radar frames per second of everything after detection; the detector's own time.

``--param NAME=VALUE`` (repeatable) overrides one :class:`~rfpose.annotation.pipeline.AnnotateParams` field,
``lidar.NAME`` one of its LiDAR depth settings (e.g. ``--param lidar.sigma_lidar_m=0.06``): how settings are
chosen on training sessions.

``--stored NAME`` scores a label set already in the sessions instead (``rfpose annotate``'s output as written,
e.g. a dataset preset's ``auto``): per session the radar frames, the unflagged complete labels and their
MPJPE / pelvis error, and the label-weighted means over all sessions (``pooled``).

``--breakdown CAMERA`` adds where one camera + LiDAR's error comes from, per joint (``breakdown``): the label
error with the detector and with exact 2D (``groundtruth``: what the LiDAR depth, the surface offsets and
the time alignment leave), each split into the camera's axes (x right, y down, z depth: mean |·| and mean,
mm), and the detector's 2D error against the exact projections (mean px, and its mean along u and v), all
without smoothing.
"""

from __future__ import annotations

import argparse
import json
import warnings
from dataclasses import fields as dataclass_fields, replace

import numpy as np

from rfpose.annotation.lidar_depth import LidarDepthParams
from rfpose.annotation.pipeline import SMOOTHERS, AnnotateParams
from rfpose.annotation.rig import load_rig
from rfpose.annotation.run import annotate_session
from rfpose.app.annotation_report import truth_joints

MODES = {"mono": (1, True), "stereo": (None, False), "fused": (None, True)}


def auroc(scores_pos: np.ndarray, scores_neg: np.ndarray) -> float | None:
    """P(a random negative scores higher than a random positive): quality should be low on bad frames."""
    if len(scores_pos) == 0 or len(scores_neg) == 0:
        return None
    gt = (scores_neg[:, None] > scores_pos[None]).mean()
    eq = (scores_neg[:, None] == scores_pos[None]).mean()
    return float(gt + 0.5 * eq)


def params_from(overrides: list[str], **fields) -> AnnotateParams:
    """:class:`AnnotateParams` with ``fields`` and ``NAME=VALUE`` overrides (``lidar.NAME`` for the LiDAR's),
    each value converted to the field's type; a bad item exits with a one-line message."""
    params = AnnotateParams(**fields)
    for item in overrides:
        name, _, value = item.partition("=")
        group, _, key = name.rpartition(".")
        target = params.lidar if group == "lidar" else params
        if group not in ("", "lidar") or not value or not hasattr(target, key) or isinstance(getattr(target, key),
                                                                                          LidarDepthParams):
            raise SystemExit(f"--param {item!r}: expected NAME=VALUE, NAME a field of AnnotateParams or lidar.NAME")
        kind = type(getattr(target, key))
        optional = "None" in str({f.name: f.type for f in dataclass_fields(target)}[key])
        try:
            if optional and value.lower() == "none":
                typed = None
            else:
                typed = value.lower() in ("1", "true", "yes") if kind is bool else kind(value)
        except ValueError:
            raise SystemExit(f"--param {item!r}: {value!r} is not a {kind.__name__}") from None
        changed = replace(target, **{key: typed})
        params = replace(params, lidar=changed) if group == "lidar" else changed
    return params


def _in_view(reader, ann, cams) -> np.ndarray:
    gt = reader.labels("gt")
    row = {int(f): i for i, f in enumerate(gt.frame_index)}
    rig = load_rig(reader, cameras=cams)
    out = np.zeros(len(ann.frame_index), bool)
    for n, f in enumerate(ann.frame_index):
        i = row.get(int(f))
        if i is None:
            continue
        j = gt.joints[i][: int(gt.num_people[i])].reshape(-1, 3)
        good = len(j) > 0
        for c in rig.cameras:
            uv, z = c.project(j)
            good &= bool(np.all((z > 0.1) & (uv[:, 0] >= 0) & (uv[:, 0] <= c.width - 1) & (uv[:, 1] >= 0)
                                & (uv[:, 1] <= c.height - 1)))
        out[n] = good
    return out


def _accel(joints: np.ndarray, truth: np.ndarray, keep: np.ndarray | None = None) -> float | None:
    """Mean acceleration error (mm/frame²) of ``joints (N, J, 3)`` against ``truth`` over the runs of three
    consecutive frames that are all finite (and all in ``keep (N,)``)."""
    a = np.linalg.norm(np.diff(joints, 2, axis=0) - np.diff(truth, 2, axis=0), axis=-1)
    if keep is not None:
        a = np.where((keep[:-2] & keep[1:-1] & keep[2:])[:, None], a, np.nan)
    return float(np.nanmean(a)) * 1000 if np.isfinite(a).any() else None


def evaluate_session(path: str, detector: str = "mediapipe", modes=("mono", "stereo", "fused"),
                     params: AnnotateParams = AnnotateParams()) -> dict:
    from rfpose.session import open_session

    reader = open_session(path)
    cams_all = [s for s in reader.streams if reader.kind(s) == "camera"]
    out = {}
    for mode in modes:
        n_cam, lidar = MODES[mode]
        cams = cams_all[:n_cam] if n_cam else cams_all
        if (mode != "mono" and len(cams) < 2) or (lidar and not any(reader.kind(s) == "lidar" for s in reader.streams)):
            continue
        ann, summary = annotate_session(reader, detector, cams, lidar, params, progress=False)
        raw, _ = annotate_session(reader, detector, cams, lidar, replace(params, smoothing="none"), progress=False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            truth, truth_raw = truth_joints(reader, ann), truth_joints(reader, raw)
            err = np.linalg.norm(ann.joints[:, 0] - truth, axis=-1)
            err_raw = np.linalg.norm(raw.joints[:, 0] - truth_raw, axis=-1)
            visible = _in_view(reader, ann, cams)
            lab = ann.labelled
            frame_err = np.nanmean(err, 1)
            has = np.isfinite(frame_err)
            res = {
                "frames": int(len(lab)), "fully_in_view": int(visible.sum()),
                "coverage": float(lab[visible].mean()) if visible.any() else None,
                "labelled": int(lab.sum()),
                "mpjpe_mm": float(np.nanmean(err[lab])) * 1000 if lab.any() else None,
                "pelvis_mm": float(np.nanmean(err[lab, 0])) * 1000 if lab.any() else None,
                "mpjpe_all_mm": float(np.nanmean(err)) * 1000, "median_all_mm": float(np.nanmedian(err)) * 1000,
                "pelvis_all_mm": float(np.nanmean(err[:, 0])) * 1000,
                "auroc_80mm": auroc(ann.quality[has & (frame_err > 0.08)], ann.quality[has & (frame_err <= 0.08)]),
                "frames_over_80mm": int((frame_err[has] > 0.08).sum()),
                "accel_smoothed_mm": _accel(ann.joints[:, 0], truth),
                "accel_raw_mm": _accel(raw.joints[:, 0], truth_raw),
                "accel_labelled_smoothed_mm": _accel(ann.joints[:, 0], truth, lab),
                "accel_labelled_raw_mm": _accel(raw.joints[:, 0], truth_raw, lab),
                "mpjpe_all_raw_mm": float(np.nanmean(err_raw)) * 1000,
                "labelling_fps": summary["labelling_fps"], "detector_seconds": summary["detector_seconds"],
                "flagged": summary["flagged"], "girth_scale": summary.get("girth_scale"),
            }
        out[mode] = res
    return out


def score_stored(path: str, labels: str = "auto") -> dict:
    """A stored label set against ``gt`` over its unflagged complete entries (see the module docstring)."""
    from rfpose.session import open_session

    reader = open_session(path)
    ann = reader.labels(labels)
    truth = truth_joints(reader, ann)
    keep = (ann.flags() == 0) & np.isfinite(ann.joints[:, 0]).all((-2, -1)) & np.isfinite(truth).all((-2, -1))
    err = np.linalg.norm(ann.joints[keep, 0] - truth[keep], axis=-1)
    return {"radar_frames": len(reader.labels("gt").frame_index), "labelled": int(keep.sum()),
            "mpjpe_mm": float(err.mean()) * 1000 if keep.any() else None,
            "pelvis_mm": float(err[:, 0].mean()) * 1000 if keep.any() else None}


def pooled(scores: dict) -> dict:
    """Label-weighted means of :func:`score_stored` results over sessions."""
    done = [v for v in scores.values() if v["labelled"]]
    n = sum(v["labelled"] for v in done)
    frames = sum(v["radar_frames"] for v in scores.values())
    return {"sessions": len(scores), "radar_frames": frames, "labelled": n,
            "labelled_share": n / frames if frames else None,
            "mpjpe_mm": sum(v["mpjpe_mm"] * v["labelled"] for v in done) / n if n else None,
            "pelvis_mm": sum(v["pelvis_mm"] * v["labelled"] for v in done) / n if n else None}


def error_breakdown(path: str, camera: str, detector: str = "mediapipe",
                    params: AnnotateParams = AnnotateParams()) -> dict:
    """Per-joint error terms of one camera + LiDAR (see the module docstring); evaluation only."""
    from rfpose.annotation.pipeline import to_rtpose15
    from rfpose.annotation.run import detect_session
    from rfpose.session import open_session
    from rfpose.skeletons import get_skeleton

    reader = open_session(path)
    cam = load_rig(reader, cameras=[camera]).cameras[0]
    joints = get_skeleton("rtpose15").joints
    out = {"camera": camera, "joints": list(joints)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for name in (detector, "groundtruth"):
            ann, _ = annotate_session(reader, name, [camera], True, replace(params, smoothing="none"), progress=False)
            truth = truth_joints(reader, ann)
            keep = np.isfinite(ann.joints[:, 0]).all((-2, -1)) & np.isfinite(truth).all((-2, -1))
            err = ann.joints[keep, 0] - truth[keep]
            cam_err = err @ cam.T_cam_radar[:3, :3].T * 1000
            out["exact_2d" if name == "groundtruth" else "detector"] = {
                "frames": int(keep.sum()), "mpjpe_mm": (np.linalg.norm(err, axis=-1).mean(0) * 1000).round(1).tolist(),
                "abs_xyz_mm": np.abs(cam_err).mean(0).round(1).tolist(),
                "mean_xyz_mm": cam_err.mean(0).round(1).tolist()}
        det, _, _ = detect_session(reader, detector, [camera], progress=False)
        kp = to_rtpose15(det[camera], params.landmark_correction)[0][:, 0]
        g2 = reader.labels(f"gt_2d_{camera}")
        n = min(len(kp), len(g2))
        # against the true person whose pelvis is nearest the detection's (MediaPipe follows one of two people)
        d = np.linalg.norm(g2.joints[:n, :, 0] - kp[:n, None, 0], axis=-1)
        k = np.argmin(np.where(np.isfinite(d) & (g2.confidence[:n, :, 0] > 0), d, np.inf), axis=1)
        g_joints = np.take_along_axis(g2.joints[:n], k[:, None, None, None], 1)[:, 0]
        g_conf = np.take_along_axis(g2.confidence[:n], k[:, None, None], 1)[:, 0]
        e2 = np.where((g_conf > 0)[..., None], kp[:n] - g_joints, np.nan)
        out["detector_2d"] = {"mean_px": np.nanmean(np.linalg.norm(e2, axis=-1), 0).round(2).tolist(),
                              "mean_uv_px": np.nanmean(e2, 0).round(2).tolist()}
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m rfpose.app.annotation_eval", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("sessions", nargs="+")
    p.add_argument("--detector", default="mediapipe")
    p.add_argument("--modes", default="mono,stereo,fused")
    p.add_argument("--smoothing", default=AnnotateParams.smoothing, choices=SMOOTHERS)
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="override an AnnotateParams field (lidar.NAME for the LiDAR depth's); repeatable")
    p.add_argument("--breakdown", metavar="CAMERA", help="also the per-joint error terms of CAMERA + LiDAR")
    p.add_argument("--stored", metavar="LABELS", help="score this stored label set instead of annotating again")
    p.add_argument("--json", action="store_true")
    p.add_argument("--out", default=None)
    a = p.parse_args(argv)
    params = params_from(a.param, smoothing=a.smoothing)
    if a.stored:
        scores = {s: score_stored(s, a.stored) for s in a.sessions}
        result = {"pooled": pooled(scores), "sessions": scores}
    else:
        result = {s: evaluate_session(s, a.detector, [m for m in a.modes.split(",") if m], params) for s in a.sessions}
    if a.breakdown and not a.stored:
        for s in a.sessions:
            result[s]["breakdown"] = error_breakdown(s, a.breakdown, a.detector, params)
    text = json.dumps(result, indent=1)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text)
    if a.json or not a.out:
        print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
