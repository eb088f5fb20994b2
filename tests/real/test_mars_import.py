"""MARS import against the real files: upstream's labels reproduced exactly, documented frame counts,
frame conversion, upstream's metric on the constant-pose reference."""

import math

import numpy as np
import pytest
import zarr
from hypothesis import given, settings
from hypothesis import strategies as st

from rfpose.cli import main
from rfpose.errors import FormatError
from rfpose.metrics import mars_mae_cm
from rfpose.preprocessing.mars import (KINECT25, MARS_TO_RADAR, joints_to_labels57, labels57_to_joints, load_mars,
                                       mars_to_radar, parse_radar_rows, read_kinect_csv, split_sizes)
from rfpose.skeletons import get_skeleton

from tests.shared_data import shared_data


@pytest.fixture(scope="module")
def mars_dir():
    return shared_data("mars")


@pytest.fixture(scope="module")
def imported(mars_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("mars") / "mars.zarr"
    assert main(["import", "mars", str(mars_dir), "--out", str(out)]) == 0
    return out, zarr.open_group(str(out), mode="r")


# ---------------------------------------------------------------- pure parts
def test_split_sizes_rule():
    assert split_sizes(10) == (6, 2, 2)
    assert split_sizes(11) == (7, 3, 1)  # ceil(6.6), ceil(2.2), the rest
    assert split_sizes(1) == (1, 0, 0)
    assert split_sizes(0) == (0, 0, 0)


@given(st.integers(0, 100000))
def test_split_sizes_partition(n):
    a, b, c = split_sizes(n)
    assert a + b + c == n and min(a, b, c) >= 0
    assert a == math.ceil(0.6 * n) and (b == math.ceil(0.2 * n) or a + b == n)


def test_frame_conversion_is_a_rotation():
    assert np.isclose(np.linalg.det(MARS_TO_RADAR), 1.0)
    p = np.array([[0.3, 2.0, -0.5]])  # 0.3 m to the radar's right, 2 m away, 0.5 m below
    assert np.allclose(mars_to_radar(p), [[2.0, -0.3, -0.5]])
    assert np.allclose(mars_to_radar(p), p @ MARS_TO_RADAR.T)


def _rows(counts, first=5, seed=0):
    rng = np.random.default_rng(seed)
    frames = np.repeat(first + np.cumsum(rng.integers(1, 4, len(counts))), counts)
    n = len(frames)
    rows = np.zeros((n, 8))
    rows[:, 0] = frames
    rows[:, 1] = np.repeat(counts, counts)
    rows[:, 2:7] = rng.normal(size=(n, 5))
    rows[:, 7] = 1.6e9 + np.arange(n) * 1e-3
    return rows


@given(st.lists(st.integers(1, 64), min_size=0, max_size=30), st.integers(0, 10**6))
@settings(max_examples=50, deadline=None)
def test_parse_radar_rows_frames(counts, seed):
    rows = _rows(np.array(counts, dtype=np.int64), seed=seed)
    r = parse_radar_rows(rows)
    assert len(r) == len(counts)
    assert np.array_equal(np.diff(r.offsets), counts)
    assert np.array_equal(r.points, rows[:, 2:7])
    for i in range(len(counts)):
        seg = rows[r.offsets[i]:r.offsets[i + 1]]
        assert (seg[:, 0] == r.frame_number[i]).all() and r.time_s[i] == seg[0, 7]


def test_parse_radar_rows_rejects_bad_input():
    rows = _rows(np.array([3, 2, 4]))
    with pytest.raises(FormatError, match="# Obj"):
        bad = rows.copy()
        bad[0, 1] = 4
        parse_radar_rows(bad, "f.mat")
    with pytest.raises(FormatError, match="decrease at row 3"):
        bad = rows.copy()
        bad[3:, 0] -= 100
        parse_radar_rows(bad, "f.mat")
    with pytest.raises(FormatError, match=r"\(N, 8\)"):
        parse_radar_rows(rows[:, :7], "f.mat")
    with pytest.raises(FormatError, match="non-finite"):
        bad = rows.copy()
        bad[1, 3] = np.nan
        parse_radar_rows(bad, "f.mat")


def test_kinect_csv_header_and_shape(tmp_path):
    header = ",".join(f"{j}_{a}" for a in "XYZ" for j in KINECT25)
    values = np.arange(150, dtype=float).reshape(2, 75) / 7
    p = tmp_path / "k.csv"
    p.write_text(header + "\n" + "\n".join(",".join(repr(float(v)) for v in row) for row in values) + "\n")
    j = read_kinect_csv(p)
    assert j.shape == (2, 25, 3)
    assert j[1, 3, 1] == values[1, 25 + 3]  # Head_Y of row 1
    p.write_text(header.replace("Head_Y", "Hed_Y") + "\n" + "1," * 74 + "1\n")
    with pytest.raises(FormatError, match="Hed_Y"):
        read_kinect_csv(p)


def test_labels57_round_trip():
    a = np.random.default_rng(1).normal(size=(4, 57))
    j = labels57_to_joints(a)
    assert j[2, 5, 0] == a[2, 5] and j[2, 5, 1] == a[2, 19 + 5] and j[2, 5, 2] == a[2, 38 + 5]
    assert np.array_equal(joints_to_labels57(j), a)


# ---------------------------------------------------------------- real data
def test_split_rule_reproduces_upstream_counts(mars_dir):
    data = load_mars(mars_dir)
    assert data.frames("validate") == 8033
    assert [data.frames("validate", subject=k) for k in (1, 2, 3, 4)] == [2374, 2338, 1783, 1538]
    assert data.frames("train") == 16954 and data.frames("train", labelled=False) == 24066
    assert data.frames("train", subject=1) == 0
    assert data.frames("test") == 0
    assert sum(b.n for b in data.blocks) == 40083
    assert any(n.startswith("train: no labels for subject 1 (7112 frames") for n in data.notes)
    assert any(n.startswith("test: no labels") for n in data.notes)


def test_import_reproduces_labels_validate_exactly(imported, mars_dir):
    _, g = imported
    split = g["split"][:]
    assert (split == 0).sum() == 16954 and (split == 1).sum() == 8033 and (split == 2).sum() == 0
    val = g["joints"][:][split == 1, 0]  # radar frame, float64
    assert val.dtype == np.float64
    back = val @ MARS_TO_RADAR  # inverse rotation (orthogonal)
    ref = np.load(mars_dir / "feature" / "labels_validate.npy")
    assert np.array_equal(joints_to_labels57(back), ref)
    assert g.attrs["input_spec"]["skeleton"] == "kinect19"
    assert g["points_offsets"][-1] == g["points_values"].shape[0]


def test_radar_frame_signs_from_the_labels(imported):
    """Facing the radar, the subject's left is on the radar's right (-y in rfpose's frame), the feet are
    below the radar's height and the subject is in front of it (+x)."""
    _, g = imported
    j = g["joints"][:][:, 0]
    sk = get_skeleton("kinect19")
    ls, rs = j[:, sk.index("l_shoulder")], j[:, sk.index("r_shoulder")]
    assert (ls[:, 1] < rs[:, 1]).mean() > 0.99
    assert 1.5 < j[..., 0].mean() < 2.5
    assert j[:, sk.index("head"), 2].mean() > 0.3 and j[:, sk.index("l_foot"), 2].mean() < -0.6
    pts = g["points_values"][:]
    assert 1.0 < np.median(pts[:, 0]) < 3.0  # the points are in front of the radar too


def test_constant_pose_reference(imported):
    """The README's reference: the train mean pose scores x 10.80, y 8.17, z 9.27 (MARS axes), mean 9.41
    cm on validate; in rfpose's frame x and y swap."""
    _, g = imported
    split, j = g["split"][:], g["joints"][:][:, 0]
    mean_pose = j[split == 0].mean(axis=0)
    val = j[split == 1]
    m = mars_mae_cm(np.broadcast_to(mean_pose, val.shape), val)
    assert round(m["x"], 2) == 8.17 and round(m["y"], 2) == 10.80 and round(m["z"], 2) == 9.27
    assert round(m["mean"], 2) == 9.41


def test_leave_one_subject_out_import(mars_dir, tmp_path, capsys):
    out = tmp_path / "loso.zarr"
    assert main(["import", "mars", str(mars_dir), "--out", str(out), "--test-subject", "2"]) == 0
    g = zarr.open_group(str(out), mode="r")
    split, subject = g["split"][:], g["subject"][:]
    assert (split == 2).sum() == 7008 + 2338 and set(subject[split == 2]) == {2}
    assert 2 not in set(subject[split != 2])
    # an existing output is not replaced without --force
    assert main(["import", "mars", str(mars_dir), "--out", str(out)]) == 2
    assert "--force" in capsys.readouterr().err


def test_missing_tree_is_a_clear_error(tmp_path, capsys):
    assert main(["import", "mars", str(tmp_path), "--out", str(tmp_path / "x.zarr")]) == 2
    assert "no subjectK folders" in capsys.readouterr().err


def test_corrupt_files_are_named(tmp_path, capsys):
    folder = tmp_path / "synced_data" / "woutlier" / "subject1"
    folder.mkdir(parents=True)
    (folder / "radar_data1.mat").write_bytes(b"MATLAB 5.0 MAT-file, not HDF5" + bytes(200))
    assert main(["import", "mars", str(tmp_path), "--out", str(tmp_path / "x.zarr")]) == 2
    err = capsys.readouterr().err
    assert "radar_data1.mat" in err and "HDF5" in err and "Traceback" not in err
    with pytest.raises(FormatError, match="labels_validate.npy: not a .npy"):
        (tmp_path / "feature").mkdir()
        (tmp_path / "feature" / "labels_validate.npy").write_bytes(b"junk")
        from rfpose.preprocessing.mars import _read_labels_npy

        _read_labels_npy(tmp_path / "feature" / "labels_validate.npy")
