"""The points family: padding ragged frames, augmentation consistency, mars-cnn as published, PointPose's
invariances."""

import math

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rfpose.models import create_model, list_models, model_entry
from rfpose.models.augment import AugmentConfig
from rfpose.models.families import get_family
from rfpose.models.mars_cnn import MarsCNN
from rfpose.models.points_data import augment_points, pad_frames
from rfpose.skeletons import get_skeleton


@given(st.lists(st.integers(0, 12), min_size=1, max_size=20), st.integers(1, 8), st.integers(0, 1000))
@settings(max_examples=60, deadline=None)
def test_pad_frames_matches_a_loop(counts, k, seed):
    rng = np.random.default_rng(seed)
    offsets = np.r_[0, np.cumsum(counts)]
    values = rng.normal(size=(offsets[-1], 5)).astype(np.float32)
    out, n = pad_frames(values, offsets, k)
    for i, c in enumerate(counts):
        frame = values[offsets[i]:offsets[i + 1]]
        if c > k:  # the k strongest (last field), in stored order
            keep = np.sort(np.argsort(frame[:, -1], kind="stable")[c - k:])
            frame = frame[keep]
        assert n[i] == min(c, k)
        assert np.array_equal(out[i, :n[i]], frame)
        assert not out[i, n[i]:].any()


def test_registry_has_the_points_family():
    assert {"mars-cnn", "pointpose"} <= set(list_models())
    assert model_entry("mars-cnn").family == "points" == model_entry("pointpose").family
    family = get_family("points")
    assert family.recipe_for("mars-cnn").betas == (0.5, 0.999) and family.recipe_for("mars-cnn").epochs == 150
    assert family.recipe_for("pointpose").optimizer == "adamw-onecycle"


def test_mars_cnn_is_the_published_network():
    m = create_model("mars-cnn")
    # Keras's trainable parameters of MARS_model.py, layer by layer
    keras = (5 * 9 * 16 + 16) + (16 * 9 * 32 + 32) + 2 * 32 + (8 * 8 * 32 * 512 + 512) + 2 * 512 + (512 * 57 + 57)
    assert sum(p.numel() for p in m.parameters()) == keras == 1084793
    out = m(*m.example_inputs(4))["joints"]
    assert out.shape == (4, 19, 3)


def test_mars_cnn_feature_map_order():
    pts = torch.arange(64, dtype=torch.float32)[None, :, None].repeat(1, 1, 5)  # point p has value p
    fmap = MarsCNN.feature_map(pts)
    assert fmap.shape == (1, 5, 8, 8)
    for p in (0, 7, 8, 27, 63):
        assert fmap[0, 2, p // 8, p % 8] == p


def test_mars_cnn_output_layout_is_upstreams():
    """Output unit j is joint j's x, 19 + j its y, 38 + j its z (upstream's 57 columns)."""
    m = create_model("mars-cnn").eval()
    with torch.no_grad():
        m.head[-1].weight.zero_()
        m.head[-1].bias.copy_(torch.arange(57.0))
        out = m(*m.example_inputs(1))["joints"][0]
    assert out[5, 0] == 5 and out[5, 1] == 19 + 5 and out[5, 2] == 38 + 5


def _frames(b=3, t=12, k=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    pts = torch.randn(b, t, k, 5, generator=g)
    pts[..., 4] = pts[..., 4].abs() * 100
    valid = (torch.rand(b, t, k, generator=g) < 0.6).float()
    valid[:, :, 0] = 1
    return pts * valid[..., None], valid


def test_pointpose_ignores_padding_and_point_order():
    m = create_model("pointpose").eval()
    pts, valid = _frames()
    with torch.no_grad():
        ref = m(pts, valid)["joints"]
        junk = pts + (1 - valid[..., None]) * 7.0  # garbage in the padded slots
        assert torch.allclose(m(junk, valid)["joints"], ref, atol=1e-5)
        perm = torch.randperm(pts.shape[2])
        assert torch.allclose(m(pts[:, :, perm], valid[:, :, perm])["joints"], ref, atol=1e-5)
        empty = valid.clone()
        empty[0, 0] = 0  # an empty frame in the window is fine
        assert torch.isfinite(m(pts * empty[..., None], empty)["joints"]).all()


def test_pointpose_template_is_the_first_batch_mean():
    m = create_model("pointpose", widths=(8, 8), hidden=16, frames=3).train()
    pts, valid = _frames(t=3)
    joints = torch.randn(3, 1, 19, 3) + torch.tensor([2.0, -0.2, 0.0])
    with torch.no_grad():
        m.head[-1].weight.zero_()
        m.loss(m(pts, valid), {"joints": joints})
        out = m(pts, valid)["joints"]
    assert torch.allclose(out[0], joints[:, 0].mean(0), atol=1e-5)


def test_augmentation_moves_points_and_joints_together():
    rng = np.random.default_rng(3)
    pts = np.zeros((2, 6, 5), np.float32)
    pts[:, :4] = rng.normal(size=(2, 4, 5)).astype(np.float32)
    pts[:, :4, 0] += 2
    valid = np.zeros((2, 6), np.float32)
    valid[:, :4] = 1
    joints = rng.normal(size=(1, 19, 3)).astype(np.float32) + np.array([2, 0, 0], np.float32)
    perm = get_skeleton("kinect19").flip_permutation()
    cfg = AugmentConfig(flip_prob=1.0, max_yaw_deg=20.0, rotate_prob=1.0)
    p2, v2, j2, order = augment_points(pts, valid, joints, perm, cfg, np.random.default_rng(0))
    assert order.tolist() == list(perm)  # flip_prob 1: the joints were mirrored
    keep = v2 > 0
    assert keep.sum(-1).min() >= 1 and not p2[~keep].any()
    # distances between every kept point and every joint are preserved (a rigid motion with a mirror)
    d_before = np.linalg.norm(pts[keep][:, None, :3] - joints[0, perm][None], axis=-1)
    d_after = np.linalg.norm(p2[keep][:, None, :3] - j2[0][None], axis=-1)
    assert np.allclose(d_before, d_after, atol=1e-5)
    assert np.allclose(p2[keep][:, 3:], pts[keep][:, 3:])  # Doppler and intensity untouched
    # mirrored: the subject's left joints end up where the right ones were reflected
    assert not np.allclose(j2, joints)
    assert math.isclose(float(np.linalg.norm(j2[0, 0])), float(np.linalg.norm(joints[0, 0])), rel_tol=1e-5)


def test_kinect19_maps_to_the_other_skeletons():
    from rfpose.skeletons import convert

    k = get_skeleton("kinect19")
    joints = np.random.default_rng(0).normal(size=(2, 19, 3))
    rt, valid = convert(joints, "kinect19", "rtpose15")
    assert valid.all()  # every RT-Pose joint exists in Kinect's set
    rts = get_skeleton("rtpose15")
    assert np.array_equal(rt[:, rts.index("thorax")], joints[:, k.index("thorax")])  # SpineShoulder
    assert np.array_equal(rt[:, rts.index("l_wrist")], joints[:, k.index("l_wrist")])
    hu, valid = convert(joints, "kinect19", "hupr14")
    assert valid.all() and np.array_equal(hu[:, get_skeleton("hupr14").index("neck")], joints[:, k.index("neck")])
    back, valid = convert(rt, "rtpose15", "kinect19")
    assert [k.joints[i] for i in np.flatnonzero(~valid)] == ["spine_mid", "l_foot", "r_foot"]
