"""Read a session: random access by frame index and by host time, per stream; label sets.

Only frames counted by the commit marker are visible (a live writer's arrays are longer). Each stream is
a seekable :class:`rfpose.source.SourceBase` — the "session replay" source — so everything downstream
treats a recording exactly like a live device. Every malformed-file problem is a
:class:`~rfpose.errors.FormatError` naming the path.

Integrity: each frame's stored CRC-32 (:func:`rfpose.session.layout.frame_checksum`) is checked when its
data is read. A frame whose chunk is missing (zarr would return zeros), altered or undecodable is counted in
``stream.corrupt_frames`` and read as lost (radar: zero words, ``lost_bytes`` = the frame's size,
``complete`` False; camera: a zero image; point clouds: no points, or NaN points inside a block read) —
or raises :class:`~rfpose.errors.CorruptDataError` when the stream is ``strict``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import zarr
from zarr.storage import LocalStore

from rfpose.errors import CorruptDataError, FormatError, UnknownNameError
from rfpose.session import layout as L
from rfpose.session.commit import Commit, StreamCommit, read_commit
from rfpose.session.timeindex import indices_between, nearest_index
from rfpose.source import (LIDAR_POINT_DTYPE, RADAR_POINT_DTYPE, CameraFrame, LidarFrame, PointCloudFrame,
                           RadarFrame, SourceBase)

log = logging.getLogger(__name__)

_MATRIX_ATTRS = ("extrinsics", "intrinsics", "distortion")


def _metadata(attrs: dict, where: str) -> dict[str, Any]:
    """Stream attrs with matrices as float64 arrays (``extrinsics`` 4x4, ``intrinsics`` 3x3, ``distortion``)."""
    meta = dict(attrs)
    for key in _MATRIX_ATTRS:
        if key in meta and meta[key] is not None:
            try:
                meta[key] = np.asarray(meta[key], dtype=np.float64)
            except (TypeError, ValueError):
                raise FormatError(f"{where}: attrs {key} is not numeric: {str(meta[key])[:60]!r}") from None
    if "frame_shape" in meta:
        fs = meta["frame_shape"]
        if not isinstance(fs, list) or not all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in fs):
            raise FormatError(f"{where}: attrs frame_shape {fs!r} is not a list of positive integers")
        meta["frame_shape"] = tuple(fs)
    return meta


def _open(group: zarr.Group, key: str, where: str):
    try:
        return group[key]
    except Exception as e:  # missing or corrupt zarr.json: zarr raises several types
        raise FormatError(f"{where}/{key}: missing or unreadable ({type(e).__name__}: {e})") from e


def _read(arr: zarr.Array, sel, where: str) -> np.ndarray:
    try:
        return np.asarray(arr[sel])
    except Exception as e:  # a truncated/corrupt chunk: codec errors of many types
        raise FormatError(f"{where}: cannot read {sel!r} ({type(e).__name__}: {e})") from e


def _check_len(arr: zarr.Array, n: int, where: str) -> None:
    if arr.shape[0] < n:
        raise FormatError(f"{where}: holds {arr.shape[0]} entries but the commit marker counts {n}; "
                          "the session is truncated")


def _readonly(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


class SessionStream(SourceBase):
    """One recorded stream: ``len(s)``, ``s[i]``, iteration, ``timestamps_ns``, time lookups."""

    is_live = False
    is_seekable = True

    def __init__(self, session_path: Path, group: zarr.Group, name: str, entry: StreamCommit, strict: bool = False):
        super().__init__()
        self.name = name
        self.where = f"{session_path}/streams/{name}"
        self._group = group
        self.metadata = _metadata(dict(group.attrs), self.where)
        #: raise :class:`CorruptDataError` for a frame that fails its integrity check (else: read it as lost)
        self.strict = strict
        #: indices of frames found corrupt so far (read as lost)
        self.corrupt_frames: set[int] = set()
        self._load(entry)

    def _load(self, entry: StreamCommit) -> None:
        n = self._n = entry.frames
        self._arrays: dict[str, zarr.Array] = {}
        for key in self._array_names():
            arr = _open(self._group, key, self.where)
            _check_len(arr, n + (1 if key == L.POINT_OFFSETS else 0), f"{self.where}/{key}")
            self._arrays[key] = arr
        self._raw_timestamps = _readonly(_read(self._arrays[L.TIMESTAMP], slice(0, n), f"{self.where}/{L.TIMESTAMP}"))
        offset = int(self.metadata.get("clock_offset_ns") or 0)  # written by `rfpose calibrate apply`
        self._timestamps = self._raw_timestamps if offset == 0 else _readonly(self._raw_timestamps + offset)
        self._frame_index = _read(self._arrays[L.FRAME_INDEX], slice(0, n), f"{self.where}/{L.FRAME_INDEX}")
        self._checksums = None  # sessions written before checksums existed are read unverified
        try:
            arr = self._group[L.CHECKSUM]
        except KeyError:
            arr = None
        except Exception as e:  # present but unreadable metadata
            raise FormatError(f"{self.where}/{L.CHECKSUM}: unreadable ({type(e).__name__}: {e})") from e
        if arr is not None:
            _check_len(arr, n, f"{self.where}/{L.CHECKSUM}")
            self._checksums = _read(arr, slice(0, n), f"{self.where}/{L.CHECKSUM}")

    def _array_names(self) -> tuple[str, ...]:
        return (L.TIMESTAMP, L.FRAME_INDEX)

    @property
    def verified(self) -> bool:
        """Whether frames are checked against stored checksums (False for sessions written without them)."""
        return self._checksums is not None

    def _intact(self, i: int, *parts: np.ndarray) -> bool:
        # the writer's checksum covers the timestamp as recorded, not the calibrated one
        return self._checksums is None or L.frame_checksum(self._raw_timestamps[i], *parts) == self._checksums[i]

    def _corrupt(self, i: int, why: str) -> None:
        """Frame ``i`` failed its integrity check: raise when strict, else count it and mark it lost."""
        msg = f"{self.where}: frame {i} {why}"
        if self.strict:
            raise CorruptDataError(msg)
        if i not in self.corrupt_frames:
            self.corrupt_frames.add(i)
            log.warning("%s; read as lost", msg)
        self._mark_lost(i)

    def _mark_lost(self, i: int) -> None:
        pass

    def _read_frames(self, key: str, start: int, stop: int) -> np.ndarray:
        """Frames ``start..stop`` of a one-chunk-per-frame array, each checked; corrupt ones are zeros."""
        arr, where = self._arrays[key], f"{self.where}/{key}"
        try:
            block = _read(arr, slice(start, stop), where)
        except FormatError:
            block = None
        if block is None:  # some chunk does not decode: frame by frame to find it
            block = np.zeros((stop - start, *arr.shape[1:]), arr.dtype)
            for i in range(start, stop):
                try:
                    block[i - start] = _read(arr, i, where)
                except FormatError as e:
                    self._corrupt(i, f"cannot be decoded ({e})")
                    continue
                if not self._intact(i, block[i - start]):
                    block[i - start] = 0
                    self._corrupt(i, "fails its checksum (a missing, truncated or altered chunk)")
            return block
        for i in range(start, stop):
            if not self._intact(i, block[i - start]):
                block[i - start] = 0
                self._corrupt(i, "fails its checksum (a missing, truncated or altered chunk)")
        return block

    def verify(self) -> list[int]:
        """Check every committed frame; returns the indices of corrupt ones (raises when ``strict``)."""
        for i in range(len(self)):
            self._get(i)
        return sorted(self.corrupt_frames)

    def refresh(self, entry: StreamCommit) -> None:
        """Reopen arrays and adopt a newer commit (see :meth:`SessionReader.refresh`)."""
        self._load(entry)

    # -- time ---------------------------------------------------------------------------------
    @property
    def timestamps_ns(self) -> np.ndarray:
        """Timestamps (int64 ns) of the committed frames on the rig clock, read-only: the recorded host
        timestamps plus the stream's calibrated ``clock_offset_ns`` attr (0 before calibration)."""
        return self._timestamps

    @property
    def raw_timestamps_ns(self) -> np.ndarray:
        """The host timestamps as recorded (no clock offset), read-only."""
        return self._raw_timestamps

    @property
    def source_indices(self) -> np.ndarray:
        """The source's own frame counters (``Frame.index`` as recorded), int64."""
        return self._frame_index

    def index_at(self, timestamp_ns: int) -> int:
        """Index of the frame nearest ``timestamp_ns``; ``IndexError`` if the stream is empty."""
        try:
            return nearest_index(self._timestamps, timestamp_ns)
        except IndexError:
            raise IndexError(f"{self.where}: stream has no frames") from None

    def indices_between(self, t0_ns: int, t1_ns: int) -> np.ndarray:
        """Indices of frames with ``t0_ns <= timestamp_ns <= t1_ns`` (ascending int64)."""
        return indices_between(self._timestamps, t0_ns, t1_ns)

    def _len(self) -> int:
        return self._n


