"""Radar → LiDAR (and radar → camera) extrinsics from a corner reflector held still at several positions.

Pipeline (arrays in, :class:`rfpose.rig_calibration.Calibration` out):

1. per sensor, the reflector's per-frame positions (radar: :func:`rfpose.calibration.reflector.peak_in_polar`
   or CFAR points; LiDAR: the reflector's points per sweep) → :func:`~rfpose.calibration.reflector.find_stops`;
2. per stop, one position and its covariance: radar = mean of the frames (covariance = their scatter / n,
   plus a floor); LiDAR = centre of the front face from the pooled points;
3. stops matched across sensors by time (:func:`match_stops`, robust to clock offsets up to ``max_offset_s``)
   and checked by the distances between stops (a rigid motion keeps them);
4. :func:`check_geometry` refuses sets that leave a degree of freedom undetermined;
5. :func:`rfpose.calibration.rigid.fit_rigid` (Kabsch start, robust least squares, covariance).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from rfpose.calibration.reflector import edge_bracketed_centre, face_centre, find_stops, lidar_floor
from rfpose.calibration.rigid import RigidFit, fit_rigid, kabsch, variance_factor
from rfpose.errors import CorrespondenceError, DegenerateCalibrationError, TargetNotFoundError
from rfpose.rig_calibration import Calibration, SensorCalibration, provenance

MIN_STOPS = 4  # a 6-DoF fit from 3 points is exact: one more leaves a residual to check it
MIN_HEIGHT_SPREAD_M = 0.15
MIN_PLANAR_SPREAD_M = 0.05  # the third singular value (RMS distance from the best plane)
#: a stop's radar covariance gets, on top of the frames' scatter, this fraction of a resolution cell per
#: spherical axis (range, sin azimuth, sin elevation): interpolation and clutter errors that averaging
#: frames cannot remove, which makes the weights (and the covariance) follow the radar's resolution
RADAR_FLOOR_FRACTION = 0.01
#: the elevation part of that floor is re-estimated from the fit's residuals (:func:`fit_radar_to`) within
#: these factors of its variance: down to a hundredth of the prior floor's standard deviation (0.01 % of a
#: cell, ~0.3 mm at 3 m on awr1843boost: a guard against a zero estimate, not a measured limit) and up to
#: three times it
ELEVATION_FACTOR_BOUNDS = (1e-4, 9.0)


@dataclass
class StopMeasurement:
    """One stop of one sensor: ``xyz`` (3,) m in the sensor frame, ``cov`` (3, 3), ``mid_ns`` its middle
    timestamp on the sensor's clock, ``frames`` how many frames it pooled."""

    xyz: np.ndarray
    cov: np.ndarray
    mid_ns: float
    t0_ns: int
    t1_ns: int
    frames: int
    elevation_floor: np.ndarray | None = None  # (3, 3) the radar's elevation floor, included in ``cov``

    def with_elevation_factor(self, factor: float) -> "StopMeasurement":
        """This stop with its elevation floor's variance scaled by ``factor`` (:func:`fit_radar_to`)."""
        if self.elevation_floor is None or factor == 1.0:
            return self
        return replace(self, cov=self.cov + (factor - 1.0) * self.elevation_floor,
                       elevation_floor=factor * self.elevation_floor)


def spherical_floor(xyz: np.ndarray, resolution: tuple[float, float, float],
                    fraction: float = RADAR_FLOOR_FRACTION, axes: tuple[int, ...] = (0, 1, 2)) -> np.ndarray:
    """``(3, 3)`` Cartesian covariance of ``fraction`` of a resolution cell (range m, sin az, sin el) at
    ``xyz``; an axis without resolution (inf) gets 1 m. ``axes``: which of the three contribute."""
    r = float(np.linalg.norm(xyz))
    d = xyz / r
    u_dir = np.array([-d[1], d[0], 0.0]) / max(np.hypot(d[0], d[1]), 1e-9)  # horizontal, across the ray
    v_dir = np.cross(d, u_dir)
    s = [fraction * resolution[0], r * min(1.0, fraction * resolution[1]), r * min(1.0, fraction * resolution[2])]
    B = np.stack([d, u_dir, v_dir], 1)[:, list(axes)]
    return B @ np.diag(np.square(s)[list(axes)]) @ B.T


def radar_stops(t_ns: np.ndarray, xyz: np.ndarray, resolution: tuple[float, float, float] = (0.04, 0.25, 1.0),
                tol_m: float = 0.03, min_duration_s: float = 0.6) -> list[StopMeasurement]:
    """Stops of the radar's per-frame reflector positions ``xyz`` (F, 3) (NaN = not found); ``resolution``:
    range (m), azimuth and elevation (sine) resolution of the radar (:func:`spherical_floor`)."""
    out = []
    for s in find_stops(t_ns, xyz, tol_m, min_duration_s):
        p = xyz[s.frames]
        n = len(p)
        m = p.mean(axis=0)
        cov = np.cov(p.T) / n + spherical_floor(m, resolution)
        out.append(StopMeasurement(m, cov, s.mid_ns, s.t0_ns, s.t1_ns, n, spherical_floor(m, resolution, axes=(2,))))
    return out


