"""Lifting, time alignment, swap repair, gaps and two people, on the simulator's skeletons projected through a
calibrated stereo rig (no rendering: the 2D input is exact or exact plus known noise)."""

import warnings

import numpy as np
import pytest

from rfpose.annotation.detect import CameraDetections
from rfpose.annotation.lidar_depth import _rotate_z_to
from rfpose.annotation.lift import lift
from rfpose.annotation.pipeline import FLAG_CROWD, AnnotateParams, annotate
from rfpose.annotation.refine import (bone_lengths, enforce_bone_lengths, flip_index, repair_swaps, resample,
                                      smooth_least_squares, smooth_one_euro, smooth_savgol)
from rfpose.annotation.rig import CameraCalib, RigView
from rfpose.sim.camera import R_RIG_CAM_FORWARD, CameraModel
from rfpose.sim.rig import transform
from rfpose.sim.scenarios import build_rig
from rfpose.skeletons import get_skeleton

EPOCH = 1_790_000_000_000_000_000
CAM_HZ, RADAR_HZ = 30.0, 10.0


def _cameras(offset_ns=0, baseline=0.6):
    m = CameraModel()
    return [CameraCalib(nm, m.K, np.array(m.distortion), transform(R_RIG_CAM_FORWARD, (0.0, y, 0.1)), m.width,
                        m.height, offset_ns) for nm, y in (("cam_left", baseline / 2), ("cam_right", -baseline / 2))]


def _truth(scenario="walk", seed=11, seconds=3.0, people=None):
    rig = build_rig(scenario, seed=seed, num_frames=int(seconds * RADAR_HZ), people=people, camera=False,
                    lidar=False)
    t = np.arange(0, seconds, 1 / CAM_HZ)
    return rig, t, rig.world.joints(t)  # (T, P, 15, 3)


def _detections(cams, t_s, joints, offset_ns=0, noise_px=0.0, seed=0):
    rng = np.random.default_rng(seed)
    out = {}
    for c in cams:
        uv, z = c.project(joints)
        uv = uv + rng.normal(0, noise_px, uv.shape) if noise_px else uv
        ts = (EPOCH + np.round(t_s * 1e9)).astype(np.int64) + offset_ns
        conf = np.where(z > 0, 1.0, 0.0)
        out[c.name] = CameraDetections(c.name, "rtpose15", ts, uv, conf, np.full(uv.shape[:-1] + (3,), np.nan),
                                       {"name": "synthetic"})
    return out


def _rig(cams):
    return RigView("radar", 0, 0, cams, [], {"source": "test"})


def _radar_times(seconds):
    return (EPOCH + np.round(np.arange(0.05, seconds - 0.05, 1 / RADAR_HZ) * 1e9)).astype(np.int64)


def _truth_at(rig, times_ns):
    return rig.world.joints((times_ns - EPOCH) * 1e-9)


def _views(cams, X):
    """Each camera's rotation and translation from the radar, its focal length (px) and ``X``'s pixels."""
    R = np.stack([c.T_cam_radar[:3, :3] for c in cams])
    t = np.stack([c.T_cam_radar[:3, 3] for c in cams])
    f = np.array([c.K[0, 0] for c in cams])
    return R, t, f, np.stack([c.project(X)[0] for c in cams])


def _mpjpe_mm(a, b):
    return float(np.nanmean(np.linalg.norm(a - b, axis=-1)) * 1000)


