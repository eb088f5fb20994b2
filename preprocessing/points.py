"""CFAR point clouds: detections on the range–Doppler power map, angle per detection, ``(x, y, z, v, snr)``.

- The detection map is the non-coherent power ``Σ_v |X(d, r, v)|²`` over virtual channels (after TDM
  compensation), Doppler axis circular.
- CA-CFAR: 2-D cell averaging over a (Doppler × range) window with guard cells (box sums via cumulative
  sums). OS-CFAR: the k-th order statistic of the 1-D training cells along range, per Doppler row.
- A detection must also be a local maximum in its 3 × 3 neighbourhood (avoids one target giving a blob).
- Angle: the detection's compensated virtual vector is placed on the (az, el) grid and transformed with
  zero-padded FFTs; the peak is refined with a parabola on each axis. ``x = r·sqrt(1 − u² − w²)``,
  ``y = r·u``, ``z = r·w`` with ``u = y/r``, ``w = z/r`` (radar frame: x forward, y left, z up).
- ``v`` is the Doppler velocity (positive = receding), ``snr`` = 10·log10(cell power / noise estimate) in dB.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import scipy.fft as sfft
from scipy.ndimage import maximum_filter, rank_filter

from rfpose.boards import Board
from rfpose.errors import ConfigError, SourceMismatchError
from rfpose.radar_config import RadarParams

from rfpose.preprocessing.polar import PolarConfig, PolarProcessor, VirtualGrid, fft_size

POINT_FIELDS = ("x", "y", "z", "v", "snr")
#: the fields of a device's point (:data:`rfpose.source.RADAR_POINT_DTYPE`) that make a dataset point, in
#: :data:`POINT_FIELDS` order
DEVICE_POINT_FIELDS = ("x", "y", "z", "v", "snr_db")


@dataclass(frozen=True)
class PointCloudConfig:
    method: str = "ca"  # "ca" or "os"
    guard: tuple[int, int] = (2, 2)  # (doppler, range) guard cells each side
    train: tuple[int, int] = (4, 8)  # (doppler, range) training cells each side beyond the guard
    threshold_db: float = 12.0
    os_rank: float = 0.75  # OS-CFAR: order statistic as a fraction of the training cells
    min_range_m: float = 0.3
    max_range_fraction: float = 0.95  # the top range bins see bin-0 (DC) leakage wrapped around by the FFT
    max_points: int = 512
    azimuth_fft: int = 0  # 0: 64, or the virtual array's azimuth extent rounded up to a power of two if wider
    elevation_fft: int = 0  # 0: 32, or its elevation extent likewise (the cascade's 86 az positions: 128)
    range_window: str = "hann"
    clutter_removal: bool = True

    def __post_init__(self):
        if self.method not in ("ca", "os"):
            raise ConfigError(f"CFAR method {self.method!r} unknown; valid: ca, os")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _box_sum_2d(p: np.ndarray, hd: int, hr: int) -> np.ndarray:
    """Sum over a (2hd+1) × (2hr+1) window, circular in Doppler (axis 0), zero-padded in range (axis 1)."""
    D, R = p.shape
    q = np.concatenate([p[-hd:], p, p[:hd]], axis=0) if hd else p
    c = np.cumsum(q, axis=0)
    c = np.concatenate([np.zeros((1, R)), c], axis=0)
    s = c[2 * hd + 1:] - c[:-2 * hd - 1]
    s = np.pad(s, ((0, 0), (hr + 1, hr)))
    c2 = np.cumsum(s, axis=1)
    return c2[:, 2 * hr + 1:] - c2[:, :-2 * hr - 1]


def ca_cfar(power: np.ndarray, guard=(2, 2), train=(4, 8), threshold_db=12.0):
    """CA-CFAR on a (doppler, range) power map. Returns (detection mask, noise estimate)."""
    gd, gr = guard
    td, tr = train
    outer = _box_sum_2d(power, gd + td, gr + tr)
    inner = _box_sum_2d(power, gd, gr)
    ones = np.ones_like(power)
    n_cells = _box_sum_2d(ones, gd + td, gr + tr) - _box_sum_2d(ones, gd, gr)
    noise = (outer - inner) / np.maximum(n_cells, 1)
    return power > noise * 10 ** (threshold_db / 10), noise


def os_cfar(power: np.ndarray, guard=2, train=8, rank=0.75, threshold_db=12.0):
    """OS-CFAR along range (axis 1) per Doppler row. Returns (detection mask, noise estimate)."""
    size = 2 * (guard + train) + 1
    foot = np.ones(size, bool)
    foot[train:train + 2 * guard + 1] = False
    k = int(round(rank * (2 * train - 1)))
    noise = rank_filter(power, k, footprint=foot[None, :], mode="reflect")
    return power > noise * 10 ** (threshold_db / 10), noise


def _parabolic(y_m1, y0, y_p1):
    den = y_m1 - 2 * y0 + y_p1
    return np.where(np.abs(den) > 1e-20, 0.5 * (y_m1 - y_p1) / np.where(den == 0, 1, den), 0.0)


class PointCloudProcessor:
    """Complex ADC frame ``(L, T, R, N)`` → float32 ``(n_points, 5)`` (x, y, z, v, snr)."""

    def __init__(self, params: RadarParams, board: Board, config: PointCloudConfig | None = None, workers: int = -1):
        cfg = config or PointCloudConfig()
        grid = VirtualGrid.from_board(params, board)
        self.config = cfg = dataclasses.replace(cfg, azimuth_fft=cfg.azimuth_fft or fft_size(grid.n_az, 64),
                                                elevation_fft=cfg.elevation_fft or fft_size(grid.n_el, 32))
        self.polar = PolarProcessor(params, board, PolarConfig(
            range_window=cfg.range_window, clutter_removal=cfg.clutter_removal, azimuth_fft=cfg.azimuth_fft,
            elevation_fft=cfg.elevation_fft, workers=workers))
        self.axes = self.polar.axes
        self.max_range_m = params.max_range_m

    def to_dict(self) -> dict:
        return {"points": self.config.to_dict(), "polar": self.polar.to_dict(), "fields": list(POINT_FIELDS)}

    def detect(self, power: np.ndarray):
        cfg = self.config
        if cfg.method == "ca":
            mask, noise = ca_cfar(power, cfg.guard, cfg.train, cfg.threshold_db)
        else:
            mask, noise = os_cfar(power, cfg.guard[1], cfg.train[1], cfg.os_rank, cfg.threshold_db)
        peak = power >= maximum_filter(power, size=3, mode=("wrap", "nearest"))
        mask &= peak
        r = self.axes.range_m
        mask[:, (r < cfg.min_range_m) | (r > cfg.max_range_fraction * self.max_range_m)] = False
        return mask, noise

    def __call__(self, x: np.ndarray) -> np.ndarray:
        cfg = self.config
        rd = self.polar.range_doppler(x[None] if x.ndim == 4 else x)[0]  # (D, T, R, Nr)
        D, T, R, Nr = rd.shape
        power = (rd.real ** 2 + rd.imag ** 2).sum(axis=(1, 2)).astype(np.float64)  # (D, Nr)
        mask, noise = self.detect(power)
        d_idx, r_idx = np.nonzero(mask)
        if len(d_idx) > cfg.max_points:
            keep = np.argsort(power[d_idx, r_idx])[::-1][: cfg.max_points]
            d_idx, r_idx = d_idx[keep], r_idx[keep]
        if len(d_idx) == 0:
            return np.zeros((0, 5), np.float32)
        vec = rd[d_idx, :, :, r_idx].reshape(len(d_idx), T * R)  # gains (incl. (-1)^(a+e)) already applied
        snr = 10 * np.log10(power[d_idx, r_idx] / np.maximum(noise[d_idx, r_idx], 1e-30))
        return self.locate(vec, r_idx, self.axes.velocity_mps[d_idx], snr)

    def locate(self, vec: np.ndarray, r_idx: np.ndarray, v: np.ndarray, snr: np.ndarray) -> np.ndarray:
        """Detections' virtual-channel vectors ``(n, V)`` (channel gains applied) at range bins ``r_idx (n,)``
        → points ``(n, 5)`` float32 (x, y, z, v, snr): the angle of each vector's beamforming peak."""
        cfg, g, ax = self.config, self.polar.grid, self.axes
        A, E = cfg.azimuth_fft, cfg.elevation_fft
        n = np.arange(len(vec))
        buf = np.zeros((len(vec), A, E), np.complex64)
        for rank, ch in enumerate(g.rank_groups):
            if rank == 0:
                buf[:, g.az_index[ch], g.el_index[ch]] = vec[:, ch]
            else:
                buf[:, g.az_index[ch], g.el_index[ch]] += vec[:, ch]
        axes = (1, 2) if E > 1 else (1,)
        spec = np.abs(sfft.ifftn(buf, axes=axes, norm="forward")) ** 2
        flat = spec.reshape(len(vec), -1).argmax(axis=1)
        ia, ie = np.unravel_index(flat, (A, E))
        da = _parabolic(spec[n, (ia - 1) % A, ie], spec[n, ia, ie], spec[n, (ia + 1) % A, ie])
        de = _parabolic(spec[n, ia, (ie - 1) % E], spec[n, ia, ie], spec[n, ia, (ie + 1) % E]) if E > 1 else 0.0
        u = ax.sin_az[ia] + da * (ax.sin_az[1] - ax.sin_az[0])
        w = ax.sin_el[ie] + (de * (ax.sin_el[1] - ax.sin_el[0]) if E > 1 else 0.0)
        rr = ax.range_m[r_idx]
        c2 = np.clip(1 - u ** 2 - w ** 2, 0, None)
        return np.stack([rr * np.sqrt(c2), rr * u, rr * w, v, snr], axis=1).astype(np.float32)


