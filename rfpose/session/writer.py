"""Append-while-recording writer of a session (zarr v3 group; layout in docs/session-format.md).

Crash safety: every append writes its bulk data (ADC words, image, LiDAR or radar points) into chunks at once;
per-frame scalars are buffered; a *commit* writes the buffered scalars and then atomically replaces the
commit marker (:mod:`rfpose.session.commit`). Readers trust only the marker, so a writer killed at any
instant (SIGKILL included) leaves a session readable up to its last commit, with no torn frame visible.
zarr's LocalStore also replaces every chunk and ``zarr.json`` atomically (temp file + rename), so a chunk
shared by committed and new data (per-frame scalars, points) never tears either.

Commit policy: by default after every append (``commit_every=1``); ``commit_every=N`` commits after every
N-th append (any stream), and ``commit_interval_s=T`` also commits on the first append T seconds after the
last commit. ``flush()`` and ``close()`` always commit. A kill loses only appends since the last commit.

Arrays are created unsharded and grown by doubling their frame capacity (not one resize per frame);
``close()`` trims them to the committed length.
"""

from __future__ import annotations

import datetime as _dt
import logging
import re
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import zarr
from zarr.storage import LocalStore

import rfpose
from rfpose.errors import ConfigError, RfposeError, ShapeError, UnknownNameError
from rfpose.session import layout as L
from rfpose.session.commit import Commit, StreamCommit, write_commit
from rfpose.source import (LIDAR_POINT_DTYPE, RADAR_POINT_DTYPE, CameraFrame, LidarFrame, PointCloudFrame,
                           RadarFrame)

log = logging.getLogger(__name__)

_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


def _grow(capacity: int, needed: int, minimum: int) -> int:
    new = max(capacity, minimum)
    while new < needed:
        new *= 2
    return new


def _merge_attrs(base: dict, user: Mapping | None, reserved: frozenset, where: str) -> dict:
    """User attrs plus the writer's own (``base``). A reserved key in ``user`` is dropped: silently when it
    equals the writer's value (e.g. a source's metadata passed through whole), with a warning otherwise."""
    user = L.jsonable(dict(user or {}), f"{where}.attrs")
    for key in sorted(reserved & user.keys()):
        value = user.pop(key)
        if key not in base or value != base[key]:
            log.warning("%s: ignoring attrs[%r] = %.60r: the writer sets %r itself", where, key, value, key)
    return {**user, **base}


