"""Skeleton definitions and the maps between them.

Five joint sets: ``rtpose15`` (RT-Pose's 15 joints, the project's 3D label set), ``hupr14`` (HuPR's 14
2D joints), ``coco17``, ``blazepose33`` (MediaPipe) and ``kinect19`` (Kinect V2 without its six hand
joints, in MARS's order; Kinect's SpineBase is ``pelvis`` and SpineShoulder ``thorax``). Each has joint names, edges for drawing,
left/right flip pairs, OKS sigmas where defined, and a root joint.

Conversion is linear: every target joint is a weighted mean of source joints (a ``(J_dst, J_src)``
matrix), so a pelvis can be made from two hips. Joints with no source become NaN and are reported in
the returned mask. Left and right always mean the *subject's* left and right.

rtpose15 order follows the ``Keypoints_meta.txt`` shipped with the RT-Pose data (right shoulder at 9,
left at 12), not the comment in ``configs/cruw_pose/hr3d.py`` that swaps the arms; docs/skeletons.md
says why.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rfpose.errors import ShapeError, UnknownNameError


@dataclass(frozen=True)
class Skeleton:
    name: str
    joints: tuple[str, ...]
    edges: tuple[tuple[int, int], ...]
    flip_pairs: tuple[tuple[int, int], ...]
    root: int
    oks_sigmas: tuple[float, ...] | None = None

    @property
    def num_joints(self) -> int:
        return len(self.joints)

    def index(self, joint: str) -> int:
        try:
            return self.joints.index(joint)
        except ValueError:
            raise UnknownNameError(f"{self.name} joint", joint, list(self.joints)) from None

    def flip_permutation(self) -> np.ndarray:
        """Index array that swaps left and right joints (for lateral-flip augmentation)."""
        perm = np.arange(self.num_joints)
        for a, b in self.flip_pairs:
            perm[a], perm[b] = b, a
        return perm


def _sk(name, joints, edges, root, sigmas=None) -> Skeleton:
    joints = tuple(joints)
    idx = {j: i for i, j in enumerate(joints)}
    edge_idx = tuple((idx[a], idx[b]) for a, b in edges)
    pairs = []
    for j in joints:
        if j.startswith("l_") and "r_" + j[2:] in idx:
            pairs.append((idx[j], idx["r_" + j[2:]]))
    return Skeleton(name, joints, edge_idx, tuple(pairs), idx[root], None if sigmas is None else tuple(sigmas))


RTPOSE15 = _sk(
    "rtpose15",
    ["pelvis", "r_hip", "r_knee", "r_ankle", "l_hip", "l_knee", "l_ankle", "thorax", "head",
     "r_shoulder", "r_elbow", "r_wrist", "l_shoulder", "l_elbow", "l_wrist"],
    [("pelvis", "r_hip"), ("r_hip", "r_knee"), ("r_knee", "r_ankle"), ("pelvis", "l_hip"), ("l_hip", "l_knee"),
     ("l_knee", "l_ankle"), ("pelvis", "thorax"), ("thorax", "head"), ("thorax", "r_shoulder"),
     ("r_shoulder", "r_elbow"), ("r_elbow", "r_wrist"), ("thorax", "l_shoulder"), ("l_shoulder", "l_elbow"),
     ("l_elbow", "l_wrist")],
    root="pelvis",
)

HUPR14 = _sk(
    "hupr14",
    ["r_hip", "r_knee", "r_ankle", "l_hip", "l_knee", "l_ankle", "neck", "head",
     "l_shoulder", "l_elbow", "l_wrist", "r_shoulder", "r_elbow", "r_wrist"],
    # For drawing; the neck-hip edges are not in HuPR's PRGCN graph (see rfpose.models.hupr).
    [("r_hip", "r_knee"), ("r_knee", "r_ankle"), ("r_hip", "l_hip"), ("l_hip", "l_knee"), ("l_knee", "l_ankle"),
     ("neck", "head"), ("neck", "l_shoulder"), ("l_shoulder", "l_elbow"), ("l_elbow", "l_wrist"),
     ("neck", "r_shoulder"), ("r_shoulder", "r_elbow"), ("r_elbow", "r_wrist"), ("neck", "r_hip"),
     ("neck", "l_hip")],
    root="neck",
    # HuPR misc/cocoeval.py setKpParams
    sigmas=[0.107, 0.087, 0.089, 0.107, 0.087, 0.089, 0.10, 0.10, 0.079, 0.072, 0.062, 0.079, 0.072, 0.062],
)

COCO17 = _sk(
    "coco17",
    ["nose", "l_eye", "r_eye", "l_ear", "r_ear", "l_shoulder", "r_shoulder", "l_elbow", "r_elbow", "l_wrist",
     "r_wrist", "l_hip", "r_hip", "l_knee", "r_knee", "l_ankle", "r_ankle"],
    [("l_ankle", "l_knee"), ("l_knee", "l_hip"), ("r_ankle", "r_knee"), ("r_knee", "r_hip"), ("l_hip", "r_hip"),
     ("l_shoulder", "l_hip"), ("r_shoulder", "r_hip"), ("l_shoulder", "r_shoulder"), ("l_shoulder", "l_elbow"),
     ("r_shoulder", "r_elbow"), ("l_elbow", "l_wrist"), ("r_elbow", "r_wrist"), ("l_eye", "r_eye"),
     ("nose", "l_eye"), ("nose", "r_eye"), ("l_eye", "l_ear"), ("r_eye", "r_ear"), ("l_ear", "l_shoulder"),
     ("r_ear", "r_shoulder")],
    root="nose",
    sigmas=[0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072, 0.062, 0.062, 0.107, 0.107, 0.087,
            0.087, 0.089, 0.089],
)

BLAZEPOSE33 = _sk(
    "blazepose33",
    ["nose", "l_eye_inner", "l_eye", "l_eye_outer", "r_eye_inner", "r_eye", "r_eye_outer", "l_ear", "r_ear",
     "l_mouth", "r_mouth", "l_shoulder", "r_shoulder", "l_elbow", "r_elbow", "l_wrist", "r_wrist", "l_pinky",
     "r_pinky", "l_index", "r_index", "l_thumb", "r_thumb", "l_hip", "r_hip", "l_knee", "r_knee", "l_ankle",
     "r_ankle", "l_heel", "r_heel", "l_foot_index", "r_foot_index"],
    [("l_shoulder", "r_shoulder"), ("l_shoulder", "l_elbow"), ("l_elbow", "l_wrist"), ("r_shoulder", "r_elbow"),
     ("r_elbow", "r_wrist"), ("l_shoulder", "l_hip"), ("r_shoulder", "r_hip"), ("l_hip", "r_hip"),
     ("l_hip", "l_knee"), ("l_knee", "l_ankle"), ("r_hip", "r_knee"), ("r_knee", "r_ankle"), ("l_ankle", "l_heel"),
     ("l_heel", "l_foot_index"), ("r_ankle", "r_heel"), ("r_heel", "r_foot_index"), ("nose", "l_eye"),
     ("nose", "r_eye"), ("l_eye", "l_ear"), ("r_eye", "r_ear"), ("l_mouth", "r_mouth"), ("l_wrist", "l_index"),
     ("r_wrist", "r_index")],
    root="nose",
)

KINECT19 = _sk(
    "kinect19",
    # SpineBase, SpineMid, Neck, Head, ShoulderLeft, ElbowLeft, WristLeft, ShoulderRight, ElbowRight, WristRight,
    # HipLeft, KneeLeft, AnkleLeft, FootLeft, HipRight, KneeRight, AnkleRight, FootRight, SpineShoulder
    ["pelvis", "spine_mid", "neck", "head", "l_shoulder", "l_elbow", "l_wrist", "r_shoulder", "r_elbow",
     "r_wrist", "l_hip", "l_knee", "l_ankle", "l_foot", "r_hip", "r_knee", "r_ankle", "r_foot", "thorax"],
    [("pelvis", "spine_mid"), ("spine_mid", "thorax"), ("thorax", "neck"), ("neck", "head"),
     ("thorax", "l_shoulder"), ("l_shoulder", "l_elbow"), ("l_elbow", "l_wrist"), ("thorax", "r_shoulder"),
     ("r_shoulder", "r_elbow"), ("r_elbow", "r_wrist"), ("pelvis", "l_hip"), ("l_hip", "l_knee"),
     ("l_knee", "l_ankle"), ("l_ankle", "l_foot"), ("pelvis", "r_hip"), ("r_hip", "r_knee"),
     ("r_knee", "r_ankle"), ("r_ankle", "r_foot")],
    root="pelvis",
)

SKELETONS: dict[str, Skeleton] = {s.name: s for s in (RTPOSE15, HUPR14, COCO17, BLAZEPOSE33, KINECT19)}

# Joints that a skeleton lacks but can be made from others (weights over canonical names).
_DERIVED: dict[str, list[tuple[tuple[str, ...], float]]] = {
    "pelvis": [(("l_hip", "r_hip"), 0.5)],
    "thorax": [(("neck",), 1.0), (("l_shoulder", "r_shoulder"), 0.5)],
    "neck": [(("thorax",), 1.0), (("l_shoulder", "r_shoulder"), 0.5)],
    "head": [(("l_ear", "r_ear"), 0.5), (("nose",), 1.0)],
}


def get_skeleton(name: str) -> Skeleton:
    try:
        return SKELETONS[name]
    except KeyError:
        raise UnknownNameError("skeleton", name, list(SKELETONS)) from None


def conversion_matrix(src: str | Skeleton, dst: str | Skeleton) -> np.ndarray:
    """``(J_dst, J_src)`` weights; a row of zeros means the target joint cannot be made from ``src``."""
    s = get_skeleton(src) if isinstance(src, str) else src
    d = get_skeleton(dst) if isinstance(dst, str) else dst
    m = np.zeros((d.num_joints, s.num_joints))
    for i, joint in enumerate(d.joints):
        if joint in s.joints:
            m[i, s.joints.index(joint)] = 1.0
            continue
        for names, weight in _DERIVED.get(joint, []):
            if all(n in s.joints for n in names):
                for n in names:
                    m[i, s.joints.index(n)] = weight
                break
    return m


def convert(joints: np.ndarray, src: str, dst: str) -> tuple[np.ndarray, np.ndarray]:
    """Map ``(..., J_src, D)`` joints to ``(..., J_dst, D)``. Returns ``(joints, valid)`` where ``valid``
    is a ``(J_dst,)`` bool mask of the target joints that ``src`` can provide (others are NaN)."""
    s, d = get_skeleton(src), get_skeleton(dst)
    joints = np.asarray(joints, dtype=np.float64)
    if joints.ndim < 2 or joints.shape[-2] != s.num_joints:
        raise ShapeError(f"expected (..., {s.num_joints}, D) joints for {s.name}, got shape {joints.shape}")
    m = conversion_matrix(s, d)
    out = np.einsum("ij,...jd->...id", m, joints)
    valid = m.any(axis=1)
    out[..., ~valid, :] = np.nan
    return out, valid