class DevicePoints:
    """A device's points as it sent them (a structured :data:`rfpose.source.RADAR_POINT_DTYPE` array, e.g. the
    demo firmware's UART points) → float32 ``(n_points, 5)`` (x, y, z, v, snr), unchanged: no detection
    runs on the host. Points with a non-finite coordinate (a frame the session marked corrupt) are dropped."""

    def __call__(self, points: np.ndarray) -> np.ndarray:
        names = points.dtype.names or ()
        if not set(DEVICE_POINT_FIELDS) <= set(names):
            raise SourceMismatchError(f"device points need the fields {', '.join(DEVICE_POINT_FIELDS)}; this source "
                                      f"gives {', '.join(names) or 'unstructured values'}",
                                      ", ".join(DEVICE_POINT_FIELDS), ", ".join(names))
        out = np.stack([np.asarray(points[f], np.float32) for f in DEVICE_POINT_FIELDS], axis=1).reshape(-1, 5)
        out = out[np.isfinite(out[:, :3]).all(axis=1)]
        if not np.isfinite(out[:, 3:]).all():
            raise SourceMismatchError("the points carry no Doppler or SNR (an SDK 1.x/2.x stream, or the SDK 3 demo "
                                      "with its side-info TLV off in guiMonitor); these points need x, y, z, v, SNR",
                                      ", ".join(DEVICE_POINT_FIELDS), "points without Doppler or SNR")
        return out

    def to_dict(self) -> dict:
        return {"points": {"from": "stream", "device_fields": list(DEVICE_POINT_FIELDS)}, "fields": list(POINT_FIELDS)}
