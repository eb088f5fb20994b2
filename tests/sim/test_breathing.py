"""The breathing body model (``rfpose simulate --breathing``): a body that holds still returns the same echo
frame after frame but for its chest, which moves with its breathing; and that breathing alone is what the
monitor's minor-motion points see of someone lying still (a mannequin gives none)."""

from dataclasses import replace

import numpy as np
import pytest

from rfpose.preprocessing.decode import decode_radar_words
from rfpose.preprocessing.minor_motion import MinorMotionPoints
from rfpose.preprocessing.points import PointCloudProcessor
from rfpose.sim.rig import stream_rng
from rfpose.sim.scattering import Breathing
from rfpose.sim.scenarios import build_rig


def _still_lying_rig(breathing: bool, frames: int = 2):
    """A forward fall's person frozen in their pose 2 s after reaching the floor (the motion model's idle sway
    stopped too), in front of an AWR1843."""
    rig = build_rig("fall-forward", seed=5, num_frames=frames, board="awr1843boost", camera=False, lidar=False,
                    scene="cluttered", breathing=breathing)
    person = rig.world.people[0]
    t_still = person.describe()["event"]["t_floor_s"] + 2.0
    moving = person.segments
    person.segments = lambda t, person=0: moving(np.full(np.shape(np.atleast_1d(t)), t_still), person=person)
    rig.t_still = t_still
    return rig


def _scatterers(rig, k: int):
    radar = rig.radars[0]
    return rig.world.radar_scatterers(radar, rig.sources[radar.name].true_time_s(k), stream_rng(rig.seed, radar.name, k))


def test_a_still_body_keeps_its_echo_and_only_its_chest_moves():
    rig = _still_lying_rig(breathing=True)
    a, b = _scatterers(rig, 0), _scatterers(rig, 3)
    np.testing.assert_array_equal(a.rcs_m2, b.rcs_m2)
    np.testing.assert_array_equal(a.phase, b.phase)
    moved = np.linalg.norm(b.pos_out - a.pos_out, axis=-1)[0]  # (centres,) at the first knot
    chest = moved > 1e-9
    br = rig.world.breathing[0]
    t0, t3 = (rig.sources[rig.radars[0].name].true_time_s(k) for k in (0, 3))
    step = abs(br.displacement_m(t3) - br.displacement_m(t0))
    assert 0 < chest.sum() <= 48 and step > 1e-4  # the torso's centres that face the radar, nothing else
    np.testing.assert_allclose(moved[chest], step, rtol=1e-6)  # each along its own unit normal
    assert np.isfinite(a.pos_out).all()
    # without breathing the same still body is identical frame to frame
    rig.world.breathing = [replace(br, amplitude_m=0.0)]
    np.testing.assert_array_equal(_scatterers(rig, 0).pos_out, _scatterers(rig, 3).pos_out)


def test_the_default_model_redraws_the_body_echo_every_frame():
    rig = _still_lying_rig(breathing=False)
    a, b = _scatterers(rig, 0), _scatterers(rig, 3)
    assert rig.world.breathing is None and not np.allclose(a.phase, b.phase)


def test_breathing_is_drawn_within_quiet_breathing_ranges():
    rngs = [np.random.default_rng(i) for i in range(200)]
    b = [Breathing.random(r) for r in rngs]
    assert all(0.002 <= x.amplitude_m <= 0.004 and 0.2 <= x.rate_hz <= 1 / 3 for x in b)
    t = np.linspace(0, 10, 1001)
    assert np.ptp(b[0].displacement_m(t)) == pytest.approx(2 * b[0].amplitude_m, rel=1e-3)
    phase, gain = b[0].centre_echoes(40)
    np.testing.assert_array_equal(phase, b[0].centre_echoes(40)[0])  # the same echo whenever it is asked for
    assert np.allclose(np.abs(phase), 1) and (gain > 0).all()


FRAMES = 51  # 5 s: a breath or more (12-20 a minute)


