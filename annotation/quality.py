"""Per-frame label quality from measurable cues: the probability that a person's label is within 80 mm.

A frame's label goes wrong in a handful of recognisable ways — the detector mixes left and right (a profile
view), a joint is hidden or outside the image, the LiDAR misses the person or sees what hides a joint, the
lifted 3D does not reproject onto the 2D detection once refined, the track jumps against its smoothed
trajectory, the bones stretch away from the subject's lengths, the lifted skeleton disagrees with the
detector's own 3D shape. :func:`frame_cues` measures each of these per camera frame and person from what the
stage has (never the truth); :func:`quality` combines them with a logistic model whose constants
(:data:`MODEL`) were fitted on training sessions only by ``python -m rfpose.app.annotation_quality`` (the
command and sessions are in :data:`MODEL`'s ``fitted_by``; docs/annotation.md). The score is the model's
probability that the frame's mean joint error is ≤ 80 mm.
"""

from __future__ import annotations

import numpy as np

from rfpose.skeletons import get_skeleton

SK = get_skeleton("rtpose15")
_J = {name: i for i, name in enumerate(SK.joints)}

#: cue names, in the order of :func:`frame_cues`' last axis
CUES = (
    "vis_mean",         # mean detector confidence (MediaPipe visibility) of the 15 joints, reference camera
    "vis_low",          # fraction of joints with confidence < 0.5
    "out_of_image",     # fraction of joints not placed inside the reference image (2 % margin)
    "lidar_support",    # fraction of joints whose depth came from LiDAR points that agreed with the shape
    "lidar_disagree",   # fraction of joints whose LiDAR depth lay in front of the shape (occluded)
    "log_sigma",        # log10 of the median posterior σ of the lifting (m)
    "log_reproj",       # log10 median reprojection distance, refined 3D vs 2D detection, per person height
    "log_reproj_p90",   # log10 of its 90th percentile over joints and cameras
    "log_smooth_dev",   # log10 median distance refined (bones + smoothing) vs raw lifted joints (m)
    "log_smooth_max",   # log10 of its largest joint
    "log_bone_dev",     # log10 of the mean bone-length deviation from the subject's lengths (m)
    "log_shape_dev",    # log10 RMS distance, lifted vs detector 3D shape after rigid alignment (m)
    "profile",          # 2D shoulder width / 2D torso length (small: seen from the side, swaps likely)
    "swap_near",        # a left/right swap was repaired within ±2 frames
    "distance",         # camera depth of the pelvis (m)
    "multi_view",       # fraction of joints seen by ≥ 2 cameras
    "log_jerk",         # log10 of the raw track's mean second difference (m) around the frame
    "log_bone_max",     # log10 of the largest joint's bone-length deviation (m): a foreshortened limb lifted flat
    "limb_unsupported",  # fraction of elbows, wrists, knees and ankles without an agreeing LiDAR depth
)
#: cues also given as their mean over the surrounding camera frames (suffix ``_ctx``, CONTEXT_FRAMES wide):
#: a label's error persists over a few frames while single-frame cues flicker
CONTEXT = ("vis_mean", "lidar_support", "log_sigma", "log_reproj_p90", "log_smooth_max", "log_bone_max",
           "log_shape_dev", "profile", "limb_unsupported")
CONTEXT_FRAMES = 9
ALL_CUES = CUES + tuple(n + "_ctx" for n in CONTEXT)
#: a joint reprojected further than this many person heights from its detection (or behind the camera) counts as
#: this far: the cue says "wrong", and one absurd joint cannot swamp the model's standardisation
REPROJ_CAP = 1.0
LIMBS = np.array([_J[j] for j in ("r_elbow", "l_elbow", "r_wrist", "l_wrist", "r_knee", "l_knee", "r_ankle",
                                  "l_ankle")])



def _log(x, floor):
    return np.log10(np.maximum(np.nan_to_num(x, nan=floor), floor))


