"""One ``Source`` interface for every sensor stream: live drivers, emulator clients, the simulator and
recorded sessions all yield the same frame types, so everything downstream is identical.

Frames carry host timestamps (``timestamp_ns``, int64, the recording host's clock) and their data in the
project's declared layouts:

- :class:`RadarFrame` — raw ADC words exactly as on the wire (int16): 1-D for DCA1000 boards,
  ``(chips, words)`` for the cascade's per-chip files. Decoding is the preprocessing stage's job.
- :class:`LidarFrame` — points in the LiDAR's own frame as a structured array (:data:`LIDAR_POINT_DTYPE`).
- :class:`CameraFrame` — an RGB image ``(H, W, 3)`` uint8.
- :class:`PointCloudFrame` — a radar's detected points (e.g. the TI demo firmware's TLV output) in the
  radar frame as a structured array (:data:`RADAR_POINT_DTYPE`), with the device's own frame number.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

#: Per-point LiDAR fields: position in metres (LiDAR frame), intensity, and the point's own time
#: relative to the frame's ``timestamp_ns`` (a spinning sensor sweeps during the frame).
LIDAR_POINT_DTYPE = np.dtype([("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("intensity", "<f4"),
                              ("time_offset_ns", "<i8")])

#: Per-point fields of a radar point cloud, all float32: position in metres in the radar frame (x forward,
#: y left, z up), radial velocity ``v`` in m/s (positive when receding), SNR and noise in dB (NaN when the
#: device did not report them).
RADAR_POINT_DTYPE = np.dtype([("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("v", "<f4"), ("snr_db", "<f4"),
                              ("noise_db", "<f4")])


@dataclass
class RadarFrame:
    index: int
    timestamp_ns: int
    adc: np.ndarray  # int16 words as on the wire; (words,) or (chips, words)
    lost_bytes: int = 0
    complete: bool = True
    kind: str = field(default="radar", init=False)


@dataclass
class LidarFrame:
    index: int
    timestamp_ns: int
    points: np.ndarray  # structured, LIDAR_POINT_DTYPE
    kind: str = field(default="lidar", init=False)


@dataclass
class CameraFrame:
    index: int
    timestamp_ns: int
    image: np.ndarray  # (H, W, 3) uint8 RGB
    kind: str = field(default="camera", init=False)


@dataclass
class PointCloudFrame:
    index: int
    timestamp_ns: int
    points: np.ndarray  # structured, RADAR_POINT_DTYPE, radar frame
    frame_number: int = 0  # the device's own frame counter (TLV header frameNumber)
    kind: str = field(default="points", init=False)


Frame = RadarFrame | LidarFrame | CameraFrame | PointCloudFrame


@runtime_checkable
class Source(Protocol):
    """A stream of frames of one sensor.

    ``kind`` is ``"radar"``, ``"lidar"``, ``"camera"`` or ``"points"``; ``name`` names the stream (``"radar"``,
    ``"lidar"``, ``"cam_left"`` …); ``metadata`` holds what a session stores in the stream's attrs
    (the sensor configuration, ``T_radar_sensor`` extrinsics, intrinsics …). A live source is not
    seekable; a recorded or simulated one is, and supports ``len()`` and indexing.
    """

    kind: str
    name: str
    metadata: dict[str, Any]
    is_live: bool
    is_seekable: bool

    def __iter__(self) -> Iterator[Frame]: ...

    def close(self) -> None: ...


class SourceBase:
    """Template for sources: idempotent ``close``, context manager, ``len``/indexing when seekable.

    Subclasses implement ``_iter`` (and ``_get``/``_len`` if seekable) and ``_close``.
    """

    kind: str = ""
    name: str = ""
    is_live: bool = False
    is_seekable: bool = False

    def __init__(self) -> None:
        self.metadata: dict[str, Any] = {}
        self._closed = False

    def __iter__(self) -> Iterator[Frame]:
        return self._iter()

    def __len__(self) -> int:
        if not self.is_seekable:
            raise TypeError(f"{type(self).__name__} is live and has no length")
        return self._len()

    def __getitem__(self, index: int) -> Frame:
        if not self.is_seekable:
            raise TypeError(f"{type(self).__name__} is live and cannot seek")
        n = self._len()
        if not -n <= index < n:
            raise IndexError(f"frame {index} out of range for {n} frames")
        return self._get(index % n)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- for subclasses ---------------------------------------------------------------------
    def _iter(self) -> Iterator[Frame]:
        for i in range(self._len()):
            yield self._get(i)

    def _len(self) -> int:
        raise NotImplementedError

    def _get(self, index: int) -> Frame:
        raise NotImplementedError

    def _close(self) -> None:
        pass