def _minor_points_near_chest(rig, frames: int, lag_frames: int = 1) -> list[int]:
    radar = rig.radars[0]
    src = rig.sources[radar.name]
    minor = MinorMotionPoints(PointCloudProcessor(radar.params, radar.board), threshold_db=15.0,
                              lag_frames=lag_frames)
    pelvis, thorax = rig.world.people[0].joints(np.array([rig.t_still]))[0, [0, 7]]  # rtpose15
    chest_rig = (pelvis + thorax) / 2  # the torso's middle
    T = radar.T_rig_sensor
    chest = (chest_rig - T[:3, 3]) @ T[:3, :3]
    near = []
    for k in range(frames):
        pts = minor(decode_radar_words(src[k].adc, radar.params, radar.board)[0])
        near.append(int((np.linalg.norm(pts[:, :3] - chest, axis=1) < 0.6).sum()) if len(pts) else 0)
    return near[lag_frames:]  # the first frames have nothing to compare with


@pytest.mark.slow
def test_minor_motion_sees_someone_lying_still_by_their_breathing_alone():
    """Breathing alone, compared with the previous frame, is seen about half the time: the chest's
    displacement between two frames 0.1 s apart vanishes twice a breath. Compared with the frame 0.5 s before
    (the monitor's ``minor_motion_lag_s``), in almost every frame. A mannequin is never seen."""
    seen = {lag: _minor_points_near_chest(_still_lying_rig(breathing=True, frames=FRAMES), FRAMES, lag)
            for lag in (1, 5)}
    rig = _still_lying_rig(breathing=True, frames=FRAMES)
    rig.world.breathing = [replace(b, amplitude_m=0.0) for b in rig.world.breathing]
    mannequin = _minor_points_near_chest(rig, FRAMES, 5)
    fraction = {lag: np.mean([n > 0 for n in v]) for lag, v in seen.items()}
    assert 0.25 < fraction[1] < 0.75 and fraction[5] > 0.85, seen
    assert sum(n > 0 for n in mannequin) <= 1, mannequin


def test_the_cli_and_the_preset_simulate_with_breathing(tmp_path, monkeypatch):
    """``rfpose simulate --breathing`` writes the breathing model's frames and says so in the session; the
    preset ``sim-falls-v1-breathing`` simulates its sessions with it."""
    from rfpose.app.sim_datasets import get_preset
    from rfpose.app.sim_datasets.preset import reduced_cfg
    from rfpose.cli import main
    from rfpose.session import open_session

    out = tmp_path / "b.zarr"
    assert main(["simulate", "--scenario", "wave", "--frames", "2", "--out", str(out), "--board", "awr1843boost",
                 "--seed", "5", "--no-camera", "--no-lidar", "--breathing"]) == 0
    s = open_session(out)
    assert s.attrs["config"]["simulator"]["breathing"] is True
    assert s.attrs["rig"]["breathing"][0]["rate_hz"] > 0
    rig = build_rig("wave", seed=5, num_frames=2, board="awr1843boost", camera=False, lidar=False, breathing=True)
    assert np.array_equal(np.asarray(s.stream("radar")[1].adc), rig.radar[1].adc)
    assert not np.array_equal(rig.radar[1].adc, build_rig("wave", seed=5, num_frames=2, board="awr1843boost",
                                                          camera=False, lidar=False).radar[1].adc)
    # the preset's own session function (a fall preset sizes sessions itself: 15 s here, so it is shortened)
    preset = replace(get_preset("sim-falls-v1-breathing"), frames_per_session=3)
    monkeypatch.setattr(type(preset), "frames_for", lambda self, *a: 3)
    path = tmp_path / "p.zarr"
    preset.simulate_session(str(path), "walk", 5, reduced_cfg(preset.board, preset.adc_samples, preset.loops,
                                                              preset.frame_period_ms), "cluttered", 0)
    assert open_session(path).attrs["config"]["simulator"]["breathing"] is True
    assert get_preset("sim-falls-v1").breathing is False
