"""The speed-oriented paths against independent computations: the loop-innermost cascade decode, the compacted
Cartesian plan against the full polar tensor, frame-parallel range–Doppler against the batch chain, and the
lane shuffle of 2-lane words on extreme values."""

import numpy as np
import pytest

from pp_synth import Target, encode_cascade, encode_dca, if_frame, small_params
from rfpose.errors import ConfigError, ShapeError
from rfpose.preprocessing.cartesian import CartesianConfig, CartesianProcessor
from rfpose.preprocessing.decode import decode_cascade_frame_trnl, decode_cascade_frames, decode_frames
from rfpose.preprocessing.hupr import HuprProcessor
from rfpose.preprocessing.polar import PolarConfig, PolarProcessor


def _frame(board, loops=8, targets=None, frames=1, seed=0):
    cfg, p, b = small_params(board, loops=loops)
    targets = targets or [Target((3.0, 0.8, 0.5), (0.4, 0, 0), 400.0), Target((5.5, -1.5, 1.2), (-0.3, 0, 0), 300.0)]
    cubes = [if_frame(p, b, targets, frame_index=f, noise=3.0, seed=seed + f) for f in range(frames)]
    if b.capture == "tda2":
        words = np.stack([encode_cascade(c) for c in cubes])  # (F, 4, W)
        x = np.concatenate([decode_cascade_frames(w, p) for w in words])
    else:
        words = np.stack([encode_dca(c, p) for c in cubes])  # (F, W)
        x = decode_frames(words, p)
    return p, b, words, x


def test_cascade_trnl_decode_is_the_transposed_frame():
    p, b, words, x = _frame("mmwcas")
    got = decode_cascade_frame_trnl(words[0], p)
    np.testing.assert_array_equal(got, x[0].transpose(1, 2, 3, 0))
    dc = decode_cascade_frame_trnl(words[0], p, remove_dc=True)
    want = x[0] - x[0].mean(axis=-1, keepdims=True)
    np.testing.assert_allclose(dc, want.transpose(1, 2, 3, 0), atol=1e-3)
    with pytest.raises(ShapeError, match="one cascade frame"):
        decode_cascade_frame_trnl(words[0][:, :-8], p)


