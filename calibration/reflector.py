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
``edge_m`` of that foreground; its reference point is the centre of its front face, from the face's extent
(:func:`face_centre`) and, per stop, from the rays that hit the target and those that passed it, with the
target's known size (:func:`edge_bracketed_centre`).

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


def _antennas_m(params, board) -> tuple[np.ndarray, np.ndarray]:
    """The configured TX (TDM order) and RX positions in the antenna plane, ``(n, 2)`` m (horizontal, vertical)."""
    half = params.wavelength_m / 2
    return board.tx_array()[list(params.tx_order)] * half, board.rx_array()[list(params.rx_channels)] * half


def phase_centre_m(params, board) -> np.ndarray:
    """``(3,)`` the virtual array's phase centre in the radar frame (m): the mean over the configured TX/RX
    pairs of the TX–RX midpoint. Ranges from the array's FFTs are measured from this point, not from the
    board's antenna origin (angles from :func:`angle_centre_m`)."""
    tx, rx = _antennas_m(params, board)
    c = 0.5 * (tx.mean(axis=0) + rx.mean(axis=0))
    return np.array([0.0, c[0], c[1]])


def angle_centre_m(params, board) -> np.ndarray:
    """``(3,)`` the point (radar frame, m) from which the angle FFTs measure directions at short range.

    A pair's path to a target at range R in direction u is |p−a| + |p−b| ≈ 2R − (a+b)·u + (|a|² + |b|²)/(2R)
    (TX at a, RX at b in the antenna plane). The FFT fits a linear phase over the virtual positions a+b; the
    quadratic term's best linear fit, (|a|² + |b|²)/2 ≈ g·(a+b) + c over the pairs, adds g/R to the
    direction cosines, i.e. the directions are those seen from the point g, not from the range's phase
    centre (:func:`phase_centre_m`). For a MIMO layout the two differ: mmwcas by (8.4, 9.4) mm (y, z), the
    awr1843boost by 3.2 mm in z (its elevated TX sits in the middle of the row) — constant offsets of every
    detection at 2–4.5 m, well inside the Fraunhofer distance (docs/calibration-radar.md)."""
    tx, rx = _antennas_m(params, board)
    a, b = np.repeat(tx, len(rx), axis=0), np.tile(rx, (len(tx), 1))
    v = a + b
    q = 0.5 * ((a ** 2).sum(axis=1) + (b ** 2).sum(axis=1))
    g = np.linalg.lstsq(np.c_[v, np.ones(len(v))], q, rcond=None)[0][:2]
    return np.array([0.0, g[0], g[1]])


def radar_point(range_m: float, sin_az: float, sin_el: float, range_centre: np.ndarray,
                angle_centre: np.ndarray) -> np.ndarray:
    """``(3,)`` radar-frame position of a detection at ``range_m`` from ``range_centre`` in the direction
    (``sin_az``, ``sin_el``) seen from ``angle_centre`` (:func:`phase_centre_m`, :func:`angle_centre_m`): the
    point on that ray whose distance from the range centre is the range."""
    d = direction_to_xyz(np.float64(1.0), np.float64(sin_az), np.float64(sin_el))
    w = angle_centre - range_centre
    s = -(w @ d) + np.sqrt(max(range_m ** 2 - w @ w + (w @ d) ** 2, 0.0))
    return angle_centre + s * d


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


#: 1-sigma of a stop's LiDAR estimate along the viewing ray, across it and vertically (m) from the face's points
#: alone: the scan lines sample the face's edges with gaps of a few mm to 4 cm at 2–4 m
LIDAR_FLOOR_M = (1e-3, 2e-3, 4e-3)
#: the simulator's reflector (``rfpose/sim/targets.py``): a block of depth 2/3 of its edge behind the front
#: face, the marker sheet 1 mm in front of it; the apex (the radar's reference) is the face's centre
REFLECTOR_DEPTH_FRACTION = 2 / 3
REFLECTOR_SHEET_M = 1e-3
#: which rays near the reflector hit it (range within this of the block's depth span: 3 sigma of a LiDAR's
#: 2 cm range noise) and which passed it (at least this far beyond its back)
HIT_MARGIN_M, MISS_BEYOND_M = 0.06, 0.25
#: 1-sigma added to an edge-bracketed centre's across and vertical axes (m): modelling error
EDGE_FLOOR_M = 1e-3


def face_centre(points: np.ndarray, edge_m: float = 0.10, band_m: float = 0.012) -> np.ndarray:
    """Centre of the reflector block's front face (LiDAR frame, z up) from its points pooled over the sweeps
    of one stop. A LiDAR samples a small face along scan lines, so the points' centroid is biased toward
    the densest lines; the face's extent is not: height = the top edge (highest point: the top face or the
    top scan line) − ``edge_m``/2; across the ray = the midpoint of the 0.5/99.5 % extremes; along the ray
    = the median depth of the front-face points (between the top and bottom ``band_m`` bands).

    The extent is only as good as the scan pattern near the edges: where no ray hits the face close to its
    top edge (a gap of up to 4 cm in the simulated rosette at 4 m), the centre comes out that much too low.
    :func:`edge_bracketed_centre` also uses the rays that passed the reflector."""
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


