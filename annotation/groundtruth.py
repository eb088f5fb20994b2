"""The ``groundtruth`` 2D detector: the simulator's exact projected joints, for simulated sessions.

It answers ``detect(image, index)`` by looking the camera frame's index up in the session's
``gt_2d_<camera>`` label set (written by ``rfpose simulate``: rtpose15, lens distortion applied,
confidence 1 inside the image and 0 outside), or by asking a live
:class:`rfpose.sim.rig.SimCameraSource` for ``keypoints(index)``. The image is only checked for shape:
the answer does not depend on it, which is the point (a perfect detector for testing the stages after
detection).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from rfpose.annotation.detectors import Detection2D, check_image
from rfpose.errors import ConfigError, FormatError, RfposeError, UnknownNameError


class GroundTruthDetector:
    """Exact rtpose15 keypoints by camera frame index.

    ``keypoints_px``: ``(N, P, 15, 2)``, ``confidence``: ``(N, P, 15)``, ``frame_index``: ``(N,)`` the
    camera frame each entry belongs to, ``num_people``: ``(N,)``. Build it with :meth:`from_session` or
    :meth:`from_sim_source` (or :meth:`create`, the registry's keyword form).
    """

    name = "groundtruth"
    skeleton = "rtpose15"

    def __init__(self, keypoints_px: np.ndarray, confidence: np.ndarray, frame_index: np.ndarray,
                 num_people: np.ndarray | None = None, where: str = "ground truth", image_size=None):
        self.keypoints_px = np.asarray(keypoints_px, np.float64)
        self.confidence = np.asarray(confidence, np.float64)
        fi = np.asarray(frame_index, np.int64)
        self.num_people = (np.full(len(fi), self.keypoints_px.shape[1], np.int64) if num_people is None
                           else np.asarray(num_people, np.int64))
        self.where, self.image_size = where, image_size  # image_size: (width, height) or None
        self._row = {int(f): i for i, f in enumerate(fi)}
        self._source = None

    @classmethod
    def create(cls, session=None, camera: str | None = None, source=None) -> "GroundTruthDetector":
        """Registry form: ``session`` (path or :class:`rfpose.session.SessionReader`) plus ``camera``, or
        ``source`` (a :class:`rfpose.sim.rig.SimCameraSource`)."""
        if source is not None:
            return cls.from_sim_source(source)
        if session is None:
            raise ConfigError("the groundtruth detector needs session= (a simulated session and camera=) "
                              "or source= (a simulator camera source)")
        return cls.from_session(session, camera)

    @classmethod
    def from_session(cls, session, camera: str | None = None) -> "GroundTruthDetector":
        """From the ``gt_2d_<camera>`` label set of a simulated session (path or open reader). ``camera``
        defaults to the session's only (or first) camera stream."""
        from rfpose.session import open_session

        reader = open_session(session) if isinstance(session, (str, Path)) else session
        cams = [s for s in reader.streams if reader.kind(s) == "camera"]
        if camera is None:
            if not cams:
                raise FormatError(f"{reader.path}: the session has no camera stream")
            camera = cams[0]
        if camera not in cams:
            raise UnknownNameError("camera stream", camera, cams)
        name = f"gt_2d_{camera}"
        if name not in reader.label_sets:
            raise FormatError(f"{reader.path}: no label set {name!r}; the groundtruth detector needs a simulated "
                              f"session written with 2D labels (label sets: {', '.join(reader.label_sets) or 'none'})")
        lab = reader.labels(name)
        if lab.dims != 2 or lab.skeleton != cls.skeleton:
            raise FormatError(f"{reader.path}/labels/{name}: expected 2D {cls.skeleton} labels, got "
                              f"{lab.dims}D {lab.skeleton}")
        meta = reader.stream(camera).metadata
        return cls(lab.joints, np.nan_to_num(lab.confidence), lab.frame_index, lab.num_people,
                   where=f"{reader.path}/labels/{name}", image_size=(int(meta["width"]), int(meta["height"])))

    @classmethod
    def from_sim_source(cls, source) -> "GroundTruthDetector":
        """From a live simulator camera source: keypoints are computed on demand for any frame."""
        det = cls(np.zeros((0, 0, 15, 2)), np.zeros((0, 0, 15)), np.zeros(0, np.int64), where=source.name,
                  image_size=(source.sensor.model.width, source.sensor.model.height))
        det._source = source
        return det

    def detect(self, image: np.ndarray, index: int | None = None) -> Detection2D:
        img = check_image(image, f"groundtruth detector ({self.where})")
        if index is None:
            raise RfposeError(f"groundtruth detector ({self.where}): needs the camera frame index")
        if self.image_size is not None and (img.shape[1], img.shape[0]) != tuple(self.image_size):
            raise RfposeError(f"groundtruth detector ({self.where}): image is {img.shape[1]}x{img.shape[0]} but "
                              f"the labels are for {self.image_size[0]}x{self.image_size[1]}")
        if self._source is not None:
            if not 0 <= index < len(self._source):
                raise RfposeError(f"groundtruth detector ({self.where}): frame {index} is outside the stream "
                                  f"(0..{len(self._source) - 1})")
            uv, ok = self._source.keypoints(int(index))
            return Detection2D(uv, ok.astype(np.float64), self.skeleton)
        row = self._row.get(int(index))
        if row is None:
            raise RfposeError(f"groundtruth detector ({self.where}): no label for camera frame {index}")
        n = int(self.num_people[row])
        kp, conf = self.keypoints_px[row, :n], self.confidence[row, :n]
        return Detection2D(kp, conf, self.skeleton)

    def close(self) -> None:
        self._source = None

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "skeleton": self.skeleton, "where": self.where}
