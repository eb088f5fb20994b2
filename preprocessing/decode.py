"""Raw ADC words to complex64 frames ``(loop, tx, rx, sample)``; reading ``adc_data.bin`` captures.

Layouts (ti-radar-protocols.md §2), all int16 little-endian words, chirps ordered ``for loop: for tx slot``:

- 2-lane complex (xWR16/18/68xx): per chirp RX0's N samples, then RX1's …; words in groups of four,
  ``I0 I1 Q0 Q1`` (I-first) or ``Q0 Q1 I0 I1`` (``sampleSwap=1``, ``layout.q_first``).
- 4-lane complex (xWR14xx): per sample the 2·R words ``I_rx0..I_rxR-1 Q_rx0..Q_rxR-1`` (Q block first
  with sampleSwap).
- Real sampling: 2-lane RX-blocked real samples; 4-lane per sample ``rx0..rxR-1``. Real frames decode
  to complex64 with zero imaginary part, so every downstream stage takes one dtype.
- Cascade (MMWCAS, TDA2): four per-chip streams (master, slave1, slave2, slave3), each I-first pairs
  laid out in C order ``(loop, chirp, sample, rx4)`` (TI's column-major ``reshape(4rx, N, chirps, loops)``).
  Chip d carries physical RX ``4d..4d+3``; the decoded rx axis follows TI's ``RxForMIMOProcess``
  (:data:`CASCADE_RX_MIMO_ORDER`), so ``rx_channel_order`` gives the physical channel of each rx index.

The tx axis is the TDM slot: slot t is transmitted by TX ``params.tx_order[t]``.
"""

from __future__ import annotations

import glob
import logging
import os
from pathlib import Path

import numpy as np

from rfpose.boards import Board
from rfpose.errors import FormatError, ShapeError
from rfpose.radar_config import RadarParams

log = logging.getLogger(__name__)

#: TI cascade ``RxForMIMOProcess`` (1-based physical RX), the decoded rx axis order for the cascade.
CASCADE_RX_MIMO_ORDER = (13, 14, 15, 16, 1, 2, 3, 4, 9, 10, 11, 12, 5, 6, 7, 8)
CASCADE_CHIP_NAMES = ("master", "slave1", "slave2", "slave3")


def rx_channel_order(params: RadarParams, board: Board) -> tuple[int, ...]:
    """Physical RX channel (0-based, as in ``board.rx_positions``) of each index of the decoded rx axis."""
    if board.capture == "tda2":
        return tuple(c - 1 for c in CASCADE_RX_MIMO_ORDER)
    return tuple(params.rx_channels)


def words_per_frame(params: RadarParams, board: Board | None = None) -> int:
    """int16 words in one frame (per chip for the cascade)."""
    if board is not None and board.capture == "tda2":
        return params.num_loops * params.num_tx * params.num_adc_samples * 4 * 2
    per = 2 if params.complex_sampling else 1
    return params.num_loops * params.num_tx * params.num_rx * params.num_adc_samples * per


def decode_frames(words: np.ndarray, params: RadarParams, out: np.ndarray | None = None,
                  scale: np.ndarray | None = None, negate_odd_loops: bool = False) -> np.ndarray:
    """Decode DCA1000 words of F whole frames into complex64 ``(F, loop, tx, rx, sample)``.

    ``words``: int16, 1-D (F·W) or ``(F, W)``; one frame gives F = 1. ``scale``: an optional real
    ``(loop, sample)`` multiplier applied while converting (the polar chain passes its range window times
    the ``(-1)^loop`` Doppler-shift modulation, saving a pass over the cube). Each layout is one strided
    int16 → float32 copy into the complex output's (re, im) view. ``negate_odd_loops`` applies just the
    ``(-1)^loop`` modulation (a sign flip of every other loop, cheaper than a full ``scale`` pass).
    """
    w = np.asarray(words)
    if w.dtype != np.int16:
        raise ShapeError(f"ADC words must be int16, got {w.dtype}")
    n_words = words_per_frame(params)
    if w.size % n_words:
        raise ShapeError(f"{w.size} ADC words are not a whole number of {n_words}-word frames")
    f = w.size // n_words
    L, T, R, N = params.frame_shape
    lay = params.layout
    if out is None:
        out = np.empty((f, L, T, R, N), np.complex64)
    elif out.shape != (f, L, T, R, N) or out.dtype != np.complex64 or not out.flags.c_contiguous:
        raise ShapeError(f"out must be C-contiguous complex64 {(f, L, T, R, N)}, got {out.dtype} {out.shape}")
    ri = out.view(np.float32).reshape(f, L, T, R, N, 2)  # (…, sample, re/im)
    if negate_odd_loops:
        _decode_into(w, params, out, ri, f, None)
        np.negative(ri[:, 1::2], out=ri[:, 1::2])
        return out
    return _decode_into(w, params, out, ri, f, scale)