def expected_radar_frame_shape(board_name: str, cfg_text: str, where: str = "<cfg_text>") -> tuple[int, ...]:
    """Words per frame as on the wire: ``(words,)`` for DCA1000 boards, ``(chips, words)`` for the cascade."""
    from rfpose.boards import get_board
    from rfpose.radar_config import parse_cfg

    board = get_board(board_name)
    params = parse_cfg(cfg_text, where).derive(board)
    words = params.frame_bytes // 2
    if board.capture == "tda2":
        return (board.num_chips, words // board.num_chips)
    return (words,)


class _Frames:
    """Arrays of one stream or label set that share a frame axis, grown together by capacity doubling.

    Bulk arrays are written as frames arrive; scalar fields are buffered in ``pending`` until commit.
    """

    def __init__(self, group: zarr.Group, where: str, axis: str = "frame"):
        self.group, self.where, self.axis = group, where, axis
        self.capacity = 0
        self.written = 0     # frames whose data is in the arrays (bulk) or buffers (scalars)
        self.committed = 0   # frames the marker counts
        self.arrays: dict[str, zarr.Array] = {}
        self.extra_len: dict[str, int] = {}   # arrays longer than the frame axis (point_offsets: +1)
        self.scalars: dict[str, np.dtype] = {}
        self.pending: dict[str, list] = {}

    def add_array(self, name: str, shape_tail: tuple[int, ...], dtype, chunk_frames: int, compressors,
                  scalar: bool = False, extra: int = 0, dims: tuple[str, ...] = ()) -> zarr.Array:
        arr = self.group.create_array(
            name, shape=(self.capacity + extra, *shape_tail), chunks=(chunk_frames, *shape_tail), dtype=dtype,
            compressors=compressors, fill_value=0, dimension_names=(self.axis, *dims))
        self.arrays[name] = arr
        self.extra_len[name] = extra
        if scalar:
            self.scalars[name] = np.dtype(dtype)
            self.pending[name] = []
        return arr

    def reserve(self, frames: int) -> None:
        if frames <= self.capacity:
            return
        self.capacity = _grow(self.capacity, frames, L.MIN_FRAME_CAPACITY)
        for name, arr in self.arrays.items():
            arr.resize((self.capacity + self.extra_len[name], *arr.shape[1:]))

    def push(self, **scalars) -> None:
        for name, value in scalars.items():
            self.pending[name].append(value)

    def flush(self) -> None:
        """Write buffered scalars for frames ``committed..written``."""
        if self.written == self.committed:
            return
        for name, values in self.pending.items():
            off = self.extra_len[name]
            block = np.asarray(values, dtype=self.scalars[name])
            self.arrays[name][self.committed + off:self.written + off] = block
        for values in self.pending.values():
            values.clear()
        self.committed = self.written

    def trim(self) -> None:
        for name, arr in self.arrays.items():
            arr.resize((self.committed + self.extra_len[name], *arr.shape[1:]))
        self.capacity = self.committed


class _StreamWriter:
    kind = ""

    def __init__(self, group: zarr.Group, name: str):
        self.name = name
        self.group = group
        self.frames = _Frames(group, f"streams/{name}")
        self.frames.add_array(L.TIMESTAMP, (), "int64", L.SMALL_CHUNK, L.SMALL_COMPRESSORS, scalar=True)
        self.frames.add_array(L.FRAME_INDEX, (), "int64", L.SMALL_CHUNK, L.SMALL_COMPRESSORS, scalar=True)
        self.frames.add_array(L.CHECKSUM, (), "uint32", L.SMALL_CHUNK, L.SMALL_COMPRESSORS, scalar=True)

    def check(self, frame) -> None:
        if getattr(frame, "kind", None) != self.kind:
            raise ShapeError(f"stream {self.name!r} is a {self.kind} stream; got a {type(frame).__name__}")

    def append(self, frame) -> None:
        raise NotImplementedError

    def flush(self) -> None:
        self.frames.flush()

    def trim(self) -> None:
        self.frames.trim()

    def commit_entry(self) -> StreamCommit:
        return StreamCommit(self.kind, self.frames.committed)


class _RadarWriter(_StreamWriter):
    kind = "radar"

    def __init__(self, group, name, frame_shape: tuple[int, ...]):
        super().__init__(group, name)
        self.frame_shape = tuple(frame_shape)
        self.adc = self.frames.add_array(L.ADC, self.frame_shape, "int16", 1, L.ADC_COMPRESSORS,
                                         dims=("word",) if len(self.frame_shape) == 1 else ("chip", "word"))
        self.frames.add_array(L.LOST_BYTES, (), "int64", L.SMALL_CHUNK, L.SMALL_COMPRESSORS, scalar=True)
        self.frames.add_array(L.COMPLETE, (), "bool", L.SMALL_CHUNK, L.SMALL_COMPRESSORS, scalar=True)

    def append(self, frame: RadarFrame) -> None:
        self.check(frame)
        adc = np.asarray(frame.adc)
        i = self.frames.written
        if adc.dtype != np.int16 or adc.shape != self.frame_shape:
            raise ShapeError(f"stream {self.name!r} frame {i} (source index {frame.index}): expected int16 ADC words "
                             f"of shape {self.frame_shape}, got {adc.dtype} {adc.shape}")
        self.frames.reserve(i + 1)
        self.adc[i] = adc
        ts = int(frame.timestamp_ns)
        self.frames.push(timestamp_ns=ts, frame_index=int(frame.index), checksum=L.frame_checksum(ts, adc),
                         lost_bytes=int(frame.lost_bytes), complete=bool(frame.complete))
        self.frames.written = i + 1


class _CameraWriter(_StreamWriter):
    kind = "camera"

    def __init__(self, group, name, height: int, width: int):
        super().__init__(group, name)
        self.image_shape = (int(height), int(width), 3)
        self.image = self.frames.add_array(L.IMAGE, self.image_shape, "uint8", 1, L.IMAGE_COMPRESSORS,
                                           dims=("y", "x", "rgb"))

    def append(self, frame: CameraFrame) -> None:
        self.check(frame)
        img = np.asarray(frame.image)
        i = self.frames.written
        if img.dtype != np.uint8 or img.shape != self.image_shape:
            raise ShapeError(f"stream {self.name!r} frame {i} (source index {frame.index}): expected uint8 RGB image "
                             f"of shape {self.image_shape}, got {img.dtype} {img.shape}")
        self.frames.reserve(i + 1)
        self.image[i] = img
        ts = int(frame.timestamp_ns)
        self.frames.push(timestamp_ns=ts, frame_index=int(frame.index), checksum=L.frame_checksum(ts, img))
        self.frames.written = i + 1


class _RaggedWriter(_StreamWriter):
    """A stream of ragged point clouds: one array per field of ``dtype`` along a point axis, plus offsets."""

    dtype: np.dtype
    point_chunk = L.POINT_CHUNK
    min_point_capacity = L.MIN_POINT_CAPACITY

    def __init__(self, group, name):
        super().__init__(group, name)
        # point_offsets[i]..point_offsets[i+1] are frame i's points; entry 0 is the fill value 0
        self.frames.add_array(L.POINT_OFFSETS, (), "int64", L.SMALL_CHUNK, L.SMALL_COMPRESSORS, scalar=True, extra=1)
        pg = group.create_group(L.POINTS_GROUP)
        self.point_arrays = {
            f: pg.create_array(f, shape=(0,), chunks=(self.point_chunk,), dtype=self.dtype[f],
                               compressors=L.POINT_COMPRESSORS, fill_value=0, dimension_names=("point",))
            for f in self.dtype.names}
        self.point_capacity = 0
        self.points_written = 0
        self.points_committed = 0

    def scalars(self, frame) -> dict:
        """Per-frame fields beyond timestamp, index and offsets."""
        return {}

    def append(self, frame) -> None:
        self.check(frame)
        pts = np.asarray(frame.points)
        i = self.frames.written
        names = pts.dtype.names or ()
        missing = [f for f in self.dtype.names if f not in names or pts.dtype[f].kind not in "biuf"]
        if missing or pts.ndim != 1:
            raise ShapeError(f"stream {self.name!r} frame {i} (source index {frame.index}): expected a 1-D structured "
                             f"array with numeric fields {self.dtype.names}, got {pts.dtype} shape {pts.shape}")
        extra = self.scalars(frame)
        k = pts.shape[0]
        start, stop = self.points_written, self.points_written + k
        if stop > self.point_capacity:
            self.point_capacity = _grow(self.point_capacity, stop, self.min_point_capacity)
            for arr in self.point_arrays.values():
                arr.resize((self.point_capacity,))
        columns = [pts[f].astype(self.dtype[f], copy=False) for f in self.dtype.names]
        if k:
            for arr, col in zip(self.point_arrays.values(), columns):
                arr[start:stop] = col
        self.frames.reserve(i + 1)
        ts = int(frame.timestamp_ns)
        self.frames.push(timestamp_ns=ts, frame_index=int(frame.index), point_offsets=stop,
                         checksum=L.frame_checksum(ts, *columns), **extra)
        self.points_written = stop
        self.frames.written = i + 1

    def flush(self) -> None:
        self.frames.flush()
        self.points_committed = self.points_written

    def trim(self) -> None:
        self.frames.trim()
        for arr in self.point_arrays.values():
            arr.resize((self.points_committed,))
        self.point_capacity = self.points_committed

    def commit_entry(self) -> StreamCommit:
        return StreamCommit(self.kind, self.frames.committed, self.points_committed)


class _LidarWriter(_RaggedWriter):
    kind = "lidar"
    dtype = LIDAR_POINT_DTYPE


class _PointsWriter(_RaggedWriter):
    """Radar point clouds (:data:`RADAR_POINT_DTYPE`) with the device's frame number per frame."""

    kind = "points"
    dtype = RADAR_POINT_DTYPE
    point_chunk = min_point_capacity = L.RADAR_POINT_CHUNK

    def __init__(self, group, name):
        super().__init__(group, name)
        self.frames.add_array(L.FRAME_NUMBER, (), "int64", L.SMALL_CHUNK, L.SMALL_COMPRESSORS, scalar=True)

    def scalars(self, frame: PointCloudFrame) -> dict:
        try:
            return {"frame_number": int(frame.frame_number)}
        except (AttributeError, TypeError, ValueError):
            raise ShapeError(f"stream {self.name!r} frame {self.frames.written} (source index {frame.index}): "
                             f"frame_number must be an integer, got {getattr(frame, 'frame_number', None)!r}") from None


class _LabelWriter:
    def __init__(self, group: zarr.Group, name: str, max_people: int, num_joints: int, dims: int):
        self.name, self.max_people, self.num_joints, self.dims = name, max_people, num_joints, dims
        self.frames = _Frames(group, f"labels/{name}", axis="entry")
        P, J = max_people, num_joints
        self.frames.add_array(L.TIMESTAMP, (), "int64", L.SMALL_CHUNK, L.SMALL_COMPRESSORS, scalar=True)
        self.frames.add_array(L.FRAME_INDEX, (), "int64", L.SMALL_CHUNK, L.SMALL_COMPRESSORS, scalar=True)
        self.frames.add_array(L.NUM_PEOPLE, (), "int32", L.SMALL_CHUNK, L.SMALL_COMPRESSORS, scalar=True)
        self.joints = self.frames.add_array(L.JOINTS, (P, J, dims), "float32", L.LABEL_CHUNK, L.POINT_COMPRESSORS,
                                            dims=("person", "joint", "xyz"[:dims]))
        self.confidence = self.frames.add_array(L.CONFIDENCE, (P, J), "float32", L.LABEL_CHUNK, L.POINT_COMPRESSORS,
                                                dims=("person", "joint"))
        self.pending_joints: list[np.ndarray] = []
        self.pending_conf: list[np.ndarray] = []

    def append(self, timestamp_ns: int, joints, confidence, frame_index: int | None) -> None:
        i = self.frames.written
        where = f"label set {self.name!r} entry {i}"
        j = np.asarray(joints, dtype=np.float32)
        if j.ndim == 2:
            j = j[None]
        P, J, D = self.max_people, self.num_joints, self.dims
        if j.ndim != 3 or j.shape[1:] != (J, D) or j.shape[0] > P:
            raise ShapeError(f"{where}: joints must be (people <= {P}, {J}, {D}), got shape {np.shape(joints)}")
        p = j.shape[0]
        c = np.ones((p, J), np.float32) if confidence is None else np.asarray(confidence, dtype=np.float32)
        if c.ndim == 1 and p == 1:
            c = c[None]
        if c.shape != (p, J):
            raise ShapeError(f"{where}: confidence must be ({p}, {J}) like joints, got shape {np.shape(confidence)}")
        jp = np.full((P, J, D), np.nan, np.float32)
        cp = np.full((P, J), np.nan, np.float32)
        jp[:p], cp[:p] = j, c
        self.pending_joints.append(jp)
        self.pending_conf.append(cp)
        self.frames.reserve(i + 1)
        self.frames.push(timestamp_ns=int(timestamp_ns), num_people=p,
                         frame_index=-1 if frame_index is None else int(frame_index))
        self.frames.written = i + 1

    def flush(self) -> None:
        f = self.frames
        if f.written == f.committed:
            return
        self.joints[f.committed:f.written] = np.stack(self.pending_joints)
        self.confidence[f.committed:f.written] = np.stack(self.pending_conf)
        f.flush()
        self.pending_joints.clear()
        self.pending_conf.clear()


class SessionWriter:
    """Record one session: named radar/LiDAR/camera/point-cloud streams plus label sets, crash-safe while appending.

    ``attrs`` become root attrs (``rig`` and ``config`` are conventional keys: the rig description and the
    resolved config of the writing program; dataclasses are stored as dicts). ``overwrite`` replaces an
    existing session (only something that looks like a zarr store or an empty directory is ever removed).
    See the module docstring for ``commit_every`` / ``commit_interval_s``; ``durable`` fsyncs the marker.
    """

    def __init__(self, path: str | Path, attrs: Mapping[str, Any] | None = None, overwrite: bool = False,
                 commit_every: int = 1, commit_interval_s: float | None = None, durable: bool = False):
        self.path = Path(path)
        if commit_every < 1:
            raise ConfigError(f"commit_every must be >= 1, got {commit_every}")
        self.commit_every, self.commit_interval_s, self.durable = int(commit_every), commit_interval_s, durable
        self._prepare_path(overwrite)
        root_attrs = _merge_attrs({"rfpose_format": L.FORMAT_VERSION,
                                   "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds"),
                                   "rfpose_version": rfpose.__version__},
                                  {"rig": {}, "config": {}, **dict(attrs or {})}, L.RESERVED_ROOT_ATTRS, str(self.path))
        self.root = zarr.create_group(store=LocalStore(self.path), zarr_format=3, attributes=root_attrs)
        self._streams_group = self.root.create_group(L.STREAMS_GROUP)
        self._labels_group = self.root.create_group(L.LABELS_GROUP)
        self._streams: dict[str, _StreamWriter] = {}
        self._labels: dict[str, _LabelWriter] = {}
        self._commit = Commit()
        self._since_commit = 0
        self._last_commit_t = time.monotonic()
        self._closed = False
        self.commit()

    def _prepare_path(self, overwrite: bool) -> None:
        p = self.path
        if not p.exists():
            try:
                p.parent.mkdir(parents=True, exist_ok=True)
            except OSError as e:  # a parent is a file, or not writable
                raise ConfigError(f"cannot create the session's directory: {e.strerror}"
                                  + (f" ({e.filename})" if e.filename else ""), str(p)) from None
            return
        if not overwrite:
            raise ConfigError("output already exists (pass overwrite=True / --overwrite to replace it)", str(p))
        if p.is_dir() and ((p / "zarr.json").exists() or (p / ".zgroup").exists() or not any(p.iterdir())):
            shutil.rmtree(p)
        else:
            raise ConfigError("refusing to overwrite: not a zarr store or an empty directory", str(p))

    # -- streams ------------------------------------------------------------------------------
    def _new_name(self, name: str, table: dict, what: str) -> None:
        self._check_open()
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise ConfigError(f"{what} name {name!r} must be letters, digits, '_', '-' or '.' (not leading)",
                              str(self.path))
        if name in table:
            raise ConfigError(f"{what} {name!r} already exists", str(self.path))

    def add_radar_stream(self, name: str, board: str, cfg_text: str | None = None,
                         frame_shape: tuple[int, ...] | None = None, extrinsics=None,
                         attrs: Mapping[str, Any] | None = None) -> None:
        """A raw-ADC stream. ``frame_shape`` is the int16 words per frame, ``(words,)`` or ``(chips, words)``;
        when ``cfg_text`` is given it is derived from (or checked against) the config and ``board``.
        ``extrinsics`` is ``T_rig_sensor`` (4x4, identity by default)."""
        self._new_name(name, self._streams, "stream")
        where = f"{self.path}/streams/{name}"
        from rfpose.boards import get_board
        get_board(board)  # unknown board -> UnknownNameError listing the valid ones
        if cfg_text is not None:
            expected = expected_radar_frame_shape(board, cfg_text, f"{where}.cfg_text")
            if frame_shape is not None and tuple(frame_shape) != expected:
                raise ShapeError(f"{where}: frame_shape {tuple(frame_shape)} does not match the {expected} int16 words "
                                 f"that cfg_text gives on board {board}")
            frame_shape = expected
        if frame_shape is None:
            raise ConfigError(f"{where}: give cfg_text or frame_shape")
        frame_shape = tuple(int(n) for n in frame_shape)
        if len(frame_shape) not in (1, 2) or min(frame_shape) < 1:
            raise ShapeError(f"{where}: frame_shape must be (words,) or (chips, words), got {frame_shape}")
        base = {"kind": "radar", "board": board, "cfg_text": cfg_text, "frame_shape": list(frame_shape),
                "extrinsics": L.as_extrinsics(extrinsics, where).tolist()}
        g = self._streams_group.create_group(name, attributes=_merge_attrs(base, attrs, L.RESERVED_STREAM_ATTRS, where))
        self._streams[name] = _RadarWriter(g, name, frame_shape)
        self.commit()

    def add_lidar_stream(self, name: str, extrinsics=None, attrs: Mapping[str, Any] | None = None) -> None:
        """A LiDAR stream of ragged point clouds (:data:`rfpose.source.LIDAR_POINT_DTYPE`, LiDAR frame)."""
        self._new_name(name, self._streams, "stream")
        where = f"{self.path}/streams/{name}"
        base = {"kind": "lidar", "extrinsics": L.as_extrinsics(extrinsics, where).tolist(),
                "point_fields": {f: LIDAR_POINT_DTYPE[f].str for f in LIDAR_POINT_DTYPE.names}}
        g = self._streams_group.create_group(name, attributes=_merge_attrs(base, attrs, L.RESERVED_STREAM_ATTRS, where))
        self._streams[name] = _LidarWriter(g, name)
        self.commit()

    def add_points_stream(self, name: str, board: str | None = None, cfg_text: str | None = None, extrinsics=None,
                          attrs: Mapping[str, Any] | None = None) -> None:
        """A stream of radar point clouds (:class:`rfpose.source.PointCloudFrame`: ragged points of
        :data:`rfpose.source.RADAR_POINT_DTYPE` in the radar frame, plus the device's frame number).

        ``board`` names the radar (a name of :mod:`rfpose.boards`, or None when unknown) and ``cfg_text`` is the
        configuration it ran (both stored for provenance). ``extrinsics`` is ``T_rig_sensor`` (identity by default).
        """
        self._new_name(name, self._streams, "stream")
        where = f"{self.path}/streams/{name}"
        if board is not None:
            from rfpose.boards import get_board
            get_board(board)  # unknown board -> UnknownNameError listing the valid ones
        if cfg_text is not None and not isinstance(cfg_text, str):
            raise ConfigError(f"{where}: cfg_text must be the .cfg text (a str), got {type(cfg_text).__name__}")
        base = {"kind": "points", "board": board, "cfg_text": cfg_text,
                "extrinsics": L.as_extrinsics(extrinsics, where).tolist(),
                "point_fields": {f: RADAR_POINT_DTYPE[f].str for f in RADAR_POINT_DTYPE.names}}
        g = self._streams_group.create_group(name, attributes=_merge_attrs(base, attrs, L.RESERVED_STREAM_ATTRS, where))
        self._streams[name] = _PointsWriter(g, name)
        self.commit()

    def add_camera_stream(self, name: str, height: int, width: int, intrinsics, distortion=None, extrinsics=None,
                          attrs: Mapping[str, Any] | None = None) -> None:
        """An RGB camera stream, one compressed chunk per ``(height, width, 3)`` uint8 frame."""
        self._new_name(name, self._streams, "stream")
        where = f"{self.path}/streams/{name}"
        if int(height) < 1 or int(width) < 1:
            raise ShapeError(f"{where}: image size must be positive, got {height}x{width}")
        base = {"kind": "camera", "height": int(height), "width": int(width),
                "intrinsics": L.as_intrinsics(intrinsics, where).tolist(),
                "distortion": L.as_distortion(distortion, where).tolist(),
                "extrinsics": L.as_extrinsics(extrinsics, where).tolist()}
        g = self._streams_group.create_group(name, attributes=_merge_attrs(base, attrs, L.RESERVED_STREAM_ATTRS, where))
        self._streams[name] = _CameraWriter(g, name, height, width)
        self.commit()

    def add_labels(self, name: str, skeleton: str, dims: int = 3, max_people: int = 1,
                   provenance: Mapping[str, Any] | None = None, attrs: Mapping[str, Any] | None = None,
                   num_joints: int | None = None) -> None:
        """A label set of 2-D or 3-D skeletons with its own timestamps. ``num_joints`` defaults to the
        registered skeleton's; ``provenance`` says how the labels were made (``{"method": ...}``)."""
        self._new_name(name, self._labels, "label set")
        where = f"{self.path}/labels/{name}"
        label_attrs = _label_attrs(where, skeleton, dims, max_people, provenance, attrs, num_joints)
        g = self._labels_group.create_group(name, attributes=label_attrs)
        self._labels[name] = _LabelWriter(g, name, int(max_people), label_attrs["num_joints"], int(dims))
        self.commit()

    # -- appending ----------------------------------------------------------------------------
    def append(self, name: str, frame: RadarFrame | LidarFrame | CameraFrame | PointCloudFrame) -> None:
        """Append one frame to stream ``name`` (data written now; visible to readers after the next commit)."""
        self._check_open()
        try:
            stream = self._streams[name]
        except KeyError:
            raise UnknownNameError("stream", name, list(self._streams)) from None
        stream.append(frame)
        self._appended()

    def append_labels(self, name: str, timestamp_ns: int, joints, confidence=None,
                      frame_index: int | None = None) -> None:
        """Append one label entry: ``joints`` (P, J, dims) with P <= max_people (padded with NaN),
        ``confidence`` (P, J) (1.0 when omitted), ``frame_index`` the related frame (-1 when ``None``)."""
        self._check_open()
        try:
            labels = self._labels[name]
        except KeyError:
            raise UnknownNameError("label set", name, list(self._labels)) from None
        labels.append(timestamp_ns, joints, confidence, frame_index)
        self._appended()

    def _appended(self) -> None:
        self._since_commit += 1
        due = self._since_commit >= self.commit_every
        if not due and self.commit_interval_s is not None:
            due = time.monotonic() - self._last_commit_t >= self.commit_interval_s
        if due:
            self.commit()

    # -- committing ---------------------------------------------------------------------------
    def commit(self, closed: bool = False) -> None:
        """Write buffered per-frame fields, then atomically publish the new frame counts."""
        for s in self._streams.values():
            s.flush()
        for lab in self._labels.values():
            lab.flush()
        c = self._commit
        c.sequence += 1
        c.closed = closed
        c.streams = {n: s.commit_entry() for n, s in self._streams.items()}
        c.labels = {n: lab.frames.committed for n, lab in self._labels.items()}
        write_commit(self.path, c, durable=self.durable)
        self._since_commit = 0
        self._last_commit_t = time.monotonic()

    def flush(self) -> None:
        """Commit everything appended so far."""
        self._check_open()
        self.commit()

    def update_attrs(self, attrs: Mapping[str, Any]) -> None:
        """Add or replace root attrs (e.g. a recording summary); reserved keys are refused."""
        self._check_open()
        self.root.attrs.update(_merge_attrs({}, attrs, L.RESERVED_ROOT_ATTRS, str(self.path)))

    def frames(self, name: str) -> int:
        """Frames (or label entries) appended to ``name`` so far, committed or not."""
        if name in self._streams:
            return self._streams[name].frames.written
        if name in self._labels:
            return self._labels[name].frames.written
        raise UnknownNameError("stream", name, [*self._streams, *self._labels])

    @property
    def streams(self) -> list[str]:
        return list(self._streams)

    def close(self) -> None:
        """Commit, trim arrays to their committed length, and mark the session closed. Idempotent."""
        if self._closed:
            return
        self.commit()
        for s in self._streams.values():
            s.trim()
        for lab in self._labels.values():
            lab.frames.trim()
        self.commit(closed=True)
        self._closed = True

    def _check_open(self) -> None:
        if getattr(self, "_closed", False):
            raise RfposeError(f"{self.path}: session writer is closed")

    def __enter__(self) -> SessionWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        # Frames appended before an error are whole (an append either completes or changes nothing): keep them.
        self.close()


