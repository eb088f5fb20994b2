"""hupr datasets stored averaged over elevation (``PreprocessConfig.hupr_elevation = "mean"``)."""

import numpy as np
import pytest
import torch

from pp_synth import Target, encode_dca, if_frame, small_params
from rfpose.dataset import HUPR_ELEVATION_MEAN_NOTE, PreprocessConfig
from rfpose.errors import ConfigError, UnknownNameError
from rfpose.preprocessing.factory import build_processor
from rfpose.preprocessing.decode import decode_frames
from rfpose.preprocessing.hupr import zscored_elevation_mean


def small_params_frames(targets, frames=2):
    """AWR1843 params, board and decoded complex frames (F, L, T, R, N) of ``targets`` with a little noise."""
    _, p, b = small_params("awr1843boost", loops=64)
    words = np.concatenate([encode_dca(if_frame(p, b, targets, frame_index=i, noise=3.0, seed=i), p)
                            for i in range(frames)])
    return p, b, decode_frames(words, p)


def test_numpy_elevation_mean_equals_the_models():
    """The preprocessing's numpy reduction is the models' torch one (float32, an all-zero map stays zero)."""
    from rfpose.models.hupr import zscored_elevation_mean as torch_mean

    rng = np.random.default_rng(0)
    x = (rng.normal(size=(3, 8, 2, 16, 16, 8)) * 0.01 + rng.uniform(0, 0.02, size=(3, 8, 2, 1, 1, 8))).astype(np.float32)
    x[1, 2, 1, :, :, 5] = 0
    got = zscored_elevation_mean(x)
    assert got.shape == (3, 8, 2, 16, 16, 1) and got.dtype == np.float32
    want = torch_mean(torch.from_numpy(x)[None]).numpy()[0, ..., None]  # torch: (B, T, D, 2, R, A, E)
    np.testing.assert_allclose(got, want, atol=2e-5, rtol=0)
    # by hand for one map: the z-scored bins' mean
    m = x[0, 3, 0]
    z = (m - m.mean(axis=(0, 1))) / m.std(axis=(0, 1), ddof=1)
    np.testing.assert_allclose(got[0, 3, 0, :, :, 0], z.mean(axis=-1), atol=2e-5)


def test_the_processor_stores_the_central_doppler_bins_averaged_over_elevation():
    """On a simulated moving target: the reduced processor's maps are the full processor's central 8 Doppler bins
    reduced by the same function, its stored shape and input spec say so, and the target stays where it was."""
    params, board, x = small_params_frames([Target((2.5, 0.6, -0.3), (0.25, 0.0, 0.0), 400.0)])
    full = build_processor(PreprocessConfig(format="hupr"), params, board)
    reduced = build_processor(PreprocessConfig(format="hupr", hupr_doppler_bins=8, hupr_elevation="mean"),
                              params, board)
    y_full, y = full.compute(x), reduced.compute(x)
    assert full.output_shape == (16, 2, 64, 64, 8) and reduced.output_shape == (8, 2, 64, 64, 1)
    assert y.shape == (len(x), 8, 2, 64, 64, 1)
    np.testing.assert_allclose(y, zscored_elevation_mean(y_full[:, 4:12]), atol=1e-4)
    spec = reduced.input_spec("hupr14")
    assert spec["shape"] == [8, 2, 64, 64, 1] and spec["normalisation"].endswith(HUPR_ELEVATION_MEAN_NOTE)
    assert not full.input_spec("hupr14")["normalisation"].endswith(HUPR_ELEVATION_MEAN_NOTE)
    np.testing.assert_array_equal(reduced.chain.axes.velocity_mps, full.chain.axes.velocity_mps[4:12])
    def peak(y):  # (range, azimuth) bin of the strongest return, re² + im² summed over Doppler and elevation
        power = (y[0].astype(np.float64) ** 2).sum(axis=(0, 1, 4))
        return np.unravel_index(int(power.argmax()), power.shape)

    (r, a), (r_full, a_full) = peak(y), peak(y_full[:, 4:12])
    assert abs(r - r_full) <= 1 and abs(a - a_full) <= 1, ((r, a), (r_full, a_full))
    assert reduced(x).dtype == np.float16


def test_bad_hupr_storage_settings_are_named():
    with pytest.raises(UnknownNameError, match="hupr elevation storage"):
        PreprocessConfig(format="hupr", hupr_elevation="sum")
    for bad in (0, 3, 7.0):
        with pytest.raises(ConfigError, match="hupr_doppler_bins"):
            PreprocessConfig(format="hupr", hupr_doppler_bins=bad)
    cfg = PreprocessConfig(format="hupr", hupr_elevation="mean")
    assert [d[0] for d in cfg.tensor_differences(PreprocessConfig(format="hupr"))] == ["hupr_elevation"]
    assert PreprocessConfig.from_dict(cfg.to_dict()) == cfg
