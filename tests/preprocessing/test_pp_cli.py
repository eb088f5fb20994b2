"""The adc2tensor, preprocess and bench dsp commands end to end (real files, real sessions, subprocesses)."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pp_synth import Target, encode_cascade, encode_dca, if_frame, small_params, write_session
from rfpose.cli import main

RFPOSE = [sys.executable, "-m", "rfpose"]


@pytest.fixture(scope="module")
def capture(tmp_path_factory):
    d = tmp_path_factory.mktemp("adc")
    cfg, p, b = small_params("awr1843boost", loops=16)
    (d / "radar.cfg").write_text(cfg.to_text())
    pos = (2.5, 0.6, 0.2)
    words = np.concatenate([encode_dca(if_frame(p, b, [Target(pos, (0.4, 0, 0), 500.0)], frame_index=i,
                                               noise=3.0, seed=i), p) for i in range(4)])
    words.tofile(d / "adc_data.bin")
    return d, p, pos


@pytest.mark.parametrize("fmt", ["polar", "cartesian", "hupr", "points"])
def test_adc2tensor_formats(capture, fmt):
    d, p, pos = capture
    out = d / f"out_{fmt}.npy"
    rc = main(["adc2tensor", str(d / "adc_data.bin"), "--cfg", str(d / "radar.cfg"), "--board", "awr1843boost",
               "--out", str(out), "--format", fmt, "--frames", "1:3"])
    assert rc == 0
    side = json.loads(out.with_suffix(".json").read_text())
    assert side["format"] == fmt and side["frames"] == [1, 2] and side["frames_in_file"] == 4
    assert "config" in side and "axes" in side and side["radar"]["num_loops"] == 16
    pos = np.asarray(pos) + np.array([0.4, 0, 0]) * p.frame_period_s  # frame 1: the target has moved
    r = np.linalg.norm(pos)
    if fmt == "points":
        z = np.load(out.with_suffix(".npz"))
        values, offsets = z["values"], z["offsets"]
        assert offsets.shape == (3,) and offsets[0] == 0 and offsets[-1] == len(values)
        for i in range(2):
            f = values[offsets[i]:offsets[i + 1]]
            assert len(f) >= 1 and np.linalg.norm(f[:, :3] - pos, axis=1).min() < 0.3
        return
    t = np.load(out)
    assert list(t.shape) == side["shapes"]["tensor"] and t.shape[0] == 2
    ax = side["axes"]
    m = np.abs(t[0])
    idx = np.unravel_index(int(m.argmax()), m.shape)
    if fmt == "cartesian":
        x, y, z = ax["x_m"][idx[3]], ax["y_m"][idx[2]], ax["z_m"][idx[1]]
        assert abs(np.sqrt(x * x + y * y + z * z) - r) < 0.1
    else:
        assert abs(ax["range_m"][idx[1]] - r) < 0.05
        assert abs(ax["sin_az"][idx[2]] - pos[1] / r) < 0.05


def test_adc2tensor_truncated_file_is_a_clean_error(capture, tmp_path):
    d, p, pos = capture
    bad = tmp_path / "trunc.bin"
    bad.write_bytes((d / "adc_data.bin").read_bytes()[:-999])
    res = subprocess.run(RFPOSE + ["adc2tensor", str(bad), "--cfg", str(d / "radar.cfg"), "--board", "awr1843boost",
                                   "--out", str(tmp_path / "o.npy")], capture_output=True, text=True)
    assert res.returncode == 2
    assert "left over" in res.stderr and "Traceback" not in res.stderr
    ok = main(["adc2tensor", str(bad), "--cfg", str(d / "radar.cfg"), "--board", "awr1843boost",
               "--out", str(tmp_path / "o.npy"), "--allow-partial", "--format", "hupr"])
    assert ok == 0 and np.load(tmp_path / "o.npy").shape[0] == 3


def test_adc2tensor_cascade_directory(tmp_path):
    cfg, p, b = small_params("mmwcas", loops=8)
    (tmp_path / "cas.cfg").write_text(cfg.to_text())
    chips = encode_cascade(if_frame(p, b, [Target((3.0, -1.0, 0.5), (0.2, 0, 0), 400.0)], noise=2.0))
    for k, name in enumerate(("master", "slave1", "slave2", "slave3")):
        chips[k].tofile(tmp_path / f"{name}_0000_data.bin")
    out = tmp_path / "cas.npy"
    assert main(["adc2tensor", str(tmp_path), "--cfg", str(tmp_path / "cas.cfg"), "--board", "mmwcas",
                 "--out", str(out), "--format", "cartesian"]) == 0
    t = np.load(out)
    assert t.shape == (1, 4, 16, 64, 160)


@pytest.fixture(scope="module")
def sessions(tmp_path_factory):
    d = tmp_path_factory.mktemp("sessions")
    s1, s2, s3 = d / "s1.zarr", d / "s2.zarr", d / "s3.zarr"
    write_session(s1, subject="1", n_frames=6)
    write_session(s2, subject="2", n_frames=4, label_every=2)  # frames 1 and 3 have no label in time
    write_session(s3, subject="3", n_frames=3)
    return [str(s1), str(s2), str(s3)]


def test_preprocess_rtpose_labels_and_splits(sessions, tmp_path):
    from rfpose.preprocessing.dataset import DatasetReader

    out = tmp_path / "ds.zarr"
    assert main(["preprocess", *sessions, "--out", str(out), "--format", "rtpose", "--scheduler", "synchronous",
                 "--frames-per-task", "2", "--val-subjects", "2", "--test-subjects", "3", "--no-progress"]) == 0
    r = DatasetReader(out)
    assert len(r) == 6 + 2 + 3
    assert r.attrs["rfpose_dataset_format"] == "1.0" and r.attrs["format"] == "rtpose"
    assert r.input_spec["shape"] == [8, 16, 64, 160] and r.input_spec["dtype"] == "float16"
    assert [s["subject"] for s in r.attrs["sessions"]] == ["1", "2", "3"]
    np.testing.assert_array_equal(r.split, [0] * 6 + [1] * 2 + [2] * 3)
    np.testing.assert_array_equal(r.frame_index, [0, 1, 2, 3, 4, 5, 0, 2, 0, 1, 2])
    s = r[7]
    assert s["x"].shape == (8, 16, 64, 160) and s["x"].dtype == np.float16
    np.testing.assert_allclose(s["joints"][0, 0], (2.5 + 0.05 * 2, 0.5, 0.3), atol=1e-6)
    # the sample's peak voxel is where its label is (joint = target position)
    x = s["x"].astype(np.float32).max(axis=0)
    iz, iy, ix = np.unravel_index(int(x.argmax()), x.shape)
    ax = r.input_spec["axes"]
    rr = np.linalg.norm([ax["x_m"][ix], ax["y_m"][iy], ax["z_m"][iz]])
    assert abs(rr - np.linalg.norm(s["joints"][0, 0])) < 0.1
    # joints_2d from the camera (K, T_rig_cam): the target projects left of / above the image centre
    assert s["joints_2d"].shape == (1, 15, 2) and s["joints_2d"][0, 0, 0] < 32 and s["joints_2d"][0, 0, 1] < 24
    arr = r.root["x"]
    assert arr.chunks == (1, 8, 16, 64, 160) and "zstd" in str(arr.compressors)


def test_preprocess_hupr_on_local_dask_cluster(tmp_path):
    from rfpose.preprocessing.dataset import DatasetReader

    s = tmp_path / "h.zarr"
    write_session(s, subject="7", n_frames=4, streams=("radar_hori", "radar_vert"))
    out = tmp_path / "dh.zarr"
    assert main(["preprocess", str(s), "--out", str(out), "--format", "hupr", "--frames-per-task", "2",
                 "--no-progress"]) == 0  # default scheduler: LocalCluster(2 workers x 1 thread)
    r = DatasetReader(out)
    assert len(r) == 4 and r.root["x_hori"].shape == (4, 16, 2, 64, 64, 8)
    h, v = r.hupr_window(0)
    assert h.shape == (8, 16, 2, 64, 64, 8)
    np.testing.assert_array_equal(r.window_indices(0), [0, 0, 0, 0, 0, 1, 2, 3])
    assert np.isfinite(r[0]["joints_2d"]).all()


def test_hupr_maps_averaged_over_elevation_train_and_evaluate(tmp_path, capsys):
    """``--hupr-doppler-bins 8 --hupr-elevation mean``: a 16 times smaller dataset equal (to float16) to the
    reduction of the full one; hupr-lite trains on it (skipping its own elevation step) and evaluates."""
    from rfpose.dataset import HUPR_ELEVATION_MEAN_NOTE
    from rfpose.preprocessing.dataset import DatasetReader
    from rfpose.preprocessing.hupr import zscored_elevation_mean

    from dataclasses import replace

    from rfpose.app.sim_datasets import get_preset, reduced_cfg

    preset = get_preset("sim-bench-hupr-v2")  # its rig and chirp, hupr14 labels in its camera
    s = tmp_path / "h.zarr"
    replace(preset, frames_per_session=4).simulate_session(
        str(s), "walk", 3, reduced_cfg(preset.board, preset.adc_samples, preset.loops), "clean", 0)
    common = [str(s), "--format", "hupr", "--labels", preset.preprocess.labels, "--camera-stream", "camera",
              "--scheduler", "synchronous", "--no-progress"]
    assert main(["preprocess", *common, "--out", str(tmp_path / "full.zarr")]) == 0
    assert main(["preprocess", *common, "--out", str(tmp_path / "mean.zarr"), "--hupr-doppler-bins", "8",
                 "--hupr-elevation", "mean"]) == 0
    full, mean = DatasetReader(tmp_path / "full.zarr"), DatasetReader(tmp_path / "mean.zarr")
    assert mean.root["x_vert"].shape == (4, 8, 2, 64, 64, 1) and mean.spec.normalisation.endswith(HUPR_ELEVATION_MEAN_NOTE)
    for name in ("x_hori", "x_vert"):
        x = np.asarray(full.root[name][:, 4:12]).astype(np.float32)
        got = np.asarray(mean.root[name]).astype(np.float32)
        # all but the zero-velocity bin (4 of 8): static clutter removed, its values are so small that the
        # full dataset stores them partly as float16 subnormals; averaged maps are stored z-scored, unharmed
        moving = np.arange(8) != 4
        np.testing.assert_allclose(got[:, moving], zscored_elevation_mean(x)[:, moving], atol=0.02, rtol=0.01)
    run = tmp_path / "run"
    assert main(["train", "--model", "hupr-lite", "--data", str(tmp_path / "mean.zarr"), "--out", str(run),
                 "--epochs", "1", "--batch-size", "2", "--limit-train", "2", "--model-arg", "frames=4"]) == 0
    assert json.loads((run / "config.json").read_text())["model"]["overrides"]["elevation_averaged"] is True
    capsys.readouterr()
    assert main(["evaluate", str(run), "--data", str(tmp_path / "mean.zarr"), "--split", "train", "--json"]) == 0
    assert 0.0 <= json.loads(capsys.readouterr().out)["ap"] <= 1.0
    # a run trained on averaged maps refuses the full ones, naming the difference
    assert main(["evaluate", str(run), "--data", str(tmp_path / "full.zarr"), "--split", "train"]) == 2
    assert "shape" in capsys.readouterr().err


def test_preprocess_points_and_fraction_split(sessions, tmp_path):
    from rfpose.preprocessing.dataset import DatasetReader

    out = tmp_path / "dp.zarr"
    assert main(["preprocess", *sessions, "--out", str(out), "--format", "points", "--scheduler", "synchronous",
                 "--test-fraction", "0.34", "--no-progress"]) == 0
    r = DatasetReader(out)
    off = r.root["points_offsets"][:]
    assert off.shape == (len(r) + 1,) and off[-1] == r.root["points_values"].shape[0]
    assert (r.split == 2).sum() == 3 and (r.split == 0).sum() == 8  # last subject ("3") is test
    p = r[0]["points"]
    assert np.linalg.norm(p[:, :3] - (2.5, 0.5, 0.3), axis=1).min() < 0.3


@pytest.mark.parametrize("model,args", [("pointpose", ["--model-arg", "frames=3", "--model-arg", "hidden=16"]),
                                        ("mars-cnn", [])])
def test_points_models_train_on_cfar_points(sessions, tmp_path, model, args):
    """The points family on rfpose's own CFAR points (unbounded points per frame, SNR, rtpose15 labels)."""
    data = tmp_path / "dp.zarr"
    assert main(["preprocess", *sessions, "--out", str(data), "--format", "points", "--scheduler", "synchronous",
                 "--test-fraction", "0.34", "--no-progress"]) == 0
    run = tmp_path / "run"
    assert main(["train", "--model", model, "--data", str(data), "--out", str(run), "--epochs", "1",
                 "--threads", "1", *args]) == 0
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["input_spec"]["tensor_format"] == "points-xyzvs" and cfg["input_spec"]["skeleton"] == "rtpose15"
    out = tmp_path / "eval.json"
    assert main(["evaluate", str(run), "--data", str(data), "--split", "test", "--out", str(out)]) == 0
    s = json.loads(out.read_text())
    assert s["frames"] == 3 and s["mae_cm"]["mean"] > 0