def rigid_residual(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """RMS distance (m) between point sets ``A`` and ``B`` ``(..., J, 3)`` after the rotation and translation
    that best move B onto A (Kabsch, vectorised); joints missing in either are left out; NaN with < 4 joints."""
    ok = np.isfinite(A).all(-1) & np.isfinite(B).all(-1)
    n = ok.sum(-1)
    w = ok[..., None].astype(float)
    a0, b0 = np.nan_to_num(A) * w, np.nan_to_num(B) * w
    ca = a0.sum(-2, keepdims=True) / np.maximum(n, 1)[..., None, None]
    cb = b0.sum(-2, keepdims=True) / np.maximum(n, 1)[..., None, None]
    a, b = (a0 - ca) * w, (b0 - cb) * w
    H = np.einsum("...ji,...jk->...ik", b, a)
    U, _, Vt = np.linalg.svd(H)
    d = np.sign(np.linalg.det(np.einsum("...ij,...jk->...ik", U, Vt)))
    D = np.ones(H.shape[:-2] + (3,))
    D[..., 2] = d
    R = np.einsum("...ij,...j,...jk->...ik", U, D, Vt)  # b @ R ≈ a
    res = np.linalg.norm(np.einsum("...ji,...ik->...jk", b, R) - a, axis=-1)
    rms = np.sqrt((res**2 * ok).sum(-1) / np.maximum(n, 1))
    return np.where(n >= 4, rms, np.nan)


def frame_cues(cams, KP: np.ndarray, CF: np.ndarray, raw: np.ndarray, refined: np.ndarray, sigma: np.ndarray,
               bone_dev: np.ndarray, support: np.ndarray | None, world: np.ndarray, swapped: np.ndarray) -> np.ndarray:
    """Cues ``(T, P, len(ALL_CUES))`` of every camera frame and person.

    ``cams``: the cameras (reference first) with ``project``/``width``/``height``; ``KP (C, T, P, 15, 2)`` px
    and ``CF (C, T, P, 15)`` the 2D detections after swap repair; ``raw``/``refined (T, P, 15, 3)`` radar
    frame (m) before/after refinement; ``sigma (T, P, 15)`` the lifting's posterior σ (m); ``bone_dev (T, P,
    15)`` m; ``support (T, P, 15)`` LiDAR points per joint (> 0 used, < 0 seen but disagreeing, None without
    LiDAR); ``world (T, P, 15, 3)`` the detector's 3D shape (NaN without); ``swapped (T, P)`` bool."""
    import warnings

    C, T, P = CF.shape[:3]
    out = np.full((T, P, len(CUES)), np.nan)
    col = {n: i for i, n in enumerate(CUES)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        kp0, c0 = KP[0], CF[0]
        out[..., col["vis_mean"]] = c0.mean(-1)
        out[..., col["vis_low"]] = (c0 < 0.5).mean(-1)
        ref = cams[0]
        mu, mv = 0.02 * ref.width, 0.02 * ref.height
        inside = ((kp0[..., 0] >= mu) & (kp0[..., 0] <= ref.width - 1 - mu) & (kp0[..., 1] >= mv)
                  & (kp0[..., 1] <= ref.height - 1 - mv))
        out[..., col["out_of_image"]] = 1.0 - inside.mean(-1)
        if support is None:
            out[..., col["lidar_support"]] = 0.0
            out[..., col["lidar_disagree"]] = 0.0
        else:
            out[..., col["lidar_support"]] = (support > 0).mean(-1)
            out[..., col["lidar_disagree"]] = (support < 0).mean(-1)
        out[..., col["log_sigma"]] = _log(np.nanmedian(sigma, -1), 1e-3)
        lo, hi = np.nanmin(kp0, -2), np.nanmax(kp0, -2)
        height = np.maximum(np.nan_to_num(np.linalg.norm(hi - lo, axis=-1), nan=1.0), 1.0)  # (T, P) px
        d = np.full((C, T, P, 15), np.nan)
        for ci, cam in enumerate(cams):
            uv, z = cam.project(refined.reshape(-1, 3))
            uv, z = uv.reshape(T, P, 15, 2), z.reshape(T, P, 15)
            px = np.where(z > 0, np.linalg.norm(uv - KP[ci], axis=-1), np.inf)  # behind the camera: off entirely
            d[ci] = np.where(CF[ci] > 0, np.minimum(px / height[..., None], REPROJ_CAP), np.nan)
        dd = np.moveaxis(d, 0, -1).reshape(T, P, -1)
        out[..., col["log_reproj"]] = _log(np.nanmedian(dd, -1), 1e-3)
        out[..., col["log_reproj_p90"]] = _log(np.nanpercentile(dd, 90, axis=-1), 1e-3)
        dev = np.linalg.norm(refined - raw, axis=-1)
        out[..., col["log_smooth_dev"]] = _log(np.nanmedian(dev, -1), 1e-3)
        out[..., col["log_smooth_max"]] = _log(np.nanmax(dev, -1), 1e-3)
        out[..., col["log_bone_dev"]] = _log(np.nanmean(bone_dev, -1), 1e-3)
        out[..., col["log_shape_dev"]] = _log(rigid_residual(refined, world), 1e-3)
        sh = np.linalg.norm(kp0[..., _J["l_shoulder"], :] - kp0[..., _J["r_shoulder"], :], axis=-1)
        tor = np.linalg.norm(kp0[..., _J["thorax"], :] - kp0[..., _J["pelvis"], :], axis=-1)
        out[..., col["profile"]] = sh / np.maximum(tor, 1.0)
        sw = swapped.astype(float)
        near = np.zeros_like(sw)
        for k in range(-2, 3):
            near = np.maximum(near, np.roll(sw, k, axis=0))
        out[..., col["swap_near"]] = near
        _, z0 = ref.project(refined[..., 0, :].reshape(-1, 3))
        out[..., col["distance"]] = z0.reshape(T, P)
        out[..., col["multi_view"]] = ((CF > 0).sum(0) >= 2).mean(-1)
        jerk = np.full((T, P), np.nan)
        if T >= 3:
            a = np.nanmean(np.linalg.norm(np.diff(raw, 2, axis=0), axis=-1), -1)  # (T-2, P)
            jerk[1:-1] = a
            jerk[0], jerk[-1] = a[0], a[-1]
        out[..., col["log_jerk"]] = _log(jerk, 1e-3)
        out[..., col["log_bone_max"]] = _log(np.nanmax(bone_dev, -1), 1e-3)
        out[..., col["limb_unsupported"]] = 0.0 if support is None else (support[..., LIMBS] <= 0).mean(-1)
        ctx = out[..., [col[n] for n in CONTEXT]]
        h = CONTEXT_FRAMES // 2
        pad = np.concatenate([np.full((h,) + ctx.shape[1:], np.nan), ctx, np.full((h,) + ctx.shape[1:], np.nan)])
        from numpy.lib.stride_tricks import sliding_window_view

        ctx = np.nanmean(sliding_window_view(pad, CONTEXT_FRAMES, axis=0), -1)
    return np.concatenate([out, ctx], -1)


def standardise(cues: np.ndarray, model: dict) -> np.ndarray:
    """Cues minus the training mean over the training σ; a missing cue (NaN) counts as average (0)."""
    z = (cues - np.asarray(model["mean"])) / np.asarray(model["scale"])
    return np.nan_to_num(z, nan=0.0, posinf=0.0, neginf=0.0)


def quality(cues: np.ndarray, model: dict | None = None) -> np.ndarray:
    """Probability ``(...)`` that a label is within 80 mm (mean over joints) from its cues ``(..., len(ALL_CUES))``;
    NaN where no model is available (the caller falls back)."""
    model = MODEL if model is None else model
    if model is None:
        return np.full(cues.shape[:-1], np.nan)
    if tuple(model["cues"]) != ALL_CUES:
        raise ValueError("quality model was fitted on other cues; refit with python -m rfpose.app.annotation_quality")
    logit = standardise(cues, model) @ np.asarray(model["coef"]) + float(model["intercept"])
    return 1.0 / (1.0 + np.exp(logit))  # the model predicts P(bad)


def fit_logistic(X: np.ndarray, y: np.ndarray, l2: float = 1.0, iters: int = 50) -> tuple[np.ndarray, float]:
    """L2-regularised logistic regression by Newton's method: ``P(y=1) = σ(X w + b)``; ``X (n, F)``
    standardised, ``y (n,)`` in {0, 1}; classes weighted to equal total weight. Returns ``(w, b)``."""
    n, F = X.shape
    pos = y.sum()
    sw = np.where(y > 0, 0.5 * n / max(pos, 1), 0.5 * n / max(n - pos, 1))
    A = np.concatenate([X, np.ones((n, 1))], 1)
    theta = np.zeros(F + 1)
    reg = np.full(F + 1, l2)
    reg[-1] = 0.0
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-(A @ theta)))
        g = A.T @ (sw * (p - y)) + reg * theta
        H = (A * (sw * p * (1 - p))[:, None]).T @ A + np.diag(reg + 1e-9)
        step = np.linalg.solve(H, g)
        theta -= step
        if np.abs(step).max() < 1e-8:
            break
    return theta[:-1], float(theta[-1])