class RadarStream(SessionStream):
    kind = "radar"

    def _array_names(self):
        return (L.TIMESTAMP, L.FRAME_INDEX, L.ADC, L.LOST_BYTES, L.COMPLETE)

    def _load(self, entry):
        super()._load(entry)
        n = self._n
        self._lost = _read(self._arrays[L.LOST_BYTES], slice(0, n), f"{self.where}/{L.LOST_BYTES}")
        self._complete = _read(self._arrays[L.COMPLETE], slice(0, n), f"{self.where}/{L.COMPLETE}")
        shape = tuple(self._arrays[L.ADC].shape[1:])
        if self.metadata.get("frame_shape") != shape:
            raise FormatError(f"{self.where}: attrs frame_shape {self.metadata.get('frame_shape')} does not match "
                              f"the adc array's {shape}")

    @property
    def lost_bytes(self) -> np.ndarray:
        return self._lost

    @property
    def complete(self) -> np.ndarray:
        return self._complete

    def read_block(self, start: int, stop: int) -> np.ndarray:
        """ADC words of frames ``start..stop`` as one ``(frames, *frame_shape)`` int16 block (a corrupt frame
        is zeros and marked in :attr:`lost_bytes` / :attr:`complete`)."""
        start, stop, _ = slice(start, stop).indices(self._n)
        return self._read_frames(L.ADC, start, max(start, stop))

    def _mark_lost(self, i: int) -> None:
        self._lost[i] = 2 * int(np.prod(self.metadata["frame_shape"]))
        self._complete[i] = False

    def _get(self, i: int) -> RadarFrame:
        adc = self._read_frames(L.ADC, i, i + 1)[0]
        return RadarFrame(index=int(self._frame_index[i]), timestamp_ns=int(self._timestamps[i]), adc=adc,
                          lost_bytes=int(self._lost[i]), complete=bool(self._complete[i]))


