"""Point-cloud models deployed on point sources: a tiny ``pointpose`` run trained on a recorded demo-firmware
points stream runs in the live pipeline and in the monitor (real mosquitto) on a real ``emu+uart://``
emulator (a pty speaking the TLV protocol), gets what the dataset stored for the same frames, and a run
that cannot take a source's input is refused with a typed error."""

from __future__ import annotations

import json
import threading
import time

import numpy as np
import pytest
import torch

from rfpose.cli import main

BOARD = "awr1843boost"
PERIOD_S = 0.1  # the board's default configuration: 10 frames/s
URI = f"emu+uart://?board={BOARD}&points=sim://walk&seed=2"
TINY = ["--model-arg", "widths=[8,8]", "--model-arg", "hidden=16", "--model-arg", "frames=3"]  # stride 2: 5 frames


def _uart_session(path, seed: int, frames: int, subject: str) -> None:
    """A session as ``rfpose record`` writes one from ``emu+uart://?points=sim://walk&seed=SEED``: the
    ``radar_points`` stream of what the UART parser returns for frames 0…frames-1 (the emulator's
    ``expected_points``, which the driver tests prove the parser gives), 10 Hz timestamps, and the
    simulator's skeletons at the same times as the label set ``gt`` (rig frame)."""
    from rfpose.boards import get_board
    from rfpose.drivers.emulators.uart import UartEmulator, simulated_points
    from rfpose.session import SessionWriter
    from rfpose.sim.rig import EPOCH_NS
    from rfpose.sim.scenarios import build_rig
    from rfpose.source import PointCloudFrame

    rig = build_rig("walk", seed=seed, num_frames=frames, board=BOARD, camera=False, lidar=False)
    emulator = UartEmulator(simulated_points("walk", seed=seed, frame_period_s=PERIOD_S), autostart=False)
    try:
        with SessionWriter(path, attrs={"subject": subject}) as w:
            w.add_points_stream("radar_points", board=BOARD, cfg_text=get_board(BOARD).default_config().to_text(),
                                extrinsics=rig.radars[0].T_rig_sensor)
            w.add_labels("gt", skeleton="rtpose15", provenance={"method": "simulator"})
            for i in range(frames):
                ts = EPOCH_NS + int(round(i * PERIOD_S * 1e9))
                w.append("radar_points", PointCloudFrame(i, ts, emulator.expected_points(i), i))
                w.append_labels("gt", ts, rig.world.joints(i * PERIOD_S)[0], frame_index=i)
    finally:
        emulator.close()


@pytest.fixture(scope="module")
def points_run(tmp_path_factory):
    """(dataset, run): two recorded UART sessions (seed 2 train, seed 3 val), their points dataset and a
    one-epoch tiny pointpose run on it."""
    d = tmp_path_factory.mktemp("points-run")
    _uart_session(d / "a.zarr", 2, 30, "a")
    _uart_session(d / "b.zarr", 3, 10, "b")
    data, run = d / "ds.zarr", d / "run"
    threads = torch.get_num_threads()
    try:
        assert main(["preprocess", str(d / "a.zarr"), str(d / "b.zarr"), "--out", str(data), "--format", "points",
                     "--radar-stream", "radar_points", "--val-subjects", "b", "--scheduler", "synchronous",
                     "--no-progress"]) == 0
        assert main(["train", "--model", "pointpose", "--data", str(data), "--out", str(run), "--epochs", "1",
                     "--batch-size", "8", "--threads", "1", *TINY]) == 0
    finally:
        torch.set_num_threads(threads)
    return data, run


def test_dataset_of_a_points_stream_stores_the_devices_points(points_run, tmp_path):
    from rfpose.dataset import DatasetReader

    data, run = points_run
    reader = DatasetReader(data)
    assert reader.preprocess_config.points_from == "stream" and reader.preprocess_config.radar_stream == "radar_points"
    doc = json.loads((run / "config.json").read_text())
    assert doc["preprocess"]["points_from"] == "stream" and doc["radar"]["board"] == BOARD
    from rfpose.drivers.emulators.uart import UartEmulator, simulated_points

    with UartEmulator(simulated_points("walk", seed=2, frame_period_s=PERIOD_S), autostart=False) as emu:
        for row in (0, 7, 29):
            want = emu.expected_points(row)
            got = reader.points([row])[0]
            np.testing.assert_array_equal(got, np.stack([want[f] for f in ("x", "y", "z", "v", "snr_db")], 1))


def _frames(src, n: int) -> list:
    out = []
    while len(out) < n:
        f = src.read(timeout_s=5.0)
        assert f is not None, "the emulated board sent nothing for 5 s"
        out.append(f)
    return out


