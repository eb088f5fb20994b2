"""LiDAR point clouds from files: a small PCD reader (ASCII and binary) and a directory source in
RT-Pose's layout (``NNNNNN.pcd``, one file per frame). ``binary_compressed`` PCD and PLY go through
open3d. Points come back as :data:`rfpose.source.LIDAR_POINT_DTYPE` in the LiDAR's frame.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from rfpose.errors import FormatError
from rfpose.source import LIDAR_POINT_DTYPE, LidarFrame, SourceBase

#: more columns than this per point is not a point cloud but a lying header
MAX_PCD_COLUMNS = 4096

_PCD_TYPES = {("F", 4): "<f4", ("F", 8): "<f8", ("I", 1): "i1", ("I", 2): "<i2", ("I", 4): "<i4", ("I", 8): "<i8",
              ("U", 1): "u1", ("U", 2): "<u2", ("U", 4): "<u4", ("U", 8): "<u8"}


def _to_lidar_points(fields: dict[str, np.ndarray], n: int) -> np.ndarray:
    out = np.zeros(n, LIDAR_POINT_DTYPE)
    for name in ("x", "y", "z", "intensity"):
        if name in fields:
            out[name] = fields[name]
    for tname in ("t", "time", "timestamp"):
        if tname in fields:
            out["time_offset_ns"] = fields[tname]
            break
    return out


def read_pcd(path: str | Path) -> np.ndarray:
    """Read a PCD file into :data:`LIDAR_POINT_DTYPE` (fields other than x, y, z, intensity, t are
    dropped). Raises :class:`FormatError` naming the file for malformed or truncated input."""
    p = Path(path)
    raw = p.read_bytes()
    header: dict[str, list[str]] = {}
    pos = 0
    while True:
        end = raw.find(b"\n", pos)
        if end < 0:
            raise FormatError(f"{p}: PCD header ends before DATA")
        line = raw[pos:end].decode("ascii", "replace").strip()
        pos = end + 1
        if not line or line.startswith("#"):
            continue
        key, *vals = line.split()
        header[key.upper()] = vals
        if key.upper() == "DATA":
            break
    try:
        names = header["FIELDS"]
        sizes = [int(s) for s in header["SIZE"]]
        types = header["TYPE"]
        counts = [int(c) for c in header.get("COUNT", ["1"] * len(names))]
        n = int(header["POINTS"][0]) if "POINTS" in header else int(header["WIDTH"][0]) * int(header["HEIGHT"][0])
        mode = header["DATA"][0].lower()
    except (KeyError, ValueError, IndexError) as e:
        raise FormatError(f"{p}: malformed PCD header ({e})") from None
    if not len(names) == len(sizes) == len(types) == len(counts):
        raise FormatError(f"{p}: PCD header FIELDS/SIZE/TYPE/COUNT lengths differ")
    if len(set(names)) != len(names):
        raise FormatError(f"{p}: PCD header names a field twice ({' '.join(names)})")
    if n < 0 or min(counts, default=1) < 1 or sum(counts) > MAX_PCD_COLUMNS:
        raise FormatError(f"{p}: PCD header has implausible sizes (POINTS {n}, COUNT {' '.join(map(str, counts))})")
    try:
        dtype = np.dtype([(nm if c == 1 else f"{nm}_{i}", _PCD_TYPES[(t, s)])
                          for nm, s, t, c in zip(names, sizes, types, counts) for i in range(c)])
    except KeyError as e:
        raise FormatError(f"{p}: unsupported PCD field type {e}") from None
    except ValueError as e:  # e.g. a field name numpy refuses, or one that collides with an expanded COUNT name
        raise FormatError(f"{p}: PCD fields cannot form a record ({e})") from None
    if mode == "binary":
        need = n * dtype.itemsize
        if len(raw) - pos < need:
            raise FormatError(f"{p}: truncated: {len(raw) - pos} data bytes for {n} points of {dtype.itemsize} bytes")
        arr = np.frombuffer(raw, dtype, count=n, offset=pos)
    elif mode == "ascii":
        if n * len(dtype.names) * 2 > len(raw) - pos + 1:  # each value takes at least a digit and a separator
            raise FormatError(f"{p}: truncated: {len(raw) - pos} data bytes cannot hold {n} points of "
                              f"{len(dtype.names)} values")
        text = raw[pos:].decode("ascii", "replace").split()
        if len(text) < n * len(dtype.names):
            raise FormatError(f"{p}: truncated: {len(text)} values for {n} points of {len(dtype.names)} fields")
        try:
            vals = np.asarray(text[:n * len(dtype.names)], dtype=np.float64).reshape(n, len(dtype.names))
        except ValueError as e:
            raise FormatError(f"{p}: non-numeric PCD data ({e})") from None
        arr = np.zeros(n, dtype)
        for i, nm in enumerate(dtype.names):
            arr[nm] = vals[:, i]
    elif mode == "binary_compressed":
        sizes_ok = len(raw) - pos >= 8
        if sizes_ok:
            csize, usize = (int(v) for v in np.frombuffer(raw, "<u4", 2, pos))
            sizes_ok = usize == n * dtype.itemsize and csize <= len(raw) - pos - 8
        if not sizes_ok:
            raise FormatError(f"{p}: compressed PCD data does not match its header ({n} points of "
                              f"{dtype.itemsize} bytes, {len(raw) - pos} bytes after DATA)")
        return _read_open3d(p)
    else:
        raise FormatError(f"{p}: unknown PCD DATA mode {mode!r}")
    return _to_lidar_points({nm: arr[nm] for nm in arr.dtype.names}, n)


_PLY_SIZES = {"char": 1, "uchar": 1, "int8": 1, "uint8": 1, "short": 2, "ushort": 2, "int16": 2, "uint16": 2,
              "int": 4, "uint": 4, "int32": 4, "uint32": 4, "float": 4, "float32": 4, "double": 8, "float64": 8}


def check_ply_header(p: Path, raw: bytes) -> None:
    """Refuse a PLY whose header claims more elements than the file's real length can hold (before open3d
    allocates them) or is malformed. Rows of list properties count as at least their count byte."""
    end = raw.find(b"end_header")
    if not raw.startswith(b"ply") or end < 0:
        raise FormatError(f"{p}: not a PLY file (no 'ply' ... 'end_header' header)")
    body = len(raw) - raw.find(b"\n", end) - 1
    fmt, total = "", 0
    elements: list[list[int]] = []  # [count, row bytes]
    for line in raw[:end].decode("ascii", "replace").splitlines()[1:]:
        words = line.split()
        if not words or words[0] in ("comment", "obj_info"):
            continue
        try:
            if words[0] == "format":
                fmt = words[1]
            elif words[0] == "element":
                elements.append([int(words[2]), 0])
            elif words[0] == "property":
                size = 1 if words[1] == "list" else _PLY_SIZES[words[1]]
                elements[-1][1] += size
        except (IndexError, ValueError, KeyError) as e:
            raise FormatError(f"{p}: malformed PLY header line {line!r} ({type(e).__name__}: {e})") from None
    if fmt not in ("ascii", "binary_little_endian", "binary_big_endian"):
        raise FormatError(f"{p}: unknown PLY format {fmt!r}")
    for count, row in elements:
        if count < 0:
            raise FormatError(f"{p}: PLY element count {count} is negative")
        total += count * (max(row, 1) if fmt != "ascii" else 2)  # ascii: at least a digit and a newline
    if total > body:
        raise FormatError(f"{p}: truncated or lying PLY header: its elements need at least {total} bytes, the "
                          f"file has {body} after the header")


def _read_open3d(p: Path) -> np.ndarray:
    import open3d as o3d

    if p.suffix.lower() == ".ply":
        check_ply_header(p, p.read_bytes())
    pcd = o3d.t.io.read_point_cloud(str(p))
    if "positions" not in pcd.point:
        raise FormatError(f"{p}: open3d found no points")
    xyz = pcd.point.positions.numpy()
    fields = {"x": xyz[:, 0], "y": xyz[:, 1], "z": xyz[:, 2]}
    if "intensity" in pcd.point:
        fields["intensity"] = pcd.point.intensity.numpy().ravel()
    return _to_lidar_points(fields, len(xyz))


def write_pcd(path: str | Path, points: np.ndarray, binary: bool = True) -> None:
    """Write x, y, z, intensity as a PCD file (used for fixtures and exports)."""
    n = len(points)
    header = (f"# .PCD v0.7 - Point Cloud Data file format\nVERSION 0.7\nFIELDS x y z intensity\nSIZE 4 4 4 4\n"
              f"TYPE F F F F\nCOUNT 1 1 1 1\nWIDTH {n}\nHEIGHT 1\nVIEWPOINT 0 0 0 1 0 0 0\nPOINTS {n}\n"
              f"DATA {'binary' if binary else 'ascii'}\n")
    xyzi = np.stack([points[k].astype(np.float32) for k in ("x", "y", "z", "intensity")], axis=1)
    with open(path, "wb") as f:
        f.write(header.encode("ascii"))
        if binary:
            f.write(xyzi.astype("<f4").tobytes())
        else:
            f.write("".join(f"{a:.6g} {b:.6g} {c:.6g} {d:.6g}\n" for a, b, c, d in xyzi).encode("ascii"))


class PcdDirectorySource(SourceBase):
    """A directory of ``NNNNNN.pcd`` (or ``.ply``) files, one per frame, sorted by number.

    Timestamps are ``start_ns + index / fps`` unless a ``timestamps.txt`` (one ns integer per line) is there.
    """

    kind = "lidar"
    is_seekable = True

    def __init__(self, directory: str | Path, *, fps: float = 10.0, start_ns: int = 0, name: str = "lidar"):
        super().__init__()
        self.dir = Path(directory)
        if not self.dir.is_dir():
            raise FormatError(f"{self.dir}: not a directory of point-cloud files")
        files = [f for f in self.dir.iterdir() if f.suffix.lower() in (".pcd", ".ply") and re.fullmatch(r"\d+", f.stem)]
        self.files = sorted(files, key=lambda f: int(f.stem))
        if not self.files:
            raise FormatError(f"{self.dir}: no NNNNNN.pcd files")
        self.name, self.fps, self.start_ns = name, fps, start_ns
        ts_file = self.dir / "timestamps.txt"
        self.timestamps = None
        if ts_file.is_file():
            ts = [int(t) for t in ts_file.read_text().split()]
            if len(ts) != len(self.files):
                raise FormatError(f"{ts_file}: {len(ts)} timestamps for {len(self.files)} files")
            self.timestamps = ts
        self.metadata = {"directory": str(self.dir), "fps": fps}

    def _len(self) -> int:
        return len(self.files)

    def _get(self, index: int) -> LidarFrame:
        f = self.files[index]
        pts = read_pcd(f) if f.suffix.lower() == ".pcd" else _read_open3d(f)
        ts = self.timestamps[index] if self.timestamps else self.start_ns + int(round(index * 1e9 / self.fps))
        return LidarFrame(index, ts, pts)
