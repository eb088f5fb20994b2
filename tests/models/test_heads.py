"""Targets, losses and decoding of both model families, against hand-computed cases."""

import math

import numpy as np
import pytest
import torch

from rfpose.models import centerpose, heatmap2d
from rfpose.models.hupr import MNet, hupr_adjacency
from rfpose.models.spec import VoxelGrid
from rfpose.skeletons import HUPR14

GRID = VoxelGrid(voxel_size_m=(0.3, 0.25, 0.125), roi_min_m=(-1.2, -2.0, 1.0))
SHAPE = (8, 16, 32)  # z, y, x


def _person(root_xyz):
    rng = np.random.default_rng(0)
    j = torch.tensor(rng.normal(0, 0.3, (15, 3)), dtype=torch.float32)
    j[0] = 0
    return j + torch.tensor(root_xyz)


def test_targets_peak_on_root_voxel_and_offsets_in_voxels():
    joints = _person([2.3, 0.1, 0.0])[None, None]  # root at x 2.3, y 0.1, z 0.0
    t = centerpose.build_targets(joints, GRID, SHAPE)
    # by hand: x (2.3-1.0)/0.125 = 10.4 -> 10; y (0.1+2)/0.25 = 8.4 -> 8; z (0+1.2)/0.3 = 4 -> 4
    hm = t["heatmap"][0, 0]
    assert hm[4, 8, 10] == 1.0 and (hm == 1.0).sum() == 1
    assert t["index"][0, 0] == (4 * 16 + 8) * 32 + 10
    assert t["mask"].all()
    off = t["offsets"][0, 0].reshape(15, 3)
    assert off[0].tolist() == pytest.approx([0.4, 0.4, 0.0], abs=1e-5)
    # the Gaussian: one voxel away along x: exp(-1 / (2·0.9²)); outside radius 2: zero
    assert hm[4, 8, 11].item() == pytest.approx(math.exp(-1 / (2 * 0.81)), rel=1e-5)
    assert hm[4, 8, 13] == 0 and hm[4, 8, 12] > 0


def test_person_outside_grid_is_masked():
    joints = torch.stack([_person([2.3, 0.1, 0.0]), _person([50.0, 0, 0])])[None]
    t = centerpose.build_targets(joints, GRID, SHAPE)
    assert t["mask"].tolist() == [[True, False]]


def _outputs_from_targets(t, joints_per_person):
    hm = torch.where(t["heatmap"] == 1, 10.0, -10.0)
    B, P = t["index"].shape
    offsets = torch.zeros(B, 45, *SHAPE)
    flat = offsets.view(B, 45, -1)
    for b in range(B):
        for p in range(P):
            if t["mask"][b, p]:
                flat[b, :, t["index"][b, p]] = t["offsets"][b, p]
    return {"heatmap": hm, "offsets": offsets}


def test_decode_inverts_targets_single_and_multi_person():
    a, b = _person([2.0, -1.0, 0.0]), _person([3.0, 1.0, 0.3])
    joints = torch.stack([a, b])[None]
    t = centerpose.build_targets(joints, GRID, SHAPE)
    out = _outputs_from_targets(t, joints)
    one, s1 = centerpose.decode(out, GRID, max_people=1)
    assert one.shape == (1, 1, 15, 3)
    assert s1.item() == pytest.approx(torch.sigmoid(torch.tensor(10.0)).item())
    assert any(torch.allclose(one[0, 0], p, atol=1e-5) for p in (a, b))
    many, s = centerpose.decode(out, GRID, max_people=3, score_threshold=0.5)
    found = many[0][torch.isfinite(many[0, :, 0, 0])]
    assert len(found) == 2
    for p in (a, b):
        assert min(float((f - p).abs().max()) for f in found) < 1e-5


def test_nms_suppresses_neighbours_of_a_peak():
    hm = torch.full((1, 1, *SHAPE), -10.0)
    hm[0, 0, 4, 8, 10] = 5.0
    hm[0, 0, 4, 8, 11] = 4.0  # a shoulder of the same peak, not a second person
    hm[0, 0, 2, 3, 25] = 3.0  # a second person
    out = {"heatmap": hm, "offsets": torch.zeros(1, 45, *SHAPE)}
    j, s = centerpose.decode(out, GRID, max_people=3, score_threshold=0.5)
    assert torch.isfinite(j[0, :, 0, 0]).sum() == 2
    # the root of person 2 sits at its voxel: x 1 + 25·0.125, y -2 + 3·0.25, z -1.2 + 2·0.3
    assert j[0, 1, 0].tolist() == pytest.approx([4.125, -1.25, -0.6], abs=1e-5)