def test_live_pipeline_on_an_emulated_uart_board_gets_the_dataset_inputs(points_run):
    """The pipeline, fed the emulator's frames over its pty, builds for frame k the same (points, valid)
    window the training reader gives for dataset row k, and its skeletons are the model's on them."""
    from rfpose.app.live import RadarPosePipeline
    from rfpose.dataset import DatasetReader
    from rfpose.drivers.open_source import open_source
    from rfpose.models.families import get_family
    from rfpose.models.points_data import padded_points

    data, run = points_run
    with open_source(URI) as src:
        frames = _frames(src, 12)
        meta = dict(src.metadata)
    assert src.kind == "points" and [f.frame_number for f in frames] == list(range(12))
    prep = RadarPosePipeline(run, meta["board"], meta["cfg_text"], threads=1, source_kind=src.kind)
    live = RadarPosePipeline(run, meta["board"], meta["cfg_text"], threads=1, source_kind=src.kind)
    reader = DatasetReader(data)
    model = prep.model
    assert model.frames == 3 and model.frame_stride == 2
    windows = get_family(model).windows(reader, model)
    stored_points, stored_valid = padded_points(reader, model.max_points)
    for f in frames:
        points, valid = prep.prepare(f.points)
        row = f.frame_number  # session a is the dataset's first, every frame labelled
        np.testing.assert_array_equal(points[0].numpy(), stored_points[windows[row]])
        np.testing.assert_array_equal(valid[0].numpy(), stored_valid[windows[row]])
        res = live(f.points)
        with torch.inference_mode():
            want, _ = model.decode(model(points, valid))
        assert res.joints.shape == (1, 15, 3) and np.isfinite(res.joints).all()
        np.testing.assert_allclose(res.joints, want[0].numpy(), rtol=0, atol=1e-6)
        assert res.latency_ms["total"] > 0
    assert windows[11].tolist() == [7, 9, 11] and windows[1].tolist() == [0, 0, 1]  # causal, clamped at the start
    # the recorded session replayed is a points source too
    replay = RadarPosePipeline(run, meta["board"], meta["cfg_text"], threads=1, source_kind="points")
    with open_source(f"session://{data.parent / 'a.zarr'}#radar_points") as src:
        assert src.kind == "points" and src.metadata["board"] == BOARD
        for row in range(12):
            points, valid = replay.prepare(src.read(timeout_s=1.0).points)
            np.testing.assert_array_equal(points[0].numpy(), stored_points[windows[row]])
            np.testing.assert_array_equal(valid[0].numpy(), stored_valid[windows[row]])


def test_a_run_that_cannot_take_the_source_is_refused(points_run, monitor_run, tmp_path):
    from rfpose.app.live import RadarPosePipeline
    from rfpose.app.sim_datasets import reduced_cfg
    from rfpose.boards import get_board
    from rfpose.errors import SourceMismatchError
    from rfpose.preprocessing.factory import RadarMismatchError
    from rfpose.source import RADAR_POINT_DTYPE

    data, run = points_run
    cfg = get_board(BOARD).default_config().to_text()
    # a points-stream run on raw ADC frames
    with pytest.raises(SourceMismatchError, match="point-cloud stream 'radar_points'.*raw ADC frames") as e:
        RadarPosePipeline(run, BOARD, cfg, source_kind="radar")
    assert (e.value.needs, e.value.gives) == ("points", "radar")
    # a voxel (RT-Pose) run on a demo-firmware board
    session, tensor_run = monitor_run
    with pytest.raises(SourceMismatchError, match="voxel tensors computed from the raw ADC.*point clouds"):
        RadarPosePipeline(tensor_run, BOARD, cfg, source_kind="points")
    # a run on rfpose's CFAR points (from raw ADC) on a demo-firmware board
    cfar_data, cfar_run = tmp_path / "cfar.zarr", tmp_path / "cfar-run"
    assert main(["preprocess", str(session), "--out", str(cfar_data), "--format", "points", "--scheduler",
                 "synchronous", "--no-progress"]) == 0
    assert main(["train", "--model", "pointpose", "--data", str(cfar_data), "--out", str(cfar_run), "--epochs", "1",
                 "--limit-train", "4", "--limit-val", "2", "--batch-size", "4", "--threads", "1", *TINY]) == 0
    assert json.loads((cfar_run / "config.json").read_text())["preprocess"]["points_from"] == "adc"
    with pytest.raises(SourceMismatchError, match="rfpose's CFAR points"):
        RadarPosePipeline(cfar_run, BOARD, cfg, source_kind="points")
    RadarPosePipeline(cfar_run, BOARD, cfg, source_kind="radar")  # …which a raw-ADC source can feed
    # another radar, or another chirp on the same board
    with pytest.raises(RadarMismatchError, match="board"):
        RadarPosePipeline(run, "iwr6843isk", get_board("iwr6843isk").default_config().to_text(), source_kind="points")
    with pytest.raises(RadarMismatchError, match="num_adc_samples"):
        RadarPosePipeline(run, BOARD, reduced_cfg(BOARD, 128, None), source_kind="points")
    # points without SNR (an SDK 2.x stream): the model reads five fields
    pipe = RadarPosePipeline(run, BOARD, cfg, source_kind="points")
    pts = np.zeros(3, RADAR_POINT_DTYPE)
    pts["x"], pts["snr_db"] = 2.0, np.nan
    with pytest.raises(SourceMismatchError, match="no Doppler or SNR"):
        pipe(pts)
    # the CLI names it in one line
    assert main(["monitor", "--source", "emu+uart://?board=awr1843boost", "--run", str(tensor_run),
                 "--duration", "3", "--event-log", str(tmp_path / "e.sqlite")]) == 2


