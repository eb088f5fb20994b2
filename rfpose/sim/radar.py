"""FMCW TDM-MIMO radar: the IF signal of every chirp, TX, RX and ADC sample from point scatterers.

Signal model (ti-radar-protocols.md §2 for the chirp order; calibration-annotation-simulation.md §5):
for chirp (loop l, TDM slot t) the ramp starts at ``(l·N_tx + t)·T_c`` after the frame start; a scatterer
seen over the path TX→p→RX with delay ``τ = (|p_out − tx| + |p_back − rx|)/c`` gives at ADC sample n
(time ``t_n = adc_start + n/F_s`` after the ramp start)

    s = a · exp(j2π [f0·τ + S·τ·t_n − S·τ²/2])

with f0 the start frequency and S the slope. ``p_out`` and ``p_back`` are the same point except for
floor-bounce paths (image method). τ is evaluated with the scatterer positions at each chirp's own time
(positions are interpolated linearly between the knot times the caller supplies), so targets move between
TDM slots and loops. The amplitude follows the radar equation,
``a = k·sqrt(Pt·Gt·Gr·λ²·σ/((4π)³·R_tx²·R_rx²))``, with a power-cosine element pattern, and the constant k
(ADC counts per √W) set so that receiver noise ``kTB·NF`` (B = F_s) has ``noise_counts_rms`` counts.

Antennas: ``Board.tx_positions``/``rx_positions`` (λ/2 units, az→+y, el→+z) are placed on the plane x = 0
with λ the wavelength at the **start frequency** (``RadarParams.wavelength_m``, TI's convention), element
(0, 0) at the radar frame's origin.

Speed: per group of loops, TX slot and cluster of four adjacent RX (one chip) the sample-dependent phasor
``exp(j2π S τ̄ n/F_s)`` is built once for all K scatterers (τ̄ the group mean), and the chirps of the group
come from one matmul ``(loops·rx, K) @ (K, N)``. The residual ``τ − τ̄`` is kept to first order (a second
matmul), so grouping costs far less than a range bin even for a fast limb. ``loops_per_group=1`` is exact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from rfpose.errors import ShapeError
from rfpose.radar_config import SPEED_OF_LIGHT_M_S, RadarParams
from rfpose.sim.threads import single_blas_thread

BOLTZMANN_J_PER_K = 1.380649e-23


@dataclass(frozen=True)
class ReceiverModel:
    """Front-end constants of the radar equation and the receiver noise.

    ``antenna_gain_dbi`` is per element (TX and RX) at boresight; the power pattern is
    ``cos(off-boresight angle)**pattern_exponent``. ``noise_counts_rms`` is the complex noise rms in ADC
    counts (it fixes the counts-per-√W scale). ``system_loss_db`` lumps feed, mismatch and implementation
    losses. Defaults give a 0 dBsm target at 3 m about 58 ADC counts per sample (+14 dB per-sample SNR with
    the AWR1843 profile, about +38 dB after a 256-point range FFT); a person is a few dB weaker, a +15 dBsm
    wall corner at 6.5 m about as strong.
    """

    tx_power_dbm: float = 12.0
    antenna_gain_dbi: float = 10.0
    system_loss_db: float = 10.0
    pattern_exponent: float = 1.5
    noise_figure_db: float = 15.0
    temperature_k: float = 290.0
    noise_counts_rms: float = 12.0

    def noise_power_w(self, sample_rate_hz: float) -> float:
        return BOLTZMANN_J_PER_K * self.temperature_k * sample_rate_hz * 10 ** (self.noise_figure_db / 10)

    def counts_per_sqrt_w(self, sample_rate_hz: float) -> float:
        return self.noise_counts_rms / math.sqrt(self.noise_power_w(sample_rate_hz))


@dataclass
class Scatterers:
    """Point scatterers over one frame, in the radar's own frame (metres).

    ``times_s``: (M,) knot times from the frame start; ``pos_out``: (M, K, 3) the point the TX path
    reaches; ``pos_back``: (M, K, 3) where the RX path starts (None: same as ``pos_out``);
    ``rcs_m2``: (K,) radar cross-section; ``phase``: (K,) complex unit factors (Swerling fluctuation,
    reflection coefficients); None means 1.
    """

    times_s: np.ndarray
    pos_out: np.ndarray
    rcs_m2: np.ndarray
    pos_back: np.ndarray | None = None
    phase: np.ndarray | None = None

    @property
    def count(self) -> int:
        return int(self.rcs_m2.shape[0])

    @staticmethod
    def concat(parts: list["Scatterers"]) -> "Scatterers":
        parts = [p for p in parts if p.count]
        if not parts:
            return Scatterers(np.zeros(1), np.zeros((1, 0, 3)), np.zeros(0))
        times = parts[0].times_s
        for p in parts[1:]:
            if p.times_s.shape != times.shape or not np.allclose(p.times_s, times):
                raise ShapeError("scatterer sets to concatenate must share their knot times")
        back = None
        if any(p.pos_back is not None for p in parts):
            back = np.concatenate([p.pos_out if p.pos_back is None else p.pos_back for p in parts], axis=1)
        phase = None
        if any(p.phase is not None for p in parts):
            phase = np.concatenate([np.ones(p.count, np.complex128) if p.phase is None else p.phase for p in parts])
        return Scatterers(times, np.concatenate([p.pos_out for p in parts], axis=1),
                          np.concatenate([p.rcs_m2 for p in parts]), back, phase)


@dataclass(frozen=True)
class PointTarget:
    """A point target: position (m, radar frame), constant velocity (m/s) and RCS (dBsm)."""

    position_m: tuple[float, float, float]
    velocity_mps: tuple[float, float, float] = (0.0, 0.0, 0.0)
    rcs_dbsm: float = 0.0


def antenna_positions_m(params: RadarParams, board) -> tuple[np.ndarray, np.ndarray]:
    """``(tx (num_tx, 3) in TDM slot order, rx (num_rx, 3) in cfg RX order)`` in metres, radar frame."""
    half = params.wavelength_m / 2
    tx = board.tx_array()[list(params.tx_order)] * half
    rx = board.rx_array()[list(params.rx_channels)] * half
    z = lambda a: np.stack([np.zeros(len(a)), a[:, 0], a[:, 1]], axis=1)  # noqa: E731
    return z(tx), z(rx)


def chirp_times_s(params: RadarParams) -> np.ndarray:
    """``(loop, tx)`` time of the middle of each chirp's ADC window, from the frame start (s)."""
    idx = np.arange(params.num_loops)[:, None] * params.num_tx + np.arange(params.num_tx)[None, :]
    mid = params.adc_start_time_s + params.num_adc_samples / (2 * params.sample_rate_hz)
    return idx * params.chirp_time_s + mid