class CameraStream(SessionStream):
    kind = "camera"

    def _array_names(self):
        return (L.TIMESTAMP, L.FRAME_INDEX, L.IMAGE)

    def read_block(self, start: int, stop: int) -> np.ndarray:
        """Images of frames ``start..stop`` as one ``(frames, H, W, 3)`` uint8 block."""
        start, stop, _ = slice(start, stop).indices(self._n)
        return self._read_frames(L.IMAGE, start, max(start, stop))

    def _get(self, i: int) -> CameraFrame:
        img = self._read_frames(L.IMAGE, i, i + 1)[0]
        return CameraFrame(index=int(self._frame_index[i]), timestamp_ns=int(self._timestamps[i]), image=img)


class _RaggedStream(SessionStream):
    """Ragged point clouds: ``point_offsets`` plus one array per field of ``dtype`` under ``points/``."""

    dtype: np.dtype

    def _array_names(self):
        return (L.TIMESTAMP, L.FRAME_INDEX, L.POINT_OFFSETS)

    def _load(self, entry):
        super()._load(entry)
        n = self._n
        off = _read(self._arrays[L.POINT_OFFSETS], slice(0, n + 1), f"{self.where}/{L.POINT_OFFSETS}")
        if off[0] != 0 or np.any(np.diff(off) < 0) or int(off[-1]) != entry.points:
            raise FormatError(f"{self.where}/{L.POINT_OFFSETS}: offsets are not a non-decreasing run from 0 to the "
                              f"{entry.points} committed points")
        self._offsets = _readonly(off)
        points = _open(self._group, L.POINTS_GROUP, self.where)
        self._fields = {}
        for f in self.dtype.names:
            arr = _open(points, f, f"{self.where}/{L.POINTS_GROUP}")
            _check_len(arr, entry.points, f"{self.where}/{L.POINTS_GROUP}/{f}")
            self._fields[f] = arr

    @property
    def point_offsets(self) -> np.ndarray:
        """``(frames + 1,)`` int64: frame i's points are ``point_offsets[i]:point_offsets[i+1]``."""
        return self._offsets

    def read_points(self, start: int, stop: int) -> np.ndarray:
        """The points of frames ``start..stop`` as one structured array (split it with :attr:`point_offsets`)."""
        start, stop, _ = slice(start, stop).indices(self._n)
        stop = max(start, stop)
        a, b = int(self._offsets[start]), int(self._offsets[stop])
        pts = np.zeros(b - a, dtype=self.dtype)
        if b > a:
            try:
                for f, arr in self._fields.items():
                    pts[f] = _read(arr, slice(a, b), f"{self.where}/{L.POINTS_GROUP}/{f}")
            except FormatError as e:
                for i in range(start, stop):
                    if self._offsets[i + 1] > self._offsets[i]:
                        self._corrupt(i, f"cannot be decoded ({e})")
                return self._nan_points(pts)
        for i in range(start, stop):
            lo, hi = int(self._offsets[i]) - a, int(self._offsets[i + 1]) - a
            if not self._intact(i, *(pts[f][lo:hi] for f in self.dtype.names)):
                self._corrupt(i, "fails its checksum (a missing, truncated or altered chunk)")
                self._nan_points(pts[lo:hi])
        return pts

    @staticmethod
    def _nan_points(pts: np.ndarray) -> np.ndarray:
        for f in pts.dtype.names:
            pts[f] = np.nan if pts.dtype[f].kind == "f" else 0
        return pts

    def _frame_points(self, i: int) -> np.ndarray:
        pts = self.read_points(i, i + 1)
        return pts[:0] if i in self.corrupt_frames else pts


