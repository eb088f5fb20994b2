"""The simulator hands out what a user has before calibrating; the truth goes to ``attrs["sim_truth"]``."""

import numpy as np
import pytest

from rfpose.errors import ConfigError
from rfpose.rig_calibration import Calibration, pose_error
from rfpose.sim.scenarios import (TAPE_ROT_DEG, TAPE_TRANS_M, build_rig, charuco_path, default_frames,
                                  reflector_path)


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    from rfpose.sim.session_writer import simulate_session

    out = tmp_path_factory.mktemp("truth") / "walk.zarr"
    simulate_session(out, "walk", 2, seed=4, board="awr1843boost")
    return out


def test_streams_carry_nominal_geometry_and_root_the_truth(session):
    from rfpose.session import SessionReader

    r = SessionReader(session)
    truth = Calibration.from_dict(r.attrs["sim_truth"])
    assert truth.rig_frame == "radar" and set(truth.sensors) == set(r.streams)
    assert "sim_truth" not in str(r.attrs["rig"])
    for name in r.streams:
        meta = r.stream(name).metadata
        assert "clock" not in meta  # no clock offsets before calibration
        dt, dr = pose_error(meta["extrinsics"], truth.pose(name))
        if name == "radar":
            assert dt == 0 and dr == 0  # the rig origin
            continue
        assert 0.3 * TAPE_TRANS_M / 3 < dt <= TAPE_TRANS_M + 0.011 and 0.1 < dr <= TAPE_ROT_DEG + 1.01
        if r.kind(name) == "camera":
            K, Kt = meta["intrinsics"], truth[name].K
            assert 1.0 <= abs(K[0, 0] / Kt[0, 0] - 1) * 100 <= 4.5  # focal off by a few %
            assert np.all(meta["distortion"] == 0) and truth[name].dist[0] < -0.02  # true lens distortion
            assert truth[name].image_size == (int(meta["width"]), int(meta["height"]))
    offs = [truth[n].clock_offset_ns for n in r.streams if n != "radar"]
    assert all(20e6 <= abs(o) <= 200e6 for o in offs)


def test_rendering_uses_the_true_clock_and_geometry():
    rig = build_rig("walk", seed=4, num_frames=2, board="awr1843boost")
    truth = rig.truth()
    lid = rig.sources["lidar"]
    # a stream's host timestamps + the true offset = the radar clock at the frame's true time
    ts = lid.timestamps_ns + truth["lidar"].clock_offset_ns
    want = rig.sources["radar"].host_timestamp_ns(0, np.random.default_rng(0)) - rig.radar.true_time_s(0) * 1e9
    assert np.allclose(ts - np.array([lid.true_time_s(i) for i in range(len(lid))]) * 1e9, want, atol=5e6)
    cam = rig.sources["cam_left"]
    assert cam.sensor.model.distortion[0] != 0 and np.allclose(truth["cam_left"].K, cam.sensor.model.K)


def test_one_rig_per_seed_and_board():
    a = build_rig("calibration-reflector", seed=7, num_frames=1).truth()
    b = build_rig("walk", seed=7, num_frames=1, scene="cluttered").truth()
    c = build_rig("walk", seed=8, num_frames=1).truth()
    d = build_rig("walk", seed=7, num_frames=1, board="awr1843boost").truth()
    for n in a.sensors:
        np.testing.assert_array_equal(a.pose(n), b.pose(n))
        assert a.clock_offset_ns(n) == b.clock_offset_ns(n)
    np.testing.assert_array_equal(a["cam_left"].K, b["cam_left"].K)
    assert not np.allclose(a.pose("lidar"), c.pose("lidar")) and not np.allclose(a.pose("lidar"), d.pose("lidar"))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_calibration_target_paths(seed):
    rng = np.random.default_rng(seed)
    p = reflector_path(rng)
    assert p.num_stops >= 8 and np.ptp(p.positions[:, 2]) > 0.4  # heights, not just ranges and azimuths
    r = np.linalg.norm(p.positions, axis=1)
    assert np.ptp(r) > 1.5 and np.ptp(np.degrees(np.arctan2(p.positions[:, 1], p.positions[:, 0]))) > 30
    c = charuco_path(rng)
    assert c.num_stops >= 15
    normals = -c.rotations[:, :, 2]
    tilt = np.degrees(np.arccos(np.clip(np.einsum("ij,ij->i", normals, -c.positions / np.linalg.norm(
        c.positions, axis=1, keepdims=True)), -1, 1)))
    assert tilt.min() > 5 and tilt.max() > 25
    for path in (p, c):  # 200 frames at 10 Hz are enough
        assert path.duration_s < 19.8
        w = path.rest_windows()
        assert np.all(np.diff(w, axis=1) >= 0.8 - 1e-9)
        # at rest, the pose does not change
        for a, b in w:
            np.testing.assert_array_equal(path.pose(a + 0.01)[0], path.pose(b - 0.01)[0])
    assert default_frames("calibration-reflector") <= 200 and default_frames("calibration-charuco") <= 200
    assert default_frames("walk") == 10


