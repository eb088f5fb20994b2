"""2D pose detectors by name: ``create_detector(name, **options)`` → a :class:`PoseDetector2D`.

Every detector takes a camera frame and returns a :class:`Detection2D`: keypoints in pixels of the
image it was given, ``(people, joints, 2)`` as (u, v) = (column, row), one confidence per joint in
[0, 1], in the detector's native skeleton (``blazepose33`` for MediaPipe, ``rtpose15`` for the
simulator's ground truth). :meth:`Detection2D.to` maps it to ``coco17``, ``hupr14``, ``rtpose15`` (or
any skeleton of :mod:`rfpose.skeletons`) with :func:`rfpose.skeletons.convert`.

Registered detectors:

``mediapipe``
    MediaPipe 0.10.21 BlazePose, full landmark model (``model_complexity=1``, the only one shipped in the
    wheel, so it runs offline); one person per image. Needs the ``mediapipe`` extra
    (:mod:`rfpose.annotation.mediapipe_pose`).
``groundtruth``
    The simulator's exact projected joints, read from a simulated session's ``gt_2d_<camera>`` label set
    or from a live :class:`rfpose.sim.rig.SimCameraSource` (:mod:`rfpose.annotation.groundtruth`), so the
    annotation pipeline runs end to end without MediaPipe.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Protocol, runtime_checkable

import numpy as np

from rfpose.errors import ShapeError, UnknownNameError
from rfpose.skeletons import conversion_matrix, convert, get_skeleton


@dataclass
class Detection2D:
    """2D keypoints of the people found in one image.

    ``keypoints_px``: ``(P, J, 2)`` float64 pixel coordinates (u right, v down; pixel centres at integers,
    as OpenCV); NaN where a joint is not given. ``confidence``: ``(P, J)`` float64 in [0, 1], 0 where a
    joint is not given. ``skeleton``: name in :data:`rfpose.skeletons.SKELETONS`. ``person_scores``:
    ``(P,)`` detection score of each person. ``mask``: optional ``(H, W)`` int8 person index per pixel
    (-1 background), e.g. MediaPipe's segmentation thresholded at 0.5. ``world_m``: optional ``(P, J, 3)``
    metric root-relative 3D shape in camera-aligned axes (MediaPipe's ``pose_world_landmarks``: x right,
    y down, z away from the camera, origin between the hips), NaN where not given.
    """

    keypoints_px: np.ndarray
    confidence: np.ndarray
    skeleton: str
    person_scores: np.ndarray | None = None
    mask: np.ndarray | None = None
    world_m: np.ndarray | None = None

    def __post_init__(self):
        sk = get_skeleton(self.skeleton)
        self.keypoints_px = np.asarray(self.keypoints_px, np.float64)
        self.confidence = np.asarray(self.confidence, np.float64)
        if self.keypoints_px.ndim != 3 or self.keypoints_px.shape[1:] != (sk.num_joints, 2):
            raise ShapeError(f"Detection2D keypoints must be (P, {sk.num_joints}, 2) for {sk.name}, "
                             f"got {self.keypoints_px.shape}")
        if self.confidence.shape != self.keypoints_px.shape[:2]:
            raise ShapeError(f"Detection2D confidence must be {self.keypoints_px.shape[:2]}, got {self.confidence.shape}")
        if self.person_scores is None:
            n = self.num_people
            self.person_scores = (np.nanmean(np.where(self.confidence > 0, self.confidence, np.nan), axis=1)
                                  if n and np.any(self.confidence > 0) else np.zeros(n))
            self.person_scores = np.nan_to_num(np.asarray(self.person_scores, np.float64))

    @property
    def num_people(self) -> int:
        return int(self.keypoints_px.shape[0])

    @staticmethod
    def empty(skeleton: str) -> "Detection2D":
        j = get_skeleton(skeleton).num_joints
        return Detection2D(np.zeros((0, j, 2)), np.zeros((0, j)), skeleton)

    def silhouette_widths_px(self) -> np.ndarray:
        """``(P,)`` width (px) of each person's mask along the image row through their pelvis (the run of that
        person's pixels containing the pelvis); NaN without a mask or where the pelvis is off the mask.
        Seen in profile this is the body's depth at the hips: :mod:`rfpose.annotation.lidar_depth` scales
        the surface-to-joint offsets by it."""
        out = np.full(self.num_people, np.nan)
        if self.mask is None or not self.num_people:
            return out
        pelvis = self.to("rtpose15").keypoints_px[:, 0] if self.skeleton != "rtpose15" else self.keypoints_px[:, 0]
        H, W = self.mask.shape
        for p, (u, v) in enumerate(pelvis):
            if not np.isfinite([u, v]).all():
                continue
            u, v = int(round(u)), int(round(v))
            if not (0 <= u < W and 0 <= v < H) or self.mask[v, u] != p:
                continue
            off = np.flatnonzero(self.mask[v] != p)
            left, right = off[off < u], off[off > u]
            out[p] = (right[0] if len(right) else W) - (left[-1] + 1 if len(left) else 0)
        return out

    def to(self, skeleton: str) -> "Detection2D":
        """The same detection in another skeleton. A target joint made from several source joints (e.g. a
        pelvis from two hips) gets the smallest of their confidences; joints the source cannot provide are
        NaN with confidence 0."""
        if skeleton == self.skeleton:
            return self
        kp, _valid = convert(self.keypoints_px, self.skeleton, skeleton)
        conf = convert_confidence(self.confidence, self.skeleton, skeleton)
        world = None if self.world_m is None else convert(self.world_m, self.skeleton, skeleton)[0]
        return Detection2D(kp, conf, skeleton, self.person_scores.copy(), self.mask, world)


def convert_confidence(confidence: np.ndarray, src: str, dst: str) -> np.ndarray:
    """``(..., J_src)`` confidences to ``(..., J_dst)``: the minimum over the source joints each target
    joint is made from, 0 for joints ``src`` cannot provide."""
    m = conversion_matrix(src, dst) != 0
    c = np.asarray(confidence, np.float64)
    if c.shape[-1] != m.shape[1]:
        raise ShapeError(f"expected (..., {m.shape[1]}) confidences for {src}, got {c.shape}")
    big = np.where(m, c[..., None, :], np.inf)  # (..., J_dst, J_src)
    out = big.min(axis=-1)
    return np.where(np.isfinite(out), out, 0.0)


#: Where a detector's landmark sits against the rtpose15 joint it is mapped to, in the image:
#: ``{skeleton: {joint: (from_joint, to_joint, shift)}}`` — the landmark lies ``shift`` torso lengths (2D
#: pelvis–thorax distance) along the direction from_joint → to_joint from the joint centre. Measured on the
#: training session walk seed 3 only (medians over 178 frames of MediaPipe on the simulator's renders against
#: the exact projections ``gt_2d_cam_left``; ``annotation_eval --breakdown`` reports what is left): BlazePose's hips sit
#: 4.6 % of the torso below the skeleton's hip centres (its hip landmark is placed from the outline of the
#: thigh), its ankles 4.7 % of the torso up the shank, its elbows 3.5 % up the upper arm. Held-out sessions
#: show the same signs and sizes (walk 101: hips 3.6 %, ankles 6.4 %, elbows 3.0 %). Real images will differ
#: (docs/annotation.md); the table is per detector, so a detector measured elsewhere brings its own.
LANDMARK_SHIFT = {
    "blazepose33": {"r_hip": ("thorax", "pelvis", 0.046), "l_hip": ("thorax", "pelvis", 0.046),
                    "r_ankle": ("r_knee", "r_ankle", -0.047), "l_ankle": ("l_knee", "l_ankle", -0.047),
                    "r_elbow": ("r_shoulder", "r_elbow", -0.035), "l_elbow": ("l_shoulder", "l_elbow", -0.035)},
}


#: Pairs of a detector's landmarks that sit closer together than the skeleton's joints, and the factor their
#: image distance is spread by about its midpoint: ``{skeleton: {(joint, joint): factor}}``. BlazePose's shoulders
#: on the simulator's renders lie inside the skeleton's shoulder joints: lifted, their width is 0.877 and 0.889 of
#: the truth on the training sessions walk 3 and wide-walk 211 (0.88–0.90 on four held-out subjects too, in every
#: mode), so 1 / 0.883. A spread keeps the midpoint (rtpose15's thorax) and scales with the pair's projected
#: width, so it holds in every view, where a shift along the pair would not (in profile they overlap).
LANDMARK_SPREAD = {"blazepose33": {("l_shoulder", "r_shoulder"): 1.13}}


def correct_landmarks(keypoints: np.ndarray, src: str, dst: str = "rtpose15") -> np.ndarray:
    """``keypoints (..., J_dst, 2)`` of ``dst`` converted from detector skeleton ``src``, moved from where the
    detector puts its landmarks onto the joint centres (:data:`LANDMARK_SHIFT`, :data:`LANDMARK_SPREAD`); the
    pelvis (mid-hips) is recomputed from the moved hips. Unchanged for a detector without a table."""
    table = LANDMARK_SHIFT.get(src)
    if not table or dst != "rtpose15":
        return keypoints
    from rfpose.skeletons import get_skeleton

    J = get_skeleton(dst).joints
    kp = np.array(keypoints, np.float64, copy=True)
    torso = np.linalg.norm(kp[..., J.index("thorax"), :] - kp[..., J.index("pelvis"), :], axis=-1, keepdims=True)
    for joint, (a, b, shift) in table.items():
        d = kp[..., J.index(b), :] - kp[..., J.index(a), :]
        unit = d / np.maximum(np.linalg.norm(d, axis=-1, keepdims=True), 1e-9)
        kp[..., J.index(joint), :] = keypoints[..., J.index(joint), :] - shift * torso * unit
    if "r_hip" in table and "l_hip" in table:
        kp[..., J.index("pelvis"), :] = 0.5 * (kp[..., J.index("r_hip"), :] + kp[..., J.index("l_hip"), :])
    for (a, b), factor in LANDMARK_SPREAD.get(src, {}).items():
        ia, ib = J.index(a), J.index(b)
        mid = 0.5 * (kp[..., ia, :] + kp[..., ib, :])
        kp[..., ia, :], kp[..., ib, :] = mid + factor * (kp[..., ia, :] - mid), mid + factor * (kp[..., ib, :] - mid)
    return kp


def to_coco17(det: Detection2D) -> Detection2D:
    return det.to("coco17")


def to_hupr14(det: Detection2D) -> Detection2D:
    return det.to("hupr14")


def to_rtpose15(det: Detection2D) -> Detection2D:
    return det.to("rtpose15")


@runtime_checkable
class PoseDetector2D(Protocol):
    """A 2D pose detector. ``detect(image, index)`` takes an ``(H, W, 3)`` uint8 RGB image and the camera
    frame's index (used only by detectors that look labels up by frame); ``close()`` frees resources."""

    name: str
    skeleton: str

    def detect(self, image: np.ndarray, index: int | None = None) -> Detection2D: ...

    def close(self) -> None: ...