def test_triangulation_exact_and_noisy_2d():
    cams = _cameras()
    _, _, J = _truth(seconds=1.0)
    X = J[:, 0]
    R, t, f, uv = _views(cams, X)
    xn = np.stack([c.normalise(u) for c, u in zip(cams, uv)])
    res = lift(R, t, f, xn, np.ones(xn.shape[:-1]))
    assert _mpjpe_mm(res.joints, X) < 0.5  # exact 2D (through distortion and its inverse) -> sub-mm
    noisy = uv + np.random.default_rng(1).normal(0, 2.0, uv.shape)
    xn = np.stack([c.normalise(u) for c, u in zip(cams, noisy)])
    res = lift(R, t, f, xn, np.ones(xn.shape[:-1]))
    err = _mpjpe_mm(res.joints, X)
    # stereo depth σ = z²·σ_disparity/(f·b), σ_disparity = 2√2 px; the 3D error is dominated by it
    z = cams[0].project(X)[1]
    expected = float(np.mean(z**2 * 2 * np.sqrt(2) / (f[0] * 0.6)) * np.sqrt(2 / np.pi) * 1000)
    assert 0.6 * expected < err < 1.4 * expected
    # an independent computation: OpenCV's (unweighted) DLT on the same points; refining by reprojection
    # error must not do worse
    cv2 = pytest.importorskip("cv2")
    P = [c.T_cam_radar[:3] for c in cams]
    h = cv2.triangulatePoints(P[0], P[1], xn[0].reshape(-1, 2).T, xn[1].reshape(-1, 2).T)
    X_cv = (h[:3] / h[3]).T.reshape(X.shape)
    assert err <= 1.02 * _mpjpe_mm(X_cv, X)
    assert np.all(res.views == 2) and np.nanmedian(res.reproj_px) < 3


def test_one_camera_with_depth_is_back_projection():
    cam = _cameras()[0]
    _, _, J = _truth(seconds=0.5)
    X = J[:, 0]
    uv, z = cam.project(X)
    res = lift(cam.T_cam_radar[None, :3, :3], cam.T_cam_radar[None, :3, 3], cam.K[None, 0, 0],
               cam.normalise(uv)[None], np.ones((1,) + uv.shape[:-1]), depth=z, depth_sigma=np.full(z.shape, 0.03))
    assert _mpjpe_mm(res.joints, X) < 0.5
    no_depth = lift(cam.T_cam_radar[None, :3, :3], cam.T_cam_radar[None, :3, 3], cam.K[None, 0, 0],
                    cam.normalise(uv)[None], np.ones((1,) + uv.shape[:-1]))
    assert np.isnan(no_depth.joints).all()  # one ray, no depth: not solvable, never guessed


def test_bone_lengths_move_a_lifted_joint_along_its_camera_ray():
    """One camera + depth: a wrist whose depth is uncertain (σ 15 cm, the others 3 cm) and 8 cm too far along
    its ray goes back along that ray to its bone length; an isotropic weight moves it along the bone instead."""
    cam = _cameras()[0]
    _, _, J = _truth(seconds=0.5)
    X = J[:, 0]
    uv, z = cam.project(X)
    wrist = get_skeleton("rtpose15").index("l_wrist")
    depth_sigma = np.full(z.shape, 0.03)
    depth_sigma[:, wrist] = 0.15
    res = lift(cam.T_cam_radar[None, :3, :3], cam.T_cam_radar[None, :3, 3], cam.K[None, 0, 0],
               cam.normalise(uv)[None], np.ones((1,) + uv.shape[:-1]), depth=z, depth_sigma=depth_sigma)
    np.testing.assert_allclose(res.sigma_m, np.sqrt(np.einsum("tjii->tj", res.cov_m2)))
    ray = X[:, wrist] - np.linalg.inv(cam.T_cam_radar)[:3, 3]
    ray /= np.linalg.norm(ray, axis=-1, keepdims=True)
    bad = res.joints.copy()
    bad[:, wrist] += 0.08 * ray
    lengths = bone_lengths(X, np.ones(len(X)))
    along = enforce_bone_lengths(bad, res.cov_m2, lengths)
    iso = enforce_bone_lengths(bad, res.sigma_m[..., None, None] ** 2 * np.eye(3), lengths)
    moved = along[:, wrist] - bad[:, wrist]
    assert (np.linalg.norm(np.cross(moved, ray), axis=-1) < 0.1 * np.linalg.norm(moved, axis=-1)).all()
    err_along, err_iso = (np.linalg.norm(Y[:, wrist] - X[:, wrist], axis=-1) for Y in (along, iso))
    assert err_along.max() < 0.03 and (err_along < err_iso / 2).all()


