"""sim-bench-v1: the preset's definition, a tiny build (split by subject, scenes), the baselines and the CLI."""

import json

import numpy as np
import pytest
import zarr

from rfpose.cli import main
from rfpose.app.sim_datasets import ACTIONS, SimDatasetPreset, build_preset, get_preset
from rfpose.errors import ConfigError, ShapeError, UnknownNameError
from rfpose.models import baselines
from rfpose.models.spec import VoxelGrid
from rfpose.dataset import PreprocessConfig
from rfpose.sim.scenarios import build_rig

TINY_GRID = PreprocessConfig(grid_x_m=(1.0, 5.5), grid_y_m=(-3.0, 3.0), grid_z_m=(-1.09, 1.45), grid_n_zyx=(8, 16, 32))


def test_sim_bench_v1_definition():
    p = get_preset("sim-bench-v1")
    assert p.board == "mmwcas" and p.preprocess.format == "rtpose"
    assert set(p.scenarios) == set(ACTIONS) and len(ACTIONS) == 6
    assert set(p.scenes) == {"clean", "cluttered"}
    assert len(p.subject_seeds) >= 8 and len(p.test_seeds) >= 2 and len(p.val_seeds) >= 1
    train = set(p.subject_seeds) - set(p.val_seeds) - set(p.test_seeds)
    assert len(train) >= 5 and not set(p.val_seeds) & set(p.test_seeds)
    sessions = p.sessions()
    held_out = len(p.val_seeds) + len(p.test_seeds)
    assert len(sessions) == (held_out + len(train) * p.train_takes) * 6 * 2
    assert {t for seed, *_, t in sessions if seed in set(p.val_seeds) | set(p.test_seeds)} == {0}
    # every session of one subject is a different take of the motion
    takes = [(seed, m) for seed, _sc, _scene, m, _t in sessions]
    assert len(set(takes)) == len(takes)
    # RT-Pose voxel size kept (4.5 cm x, 15.7 cm y, 36 cm z) on the reduced ROI
    step = [(hi - lo) / (n - 1) for (lo, hi), n in zip((p.preprocess.grid_z_m, p.preprocess.grid_y_m, p.preprocess.grid_x_m), p.preprocess.grid_n_zyx)]
    assert step == pytest.approx([11.6 / 32, 20.1 / 128, 11.6 / 256], rel=0.01)


def test_preset_rejects_bad_splits():
    with pytest.raises(ConfigError, match="both val and test"):
        SimDatasetPreset("x", "x", subject_seeds=(1, 2, 3), val_seeds=(2,), test_seeds=(2,))
    with pytest.raises(ConfigError, match="no training subject"):
        SimDatasetPreset("x", "x", subject_seeds=(1, 2), val_seeds=(1,), test_seeds=(2,))
    with pytest.raises(ConfigError, match="subject seeds"):
        SimDatasetPreset("x", "x", subject_seeds=(1, 2, 3), val_seeds=(7,), test_seeds=(3,))


def test_scene_override_and_motion_seed():
    base = build_rig("wave", seed=3, num_frames=2, camera=False, lidar=False)
    clut = build_rig("wave", seed=3, num_frames=2, camera=False, lidar=False, scene="cluttered", motion_seed=1)
    assert base.world.room.kind == "clean" and clut.world.room.kind == "cluttered"
    assert clut.world.room.chair_xy is not None  # a furnished room has a chair
    # same subject (body from the seed), another take of the motion
    assert base.world.people[0].body == clut.world.people[0].body
    assert not np.allclose(base.world.people[0].start_xy, clut.world.people[0].start_xy)
    # motion_seed=None keeps the scenario's own behaviour
    again = build_rig("wave", seed=3, num_frames=2, camera=False, lidar=False)
    np.testing.assert_array_equal(base.world.joints(0.1), again.world.joints(0.1))
    with pytest.raises(UnknownNameError, match="cluttered"):
        build_rig("wave", seed=3, scene="forest")


@pytest.fixture(scope="module")
def tiny_bench(tmp_path_factory):
    out = tmp_path_factory.mktemp("simbench")
    preset = SimDatasetPreset("tiny", "test", subject_seeds=(1, 2, 3, 4), scenarios=("walk", "wave"),
                              scenes=("clean", "cluttered"), frames_per_session=2, val_seeds=(3,), test_seeds=(4,),
                              frame_period_ms=200.0, preprocess=TINY_GRID)
    summary = build_preset(preset, out, progress=False)
    return out, preset, summary


def test_tiny_build_splits_by_subject(tiny_bench):
    out, preset, summary = tiny_bench
    assert summary["sessions"] == 4 * 2 * 2 and summary["frames"] == 32
    assert summary["split_samples"] == {"train": 16, "val": 8, "test": 8}
    assert summary["split_subjects"] == {"train": ["S0001p0", "S0002p0"], "val": ["S0003p0"], "test": ["S0004p0"]}
    g = zarr.open_group(str(out / "dataset.zarr"), mode="r")
    split, subject = g["split"][:], g["subject"][:]
    for s in np.unique(subject):  # a subject never straddles splits
        assert len(np.unique(split[subject == s])) == 1
    assert g.attrs["preset"]["name"] == "tiny" and g.attrs["preset"]["frames_per_session"] == 2
    assert tuple(g.attrs["config"]["preprocess"]["grid_n_zyx"]) == (8, 16, 32)
    assert g["x"].shape == (32, 16, 8, 16, 32)
    scenes = {s["name"]: s.get("scene") for s in g.attrs["sessions"]}
    assert sorted(set(scenes.values())) == ["clean", "cluttered"]
    assert scenes["seed1-wave-cluttered"] == "cluttered"
    # frames 0.2 s apart (the preset's frame period)
    ts = g["timestamp_ns"][:2]
    assert (ts[1] - ts[0]) / 1e9 == pytest.approx(0.2, abs=0.01)


