"""Depth of each 2D joint from the LiDAR, for lifting with one camera (or fusing with several).

Method (for one camera frame at time t on the radar clock):

1. LiDAR points whose own capture time (sweep timestamp + the point's ``time_offset_ns``, moved to the radar
   clock) lies within ``window_ns`` of t, so a moving person is not smeared (1.5 m/s × 15 ms = 2 cm);
   transformed into the camera and projected with its intrinsics and distortion.
2. The person: points projecting inside the person's 2D box (keypoints ± 15 %), then depth clustering: the
   torso depth is that of the nearest dense group of the points near the torso joints
   (:func:`nearest_surface`: the LiDAR, apart from the camera, also sees the wall past the body's edge where
   the camera sees the body), and only points within ``cluster_m`` of it are kept (drops the wall behind
   and objects in front).
3. Per joint: person points within ``radius_m`` (converted to pixels at the torso depth) of the 2D joint; with
   at least ``min_points``, the front surface is their ``percentile``-th depth and the joint depth is that plus
   the joint's surface-to-centre offset (:data:`SURFACE_OFFSET_M`: joints are inside the body, about half a
   limb or trunk thickness behind the skin the LiDAR sees). With a 3D shape, the pelvis's and thorax's offsets
   follow the trunk's orientation (:data:`ORIENTED_OFFSET_M`) and every offset scales with the person's girth
   (:func:`girth_scale`, from the detector's person mask seen in profile).
4. With the detector's root-relative 3D shape (MediaPipe's world landmarks): the shape is turned onto the ray
   to the pelvis, its tilt corrected by a per-session fit and anchored in depth on the LiDAR-supported torso
   joints (:func:`shape_depths`); a joint's LiDAR depth is kept unless it lies more than ``occlusion_m`` in
   front of the shape (then the LiDAR saw what hides the joint, e.g. the torso in front of the far arm) or an
   arm covers the torso joint in front of it (:func:`hidden_by_arms`), and the shape's depth is used
   elsewhere. Without a shape: LiDAR depth where there is one, the person's depth with a wide σ elsewhere.
5. An elbow or wrist the detector rates hidden lies behind what hides it: ``hidden_arm_m`` deeper than either.

Returns camera-frame depths and σ for :func:`rfpose.annotation.lift.lift`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rfpose.annotation.rig import CameraCalib
from rfpose.skeletons import get_skeleton

SK = get_skeleton("rtpose15")
#: centre of the joint behind the visible surface (m): half the trunk/limb depth of an adult, then corrected by
#: the median depth error of the LiDAR-supported, unoccluded (near-side) joints measured on the training session
#: walk seed 3 with exact 2D (docs/annotation.md), never on the evaluation seeds
SURFACE_OFFSET_M = dict(pelvis=0.145, r_hip=0.10, l_hip=0.10, r_knee=0.09, l_knee=0.09, r_ankle=0.065,
                        l_ankle=0.065, thorax=0.13, head=0.085, r_shoulder=0.06, l_shoulder=0.06, r_elbow=0.055,
                        l_elbow=0.055, r_wrist=0.04, l_wrist=0.04)
OFFSETS = np.array([SURFACE_OFFSET_M[j] for j in SK.joints])
#: the pelvis's and thorax's offsets depend on how the trunk faces the camera: the hips and the trunk are wider
#: than deep, and in profile the near upper arm covers the thorax. Offset (m) at these values of cos² of the
#: angle between the body's left-right axis and the camera's x axis (1: facing the camera or turned away,
#: 0: profile), the median over the near-side frames of the training session walk seed 3 with exact 2D and the
#: true orientation (docs/annotation.md); used where the detector gives a 3D shape to read the orientation from.
FACING_COS2 = np.array([0.075, 0.25, 0.5, 0.75, 0.93])
ORIENTED_OFFSET_M = {"pelvis": (0.167, 0.156, 0.128, 0.124, 0.122), "thorax": (0.218, 0.119, 0.108, 0.096, 0.101)}
#: the hips' front-to-back depth of the body the offsets were measured on (walk seed 3's subject), as
#: :func:`girth_scale` measures it: the offsets scale with a person's girth (docs/annotation.md)
GIRTH_REF_M = 0.212
TORSO = np.array([SK.joints.index(j) for j in ("pelvis", "r_hip", "l_hip", "thorax", "r_shoulder", "l_shoulder")])
FOREARM = np.array([SK.joints.index(j) for j in ("r_elbow", "r_wrist", "l_elbow", "l_wrist")])


@dataclass(frozen=True)
class LidarDepthParams:
    window_ns: int = 15_000_000
    cluster_m: float = 0.5
    radius_m: float = 0.05
    min_points: int = 3
    percentile: float = 25.0
    sigma_lidar_m: float = 0.03
    sigma_shape_m: float = 0.08
    # without a LiDAR: σ of the shape's depth for a joint the cameras see (a weak prior on the triangulation);
    # chosen on the wide training sessions (docs/annotation.md, "The 3D shape without a LiDAR")
    sigma_shape_seen_m: float = 0.20
    # ... and no shape where the triangulated torso it is anchored on is this uncertain in depth (m): a 12 cm pair
    # at 3–5 m (σ 0.4–1.8 m) gains nothing from it, and its frames must keep reading as bad; a 1.2 m pair: 0.08–0.17
    max_anchor_sigma_m: float = 0.30
    sigma_person_m: float = 0.30
    occlusion_m: float = 0.11  # chosen on the training sessions (docs/annotation.md)
    oriented_offsets: bool = True  # pelvis/thorax offsets from the shape's orientation (ORIENTED_OFFSET_M)
    girth_from_silhouette: bool = True  # offsets scaled per person by the profile silhouette (girth_scale)
    limb_occlusion: bool = True  # no LiDAR depth for a torso joint an arm covers in front of it (hidden_by_arms)
    # an elbow or wrist the detector rates hidden (confidence below hidden_confidence) is this much deeper than
    # what the LiDAR or the shape give (they see / place it at what hides it); chosen on the training sessions
    hidden_arm_m: float = 0.10
    hidden_confidence: float = 0.5


@dataclass
class LidarCloud:
    """All LiDAR points of a session in the radar frame, sorted by capture time on the radar clock."""

    xyz: np.ndarray  # (M, 3) m
    t_ns: np.ndarray  # (M,) int64

    @staticmethod
    def from_session(reader, lidar) -> "LidarCloud":
        """Points of the LiDAR stream ``lidar`` (a :class:`~rfpose.annotation.rig.LidarCalib`)."""
        s = reader.stream(lidar.name)
        pts = s.read_points(0, len(s))
        off = s.point_offsets
        frame_t = np.repeat(np.asarray(s.timestamps_ns, np.int64), np.diff(off))
        t = frame_t + pts["time_offset_ns"].astype(np.int64) - lidar.offset_ns
        p = np.stack([pts["x"], pts["y"], pts["z"]], -1).astype(np.float64)
        T = lidar.T_radar_lidar
        xyz = p @ T[:3, :3].T + T[:3, 3]
        order = np.argsort(t)
        return LidarCloud(xyz[order], t[order])

    def window(self, t_ns: int, half_ns: int) -> np.ndarray:
        a, b = np.searchsorted(self.t_ns, [t_ns - half_ns, t_ns + half_ns + 1])
        return self.xyz[a:b]


def joint_depths(cam: CameraCalib, cloud: LidarCloud, times_ns: np.ndarray, kp: np.ndarray, conf: np.ndarray,
                 world: np.ndarray | None = None, params: LidarDepthParams = LidarDepthParams(),
                 silhouette_px: np.ndarray | None = None, track: np.ndarray | None = None):
    """Camera depths of rtpose15 joints from the LiDAR.

    ``times_ns (T,)`` on the radar clock; ``kp (T, 15, 2)`` px and ``conf (T, 15)`` of one person in ``cam``;
    ``world (T, 15, 3)`` optional root-relative shape; ``silhouette_px (T,)`` optional mask width through the
    pelvis and ``track (T,)`` which person each row is (several people folded into T; default one).
    Returns ``depth (T, 15)`` m, ``sigma (T, 15)`` m, ``support (T, 15)`` (LiDAR points used per joint; 0
    where the depth came from the shape or the person without LiDAR points, minus the points where the
    LiDAR's depth lay in front of the shape and was not used) and ``girth (T,)``, the offsets' scale
    (:func:`girth_scale`) of each row's person.
    """
    T, J = conf.shape
    ok = (conf > 0) & np.isfinite(kp).all(-1)
    surface = np.full((T, J), np.nan)  # the LiDAR's surface depth near each joint
    z_front = np.full(T, np.nan)  # the person's front surface
    support = np.zeros((T, J), np.int32)
    f = float(cam.K[0, 0])
    for i in range(T):
        if ok[i].sum() < 3:
            continue
        pts = cloud.window(int(times_ns[i]), params.window_ns)
        if len(pts) == 0:
            continue
        uv, z = cam.project(pts)
        lo, hi = kp[i, ok[i]].min(0), kp[i, ok[i]].max(0)
        pad = 0.15 * (hi - lo) + 5
        inb = (z > 0.2) & np.all((uv >= lo - pad) & (uv <= hi + pad), axis=-1)
        uv, z = uv[inb], z[inb]
        if len(z) < params.min_points:
            continue
        d2 = ((uv[None] - kp[i][:, None]) ** 2).sum(-1)  # (J, n)
        torso = [j for j in TORSO if ok[i, j]]
        near_torso = (d2[torso] < (0.08 * f / np.median(z)) ** 2).any(0) if torso else np.zeros(len(z), bool)
        if near_torso.sum() < params.min_points:
            continue
        z0 = nearest_surface(z[near_torso], params.cluster_m / 2, params.min_points)
        z_front[i] = z0
        person = np.abs(z - z0) < params.cluster_m
        r_px = max(3.0, params.radius_m * f / z0)
        for j in np.flatnonzero(ok[i]):
            sel = person & (d2[j] < r_px * r_px)
            n = int(sel.sum())
            if n >= params.min_points:
                surface[i, j] = np.percentile(z[sel], params.percentile)
                support[i, j] = n
    rel = None if world is None else shape_on_ray(cam, kp, world)
    if rel is not None and params.limb_occlusion:
        hidden = hidden_by_arms(kp, rel, z_front, f)
        surface[hidden] = np.nan
        support[hidden] = 0
    offsets = np.tile(OFFSETS, (T, 1))
    girth = np.ones(T)
    if rel is not None and params.oriented_offsets:
        c2 = facing_cos2(rel)
        for name, table in ORIENTED_OFFSET_M.items():
            j = SK.joints.index(name)
            offsets[:, j] = np.where(np.isfinite(c2), np.interp(c2, FACING_COS2, table), OFFSETS[j])
        if silhouette_px is not None and params.girth_from_silhouette:
            width_m = silhouette_px * (z_front + OFFSETS[0]) / f
            track = np.zeros(T, int) if track is None else np.asarray(track)
            for p in np.unique(track):
                girth[track == p] = girth_scale(width_m[track == p], c2[track == p])
            offsets *= girth[:, None]
    lid = surface + offsets
    person_z = z_front + offsets[:, 0]
    has = np.isfinite(lid) & ok
    depth = np.full((T, J), np.nan)
    sigma = np.full((T, J), np.inf)
    shape = None if rel is None else shape_depths(rel, kp, lid, has, person_z)
    if shape is None:
        depth[has], sigma[has] = lid[has], params.sigma_lidar_m
        with np.errstate(all="ignore"):
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                fill = np.where(has.any(1), np.nanmedian(np.where(has, lid, np.nan), axis=1), person_z)
        rest = ok & ~has & np.isfinite(fill)[:, None]
        depth[rest] = np.broadcast_to(fill[:, None], (T, J))[rest]
        sigma[rest] = params.sigma_person_m
        return behind_what_hides(depth, conf, params), sigma, support, girth
    # LiDAR depth unless it lies in front of the anchored shape (then it saw what hides the joint), shape elsewhere;
    # a LiDAR depth behind the shape cannot be an occluder: the shape is what is wrong there (a hand waving away
    # from the camera that MediaPipe puts at the torso's depth)
    agree = has & (lid - shape > -params.occlusion_m)
    use_shape = ok & ~agree & np.isfinite(shape)
    depth[agree], sigma[agree] = lid[agree], params.sigma_lidar_m
    depth[use_shape], sigma[use_shape] = shape[use_shape], params.sigma_shape_m
    support[~agree] = np.where(has[~agree], -support[~agree], 0)
    return behind_what_hides(depth, conf, params), sigma, support, girth


def shape_rows_without_lidar(cam: CameraCalib, kp: np.ndarray, conf: np.ndarray, world: np.ndarray,
                             tri_depth: np.ndarray, tri_sigma: np.ndarray,
                             params: LidarDepthParams = LidarDepthParams()):
    """Camera depths from the detector's 3D shape for cameras without a LiDAR: a joint every view rates hidden
    (``conf (T, J)``, the least confidence over the views, below ``hidden_confidence``) is triangulated from
    guessed pixels (the far arm behind the torso, seen from both cameras of a pair) and a seen one from pixels a
    few off, which a short baseline turns into centimetres of depth.

    The shape ``world (T, J, 3)`` is put on the pelvis ray of ``cam`` (:func:`shape_on_ray`, ``kp (T, J, 2)``)
    and anchored on the triangulated depths ``tri_depth (T, J)`` (m, in ``cam``) of the torso joints every view
    sees (:func:`shape_depths`); hidden elbows and wrists go behind what hides them (:func:`behind_what_hides`).
    Returns ``depth`` and ``sigma (T, J)``: ``sigma_shape_m`` for the hidden joints, ``sigma_shape_seen_m`` (a
    weak prior) for the seen ones, each with the anchor's own σ added in quadrature (the median triangulated depth
    σ ``tri_sigma (T, J)`` of those torso joints: a short baseline's anchor is metres uncertain, and so are its
    rows); NaN / inf where the shape is missing or the anchor missing or worse than ``max_anchor_sigma_m``."""
    T, J = conf.shape
    depth, sigma = np.full((T, J), np.nan), np.full((T, J), np.inf)
    seen = (conf >= params.hidden_confidence) & np.isfinite(tri_depth)
    torso_z = np.where(seen[:, TORSO], tri_depth[:, TORSO], np.nan)
    person_z = np.full(T, np.nan)
    anchored = np.isfinite(torso_z).any(1)
    person_z[anchored] = np.nanmedian(torso_z[anchored], axis=1)
    anchor_sigma = np.full(T, np.inf)
    anchor_sigma[anchored] = np.nanmedian(np.where(seen[:, TORSO], tri_sigma[:, TORSO], np.nan)[anchored], axis=1)
    anchored &= anchor_sigma <= params.max_anchor_sigma_m
    shape = shape_depths(shape_on_ray(cam, kp, world), kp, np.where(seen, tri_depth, np.nan), seen, person_z)
    if shape is None:
        return depth, sigma
    ok = np.isfinite(shape) & anchored[:, None]
    depth[ok] = shape[ok]
    own = np.where(conf < params.hidden_confidence, params.sigma_shape_m, params.sigma_shape_seen_m)
    sigma[ok] = np.hypot(own, anchor_sigma[:, None])[ok]
    return behind_what_hides(depth, conf, params), sigma


def behind_what_hides(depth: np.ndarray, conf: np.ndarray, params: LidarDepthParams) -> np.ndarray:
    """``depth (T, J)`` with the elbows and wrists the detector rates hidden moved ``hidden_arm_m`` deeper: the
    LiDAR at such a joint's pixel sees what hides it (mostly the torso, for the far arm), and MediaPipe's shape
    puts hidden arm joints too near too (−70…−176 mm on the training sessions, docs/annotation.md)."""
    hidden = np.zeros(depth.shape, bool)
    hidden[:, FOREARM] = conf[:, FOREARM] < params.hidden_confidence
    return np.where(hidden & np.isfinite(depth), depth + params.hidden_arm_m, depth)


#: arm segments (from, to, length factor in the image: a forearm is extended by the hand, 40 %)
ARMS = [(SK.joints.index(a), SK.joints.index(b), end) for a, b, end in
        (("r_shoulder", "r_elbow", 1.0), ("r_elbow", "r_wrist", 1.4), ("l_shoulder", "l_elbow", 1.0),
         ("l_elbow", "l_wrist", 1.4))]


def hidden_by_arms(kp: np.ndarray, rel: np.ndarray, z_front: np.ndarray, f: float, radius_m: float = 0.06,
                   in_front_m: float = 0.05) -> np.ndarray:
    """``(T, J)`` True where an arm covers a torso joint in the image and lies in front of it: the LiDAR then
    sees the arm, not the torso. An arm segment covers a joint when the joint's pixel is within ``radius_m``
    (at the person's depth ``z_front (T,)``) of the segment (forearms extended by the hand, 40 %); it is in
    front when the shape ``rel (T, J, 3)`` puts the segment's nearest point ``in_front_m`` nearer the camera.
    Segments ending at the joint itself do not count."""
    T, J = kp.shape[:2]
    out = np.zeros((T, J), bool)
    r_px = radius_m * f / np.where(np.isfinite(z_front), z_front, np.inf)
    for j in TORSO:
        for a, b, end in ARMS:
            if j in (a, b):
                continue
            A, B = kp[:, a], kp[:, a] + end * (kp[:, b] - kp[:, a])
            AB = B - A
            with np.errstate(invalid="ignore", divide="ignore"):
                t = np.clip(np.sum((kp[:, j] - A) * AB, -1) / np.sum(AB * AB, -1), 0, 1)
                d = np.linalg.norm(kp[:, j] - (A + t[:, None] * AB), axis=-1)
                seg_z = rel[:, a, 2] + np.minimum(t * end, 1.0) * (rel[:, b, 2] - rel[:, a, 2])
                out[:, j] |= (d < r_px) & (seg_z < rel[:, j, 2] - in_front_m)
    return out


def girth_scale(width_m: np.ndarray, cos2: np.ndarray, profile_cos2: float = 0.15, min_frames: int = 20) -> float:
    """How much thicker than the reference body one person is, from their silhouette: the 25th percentile of
    the mask's width through the pelvis (m) over the frames seen in profile (``cos2`` below ``profile_cos2``:
    the width is then the body's front-to-back depth at the hips; the low percentile leaves out frames where
    a swinging arm widens it), over :data:`GIRTH_REF_M`, clipped to 0.7-1.4; 1 with fewer than
    ``min_frames`` such frames. ``width_m``, ``cos2``: ``(T,)`` of one person."""
    sel = np.isfinite(width_m) & np.isfinite(cos2) & (cos2 < profile_cos2)
    if sel.sum() < min_frames:
        return 1.0
    return float(np.clip(np.percentile(width_m[sel], 25) / GIRTH_REF_M, 0.7, 1.4))


def nearest_surface(z: np.ndarray, depth_m: float, min_points: int) -> float:
    """Median depth of the nearest dense group of ``z`` (m): the first slab ``[z_k, z_k + depth_m]`` holding at
    least ``min_points`` and a quarter of the densest slab's points. Points behind the person that the LiDAR
    sees past the body's edge (it stands apart from the camera: parallax) project onto the person in the
    image; the person is the surface in front of them, not the median of both."""
    zs = np.sort(z)
    counts = np.searchsorted(zs, zs + depth_m, side="right") - np.arange(len(zs))
    k = int(np.argmax(counts >= max(min_points, 0.25 * counts.max())))
    return float(np.median(zs[k:k + counts[k]]))


def _rotate_z_to(rays: np.ndarray) -> np.ndarray:
    """``(T, 3, 3)`` rotations taking the camera's optical axis onto each unit ray (Rodrigues)."""
    z = np.array([0.0, 0.0, 1.0])
    a = np.cross(z, rays)
    s = np.linalg.norm(a, axis=-1)
    c = rays[:, 2]
    a = a / np.maximum(s, 1e-12)[:, None]
    K = np.zeros((len(rays), 3, 3))
    K[:, 0, 1], K[:, 0, 2], K[:, 1, 0] = -a[:, 2], a[:, 1], a[:, 2]
    K[:, 1, 2], K[:, 2, 0], K[:, 2, 1] = -a[:, 0], -a[:, 1], a[:, 0]
    return np.eye(3) + s[:, None, None] * K + (1 - c)[:, None, None] * (K @ K)