def edge_bracketed_centre(centre: np.ndarray, around: np.ndarray, edge_m: float = 0.10,
                          depth_m: float | None = None, sheet_m: float = REFLECTOR_SHEET_M,
                          iterations: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """The face's centre (LiDAR frame) and its 1-sigma ``(along, across, vertical)`` (m) from where rays hit
    the reflector and where they passed it, with the target's known size.

    ``centre``: a first estimate (:func:`face_centre`); ``around``: every point of the stop's sweeps within a
    cone around the reflector (``(n, 3)``, LiDAR frame), hits and the rays that went past it to the room
    behind. The reflector is an upright block, ``edge_m`` square face toward the rig, ``depth_m`` deep (default
    :data:`REFLECTOR_DEPTH_FRACTION` × edge) with a sheet ``sheet_m`` in front of the face. A ray is known
    without noise (its direction), only its range is noisy, so each ray is a segment through the block's depth
    span ``[d, d + depth]`` (d the face's depth along the horizontal viewing direction): a ray that **hit** the
    block has a point inside its cross-section, one that **passed** above (beside, below) has none. Each gives
    a bound on an edge, and the edges are the centre ± ``edge_m``/2: the top edge lies above the lowest point
    of every hit's segment and below the lowest point of every miss above; the bottom edge (hidden by the
    stand for hits) above the highest point of every miss below; the sides likewise, from the rays across the
    face's middle. The centre is the middle of the interval that all bounds leave, its 1-sigma that of a
    uniform distribution over it (+ :data:`EDGE_FLOOR_M`). An axis whose bounds do not close (no passing rays:
    nothing behind the target) or contradict each other keeps the first estimate with
    :data:`LIDAR_FLOOR_M`. Along the ray: the first estimate's median depth (the sheet), + ``sheet_m`` (the
    face behind it).

    Why: on the simulator the face's top scan line was up to 24 mm below the top edge (awr1843boost seed 1,
    4.1 m), which put 13 mm into the radar → LiDAR fit; with the bounds the vertical error is 2.4–3.2 mm RMS
    (docs/calibration-radar.md)."""
    a = float(edge_m)
    depth = a * REFLECTOR_DEPTH_FRACTION if depth_m is None else float(depth_m)
    p = np.asarray(around, float).reshape(-1, 3)
    h = np.array([centre[0], centre[1], 0.0])
    h /= np.linalg.norm(h)
    lat = np.array([-h[1], h[0], 0.0])
    d = float(centre @ h)
    pd = p @ h
    ok = pd > 1e-6
    p, pd = p[ok], pd[ok]
    hit = (pd > d - HIT_MARGIN_M) & (pd < d + depth + HIT_MARGIN_M)
    miss = pd > d + depth + MISS_BEYOND_M
    ends = [p * (x / pd)[:, None] for x in (d, d + depth)]  # each ray at the front and the back of the block
    l0, l1 = (q @ lat for q in ends)
    z0, z1 = (q[:, 2] for q in ends)
    lmin, lmax, zmin, zmax = np.minimum(l0, l1), np.maximum(l0, l1), np.minimum(z0, z1), np.maximum(z0, z1)
    c = np.array([float(centre @ lat), float(centre[2])])
    sigma = np.array(LIDAR_FLOOR_M[1:], float)

    def close(lo: list, hi: list, axis: int) -> None:
        lo_, hi_ = max(lo, default=-np.inf), min(hi, default=np.inf)
        if np.isfinite(lo_) and np.isfinite(hi_) and lo_ <= hi_:
            c[axis] = 0.5 * (lo_ + hi_)
            sigma[axis] = np.hypot((hi_ - lo_) / np.sqrt(12), EDGE_FLOOR_M)

    def ext(fn, x, m):  # [fn(x[m])], or nothing when no ray qualifies
        return [float(fn(x[m]))] if m.any() else []

    for _ in range(iterations):
        mid = np.abs(z0 - c[1]) < 0.3 * a  # rays across the face's middle: the sides
        hm, ml, mr = hit & mid, miss & mid & (l0 < c[0]), miss & mid & (l0 > c[0])
        close([x - a / 2 for x in ext(np.max, lmin, hm)] + [x + a / 2 for x in ext(np.max, lmax, ml)],
              [x + a / 2 for x in ext(np.min, lmax, hm)] + [x - a / 2 for x in ext(np.min, lmin, mr)], 0)
        inner = np.abs(l0 - c[0]) < 0.4 * a  # rays inside the sides: the top and bottom edges
        hi_, above, below = hit & inner, miss & inner & (z0 > c[1]), miss & inner & (z0 < c[1])
        close([x - a / 2 for x in ext(np.max, zmin, hi_)] + [x + a / 2 for x in ext(np.max, zmax, below)],
              [x - a / 2 for x in ext(np.min, zmin, above)], 1)
    xyz = (d + sheet_m) * h + c[0] * lat + np.array([0.0, 0.0, c[1]])
    return xyz, np.array([LIDAR_FLOOR_M[0], *sigma])


def lidar_floor(xyz: np.ndarray, sigma=LIDAR_FLOOR_M) -> np.ndarray:
    """``(3, 3)`` covariance at ``xyz`` (LiDAR frame) of the 1-sigma ``(along, across, vertical)`` (m;
    default :data:`LIDAR_FLOOR_M`): along the horizontal viewing direction, across it, vertical."""
    h = np.array([xyz[0], xyz[1], 0.0])
    h /= max(np.linalg.norm(h), 1e-9)
    B = np.stack([h, np.array([-h[1], h[0], 0.0]), np.array([0.0, 0.0, 1.0])], 1)
    return B @ np.diag(np.square(sigma)) @ B.T


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