class LidarStream(_RaggedStream):
    kind = "lidar"
    dtype = LIDAR_POINT_DTYPE

    def _get(self, i: int) -> LidarFrame:
        return LidarFrame(index=int(self._frame_index[i]), timestamp_ns=int(self._timestamps[i]),
                          points=self._frame_points(i))


class PointsStream(_RaggedStream):
    """Radar point clouds (format 1.1): frames are :class:`rfpose.source.PointCloudFrame`."""

    kind = "points"
    dtype = RADAR_POINT_DTYPE

    def _array_names(self):
        return (*super()._array_names(), L.FRAME_NUMBER)

    def _load(self, entry):
        super()._load(entry)
        self._frame_number = _readonly(_read(self._arrays[L.FRAME_NUMBER], slice(0, self._n),
                                             f"{self.where}/{L.FRAME_NUMBER}"))

    @property
    def frame_numbers(self) -> np.ndarray:
        """The device's own frame counters (TLV header ``frameNumber``), int64, read-only."""
        return self._frame_number

    def _get(self, i: int) -> PointCloudFrame:
        return PointCloudFrame(index=int(self._frame_index[i]), timestamp_ns=int(self._timestamps[i]),
                               points=self._frame_points(i), frame_number=int(self._frame_number[i]))


_STREAM_CLASSES = {"radar": RadarStream, "lidar": LidarStream, "camera": CameraStream, "points": PointsStream}