def _decode_into(w, params, out, ri, f, scale):
    L, T, R, N = params.frame_shape
    lay = params.layout
    mult = None if scale is None else np.asarray(scale, np.float32).reshape(L, N)
    if lay.complex:
        if lay.interleaved:
            src = w.reshape(f, L, T, N, 2, R).transpose(0, 1, 2, 5, 3, 4)  # (…, rx, sample, I/Q block)
            dst = ri
            m = None if mult is None else mult.reshape(1, L, 1, 1, N, 1)
        else:
            if N % 2:
                raise ShapeError(f"2-lane complex data needs an even sample count, got {N}")
            iq = _iiqq_to_iq(w, lay.q_first)  # (…, sample, I/Q) int16, contiguous
            np.copyto(ri, iq.reshape(f, L, T, R, N, 2), casting="unsafe")
            if mult is not None:  # float32 in place: much faster than a mixed int16 × float32 ufunc loop
                ri *= mult.reshape(1, L, 1, 1, N, 1)
            return out
        if lay.q_first:
            src = src[..., ::-1]
        np.copyto(dst, src, casting="unsafe")
        if m is not None:
            dst *= m
    else:
        re = w.reshape(f, L, T, N, R).transpose(0, 1, 2, 4, 3) if lay.interleaved else w.reshape(f, L, T, R, N)
        np.copyto(ri[..., 0], re, casting="unsafe")
        ri[..., 1] = 0
        if mult is not None:
            ri *= mult.reshape(1, L, 1, 1, N, 1)
    return out


def _iiqq_to_iq(words: np.ndarray, q_first: bool) -> np.ndarray:
    """2-lane word groups ``I0 I1 Q0 Q1`` (or ``Q0 Q1 I0 I1``) → ``I0 Q0 I1 Q1`` int16.

    Done on each group as one 64-bit word: Q-first groups are rotated by 32 bits (to ``I0 I1 Q0 Q1``), then
    the two middle 16-bit lanes are exchanged with a delta swap. Six to nine vectorised integer passes,
    several times faster than a strided (2, 2) transpose. Assumes a little-endian host (x86, ARM).
    """
    x = np.ascontiguousarray(words).reshape(-1).view(np.uint64)
    y = np.empty_like(x)
    t = np.empty_like(x)
    if q_first:
        np.right_shift(x, _S32, out=y)
        np.left_shift(x, _S32, out=t)
        y |= t
    else:
        np.copyto(y, x)
    np.right_shift(y, _S16, out=t)  # delta swap of lanes 1 and 2: t = (y ^ y >> 16) & lane-1 mask
    t ^= y
    t &= _LANE1
    y ^= t
    t <<= _S16
    y ^= t
    return y.view(np.int16)


_S16, _S32 = np.uint64(16), np.uint64(32)
_LANE1 = np.uint64(0xFFFF0000)


def decode_frame(words: np.ndarray, params: RadarParams) -> np.ndarray:
    """One DCA1000 frame of int16 words to complex64 ``(loop, tx, rx, sample)``."""
    return decode_frames(words, params)[0]


