"""The .cfg model: every shipped file round-trips, derived values match hand computation, and malformed
files give a ConfigError naming file and line."""

import json
import math

import pytest

from rfpose.boards import BOARDS, get_board
from rfpose.cli import main
from rfpose.errors import ConfigError, UnknownNameError
from rfpose.radar_config import (
    SPEED_OF_LIGHT_M_S,
    Blank,
    ChirpCfg,
    Comment,
    ProfileCfg,
    RawCommand,
    load_cfg,
    parse_cfg,
    validate_cfg,
)

C = SPEED_OF_LIGHT_M_S


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_shipped_cfg_round_trips(name, tmp_path):
    board = get_board(name)
    cfg = board.default_config()
    out = tmp_path / "back.cfg"
    cfg.save(out)
    again = load_cfg(out, board)
    assert again == cfg
    assert again.to_text() == cfg.to_text()
    assert again.derive(board) == cfg.derive(board)


def test_round_trip_keeps_comments_blanks_and_verbatim_commands():
    text = "% header\n\nsensorStop\n" + get_board("awr1843boost").default_cfg_text().split("sensorStop\n", 1)[1]
    cfg = parse_cfg(text)
    assert isinstance(cfg.entries[0], Comment) and cfg.entries[0].text == " header"
    assert isinstance(cfg.entries[1], Blank)
    gui = cfg.raw("guiMonitor")[0]
    assert isinstance(gui, RawCommand) and gui.args == ("-1", "0", "0", "0", "0", "0", "0")
    assert parse_cfg(cfg.to_text()) == cfg


def test_profile_has_all_14_parameters_typed():
    p = get_board("awr1843boost").default_config().profiles[0]
    assert isinstance(p, ProfileCfg)
    assert len(ProfileCfg.arg_fields()) == 14
    assert (p.start_freq_ghz, p.freq_slope_mhz_per_us, p.num_adc_samples, p.dig_out_sample_rate_ksps) == \
        (77.0, 70.006, 256, 5000.0)


def test_awr1843_hand_computed_case():
    """Reference §3: 77 GHz, 70.006 MHz/us, 256 samples at 5 Msps, 64 loops, 3 TX, T_c = 166 us."""
    board = get_board("awr1843boost")
    p = board.default_config().derive(board)
    assert p.num_tx == 3 and p.num_rx == 4 and p.tx_order == (0, 1, 2)
    # Δr = c·Fs/(2·S·N) = 299792458·5e6 / (2·70.006e12·256) = 0.041820 m
    assert p.range_resolution_m == pytest.approx(0.041820, abs=1e-5)
    assert round(p.range_resolution_m * 100, 2) == 4.18
    # r_max = c·Fs/(2·S) = 10.706 m (complex sampling)
    assert p.max_range_m == pytest.approx(10.706, abs=1e-3)
    # v_max = λ/(4·N_tx·T_c) with λ = c/77 GHz = 3.8934 mm → 1.9545 m/s
    assert p.max_velocity_mps == pytest.approx(1.9545, abs=1e-3)
    # Δv = λ/(2·loops·N_tx·T_c) = 0.06108 m/s
    assert p.velocity_resolution_mps == pytest.approx(0.06108, abs=1e-4)
    # B = S·N/Fs = 70.006e12·51.2e-6 = 3.5843 GHz
    assert p.bandwidth_hz == pytest.approx(3.584307e9, rel=1e-6)
    assert p.chirp_time_s == pytest.approx(166e-6)
    assert p.frame_bytes == 786_432 == 64 * 3 * 4 * 256 * 4
    assert p.data_rate_mbps == pytest.approx(786_432 * 8 / 0.1 / 1e6)
    assert p.complex_sampling and p.layout.q_first and p.layout.lanes == 2 and not p.layout.interleaved
    # centre of the sampled band: f0 + S·(t_adc + N/(2Fs)) = 77e9 + 70.006e12·(5.8e-6 + 25.6e-6)
    assert p.center_frequency_hz == pytest.approx(77e9 + 70.006e12 * 31.4e-6)


