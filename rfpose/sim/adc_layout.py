"""Encode simulated IF samples into the exact raw-ADC word streams of the capture hardware.

Pure functions, no I/O. Input frames are ``(loop, tx, rx, sample)`` (complex, or real for real
sampling); the tx axis is the TDM slot and chirps go out ``for loop: for tx slot`` as on the wire.
Outputs are int16 words in the :class:`rfpose.source.RadarFrame` ``adc`` convention: 1-D for a
DCA1000 board, ``(4, words)`` for the MMWCAS cascade's per-chip files.

DCA1000 (ti-radar-protocols.md §2):

- 2-lane complex (xWR16/18/68xx): per chirp, RX-blocked (RX0's N samples, then RX1's …); every two
  samples make four words ``I0 I1 Q0 Q1``, or ``Q0 Q1 I0 I1`` when ``layout.q_first`` (sampleSwap=1).
- 2-lane real: per chirp, RX-blocked real words.
- 4-lane complex (xWR14xx): per sample ``I_rx0..I_rxR-1 Q_rx0..Q_rxR-1`` (Q block first if q_first).
- 4-lane real: per sample ``rx0..rxR-1``.

Cascade (TDA2, ``encode_cascade``): device d (master, slave1, slave2, slave3) carries physical RX
``4d..4d+3``; per device int16 I-first pairs in C order ``(loop, chirp, sample, rx4, iq)`` — TI's
MATLAB ``reshape(d(1:2:end)+1j*d(2:2:end), 4, N, chirpsPerLoop, loops)``. Real sampling drops the iq axis.
"""

from __future__ import annotations

import numpy as np

from rfpose.errors import ShapeError
from rfpose.radar_config import AdcLayout

INT16_MIN, INT16_MAX = -32768, 32767


def quantize(x: np.ndarray) -> np.ndarray:
    """Round to the nearest integer and clip to int16 (the ADC's saturation)."""
    return np.clip(np.rint(x), INT16_MIN, INT16_MAX).astype(np.int16)


def _check(iq: np.ndarray) -> np.ndarray:
    iq = np.asarray(iq)
    if iq.ndim != 4:
        raise ShapeError(f"expected an ADC frame (loop, tx, rx, sample), got shape {iq.shape}")
    return iq


def encode_frame(iq: np.ndarray, layout: AdcLayout) -> np.ndarray:
    """One frame ``(loop, tx, rx, sample)`` to DCA1000 int16 words (1-D), quantised and clipped.

    For real sampling (``layout.complex`` False) the real part is used. 2-lane complex needs an even
    number of samples (the words come in pairs of samples).
    """
    iq = _check(iq)
    L, T, R, N = iq.shape
    if not layout.complex:
        re = quantize(np.real(iq))
        if layout.interleaved:  # per sample rx0..rxR-1
            return np.ascontiguousarray(re.transpose(0, 1, 3, 2)).reshape(-1)
        return np.ascontiguousarray(re).reshape(-1)
    i = quantize(iq.real)
    q = quantize(iq.imag)
    first, second = (q, i) if layout.q_first else (i, q)
    if layout.interleaved:
        # (loop, tx, sample, {first, second}, rx)
        out = np.stack([first.transpose(0, 1, 3, 2), second.transpose(0, 1, 3, 2)], axis=3)
        return out.reshape(-1)
    if N % 2:
        raise ShapeError(f"2-lane complex ADC data needs an even number of samples per chirp, got {N}")
    # (loop, tx, rx, sample/2, {first, second}, 2)
    out = np.stack([first.reshape(L, T, R, N // 2, 2), second.reshape(L, T, R, N // 2, 2)], axis=4)
    return out.reshape(-1)


def encode_cascade(iq: np.ndarray, complex_sampling: bool = True, num_chips: int = 4) -> np.ndarray:
    """A cascade frame ``(loop, tx, rx=4·chips, sample)`` (rx in physical order) to ``(chips, words)`` int16.

    Each chip's words are its own ``*_data.bin`` frame: C order ``(loop, chirp, sample, rx4, iq)``, I first.
    """
    iq = _check(iq)
    L, T, R, N = iq.shape
    if R != 4 * num_chips:
        raise ShapeError(f"a {num_chips}-chip cascade frame needs {4 * num_chips} RX, got {R}")
    per_chip = iq.reshape(L, T, num_chips, 4, N).transpose(2, 0, 1, 4, 3)  # (chip, loop, chirp, sample, rx4)
    if not complex_sampling:
        return np.ascontiguousarray(quantize(np.real(per_chip))).reshape(num_chips, -1)
    out = np.stack([quantize(per_chip.real), quantize(per_chip.imag)], axis=-1)
    return out.reshape(num_chips, -1)


def encode_for_board(iq: np.ndarray, params, board) -> np.ndarray:
    """Dispatch on the board's capture path: DCA1000 words (1-D) or the cascade's ``(chips, words)``."""
    if board.capture == "tda2":
        return encode_cascade(iq, params.complex_sampling, board.num_chips)
    return encode_frame(iq, params.layout)
