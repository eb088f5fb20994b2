"""HuPR maps, CFAR point clouds, and the torch chain against the numpy/scipy chain."""

import numpy as np
import pytest
import torch

from pp_synth import Target, encode_cascade, encode_dca, if_frame, small_params
from rfpose.errors import ConfigError
from rfpose.preprocessing.cartesian import CartesianConfig
from rfpose.preprocessing.decode import decode_cascade_frames, decode_frames
from rfpose.preprocessing.hupr import HuprConfig, HuprProcessor
from rfpose.preprocessing.points import PointCloudConfig, PointCloudProcessor, ca_cfar, os_cfar
from rfpose.preprocessing.polar import PolarConfig
from rfpose.preprocessing.torch_chain import TorchChain, decode_torch


def _frame(board, targets, loops=64, noise=3.0, seed=0):
    cfg, p, b = small_params(board, loops=loops)
    cube = if_frame(p, b, targets, noise=noise, seed=seed)
    words = encode_cascade(cube) if b.capture == "tda2" else encode_dca(cube, p)
    x = decode_cascade_frames(words, p) if b.capture == "tda2" else decode_frames(words, p)
    return p, b, words, x


def test_hupr_map_shape_semantics_and_target():
    pos, vel = (2.5, 0.6, -0.3), (0.25, 0.0, 0.0)
    p, b, words, x = _frame("awr1843boost", [Target(pos, vel, 400.0)])
    proc = HuprProcessor(p, b)
    out = proc(x)
    assert out.shape == (1, 16, 64, 64, 8) and out.dtype == np.complex64
    ax = proc.axes
    # default crop: 64 bins from 1.30 m (1.30–3.93 m with the AWR1843 default profile)
    assert ax.range_m[0] == pytest.approx(1.30, abs=0.03) and ax.range_m[-1] == pytest.approx(3.93, abs=0.05)
    assert len(ax.velocity_mps) == 16 and ax.velocity_mps[8] == 0.0  # central bins 24..39 of 64
    m = np.abs(out[0])
    d, r, a, e = np.unravel_index(int(m.argmax()), m.shape)
    rr = np.linalg.norm(pos)
    assert abs(ax.range_m[r] - rr) <= ax.range_m[1] - ax.range_m[0]
    assert abs(ax.sin_az[a] - pos[1] / rr) <= 2 / 64 + 1e-9
    assert abs(ax.velocity_mps[d] - np.dot(vel, pos) / rr) <= 1.01 * (ax.velocity_mps[1] - ax.velocity_mps[0])
    # static clutter removal: a stationary target vanishes
    _, _, _, xs = _frame("awr1843boost", [Target(pos, (0, 0, 0), 400.0)], noise=0.0)
    assert np.abs(proc(xs)).max() < 1e-3 * m.max()
    with pytest.raises(ConfigError, match="range crop"):
        HuprProcessor(p, b, HuprConfig(range_start_m=10.0))


@pytest.mark.parametrize("method,board", [("ca", "awr1843boost"), ("os", "awr1843boost"), ("ca", "mmwcas")])
def test_cfar_point_cloud_finds_targets(method, board):
    targets = [((2.5, 0.8, 0.3), (0.4, 0.0, 0.0)), ((5.0, -1.2, -0.4), (-0.6, 0.0, 0.0))]
    p, b, words, x = _frame(board, [Target(pos, v, 500.0) for pos, v in targets], noise=4.0,
                            loops=64 if board == "awr1843boost" else 16)
    proc = PointCloudProcessor(p, b, PointCloudConfig(method=method, threshold_db=15.0))
    # the angle FFTs cover the board's virtual array (the cascade's 86 azimuth positions: 128), at least 64 × 32
    assert (proc.config.azimuth_fft, proc.config.elevation_fft) == ((64, 32) if board == "awr1843boost" else (128, 32))
    pts = proc(x[0])
    assert pts.dtype == np.float32 and pts.shape[1] == 5
    for pos, v in targets:
        pos = np.asarray(pos)
        d = np.linalg.norm(pts[:, :3] - pos, axis=1)
        i = int(d.argmin())
        assert d[i] < 0.25, (pts, pos)
        assert abs(pts[i, 3] - np.dot(v, pos) / np.linalg.norm(pos)) < 0.1
        assert pts[i, 4] > 15.0
    # pure noise: (almost) no detections
    _, _, _, xn = _frame(board, [], noise=4.0, seed=3, loops=64 if board == "awr1843boost" else 16)
    assert len(proc(xn[0])) <= 3


def test_cfar_detectors_on_a_synthetic_map():
    rng = np.random.default_rng(0)
    power = rng.exponential(1.0, size=(32, 128))
    power[10, 40] = 200.0
    power[31, 100] = 200.0  # at the Doppler wrap
    for mask, noise in (ca_cfar(power, (1, 2), (2, 6), 13.0), os_cfar(power, 2, 8, 0.75, 13.0)):
        assert mask[10, 40] and mask[31, 100]
        assert mask.sum() <= 4
        assert 0.5 < np.median(noise) < 2.0


@pytest.mark.parametrize("board", ["awr1843boost", "iwr1443boost", "mmwcas"])
def test_torch_chain_equals_numpy_chain(board):
    p, b, words, x = _frame(board, [Target((3.0, 0.5, 0.4), (0.4, 0, 0), 400.0)], loops=8)
    wt = torch.as_tensor(words)[None]
    np.testing.assert_array_equal(decode_torch(wt, p, b).numpy(), x)
    for conf in (PolarConfig(clutter_removal=True), PolarConfig(range_window="hamming", output="magnitude"),
                 PolarConfig(clutter_removal=True, doppler_window="hann", angle_window="hamming"),
                 CartesianConfig(n_x=40, n_y=16, n_z=8), CartesianConfig(n_x=40, n_y=16, n_z=8, interpolate="complex")):
        chain = TorchChain(p, b, conf)
        got = chain(wt).numpy()
        want = chain.numpy(x)
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=0, atol=2e-5 * np.abs(want).max())


def test_torch_chain_is_batched():
    p, b, words, x = _frame("awr1843boost", [Target((2.0, 0.0, 0.0))], loops=8)
    wt = torch.as_tensor(np.stack([words, words[::-1].copy()]))
    chain = TorchChain(p, b, PolarConfig())
    out = chain(wt)
    assert out.shape[0] == 2
    np.testing.assert_allclose(out[0].numpy(), chain.numpy(x)[0], atol=2e-5 * np.abs(out[0].numpy()).max())
