"""Pose metrics: 3-D joint errors (MPJPE family, PCK3D, AUC) and 2-D COCO keypoint AP (OKS).

Conventions, stated because papers swap names:

* Inputs are metres (3-D) or pixels (2-D); every reported 3-D error is in **millimetres**.
* ``mpjpe_rtpose`` is RT-Pose's MPJPE: root-relative (both poses translated so their root is at the
  origin) and the always-zero root term *included* in the J-joint mean. ``mpjpe`` is the common
  definition: root-relative, root *excluded*. ``abs_mpjpe``: no alignment, radar frame. ``mrpe``: the
  root's absolute error. ``pa_mpjpe``: after a per-frame similarity Procrustes alignment (scale, rotation
  with det(R) = +1, translation) of the prediction onto the ground truth.
* PCK3D counts joints within 150 mm (root-relative); AUC averages PCK over thresholds 0, 5, …, 150 mm
  (MPI-INF-3DHP).
* 2-D PCK@0.2 counts joints within 0.2 × the person's torso diameter (left shoulder to right hip, the LSP
  convention), in pixels of the label image.
* Aggregation: per-frame mean over all frames, and RT-Pose's per-session mean (average inside each
  session, then an unweighted mean over sessions).
"""

from __future__ import annotations

import numpy as np

from rfpose.errors import ShapeError

PCK_THRESHOLD_MM = 150.0
AUC_THRESHOLDS_MM = np.arange(0.0, 150.0 + 1e-9, 5.0)


def _check(pred: np.ndarray, gt: np.ndarray, dims: int) -> tuple[np.ndarray, np.ndarray]:
    pred, gt = np.asarray(pred, dtype=np.float64), np.asarray(gt, dtype=np.float64)
    if pred.shape != gt.shape or pred.ndim < 2 or pred.shape[-1] != dims:
        raise ShapeError(f"pose metrics need equal (..., J, {dims}) arrays, got {pred.shape} and {gt.shape}")
    return pred, gt


def joint_errors(pred, gt) -> np.ndarray:
    """Euclidean error per joint, (..., J), in the input's unit."""
    pred, gt = _check(pred, gt, np.shape(gt)[-1])
    return np.linalg.norm(pred - gt, axis=-1)


def root_relative(joints, root: int = 0) -> np.ndarray:
    joints = np.asarray(joints, dtype=np.float64)
    return joints - joints[..., root : root + 1, :]


def procrustes_align(pred, gt) -> np.ndarray:
    """Similarity-align each pose in ``pred`` (..., J, 3) onto ``gt``: s·R·x + t minimising the squared error,
    with R a proper rotation (a reflection is never used: the smallest singular direction is flipped)."""
    pred, gt = _check(pred, gt, 3)
    mu_p, mu_g = pred.mean(axis=-2, keepdims=True), gt.mean(axis=-2, keepdims=True)
    x, y = pred - mu_p, gt - mu_g
    h = np.swapaxes(x, -1, -2) @ y  # (..., 3, 3) cross-covariance
    u, s, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(u @ vt))
    d = np.where(d == 0, 1.0, d)
    u = u.copy()
    u[..., :, -1] *= d[..., None]
    s = s.copy()
    s[..., -1] *= d
    r = u @ vt  # x @ r rotates rows of x
    norm_x = (x**2).sum(axis=(-1, -2))
    scale = s.sum(axis=-1) / np.where(norm_x > 0, norm_x, 1.0)
    return scale[..., None, None] * (x @ r) + mu_g


def pck(errors_mm, threshold_mm: float = PCK_THRESHOLD_MM) -> float:
    e = np.asarray(errors_mm, dtype=np.float64)
    e = e[np.isfinite(e)]
    return float((e <= threshold_mm).mean()) if e.size else float("nan")


def auc(errors_mm, thresholds_mm=AUC_THRESHOLDS_MM) -> float:
    return float(np.mean([pck(errors_mm, t) for t in thresholds_mm]))


def _mean(a) -> float:
    a = np.asarray(a, dtype=np.float64)
    a = a[np.isfinite(a)]
    return float(a.mean()) if a.size else float("nan")


def pose3d_errors(pred, gt, root: int = 0) -> dict[str, np.ndarray]:
    """Per-frame, per-joint errors in mm of matched poses ``pred``, ``gt`` (N, J, 3) metres."""
    pred, gt = _check(pred, gt, 3)
    rel = joint_errors(root_relative(pred, root), root_relative(gt, root)) * 1000.0
    return {
        "rel": rel,  # (N, J), root column is 0
        "abs": joint_errors(pred, gt) * 1000.0,
        "pa": joint_errors(procrustes_align(pred, gt), gt) * 1000.0,
    }


