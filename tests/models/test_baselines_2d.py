"""The 2-D (hupr) baselines: the radar-to-image matrix, the moving-return peak, the mean pose at the pelvis."""

import numpy as np
import pytest

from rfpose.errors import FormatError
from rfpose.models import baselines, baselines_2d
from rfpose.models.synthetic import SyntheticSpec, write_synthetic_dataset


def test_camera_matrix_fit_recovers_a_projection():
    rng = np.random.default_rng(0)
    K = np.array([[208.0, 0, 127.5], [0, 208.0, 127.5], [0, 0, 1]])
    R = np.array([[0.0, -1, 0], [0, 0, -1], [1, 0, 0]])  # radar x forward, y left, z up → camera z forward
    P = K @ np.c_[R, [0.01, 0.12, 0.02]]
    pts = np.c_[rng.uniform(1.5, 5, 40), rng.uniform(-2, 2, 40), rng.uniform(-1, 0.5, 40)]
    px = baselines_2d.project(P, pts)
    fit = baselines_2d.fit_camera_matrix(pts, px + rng.normal(0, 1e-6, px.shape))
    np.testing.assert_allclose(baselines_2d.project(fit, pts), px, atol=1e-3)
    with pytest.raises(FormatError, match="at least 6"):
        baselines_2d.fit_camera_matrix(pts[:5], px[:5])


def test_moving_peak_ignores_the_static_bin_and_reads_elevation_from_the_vertical_radar():
    D, R, A, E = 5, 8, 9, 2
    axes = {"velocity_mps": [-0.2, -0.1, 0.0, 0.1, 0.2], "range_m": list(1.0 + 0.5 * np.arange(R)),
            "sin_az": list(np.linspace(-0.8, 0.8, A))}
    xh = np.zeros((1, D, 2, R, A, E), np.float32)
    xv = np.zeros_like(xh)
    xh[0, 2, 0, 1, 1] = 10.0  # the strongest return, but static (0 m/s): a wall
    xh[0, 4, 1, 5, 6] = 1.0  # the moving person: range bin 5, azimuth bin 6
    xv[0, 2, 0, 2, 8] = 10.0
    xv[0, 0, 0, 5, 3] = 1.0  # vertical radar: elevation bin 3
    (p,) = baselines_2d.moving_peaks(xh, xv, np.array([0]), axes)
    r, sa, se = axes["range_m"][5], axes["sin_az"][6], axes["sin_az"][3]
    np.testing.assert_allclose(p, [r * np.sqrt(1 - sa**2 - se**2), r * sa, r * se])


def test_mean_at_pelvis_scores_through_the_2d_metrics(tmp_path):
    data = write_synthetic_dataset(tmp_path / "d.zarr", SyntheticSpec(format="hupr", samples=24, sessions=3))
    (row,) = baselines.evaluate_baselines(data, "test", kinds=("mean-at-pelvis",))
    assert row["baseline"] == "mean-at-pelvis" and 0 < row["pck_0_2"] <= 1 and 0 <= row["ap"] <= 1
    assert set(row["per_joint_ap"]) == set(row["per_joint_pck_0_2"]) and len(row["fit"]["mean_pose_px"]) == 14
    # the pelvis-relative mean pose is zero at the pelvis
    mean = np.array(row["fit"]["mean_pose_px"])
    np.testing.assert_allclose(baselines_2d.pelvis_2d(mean, baselines_2d.get_skeleton("hupr14").joints), 0,
                               atol=1e-4)
    # the synthetic maps carry no range / angle axes: the peak baseline says so
    with pytest.raises(FormatError, match="axes lack"):
        baselines.evaluate_baselines(data, "test", kinds=("mean-at-moving-peak",))
