"""A training run deploys on its own: the live pipeline rebuilds its dataset's exact preprocessing from the
run directory (issue 14's first Done-when), and refuses a radar that would give other tensors."""

import json

import numpy as np
import pytest
import torch

from rfpose.cli import main

# a grid other than RT-Pose's ROI, and Hann windows over the loops and the virtual array
GRID = ["--grid-x-m=1.0,4.1", "--grid-y-m=-1.5,1.5", "--grid-z-m=-1.0,0.75", "--grid-n-zyx=8,16,32"]
WINDOWS = ["--doppler-window", "hann", "--angle-window", "hann"]
TINY_LITE = ["--model-arg", "channels=[8,8,8]", "--model-arg", "fuse_channels=8", "--model-arg", "head_channels=4",
             "--model-arg", "stem_channels=8", "--model-arg", "frames=2"]


@pytest.fixture(scope="module")
def deployed(tmp_path_factory):
    """A simulated session, its dataset (non-default grid, Hann windows) and a one-epoch run on it."""
    tmp = tmp_path_factory.mktemp("deploy")
    torch.set_num_threads(2)
    session, data, run = tmp / "walk.zarr", tmp / "ds.zarr", tmp / "run"
    assert main(["simulate", "--scenario", "walk", "--frames", "4", "--board", "awr1843boost", "--out", str(session),
                 "--no-lidar", "--no-camera", "--seed", "3"]) == 0
    assert main(["preprocess", str(session), "--out", str(data), "--format", "rtpose", "--scheduler", "synchronous",
                 "--no-progress", *GRID, *WINDOWS]) == 0
    assert main(["train", "--model", "hrradarpose-lite", "--data", str(data), "--out", str(run), "--epochs", "1",
                 "--batch-size", "2", "--threads", "2", "--no-augment", *TINY_LITE]) == 0
    return session, data, run


def _radar(session):
    from rfpose.session import SessionReader

    r = SessionReader(session)
    s = r.stream("radar")
    return s, s.metadata


def test_live_inputs_equal_the_dataset_tensors(deployed):
    from rfpose.app.live import RadarPosePipeline
    from rfpose.dataset import DatasetReader

    session, data, run = deployed
    doc = json.loads((run / "config.json").read_text())
    assert doc["preprocess"]["doppler_window"] == "hann" and doc["preprocess"]["grid_n_zyx"] == [8, 16, 32]
    assert doc["preprocess"]["labels"] == "gt" and doc["radar"]["board"] == "awr1843boost"
    stream, meta = _radar(session)
    pipe = RadarPosePipeline(run, meta["board"], meta["cfg_text"], threads=2)
    reader = DatasetReader(data)
    assert reader.label_set == "gt"
    assert tuple(pipe.processor.output_shape) == tuple(reader.spec.shape)
    windows = reader.windows(2, target=1)  # the training reader's causal two-frame windows
    assert list(reader.frame_index) == [0, 1, 2, 3]
    for i in range(len(reader)):
        (live,) = pipe.prepare(stream.read_block(i, i + 1)[0])
        stored = reader.read("x", windows[i]).astype(np.float32).reshape(1, -1, *reader.spec.shape[1:])
        np.testing.assert_allclose(live.numpy(), stored, rtol=2 ** -10, atol=0)
    assert pipe(stream.read_block(0, 1)[0]).joints.shape[-1] == 3
    # the windows matter: the same grid without them gives other tensors
    from dataclasses import replace

    from rfpose.dataset import to_float16
    from rfpose.preprocessing.factory import build_processor

    plain = build_processor(replace(reader.preprocess_config, doppler_window="none", angle_window="none"),
                            pipe.params, pipe.board)
    first = plain(pipe._decode(stream.read_block(0, 1)[0]))[0]
    assert first.shape == reader[0]["x"].shape
    assert not np.allclose(first.astype(np.float32), reader[0]["x"].astype(np.float32), rtol=0.05)
    assert to_float16(pipe.processor.compute(pipe._decode(stream.read_block(0, 1)[0]))[0]).tobytes() == reader[0]["x"].tobytes()


def test_a_different_radar_configuration_is_refused_naming_the_field(deployed):
    from rfpose.app.live import RadarPosePipeline
    from rfpose.app.sim_datasets import reduced_cfg
    from rfpose.preprocessing.factory import RadarMismatchError

    session, data, run = deployed
    _, meta = _radar(session)
    assert "profileCfg 0 77 109 5.8 57 0 0 70.006 1 256 " in meta["cfg_text"]  # the simulator's: 256 samples
    other = reduced_cfg(meta["board"], 128, None)
    with pytest.raises(RadarMismatchError, match="num_adc_samples") as e:
        RadarPosePipeline(run, meta["board"], other, threads=2)
    assert e.value.field == "num_adc_samples"
    with pytest.raises(RadarMismatchError, match="board"):
        RadarPosePipeline(run, "iwr6843isk", meta["cfg_text"], threads=2)


def test_a_run_without_its_preprocessing_still_evaluates(deployed, tmp_path):
    """Runs trained before runs recorded their dataset's preprocessing keep working."""
    import shutil

    from rfpose.models.evaluate import evaluate_run

    session, data, run = deployed
    old = tmp_path / "old-run"
    shutil.copytree(run, old)
    doc = json.loads((old / "config.json").read_text())
    del doc["preprocess"], doc["radar"]
    (old / "config.json").write_text(json.dumps(doc))
    summary = evaluate_run(old, data, split="train", progress=False)
    assert summary["samples"] == 4 and "mpjpe_rtpose_mm" in summary


def test_evaluating_on_a_differently_preprocessed_dataset_names_the_setting(deployed, tmp_path):
    """Same grid and radar, no windows: shapes match, the run refuses it naming the windows."""
    from rfpose.errors import FormatError
    from rfpose.models.evaluate import evaluate_run

    session, data, run = deployed
    plain = tmp_path / "plain.zarr"
    assert main(["preprocess", str(session), "--out", str(plain), "--format", "rtpose", "--scheduler", "synchronous",
                 "--no-progress", *GRID]) == 0
    with pytest.raises(FormatError, match="doppler window|doppler_window"):
        evaluate_run(run, plain, split="train", progress=False)