def test_a_joint_missing_in_one_camera_is_solved_from_the_other_and_its_depth():
    cams = _cameras()
    _, _, J = _truth(seconds=0.5)
    X = J[:, 0]
    R, t, f, uv = _views(cams, X)
    z = cams[0].project(X)[1]
    xn = np.stack([c.normalise(u) for c, u in zip(cams, uv)])
    xn[1, :, :7] = np.nan  # the right camera misses the first seven joints
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        res = lift(R, t, f, xn, np.ones(xn.shape[:-1]), depth=z, depth_sigma=np.full(z.shape, 0.03))
    assert np.isfinite(res.joints).all()
    assert np.all(res.views[:, :7] == 1) and np.all(res.views[:, 7:] == 2)
    assert _mpjpe_mm(res.joints[:, :7], X[:, :7]) < 0.5
    assert np.isnan(res.reproj_px[1, :, :7]).all()


def test_robust_over_views_downweights_a_wrong_camera():
    cams = _cameras() + [_cameras(baseline=1.2)[0]]
    _, _, J = _truth(seconds=0.5)
    X = J[:, 0]
    R, t, f, uv = _views(cams, X)
    uv[2] += 40.0  # the third camera's detections are 40 px off
    xn = np.stack([c.normalise(u) for c, u in zip(cams, uv)])
    plain = lift(R, t, f, xn, np.ones(xn.shape[:-1]), iters=1)
    robust = lift(R, t, f, xn, np.ones(xn.shape[:-1]))
    assert _mpjpe_mm(robust.joints, X) < 0.5 * _mpjpe_mm(plain.joints, X)


@pytest.mark.parametrize("offset_ms", [37.0, -52.0])
def test_time_alignment_with_an_injected_clock_offset(offset_ms):
    off = int(offset_ms * 1e6)
    seconds = 3.0
    rig_sim, t, J = _truth(seconds=seconds)
    radar_t = _radar_times(seconds)
    truth = _truth_at(rig_sim, radar_t)[:, 0]
    params = AnnotateParams(smoothing="none", bone_lengths=False)
    aligned = annotate(_rig(_cameras(offset_ns=off)), _detections(_cameras(), t, J, offset_ns=off), radar_t,
                       params=params)
    ignored = annotate(_rig(_cameras(offset_ns=0)), _detections(_cameras(), t, J, offset_ns=off), radar_t,
                       params=params)
    ok = np.isfinite(aligned.joints[:, 0]).all(axis=(1, 2))
    assert ok.mean() > 0.9
    e_aligned = _mpjpe_mm(aligned.joints[ok, 0], truth[ok])
    e_ignored = _mpjpe_mm(ignored.joints[ok, 0], truth[ok])
    assert e_aligned < 5.0  # linear interpolation between 30 Hz frames of a walking person
    assert e_ignored > 3 * e_aligned  # walking ~1 m/s: 40-50 mm off without the offset


def test_swapped_frames_are_repaired():
    seconds = 2.0
    rig_sim, t, J = _truth(seconds=seconds)
    cams = _cameras()
    dets = _detections(cams, t, J)
    flip = flip_index("rtpose15")
    bad = [10, 11, 25, 40]
    d = dets["cam_left"]
    d.keypoints[bad] = d.keypoints[bad][:, :, flip]
    kp, conf, swapped = repair_swaps(d.keypoints[:, 0], d.confidence[:, 0])
    assert set(np.flatnonzero(swapped)) == set(bad)
    radar_t = _radar_times(seconds)
    ann = annotate(_rig(cams), dets, radar_t, params=AnnotateParams(smoothing="none", bone_lengths=False))
    assert ann.stats["swaps_repaired"] == len(bad)
    assert _mpjpe_mm(ann.joints[:, 0], _truth_at(rig_sim, radar_t)[:, 0]) < 5.0


def test_a_gap_is_left_nan_not_interpolated():
    seconds = 3.0
    rig_sim, t, J = _truth(seconds=seconds)
    cams = _cameras()
    dets = _detections(cams, t, J)
    gap = (t > 1.2) & (t < 1.5)  # 300 ms without detections (person lost)
    for d in dets.values():
        d.keypoints[gap] = np.nan
        d.confidence[gap] = 0
    radar_t = _radar_times(seconds)
    ann = annotate(_rig(cams), dets, radar_t, params=AnnotateParams(max_gap_ms=100))
    tt = (radar_t - EPOCH) * 1e-9
    inside = (tt > 1.2 + 1 / CAM_HZ) & (tt < 1.5 - 1 / CAM_HZ)
    assert inside.any() and np.isnan(ann.joints[inside]).all()
    assert not ann.labelled[inside].any()
    outside = (tt < 1.1) | (tt > 1.6)
    assert np.isfinite(ann.joints[outside, 0]).all()
    # resample() itself: never across a gap longer than the limit
    v = resample(np.array([0, 100, 300]), np.array([0.0, 1.0, 3.0]), np.array([50, 200, 300, 301]), 150)
    assert v[0] == 0.5 and np.isnan(v[1]) and v[2] == 3.0 and np.isnan(v[3])


