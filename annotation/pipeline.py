"""From 2D detections to 3D labels at the radar frames: association, swap repair, lifting, the floor, refinement,
confidence, resampling onto the radar's clock. :func:`annotate` is the whole stage on in-memory inputs;
:mod:`rfpose.annotation.run` wraps it with the session reading, detection cache and label writing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from rfpose.annotation.detect import CameraDetections
from rfpose.annotation.detectors import convert_confidence, correct_landmarks
from rfpose.annotation.floor import fit_floor, hold_above_floor
from rfpose.annotation.lidar_depth import (LidarCloud, LidarDepthParams, joint_depths,
                                           shape_rows_without_lidar)
from rfpose.annotation.lift import lift
from rfpose.annotation.quality import frame_cues
from rfpose.annotation.quality import quality as score_quality
from rfpose.annotation.refine import (bone_lengths, enforce_bone_lengths, reject_outliers, repair_swaps, resample,
                                      smooth_least_squares, smooth_one_euro, smooth_savgol)
from rfpose.annotation.rig import RigView
from rfpose.errors import ConfigError, FormatError
from rfpose.skeletons import convert, get_skeleton

SKELETON = "rtpose15"
ANKLES = [get_skeleton(SKELETON).index(j) for j in ("r_ankle", "l_ankle")]
SMOOTHERS = ("savgol", "least-squares", "one-euro", "none")
#: per-frame flags (bits of ``Annotation.flags``)
FLAG_LOW_QUALITY, FLAG_INCOMPLETE, FLAG_CROWD = 1, 2, 4
FLAG_NAMES = {FLAG_LOW_QUALITY: "low_quality", FLAG_INCOMPLETE: "incomplete", FLAG_CROWD: "more_people_than_detector"}


@dataclass(frozen=True)
class AnnotateParams:
    """Settings of the lifting and refinement, saved in every label set's provenance."""

    min_confidence: float = 0.02  # weight floor of a joint the detector placed but rates (nearly) invisible
    pair_tolerance_ms: float = 20.0  # a second camera's frame is used with the reference frame within this
    max_gap_ms: float = 100.0  # labels are never interpolated between camera frames further apart
    smoothing: str = "least-squares"
    savgol_window: int = 9
    ls_lambda_s4: float = 1e-4  # least-squares trajectory: acceleration penalty (s⁴; 4th root = time constant)
    ls_robust_iters: int = 4  # least-squares: reweighting passes (L1-like acceleration penalty; 0: plain)
    ls_robust_mps2: float = 2.0  # least-squares: accelerations above this (m/s²) are penalised less
    ls_sigma_ref_m: float = 0.08  # least-squares: a joint with this σ has weight 1 (weights (ref/σ)²)
    outlier_window: int = 7  # Hampel filter over camera frames before smoothing (0: off)
    bone_lengths: bool = True
    # ankles are held at least this high (m) above the floor the LiDAR sees (None: not); chosen on the training
    # sessions (docs/annotation.md, "The floor")
    ankle_floor_m: float | None = 0.07
    # without a LiDAR, every joint also gets a depth from the detector's 3D shape anchored on the triangulated
    # torso: the depth of a joint every camera rates hidden, a weak prior elsewhere
    # (lidar_depth.shape_rows_without_lidar)
    shape_without_lidar: bool = True
    landmark_correction: bool = True  # move the detector's landmarks onto rtpose15's joint centres
    swap_repair: bool = True
    sigma0_m: float = 0.08  # joint confidence = 2D confidence / (1 + (σ / sigma0)²): 0.5 at σ = 80 mm
    # frames with a lower quality (P(error ≤ 80 mm), quality.MODEL) are flagged, and preprocess skips them: 0.02
    # drops only the labels that are almost surely wrong; dropping the merely doubtful ones cost the models trained
    # on them more than their errors did (docs/annotation.md, sim-bench-v1-auto)
    quality_threshold: float = 0.02
    max_people: int = 2
    max_speed_mps: float = 4.0  # a track moving faster is a new identity (and, single-person, flagged)
    lidar: LidarDepthParams = field(default_factory=LidarDepthParams)

    def __post_init__(self):
        if self.smoothing not in SMOOTHERS:
            raise ConfigError(f"smoothing must be one of {', '.join(SMOOTHERS)}, got {self.smoothing!r}")
        if self.savgol_window < 3 or self.savgol_window % 2 == 0:
            raise ConfigError(f"savgol_window must be odd and >= 3, got {self.savgol_window}")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Annotation:
    """Labels at the radar frames plus the camera-rate tracks they came from (for the QA report)."""

    frame_index: np.ndarray  # (N,) radar stream positions
    timestamps_ns: np.ndarray  # (N,) label times, radar clock
    joints: np.ndarray  # (N, P, 15, 3) radar frame, m
    confidence: np.ndarray  # (N, P, 15)
    quality: np.ndarray  # (N,) lowest person quality of the frame (quality.quality; 0 where unlabelled)
    flags: np.ndarray  # (N,) bits FLAG_*
    track_times_ns: np.ndarray  # (T,) reference camera frames, radar clock
    track_joints: np.ndarray  # (T, P, 15, 3) refined
    track_raw: np.ndarray  # (T, P, 15, 3) before refinement
    track_confidence: np.ndarray  # (T, P, 15)
    reference_camera: str
    stats: dict
    cues: np.ndarray | None = None  # (N, P, len(quality.ALL_CUES)) the quality cues at the radar frames
    person_quality: np.ndarray | None = None  # (N, P) probability the person's label is within 80 mm

    @property
    def labelled(self) -> np.ndarray:
        """(N,) frames with a complete label of at least one person and no flag."""
        return (self.flags == 0) & np.isfinite(self.joints).all(axis=(2, 3)).any(1)