def check_image(image: np.ndarray, who: str) -> np.ndarray:
    """The image as a C-contiguous ``(H, W, 3)`` uint8 array, or a :class:`ShapeError` naming ``who``."""
    a = np.asarray(image)
    if a.ndim != 3 or a.shape[2] != 3 or a.dtype != np.uint8 or min(a.shape[:2]) < 1:
        raise ShapeError(f"{who}: expected an (H, W, 3) uint8 RGB image, got shape {a.shape} dtype {a.dtype}")
    return np.ascontiguousarray(a)


def _make_mediapipe(**options: Any) -> PoseDetector2D:
    from rfpose.annotation.mediapipe_pose import MediaPipePoseDetector

    return MediaPipePoseDetector(**options)


def _make_groundtruth(**options: Any) -> PoseDetector2D:
    from rfpose.annotation.groundtruth import GroundTruthDetector

    return GroundTruthDetector.create(**options)


#: name -> (factory(**options), native skeleton, one-line description)
DETECTORS: dict[str, tuple[Callable[..., PoseDetector2D], str, str]] = {
    "mediapipe": (_make_mediapipe, "blazepose33",
                  "MediaPipe 0.10.21 BlazePose full model (offline, one person; needs the mediapipe extra)"),
    "groundtruth": (_make_groundtruth, "rtpose15",
                    "exact projected joints of a simulated session (label set gt_2d_<camera>)"),
}


def detector_names() -> list[str]:
    return sorted(DETECTORS)


def detector_skeleton(name: str) -> str:
    """The native skeleton of detector ``name`` (without creating it)."""
    return _entry(name)[1]


def _entry(name: str):
    try:
        return DETECTORS[name]
    except KeyError:
        raise UnknownNameError("2D pose detector", name, list(DETECTORS)) from None


def create_detector(name: str, **options: Any) -> PoseDetector2D:
    """Create detector ``name`` with its options (see each detector's class). Unknown name →
    :class:`UnknownNameError` listing the valid ones; a missing optional dependency → :class:`RfposeError`
    saying what to install."""
    return _entry(name)[0](**options)
