"""Locate a trihedral corner reflector in radar and LiDAR data, and find the positions where it was held still.

This module takes arrays, not sessions (a stage imports no other stage: the application layer computes the
radar tensors and CFAR points with :mod:`rfpose.preprocessing` and hands them over; see
:mod:`rfpose.app.calibration_inputs`).

Radar, two estimators (``docs/calibration.md`` compares them):

- :func:`peak_in_polar`: the strongest cell of a zero-Doppler polar power tensor ``(range, azimuth,
  elevation)`` inside a range gate, refined per axis by a parabola through the log power of the peak and
  its two neighbours (a Gaussian fit: unbiased for a peak much wider than a bin, which zero-padded FFTs give).
- :func:`strongest_point`: the CFAR point of highest power.

LiDAR (:func:`locate_in_lidar`): points that are not background (:class:`VoxelBackground`: voxels occupied
in most sweeps of the capture are the room) form the reflector and its stand; the reflector is the top
``edge_m`` of that foreground; its reference point is the centroid of its front face (points between the
top and bottom 1 cm bands, which hold the top and bottom faces the LiDAR may see).

Stops (:func:`find_stops`): runs of detections that stay within ``tol_m`` of their median for at least
``min_duration_s`` — the reflector held still at one position.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rfpose.errors import ShapeError, TargetNotFoundError


# -- radar -------------------------------------------------------------------------------------------------------
@dataclass
class RadarPeak:
    """One frame's reflector estimate: ``xyz`` (3,) m in the radar frame, spherical ``range_m``, ``sin_az``,
    ``sin_el``, peak power ``power_db`` and its margin over the tensor's median ``snr_db``."""

    xyz: np.ndarray
    range_m: float
    sin_az: float
    sin_el: float
    power_db: float
    snr_db: float


def _parabola(lm1: float, l0: float, lp1: float) -> float:
    den = lm1 - 2 * l0 + lp1
    return 0.0 if den >= 0 else float(np.clip(0.5 * (lm1 - lp1) / den, -0.5, 0.5))