def to_rtpose15(d: CameraDetections, correct: bool = True):
    """(N, P, 15, 2), (N, P, 15), (N, P, 15, 3) of a camera's detections; ``correct``: landmarks moved onto
    the joint centres (:func:`~rfpose.annotation.detectors.correct_landmarks`)."""
    if d.skeleton == SKELETON:
        return d.keypoints, d.confidence, d.world
    kp = convert(d.keypoints, d.skeleton, SKELETON)[0]
    if correct:
        kp = correct_landmarks(kp, d.skeleton, SKELETON)
    conf = convert_confidence(d.confidence, d.skeleton, SKELETON)
    world = convert(d.world, d.skeleton, SKELETON)[0]
    return kp, conf, world


def _mean_finite(a: np.ndarray, axis: int) -> np.ndarray:
    """Mean of the finite values along ``axis``; NaN where there are none (``np.nanmean`` without its warning,
    which a frame where a person has no valid joint would print)."""
    n = np.isfinite(a).sum(axis)
    return np.where(n > 0, np.nansum(a, axis) / np.maximum(n, 1), np.nan)


def _track_identities(kp: np.ndarray, conf: np.ndarray, max_jump_px: float):
    """Reorder the person axis of ``kp (T, P, J, 2)`` so a slot follows one person (Hungarian matching of
    2D centroids frame to frame). Returns the permuted arrays' index ``(T, P)`` and ``(T,)`` frames where a
    slot's person jumped further than ``max_jump_px`` (a new identity)."""
    T, P = conf.shape[:2]
    order = np.tile(np.arange(P), (T, 1))
    jumps = np.zeros(T, bool)
    cen = _mean_finite(np.where(conf[..., None] > 0, kp, np.nan), axis=2)  # (T, P, 2)
    last = np.full((P, 2), np.nan)
    for i in range(T):
        present = np.isfinite(cen[i]).all(-1)
        if P > 1 and present.any():
            cost = np.linalg.norm(last[:, None] - cen[i][None], axis=-1)
            cost = np.where(np.isfinite(cost), cost, 1e4)
            cost[:, ~present] = 1e6
            r, c = linear_sum_assignment(cost)
            order[i, r] = c
        cur = cen[i, order[i]]
        d = np.linalg.norm(cur - last, axis=-1)
        jumps[i] = bool(np.any(np.isfinite(d) & (d > max_jump_px)))
        last = np.where(np.isfinite(cur), cur, last)
    return order, jumps