def test_cascade_derivation_matches_rtpose():
    """rtpose.md §1: 4.51 cm, 11.54 m, v_max ≈ 1.22-1.25 m/s, 768 chirps, 12 MiB per frame."""
    board = get_board("mmwcas")
    p = board.default_config().derive(board)
    assert (p.num_tx, p.num_rx, p.chirps_per_frame) == (12, 16, 768)
    assert p.tx_order == tuple(range(11, -1, -1))  # TX12 first
    assert p.range_resolution_m == pytest.approx(0.0451, abs=2e-4)
    assert p.max_range_m == pytest.approx(11.53, abs=0.02)
    assert p.max_velocity_mps == pytest.approx(C / 77e9 / (4 * 12 * 65e-6), rel=1e-9)
    assert p.frame_bytes == 768 * 16 * 256 * 4 == 12 * 2**20
    assert not p.layout.q_first


def test_real_sampling_halves_max_range_and_frame_bytes():
    board = get_board("awr1843boost")
    text = board.default_cfg_text().replace("adcCfg 2 1", "adcCfg 2 0").replace("adcbufCfg -1 0 1 1 1",
                                                                              "adcbufCfg -1 1 1 1 1")
    p = validate_cfg(parse_cfg(text), board)
    assert not p.complex_sampling
    assert p.max_range_m == pytest.approx(C * 5e6 / (4 * 70.006e12))
    assert p.frame_bytes == 786_432 // 2


def test_iq_swap_and_lanes_follow_adcbufcfg():
    text = get_board("awr1843boost").default_cfg_text().replace("adcbufCfg -1 0 1 1 1", "adcbufCfg -1 0 0 1 1")
    assert parse_cfg(text).derive().layout.q_first is False
    p = get_board("iwr1443boost").default_config().derive()
    assert p.layout.lanes == 4 and p.layout.interleaved


def test_tx_order_follows_frame_chirps():
    text = get_board("awr1843boost").default_cfg_text().replace(
        "chirpCfg 0 0 0 0 0 0 0 1", "chirpCfg 0 0 0 0 0 0 0 4").replace("chirpCfg 2 2 0 0 0 0 0 4",
                                                                     "chirpCfg 2 2 0 0 0 0 0 1")
    assert parse_cfg(text).derive().tx_order == (2, 1, 0)
    text2 = get_board("awr1843boost").default_cfg_text().replace("frameCfg 0 2 64", "frameCfg 0 1 64")
    p = parse_cfg(text2).derive()
    assert p.tx_order == (0, 1) and p.num_tx == 2 and p.frame_bytes == 64 * 2 * 4 * 256 * 4


def test_board_virtual_array_geometry():
    b = get_board("awr1843boost")
    v = b.virtual_positions((0, 1, 2))
    assert v.shape == (3, 4, 2)
    assert v[0, :, 0].tolist() == [0, 1, 2, 3] and v[2, :, 0].tolist() == [4, 5, 6, 7]
    assert v[1, :, 0].tolist() == [2, 3, 4, 5] and set(v[1, :, 1]) == {1}
    cas = get_board("mmwcas")
    vc = cas.virtual_positions(range(12)).reshape(-1, 2)
    assert len(set(vc[:, 0])) == 86 and set(vc[:, 1]) == {0, 1, 4, 6}  # rtpose.md: 86 az x el rows {0,1,4,6}


def test_unknown_board_lists_valid_names():
    with pytest.raises(UnknownNameError, match="awr1843boost"):
        get_board("awr9999")


# ------------------------------------------------------------------------------------------
# Malformed files: each must name the file and the line.
# ------------------------------------------------------------------------------------------

BASE = get_board("awr1843boost").default_cfg_text()


def _line_of(text: str, startswith: str) -> int:
    for i, line in enumerate(text.splitlines(), 1):
        if line.startswith(startswith):
            return i
    raise AssertionError(startswith)


def _sub(old: str, new: str) -> tuple[str, str]:
    assert old in BASE, old
    return BASE.replace(old, new, 1), new.split()[0] if new.strip() else old.split()[0]