def test_baseline_helpers_hand_made():
    a = np.zeros((15, 3))
    a[1:, 2] = -np.arange(1, 15) * 0.1
    b = a.copy()
    b[5] += [0.2, 0.0, 0.0]
    joints = np.full((2, 2, 15, 3), np.nan)
    joints[0, 0] = a + [3.0, 1.0, 0.0]  # the root position must not matter
    joints[1, 1] = b - [1.0, 0.0, 0.5]
    mean = baselines.mean_root_relative_pose(joints)
    np.testing.assert_allclose(mean[5], a[5] + [0.1, 0.0, 0.0])
    np.testing.assert_allclose(np.delete(mean, 5, 0), np.delete(a, 5, 0))
    # a peak in voxel (z 1, y 2, x 3) of a (D 4, Z 3, Y 4, X 5) tensor
    grid = VoxelGrid((0.5, 0.25, 0.1), (-1.0, -0.5, 1.0))
    x = np.zeros((1, 4, 3, 4, 5), np.float32)
    x[0, :, 1, 2, 3] = 1.0
    x[0, 2, 0, 0, 0] = 5.0  # a stronger static reflector (sum 5 > 4) in Doppler channel 2
    np.testing.assert_allclose(baselines.peak_positions(x, grid), [[1.0, -0.5, -1.0]])
    np.testing.assert_allclose(baselines.peak_positions(x, grid, (2,)), [[1.3, 0.0, -0.5]])
    assert baselines.static_channel([-0.2, -0.05, 0.1, 0.3]) == 1
    with pytest.raises(ShapeError):
        baselines.peak_positions(x[0], grid)
    # fit + predict: the dz offset is the median pelvis-minus-peak height
    peaks = {"all": np.array([[3.0, 1.0, -0.3], [-1.0, 0.0, -0.9]]), "moving": np.zeros((2, 3))}
    fitted = baselines.fit(joints, peaks)
    assert fitted.peak_to_root_dz_m["all"] == pytest.approx(np.median([0.3, 0.4]))
    gt = joints[:1]
    p_root = baselines.predict("mean-at-root", fitted, gt, None)
    np.testing.assert_allclose(p_root[0, 0, 0], [3.0, 1.0, 0.0], atol=1e-6)
    p_peak = baselines.predict("mean-at-peak", fitted, gt, {"all": np.array([[2.0, 0.0, 0.0]])})
    np.testing.assert_allclose(p_peak[0, 0, 0], [2.0, 0.0, 0.35], atol=1e-6)
    with pytest.raises(UnknownNameError):
        baselines.predict("median", fitted, gt, None)


def test_baselines_on_tiny_bench_match_an_independent_computation(tiny_bench):
    out, _preset, _summary = tiny_bench
    rows = {r["baseline"]: r for r in baselines.evaluate_baselines(out / "dataset.zarr", "test", progress=False)}
    g = zarr.open_group(str(out / "dataset.zarr"), mode="r")
    split, joints = g["split"][:], g["joints"][:, 0]
    train, test = joints[split == 0], joints[split == 2]
    mean = (train - train[:, :1]).mean(axis=0)
    pred = test[:, :1] + mean
    rel_err = np.linalg.norm((pred - pred[:, :1]) - (test - test[:, :1]), axis=-1)  # (N, 15)
    r = rows["mean-at-root"]
    assert r["mrpe_mm"] == pytest.approx(0.0, abs=1e-3)
    assert r["mpjpe_rtpose_mm"] == pytest.approx(1000 * rel_err.mean(), rel=1e-4)
    assert r["mpjpe_mm"] == pytest.approx(1000 * rel_err[:, 1:].mean(), rel=1e-4)
    # the peak baselines share the pose, so the same root-relative error, but a real localisation error
    for k in ("mean-at-peak", "mean-at-moving-peak"):
        assert rows[k]["mpjpe_rtpose_mm"] == pytest.approx(r["mpjpe_rtpose_mm"], rel=1e-4)
        assert rows[k]["mrpe_mm"] > 20.0
    assert rows["mean-at-moving-peak"]["mrpe_mm"] < rows["mean-at-peak"]["mrpe_mm"]


def test_cli_baseline_and_simulate_dataset(tiny_bench, tmp_path, capsys):
    out, _preset, _summary = tiny_bench
    assert main(["baseline", "--data", str(out / "dataset.zarr"), "--json", "--out", str(tmp_path / "b.json")]) == 0
    rows = json.loads((tmp_path / "b.json").read_text())
    assert [r["baseline"] for r in rows] == ["mean-at-root", "mean-at-peak", "mean-at-moving-peak", "mean-pose"]
    assert json.loads(capsys.readouterr().out) == rows
    assert main(["baseline", "--data", str(out / "dataset.zarr"), "--kind", "nope"]) == 2
    assert "mean-at-root" in capsys.readouterr().err
    assert main(["simulate-dataset", "--list"]) == 0
    assert "sim-bench-v1" in capsys.readouterr().out
    assert main(["simulate-dataset", "--out", str(tmp_path / "x"), "--scenarios", "walk,nope"]) == 2
    assert "scenario" in capsys.readouterr().err
