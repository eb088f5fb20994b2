"""Lifting, time alignment, swap repair, gaps and two people, on the simulator's skeletons projected through a
calibrated stereo rig (no rendering: the 2D input is exact or exact plus known noise)."""

import numpy as np
import pytest

from rfpose.annotation.detect import CameraDetections
from rfpose.annotation.lift import lift
from rfpose.annotation.pipeline import FLAG_CROWD, AnnotateParams, annotate
from rfpose.annotation.refine import flip_index, repair_swaps, resample, smooth_one_euro, smooth_savgol
from rfpose.annotation.rig import CameraCalib, RigView
from rfpose.sim.camera import R_RIG_CAM_FORWARD, CameraModel
from rfpose.sim.rig import transform
from rfpose.sim.scenarios import build_rig

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


def _mpjpe_mm(a, b):
    return float(np.nanmean(np.linalg.norm(a - b, axis=-1)) * 1000)


def test_triangulation_exact_and_noisy_2d():
    cams = _cameras()
    _, _, J = _truth(seconds=1.0)
    X = J[:, 0]
    R = np.stack([c.T_cam_radar[:3, :3] for c in cams])
    t = np.stack([c.T_cam_radar[:3, 3] for c in cams])
    f = np.array([c.K[0, 0] for c in cams])
    uv = np.stack([c.project(X)[0] for c in cams])
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


def test_robust_over_views_downweights_a_wrong_camera():
    cams = _cameras() + [_cameras(baseline=1.2)[0]]
    _, _, J = _truth(seconds=0.5)
    X = J[:, 0]
    R = np.stack([c.T_cam_radar[:3, :3] for c in cams])
    t = np.stack([c.T_cam_radar[:3, 3] for c in cams])
    f = np.array([c.K[0, 0] for c in cams])
    uv = np.stack([c.project(X)[0] for c in cams])
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
