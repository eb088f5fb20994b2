"""Glue between recorded sessions, the preprocessing stage and the calibration solvers.

The calibration stage takes arrays (it imports no other stage); this module reads sessions, runs the radar
through :mod:`rfpose.preprocessing` (zero-Doppler polar tensors, CFAR points, range–Doppler energy) and
hands the results to :mod:`rfpose.calibration`. ``rfpose calibrate`` calls:

- :func:`radar_lidar_from_session` — radar → LiDAR extrinsics from a ``calibration-reflector`` capture;
- :func:`clock_offsets_from_session` — every stream's clock offset against the radar from a capture with a
  moving person (``walk``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from rfpose.errors import CalibrationError, CorrespondenceError, FormatError

log = logging.getLogger(__name__)

#: zero-padding of the calibration tensors: range ×2, azimuth 256 cells, elevation 64
RANGE_PAD, AZIMUTH_FFT, ELEVATION_FFT = 2, 256, 64


def _reader(session):
    from rfpose.session import SessionReader

    return session if hasattr(session, "stream") else SessionReader(session)


def _radar_params(stream):
    from rfpose.boards import get_board
    from rfpose.radar_config import parse_cfg, validate_cfg

    meta = stream.metadata
    if not meta.get("board") or not meta.get("cfg_text"):
        raise FormatError(f"{stream.where}: the radar stream has no board/cfg_text attrs")
    board = get_board(meta["board"])
    return validate_cfg(parse_cfg(meta["cfg_text"], f"{stream.where}/cfg_text"), board), board


@dataclass
class RadarTrack:
    """Per radar frame: ``timestamps_ns`` (F,), reflector ``xyz`` (F, 3) from the polar peak and ``cfar_xyz``
    (F, 3) from the strongest CFAR point (NaN where none or not computed), ``snr_db`` (F,); the radar's
    ``resolution`` (range m, sin azimuth, sin elevation; elevation inf if it has none) and whether it resolves
    elevation (``has_elevation``). Positions are in the radar frame (ranges from the phase centre, directions
    from the angle centre: :func:`rfpose.calibration.reflector.radar_point`)."""

    timestamps_ns: np.ndarray
    xyz: np.ndarray
    cfar_xyz: np.ndarray
    snr_db: np.ndarray
    resolution: tuple[float, float, float]
    has_elevation: bool
    range_m: np.ndarray | None = None  # (F,) the reflector's range in every frame, moving or not
    sample_ns: np.ndarray | None = None  # (F,) when each frame's data were taken: the middle of the chirping


def radar_reflector_track(session, stream: str | None = None, min_range_m: float = 0.8,
                          max_range_m: float = 6.0, cfar: bool = False, workers: int = 1,
                          window_bins: int = 8, range_pad: int = RANGE_PAD) -> RadarTrack:
    """Locate the corner reflector in every frame of a radar stream.

    Zero-Doppler range profiles of every virtual channel (range zero-padded ×2) minus their complex median
    over the capture (the static room; the reflector spends most of the capture elsewhere), then per frame
    the angle transforms (zero-padded to 256 × 64) on ``±window_bins`` range bins around the strongest
    range, and :func:`rfpose.calibration.reflector.peak_in_polar`. ``cfar`` also runs the CFAR point
    detector (static clutter kept) for comparison."""
    from rfpose.calibration.reflector import (angle_centre_m, peak_in_polar, phase_centre_m, radar_point,
                                              range_centroid, strongest_point)
    from rfpose.preprocessing.decode import decode_radar_words
    from rfpose.preprocessing.points import PointCloudConfig, PointCloudProcessor
    from rfpose.preprocessing.polar import PolarConfig, PolarProcessor

    r = _reader(session)
    name = stream or next((s for s in r.streams if r.kind(s) == "radar"), None)
    if name is None:
        raise CorrespondenceError(f"{r.path}: no radar stream")
    s = r.stream(name)
    params, board = _radar_params(s)
    L, T, R, N = params.frame_shape
    nfft = range_pad * N
    probe = PolarProcessor(params, board, PolarConfig(range_fft=nfft))
    dr = float(probe.axes.range_m[1] - probe.axes.range_m[0])
    crop = (max(1, int(min_range_m / dr) - window_bins), min(len(probe.axes.range_m), int(max_range_m / dr) + window_bins))
    has_el = probe.grid.n_el > 1
    proc = PolarProcessor(params, board, PolarConfig(
        range_fft=nfft, range_crop=crop, azimuth_fft=AZIMUTH_FFT, elevation_fft=ELEVATION_FFT if has_el else 1,
        clutter_removal=False, workers=workers))
    ax = proc.axes
    F = len(s)
    zero = L // 2  # the zero-Doppler bin after the shift
    rd, moving = [], []
    for i in range(0, F, 4):
        cube = proc.range_doppler_words(s.read_block(i, min(F, i + 4)))  # (f, D, T, R, Nr)
        rd.append(cube[:, zero].copy())
        p = cube.real ** 2 + cube.imag ** 2
        p[:, zero] = 0
        moving.append(p.sum(axis=(1, 2, 3)))
    rd = np.concatenate(rd)  # (F, T, R, Nr) zero Doppler
    bg = np.median(rd.real, axis=0) + 1j * np.median(rd.imag, axis=0)
    rd -= bg.astype(rd.dtype)
    prof = (rd.real ** 2 + rd.imag ** 2).sum(axis=(1, 2))  # (F, Nr) the static reflector
    total = prof + np.concatenate(moving)  # ... and the moving one
    centre, angles_from = phase_centre_m(params, board), angle_centre_m(params, board)
    xyz, snr = np.full((F, 3), np.nan), np.full(F, np.nan)
    gate = (ax.range_m >= min_range_m) & (ax.range_m <= max_range_m)
    for i in range(F):
        k = int(np.argmax(np.where(gate, prof[i], -np.inf)))
        a, b = max(0, k - window_bins), min(len(ax.range_m), k + window_bins + 1)
        cube = proc.angle(rd[i:i + 1, None, :, :, a:b])[0, 0]  # (range, az, el)
        pk = peak_in_polar(np.abs(cube) ** 2, ax.range_m[a:b], ax.sin_az, ax.sin_el, min_range_m, max_range_m)
        xyz[i], snr[i] = radar_point(pk.range_m, pk.sin_az, pk.sin_el, centre, angles_from), pk.snr_db
    cxyz = np.full((F, 3), np.nan)
    if cfar:
        pc = PointCloudProcessor(params, board, PointCloudConfig(clutter_removal=False, threshold_db=15.0),
                                 workers=workers)
        for i in range(F):
            pts = pc(decode_radar_words(s.read_block(i, i + 1)[0], params, board))
            still = np.abs(pts[:, 3]) < 0.05
            p = strongest_point(pts[still, :3], pts[still, 4], min_range_m, max_range_m)
            if p is not None:
                r_cfar = float(np.linalg.norm(p))
                cxyz[i] = radar_point(r_cfar, p[1] / r_cfar, p[2] / r_cfar, centre, angles_from)
    g = probe.grid
    res = (dr * range_pad, 2.0 / g.n_az, 2.0 / g.n_el if has_el else np.inf)
    rng = np.array([range_centroid(total[i], ax.range_m, gate) for i in range(F)])
    ts = np.asarray(s.timestamps_ns, np.int64)
    return RadarTrack(ts, xyz, cxyz, snr, res, has_el, rng, ts + int(round(params.active_chirping_s / 2 * 1e9)))


@dataclass
class LidarTrack:
    """Per LiDAR sweep: ``timestamps_ns`` (F,), the reflector's points (sensor frame) and their mean ``xyz``
    (F, 3), NaN where it was not found; ``around``: every point of the sweep within ``AROUND_M`` of the
    reflector's direction (hits and the rays that passed it, for
    :func:`rfpose.calibration.reflector.edge_bracketed_centre`)."""

    timestamps_ns: np.ndarray
    points: list
    xyz: np.ndarray
    sample_ns: np.ndarray | None = None  # (F,) the mean time of the reflector's points in each sweep
    around: list | None = None


#: radius (m, at the reflector's range) of the cone of rays kept around the reflector
AROUND_M = 0.2


def lidar_reflector_track(session, stream: str | None = None, edge_m: float = 0.10) -> LidarTrack:
    """Locate the reflector in every sweep of a LiDAR stream (background = voxels occupied in most sweeps)."""
    from rfpose.calibration.reflector import VoxelBackground, reflector_mask

    r = _reader(session)
    name = stream or next((s for s in r.streams if r.kind(s) == "lidar"), None)
    if name is None:
        raise CorrespondenceError(f"{r.path}: no LiDAR stream")
    s = r.stream(name)
    allp = s.read_points(0, len(s))
    off = s.point_offsets
    xyz_all = np.stack([allp["x"], allp["y"], allp["z"]], 1).astype(np.float64)
    sweeps = [xyz_all[off[i]:off[i + 1]] for i in range(len(s))]
    dt = np.asarray(allp["time_offset_ns"], np.float64)
    bg = VoxelBackground(sweeps)
    pts, around, xyz = [], [], np.full((len(s), 3), np.nan)
    sample = np.asarray(s.timestamps_ns, np.int64).copy()
    for i, p in enumerate(sweeps):
        m = reflector_mask(p, bg, edge_m)
        pts.append(p[m])
        around.append(p[:0])
        if m.sum() >= 3:
            xyz[i] = p[m].mean(axis=0)
            sample[i] += int(round(dt[off[i]:off[i + 1]][m].mean()))
            dist = float(np.linalg.norm(xyz[i]))
            cos = (p @ xyz[i]) / np.maximum(np.linalg.norm(p, axis=1) * dist, 1e-9)
            around[i] = p[cos > np.cos(np.arctan(AROUND_M / dist))]
    return LidarTrack(np.asarray(s.timestamps_ns, np.int64), pts, xyz, sample, around)


def reflector_tracks(session, radar: str | None = None, lidar: str | None = None, method: str = "polar",
                     edge_m: float = 0.10, workers: int = 1) -> tuple[RadarTrack, LidarTrack]:
    """The reflector located in every radar frame and LiDAR sweep of a ``calibration-reflector`` capture
    (:func:`radar_reflector_track`, :func:`lidar_reflector_track`); the radar is the expensive part, so the
    solvers below take these tracks instead of recomputing them."""
    r = _reader(session)
    radar = radar or next((s for s in r.streams if r.kind(s) == "radar"), None)
    lidar = lidar or next((s for s in r.streams if r.kind(s) == "lidar"), None)
    if radar is None:
        raise CorrespondenceError(f"{r.path}: no radar stream in the reflector capture")
    if lidar is None:
        raise CorrespondenceError(f"{r.path}: no LiDAR stream for the radar–LiDAR calibration")
    return (radar_reflector_track(r, radar, cfar=method == "cfar", workers=workers),
            lidar_reflector_track(r, lidar, edge_m))


def radar_lidar_from_session(session, radar: str | None = None, lidar: str | None = None, method: str = "polar",
                             edge_m: float = 0.10, workers: int = 1, clock: bool = True,
                             tracks: tuple[RadarTrack, LidarTrack] | None = None):
    """Radar → LiDAR extrinsics from one ``calibration-reflector`` capture: a partial
    :class:`rfpose.rig_calibration.Calibration` (rig frame = the radar) with the LiDAR's pose, residuals,
    covariance and per-axis uncertainty, and (``clock``) the LiDAR's clock offset from the reflector's moves
    (:func:`reflector_clock_offset`). ``method``: ``"polar"`` (interpolated tensor peak) or ``"cfar"``;
    ``tracks``: :func:`reflector_tracks` of this capture, if already computed."""
    from rfpose.calibration.radar_extrinsics import solve_radar_lidar

    r = _reader(session)
    radar = radar or next((s for s in r.streams if r.kind(s) == "radar"), None)
    lidar = lidar or next((s for s in r.streams if r.kind(s) == "lidar"), None)
    rt, lt = tracks or reflector_tracks(r, radar, lidar, method, edge_m, workers)
    calib = solve_radar_lidar(rt.timestamps_ns, rt.cfar_xyz if method == "cfar" else rt.xyz, lt.timestamps_ns,
                              lt.points, radar_name=radar, lidar_name=lidar, has_elevation=rt.has_elevation,
                              resolution=rt.resolution, edge_m=edge_m, inputs=[str(r.path)], where=str(r.path),
                              lidar_around=lt.around)
    if clock:  # the geometry stands without it: a capture whose moves do not pin the clock down keeps it
        try:
            e = reflector_clock_offset(rt, lt, calib.pose(lidar), where=f"{r.path}: clock offset of {lidar}")
        except CalibrationError as err:  # refused (DegenerateCalibrationError), or no usable motion at all
            log.warning("%s", err)
            calib.sensors[lidar].residual["clock"] = {"not_calibrated": str(err)}
        else:
            calib.sensors[lidar].clock_offset_ns = e.offset_ns
            calib.sensors[lidar].residual["clock"] = {**e.to_dict(), "via": radar, "signal": "reflector range"}
    return calib


def camera_marker_track(session, stream: str, progress=None):
    """The reflector's marker in every frame of a camera stream
    (:class:`rfpose.calibration.radar_camera.MarkerTrack`): the capture's median image (60 frames) is the
    room; :func:`rfpose.calibration.radar_camera.locate_marker` finds the checker among the changed pixels."""
    from rfpose.calibration.radar_camera import MarkerTrack, locate_marker

    r = _reader(session)
    s = r.stream(stream)
    F = len(s)
    step = max(1, F // 60)
    bg = np.median(np.stack([s[i].image.mean(-1) for i in range(0, F, step)]), axis=0).astype(np.float32)
    uv, contrast = np.full((F, 2), np.nan), np.zeros(F)
    for a in range(0, F, 32):
        imgs = s.read_block(a, min(F, a + 32)).mean(-1).astype(np.float32)
        for j, img in enumerate(imgs):
            found = locate_marker(img, bg)
            if found is not None:
                uv[a + j], contrast[a + j] = found
        if progress is not None:
            progress.update(len(imgs))
    return MarkerTrack(np.asarray(s.timestamps_ns, np.int64), uv, contrast)


def radar_camera_from_session(session, calib, tracks: tuple[RadarTrack, LidarTrack], cameras: list[str] | None = None,
                              max_offset_s: float = 0.5, progress=None):
    """Every camera of a reflector capture against the radar, from the marker on the reflector: its clock
    offset (the marker's pixels against the LiDAR's reflector track projected into the image, chained through
    the LiDAR's offset; against the radar's own track when there is no LiDAR) and the direct radar → camera
    pose (:func:`rfpose.calibration.radar_camera.solve_radar_camera`).

    ``calib``: what is known so far, rig frame = the radar (the LiDAR's pose and clock from
    :func:`radar_lidar_from_session`; cameras' intrinsics and, when a board capture gave one, the pose chained
    through the LiDAR — the fit starts there and the result is compared with it). Returns a partial
    :class:`rfpose.rig_calibration.Calibration` (rig frame = the radar): per camera the clock offset, the
    direct fit in ``residual["radar_camera_direct"]`` (and as the pose when no chained one exists), and the
    fits themselves ``{camera: RadarCameraFit}``."""
    from rfpose.calibration.radar_camera import (marker_clock_offset, marker_stops, solve_radar_camera,
                                                 trigger_clock_offset)
    from rfpose.calibration.radar_extrinsics import radar_stops
    from rfpose.errors import TargetNotFoundError
    from rfpose.rig_calibration import Calibration, SensorCalibration, invert, pose_error, provenance

    r = _reader(session)
    rt, lt = tracks
    radar = calib.rig_frame
    cameras = cameras if cameras is not None else [s for s in r.streams if r.kind(s) == "camera"]
    lidar = next((s for s in r.streams if r.kind(s) == "lidar"), None)
    T_rig_radar = np.asarray(r.stream(radar).metadata.get("extrinsics", np.eye(4)), float)
    # the radar's prior floor, not the elevation factor the radar -> LiDAR fit estimated: that factor was
    # estimated against the LiDAR's stops, and this fit (radar + pixels, no LiDAR) is the independent check
    rs = radar_stops(rt.timestamps_ns, rt.xyz, rt.resolution)
    sensors, fits = {}, {}
    geo = {}  # camera -> (K, dist, chained pose or None, start pose, marker track)
    for cam in cameras:
        s = r.stream(cam)
        known = calib.sensors.get(cam)
        K = known.K if known is not None and known.K is not None else np.asarray(s.metadata["intrinsics"], float)
        dist = (known.dist if known is not None and known.dist is not None
                else np.asarray(s.metadata.get("distortion", np.zeros(5)), float))
        chained = known.T_rig_sensor if known is not None else None
        T0 = chained if chained is not None else invert(T_rig_radar) @ np.asarray(s.metadata["extrinsics"], float)
        track = camera_marker_track(r, cam, progress)
        if track.found < 10:
            raise TargetNotFoundError(f"{r.path}: {cam}: the reflector's marker was found in {track.found} of {len(s)} "
                                      "frames; the reflector capture needs the marker facing the camera at every "
                                      "position")
        geo[cam] = (K, dist, chained, T0, track)
    # clocks: against the LiDAR's reflector track (then + the LiDAR's offset), else the radar's; cameras on one
    # hardware trigger (stream attr "trigger") get one offset from their pooled signals
    if lidar is not None and lidar in calib.sensors and calib.sensors[lidar].clock_offset_ns is not None:
        ref_t, ref_xyz, T_ref, base, via = (lt.sample_ns, lt.xyz, invert(calib.pose(lidar)),
                                            calib.sensors[lidar].clock_offset_ns, lidar)
    else:
        ref_t, ref_xyz, T_ref, base, via = rt.sample_ns, rt.xyz, np.eye(4), 0, radar
    groups: dict[str, list[str]] = {}
    for cam in cameras:
        groups.setdefault(r.stream(cam).metadata.get("trigger") or f"\0{cam}", []).append(cam)
    clocks = {}
    for trig, cams in groups.items():
        K, dist, _, T0, track = zip(*(geo[c] for c in cams))
        if len(cams) == 1:
            e = marker_clock_offset(track[0], ref_t, ref_xyz, T_ref @ T0[0], K[0], dist[0], max_offset_s,
                                    where=f"{r.path}: {cams[0]}: clock offset")
        else:
            e = trigger_clock_offset(list(track), ref_t, ref_xyz, [T_ref @ T for T in T0], list(K), list(dist),
                                     max_offset_s, where=f"{r.path}: {', '.join(cams)} (trigger {trig!r}): clock offset")
        for c in cams:
            clocks[c] = (e, {**e.to_dict(), "via": via, "signal": "reflector marker pixels"} |
                         ({"trigger": trig, "cameras": cams} if len(cams) > 1 else {}))
    for cam in cameras:
        where = f"{r.path}: {cam}"
        K, dist, chained, T0, track = geo[cam]
        e, clock = clocks[cam]
        offset = e.offset_ns + base
        shifted = type(track)(track.timestamps_ns + offset, track.uv, track.contrast)
        fit = solve_radar_camera(rs, marker_stops(shifted), K, dist, T0, rt.has_elevation, max_offset_s=0.2,
                                 where=where)
        direct = {**fit.summary(), "T_rig_sensor": fit.T.tolist(), "covariance": fit.covariance.tolist(),
                  "covariance_frame": radar}
        if chained is not None:
            dt, dr = pose_error(fit.T, chained)
            direct["agreement_with_chained"] = {"trans_mm": dt * 1e3, "rot_deg": dr}
        fits[cam] = fit
        sensors[cam] = SensorCalibration(
            None if chained is not None else fit.T, int(offset),
            covariance=None if chained is not None else fit.covariance,
            residual={"radar_camera_direct": direct, "clock": clock})
    part = Calibration(radar, sensors, provenance([str(r.path)], "reflector marker: direct radar -> camera, camera clocks"))
    return part, fits


def joint_from_tracks(tracks: tuple[RadarTrack, LidarTrack], calib, fits: dict, boards: dict, target, cfg,
                      edge_m: float = 0.10, where: str = ""):
    """Refine radar → LiDAR, every LiDAR → camera and radar → camera at once
    (:func:`rfpose.calibration.joint.joint_refine`) from the reflector capture's tracks and the board solves.

    ``calib``: the merged calibration so far (rig frame = the radar: the LiDAR's pose, the cameras' intrinsics
    and chained poses); ``fits``: the direct radar → camera fits ``{camera: RadarCameraFit}`` of this capture
    (their stop pairs and inliers); ``boards``: ``{camera: LidarCameraResult}`` (board poses, LiDAR board points);
    ``target``, ``cfg``: the board and the LiDAR → camera configuration those were solved with. Returns a
    partial :class:`rfpose.rig_calibration.Calibration` (rig frame = the radar) whose LiDAR and camera poses and
    covariances are the joint ones, the separate estimates and their agreement kept in ``residual["joint"]``,
    and the :class:`~rfpose.calibration.joint.JointFit`."""
    from rfpose.calibration.joint import CameraTerms, PointObservations, joint_refine
    from rfpose.calibration.lidar_camera import board_problem
    from rfpose.calibration.radar_extrinsics import fit_radar_to, lidar_stops, match_stops, radar_stops
    from rfpose.rig_calibration import Calibration, SensorCalibration, provenance

    rt, lt = tracks
    radar = calib.rig_frame
    lidar = next(iter(boards.values())).lidar
    rs = radar_stops(rt.timestamps_ns, rt.xyz, rt.resolution)
    ls = lidar_stops(lt.timestamps_ns, lt.points, edge_m, around=lt.around)
    pairs = match_stops(rs, ls, where=where)
    sep = fit_radar_to(rs, ls, pairs, rt.has_elevation, where)
    rs = [s.with_elevation_factor(sep.variance_factors["radar_elevation"]) for s in rs]
    lp = [(i, j) for (i, j), ok in zip(pairs, sep.inliers) if ok]

    def obs(index, stops, d=3):
        return PointObservations(np.asarray(index), np.array([s.xyz[:d] for s in stops]),
                                 np.array([s.cov[:d, :d] for s in stops]))

    radar_obs = obs(range(len(rs)), rs)
    lidar_obs = obs([i for i, _ in lp], [ls[j] for _, j in lp])
    cams = {}
    for cam, fit in fits.items():
        if cam not in boards or calib.sensors.get(cam) is None or calib.sensors[cam].K is None:
            continue
        b, known = boards[cam], calib.sensors[cam]
        k = fit.inliers
        problem = board_problem(b.poses, known.K, known.dist, target, cfg)
        cams[cam] = CameraTerms(known.K, known.dist, PointObservations(fit.radar_index[k], fit.uv[k], fit.uv_cov[k]),
                                problem, b.T_lidar_cam, [p.T_cam_board for p in b.poses])
    if not cams:
        return None, None
    T_rl0 = calib.pose(lidar)
    j = joint_refine(radar_obs, lidar_obs, T_rl0, cams, where)
    joint_rl = {**{k: v for k, v in j.residual.items() if k not in cams},
                "separate": {"T_rig_sensor": T_rl0.tolist(), "change": _change(j.T_radar_lidar, T_rl0)}}
    sensors = {lidar: SensorCalibration(j.T_radar_lidar, covariance=j.cov_radar_lidar,
                                        residual={"covariance_frame": radar, "joint": joint_rl})}
    for cam in cams:
        chained = calib.pose(cam)
        joint_c = {**j.residual[cam], "T_lidar_cam": j.T_lidar_cam[cam].tolist(),
                   "covariance_lidar_cam": j.cov_lidar_cam[cam].tolist(), "covariance_lidar_cam_frame": lidar,
                   "chained_separate": {"T_rig_sensor": chained.tolist(), "change": _change(j.T_radar_cam[cam], chained)},
                   "direct_separate": {"T_rig_sensor": fits[cam].T.tolist(),
                                       "change": _change(j.T_radar_cam[cam], fits[cam].T)},
                   "direct_vs_chained_separate": _change(fits[cam].T, chained)}
        sensors[cam] = SensorCalibration(j.T_radar_cam[cam], covariance=j.cov_radar_cam[cam],
                                         residual={"covariance_frame": radar, "joint": joint_c})
    return Calibration(radar, sensors, provenance(
        [where] if where else [], "joint radar-lidar-camera refinement (reflector stops, marker pixels, board corners/ranges/edges)")), j


def _change(T: np.ndarray, T_ref: np.ndarray) -> dict:
    from rfpose.rig_calibration import pose_error

    dt, dr = pose_error(T, T_ref)
    return {"trans_mm": dt * 1e3, "rot_deg": dr}


def reflector_clock_offset(rt: RadarTrack, lt: LidarTrack, T_radar_lidar: np.ndarray, max_offset_s: float = 0.5,
                           where: str = ""):
    """The LiDAR's clock offset against the radar from the reflector's range while it is carried between
    positions (a sharper, better-localised motion than a walking person): the radar's range of the strongest
    return (moving or not) against the range of the LiDAR's reflector points in the radar frame, each at the
    time its data were taken (:func:`rfpose.calibration.clock.estimate_offset`)."""
    from rfpose.calibration.clock import estimate_offset

    rl = np.linalg.norm(lt.xyz @ T_radar_lidar[:3, :3].T + T_radar_lidar[:3, 3], axis=1)
    return estimate_offset(rt.sample_ns, rt.range_m, lt.sample_ns, rl, max_offset_s, where=where,
                           advice="the reflector's moves, as both sensors saw them, do not fix it: carry the reflector "
                                  "briskly between positions in view of both sensors, or give a walk capture for "
                                  "this clock")


# -- clock offsets -------------------------------------------------------------------------------------------------
@dataclass
class MotionSignal:
    """A stream's view of a moving person: per frame ``timestamps_ns`` (F,) — on the stream's clock, when the
    frame's data were taken (radar: the middle of the chirping; LiDAR: the mean time of the person's points in
    the sweep; camera: the frame's timestamp) — and ``range_m``, ``azimuth_rad`` (F,) of the person in the
    rig frame (nominal extrinsics), NaN where nobody moved."""

    timestamps_ns: np.ndarray
    range_m: np.ndarray
    azimuth_rad: np.ndarray


def _rig_polar(p_rig: np.ndarray) -> tuple[float, float]:
    return float(np.linalg.norm(p_rig)), float(np.arctan2(p_rig[1], p_rig[0]))


def radar_motion(session, stream: str, workers: int = 1) -> MotionSignal:
    """Range and azimuth of the moving returns (CFAR points with |v| ≥ 0.15 m/s, static clutter removed),
    power-weighted."""
    from rfpose.preprocessing.decode import decode_radar_words
    from rfpose.preprocessing.points import PointCloudConfig, PointCloudProcessor

    r = _reader(session)
    s = r.stream(stream)
    params, board = _radar_params(s)
    pc = PointCloudProcessor(params, board, PointCloudConfig(), workers=workers)
    T = np.asarray(s.metadata.get("extrinsics", np.eye(4)), float)
    F = len(s)
    rng, az = np.full(F, np.nan), np.full(F, np.nan)
    for i in range(F):
        pts = pc(decode_radar_words(s.read_block(i, i + 1)[0], params, board))
        m = np.abs(pts[:, 3]) >= 0.15
        if m.sum() < 2:
            continue
        w = 10 ** (pts[m, 4] / 10)
        c = (w[:, None] * pts[m, :3]).sum(0) / w.sum()
        rng[i], az[i] = _rig_polar(T[:3, :3] @ c + T[:3, 3])
    mid = int(round(params.active_chirping_s / 2 * 1e9))
    return MotionSignal(np.asarray(s.timestamps_ns, np.int64) + mid, rng, az)


def lidar_motion(session, stream: str) -> MotionSignal:
    """Range and azimuth of the centroid of the foreground (non-background voxel) points of each sweep."""
    from rfpose.calibration.reflector import VoxelBackground

    r = _reader(session)
    s = r.stream(stream)
    allp = s.read_points(0, len(s))
    off = s.point_offsets
    xyz = np.stack([allp["x"], allp["y"], allp["z"]], 1).astype(np.float64)
    dt = np.asarray(allp["time_offset_ns"], np.float64)
    sweeps = [xyz[off[i]:off[i + 1]] for i in range(len(s))]
    bg = VoxelBackground(sweeps, voxel_m=0.1, min_fraction=0.3)
    T = np.asarray(s.metadata.get("extrinsics", np.eye(4)), float)
    F = len(s)
    ts = np.asarray(s.timestamps_ns, np.int64).copy()
    rng, az = np.full(F, np.nan), np.full(F, np.nan)
    for i, p in enumerate(sweeps):
        fg = bg.foreground(p, dilate=0)
        if fg.sum() < 20:
            continue
        rng[i], az[i] = _rig_polar(T[:3, :3] @ p[fg].mean(0) + T[:3, 3])
        ts[i] += int(round(dt[off[i]:off[i + 1]][fg].mean()))
    return MotionSignal(ts, rng, az)


def camera_motion(session, stream: str, threshold: int = 25, min_pixels: int = 150) -> MotionSignal:
    """Azimuth of the moving blob (pixels differing from the capture's median image) through the nominal
    intrinsics and extrinsics; no range (NaN)."""
    r = _reader(session)
    s = r.stream(stream)
    F = len(s)
    step = max(1, F // 60)
    bg = np.median(np.stack([s[i].image.mean(-1) for i in range(0, F, step)]), axis=0)
    K = np.asarray(s.metadata["intrinsics"], float)
    T = np.asarray(s.metadata.get("extrinsics", np.eye(4)), float)
    az = np.full(F, np.nan)
    for a in range(0, F, 32):
        imgs = s.read_block(a, min(F, a + 32)).mean(-1)
        for j, img in enumerate(imgs):
            m = np.abs(img - bg) > threshold
            if m.sum() < min_pixels:
                continue
            v, u = np.nonzero(m)
            ray = np.linalg.solve(K, [u.mean(), v.mean(), 1.0])
            d = T[:3, :3] @ ray
            az[a + j] = np.arctan2(d[1], d[0])
    return MotionSignal(np.asarray(s.timestamps_ns, np.int64), np.full(F, np.nan), az)


def motion_signal(session, stream: str, workers: int = 1) -> MotionSignal:
    r = _reader(session)
    kind = r.kind(stream)
    if kind == "radar":
        return radar_motion(r, stream, workers)
    if kind == "lidar":
        return lidar_motion(r, stream)
    if kind == "camera":
        return camera_motion(r, stream)
    raise CorrespondenceError(f"{r.path}/streams/{stream}: no motion signal for a {kind!r} stream")


def clock_offsets_from_session(session, reference: str | None = None, max_offset_s: float = 0.5, workers: int = 1,
                               known=None):
    """Every stream's clock offset against the radar ``reference`` from a capture with a walking person: a
    partial :class:`rfpose.rig_calibration.Calibration` (rig frame = the reference) with ``clock_offset_ns``
    per stream. Radars and LiDARs are aligned on the person's range, cameras on their azimuth — against the
    first LiDAR if there is one (then chained to the radar: its azimuth is the smoother signal), else the
    reference radar. ``known``: a calibration whose clock offsets are kept (e.g. the LiDAR's from the
    reflector capture, :func:`radar_lidar_from_session`, which is more precise than a walker's)."""
    from rfpose.calibration.clock import estimate_offset
    from rfpose.rig_calibration import Calibration, SensorCalibration, provenance

    r = _reader(session)
    reference = reference or (known.rig_frame if known is not None else None) or \
        next((s for s in r.streams if r.kind(s) == "radar"), None)
    if reference is None:
        raise CorrespondenceError(f"{r.path}: no radar stream to take the clock from")
    if known is not None and known.rig_frame != reference:
        raise CorrespondenceError(f"{r.path}: the known calibration's clocks are against {known.rig_frame!r}, "
                                  f"not the reference {reference!r}")
    sig = {reference: motion_signal(r, reference, workers)}
    ref = sig[reference]
    sensors = {reference: SensorCalibration(clock_offset_ns=0)}
    lidars = [s for s in r.streams if r.kind(s) == "lidar"]
    order = sorted((s for s in r.streams if s != reference), key=lambda s: r.kind(s) == "camera")
    for name in order:
        kind = r.kind(name)
        if kind not in ("radar", "lidar", "camera"):
            continue
        if known is not None and name in known.sensors and known.sensors[name].clock_offset_ns is not None:
            sig[name] = motion_signal(r, name, workers)
            sensors[name] = SensorCalibration(clock_offset_ns=known.clock_offset_ns(name),
                                              residual={"clock": {"from": "known calibration"}})
            continue
        sig[name] = m = motion_signal(r, name, workers)
        where = f"{r.path}: clock offset of {name}"
        if kind == "camera" and lidars and lidars[0] in sensors:
            base = lidars[0]
            e = estimate_offset(sig[base].timestamps_ns, sig[base].azimuth_rad, m.timestamps_ns, m.azimuth_rad,
                                max_offset_s, where=where)
            off = e.offset_ns + sensors[base].clock_offset_ns
            via = base
        else:
            key = "azimuth_rad" if kind == "camera" else "range_m"
            e = estimate_offset(ref.timestamps_ns, getattr(ref, key), m.timestamps_ns, getattr(m, key),
                                max_offset_s, where=where)
            off, via = e.offset_ns, reference
        sensors[name] = SensorCalibration(clock_offset_ns=int(off), residual={"clock": {**e.to_dict(), "via": via}})
    return Calibration(reference, sensors, provenance([str(r.path)], "motion cross-correlation clock offsets"))
