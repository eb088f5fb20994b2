"""sim-bench-v1-auto: its definition, and a reduced build (3 subjects, one walk session each, 2 frames) whose
sessions carry cameras + LiDAR on one rig, the rig's calibration and ``rfpose annotate``'s label set, and whose
dataset is built from those labels."""

from dataclasses import replace

import numpy as np
import pytest
import zarr

from rfpose.app.sim_datasets import build_preset, get_preset
from rfpose.dataset import PreprocessConfig
from rfpose.session import open_session

TINY_GRID = dict(grid_x_m=(1.0, 5.5), grid_y_m=(-3.0, 3.0), grid_z_m=(-1.09, 1.45), grid_n_zyx=(8, 16, 32))


def test_definition_is_sim_bench_v1_with_auto_labels():
    auto, bench = get_preset("sim-bench-v1-auto"), get_preset("sim-bench-v1")
    for field in ("board", "adc_samples", "loops", "frame_period_ms", "subject_seeds", "scenarios", "scenes",
                  "frames_per_session", "train_takes", "val_seeds", "test_seeds", "preprocess"):
        assert getattr(auto, field) == getattr(bench, field), field
    assert auto.detector == "mediapipe" and auto.labels == "auto" and auto.cameras == ("cam_left",)
    assert auto.preprocess_config({s: f"S{s}" for s in auto.subject_seeds}).labels == "auto"
    assert auto.to_dict()["rig_seed"] == 0


@pytest.fixture(scope="module")
def tiny_auto(tmp_path_factory):
    """The reduced preset; its calibration step is given the simulator's truth as CALIB.json (tests may read
    the truth; the captures + ``rfpose calibrate`` path is exercised by tests/calibration and by the
    documented command in docs/annotation.md), and the groundtruth detector stands in for MediaPipe."""
    from rfpose.sim.scenarios import build_rig

    out = tmp_path_factory.mktemp("simbench-auto")
    preset = replace(get_preset("sim-bench-v1-auto"), name="tiny-auto", subject_seeds=(1, 2, 3), val_seeds=(2,),
                     test_seeds=(3,), scenarios=("walk",), scenes=("clean",), frames_per_session=3, train_takes=1,
                     detector="groundtruth", preprocess=PreprocessConfig(**TINY_GRID))
    calib = preset.calibration_path(out)
    calib.parent.mkdir(parents=True)
    build_rig("walk", seed=preset.rig_seed, num_frames=1, board=preset.board).truth().save(calib)
    summary = build_preset(preset, out, progress=False)
    return out, preset, summary


def test_reduced_build_labels_sessions_with_rfpose_annotate(tiny_auto):
    out, preset, summary = tiny_auto
    assert summary["sessions"] == 3 and summary["split_samples"]["test"] >= 1
    poses = []
    for path in sorted((out / "sessions").glob("*.zarr")):
        r = open_session(path)
        assert set(r.streams) == {"radar", "cam_left", "lidar"}  # only the labels' camera is rendered
        assert r.attrs["config"]["simulator"]["rig_seed"] == preset.rig_seed  # one rig for every subject
        poses.append(np.asarray(r.stream("lidar").metadata["extrinsics"]))
        auto, gt = r.labels("auto"), r.labels("gt")
        assert auto.provenance["detector"]["name"] == "groundtruth" and auto.provenance["cameras"] == ["cam_left"]
        assert auto.provenance["calibration"] is not None
        err = np.linalg.norm(auto.joints[:, 0] - gt.joints[auto.frame_index, 0], axis=-1)
        assert np.nanmedian(err) < 0.08  # exact 2D + LiDAR, calibrated rig
    assert all(np.allclose(p, poses[0]) for p in poses)
    g = zarr.open_group(str(out / "dataset.zarr"), mode="r")
    assert g.attrs["config"]["preprocess"]["labels"] == "auto"
    assert g.attrs["preset"]["name"] == "tiny-auto"
    twin = zarr.open_group(str(out / "dataset-gt.zarr"), mode="r")  # the truth-labelled twin, same sessions
    assert twin.attrs["config"]["preprocess"]["labels"] == "gt"
    assert [s["path"] for s in twin.attrs["sessions"]] == [s["path"] for s in g.attrs["sessions"]]
    assert twin["split"].shape[0] >= g["split"].shape[0] and summary["extra_datasets"]["dataset-gt.zarr"]


def test_stored_labels_scored_against_the_truth(tiny_auto, tmp_path):
    """``annotation_eval --stored auto`` scores the label sets as written, without annotating again."""
    import json

    from rfpose.app.annotation_eval import main

    out, _, _ = tiny_auto
    sessions = sorted(str(p) for p in (out / "sessions").glob("*.zarr"))
    assert main([*sessions, "--stored", "auto", "--out", str(tmp_path / "s.json")]) == 0
    result = json.loads((tmp_path / "s.json").read_text())
    errors = []
    for path in sessions:
        r = open_session(path)
        auto, gt = r.labels("auto"), r.labels("gt")
        ok = (np.asarray(auto.attrs["flags"]) == 0) & np.isfinite(auto.joints[:, 0]).all(axis=(1, 2))
        e = np.linalg.norm(auto.joints[ok, 0] - gt.joints[auto.frame_index[ok], 0], axis=-1)
        assert result["sessions"][path]["labelled"] == ok.sum()
        assert result["sessions"][path]["mpjpe_mm"] == pytest.approx(e.mean() * 1000)
        errors.append(e)
    assert result["pooled"]["mpjpe_mm"] == pytest.approx(np.concatenate(errors).mean() * 1000)
    assert result["pooled"]["labelled"] == sum(len(e) for e in errors)
