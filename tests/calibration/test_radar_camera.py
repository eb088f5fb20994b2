"""Direct radar → camera from the reflector's marker, on synthetic inputs with known answers: the marker
located in rendered images to a fraction of a pixel, the errors-in-variables fit and its covariance, the
camera clock from the marker's moves, and every degenerate input's typed error."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from rfpose.calibration.radar_camera import (MarkerTrack, _project, fit_radar_camera, locate_marker, marker_clock_offset,
                                             marker_stops, solve_radar_camera)
from rfpose.calibration.radar_extrinsics import StopMeasurement
from rfpose.errors import CorrespondenceError, DegenerateCalibrationError, TargetNotFoundError
from rfpose.rig_calibration import pose_error

K = np.array([[520.0, 0, 322.0], [0, 519.0, 236.0], [0, 0, 1]])
DIST = np.array([-0.08, 0.02, 5e-4, -3e-4, 0.0])
#: camera → radar: the camera looks along the radar's x (rig convention: x forward, y left, z up)
R_CAM = np.array([[0, 0, 1], [-1, 0, 0], [0, -1, 0]], float)


def camera_pose(rotvec=(0.01, -0.02, 0.015), t=(0.02, 0.07, 0.1)):
    T = np.eye(4)
    T[:3, :3] = Rotation.from_rotvec(rotvec).as_matrix() @ R_CAM
    T[:3, 3] = t
    return T


def positions(rng, n=10):
    r, az, z = rng.uniform(1.8, 4.5, n), np.radians(rng.uniform(-30, 30, n)), rng.uniform(-0.35, 0.45, n)
    return np.stack([r * np.cos(az), r * np.sin(az), z], 1)


def to_pixels(T, xyz):
    pc = (xyz - T[:3, 3]) @ T[:3, :3]
    return _project(K, DIST, pc)


def checker_image(uv, size_px=20.0, shape=(240, 320), background=None):
    """A 2 x 2 checker centred at ``uv`` (area-sampled: 16 x 16 samples per pixel) on a grey room."""
    img = np.full(shape, 120.0) if background is None else background.copy()
    v, u = np.mgrid[0:shape[0], 0:shape[1]]
    sub = (np.arange(16) + 0.5) / 16 - 0.5
    acc = np.zeros(shape)
    for du in sub:
        for dv in sub:
            x, y = u + du - uv[0], v + dv - uv[1]
            inside = (np.abs(x) < size_px / 2) & (np.abs(y) < size_px / 2)
            white = (x >= 0) ^ (y >= 0)
            acc += np.where(inside, np.where(white, 255.0, 0.0), img)
    return acc / 256


@pytest.mark.parametrize("uv", [(150.3, 100.7), (51.55, 200.2), (260.9, 37.45)])
def test_the_marker_is_located_to_a_fraction_of_a_pixel(uv):
    """cornerSubPix on a sharp checker: within 0.15 px (on the simulator's renders: median 0.05–0.08 px)."""
    bg = np.full((240, 320), 120.0)
    found = locate_marker(checker_image(uv), bg)
    assert found is not None
    assert np.max(np.abs(found[0] - uv)) < 0.15, found
    assert locate_marker(bg, bg) is None  # nothing moved: no marker


def test_a_static_checker_is_not_the_marker():
    room = checker_image((100.0, 100.0))  # a checker in the room itself, in the background image too
    assert locate_marker(room, room) is None


def stops_of(xyz_or_uv, covs, t0=0.0, dwell=1.3, move=0.6):
    out = []
    for i, (x, c) in enumerate(zip(xyz_or_uv, covs)):
        a = t0 + i * (dwell + move)
        x3 = np.array([*x, 0.0]) if len(x) == 2 else np.asarray(x, float)
        c3 = np.eye(3)
        c3[:len(x), :len(x)] = c
        out.append(StopMeasurement(x3, c3, (a + dwell / 2) * 1e9, int(a * 1e9), int((a + dwell) * 1e9), 13))
    return out


def radar_noise(rng, xyz, sig=np.array([1e-3, 2e-3, 6e-3])):
    return xyz + rng.normal(0, 1, xyz.shape) * sig, np.broadcast_to(np.diag(sig ** 2), (len(xyz), 3, 3))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_direct_fit_recovers_the_pose_and_its_covariance_is_honest(seed):
    rng = np.random.default_rng(seed)
    T = camera_pose(rng.normal(0, 0.02, 3), rng.normal(0, 0.1, 3))
    T0 = camera_pose((0.0, 0.0, 0.0), (0.0, 0.06, 0.1))  # the tape-measured start: a few cm and degrees off
    errs, stds = [], []
    for _ in range(20):
        xyz = positions(rng)
        uv = to_pixels(T, xyz) + rng.normal(0, 0.1, (len(xyz), 2))
        meas, cov = radar_noise(rng, xyz)
        fit = fit_radar_camera(meas, cov, uv, np.broadcast_to(np.eye(2) * 0.01, (len(xyz), 2, 2)), K, DIST, T0)
        errs.append(fit.T[:3, 3] - T[:3, 3])
        stds.append(np.sqrt(np.diag(fit.covariance))[3:])
        dt, dr = pose_error(fit.T, T)
        # a camera measures bearings: its rotation is tied to the translation the radar's mm give (σ_t / range)
        rot_std = np.degrees(np.sqrt(np.diag(fit.covariance)[:3]))
        assert dt < 0.02 and dr < 4 * np.linalg.norm(rot_std), (dt, dr, rot_std)
    ratio = np.array(errs).std(axis=0) / np.array(stds).mean(axis=0)
    assert np.all((ratio > 0.3) & (ratio < 2.0)), ratio


def test_direct_fit_drops_a_stop_the_camera_and_radar_disagree_on():
    rng = np.random.default_rng(4)
    T = camera_pose()
    xyz = positions(rng, 10)
    uv = to_pixels(T, xyz) + rng.normal(0, 0.1, (10, 2))
    uv[3] += (25.0, -10.0)  # the detector caught something else at one stop
    meas, cov = radar_noise(rng, xyz)
    fit = fit_radar_camera(meas, cov, uv, np.broadcast_to(np.eye(2) * 0.01, (10, 2, 2)), K, DIST, camera_pose((0, 0, 0)))
    assert not fit.inliers[3] and fit.inliers.sum() == 9
    dt, dr = pose_error(fit.T, T)
    assert dt < 0.04 and dr < 0.6  # 1σ here: (2.5, 3.9, 12) mm, 0.2° (the radar's 6 mm vertical noise)
    uv[:6] += rng.normal(0, 40, (6, 2))  # most stops disagree: refused, not fitted
    with pytest.raises(CorrespondenceError, match="agree"):
        fit_radar_camera(meas, cov, uv, np.broadcast_to(np.eye(2) * 0.01, (10, 2, 2)), K, DIST, camera_pose((0, 0, 0)))


def test_degenerate_marker_inputs_get_typed_errors():
    rng = np.random.default_rng(5)
    T = camera_pose()
    xyz = positions(rng, 10)
    meas, cov = radar_noise(rng, xyz)
    radar = stops_of(meas, cov)
    pix = np.broadcast_to(np.eye(2) * 0.01, (10, 2, 2))
    uv = to_pixels(T, xyz)
    with pytest.raises(TargetNotFoundError, match="marker was never seen"):
        solve_radar_camera(radar, [], K, DIST, T)
    # the marker seen at only 3 of the 10 positions (out of the image, or turned away, at the others)
    with pytest.raises(DegenerateCalibrationError, match="3 of the radar's 10"):
        solve_radar_camera(radar, stops_of(uv[:3], pix[:3]), K, DIST, T)
    # every position at one height: pitch and roll undetermined
    flat = xyz.copy()
    flat[:, 2] = 0.1
    with pytest.raises(DegenerateCalibrationError, match="one height"):
        solve_radar_camera(stops_of(flat, cov), stops_of(to_pixels(T, flat), pix), K, DIST, T)
    fit = solve_radar_camera(radar, stops_of(uv, pix), K, DIST, camera_pose((0, 0, 0)))
    assert fit.extra["pairs"] == 10 and pose_error(fit.T, T)[0] < 0.04


@pytest.mark.parametrize("offset_s", [-0.17, 0.043, 0.2])
def test_camera_clock_from_the_marker_moves(offset_s):
    """A reflector moved stop-and-go, tracked in 3-D at 10 Hz and by the camera at 30 Hz with its own clock:
    the offset comes back within a millisecond."""
    rng = np.random.default_rng(6)
    T = camera_pose()
    xyz = positions(rng, 8)

    def at(t):  # smoothstep moves of 0.6 s between 1.3 s rests
        k = np.clip(np.floor(t / 1.9).astype(int), 0, 6)
        s = np.clip((t - k * 1.9 - 1.3) / 0.6, 0, 1)
        s = s * s * (3 - 2 * s)
        return (1 - s)[:, None] * xyz[k] + s[:, None] * xyz[k + 1]

    t_ref = np.arange(0.05, 14.0, 0.1)
    t_cam = np.arange(0.0, 14.0, 1 / 30)
    ref = at(t_ref) + rng.normal(0, 2e-3, (len(t_ref), 3))
    uv = to_pixels(T, at(t_cam)) + rng.normal(0, 0.1, (len(t_cam), 2))
    track = MarkerTrack(((t_cam - offset_s) * 1e9).astype(np.int64), uv, np.full(len(t_cam), 100.0))
    e = marker_clock_offset(track, (t_ref * 1e9).astype(np.int64), ref, T, K, DIST)
    assert abs(e.offset_ns / 1e9 - offset_s) < 1e-3, e
    assert len(marker_stops(track)) >= 6


def test_cameras_on_one_trigger_share_one_clock_offset():
    """Two cameras on one hardware trigger (10 Hz, 2 ms stamping jitter each, 0.3 px marker noise, a frame the
    second one drops): one offset for the pair, over 12 draws no worse than the two cameras' separate ones on
    average (the stamping jitter and pixel noise average out; the reference's noise is common to both)."""
    from rfpose.calibration.radar_camera import trigger_clock_offset

    rng = np.random.default_rng(11)
    T_left = camera_pose()
    T_right = camera_pose(t=(0.02, -0.05, 0.1))
    xyz = positions(rng, 8)

    def at(t):
        k = np.clip(np.floor(t / 1.9).astype(int), 0, 6)
        s = np.clip((t - k * 1.9 - 1.3) / 0.6, 0, 1)
        s = s * s * (3 - 2 * s)
        return (1 - s)[:, None] * xyz[k] + s[:, None] * xyz[k + 1]

    t_ref = np.arange(0.05, 14.0, 0.1)
    t_cam = np.arange(0.0, 14.0, 0.1)
    err = {"left": [], "right": [], "pair": []}
    for offset_s in rng.uniform(-0.2, 0.2, 12):
        ref = at(t_ref) + rng.normal(0, 2e-3, (len(t_ref), 3))
        tracks = []
        for T, drop in ((T_left, None), (T_right, 40)):
            uv = to_pixels(T, at(t_cam)) + rng.normal(0, 0.3, (len(t_cam), 2))
            stamps = ((t_cam - offset_s + rng.normal(0, 2e-3, len(t_cam))) * 1e9).astype(np.int64)
            keep = np.arange(len(t_cam)) != drop
            tracks.append(MarkerTrack(stamps[keep], uv[keep], np.full(keep.sum(), 100.0)))
        t_ref_ns = (t_ref * 1e9).astype(np.int64)
        for name, tr, T in (("left", tracks[0], T_left), ("right", tracks[1], T_right)):
            err[name].append(marker_clock_offset(tr, t_ref_ns, ref, T, K, DIST).offset_ns / 1e9 - offset_s)
        e = trigger_clock_offset(tracks, t_ref_ns, ref, [T_left, T_right], [K, K], [DIST, DIST])
        err["pair"].append(e.offset_ns / 1e9 - offset_s)
    rms = {k: float(np.sqrt(np.mean(np.square(v)))) for k, v in err.items()}
    assert rms["pair"] < 2e-3, rms
    assert rms["pair"] <= 0.5 * (rms["left"] + rms["right"]), rms  # the reference's noise is common to both


def test_a_reflector_capture_whose_camera_never_sees_the_marker_is_refused(small_walk):
    """A camera that never shows the reflector's marker: a one-line typed error naming the capture and camera."""
    from rfpose.app.calibration_inputs import LidarTrack, RadarTrack, radar_camera_from_session
    from rfpose.rig_calibration import Calibration, SensorCalibration
    from rfpose.session import SessionReader

    r = SessionReader(small_walk)
    ts = np.asarray(r.stream("radar").timestamps_ns, np.int64)
    nan = np.full((len(ts), 3), np.nan)
    rt = RadarTrack(ts, nan, nan, np.full(len(ts), np.nan), (0.04, 0.25, 1.0), True, np.full(len(ts), np.nan), ts)
    lt = LidarTrack(ts, [np.zeros((0, 3))] * len(ts), nan, ts)
    calib = Calibration("radar", {"radar": SensorCalibration(np.eye(4))})
    with pytest.raises(TargetNotFoundError, match=r"walk.zarr: cam_left: the reflector's marker was found in [0-9] of 8 frames"):
        radar_camera_from_session(r, calib, (rt, lt), ["cam_left"])


def test_simulated_cameras_declare_their_shared_trigger(small_walk):
    """The simulator's cameras share one trigger (one clock): their streams say so."""
    from rfpose.session import SessionReader

    r = SessionReader(small_walk)
    assert r.stream("cam_left").metadata["trigger"] == r.stream("cam_right").metadata["trigger"]
