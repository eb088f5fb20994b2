"""Configurations of the SDK 1.x and 2.x demos, as real boards still run them: the xWR14xx's four-argument
``adcbufCfg`` (no subFrameIdx), the 1.x/2.x demo commands kept verbatim, and the xWR1642BOOST preset. The
files are written the way TI's demos shipped them; the derived values are computed by hand below."""

import json

import pytest

from rfpose.boards import get_board
from rfpose.cli import main
from rfpose.radar_config import SPEED_OF_LIGHT_M_S as C
from rfpose.radar_config import AdcbufCfg, RawCommand, load_cfg, parse_cfg

# SDK 1.x xWR14xx demo: adcbufCfg adcOutputFmt sampleSwap chanInterleave chirpThreshold; one-argument
# clutterRemoval, four-argument calibDcRangeSig, peakGrouping with no subframe index.
SDK1_XWR14XX = """\
sensorStop
flushCfg
dfeDataOutputMode 1
channelCfg 15 5 0
adcCfg 2 1
adcbufCfg 0 1 0 1
profileCfg 0 77 429 7 57.14 0 0 70 1 240 4884 0 0 30
chirpCfg 0 0 0 0 0 0 0 1
chirpCfg 1 1 0 0 0 0 0 4
frameCfg 0 1 16 0 100 1 0
lowPower 0 1
guiMonitor 1 1 0 0 0 1
cfarCfg 0 2 8 4 3 0 1280
peakGrouping 1 1 1 1 229
multiObjBeamForming 1 0.5
clutterRemoval 0
calibDcRangeSig 0 -5 8 256
compRangeBiasAndRxChanPhase 0.0 1 0 1 0 1 0 1 0 1 0 1 0 1 0 1 0 1 0 1 0 1 0 1 0
measureRangeBiasAndRxChanPhase 0 1.5 0.2
CQRxSatMonitor 0 3 5 123 0
CQSigImgMonitor 0 119 4
analogMonitor 1 1
sensorStart
"""

# SDK 2.x xWR16xx demo: subframe indices everywhere, extendedMaxVelocity, nearFieldCfg, bpmCfg.
SDK2_XWR16XX = """\
sensorStop
flushCfg
dfeDataOutputMode 1
channelCfg 15 3 0
adcCfg 2 1
adcbufCfg -1 0 1 1 1
profileCfg 0 77 429 7 57.14 0 0 70 1 256 5209 0 0 30
chirpCfg 0 0 0 0 0 0 0 1
chirpCfg 1 1 0 0 0 0 0 2
frameCfg 0 1 16 0 100 1 0
lowPower 0 1
guiMonitor -1 1 1 0 0 0 1
cfarCfg -1 0 2 8 4 3 0 15 1
cfarCfg -1 1 0 8 4 4 1 15 1
peakGrouping -1 1 1 1 1 229
multiObjBeamForming -1 1 0.5
clutterRemoval -1 0
calibDcRangeSig -1 0 -5 8 256
extendedMaxVelocity -1 0
bpmCfg -1 0 0 1
lvdsStreamCfg -1 0 0 0
nearFieldCfg -1 0 0 0
compRangeBiasAndRxChanPhase 0.0 1 0 1 0 1 0 1 0 1 0 1 0 1 0 1 0
measureRangeBiasAndRxChanPhase 0 1.5 0.2
CQRxSatMonitor 0 3 5 121 0
CQSigImgMonitor 0 127 4
analogMonitor 0 0
sensorStart
"""


def test_sdk1_adcbufcfg_four_arguments_round_trip(tmp_path):
    path = tmp_path / "xwr14xx_sdk1.cfg"
    path.write_text(SDK1_XWR14XX)
    board = get_board("iwr1443boost")
    cfg = load_cfg(path, board)
    buf = cfg.adcbuf
    assert isinstance(buf, AdcbufCfg)
    assert (buf.sub_frame_idx, buf.adc_output_fmt, buf.sample_swap, buf.chan_interleave, buf.chirp_threshold) == \
        (None, 0, 1, 0, 1)
    assert buf.to_line() == "adcbufCfg 0 1 0 1"
    assert cfg.to_text() == SDK1_XWR14XX and parse_cfg(cfg.to_text()) == cfg
    assert [r.name for r in cfg.entries if isinstance(r, RawCommand)][:3] == ["guiMonitor", "cfarCfg", "peakGrouping"]
    assert cfg.raw("peakGrouping")[0].args == ("1", "1", "1", "1", "229")


def test_sdk1_xwr14xx_derived_values(tmp_path):
    path = tmp_path / "xwr14xx_sdk1.cfg"
    path.write_text(SDK1_XWR14XX)
    board = get_board("iwr1443boost")
    p = load_cfg(path, board).derive(board)
    fs, slope, n = 4.884e6, 70e12, 240
    assert p.tx_order == (0, 2) and p.num_rx == 4 and p.num_loops == 16
    assert p.range_resolution_m == pytest.approx(C * fs / (2 * slope * n))
    assert p.frame_bytes == 16 * 2 * 4 * 240 * 4
    assert p.layout.lanes == 4 and p.layout.interleaved and p.layout.q_first and p.layout.complex
    tc = (429 + 57.14) * 1e-6
    assert p.max_velocity_mps == pytest.approx(p.wavelength_m / (4 * 2 * tc))


def test_sdk2_xwr16xx_on_the_1642_preset(tmp_path):
    path = tmp_path / "xwr16xx_sdk2.cfg"
    path.write_text(SDK2_XWR16XX)
    cfg = load_cfg(path, get_board("awr1642boost"))
    for name in ("peakGrouping", "extendedMaxVelocity", "nearFieldCfg", "bpmCfg", "multiObjBeamForming"):
        assert cfg.raw(name), name
    assert cfg.raw("nearFieldCfg")[0].to_line() == "nearFieldCfg -1 0 0 0"
    assert cfg.to_text() == SDK2_XWR16XX
    board = get_board("iwr1642boost")  # the IWR alias names the same preset
    p = cfg.derive(board)
    assert board.name == "awr1642boost" and p.num_tx == 2 and p.frame_bytes == 16 * 2 * 4 * 256 * 4
    assert board.virtual_positions(p.tx_order)[:, :, 0].ravel().tolist() == list(range(8))


def test_cfg_show_accepts_older_formats(tmp_path, capsys):
    path = tmp_path / "xwr14xx_sdk1.cfg"
    path.write_text(SDK1_XWR14XX)
    assert main(["cfg", "show", str(path), "--board", "iwr1443boost", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["frame_bytes"] == 122880 and shown["layout"]["lanes"] == 4
    assert shown["range_resolution_m"] == pytest.approx(C * 4.884e6 / (2 * 70e12 * 240))


def test_1642_rejects_what_it_cannot_do(tmp_path):
    path = tmp_path / "bad.cfg"
    path.write_text(SDK2_XWR16XX.replace("channelCfg 15 3 0", "channelCfg 15 7 0")
                    .replace("chirpCfg 1 1 0 0 0 0 0 2", "chirpCfg 1 1 0 0 0 0 0 4"))
    assert main(["cfg", "show", str(path), "--board", "awr1642boost"]) == 2


def test_unknown_commands_are_still_refused():
    with pytest.raises(Exception, match="unknown command 'notACommand'"):
        parse_cfg("notACommand 1 2\n")
