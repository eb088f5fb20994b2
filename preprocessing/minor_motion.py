"""Minor-motion points: what changed in the static scene since the previous frame, where Doppler sees nothing.

Clutter removal throws away each frame's zero-Doppler part, and with it anyone who moves less than one
Doppler bin within a frame (≈ 0.1 m/s): a person sitting, standing or lying still. Their echo still changes
*between* frames — breathing moves the chest 4–12 mm per breath, one to three wavelengths at 77 GHz — while
furniture and walls do not. So, per frame (what TI's people-tracking demos call minor-motion detection):

- the zero-Doppler part of every virtual channel and range bin: the range FFT of the frame's chirps averaged
  with the Doppler window's weights, ``(V, Nr)``;
- its change since the frame ``lag_frames`` before (the previous one by default), summed non-coherently over
  channels: a range profile ``(Nr,)``. Breathing's displacement between two frames 0.1 s apart vanishes twice a
  breath; between frames 0.3–0.5 s apart it is several times larger and is seen in nine frames of ten;
- detections where it is ``threshold_db`` over the noise floor, the median over range (clutter cancels, so
  nearly every bin is noise; CA-CFAR's training cells would fill with a person lying along the range axis),
  local maxima, within the range limits of :class:`PointCloudConfig`;
- the angle of each detection from its change vector, as the Doppler points get theirs.

A point's ``v`` is NaN (no Doppler was measured) and its ``snr`` is the change over the noise floor (dB).
The detector keeps the last ``lag_frames`` frames: feed it a stream's frames in order and :meth:`reset` it
between streams. The simulator's default body model redraws every scatterer's phase each frame, so a body
changes whatever it does; its breathing model (``rfpose simulate --breathing``) keeps each echo and moves
the chest, so a body lying still changes by its breathing alone (tests/sim/test_breathing.py: seen with a
0.5 s lag, a mannequin never). Static clutter and walls do not change, so only people and moving things do.
"""

from __future__ import annotations

from collections import deque

import numpy as np
import scipy.fft as sfft
from scipy.ndimage import maximum_filter1d

from rfpose.errors import ConfigError
from rfpose.preprocessing.points import PointCloudProcessor


class MinorMotionPoints:
    """Complex ADC frames ``(L, T, R, N)``, in stream order → float32 points ``(n, 5)`` (x, y, z, NaN, snr dB).

    ``processor`` supplies the geometry, range limits and angle estimation; ``threshold_db`` is the detection
    threshold on the frame-to-frame change over its noise floor; at most ``max_points`` (the strongest) per frame.
    """

    def __init__(self, processor: PointCloudProcessor, threshold_db: float = 15.0, max_points: int = 64,
                 lag_frames: int = 1):
        if not (isinstance(lag_frames, int) and lag_frames >= 1):
            raise ConfigError(f"lag_frames must be a whole number of frames ≥ 1, got {lag_frames!r}")
        self.proc, self.threshold_db, self.max_points = processor, threshold_db, max_points
        self.lag_frames = lag_frames
        polar = processor.polar
        self.window = polar.window
        w = polar.doppler_taper / polar.doppler_taper.sum()  # (L,) a static target's loop weights
        self.weights = w.astype(np.float32)[:, None, None, None]
        self.r0, self.r1, self.n_fft = polar.r0, polar.r1, polar.n_range_fft
        zero = int(np.flatnonzero(polar.axes.doppler_bins == 0)[0])
        self.gain = polar.channel_gain[zero]  # (V,) duplicates, (-1)^(a+e), angle taper at zero Doppler
        rng = processor.axes.range_m
        cfg = processor.config
        self.valid = (rng >= cfg.min_range_m) & (rng <= cfg.max_range_fraction * processor.max_range_m)
        self.history: deque[np.ndarray] = deque(maxlen=lag_frames)

    @property
    def previous(self) -> np.ndarray | None:
        """The zero-Doppler part this frame is compared with (``lag_frames`` back), None until there is one."""
        return self.history[0] if len(self.history) == self.lag_frames else None

    def reset(self) -> None:
        """Forget the previous frames (a new stream)."""
        self.history.clear()

    def static(self, x: np.ndarray) -> np.ndarray:
        """One frame ``(L, T, R, N)`` → its zero-Doppler part per virtual channel and range bin ``(V, Nr)``."""
        s = (self.weights * x).sum(axis=0)  # (T, R, N): the loops weighed as the Doppler window does (no BLAS call:
        # a tiny product that a busy machine's BLAS threads make slow)
        s = s - s.mean(axis=-1, keepdims=True)
        r = sfft.fft(s * self.window, n=self.n_fft, axis=-1)[..., self.r0:self.r1]
        return r.reshape(-1, r.shape[-1]) * self.gain[:, None]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        s = self.static(x[0] if x.ndim == 5 else x)
        prev = self.previous
        self.history.append(s)
        if prev is None:
            return np.zeros((0, 5), np.float32)
        change = s - prev  # (V, Nr)
        power = (change.real ** 2 + change.imag ** 2).sum(axis=0).astype(np.float64)  # (Nr,)
        # the change is noise nearly everywhere (clutter cancels): its median over range is the noise floor
        # (× 1/ln 2 for exponential power)
        noise = max(float(np.median(power[self.valid])) / np.log(2), 1e-30)
        mask = (power > noise * 10 ** (self.threshold_db / 10)) & self.valid
        mask &= power >= maximum_filter1d(power, 3, mode="nearest")
        r_idx = np.flatnonzero(mask)
        if len(r_idx) > self.max_points:
            r_idx = r_idx[np.argsort(power[r_idx])[::-1][: self.max_points]]
        if not len(r_idx):
            return np.zeros((0, 5), np.float32)
        snr = 10 * np.log10(power[r_idx] / noise)
        return self.proc.locate(change[:, r_idx].T, r_idx, np.full(len(r_idx), np.nan), snr)