def test_preprocess_resumes_after_interruption(sessions, tmp_path):
    from rfpose.preprocessing.dataset import DatasetReader

    out = tmp_path / "resume.zarr"
    args = ["preprocess", sessions[0], "--out", str(out), "--format", "rtpose", "--scheduler", "synchronous",
            "--frames-per-task", "1", "--no-progress"]
    # Crash deterministically right after the second task is written: os._exit skips every clean-up, as a
    # SIGKILL would, whatever the machine's speed.
    crash = ("import os, sys\n"
             "import rfpose.preprocessing.dataset as d\n"
             "real, done = d.run_task, []\n"
             "def task(*a, **k):\n"
             "    r = real(*a, **k)\n"
             "    done.append(1)\n"
             "    if len(done) == 2:\n"
             "        os._exit(137)\n"
             "    return r\n"
             "d.run_task = task\n"
             "from rfpose.cli import main\n"
             "sys.exit(main(sys.argv[1:]))\n")
    proc = subprocess.run([sys.executable, "-c", crash, *args], capture_output=True, text=True)
    assert proc.returncode == 137, proc.stderr
    assert len(list((out / "_done" / "c").iterdir())) >= 1
    with pytest.raises(Exception, match="incomplete"):
        DatasetReader(out)
    res = subprocess.run(RFPOSE + args, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    assert summary["skipped_tasks"] == 2 and summary["tasks"] == 6
    fresh = tmp_path / "fresh.zarr"
    assert main(["preprocess", sessions[0], "--out", str(fresh), "--format", "rtpose", "--scheduler", "synchronous",
                 "--no-progress"]) == 0
    np.testing.assert_array_equal(DatasetReader(out).root["x"][:], DatasetReader(fresh).root["x"][:])
    # a different config is refused rather than mixed in
    bad_args = [("3" if a == "1" and args[i - 1] == "--frames-per-task" else a) for i, a in enumerate(args)]
    bad = subprocess.run(RFPOSE + bad_args, capture_output=True, text=True)
    assert bad.returncode == 2 and "different config" in bad.stderr
    # so is a finished dataset given another list of sessions (it would silently keep the old samples)
    more = subprocess.run(RFPOSE + args[:2] + [sessions[1]] + args[2:], capture_output=True, text=True)
    assert more.returncode == 2 and "other sessions" in more.stderr and str(out) in more.stderr


def test_bench_dsp_json_runs(tmp_path):
    out = tmp_path / "bench.json"
    res = subprocess.run(RFPOSE + ["bench", "dsp", "--quick", "--frames", "1", "--json", "--out", str(out)],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc == json.loads(out.read_text()) and "machine" in doc
    tasks = {r["task"] for r in doc["rows"]}
    assert len(tasks) == 3
    impl = [r["implementation"] for r in doc["rows"]]
    assert any(i.startswith("rfpose PolarProcessor") for i in impl) and any("numpy.fft" in i for i in impl)
    assert any(i.startswith("rfpose CartesianProcessor.from_words") for i in impl)
    assert any("HuPR" in i for i in impl) and any("RT-Pose" in i for i in impl) and any("bound" in i for i in impl)
    for r in doc["rows"]:
        assert {"task", "implementation", "frames_per_s", "ms_per_frame"} <= set(r)
        if r["frames_per_s"] is not None:
            assert r["frames_per_s"] > 0 and r["ms_per_frame"] == pytest.approx(1e3 / r["frames_per_s"])


def test_bench_dsp_live_times_the_monitor_voxel_stage_per_step():
    res = subprocess.run(RFPOSE + ["bench", "dsp", "--quick", "--tasks", "live", "--json"], capture_output=True,
                         text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    rows = {r["implementation"]: r for r in json.loads(res.stdout)["rows"]}
    steps = ["load", "range-Doppler", "azimuth", "row products", "elevation magnitudes", "resampling"]
    assert set(steps) | {"voxel stage, one thread"} <= set(rows)
    one = rows["voxel stage, one thread"]["ms_per_frame"]
    assert one == pytest.approx(sum(rows[s]["ms_per_frame"] for s in steps), rel=1e-6)
    two = rows["voxel stage, two threads (slowest part of each step)"]["ms_per_frame"]
    assert 0 < two < one  # the parallel steps split in two parts
    assert "two threads: 2 part(s)" in rows["elevation magnitudes"]["note"]
    assert rows["copy into the next window's input"]["ms_per_frame"] > 0


def test_preprocess_a_simulated_session(tmp_path):
    """rfpose simulate (the project's simulator) → rfpose preprocess: moving energy peaks at the walker."""
    from rfpose.preprocessing.dataset import DatasetReader

    pytest.importorskip("rfpose.sim.scenarios")
    sess = tmp_path / "walk.zarr"
    assert main(["simulate", "--scenario", "walk", "--frames", "3", "--board", "awr1843boost", "--out", str(sess),
                 "--no-lidar", "--no-camera"]) == 0
    out = tmp_path / "walk_ds.zarr"
    assert main(["preprocess", str(sess), "--out", str(out), "--format", "rtpose", "--scheduler", "synchronous",
                 "--no-progress"]) == 0
    r = DatasetReader(out)
    assert len(r) == 3 and r.attrs["sessions"][0]["action"] == "walk"
    ax = r.input_spec["axes"]
    z, y, x = np.meshgrid(ax["z_m"], ax["y_m"], ax["x_m"], indexing="ij")
    centre_bins = [i for i, v in enumerate(ax["velocity_mps"]) if abs(v) < 0.1]  # static clutter (walls)
    for k in range(3):
        s = r[k]
        moving = np.delete(s["x"].astype(np.float32), centre_bins, axis=0).max(axis=0)
        i = np.unravel_index(int(moving.argmax()), moving.shape)
        body = np.nanmean(s["joints"][0], axis=0)
        assert abs(x[i] - body[0]) < 0.4 and abs(y[i] - body[1]) < 0.4, (k, x[i], y[i], body)
