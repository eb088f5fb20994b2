"""Polar 4D tensor: point targets at known range/velocity/angle land in the right bins on every board."""

import numpy as np
import pytest

from pp_synth import Target, encode_cascade, encode_dca, if_frame, small_params
from rfpose.errors import ConfigError
from rfpose.preprocessing.decode import decode_cascade_frames, decode_frames
from rfpose.preprocessing.polar import PolarConfig, PolarProcessor
from rfpose.radar_config import SPEED_OF_LIGHT_M_S as C


def _nearest(axis, value):
    return int(np.argmin(np.abs(np.asarray(axis) - value)))


def expected_bins(axes, pos, vel):
    p, v = np.asarray(pos, float), np.asarray(vel, float)
    r = np.linalg.norm(p)
    return (_nearest(axes.velocity_mps, v @ p / r), _nearest(axes.range_m, r), _nearest(axes.sin_az, p[1] / r),
            _nearest(axes.sin_el, p[2] / r))


def peak(t):
    m = np.abs(t)
    return np.unravel_index(int(m.argmax()), m.shape)


def through_wire(p, b, cube):
    """Quantise and encode as the hardware would, then decode (so the chain sees real wire data)."""
    if b.capture == "tda2":
        return decode_cascade_frames(encode_cascade(cube), p)[0]
    return decode_frames(encode_dca(cube, p), p)[0]


BOARDS = ["awr1843boost", "iwr6843isk", "iwr6843aop", "iwr1443boost", "mmwcas"]


@pytest.mark.parametrize("board", BOARDS)
@pytest.mark.parametrize("pos,vel", [((3.0, 0.9, 0.4), (0.6, 0.0, 0.0)), ((5.0, -2.0, -0.6), (-0.4, 0.3, 0.0))])
@pytest.mark.parametrize("windows", [{}, {"doppler_window": "hann", "angle_window": "hann"}])
def test_point_target_lands_in_its_bins(board, pos, vel, windows):
    cfg, p, b = small_params(board, loops=16)
    x = through_wire(p, b, if_frame(p, b, [Target(pos, vel, 500.0)], noise=4.0))
    proc = PolarProcessor(p, b, PolarConfig(azimuth_fft=128 if board == "mmwcas" else 64, elevation_fft=16,
                                            **windows))
    out = proc(x)
    assert out.shape == proc.output_shape and out.dtype == np.complex64
    got, want = peak(out), expected_bins(proc.axes, pos, vel)
    for axis, g, w in zip(("doppler", "range", "azimuth", "elevation"), got, want):
        assert abs(g - w) <= 1, f"{board}: {axis} bin {g}, expected {w}"


def test_tdm_compensation_fixes_the_angle_of_a_fast_target_1843():
    cfg, p, b = small_params("awr1843boost", loops=32)
    pos = np.array([3.0, 1.5, 0.0])
    vel = pos / np.linalg.norm(pos) * 0.8 * p.max_velocity_mps
    x = through_wire(p, b, if_frame(p, b, [Target(tuple(pos), tuple(vel), 500.0)], noise=2.0))
    comp = PolarProcessor(p, b, PolarConfig(azimuth_fft=128, elevation_fft=16))
    plain = PolarProcessor(p, b, PolarConfig(azimuth_fft=128, elevation_fft=16, tdm_compensation=False))
    want = expected_bins(comp.axes, pos, vel)
    g_comp, g_plain = peak(comp(x)), peak(plain(x))
    assert all(abs(g - w) <= 1 for g, w in zip(g_comp, want)), (g_comp, want)
    wrong = max(abs(g_plain[2] - want[2]), abs(g_plain[3] - want[3]))
    assert wrong >= 2, f"without compensation the angle should be off; got bins {g_plain} vs {want}"