def test_focal_loss_hand_case():
    logits = torch.tensor([0.0, 0.0, math.log(3)]).view(1, 1, 1, 1, 3)  # p = .5, .5, .75
    target = torch.tensor([1.0, 0.5, 0.0]).view(1, 1, 1, 1, 3)
    pos = -(0.5**2) * math.log(0.5)
    neg = -(1 - 0.5) ** 4 * 0.5**2 * math.log(0.5) - 1.0 * 0.75**2 * math.log(0.25)
    assert centerpose.focal_loss(logits, target).item() == pytest.approx(pos + neg, rel=1e-5)


def test_offset_loss_only_at_labelled_root():
    joints = _person([2.0, 0.0, 0.0])[None, None]
    t = centerpose.build_targets(joints, GRID, SHAPE)
    pred = torch.zeros(1, 45, *SHAPE)
    expected = t["offsets"].abs().sum().item()
    assert centerpose.offset_l1_loss(pred, t) == pytest.approx(expected, rel=1e-3)


def test_joint_weights_make_each_joint_a_weighted_mean_over_samples():
    joints = torch.stack([_person([2.0, 0.0, 0.0]), _person([3.0, 0.5, 0.0])])[:, None]  # two samples
    t = centerpose.build_targets(joints, GRID, SHAPE, offset_radius=1)
    pred = torch.zeros(2, 45, *SHAPE)
    ones = torch.ones(2, 1, 15)
    assert centerpose.offset_l1_loss(pred, t, joint_weight=ones).item() == pytest.approx(
        centerpose.offset_l1_loss(pred, t).item(), rel=1e-6)
    # the second sample's joint 4 not trusted at all: that channel is the first sample's error alone
    w = ones.clone()
    w[1, 0, 4] = 0.0
    first = centerpose.build_targets(joints[:1], GRID, SHAPE, offset_radius=1)
    per_channel = lambda tg, b: [centerpose.offset_l1_loss(  # noqa: E731
        torch.zeros(b, 45, *SHAPE), tg, joint_weight=torch.eye(15)[j].expand(b, 1, 15)).item() for j in range(15)]
    weighted = per_channel(t, 2)
    assert centerpose.offset_l1_loss(pred, t, joint_weight=w).item() == pytest.approx(
        sum(weighted) - weighted[4] + per_channel(first, 1)[4], rel=1e-5)
    # a uniform scale changes nothing (weighted means; up to the denominator's 1e-4 guard), NaN counts as 0
    assert centerpose.offset_l1_loss(pred, t, joint_weight=0.3 * ones).item() == pytest.approx(
        centerpose.offset_l1_loss(pred, t).item(), rel=1e-4)
    w[1, 0, 4] = float("nan")
    assert centerpose.offset_l1_loss(pred, t, joint_weight=w).item() == pytest.approx(
        sum(weighted) - weighted[4] + per_channel(first, 1)[4], rel=1e-5)


def test_isotropic_offset_loss_weighs_a_metre_alike_on_every_axis():
    joints = _person([2.0, 0.0, 0.0])[None, None]
    t = centerpose.build_targets(joints, GRID, SHAPE)
    index = t["index"][0, 0].item()
    scale = centerpose.offset_axis_scale(GRID, "isotropic")
    # by hand: voxels (x, y, z) 0.125, 0.25, 0.3 m; geometric mean (0.125·0.25·0.3)^(1/3) = 0.2107 m
    gm = (0.125 * 0.25 * 0.3) ** (1 / 3)
    assert scale.tolist() == pytest.approx([0.125 / gm, 0.25 / gm, 0.3 / gm], rel=1e-5)
    losses = []
    for axis, voxel_m in enumerate((0.125, 0.25, 0.3)):
        pred = torch.zeros(1, 45, *SHAPE)
        pred.view(1, 45, -1)[0, :, index] = t["offsets"][0, 0]
        pred.view(1, 45, -1)[0, 3 + axis, index] += 0.1 / voxel_m  # joint 1 off by 10 cm along one axis
        losses.append(centerpose.offset_l1_loss(pred, t, scale).item())
        assert centerpose.offset_l1_loss(pred, t).item() == pytest.approx(0.1 / voxel_m, rel=1e-3)  # RT-Pose
    assert losses == pytest.approx([0.1 / gm] * 3, rel=1e-3)
    assert centerpose.offset_axis_scale(GRID, "voxel") is None
    with pytest.raises(Exception, match="metre"):
        centerpose.offset_axis_scale(GRID, "metre")



