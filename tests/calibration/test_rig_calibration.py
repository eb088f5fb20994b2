"""rfpose.rig_calibration: JSON round trip, validation errors naming the field, rebasing and merging."""

import json

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from rfpose.errors import CalibrationError, CalibrationFileError, FormatError
from rfpose.rig_calibration import Calibration, SensorCalibration, invert, merge_all, pose_error


def T(rotvec, t):
    out = np.eye(4)
    out[:3, :3] = Rotation.from_rotvec(rotvec).as_matrix()
    out[:3, 3] = t
    return out


def full() -> Calibration:
    K = np.array([[520.0, 0, 320], [0, 521, 240], [0, 0, 1]])
    return Calibration("radar", {
        "radar": SensorCalibration(np.eye(4), 0),
        "lidar": SensorCalibration(T([0.01, -0.02, 0.03], [0.01, 0.02, 0.2]), -12_345_678, residual={"rms_mm": 3.2},
                                   covariance=np.diag([1e-6] * 3 + [1e-5] * 3)),
        "cam": SensorCalibration(T([-1.2, 1.2, -1.2], [0, 0.06, 0.1]), 5_000_000, K, np.array([-0.08, 0.02, 0, 0, 0]),
                                 (640, 480), {"rms_px": 0.2}),
    }, {"inputs": ["a.zarr"]})


def test_round_trip(tmp_path):
    c = full()
    p = c.save(tmp_path / "c.json")
    d = json.loads(p.read_text())
    assert d["rfpose_calibration"] == 1 and d["rig_frame"] == "radar"
    assert np.asarray(d["sensors"]["lidar"]["T_rig_sensor"]).shape == (4, 4)
    assert d["sensors"]["cam"]["image_size"] == [640, 480] and len(d["sensors"]["cam"]["dist"]) == 5
    c2 = Calibration.load(p)
    for n in c.sensors:
        a, b = c.sensors[n], c2.sensors[n]
        np.testing.assert_allclose(a.T_rig_sensor, b.T_rig_sensor)
        assert a.clock_offset_ns == b.clock_offset_ns
    np.testing.assert_allclose(c2["cam"].K, c["cam"].K)
    assert c2["lidar"].std()["trans_mm"] == pytest.approx([np.sqrt(1e-5) * 1e3] * 3)
    with pytest.raises(CalibrationError, match="exists"):
        c.save(p)
    c.save(p, overwrite=True)


@pytest.mark.parametrize("mutate, field", [
    (lambda d: d.pop("rfpose_calibration"), "rfpose_calibration"),
    (lambda d: d.update(rfpose_calibration=7), "rfpose_calibration"),
    (lambda d: d.update(rig_frame=3), "rig_frame"),
    (lambda d: d.update(sensors={}), "sensors"),
    (lambda d: d["sensors"]["lidar"].update(T_rig_sensor=[[1, 2], [3, 4]]), "sensors.lidar.T_rig_sensor"),
    (lambda d: d["sensors"]["lidar"]["T_rig_sensor"][0].__setitem__(0, 2.0), "sensors.lidar.T_rig_sensor"),
    (lambda d: d["sensors"]["lidar"].update(clock_offset_ns=1.5), "sensors.lidar.clock_offset_ns"),
    (lambda d: d["sensors"]["lidar"].update(clock_offset_ns="3"), "sensors.lidar.clock_offset_ns"),
    (lambda d: d["sensors"]["cam"].update(K=[[0, 0, 1], [0, 1, 1], [0, 0, 1]]), "sensors.cam.K"),
    (lambda d: d["sensors"]["cam"].update(dist=[0.1, 0.2]), "sensors.cam.dist"),
    (lambda d: d["sensors"]["cam"].update(image_size=[640.5, 480]), "sensors.cam.image_size"),
    (lambda d: d["sensors"]["lidar"].update(colour="red"), "sensors.lidar"),
    (lambda d: d["sensors"]["lidar"].update(covariance=[[float("nan")] * 6] * 6), "sensors.lidar.covariance"),
    (lambda d: d["sensors"]["radar"].update(T_rig_sensor=T([0, 0, 0], [1, 0, 0]).tolist()),
     "sensors.radar.T_rig_sensor"),
])
def test_validation_names_the_field(tmp_path, mutate, field):
    d = full().to_dict()
    mutate(d)
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(d))
    with pytest.raises(CalibrationFileError) as e:
        Calibration.load(p)
    assert e.value.field == field and str(p) in str(e.value)
    assert isinstance(e.value, FormatError)


