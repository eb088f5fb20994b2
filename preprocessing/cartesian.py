"""Polar radar tensors resampled onto a Cartesian voxel grid ``(doppler, z, y, x)`` (RT-Pose's DZYX).

The grid points are voxel *centres*: ``x = linspace(x_min, x_max, n_x)`` etc. The default is RT-Pose's
training ROI (:data:`rfpose.dataset.RTPOSE_ROI`: 160 x over 0.77–7.98 m, 64 y over −5.03–4.87 m, 16 z over
−1.09–4.35 m).

Resampling is one precomputed sparse operator (CSR, 8 non-zeros per voxel): trilinear interpolation in
(range, sin_az, sin_el) of the polar tensor, whose angle bins are uniform in the direction cosines
``y/r`` and ``z/r`` (RT-Pose treated them as uniform in angle, which misplaces off-boresight energy).
It is applied to all Doppler bins in one sparse × dense product. Voxels outside the sampled range or
angle span are 0 (RT-Pose filled them with 1+0j).

Boards with a single elevation row have a flat elevation spectrum: the operator then interpolates in
(range, sin_az) only and a target's energy spreads over every z at its range and azimuth.

Magnitude output: |X|, optional max-pool over adjacent Doppler pairs (RT-Pose 64 → 32), division by
``scale``. By default (``interpolate="magnitude"``) the magnitudes are pooled first and then interpolated,
which needs half the Doppler columns and real arithmetic (≈4× less resampling work) and avoids the
phase-cancellation dips complex interpolation makes between bins; ``interpolate="complex"`` follows
RT-Pose's order (complex trilinear, then |·| and pooling). The default scale is the chain's coherent gain for a unit target, ``N·L·V``
(samples × loops × virtual channels), so a point target of amplitude *a* ADC LSB peaks near
``a × window coherent gain`` (0.5 for Hann); this keeps int16-unit captures around 1–1e3, safe for float16.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import threading
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from rfpose.boards import Board
from rfpose.dataset import FLOAT16_MAX, to_float16
from rfpose.dataset.preprocess_config import RTPOSE_ROI
from rfpose.errors import ConfigError, ShapeError
from rfpose.radar_config import RadarParams

from rfpose.preprocessing.polar import PolarAxes, PolarConfig, PolarProcessor, single_fft_worker


@dataclass(frozen=True)
class CartesianConfig:
    """Voxel grid (centres, metres) and output options."""

    x_m: tuple[float, float] = RTPOSE_ROI.x_m
    y_m: tuple[float, float] = RTPOSE_ROI.y_m
    z_m: tuple[float, float] = RTPOSE_ROI.z_m
    n_x: int = RTPOSE_ROI.n_zyx[2]
    n_y: int = RTPOSE_ROI.n_zyx[1]
    n_z: int = RTPOSE_ROI.n_zyx[0]
    doppler_pool: int = 2  # max-pool magnitudes over this many adjacent Doppler bins (1 = off)
    output: str = "magnitude"  # or "complex" (no pooling, no scaling)
    interpolate: str = "magnitude"  # magnitude output: interpolate |X| after pooling, or "complex" (RT-Pose order)
    scale: float | None = None  # None: N·L·V (see module docstring)
    azimuth_fft: int | None = None  # None: the polar default (power of two ≥ the array's az extent, ≥ 64)
    elevation_fft: int = 32  # RT-Pose's value; 16 quantises elevation too coarsely for ±1 voxel at high z
    range_window: str = "hann"
    doppler_window: str = "none"  # RT-Pose: none; "hann" keeps a static body's leakage out of the moving channels
    angle_window: str = "none"  # RT-Pose: none; "hann" lowers the array's −13 dB angle sidelobes
    clutter_removal: bool = False
    tdm_compensation: bool = True
    doppler_chunk: int = 16  # Doppler bins resampled at a time (bounds memory: one chunk of polar tensor)

    def __post_init__(self):
        if self.output not in ("magnitude", "complex"):
            raise ConfigError(f"cartesian output {self.output!r} unknown; valid: magnitude, complex")
        if self.interpolate not in ("magnitude", "complex"):
            raise ConfigError(f"cartesian interpolate {self.interpolate!r} unknown; valid: magnitude, complex")
        for n in (self.n_x, self.n_y, self.n_z, self.doppler_pool):
            if n < 1:
                raise ConfigError("voxel counts and doppler_pool must be ≥ 1")

    def centres(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(z, y, x)`` voxel centres in metres."""
        return (np.linspace(*self.z_m, self.n_z), np.linspace(*self.y_m, self.n_y), np.linspace(*self.x_m, self.n_x))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _frac_index(values: np.ndarray, axis: np.ndarray):
    """Fractional index of ``values`` on a uniform ``axis``; ``valid`` where inside [first, last]."""
    if len(axis) == 1:
        return np.zeros_like(values), np.ones(values.shape, bool)
    step = axis[1] - axis[0]
    f = (values - axis[0]) / step
    valid = (f >= -1e-9) & (f <= len(axis) - 1 + 1e-9)
    return np.clip(f, 0, len(axis) - 1), valid


