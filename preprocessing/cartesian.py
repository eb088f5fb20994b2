"""Polar radar tensors resampled onto a Cartesian voxel grid ``(doppler, z, y, x)`` (RT-Pose's DZYX).

The grid points are voxel *centres*: ``x = linspace(x_min, x_max, n_x)`` etc. The default is RT-Pose's
training ROI (rtpose.md §2 step 7): 160 x over 0.77–7.98 m, 64 y over −5.03–4.87 m, 16 z over −1.09–4.35 m.

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
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from rfpose.boards import Board
from rfpose.errors import ConfigError, ShapeError
from rfpose.radar_config import RadarParams

from rfpose.preprocessing.polar import PolarAxes, PolarConfig, PolarProcessor


@dataclass(frozen=True)
class CartesianConfig:
    """Voxel grid (centres, metres) and output options."""

    x_m: tuple[float, float] = (0.77, 7.98)
    y_m: tuple[float, float] = (-5.03, 4.87)
    z_m: tuple[float, float] = (-1.09, 4.35)
    n_x: int = 160
    n_y: int = 64
    n_z: int = 16
    doppler_pool: int = 2  # max-pool magnitudes over this many adjacent Doppler bins (1 = off)
    output: str = "magnitude"  # or "complex" (no pooling, no scaling)
    interpolate: str = "magnitude"  # magnitude output: interpolate |X| after pooling, or "complex" (RT-Pose order)
    scale: float | None = None  # None: N·L·V (see module docstring)
    azimuth_fft: int | None = None  # None: the polar default (power of two ≥ the array's az extent, ≥ 64)
    elevation_fft: int = 32  # RT-Pose's value; 16 quantises elevation too coarsely for ±1 voxel at high z
    range_window: str = "hann"
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
            range_window=cfg.range_window, clutter_removal=cfg.clutter_removal, tdm_compensation=cfg.tdm_compensation,
            azimuth_fft=cfg.azimuth_fft, elevation_fft=cfg.elevation_fft, range_crop=(b0, b1), workers=workers))
        self.operator = resampling_operator(self.polar.axes, cfg)  # columns (el, range, az)
        self._compact_operator()
        D = self.polar.output_shape[0]
        if cfg.output == "magnitude" and D % cfg.doppler_pool:
            raise ConfigError(f"{D} Doppler bins do not split into pools of {cfg.doppler_pool}")
        V = params.num_tx * params.num_rx
        self.scale = cfg.scale if cfg.scale is not None else float(params.num_adc_samples * params.num_loops * V)

    def _compact_operator(self) -> None:
        """Keep only the polar columns some voxel uses: the (range, az) pairs any voxel touches (about 2/3 for
        the RT-Pose ROI on the cascade) and, per elevation bin, the pairs used at that elevation (about 30 %
        of all (el, range, az) bins). The elevation transform, magnitudes and resampling run on those only."""
        D, Nr, A, E = self.polar.output_shape
        op = self.operator.tocsr()
        e, ra = np.divmod(op.indices, Nr * A)
        used = np.zeros(Nr * A, bool)
        used[ra] = True
        self.pairs = np.flatnonzero(used)  # flat r·A + a
        pos = np.full(Nr * A, -1, np.int64)
        pos[self.pairs] = np.arange(len(self.pairs))
        k = pos[ra]
        K = len(self.pairs)
        used_ek = np.zeros((E, K), bool)
        used_ek[e, k] = True
        self.el_pairs = [np.flatnonzero(used_ek[i]) for i in range(E)]  # per elevation bin: pair indices
        offsets = np.concatenate([[0], np.cumsum([len(x) for x in self.el_pairs])])
        col_of = np.full((E, K), -1, np.int64)
        for i in range(E):
            col_of[i, self.el_pairs[i]] = offsets[i] + np.arange(len(self.el_pairs[i]))
        self.el_offsets = offsets
        self.compact_operator = sp.csr_matrix((op.data, col_of[e, k], op.indptr), shape=(op.shape[0], offsets[-1]))

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

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Complex frames ``(F, L, T, R, N)`` (or one frame) → voxels; frame by frame and in Doppler chunks,
        so the polar tensor never exists whole (one chunk is ``E·Nr·A·doppler_chunk`` complex values)."""
        single = x.ndim == 4
        if single:
            x = x[None]
        if x.ndim != 5:
            raise ShapeError(f"expected complex frames (F, L, T, R, N), got {x.shape}")
        c = self.config
        p = c.doppler_pool if c.output == "magnitude" else 1
        F = x.shape[0]
        D = self.polar.output_shape[0]
        chunk = max(p, (c.doppler_chunk // p) * p)
        out = np.empty((F, *self.output_shape), np.complex64 if c.output == "complex" else np.float32)
        E = self.polar.config.elevation_fft
        K = len(self.pairs)
        op = self.compact_operator
        for f in range(F):
            rd = self.polar.range_doppler(x[f:f + 1], doppler_last=True)  # (1, T, R, Nr, D)
            Fr, T, R, Nr, _ = rd.shape
            for d0 in range(0, D, chunk):
                d1 = min(D, d0 + chunk)
                rows = self.polar.azimuth_rows(rd[..., d0:d1].reshape(1, T * R, Nr, d1 - d0))[0]
                rows = np.take(rows.reshape(rows.shape[0], Nr * rows.shape[2], d1 - d0), self.pairs, axis=1)
                pol = np.empty((self.el_offsets[-1], d1 - d0), np.complex64)
                W = self.polar._el_matrix if E > 1 else np.ones((1, rows.shape[0]), np.complex64)
                for i, ks in enumerate(self.el_pairs):  # the elevation bins each pair needs, nothing more
                    if len(ks):
                        sel = np.take(rows, ks, axis=1).reshape(rows.shape[0], -1)  # contiguous gather
                        np.matmul(W[i:i + 1], sel, out=pol[self.el_offsets[i]:self.el_offsets[i + 1]].reshape(1, -1))
                if c.output == "complex":
                    out[f, d0:d1] = (op @ pol).T.reshape(d1 - d0, *out.shape[2:])
                elif c.interpolate == "magnitude":
                    mag = np.abs(pol)
                    del pol
                    if p > 1:  # np.maximum over strided views: a reduction over a length-2 axis is very slow
                        pooled = mag[..., 0::p].copy()
                        for k in range(1, p):
                            np.maximum(pooled, mag[..., k::p], out=pooled)
                        mag = pooled
                    v = (op @ mag).T / np.float32(self.scale)
                    out[f, d0 // p:d1 // p] = v.reshape(-1, *out.shape[2:])
                else:
                    mag = np.abs((op @ pol).T).reshape(d1 - d0, *out.shape[2:])
                    if p > 1:
                        mag = mag.reshape(-1, p, *mag.shape[1:]).max(axis=1)
                    out[f, d0 // p:d1 // p] = mag / np.float32(self.scale)
        return out[0] if single else out