def test_a_joint_both_cameras_rate_hidden_takes_its_depth_from_the_shape():
    """Without a LiDAR, a knee both cameras guess (pixels pushed apart: 1.5 m of false depth, confidence 0.2) is
    placed by the detector's 3D shape anchored on the triangulated torso; the seen joints stay where they are."""
    seconds = 2.0
    rig_sim, t, J = _truth(seconds=seconds)
    cams = _cameras(baseline=1.2)  # the wide pair: the torso's triangulated depth is an anchor to a few cm
    dets = _detections(cams, t, J)
    X_cam = J[:, 0] @ cams[0].T_cam_radar[:3, :3].T + cams[0].T_cam_radar[:3, 3]
    knee = get_skeleton("rtpose15").joints.index("l_knee")
    ray = X_cam[:, 0] / np.linalg.norm(X_cam[:, 0], axis=-1, keepdims=True)
    # the exact shape as MediaPipe gives it: pelvis at 0, axes of a camera looking straight at the person
    shape = np.einsum("tji,tkj->tki", _rotate_z_to(ray), X_cam - X_cam[:, :1])
    for sign, d in zip((1, -1), dets.values()):
        d.world[:, 0] = shape
        d.keypoints[:, 0, knee, 0] += sign * 40.0
        d.confidence[:, 0, knee] = 0.2
    radar_t = _radar_times(seconds)
    truth = _truth_at(rig_sim, radar_t)[:, 0]
    errs = {}
    for on in (False, True):
        ann = annotate(_rig(cams), dets, radar_t, params=AnnotateParams(shape_without_lidar=on, smoothing="none"))
        errs[on] = np.linalg.norm(ann.joints[:, 0] - truth, axis=-1)
    assert np.nanmean(errs[False][:, knee]) > 1.0
    assert np.nanmean(errs[True][:, knee]) < 0.1  # the row's σ: the shape's 8 cm and the anchor's in quadrature
    others = np.arange(15) != knee  # exact there; without the shape the bone lengths spread the knee's error
    assert np.nanmean(errs[True][:, others]) < 0.002 < np.nanmean(errs[False][:, others])
    # a 12 cm pair's torso depth is metres uncertain: the shape is not anchored on it, nothing changes
    cams = _cameras(baseline=0.12)
    dets = _detections(cams, t, J)
    for d in dets.values():
        d.world[:, 0] = shape
    on, off = (annotate(_rig(cams), dets, radar_t, params=AnnotateParams(shape_without_lidar=v)) for v in (True, False))
    np.testing.assert_array_equal(on.joints, off.joints)


def test_two_people_keep_their_identities():
    seconds = 3.0
    rig_sim, t, J = _truth("two-people", seed=5, seconds=seconds)
    assert J.shape[1] == 2
    cams = _cameras()
    dets = _detections(cams, t, J, noise_px=1.0)
    rng = np.random.default_rng(3)
    for d in dets.values():  # the detector lists people in any order, independently per camera and frame
        for i in range(len(t)):
            if rng.random() < 0.5:
                d.keypoints[i, :2] = d.keypoints[i, [1, 0]]
                d.confidence[i, :2] = d.confidence[i, [1, 0]]
    radar_t = _radar_times(seconds)
    ann = annotate(_rig(cams), dets, radar_t)
    truth = _truth_at(rig_sim, radar_t)
    ok = np.isfinite(ann.joints).all(axis=(1, 2, 3))
    assert ok.mean() > 0.8
    # one fixed assignment of tracks to people must hold for every frame
    e_same = _mpjpe_mm(ann.joints[ok], truth[ok])
    e_cross = _mpjpe_mm(ann.joints[ok][:, ::-1], truth[ok])
    assert min(e_same, e_cross) < 60 and max(e_same, e_cross) > 500
    per_frame = np.linalg.norm(ann.joints[ok] - (truth[ok] if e_same < e_cross else truth[ok][:, ::-1]), axis=-1)
    assert per_frame.mean(axis=(1, 2)).max() < 0.2  # no frame with swapped identities


