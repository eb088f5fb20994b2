"""``rfpose calibrate SESSION... --out CALIB.json`` on a recorded board capture: the JSON contract, the
HTML report, ``--json``, no overwrite without ``--force``, and one-line typed errors for bad captures."""

from __future__ import annotations

import json

import numpy as np
import pytest
from board_fixtures import BOARD, charuco_session  # noqa: F401  (session fixture)

from rfpose.cli import main
from rfpose.rig_calibration import Calibration, invert, pose_error


@pytest.fixture(scope="module")
def calibrated(charuco_session, tmp_path_factory):
    out = tmp_path_factory.mktemp("calib-out") / "CALIB.json"
    assert main(["calibrate", str(charuco_session), "--out", str(out), "--quiet"]) == 0
    return out


def test_calibrate_writes_the_contract(calibrated, charuco_session):
    from rfpose.session import SessionReader

    raw = json.loads(calibrated.read_text())
    assert raw["rfpose_calibration"] == 1
    calib = Calibration.load(calibrated)  # validates every field
    assert calib.rig_frame == "lidar"  # no reflector capture: the LiDAR is the origin of what was solved
    for cam in ("cam_left", "cam_right"):
        s = calib.sensors[cam]
        assert s.K is not None and len(s.dist) == 5 and s.image_size == (640, 480)
        assert s.residual["rms_px"] < 0.3 and s.covariance is not None
    truth = Calibration.from_dict(SessionReader(charuco_session).attrs["sim_truth"])  # evaluation only
    errors = calib.compare(truth)
    for cam in ("cam_left", "cam_right"):  # a short capture: looser than the solvers' own tests
        e = errors[cam]
        assert abs(e["fx_pct"]) < 0.5 and abs(e["cx_px"]) < 3 and abs(e["cy_px"]) < 3
        T = invert(truth.pose("lidar")) @ truth.pose(cam)
        dt, dr = pose_error(calib.pose(cam), T)
        assert dt < 0.015 and dr < 0.4
    assert set(raw["provenance"]["roles"].values()) == {"board"}


def test_calibrate_writes_a_self_contained_report(calibrated):
    html = calibrated.with_suffix(".html").read_text()
    assert html.count("data:image/png;base64,") >= 6 and "src=\"http" not in html
    assert "LiDAR points on cam_left" in html and "LiDAR range RMS" in html and "1-sigma" in html