def _label_attrs(where: str, skeleton: str, dims: int, max_people: int, provenance, attrs, num_joints) -> dict:
    """Validated attrs of a label set (see :meth:`SessionWriter.add_labels`)."""
    if dims not in (2, 3):
        raise ShapeError(f"{where}: dims must be 2 or 3, got {dims}")
    if int(max_people) < 1:
        raise ShapeError(f"{where}: max_people must be >= 1, got {max_people}")
    from rfpose.skeletons import get_skeleton

    try:
        known = get_skeleton(skeleton).num_joints
    except UnknownNameError:
        if num_joints is None:
            raise
        known = None
    if num_joints is None:
        num_joints = known
    elif known is not None and int(num_joints) != known:
        raise ShapeError(f"{where}: skeleton {skeleton!r} has {known} joints, not {num_joints}")
    base = {"kind": "labels", "skeleton": skeleton, "dims": int(dims), "max_people": int(max_people),
            "num_joints": int(num_joints), "provenance": L.jsonable(dict(provenance or {}), f"{where}.provenance")}
    return _merge_attrs(base, attrs, L.RESERVED_LABEL_ATTRS, where)


def add_label_set(path: str | Path, name: str, skeleton: str, timestamps_ns, joints, confidence=None,
                  frame_index=None, provenance: Mapping[str, Any] | None = None,
                  attrs: Mapping[str, Any] | None = None) -> None:
    """Add a label set to a closed session: labels made after recording (annotation, or simulator ground
    truth matched to a capture). ``joints`` is ``(N, P, J, dims)`` (NaN for absent people), ``confidence``
    ``(N, P, J)``, ``timestamps_ns`` and ``frame_index`` ``(N,)``. The data is written first and published by
    a new commit marker, so a kill midway leaves the session as it was.
    """
    from rfpose.errors import FormatError
    from rfpose.session.commit import read_commit

    path = Path(path)
    commit = read_commit(path)
    if not commit.closed:
        raise FormatError(f"{path}: the session is still being recorded (not closed); add labels afterwards")
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ConfigError(f"label set name {name!r} must be letters, digits, '_', '-' or '.' (not leading)", str(path))
    if name in commit.labels:
        raise ConfigError(f"label set {name!r} already exists", str(path))
    joints = np.asarray(joints, dtype=np.float32)
    if joints.ndim != 4:
        raise ShapeError(f"{path}/labels/{name}: joints must be (entries, people, joints, dims), got {joints.shape}")
    n, people, num_joints, dims = joints.shape
    ts = np.asarray(timestamps_ns, dtype=np.int64).reshape(-1)
    if len(ts) != n:
        raise ShapeError(f"{path}/labels/{name}: {len(ts)} timestamps for {n} entries")
    where = f"{path}/labels/{name}"
    root = zarr.open_group(store=LocalStore(path), mode="r+")
    group = root[L.LABELS_GROUP].create_group(
        name, attributes=_label_attrs(where, skeleton, dims, people, provenance, attrs, num_joints), overwrite=True)
    writer = _LabelWriter(group, name, people, num_joints, dims)
    for i in range(n):
        present = ~np.isnan(joints[i]).all(axis=(1, 2))
        writer.append(ts[i], joints[i][present],
                      None if confidence is None else np.asarray(confidence[i])[present],
                      None if frame_index is None else int(frame_index[i]))
    writer.flush()
    writer.frames.trim()
    commit.labels[name] = writer.frames.committed
    commit.sequence += 1
    write_commit(path, commit)


def remove_label_set(path: str | Path, name: str) -> None:
    """Remove label set ``name`` from a closed session (to replace it: ``--force``). The commit marker stops
    publishing it first, then its arrays are deleted, so a kill midway leaves a valid session."""
    from rfpose.errors import FormatError
    from rfpose.session.commit import read_commit

    path = Path(path)
    commit = read_commit(path)
    if not commit.closed:
        raise FormatError(f"{path}: the session is still being recorded (not closed)")
    if name not in commit.labels:
        raise UnknownNameError("label set", name, list(commit.labels))
    del commit.labels[name]
    commit.sequence += 1
    write_commit(path, commit)
    shutil.rmtree(path / L.LABELS_GROUP / name, ignore_errors=True)