@dataclass
class LabelSet:
    """Skeleton labels: ``joints`` (N, P, J, D) float32 and ``confidence`` (N, P, J), NaN beyond each entry's
    ``num_people``; ``timestamp_ns`` (N,) int64; ``frame_index`` (N,) int64, -1 where none was given."""

    name: str
    skeleton: str
    dims: int
    max_people: int
    num_joints: int
    provenance: dict
    attrs: dict
    joints: np.ndarray
    confidence: np.ndarray
    timestamp_ns: np.ndarray
    frame_index: np.ndarray
    num_people: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))

    def __len__(self) -> int:
        return int(self.timestamp_ns.shape[0])

    def index_at(self, timestamp_ns: int) -> int:
        """Entry nearest ``timestamp_ns``; ``IndexError`` if there are none."""
        return nearest_index(self.timestamp_ns, timestamp_ns)

    def indices_between(self, t0_ns: int, t1_ns: int) -> np.ndarray:
        return indices_between(self.timestamp_ns, t0_ns, t1_ns)

    def flags(self) -> np.ndarray:
        """(N,) int64 per-entry flags an annotation wrote in attrs ``flags`` (0: usable; zeros where none were
        written); :class:`FormatError` if their count does not match the entries."""
        flags = np.asarray(self.attrs.get("flags", np.zeros(len(self))), np.int64)
        if flags.shape != (len(self),):
            raise FormatError(f"label set {self.name}: attrs flags has {flags.size} values for {len(self)} entries")
        return flags


