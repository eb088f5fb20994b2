"""Names, dtypes, chunking and version policy of the session format (see docs/session-format.md).

Everything the writer and the reader must agree on lives here, so the layout is declared once.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import numpy as np
from zarr.codecs import BloscCodec, BloscShuffle

from rfpose.errors import ConfigError, FormatError, ShapeError

#: The format this code writes. Readers accept any ``1.x``; a newer minor version only adds things.
#: 1.1 added the ``points`` stream kind (radar point clouds); a 1.1 session without one is a valid 1.0 session.
FORMAT_VERSION = "1.1"
FORMAT_MAJOR = 1
FORMAT_MINOR = 1

#: The commit marker: a small JSON file beside the root ``zarr.json``, replaced atomically.
COMMIT_FILE = "rfpose_commit.json"

STREAMS_GROUP = "streams"
LABELS_GROUP = "labels"
KINDS = ("radar", "lidar", "camera", "points")
#: Stream kinds stored as ragged point arrays (``point_offsets`` + ``points/<field>``).
RAGGED_KINDS = ("lidar", "points")

#: Per-frame arrays (int64 unless noted) every stream has.
TIMESTAMP = "timestamp_ns"
FRAME_INDEX = "frame_index"  # the source's own frame counter (RadarFrame.index …)
# radar
ADC = "adc"
LOST_BYTES = "lost_bytes"
COMPLETE = "complete"  # bool
# lidar: ragged points as one array per field, plus offsets (frames + 1 entries)
POINT_OFFSETS = "point_offsets"
POINTS_GROUP = "points"
# radar point clouds (kind "points"): ragged like lidar, plus the device's frame number
FRAME_NUMBER = "frame_number"
# camera
IMAGE = "image"
# labels
JOINTS = "joints"
CONFIDENCE = "confidence"
NUM_PEOPLE = "num_people"

#: Chunk lengths (along the frame or point axis).
SMALL_CHUNK = 1024        # per-frame scalars: 8 KiB of int64 rewritten at each commit
POINT_CHUNK = 1 << 17     # LiDAR points per chunk (512 KiB of float32 per field)
RADAR_POINT_CHUNK = 1 << 14  # radar points per chunk: clouds are small (tens to hundreds of points a frame)
LABEL_CHUNK = 256         # label entries per chunk
MIN_FRAME_CAPACITY = 64   # arrays grow by doubling, at least this many frames at a time
MIN_POINT_CAPACITY = POINT_CHUNK

#: Lossless codecs. Radar ADC words: lz4 with bit shuffle (about 1.7x on real-looking ADC noise at
#: about 1.7 ms per 786 kB frame); images: zstd.
ADC_COMPRESSORS = (BloscCodec(cname="lz4", clevel=5, shuffle=BloscShuffle.bitshuffle),)
IMAGE_COMPRESSORS = (BloscCodec(cname="zstd", clevel=3, shuffle=BloscShuffle.bitshuffle),)
POINT_COMPRESSORS = (BloscCodec(cname="lz4", clevel=5, shuffle=BloscShuffle.shuffle),)
SMALL_COMPRESSORS = None  # tiny arrays rewritten at every commit: no codec cost

#: Keys the writer sets on a stream or label group; user ``attrs`` may not override them.
RESERVED_STREAM_ATTRS = frozenset({"kind", "board", "cfg_text", "frame_shape", "extrinsics", "intrinsics",
                                   "distortion", "height", "width", "point_fields", "clock_offset_ns",
                                   "calibration", "calibration_history"})
RESERVED_LABEL_ATTRS = frozenset({"kind", "skeleton", "dims", "max_people", "num_joints", "provenance"})
RESERVED_ROOT_ATTRS = frozenset({"rfpose_format", "created", "rfpose_version"})


def parse_version(value: Any, where: str) -> tuple[int, int]:
    """``"1.0"`` -> ``(1, 0)``; anything else is a :class:`FormatError` naming ``where``."""
    if not isinstance(value, str):
        raise FormatError(f"{where}: rfpose_format is {value!r}, expected a 'MAJOR.MINOR' string")
    parts = value.split(".")
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        raise FormatError(f"{where}: rfpose_format {value!r} is not 'MAJOR.MINOR'")
    return int(parts[0]), int(parts[1])


def check_version(value: Any, where: str) -> tuple[int, int]:
    """Refuse a major version this code does not read."""
    major, minor = parse_version(value, where)
    if major != FORMAT_MAJOR:
        raise FormatError(f"{where}: session format {value} is not supported; this rfpose reads "
                          f"{FORMAT_MAJOR}.x (upgrade rfpose, or convert the session)")
    return major, minor


def jsonable(value: Any, where: str = "attrs") -> Any:
    """Turn configs and numpy values into plain JSON types (dataclasses -> dicts, arrays -> lists)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return jsonable(dataclasses.asdict(value), where)
    if isinstance(value, dict):
        return {str(k): jsonable(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v, where) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist(), where)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON has no NaN/inf
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, Path):
        return str(value)
    raise ConfigError(f"{where}: {type(value).__name__} is not storable as a session attribute "
                      "(use dicts, lists, numbers, strings, numpy arrays or dataclasses)")


def as_extrinsics(value: Any, where: str) -> np.ndarray:
    """A 4x4 rigid transform (identity when ``None``); rejects wrong shapes and non-finite values."""
    m = np.eye(4) if value is None else np.asarray(value, dtype=np.float64)
    if m.shape != (4, 4) or not np.all(np.isfinite(m)):
        raise ShapeError(f"{where}: extrinsics must be a finite 4x4 matrix, got shape {m.shape}")
    if not np.allclose(m[3], [0, 0, 0, 1]):
        raise ShapeError(f"{where}: extrinsics last row must be [0, 0, 0, 1], got {m[3].tolist()}")
    return m


def as_intrinsics(value: Any, where: str) -> np.ndarray:
    """A 3x3 camera matrix K (fx, fy, cx, cy in pixels)."""
    k = np.asarray(value, dtype=np.float64)
    if k.shape != (3, 3) or not np.all(np.isfinite(k)):
        raise ShapeError(f"{where}: intrinsics must be a finite 3x3 matrix, got shape {k.shape}")
    return k


def as_distortion(value: Any, where: str) -> np.ndarray:
    """OpenCV distortion coefficients (k1, k2, p1, p2[, k3[, k4, k5, k6[, s1..s4[, tx, ty]]]])."""
    d = np.zeros(5) if value is None else np.asarray(value, dtype=np.float64).ravel()
    if d.size not in (4, 5, 8, 12, 14) or not np.all(np.isfinite(d)):
        raise ShapeError(f"{where}: distortion needs 4, 5, 8, 12 or 14 finite coefficients, got {d.size}")
    return d