def test_tdm_compensation_fixes_the_angle_of_a_fast_target_cascade():
    """The cascade's TX slots step along azimuth, so uncompensated TDM phase shifts and smears the beam.

    The 17 cm aperture puts a few-metre target in the near field; the expected direction is taken from
    the virtual array's phase centre (mean virtual position · λ/4) and the target placed at 8 m.
    """
    from rfpose.preprocessing.decode import rx_channel_order

    cfg, p, b = small_params("mmwcas", loops=32)
    pos = np.array([8.0, -2.0, 0.0])
    vel = pos / np.linalg.norm(pos) * 0.9 * p.max_velocity_mps
    x = through_wire(p, b, if_frame(p, b, [Target(tuple(pos), tuple(vel), 500.0)], noise=2.0))
    centre = b.virtual_positions(p.tx_order, rx_channel_order(p, b)).reshape(-1, 2).mean(0) * p.wavelength_m / 4
    rel = pos - np.array([0.0, centre[0], centre[1]])
    u_true = rel[1] / np.linalg.norm(rel)
    res = {}
    for comp in (True, False):
        proc = PolarProcessor(p, b, PolarConfig(azimuth_fft=1024, elevation_fft=16, tdm_compensation=comp))
        out = np.abs(proc(x))
        g = peak(out)
        res[comp] = (proc.axes.sin_az[g[2]] - u_true, out.max())
    bin_u = 2 / 1024
    assert abs(res[True][0]) <= 1 * bin_u, res
    assert abs(res[False][0]) >= 1.5 * bin_u, res
    assert res[True][1] > 1.1 * res[False][1]  # the uncompensated beam also loses coherent gain


