"""Augmentations keep tensors and labels consistent; the dataset reader follows the contract."""

import math

import numpy as np
import pytest
import torch
import zarr
from hypothesis import given, settings
from hypothesis import strategies as st

from rfpose.errors import ConfigError, FormatError, UnknownNameError
from rfpose.models.evaluate import collate
from rfpose.models import SpecMismatchError, create_model
from rfpose.models.augment import AugmentConfig, flip_hupr, flip_voxels_y, rotate_voxels_yaw, shift_azimuth
from rfpose.models.data import DataOptions, PoseDataset, dataset_spec, open_dataset, session_windows
from rfpose.models.spec import VoxelGrid
from rfpose.skeletons import HUPR14, RTPOSE15

GRID = VoxelGrid(voxel_size_m=(0.25, 0.1, 0.1), roi_min_m=(-1.0, -1.6, 0.5))


def _blob(joint_xyz, shape=(2, 8, 32, 32)):
    D, Z, Y, X = shape
    (dz, dy, dx), (z0, y0, x0) = GRID.voxel_size_m, GRID.roi_min_m
    zz, yy, xx = torch.meshgrid(z0 + dz * torch.arange(Z), y0 + dy * torch.arange(Y), x0 + dx * torch.arange(X),
                                indexing="ij")
    b = torch.exp(-((xx - joint_xyz[0]) ** 2 + (yy - joint_xyz[1]) ** 2) / (2 * 0.15**2)
                  - (zz - joint_xyz[2]) ** 2 / (2 * 0.25**2))
    return b.expand(D, Z, Y, X).clone()


def _peak_xy(x):
    (dz, dy, dx), (z0, y0, x0) = GRID.voxel_size_m, GRID.roi_min_m
    m = x[0].sum(0)
    w = torch.clamp(m - 0.5 * m.max(), min=0)
    ys = y0 + dy * torch.arange(m.shape[0])
    xs = x0 + dx * torch.arange(m.shape[1])
    return float((w.sum(1) * ys).sum() / w.sum()), float((w.sum(0) * xs).sum() / w.sum())


def test_flip_voxels_moves_blob_and_joint_together():
    perm = RTPOSE15.flip_permutation()
    joints = torch.zeros(1, 15, 3)
    joints[0, :, 0] = 2.0
    joints[0, 12, 1] = -0.6  # left shoulder at y = -0.6
    x = _blob(joints[0, 12].tolist())
    fx, fj = flip_voxels_y(x, joints, GRID, perm)
    y_peak, _ = _peak_xy(fx)
    # the left shoulder (index 12) becomes the right shoulder (index 9), mirrored about the grid centre
    assert fj[0, 9, 1].item() == pytest.approx(y_peak, abs=0.02)
    centre = -1.6 + 31 * 0.1 / 2
    assert fj[0, 9, 1].item() == pytest.approx(2 * centre + 0.6, abs=1e-5)
    back, bj = flip_voxels_y(fx, fj, GRID, perm)
    assert torch.equal(back, x) and torch.allclose(bj, joints)


def test_yaw_rotation_moves_blob_where_the_joint_goes():
    joints = torch.tensor([[[2.0, -0.5, 0.0]] * 15])
    x = _blob([2.0, -0.5, 0.0])
    rx, rj = rotate_voxels_yaw(x, joints, GRID, math.radians(10))
    y_peak, x_peak = _peak_xy(rx)
    c, s = math.cos(math.radians(10)), math.sin(math.radians(10))
    assert rj[0, 0, 0].item() == pytest.approx(2.0 * c + 0.5 * s, abs=1e-5)
    assert rj[0, 0, 1].item() == pytest.approx(2.0 * s - 0.5 * c, abs=1e-5)
    assert x_peak == pytest.approx(rj[0, 0, 0].item(), abs=0.03)
    assert y_peak == pytest.approx(rj[0, 0, 1].item(), abs=0.03)


def test_hupr_flip_and_shift():
    xh = torch.zeros(2, 4, 2, 16, 16, 2)
    xh[..., 3, :] = 1.0  # azimuth bin 3
    j = torch.full((1, 14, 2), 12.0 * 16)  # stride 16 px per bin: x = bin 12
    j[0, HUPR14.index("l_wrist"), 0] = 3 * 16.0
    fh, fv, fj = flip_hupr(xh, xh.clone(), j, HUPR14.flip_permutation(), 16.0)
    assert fh[..., 12, :].eq(1).all() and fh[..., 3, :].eq(0).all()
    assert fj[0, HUPR14.index("r_wrist"), 0].item() == pytest.approx(12 * 16.0)
    sh, sj = shift_azimuth(xh, j, 2, 16.0)
    assert sh[..., 5, :].eq(1).all() and sj[0, 0, 0].item() == pytest.approx(14 * 16.0)