def resampling_operator(axes: PolarAxes, config: CartesianConfig, layout: str = "era") -> sp.csr_matrix:
    """Sparse ``(n_voxels, Nr·A·E)`` operator: voxel (z, y, x) from polar bins flattened in ``layout`` order
    (``"era"``: (el, range, az), what :meth:`PolarProcessor.angle` gives for ``"erad"``; ``"rae"``: (range, az, el)).

    Trilinear in (range, sin_az, sin_el); rows of voxels outside the polar span are empty.
    """
    z, y, x = np.meshgrid(*config.centres(), indexing="ij")
    z, y, x = z.ravel(), y.ravel(), x.ravel()
    r = np.sqrt(x * x + y * y + z * z)
    u, w = y / r, z / r
    fr, vr = _frac_index(r, axes.range_m)
    fa, va = _frac_index(u, axes.sin_az)
    flat_el = len(axes.sin_el) == 1
    fe, ve = (np.zeros_like(w), np.ones(w.shape, bool)) if flat_el else _frac_index(w, axes.sin_el)
    valid = vr & va & ve & (x > 0)
    Nr, A, E = len(axes.range_m), len(axes.sin_az), len(axes.sin_el)
    rows, cols, vals = [], [], []
    i0r, i0a, i0e = (np.minimum(np.floor(f).astype(np.int64), max(n - 2, 0)) for f, n in ((fr, Nr), (fa, A), (fe, E)))
    tr, ta, te = fr - i0r, fa - i0a, fe - i0e
    vox = np.flatnonzero(valid)
    corners_e = (0,) if flat_el else (0, 1)
    for dr in (0, 1):
        for da in (0, 1):
            for de in corners_e:
                wgt = (tr if dr else 1 - tr) * (ta if da else 1 - ta)
                if not flat_el:
                    wgt = wgt * (te if de else 1 - te)
                if layout == "era":
                    col = ((i0e + de) * Nr + (i0r + dr)) * A + (i0a + da)
                else:
                    col = ((i0r + dr) * A + (i0a + da)) * E + (i0e + de)
                keep = vox[wgt[vox] > 0]
                rows.append(keep)
                cols.append(col[keep])
                vals.append(wgt[keep])
    op = sp.csr_matrix((np.concatenate(vals).astype(np.float32), (np.concatenate(rows), np.concatenate(cols))),
                       shape=(len(r), Nr * A * E))
    op.sum_duplicates()
    return op