def test_calibrate_refuses_to_overwrite(calibrated, charuco_session, capsys):
    before = calibrated.read_text()
    assert main(["calibrate", str(charuco_session), "--out", str(calibrated)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "exists; pass --force" in err[0]
    assert calibrated.read_text() == before


def test_calibrate_json_prints_the_object_alone(charuco_session, capsys):
    assert main(["calibrate", "intrinsics", str(charuco_session), "--json", "--quiet"]) == 0
    out = capsys.readouterr().out
    calib = Calibration.from_dict(json.loads(out))
    assert {"cam_left", "cam_right"} <= set(calib.sensors) and calib.sensors["cam_left"].T_rig_sensor is None


@pytest.fixture(scope="module")
def other_rig(tmp_path_factory):
    from rfpose.sim.session_writer import simulate_session

    out = tmp_path_factory.mktemp("calib-other") / "other.zarr"
    simulate_session(out, "calibration-charuco", 3, seed=7, board=BOARD, labels_2d=False)
    return out


def test_mismatched_sessions_are_refused(charuco_session, other_rig, tmp_path, capsys):
    assert main(["calibrate", str(charuco_session), str(other_rig), "--out", str(tmp_path / "c.json")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "captures of different rigs" in err[0] and "other.zarr" in err[0]
    assert not (tmp_path / "c.json").exists()


def test_a_board_capture_without_lidar_is_refused(charuco_session, tmp_path, capsys):
    from rfpose.sim.session_writer import simulate_session

    no_lidar = tmp_path / "nolidar.zarr"
    simulate_session(no_lidar, "calibration-charuco", 3, seed=0, board=BOARD, lidar=False, labels_2d=False)
    assert main(["calibrate", str(charuco_session), str(no_lidar), "--out", str(tmp_path / "c.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert "nolidar.zarr: board capture has no lidar stream" in err


def test_no_board_anywhere_is_refused(small_walk, tmp_path, capsys):
    assert main(["calibrate", "intrinsics", str(small_walk), "--out", str(tmp_path / "c.json")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no ChArUco board" in err[0] and "walk.zarr" in err[0]


def test_unknown_target_is_a_config_error(charuco_session, tmp_path, capsys):
    assert main(["calibrate", str(charuco_session), "--target", "7x5:0.08", "--out", str(tmp_path / "c.json")]) == 2
    assert "expected COLSxROWS" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.timeout(3600)  # ~2 min CPU of simulation and ~40 s of calibration per seed; more when shared
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_whole_rig_calibration(tmp_path, seed):
    """The full-length captures of one rig (board, reflector, walk): every solver, merged in the radar's
    frame, against the truth — issue #15's bounds on three seeds."""
    from rfpose.session import SessionReader
    from rfpose.sim.camera import CameraModel
    from rfpose.sim.session_writer import simulate_session

    paths = []
    for scenario, frames in (("calibration-charuco", None), ("calibration-reflector", None), ("walk", 100)):
        paths.append(tmp_path / f"{scenario}.zarr")
        simulate_session(paths[-1], scenario, frames, seed=seed, board=BOARD, camera_model=CameraModel(rate_hz=10),
                         labels_2d=False)
    out = tmp_path / "CALIB.json"
    assert main(["calibrate", *map(str, paths), "--out", str(out), "--quiet"]) == 0
    calib = Calibration.load(out)
    assert calib.rig_frame == "radar"
    truth = Calibration.from_dict(SessionReader(paths[0]).attrs["sim_truth"])
    errors = calib.compare(truth)
    lidar = errors["lidar"]
    assert lidar["trans_mm"] < 20 and lidar["rot_deg"] < 0.7 and abs(lidar["clock_ms"]) < 2  # 0.2-0.6 ms measured
    for cam in ("cam_left", "cam_right"):
        e = errors[cam]
        assert max(abs(e["fx_pct"]), abs(e["fy_pct"])) < 0.3 and max(abs(e["cx_px"]), abs(e["cy_px"])) < 1.5, e
        assert e["trans_mm"] < 30 and e["rot_deg"] < 0.9  # radar->lidar + lidar->camera
        # the cameras' clocks come from the reflector capture (its marker), one offset for the shared trigger
        assert abs(e["clock_ms"]) < 2
        assert calib[cam].clock_offset_ns == calib["cam_left"].clock_offset_ns
        # the joint refinement: radar -> camera = radar -> LiDAR . LiDAR -> camera, and within the issue's
        # 5 mm / 0.1 deg of the direct (marker-only) estimate (measured 0.8-2.3 mm, 0.011-0.036 deg)
        joint = calib[cam].residual["joint"]
        T_lc = np.asarray(joint["T_lidar_cam"])
        dt, dr = pose_error(calib.pose("lidar") @ T_lc, calib.pose(cam))
        assert dt < 1e-6 and dr < 1e-4
        agree = joint["direct_separate"]["change"]
        assert agree["trans_mm"] < 5 and agree["rot_deg"] < 0.1, (cam, agree)
        T_lc_true = np.linalg.inv(truth.pose("lidar")) @ truth.pose(cam)
        dt, dr = pose_error(T_lc, T_lc_true)
        assert dt < 0.010 and dr < 0.2, (cam, dt, dr)
    # the simulated radar's elevation is better than its prior floor: the residuals earn it more weight
    assert calib["lidar"].residual["variance_factors"]["radar_elevation"] < 0.1
    page = out.with_suffix(".html").read_text()
    assert "radar reflector detections" in page and "radar elevation floor estimated from the residuals" in page


def test_calibrate_sessions_calibrates_and_applies_in_one_call(charuco_session, tmp_path):
    """The API the demo calls: captures in, CALIB.json + CALIB.html out, the result written into a session."""
    import shutil

    from rfpose.app.calibrate import CalibrateOptions, calibrate_sessions
    from rfpose.errors import CalibrationError
    from rfpose.session import SessionReader

    target = tmp_path / "session.zarr"
    shutil.copytree(charuco_session, target)
    out = calibrate_sessions([charuco_session], tmp_path / "CALIB.json", apply_to=[target],
                             opts=CalibrateOptions(solvers=("intrinsics",)))
    assert out.json_path.exists() and out.html_path.exists()
    assert out.applied[str(target)]["streams"]
    K = out.calibration.sensors["cam_left"].K
    import numpy as np

    assert np.allclose(SessionReader(target).stream("cam_left").metadata["intrinsics"], K)
    with pytest.raises(CalibrationError, match="exists"):
        calibrate_sessions([charuco_session], out.json_path, opts=CalibrateOptions(solvers=("intrinsics",)))


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_bench_calibration_reports_each_sensor_against_the_truth(tmp_path, capsys):
    """``rfpose bench calibration``: the captures, every solver, the errors against the truth (issue #15's
    bounds, as the whole-rig test) and the time it took, in the JSON."""
    out = tmp_path / "bench.json"
    assert main(["bench", "calibration", "--seeds", "0", "--json", "--out", str(out)]) == 0
    doc = json.loads(out.read_text())
    rows = {r["sensor"]: r for r in doc["rows"]}
    assert set(rows) == {"radar", "lidar", "cam_left", "cam_right"}
    assert rows["lidar"]["trans_mm"] < 20 and rows["lidar"]["rot_deg"] < 0.7 and abs(rows["lidar"]["clock_ms"]) < 2
    for cam in ("cam_left", "cam_right"):
        r = rows[cam]
        assert r["lidar_cam_mm"] < 10 and r["lidar_cam_deg"] < 0.2 and abs(r["clock_ms"]) < 2, r
        assert r["vs_direct_mm"] < 5 and r["vs_direct_deg"] < 0.1, r
        assert abs(r["fx_pct"]) < 0.3 and abs(r["cx_px"]) < 1.5 and abs(r["cy_px"]) < 1.5, r
    assert "lidar_cam_mm" not in rows["radar"]
    assert doc["timing"][0]["calibrate_cpu_s"] > 0 and doc["machine"]["cores"] >= 1