def test_session_windows_clamp_at_edges_and_never_cross_sessions():
    sess = np.array([1, 1, 1, 0, 0, 1])
    frame = np.array([0, 1, 2, 0, 1, 3])
    w = session_windows(sess, frame, 4)  # offsets -2..+1
    assert w[0].tolist() == [0, 0, 0, 1]
    assert w[5].tolist() == [1, 2, 5, 5]
    assert w[3].tolist() == [3, 3, 3, 4]
    causal = session_windows(sess, frame, 3, target=2)  # offsets -2..0
    assert causal[5].tolist() == [1, 2, 5] and causal[1].tolist() == [0, 0, 1] and causal[4].tolist() == [3, 3, 4]


def test_session_windows_never_step_over_a_missing_frame():
    # preprocess skipped frame 2 (a flagged label): frame 3's previous frame is not frame 1
    sess = np.zeros(5, int)
    frame = np.array([0, 1, 3, 4, 5])
    causal = session_windows(sess, frame, 2, target=1)
    assert causal[2].tolist() == [2, 2] and causal[3].tolist() == [2, 3]
    centred = session_windows(sess, frame, 5)  # offsets -2..+2: the missing frame takes its neighbour nearer the target
    assert centred[1].tolist() == [0, 0, 1, 1, 2] and centred[2].tolist() == [1, 2, 2, 3, 4]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 12)), min_size=1, max_size=40, unique=True),
       st.integers(1, 6), st.data())
def test_session_windows_hold_the_nearest_existing_frame(rows, frames, data):
    """Every window entry is of the sample's session and is the frame asked for, or, where that frame is
    missing, the entry next to it on the target's side; contiguous frames give the edge-clamped window."""
    target = data.draw(st.integers(0, frames - 1))
    sess, frame = (np.array(c) for c in zip(*rows))
    w = session_windows(sess, frame, frames, target)
    have = {(s, f): i for i, (s, f) in enumerate(rows)}
    for i, (s, f) in enumerate(rows):
        for o in range(frames):
            want = f + o - target
            if (s, want) in have:
                assert w[i, o] == have[(s, want)]
            else:
                assert w[i, o] == w[i, o + 1 if o < target else o - 1]
        first, last = min(g for t, g in rows if t == s), max(g for t, g in rows if t == s)
        if all((s, g) in have for g in range(first, last + 1)):  # contiguous: the old edge clamping
            clamped = np.clip(np.arange(frames) + f - target, first, last)
            assert [rows[j][1] for j in w[i]] == clamped.tolist()


def test_dataset_reader_windows_and_shapes(hupr_dataset):
    m = create_model("hupr-lite", input_shape=(16, 2, 16, 16, 4), frames=4, normalisation="synthetic blobs, unit peak")
    ds = PoseDataset(hupr_dataset, m, DataOptions("train"))
    item = ds[0]
    assert item["inputs"][0].shape == (4, 8, 2, 16, 16, 4)
    g = zarr.open_group(str(hupr_dataset), mode="r")
    # the target frame sits at T//2 of the window and equals the stored sample (Doppler bins 4..12)
    np.testing.assert_array_equal(item["inputs"][0][2].numpy(), g["x_hori"][ds.indices[0], 4:12].astype(np.float32))


def test_dataset_errors(tmp_path, rt_dataset):
    with pytest.raises(FormatError, match="not found"):
        open_dataset(tmp_path / "missing.zarr")
    g = zarr.open_group(str(tmp_path / "bad.zarr"), mode="w")
    with pytest.raises(FormatError, match="rfpose_dataset_format"):
        open_dataset(tmp_path / "bad.zarr")
    g.attrs["rfpose_dataset_format"] = "9.9"
    with pytest.raises(FormatError, match="not supported"):
        open_dataset(tmp_path / "bad.zarr")
    g.attrs["rfpose_dataset_format"] = "1.0"
    with pytest.raises(FormatError, match="input_spec"):
        dataset_spec(open_dataset(tmp_path / "bad.zarr"))


def test_hupr_model_on_rtpose_dataset_is_a_spec_error(rt_dataset):
    with pytest.raises(SpecMismatchError) as e:
        PoseDataset(rt_dataset, create_model("hupr-lite"), DataOptions("train"))
    msg = str(e.value)
    assert "hupr-ra-re-complex" in msg and "rtpose-dzyx-magnitude" in msg


def test_cached_split_gives_the_same_items_as_zarr_reads(rt_dataset):
    m = create_model("hrradarpose-lite", input_shape=(32, 8, 16, 32), normalisation="synthetic blobs, unit peak")
    aug = AugmentConfig(max_yaw_deg=5.0)
    plain = PoseDataset(rt_dataset, m, DataOptions("train", augment=aug))
    cached = PoseDataset(rt_dataset, m, DataOptions("train", augment=aug, cache=True))
    assert cached._cache["x"].shape == (len(plain), 32, 8, 16, 32) and cached._cache["x"].dtype == np.float16
    for i in (0, 5, len(plain) - 1):
        a, b = plain[i], cached[i]
        torch.testing.assert_close(a["inputs"][0], b["inputs"][0], rtol=0, atol=0)
        torch.testing.assert_close(a["joints"], b["joints"], rtol=0, atol=0)