def test_neighbourhood_offsets_are_relative_to_each_voxel_and_gaussian_weighted():
    joints = _person([2.3, 0.1, 0.0])[None, None]  # root voxel (x, y, z) = (10, 8, 4), as above
    t = centerpose.build_targets(joints, GRID, SHAPE, offset_radius=1)
    assert t["offset_index"].shape == (1, 1, 27) and t["offset_targets"].shape == (1, 1, 27, 45)
    # the root voxel comes first and carries the RT-Pose target (by hand, as above)
    assert t["offset_index"][0, 0, 0] == (4 * 16 + 8) * 32 + 10 and t["offset_weight"][0, 0, 0] == 1.0
    assert t["offset_targets"][0, 0, 0, :3].tolist() == pytest.approx([0.4, 0.4, 0.0], abs=1e-5)
    # the voxel at x + 1: index + 1, root offset (0.4 - 1, 0.4, 0), weight exp(-1 / (2·0.9²))
    k = int((t["offset_index"][0, 0] == t["index"][0, 0] + 1).nonzero())
    assert t["offset_targets"][0, 0, k, :3].tolist() == pytest.approx([-0.6, 0.4, 0.0], abs=1e-5)
    assert t["offset_weight"][0, 0, k].item() == pytest.approx(math.exp(-1 / (2 * 0.81)), rel=1e-5)
    # a corner neighbour (three unit steps): exp(-3 / (2·0.9²))
    assert t["offset_weight"][0, 0].min().item() == pytest.approx(math.exp(-3 / (2 * 0.81)), rel=1e-5)


def test_neighbourhood_outside_the_grid_gets_no_weight():
    joints = _person([1.01, -1.99, 1.0])[None, None]  # root voxel (0, 0, 7): on three faces of the grid
    t = centerpose.build_targets(joints, GRID, SHAPE, offset_radius=1)
    assert (t["offset_weight"][0, 0] > 0).sum() == 8  # the 2 × 2 × 2 neighbours inside
    absent = centerpose.build_targets(torch.full((1, 1, 15, 3), float("nan")), GRID, SHAPE, offset_radius=1)
    assert absent["offset_weight"].sum() == 0


def test_a_frame_with_nobody_trains_the_heatmap_down_and_decodes_no_person():
    """An empty room (all-NaN labels, as an empty simulated session gives): the loss is the focal loss's
    negatives only, finite, its gradient lowers every heatmap logit; decoding with a score threshold (the
    monitor's) then returns no person."""
    nobody = torch.full((2, 1, 15, 3), float("nan"))
    hm = torch.zeros(2, 1, *SHAPE, requires_grad=True)
    out = {"heatmap": hm, "offsets": torch.randn(2, 45, *SHAPE, requires_grad=True)}
    total, parts = centerpose.centerpose_loss(out, nobody, GRID, offset_units="isotropic", offset_radius=1)
    assert math.isfinite(total.item()) and parts["offset_l1"] == 0.0 and parts["focal"] > 0
    total.backward()
    assert (hm.grad > 0).all() and torch.isfinite(out["offsets"].grad).all()
    quiet = {"heatmap": torch.full((1, 1, *SHAPE), -6.0), "offsets": torch.zeros(1, 45, *SHAPE)}
    joints, scores = centerpose.decode(quiet, GRID, max_people=5, score_threshold=0.3, offset_radius=1)
    assert (scores < 0.3).all() and torch.isnan(joints).all()


