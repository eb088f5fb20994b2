"""Every registered model runs forward and backward; the paper configurations have the published size."""

import pytest
import torch

from rfpose.errors import ConfigError, UnknownNameError
from rfpose.models import create_model, list_models, model_entry
from rfpose.models.complexity import count_macs, count_macs_meta, count_params


def test_registry_lists_the_models():
    assert list_models() == ["hrradarpose", "hrradarpose-lite", "hupr", "hupr-lite", "hupr-lite-csam", "mars-cnn",
                             "pointpose"]
    assert list_models("hupr*") == ["hupr", "hupr-lite", "hupr-lite-csam"]


def test_unknown_model_lists_valid_names():
    with pytest.raises(UnknownNameError) as e:
        create_model("hrnet-pose")
    assert "hrradarpose-lite" in str(e.value) and "hupr" in str(e.value)


def test_bad_override_is_config_error():
    with pytest.raises(ConfigError, match="hupr"):
        create_model("hupr", no_such_argument=1)


@pytest.mark.parametrize("name", list_models())
def test_forward_backward_tiny(name):
    torch.manual_seed(0)
    entry = model_entry(name)
    model = create_model(name, **entry.tiny_overrides)
    inputs = [torch.rand_like(t) for t in model.example_inputs(2)]
    out = model(*inputs)
    if entry.family == "hrradarpose":
        z, y, x = model.input_shape[1:]
        sz, sy, sx = model.stem_stride
        assert out["heatmap"].shape == (2, 1, z // sz, y // sy, x // sx)
        assert out["offsets"].shape == (2, 45, z // sz, y // sy, x // sx)
        joints = torch.full((2, 1, 15, 3), float("nan"))
        g = model.spec.grid
        centre = [g.roi_min_m[2 - k] + 0.5 * model.input_shape[3 - k] * g.voxel_size_m[2 - k] for k in range(3)]
        joints[0, 0] = torch.tensor(centre) + 0.05 * torch.randn(15, 3)
        batch = {"joints": joints}
    elif entry.family == "points":
        j = model.num_joints
        assert out["joints"].shape == (2, j, 3)
        batch = {"joints": torch.randn(2, 1, j, 3) + torch.tensor([2.0, 0.0, 0.0])}
    else:
        r = model.input_shape[2]
        assert out["logits"].shape == out["gcn_logits"].shape == (2, 14, r, r)
        batch = {"joints_2d": torch.rand(2, 1, 14, 2) * 200 + 20}
    loss, parts = model.loss(out, batch)
    assert torch.isfinite(loss) and loss.item() > 0
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0
    joints, scores = model.decode({k: v.detach() for k, v in out.items()})
    assert joints.shape[0] == 2 and torch.isfinite(scores).all()


def test_hrradarpose_log_input_is_log1p_of_the_magnitudes():
    entry = model_entry("hrradarpose-lite")
    torch.manual_seed(0)
    linear = create_model("hrradarpose-lite", **entry.tiny_overrides)
    logged = create_model("hrradarpose-lite", **entry.tiny_overrides, log_input_ref=0.01)
    logged.load_state_dict(linear.state_dict())  # the option adds no weights
    x = torch.rand(1, *linear.input_shape) * 0.1
    with torch.no_grad():
        want = linear(torch.log1p(x / 0.01))["offsets"]
        torch.testing.assert_close(logged(x)["offsets"], want)
        assert not torch.allclose(linear(x)["offsets"], want)
    with pytest.raises(ConfigError, match="log_input_ref"):
        create_model("hrradarpose-lite", log_input_ref=0)


def test_flip_test_is_mirror_equivariant():
    """Flip test on the flipped input = the mirror (y about the grid centre, left/right swapped) of flip test on
    the input; and it is the mean of the direct pose and the mirrored pose of the flipped input."""
    import numpy as np

    from rfpose.models.augment import flip_voxels_y
    from rfpose.skeletons import get_skeleton

    entry = model_entry("hrradarpose-lite")
    torch.manual_seed(0)
    m = create_model("hrradarpose-lite", **entry.tiny_overrides).eval()
    x = torch.rand(1, *m.input_shape)
    with torch.no_grad():
        out, out_f = m(x), m(x.flip(3))
        joints, _ = m.decode_flip(out, out_f)
        joints_of_flipped, _ = m.decode_flip(out_f, out)
        direct, _ = m.decode(out, max_people=1)
        of_flipped, _ = m.decode(out_f, max_people=1)
    perm = get_skeleton("rtpose15").flip_permutation()
    _, mirrored = flip_voxels_y(x[0], joints_of_flipped[0], m.spec.grid, perm)
    torch.testing.assert_close(joints[0], mirrored, atol=1e-5, rtol=0)
    _, back = flip_voxels_y(x[0], of_flipped[0], m.spec.grid, perm)
    torch.testing.assert_close(joints[0], (direct[0] + back) / 2, atol=1e-5, rtol=0)
    assert not np.allclose(joints.numpy(), direct.numpy())


def test_hrradarpose_paper_size():
    """RT-Pose hr3d_one_hm_doppler: 2.22 M parameters, 92.6 G conv MACs on a 32×16×64×160 input."""
    m = create_model("hrradarpose")
    assert count_params(m) == pytest.approx(2.22e6, rel=0.005)
    macs = count_macs_meta(lambda: create_model("hrradarpose"), [(1, 32, 16, 64, 160)])
    assert macs == pytest.approx(92.6e9, rel=0.005)
    with torch.device("meta"):
        out = create_model("hrradarpose")(torch.empty(1, 32, 16, 64, 160))
    assert out["heatmap"].shape == (1, 1, 16, 64, 160) and out["offsets"].shape == (1, 45, 16, 64, 160)


def test_hupr_paper_size():
    """HuPR ≈ 35.5 M parameters: 2 × 11.68 M encoders, 3.19 M PRGCN, 64×64 heatmaps."""
    m = create_model("hupr")
    assert count_params(m) == pytest.approx(35.5e6, rel=0.005)
    assert count_params(m.encoder_ra) == pytest.approx(11.68e6, rel=0.005)
    assert count_params(m.prgcn) == pytest.approx(3.19e6, rel=0.005)
    assert count_params(m.mnet_ra) == 160
    with torch.device("meta"):
        mm = create_model("hupr")
        out = mm(*[torch.empty(1, 8, 8, 2, 64, 64, 8)] * 2)
    assert out["logits"].shape == (1, 14, 64, 64)


def test_lite_variants_are_much_cheaper():
    full = count_macs_meta(lambda: create_model("hrradarpose"), [(1, 32, 16, 64, 160)])
    lite = count_macs_meta(lambda: create_model("hrradarpose-lite"), [(1, 32, 16, 64, 160)])
    assert lite < full / 50
    s = (1, 8, 8, 2, 64, 64, 8)
    assert count_macs_meta(lambda: create_model("hupr-lite"), [s, s]) < \
        count_macs_meta(lambda: create_model("hupr"), [s, s]) / 10


def test_mac_counter_matches_hand_count():
    net = torch.nn.Sequential(torch.nn.Conv3d(4, 8, 3, padding=1), torch.nn.Conv3d(8, 2, 1, stride=2),
                              torch.nn.Flatten(), torch.nn.Linear(2 * 2 * 3 * 4, 5))
    x = torch.zeros(1, 4, 4, 6, 8)
    expected = 4 * 6 * 8 * 8 * 4 * 27 + 2 * 3 * 4 * 2 * 8 + 5 * 48
    assert count_macs(net, x) == expected


def test_hupr_input_maps_are_z_scored_as_huprs_loader():
    """Each (range, azimuth) map — frame, Doppler bin, re/im, elevation bin — gets zero mean and unit std before
    the mean over elevation, so HuPR's per-map min-max scaling (any positive affine change of a map) does not
    change the network's input; an all-zero map (padding, the export's example input) stays zero."""
    from rfpose.models.hupr import zscored_elevation_mean

    x = torch.randn(2, 3, 4, 2, 8, 8, 5, dtype=torch.float64) * 0.02
    x[1, 2, 3, 1, :, :, 4] = 0
    per_bin = torch.stack([zscored_elevation_mean(x[..., e:e + 1]) for e in range(5)], dim=-1)  # one bin: its z-score
    keep = torch.ones(per_bin.shape[:4] + per_bin.shape[6:], dtype=torch.bool)
    keep[1, 2, 3, 1, 4] = False
    means, stds = per_bin.mean(dim=(4, 5)), per_bin.std(dim=(4, 5))
    assert means[keep].abs().max() < 1e-12 and (stds[keep] - 1).abs().max() < 1e-12
    assert torch.equal(per_bin[1, 2, 3, 1, :, :, 4], torch.zeros(8, 8))
    z = zscored_elevation_mean(x)
    torch.testing.assert_close(z, per_bin.mean(dim=6), atol=1e-12, rtol=0)
    lo = x.amin(dim=(4, 5), keepdim=True)
    scaled = (x - lo) / (x - lo).amax(dim=(4, 5), keepdim=True).clamp_min(1e-300)
    torch.testing.assert_close(zscored_elevation_mean(scaled), z, atol=1e-10, rtol=0)
    z32 = zscored_elevation_mean(scaled.float())  # float32 (training): maps with mean ≈ 2.5 std, as min-max scaled
    torch.testing.assert_close(z32, z.float(), atol=1e-4, rtol=0)


@pytest.mark.parametrize("name", ["hupr-lite", "hupr", "hupr-lite-csam"])
def test_hupr_encode_size_keeps_the_heatmap_size(name):
    """Encoding at a coarser side (maps average-pooled before MNet) leaves the heatmaps at the input's side, with
    a finite loss and a gradient for every parameter; the tiny input (16 × 16) encoded at 8 × 8."""
    torch.manual_seed(0)
    model = create_model(name, **model_entry(name).tiny_overrides, encode_size=8)
    assert model.encode_size == 8
    inputs = [torch.randn_like(t) for t in model.example_inputs(2)]
    feats = model._view(inputs[0], model.mnet_ra, model.encoder_ra)
    assert [tuple(f.shape[2:]) for f in feats] == [(8, 8), (4, 4), (2, 2)]
    out = model(*inputs)
    assert out["logits"].shape == out["gcn_logits"].shape == (2, 14, 16, 16)
    loss, _ = model.loss(out, {"joints_2d": torch.rand(2, 1, 14, 2) * 200 + 20})
    assert torch.isfinite(loss)
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_hupr_encode_size_defaults_and_bounds():
    """``hupr-lite`` encodes its 64 × 64 maps at 32 × 32, the paper's ``hupr`` at full size; an encode size
    larger than the maps encodes them as they are, one that does not divide them is refused."""
    from rfpose.errors import ShapeError

    with torch.device("meta"):
        lite, paper = create_model("hupr-lite"), create_model("hupr")
        out = lite(*[torch.empty(1, 8, 8, 2, 64, 64, 8)] * 2)
    assert (lite.encode_size, paper.encode_size) == (32, 64)
    assert out["logits"].shape == out["gcn_logits"].shape == (1, 14, 64, 64)
    tiny = model_entry("hupr-lite").tiny_overrides
    assert create_model("hupr-lite", **tiny).encode_size == 16  # the default 32 is larger than the tiny maps
    for bad in (12, 2):
        with pytest.raises(ShapeError, match="encoded at"):
            create_model("hupr-lite", **tiny, encode_size=bad)


def test_hupr_focal_heatmap_loss_weighs_the_joints_not_the_empty_cells():
    """``heatmap_loss="focal"``: a map that is right only at the joints' peaks scores far below the best constant
    map, while BCE's mean over every cell scores them about alike; both losses are named; others are refused."""
    from rfpose.errors import UnknownNameError
    from rfpose.models import heatmap2d

    tiny = model_entry("hupr-lite").tiny_overrides
    bce, focal = (create_model("hupr-lite", **tiny, heatmap_loss=name) for name in ("bce", "focal"))
    joints = torch.rand(2, 1, 14, 2) * 200 + 20
    target = heatmap2d.gaussian_targets(joints, (16, 16), bce.stride_px)
    prior = torch.logit(target.mean()).item()
    constant = {"logits": torch.full_like(target, prior), "gcn_logits": torch.full_like(target, prior)}
    peaks_only = torch.where(target == 1, torch.tensor(4.0), torch.tensor(prior))
    peaks = {"logits": peaks_only, "gcn_logits": peaks_only}
    (f_const, f_logs), (f_peaks, _) = (focal.loss(o, {"joints_2d": joints}) for o in (constant, peaks))
    (b_const, b_logs), (b_peaks, _) = (bce.loss(o, {"joints_2d": joints}) for o in (constant, peaks))
    assert set(f_logs) == {"focal_heatmap", "focal_prgcn"} and set(b_logs) == {"bce_heatmap", "bce_prgcn"}
    assert f_peaks < 0.5 * f_const
    assert b_peaks > 0.8 * b_const
    with pytest.raises(UnknownNameError, match="heatmap loss"):
        create_model("hupr-lite", **tiny, heatmap_loss="mse")


@pytest.mark.parametrize("name", ["hupr-lite", "hupr-lite-csam"])
def test_hupr_on_maps_averaged_at_preprocessing_equals_hupr_on_the_elevation_bins(name):
    """A dataset built with ``hupr_elevation = "mean"`` stores the z-scored elevation mean
    (``rfpose.preprocessing.hupr.zscored_elevation_mean``, numpy) of the central 8 Doppler bins; the model built
    for it (``elevation_averaged``) gives, with the same weights, the outputs the full model gives on the 16 stored
    Doppler bins × 8 elevation bins it was computed from."""
    from rfpose.models.families import get_family
    from rfpose.preprocessing.hupr import zscored_elevation_mean as numpy_mean
    from rfpose.dataset import HUPR_ELEVATION_MEAN_NOTE, InputSpec

    torch.manual_seed(0)
    full = create_model(name, input_shape=(16, 2, 16, 16, 8), frames=4).eval()
    reduced_spec = InputSpec("hupr-ra-re-complex", (8, 2, 16, 16, 1), "gain" + HUPR_ELEVATION_MEAN_NOTE, "hupr14",
                             image_size_px=256)
    overrides = get_family("hupr").overrides_for_data(reduced_spec)
    assert overrides["elevation_averaged"] and overrides["num_doppler"] == 8
    reduced = create_model(name, **{**overrides, "frames": 4}).eval()
    reduced.load_state_dict(full.state_dict())
    assert full.doppler_start == 4 and reduced.doppler_start == 0
    x = [torch.randn(2, 4, 16, 2, 16, 16, 8) * 0.01 for _ in range(2)]
    with torch.no_grad():
        want = full(*(v[:, :, 4:12] for v in x))
        got = reduced(*(torch.from_numpy(numpy_mean(v[:, :, 4:12].numpy())) for v in x))
    for k in want:
        torch.testing.assert_close(got[k], want[k], atol=2e-4, rtol=1e-3)
    assert not get_family("hupr").overrides_for_data(reduced_spec.with_(normalisation="gain"))["elevation_averaged"]


def test_hupr_elevation_averaged_needs_one_elevation_bin():
    from rfpose.errors import ShapeError

    with pytest.raises(ShapeError, match="one elevation bin"):
        create_model("hupr-lite", input_shape=(8, 2, 16, 16, 8), elevation_averaged=True)