def test_label_confidence_follows_a_mirrored_sample(rt_dataset):
    from rfpose.models.families import get_family

    fit = get_family("hrradarpose").overrides_for_data(dataset_spec(open_dataset(rt_dataset)))  # its grid
    m = create_model("hrradarpose-lite", joint_weights="confidence", **fit)
    flip = PoseDataset(rt_dataset, m, DataOptions("train", augment=AugmentConfig(True, flip_prob=1.0, max_yaw_deg=0.0)))
    plain = PoseDataset(rt_dataset, m, DataOptions("train"))
    conf = np.random.default_rng(0).random(flip.confidence.shape).astype(np.float32)
    flip.confidence = plain.confidence = conf
    perm = RTPOSE15.flip_permutation()
    i = 3
    idx = plain[i]["index"]
    np.testing.assert_array_equal(plain[i]["confidence"].numpy(), conf[idx])
    np.testing.assert_array_equal(flip[i]["confidence"].numpy(), conf[idx][:, perm])
    # the loss reads the batch's confidence: the first sample not trusted at all leaves the second's offsets alone
    batch = collate([plain[i], plain[i + 1]])
    batch["confidence"][0] = 0.0
    out = m(*batch["inputs"])
    second = {k: v[1:] for k, v in batch.items() if k in ("joints", "confidence")}
    alone = m.loss({k: v[1:] for k, v in out.items()}, second)[1]["offset_l1"]
    assert m.loss(out, batch)[1]["offset_l1"] == pytest.approx(alone, rel=1e-4)
    batch["confidence"][:] = 1.0  # full confidence: RT-Pose's loss
    assert m.loss(out, batch)[1]["offset_l1"] == pytest.approx(
        create_model("hrradarpose-lite", **fit).loss(out, batch)[1]["offset_l1"], rel=1e-5)
    with pytest.raises(UnknownNameError, match="joint weights"):
        create_model("hrradarpose-lite", joint_weights="visibility")


def test_a_limit_takes_samples_spread_over_the_split(rt_dataset):
    m = create_model("hrradarpose-lite", input_shape=(32, 8, 16, 32), normalisation="synthetic blobs, unit peak")
    full = PoseDataset(rt_dataset, m, DataOptions("train")).indices
    cut = PoseDataset(rt_dataset, m, DataOptions("train", limit=3)).indices
    n = len(full)
    assert n > 3 and len(cut) == 3 and cut[0] == full[0] and cut[-1] == full[-1]  # not the first three
    assert n // 3 <= list(full).index(cut[1]) <= 2 * n // 3
    assert list(PoseDataset(rt_dataset, m, DataOptions("train", limit=10 ** 6)).indices) == list(full)


def test_rtpose_windows_stack_the_previous_frames_oldest_first(rt_dataset):
    m = create_model("hrradarpose-lite", input_shape=(32, 8, 16, 32), normalisation="synthetic blobs, unit peak",
                     frames=3)
    g = zarr.open_group(str(rt_dataset), mode="r")
    ds = PoseDataset(rt_dataset, m, DataOptions("train"))
    order = np.argsort(np.asarray(g["frame_index"][:])[ds.indices], kind="stable")
    first, third = ds.indices[order[0]], ds.indices[order[2]]
    x = g["x"]
    # the session's third frame: frames 1, 2, 3 of it; its first: clamped, itself three times
    item = ds[int(order[2])]["inputs"][0]
    assert item.shape == (96, 8, 16, 32)
    expect = np.concatenate([x[ds.indices[order[k]]] for k in range(3)]).astype(np.float32)
    np.testing.assert_array_equal(item.numpy(), expect)
    np.testing.assert_array_equal(ds[int(order[0])]["inputs"][0].numpy(),
                                  np.concatenate([x[first]] * 3).astype(np.float32))
    assert ds[int(order[2])]["index"] == third
    aug = AugmentConfig(max_yaw_deg=5.0)
    plain = PoseDataset(rt_dataset, m, DataOptions("train", augment=aug))
    cached = PoseDataset(rt_dataset, m, DataOptions("train", augment=aug, cache=True))
    for i in range(len(plain)):
        torch.testing.assert_close(plain[i]["inputs"][0], cached[i]["inputs"][0], rtol=0, atol=0)
    out = m(torch.stack([plain[0]["inputs"][0], plain[1]["inputs"][0]]))
    assert out["heatmap"].shape[0] == 2


def test_cache_that_does_not_fit_in_ram_is_refused(rt_dataset, monkeypatch):
    from rfpose.dataset import reader

    m = create_model("hrradarpose-lite", input_shape=(32, 8, 16, 32), normalisation="synthetic blobs, unit peak")
    monkeypatch.setattr(reader, "available_memory_bytes", lambda: 100_000)
    with pytest.raises(ConfigError, match=r"needs 3\.1 MB, 0\.1 MB of RAM"):
        PoseDataset(rt_dataset, m, DataOptions("train", cache=True))
