"""Minor-motion points: a reflector that moves a fraction of a wavelength between frames, and not within one,
is found where Doppler CFAR finds nothing; static clutter and noise are not."""

import numpy as np
import pytest

from pp_synth import Target, encode_dca, if_frame, small_params
from rfpose.errors import ConfigError
from rfpose.preprocessing.decode import decode_frames
from rfpose.preprocessing.minor_motion import MinorMotionPoints
from rfpose.preprocessing.points import PointCloudConfig, PointCloudProcessor

CHEST = np.array([3.0, 0.6, -0.4])  # a person's chest, radar frame (m)
WALL = np.array([5.5, -1.5, 0.2])  # a strong static reflector


def _frames(n, breathing_m=2e-3, seed=0):
    """``n`` decoded frames: the chest displaced along its line of sight by ``breathing_m``·sin(0.25 Hz), held
    still within each frame (no Doppler), beside a static reflector 20 dB stronger; receiver noise."""
    _, p, b = small_params("awr1843boost", loops=32)
    los = CHEST / np.linalg.norm(CHEST)
    out = []
    for k in range(n):
        chest = CHEST + los * breathing_m * np.sin(2 * np.pi * 0.25 * k * 0.1)
        tg = [Target(tuple(chest), (0, 0, 0), 300.0), Target(tuple(WALL), (0, 0, 0), 3000.0)]
        cube = if_frame(p, b, tg, noise=4.0, seed=seed + k)
        out.append(decode_frames(encode_dca(cube, p), p)[0])
    return p, b, out


def test_a_breathing_reflector_is_found_where_doppler_sees_nothing():
    p, b, frames = _frames(12)
    doppler = PointCloudProcessor(p, b, PointCloudConfig(threshold_db=12.0))
    minor = MinorMotionPoints(doppler, threshold_db=12.0)
    assert len(minor(frames[0])) == 0  # nothing to compare the first frame with
    found = 0
    for x in frames[1:]:
        pts = doppler(x)
        assert not len(pts) or np.linalg.norm(pts[:, :3] - CHEST, axis=1).min() > 0.5  # clutter removal: gone
        m = minor(x)
        assert m.dtype == np.float32 and m.shape[1] == 5 and np.isnan(m[:, 3]).all()
        assert not len(m) or np.linalg.norm(m[:, :3] - WALL, axis=1).min() > 0.5  # the static wall never
        d = np.linalg.norm(m[:, :3] - CHEST, axis=1) if len(m) else np.array([np.inf])
        if d.min() < 0.2:
            found += 1
            assert m[d.argmin(), 4] > 12.0
    # the chest moves 0.03-0.3 mm per frame here (2 mm breathing at 0.25 Hz): 2-20° of phase, still seen
    assert found >= 9, found
    minor.reset()
    assert len(minor(frames[5])) == 0


@pytest.mark.parametrize("threshold_db", [12.0, 15.0])
def test_noise_and_static_clutter_give_almost_no_minor_motion_points(threshold_db):
    p, b, frames = _frames(10, breathing_m=0.0, seed=100)
    minor = MinorMotionPoints(PointCloudProcessor(p, b), threshold_db=threshold_db)
    counts = [len(minor(x)) for x in frames]
    assert sum(counts) <= 3, counts  # 9 comparisons × ~100 range bins of noise: CFAR's false alarms only


def test_a_lag_compares_with_the_frame_that_many_before():
    p, b, frames = _frames(8)
    proc = PointCloudProcessor(p, b)
    lagged, step = MinorMotionPoints(proc, threshold_db=12.0, lag_frames=3), MinorMotionPoints(proc, 12.0)
    assert [len(lagged(x)) for x in frames[:3]] == [0, 0, 0]  # nothing three frames back yet
    np.testing.assert_array_equal(lagged.previous, lagged.static(frames[0]))
    step(frames[0])
    np.testing.assert_array_equal(lagged(frames[3]), step(frames[3]))  # frame 3 against frame 0 both ways
    with pytest.raises(ConfigError, match="lag_frames"):
        MinorMotionPoints(proc, lag_frames=0)
    lagged.reset()
    assert lagged.previous is None