MALFORMED = {
    # name: (text, line-start marker of the offending line, message fragment)
    "unknown command": (BASE.replace("lowPower 0 0", "lowPowr 0 0"), "lowPowr", "unknown command 'lowPowr'"),
    "profileCfg too few args": (BASE.replace("profileCfg 0 77 109 5.8 57 0 0 70.006 1 256 5000 0 0 30",
                                             "profileCfg 0 77 109 5.8 57 0 0 70.006 1 256 5000 0 0"),
                                "profileCfg", "takes 14 arguments, got 13"),
    "chirpCfg too many args": (BASE.replace("chirpCfg 1 1 0 0 0 0 0 2", "chirpCfg 1 1 0 0 0 0 0 2 9"),
                               "chirpCfg 1 1", "takes 8 arguments, got 9"),
    "non-numeric slope": (BASE.replace("70.006 1 256", "fast 1 256"), "profileCfg", "must be a number, got 'fast'"),
    "non-integer samples": (BASE.replace("70.006 1 256", "70.006 1 256.5"), "profileCfg", "must be an integer"),
    "nan frequency": (BASE.replace("profileCfg 0 77 ", "profileCfg 0 nan "), "profileCfg", "must be a number"),
    "txMask outside channelCfg": (BASE.replace("channelCfg 15 7 0", "channelCfg 15 3 0"), "chirpCfg 2 2",
                                  "outside channelCfg"),
    "numLoops zero": (BASE.replace("frameCfg 0 2 64", "frameCfg 0 2 0"), "frameCfg", "num_loops = 0 is out of range"),
    "numLoops too big": (BASE.replace("frameCfg 0 2 64", "frameCfg 0 2 256"), "frameCfg", "out of range [1, 255]"),
    "chirping longer than frame": (BASE.replace("frameCfg 0 2 64 0 100", "frameCfg 0 2 64 0 30"), "frameCfg",
                                   "longer than the frame period"),
    "frame too big for memory": (BASE.replace("frameCfg 0 2 64 0 100", "frameCfg 0 2 128 0 100"), "frameCfg",
                                 "radar cube"),
    "profile id out of range": (BASE.replace("profileCfg 0 77", "profileCfg 4 77"), "profileCfg",
                                "profile_id = 4 is out of range"),
    "chirp uses undefined profile": (BASE.replace("chirpCfg 1 1 0 0", "chirpCfg 1 1 1 0"), "chirpCfg 1 1",
                                     "no profileCfg defines"),
    "frame uses undefined chirp": (BASE.replace("frameCfg 0 2 64", "frameCfg 0 3 64"), "frameCfg",
                                   "chirp 3, which no chirpCfg"),
    "chirp start after end": (BASE.replace("chirpCfg 2 2 0", "chirpCfg 2 1 0"), "chirpCfg 2 1", "after endIdx"),
    "adc sampling past ramp end": (BASE.replace("profileCfg 0 77 109 5.8 57", "profileCfg 0 77 109 5.8 50"),
                                   "profileCfg", "after the ramp ends"),
    "sweep outside band": (BASE.replace("profileCfg 0 77 ", "profileCfg 0 79 "), "profileCfg", "outside the"),
    "sample rate above device": (BASE.replace("256 5000 0 0 30", "256 20000 0 0 30"), "profileCfg",
                                 "exceeds the awr1843boost limit"),
    "adc format mismatch": (BASE.replace("adcCfg 2 1", "adcCfg 2 0"), "adcbufCfg", "disagrees"),
    "rx beyond board": (BASE.replace("channelCfg 15 7 0", "channelCfg 31 7 0"), "channelCfg",
                        "enables RX the awr1843boost does not have"),
    "no rx": (BASE.replace("channelCfg 15 7 0", "channelCfg 0 7 0"), "channelCfg", "enables no RX"),
    "two tx in one chirp": (BASE.replace("chirpCfg 0 0 0 0 0 0 0 1", "chirpCfg 0 0 0 0 0 0 0 3"), "chirpCfg 0 0",
                            "TDM-MIMO needs exactly one"),
    "duplicate frameCfg": (BASE.replace("lowPower 0 0", "frameCfg 0 2 64 0 100 1 0"), "frameCfg 0 2 64 0 100 1 0\nguiMonitor",
                           "more than once"),
    "advanced frame mode": (BASE.replace("dfeDataOutputMode 1", "dfeDataOutputMode 3"), "dfeDataOutputMode",
                            "not supported"),
    "hpf out of range": (BASE.replace("256 5000 0 0 30", "256 5000 7 0 30"), "profileCfg", "hpf1_corner = 7"),
    "interleave wrong for board": (BASE.replace("adcbufCfg -1 0 1 1 1", "adcbufCfg -1 0 1 0 1"), "adcbufCfg",
                                   "chanInterleave 0 does not match"),
    "zero slope": (BASE.replace("70.006 1 256", "0 1 256"), "profileCfg", "no chirp"),
    "duplicate profile": (BASE.replace("lowPower 0 0", "profileCfg 0 77 109 5.8 57 0 0 70.006 1 256 5000 0 0 30"),
                          "profileCfg 0 77 109 5.8 57 0 0 70.006 1 256 5000 0 0 30\nguiMonitor", "defined twice"),
}


