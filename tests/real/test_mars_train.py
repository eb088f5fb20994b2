"""The points family end to end on real MARS frames: rfpose train, rfpose evaluate (MARS's metric), and
the ``rfpose bench mars`` contract."""

import json

import pytest
import torch

from rfpose.cli import main

from tests.shared_data import shared_data


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def mars_zarr(tmp_path_factory):
    out = tmp_path_factory.mktemp("mars") / "mars.zarr"
    assert main(["import", "mars", str(shared_data("mars")), "--out", str(out)]) == 0
    return out


@pytest.mark.parametrize("model,args", [("mars-cnn", []), ("pointpose", ["--model-arg", "widths=[8,8]",
                                                                          "--model-arg", "hidden=16"])])
def test_train_and_evaluate_on_mars(mars_zarr, tmp_path, capsys, model, args):
    run = tmp_path / model
    assert main(["train", "--model", model, "--data", str(mars_zarr), "--out", str(run), "--epochs", "1",
                 "--limit-train", "512", "--limit-val", "256", "--threads", "1", *args]) == 0
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["model"]["family"] == "points" and cfg["input_spec"]["skeleton"] == "kinect19"
    capsys.readouterr()
    out = tmp_path / "eval.json"
    assert main(["evaluate", str(run), "--data", str(mars_zarr), "--split", "val", "--limit", "300",
                 "--batch-size", "128", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "mae_cm" in printed and "subject 1:" in printed
    s = json.loads(out.read_text())
    assert s["frames"] == 300 and set(s["mae_cm"]) == {"x", "y", "z", "mean"}
    assert abs(s["mae_cm"]["mean"] - sum(s["mae_cm"][a] for a in "xyz") / 3) < 1e-9
    assert s["mpjpe_mm"] > 0 and s["pa_mpjpe_mm"] > 0
    # the test split has no labels in the copy provided: a clear error, not a crash
    assert main(["evaluate", str(run), "--data", str(mars_zarr), "--split", "test"]) == 2


def test_bench_mars_contract(tmp_path, capsys):
    out = tmp_path / "bench"
    assert main(["bench", "mars", str(shared_data("mars")), "--out", str(out), "--minutes", "0.02",
                 "--models", "pointpose"]) == 0
    doc = json.loads((out / "pointpose-val.json").read_text())
    assert doc["model"] == "pointpose" and doc["split"] == "val" and doc["frames"] == 8033
    assert set(doc["mae_cm"]) == {"x", "y", "z", "mean"} and doc["mpjpe_mm"] > 0
    assert set(doc["per_subject_mae_cm"]) == {"1", "2", "3", "4"}
    assert doc["machine"]["load_average_1min"] is not None
    assert not (out / "pointpose-test.json").exists()  # no test labels: no test evaluation
    assert "pointpose" in capsys.readouterr().out