def lidar_stops(t_ns: np.ndarray, points: list[np.ndarray], edge_m: float = 0.10, tol_m: float = 0.03,
                min_duration_s: float = 0.6, around: list[np.ndarray] | None = None) -> list[StopMeasurement]:
    """Stops of the reflector in LiDAR sweeps (``points[i]``: its points in sweep i, sensor frame). With
    ``around[i]`` (every point of sweep i near the reflector, hits and the rays that passed it) the centre
    comes from :func:`~rfpose.calibration.reflector.edge_bracketed_centre`, else from the face's extent alone
    (:func:`~rfpose.calibration.reflector.face_centre`, with :data:`~rfpose.calibration.reflector.LIDAR_FLOOR_M`)."""
    xyz = np.array([p.mean(axis=0) if len(p) >= 3 else np.full(3, np.nan) for p in points])
    out = []
    for s in find_stops(t_ns, xyz, tol_m, min_duration_s):
        per = [points[i] for i in s.frames]
        c = face_centre(np.concatenate(per), edge_m)
        sigma = None
        if around is not None:
            c, sigma = edge_bracketed_centre(c, np.concatenate([around[i] for i in s.frames]), edge_m)
        # covariance of the centre from the spread of per-sweep centres (the faces' points move with noise)
        per_c = np.array([p.mean(axis=0) for p in per])
        cov = np.cov(per_c.T) / len(per) + (lidar_floor(c) if sigma is None else lidar_floor(c, sigma))
        out.append(StopMeasurement(c, cov, s.mid_ns, s.t0_ns, s.t1_ns, len(per)))
    return out


def match_stops(a: list[StopMeasurement], b: list[StopMeasurement], max_offset_s: float = 0.5,
                where: str = "") -> list[tuple[int, int]]:
    """Pairs ``(i, j)`` of stops of two sensors that are the same reflector position.

    The clocks may differ by up to ``max_offset_s``: every candidate offset (a stop of ``a`` against one of
    ``b``) is tried and the one pairing the most stops by time overlap wins; a tie between different
    pairings is ambiguous (:class:`CorrespondenceError`)."""
    if not a or not b:
        raise TargetNotFoundError(f"{where}: the reflector was never held still long enough "
                                  f"({len(a)} and {len(b)} stops found); hold it still ≥ 1 s per position")
    best: tuple[int, float, list] = (0, np.inf, [])
    for sa in a:
        for sb in b:
            off = sa.mid_ns - sb.mid_ns
            if abs(off) > max_offset_s * 1e9:
                continue
            pairs, cost = [], 0.0
            for i, x in enumerate(a):
                for j, y in enumerate(b):
                    lo, hi = max(x.t0_ns, y.t0_ns + off), min(x.t1_ns, y.t1_ns + off)
                    if hi > lo:
                        pairs.append((i, j))
                        cost += abs(x.mid_ns - y.mid_ns - off)
            if len(set(i for i, _ in pairs)) != len(pairs) or len(set(j for _, j in pairs)) != len(pairs):
                continue
            if len(pairs) > best[0] or (len(pairs) == best[0] and cost < best[1]):
                best = (len(pairs), cost, pairs)
    if not best[2]:
        raise CorrespondenceError(f"{where}: no consistent pairing of the reflector's stops between the sensors "
                                  f"within ±{max_offset_s} s")
    return best[2]


def check_geometry(xyz: np.ndarray, has_elevation: bool = True, where: str = "") -> None:
    """Refuse reflector positions (N, 3) in the radar frame that leave a degree of freedom undetermined."""
    n = len(xyz)
    if not has_elevation:
        raise DegenerateCalibrationError(
            f"{where}: the radar configuration resolves no elevation (one row of virtual antennas), so the "
            "reflector's height, and the radar's pitch and roll, are unobservable; enable the elevated TX "
            "antenna in channelCfg (or use a board with elevation) for this capture")
    if n < MIN_STOPS:
        raise DegenerateCalibrationError(f"{where}: {n} reflector positions; at least {MIN_STOPS} are needed "
                                         f"(better 8+): add positions at other ranges, azimuths and heights")
    if np.ptp(xyz[:, 2]) < MIN_HEIGHT_SPREAD_M:
        raise DegenerateCalibrationError(
            f"{where}: all reflector positions are at one height (spread {np.ptp(xyz[:, 2]) * 100:.1f} cm); the "
            f"radar's pitch and roll are undetermined: add positions {MIN_HEIGHT_SPREAD_M * 100:.0f}+ cm higher "
            "or lower")
    sv = np.linalg.svd(xyz - xyz.mean(axis=0), compute_uv=False) / np.sqrt(n)
    if sv[1] < MIN_PLANAR_SPREAD_M:
        raise DegenerateCalibrationError(f"{where}: the reflector positions lie on one line; add positions at "
                                         "other azimuths and heights")
    if sv[2] < MIN_PLANAR_SPREAD_M / 2:
        raise DegenerateCalibrationError(f"{where}: the reflector positions lie in one plane; add positions "
                                         "off it (other ranges or heights)")