def test_neighbourhood_offset_loss_is_the_weighted_mean_over_voxels():
    joints = _person([2.0, 0.0, 0.0])[None, None]
    t = centerpose.build_targets(joints, GRID, SHAPE, offset_radius=1)
    pred = torch.zeros(1, 45, *SHAPE)
    for k in range(27):
        pred.view(1, 45, -1)[0, :, t["offset_index"][0, 0, k]] = t["offset_targets"][0, 0, k]
    assert centerpose.offset_l1_loss(pred, t).item() == pytest.approx(0.0, abs=1e-6)
    pred.view(1, 45, -1)[0, 0, t["index"][0, 0]] += 2.0  # only the root voxel's x of the root joint is off
    w = t["offset_weight"][0, 0]
    assert centerpose.offset_l1_loss(pred, t).item() == pytest.approx(2.0 / w.sum().item(), rel=1e-4)


def test_neighbourhood_decoding_averages_poses_by_heatmap_score():
    hm = torch.full((1, 1, *SHAPE), -20.0)
    hm[0, 0, 4, 8, 10] = 0.0  # peak, sigmoid 0.5
    hm[0, 0, 4, 8, 11] = math.log(0.25 / 0.75)  # its neighbour in x, sigmoid 0.25
    off = torch.zeros(1, 45, *SHAPE)
    off[0, 0, 4, 8, 10] = 0.6  # peak voxel predicts x 10.6 voxels
    off[0, 0, 4, 8, 11] = -0.1  # the neighbour predicts 10.9
    out = {"heatmap": hm, "offsets": off}
    j0, _ = centerpose.decode(out, GRID, offset_radius=0)
    j1, _ = centerpose.decode(out, GRID, offset_radius=1)
    assert j0[0, 0, 0, 0].item() == pytest.approx(1.0 + 10.6 * 0.125, abs=1e-5)
    # by hand: (0.5·10.6 + 0.25·10.9) / 0.75 = 10.7 voxels (the other 25 weigh ~1e-6 each)
    assert j1[0, 0, 0, 0].item() == pytest.approx(1.0 + 10.7 * 0.125, abs=1e-4)


def test_decoding_inverts_neighbourhood_targets():
    a = _person([2.3, 0.1, 0.0])
    t = centerpose.build_targets(a[None, None], GRID, SHAPE, offset_radius=1)
    off = torch.zeros(1, 45, *SHAPE)
    for k in range(27):
        off.view(1, 45, -1)[0, :, t["offset_index"][0, 0, k]] = t["offset_targets"][0, 0, k]
    out = {"heatmap": torch.logit(t["heatmap"].clamp(1e-4, 1 - 1e-4)), "offsets": off}
    j, _ = centerpose.decode(out, GRID, offset_radius=1)
    torch.testing.assert_close(j[0, 0], a, atol=1e-5, rtol=0)


@pytest.mark.parametrize("radius", [-1, 1.5])
def test_offset_radius_must_be_a_whole_number_of_voxels(radius):
    from rfpose.errors import ConfigError
    from rfpose.models import create_model

    with pytest.raises(ConfigError, match="offset_radius"):
        create_model("hrradarpose-lite", offset_radius=radius)


@pytest.mark.parametrize("frames", [0, 2.0])
def test_frames_must_be_a_positive_whole_number(frames):
    from rfpose.errors import ConfigError
    from rfpose.models import create_model

    with pytest.raises(ConfigError, match="frames"):
        create_model("hrradarpose-lite", frames=frames)


def test_frames_widen_only_the_first_convolution():
    from rfpose.models import create_model

    one = create_model("hrradarpose-lite", input_shape=(32, 8, 16, 32))
    two = create_model("hrradarpose-lite", input_shape=(32, 8, 16, 32), frames=2)
    (x,) = two.example_inputs(2)
    assert x.shape == (2, 64, 8, 16, 32) and two.spec.shape == one.spec.shape == (32, 8, 16, 32)
    stem1, stem2 = one.backbone.stem[0].weight, two.backbone.stem[0].weight
    assert stem2.shape == (stem1.shape[0], 2 * stem1.shape[1], *stem1.shape[2:])
    extra = sum(p.numel() for p in two.parameters()) - sum(p.numel() for p in one.parameters())
    assert extra == stem1.numel()
    assert two(x)["offsets"].shape == one(x[:, :32])["offsets"].shape


