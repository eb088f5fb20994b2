"""Pose metrics against hand-computed cases."""

import numpy as np
import pytest

from rfpose import metrics
from rfpose.errors import ShapeError
from rfpose.skeletons import HUPR14


def _pose(rng, j=5):
    return rng.normal(0, 0.3, (j, 3))


def test_mpjpe_definitions_hand_case():
    gt = np.zeros((1, 3, 3))
    gt[0, 1] = [1.0, 0, 0]
    gt[0, 2] = [0, 1.0, 0]
    pred = gt.copy()
    pred[0] += [0.5, 0, 0]  # whole pose shifted 0.5 m in x
    pred[0, 2, 2] += 0.3  # joint 2 also 0.3 m too high
    s = metrics.pose3d_summary(pred, gt, root=0)
    assert s["mpjpe_rtpose_mm"] == pytest.approx(100.0)  # (0 + 0 + 300) / 3, root included
    assert s["mpjpe_mm"] == pytest.approx(150.0)  # (0 + 300) / 2, root excluded
    assert s["mrpe_mm"] == pytest.approx(500.0)
    assert s["abs_mpjpe_mm"] == pytest.approx((500 + 500 + np.hypot(500, 300)) / 3)
    assert s["per_joint_mm"]["2"] == pytest.approx(300.0)


def test_pa_mpjpe_removes_similarity_but_not_reflection():
    rng = np.random.default_rng(1)
    gt = _pose(rng, 8)[None]
    a = 0.7
    rot = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    pred = 1.3 * gt @ rot.T + [0.2, -1.0, 0.5]
    assert metrics.pose3d_summary(pred, gt)["pa_mpjpe_mm"] == pytest.approx(0.0, abs=1e-6)
    # a mirror image cannot be reached by a proper rotation: PA-MPJPE must stay > 0
    mirrored = gt * [1, -1, 1]
    aligned = metrics.procrustes_align(mirrored, gt)
    assert np.abs(aligned - gt).max() > 1e-3
    # a chiral tetrahedron and its mirror (in y): the best *proper* similarity leaves a residual, which
    # must equal an independent numerical optimum over rotations (sum of squared errors)
    g = np.array([[[0.0, 0, 0], [1.0, 0, 0], [0, 2.0, 0], [0, 0, 3.0]]])
    m = g * [1, -1, 1]
    al = metrics.procrustes_align(m, g)
    sse = ((al - g) ** 2).sum()
    assert sse > 0.1
    assert sse == pytest.approx(_best_proper_similarity_sse(m[0], g[0]), rel=1e-4)


def _best_proper_similarity_sse(x, y):
    """min over rotations R (det +1), scale s, translation of Σ‖s·R·x + t − y‖², by numerical search."""
    from scipy.optimize import minimize
    from scipy.spatial.transform import Rotation

    xc, yc = x - x.mean(0), y - y.mean(0)

    def sse(rv):
        xr = xc @ Rotation.from_rotvec(rv).as_matrix().T
        s = max((xr * yc).sum() / (xr**2).sum(), 0.0)  # a negative scale would be a reflection
        return ((s * xr - yc) ** 2).sum()

    starts = Rotation.random(30, random_state=0).as_rotvec()
    return min(minimize(sse, s0, method="Nelder-Mead", options={"xatol": 1e-10, "fatol": 1e-12}).fun
               for s0 in starts)


def test_pck_and_auc_hand_case():
    e = np.array([0.0, 50.0, 100.0, 149.0, 151.0, 300.0])
    assert metrics.pck(e, 150.0) == pytest.approx(4 / 6)
    # thresholds 0,5,...,150: PCK(t) = #(e <= t)/6
    t = np.arange(0, 151, 5)
    expected = np.mean([(e <= tt).mean() for tt in t])
    assert metrics.auc(e) == pytest.approx(expected)
    # hand: e=0 counts at all 31 thresholds, 50 at 21, 100 at 11, 149 at 1 (t=150), others 0
    assert metrics.auc(e) == pytest.approx((31 + 21 + 11 + 1) / (31 * 6))


def test_per_session_mean_is_unweighted():
    gt = np.zeros((3, 2, 3))
    gt[:, 1] = [1.0, 0, 0]
    pred = gt.copy()
    pred[0, 1, 0] += 0.1  # session a: one frame with 100 mm on joint 1
    pred[1:, 1, 0] += 0.4  # session b: two frames with 400 mm
    s = metrics.pose3d_summary(pred, gt, sessions=["a", "b", "b"])
    assert s["mpjpe_mm"] == pytest.approx((100 + 400 + 400) / 3)
    assert s["session_mean"]["mpjpe_mm"] == pytest.approx((100 + 400) / 2)


def test_match_people_hungarian():
    pred = np.array([[0.0, 0, 0], [5.0, 0, 0], [np.nan, np.nan, np.nan]])
    gt = np.array([[4.8, 0, 0], [0.1, 0, 0]])
    assert sorted(metrics.match_people(pred, gt)) == [(0, 1), (1, 0)]
    assert metrics.match_people(pred, gt, max_distance=0.15) == [(0, 1)]


def test_shape_errors():
    with pytest.raises(ShapeError):
        metrics.pose3d_summary(np.zeros((2, 15, 3)), np.zeros((2, 14, 3)))


