"""Decoding every ADC layout: a test-local encoder (pp_synth) and the simulator's encoder both round-trip."""

import logging

import numpy as np
import pytest

from pp_synth import Target, encode_cascade, encode_dca, if_frame, small_params
from rfpose.errors import FormatError, ShapeError
from rfpose.preprocessing.decode import (CASCADE_RX_MIMO_ORDER, decode_cascade_frames, decode_frames,
                                         read_adc_bin, rx_channel_order)

LAYOUTS = [
    ("awr1843boost", {}),  # 2-lane complex, sampleSwap=1 (Q first)
    ("awr1843boost", {"sample_swap": 0}),  # 2-lane complex, I first
    ("iwr1443boost", {}),  # 4-lane complex, Q first
    ("iwr1443boost", {"sample_swap": 0}),  # 4-lane complex, I first
    ("awr1843boost", {"real": True}),  # 2-lane real
    ("iwr1443boost", {"real": True}),  # 4-lane real
    ("iwr6843aop", {}),
]


def _cube(board, loops=4, **kw):
    real = bool(kw.get("real"))
    cfg, p, b = small_params(board, loops=loops, **kw)
    cube = if_frame(p, b, [Target((2.0, 0.4, 0.2), (0.3, 0, 0), 800.0)], noise=5.0, real=real)
    return p, b, cube


@pytest.mark.parametrize("board,kw", LAYOUTS)
def test_every_dca_layout_round_trips(board, kw):
    p, b, cube = _cube(board, **kw)
    assert p.layout.complex == (not kw.get("real", False))
    words = encode_dca(cube, p)
    got = decode_frames(words, p)[0]
    want = np.round(cube.real) + (0 if kw.get("real") else 1j * np.round(cube.imag))
    assert got.dtype == np.complex64 and got.shape == p.frame_shape
    np.testing.assert_array_equal(got, want.astype(np.complex64))
    # the fused (-1)^loop modulation and a per-(loop, sample) scale give the same as multiplying afterwards
    sign = np.where(np.arange(p.num_loops) % 2, -1, 1)[:, None, None, None]
    np.testing.assert_array_equal(decode_frames(words, p, negate_odd_loops=True)[0], got * sign)
    scale = np.linspace(0.5, 1.5, p.num_loops * p.num_adc_samples, dtype=np.float32).reshape(p.num_loops, -1)
    np.testing.assert_allclose(decode_frames(words, p, scale=scale)[0], got * scale[:, None, None, :], rtol=1e-6)


def test_golden_two_lane_words():
    """Hand-written words: 2-lane Q-first groups Q0 Q1 I0 I1, chirps for loop: for tx, RX-blocked."""
    cfg, p, b = small_params("awr1843boost", loops=1, samples=2)
    assert p.frame_shape == (1, 3, 4, 2) and p.layout.q_first and p.layout.lanes == 2
    words = np.zeros(3 * 4 * 4, np.int16)
    # tx slot 1, rx 2: samples (I, Q) = (5, -6), (7, 8)
    base = (1 * 4 + 2) * 4
    words[base:base + 4] = [-6, 8, 5, 7]
    got = decode_frames(words, p)[0]
    assert got[0, 1, 2, 0] == 5 - 6j and got[0, 1, 2, 1] == 7 + 8j
    assert np.count_nonzero(got) == 2


def test_golden_four_lane_words():
    cfg, p, b = small_params("iwr1443boost", loops=1, samples=2, sample_swap=0)
    words = np.zeros(3 * 4 * 2 * 2, np.int16)
    # chirp 0 (tx slot 0), sample 1: I_rx0..3 then Q_rx0..3
    words[8:16] = [1, 2, 3, 4, -1, -2, -3, -4]
    got = decode_frames(words, p)[0]
    np.testing.assert_array_equal(got[0, 0, :, 1], [1 - 1j, 2 - 2j, 3 - 3j, 4 - 4j])
    assert np.count_nonzero(got) == 4