def decode_cascade_frames(chips: np.ndarray, params: RadarParams, out: np.ndarray | None = None) -> np.ndarray:
    """Cascade words ``(4 chips, F·W)`` or ``(4, F, W)`` to complex64 ``(F, loop, tx, rx16, sample)``.

    The rx axis is in TI's MIMO order (:data:`CASCADE_RX_MIMO_ORDER`).
    """
    c = np.asarray(chips)
    if c.dtype != np.int16:
        raise ShapeError(f"cascade ADC words must be int16, got {c.dtype}")
    if c.ndim < 2 or c.shape[0] != 4:
        raise ShapeError(f"cascade ADC words must be (4 chips, words), got shape {c.shape}")
    L, T, N = params.num_loops, params.num_tx, params.num_adc_samples
    if params.num_rx != 16:
        raise ShapeError(f"the cascade decodes 16 RX, the configuration enables {params.num_rx}")
    per = L * T * N * 4 * 2
    if c[0].size % per:
        raise ShapeError(f"{c[0].size} words per chip are not a whole number of {per}-word frames")
    f = c[0].size // per
    if out is None:
        out = np.empty((f, L, T, 16, N), np.complex64)
    # I-first pairs are already (re, im): convert once, view as complex (chip, frame, loop, chirp, sample, rx4)
    cplx = c.reshape(4, -1).astype(np.float32).view(np.complex64).reshape(4, f, L, T, N, 4)
    # MIMO order = chips (slave3, master, slave2, slave1), each chip's RX in ascending order
    chip_order = [(CASCADE_RX_MIMO_ORDER[4 * j] - 1) // 4 for j in range(4)]
    dst = out.reshape(f, L, T, 4, 4, N)
    for j, chip in enumerate(chip_order):
        dst[:, :, :, j] = cplx[chip].transpose(0, 1, 2, 4, 3)
    return out


def decode_cascade_frame_trnl(chips: np.ndarray, params: RadarParams, out: np.ndarray | None = None,
                              scratch: np.ndarray | None = None, remove_dc: bool = False,
                              slots: range = range(4)) -> np.ndarray:
    """One cascade frame's words ``(4 chips, W)`` to complex64 ``(tx, rx16, sample, loop)`` (loop innermost).

    The same values as :func:`decode_cascade_frames` in the layout the Cartesian chain transforms without
    a transpose (range FFT over the strided sample axis, Doppler FFT over the contiguous loop axis). Each
    chip is converted contiguously into ``scratch`` (``(L, T, N, 4)`` complex64) and then transposed into
    ``out``: two cache-friendly passes instead of one scattered one. ``remove_dc`` subtracts each chirp's mean
    (per loop, TX slot and RX) during the transpose, saving the Cartesian chain a pass. ``slots`` selects
    which groups of four MIMO-order RX (one chip each) to decode, so threads can share a frame, each with
    its own ``scratch``.
    """
    c = np.asarray(chips)
    L, T, N = params.num_loops, params.num_tx, params.num_adc_samples
    per = L * T * N * 4 * 2
    if c.dtype != np.int16 or c.shape != (4, per):
        raise ShapeError(f"one cascade frame is int16 (4 chips, {per} words), got {c.dtype} {c.shape}")
    if params.num_rx != 16:
        raise ShapeError(f"the cascade decodes 16 RX, the configuration enables {params.num_rx}")
    if out is None:
        out = np.empty((T, 16, N, L), np.complex64)
    if scratch is None:
        scratch = np.empty((L, T, N, 4), np.complex64)
    src = c.reshape(4, L, T, N, 4, 2)
    sf = scratch.view(np.float32).reshape(L, T, N, 4, 2)
    for j in slots:
        chip = (CASCADE_RX_MIMO_ORDER[4 * j] - 1) // 4  # MIMO order = chips (slave3, master, slave2, slave1)
        np.copyto(sf, src[chip], casting="unsafe")
        if remove_dc:
            m = scratch.mean(axis=2, dtype=np.complex64).transpose(1, 2, 0)  # (T, rx4, L)
            np.subtract(scratch.transpose(1, 3, 2, 0), m[:, :, None, :], out=out[:, 4 * j:4 * j + 4])
        else:
            np.copyto(out[:, 4 * j:4 * j + 4], scratch.transpose(1, 3, 2, 0))
    return out


def decode_radar_words(adc: np.ndarray, params: RadarParams, board: Board) -> np.ndarray:
    """``RadarFrame.adc`` (1-D for DCA1000 boards, ``(chips, words)`` for the cascade) to ``(F, L, T, R, N)``."""
    if board.capture == "tda2":
        return decode_cascade_frames(adc, params)
    return decode_frames(adc, params)


# ------------------------------------------------------------------------------------------------
# Files
# ------------------------------------------------------------------------------------------------


def _frame_slice(frames: slice | None, n: int) -> range:
    return range(n)[frames] if frames is not None else range(n)


def _open_words(path: Path) -> np.ndarray:
    if not path.exists():
        raise FormatError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise FormatError(f"{path}: empty file")
    n_words = path.stat().st_size // 2  # an odd trailing byte is reported by the whole-frame check
    if n_words == 0:
        raise FormatError(f"{path}: shorter than one int16 word")
    return np.memmap(path, dtype="<i2", mode="r", shape=(n_words,))


def count_frames(path: str | os.PathLike, params: RadarParams, board: Board | None = None) -> int:
    """Whole frames in a capture (for the cascade: in each chip file)."""
    paths = cascade_files(path) if board is not None and board.capture == "tda2" else [Path(path)]
    fb = words_per_frame(params, board) * 2
    return min(Path(p).stat().st_size // fb for p in paths)


def read_adc_bin(path: str | os.PathLike, params: RadarParams, frames: slice | None = None,
                 board: Board | None = None, strict: bool = False) -> np.ndarray:
    """Read a headerless, frame-contiguous capture (``adc_data.bin``) into complex64 ``(F, L, T, R, N)``.

    Memory-mapped: only the selected frames are read. A file that is not a whole number of frames
    raises :class:`FormatError` when ``strict``; otherwise the whole frames are decoded and a warning
    names the left-over bytes. For the cascade (``board.capture == "tda2"``) ``path`` is a directory
    or glob holding the four per-chip ``*_data.bin`` files.
    """
    if board is not None and board.capture == "tda2":
        return read_cascade_bins(path, params, frames, strict=strict)
    path = Path(path)
    words = _open_words(path)
    wpf = words_per_frame(params)
    n, rem = divmod(path.stat().st_size, wpf * 2)
    _check_whole(path, n, rem, wpf * 2, strict)
    sel = _frame_slice(frames, n)
    if len(sel) == 0:
        raise FormatError(f"{path}: frame selection {frames} is empty ({n} frames in the file)")
    w2 = words[: n * wpf].reshape(n, wpf)
    if sel.step == 1:
        chunk = np.asarray(w2[sel.start:sel.stop])
    else:
        chunk = np.asarray(w2[list(sel)])
    return decode_frames(chunk, params)


def _check_whole(path, n: int, left_bytes: int, frame_bytes: int, strict: bool) -> None:
    if left_bytes == 0:
        return
    msg = (f"{path}: {n * frame_bytes + left_bytes} bytes is not a whole number of {frame_bytes}-byte frames: "
           f"{n} whole frames and {left_bytes} bytes left over (truncated capture?)")
    if strict or n == 0:
        raise FormatError(msg)
    key = (str(path), n, left_bytes)
    if key not in _warned:  # once per file state, not once per batch read
        _warned.add(key)
        log.warning("%s; decoding the %d whole frames", msg, n)


_warned: set = set()


def cascade_files(path: str | os.PathLike) -> list[Path]:
    """The four per-chip files (master, slave1..3) of a cascade capture, from a directory or a glob."""
    p = str(path)
    if os.path.isdir(p):
        cands = sorted(glob.glob(os.path.join(p, "*_data.bin"))) or sorted(glob.glob(os.path.join(p, "*.bin")))
    else:
        cands = sorted(glob.glob(p))
    found = []
    for chip in CASCADE_CHIP_NAMES:
        hits = [c for c in cands if os.path.basename(c).lower().startswith(chip)]
        if len(hits) != 1:
            raise FormatError(f"{path}: expected exactly one {chip}*_data.bin file for the cascade, found "
                              f"{len(hits)} (files: {', '.join(os.path.basename(c) for c in cands) or 'none'})")
        found.append(Path(hits[0]))
    return found


def read_cascade_bins(path: str | os.PathLike, params: RadarParams, frames: slice | None = None,
                      strict: bool = False) -> np.ndarray:
    """Read the cascade's four per-chip files (directory or glob) into ``(F, L, T, 16, N)`` complex64."""
    files = cascade_files(path)
    maps = [_open_words(f) for f in files]
    wpf = params.num_loops * params.num_tx * params.num_adc_samples * 8
    counts = []
    for f, m in zip(files, maps):
        n, rem = divmod(f.stat().st_size, wpf * 2)
        _check_whole(f, n, rem, wpf * 2, strict)
        counts.append(n)
    n = min(counts)
    if len(set(counts)) > 1:
        msg = f"{path}: per-chip files hold different frame counts {dict(zip(CASCADE_CHIP_NAMES, counts))}"
        if strict:
            raise FormatError(msg)
        log.warning("%s; decoding the first %d", msg, n)
    sel = _frame_slice(frames, n)
    if len(sel) == 0:
        raise FormatError(f"{path}: frame selection {frames} is empty ({n} frames per chip)")
    idx = list(sel)
    chips = np.stack([np.asarray(m[: n * wpf].reshape(n, wpf)[idx]) for m in maps])
    return decode_cascade_frames(chips, params)