def test_heatmap_head_width_is_separate_from_the_offset_head():
    from rfpose.models import create_model

    m = create_model("hrradarpose-lite", input_shape=(32, 8, 16, 32), head_channels=32, heatmap_head_channels=8)
    assert m.heatmap_head[0].out_channels == 8 and m.offset_head[0].out_channels == 32
    out = m(*m.example_inputs(1))
    assert out["heatmap"].shape[1] == 1 and out["offsets"].shape[1] == 45

# ---------------------------------------------------------------- 2-D heatmaps
def test_gaussian_targets_hand_case():
    j = torch.tensor([[[[101.0, 30.0]]]])  # x 101 px → cell int(101/4 + .5) = 25; y 30 → int(8) = 8
    hm = heatmap2d.gaussian_targets(j, (64, 64), 4.0)
    assert hm.shape == (1, 1, 64, 64)
    assert hm[0, 0, 8, 25] == 1.0 and hm.max() == 1.0
    assert hm[0, 0, 8, 27].item() == pytest.approx(math.exp(-4 / 8))
    assert hm[0, 0, 8, 32] == 0  # outside the 13 × 13 support


def test_decode_argmax_quarter_offset():
    hm = torch.zeros(1, 2, 64, 64)
    hm[0, 0, 10, 20] = 1.0
    hm[0, 0, 10, 21] = 0.5  # higher right neighbour: x → 20.25
    hm[0, 0, 9, 20] = 0.3  # higher upper neighbour: y → 9.75
    hm[0, 1, 0, 63] = 0.9  # on the border: no shift
    xy, score = heatmap2d.decode_argmax(hm, 4.0)
    assert xy[0, 0].tolist() == pytest.approx([20.25 * 4, 9.75 * 4])
    assert xy[0, 1].tolist() == pytest.approx([63 * 4, 0.0])
    assert score[0].tolist() == pytest.approx([1.0, 0.9])


# ---------------------------------------------------------------- HuPR parts
def _components(a: torch.Tensor) -> int:
    n = a.shape[0]
    sym = (a + a.T) > 0
    seen, count = set(), 0
    for s in range(n):
        if s in seen:
            continue
        count += 1
        stack = [s]
        while stack:
            u = stack.pop()
            if u in seen:
                continue
            seen.add(u)
            stack += [v for v in range(n) if sym[u, v] and v not in seen]
    return count


def test_prgcn_graph_paper_and_connected():
    a = hupr_adjacency("paper")
    i = HUPR14.index
    assert torch.equal(torch.diag(a), torch.ones(14))
    assert a[i("l_shoulder"), i("neck")] == 1 and a[i("neck"), i("l_shoulder")] == 0  # one-directional
    assert a[i("neck"), i("r_hip")] == 0
    assert _components(a) == 2
    c = hupr_adjacency("connected")
    assert _components(c) == 1 and c[i("neck"), i("l_hip")] == c[i("l_hip"), i("neck")] == 1


def test_mnet_pairs_real_and_imag_of_the_same_doppler_bin():
    """The model permutes (doppler, re/im) so MNet's 2 input channels are re and im of one bin."""
    from rfpose.models import create_model

    m = create_model("hupr", **{"input_shape": (8, 2, 16, 16, 2), "frames": 4, "num_filters": 8})
    seen = {}

    def hook(mod, inp, out):
        seen["x"] = inp[0]

    m.mnet_ra.conv.register_forward_hook(hook)
    x = torch.zeros(1, 4, 8, 2, 16, 16, 2)
    x[0, :, 5, 0, 3, 7] = 1.0  # Doppler bin 5, real part: one cell (each map is z-scored, so not a constant)
    x[0, :, 5, 1, 9, 2] = 2.0  # Doppler bin 5, imaginary part: another cell
    m(x, torch.zeros_like(x))
    conv_in = seen["x"]  # (B·T, 2, D, R, A)
    assert conv_in.shape == (4, 2, 8, 16, 16)
    peak = conv_in[:, :, 5].flatten(2).argmax(-1)  # (B·T, 2)
    assert torch.all(peak[:, 0] == 3 * 16 + 7) and torch.all(peak[:, 1] == 9 * 16 + 2)
    assert conv_in[:, :, [0, 1, 2, 3, 4, 6, 7]].abs().sum() == 0  # all-zero maps stay zero
    assert isinstance(m.mnet_ra, MNet)
