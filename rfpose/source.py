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

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from rfpose.errors import DeviceTimeout

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


class _End:
    """The value a driver's ``_read`` returns when its stream is over (see :class:`SourceBase`)."""

    def __repr__(self) -> str:
        return "END"


#: Returned by :meth:`SourceBase._read` when the stream has ended (a file's end, a stopped device drained).
END = _End()

#: The longest single ``_read`` call the base loop makes, so ``stop()`` and the data timeout are noticed.
POLL_S = 0.1


@runtime_checkable
class Source(Protocol):
    """A stream of frames of one sensor, with a lifecycle: ``start()`` (configure and start the device),
    ``read(timeout_s)`` / iteration, ``stop()`` (stop the device; what it already sent is still read),
    ``close()``; ``stats`` counts what happened.

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

    def start(self) -> None: ...

    def read(self, timeout_s: float | None = None) -> Frame | None: ...

    def stop(self) -> None: ...

    @property
    def ended(self) -> bool: ...

    @property
    def stats(self) -> dict[str, Any]: ...

    def __iter__(self) -> Iterator[Frame]: ...

    def close(self) -> None: ...


class SourceBase:
    """Template for sources: the lifecycle, the read loop with its timeouts, ``len``/indexing when seekable.

    The base owns the loop (as python-can's ``BusABC.recv`` does); a driver implements the inner read:

    - ``_read(timeout_s)`` — the next frame, ``None`` if none arrived within ``timeout_s`` (at most
      :data:`POLL_S`), or :data:`END` once the stream is over. After :meth:`stop` it returns what the device
      already sent, then :data:`END`. Seekable sources get a default that walks ``_get`` from frame 0.
    - ``_start()`` / ``_stop()`` — configure and start / stop the device (default: nothing);
      ``_close()`` — release it; ``_stats()`` — the driver's own counters;
      ``_get(i)`` / ``_len()`` — random access, when seekable.
    - ``data_timeout_s`` — a running source that delivers no frame for this long is stopped, its remaining
      frames are read, and then :meth:`_timeout_error` is raised (None: no limit).

    ``read``/iteration start the source if :meth:`start` was not called. A seekable source's ``iter()`` is
    a fresh pass from frame 0 each time (ended early by :meth:`stop`); ``read`` walks one cursor.
    """

    kind: str = ""
    name: str = ""
    is_live: bool = False
    is_seekable: bool = False
    data_timeout_s: float | None = None

    def __init__(self) -> None:
        self.metadata: dict[str, Any] = {}
        self._closed = False
        self._started = False
        self._stopping = False
        self._ended = False
        self._cursor = 0
        self._frames_read = 0
        self._last_frame_at: float | None = None
        self._pending_error: BaseException | None = None
        self._owned: list = []

    # -- lifecycle --------------------------------------------------------------------------------
    def start(self) -> None:
        """Configure and start the device (once; a no-op after :meth:`stop` or :meth:`close`)."""
        if self._started or self._stopping or self._closed:
            return
        self._start()
        self._started = True
        self._last_frame_at = time.monotonic()

    def stop(self) -> None:
        """Stop the device (once). Frames it already sent are still returned by :meth:`read`, then it ends."""
        if self._stopping:
            return
        self._stopping = True
        self._stop()

    def close(self) -> None:
        """Stop and release the device, then the resources it owns (:meth:`own`); idempotent."""
        if not self._closed:
            try:
                self.stop()
            finally:
                self._closed = True
                try:
                    self._close()
                finally:
                    for resource in reversed(self._owned):
                        resource.close()

    def own(self, *resources) -> None:
        """Close ``resources`` (objects with ``close()``, e.g. the emulators it talks to) after this source."""
        self._owned += resources

    @property
    def started(self) -> bool:
        return self._started

    @property
    def stopping(self) -> bool:
        return self._stopping

    @property
    def ended(self) -> bool:
        """True once :meth:`read` has seen the end of the stream (or the source is closed)."""
        return self._ended or self._closed

    @property
    def stats(self) -> dict[str, Any]:
        """``frames`` read through :meth:`read`, and the driver's own counters (which may refine them)."""
        return {"frames": self._frames_read, **self._stats()}

    # -- reading ----------------------------------------------------------------------------------
    def read(self, timeout_s: float | None = None) -> Frame | None:
        """The next frame; ``None`` if none arrived within ``timeout_s`` (None: wait until one does) or the
        stream is over (then :attr:`ended` is True). A device error or the data timeout raises."""
        if self.ended:
            return None
        self.start()
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            left = POLL_S if deadline is None else min(POLL_S, max(0.0, deadline - time.monotonic()))
            frame = self._read(left)
            now = time.monotonic()
            if frame is END or self._closed:
                self._ended = True
                if self._pending_error is not None:
                    error, self._pending_error = self._pending_error, None
                    raise error
                return None
            if frame is not None:
                self._frames_read += 1
                self._last_frame_at = now
                return frame
            if (self.data_timeout_s is not None and not self._stopping and self._last_frame_at is not None
                    and now - self._last_frame_at > self.data_timeout_s):
                self._pending_error = self._timeout_error()
                self._on_data_timeout()
            if deadline is not None and now >= deadline:
                return None

    def __iter__(self) -> Iterator[Frame]:
        if self.is_seekable:
            return self._iter()
        return self._read_all()

    def _read_all(self) -> Iterator[Frame]:
        while (frame := self.read()) is not None:
            yield frame

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

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- for subclasses ---------------------------------------------------------------------
    def _start(self) -> None:
        pass

    def _stop(self) -> None:
        pass

    def _close(self) -> None:
        pass

    def _stats(self) -> dict[str, Any]:
        return {}

    def _read(self, timeout_s: float) -> Frame | None | _End:
        if not self.is_seekable:
            raise NotImplementedError(f"{type(self).__name__} implements no _read")
        if self._stopping or self._cursor >= self._len():
            return END
        self._cursor += 1
        return self._get(self._cursor - 1)

    def _iter(self) -> Iterator[Frame]:
        for i in range(self._len()):
            if self._stopping:
                return
            yield self._get(i)

    def _len(self) -> int:
        raise NotImplementedError

    def _get(self, index: int) -> Frame:
        raise NotImplementedError

    def _timeout_error(self) -> BaseException:
        """The error raised when no frame came for ``data_timeout_s``."""
        return DeviceTimeout(f"{self.name or type(self).__name__}: no data for {self.data_timeout_s:g} s "
                             f"({self._frames_read} frames received)")

    def _on_data_timeout(self) -> None:
        """What a data timeout does before the remaining frames are read (default: :meth:`stop`)."""
        self.stop()