def test_cascade_round_trip_and_mimo_order():
    p, b, cube = _cube("mmwcas", loops=2)
    chips = encode_cascade(cube)
    got = decode_cascade_frames(chips, p)[0]
    np.testing.assert_array_equal(got, (np.round(cube.real) + 1j * np.round(cube.imag)).astype(np.complex64))
    # decoded rx 0 is physical RX13 = slave3's first channel: its words sit at the start of chip 3
    assert rx_channel_order(p, b)[0] == 12 and CASCADE_RX_MIMO_ORDER[0] == 13
    assert got[0, 0, 0, 0] == chips[3, 0] + 1j * chips[3, 1]


@pytest.mark.parametrize("board", ["awr1843boost", "iwr1443boost", "mmwcas"])
def test_simulator_encoding_decodes(board):
    sim = pytest.importorskip("rfpose.sim.radar")
    cfg, p, b = small_params(board, loops=4)
    iq = sim.simulate_point_targets(p, b, [sim.PointTarget((2.5, 0.3, 0.1), (0.2, 0, 0), 10.0)], noise=False)
    words = sim.quantize_and_encode(iq, p, b)
    if b.capture == "tda2":
        got = decode_cascade_frames(words, p)[0]
        iq = iq[:, :, list(rx_channel_order(p, b))]  # the simulator keeps physical RX order
    else:
        got = decode_frames(words, p)[0]
    want = np.clip(np.round(iq.real), -32768, 32767) + 1j * np.clip(np.round(iq.imag), -32768, 32767)
    assert np.abs(got - want).max() <= 1.0  # the simulator may round half differently


def test_wrong_word_counts_are_shape_errors():
    cfg, p, b = small_params("awr1843boost", loops=2)
    with pytest.raises(ShapeError, match="whole number"):
        decode_frames(np.zeros(100, np.int16), p)
    with pytest.raises(ShapeError, match="int16"):
        decode_frames(np.zeros(100, np.float32), p)


def test_read_adc_bin_frames_memmap_and_truncation(tmp_path, caplog):
    cfg, p, b = small_params("awr1843boost", loops=4)
    frames = [if_frame(p, b, [Target((1.0 + i, 0, 0))], frame_index=i) for i in range(5)]
    words = np.concatenate([encode_dca(f, p) for f in frames])
    path = tmp_path / "adc_data.bin"
    words.tofile(path)
    all_frames = read_adc_bin(path, p)
    assert all_frames.shape == (5, *p.frame_shape)
    sub = read_adc_bin(path, p, frames=slice(1, 4, 2))
    np.testing.assert_array_equal(sub, all_frames[[1, 3]])
    # truncated: strict raises naming the left-over bytes; default decodes the whole frames and warns
    trunc = tmp_path / "trunc.bin"
    trunc.write_bytes(words.tobytes()[:-1234])
    with pytest.raises(FormatError, match=r"4 whole frames and \d+ bytes left over"):
        read_adc_bin(trunc, p, strict=True)
    with caplog.at_level(logging.WARNING):
        got = read_adc_bin(trunc, p)
    assert got.shape[0] == 4 and "left over" in caplog.text
    np.testing.assert_array_equal(got, all_frames[:4])
    (tmp_path / "empty.bin").write_bytes(b"")
    with pytest.raises(FormatError, match="empty"):
        read_adc_bin(tmp_path / "empty.bin", p)
    with pytest.raises(FormatError, match="no such file"):
        read_adc_bin(tmp_path / "missing.bin", p)


def test_read_cascade_directory_and_glob(tmp_path):
    cfg, p, b = small_params("mmwcas", loops=2)
    cubes = [if_frame(p, b, [Target((2.0 + i, 0, 0))], frame_index=i) for i in range(3)]
    chips = np.concatenate([encode_cascade(c) for c in cubes], axis=1)
    for k, name in enumerate(("master", "slave1", "slave2", "slave3")):
        chips[k].tofile(tmp_path / f"{name}_0000_data.bin")
    got = read_adc_bin(tmp_path, p, board=b)
    assert got.shape == (3, *p.frame_shape)
    np.testing.assert_array_equal(got[2], decode_cascade_frames(encode_cascade(cubes[2]), p)[0])
    np.testing.assert_array_equal(read_adc_bin(str(tmp_path / "*_data.bin"), p, frames=slice(1, 2), board=b),
                                  got[1:2])
    (tmp_path / "slave2_0000_data.bin").unlink()
    with pytest.raises(FormatError, match="slave2"):
        read_adc_bin(tmp_path, p, board=b)