#: fitted constants (see the module docstring); None: fall back to the mean joint confidence
MODEL: dict | None = {
    "cues": list(ALL_CUES),
    "mean": [0.88732, 0.08374, 0.02067, 0.50176, 0.06309, -1.0916, -2.11612, -1.6716, -1.57037, -0.92947, -1.61382,
        -1.096, 0.55514, 0.02512, 3.59424, 0.18311, -1.1135, -1.23095, 0.54507, 0.88316, 0.49652, -1.10421,
        -1.67671, -0.93675, -1.23759, -1.10776, 0.55349, 0.5422],
    "scale": [0.08095, 0.09572, 0.06059, 0.22598, 0.07927, 0.36937, 0.40125, 0.41473, 0.41404, 0.43339, 0.39918, 0.24543,
        0.24608, 0.15452, 0.85063, 0.3866, 0.43122, 0.4354, 0.24075, 0.08733, 0.21082, 0.36225, 0.38837, 0.38685,
        0.40542, 0.25132, 0.24124, 0.21328],
    "coef": [0.41891, -0.1062, 0.16275, 0.02651, 0.04096, 0.27226, -0.06658, 0.14987, -0.11099, -0.39225, 0.25663,
        0.84385, 0.0022, 0.33468, -0.32582, -0.80099, 0.09254, 0.39199, 0.039, -0.48247, -1.14647, 0.25869, 0.51434,
        0.81592, 0.15031, 0.06303, 0.43526, 0.97512],
    "intercept": -0.64271,
    "frames": 3899, "bad_frames": 1097, "training_auroc": 0.92,
    # training sessions (MediaPipe): the compact rig's walk3 = rfpose simulate --scenario walk --frames 100 --seed 3
    # --board awr1843boost, and S-N = rfpose simulate --scenario S --frames 40 --seed N --board awr1843boost for
    # walk-wave 11 and 14, random-poses 12, walk 13, two-people 15; the wide rig's wide-walk-N = the same walk with
    # --rig-seed 500 --stereo-baseline 1.2 for seeds 211 and 212 (these eight calibrated from the simulator's
    # truth, docs/annotation.md); and the 168 sessions of sim-bench-v1-auto's training subjects (bench = rfpose
    # simulate-dataset --preset sim-bench-v1-auto --out bench --train-takes 1; calibrated by rfpose calibrate)
    "fitted_by": ("python -m rfpose.app.annotation_quality fit walk3.zarr walk-wave-11.zarr random-poses-12.zarr "
                  "walk-13.zarr walk-wave-14.zarr two-people-15.zarr wide-walk-211.zarr wide-walk-212.zarr "
                  "bench/sessions/seed{1,2,3,4,5,6,7,11,12,13,14,15,16,17}-*.zarr "
                  "--modes mono,fused,stereo --l2 3.0"),
}
