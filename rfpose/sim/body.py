"""A parametric articulated body: anthropometry, forward kinematics to rtpose15 joints, and the body's
segments as ellipsoids and capsules (for radar scattering, LiDAR ray casting and camera rendering).

Frames: the body is posed in its own frame (x forward, y left, z up, origin on the floor under the
pelvis) and placed in the rig/radar frame by a heading (yaw) and a floor position. Lengths in metres,
angles in radians. Segment proportions follow Winter's anthropometric table (fractions of height).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from rfpose.skeletons import RTPOSE15

J = {name: i for i, name in enumerate(RTPOSE15.joints)}

#: Materials of the segments (camera colour, LiDAR reflectivity): index into BodyParams colours.
SKIN, SHIRT, TROUSERS, SHOES = 0, 1, 2, 3


@dataclass(frozen=True)
class BodyParams:
    """One subject. ``build`` scales girth (1 = average), ``handedness`` is "right" or "left"."""

    height_m: float = 1.75
    build: float = 1.0
    handedness: str = "right"
    subject_id: str = "S00"
    skin_rgb: tuple[int, int, int] = (224, 172, 140)
    shirt_rgb: tuple[int, int, int] = (40, 90, 170)
    trousers_rgb: tuple[int, int, int] = (50, 50, 60)
    shoes_rgb: tuple[int, int, int] = (30, 25, 20)

    @staticmethod
    def random(rng: np.random.Generator, subject_id: str = "S00") -> "BodyParams":
        skins = [(241, 194, 160), (224, 172, 140), (198, 134, 100), (141, 85, 56), (92, 58, 40)]
        shirt = tuple(int(c) for c in rng.integers(20, 235, 3))
        trousers = tuple(int(c) for c in rng.integers(20, 120, 3))
        return BodyParams(height_m=float(rng.uniform(1.55, 1.95)), build=float(rng.uniform(0.85, 1.25)),
                          handedness="left" if rng.random() < 0.12 else "right", subject_id=subject_id,
                          skin_rgb=skins[int(rng.integers(len(skins)))], shirt_rgb=shirt, trousers_rgb=trousers)

    def to_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}

    # -- proportions (metres) ---------------------------------------------------------------
    @property
    def thigh_m(self) -> float:
        return 0.245 * self.height_m

    @property
    def shank_m(self) -> float:
        return 0.246 * self.height_m

    @property
    def ankle_height_m(self) -> float:
        return 0.039 * self.height_m

    @property
    def hip_height_m(self) -> float:
        return self.thigh_m + self.shank_m + self.ankle_height_m

    @property
    def hip_width_m(self) -> float:
        return 0.10 * self.height_m * (0.85 + 0.15 * self.build)

    @property
    def trunk_m(self) -> float:  # pelvis (mid-hip) to thorax (between the shoulders)
        return 0.288 * self.height_m

    @property
    def shoulder_width_m(self) -> float:
        return 0.20 * self.height_m * (0.85 + 0.15 * self.build)

    @property
    def head_m(self) -> float:  # thorax to head centre
        return 0.11 * self.height_m

    @property
    def upper_arm_m(self) -> float:
        return 0.186 * self.height_m

    @property
    def forearm_m(self) -> float:
        return 0.146 * self.height_m

    @property
    def hand_m(self) -> float:
        return 0.108 * self.height_m * 0.8

    @property
    def foot_m(self) -> float:
        return 0.152 * self.height_m


@dataclass
class Pose:
    """Joint angles (radians) and root placement at one instant; arrays broadcast over a leading time axis.

    Leg and arm angles are per side, index 0 = right, 1 = left. Flexion rotates a limb forward in the
    body's sagittal plane, abduction outwards. Forearm/shank directions are given relative to the
    parent: knee and elbow flexion. ``arm_raise`` lifts the forearm direction upward (for waving),
    ``forearm_abd`` swings it sideways. ``pitch`` tilts the whole body forward about the feet (falls),
    ``roll`` sideways.
    """

    root_xy: np.ndarray  # (..., 2) floor position of the pelvis projection, rig frame
    heading: np.ndarray  # (...) yaw of the body's forward axis, rad from rig +x towards +y
    pelvis_dz: np.ndarray  # (...) vertical offset of the pelvis from standing height (m)
    pelvis_dxy: np.ndarray  # (..., 2) body-frame pelvis offset (forward, left) (m)
    pelvis_yaw: np.ndarray  # (...) pelvis rotation relative to heading
    trunk_pitch: np.ndarray  # (...) forward lean of the trunk
    trunk_roll: np.ndarray  # (...) sideways lean of the trunk (towards +left)
    hip_flex: np.ndarray  # (..., 2)
    hip_abd: np.ndarray  # (..., 2)
    knee_flex: np.ndarray  # (..., 2)
    ankle_flex: np.ndarray  # (..., 2)
    shoulder_flex: np.ndarray  # (..., 2)
    shoulder_abd: np.ndarray  # (..., 2)
    elbow_flex: np.ndarray  # (..., 2)
    forearm_abd: np.ndarray  # (..., 2)
    pitch: np.ndarray  # (...) whole-body tilt about the feet (fall), forward positive
    roll: np.ndarray  # (...) whole-body sideways tilt (fall), towards +left positive
    floor_z: float = 0.0  # floor height in the rig frame

    @staticmethod
    def neutral(shape=(), floor_z: float = 0.0) -> "Pose":
        z1 = np.zeros(shape)
        z2 = np.zeros(tuple(shape) + (2,))
        return Pose(np.zeros(tuple(shape) + (2,)), z1.copy(), z1.copy(), z2.copy(), z1.copy(), z1.copy(), z1.copy(),
                    z2.copy(), z2.copy(), z2.copy(), z2.copy(), z2.copy(), z2.copy() + 0.05, z2.copy() + 0.15,
                    z2.copy(), z1.copy(), z1.copy(), floor_z)


def _limb_dir(flex, abd, side_sign):
    """Unit direction of a limb hanging down, flexed forward by ``flex`` and abducted by ``abd``."""
    return np.stack([np.sin(flex) * np.cos(abd), side_sign * np.sin(abd), -np.cos(flex) * np.cos(abd)], axis=-1)


def _rot_z(a):
    c, s = np.cos(a), np.sin(a)
    z, o = np.zeros_like(a), np.ones_like(a)
    return np.stack([np.stack([c, -s, z], -1), np.stack([s, c, z], -1), np.stack([z, z, o], -1)], -2)


def _rot_y(a):  # positive a tips +z towards +x (forward lean)
    c, s = np.cos(a), np.sin(a)
    z, o = np.zeros_like(a), np.ones_like(a)
    return np.stack([np.stack([c, z, s], -1), np.stack([z, o, z], -1), np.stack([-s, z, c], -1)], -2)


def _rot_x(a):  # positive a tips +z towards +y (lean left)
    c, s = np.cos(a), np.sin(a)
    z, o = np.zeros_like(a), np.ones_like(a)
    return np.stack([np.stack([o, z, z], -1), np.stack([z, c, -s], -1), np.stack([z, s, c], -1)], -2)


def _apply(R, v):
    return np.einsum("...ij,...j->...i", R, v)


SIDES = np.array([-1.0, 1.0])  # right (−y), left (+y)


def forward_kinematics(body: BodyParams, pose: Pose) -> dict[str, np.ndarray]:
    """Joint and segment-end points in the rig frame, each ``(..., 3)``.

    Returns the 15 rtpose15 joints under their names plus ``head_top``, ``r_hand``/``l_hand`` (hand tips),
    ``r_toe``/``l_toe``, ``r_heel``/``l_heel``.
    """
    b = body
    shape = pose.heading.shape
    pts: dict[str, np.ndarray] = {}
    # body frame, origin on the floor below the standing pelvis
    pelvis = np.stack([pose.pelvis_dxy[..., 0], pose.pelvis_dxy[..., 1], b.hip_height_m + pose.pelvis_dz], -1)
    Rp = _rot_z(pose.pelvis_yaw)
    R_trunk = Rp @ _rot_y(pose.trunk_pitch) @ _rot_x(pose.trunk_roll)
    up = np.broadcast_to(np.array([0.0, 0.0, 1.0]), shape + (3,))
    thorax = pelvis + _apply(R_trunk, up * b.trunk_m)
    pts["pelvis"], pts["thorax"] = pelvis, thorax
    pts["head"] = thorax + _apply(R_trunk, up * b.head_m)
    pts["head_top"] = thorax + _apply(R_trunk, up * (b.head_m + 0.075 * b.height_m))
    for si, side in enumerate(("r", "l")):
        s = SIDES[si]
        lat = np.broadcast_to(np.array([0.0, s, 0.0]), shape + (3,))
        hip = pelvis + _apply(Rp, lat * b.hip_width_m / 2)
        thigh = _apply(Rp, _limb_dir(pose.hip_flex[..., si], pose.hip_abd[..., si], s))
        knee = hip + thigh * b.thigh_m
        shank_flex = pose.hip_flex[..., si] - pose.knee_flex[..., si]
        shank = _apply(Rp, _limb_dir(shank_flex, pose.hip_abd[..., si], s))
        ankle = knee + shank * b.shank_m
        foot_a = shank_flex + np.pi / 2 - pose.ankle_flex[..., si]
        foot = _apply(Rp, _limb_dir(foot_a, np.zeros(shape), s))
        pts[f"{side}_hip"], pts[f"{side}_knee"], pts[f"{side}_ankle"] = hip, knee, ankle
        pts[f"{side}_heel"] = ankle - foot * 0.25 * b.foot_m + shank * 0.3 * b.ankle_height_m
        pts[f"{side}_toe"] = ankle + foot * 0.75 * b.foot_m + shank * 0.6 * b.ankle_height_m
        shoulder = thorax + _apply(R_trunk, lat * b.shoulder_width_m / 2)
        upper = _apply(R_trunk, _limb_dir(pose.shoulder_flex[..., si], pose.shoulder_abd[..., si], s))
        elbow = shoulder + upper * b.upper_arm_m
        fore = _apply(R_trunk, _limb_dir(pose.shoulder_flex[..., si] + pose.elbow_flex[..., si],
                                         pose.shoulder_abd[..., si] + pose.forearm_abd[..., si], s))
        wrist = elbow + fore * b.forearm_m
        pts[f"{side}_shoulder"], pts[f"{side}_elbow"], pts[f"{side}_wrist"] = shoulder, elbow, wrist
        pts[f"{side}_hand"] = wrist + fore * b.hand_m
    # whole-body tilt about the feet (falls), then keep the lowest point above the floor
    if np.any(pose.pitch) or np.any(pose.roll):
        pivot = np.stack([pose.pelvis_dxy[..., 0], pose.pelvis_dxy[..., 1], np.zeros(shape)], -1)
        Rt = _rot_y(pose.pitch) @ _rot_x(-pose.roll)
        for k in pts:
            pts[k] = pivot + _apply(Rt, pts[k] - pivot)
        low = np.min(np.stack([pts[k][..., 2] for k in pts]), axis=0)
        lift = np.clip(0.08 * b.build - low, 0, None) * np.clip(np.abs(pose.pitch) + np.abs(pose.roll), 0, 1)
        for k in pts:
            pts[k] = pts[k] + np.stack([np.zeros(shape), np.zeros(shape), lift], -1)
    # place in the rig frame
    Rh = _rot_z(pose.heading)
    off = np.stack([pose.root_xy[..., 0], pose.root_xy[..., 1], np.full(shape, pose.floor_z)], -1)
    return {k: _apply(Rh, v) + off for k, v in pts.items()}


def joints_rtpose15(points: dict[str, np.ndarray]) -> np.ndarray:
    """``(..., 15, 3)`` in rtpose15 order from :func:`forward_kinematics` output."""
    return np.stack([points[n] for n in RTPOSE15.joints], axis=-2)


# --------------------------------------------------------------------------------------------
# Segments
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SegmentSpec:
    """A body segment: a capsule between two named points (radius ``r``), or an ellipsoid centred between
    them (semi-axes: along the segment ``half_len_scale × half length``, lateral ``ry``, depth ``rx``)."""

    name: str
    a: str
    b: str
    kind: str  # "capsule" | "ellipsoid"
    r: float  # capsule radius / ellipsoid depth semi-axis, × height/1.75 × build
    r_lat: float = 0.0  # ellipsoid lateral semi-axis
    half_len_scale: float = 1.0
    material: int = SHIRT
    centres: int = 16  # scattering centres on the surface


SEGMENTS: tuple[SegmentSpec, ...] = (
    SegmentSpec("head", "thorax", "head_top", "ellipsoid", 0.095, 0.080, 0.62, SKIN, 24),
    SegmentSpec("torso", "pelvis", "thorax", "ellipsoid", 0.11, 0.165, 0.62, SHIRT, 48),
    SegmentSpec("hips", "r_hip", "l_hip", "ellipsoid", 0.105, 0.11, 1.45, TROUSERS, 24),
    SegmentSpec("r_upper_arm", "r_shoulder", "r_elbow", "capsule", 0.045, material=SHIRT, centres=16),
    SegmentSpec("l_upper_arm", "l_shoulder", "l_elbow", "capsule", 0.045, material=SHIRT, centres=16),
    SegmentSpec("r_forearm", "r_elbow", "r_wrist", "capsule", 0.036, material=SKIN, centres=14),
    SegmentSpec("l_forearm", "l_elbow", "l_wrist", "capsule", 0.036, material=SKIN, centres=14),
    SegmentSpec("r_hand", "r_wrist", "r_hand", "capsule", 0.03, material=SKIN, centres=8),
    SegmentSpec("l_hand", "l_wrist", "l_hand", "capsule", 0.03, material=SKIN, centres=8),
    SegmentSpec("r_thigh", "r_hip", "r_knee", "capsule", 0.075, material=TROUSERS, centres=24),
    SegmentSpec("l_thigh", "l_hip", "l_knee", "capsule", 0.075, material=TROUSERS, centres=24),
    SegmentSpec("r_shank", "r_knee", "r_ankle", "capsule", 0.052, material=TROUSERS, centres=18),
    SegmentSpec("l_shank", "l_knee", "l_ankle", "capsule", 0.052, material=TROUSERS, centres=18),
    SegmentSpec("r_foot", "r_heel", "r_toe", "capsule", 0.042, material=SHOES, centres=8),
    SegmentSpec("l_foot", "l_heel", "l_toe", "capsule", 0.042, material=SHOES, centres=8),
)


@dataclass
class Segments:
    """Segment geometry at ``T`` instants (leading axis), ``S`` segments.

    ``a``, ``b``: (T, S, 3) end points; ``radius``: (S,) capsule radius; ``kind``: (S,) 0 capsule,
    1 ellipsoid; ``center`` (T, S, 3); ``axes`` (T, S, 3, 3) rows = unit axes (depth, lateral, long) of
    every segment (capsules use them for their surface frame); ``radii`` (T, S, 3) ellipsoid semi-axes.
    """

    a: np.ndarray
    b: np.ndarray
    radius: np.ndarray
    kind: np.ndarray
    center: np.ndarray
    axes: np.ndarray
    radii: np.ndarray
    material: np.ndarray
    person: np.ndarray  # (S,) person index

    @property
    def count(self) -> int:
        return int(self.kind.shape[0])


def body_segments(body: BodyParams, points: dict[str, np.ndarray], person: int = 0,
                  heading: np.ndarray | None = None) -> Segments:
    """Segments of one body from :func:`forward_kinematics` points with a leading time axis ``(T, 3)``."""
    scale = body.height_m / 1.75
    T = points["pelvis"].shape[0]
    a = np.stack([points[s.a] for s in SEGMENTS], axis=1)
    bb = np.stack([points[s.b] for s in SEGMENTS], axis=1)
    radius = np.array([s.r * scale * (body.build if s.kind == "capsule" else 1.0) for s in SEGMENTS])
    kind = np.array([1 if s.kind == "ellipsoid" else 0 for s in SEGMENTS])
    center = 0.5 * (a + bb)
    long = bb - a
    length = np.linalg.norm(long, axis=-1)
    long = long / np.maximum(length, 1e-9)[..., None]
    # lateral axis: from the right to the left shoulder/hip, made orthogonal to the long axis
    lat = points["l_shoulder"] - points["r_shoulder"]
    lat = np.repeat(lat[:, None, :], len(SEGMENTS), axis=1)
    hips_i = [i for i, s in enumerate(SEGMENTS) if s.name == "hips"][0]
    up_trunk = points["thorax"] - points["pelvis"]
    lat = lat - np.sum(lat * long, -1, keepdims=True) * long
    bad = np.linalg.norm(lat, axis=-1) < 1e-6
    lat[bad] = np.array([0.0, 1.0, 0.0])
    lat = lat / np.linalg.norm(lat, axis=-1, keepdims=True)
    depth = np.cross(lat, long)
    # the hips ellipsoid lies across the body: its "long" axis is lateral; depth from the trunk
    axes = np.stack([depth, lat, long], axis=-2)
    radii = np.zeros((T, len(SEGMENTS), 3))
    for i, s in enumerate(SEGMENTS):
        if s.kind == "ellipsoid":
            g = scale * body.build
            if i == hips_i:
                upn = up_trunk / np.maximum(np.linalg.norm(up_trunk, axis=-1, keepdims=True), 1e-9)
                dep = np.cross(long[:, i], upn)
                axes[:, i] = np.stack([dep, upn, long[:, i]], axis=-2)
                center[:, i] = center[:, i] + upn * 0.03 * scale
                radii[:, i] = np.stack([np.full(T, s.r * g), np.full(T, s.r_lat * scale * 1.0),
                                        s.half_len_scale * length[:, i] / 2 + 0.0 * g], -1)
            else:
                radii[:, i] = np.stack([np.full(T, s.r * g), np.full(T, s.r_lat * g),
                                        s.half_len_scale * length[:, i]], -1) * np.array([1, 1, 1])
                if s.name == "torso":
                    center[:, i] = a[:, i] + long[:, i] * length[:, i, None] * 0.55
                    radii[:, i, 2] = 0.62 * length[:, i]
                elif s.name == "head":
                    center[:, i] = points["head"]
                    radii[:, i] = np.array([0.10, 0.078, 0.115]) * scale
        else:
            radii[:, i] = radius[i]
    material = np.array([s.material for s in SEGMENTS])
    return Segments(a, bb, radius, kind, center, axes, radii, material, np.full(len(SEGMENTS), person))


def concat_segments(parts: list[Segments]) -> Segments:
    per_time = ("a", "b", "center", "axes", "radii")  # (T, S, ...) fields join on the segment axis 1
    return Segments(*(np.concatenate([getattr(p, f) for p in parts], axis=1 if f in per_time else 0)
                      for f in ("a", "b", "radius", "kind", "center", "axes", "radii", "material", "person")))
