"""HuPR network input: per radar and frame a complex ``(16 Doppler, 64 range, 64 azimuth, 8 elevation)`` map.

HuPR semantics (hupr.md §2): static clutter removal (mean over loops), no range window, no DC removal,
64-point Doppler FFT with fftshift keeping the 16 central bins (24–39), 64-point azimuth and 8-point
elevation FFTs. Differences from HuPR's script, on purpose:

- the range crop is given in metres (``range_start_m`` and ``n_range`` bins, ascending range) instead of
  HuPR's fixed reversed bins 94..31. The default, 1.30 m and 64 bins, covers 1.30–3.93 m with the
  AWR1843BOOST default profile (4.18 cm bins) — the span HuPR's bins 31–94 cover with that profile;
- TDM-MIMO motion compensation is applied (``tdm_compensation=False`` reproduces HuPR);
- axes follow rfpose's conventions (sin_az increasing toward +y, sin_el increasing up), where HuPR flips.

The "vertical" radar is the same board rotated 90° about boresight, so its azimuth axis measures
elevation; both radars go through the same processor.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from rfpose.boards import Board
from rfpose.errors import ConfigError
from rfpose.radar_config import RadarParams

from rfpose.preprocessing.polar import PolarConfig, PolarProcessor


@dataclass(frozen=True)
class HuprConfig:
    range_start_m: float = 1.30
    n_range: int = 64
    n_doppler_keep: int = 16
    doppler_fft: int = 64
    azimuth_fft: int = 64
    elevation_fft: int = 8
    tdm_compensation: bool = True

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def zscored_elevation_mean(y: np.ndarray) -> np.ndarray:
    """Real/imaginary maps ``(..., R, A, E)`` → ``(..., R, A, 1)``: each (range, azimuth) map of one elevation bin
    brought to zero mean and unit unbiased standard deviation (an all-zero map stays zero), then the mean over
    the E bins — what every HuPR model computes first (``rfpose.models.hupr.zscored_elevation_mean``), so a
    dataset can store it instead of the E bins. float32 in, float32 out."""
    n, e = y.shape[-3] * y.shape[-2], y.shape[-1]
    s1 = y.sum(axis=(-3, -2), keepdims=True, dtype=np.float64)  # (..., 1, 1, E)
    s2 = np.square(y, dtype=np.float64).sum(axis=(-3, -2), keepdims=True)
    mean = s1 / n
    std = np.sqrt(np.clip((s2 - s1 * mean) / (n - 1), 0, None))
    w = (1 / (np.maximum(std, 1e-12) * e)).astype(np.float32)  # (..., 1, 1, E)
    return np.matmul(y, np.swapaxes(w, -1, -2)) - (mean * w).sum(-1, keepdims=True).astype(np.float32)


class HuprProcessor:
    """Complex ADC frames ``(F, L, T, R, N)`` → complex64 ``(F, 16, 64, 64, 8)`` (Doppler, range, az, el)."""

    def __init__(self, params: RadarParams, board: Board, config: HuprConfig | None = None, workers: int = -1):
        self.config = cfg = config or HuprConfig()
        dr = (299_792_458.0 * params.sample_rate_hz / (2 * abs(params.slope_hz_per_s) * params.num_adc_samples))
        r0 = int(round(cfg.range_start_m / dr))
        n_valid = params.num_adc_samples if params.complex_sampling else params.num_adc_samples // 2
        if r0 < 0 or r0 + cfg.n_range > n_valid:
            raise ConfigError(f"HuPR range crop {cfg.range_start_m} m + {cfg.n_range} bins of {dr:.4f} m exceeds the "
                              f"{n_valid} range bins of this configuration")
        D = cfg.doppler_fft
        if params.num_loops > D:
            raise ConfigError(f"HuPR doppler_fft {D} is shorter than the {params.num_loops} loops")
        d0 = D // 2 - cfg.n_doppler_keep // 2
        self.polar = PolarProcessor(params, board, PolarConfig(
            range_window="none", dc_removal=False, clutter_removal=True, doppler_fft=D,
            tdm_compensation=cfg.tdm_compensation, azimuth_fft=cfg.azimuth_fft, elevation_fft=cfg.elevation_fft,
            range_crop=(r0, r0 + cfg.n_range), doppler_crop=(d0, d0 + cfg.n_doppler_keep), workers=workers))
        self.axes = self.polar.axes

    @property
    def output_shape(self):
        return self.polar.output_shape

    def to_dict(self) -> dict:
        return {"hupr": self.config.to_dict(), "polar": self.polar.to_dict()}

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.polar(x)

    def from_words(self, words: np.ndarray) -> np.ndarray:
        """int16 DCA1000 words ``(F, W)`` → ``(F, 16, 64, 64, 8)`` (decode fused with the Doppler-shift modulation)."""
        return self.polar.from_words(words)