def _match_other(ref_cam, cam, ref_kp, ref_conf, kp, conf) -> np.ndarray:
    """For each reference person the index of the same person in another camera's frame, by epipolar
    distance of their joints (``(P,)``, -1 for none)."""
    P = ref_conf.shape[0]
    out = np.full(P, -1)
    if P == 1 and conf.shape[0] >= 1:
        out[0] = 0
        return out
    T_rel = cam.T_cam_radar @ ref_cam.T_radar_cam  # ref camera -> other camera
    R, t = T_rel[:3, :3], T_rel[:3, 3]
    E = np.array([[0, -t[2], t[1]], [t[2], 0, -t[0]], [-t[1], t[0], 0]]) @ R
    x1 = np.concatenate([ref_cam.normalise(ref_kp), np.ones(ref_kp.shape[:2] + (1,))], -1)  # (P, J, 3)
    x2 = np.concatenate([cam.normalise(kp), np.ones(kp.shape[:2] + (1,))], -1)  # (Q, J, 3)
    l2 = np.einsum("ij,pkj->pki", E, x1)  # epipolar lines in camera 2
    num = np.abs(np.einsum("qki,pki->pqk", x2, l2))
    den = np.linalg.norm(l2[..., :2], axis=-1)[:, None]
    dist = num / np.maximum(den, 1e-12) * cam.K[0, 0]
    ok = (ref_conf[:, None] > 0) & (conf[None] > 0)
    cost = np.nanmedian(np.where(ok, dist, np.nan), axis=-1)
    cost = np.where(np.isfinite(cost), cost, 1e6)
    r, c = linear_sum_assignment(cost)
    for a, b in zip(r, c):
        if cost[a, b] < 30.0:
            out[a] = b
    return out


