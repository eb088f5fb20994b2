"""Radar → LiDAR extrinsics and the LiDAR's clock offset from simulated corner-reflector captures, against
the simulator's truth (read here, in a test, only)."""

import json

import numpy as np
import pytest

from rfpose.cli import main
from rfpose.rig_calibration import Calibration
from rfpose.session import SessionReader

#: issue #15's bounds: translation (mm), rotation (deg)
BOUNDS = {"mmwcas": (10.0, 0.3), "awr1843boost": (20.0, 0.7)}
#: issue #15: clock offsets within 2 ms (measured −1.0…+1.7 ms over both boards and 3 seeds,
#: docs/calibration-radar.md)
CLOCK_MS = 2.0


@pytest.fixture(scope="module")
def reflector_lidar(tmp_path_factory):
    """The LiDAR stream of a full ``calibration-reflector`` capture (awr1843boost seed 0; ~8 s CPU: the radar,
    the costly part, is left out — the tests below give the radar's track themselves)."""
    from rfpose.sim.session_writer import simulate_session

    out = tmp_path_factory.mktemp("reflector") / "reflector.zarr"
    simulate_session(out, "calibration-reflector", None, seed=0, board="awr1843boost", camera=False,
                     streams=("lidar",), labels_2d=False)
    return out


def radar_track_at_rest(seed: int = 0, settle_s: float = 0.3, noise_m=(1e-3, 2e-3, 6e-3)):
    """The radar's reflector track of that capture as a radar that finds the reflector only once it has
    settled (``settle_s`` into each rest, until ``settle_s`` before it ends; NaN while carried), from the
    simulator's true path (a test may read the truth) with the stop noise the radar shows."""
    from rfpose.app.calibration_inputs import RadarTrack
    from rfpose.sim.scenarios import build_rig, default_frames

    frames = default_frames("calibration-reflector", "awr1843boost")
    rig = build_rig("calibration-reflector", seed=seed, num_frames=frames, board="awr1843boost", camera=False)
    radar, path = rig.sources["radar"], rig.world.targets[0].path
    mid = rig.radars[0].params.active_chirping_s / 2
    t = np.array([radar.true_time_s(i) + mid for i in range(len(radar))])
    rest = np.zeros(len(t), bool)
    for a, b in path.rest_windows():
        rest |= (t >= a + settle_s) & (t <= b - settle_s)
    xyz = np.array([path.pose(x)[0] for x in t]) + np.random.default_rng(seed).normal(0, 1, (len(t), 3)) * noise_m
    xyz[~rest] = np.nan
    ts = np.asarray(radar.timestamps_ns, np.int64)
    return RadarTrack(ts, xyz, np.full_like(xyz, np.nan), np.full(len(t), 30.0), (0.04, 0.25, 1.0), True,
                      np.linalg.norm(xyz, axis=1), ts + int(round(mid * 1e9)))


def test_a_reflector_capture_whose_clock_is_refused_keeps_its_geometry(reflector_lidar, tmp_path):
    """The reflector's moves do not pin the LiDAR's clock down (here the radar only sees the reflector at rest,
    so the range signals are plateaus that line up over a wide range of shifts): ``estimate_offset`` refuses
    the clock, the radar → LiDAR pose is still returned (and within the issue's bounds), the clock is absent,
    and the calibration and its report say why."""
    from rfpose.app.calibrate import CalibrationRun
    from rfpose.app.calibration_inputs import lidar_reflector_track, radar_lidar_from_session
    from rfpose.app.calibration_report import render_report

    r = SessionReader(reflector_lidar)
    truth = Calibration.from_dict(r.attrs["sim_truth"])
    calib = radar_lidar_from_session(r, radar="radar", tracks=(radar_track_at_rest(), lidar_reflector_track(r)))
    err = calib.compare(truth)["lidar"]
    max_mm, max_deg = BOUNDS["awr1843boost"]
    assert err["trans_mm"] <= max_mm and err["rot_deg"] <= max_deg, err
    assert calib["lidar"].clock_offset_ns is None and "clock_ms" not in err
    why = calib["lidar"].residual["clock"]["not_calibrated"]
    assert str(reflector_lidar) in why and "clock offset of lidar" in why, why
    assert "does not pin the offset down" in why or "ambiguous offset" in why, why
    assert "carry the reflector" in why and "walk" in why, why  # what to record, for a reflector capture
    # CALIB.json: no clock for the LiDAR, the reason kept; the report shows both
    calib.save(tmp_path / "radar.json")
    back = Calibration.load(tmp_path / "radar.json")
    assert back["lidar"].clock_offset_ns is None and back["lidar"].residual["clock"]["not_calibrated"] == why
    assert np.allclose(back.pose("lidar"), calib.pose("lidar"))
    page = render_report(CalibrationRun(calib, {str(reflector_lidar): "reflector"}))
    assert "not calibrated" in page and "carry the reflector" in page


def test_cli_refuses_a_capture_without_a_held_reflector(small_walk, tmp_path, capsys):
    assert main(["calibrate", "radar-lidar", str(small_walk), "--out", str(tmp_path / "r.json")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rfpose calibrate: error:") and "held still" in err and "Traceback" not in err
    assert not (tmp_path / "r.json").exists()


@pytest.mark.slow
@pytest.mark.timeout(3600)  # mmwcas: several minutes of simulation, more when the machine is shared
@pytest.mark.parametrize("board", ["awr1843boost", "mmwcas"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_radar_lidar_against_truth(tmp_path, board, seed, capsys):
    from rfpose.sim.session_writer import simulate_session

    s = tmp_path / "reflector.zarr"
    simulate_session(s, "calibration-reflector", None, seed=seed, board=board, camera=False)
    assert main(["calibrate", "radar-lidar", str(s), "--json"]) == 0
    calib = Calibration.from_dict(json.loads(capsys.readouterr().out))
    truth = Calibration.from_dict(SessionReader(s).attrs["sim_truth"])
    err = calib.compare(truth)["lidar"]
    max_mm, max_deg = BOUNDS[board]
    assert err["trans_mm"] <= max_mm and err["rot_deg"] <= max_deg, err
    assert abs(err["clock_ms"]) <= CLOCK_MS, err
    # the covariance is honest: the error is within 4 sigma of what it claims on each axis
    std = np.array(calib["lidar"].std()["trans_mm"])
    d = (calib.pose("lidar")[:3, 3] - truth.pose("lidar")[:3, 3]) * 1e3
    assert np.all(np.abs(d) <= 4 * std + 1.0), (d, std)
