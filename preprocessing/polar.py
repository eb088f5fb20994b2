"""Complex ADC frames to the polar 4D radar tensor ``(doppler, range, azimuth, elevation)``.

Chain: per-chirp DC removal → range window → range FFT (crop) → static clutter removal (mean over loops)
→ Doppler FFT (fftshift, crop) → TDM-MIMO motion phase compensation → virtual array on the (az, el)
grid → zero-padded azimuth and elevation FFTs.

Sign conventions (checked against the point-target model in the tests):

- ``range_m[k] = k · c·Fs / (2·S·N_range_fft)``.
- ``velocity_mps`` is the range rate, positive = receding (TI convention), scaled with the centre-of-band
  wavelength ``params.center_wavelength_m`` (the true Doppler scale), bin spacing
  ``λc / (2·N_tx·T_chirp·N_doppler)``.
- The angle axes are direction cosines, uniform in sin: ``sin_az = y/r`` (= sin(az)·cos(el)), positive
  toward +y (left), and ``sin_el = z/r``, positive up. The board positions are in λ/2 at the start
  frequency (``params.wavelength_m``, TI's convention), the angle scale uses the centre wavelength:
  ``sin = (2k/N_fft) · λc/λ0``. The angle transforms use the ``exp(+j…)`` kernel (an unnormalised
  inverse FFT), so the axes run in increasing sin without a flip.
- Virtual elements that share a grid position are averaged.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from dataclasses import dataclass, field

import numpy as np
import scipy.fft as sfft
from scipy.signal import get_window

from rfpose.boards import Board
from rfpose.dataset.preprocess_config import CHAIN_WINDOWS as WINDOWS
from rfpose.errors import ConfigError, ShapeError
from rfpose.radar_config import SPEED_OF_LIGHT_M_S, RadarParams

from rfpose.preprocessing.decode import rx_channel_order

@dataclass(frozen=True)
class PolarConfig:
    """Options of the polar chain. Crops are half-open bin ranges; ``None`` keeps everything."""

    range_window: str = "hann"
    doppler_window: str = "none"  # over the loops (RT-Pose: none); MATLAB-style taper, no zero end points
    angle_window: str = "none"  # over the virtual array's az and el positions (RT-Pose: none), same taper
    dc_removal: bool = True
    clutter_removal: bool = False
    doppler_fft: int | None = None  # default: number of loops
    range_fft: int | None = None  # default: number of ADC samples
    tdm_compensation: bool = True
    azimuth_fft: int | None = None  # None: the power of two ≥ the array's az extent, at least 64
    elevation_fft: int | None = None  # None: the power of two ≥ the array's el extent, at least 16
    range_crop: tuple[int, int] | None = None  # bins of the range FFT
    doppler_crop: tuple[int, int] | None = None  # bins after fftshift
    output: str = "complex"  # or "magnitude"
    workers: int = -1  # scipy.fft workers; -1 = all cores

    def __post_init__(self):
        for name in ("range_window", "doppler_window", "angle_window"):
            if getattr(self, name) not in WINDOWS:
                raise ConfigError(f"{name.replace('_', ' ')} {getattr(self, name)!r} unknown; valid: {', '.join(WINDOWS)}")
        if self.output not in ("complex", "magnitude"):
            raise ConfigError(f"polar output {self.output!r} unknown; valid: complex, magnitude")
        for name in ("azimuth_fft", "elevation_fft"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ConfigError(f"{name} must be ≥ 1")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class PolarAxes:
    """Bin centres of each polar axis: metres, metres per second, direction cosines."""

    doppler_bins: np.ndarray = field(repr=False)  # signed Doppler bin numbers
    velocity_mps: np.ndarray = field(repr=False)
    range_m: np.ndarray = field(repr=False)
    sin_az: np.ndarray = field(repr=False)
    sin_el: np.ndarray = field(repr=False)

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (len(self.velocity_mps), len(self.range_m), len(self.sin_az), len(self.sin_el))

    def to_dict(self) -> dict:
        return {"order": ["doppler", "range", "azimuth", "elevation"],
                "velocity_mps": self.velocity_mps.tolist(), "range_m": self.range_m.tolist(),
                "sin_az": self.sin_az.tolist(), "sin_el": self.sin_el.tolist(),
                "notes": "velocity positive = receding (centre-band wavelength); sin_az = y/r (toward +y left), "
                         "sin_el = z/r (up); bin centres"}


def fft_size(n: int, at_least: int) -> int:
    """The smallest power of two ≥ ``n`` (an array's extent in positions), and at least ``at_least``."""
    return max(at_least, 1 << (int(n) - 1).bit_length())


@dataclass(frozen=True)
class VirtualGrid:
    """Where each virtual channel ``v = t·R + r`` lands on the integer (az, el) grid, λ/2 units."""

    az_index: np.ndarray  # (V,) int
    el_index: np.ndarray  # (V,) int
    weight: np.ndarray  # (V,) float: 1/count at that position (duplicates averaged)
    n_az: int
    n_el: int
    rank_groups: tuple = ()  # virtual channels grouped by occurrence rank at their position

    @classmethod
    def from_board(cls, params: RadarParams, board: Board) -> "VirtualGrid":
        pos = board.virtual_positions(params.tx_order, rx_channel_order(params, board)).reshape(-1, 2)
        if np.any(np.abs(pos - np.round(pos)) > 1e-9):
            raise ConfigError(f"{board.name}: virtual positions are not on the λ/2 grid")
        ip = np.round(pos - pos.min(axis=0)).astype(np.int64)
        n_az, n_el = int(ip[:, 0].max()) + 1, int(ip[:, 1].max()) + 1
        flat = ip[:, 0] * n_el + ip[:, 1]
        _, inv, counts = np.unique(flat, return_inverse=True, return_counts=True)
        rank = np.zeros(len(flat), np.int64)
        seen: dict[int, int] = {}
        for i, f in enumerate(flat.tolist()):
            rank[i] = seen.get(f, 0)
            seen[f] = rank[i] + 1
        groups = tuple(np.flatnonzero(rank == k) for k in range(int(rank.max()) + 1))
        return cls(ip[:, 0], ip[:, 1], 1.0 / counts[inv], n_az, n_el, groups)

    def occupancy(self) -> np.ndarray:
        g = np.zeros((self.n_az, self.n_el), bool)
        g[self.az_index, self.el_index] = True
        return g


def _window(name: str, n: int) -> np.ndarray:
    if name == "none":
        return np.ones(n, np.float32)
    return get_window(name, n, fftbins=False).astype(np.float32)


def _taper(name: str, n: int) -> np.ndarray:
    """``n`` weights without zero end points (MATLAB's ``hanning(n)``: the symmetric window of n + 2, ends
    dropped), so no loop or antenna is discarded."""
    if name == "none":
        return np.ones(n, np.float32)
    return get_window(name, n + 2, fftbins=False)[1:-1].astype(np.float32)


def _crop(crop, n: int, what: str) -> tuple[int, int]:
    if crop is None:
        return 0, n
    a, b = int(crop[0]), int(crop[1])
    if not 0 <= a < b <= n:
        raise ConfigError(f"{what} crop {crop} outside [0, {n}]")
    return a, b


_LOCAL = threading.local()  # per-thread override of the scipy.fft workers (frame-parallel threads use 1)
_POOLS: dict = {}


def _fft_workers(default: int) -> int:
    return getattr(_LOCAL, "workers", default)


class single_fft_worker:
    """Context: this thread's FFTs run on one worker (for callers that parallelise across threads themselves)."""

    def __enter__(self):
        self._outer = getattr(_LOCAL, "workers", None)
        _LOCAL.workers = 1

    def __exit__(self, *exc):
        if self._outer is None:
            del _LOCAL.workers
        else:
            _LOCAL.workers = self._outer


def _thread_count(workers: int) -> int:
    return (os.cpu_count() or 1) if workers < 0 else max(1, workers)


def _frame_pool(n: int):
    from concurrent.futures import ThreadPoolExecutor

    p = _POOLS.get(n)
    if p is None:
        p = _POOLS[n] = ThreadPoolExecutor(max_workers=n, thread_name_prefix="rfpose-polar")
    return p


def map_frames(n_frames: int, workers: int, fn) -> list:
    """``[fn(f) for f in range(n_frames)]``, frames spread over up to ``workers`` threads (−1: all cores).

    Each thread runs its FFTs single-threaded: one frame of a small radar stays in L2, and frame-level
    parallelism beats splitting each small FFT batch (and does not oversubscribe a busy machine).
    """
    n = min(n_frames, _thread_count(workers))
    if n <= 1:
        return [fn(f) for f in range(n_frames)]

    def part(frames):
        with single_fft_worker():
            return [fn(f) for f in frames]

    chunks = [range(n_frames)[i::n] for i in range(n)]
    done = [fut.result() for fut in [_frame_pool(n).submit(part, c) for c in chunks]]
    out = [None] * n_frames
    for c, res in zip(chunks, done):
        for f, r in zip(c, res):
            out[f] = r
    return out


class PolarProcessor:
    """Precomputed polar chain for one radar configuration and board.

    ``proc(frames)`` takes complex64 ``(loop, tx, rx, sample)`` or a batch ``(F, loop, tx, rx, sample)`` and
    returns ``(doppler, range, azimuth, elevation)`` (resp. with the leading F), complex64 or float32
    magnitude. ``proc.axes`` describes the bins.
    """

    def __init__(self, params: RadarParams, board: Board, config: PolarConfig | None = None):
        self.params, self.board = params, board
        self.config = cfg = config or PolarConfig()
        L, T, R, N = params.frame_shape
        self.n_range_fft = cfg.range_fft or N
        self.n_doppler = cfg.doppler_fft or L
        if self.n_range_fft < N or self.n_doppler < L:
            raise ConfigError("range/Doppler FFT sizes must be at least the sample/loop counts")
        n_range_valid = self.n_range_fft if params.complex_sampling else self.n_range_fft // 2
        self.r0, self.r1 = _crop(cfg.range_crop, n_range_valid, "range")
        self.d0, self.d1 = _crop(cfg.doppler_crop, self.n_doppler, "Doppler")
        self.grid = VirtualGrid.from_board(params, board)
        self.config = cfg = dataclasses.replace(
            cfg, azimuth_fft=cfg.azimuth_fft or fft_size(self.grid.n_az, 64),
            elevation_fft=cfg.elevation_fft or fft_size(self.grid.n_el, 16))
        if cfg.azimuth_fft < self.grid.n_az or cfg.elevation_fft < self.grid.n_el:
            raise ConfigError(f"{board.name}: the virtual array spans {self.grid.n_az} az x {self.grid.n_el} el "
                              f"positions; azimuth_fft/elevation_fft ({cfg.azimuth_fft}/{cfg.elevation_fft}) "
                              "must be at least that")
        self.window = (_window(cfg.range_window, N)).astype(np.float32)
        D = self.n_doppler
        if D % 2:
            raise ConfigError(f"the Doppler FFT size must be even (fftshift by D/2), got {D}")
        k = np.arange(D) - D // 2  # signed Doppler bin of each shifted output index
        self.shift_index = (np.arange(D) + (D - D // 2)) % D  # fftshift as a gather: shifted[i] = raw[idx[i]]
        self.shift_index = self.shift_index[self.d0:self.d1]
        k = k[self.d0:self.d1]
        # per (doppler, virtual channel) complex gain: TDM compensation × duplicate averaging ×
        # (-1)^(a+e) so the angle spectra come out fftshifted
        t_of_v = np.repeat(np.arange(T), R)
        phase = np.exp(-2j * np.pi * np.outer(k, t_of_v) / (T * D)) if cfg.tdm_compensation else \
            np.ones((len(k), T * R))
        sign = (-1.0) ** (self.grid.az_index + self.grid.el_index)
        taper = (_taper(cfg.angle_window, self.grid.n_az)[self.grid.az_index]
                 * _taper(cfg.angle_window, self.grid.n_el)[self.grid.el_index])
        self.channel_gain = (phase * (self.grid.weight * sign * taper)[None, :]).astype(np.complex64)
        self.axes = self._axes(k)
        self._premod_LN = self._premod()
        self._unit_gain = bool(np.all(self.channel_gain == 1))
        A, E = cfg.azimuth_fft, cfg.elevation_fft
        if A % 2 or (E % 2 and E > 1):
            raise ConfigError("azimuth_fft and elevation_fft must be even (or elevation_fft 1)")
        self._el_sign = 1.0 if E > 1 else 0.0

    # -- axes ------------------------------------------------------------------------------------------
    def _axes(self, k: np.ndarray) -> PolarAxes:
        p, cfg = self.params, self.config
        dr = SPEED_OF_LIGHT_M_S * p.sample_rate_hz / (2 * abs(p.slope_hz_per_s) * self.n_range_fft)
        lam_c = p.center_wavelength_m
        dv = lam_c / (2 * p.num_tx * p.chirp_time_s * self.n_doppler)
        scale = lam_c / p.wavelength_m
        A, E = cfg.azimuth_fft, cfg.elevation_fft
        sin_az = 2 * (np.arange(A) - A // 2) / A * scale
        sin_el = 2 * (np.arange(E) - E // 2) / E * scale if E > 1 else np.zeros(1)
        return PolarAxes(doppler_bins=k.copy(), velocity_mps=k * dv, range_m=np.arange(self.r0, self.r1) * dr,
                         sin_az=sin_az, sin_el=sin_el)

    @property
    def output_shape(self) -> tuple[int, int, int, int]:
        return (self.d1 - self.d0, self.r1 - self.r0, self.config.azimuth_fft, self.config.elevation_fft)

    def to_dict(self) -> dict:
        return {"polar": self.config.to_dict(), "n_range_fft": self.n_range_fft, "n_doppler_fft": self.n_doppler,
                "virtual_grid": [self.grid.n_az, self.grid.n_el], "duplicates": "averaged",
                "output_shape": list(self.output_shape)}

    # -- stages ----------------------------------------------------------------------------------------
    def _premod(self) -> np.ndarray:
        """``(L, N)`` float32: range window × ``(-1)^loop`` (shifts the Doppler spectrum by D/2 = fftshift)."""
        L = self.params.num_loops
        sign = np.where(np.arange(L) % 2, -1.0, 1.0).astype(np.float32) if self.n_doppler % 2 == 0 else \
            np.ones(L, np.float32)
        self.doppler_taper = _taper(self.config.doppler_window, L)
        # what a static target looks like along the loops after premodulation: clutter removal projects it out
        self._static = sign * self.doppler_taper
        self._static_unit = self._static / np.float32(self._static @ self._static)
        return self._static[:, None] * self.window[None, :]

    def range_doppler(self, x: np.ndarray, premodulated: bool = False, _owned: bool = False,
                      gains: bool = True, doppler_last: bool = False) -> np.ndarray:
        """``(F, L, T, R, N)`` complex → ``(F, D', T, R, Nr')`` compensated range–Doppler cube (before angle).

        ``doppler_last`` returns ``(F, T, R, Nr', D')`` instead (one transpose before a contiguous Doppler
        FFT; what the Cartesian path wants).

        The Doppler axis comes out fftshifted (by the ``(-1)^loop`` modulation folded into the window
        multiply, or into decoding when ``premodulated``) and cropped; TDM compensation and the
        duplicate/angle-shift gains (``channel_gain``) are applied when they are not all 1.
        """
        cfg, w = self.config, _fft_workers(self.config.workers)
        if x.ndim != 5 or x.shape[1:] != self.params.frame_shape:
            raise ShapeError(f"expected complex frames (F, {', '.join(map(str, self.params.frame_shape))}), "
                             f"got {x.shape}")
        if not premodulated:
            if _owned:  # the caller's buffer: no temporaries
                if cfg.dc_removal:
                    x -= x.mean(axis=-1, keepdims=True, dtype=np.complex64)
                x *= self._premod_LN[None, :, None, None, :]
            else:
                if cfg.dc_removal:
                    x = x - x.mean(axis=-1, keepdims=True, dtype=np.complex64)
                x = x * self._premod_LN[None, :, None, None, :]
        full = (self.r0, self.r1) == (0, self.n_range_fft) and self.n_range_fft == x.shape[-1]
        if full and not doppler_last and not cfg.clutter_removal and self.n_doppler == x.shape[1]:
            # nothing between the two transforms: one 2-D call (one pass of Python and buffer overhead)
            dop = sfft.fftn(x, axes=(1, 4), workers=w, overwrite_x=not premodulated or _owned)
            return self._crop_and_gain(dop, gains)
        rng = sfft.fft(x, n=self.n_range_fft, axis=-1, workers=w, overwrite_x=not premodulated or _owned)
        if (self.r0, self.r1) != (0, rng.shape[-1]):
            rng = rng[..., self.r0:self.r1]
        if doppler_last:
            t = np.ascontiguousarray(np.moveaxis(rng, 1, -1))  # (F, T, R, Nr, L)
            if cfg.clutter_removal:  # the data carry the (-1)^loop modulation: remove the static part under it
                t -= np.tensordot(t, self._static_unit, axes=([-1], [0]))[..., None] * self._static
            dop = sfft.fft(t, n=self.n_doppler, axis=-1, workers=w, overwrite_x=True)
            if (self.d0, self.d1) != (0, self.n_doppler):
                dop = dop[..., self.d0:self.d1]
            if gains and not self._unit_gain:
                F, T, R, Nr, D = dop.shape
                dop *= self.channel_gain.T.reshape(1, T, R, 1, D)
            return dop
        if cfg.clutter_removal:  # the data carry the (-1)^loop modulation: remove the static part under it
            u = self._static_unit.reshape(1, -1, 1, 1, 1)
            rng -= (rng * u).sum(axis=1, keepdims=True, dtype=np.complex64) * self._static.reshape(1, -1, 1, 1, 1)
        dop = sfft.fft(rng, n=self.n_doppler, axis=1, workers=w, overwrite_x=True)
        return self._crop_and_gain(dop, gains)

    def _crop_and_gain(self, dop: np.ndarray, gains: bool) -> np.ndarray:
        """Doppler crop and per-channel gains of a ``(F, D, T, R, Nr)`` range–Doppler block."""
        if (self.d0, self.d1) != (0, self.n_doppler):
            dop = dop[:, self.d0:self.d1]
        if gains and not self._unit_gain:
            F, D, T, R, Nr = dop.shape
            dop *= self.channel_gain.reshape(1, D, T, R, 1)
        return dop

    # -- the loop-innermost chain (what the Cartesian resampler runs) ------------------------------------
    # Layout (tx, rx, sample, loop): the range FFT runs over the strided sample axis (pocketfft transforms
    # several lines at once there), the Doppler FFT over the contiguous loop axis in place on the range-cropped
    # view, and each virtual channel's (range, Doppler) block lands contiguously on the azimuth grid; no
    # transpose pass anywhere.

    @property
    def _premod_NL(self) -> np.ndarray:
        m = getattr(self, "_premod_NL_cache", None)
        if m is None:
            m = self._premod_NL_cache = np.ascontiguousarray(self._premod_LN.T)
        return m

    def premodulate_trnl(self, x: np.ndarray, dc_removed: bool = False) -> np.ndarray:
        """In place on one raw frame ``(T, R, N, L)`` complex64: DC removal (unless already ``dc_removed``), range
        window, ``(-1)^loop`` shift."""
        if self.config.dc_removal and not dc_removed:
            x -= x.mean(axis=2, keepdims=True, dtype=np.complex64)
        x *= self._premod_NL
        return x

    def load_trnl(self, frame: np.ndarray, out: np.ndarray) -> np.ndarray:
        """One complex frame ``(L, T, R, N)`` → premodulated ``out`` ``(T, R, N, L)`` (the transpose carries the
        DC removal, so it costs no extra pass)."""
        L, T, R, N = self.params.frame_shape
        if frame.shape != (L, T, R, N) or out.shape != (T, R, N, L):
            raise ShapeError(f"expected a complex frame {(L, T, R, N)} and out {(T, R, N, L)}, "
                             f"got {frame.shape} and {out.shape}")
        src = frame.transpose(1, 2, 3, 0)
        if self.config.dc_removal:
            m = frame.mean(axis=-1, dtype=np.complex64).transpose(1, 2, 0)  # (T, R, L)
            np.subtract(src, m[:, :, None, :], out=out)
        else:
            np.copyto(out, src)
        out *= self._premod_NL
        return out

    def range_doppler_trnl(self, x: np.ndarray) -> np.ndarray:
        """Premodulated ``(T, R, N, L)`` (overwritten) → range–Doppler ``(T·R, Nr', D')`` without channel gains.

        Usually a view into ``x``; the Doppler axis is fftshifted and cropped like :meth:`range_doppler`.
        """
        cfg, w = self.config, _fft_workers(self.config.workers)
        rng = sfft.fft(x, n=self.n_range_fft, axis=2, workers=w, overwrite_x=True)[:, :, self.r0:self.r1]
        if cfg.clutter_removal:  # the data carry the (-1)^loop modulation: remove the static part under it
            rng -= np.tensordot(rng, self._static_unit, axes=([-1], [0]))[..., None] * self._static
        dop = sfft.fft(rng, n=self.n_doppler, axis=-1, workers=w, overwrite_x=True)[..., self.d0:self.d1]
        T, R = dop.shape[:2]
        return dop.reshape(T * R, *dop.shape[2:])

    def gains_vd(self, pool: int = 1) -> np.ndarray:
        """``(V, D')`` complex64 channel gains; with ``pool`` > 1 the Doppler axis is ordered ``(pool, D'/pool)``
        (bin ``i·pool + k`` at ``k·D'/pool + i``), as :meth:`azimuth_rows_into` writes it."""
        g = self.channel_gain.T
        V, D = g.shape
        return np.ascontiguousarray(g.reshape(V, D // pool, pool).transpose(0, 2, 1).reshape(V, D))

    def azimuth_rows_into(self, rd: np.ndarray, out: np.ndarray, pool: int = 1,
                          gains: np.ndarray | None = None, rows: range | None = None) -> np.ndarray:
        """``(V, Nr', D')`` range–Doppler → ``out`` ``(rows, Nr', A, D')``: channel gains applied, channels placed on
        the occupied elevation rows of the azimuth grid, azimuth transform in place (``exp(+j)`` kernel).

        ``pool`` > 1 stores the Doppler axis in ``(pool, D'/pool)`` order so Doppler max-pooling later reads
        contiguous halves. The elevation transform of these rows is ``_el_matrix @ rows``. ``rows`` limits the
        work to a range of output rows (threads can each take some); ``out`` is returned either way.
        """
        V, Nr, D = rd.shape
        g = self.grid
        occ = np.unique(g.el_index)
        A = self.config.azimuth_fft
        if out.shape != (len(occ), Nr, A, D) or out.dtype != np.complex64 or not out.flags.c_contiguous:
            raise ShapeError(f"out must be C-contiguous complex64 {(len(occ), Nr, A, D)}, got {out.dtype} {out.shape}")
        if D % pool:
            raise ShapeError(f"{D} Doppler bins do not split into pools of {pool}")
        rows = range(len(occ)) if rows is None else rows
        gv = self.gains_vd(pool) if gains is None else gains
        row = np.searchsorted(occ, g.el_index)
        mine = out[rows.start:rows.stop]
        mine.fill(0)
        shape = (Nr, pool, D // pool)
        for rank, vs in enumerate(g.rank_groups):
            for v in vs.tolist():
                if row[v] not in rows:
                    continue
                src = rd[v].reshape(Nr, D // pool, pool).transpose(0, 2, 1)
                dst = out[row[v], :, g.az_index[v], :].reshape(shape)
                if rank == 0:
                    np.multiply(src, gv[v].reshape(pool, D // pool), out=dst)
                else:  # duplicates at a position are summed (their weights average them)
                    dst += src * gv[v].reshape(pool, D // pool)
        res = sfft.ifft(mine, axis=2, norm="forward", workers=_fft_workers(self.config.workers), overwrite_x=True)
        if not np.shares_memory(res, mine):  # pocketfft works in place on contiguous complex64; be sure
            mine[...] = res
        return out

    def range_doppler_words(self, words: np.ndarray, gains: bool = True) -> np.ndarray:
        """int16 words of F frames → the range–Doppler cube of :meth:`range_doppler` (fused decode).

        ``gains=False`` returns the plain shifted range–Doppler spectrum (no TDM/angle gains).
        """
        from rfpose.preprocessing.decode import decode_cascade_frames, decode_frames

        if self.board.capture == "tda2":
            w = np.asarray(words)
            x = decode_cascade_frames(np.moveaxis(w, 0, 1).reshape(4, -1) if w.ndim == 3 else w, self.params)
            return self.range_doppler(x, _owned=True, gains=gains)
        w = self._frames_of_words(words)
        if not self._rd_in_place:
            return _stack(map_frames(len(w), self.config.workers, lambda f: self._range_doppler_frame(w[f], gains)))
        out = np.empty((len(w), *self.params.frame_shape), np.complex64)  # each frame transforms in its slice

        def one(f):
            res = self._range_doppler_frame(w[f], gains, out[f:f + 1])
            if not np.shares_memory(res, out[f]):
                out[f] = res[0]

        map_frames(len(w), self.config.workers, one)
        return out

    @property
    def _rd_in_place(self) -> bool:
        """Range–Doppler keeps the frame's shape (no crop, no zero padding): it can run in the output buffer."""
        L, T, R, N = self.params.frame_shape
        return ((self.r0, self.r1) == (0, self.n_range_fft) and self.n_range_fft == N and self.n_doppler == L
                and (self.d0, self.d1) == (0, L) and not self.config.clutter_removal)

    def _frames_of_words(self, words: np.ndarray) -> np.ndarray:
        """DCA1000 int16 words, 1-D or ``(F, W)`` → ``(F, W)`` (checked)."""
        from rfpose.preprocessing.decode import words_per_frame

        w = np.asarray(words)
        if w.dtype != np.int16:
            raise ShapeError(f"ADC words must be int16, got {w.dtype}")
        n_words = words_per_frame(self.params)
        if w.size % n_words or w.size == 0:
            raise ShapeError(f"{w.size} ADC words are not a whole number of {n_words}-word frames")
        return w.reshape(-1, n_words)

    def _range_doppler_frame(self, words: np.ndarray, gains: bool, out: np.ndarray | None = None) -> np.ndarray:
        """One DCA1000 frame's words → ``(1, D', T, R, Nr')`` (decode fused with window and Doppler shift);
        ``out``: an optional ``(1, L, T, R, N)`` complex64 buffer to decode and transform in."""
        from rfpose.preprocessing.decode import decode_frames

        if self.config.dc_removal:
            return self.range_doppler(decode_frames(words, self.params, out=out), _owned=True, gains=gains)
        if self.config.range_window == "none" and self.n_doppler % 2 == 0:
            x = decode_frames(words, self.params, out=out, negate_odd_loops=True)
        else:
            x = decode_frames(words, self.params, out=out, scale=self._premod_LN)
        return self.range_doppler(x, premodulated=True, _owned=True, gains=gains)

    def range_doppler_magnitude(self, x: np.ndarray) -> np.ndarray:
        """``(F, L, T, R, N)`` → non-coherent range–Doppler power ``(F, D', Nr')`` summed over virtual channels."""
        dop = self.range_doppler(x)
        p = dop.real ** 2 + dop.imag ** 2
        return p.sum(axis=(2, 3))

    def angle(self, rd: np.ndarray, layout: str = "drae") -> np.ndarray:
        """Virtual-array mapping and angle FFTs.

        ``rd``: ``(F, D, T, R, Nr)`` from :meth:`range_doppler`. ``layout`` ``"drae"`` returns
        ``(F, D, Nr, A, E)``; ``"raed"`` returns ``(F, Nr, A, E, D)`` (Doppler innermost, used by the
        Cartesian resampler). The azimuth FFT runs only over the occupied elevation rows, then the
        rows are zero-padded to E for the elevation FFT (same result as a full 2-D FFT, fewer FLOPs).
        """
        F, D, T, R, Nr = rd.shape
        A, E = self.config.azimuth_fft, self.config.elevation_fft
        g = self.grid
        occ = np.unique(g.el_index)
        row = np.searchsorted(occ, g.el_index)
        src = rd.reshape(F, D, T * R, Nr)
        w = _fft_workers(self.config.workers)
        if layout == "drae":
            buf = np.zeros((F, D, Nr, A, len(occ)), np.complex64)
            vals = src.transpose(0, 1, 3, 2)  # (F, D, Nr, V)
            lead, az_axis, el_axis = (slice(None),) * 3, 3, 4
        elif layout == "raed":
            buf = np.zeros((F, Nr, A, len(occ), D), np.complex64)
            vals = src.transpose(0, 3, 2, 1)  # (F, Nr, V, D)
            lead, az_axis, el_axis = (slice(None),) * 2, 2, 3
        elif layout == "erad":
            return self._angle_erad(np.moveaxis(src, 1, -1), occ, row)
        else:
            raise ValueError(layout)
        for rank, v in enumerate(g.rank_groups):
            idx = lead + (g.az_index[v], row[v])
            part = vals[..., v] if layout == "drae" else vals[:, :, v]
            if rank == 0:
                buf[idx] = part
            else:  # positions are unique within a rank, so fancy-index += is exact
                buf[idx] += part
        # exp(+j) kernel: unnormalised inverse FFT
        buf = sfft.ifft(buf, axis=az_axis, norm="forward", workers=w, overwrite_x=True)
        if E == 1:
            return buf
        shape = list(buf.shape)
        shape[el_axis] = E
        full = np.zeros(shape, np.complex64)
        sel = [slice(None)] * len(shape)
        sel[el_axis] = occ
        full[tuple(sel)] = buf
        return sfft.ifft(full, axis=el_axis, norm="forward", workers=w, overwrite_x=True)

    def angle_erad(self, rd_dlast: np.ndarray) -> np.ndarray:
        """``(F, T, R, Nr, D)`` (``range_doppler(..., doppler_last=True)``) → polar ``(F, E, Nr, A, D)``."""
        F, T, R, Nr, D = rd_dlast.shape
        g = self.grid
        occ = np.unique(g.el_index)
        return self._angle_erad(rd_dlast.reshape(F, T * R, Nr, D), occ, np.searchsorted(occ, g.el_index))

    def _angle_erad(self, src: np.ndarray, occ: np.ndarray, row: np.ndarray) -> np.ndarray:
        """``(F, V, Nr, D)`` → ``(F, E, Nr, A, D)``: az FFT on the occupied rows, then the elevation transform
        as one complex matrix product ``(E, rows) @ (rows, Nr·A·D)`` (BLAS; a strided 16-point FFT is slower)."""
        buf = self.azimuth_rows(src)
        F, n_occ, Nr, A, D = buf.shape
        E = self.config.elevation_fft
        if E == 1:
            return buf
        out = np.empty((F, E, Nr, A, D), np.complex64)
        for f in range(F):
            np.matmul(self._el_matrix, buf[f].reshape(n_occ, -1), out=out[f].reshape(E, -1))
        return out

    def azimuth_rows(self, src: np.ndarray) -> np.ndarray:
        """``(F, V, Nr, D)`` → ``(F, rows, Nr, A, D)``: the virtual array's occupied elevation rows after the
        azimuth transform (the elevation transform is ``_el_matrix @ rows``)."""
        F, V, Nr, D = src.shape
        A = self.config.azimuth_fft
        g = self.grid
        occ = np.unique(g.el_index)
        row = np.searchsorted(occ, g.el_index)
        buf = np.zeros((F, len(occ), Nr, A, D), np.complex64)
        vals = src.transpose(1, 0, 2, 3)  # (V, F, Nr, D): matches buf[:, rows, :, az, :] (advanced dims first)
        for rank, v in enumerate(g.rank_groups):
            if rank == 0:
                buf[:, row[v], :, g.az_index[v], :] = vals[v]
            else:
                buf[:, row[v], :, g.az_index[v], :] += vals[v]
        return sfft.ifft(buf, axis=3, norm="forward", workers=_fft_workers(self.config.workers), overwrite_x=True)

    @property
    def _el_matrix(self) -> np.ndarray:
        m = getattr(self, "_el_matrix_cache", None)
        if m is None:
            occ = np.unique(self.grid.el_index)
            E = self.config.elevation_fft
            m = np.exp(2j * np.pi * np.outer(np.arange(E), occ) / E).astype(np.complex64)
            self._el_matrix_cache = m
        return m

    def from_words(self, words: np.ndarray) -> np.ndarray:
        """int16 wire words of F frames (``(F, W)`` or ``(F, 4, W)`` for the cascade) → ``(F, D, Nr, A, E)``."""
        def one(rd):
            out = self.angle(rd)
            return np.abs(out) if self.config.output == "magnitude" else out

        if self.board.capture == "tda2":
            return one(self.range_doppler_words(words))
        w = self._frames_of_words(words)
        return _stack(map_frames(len(w), self.config.workers, lambda f: one(self._range_doppler_frame(w[f], True))))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        single = x.ndim == 4
        if single:
            x = x[None]
        out = self.angle(self.range_doppler(x))
        if self.config.output == "magnitude":
            out = np.abs(out)
        return out[0] if single else out


def _stack(parts: list) -> np.ndarray:
    """Per-frame ``(1, …)`` results → ``(F, …)`` (no copy for one frame)."""
    return parts[0] if len(parts) == 1 else np.concatenate(parts)