def _expected_line(text: str, marker: str) -> int:
    lines = text.splitlines()
    if "\n" in marker:  # the second of two identical lines, identified by what follows it
        first, nxt = marker.split("\n")
        for i in range(len(lines) - 1):
            if lines[i] == first and lines[i + 1].startswith(nxt):
                return i + 1
    return _line_of(text, marker)


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_cfg_names_file_and_line(case, tmp_path):
    text, marker, fragment = MALFORMED[case]
    path = tmp_path / "bad.cfg"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_cfg(path, get_board("awr1843boost"))
    err = info.value
    assert fragment in str(err), str(err)
    assert err.path == str(path)
    assert err.line == _expected_line(text, marker), str(err)
    assert str(err).startswith(f"{path}:{err.line}: ")


def test_at_least_twenty_malformed_cases():
    assert len(MALFORMED) >= 20


def test_missing_command_names_file(tmp_path):
    path = tmp_path / "nofr.cfg"
    path.write_text("\n".join(line for line in BASE.splitlines() if not line.startswith("frameCfg")))
    with pytest.raises(ConfigError, match=r"nofr.cfg: missing frameCfg"):
        load_cfg(path)


def test_missing_and_binary_files(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load_cfg(tmp_path / "absent.cfg")
    binary = tmp_path / "bin.cfg"
    binary.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(ConfigError, match="not a text file"):
        load_cfg(binary)


# ------------------------------------------------------------------------------------------
# rfpose cfg show
# ------------------------------------------------------------------------------------------

REQUIRED_KEYS = {"num_tx", "num_rx", "num_adc_samples", "num_loops", "chirps_per_frame", "frame_period_s",
                 "bandwidth_hz", "range_resolution_m", "max_range_m", "velocity_resolution_mps", "max_velocity_mps",
                 "frame_bytes", "complex_sampling"}


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_cfg_show_json(name, capsys):
    path = str(get_board(name).default_cfg_path())
    assert main(["cfg", "show", path, "--board", name, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert REQUIRED_KEYS <= set(doc)
    assert math.isclose(doc["range_resolution_m"], get_board(name).default_config().derive().range_resolution_m)


def test_cfg_show_table_and_user_error(tmp_path, capsys):
    path = str(get_board("awr1843boost").default_cfg_path())
    assert main(["cfg", "show", path]) == 0
    assert "range_resolution_m" in capsys.readouterr().out
    bad = tmp_path / "bad.cfg"
    bad.write_text(BASE.replace("lowPower 0 0", "lowPowr 0 0"))
    assert main(["cfg", "show", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bad.cfg:" in err and "Traceback" not in err
    assert main(["cfg", "show", path, "--board", "nope"]) == 2
    assert "unknown board 'nope'" in capsys.readouterr().err


def test_typed_command_write_back_is_exact():
    c = ChirpCfg.from_args("0 0 0 0 0 0 0 0x4".split(), "x", 1)
    assert c.tx_mask == 4 and c.to_line() == "chirpCfg 0 0 0 0 0 0 0 4"
    assert ChirpCfg.from_args(c.args(), "x", 1) == c