def test_monitor_runs_a_points_model_on_an_emulated_uart_board(points_run, tmp_path, broker, subscriber):
    """The monitor with a points run on ``emu+uart://``: the model's skeletons (not point clusters) reach
    the MQTT skeleton topic, by ONNX Runtime on the exported model."""
    from monitor_sim import sim_config

    from rfpose.app.monitor.detect import OnnxRuntimeModel, SkeletonEstimator
    from rfpose.app.monitor.service import Monitor

    data, run = points_run
    cfg = sim_config(device_id="pts")
    cfg.source.uri = URI
    cfg.model.run, cfg.model.runtime, cfg.model.threads, cfg.model.min_score = str(run), "onnx", 1, 0.0
    cfg.mqtt.host, cfg.mqtt.port, cfg.mqtt.skeletons = "127.0.0.1", broker.port, True
    cfg.web.enabled = False
    cfg.event_log = str(tmp_path / "ev.sqlite")
    # a one-epoch model predicts about its mean pose wherever the person walks: the tracker rightly takes a
    # detection that does not move for static clutter, so births need no motion here (this is about inference)
    cfg.tracking.birth_motion_m = 0.0
    mon = Monitor(cfg)
    th = threading.Thread(target=mon.run, kwargs={"duration_s": 60}, daemon=True)
    th.start()
    try:
        t0 = time.monotonic()
        seen = []
        while time.monotonic() - t0 < 30:
            seen = [json.loads(p) for p in subscriber.all("rfpose/pts/skeletons")]
            if sum(1 for p in seen if p["tracks"] and p["tracks"][0]["joints"]) >= 3:
                break
            time.sleep(0.1)
    finally:
        mon.stop()
        th.join(timeout=10)
    est = mon._estimator
    assert isinstance(est, SkeletonEstimator) and isinstance(est.pipeline.model, OnnxRuntimeModel)
    assert est.pipeline.source_kind == "points" and mon.reader.opened.kind == "points"
    tracked = [p for p in seen if p["tracks"] and p["tracks"][0]["joints"]]
    assert len(tracked) >= 3, (len(seen), seen[-1:], mon.processed)
    joints = np.array(tracked[-1]["tracks"][0]["joints"])
    assert joints.shape == (15, 3) and np.isfinite(joints).all()
    assert (run / "model.onnx").exists()


def test_export_of_the_points_run_runs_in_onnxruntime(points_run, tmp_path, capsys):
    """``rfpose export`` of a points run: parity checked by the command, the file's inputs named as the
    model's arguments, and ONNX Runtime equal to PyTorch on the live pipeline's real inputs."""
    import onnxruntime as ort

    from rfpose.models.export import onnx_feeds
    from rfpose.models.families import get_family
    from rfpose.models.points_data import live_points
    from rfpose.models.train import load_run

    data, run = points_run
    out = tmp_path / "pp.onnx"
    assert main(["export", str(run), "--format", "onnx", "--out", str(out)]) == 0
    assert "parity" in capsys.readouterr().out
    meta = json.loads((tmp_path / "pp.onnx.json").read_text())
    assert list(meta["inputs"]) == ["points", "valid"] and meta["outputs"] == ["joints"]
    model, _ = load_run(run)
    from rfpose.dataset import DatasetReader

    reader = DatasetReader(data)
    windows = get_family(model).windows(reader, model)
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    for row in range(8):
        inputs = live_points(reader.points(windows[row]), model.max_points)
        (got,) = sess.run(None, onnx_feeds(sess, ["points", "valid"], inputs))
        with torch.inference_mode():
            want = model.eval()(*inputs)["joints"].numpy()
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
