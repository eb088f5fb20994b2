"""The floor plane from LiDAR points, and ankles held above it along their camera rays."""

import numpy as np
import pytest

from rfpose.annotation.floor import Floor, fit_floor, hold_above_floor


def _room(rng, tilt_deg=0.0, floor_z=-1.0, floor_points=20_000):
    """A floor (tilted about the y axis), a back wall, a person-sized box, 1 cm noise; radar frame, m."""
    t = np.radians(tilt_deg)
    normal = np.array([np.sin(t), 0.0, np.cos(t)])
    xy = rng.uniform([3.0, -3.0], [8.0, 3.0], (floor_points, 2))
    z = (floor_z - normal[0] * xy[:, 0]) / normal[2]
    floor = np.column_stack([xy, z])
    wall = np.column_stack([np.full(15_000, 8.0), rng.uniform(-3, 3, 15_000), rng.uniform(-1, 1.5, 15_000)])
    person = rng.uniform([3.4, -0.2, -0.9], [3.7, 0.2, 0.8], (8_000, 3))
    pts = np.concatenate([floor, wall, person])
    return pts + rng.normal(0, 0.01, pts.shape), normal, floor_z


@pytest.mark.parametrize("tilt_deg", [0.0, 6.0])
def test_the_floor_is_found_among_walls_and_a_person(tilt_deg):
    pts, normal, offset = _room(np.random.default_rng(0), tilt_deg)
    floor = fit_floor(pts)
    assert floor is not None
    assert np.degrees(np.arccos(floor.normal @ normal)) < 0.5
    assert abs(floor.offset_m - offset) < 0.003
    assert floor.inliers > 1000


def test_no_floor_is_guessed():
    rng = np.random.default_rng(1)
    pts, _, _ = _room(rng, floor_points=0)  # walls and a person only
    assert fit_floor(pts) is None
    steep, _, _ = _room(rng, tilt_deg=35.0)  # a ramp, not a floor under a level radar
    assert fit_floor(steep) is None
    assert fit_floor(np.zeros((10, 3))) is None


def test_a_joint_below_the_least_height_goes_back_along_its_ray():
    floor = Floor(np.array([0.0, 0.0, 1.0]), -1.0, 0)
    centre = np.array([0.0, 0.0, 0.2])  # a camera 1.2 m above the floor
    X = np.array([[[4.0, 0.1, -0.98], [4.0, 0.1, -0.5]],   # too low / well above
                  [[3.0, -0.2, -0.92], [2.0, 0.0, 0.5]]])  # high enough / a rising ray
    out, moved = hold_above_floor(X, [0, 1], floor, 0.07, centre)
    np.testing.assert_array_equal(moved, [[True, False], [False, False]])
    np.testing.assert_allclose(floor.height(out[0, 0]), 0.07)
    ray, new = X[0, 0] - centre, out[0, 0] - centre
    np.testing.assert_allclose(np.cross(ray, new), 0, atol=1e-12)  # on the same ray, nearer the camera
    assert 0 < np.linalg.norm(new) < np.linalg.norm(ray)
    np.testing.assert_array_equal(out[~moved], X[~moved])
    below = hold_above_floor(X, [0, 1], floor, 0.07, np.array([0.0, 0.0, -0.95]))  # camera lower than that
    np.testing.assert_array_equal(below[0], X)
