"""The simulated benchmark preset: reduced chirp, split by subject, readable by the models."""

import numpy as np
import pytest
import zarr

from rfpose.app.sim_datasets import SimDatasetPreset, build_preset, get_preset, presets, reduced_cfg
from rfpose.errors import UnknownNameError
from rfpose.models import create_model
from rfpose.models.data import DataOptions, PoseDataset, dataset_spec, open_dataset
from rfpose.sim import SIM_REVISION
from rfpose.radar_config import parse_cfg, validate_cfg
from rfpose.boards import get_board


def test_preset_definition():
    p = get_preset("sim-bench-v1")
    assert p.board == "mmwcas" and len(p.subject_seeds) == 17 and p.train_takes == 2 and len(p.scenarios) == 6 and len(p.scenes) == 2
    assert set(p.val_seeds).isdisjoint(p.test_seeds) and set(p.val_seeds) | set(p.test_seeds) < set(p.subject_seeds)
    assert {"walk", "wave", "random-poses", "walk-sit", "walk-wave", "lift-leg"} == set(p.scenarios)
    with pytest.raises(UnknownNameError, match="sim-bench-v1"):
        get_preset("nope")
    assert "sim-bench-v1" in presets() and all(n == p.name for n, p in presets().items())


def test_reduced_cfg_keeps_cascade_and_quarters_the_frame():
    full = validate_cfg(parse_cfg(get_board("mmwcas").default_cfg_text(), "full"), get_board("mmwcas"))
    red = validate_cfg(parse_cfg(reduced_cfg("mmwcas", 128, 32), "red"), get_board("mmwcas"))
    assert (red.num_tx, red.num_rx, red.num_adc_samples, red.num_loops) == (12, 16, 128, 32)
    assert red.frame_bytes * 4 == full.frame_bytes
    assert red.max_range_m == pytest.approx(full.max_range_m)
    assert red.range_resolution_m == pytest.approx(2 * full.range_resolution_m)


def test_small_preset_builds_a_subject_split_dataset(tmp_path):
    preset = SimDatasetPreset("t", "test", subject_seeds=(1, 2, 3), scenarios=("walk",), frames_per_session=2,
                              val_seeds=(2,), test_seeds=(3,))
    summary = build_preset(preset, tmp_path, progress=False)
    assert summary["dataset"]["samples"] == 6
    g = zarr.open_group(str(tmp_path / "dataset.zarr"), mode="r")
    split, subject = g["split"][:], g["subject"][:]
    for s in np.unique(subject):  # every subject sits in exactly one split
        assert len(np.unique(split[subject == s])) == 1
    assert sorted(np.unique(split).tolist()) == [0, 1, 2]
    spec = dataset_spec(open_dataset(tmp_path / "dataset.zarr"))
    assert spec.tensor_format == "rtpose-dzyx-magnitude" and spec.shape == (16, 16, 64, 160)
    assert spec.grid.roi_min_m[2] == pytest.approx(0.77)
    model = create_model("hrradarpose-lite", input_shape=spec.shape, grid=spec.grid)
    item = PoseDataset(tmp_path / "dataset.zarr", model, DataOptions("test"))[0]
    assert item["inputs"][0].shape == (16, 16, 64, 160) and np.isfinite(item["joints"].numpy()).all()
    # rerun resumes (no session is simulated again, the dataset build skips finished tasks)
    again = build_preset(preset, tmp_path, progress=False)
    assert again["dataset"]["skipped_tasks"] == again["dataset"]["tasks"]
    assert g.attrs["preset"]["sim_revision"] == SIM_REVISION


def test_sessions_of_another_simulator_revision_are_simulated_again(tmp_path):
    preset = SimDatasetPreset("t", "test", subject_seeds=(1, 2, 3), scenarios=("walk",), frames_per_session=2,
                              val_seeds=(2,), test_seeds=(3,))
    build_preset(preset, tmp_path, progress=False)
    old, kept = (tmp_path / "sessions" / f"seed{k}-walk.zarr" for k in (1, 2))
    s = zarr.open_group(str(old), mode="r+")
    cfg = s.attrs["config"]
    cfg["simulator"]["revision"] = SIM_REVISION - 1  # as written by an older simulator
    s.attrs["config"] = cfg
    stamps = [(p / "zarr.json").stat().st_mtime_ns for p in (old, kept)]
    again = build_preset(preset, tmp_path, progress=False)
    assert zarr.open_group(str(old), mode="r").attrs["config"]["simulator"]["revision"] == SIM_REVISION
    assert (kept / "zarr.json").stat().st_mtime_ns == stamps[1]  # current sessions are kept
    assert again["dataset"]["skipped_tasks"] == 0  # and the dataset is rebuilt from the new session


def test_training_takes_grow_on_a_finished_build_in_parallel(tmp_path):
    one = SimDatasetPreset("t", "test", subject_seeds=(1, 2, 3), scenarios=("wave",), frames_per_session=2,
                           val_seeds=(2,), test_seeds=(3,))
    build_preset(one, tmp_path, progress=False)
    take0 = tmp_path / "sessions" / "seed1-wave.zarr"
    first_build = (take0 / "zarr.json").stat().st_mtime_ns
    two = SimDatasetPreset("t", "test", subject_seeds=(1, 2, 3), scenarios=("wave",), frames_per_session=2,
                           val_seeds=(2,), test_seeds=(3,), train_takes=2)
    summary = build_preset(two, tmp_path, progress=False, workers=2)
    assert summary["sessions"] == 4 and summary["split_samples"] == {"train": 4, "val": 2, "test": 2}
    assert (take0 / "zarr.json").stat().st_mtime_ns == first_build  # take 0 kept, not simulated again
    take1 = zarr.open_group(str(tmp_path / "sessions" / "seed1-wave-t1.zarr"), mode="r")
    assert take1.attrs["subject"] == zarr.open_group(str(take0), mode="r").attrs["subject"]
    g = zarr.open_group(str(tmp_path / "dataset.zarr"), mode="r")
    train = g["split"][:] == 0
    joints, session = g["joints"][:][train], g["session_index"][:][train]
    assert len(np.unique(session)) == 2
    a, b = (joints[session == k] for k in np.unique(session))
    assert np.abs(a - b)[np.isfinite(a - b)].max() > 0.1  # another take: the person stands elsewhere
    assert not (tmp_path / "sessions" / "seed2-wave-t1.zarr").exists()  # held-out subjects get one take


def test_sim_bench_hupr_v2_is_v1_grown_and_stored_averaged():
    """v2 keeps v1's rig, chirp, labels, actions, rooms and held-out subjects; 13 training subjects with 60-frame
    sessions; maps stored with the models' 8 Doppler bins, averaged over elevation."""
    v1, v2 = get_preset("sim-bench-hupr-v1"), get_preset("sim-bench-hupr-v2")
    assert type(v2) is type(v1) and (v2.board, v2.adc_samples, v2.scenarios, v2.scenes) == \
        (v1.board, v1.adc_samples, v1.scenarios, v1.scenes)
    assert (v2.val_seeds, v2.test_seeds) == (v1.val_seeds, v1.test_seeds) == ((4,), (5, 6))
    train = [s for s in v2.sessions() if s[0] not in (4, 5, 6)]
    assert len({s[0] for s in train}) == 13 and len(train) * v2.frames_per_session == 9360
    assert [d[0] for d in v2.preprocess.tensor_differences(v1.preprocess)] == ["hupr_doppler_bins", "hupr_elevation"]
    assert (v2.preprocess.hupr_doppler_bins, v2.preprocess.hupr_elevation) == (8, "mean")
