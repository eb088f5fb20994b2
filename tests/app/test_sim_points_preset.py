"""sim-points-v1: one simulation, two points datasets of the same frames (rfpose's CFAR points from the raw
ADC, the demo firmware's UART points), split by subject; a points dataset from a point-cloud stream stores
the device's points as sent; the constant mean-pose baseline on it."""

import dataclasses
import json

import numpy as np
import pytest

from rfpose.cli import main


@pytest.fixture(scope="module")
def mini(tmp_path_factory):
    from rfpose.app.sim_datasets import build_preset, get_preset

    preset = dataclasses.replace(get_preset("sim-points-v1"), name="sim-points-mini", subject_seeds=(1, 2, 3),
                                 val_seeds=(2,), test_seeds=(3,), scenarios=("walk",), scenes=("cluttered",),
                                 frames_per_session=5)
    out = tmp_path_factory.mktemp("sim-points")
    return out, build_preset(preset, out, progress=False)


def test_the_preset_is_the_demo_firmware_board_split_by_subject():
    from rfpose.app.sim_datasets import get_preset

    p = get_preset("sim-points-v1")
    assert p.board == "awr1843boost" and p.adc_samples is None and p.loops is None  # TI's demo chirp as shipped
    assert p.preprocess.format == "points" and set(p.scenes) == {"clean", "cluttered"} and len(p.scenarios) == 6
    assert len(p.subject_seeds) == 8 and p.val_seeds == (6,) and p.test_seeds == (7, 8)
    assert len(p.sessions()) * p.frames_per_session == 3840


def test_both_datasets_hold_the_same_frames_and_labels(mini):
    from rfpose.dataset import DatasetReader

    out, summary = mini
    assert summary["split_samples"] == {"train": 5, "val": 5, "test": 5}
    cfar, uart = DatasetReader(out / "dataset.zarr"), DatasetReader(out / "dataset-uart.zarr")
    assert cfar.preprocess_config.points_from == "adc" and cfar.preprocess_config.radar_stream == "radar"
    assert uart.preprocess_config.points_from == "stream" and uart.preprocess_config.radar_stream == "radar_points"
    for name in ("joints", "split", "subject", "timestamp_ns"):
        np.testing.assert_array_equal(cfar.labels(name) if name == "joints" else cfar.root[name][:],
                                      uart.labels(name) if name == "joints" else uart.root[name][:])
    assert uart.attrs["preset"]["name"] == "sim-points-mini"
    assert "device's points as sent" in uart.spec.normalisation and "device" not in cfar.spec.normalisation


def test_uart_points_are_the_sessions_stream_through_the_wire(mini):
    """dataset-uart.zarr stores the session's radar_points stream unchanged; those points went through the
    TLV packer and rfpose's UART parser (SNR at the wire's 0.1 dB) and are the demo configuration's CFAR
    (15 dB, no static clutter removal, as the cfg says) on the same ADC frame."""
    from rfpose.app.sim_datasets.sim_points_v1 import DemoFirmware, demo_cfar_config
    from rfpose.dataset import DatasetReader
    from rfpose.radar_config import parse_cfg
    from rfpose.session import SessionReader

    out, _ = mini
    uart = DatasetReader(out / "dataset-uart.zarr")
    session = SessionReader(uart.attrs["sessions"][0]["path"])
    stream = session.stream("radar_points")
    cfg_text = stream.metadata["cfg_text"]
    demo = demo_cfar_config(parse_cfg(cfg_text, "<cfg>"))
    assert (demo.threshold_db, demo.guard, demo.train, demo.clutter_removal) == (15.0, (2, 4), (4, 8), False)
    firmware = DemoFirmware("awr1843boost", cfg_text)
    radar = session.stream("radar")
    for i in range(len(stream)):
        pts = stream[i].points
        assert np.array_equal(pts, firmware(radar[i]))
        stored = uart.points([i])[0]
        np.testing.assert_array_equal(stored, np.stack([pts[f] for f in ("x", "y", "z", "v", "snr_db")], 1))
        np.testing.assert_allclose(stored[:, 4] * 10, np.round(stored[:, 4] * 10), atol=1e-3)
    assert stream.metadata["derived_from"] == "radar"


def test_a_point_cloud_stream_cannot_make_voxels(mini, tmp_path, capsys):
    out, _ = mini
    session = sorted((out / "sessions").iterdir())[0]
    assert main(["preprocess", str(session), "--out", str(tmp_path / "x.zarr"), "--format", "rtpose",
                 "--radar-stream", "radar_points", "--scheduler", "synchronous", "--no-progress"]) == 2
    assert "is a point-cloud stream: only --format points" in capsys.readouterr().err


def test_mean_pose_baseline_on_a_points_dataset(mini, tmp_path, capsys):
    out, _ = mini
    path = tmp_path / "b.json"
    assert main(["baseline", "--data", str(out / "dataset-uart.zarr"), "--split", "test", "--kind",
                 "mean-pose,mean-at-root", "--out", str(path)]) == 0
    assert "mae_cm_mean" in capsys.readouterr().out
    rows = {r["baseline"]: r for r in json.loads(path.read_text())}
    mean_pose, at_root = rows["mean-pose"], rows["mean-at-root"]
    assert mean_pose["mrpe_mm"] > 0 and at_root["mrpe_mm"] == 0
    assert set(mean_pose["mae_cm"]) == {"x", "y", "z", "mean"} and mean_pose["mae_cm"]["mean"] > at_root["mae_cm"]["mean"]
    from rfpose.dataset import DatasetReader

    r = DatasetReader(out / "dataset-uart.zarr")
    train = r.labels("joints")[r.indices("train")][:, 0]
    np.testing.assert_allclose(mean_pose["fit"]["mean_abs_pose_m"], train.mean(axis=0), atol=1e-5)
    assert main(["baseline", "--data", str(out / "dataset-uart.zarr"), "--split", "test", "--json"]) == 0
    assert [r["baseline"] for r in json.loads(capsys.readouterr().out)] == ["mean-at-root", "mean-pose"]
    assert main(["baseline", "--data", str(out / "dataset-uart.zarr"), "--split", "test", "--kind", "mean-at-peak"]) == 2
    assert "need an rtpose dataset" in capsys.readouterr().err