def _bone_deviation(X: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """``(T, 15)``: for each joint the largest difference (m) between one of its bones in this frame and the
    subject's length of that bone (a depth placed wrongly stretches or shrinks the bones it ends)."""
    out = np.zeros(X.shape[:2])
    for e, (a, b) in enumerate(get_skeleton(SKELETON).edges):
        d = np.nan_to_num(np.abs(np.linalg.norm(X[:, a] - X[:, b], axis=-1) - lengths[e]))
        out[:, a] = np.maximum(out[:, a], d)
        out[:, b] = np.maximum(out[:, b], d)
    return out


def annotate(rig: RigView, detections: dict[str, CameraDetections], radar_times_ns: np.ndarray,
             cloud: LidarCloud | None = None, params: AnnotateParams = AnnotateParams(),
             single_person_detector: bool = False) -> Annotation:
    """Lift ``detections`` (per camera of ``rig``) to rtpose15 labels at the radar frames.

    ``radar_times_ns (N,)``: the radar stream's timestamps (its own clock); labels are placed at these plus
    the rig's label shift. ``cloud``: the LiDAR points (None: cameras only)."""
    cams = [c for c in rig.cameras if c.name in detections]
    if not cams:
        raise FormatError("annotate: no camera detections to lift")
    if len(cams) < 2 and cloud is None:
        raise FormatError("annotate: one camera needs a LiDAR stream for depth (or give two calibrated cameras)")
    ref = max(cams, key=lambda c: len(detections[c.name].timestamps_ns))
    cams = [ref] + [c for c in cams if c is not ref]
    seen = max(int(detections[c.name].num_people.max(initial=0)) for c in cams)
    P = max(1, min(params.max_people, seen))
    data = {}
    for c in cams:
        kp, conf, world = to_rtpose15(detections[c.name], params.landmark_correction)
        p = min(P, kp.shape[1])
        kp, conf, world = kp[:, :p], conf[:, :p], world[:, :p]
        sil = detections[c.name].silhouette_px
        sil = np.full(conf.shape[:2], np.nan) if sil is None else sil[:, :p]
        # a detector's guess for a hidden joint (MediaPipe places all 33) still counts, with a small weight
        placed = np.isfinite(kp).all(-1) & (conf > 0 if detections[c.name].skeleton == SKELETON else True)
        conf = np.where(placed, np.maximum(conf, params.min_confidence), 0.0)
        t = detections[c.name].timestamps_ns.astype(np.int64) - c.offset_ns + rig.radar_offset_ns
        data[c.name] = (t, kp, conf, world, sil)
    t_ref, kp0, conf0, world0, sil0 = data[ref.name]
    T, P = conf0.shape[:2]
    period = np.median(np.diff(t_ref)) if T > 1 else 1e8
    max_jump = params.max_speed_mps * 1e-9 * period * ref.K[0, 0] / 1.5  # px per frame at 1.5 m
    order, jumps = _track_identities(kp0, conf0, max(max_jump, 20.0))
    take = lambda a: np.take_along_axis(a, order.reshape(T, P, *([1] * (a.ndim - 2))), axis=1)  # noqa: E731
    kp0, conf0, world0, sil0 = take(kp0), take(conf0), take(world0), take(sil0)
    C = len(cams)
    KP = np.full((C, T, P, 15, 2), np.nan)
    CF = np.zeros((C, T, P, 15))
    KP[0], CF[0] = kp0, conf0
    swaps = 0
    swapped = np.zeros((T, P), bool)
    tol = int(params.pair_tolerance_ms * 1e6)
    for ci, c in enumerate(cams[1:], 1):
        t, kp, conf, _, _ = data[c.name]
        j = np.clip(np.searchsorted(t, t_ref), 1, max(len(t) - 1, 1))
        nearest = np.where(np.abs(t[j - 1] - t_ref) <= np.abs(t[np.minimum(j, len(t) - 1)] - t_ref), j - 1,
                           np.minimum(j, len(t) - 1))
        for i in range(T):
            k = nearest[i]
            if abs(int(t[k]) - int(t_ref[i])) > tol:
                continue
            m = _match_other(ref, c, kp0[i], conf0[i], kp[k], conf[k])
            for p in range(P):
                if m[p] >= 0:
                    KP[ci, i, p], CF[ci, i, p] = kp[k, m[p]], conf[k, m[p]]
    if params.swap_repair:
        for ci in range(C):
            for p in range(P):
                KP[ci, :, p], CF[ci, :, p], sw = repair_swaps(KP[ci, :, p], CF[ci, :, p])
                swaps += int(sw.sum())
                swapped[:, p] |= sw
    # lifting: all frames and people at once, person axis folded into time
    R = np.stack([c.T_cam_radar[:3, :3] for c in cams])
    tt = np.stack([c.T_cam_radar[:3, 3] for c in cams])
    focal = np.array([c.K[0, 0] for c in cams])
    xn = np.stack([cams[ci].normalise(KP[ci]) for ci in range(C)]).reshape(C, T * P, 15, 2)
    depth = sigma = support = None
    girth = np.ones((T, P))
    if cloud is not None:
        depth, sigma, support, girth = joint_depths(ref, cloud, np.repeat(t_ref, P), KP[0].reshape(T * P, 15, 2),
                                                    CF[0].reshape(T * P, 15), world0.reshape(T * P, 15, 3),
                                                    params.lidar, sil0.reshape(T * P), np.tile(np.arange(P), T))
        girth = girth.reshape(T, P)
    res = lift(R, tt, focal, xn, CF.reshape(C, T * P, 15), depth, sigma)
    if cloud is None and params.shape_without_lidar and np.isfinite(world0).any():
        tri_depth = (res.joints.reshape(T * P, 15, 3) @ R[0].T + tt[0])[..., 2]
        axis = R[0, 2]  # the reference camera's depth axis in the radar frame
        tri_sigma = np.sqrt(np.einsum("i,mjik,k->mj", axis, res.cov_m2.reshape(T * P, 15, 3, 3), axis))
        depth, sigma = shape_rows_without_lidar(ref, KP[0].reshape(T * P, 15, 2), CF.min(0).reshape(T * P, 15),
                                                world0.reshape(T * P, 15, 3), tri_depth, tri_sigma, params.lidar)
        if np.isfinite(depth).any():
            res = lift(R, tt, focal, xn, CF.reshape(C, T * P, 15), depth, sigma)
    raw = res.joints.reshape(T, P, 15, 3)
    floor = fit_floor(cloud.xyz) if cloud is not None and params.ankle_floor_m is not None else None
    floor_stats = None
    if floor is not None:
        centre = -ref.T_cam_radar[:3, :3].T @ ref.T_cam_radar[:3, 3]
        held, moved = hold_above_floor(raw.reshape(T * P, 15, 3), ANKLES, floor, params.ankle_floor_m, centre)
        raw = held.reshape(T, P, 15, 3)
        floor_stats = {**floor.to_dict(), "ankles_moved": int(moved.sum())}
    sig = res.sigma_m.reshape(T, P, 15)
    # bone-length corrections move a joint that has a depth row along its lifting covariance (for one camera
    # its ray); a triangulated joint isotropically, by σ² + σ0²: its covariance made the projection worse on
    # the training sessions (docs/annotation.md, "Bone lengths along the lifting's covariance")
    iso = (sig ** 2 + params.sigma0_m ** 2)[..., None, None] * np.eye(3)
    inv_mass = np.where(res.depth_used.reshape(T, P, 15)[..., None, None], res.cov_m2.reshape(T, P, 15, 3, 3), iso)
    conf2d = np.max(np.where(CF > 0, CF, 0.0), axis=0)
    refined = raw.copy()
    bone_dev = np.zeros((T, P, 15))  # how far a joint's bones are from the subject's lengths (m)
    for p in range(P):
        X = reject_outliers(raw[:, p], params.outlier_window) if params.outlier_window else raw[:, p]
        w_frame = _mean_finite(1 / (1 + (sig[:, p] / params.sigma0_m) ** 2), axis=1)
        if params.bone_lengths and np.isfinite(X).any():
            L = bone_lengths(X, np.nan_to_num(w_frame) ** 2)
            bone_dev[:, p] = _bone_deviation(X, L)
            X = enforce_bone_lengths(X, inv_mass[:, p], L)
        if params.smoothing == "savgol":
            X = smooth_savgol(X, params.savgol_window)
        elif params.smoothing == "least-squares":
            # inverse-variance weights from the lifting's σ: a well-placed joint is smoothed less
            w_ls = (params.ls_sigma_ref_m / np.maximum(np.nan_to_num(sig[:, p], nan=np.inf), 1e-4)) ** 2
            X = smooth_least_squares(X, w_ls, t_ref, params.ls_lambda_s4, params.ls_robust_iters, params.ls_robust_mps2)
        elif params.smoothing == "one-euro":
            X = smooth_one_euro(X, t_ref)
        refined[:, p] = X
    dev2 = np.sum((refined - raw) ** 2, axis=-1)
    total = np.sqrt(np.nan_to_num(sig, nan=np.inf) ** 2 + np.nan_to_num(dev2) + bone_dev**2)
    jconf = np.where(np.isfinite(refined).all(-1), conf2d / (1 + (total / params.sigma0_m) ** 2), 0.0)

    # onto the radar frames
    label_t = np.asarray(radar_times_ns, np.int64) + rig.label_shift_ns
    gap = int(params.max_gap_ms * 1e6)
    N = len(label_t)
    joints = resample(t_ref, refined.reshape(T, -1), label_t, gap).reshape(N, P, 15, 3)
    conf = np.nan_to_num(resample(t_ref, jconf.reshape(T, -1), label_t, gap).reshape(N, P, 15))
    present = np.isfinite(joints).all(-1).any(-1)  # (N, P) person has any joint
    complete = np.isfinite(joints).all(axis=(2, 3))
    cues_t = frame_cues(cams, KP, CF, raw, refined, sig, bone_dev,
                        None if support is None else support.reshape(T, P, 15), world0, swapped)
    cues = resample(t_ref, cues_t.reshape(T, -1), label_t, gap).reshape(N, P, -1)
    pq = np.where(present, score_quality(cues), np.nan)
    if np.isfinite(pq[present]).all():  # a fitted model: a frame is as good as its worst label
        quality = np.where(present.any(1), np.nanmin(np.where(present, pq, np.inf), axis=1), 0.0)
        quality = np.where(np.isfinite(quality), quality, 0.0)
    else:  # no model: the mean joint confidence
        quality = np.array([conf[i][present[i]].mean() if present[i].any() else 0.0 for i in range(N)])
    flags = np.zeros(N, np.int32)
    flags[(quality < params.quality_threshold) & present.any(1)] |= FLAG_LOW_QUALITY
    flags[present.any(1) & ~(complete | ~present).all(1)] |= FLAG_INCOMPLETE
    if single_person_detector:
        jump_t = t_ref[jumps]
        near = np.zeros(N, bool)
        if len(jump_t):
            near = np.min(np.abs(label_t[:, None] - jump_t[None]), axis=1) <= gap
        flags[near] |= FLAG_CROWD
    stats = {"camera_frames": int(T), "swaps_repaired": swaps, "identity_jumps": int(jumps.sum()),
             "camera_order": [c.name for c in cams], "lidar_used": cloud is not None,
             "lidar_supported_joints": None if support is None else float((support > 0).mean()),
             "girth_scale": [round(float(g), 3) for g in girth[0]] if T else [],
             "floor": floor_stats}
    return Annotation(np.arange(N), label_t, joints, conf, quality, flags, t_ref, refined, raw, jconf, ref.name,
                      stats, cues, pq)
