"""Wire layouts: golden word orders, and every board's simulated stream decoded by a reference decoder
written here (from TI's readDCA1000.m / cascade readBinFile descriptions) gives back the samples."""

import numpy as np
import pytest

from rfpose.boards import BOARDS, get_board
from rfpose.radar_config import AdcLayout, parse_cfg, validate_cfg
from rfpose.sim.adc_layout import encode_cascade, encode_frame, quantize
from rfpose.sim.radar import PointTarget, quantize_and_encode, simulate_point_targets


# ---- reference decoders (independent of rfpose.sim) ------------------------------------------------
def ref_decode_dca1000(words, L, T, R, N, complex_, q_first, lanes):
    w = np.asarray(words, np.int16).astype(np.float64)
    if lanes == 2:
        if not complex_:
            return w.reshape(L, T, R, N)
        g = w.reshape(-1, 4)  # readDCA1000.m: d(i)+j d(i+2), d(i+1)+j d(i+3)
        a = g[:, 0:2].reshape(-1)
        b = g[:, 2:4].reshape(-1)
        i, q = (b, a) if q_first else (a, b)
        return (i + 1j * q).reshape(L, T, R, N)
    if not complex_:
        return w.reshape(L, T, N, R).transpose(0, 1, 3, 2)
    g = w.reshape(-1, 2 * R)  # xWR14xx: reshape(d, 8, []), d(1:4,:) + j d(5:8,:)
    a, b = g[:, :R], g[:, R:]
    i, q = (b, a) if q_first else (a, b)
    return (i + 1j * q).reshape(L, T, N, R).transpose(0, 1, 3, 2)


def ref_decode_cascade(chips, L, T, N):
    out = []
    for d in chips:  # master, slave1..3
        w = np.asarray(d, np.int16).astype(np.float64)
        iq = w[0::2] + 1j * w[1::2]
        # MATLAB reshape(iq, 4, N, chirps, loops) is column-major: C order (loops, chirps, N, 4)
        out.append(iq.reshape(L, T, N, 4).transpose(0, 1, 3, 2))
    return np.concatenate(out, axis=2)


# ---- golden cases ---------------------------------------------------------------------------------
def test_golden_two_lane_orders():
    iq = np.array([1 + 5j, 2 + 6j, 3 + 7j, 4 + 8j]).reshape(1, 1, 1, 4)
    assert encode_frame(iq, AdcLayout(True, False, 2)).tolist() == [1, 2, 5, 6, 3, 4, 7, 8]
    assert encode_frame(iq, AdcLayout(True, True, 2)).tolist() == [5, 6, 1, 2, 7, 8, 3, 4]
    assert encode_frame(iq, AdcLayout(False, True, 2)).tolist() == [1, 2, 3, 4]
    two_rx = np.array([[1 + 5j, 2 + 6j], [3 + 7j, 4 + 8j]]).reshape(1, 1, 2, 2)  # RX-blocked per chirp
    assert encode_frame(two_rx, AdcLayout(True, False, 2)).tolist() == [1, 2, 5, 6, 3, 4, 7, 8]


def test_golden_four_lane_orders():
    # 4 RX, 2 samples: per sample I_rx0..3 then Q_rx0..3
    iq = (np.arange(8).reshape(4, 2) + 1j * (10 + np.arange(8).reshape(4, 2))).reshape(1, 1, 4, 2)
    assert encode_frame(iq, AdcLayout(True, False, 4)).tolist() == [0, 2, 4, 6, 10, 12, 14, 16,
                                                                     1, 3, 5, 7, 11, 13, 15, 17]
    assert encode_frame(iq, AdcLayout(True, True, 4)).tolist()[:8] == [10, 12, 14, 16, 0, 2, 4, 6]
    assert encode_frame(iq, AdcLayout(False, False, 4)).tolist() == [0, 2, 4, 6, 1, 3, 5, 7]


def test_golden_cascade_order():
    L, T, R, N = 1, 2, 16, 2
    iq = np.zeros((L, T, R, N), complex)
    iq[0, 1, 5, 1] = 3 - 4j  # chip 1 (slave1), its rx 1, chirp 1, sample 1
    out = encode_cascade(iq)
    assert out.shape == (4, L * T * N * 4 * 2)
    k = ((0 * T + 1) * N + 1) * 4 + 1  # C order (loop, chirp, sample, rx4)
    assert out[1, 2 * k] == 3 and out[1, 2 * k + 1] == -4
    assert np.count_nonzero(out) == 2


def test_quantize_clips_and_rounds():
    assert quantize(np.array([1.4, 1.6, -2.5, 1e6, -1e6])).tolist() == [1, 2, -2, 32767, -32768]


# ---- every board, end to end ------------------------------------------------------------------------
def _cfg_variant(board, sample_swap=None, real=False):
    text = board.default_cfg_text()
    lines = []
    for line in text.splitlines():
        tok = line.split()
        if tok and tok[0] == "adcbufCfg":
            if sample_swap is not None:
                tok[3] = str(sample_swap)
            if real:
                tok[2] = "1"
            line = " ".join(tok)
        if tok and tok[0] == "adcCfg" and real:
            line = "adcCfg 2 0"
        lines.append(line)
    cfg = parse_cfg("\n".join(lines))
    return validate_cfg(cfg, board)


CASES = [(name, None, False) for name in BOARDS] + [
    ("awr1843boost", 0, False), ("awr1843boost", 1, False), ("awr1843boost", 1, True),
    ("iwr1443boost", 0, False), ("iwr1443boost", 1, False), ("iwr1443boost", 0, True),
    ("mmwcas", None, True),
]


@pytest.mark.parametrize("name,swap,real", CASES)
def test_board_stream_round_trip(name, swap, real):
    board = get_board(name)
    p = _cfg_variant(board, swap, real)
    iq = simulate_point_targets(p, board, [PointTarget((2.0, 0.3, 0.1), (0.5, 0, 0), 10.0)], noise=True,
                                rng=np.random.default_rng(0)) * 20  # large enough that rounding is small
    words = quantize_and_encode(iq, p, board)
    L, T, R, N = p.frame_shape
    want = np.round(iq.real) + (0 if real else 1j * np.round(iq.imag))
    if board.capture == "tda2":
        assert words.shape == (4, p.frame_bytes // 8)
        if real:
            got = np.concatenate([np.asarray(c, float).reshape(L, T, N, 4).transpose(0, 1, 3, 2) for c in words], axis=2)
        else:
            got = ref_decode_cascade(words, L, T, N)
    else:
        assert words.dtype == np.int16 and words.shape == (p.frame_bytes // 2,)
        got = ref_decode_dca1000(words, L, T, R, N, p.complex_sampling, p.layout.q_first, board.lvds_lanes)
    assert np.array_equal(got, want)
    assert np.abs(got - (iq.real if real else iq)).max() <= 0.5 * np.sqrt(2) + 1e-6
