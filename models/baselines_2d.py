"""Non-learned baselines for the 2-D (hupr) benchmark, scored with the same metric code as the models
(COCO OKS AP and PCK@0.2, :func:`rfpose.models.evaluate.summarise_2d`).

* ``mean-at-pelvis``: the training split's mean pelvis-relative 2-D pose (label-image pixels; the pelvis is
  the midpoint of the two hips) placed at the TRUE pelvis of each test person. Truth is allowed here: it is a
  baseline for the evaluation, the pose a model would give if it found the person perfectly and learnt
  nothing about the limbs.
* ``mean-at-moving-peak``: the same mean pose placed where the radars' strongest MOVING return falls in
  the image. The horizontal radar's map, summed over elevation and over every Doppler bin but the one
  holding 0 m/s, gives range r and sin(azimuth) at its arg-max; the vertical radar's map (rotated 90°, so
  its azimuth axis measures elevation) gives sin(elevation) at its own arg-max. The point (x, y, z) =
  (r·√(1 − sin²az − sin²el), r·sin az, r·sin el) is projected into the image by a 3 × 4 camera matrix
  fitted (normalised DLT, least squares) on the training split, from these radar points to the labelled
  pelvis pixels: a rig's radar→camera calibration learnt from the data, since the dataset carries no camera
  model. It needs no truth at test time.

Poses are (J, 2) pixels of the dataset's square label image (``image_size_px``, HuPR: 256).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from rfpose.errors import FormatError, ShapeError, UnknownNameError
from rfpose.skeletons import get_skeleton

BASELINES_2D = ("mean-at-pelvis", "mean-at-moving-peak")


@dataclass(frozen=True)
class Baseline2DFit:
    """What the 2-D baselines learn from the training split (saved with every output)."""

    mean_pose_px: list  # (J, 2) pelvis-relative mean pose, label-image pixels
    camera_matrix: list  # (3, 4) radar point (hori radar frame, m) → homogeneous label-image pixel
    camera_fit_rms_px: float  # RMS reprojection error of the fit on the training split's pelvis pixels
    train_people: int

    def to_dict(self) -> dict:
        return asdict(self)


def pelvis_2d(joints_2d: np.ndarray, joint_names) -> np.ndarray:
    """Midpoint (..., 2) of the hips of 2-D poses (..., J, 2)."""
    names = list(joint_names)
    try:
        lh, rh = names.index("l_hip"), names.index("r_hip")
    except ValueError:
        raise ShapeError(f"the 2-D baselines need joints 'l_hip' and 'r_hip', the skeleton has {names}") from None
    return 0.5 * (joints_2d[..., lh, :] + joints_2d[..., rh, :])


def first_person(joints_2d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, P, J, 2) NaN-padded labels → (pose (N, J, 2) of each frame's first fully labelled person, ok (N,))."""
    ok = np.isfinite(joints_2d).all(axis=(-1, -2))  # (N, P)
    has = ok.any(axis=1)
    return joints_2d[np.arange(len(joints_2d)), np.argmax(ok, axis=1)], has


def moving_peaks(x_hori, x_vert, indices: np.ndarray, axes: dict, batch: int = 32) -> np.ndarray:
    """Radar points (len(indices), 3) x/y/z metres in the horizontal radar's frame at the strongest moving
    return of samples ``indices`` of the (zarr or numpy) ``x_hori``/``x_vert`` arrays (N, D, 2, R, A, E)."""
    velocity = np.asarray(axes["velocity_mps"], np.float64)
    r_m, s_az = np.asarray(axes["range_m"], np.float64), np.asarray(axes["sin_az"], np.float64)
    moving = np.flatnonzero(np.arange(len(velocity)) != int(np.argmin(np.abs(velocity))))
    out = np.empty((len(indices), 3))

    def plane(block):  # (n, D, 2, R, A, E) → (n, R, A) magnitude summed over moving Doppler bins and elevation
        b = block[:, moving].astype(np.float32)
        return np.sqrt(b[:, :, 0] ** 2 + b[:, :, 1] ** 2).sum(axis=(1, 4))

    for a in range(0, len(indices), batch):
        idx = indices[a: a + batch]
        lo, hi = int(idx.min()), int(idx.max()) + 1
        ph, pv = (plane(np.asarray(arr[lo:hi])[idx - lo]) for arr in (x_hori, x_vert))
        ir, ia = np.unravel_index(ph.reshape(len(idx), -1).argmax(1), ph.shape[1:])
        _, ie = np.unravel_index(pv.reshape(len(idx), -1).argmax(1), pv.shape[1:])
        r, sa, se = r_m[ir], s_az[ia], s_az[ie]  # the vertical radar's azimuth axis is elevation
        out[a: a + len(idx)] = np.stack([r * np.sqrt(np.clip(1 - sa**2 - se**2, 0, 1)), r * sa, r * se], 1)
    return out