def pose3d_summary(pred, gt, root: int = 0, sessions=None, joint_names=None) -> dict:
    """All 3-D metrics (mm) for matched poses (N, J, 3) metres; ``sessions`` (N,) enables per-session means."""
    e = pose3d_errors(pred, gt, root)
    rel, ab, pa = e["rel"], e["abs"], e["pa"]
    J = rel.shape[1]
    not_root = np.arange(J) != root

    def frame_metrics(sl) -> dict:
        r, a, p = rel[sl], ab[sl], pa[sl]
        return {
            "mpjpe_rtpose_mm": _mean(r.mean(axis=1)),
            "mpjpe_mm": _mean(r[:, not_root].mean(axis=1)),
            "pa_mpjpe_mm": _mean(p.mean(axis=1)),
            "abs_mpjpe_mm": _mean(a.mean(axis=1)),
            "mrpe_mm": _mean(a[:, root]),
            "pck3d_150": pck(r[:, not_root]),
            "auc_0_150": auc(r[:, not_root]),
        }

    out = {"frames": int(rel.shape[0]), **frame_metrics(slice(None))}
    names = list(joint_names) if joint_names is not None else [str(j) for j in range(J)]
    out["per_joint_mm"] = {n: _mean(rel[:, j]) for j, n in enumerate(names)}
    out["per_joint_abs_mm"] = {n: _mean(ab[:, j]) for j, n in enumerate(names)}
    if sessions is not None:
        sessions = np.asarray(sessions)
        per = {str(s): frame_metrics(sessions == s) for s in np.unique(sessions)}
        out["per_session"] = per
        keys = ["mpjpe_rtpose_mm", "mpjpe_mm", "pa_mpjpe_mm", "abs_mpjpe_mm", "mrpe_mm", "pck3d_150", "auc_0_150"]
        out["session_mean"] = {k: _mean([v[k] for v in per.values()]) for k in keys}
    return out


def mars_mae_cm(pred, gt) -> dict[str, float]:
    """MARS's metric (``MARS_model.py``): the mean absolute error of each coordinate axis over all joints and
    frames, in cm, and the mean of the three. ``pred``, ``gt`` (N, J, 3) metres; non-finite labels skipped."""
    pred, gt = _check(pred, gt, 3)
    err = np.abs(np.asarray(pred, np.float64) - np.asarray(gt, np.float64)) * 100.0
    axes = {a: _mean(err[..., i]) for i, a in enumerate("xyz")}
    return {**axes, "mean": float(np.mean(list(axes.values())))}


def match_people(pred_roots, gt_roots, max_distance: float | None = None) -> list[tuple[int, int]]:
    """Optimal (Hungarian) one-to-one matching of predicted to labelled people by root distance.

    ``pred_roots`` (K, D), ``gt_roots`` (P, D); rows with NaN never match. Returns (pred, gt) index pairs.
    """
    from scipy.optimize import linear_sum_assignment

    p = np.asarray(pred_roots, dtype=np.float64)
    g = np.asarray(gt_roots, dtype=np.float64)
    pi = np.flatnonzero(np.isfinite(p).all(axis=1))
    gi = np.flatnonzero(np.isfinite(g).all(axis=1))
    if not len(pi) or not len(gi):
        return []
    cost = np.linalg.norm(p[pi, None, :] - g[None, gi, :], axis=-1)
    rows, cols = linear_sum_assignment(cost)
    pairs = []
    for r, c in zip(rows, cols):
        if max_distance is None or cost[r, c] <= max_distance:
            pairs.append((int(pi[r]), int(gi[c])))
    return pairs


# ---------------------------------------------------------------- 2-D: COCO keypoint AP
def _bbox(kp: np.ndarray) -> list[float]:
    x0, y0 = np.nanmin(kp, axis=0)
    x1, y1 = np.nanmax(kp, axis=0)
    return [float(x0), float(y0), float(x1 - x0), float(y1 - y0)]


def _coco_eval(gt_doc: dict, dets: list[dict], sigmas) -> np.ndarray:
    from faster_coco_eval import COCO, COCOeval_faster

    coco_gt = COCO(gt_doc)
    if not dets:
        return np.zeros(10)
    coco_dt = coco_gt.loadRes(dets)
    ev = COCOeval_faster(coco_gt, coco_dt, "keypoints", kpt_oks_sigmas=list(sigmas))
    ev.params.maxDets = [20]
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    return np.asarray(ev.stats, dtype=np.float64)


