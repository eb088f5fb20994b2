"""Scenario registry, sources, and the ``rfpose simulate`` command writing a readable session."""

import numpy as np
import pytest

from rfpose.cli import main
from rfpose.errors import UnknownNameError
from rfpose.sim.camera import CameraModel
from rfpose.sim.rig import SimRadarSource
from rfpose.sim.scenarios import SCENARIOS, build_rig
from rfpose.source import CameraFrame, LidarFrame, RadarFrame

SMALL = CameraModel(width=160, height=120, fx=130, fy=130, cx=79.5, cy=59.5)


def test_unknown_scenario_lists_valid_names():
    with pytest.raises(UnknownNameError) as e:
        build_rig("moonwalk")
    assert "walk-sit" in str(e.value) and "hupr-rig" in str(e.value)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_every_scenario_builds_and_streams(name):
    rig = build_rig(name, seed=1, num_frames=2, board="awr1843boost", camera_model=SMALL)
    kinds = {s.kind for s in rig.sources.values()}
    assert kinds == {"radar", "lidar", "camera"}
    for src in rig.sources.values():
        f = src[0]
        assert isinstance(f, {"radar": RadarFrame, "lidar": LidarFrame, "camera": CameraFrame}[src.kind])
        if src.kind == "radar":
            assert f.adc.dtype == np.int16 and f.adc.shape == tuple(src.metadata["frame_shape"])
            assert np.abs(f.adc).max() < 32767  # realistic levels, no saturation
    gt = rig.ground_truth(0.1)
    assert gt.shape == (len(SCENARIOS[name].actions), 15, 3)
    if name == "hupr-rig":
        assert set(rig.sources) >= {"radar_hori", "radar_vert"}


def test_walking_person_shows_as_moving_energy_at_its_range():
    """Moving (non-zero Doppler) energy appears at the person's range; the empty room has only noise there."""
    def moving_energy(rig, r_lo, r_hi):
        src: SimRadarSource = rig.radar
        p = src.sensor.params
        x = src.iq(0)
        rd = np.fft.fft(np.fft.fft(x, axis=-1), axis=0)  # (doppler, tx, rx, range)
        pw = (np.abs(rd) ** 2).sum(axis=(1, 2))
        rb = 3e8 * p.sample_rate_hz / (2 * p.slope_hz_per_s * p.num_adc_samples)
        sl = slice(int(r_lo / rb), int(r_hi / rb) + 1)
        return pw[2:-2, sl]  # Doppler bins away from zero: the static room is gone

    rig = build_rig("walk", seed=2, num_frames=2, board="awr1843boost", camera=False, lidar=False)
    r = np.linalg.norm(rig.ground_truth(rig.label_time_s(0))[0], axis=-1)
    empty = build_rig("empty", seed=2, num_frames=2, board="awr1843boost", camera=False, lidar=False)
    person = moving_energy(rig, r.min() - 0.2, r.max() + 0.2)
    noise = moving_energy(empty, r.min() - 0.2, r.max() + 0.2)
    assert person.max() > 100 * noise.mean()  # > 20 dB above the noise floor
    assert noise.max() < 20 * noise.mean()


def test_simulate_cli_writes_a_session(tmp_path, capsys):
    out = tmp_path / "s.zarr"
    code = main(["simulate", "--scenario", "wave", "--frames", "2", "--out", str(out), "--board", "awr1843boost",
                 "--seed", "5", "--no-camera"])
    assert code == 0
    from rfpose.session import open_session

    s = open_session(out)
    assert set(s.streams) == {"radar", "lidar"}
    radar = s.stream("radar")
    assert len(radar) == 2
    rig = build_rig("wave", seed=5, num_frames=2, board="awr1843boost", camera=False)
    assert np.array_equal(np.asarray(radar[1].adc), rig.radar[1].adc)
    gt = s.labels("gt")
    assert gt.skeleton == "rtpose15" and gt.provenance["method"] == "simulator"
    assert np.allclose(gt.joints[1, 0], rig.ground_truth(rig.label_time_s(1))[0], atol=1e-5)
    attrs = s.attrs if hasattr(s, "attrs") else s.root.attrs
    assert attrs["scenario"] == "wave" and attrs["seed"] == 5 and attrs["subjects"][0]["height_m"] > 1.5


def test_simulate_cli_list_and_errors(tmp_path, capsys):
    assert main(["simulate", "--list"]) == 0
    assert "calibration-reflector" in capsys.readouterr().out
    assert main(["simulate", "--scenario", "nope", "--frames", "1", "--out", str(tmp_path / "x.zarr")]) == 2
    assert "unknown scenario" in capsys.readouterr().err


