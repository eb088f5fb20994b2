"""Physics of the FMCW simulator checked with plain numpy FFTs written here (not the project's DSP)."""

import numpy as np
import pytest

from rfpose.boards import get_board
from rfpose.radar_config import SPEED_OF_LIGHT_M_S as C
from rfpose.sim.radar import PointTarget, antenna_positions_m, simulate_point_targets


def _params(board_name):
    b = get_board(board_name)
    return b, b.default_config().derive(b)


def _unit(az_deg, el_deg):
    az, el = np.radians(az_deg), np.radians(el_deg)
    return np.array([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)])


def _range_bin_m(p):
    """Metres per range-FFT bin: beat frequency S·2R/c sampled at Fs over N samples."""
    return C * p.sample_rate_hz / (2 * p.slope_hz_per_s * p.num_adc_samples)


@pytest.mark.parametrize("board_name", ["awr1843boost", "mmwcas"])
def test_point_target_range_doppler_angle(board_name):
    b, p = _params(board_name)
    R, az, el, v_r = 3.1, 20.0, 10.0, -0.4  # approaching
    u = _unit(az, el)
    x = simulate_point_targets(p, b, [PointTarget(tuple(R * u), tuple(v_r * u), 0.0)], noise=True,
                               rng=np.random.default_rng(1))
    L, T, Rn, N = x.shape
    # range FFT (complex baseband: positive beat frequencies only)
    rfft = np.fft.fft(x, axis=-1)
    power_r = (np.abs(rfft) ** 2).sum(axis=(0, 1, 2))
    r_bin = int(np.argmax(power_r[: N // 2]))
    assert abs(r_bin - R / _range_bin_m(p)) <= 1
    # Doppler FFT over loops (one TDM slot's chirps are T·Tc apart)
    dfft = np.fft.fftshift(np.fft.fft(rfft[..., r_bin], axis=0), axes=0)  # (L, T, R)
    d_bin = int(np.argmax((np.abs(dfft) ** 2).sum(axis=(1, 2)))) - L // 2
    lam = p.center_wavelength_m
    f_d = 2 * v_r / lam  # range rate negative -> negative Doppler for the phase exp(+j2π f τ)
    expect = f_d * T * p.chirp_time_s * L
    assert abs(d_bin - expect) <= 1, (d_bin, expect)
    # angle: virtual-array snapshot at the peak, TDM motion phase of slot t removed, steering-vector scan
    snap = dfft[d_bin + L // 2]  # (T, R)
    f_est = d_bin / (T * p.chirp_time_s * L)
    snap = snap * np.exp(-2j * np.pi * f_est * np.arange(T) * p.chirp_time_s)[:, None]
    tx, rx = antenna_positions_m(p, b)
    virt = tx[:, None, :] + rx[None, :, :]  # (T, R, 3)
    azs = np.arange(-60, 60.25, 0.5)
    els = np.arange(-30, 30.25, 0.5)
    best, arg = -1, None
    for e in els:
        dirs = np.stack([_unit(a, e) for a in azs])  # (A, 3)
        # path shortening u·(tx + rx) advances the phase: exp(-j2π u·v/λ)
        steer = np.exp(-2j * np.pi * np.einsum("trk,ak->atr", virt, dirs) / lam)
        resp = np.abs(np.einsum("atr,tr->a", steer.conj(), snap))
        i = int(np.argmax(resp))
        if resp[i] > best:
            best, arg = resp[i], (azs[i], e)
    assert abs(arg[0] - az) <= 2.0, arg
    assert abs(arg[1] - el) <= 4.0, arg


def test_two_targets_are_resolved():
    b, p = _params("awr1843boost")
    rb = _range_bin_m(p)
    r1 = 40.3 * rb
    r2 = r1 + 2.5 * p.range_resolution_m  # 2.5 resolution cells apart (c/2B), off the bin grid
    x = simulate_point_targets(p, b, [PointTarget((r1, 0, 0)), PointTarget((r2, 0, 0))], noise=False)
    spec = np.abs(np.fft.fft(x[0, 0, 0])) ** 2
    b1, b2 = int(round(r1 / rb)), int(round(r2 / rb))
    assert abs(int(np.argmax(spec[: b1 + 1 + (b2 - b1) // 2])) - b1) <= 1
    assert abs(int(np.argmax(spec[b1 + (b2 - b1) // 2:])) + b1 + (b2 - b1) // 2 - b2) <= 1
    valley = spec[b1 + 1: b2].min()
    assert valley < 0.5 * min(spec[b1], spec[b2])


def test_doubling_range_costs_12_db():
    b, p = _params("awr1843boost")
    rb = _range_bin_m(p)
    snr = []
    for k in (30, 60):  # exactly on bin centres: no scalloping difference
        x = simulate_point_targets(p, b, [PointTarget((k * rb, 0, 0), rcs_dbsm=10.0)], noise=True,
                                   rng=np.random.default_rng(k))
        rd = np.fft.fft(np.fft.fft(x, axis=-1), axis=0)  # (doppler, tx, rx, range)
        pw = (np.abs(rd) ** 2).sum(axis=(1, 2))
        peak = pw[0, k]
        noise_mean = pw[5:-5, 150:].mean()  # far from the target: noise only
        snr.append(10 * np.log10((peak - noise_mean) / noise_mean))
    assert abs((snr[0] - snr[1]) - 12.04) <= 1.0, snr


def test_noise_level_and_radar_equation_scale():
    """Receiver noise has the configured rms; a 0 dBsm target at 3 m follows the radar equation by hand."""
    from rfpose.sim.radar import ReceiverModel

    b, p = _params("awr1843boost")
    n = simulate_point_targets(p, b, [], noise=True, rng=np.random.default_rng(3))
    assert abs(np.sqrt(np.mean(np.abs(n) ** 2)) - ReceiverModel().noise_counts_rms) < 0.2
    x = simulate_point_targets(p, b, [PointTarget((3.0, 0, 0), rcs_dbsm=0.0)], noise=False)
    rec = ReceiverModel()
    pr = (10 ** ((rec.tx_power_dbm - rec.system_loss_db) / 10) * 1e-3 * 10 ** (2 * rec.antenna_gain_dbi / 10) * p.wavelength_m**2
          / ((4 * np.pi) ** 3 * 3.0**4))
    want = np.sqrt(pr) * rec.counts_per_sqrt_w(p.sample_rate_hz)
    assert np.allclose(np.abs(x), want, rtol=2e-3)
    assert 20 < want < 200  # tens of counts: realistic int16 ADC levels


def test_grouped_synthesis_matches_exact_chirp_by_chirp():
    """The fast path (phasors shared by 8 loops, first-order residual) against the exact per-chirp sum,
    for 300 scatterers moving at limb speeds."""
    from rfpose.sim.radar import Scatterers, synthesize_frame

    for name in ("awr1843boost", "mmwcas"):
        b, p = _params(name)
        rng = np.random.default_rng(7)
        K = 300 if name == "awr1843boost" else 60
        pos = rng.uniform([1.5, -1.5, -1], [5, 1.5, 1], (K, 3))
        vel = rng.normal(0, 1.0, (K, 3))  # |v| mostly 1–3 m/s, a few faster (the error grows as v²)
        span = p.active_chirping_s
        sc = Scatterers(np.array([0.0, span]), np.stack([pos, pos + vel * span]), rng.uniform(0.001, 0.05, K))
        exact = synthesize_frame(p, b, sc, noise=False, loops_per_group=1)
        fast = synthesize_frame(p, b, sc, noise=False, loops_per_group=8)
        err = np.linalg.norm(fast - exact) / np.linalg.norm(exact)
        assert err < 0.03, (name, err)