def direction_to_xyz(r: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Range ``r`` and direction cosines ``u = y/r``, ``v = z/r`` → ``(..., 3)`` x forward, y left, z up."""
    x = np.sqrt(np.clip(1 - u ** 2 - v ** 2, 0, None))
    return np.stack([r * x, r * u, r * v], -1)


def peak_in_polar(power: np.ndarray, range_m: np.ndarray, sin_az: np.ndarray, sin_el: np.ndarray,
                  min_range_m: float = 0.5, max_range_m: float | None = None) -> RadarPeak:
    """The strongest return of a ``(range, azimuth, elevation)`` power tensor (linear, ≥ 0) in the range gate,
    with sub-bin interpolation on every axis that has more than one bin."""
    power = np.asarray(power)
    if power.ndim != 3 or power.shape != (len(range_m), len(sin_az), len(sin_el)):
        raise ShapeError(f"polar power must be (range, azimuth, elevation) = {(len(range_m), len(sin_az), len(sin_el))}, "
                         f"got {power.shape}")
    gate = (range_m >= min_range_m) & (range_m <= (np.inf if max_range_m is None else max_range_m))
    if not gate.any():
        raise TargetNotFoundError(f"no range bin between {min_range_m} and {max_range_m} m")
    idx = np.flatnonzero(gate)
    sub = power[idx[0]:idx[-1] + 1]
    k = np.unravel_index(int(np.argmax(sub)), sub.shape)
    k = (k[0] + idx[0], k[1], k[2])
    logp = np.log(np.maximum(power, np.finfo(np.float32).tiny))
    frac = []
    for ax, axis in enumerate((range_m, sin_az, sin_el)):
        n = len(axis)
        i = k[ax]
        if n < 3 or i == 0 or i == n - 1:
            frac.append(float(axis[i]))
            continue
        sl = list(k)
        vals = []
        for d in (-1, 0, 1):
            sl[ax] = i + d
            vals.append(logp[tuple(sl)])
        f = _parabola(*vals)
        frac.append(float(axis[i] + f * (axis[i + 1] - axis[i])))
    r, u, v = frac
    peak = float(power[k])
    med = float(np.median(power)) or np.finfo(np.float32).tiny
    return RadarPeak(direction_to_xyz(np.float64(r), np.float64(u), np.float64(v)), r, u, v,
                     10 * np.log10(peak + 1e-30), 10 * np.log10(peak / med))


def range_centroid(power: np.ndarray, range_m: np.ndarray, gate: np.ndarray, floor: float = 0.01) -> float:
    """The power-weighted mean range (m) of the contiguous lobe around the strongest bin of a range profile
    ``power`` (linear, summed over chirps and channels) inside ``gate``: bins above ``floor`` × the peak,
    weighted by their excess over it.

    Why not the peak: a target moving fast during the frame smears over many range bins, and the peak of the
    smear sits where it was slowest, not where it was at mid-frame. The sum over a frame's chirps of each
    chirp's profile has its centroid at the chirps' mean range, i.e. the range at the middle of the chirping
    for smooth motion. On the simulator the peak lagged the true range by 1.7 ms (awr1843boost, 32 ms of
    chirping) and 4.5 ms (mmwcas, 50 ms); the centroid by 0.3 and 0.7 ms (docs/calibration-radar.md)."""
    p = np.asarray(power, float)
    k = int(np.argmax(np.where(gate, p, -np.inf)))
    thr = p[k] * floor
    above = p > thr
    a = k - int(np.argmin(above[k::-1])) + 1 if not above[:k + 1].all() else 0
    b = k + int(np.argmin(above[k:])) if not above[k:].all() else len(p)
    w = p[a:b] - thr
    return float(w @ np.asarray(range_m, float)[a:b] / w.sum())


def phase_centre_m(params, board) -> np.ndarray:
    """``(3,)`` the virtual array's phase centre in the radar frame (m): the mean over the configured TX/RX
    pairs of the TX–RX midpoint. Ranges and angles from the array's FFTs are measured from this point, not
    from the board's antenna origin, so a detection ``d`` lies at ``d + phase_centre_m`` in the radar frame."""
    half = params.wavelength_m / 2
    tx = board.tx_array()[list(params.tx_order)] * half
    rx = board.rx_array()[list(params.rx_channels)] * half
    c = 0.5 * (tx.mean(axis=0) + rx.mean(axis=0))
    return np.array([0.0, c[0], c[1]])


def strongest_point(xyz: np.ndarray, power: np.ndarray, min_range_m: float = 0.5,
                    max_range_m: float | None = None) -> np.ndarray | None:
    """The CFAR point of highest power in the range gate, ``(3,)``; None if there is none."""
    xyz = np.asarray(xyz, float).reshape(-1, 3)
    r = np.linalg.norm(xyz, axis=1)
    ok = (r >= min_range_m) & (r <= (np.inf if max_range_m is None else max_range_m))
    if not ok.any():
        return None
    i = np.flatnonzero(ok)[int(np.argmax(np.asarray(power)[ok]))]
    return xyz[i]


# -- LiDAR -------------------------------------------------------------------------------------------------------
class VoxelBackground:
    """Voxels (``voxel_m``) occupied in at least ``min_fraction`` of the given sweeps: the static room."""

    def __init__(self, sweeps: list[np.ndarray], voxel_m: float = 0.05, min_fraction: float = 0.5):
        self.voxel_m = voxel_m
        keys = [np.unique(self._keys(p)) for p in sweeps]
        allk = np.concatenate(keys) if keys else np.zeros(0, np.int64)
        u, c = np.unique(allk, return_counts=True)
        self._bg = np.sort(u[c >= max(1, min_fraction * len(sweeps))])

    def _keys(self, p: np.ndarray) -> np.ndarray:
        return self._pack(np.floor(np.asarray(p, float) / self.voxel_m).astype(np.int64) + (1 << 20))

    @staticmethod
    def _pack(q: np.ndarray) -> np.ndarray:
        return (q[:, 0] << 42) | (q[:, 1] << 21) | q[:, 2]

    def _dilated(self, dilate: int) -> np.ndarray:
        cache = self.__dict__.setdefault("_dilated_cache", {})
        if dilate not in cache:
            q = np.stack([(self._bg >> 42) & 0x1FFFFF, (self._bg >> 21) & 0x1FFFFF, self._bg & 0x1FFFFF], 1)
            r = np.arange(-dilate, dilate + 1)
            shifts = np.stack(np.meshgrid(r, r, r, indexing="ij"), -1).reshape(-1, 3)
            cache[dilate] = np.unique(np.concatenate([self._pack(q + d) for d in shifts]))
        return cache[dilate]

    def foreground(self, p: np.ndarray, dilate: int = 1) -> np.ndarray:
        """Mask of points of ``p`` (N, 3) not in a background voxel (nor, with ``dilate``, next to one)."""
        bg = self._dilated(dilate)
        k = self._keys(p)
        i = np.minimum(np.searchsorted(bg, k), max(len(bg) - 1, 0))
        return ~((len(bg) > 0) & (bg[i] == k))


def reflector_mask(p: np.ndarray, background: VoxelBackground, edge_m: float = 0.10,
                   cluster_m: float = 0.25, min_points: int = 10) -> np.ndarray:
    """Which points of one sweep ``p`` (N, 3) (LiDAR frame, z up) are the reflector: the foreground points
    in the top ``edge_m`` (+1 cm) of the highest foreground cluster with at least ``min_points`` there (a few
    stray points at a background voxel's edge are not a target). All False if none."""
    fg_idx = np.flatnonzero(background.foreground(p))
    out = np.zeros(len(p), bool)
    if len(fg_idx) < min_points:
        return out
    fg = p[fg_idx]
    tried = np.zeros(len(fg), bool)
    for i in np.argsort(-fg[:, 2]):
        if tried[i]:
            continue
        near = np.linalg.norm(fg[:, :2] - fg[i, :2], axis=1) < cluster_m
        block = near & (fg[:, 2] > fg[i, 2] - edge_m - 0.01)
        if block.sum() >= min_points:
            out[fg_idx[block]] = True
            return out
        tried |= near
    return out


def reflector_points(p: np.ndarray, background: VoxelBackground, edge_m: float = 0.10) -> np.ndarray:
    """The reflector's points of one sweep (:func:`reflector_mask`), ``(n, 3)``."""
    return p[reflector_mask(p, background, edge_m)]


#: 1-sigma of a stop's LiDAR estimate along the viewing ray, across it and vertically (m): the scan lines
#: sample the face's edges with gaps of a few mm at 2–4 m
LIDAR_FLOOR_M = (1e-3, 2e-3, 4e-3)


def face_centre(points: np.ndarray, edge_m: float = 0.10, band_m: float = 0.012) -> np.ndarray:
    """Centre of the reflector block's front face (LiDAR frame, z up) from its points pooled over the sweeps
    of one stop. A LiDAR samples a small face along scan lines, so the points' centroid is biased toward
    the densest lines; the face's extent is not: height = the top edge (highest point: the top face or the
    top scan line) − ``edge_m``/2; across the ray = the midpoint of the 0.5/99.5 % extremes; along the ray
    = the median depth of the front-face points (between the top and bottom ``band_m`` bands)."""
    z = points[:, 2]
    top = np.percentile(z, 99.5)
    face = points[(z < top - band_m) & (z > top - edge_m + band_m)]
    if len(face) < 5:
        raise TargetNotFoundError(f"only {len(face)} LiDAR points on the reflector's front face")
    h = face[:, :2].mean(axis=0)
    h /= np.linalg.norm(h)
    lat = np.array([-h[1], h[0]])
    across = face[:, :2] @ lat
    c_lat = 0.5 * (np.percentile(across, 0.5) + np.percentile(across, 99.5))
    c_dep = float(np.median(face[:, :2] @ h))
    return np.array([*(c_dep * h + c_lat * lat), top - edge_m / 2])


def lidar_floor(xyz: np.ndarray) -> np.ndarray:
    """``(3, 3)`` covariance of :data:`LIDAR_FLOOR_M` at ``xyz`` (LiDAR frame)."""
    h = np.array([xyz[0], xyz[1], 0.0])
    h /= max(np.linalg.norm(h), 1e-9)
    B = np.stack([h, np.array([-h[1], h[0], 0.0]), np.array([0.0, 0.0, 1.0])], 1)
    return B @ np.diag(np.square(LIDAR_FLOOR_M)) @ B.T


def locate_in_lidar(p: np.ndarray, background: VoxelBackground, edge_m: float = 0.10) -> np.ndarray | None:
    """A one-sweep estimate of the reflector (mean of its points; for stop finding), or None."""
    pts = reflector_points(p, background, edge_m)
    return pts.mean(axis=0) if len(pts) >= 3 else None


# -- stops -------------------------------------------------------------------------------------------------------
@dataclass
class Stop:
    """A run of frames ``frames`` (indices into the detection arrays) with the target still; ``t0_ns`` and
    ``t1_ns`` its first and last timestamps; ``xyz`` the median position."""

    frames: np.ndarray
    t0_ns: int
    t1_ns: int
    xyz: np.ndarray

    @property
    def mid_ns(self) -> float:
        return 0.5 * (self.t0_ns + self.t1_ns)


def find_stops(t_ns: np.ndarray, xyz: np.ndarray, tol_m: float = 0.02, min_duration_s: float = 0.6,
               trim: int = 1, max_gap_s: float = 0.35) -> list[Stop]:
    """Runs of detections (NaN rows = none; a gap longer than ``max_gap_s`` ends a run) whose positions stay
    within ``tol_m`` of the run's median, lasting at least ``min_duration_s``; ``trim`` detections are dropped
    at each end (the target settling or starting to move)."""
    t_ns = np.asarray(t_ns, np.int64)
    xyz = np.asarray(xyz, float)
    valid = np.flatnonzero(np.all(np.isfinite(xyz), axis=1))
    t, x = t_ns[valid], xyz[valid]
    stops, i, n = [], 0, len(valid)
    while i < n:
        j = i + 1
        while j < n and (t[j] - t[j - 1]) / 1e9 <= max_gap_s:
            med = np.median(x[i:j + 1], axis=0)
            if np.max(np.linalg.norm(x[i:j + 1] - med, axis=1)) > tol_m:
                break
            j += 1
        if (t[j - 1] - t[i]) / 1e9 >= min_duration_s and j - i - 2 * trim >= 2:
            fr = valid[i + trim:j - trim]
            stops.append(Stop(fr, int(t_ns[fr[0]]), int(t_ns[fr[-1]]), np.median(xyz[fr], axis=0)))
            i = j
        else:
            i += 1
    return stops