def test_single_person_detector_flags_identity_jumps():
    seconds = 2.0
    rig_sim, t, J = _truth("two-people", seed=5, seconds=seconds)
    cams = _cameras()
    one = J[:, :1].copy()
    one[len(t) // 2:] = J[len(t) // 2:, 1:2]  # a one-person detector switches to the other person midway
    dets = _detections(cams, t, one)
    radar_t = _radar_times(seconds)
    ann = annotate(_rig(cams), dets, radar_t, single_person_detector=True)
    assert ann.stats["identity_jumps"] >= 1
    flagged = np.flatnonzero(ann.flags & FLAG_CROWD)
    switch = (radar_t - EPOCH) * 1e-9
    assert len(flagged) and np.all(np.abs(switch[flagged] - t[len(t) // 2]) < 0.25)


def test_smoothing_lowers_acceleration_error():
    rig_sim, t, J = _truth(seconds=3.0)
    X = J[:, 0]
    noisy = X + np.random.default_rng(0).normal(0, 0.02, X.shape)
    ts = (t * 1e9).astype(np.int64)

    def accel_err(Y):
        return np.nanmean(np.linalg.norm(np.diff(Y, 2, axis=0) - np.diff(X, 2, axis=0), axis=-1))

    for Y in (smooth_savgol(noisy), smooth_one_euro(noisy, ts)):
        assert accel_err(Y) < 0.5 * accel_err(noisy)
    assert _mpjpe_mm(smooth_savgol(noisy), X) < _mpjpe_mm(noisy, X)
    w = np.ones(X.shape[:2])
    for iters in (0, 4):
        ls = smooth_least_squares(noisy, w, ts, 1e-4, robust_iters=iters)
        assert accel_err(ls) < 0.2 * accel_err(noisy)  # -80 %
        assert _mpjpe_mm(ls, X) < 0.7 * _mpjpe_mm(noisy, X)


def test_least_squares_trajectory_is_the_penalised_solution():
    """The banded solve equals the dense normal equations (D = second differences, weights, λ/dt⁴), a gap
    splits the track, and a frame with a tiny weight follows its neighbours."""
    rng = np.random.default_rng(1)
    n, dt = 12, 1 / 30
    X = rng.normal(size=(n, 1, 3))
    w = rng.uniform(0.2, 1.0, (n, 1))
    ts = np.round(np.arange(n) * dt * 1e9).astype(np.int64)
    D = np.diff(np.eye(n), 2, axis=0)
    dense = np.linalg.solve(np.diag(w[:, 0]) + 2e-4 / dt**4 * D.T @ D, w[:, 0, None] * X[:, 0])
    np.testing.assert_allclose(smooth_least_squares(X, w, ts, 2e-4)[:, 0], dense, atol=1e-6)
    gap = X.copy()
    gap[5] = np.nan
    out = smooth_least_squares(gap, w, ts, 2e-4)
    assert np.isnan(out[5]).all() and np.isfinite(out[:5]).all() and np.isfinite(out[6:]).all()
    line = np.linspace(0, 1, n)[:, None, None] * np.ones((1, 1, 3))
    spike = line.copy()
    spike[6] += 0.5
    ws = np.ones((n, 1))
    ws[6] = 1e-6
    np.testing.assert_allclose(smooth_least_squares(spike, ws, ts, 1e-3)[6], line[6], atol=1e-3)


def test_landmark_correction_moves_blazepose_hips_onto_the_joint_centres():
    """BlazePose's hips sit below the skeleton's hip centres and its shoulders inside the skeleton's
    (measured on training sessions): the correction moves the hips up the torso by the tabled fraction,
    recomputes the pelvis, spreads the shoulders about their midpoint, leaves other detectors alone."""
    from rfpose.annotation.detectors import LANDMARK_SHIFT, LANDMARK_SPREAD, correct_landmarks
    from rfpose.skeletons import get_skeleton

    J = get_skeleton("rtpose15").joints
    kp = np.zeros((15, 2))
    kp[J.index("thorax")] = (0.0, 0.0)
    kp[J.index("r_hip")], kp[J.index("l_hip")] = (-10.0, 100.0), (10.0, 100.0)
    kp[J.index("pelvis")] = (0.0, 100.0)
    for knee, ankle in (("r_knee", "r_ankle"), ("l_knee", "l_ankle")):
        kp[J.index(knee)], kp[J.index(ankle)] = (0.0, 150.0), (0.0, 200.0)
    kp[J.index("r_shoulder")], kp[J.index("r_elbow")] = (-20.0, 0.0), (-20.0, 40.0)
    kp[J.index("l_shoulder")], kp[J.index("l_elbow")] = (20.0, 0.0), (20.0, 40.0)
    out = correct_landmarks(kp, "blazepose33")
    hip = LANDMARK_SHIFT["blazepose33"]["r_hip"][2]
    np.testing.assert_allclose(out[J.index("r_hip")], (-10.0, 100.0 - hip * 100.0))
    np.testing.assert_allclose(out[J.index("pelvis")], (0.0, 100.0 - hip * 100.0))
    ankle = LANDMARK_SHIFT["blazepose33"]["l_ankle"][2]
    np.testing.assert_allclose(out[J.index("l_ankle")], (0.0, 200.0 - ankle * 100.0))  # further down the shank
    assert out[J.index("l_elbow"), 1] > 40.0
    spread = LANDMARK_SPREAD["blazepose33"][("l_shoulder", "r_shoulder")]
    np.testing.assert_allclose(out[[J.index("r_shoulder"), J.index("l_shoulder")]], [(-20 * spread, 0), (20 * spread, 0)])
    np.testing.assert_array_equal(out[J.index("thorax")], (0.0, 0.0))  # the pair's midpoint stays
    np.testing.assert_array_equal(correct_landmarks(kp, "rtpose15"), kp)


def _walk_with_lidar(seconds: float, seed: int = 11):
    """A simulated walk and its LiDAR points (:class:`LidarCloud`, rig frame, on the true clock)."""
    from rfpose.annotation.lidar_depth import LidarCloud

    rig = build_rig("walk", seed=seed, num_frames=int(seconds * RADAR_HZ), camera=False)
    src = rig.sources["lidar"]
    frames = [src[i] for i in range(len(src))]
    pts = np.concatenate([f.points for f in frames])
    t = np.concatenate([np.full(len(f.points), (f.timestamp_ns - EPOCH)) for f in frames])
    # sweeps on the true clock (the test's rig has no clock offset to calibrate away: remove it here)
    t = t + pts["time_offset_ns"].astype(np.int64) - int(round(rig.lidars[0].clock.clock_offset_s * 1e9))
    xyz = np.stack([pts["x"], pts["y"], pts["z"]], -1).astype(float) @ rig.lidars[0].T_rig_sensor[:3, :3].T \
        + rig.lidars[0].T_rig_sensor[:3, 3]
    order = np.argsort(t)
    return rig, LidarCloud(xyz[order], (t[order] + EPOCH).astype(np.int64))


@pytest.mark.parametrize("noise_px", [0.0, 2.0])
def test_one_camera_and_lidar_against_truth(noise_px):
    """One camera + the simulator's LiDAR (ray-cast sweeps of the moving body): joints the LiDAR sees are
    placed from their surface depth plus the surface-to-joint offset. Exact 2D: the visible joints within a
    few cm of the truth; noisy 2D (2 px): within the lateral error that noise adds. The LiDAR's sampling of
    the surface and the fixed surface-to-joint offsets are what is left with exact 2D."""
    seconds = 1.5
    rig, cloud = _walk_with_lidar(seconds)
    t_cam = np.arange(0.1, seconds - 0.1, 1 / CAM_HZ)
    J = rig.world.joints(t_cam)
    cams = _cameras()[:1]
    det = _detections(cams, t_cam, J, noise_px=noise_px)
    times = _radar_times(seconds)[1:-1]
    ann = annotate(_rig(cams), det, times, cloud, AnnotateParams(smoothing="none", landmark_correction=False))
    truth = _truth_at(rig, times)[:, 0]
    err = np.linalg.norm(ann.joints[:, 0] - truth, axis=-1)
    assert np.isfinite(err).mean() > 0.9
    torso = [0, 1, 4, 7]  # pelvis, hips, thorax: seen by the LiDAR on a walking person
    # measured: medians 26-52 mm per joint (the right hip, seen edge-on, is the worst), 35 mm overall
    assert np.nanmedian(err[:, torso]) < (0.045 if noise_px == 0 else 0.055), np.nanmedian(err[:, torso], 0)


def test_oriented_offsets_place_the_pelvis_from_the_trunks_orientation():
    """The pelvis lies further behind the surface the LiDAR sees in profile than facing the camera (the hips are
    wider than deep). Given the detector's 3D shape (here the true one, in MediaPipe's convention: camera axes
    looking straight at the person), the orientation is read from it and the pelvis's depth error falls."""
    from rfpose.annotation.lidar_depth import (LidarDepthParams, _rotate_z_to, facing_cos2, joint_depths,
                                               shape_on_ray)

    seconds = 4.0
    rig, cloud = _walk_with_lidar(seconds, seed=3)
    cam = _cameras()[0]
    t_cam = np.arange(0.1, seconds - 0.1, 1 / CAM_HZ)
    X = cam.to_camera(rig.world.joints(t_cam)[:, 0])  # (T, 15, 3) camera axes
    kp = cam.project(rig.world.joints(t_cam)[:, 0])[0]
    ray = X[:, 0] / np.linalg.norm(X[:, 0], axis=-1, keepdims=True)
    world = np.einsum("tji,tkj->tki", _rotate_z_to(ray), X - X[:, :1])  # R^T: the shape as MediaPipe gives it
    np.testing.assert_allclose(shape_on_ray(cam, kp, world), X - X[:, :1], atol=1e-6)
    hips = X[:, 4] - X[:, 1]
    true_c2 = hips[:, 0] ** 2 / (hips[:, 0] ** 2 + hips[:, 2] ** 2)
    c2 = facing_cos2(X - X[:, :1])
    assert np.corrcoef(c2, true_c2)[0, 1] > 0.9 and c2.min() < 0.2 and c2.max() > 0.6  # profile and near facing
    times = (EPOCH + np.round(t_cam * 1e9)).astype(np.int64)
    conf = np.ones(kp.shape[:2])
    err = {}
    for oriented in (False, True):
        depth, _, support, _ = joint_depths(cam, cloud, times, kp, conf, world,
                                            LidarDepthParams(oriented_offsets=oriented))
        seen = support[:, 0] > 0
        err[oriented] = np.abs(depth[seen, 0] - X[seen, 0, 2])
    # measured: mean |error| 17.8 mm with one fixed offset, 15.2 mm with the oriented ones
    assert np.mean(err[True]) < 0.9 * np.mean(err[False]), (np.mean(err[False]), np.mean(err[True]))


def test_girth_scale_from_the_profile_silhouette():
    from rfpose.annotation.lidar_depth import GIRTH_REF_M, girth_scale

    rng = np.random.default_rng(0)
    c2 = rng.uniform(0, 1, 200)
    depth = 0.8 * GIRTH_REF_M  # a slim person's hips, front to back
    # in profile the silhouette is the hips' depth, widened by a swinging arm in half the frames; facing: wider
    width = np.where(c2 < 0.15, depth + np.where(rng.random(200) < 0.5, 0.0, 0.15), 0.4)
    assert girth_scale(width, c2) == pytest.approx(0.8, abs=0.01)
    assert girth_scale(width[c2 >= 0.15], c2[c2 >= 0.15]) == 1.0  # never seen in profile: the reference body
    assert girth_scale(np.full(20, 5.0), np.zeros(20)) == 1.4  # clipped


def test_an_arm_in_front_hides_the_torso_from_the_lidar():
    from rfpose.annotation.lidar_depth import SK, hidden_by_arms

    J = SK.joints
    kp = np.zeros((2, 15, 2))
    rel = np.zeros((2, 15, 3))
    for n, (u, v) in dict(pelvis=(0, 100), thorax=(0, 0), r_shoulder=(-20, 0), l_shoulder=(20, 0), r_hip=(-10, 100),
                          l_hip=(10, 100), r_elbow=(-20, 50), l_elbow=(20, 50), r_wrist=(-20, 90),
                          l_wrist=(20, 90)).items():
        kp[:, J.index(n)] = (u, v)
    # frame 0: the right forearm reaches across the belly to the pelvis, 20 cm in front of the body
    kp[0, J.index("r_wrist")] = (0, 90)
    rel[0, J.index("r_elbow"), 2] = rel[0, J.index("r_wrist"), 2] = -0.2
    # frame 1: the same arm behind the body (the far-side arm of a person in profile)
    kp[1, J.index("r_wrist")] = (0, 90)
    rel[1, J.index("r_elbow"), 2] = rel[1, J.index("r_wrist"), 2] = 0.2
    hidden = hidden_by_arms(kp, rel, np.full(2, 3.0), f=520.0)  # 6 cm at 3 m: 10.4 px
    assert hidden[0, J.index("pelvis")] and not hidden[0, J.index("thorax")]
    assert not hidden[1].any()
    assert not hidden[0, J.index("r_shoulder")]  # its own upper arm does not hide it


def test_lidar_behind_the_shape_is_kept_and_in_front_is_an_occluder():
    """The LiDAR cannot see through a joint: a LiDAR depth behind the detector's shape means the shape is wrong
    there (kept), one well in front of it is what hides the joint (rejected: the shape's depth is used)."""
    from rfpose.annotation.lidar_depth import OFFSETS, SK, LidarCloud, LidarDepthParams, _rotate_z_to, joint_depths

    cam = _cameras()[0]
    rig, t, J3 = _truth("walk", seed=3, seconds=1.0)
    X = cam.to_camera(J3[:1, 0])  # (1, 15, 3) one frame, camera axes
    kp = cam.project(J3[:1, 0])[0]
    ray = X[:, 0] / np.linalg.norm(X[:, 0], axis=-1, keepdims=True)
    world = np.einsum("tji,tkj->tki", _rotate_z_to(ray), X - X[:, :1])
    wrist, elbow = SK.joints.index("r_wrist"), SK.joints.index("l_elbow")
    world[0, wrist, 2] -= 0.3  # the shape puts the right wrist 30 cm too near: its LiDAR depth lies behind
    rng = np.random.default_rng(0)
    front = OFFSETS.copy()
    front[elbow] += 0.3  # something 30 cm in front of the left elbow hides it
    surface = X[0] * (1 - front / X[0, :, 2])[:, None]  # on each joint's pixel, ``front`` nearer the camera
    pts = np.concatenate([s + rng.normal(0, 0.005, (8, 3)) * [1, 1, 0] for s in surface])
    pts_radar = pts @ cam.T_radar_cam[:3, :3].T + cam.T_radar_cam[:3, 3]
    cloud = LidarCloud(pts_radar, np.full(len(pts), EPOCH, np.int64))
    params = LidarDepthParams(oriented_offsets=False, girth_from_silhouette=False, limb_occlusion=False)
    depth, _, support, _ = joint_depths(cam, cloud, np.array([EPOCH]), kp, np.ones((1, 15)), world, params)
    assert support[0, wrist] > 0 and abs(depth[0, wrist] - X[0, wrist, 2]) < 0.02  # the LiDAR, not the shape
    assert support[0, elbow] < 0 and abs(depth[0, elbow] - X[0, elbow, 2]) < 0.1  # the shape, not the occluder
    # an arm joint the detector rates hidden lies behind what hides it: hidden_arm_m deeper, the rest as before
    conf = np.ones((1, 15))
    conf[0, [wrist, elbow, SK.joints.index("thorax")]] = 0.3
    hidden = joint_depths(cam, cloud, np.array([EPOCH]), kp, conf, world, params)[0]
    moved = np.zeros(15)
    moved[[wrist, elbow]] = params.hidden_arm_m
    np.testing.assert_allclose(hidden - depth, moved[None], atol=1e-9)