def shape_on_ray(cam: CameraCalib, kp: np.ndarray, world: np.ndarray) -> np.ndarray:
    """The detector's root-relative shape ``world (T, J, 3)`` (MediaPipe's world landmarks: axes of a camera
    looking straight at the person) turned so its depth axis lies along the camera ray to the pelvis ``kp[:, 0]``:
    ``(T, J, 3)`` m in camera axes, pelvis at 0; NaN where the shape is missing."""
    ray = np.concatenate([cam.normalise(kp[:, 0]), np.ones((len(kp), 1))], -1)
    ray = ray / np.linalg.norm(ray, axis=-1, keepdims=True)
    return np.einsum("tij,tkj->tki", _rotate_z_to(np.nan_to_num(ray, nan=0.0) + [0, 0, 1e-12]), world - world[:, :1])


def facing_cos2(rel: np.ndarray) -> np.ndarray:
    """``(T,)`` cos² of the angle between the body's left-right axis and the camera's x axis, seen from above
    (1: facing the camera or turned away, 0: profile), the mean of the hips' and the shoulders' axes of the
    shape ``rel (T, J, 3)`` (:func:`shape_on_ray`); NaN without them."""
    out = []
    for l, r in (("l_hip", "r_hip"), ("l_shoulder", "r_shoulder")):
        v = rel[:, SK.joints.index(l)] - rel[:, SK.joints.index(r)]
        with np.errstate(invalid="ignore", divide="ignore"):
            out.append(v[:, 0] ** 2 / (v[:, 0] ** 2 + v[:, 2] ** 2))
    return 0.5 * (out[0] + out[1])