def fit_camera_matrix(points: np.ndarray, pixels: np.ndarray) -> np.ndarray:
    """3 × 4 projection P with pixels ≃ P·[points, 1] (normalised DLT, SVD least squares; ≥ 6 pairs)."""
    if len(points) < 6:
        raise FormatError(f"a camera matrix needs at least 6 radar point / pixel pairs, got {len(points)}")

    def normaliser(p):
        c = p.mean(0)
        s = np.sqrt(p.shape[1]) / max(np.linalg.norm(p - c, axis=1).mean(), 1e-9)
        T = np.eye(p.shape[1] + 1)
        T[:-1, :-1] *= s
        T[:-1, -1] = -s * c
        return T

    T3, T2 = normaliser(points), normaliser(pixels)
    X = np.c_[points, np.ones(len(points))] @ T3.T
    u = np.c_[pixels, np.ones(len(pixels))] @ T2.T
    rows = []
    for Xi, (ui, vi, _) in zip(X, u):
        rows.append(np.r_[Xi, np.zeros(4), -ui * Xi])
        rows.append(np.r_[np.zeros(4), Xi, -vi * Xi])
    P = np.linalg.svd(np.asarray(rows))[2][-1].reshape(3, 4)
    return np.linalg.inv(T2) @ P @ T3


def project(P: np.ndarray, points: np.ndarray) -> np.ndarray:
    h = np.c_[points, np.ones(len(points))] @ np.asarray(P).T
    return h[:, :2] / h[:, 2:3]


def evaluate_baselines_2d(reader, data: str, split: str, kinds=BASELINES_2D) -> list[dict]:
    """Fit on the train split of a hupr dataset (a :class:`~rfpose.dataset.DatasetReader`) and score each
    2-D baseline on ``split`` (summaries as :func:`rfpose.models.evaluate.summarise_2d` returns them, plus
    ``baseline`` and ``fit``)."""
    from rfpose.models.evaluate import summarise_2d

    for k in kinds:
        if k not in BASELINES_2D:
            raise UnknownNameError("2-D baseline", k, BASELINES_2D)
    spec = reader.spec
    names = get_skeleton(spec.skeleton).joints
    train_idx, eval_idx = reader.indices("train"), reader.indices(split)
    if len(train_idx) == 0:
        raise FormatError(f"{data}: the train split is empty; nothing to fit the baselines on")
    if len(eval_idx) == 0:
        raise FormatError(f"{data}: split {split!r} is empty")
    j2d = reader.labels("joints_2d")
    if j2d is None or not np.isfinite(j2d).any():
        raise FormatError(f"{data}: the 2-D baselines need 'joints_2d' labels")
    pose, ok = first_person(j2d[train_idx])
    pose, train_ok = pose[ok], train_idx[ok]
    if len(pose) == 0:
        raise FormatError(f"{data}: no fully labelled person in the train split")
    mean = (pose - pelvis_2d(pose, names)[:, None]).mean(0)
    P, rms = np.full((3, 4), np.nan), float("nan")
    need_peaks = "mean-at-moving-peak" in kinds
    if need_peaks:
        axes = reader.input_spec.get("axes") or {}
        for key in ("velocity_mps", "range_m", "sin_az"):
            if key not in axes:
                raise FormatError(f"{data}: input_spec axes lack {key!r} (needed to place the moving-peak baseline)")
        xh, xv = reader.root["x_hori"], reader.root["x_vert"]
        pts = moving_peaks(xh, xv, train_ok, axes)
        pel = pelvis_2d(pose, names)
        P = fit_camera_matrix(pts, pel)
        rms = float(np.sqrt(np.mean(np.sum((project(P, pts) - pel) ** 2, axis=1))))
    fitted = Baseline2DFit(mean.tolist(), P.tolist(), rms, int(len(pose)))
    gt = j2d[eval_idx]
    out = []
    for k in kinds:
        if k == "mean-at-pelvis":
            p, has = first_person(gt)
            centre = np.where(has[:, None], pelvis_2d(p, names), np.nan)
        else:
            centre = project(P, moving_peaks(xh, xv, eval_idx, axes))
        pred = (centre[:, None, None, :] + mean[None, None]).astype(np.float32)
        result = {"pred": pred, "scores": np.ones(pred.shape[:2], np.float32), "joints_2d": gt,
                  "joints": np.full(gt.shape[:-1] + (3,), np.nan, np.float32),
                  "session": reader.session_index[eval_idx], "index": eval_idx, "loss": float("nan")}
        out.append({"baseline": k, "data": str(data), "split": split, "fit": fitted.to_dict(),
                    **summarise_2d(result, spec.skeleton)})
    return out