def _range_profile(iq, p):
    prof = (np.abs(np.fft.fft(iq, axis=-1)) ** 2).sum(axis=(0, 1, 2))[: p.num_adc_samples // 2]
    rb = 299792458.0 * p.sample_rate_hz / (2 * p.slope_hz_per_s * p.num_adc_samples)
    return prof, rb


def test_corner_reflector_dominates_at_its_range():
    from rfpose.sim.scene import trihedral_rcs_m2

    assert np.isclose(10 * np.log10(trihedral_rcs_m2(0.10, 3.9e-3)), 14.4, atol=0.1)
    rig = build_rig("calibration-reflector", seed=3, num_frames=1, board="awr1843boost", camera=False, lidar=False)
    src = rig.radar
    prof, rb = _range_profile(src.iq(0), src.sensor.params)
    want = np.linalg.norm(rig.world.targets[0].path.pose(src.true_time_s(0))[0])
    assert abs(int(np.argmax(prof)) - want / rb) <= 2


def test_floor_bounce_adds_a_longer_path():
    """With multipath, a person's echo also appears at the mean of the direct and floor-image ranges."""
    a = build_rig("wave", seed=6, num_frames=1, board="awr1843boost", camera=False, lidar=False, multipath=True)
    b = build_rig("wave", seed=6, num_frames=1, board="awr1843boost", camera=False, lidar=False)
    pa, rb = _range_profile(a.radar.iq(0), a.radar.sensor.params)
    pb, _ = _range_profile(b.radar.iq(0), b.radar.sensor.params)
    feet = a.ground_truth(0.0)[0, [3, 6]].mean(0)
    img = feet.copy()
    img[2] = 2 * a.world.room.floor_z - feet[2]
    r_bounce = 0.5 * (np.linalg.norm(feet) + np.linalg.norm(img))
    k = int(round(r_bounce / rb))
    assert pa[k - 1: k + 2].sum() > 1.5 * pb[k - 1: k + 2].sum()


def test_hupr_vertical_radar_sees_height_as_azimuth():
    from rfpose.sim.rig import RadarSensor

    rig = build_rig("hupr-rig", seed=2, num_frames=1, camera=False, lidar=False)
    vert: RadarSensor = rig.sources["radar_vert"].sensor
    T = vert.T_rig_sensor
    p_rig = np.array([3.0, 0.0, 0.5])
    p_vert = (p_rig - T[:3, 3]) @ T[:3, :3]
    # height above the vertical radar -> its +y (azimuth) axis (within the ≤ 1 cm, ≤ 1° mounting deviation)
    assert np.allclose(p_vert, [3.0, 0.62, 0.0], atol=0.07)


@pytest.mark.parametrize("seed", [0, 2])
def test_walking_person_in_range_azimuth_map(seed):
    """Range–azimuth map of the moving energy (numpy FFTs + an 8-element steering scan written here):
    its peak sits at the person's azimuth and just in front of the pelvis (the body's front surface)."""
    from rfpose.sim.radar import antenna_positions_m

    rig = build_rig("walk", seed=seed, num_frames=1, board="awr1843boost", camera=False, lidar=False)
    src = rig.radar
    p, b = src.sensor.params, src.sensor.board
    rd = np.fft.fft(np.fft.fft(src.iq(0), axis=-1), axis=0)
    rd[[0, 1, -1]] = 0  # drop the static room
    tx, rx = antenna_positions_m(p, b)
    virt_y = np.concatenate([tx[0] + rx, tx[2] + rx])[:, 1]  # TX0 and TX2: the 8-element azimuth row
    snap = np.concatenate([rd[:, 0], rd[:, 2]], axis=1)  # (doppler, 8, range)
    azs = np.radians(np.arange(-60, 61))
    steer = np.exp(-2j * np.pi * np.outer(np.sin(azs), virt_y) / p.center_wavelength_m)
    ra = (np.abs(np.einsum("av,dvr->dar", steer.conj(), snap)) ** 2).sum(0)
    a_i, r_i = np.unravel_index(ra.argmax(), ra.shape)
    pelvis = rig.ground_truth(rig.label_time_s(0))[0, 0]
    rb = 299792458.0 * p.sample_rate_hz / (2 * p.slope_hz_per_s * p.num_adc_samples)
    assert abs(np.degrees(azs[a_i] - np.arctan2(pelvis[1], pelvis[0]))) <= 4
    assert -0.35 <= r_i * rb - np.linalg.norm(pelvis) <= 0.1
