"""`rfpose export` of the point-cloud models: ONNX (run by ONNX Runtime) and TorchScript equal PyTorch on
ragged frames (full, partial and empty), at another batch size than the export's."""

import numpy as np
import pytest
import torch

from rfpose.models import create_model
from rfpose.models.export import export_model, input_names, onnx_feeds, run_exported
from rfpose.models.points_data import pad_frames


def _ragged_batch(model, batch: int, seed: int = 0):
    """(points (B, T, K, F), valid (B, T, K)) of random clouds of 0…K points per frame, padded as the
    dataset reader pads them; frame (0, 0) is empty and frame (1, last) full."""
    rng = np.random.default_rng(seed)
    b, t, k, f = batch, model.frames, model.max_points, model.spec.shape[1]
    counts = rng.integers(0, k + 1, b * t)
    counts[0], counts[t * 2 - 1 if b > 1 else 0] = 0, k
    values = rng.normal(size=(int(counts.sum()), f)).astype(np.float32)
    values[:, :3] += [3.0, 0.0, 0.0]
    values[:, -1] = np.abs(values[:, -1]) * 20  # SNR-like, dB
    points, n = pad_frames(values, np.r_[0, np.cumsum(counts)], k)
    valid = (np.arange(k)[None, :] < n[:, None]).astype(np.float32)
    return torch.from_numpy(points.reshape(b, t, k, f)), torch.from_numpy(valid.reshape(b, t, k))


@pytest.mark.parametrize("name", ["pointpose", "mars-cnn"])
@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_points_models_export_and_match_pytorch(tmp_path, name, fmt):
    torch.manual_seed(0)
    model = create_model(name, **({"widths": (8, 16), "hidden": 32, "frames": 3} if name == "pointpose" else {}))
    model.eval()
    path = export_model(model, fmt, tmp_path / f"m.{fmt}")
    assert input_names(model) == ["points", "valid"]
    inputs = _ragged_batch(model, batch=3)
    with torch.inference_mode():
        want = model(*inputs)["joints"].numpy()
    (got,) = run_exported(path, fmt, inputs)
    assert got.shape == want.shape == (3, 19, 3)  # kinect19, the default skeleton
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    # the export does not freeze the number of real points: another batch, other fills
    other = _ragged_batch(model, batch=2, seed=1)
    with torch.inference_mode():
        np.testing.assert_allclose(run_exported(path, fmt, other)[0], model(*other)["joints"].numpy(),
                                   rtol=1e-5, atol=1e-5)


def test_mars_cnn_onnx_has_no_mask_input_and_is_fed_by_name(tmp_path):
    """MARS's CNN ignores the mask, so the exporter drops that input: the feed must go by name."""
    import onnxruntime as ort

    model = create_model("mars-cnn").eval()
    path = export_model(model, "onnx", tmp_path / "m.onnx")
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == ["points"]
    inputs = _ragged_batch(model, batch=2)
    assert set(onnx_feeds(sess, ["points", "valid"], inputs)) == {"points"}


def test_pointpose_traced_path_equals_the_sparse_one():
    """Training runs the per-point MLP on real points only; the export's fixed-shape path (the MLP on the
    padding too, masked out) gives the same joints."""
    from rfpose.models.pointpose import _dense_pool, segment_max, segment_mean

    torch.manual_seed(1)
    model = create_model("pointpose", widths=(8, 16), hidden=32, frames=3).eval()
    points, valid = _ragged_batch(model, batch=4, seed=3)
    h = model.points_mlp(points)
    b, t, k, _ = points.shape
    keep = (valid.reshape(-1) > 0).nonzero().squeeze(1)
    seg = torch.div(keep, k, rounding_mode="floor")
    hk = h.reshape(b * t * k, -1)[keep]
    sparse = torch.cat([segment_max(hk, seg, b * t), segment_mean(hk, seg, b * t)], dim=1)
    torch.testing.assert_close(_dense_pool(h, valid).reshape(b * t, -1), sparse, rtol=1e-6, atol=1e-6)
