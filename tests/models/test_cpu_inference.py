"""A network prepared for CPU inference (oneDNN convolutions, channels-last) gives the plain network's outputs,
really runs its convolutions through oneDNN at batch 1, and still trains and exports."""

import pytest
import torch

from rfpose.models import create_model
from rfpose.models.inference import for_cpu_inference

pytestmark = pytest.mark.skipif(not torch.backends.mkldnn.is_available(), reason="PyTorch without oneDNN")

SHAPE = (8, 8, 16, 32)  # (doppler, z, y, x): small, so PyTorch's heuristic picks its reference conv at batch 1
RECIPE = dict(head_channels=32, fuse_channels=64, frames=2, heatmap_head_channels=8)  # run 15's widths


def _conv_kernels(model, x) -> set[str]:
    from torch.profiler import ProfilerActivity, profile

    with torch.inference_mode(), profile(activities=[ProfilerActivity.CPU]) as prof:
        model(x)
    return {e.key for e in prof.key_averages() if "conv" in e.key}


def test_prepared_model_equals_the_plain_one_through_onednn():
    torch.manual_seed(0)
    plain = create_model("hrradarpose-lite", input_shape=SHAPE, **RECIPE).eval()
    fast = create_model("hrradarpose-lite", input_shape=SHAPE, **RECIPE).eval()
    fast.load_state_dict(plain.state_dict())
    for_cpu_inference(fast, torch.channels_last_3d)
    x = torch.rand(1, 2 * SHAPE[0], *SHAPE[1:]) * 3
    assert "aten::slow_conv3d_forward" in _conv_kernels(plain, x)  # the heuristic this works around
    kernels = _conv_kernels(fast, x.contiguous(memory_format=torch.channels_last_3d))
    assert "aten::mkldnn_convolution" in kernels and "aten::slow_conv3d_forward" not in kernels
    with torch.inference_mode():
        want = plain(x)
        for inp in (x, x.contiguous(memory_format=torch.channels_last_3d)):
            got = fast(inp)
            for k in want:
                torch.testing.assert_close(got[k], want[k], rtol=1e-4, atol=1e-4 * float(want[k].abs().max()))
        j_want, s_want = plain.decode(want, max_people=2)
        j_got, s_got = fast.decode(fast(x), max_people=2)
    torch.testing.assert_close(j_got, j_want, rtol=0, atol=1e-4)
    assert fast.state_dict().keys() == plain.state_dict().keys()


def test_prepared_model_still_trains_and_exports(tmp_path):
    pytest.importorskip("onnx")
    from rfpose.models.export import export_model, parity

    torch.manual_seed(1)
    model = for_cpu_inference(create_model("hrradarpose-lite", input_shape=SHAPE).eval(), torch.channels_last_3d)
    x = torch.rand(2, *SHAPE)
    model.train()
    out = model(x)
    (out["heatmap"].mean() + out["offsets"].mean()).backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
    model.eval()
    path = export_model(model, "onnx", tmp_path / "m.onnx")
    assert parity(model, path, "onnx") < 1e-3


@pytest.mark.parametrize("head_kernel", [1, 3])
def test_a_head_read_at_voxels_equals_the_dense_head_there_edges_included(head_kernel):
    from rfpose.models.centerpose import gather_at
    from rfpose.models.hrradarpose import head, head_at

    torch.manual_seed(2)
    h = head(6, 5, 4, kernel=head_kernel).eval()
    feats = torch.randn(2, 6, 3, 4, 5)
    Z, Y, X = feats.shape[2:]
    corners = [0, X - 1, (Y - 1) * X, Z * Y * X - 1, (Z - 1) * Y * X + 2, 1 * Y * X + 2 * X + 2]  # edges and inside
    index = torch.tensor([corners, corners[::-1]])
    with torch.inference_mode():
        torch.testing.assert_close(head_at(h, feats, index), gather_at(h(feats), index), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("head_kernel", [1, 3])
def test_predict_decodes_as_forward_without_the_dense_offset_head(head_kernel):
    from rfpose.models.inference import predict

    torch.manual_seed(3)
    model = create_model("hrradarpose-lite", input_shape=SHAPE, head_kernel=head_kernel, offset_radius=1,
                         **RECIPE).eval()
    for p in model.parameters():  # away from the initialisation, so offsets and peaks differ between voxels
        p.data.normal_(0, 0.2)
    for_cpu_inference(model, torch.channels_last_3d)
    x = (torch.rand(2, 2 * SHAPE[0], *SHAPE[1:]) * 3).contiguous(memory_format=torch.channels_last_3d)
    dense_calls = []
    with torch.inference_mode():
        want = {k: model.decode(model(x), max_people=k) for k in (1, 3)}
        model.offset_head.register_forward_hook(lambda *a: dense_calls.append(1))
        for k, (j_want, s_want) in want.items():
            j_got, s_got = predict(model, (x,), max_people=k)
            torch.testing.assert_close(s_got, s_want)
            torch.testing.assert_close(j_got, j_want, rtol=0, atol=1e-4, equal_nan=True)
    assert not dense_calls
