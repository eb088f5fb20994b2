"""Camera and LiDAR synthesis: silhouettes hold the projected joints; LiDAR hits the right surfaces."""

import numpy as np
import pytest

from rfpose.sim.camera import CameraModel, distort, pixel_rays, project, undistort
from rfpose.sim.geometry import cast
from rfpose.sim.lidar import LidarModel, scan_rays
from rfpose.sim.scenarios import build_rig
from rfpose.source import LIDAR_POINT_DTYPE


def _dilate(mask, r):
    out = mask.copy()
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            out |= np.roll(np.roll(mask, dy, 0), dx, 1)
    return out


@pytest.mark.parametrize("scenario,seed,cam_name,i", [("walk", 1, "cam_left", 0), ("walk", 1, "cam_right", 7),
                                                    ("lift-leg", 2, "cam_left", 5), ("random-poses", 3, "cam_right", 9)])
def test_silhouette_contains_projected_joints(scenario, seed, cam_name, i):
    rig = build_rig(scenario, seed=seed, num_frames=5, board="awr1843boost", lidar=False)
    if True:
        cam = rig.sources[cam_name]
        if True:
            r = cam.render(i)
            assert r.image.shape == (480, 640, 3) and r.image.dtype == np.uint8
            uv, ok = cam.keypoints(i)
            assert ok.all()
            mask = _dilate(r.mask == 0, 3)
            px = np.round(uv[0]).astype(int)
            inside = mask[px[:, 1], px[:, 0]]
            assert inside.all(), (scenario, cam_name, i, np.nonzero(~inside))
            # the person is shaded, not flat: several distinct colours in the silhouette
            assert len(np.unique(r.image[r.mask == 0].reshape(-1, 3), axis=0)) > 20


def test_cached_room_equals_one_cast_over_everything():
    """Frames reuse the camera's room image and cast only the moving bodies on their bounding cones; the
    result must be the nearest hit over every primitive, as one uncut cast finds it."""
    rig = build_rig("two-people", seed=4, num_frames=5, board="awr1843boost", lidar=False, scene="cluttered")
    sensor = rig.cameras[1]
    model, T = sensor.model, sensor.T_rig_sensor
    for t in (0.2, 0.7):
        r = rig.render(sensor, t)
        prims = rig.world.room.primitives + rig.world.body_primitives(t)[0]
        depth, idx, _ = cast(prims, T[:3, 3], pixel_rays(model) @ T[:3, :3].T)
        owner = np.array([p.owner for p in prims] + [-1])[idx]
        assert np.array_equal(r.depth_m.ravel(), np.where(idx >= 0, depth, np.inf).astype(np.float32))
        assert np.array_equal(r.mask.ravel(), owner) and {0, 1} <= set(np.unique(owner))
    assert sensor.name in rig._room_images


def test_distortion_round_trip_and_projection():
    m = CameraModel()
    x = np.random.default_rng(0).uniform(-0.6, 0.6, (100, 2))
    assert np.allclose(undistort(m, distort(m, x)), x, atol=1e-6)
    T = np.eye(4)
    T[:3, :3] = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
    uv, ok = project(m, T, np.array([[3.0, 0.0, 0.0], [3.0, 0.5, 0.0], [-1.0, 0, 0]]))
    assert np.allclose(uv[0], [m.cx, m.cy]) and uv[1, 0] < m.cx and ok.tolist() == [True, True, False]


@pytest.mark.parametrize("pattern,n", [("spinning32", 32 * 1024), ("spinning64", 64 * 1024), ("livox", 24000)])
def test_scan_patterns(pattern, n):
    d, t = scan_rays(LidarModel(pattern))
    assert d.shape == (n, 3) and np.allclose(np.linalg.norm(d, axis=1), 1)
    assert t.min() >= 0 and t.max() < 0.1
    if pattern == "livox":  # forward-looking 81.7° x 25.1°
        az = np.degrees(np.arctan2(d[:, 1], d[:, 0]))
        assert np.abs(az).max() < 41 and d[:, 0].min() > 0


def test_lidar_points_on_room_and_person():
    rig = build_rig("wave", seed=4, num_frames=3, board="awr1843boost", camera=False)
    src = rig.sources["lidar"]
    f = src[0]
    pts = f.points
    assert pts.dtype == LIDAR_POINT_DTYPE and len(pts) > 15000
    T = src.sensor.T_rig_sensor
    xyz = np.stack([pts["x"], pts["y"], pts["z"]], 1) @ T[:3, :3].T + T[:3, 3]
    room = rig.world.room
    on_floor = np.abs(xyz[:, 2] - room.floor_z) < 0.08
    on_back = np.abs(xyz[:, 0] - room.x_back) < 0.08
    assert on_floor.sum() > 1000 and on_back.sum() > 1000
    # person points: near the body's joints, at the frame's own times
    j = rig.ground_truth(src.true_time_s(0) + 0.05)[0]
    d = np.linalg.norm(xyz[:, None, :] - j[None], axis=-1).min(axis=1)
    person = d < 0.25
    assert person.sum() > 50
    assert (pts["time_offset_ns"] >= 0).all() and pts["time_offset_ns"].max() < 100_000_000