class SessionReader:
    """Open a session for reading. ``streams``/``label_sets`` list what the commit marker publishes."""

    def __init__(self, path: str | Path, strict: bool = False):
        self.path = Path(path)
        self.strict = strict
        p = self.path
        if not p.exists():
            raise FormatError(f"{p}: no such session")
        if not (p / "zarr.json").is_file():
            raise FormatError(f"{p}: not an rfpose session (no zarr v3 group metadata 'zarr.json')")
        try:
            self._root = zarr.open_group(store=LocalStore(p, read_only=True), mode="r", zarr_format=3)
            self.attrs: dict[str, Any] = dict(self._root.attrs)
        except Exception as e:
            raise FormatError(f"{p}: not a readable zarr group ({type(e).__name__}: {e})") from e
        if "rfpose_format" not in self.attrs:
            raise FormatError(f"{p}: not an rfpose session (root attrs have no 'rfpose_format')")
        _, minor = L.check_version(self.attrs["rfpose_format"], str(p))
        if minor > int(L.FORMAT_VERSION.split(".")[1]):
            log.warning("%s: format %s is newer than this rfpose's %s; reading what this version knows",
                        p, self.attrs["rfpose_format"], L.FORMAT_VERSION)
        self._streams: dict[str, SessionStream] = {}
        self._commit: Commit = read_commit(p)

    # -- discovery ----------------------------------------------------------------------------
    @property
    def streams(self) -> list[str]:
        return list(self._commit.streams)

    @property
    def label_sets(self) -> list[str]:
        return list(self._commit.labels)

    @property
    def closed(self) -> bool:
        """True once the writer closed the session cleanly (False for a live or a crashed recording)."""
        return self._commit.closed

    def kind(self, name: str) -> str:
        return self._entry(name).kind

    def _entry(self, name: str) -> StreamCommit:
        try:
            return self._commit.streams[name]
        except KeyError:
            raise UnknownNameError("stream", name, self.streams) from None

    # -- access -------------------------------------------------------------------------------
    def stream(self, name: str) -> SessionStream:
        """The stream as a seekable Source (cached: the same object on every call)."""
        entry = self._entry(name)
        if name not in self._streams:
            where = f"{self.path}/{L.STREAMS_GROUP}/{name}"
            group = _open(self._root, f"{L.STREAMS_GROUP}/{name}", str(self.path))
            if dict(group.attrs).get("kind") != entry.kind:
                raise FormatError(f"{where}: attrs kind {group.attrs.get('kind')!r} but the commit marker says "
                                  f"{entry.kind!r}")
            self._streams[name] = _STREAM_CLASSES[entry.kind](self.path, group, name, entry, strict=self.strict)
        return self._streams[name]

    def labels(self, name: str) -> LabelSet:
        try:
            n = self._commit.labels[name]
        except KeyError:
            raise UnknownNameError("label set", name, self.label_sets) from None
        where = f"{self.path}/{L.LABELS_GROUP}/{name}"
        g = _open(self._root, f"{L.LABELS_GROUP}/{name}", str(self.path))
        attrs = dict(g.attrs)
        try:
            P, J, D = int(attrs["max_people"]), int(attrs["num_joints"]), int(attrs["dims"])
            skeleton, provenance = str(attrs["skeleton"]), dict(attrs.get("provenance") or {})
        except (KeyError, TypeError, ValueError) as e:
            raise FormatError(f"{where}: label attrs incomplete or malformed ({e})") from None
        arrays = {}
        for key in (L.TIMESTAMP, L.FRAME_INDEX, L.NUM_PEOPLE, L.JOINTS, L.CONFIDENCE):
            arr = _open(g, key, where)
            _check_len(arr, n, f"{where}/{key}")
            arrays[key] = _read(arr, slice(0, n), f"{where}/{key}")
        if arrays[L.JOINTS].shape[1:] != (P, J, D):
            raise FormatError(f"{where}/joints: shape {arrays[L.JOINTS].shape[1:]} per entry, attrs say {(P, J, D)}")
        user = {k: v for k, v in attrs.items() if k not in L.RESERVED_LABEL_ATTRS}
        return LabelSet(name=name, skeleton=skeleton, dims=D, max_people=P, num_joints=J, provenance=provenance,
                        attrs=user, joints=arrays[L.JOINTS], confidence=arrays[L.CONFIDENCE],
                        timestamp_ns=arrays[L.TIMESTAMP], frame_index=arrays[L.FRAME_INDEX],
                        num_people=arrays[L.NUM_PEOPLE])

    def refresh(self) -> None:
        """Follow a live writer: re-read the marker, then reopen arrays of the streams already opened."""
        self._commit = read_commit(self.path)
        for name, s in list(self._streams.items()):
            if name in self._commit.streams:
                s.refresh(self._commit.streams[name])

    def summary(self) -> dict[str, Any]:
        """JSON-ready overview: format, attrs, and per stream its kind, frames and time span."""
        streams = {}
        for name in self.streams:
            s = self.stream(name)
            ts = s.timestamps_ns
            streams[name] = {"kind": s.kind, "frames": len(s),
                             "first_ns": int(ts.min()) if ts.size else None,
                             "last_ns": int(ts.max()) if ts.size else None}
        return {"path": str(self.path), "rfpose_format": self.attrs.get("rfpose_format"),
                "created": self.attrs.get("created"), "closed": self.closed, "streams": streams,
                "labels": {n: {"entries": c} for n, c in self._commit.labels.items()}}

    def close(self) -> None:
        for s in self._streams.values():
            s.close()

    def __enter__(self) -> SessionReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_session(path: str | Path, strict: bool = False) -> SessionReader:
    """Open a session for reading (same as ``SessionReader(path, strict)``)."""
    return SessionReader(path, strict)