def _interp(times_s: np.ndarray, pos: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Linear interpolation of knots ``pos (M, K, 3)`` at times ``t (...)`` -> ``(..., K, 3)``."""
    if pos.shape[0] == 1:
        return np.broadcast_to(pos[0], t.shape + pos.shape[1:])
    j = np.clip(np.searchsorted(times_s, t, side="right") - 1, 0, len(times_s) - 2)
    w = ((t - times_s[j]) / (times_s[j + 1] - times_s[j]))[..., None, None]
    return pos[j] * (1 - w) + pos[j + 1] * w


def _dist(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    d = p - q
    return np.sqrt(np.einsum("...i,...i->...", d, d))


def _cis(phase: np.ndarray) -> np.ndarray:
    """``exp(j·phase)`` as complex64 via float32 cos/sin (SIMD; numpy's complex exp is not)."""
    out = np.empty(phase.shape, np.complex64)
    ph = phase.astype(np.float32, copy=False)
    out.real = np.cos(ph)
    out.imag = np.sin(ph)
    return out


def _phasors(f_cycles: np.ndarray, n_samples: int) -> np.ndarray:
    """``exp(j2π f n)`` for n in [0, N): ``(..., K)`` -> ``(..., K, N)`` complex64, with few exps."""
    b = 16 if n_samples % 16 == 0 else 1
    nb = n_samples // b
    def turns(m):  # phase in [0, 2π) computed in float64, so the float32 cos/sin stay exact
        c = f_cycles[..., None] * m
        return 2 * np.pi * (c - np.floor(c))

    fine = _cis(turns(np.arange(b)))
    coarse = _cis(turns(b * np.arange(nb)))
    return (coarse[..., :, None] * fine[..., None, :]).reshape(*f_cycles.shape, n_samples)


def synthesize_frame(params: RadarParams, board, scat: Scatterers, receiver: ReceiverModel = ReceiverModel(),
                     rng: np.random.Generator | None = None, noise: bool = True,
                     loops_per_group: int = 8) -> np.ndarray:
    """The IF samples of one frame, complex64 ``(loop, tx, rx, sample)`` in ADC counts (not quantised).

    ``rng`` draws the receiver noise (required when ``noise``).
    """
    L, T, R, N = params.frame_shape
    out = np.zeros((L, T, R, N), np.complex64)
    if scat.count:
        tx, rx = antenna_positions_m(params, board)
        tc = chirp_times_s(params)  # (L, T)
        p_out = _interp(scat.times_s, scat.pos_out, tc)  # (L, T, K, 3)
        p_back = p_out if scat.pos_back is None else _interp(scat.times_s, scat.pos_back, tc)
        d_tx = _dist(p_out, tx[None, :, None, :])  # (L, T, K)
        # |p − rx|² = |p|² − 2 p·rx + |rx|² (the RX lie on the plane x = 0): no (L, T, R, K, 3) temporaries
        r2 = np.einsum("ltki,ltki->ltk", p_back, p_back)
        cross = np.einsum("ltki,ri->ltrk", p_back[..., 1:], rx[:, 1:])
        d_rx = np.sqrt(r2[:, :, None, :] - 2 * cross + (rx**2).sum(1)[None, None, :, None])  # (L, T, R, K)
        path = d_tx[:, :, None, :] + d_rx  # (L, T, R, K) metres, c·τ

        lam = params.wavelength_m
        g = 10 ** (receiver.antenna_gain_dbi / 10)
        r_back = np.sqrt(r2)
        cos_tx = np.clip(p_out[..., 0] / np.maximum(d_tx, 1e-9), 0, None)  # element pattern, x = boresight
        cos_rx = np.clip(p_back[..., 0] / np.maximum(r_back, 1e-9), 0, None)
        pt = 10 ** ((receiver.tx_power_dbm - receiver.system_loss_db) / 10) * 1e-3
        const = math.sqrt(pt * g * g * lam**2 / (4 * np.pi) ** 3) * receiver.counts_per_sqrt_w(params.sample_rate_hz)
        # √ of the radar equation per (loop, tx, scatterer); the RX-to-RX spread of R_rx (mm) is ignored in |a|
        pattern = (cos_tx * cos_rx) ** receiver.pattern_exponent
        amp = const * np.sqrt(scat.rcs_m2 * pattern) / np.maximum(d_tx * r_back, 1e-9)
        amp = amp.astype(np.complex64) if scat.phase is None else (amp * scat.phase).astype(np.complex64)
        S, f0, fs = params.slope_hz_per_s, params.start_frequency_hz, params.sample_rate_hz
        # carrier phase at the first ADC sample; the residual video phase −Sτ²/2 (< 1e-4 cycle at 10 m) is dropped
        cycles = path * ((f0 + S * params.adc_start_time_s) / SPEED_OF_LIGHT_M_S)
        phase = (2 * np.pi * (cycles - np.floor(cycles))).astype(np.float32)
        a = _cis(phase)
        a *= amp[:, :, None, :]
        with single_blas_thread():
            _mix(out, a, path * (S / (SPEED_OF_LIGHT_M_S * fs)), max(1, int(loops_per_group)))
    if noise:
        if rng is None:
            raise ValueError("noise=True needs an rng")
        sigma = receiver.noise_counts_rms / math.sqrt(2)
        out += (rng.standard_normal(out.shape, np.float32) * sigma
                + 1j * rng.standard_normal(out.shape, np.float32) * sigma).astype(np.complex64)
    return out


def _mix(out: np.ndarray, a: np.ndarray, cps: np.ndarray, lpg: int, rx_cluster: int = 4) -> None:
    """``out[l,t,r,n] = Σ_k a[l,t,r,k]·exp(j2π f[l,t,r,k] n)`` with ``f = cps`` the beat frequency in cycles
    per sample (S·τ/F_s).

    One phasor matrix per (group of ``lpg`` loops, tx slot, cluster of ``rx_cluster`` adjacent RX — one
    chip's RX, a few λ apart), with the group's mean frequency; the residual is applied to first order.
    """
    L, T, R, N = out.shape
    cl = rx_cluster if R % rx_cluster == 0 else R
    C = R // cl
    jn = (2j * np.pi * np.arange(N)).astype(np.complex64)
    k = cps.shape[-1]
    for l0 in range(0, L, lpg):
        sl = slice(l0, min(L, l0 + lpg))
        g = sl.stop - sl.start
        f_g = cps[sl].reshape(g, T, C, cl, k).transpose(1, 2, 0, 3, 4).reshape(T, C, g * cl, k)
        f_mean = f_g.mean(axis=2)  # (T, C, K)
        ph = _phasors(f_mean, N)  # (T, C, K, N)
        a_g = a[sl].reshape(g, T, C, cl, k).transpose(1, 2, 0, 3, 4).reshape(T, C, g * cl, k)
        a_d = a_g * (f_g - f_mean[:, :, None, :]).astype(np.float32)
        res = a_g @ ph + (a_d @ ph) * jn  # (T, C, g·cl, N)
        out[sl] = res.reshape(T, C, g, cl, N).transpose(2, 0, 1, 3, 4).reshape(g, T, R, N)


def point_target_scatterers(params: RadarParams, targets: list[PointTarget]) -> Scatterers:
    """Constant-velocity point targets as two-knot scatterers spanning the frame (exact for linear motion)."""
    span = max(params.frame_period_s, params.active_chirping_s)
    times = np.array([0.0, span])
    p0 = np.array([t.position_m for t in targets], dtype=np.float64).reshape(-1, 3)
    v = np.array([t.velocity_mps for t in targets], dtype=np.float64).reshape(-1, 3)
    pos = np.stack([p0, p0 + v * span])
    rcs = 10 ** (np.array([t.rcs_dbsm for t in targets], dtype=np.float64) / 10)
    return Scatterers(times, pos, rcs)


def simulate_point_targets(params: RadarParams, board, targets: list[PointTarget], noise: bool = True,
                           rng: np.random.Generator | None = None, receiver: ReceiverModel = ReceiverModel(),
                           loops_per_group: int = 1) -> np.ndarray:
    """IF samples of one frame for point targets: complex64 ``(loop, tx, rx, sample)`` in ADC counts.

    Before quantisation; pass the result to :func:`quantize_and_encode` for wire words. With ``noise``
    an ``rng`` is needed (a default ``np.random.default_rng(0)`` is used if omitted).
    """
    if noise and rng is None:
        rng = np.random.default_rng(0)
    return synthesize_frame(params, board, point_target_scatterers(params, targets), receiver, rng, noise,
                            loops_per_group)


def quantize_and_encode(iq: np.ndarray, params: RadarParams, board) -> np.ndarray:
    """int16 wire words of a frame (``RadarFrame.adc``): 1-D DCA1000 stream or ``(chips, words)`` cascade."""
    from rfpose.sim.adc_layout import encode_for_board

    return encode_for_board(iq, params, board)