def test_oks_ap_perfect_and_shifted():
    rng = np.random.default_rng(0)
    sig = np.array(HUPR14.oks_sigmas)
    gt = rng.uniform(60, 200, (3, 1, 14, 2))
    perfect = metrics.oks_ap(gt, np.ones((3, 1)), gt, sig, per_joint=False)
    assert perfect["ap"] == pytest.approx(1.0) and perfect["ap75"] == pytest.approx(1.0)

    # one image, every joint shifted by d px: OKS by hand = mean_j exp(-d² / (2 · area · (2σ_j)²))
    g = gt[:1]
    w, h = np.ptp(g[0, 0, :, 0]), np.ptp(g[0, 0, :, 1])
    area = 0.5 * w * h  # HuPR: half the box area
    d2 = 2 * 6.0**2
    oks = np.mean(np.exp(-d2 / (2 * area * (2 * sig) ** 2)))
    assert oks == pytest.approx(metrics.oks(g[0, 0] + 6.0, g[0, 0], sig, area))
    shifted = metrics.oks_ap(g + 6.0, np.ones((1, 1)), g, sig)
    # a single detection matched at threshold t iff OKS >= t: AP = fraction of the 10 thresholds ≤ OKS
    thresholds = np.linspace(0.5, 0.95, 10)
    assert shifted["ap"] == pytest.approx((thresholds <= oks).mean(), abs=1e-6)
    assert 0 < shifted["ap"] < 1
    assert shifted["ap50"] == (1.0 if oks >= 0.5 else 0.0)
    # per-joint AP: OKS of one joint alone
    for j, name in enumerate(HUPR14.joints):
        oj = np.exp(-d2 / (2 * area * (2 * sig[j]) ** 2))
        assert shifted["per_joint_ap"][str(j)] == pytest.approx((thresholds <= oj).mean(), abs=1e-6)


def test_oks_ap_missing_detection_lowers_recall():
    rng = np.random.default_rng(2)
    sig = np.array(HUPR14.oks_sigmas)
    gt = rng.uniform(60, 200, (2, 1, 14, 2))
    pred = gt.copy()
    pred[1] = np.nan  # no detection in image 2
    assert metrics.oks_ap(pred, np.ones((2, 1)), gt, sig, per_joint=False)["ap"] == pytest.approx(0.5, abs=0.01)


def test_pck_2d_hand_case_and_matching():
    rng = np.random.default_rng(3)
    names = HUPR14.joints
    gt = rng.uniform(60, 200, (2, 1, 14, 2))
    torso = metrics.torso_diameter(gt[:, 0], names)
    assert torso[0] == pytest.approx(np.linalg.norm(gt[0, 0, names.index("l_shoulder")] - gt[0, 0, names.index("r_hip")]))
    pred = np.repeat(gt, 2, axis=1)  # two detections per frame
    pred[:, 1] += 500.0  # a far-away second detection is not the one paired
    # frame 0: joints 0-6 moved just inside 0.2 × torso, 7-13 just outside; frame 1: no detection at all
    off = np.where(np.arange(14)[:, None] < 7, 0.19, 0.21) * torso[0] * np.array([[0.6, 0.8]])
    pred[0, 0] += off
    pred[1] = np.nan
    out = metrics.pck_2d(pred, gt, names)
    assert out["people"] == 2
    assert out["pck"] == pytest.approx(7 / 28)
    assert out["per_joint_pck"]["r_hip"] == pytest.approx(0.5) and out["per_joint_pck"]["r_wrist"] == 0.0
    assert metrics.pck_2d(gt, gt, names)["pck"] == 1.0
    with pytest.raises(ShapeError):
        metrics.pck_2d(pred[..., :1], gt, names)


def test_pixel_errors_2d_separate_placement_from_shape():
    """A pose moved as a whole by (3, 4) px is 5 px off at every joint and its hips' midpoint, 0 px in shape; one
    joint moved 10 px more adds 10/14 px to the shape's mean; a frame without a detection is left out."""
    names = HUPR14.joints
    gt = np.random.default_rng(4).uniform(60, 200, (3, 1, 14, 2))
    pred = np.repeat(gt, 2, axis=1)
    pred[:, 1] += 500.0  # the far second detection is not the one paired
    pred[:2, 0] += np.array([3.0, 4.0])
    head = names.index("head")
    pred[1, 0, head] += np.array([0.0, 10.0])
    pred[2] = np.nan
    out = metrics.pixel_errors_2d(pred, gt, names)
    assert (out["paired"], out["people"]) == (2, 3)
    assert out["centre_px"] == pytest.approx(5.0)
    assert out["centre_relative_px"] == pytest.approx((0 + 10 / 14) / 2)
    moved = np.linalg.norm(np.array([3.0, 14.0]))
    assert out["joint_px"] == pytest.approx((27 * 5 + moved) / 28) and out["joint_median_px"] == pytest.approx(5.0)
    assert np.isnan(metrics.pixel_errors_2d(pred[2:], gt[2:], names)["joint_px"])
    with pytest.raises(ShapeError, match="l_hip"):
        metrics.pixel_errors_2d(pred, gt, [f"j{i}" for i in range(14)])
