"""`rfpose calibrate apply`: the calibration lands in the stream attrs, versioned with history; the reader
returns calibrated geometry and offset-corrected timestamps."""

import json
import shutil

import numpy as np
import pytest

from rfpose.cli import main
from rfpose.rig_calibration import Calibration, SensorCalibration
from rfpose.session import SessionReader


@pytest.fixture
def session(small_walk, tmp_path):
    p = tmp_path / "s.zarr"
    shutil.copytree(small_walk, p)
    return p


def test_apply_truth_then_a_partial_calibration(session, tmp_path, capsys):
    r0 = SessionReader(session)
    truth = Calibration.from_dict(r0.attrs["sim_truth"])  # tests may read the truth
    raw = {n: r0.stream(n).timestamps_ns.copy() for n in r0.streams}
    nominal = {n: r0.stream(n).metadata["extrinsics"] for n in r0.streams}
    truth.save(tmp_path / "truth.json")
    assert main(["calibrate", "apply", str(tmp_path / "truth.json"), str(session)]) == 0
    assert "version 1" in capsys.readouterr().out
    r = SessionReader(session)
    for n in r.streams:
        s = r.stream(n)
        np.testing.assert_allclose(s.metadata["extrinsics"], truth.pose(n), atol=1e-12)
        np.testing.assert_array_equal(s.timestamps_ns, raw[n] + truth.clock_offset_ns(n))
        np.testing.assert_array_equal(s.raw_timestamps_ns, raw[n])
        assert s[0].timestamp_ns == s.timestamps_ns[0]
        assert s.metadata["calibration"]["version"] == 1
        np.testing.assert_allclose(s.metadata["calibration_history"][0]["extrinsics"], nominal[n])
        if r.kind(n) == "camera":
            np.testing.assert_allclose(s.metadata["intrinsics"], truth[n].K)
            np.testing.assert_allclose(s.metadata["distortion"], truth[n].dist)
        assert s.verified and s.verify() == []  # the frame checksums cover the recorded times, not the calibrated
    # after calibration every stream is on the radar clock: the lidar sweep nearest a radar frame is the one
    # captured nearest in true time (the simulator's LiDAR starts up to 0.1 s after the radar)
    assert Calibration.from_dict(r.attrs["calibration"]).rig_frame == "radar"
    # a second, partial calibration (only the LiDAR's pose): version 2, the first kept in the history
    T = truth.pose("lidar").copy()
    T[0, 3] += 0.01
    Calibration("radar", {"lidar": SensorCalibration(T)}).save(tmp_path / "lidar.json")
    assert main(["calibrate", "apply", str(tmp_path / "lidar.json"), str(session), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary[str(session)]["streams"] == {"lidar": ["extrinsics"]}
    r = SessionReader(session)
    lid = r.stream("lidar")
    np.testing.assert_allclose(lid.metadata["extrinsics"], T)
    assert [h["version"] for h in lid.metadata["calibration_history"]] == [0, 1]
    np.testing.assert_array_equal(lid.timestamps_ns, raw["lidar"] + truth.clock_offset_ns("lidar"))  # kept
    assert len(r.attrs["calibration_history"]) == 2


def test_apply_refuses_mismatches(session, tmp_path, capsys):
    truth = Calibration.from_dict(SessionReader(session).attrs["sim_truth"])
    truth.sensors["cam_left"].image_size = (640, 480)
    truth.save(tmp_path / "big.json")
    assert main(["calibrate", "apply", str(tmp_path / "big.json"), str(session)]) == 2
    assert "160x120" in capsys.readouterr().err
    Calibration("other", {"x": SensorCalibration(np.eye(4))}).save(tmp_path / "x.json")
    assert main(["calibrate", "apply", str(tmp_path / "x.json"), str(session)]) == 2
    assert "none of the calibration's sensors" in capsys.readouterr().err
    (tmp_path / "bad.json").write_text('{"rfpose_calibration": 1, "rig_frame": "radar", "sensors": {"lidar": '
                                       '{"T_rig_sensor": [[1, 0], [0, 1]]}}}')
    assert main(["calibrate", "apply", str(tmp_path / "bad.json"), str(session)]) == 2
    assert "sensors.lidar.T_rig_sensor" in capsys.readouterr().err
    # nothing was written by the refused runs
    assert "calibration" not in SessionReader(session).attrs
