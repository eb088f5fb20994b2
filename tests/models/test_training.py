"""Training end to end on small synthetic datasets: overfitting, resume, CLI train/evaluate/export."""

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from rfpose.cli import main
from rfpose.models.augment import AugmentConfig
from rfpose.models.train import TrainConfig, load_run, train

# A full-resolution HRRadarPose with the paper's structure but fewer channels, for fast training.
SMALL_HR = {"channels": [8, 8, 16, 16], "fuse_channels": 16, "head_channels": 8}


def test_overfits_tiny_dataset(rt_dataset, tmp_path):
    """The loss of a full-resolution HRRadarPose (fewer channels) falls ≥ 10× on 2 samples within a minute."""
    cfg = TrainConfig(model="hrradarpose", data=str(rt_dataset), out=str(tmp_path / "run"), epochs=40, batch_size=2,
                      lr=3e-3, limit_train=2, limit_val=0, augment=AugmentConfig(enabled=False),
                      model_overrides=dict(SMALL_HR), max_minutes=1.0)
    result = train(cfg)
    losses = [h["train_loss"] for h in result["history"]]
    assert losses[0] / min(losses) >= 10, losses
    rows = list(csv.DictReader((tmp_path / "run" / "metrics.csv").open()))
    assert len(rows) == len(losses) and float(rows[0]["train_loss"]) == pytest.approx(losses[0], rel=1e-4)
    assert (tmp_path / "run" / "best.pt").exists() and any((tmp_path / "run" / "tb").iterdir())


def _cfg(data, out, **kw):
    base = dict(model="hrradarpose", data=str(data), out=str(out), epochs=3, batch_size=2, lr=2e-3,
                limit_train=4, limit_val=2, model_overrides=dict(SMALL_HR),
                augment=AugmentConfig(enabled=True, max_yaw_deg=5.0))
    base.update(kw)
    return TrainConfig(**base)