def shape_depths(rel: np.ndarray, kp: np.ndarray, lid, has, person_z, iters: int = 4) -> np.ndarray | None:
    """Camera depth of every joint from the detector's shape on the pelvis ray (:func:`shape_on_ray`),
    anchored on the LiDAR.

    The shape's remaining tilt (measured: BlazePose leans the body top towards the camera by ~5° on these
    renders) is a per-session linear correction ``Δz = a·y + b·x`` fitted, together with each frame's anchor
    depth, to the LiDAR-supported torso joints by iteratively reweighted least squares (Cauchy, 5 cm).
    Returns ``(T, J)`` depths or None without a usable shape."""
    T, J = lid.shape
    good = np.isfinite(rel).all(-1).all(-1) & np.isfinite(kp[:, 0]).all(-1)
    if not good.any():
        return None
    base = has & good[:, None]
    torso = np.zeros(J, bool)
    torso[TORSO] = True
    base_t = base & torso
    base = np.where((base_t.sum(1) >= 2)[:, None], base_t, base)
    ab = np.zeros(2)
    w = np.ones((T, J))
    anchor = np.where(good, person_z, np.nan)
    for _ in range(iters):
        corr = rel[..., 2] + ab[0] * rel[..., 1] + ab[1] * rel[..., 0]
        r = lid - corr
        with np.errstate(all="ignore"):
            num = np.nansum(np.where(base, w * r, 0), 1)
            den = np.sum(np.where(base, w, 0), 1)
            anchor = np.where(den > 0, num / np.where(den > 0, den, 1), np.where(good, person_z, np.nan))
        res = lid - anchor[:, None] - rel[..., 2]
        m = base & np.isfinite(res) & np.isfinite(anchor)[:, None]
        if m.sum() >= 10:
            A = np.stack([rel[..., 1][m], rel[..., 0][m]], -1)
            ww = w[m]
            ab = np.linalg.lstsq(A * ww[:, None], res[m] * ww, rcond=None)[0]
            ab = np.clip(ab, -0.3, 0.3)
        resid = lid - anchor[:, None] - (rel[..., 2] + ab[0] * rel[..., 1] + ab[1] * rel[..., 0])
        w = 1.0 / (1.0 + (np.nan_to_num(resid, nan=1.0) / 0.05) ** 2)
    return anchor[:, None] + rel[..., 2] + ab[0] * rel[..., 1] + ab[1] * rel[..., 0]
