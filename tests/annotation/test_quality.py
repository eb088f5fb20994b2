"""The per-frame quality score: its cues respond to the failure they measure, the fit recovers a known
relation, the shipped model scores a clean label above a broken one."""

import numpy as np
import pytest

from rfpose.annotation import quality as Q
from rfpose.annotation.pipeline import AnnotateParams, annotate
from rfpose.annotation.refine import flip_index
from rfpose.app.annotation_eval import auroc
from tests.annotation.test_lifting import _cameras, _detections, _radar_times, _rig, _truth, _truth_at


def _rot(deg):
    a = np.radians(deg)
    return np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])


def test_rigid_residual_ignores_pose_and_measures_shape():
    rng = np.random.default_rng(0)
    A = rng.normal(0, 0.3, (5, 15, 3))
    B = A @ _rot(37).T + [1.0, -2.0, 0.5]
    assert np.allclose(Q.rigid_residual(A, B), 0, atol=1e-9)
    noisy = B + rng.normal(0, 0.01, B.shape)
    r = Q.rigid_residual(A, noisy)
    assert np.all((r > 0.012) & (r < 0.021))  # √3 cm RMS (1 cm per axis), less the 6 fitted degrees of freedom
    B[0, :12] = np.nan  # fewer than 4 joints in common: undefined
    assert np.isnan(Q.rigid_residual(A, B)[0]) and np.isfinite(Q.rigid_residual(A, B)[1:]).all()


def test_fit_logistic_recovers_a_known_relation():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(4000, 3))
    p = 1 / (1 + np.exp(-(2.0 * X[:, 0] - 1.0 * X[:, 1] - 0.5)))
    y = (rng.random(4000) < p).astype(float)
    w, b = Q.fit_logistic(X, y, l2=0.0)
    assert np.allclose(w, [2.0, -1.0, 0.0], atol=0.25)


def _model(coef):
    F = len(Q.ALL_CUES)
    return {"cues": list(Q.ALL_CUES), "mean": [0.0] * F, "scale": [1.0] * F, "coef": coef, "intercept": 0.0}


def test_quality_is_the_probability_of_a_good_label():
    coef = [0.0] * len(Q.ALL_CUES)
    coef[Q.ALL_CUES.index("log_shape_dev")] = 2.0
    m = _model(coef)
    cues = np.zeros((3, len(Q.ALL_CUES)))
    cues[:, Q.ALL_CUES.index("log_shape_dev")] = [-1.0, 0.0, 1.0]
    q = Q.quality(cues, m)
    assert q[0] > 0.5 > q[2] and q[1] == pytest.approx(0.5)
    cues[1, Q.ALL_CUES.index("log_shape_dev")] = np.nan  # a missing cue counts as the training average
    assert Q.quality(cues, m)[1] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="refit"):
        Q.quality(cues, dict(m, cues=list(Q.ALL_CUES[:-1]) + ["other"]))


def test_cues_respond_to_what_they_measure():
    seconds = 3.0
    _, t, J = _truth(seconds=seconds)
    cams = _cameras()
    dets = _detections(cams, t, J)
    T = len(t)
    KP = np.stack([dets[c.name].keypoints for c in cams])  # (C, T, 1, 15, 2)
    CF = np.stack([dets[c.name].confidence for c in cams])
    refined = J.copy()
    raw = J.copy()
    sig = np.full((T, 1, 15), 0.02)
    swapped = np.zeros((T, 1), bool)
    swapped[20] = True
    CF[0, 30, 0, :5] = 0.1  # low visibility
    KP[0, 40, 0, :3] = -50.0  # three joints outside the image
    refined[50, 0, 3:7] += [0.0, 0.0, 0.3]  # refined leg 30 cm off: reprojection and smoothing deviation
    world = J - J[:, :, :1]  # a detector shape equal to the truth's, root-relative
    world[60, 0, 14] += [0.25, 0, 0]
    to_cam = cams[0].to_camera
    b = to_cam(np.zeros(3))
    centre = np.linalg.solve(np.stack([to_cam(e) - b for e in np.eye(3)], 1), -b)
    refined[80, 0, 5:10] = 2 * centre - refined[80, 0, 5:10]  # five joints mirrored behind the reference camera
    support = np.zeros((T, 1, 15), np.int32)
    support[:, :, :8] = 5
    support[70, 0, :4] = -5
    c = Q.frame_cues(cams, KP, CF, raw, refined, sig, np.zeros((T, 1, 15)), support, world, swapped)[:, 0]
    col = {n: i for i, n in enumerate(Q.ALL_CUES)}
    assert c.shape == (T, len(Q.ALL_CUES))
    assert np.flatnonzero(c[:, col["swap_near"]] > 0).tolist() == [18, 19, 20, 21, 22]
    assert c[30, col["vis_low"]] == pytest.approx(5 / 15) and c[31, col["vis_low"]] == 0
    assert c[40, col["out_of_image"]] == pytest.approx(3 / 15)
    p90 = 10 ** c[:, col["log_reproj_p90"]]
    assert p90[50] > 0.05 > np.max(np.delete(p90, [40, 50, 80]))  # 40: kp moved
    assert p90[80] == pytest.approx(Q.REPROJ_CAP)  # behind the camera: capped, not an absurd pixel distance
    assert c[50, col["log_smooth_max"]] == pytest.approx(np.log10(0.3)) and c[49, col["log_smooth_max"]] == -3
    assert c[60, col["log_shape_dev"]] > np.log10(0.04) > np.nanmax(np.delete(c[:, col["log_shape_dev"]], [50, 60, 80]))
    assert c[70, col["lidar_disagree"]] == pytest.approx(4 / 15)
    assert c[70, col["lidar_support"]] == pytest.approx(4 / 15)
    assert c[0, col["multi_view"]] == 1.0
    z = np.array([cams[0].project(J[i, 0, :1])[1][0] for i in (0, T - 1)])
    assert np.allclose(c[[0, T - 1], col["distance"]], z)