def test_resume_matches_uninterrupted_run(rt_dataset, tmp_path):
    train(_cfg(rt_dataset, tmp_path / "a"))
    r1 = train(_cfg(rt_dataset, tmp_path / "b", stop_after_epoch=1))
    assert r1["epochs_done"] == 1
    r2 = train(_cfg(rt_dataset, tmp_path / "b", resume=True))
    assert r2["epochs_done"] == 3 and [h["epoch"] for h in r2["history"]] == [2, 3]
    a = torch.load(tmp_path / "a" / "last.pt", weights_only=False)
    b = torch.load(tmp_path / "b" / "last.pt", weights_only=False)
    for k, v in a["model"].items():
        torch.testing.assert_close(b["model"][k], v, rtol=1e-5, atol=1e-6)
    rows = list(csv.DictReader((tmp_path / "b" / "metrics.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    cfg = json.loads((tmp_path / "b" / "config.json").read_text())
    assert cfg["model"]["name"] == "hrradarpose" and cfg["input_spec"]["tensor_format"] == "rtpose-dzyx-magnitude"
    assert cfg["train"]["optimizer"] == "adamw-onecycle" and cfg["train"]["grad_clip"] == 35.0


def test_epochs_in_budget_hand_cases():
    from rfpose.models.train import _epochs_in_budget

    cfg = TrainConfig(model="hrradarpose", data="-", out="-", epochs=100, max_minutes=10.0)
    # 2 epochs in 120 s: 480 s left at 60 s/epoch fit 8 more
    assert _epochs_in_budget(cfg, 2, 120.0, 60.0) == 10
    # a first epoch of 200 s that filled the cache, then 50 s epochs: after 3 (300 s), 300 s left fit 6 more
    assert _epochs_in_budget(cfg, 3, 300.0, 50.0) == 9
    assert _epochs_in_budget(cfg, 5, 599.0, 100.0) == 5  # nothing more fits
    assert _epochs_in_budget(cfg, 2, 1.0, 0.5) == 100  # never more than asked for


@pytest.mark.parametrize("cache", [False, True])  # cached: timed from the second epoch (the first fills the cache)
def test_time_budget_shortens_the_one_cycle_so_the_run_ends_annealed(rt_dataset, tmp_path, cache):
    # cached, the first epoch (filling both caches) took over 12 s on a loaded 2-core machine: a longer budget
    minutes = 0.4 if cache else 0.2
    result = train(_cfg(rt_dataset, tmp_path / "run", epochs=100_000, max_minutes=minutes, limit_val=1, cache=cache))
    done = result["epochs_done"]
    assert 1 < done < 100_000
    lrs = [h["lr"] for h in result["history"]]
    # the cycle ran its course: up to the 2e-3 maximum, then down to a few % of it (unshortened, the
    # learning rate would still be warming up from 2e-4). Ending at OneCycle's floor (2e-3 / 1e5) or being
    # cut by the budget inside the last epoch are both allowed.
    assert max(lrs) > 1.5e-3 and lrs[-1] < 1e-4, lrs
    assert torch.load(tmp_path / "run" / "last.pt", weights_only=False)["epochs"] == done


def test_cache_holds_the_validation_split_when_the_ram_allows(rt_dataset, tmp_path, monkeypatch, caplog):
    """--cache holds the validation split in RAM too (validated every epoch); with too little RAM left for it
    the run still trains, validating from the zarr."""
    from rfpose.dataset import reader
    from rfpose.models import train as train_mod
    from rfpose.models.families import get_family

    cfg = _cfg(rt_dataset, tmp_path / "run", cache=True).resolved()
    model, _ = train_mod.build_model_for_data(cfg.model, reader.DatasetReader(cfg.data).spec, cfg.model_overrides)
    family = get_family("hrradarpose")
    train_set, val_set = train_mod._datasets(cfg, model, family)
    assert train_set._cache is not None and val_set._cache is not None
    need = sum(block.nbytes for block in train_set._cache.values())
    arrays = len(family.input_arrays)
    free = iter([2 * need] * arrays + [0] * arrays)  # enough for the training split, then none for validation
    monkeypatch.setattr(reader, "available_memory_bytes", lambda: next(free))
    train_set, val_set = train_mod._datasets(cfg, model, family)
    assert train_set._cache is not None and val_set._cache is None
    assert "validation split not cached" in caplog.text


def test_cache_with_worker_processes_is_refused(rt_dataset, tmp_path):
    from rfpose.errors import ConfigError

    with pytest.raises(ConfigError, match="--workers 0"):
        train(_cfg(rt_dataset, tmp_path / "run", cache=True, workers=1))


def test_resume_without_checkpoint_is_an_error(rt_dataset, tmp_path):
    from rfpose.errors import FormatError

    with pytest.raises(FormatError, match="nothing to resume"):
        train(_cfg(rt_dataset, tmp_path / "none", resume=True))


def test_cli_train_evaluate_export_hrradarpose(rt_dataset_3splits, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--model", "hrradarpose-lite", "--data", str(rt_dataset_3splits), "--out", str(run),
                 "--epochs", "2", "--batch-size", "2", "--limit-train", "4", "--cache"]) == 0
    capsys.readouterr()
    out_json = tmp_path / "eval.json"
    assert main(["evaluate", str(run), "--data", str(rt_dataset_3splits), "--split", "test", "--json",
                 "--max-people", "2", "--out", str(out_json)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc == json.loads(out_json.read_text())
    for key in ("mpjpe_rtpose_mm", "mpjpe_mm", "pa_mpjpe_mm", "abs_mpjpe_mm", "mrpe_mm", "pck3d_150", "auc_0_150"):
        assert isinstance(doc[key], float)
    assert doc["mpjpe_rtpose_mm"] < doc["mpjpe_mm"]  # the zero root term lowers RT-Pose's mean
    assert set(doc["per_joint_mm"]) >= {"pelvis", "l_wrist"} and "session_mean" in doc
    assert doc["samples"] == 6 and doc["flip_test"] is False
    assert main(["evaluate", str(run), "--data", str(rt_dataset_3splits), "--split", "test", "--json",
                 "--flip-test"]) == 0
    flipped = json.loads(capsys.readouterr().out)
    assert flipped["flip_test"] is True and flipped["samples"] == 6 and flipped["mpjpe_mm"] != doc["mpjpe_mm"]
    assert main(["evaluate", str(run), "--data", str(rt_dataset_3splits), "--flip-test", "--max-people", "2"]) == 2
    assert "one person" in capsys.readouterr().err

    onnx = tmp_path / "m.onnx"
    assert main(["export", str(run), "--format", "onnx", "--out", str(onnx)]) == 0
    assert "parity" in capsys.readouterr().out and onnx.exists()
    meta = json.loads(Path(str(onnx) + ".json").read_text())
    assert meta["outputs"] == ["heatmap", "offsets"] and meta["input_spec"]["skeleton"] == "rtpose15"


def test_export_parity_onnx_and_torchscript_hupr(hupr_dataset, tmp_path):
    """onnxruntime and TorchScript outputs equal PyTorch within 1e-4 relative on a random input."""
    from rfpose.models.export import export_model, parity

    run = tmp_path / "run"
    train(TrainConfig(model="hupr-lite", data=str(hupr_dataset), out=str(run), epochs=1, batch_size=2, limit_train=2,
                      limit_val=2, model_overrides={"frames": 4}))
    model, doc = load_run(run)
    for fmt in ("onnx", "torchscript"):
        path = export_model(model, fmt, tmp_path / f"m.{fmt}", doc)
        assert parity(model, path, fmt) < 1e-4
    # a different batch size through the dynamic axis
    assert parity(model, tmp_path / "m.onnx", "onnx", batch=2) < 1e-4


def test_cli_evaluate_hupr_reports_ap(hupr_dataset, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--model", "hupr-lite", "--data", str(hupr_dataset), "--out", str(run), "--epochs", "1",
                 "--batch-size", "2", "--limit-train", "2", "--model-arg", "frames=4"]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(run), "--data", str(hupr_dataset), "--split", "val", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert 0.0 <= doc["ap"] <= 1.0 and set(doc["per_joint_ap"]) == {
        "r_hip", "r_knee", "r_ankle", "l_hip", "l_knee", "l_ankle", "neck", "head", "l_shoulder", "l_elbow",
        "l_wrist", "r_shoulder", "r_elbow", "r_wrist"}
    e = doc["pixel_errors"]
    assert e["paired"] == e["people"] > 0 and all(0 <= e[k] < 1e4 for k in ("joint_px", "centre_px", "centre_relative_px"))
    assert main(["evaluate", str(run), "--data", str(hupr_dataset), "--split", "val"]) == 0
    assert "pixel_errors (paired people" in capsys.readouterr().out


def test_cli_errors_are_one_line(rt_dataset, hupr_dataset, tmp_path, capsys):
    run = tmp_path / "run"
    train(_cfg(rt_dataset, run, epochs=1, augment=AugmentConfig(enabled=False)))
    capsys.readouterr()
    # evaluating on a dataset with a different spec
    assert main(["evaluate", str(run), "--data", str(hupr_dataset)]) == 2
    err = capsys.readouterr().err
    assert "does not match" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    # unknown model
    assert main(["train", "--model", "nope", "--data", str(rt_dataset), "--out", str(tmp_path / "x")]) == 2
    assert "valid: hrradarpose" in capsys.readouterr().err
    # a corrupt checkpoint
    (run / "best.pt").write_bytes(b"not a checkpoint")
    assert main(["export", str(run), "--format", "torchscript"]) == 2
    assert "cannot load checkpoint" in capsys.readouterr().err
    # not a run
    assert main(["evaluate", str(tmp_path), "--data", str(rt_dataset)]) == 2
    assert "not a training run" in capsys.readouterr().err


def test_bench_model_quick_json(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["bench", "model", "--models", "hrradarpose-lite", "--quick", "--json", "--out", str(out)]) == 0
    doc = json.loads(out.read_text())
    row = doc["rows"][0]
    assert row["model"] == "hrradarpose-lite" and row["params"] > 1e5 and row["macs"] > 1e8
    assert row["latency_ms"] > 0 and row["frames_per_s"] > 0 and row["runs"] == 2
    assert "cpu" in doc["machine"]


@pytest.mark.slow
def test_ddp_two_processes(rt_dataset, tmp_path):
    """torchrun --standalone --nproc-per-node=2: gloo DDP, DistributedSampler, rank-0 checkpoints."""
    torchrun = shutil.which("torchrun", path=os.path.dirname(sys.executable))
    run = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MASTER_ADDR": "127.0.0.1"}
    proc = subprocess.run([torchrun, "--standalone", "--nproc-per-node=2", "-m", "rfpose", "train", "--model",
                           "hrradarpose", "--data", str(rt_dataset), "--out", str(run), "--epochs", "1",
                           "--batch-size", "4", "--limit-train", "8", "--limit-val", "2", "--threads", "1",
                           "--model-arg", "channels=[8,8,16,16]", "--model-arg", "fuse_channels=16",
                           "--model-arg", "head_channels=8"],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    doc = json.loads((run / "config.json").read_text())
    assert doc["world_size"] == 2
    assert len(list(csv.DictReader((run / "metrics.csv").open()))) == 1
    model, _ = load_run(run)
    assert model is not None


@pytest.mark.parametrize("model, asked, used", [("hupr-lite", None, False), ("hupr-lite", True, True),
                                                ("hrradarpose-lite", None, True), ("hrradarpose-lite", False, False)])
def test_augmentation_defaults_to_the_papers_recipe_and_the_user_can_override_it(model, asked, used):
    """HuPR trains without augmentation (train and test transforms identical), RT-Pose with flips and yaw."""
    cfg = TrainConfig(model=model, data="d.zarr", out="r", augment=AugmentConfig(enabled=asked)).resolved()
    assert cfg.augment.enabled is used


def test_a_tied_selection_metric_picks_the_epoch_with_the_lower_validation_loss(tmp_path, monkeypatch):
    """An AP still 0 after several epochs must not leave best.pt at the first epoch."""
    import math
    from types import SimpleNamespace

    from rfpose.models import train as tr

    model = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    run = tr._RunState(model, model, opt, torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0), {})
    summaries = iter([{"loss": 0.3, "ap": 0.0}, {"loss": 0.1, "ap": 0.0}, {"loss": 0.2, "ap": 0.0},
                      {"loss": 0.5, "ap": 2.0}, {"loss": 0.4, "ap": 2.0}])
    family = SimpleNamespace(summarise=lambda *_: next(summaries),
                             selection_metric=lambda s: ("ap", s["ap"], True))
    monkeypatch.setattr(tr, "predict", lambda *a, **k: None)
    cfg = SimpleNamespace(val_batch_size=1, device="cpu", model="m", epochs=5)
    picked = []
    for epoch in range(5):
        tr._validate_and_save(run, cfg, family, [0], "s", epoch, {"epoch": epoch + 1, "train_loss": 1.0}, tmp_path, None)
        picked.append(run.best_epoch)
    assert picked == [0, 1, 1, 3, 4]
    assert torch.load(tmp_path / "best.pt", weights_only=False)["epoch"] == 4 and math.isclose(run.best_loss, 0.4)