def _reference_voxels(proc: CartesianProcessor, x: np.ndarray) -> np.ndarray:
    """Independent of the compacted plan: the full polar tensor (every el, range, az bin by zero-padded FFTs),
    then |·|, Doppler max-pool, the plain (uncompacted) trilinear operator and the scale, in RT-Pose's order
    where the config asks for it."""
    pol = proc.polar
    c = proc.config
    full = pol.angle(pol.range_doppler(x), layout="drae")  # (F, D, Nr, A, E)
    F, D = full.shape[:2]
    cols = np.ascontiguousarray(full.transpose(0, 4, 2, 3, 1)).reshape(F, -1, D)  # (F, E·Nr·A, D): operator order
    out = []
    for f in range(F):
        if c.output == "complex":
            out.append((proc.operator @ cols[f]).T)
        elif c.interpolate == "magnitude":
            m = np.abs(cols[f]).reshape(-1, D // c.doppler_pool, c.doppler_pool).max(axis=-1)
            out.append((proc.operator @ m).T / proc.scale)
        else:
            v = np.abs((proc.operator @ cols[f]).T)
            out.append(v.reshape(D // c.doppler_pool, c.doppler_pool, -1).max(axis=1) / proc.scale)
    return np.stack(out).reshape(F, *proc.output_shape)


@pytest.mark.parametrize("board", ["mmwcas", "awr1843boost"])
@pytest.mark.parametrize("conf", [CartesianConfig(), CartesianConfig(n_x=40, n_y=16, n_z=8, interpolate="complex"),
                                  CartesianConfig(n_x=20, n_y=8, n_z=4, output="complex", doppler_chunk=3),
                                  CartesianConfig(n_x=40, n_y=16, n_z=8, doppler_pool=4, clutter_removal=True),
                                  CartesianConfig(n_x=40, n_y=16, n_z=8, clutter_removal=True, doppler_window="hann",
                                                  angle_window="hann")])
def test_compacted_cartesian_equals_full_polar_chain(board, conf):
    p, b, words, x = _frame(board, frames=2)
    proc = CartesianProcessor(p, b, conf)
    want = _reference_voxels(proc, x)
    got = proc(x)
    assert got.shape == want.shape and got.dtype == want.dtype
    np.testing.assert_allclose(got, want, rtol=0, atol=2e-6 * np.abs(want).max())
    np.testing.assert_allclose(proc.from_words(words), got, rtol=0, atol=2e-6 * np.abs(want).max())
    one = CartesianProcessor(p, b, conf, workers=1)  # the single-thread split gives the same numbers
    np.testing.assert_allclose(one(x[1]), got[1], rtol=0, atol=1e-6 * np.abs(want).max())


def test_compacted_plan_computes_every_bin_the_operator_reads_once():
    p, b, words, x = _frame("mmwcas")
    proc = CartesianProcessor(p, b)
    dest = np.concatenate([blk.dest for blk in proc.blocks])
    assert np.array_equal(np.sort(dest), np.arange(proc.n_columns))  # each compacted row written exactly once
    D, Nr, A, E = proc.polar.output_shape
    needed = len(np.unique(proc.operator.indices))
    assert needed <= proc.n_columns <= 1.1 * needed  # gap filling costs < 10 %
    assert proc.n_columns < 0.5 * E * Nr * A  # less than half the polar bins are computed
    assert proc.compact_operator.nnz == proc.operator.nnz
    with pytest.raises(ShapeError):
        proc.from_words(words[0][:2])


@pytest.mark.parametrize("conf", [PolarConfig(range_window="none", dc_removal=False, tdm_compensation=False),
                                  PolarConfig(), PolarConfig(clutter_removal=True, range_crop=(4, 60)),
                                  PolarConfig(clutter_removal=True, doppler_window="hann", angle_window="hann")])
def test_frame_parallel_range_doppler_equals_batch(conf):
    p, b, words, x = _frame("awr1843boost", loops=16, frames=5)
    for workers in (1, 2):
        proc = PolarProcessor(p, b, PolarConfig(**{**conf.to_dict(), "workers": workers}))
        got = proc.range_doppler_words(words)
        want = proc.range_doppler(x.copy())
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-5 * np.abs(want).max())
        np.testing.assert_allclose(proc.range_doppler_words(words[2]), want[2:3], rtol=0,
                                   atol=1e-5 * np.abs(want).max())
        np.testing.assert_allclose(proc.from_words(words), proc(x.copy()), rtol=0, atol=1e-5 * np.abs(want).max())
    with pytest.raises(ShapeError, match="whole number"):
        proc.range_doppler_words(words.reshape(-1)[:-3])


def test_hupr_from_words_frame_parallel():
    p, b, words, x = _frame("awr1843boost", loops=64, frames=3, targets=[Target((2.5, 0.4, 0.0), (0.3, 0, 0), 400.0)])
    proc = HuprProcessor(p, b)
    want = proc(x)
    np.testing.assert_allclose(proc.from_words(words), want, rtol=0, atol=1e-5 * np.abs(want).max())


@pytest.mark.parametrize("q_first", [True, False])
def test_two_lane_lane_shuffle_extreme_values(q_first):
    cfg, p, b = small_params("awr1843boost", loops=1, samples=4, **({} if q_first else {"sample_swap": 0}))
    assert p.layout.q_first == q_first
    rng = np.random.default_rng(1)
    i = rng.integers(-32768, 32768, size=(3, 4, 4)).astype(np.int16)
    q = rng.integers(-32768, 32768, size=(3, 4, 4)).astype(np.int16)
    i[0, 0, :2], q[0, 0, :2] = (-32768, 32767), (32767, -1)
    words = np.empty((3, 4, 2, 4), np.int16)  # (tx, rx, sample pair, lane group)
    first, second = (q, i) if q_first else (i, q)
    words[..., 0:2] = first.reshape(3, 4, 2, 2)
    words[..., 2:4] = second.reshape(3, 4, 2, 2)
    got = decode_frames(words.reshape(-1), p)[0, 0]
    np.testing.assert_array_equal(got, i.astype(np.float32) + 1j * q.astype(np.float32))


def test_step_cpu_ms_times_the_chain_it_runs():
    """The benchmark's step-by-step run (every part of the parallel steps in turn on one thread) writes the
    same voxels as the chain, and times each part the threads would take."""
    from rfpose.dataset import to_float16

    p, b, words, x = _frame("awr1843boost", frames=1)
    proc = CartesianProcessor(p, b, CartesianConfig(n_x=40, n_y=16, n_z=8), workers=2)
    out = np.zeros(proc.output_shape, np.float32)
    times = proc.step_cpu_ms(x[0], out)
    np.testing.assert_array_equal(out, to_float16(proc(x)[0]).astype(np.float32))
    assert proc.power_terms  # two elevation rows: magnitudes from the rows' products
    assert list(times) == ["load", "range-Doppler", "azimuth", "row products", "elevation magnitudes", "resampling"]
    assert len(times["row products"]) == 2
    assert len(times["elevation magnitudes"]) == len(proc._block_split) == 2
    assert all(t >= 0 for parts in times.values() for t in parts) and sum(times["resampling"]) > 0
    with pytest.raises(ConfigError, match="magnitude-first"):
        CartesianProcessor(p, b, CartesianConfig(n_x=8, n_y=4, n_z=2, interpolate="complex")).step_cpu_ms(x[0])


@pytest.mark.parametrize("board", ["awr1843boost", "mmwcas"])
def test_voxels_written_into_channels_last_inputs_as_float16_stores_them(board):
    """The live pipeline's path: one frame's voxels, float16-rounded in the resampling pass, written into
    channel slices of channels-last model inputs (two windows at once) — the same values, bit for bit, as
    the plain chain's output stored by the dataset writer."""
    import torch

    from rfpose.dataset import to_float16

    p, b, words, x = _frame(board, frames=1)
    conf = CartesianConfig(n_x=40, n_y=16, n_z=8)
    proc = CartesianProcessor(p, b, conf)
    stored = to_float16(proc(x)[0]).astype(np.float32)
    D = proc.output_shape[0]
    inputs = [torch.zeros((1, 2 * D, *proc.output_shape[1:])).contiguous(memory_format=torch.channels_last_3d)
              for _ in range(2)]
    dest = (inputs[0][0, D:].numpy(), inputs[1][0, :D].numpy())
    got = proc(x, out=dest, float16_values=True)
    assert np.shares_memory(got, inputs[0].numpy())
    np.testing.assert_array_equal(inputs[0][0, D:].numpy(), stored)
    np.testing.assert_array_equal(inputs[1][0, :D].numpy(), stored)
    assert not inputs[0][0, :D].any() and not inputs[1][0, D:].any()  # the other slots untouched
    from rfpose.preprocessing.cartesian import _copy_float16_rounded

    big = np.array([[1e6, 1.0 + 2.0 ** -12]], np.float32)  # one voxel, two channels
    one, strided = np.zeros((2, 1), np.float32), np.zeros((4, 1), np.float32)
    _copy_float16_rounded(big, [one, strided[::2]])
    assert one.tolist() == strided[::2].tolist() == [[65504.0], [1.0]]  # clipped and rounded as to_float16 does
    with pytest.raises(ShapeError, match="strides"):  # voxel axes that do not merge into one
        proc(x, out=np.zeros((D, *proc.output_shape[1:][::-1]), np.float32).transpose(0, 3, 2, 1),
             float16_values=True)
    with pytest.raises(ShapeError, match="out must be"):
        proc(x, out=np.zeros(proc.output_shape, np.float64))
    with pytest.raises(ConfigError, match="magnitude"):
        CartesianProcessor(p, b, CartesianConfig(n_x=8, n_y=4, n_z=2, output="complex"))(x, float16_values=True)