def oks_ap(pred, scores, gt, sigmas, joint_names=None, areas=None, per_joint: bool = True) -> dict:
    """COCO OKS keypoint AP as HuPR reports it.

    Args:
        pred: (N, K, J, 2) predicted pixels (x, y), NaN for no detection; scores (N, K) (or (N, K, J), averaged).
        gt: (N, P, J, 2) labelled pixels, NaN for absent people; all labelled joints count as visible.
        sigmas: (J,) per-joint OKS sigmas (COCO convention).
        areas: (N, P) object areas; default ½ · area of the joints' bounding box (HuPR uses ½ · bbox area).
    Returns:
        {"ap", "ap50", "ap75", "per_joint_ap": {name: ap}}; AP over OKS thresholds 0.50:0.05:0.95.
    """
    pred, gt = np.asarray(pred, np.float64), np.asarray(gt, np.float64)
    scores = np.asarray(scores, np.float64)
    if scores.ndim == 3:
        scores = np.nanmean(scores, axis=-1)
    N, P, J, _ = gt.shape
    if pred.shape[0] != N or pred.shape[2:] != (J, 2) or len(sigmas) != J:
        raise ShapeError(f"oks_ap: pred {pred.shape}, gt {gt.shape} and {len(sigmas)} sigmas disagree")
    names = list(joint_names) if joint_names is not None else [str(j) for j in range(J)]

    def gt_doc(only_joint: int | None) -> dict:
        anns = []
        for n in range(N):
            for p in range(P):
                kp = gt[n, p]
                if not np.isfinite(kp).all():
                    continue
                vis = np.full(J, 2.0)
                if only_joint is not None:
                    vis[:] = 0
                    vis[only_joint] = 2
                box = _bbox(kp)
                area = float(areas[n, p]) if areas is not None else 0.5 * box[2] * box[3]
                flat = np.concatenate([kp, vis[:, None]], axis=1).ravel().tolist()
                anns.append({"id": len(anns) + 1, "image_id": n + 1, "category_id": 1, "keypoints": flat,
                             "num_keypoints": int((vis > 0).sum()), "bbox": box, "area": max(area, 1.0),
                             "iscrowd": 0})
        return {"images": [{"id": n + 1, "width": 256, "height": 256} for n in range(N)], "annotations": anns,
                "categories": [{"id": 1, "name": "person", "keypoints": names, "skeleton": []}]}

    dets = []
    for n in range(N):
        for k in range(pred.shape[1]):
            kp = pred[n, k]
            if not np.isfinite(kp).all():
                continue
            flat = np.concatenate([kp, np.ones((J, 1))], axis=1).ravel().tolist()
            dets.append({"image_id": n + 1, "category_id": 1, "keypoints": flat,
                         "score": float(scores[n, k]) if np.isfinite(scores[n, k]) else 0.0})
    stats = _coco_eval(gt_doc(None), dets, sigmas)
    out = {"ap": float(stats[0]), "ap50": float(stats[1]), "ap75": float(stats[2])}
    if per_joint:
        out["per_joint_ap"] = {names[j]: float(_coco_eval(gt_doc(j), dets, sigmas)[0]) for j in range(J)}
    return out


def oks(pred, gt, sigmas, area: float) -> float:
    """Object keypoint similarity of one pose pair (J, 2) pixels with object ``area`` (px²), all joints visible."""
    pred, gt = _check(pred, gt, 2)
    k2 = (2 * np.asarray(sigmas, np.float64)) ** 2
    d2 = ((pred - gt) ** 2).sum(-1)
    return float(np.mean(np.exp(-d2 / (2 * area * k2))))


# ---------------------------------------------------------------- 2-D: PCK
PCK_2D_ALPHA = 0.2


def torso_diameter(gt: np.ndarray, joint_names) -> np.ndarray:
    """Torso diameter (..., ) in pixels of 2-D poses ``gt`` (..., J, 2): the distance from the left shoulder to
    the right hip (the LSP / Yang-Ramanan PCK convention, for skeletons with those joints)."""
    names = list(joint_names)
    try:
        ls, rh = names.index("l_shoulder"), names.index("r_hip")
    except ValueError:
        raise ShapeError(f"PCK needs joints 'l_shoulder' and 'r_hip', the skeleton has {names}") from None
    gt = np.asarray(gt, np.float64)
    return np.linalg.norm(gt[..., ls, :] - gt[..., rh, :], axis=-1)