class CartesianProcessor:
    """Complex ADC frames ``(F, L, T, R, N)`` → voxels ``(F, D', n_z, n_y, n_x)``.

    ``D' = D / doppler_pool`` for magnitude output. ``polar`` is the underlying :class:`PolarProcessor`
    (its range is cropped to the bins the grid needs).
    """

    def __init__(self, params: RadarParams, board: Board, config: CartesianConfig | None = None, workers: int = -1):
        self.params, self.board = params, board
        self.config = cfg = config or CartesianConfig()
        z, y, x = cfg.centres()
        # range bins the grid touches (+1 bin margin for interpolation)
        full = PolarProcessor(params, board, PolarConfig(range_window="none", azimuth_fft=cfg.azimuth_fft,
                                                         elevation_fft=cfg.elevation_fft, workers=workers))
        rng = full.axes.range_m
        corners = np.array([[xi, yi, zi] for xi in (x.min(), x.max()) for yi in (y.min(), y.max(), 0.0)
                            for zi in (z.min(), z.max(), 0.0)])
        r_min = max(x.min(), 0.0) if (y.min() <= 0 <= y.max() and z.min() <= 0 <= z.max()) else \
            np.linalg.norm(corners, axis=1).min()
        r_max = np.linalg.norm(corners, axis=1).max()
        dr = rng[1] - rng[0]
        b0 = int(max(np.floor(r_min / dr) - 1, 0))
        b1 = int(min(np.ceil(r_max / dr) + 2, len(rng)))
        if b0 >= b1:
            raise ConfigError("the voxel grid lies beyond the radar's maximum range")
        self.polar = PolarProcessor(params, board, PolarConfig(
            range_window=cfg.range_window, doppler_window=cfg.doppler_window, angle_window=cfg.angle_window,
            clutter_removal=cfg.clutter_removal, tdm_compensation=cfg.tdm_compensation,
            azimuth_fft=cfg.azimuth_fft, elevation_fft=cfg.elevation_fft, range_crop=(b0, b1), workers=workers))
        self.operator = resampling_operator(self.polar.axes, cfg)  # columns (el, range, az)
        D = self.polar.output_shape[0]
        if cfg.output == "magnitude" and D % cfg.doppler_pool:
            raise ConfigError(f"{D} Doppler bins do not split into pools of {cfg.doppler_pool}")
        V = params.num_tx * params.num_rx
        self.scale = cfg.scale if cfg.scale is not None else float(params.num_adc_samples * params.num_loops * V)
        self.threads = (os.cpu_count() or 1) if workers < 0 else max(1, workers)
        self._plan_elevation()
        self._lock = threading.Lock()
        self._buffers: dict = {}

    def _plan_elevation(self) -> None:
        """Plan the elevation transform and the compacted resampling operator.

        Only the polar bins some voxel reads are computed: the (range, az) *pairs* any voxel touches and, per
        pair, the elevation bins from its lowest to its highest used one (about 45 % of all (el, range, az)
        bins for the RT-Pose ROI on the cascade; filling the few gaps costs 7 % more). Pairs with the same
        elevation span form blocks; a block is one small complex GEMM ``(n_el, rows) @ (rows, pairs·D)`` on
        the azimuth spectra of the occupied elevation rows (or, with :attr:`power_terms`, a real GEMM on their
        products giving |·|²), sized to stay in L2. ``compact_operator`` is the
        resampling operator with its columns renumbered to the blocks' output rows ``(el, pair)``.
        """
        D, Nr, A, E = self.polar.output_shape
        op = self.operator.tocsr()
        e, ra = np.divmod(op.indices.astype(np.int64), Nr * A)
        used = np.zeros((E, Nr * A), bool)
        used[e, ra] = True
        self.pairs = np.flatnonzero(used.any(axis=0))  # flat r·A + a
        u = used[:, self.pairs]
        lo = u.argmax(axis=0)
        hi = E - 1 - u[::-1].argmax(axis=0)
        order = np.lexsort((self.pairs, hi, lo))
        span = np.stack([lo[order], hi[order]], axis=1)
        starts = np.flatnonzero(np.r_[True, np.any(span[1:] != span[:-1], axis=1)])
        ends = np.r_[starts[1:], len(order)]
        el_matrix = self.polar._el_matrix  # (E, rows)
        # magnitudes as |Σ_k w_k r_k|² = Σ_k |r_k|² + 2 Σ_{k<l} Re(w_k w_l* · r_k r_l*) (|w| = 1: DFT phases), a real
        # GEMM on 1 + R(R−1) products of the rows, against the complex GEMM on R rows and |·| over its output:
        # cheaper up to R = 2 rows (half the bytes out of the GEMM, the square root after pooling)
        self.power_terms = el_matrix.shape[1] <= 2 and bool(np.allclose(np.abs(el_matrix), 1))
        col_of = np.full((E, Nr * A), -1, np.int64)
        blocks, offset = [], 0
        for s0, s1 in zip(starts.tolist(), ends.tolist()):
            l, h = (int(v) for v in span[s0])
            n_el = h - l + 1
            step = max(1, _BLOCK_VALUES // (n_el * D))
            for b0 in range(s0, s1, step):
                idx = self.pairs[order[b0:min(s1, b0 + step)]]
                n = len(idx)
                col_of[l:h + 1, idx] = offset + np.arange(n_el * n).reshape(n_el, n)
                w = np.ascontiguousarray(el_matrix[l:h + 1])
                power = _power_weights(w) if self.power_terms else None
                blocks.append(_ElevationBlock(l, n_el, idx, offset, w, power))
                offset += n_el * n
        # number the computed bins in the order voxels first read them: the resampling then walks its input
        # almost sequentially (half the time of the block order); each block scatters its rows to ``dest``
        cols = col_of[e, ra]
        voxel = np.repeat(np.arange(op.shape[0]), np.diff(op.indptr))
        first = np.full(offset, op.shape[0], np.int64)  # gap-filling bins nobody reads go last
        np.minimum.at(first, cols, voxel)
        rank = np.empty(offset, np.int64)
        rank[np.argsort(first, kind="stable")] = np.arange(offset)
        self.blocks = tuple(dataclasses.replace(b, dest=rank[b.offset:b.offset + b.n_el * len(b.pairs)])
                            for b in blocks)
        self.n_columns = offset
        cols = rank[cols]
        self.compact_operator = sp.csr_matrix((op.data.copy(), cols, op.indptr.copy()), shape=(op.shape[0], offset))
        self.compact_operator.sort_indices()
        magnitude_first = self.config.output == "magnitude" and self.config.interpolate == "magnitude"
        scaled = self.compact_operator * np.float32(1.0 / self.scale) if magnitude_first else self.compact_operator
        self._voxel_blocks = [(v0, min(v0 + _VOXEL_BLOCK, op.shape[0]), scaled[v0:v0 + _VOXEL_BLOCK].tocsr())
                              for v0 in range(0, op.shape[0], _VOXEL_BLOCK)]
        self._block_split = _split_even([b.n_el * len(b.pairs) for b in self.blocks], self.threads)
        self._voxel_split = _split_even([b[2].nnz for b in self._voxel_blocks], self.threads)
        edges = np.linspace(0, Nr * A, self.threads + 1).astype(int)
        self._pair_split = [range(a, b) for a, b in zip(edges[:-1], edges[1:]) if b > a]

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_lock"], state["_buffers"] = None, {}
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()

    @property
    def output_shape(self) -> tuple[int, int, int, int]:
        D = self.polar.output_shape[0]
        c = self.config
        d = D // c.doppler_pool if c.output == "magnitude" else D
        return (d, c.n_z, c.n_y, c.n_x)

    def axes_dict(self) -> dict:
        z, y, x = self.config.centres()
        v = self.polar.axes.velocity_mps
        if self.config.output == "magnitude" and self.config.doppler_pool > 1:
            v = v.reshape(-1, self.config.doppler_pool).mean(axis=1)
        return {"order": ["doppler", "z", "y", "x"], "velocity_mps": v.tolist(), "z_m": z.tolist(),
                "y_m": y.tolist(), "x_m": x.tolist(), "notes": "voxel centres; velocity = mean of pooled bins"}

    def to_dict(self) -> dict:
        return {"cartesian": self.config.to_dict(), "scale": self.scale, "polar": self.polar.to_dict()}

    def resample(self, polar_raed: np.ndarray) -> np.ndarray:
        """``(F, E, Nr, A, D)`` polar (complex or real) → voxels ``(F, D, n_z, n_y, n_x)`` of the same dtype."""
        F, D = polar_raed.shape[0], polar_raed.shape[-1]
        c = self.config
        out = np.empty((F, D, c.n_z * c.n_y * c.n_x), polar_raed.dtype)
        for f in range(F):
            out[f] = (self.operator @ polar_raed[f].reshape(-1, D)).T
        return out.reshape(F, D, c.n_z, c.n_y, c.n_x)

    # -- the chain -------------------------------------------------------------------------------------------
    def __call__(self, x: np.ndarray, out=None, float16_values: bool = False) -> np.ndarray:
        """Complex frames ``(F, L, T, R, N)`` (or one frame ``(L, T, R, N)``) → voxels ``(F, D', n_z, n_y, n_x)``.

        ``out``: where to write them instead of a new array — one array of the output's shape (the F axis may
        be left out for one frame) and any strides (e.g. a channel slice of a channels-last model input), or a
        tuple of such arrays that all receive the same values (the live pipeline writes a frame into the input
        of every temporal window it belongs to); the first is returned. ``float16_values`` (magnitude output)
        rounds the values as a float16 dataset stores them (clipped to ±65504, :func:`rfpose.dataset.to_float16`)
        while they are written, still as float32.
        """
        single = x.ndim == 4
        if single:
            x = x[None]
        if x.ndim != 5 or x.shape[1:] != self.params.frame_shape:
            raise ShapeError(f"expected complex frames (F, {', '.join(map(str, self.params.frame_shape))}), "
                             f"got {x.shape}")
        outs = self._outputs(x.shape[0], out, float16_values)
        with self._lock:
            for f in range(x.shape[0]):
                self.polar.load_trnl(x[f], self._buffer("trnl"))
                self._voxels_from_trnl(tuple(o[f] for o in outs), float16_values)
        return outs[0][0] if single else outs[0]

    def _outputs(self, frames: int, out, float16_values: bool) -> tuple[np.ndarray, ...]:
        """The destinations of :meth:`__call__`, each ``(F, D', n_z, n_y, n_x)`` (checked)."""
        if float16_values and self.config.output != "magnitude":
            raise ConfigError("float16_values applies to magnitude output, not complex voxels")
        if out is None:
            return (self._empty_output(frames),)
        given = out if isinstance(out, (tuple, list)) else (out,)
        outs = tuple(o[None] if getattr(o, "ndim", 0) == 4 else o for o in given)  # one frame without its F axis
        dtype = np.complex64 if self.config.output == "complex" else np.float32
        for o in outs:
            if not isinstance(o, np.ndarray) or o.shape != (frames, *self.output_shape) or o.dtype != dtype:
                raise ShapeError(f"out must be {dtype.__name__} {(frames, *self.output_shape)}, got "
                                 f"{getattr(o, 'dtype', type(o))} {getattr(o, 'shape', '')}")
        return outs

    def from_words(self, words: np.ndarray) -> np.ndarray:
        """int16 wire words → voxels ``(F, D', n_z, n_y, n_x)``, decoding fused into the chain.

        ``words``: ``(F, W)`` (DCA1000 boards) or ``(F, 4, W)`` (cascade); one frame may drop the F axis.
        """
        from rfpose.preprocessing.decode import decode_frames, words_per_frame

        w = np.asarray(words)
        cascade = self.board.capture == "tda2"
        if w.ndim == (2 if cascade else 1):
            w = w[None]
        wpf = words_per_frame(self.params, self.board)
        if w.ndim != (3 if cascade else 2) or w.shape[-1] != wpf or (cascade and w.shape[1] != 4):
            want = f"(F, 4, {wpf})" if cascade else f"(F, {wpf})"
            raise ShapeError(f"expected int16 words {want}, got {w.dtype} {w.shape}")
        out = self._empty_output(w.shape[0])
        with self._lock:
            trnl = self._buffer("trnl")
            for f in range(w.shape[0]):
                if cascade:
                    self._parallel(_split_even([1] * 4, self.threads),
                                   lambda slots, words=w[f]: self._decode_chips(words, slots, trnl))
                else:
                    self.polar.load_trnl(decode_frames(w[f], self.params)[0], trnl)
                self._voxels_from_trnl((out[f],))
        return out

    def _decode_chips(self, words: np.ndarray, slots: range, trnl: np.ndarray) -> None:
        """Decode and premodulate the RX groups ``slots`` of one cascade frame into ``trnl`` (one thread's share;
        each thread has its own scratch)."""
        from rfpose.preprocessing.decode import decode_cascade_frame_trnl

        dc = self.polar.config.dc_removal
        decode_cascade_frame_trnl(words, self.params, out=trnl, scratch=self._buffer(f"chip{slots[0]}"),
                                  remove_dc=dc, slots=slots)
        self.polar.premodulate_trnl(trnl[:, 4 * slots[0]:4 * slots[-1] + 4], dc_removed=dc)

    def _empty_output(self, frames: int) -> np.ndarray:
        dtype = np.complex64 if self.config.output == "complex" else np.float32
        return np.empty((frames, *self.output_shape), dtype)

    def _buffer(self, name: str) -> np.ndarray:
        """Work buffers, allocated once per processor (page faults on fresh 50 MB arrays cost more than the FFTs)."""
        b = self._buffers.get(name)
        if b is None:
            L, T, R, N = self.params.frame_shape
            D, Nr, A, E = self.polar.output_shape
            rows = len(np.unique(self.polar.grid.el_index))
            shapes = {"trnl": ((T, R, N, L), np.complex64), "chip": ((L, T, N, 4), np.complex64),
                      "rows": ((rows, Nr, A, D), np.complex64)}
            shape, dtype = shapes[name.rstrip("0123456789")]
            b = self._buffers[name] = np.empty(shape, dtype)
        return b

    def _voxels_from_trnl(self, outs: tuple[np.ndarray, ...], float16_values: bool = False) -> None:
        """Premodulated frame in the ``trnl`` buffer → each of ``outs`` ``(D', n_z, n_y, n_x)``."""
        c = self.config
        rd = self.polar.range_doppler_trnl(self._buffer("trnl"))
        if c.output == "magnitude" and c.interpolate == "magnitude":
            for _, split, fn in self._magnitude_steps(rd, outs, float16_values):
                self._parallel(split, fn)
            return
        self._parallel(*self._azimuth_step(rd, 1))
        rows = self._buffer("rows")
        n_rows, Nr, A, D = rows.shape
        rows = rows.reshape(n_rows, Nr * A, D)
        out = outs[0]
        p = c.doppler_pool if c.output == "magnitude" else 1
        chunk = max(p, (c.doppler_chunk // p) * p)
        for d0 in range(0, D, chunk):  # in Doppler chunks: one chunk of (K', chunk) complex values at a time
            d1 = min(D, d0 + chunk)
            part = np.empty((self.n_columns, d1 - d0), np.complex64)
            self._parallel(self._block_split, lambda blocks: self._complex_bins(rows[..., d0:d1], blocks, part))
            res = np.empty((d1 - d0, out[0].size), np.complex64)
            self._interpolate(part, res)
            if c.output == "complex":
                out[d0:d1] = res.reshape(d1 - d0, *out.shape[1:])
            else:
                m = np.abs(res).reshape(-1, p, *out.shape[1:]).max(axis=1)
                out[d0 // p:d1 // p] = m / np.float32(self.scale)
        if float16_values:
            np.copyto(out, to_float16(out))
        for other in outs[1:]:
            np.copyto(other, out)

    def _azimuth_step(self, rd: np.ndarray, pool: int) -> tuple[list, object]:
        """(parts, fn(part)): range–Doppler ``rd`` → the azimuth spectra of the occupied elevation rows in the
        ``rows`` buffer, the rows split over the threads (placement, zeroing and FFTs all parallel)."""
        gains = getattr(self, "_gains_cache", None)
        if gains is None or gains[0] != pool:
            gains = self._gains_cache = (pool, self.polar.gains_vd(pool))
        rows = self._buffer("rows")

        def azimuth(part):
            with single_fft_worker():
                self.polar.azimuth_rows_into(rd, rows, pool=pool, gains=gains[1], rows=part)

        return _split_even([1] * rows.shape[0], self.threads), azimuth

    def _magnitude_steps(self, rd: np.ndarray, outs: tuple[np.ndarray, ...], float16_values: bool) -> list:
        """The magnitude-first chain after range–Doppler as ``(name, parts, fn(part))`` steps, run in order; the
        parts of a step may run on parallel threads."""
        pool = self.config.doppler_pool
        rows = self._buffer("rows")
        n_rows, Nr, A, D = rows.shape
        mag = self._buffers.get("mag")
        if mag is None:
            mag = self._buffers["mag"] = np.empty((self.n_columns, D // pool), np.float32)
        flat = tuple(_flat_voxels(o) for o in outs)
        rows = rows.reshape(n_rows, Nr * A, D)
        resampling = ("resampling", self._voxel_split, self._interpolate_part(mag, flat, float16_values))
        if not self.power_terms:
            return [("azimuth", *self._azimuth_step(rd, pool)),
                    ("elevation magnitudes", self._block_split,
                     lambda part: self._magnitudes(rows, part, pool, mag)), resampling]
        products = self._buffers.get("products")
        if products is None:
            products = self._buffers["products"] = np.empty((1 + n_rows * (n_rows - 1), Nr * A, D), np.float32)
        return [("azimuth", *self._azimuth_step(rd, pool)),
                ("row products", self._pair_split, lambda part: _row_products(rows, part, products)),
                ("elevation magnitudes", self._block_split,
                 lambda part: self._power_magnitudes(products, part, pool, mag)), resampling]

    def step_cpu_ms(self, frame: np.ndarray, out: np.ndarray | None = None, float16_values: bool = True) -> dict:
        """CPU time (ms, ``time.thread_time``) of each step of one complex frame ``(L, T, R, N)`` through the
        magnitude-first chain into ``out`` (as :meth:`__call__`), every part of a parallel step run in turn on
        the calling thread: ``{step: [ms per part]}``. A step's slowest part is its time on an idle machine
        with a core per thread; the sum of all parts its CPU time. For benchmarks."""
        import time

        c = self.config
        if not (c.output == "magnitude" and c.interpolate == "magnitude"):
            raise ConfigError("step_cpu_ms times the magnitude-first chain (output and interpolate magnitude)")
        outs = tuple(o[0] for o in self._outputs(1, out, float16_values))
        times = {}
        with self._lock, _blas_single_thread(), single_fft_worker():
            t0 = time.thread_time()
            self.polar.load_trnl(frame, self._buffer("trnl"))
            t1 = time.thread_time()
            rd = self.polar.range_doppler_trnl(self._buffer("trnl"))
            times.update({"load": [(t1 - t0) * 1e3], "range-Doppler": [(time.thread_time() - t1) * 1e3]})
            for name, split, fn in self._magnitude_steps(rd, outs, float16_values):
                times[name] = []
                for part in split:
                    t0 = time.thread_time()
                    fn(part)
                    times[name].append((time.thread_time() - t0) * 1e3)
        return times

    def _parallel(self, split, fn) -> None:
        """``fn(blocks)`` over the parts of ``split``, one thread each; BLAS kept to one thread per caller
        (OpenBLAS's own threads spin and collapse on a busy machine for these small GEMMs)."""
        with _blas_single_thread():
            if len(split) == 1:
                fn(split[0])
                return
            for fut in [_pool(len(split)).submit(fn, part) for part in split]:
                fut.result()

    def _magnitudes(self, rows: np.ndarray, blocks: range, pool: int, mag: np.ndarray) -> None:
        """Elevation transform of ``blocks``, |·|, max over each Doppler pool → their rows of ``mag`` (K', D/pool)."""
        n_rows, _, D = rows.shape
        Dp = D // pool
        most = max(b.n_el * len(b.pairs) for b in self.blocks)
        work = np.empty(most * D, np.complex64)
        absw = np.empty(work.shape, np.float32)
        pooled = np.empty(most * Dp, np.float32)
        for b in (self.blocks[i] for i in blocks):
            n = len(b.pairs)
            size = b.n_el * n * D
            spec = work[:size].reshape(b.n_el, n * D)
            np.matmul(b.weights, np.take(rows, b.pairs, axis=1).reshape(n_rows, n * D), out=spec)
            a = np.abs(spec, out=absw[:size].reshape(b.n_el, n * D)).reshape(b.n_el, n, pool, Dp)
            if pool == 1:
                mag[b.dest] = a.reshape(-1, Dp)
                continue
            dst = pooled[:b.n_el * n * Dp].reshape(b.n_el, n, Dp)
            np.maximum(a[:, :, 0], a[:, :, 1], out=dst)
            for k in range(2, pool):
                np.maximum(dst, a[:, :, k], out=dst)
            mag[b.dest] = dst.reshape(-1, Dp)

    def _power_magnitudes(self, products: np.ndarray, blocks: range, pool: int, mag: np.ndarray) -> None:
        """As :meth:`_magnitudes` from the row products ``(terms, Nr·A, D)`` (:attr:`power_terms`): |·|² of
        ``blocks`` by a real GEMM, max over each Doppler pool, then the square root."""
        terms, _, D = products.shape
        Dp = D // pool
        most = max(b.n_el * len(b.pairs) for b in self.blocks)
        work = np.empty(most * D, np.float32)
        pooled = np.empty(most * Dp, np.float32)
        for b in (self.blocks[i] for i in blocks):
            n = len(b.pairs)
            spec = work[:b.n_el * n * D].reshape(b.n_el, n * D)
            np.matmul(b.power_weights, np.take(products, b.pairs, axis=1).reshape(terms, n * D), out=spec)
            a = spec.reshape(b.n_el, n, pool, Dp)
            dst = pooled[:b.n_el * n * Dp].reshape(b.n_el, n, Dp)
            np.maximum(a[:, :, 0], 0, out=dst)  # rounding leaves nulls of the quadratic form slightly below 0
            for k in range(1, pool):
                np.maximum(dst, a[:, :, k], out=dst)
            mag[b.dest] = np.sqrt(dst, out=dst).reshape(-1, Dp)

    def _complex_bins(self, rows: np.ndarray, blocks: range, pol: np.ndarray) -> None:
        """Complex elevation spectra of ``blocks`` → their rows of ``pol`` (K', Dc)."""
        n_rows, _, Dc = rows.shape
        for b in (self.blocks[i] for i in blocks):
            n = len(b.pairs)
            spec = b.weights @ np.take(rows, b.pairs, axis=1).reshape(n_rows, n * Dc)
            pol[b.dest] = spec.reshape(b.n_el * n, Dc)

    def _interpolate(self, values: np.ndarray, out, float16_values: bool = False) -> None:
        """``values`` (K', C) float32 or complex64 → ``out`` (C, voxels) of the same dtype (or each array of a
        tuple of them), through the compacted operator in voxel blocks (each block's transposed writes stay in
        cache); ``float16_values`` rounds real values to float16's on the way."""
        self._parallel(self._voxel_split, self._interpolate_part(values, out, float16_values))

    def _interpolate_part(self, values: np.ndarray, out, float16_values: bool = False):
        """:meth:`_interpolate` as fn(voxel blocks), for :meth:`_parallel`."""
        cplx = np.iscomplexobj(values)
        vals = values.view(np.float32) if cplx else values  # complex: re/im as two real columns
        outs = out if isinstance(out, tuple) else (out,)

        def part(idx):
            for i in idx:
                v0, v1, blk = self._voxel_blocks[i]
                r = blk @ vals
                if float16_values:
                    _copy_float16_rounded(r, [o[:, v0:v1] for o in outs])
                    continue
                for o in outs:
                    np.copyto(o[:, v0:v1], (r.view(np.complex64) if cplx else r).T)

        return part


_BLOCK_VALUES = 1 << 17  # complex values per elevation block (1 MiB: the GEMM output, |·| and pooling stay in L2)
_VOXEL_BLOCK = 4096  # voxels per resampling block
_PRODUCT_CHUNK = 128  # (range, azimuth) pairs per chunk of row products (64 KiB of complex64 at 64 Doppler bins)


@dataclass(frozen=True)
class _ElevationBlock:
    """Pairs sharing one elevation span: output rows ``offset + (e - lo)·len(pairs) + i``."""

    lo: int
    n_el: int
    pairs: np.ndarray  # flat r·A + a
    offset: int
    weights: np.ndarray  # (n_el, rows) complex64: rows of the elevation DFT matrix
    power_weights: np.ndarray | None  # (n_el, 1 + R(R−1)) float32: |spectrum|² from the row products (power_terms)
    dest: np.ndarray | None = None  # (n_el·len(pairs),) rows of the compacted polar array, (el, pair) order


def _power_weights(weights: np.ndarray) -> np.ndarray:
    """``(n_el, R)`` unit-modulus elevation weights → ``(n_el, 1 + R(R−1))`` real weights of the row products
    ``[Σ_k |r_k|², Re r_k r_l*, Im r_k r_l* for k < l]`` whose sum is ``|Σ_k w_k r_k|²``."""
    cols = [np.ones(len(weights))]
    for k, l in itertools.combinations(range(weights.shape[1]), 2):
        c = weights[:, k] * np.conj(weights[:, l])
        cols += [2 * c.real, -2 * c.imag]
    return np.stack(cols, axis=1).astype(np.float32)


def _row_products(rows: np.ndarray, pairs: range, out: np.ndarray) -> None:
    """Rows ``(R, P, D)`` complex64 → ``out`` ``(1 + R(R−1), P, D)`` float32 over the pairs ``pairs``: the products
    :func:`_power_weights` weighs. In chunks whose temporaries stay in cache (and off fresh pages)."""
    for p0 in range(pairs.start, pairs.stop, _PRODUCT_CHUNK):
        sl = slice(p0, min(p0 + _PRODUCT_CHUNK, pairs.stop))
        np.sum(np.square(np.abs(rows[:, sl])), axis=0, out=out[0, sl])
        for i, (k, l) in enumerate(itertools.combinations(range(rows.shape[0]), 2)):
            q = rows[k, sl] * np.conj(rows[l, sl])
            out[1 + 2 * i, sl] = q.real
            out[2 + 2 * i, sl] = q.imag


def _flat_voxels(out: np.ndarray) -> np.ndarray:
    """``(D', n_z, n_y, n_x)`` → a ``(D', voxels)`` view of the same memory (contiguous or channels-last)."""
    flat = out.reshape(out.shape[0], -1)
    if not np.shares_memory(flat, out):
        raise ShapeError(f"out's strides {out.strides} do not merge its voxel axes; give a C-contiguous or "
                         "channels-last (voxel-major) array")
    return flat


def _copy_float16_rounded(x: np.ndarray, outs: list[np.ndarray]) -> None:
    """``x`` ``(voxels, C)`` float32 magnitudes (≥ 0) → each of ``outs`` ``(C, voxels)`` (any strides), rounded to
    float16's values as :func:`rfpose.dataset.to_float16` stores them (clipped at 65504) and written as
    float32: conversion and transposed write in one pass. Torch's float16 conversion is vectorised, numpy's is
    not (4× slower); the clip runs on the float16 copy (what overflowed is inf there), half the bytes of ``x``."""
    import torch

    if x.ndim != 2 or not x.flags.c_contiguous or x.dtype != np.float32:
        raise ShapeError(f"float16 rounding takes a C-contiguous float32 (voxels, C) array, got {x.dtype} {x.strides}")
    h = torch.from_numpy(x).half().clamp_(max=FLOAT16_MAX).T
    for o in outs:
        torch.from_numpy(o).copy_(h)


def _split_even(costs: list, parts: int) -> list:
    """Contiguous index ranges of ``costs`` with about equal sums, at most ``parts`` of them."""
    total = float(sum(costs)) or 1.0
    edges, acc, cuts = [0], 0.0, 1
    for i, c in enumerate(costs):
        acc += c
        if cuts < parts and acc >= total * cuts / parts and i + 1 < len(costs):
            edges.append(i + 1)
            cuts += 1
    edges.append(len(costs))
    return [range(a, b) for a, b in zip(edges[:-1], edges[1:]) if b > a]


_POOLS: dict = {}
_CONTROLLER = None


def _pool(n: int):
    from concurrent.futures import ThreadPoolExecutor

    p = _POOLS.get(n)
    if p is None:
        p = _POOLS[n] = ThreadPoolExecutor(max_workers=n, thread_name_prefix="rfpose-cartesian")
    return p


def _blas_single_thread():
    global _CONTROLLER
    if _CONTROLLER is None:
        from threadpoolctl import ThreadpoolController

        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER.limit(limits=1, user_api="blas")