def test_rig_seed_puts_other_subjects_on_one_rig():
    """``rig_seed``: sessions of different subjects recorded with one physical rig (one calibration)."""
    a = build_rig("walk", seed=21, num_frames=1, board="awr1843boost", rig_seed=5)
    b = build_rig("walk", seed=22, num_frames=1, board="awr1843boost", rig_seed=5)
    own = build_rig("walk", seed=5, num_frames=1, board="awr1843boost")
    for n in own.truth().sensors:
        np.testing.assert_array_equal(a.truth().pose(n), own.truth().pose(n))
        np.testing.assert_array_equal(b.truth().pose(n), own.truth().pose(n))
        assert a.truth().clock_offset_ns(n) == own.truth().clock_offset_ns(n)
    assert a.describe()["people"][0]["subject"] != b.describe()["people"][0]["subject"]
    assert a.describe()["rig_seed"] == 5 and "rig_seed" not in own.describe()


def test_wide_stereo_baseline_is_a_new_option_on_the_same_rig():
    """``stereo_baseline_m`` moves cam_left/cam_right apart and toes them in to meet 3.5 m ahead; the LiDAR,
    radar, clocks and camera models of the seed's rig stay the same, and the default is the compact pair."""
    from rfpose.sim.camera import project
    from rfpose.sim.scenarios import COMPACT_BASELINE_M, STEREO_CONVERGE_M

    compact = build_rig("walk", seed=9, num_frames=1, board="awr1843boost")
    wide = build_rig("walk", seed=9, num_frames=1, board="awr1843boost", stereo_baseline_m=1.2)
    c, w = compact.truth(), wide.truth()
    np.testing.assert_array_equal(c.pose("lidar"), w.pose("lidar"))
    np.testing.assert_array_equal(c["cam_left"].K, w["cam_left"].K)
    assert c.clock_offset_ns("cam_left") == w.clock_offset_ns("cam_left")
    gap = lambda t: np.linalg.norm(t.pose("cam_left")[:3, 3] - t.pose("cam_right")[:3, 3])  # noqa: E731
    assert abs(gap(c) - COMPACT_BASELINE_M) < 0.025 and abs(gap(w) - 1.2) < 0.025  # mounting error ≤ 1 cm each
    ahead = np.array([[[STEREO_CONVERGE_M, 0.0, 0.1]]])
    for cam in wide.cameras:  # the convergence point sits near each image's centre (mounting ≤ 1°, pp ±2 %)
        uv, ok = project(cam.model, cam.T_rig_sensor, ahead)
        assert ok.all() and np.all(np.abs(uv[0, 0] - (cam.model.cx, cam.model.cy)) < 30)
    assert wide.describe()["stereo_baseline_m"] == 1.2 and "stereo_baseline_m" not in compact.describe()
    with pytest.raises(ConfigError):
        build_rig("walk", seed=9, num_frames=1, board="awr1843boost", stereo_baseline_m=9.0)


def test_wide_rig_board_capture_covers_each_camera():
    """A board capture on a wide rig holds the board in front of each camera: every camera sees ≥ 9 poses
    whole, with board corners near each of its four image edges."""
    from rfpose.sim.camera import project

    rig = build_rig("calibration-charuco", seed=3, num_frames=1, board="awr1843boost", stereo_baseline_m=1.2)
    path = rig.world.targets[0].path
    assert len(path.positions) == 22
    for cam in rig.cameras:
        whole, uvs = 0, []
        for c, R in zip(path.positions, path.rotations):
            corners = np.array([c + R[:, 0] * a * 0.28 + R[:, 1] * b * 0.2 for a in (-1, 1) for b in (-1, 1)])
            uv, ok = project(cam.model, cam.T_rig_sensor, corners[None])
            inside = ok.all() and np.all((uv >= 0) & (uv < (cam.model.width, cam.model.height)))
            whole += bool(inside)
            if inside:
                uvs.append(uv[0])
        uvs = np.concatenate(uvs)
        assert whole >= 9
        assert uvs[:, 0].min() < 0.2 * cam.model.width and uvs[:, 0].max() > 0.8 * cam.model.width
        assert uvs[:, 1].min() < 0.2 * cam.model.height and uvs[:, 1].max() > 0.8 * cam.model.height