def _pairs_2d(pred: np.ndarray, gt: np.ndarray, where: str):
    """Labelled people paired with predictions, one per frame (Hungarian on the mean joint distance).

    Yields ``(labelled people in the frame, [(gt pose (J, 2), paired prediction (J, 2)), ...])`` per frame."""
    from scipy.optimize import linear_sum_assignment

    if pred.ndim != 4 or gt.ndim != 4 or pred.shape[0] != gt.shape[0] or pred.shape[2:] != gt.shape[2:] \
            or gt.shape[-1] != 2:
        raise ShapeError(f"{where}: pred (N, K, J, 2) and gt (N, P, J, 2) disagree: {pred.shape}, {gt.shape}")
    for n in range(len(gt)):
        people = [p for p in range(gt.shape[1]) if np.isfinite(gt[n, p]).all()]
        dets = [k for k in range(pred.shape[1]) if np.isfinite(pred[n, k]).all()]
        if not people or not dets:
            yield len(people), []
            continue
        d = np.linalg.norm(pred[n, dets][None] - gt[n, people][:, None], axis=-1)  # (P, K, J)
        rows, cols = linear_sum_assignment(d.mean(-1))
        yield len(people), [(gt[n, people[r]], pred[n, dets[c]]) for r, c in zip(rows, cols)]


def pck_2d(pred, gt, joint_names, alpha: float = PCK_2D_ALPHA) -> dict:
    """PCK@alpha of 2-D poses: the fraction of labelled joints within ``alpha`` × the person's torso diameter
    (:func:`torso_diameter`) of the prediction.

    Args:
        pred: (N, K, J, 2) predicted pixels, NaN for no detection; gt: (N, P, J, 2) labels, NaN for absent people.
    Each labelled person is paired with one prediction per frame (Hungarian on the mean joint distance); a
    person without one counts every joint as missed. Returns ``{"pck": overall, "per_joint_pck": {name:
    fraction}, "people": labelled people}``.
    """
    pred, gt = np.asarray(pred, np.float64), np.asarray(gt, np.float64)
    names = list(joint_names)
    J = gt.shape[-2]
    hits, count = np.zeros(J), 0
    for people, pairs in _pairs_2d(pred, gt, "pck_2d"):
        count += people
        for g, p in pairs:
            hits += np.linalg.norm(p - g, axis=-1) <= alpha * torso_diameter(g, names)
    frac = hits / max(count, 1)
    return {"pck": float(hits.sum() / max(count * J, 1)), "per_joint_pck": dict(zip(names, map(float, frac))),
            "people": int(count)}


def pixel_errors_2d(pred, gt, joint_names) -> dict:
    """Distances in pixels between paired 2-D poses (pairing as :func:`pck_2d`; unpaired people are left out).

    Returns ``{"joint_px": mean over joints, "joint_median_px", "centre_px": of the hips' midpoint,
    "centre_relative_px": mean joint distance after moving each pose's hips' midpoint onto the other's,
    "paired": people paired, "people": labelled people}``: where a pose is placed and what shape it has, which
    AP and PCK mix into one threshold."""
    pred, gt = np.asarray(pred, np.float64), np.asarray(gt, np.float64)
    names = list(joint_names)
    try:
        hips = [names.index("l_hip"), names.index("r_hip")]
    except ValueError:
        raise ShapeError(f"pixel errors need joints 'l_hip' and 'r_hip', the skeleton has {names}") from None
    joint, centre, relative, count = [], [], [], 0
    for people, pairs in _pairs_2d(pred, gt, "pixel_errors_2d"):
        count += people
        for g, p in pairs:
            shift = p[hips].mean(0) - g[hips].mean(0)
            joint.append(np.linalg.norm(p - g, axis=-1))
            centre.append(np.linalg.norm(shift))
            relative.append(np.linalg.norm(p - shift - g, axis=-1).mean())
    if not joint:
        return {"joint_px": float("nan"), "joint_median_px": float("nan"), "centre_px": float("nan"),
                "centre_relative_px": float("nan"), "paired": 0, "people": int(count)}
    joint = np.concatenate(joint)
    return {"joint_px": float(joint.mean()), "joint_median_px": float(np.median(joint)),
            "centre_px": float(np.mean(centre)), "centre_relative_px": float(np.mean(relative)),
            "paired": len(centre), "people": int(count)}