@pytest.mark.skipif(Q.MODEL is None, reason="no fitted quality model shipped")
def test_shipped_model_ranks_corrupted_frames_below_clean_ones():
    """Stereo labels from exact 2D, with left/right swaps and a wrong joint injected in the second camera on
    some frames (which the lifting cannot fully repair): the shipped score ranks those frames lower."""
    seconds = 3.0
    rig_sim, t, J = _truth(seconds=seconds)
    cams = _cameras(baseline=1.2)
    dets = _detections(cams, t, J, noise_px=1.0)
    rng = np.random.default_rng(3)
    bad = np.sort(rng.choice(np.arange(5, len(t) - 5), 12, replace=False))
    d = dets["cam_right"]
    d.keypoints[bad, 0, 6] += [0.0, 60.0]  # the ankle 60 px off in one view
    d.keypoints[bad, 0, 14] += [70.0, 0.0]
    radar_t = _radar_times(seconds)
    ann = annotate(_rig(cams), dets, radar_t, params=AnnotateParams())
    err = np.nanmean(np.linalg.norm(ann.joints[:, 0] - _truth_at(rig_sim, radar_t)[:, 0], axis=-1), -1)
    ok = np.isfinite(err)
    assert ann.cues.shape == (len(radar_t), 1, len(Q.ALL_CUES))
    assert np.all((ann.quality[ok] >= 0) & (ann.quality[ok] <= 1))
    worst = err[ok] > np.percentile(err[ok], 75)
    assert auroc(ann.quality[ok][worst], ann.quality[ok][~worst]) > 0.6


def test_evaluation_parameters_from_the_command_line():
    from rfpose.app.annotation_eval import params_from

    p = params_from(["lidar.sigma_lidar_m=0.06", "ls_robust_iters=2", "bone_lengths=false"], smoothing="savgol")
    assert (p.lidar.sigma_lidar_m, p.ls_robust_iters, p.bone_lengths, p.smoothing) == (0.06, 2, False, "savgol")
    assert params_from(["ankle_floor_m=none"]).ankle_floor_m is None  # an optional setting can be switched off
    for bad in ("nothing=1", "lidar.nothing=1", "radar.sigma_lidar_m=1", "ls_robust_iters=two", "lidar=1",
                "max_gap_ms", "max_people=none"):
        with pytest.raises(SystemExit, match="--param"):
            params_from([bad])
    from rfpose.app.annotation_eval import main  # the tool's own command line refuses before reading a session

    with pytest.raises(SystemExit, match="is not a float"):
        main(["missing.zarr", "--param", "lidar.sigma_lidar_m=wide"])


def test_errors_against_truth_follow_the_labelled_person():
    """Two true people, listed in the other order at the label's second frame: the label follows person B
    throughout, so its errors and its acceleration are B's, and an excluded frame leaves its triples out."""
    from types import SimpleNamespace

    from rfpose.app.annotation_eval import _accel
    from rfpose.app.annotation_report import truth_errors, truth_joints

    rng = np.random.default_rng(0)
    T = 6
    a = rng.normal(0, 0.2, (T, 15, 3)) + [2.0, 1.0, 0.0]
    b = rng.normal(0, 0.2, (T, 15, 3)) + [4.0, -1.0, 0.0]
    gt = np.stack([a, b], 1)
    gt[1] = gt[1, ::-1]  # the simulator's order of people changes at frame 1
    label = b + 0.01
    reader = SimpleNamespace(label_sets=["gt"], labels=lambda name: SimpleNamespace(
        frame_index=np.arange(T), joints=gt, num_people=np.full(T, 2)))
    ann = SimpleNamespace(frame_index=np.arange(T), joints=label[:, None])
    np.testing.assert_allclose(truth_joints(reader, ann), b)
    np.testing.assert_allclose(truth_errors(reader, ann), np.sqrt(3) * 0.01)
    assert _accel(label, truth_joints(reader, ann)) == pytest.approx(0.0, abs=1e-9)
    jump = label.copy()
    jump[3] += 0.1  # one frame 100 mm off: the triples around it carry 100, 200, 100 mm/frame², the first 0
    keep = np.ones(T, bool)
    assert _accel(jump, b) == pytest.approx(np.sqrt(3) * (100 + 200 + 100) / 4, rel=1e-6)
    keep[4] = False  # the triples through frame 4 are left out: (0, 1, 2) and (1, 2, 3) remain
    assert _accel(jump, b, keep) == pytest.approx(np.sqrt(3) * (0 + 100) / 2, rel=1e-6)
    assert _accel(jump, b, np.zeros(T, bool)) is None