def test_two_targets_resolved_in_azimuth_and_range():
    cfg, p, b = small_params("awr1843boost", loops=16)
    r = 4.0
    t1, t2 = (r * np.sqrt(1 - 0.35 ** 2), -0.35 * r, 0.0), (r * np.sqrt(1 - 0.35 ** 2), 0.35 * r, 0.0)
    t3 = (r + 6 * p.range_resolution_m, 0.0, 0.0)
    x = through_wire(p, b, if_frame(p, b, [Target(t1), Target(t2), Target(t3)], noise=2.0))
    proc = PolarProcessor(p, b, PolarConfig(azimuth_fft=64))
    mag = np.abs(proc(x))
    d0 = _nearest(proc.axes.velocity_mps, 0.0)
    rb = _nearest(proc.axes.range_m, r)
    az = mag[d0, rb].sum(axis=-1)
    pk = [i for i in range(1, len(az) - 1) if az[i] >= az[i - 1] and az[i] >= az[i + 1] and az[i] > 0.5 * az.max()]
    want = sorted(_nearest(proc.axes.sin_az, u) for u in (-0.35, 0.35))
    assert len(pk) == 2 and all(abs(a - w) <= 1 for a, w in zip(pk, want)), (pk, want)
    prof = mag[d0, :, _nearest(proc.axes.sin_az, 0.0)].sum(axis=-1)
    r3 = _nearest(proc.axes.range_m, t3[0])
    assert prof[r3] > 5 * prof[(rb + r3) // 2 + 1]  # a dip between the two range targets


def test_axes_match_hand_computed_values():
    cfg, p, b = small_params("awr1843boost")
    proc = PolarProcessor(p, b)
    ax = proc.axes
    # 70.006 MHz/us, 5 Msps, 256 samples: c·Fs/(2·S·N) = 4.182 cm (ti-radar-protocols.md §3)
    assert ax.range_m[1] == pytest.approx(C * 5e6 / (2 * 70.006e12 * 256))
    assert ax.range_m[1] == pytest.approx(0.04182, abs=1e-5)
    # Doppler bin at the centre wavelength: λc / (2·N_tx·T_c·N_D)
    lam_c = C / p.center_frequency_hz
    assert ax.velocity_mps[1] - ax.velocity_mps[0] == pytest.approx(lam_c / (2 * 3 * p.chirp_time_s * 64))
    assert ax.velocity_mps[32] == 0.0 and len(ax.velocity_mps) == 64
    # angle bins uniform in sin, scaled by λc/λ0 (positions in λ0/2)
    assert ax.sin_az[32] == 0 and ax.sin_az[33] == pytest.approx(2 / 64 * lam_c / p.wavelength_m)


def test_magnitude_crops_and_config_errors():
    cfg, p, b = small_params("awr1843boost", loops=16)
    x = through_wire(p, b, if_frame(p, b, [Target((2.0, 0.0, 0.0), (0.3, 0, 0), 400.0)]))
    full = PolarProcessor(p, b)(x)
    crop = PolarProcessor(p, b, PolarConfig(range_crop=(10, 74), doppler_crop=(4, 12), output="magnitude"))
    got = crop(x)
    assert got.dtype == np.float32 and got.shape == (8, 64, 64, 16)
    np.testing.assert_allclose(got, np.abs(full[4:12, 10:74]), rtol=1e-5, atol=1e-3 * got.max())
    assert crop.axes.range_m[0] == pytest.approx(10 * p.range_resolution_m, rel=1e-3)
    with pytest.raises(ConfigError, match="virtual array spans"):
        PolarProcessor(p, b, PolarConfig(azimuth_fft=4))
    with pytest.raises(ConfigError, match="even"):
        PolarProcessor(p, b, PolarConfig(doppler_fft=17))
    with pytest.raises(ConfigError, match="window"):
        PolarConfig(range_window="kaiser")
    with pytest.raises(ConfigError, match="crop"):
        PolarProcessor(p, b, PolarConfig(range_crop=(0, 999)))


@pytest.mark.parametrize("board", ["awr1843boost", "iwr6843aop", "mmwcas"])
def test_simulator_point_target_lands_in_its_bins(board):
    """The simulator (rfpose.sim, written independently) → wire words → our decode and polar chain."""
    sim = pytest.importorskip("rfpose.sim.radar")
    cfg, p, b = small_params(board, loops=16)
    pos, vel = (3.5, -1.0, 0.5), (0.5, 0.0, 0.0)
    iq = sim.simulate_point_targets(p, b, [sim.PointTarget(pos, vel, 10.0)], noise=True,
                                    rng=np.random.default_rng(1))
    words = sim.quantize_and_encode(iq, p, b)
    x = (decode_cascade_frames(words, p) if b.capture == "tda2" else decode_frames(words, p))[0]
    proc = PolarProcessor(p, b)
    got, want = peak(proc(x)), expected_bins(proc.axes, pos, vel)
    assert all(abs(g - w) <= 1 for g, w in zip(got, want)), (got, want)


@pytest.mark.parametrize("board", ["awr1843boost", "mmwcas"])
@pytest.mark.parametrize("doppler_window", ["none", "hann"])
def test_doppler_last_layout_and_clutter_removal(board, doppler_window):
    cfg, p, b = small_params(board, loops=8)
    x = if_frame(p, b, [Target((2.0, 0.3, 0.0)), Target((3.0, -0.5, 0.2), (0.5, 0, 0))], noise=1.0)
    x = x.astype(np.complex64)[None]
    proc = PolarProcessor(p, b, PolarConfig(clutter_removal=True, azimuth_fft=128, doppler_window=doppler_window))
    a = proc.range_doppler(x)
    d = proc.range_doppler(x, doppler_last=True)
    np.testing.assert_allclose(np.moveaxis(d, -1, 1), a, atol=1e-4 * np.abs(a).max())
    np.testing.assert_allclose(proc.angle_erad(d), np.moveaxis(proc.angle(a, "raed"), 3, 1),
                               atol=1e-4 * np.abs(a).max())
    # the static target is gone, the moving one stays
    pw = (np.abs(a[0]) ** 2).sum(axis=(1, 2))
    rb_static = _nearest(proc.axes.range_m, 2.0227)
    rb_moving = _nearest(proc.axes.range_m, np.linalg.norm([3.0, -0.5, 0.2]))
    assert pw[:, rb_static].max() < 1e-3 * pw[:, rb_moving].max()


def test_windows_taper_without_zero_ends_and_lower_the_doppler_sidelobes():
    from rfpose.preprocessing.polar import _taper

    # MATLAB hanning(4) = sin²(πk/5), k = 1..4: no loop or antenna gets weight 0
    assert _taper("hann", 4) == pytest.approx(np.sin(np.pi * np.arange(1, 5) / 5) ** 2, abs=1e-6)
    cfg, p, b = small_params("awr1843boost", loops=16)
    # a target between two Doppler bins: without a window its sinc sidelobes reach far bins (-13 dB first)
    dv = p.center_wavelength_m / (2 * p.num_tx * p.chirp_time_s * 16)
    x = through_wire(p, b, if_frame(p, b, [Target((3.0, 0.0, 0.0), (2.5 * dv, 0.0, 0.0), 500.0)], noise=0.0))
    far = {}
    for w in ("none", "hann"):
        out = np.abs(PolarProcessor(p, b, PolarConfig(doppler_window=w, elevation_fft=16))(x))
        d, r, a, e = np.unravel_index(int(out.argmax()), out.shape)
        spectrum = out[:, r, a, e] / out[:, r, a, e].max()
        far[w] = np.delete(spectrum, range(d - 2, d + 3)).max()  # beyond the main lobe
    assert far["none"] > 0.1 and far["hann"] < 0.03
