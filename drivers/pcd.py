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
    try:
        dtype = np.dtype([(nm if c == 1 else f"{nm}_{i}", _PCD_TYPES[(t, s)])
                          for nm, s, t, c in zip(names, sizes, types, counts) for i in range(c)])
    except KeyError as e:
        raise FormatError(f"{p}: unsupported PCD field type {e}") from None
    if mode == "binary":
        need = n * dtype.itemsize
        if len(raw) - pos < need:
            raise FormatError(f"{p}: truncated: {len(raw) - pos} data bytes for {n} points of {dtype.itemsize} bytes")
        arr = np.frombuffer(raw, dtype, count=n, offset=pos)
    elif mode == "ascii":
        text = raw[pos:].decode("ascii", "replace").split()
        if len(text) < n * len(dtype.names):
            raise FormatError(f"{p}: truncated: {len(text)} values for {n} points of {len(dtype.names)} fields")
        vals = np.asarray(text[:n * len(dtype.names)], dtype=np.float64).reshape(n, len(dtype.names))
        arr = np.zeros(n, dtype)
        for i, nm in enumerate(dtype.names):
            arr[nm] = vals[:, i]
    elif mode == "binary_compressed":
        return _read_open3d(p)
    else:
        raise FormatError(f"{p}: unknown PCD DATA mode {mode!r}")
    return _to_lidar_points({nm: arr[nm] for nm in arr.dtype.names}, n)


def _read_open3d(p: Path) -> np.ndarray:
    import open3d as o3d

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