def fit_radar_to(radar: list[StopMeasurement], other: list[StopMeasurement], pairs: list[tuple[int, int]],
                 has_elevation: bool = True, where: str = "", rounds: int = 8) -> RigidFit:
    """``T_radar_other`` from matched stops, each residual weighted by both sensors' stop covariances.

    The radar's elevation floor (a fraction of a resolution cell, :data:`RADAR_FLOOR_FRACTION`) is a prior
    guess at errors the frames' scatter does not show; how large they are decides the height and pitch,
    which only the radar's elevation measures well (a pitch of the other sensor about the stops barely
    changes their ranges and azimuths). So its variance factor is estimated from the residuals
    (:func:`rigid.variance_factor`, iterated with refits, within :data:`ELEVATION_FACTOR_BOUNDS`) and kept
    in ``fit.variance_factors["radar_elevation"]``; apply it to the radar's stops with
    :meth:`StopMeasurement.with_elevation_factor` wherever they are used again."""
    pr = np.array([radar[i].xyz for i, _ in pairs])
    po = np.array([other[j].xyz for _, j in pairs])
    check_geometry(pr, has_elevation, where)
    R0 = kabsch(po, pr)[:3, :3]
    Q = np.array([np.zeros((3, 3)) if radar[i].elevation_floor is None else radar[i].elevation_floor
                  for i, _ in pairs])
    rest = np.array([radar[i].cov + R0 @ other[j].cov @ R0.T for i, j in pairs]) - Q
    theta = 1.0
    fit = fit_rigid(po, pr, rest + Q)
    for _ in range(rounds if Q.any() else 0):
        new = float(np.clip(variance_factor(fit, po, rest, Q, theta), *ELEVATION_FACTOR_BOUNDS))
        done = abs(np.log(new / theta)) < 0.02
        theta = new
        fit = fit_rigid(po, pr, rest + theta * Q)
        if done:
            break
    fit.variance_factors["radar_elevation"] = theta
    # distances between stops are kept by a rigid motion: a large residual means a wrong pairing
    if fit.inliers.sum() < MIN_STOPS:
        raise CorrespondenceError(f"{where}: only {int(fit.inliers.sum())} of {len(pairs)} reflector positions agree "
                                  "between the sensors; another strong reflector or a person may be in the scene")
    return fit


def solve_radar_lidar(radar_t_ns: np.ndarray, radar_xyz: np.ndarray, lidar_t_ns: np.ndarray,
                      lidar_points: list[np.ndarray], radar_name: str = "radar", lidar_name: str = "lidar",
                      has_elevation: bool = True, resolution: tuple[float, float, float] = (0.04, 0.25, 1.0),
                      edge_m: float = 0.10, max_offset_s: float = 0.5, inputs: list[str] | None = None,
                      where: str = "", lidar_around: list[np.ndarray] | None = None) -> Calibration:
    """The LiDAR's pose in the radar frame from one reflector capture; a partial calibration (rig frame =
    the radar) whose LiDAR entry has the pose, the 6x6 covariance and the residuals. ``lidar_around``: per
    sweep, the points near the reflector (:func:`lidar_stops`)."""
    rs = radar_stops(radar_t_ns, radar_xyz, resolution)
    ls = lidar_stops(lidar_t_ns, lidar_points, edge_m, around=lidar_around)
    pairs = match_stops(rs, ls, max_offset_s, where)
    fit = fit_radar_to(rs, ls, pairs, has_elevation, where)
    res = {**fit.summary(), "stops_radar": len(rs), "stops_lidar": len(ls), "pairs": len(pairs),
           "covariance_frame": radar_name}
    return Calibration(radar_name, {radar_name: SensorCalibration(np.eye(4)),
                                    lidar_name: SensorCalibration(fit.T, residual=res, covariance=fit.covariance)},
                       provenance(inputs or [], "corner reflector radar-lidar", stops=[
                           {"radar_xyz": rs[i].xyz.tolist(), "lidar_xyz": ls[j].xyz.tolist()} for i, j in pairs]))


def chain(T_radar_lidar: np.ndarray, T_lidar_camera: np.ndarray) -> np.ndarray:
    """``T_radar_camera`` through the LiDAR."""
    return T_radar_lidar @ T_lidar_camera