def test_not_json(tmp_path):
    p = tmp_path / "x.json"
    p.write_text("{nope")
    with pytest.raises(CalibrationFileError, match="not JSON"):
        Calibration.load(p)
    with pytest.raises(CalibrationFileError, match="cannot read"):
        Calibration.load(tmp_path / "missing.json")


def test_rebase_and_transform():
    c = full()
    r = c.rebased("lidar")
    np.testing.assert_allclose(r.pose("lidar"), np.eye(4), atol=1e-12)
    # transforms between sensors do not depend on the rig frame
    np.testing.assert_allclose(r.transform("cam", "radar"), c.transform("cam", "radar"), atol=1e-12)
    assert r.clock_offset_ns("radar") == 12_345_678
    assert r.clock_offset_ns("cam") - r.clock_offset_ns("radar") == 5_000_000
    back = r.rebased("radar")
    for n in c.sensors:
        dt, dr = pose_error(back.pose(n), c.pose(n))
        assert dt < 1e-12 and dr < 1e-6


def test_merge_partial_runs():
    c = full()
    intr = Calibration("cam", {"cam": SensorCalibration(K=np.array([[500.0, 0, 321], [0, 501, 239], [0, 0, 1]]),
                                                        dist=np.zeros(5), image_size=(640, 480),
                                                        residual={"rms_px": 0.25})}, {"solver": "charuco"})
    lidar_cam = Calibration("lidar", {"cam": SensorCalibration(c.transform("lidar", "cam"))}, {"solver": "lc"})
    radar = Calibration("radar", {"lidar": SensorCalibration(c.pose("lidar"), c.clock_offset_ns("lidar"))},
                        {"solver": "reflector"})
    m = merge_all([radar, lidar_cam, intr])
    assert m.rig_frame == "radar"
    np.testing.assert_allclose(m.pose("cam"), c.pose("cam"), atol=1e-12)
    assert m["cam"].K[0, 0] == 500 and m["cam"].residual["rms_px"] == 0.25
    assert m["cam"].clock_offset_ns is None  # nobody estimated it
    assert [p.get("solver") for p in m.provenance["merged"]] == ["reflector", "lc", "charuco"]
    # the other order: the radar run is expressed in the lidar-camera run's frame
    m2 = lidar_cam.merge(radar)
    np.testing.assert_allclose(m2.transform("cam", "radar"), c.transform("cam", "radar"), atol=1e-12)
    with pytest.raises(CalibrationError, match="cannot merge"):
        radar.merge(Calibration("cam2", {"cam3": SensorCalibration(np.eye(4))}))


def test_compare_and_missing():
    c = full()
    est = Calibration.from_dict(c.to_dict())
    est.sensors["lidar"].T_rig_sensor = est.sensors["lidar"].T_rig_sensor @ T([0, 0, np.radians(0.5)], [0.003, 0, 0])
    e = est.compare(c)
    assert e["lidar"]["rot_deg"] == pytest.approx(0.5, abs=1e-6)
    assert e["lidar"]["trans_mm"] == pytest.approx(3.0, abs=0.1)
    assert e["cam"]["fx_pct"] == 0
    with pytest.raises(CalibrationError, match="no sensor"):
        c["nope"]
    np.testing.assert_allclose(invert(invert(c.pose("cam"))), c.pose("cam"), atol=1e-12)
