"""The mmWave CLI driver: reply rules, port matching, and the driver against the board emulator on a
real pty (serial.Serial opens the slave path; nothing is mocked)."""

from types import SimpleNamespace

import pytest

from rfpose.boards import get_board
from rfpose.drivers.emulators.board import BoardEmulator
from rfpose.drivers.mmwave_cli import CliCommandError, MmwaveCli, classify_reply
from rfpose.drivers.serial_ports import match_radar_ports
from rfpose.errors import DeviceError, DeviceTimeout
from rfpose.radar_config import parse_cfg

pytestmark = pytest.mark.timeout(60)


# -- reply rules (pure) ---------------------------------------------------------------------------

@pytest.mark.parametrize("raw,status,code", [
    ("channelCfg 15 7 0\nDone\n\r", "done", None),
    ("% comment\nSkipped\n\r", "skipped", None),
    ("sensorStop\nIgnored: Sensor is already stopped\n\rDone\n\r", "ignored", None),
    ("profileCfg 0\nError: Invalid usage of the CLI command\n\rError -1\n\r", "error", -1),
    ("sensorStart\nError -2049\n\r", "error", -2049),
    ("foo 1\n'foo' is not recognized as a CLI command\n\r", "unknown", None),
    ("frameCfg 0 2\nsomething odd\n\r", "unexpected", None),
    ("frameCfg 0 2\n", "unexpected", None),
    ("Debug: x\nDone\n", "done", None),
])
def test_classify_reply(raw, status, code):
    cmd = raw.split("\n")[0]
    r = classify_reply(cmd, raw)
    assert (r.status, r.code) == (status, code)
    assert r.ok == (status in ("done", "skipped", "ignored"))


# -- finding the ports (pure logic over ListPortInfo-like records) --------------------------------

def _port(device, vid, pid, sn, interface):
    return SimpleNamespace(device=device, vid=vid, pid=pid, serial_number=sn, interface=interface,
                           description=f"XDS110 - {interface}", location="1-1:1.0")


def test_match_ports_pairs_by_serial_number():
    ports = [
        _port("/dev/ttyACM1", 0x0451, 0xBEF3, "R1", "XDS110 Class Auxiliary Data Port"),
        _port("/dev/ttyACM0", 0x0451, 0xBEF3, "R1", "XDS110 Class Application/User UART"),
        _port("/dev/ttyACM3", 0x0451, 0xBEF3, "R2", "XDS110 Class Auxiliary Data Port"),
        _port("/dev/ttyACM2", 0x0451, 0xBEF3, "R2", "XDS110 Class Application/User UART"),
        _port("/dev/ttyUSB0", 0x10C4, 0xEA70, "C1", "Enhanced Com Port"),
        _port("/dev/ttyUSB1", 0x10C4, 0xEA70, "C1", "Standard Com Port"),
        _port("/dev/ttyUSB5", 0x0403, 0x6001, "F1", "FT232R"),            # not a radar
        _port("/dev/ttyACM9", 0x0451, 0xBEF3, "R3", "XDS110 Class Debug"),  # JTAG side: ignored
    ]
    found = match_radar_ports(ports)
    assert [(p.cli, p.data, p.serial_number, p.bridge) for p in found] == [
        ("/dev/ttyACM0", "/dev/ttyACM1", "R1", "XDS110"),
        ("/dev/ttyACM2", "/dev/ttyACM3", "R2", "XDS110"),
        ("/dev/ttyUSB0", "/dev/ttyUSB1", "C1", "CP2105"),
    ]


def test_match_ports_uses_description_when_interface_missing():
    p = SimpleNamespace(device="/dev/ttyACM0", vid=0x0451, pid=0xBEF3, serial_number="X", interface=None,
                        description="XDS110 (03.00.00.25) Embed with CMSIS-DAP - Application/User UART")
    assert match_radar_ports([p])[0].cli == "/dev/ttyACM0"


def test_unopenable_port_is_a_device_error(tmp_path):
    with pytest.raises(DeviceError, match="cannot open radar CLI port"):
        MmwaveCli(str(tmp_path / "nope"))


# -- the driver against the emulated board on a pty ------------------------------------------------

@pytest.fixture
def board():
    b = BoardEmulator("awr1843boost")
    yield b
    b.close()


def test_configure_start_stop_default_cfg(board):
    cfg = get_board("awr1843boost").default_config()
    with MmwaveCli(board.path, timeout_s=2) as cli:
        applied = cli.configure(cfg)
        assert "sensorStart" not in applied and applied[0] == "sensorStop"
        assert len(applied) == len(cfg.cli_lines()) - 1
        cli.sensor_start()
        assert board.running and board.params.frame_bytes == 786432
        assert cli.sensor_start().status == "ignored"
        cli.sensor_stop()
        assert cli.sensor_stop().status == "ignored"  # "Ignored: Sensor is already stopped"
        assert cli.send("% a comment").status == "skipped"


def test_failing_line_names_line_number_and_applied_lines(board):
    from rfpose.radar_config import RadarConfig, RawCommand

    cfg = parse_cfg("sensorStop\nflushCfg\n% comment\nchannelCfg 15 7 0\n", "x.cfg")
    # a command this firmware does not know, at line 5 of the file
    cfg = RadarConfig(cfg.entries + (RawCommand("fooCfg", ("1",), line=5),), "x.cfg")
    with MmwaveCli(board.path) as cli:
        with pytest.raises(CliCommandError, match=r"line 5: 'fooCfg 1' is not a command") as e:
            cli.configure(cfg)
        assert e.value.line_number == 5
        assert e.value.applied == ["sensorStop", "flushCfg", "channelCfg 15 7 0"]
        assert "3 earlier lines were applied" in str(e.value)
        with pytest.raises(CliCommandError, match=r"line 9: 'adcCfg 2' failed with Error -1"):
            cli.run("adcCfg 2", line_number=9)  # wrong argument count: the firmware's Error -1


def test_configure_stops_at_the_first_bad_line(board, tmp_path):
    text = get_board("awr1843boost").default_cfg_text()
    lines = text.splitlines()
    i = next(n for n, ln in enumerate(lines) if ln.startswith("frameCfg"))
    # 300 loops: parses, but the board's validation on sensorStart rejects it (max 255)
    lines[i] = "frameCfg 0 2 300 0 100 1 0"
    cfg = parse_cfg("\n".join(lines), "bad.cfg")
    with MmwaveCli(board.path) as cli:
        applied = cli.configure(cfg)  # the per-line syntax is fine
        with pytest.raises(CliCommandError, match="sensorStart.*Error -1") as e:
            cli.sensor_start()
        assert "out of range" in e.value.reply
    assert not board.running and applied


def test_unknown_command_is_an_error_naming_it(board):
    with MmwaveCli(board.path) as cli:
        with pytest.raises(CliCommandError, match="not a command this firmware knows") as e:
            cli.run("fooCfg 1 2", line_number=7)
        assert e.value.line_number == 7 and "fooCfg" in e.value.reply


def test_silent_board_times_out_naming_the_command():
    b = BoardEmulator("awr1843boost", silent_after=1)
    try:
        with MmwaveCli(b.path, timeout_s=0.3) as cli:
            cli.run("sensorStop")
            with pytest.raises(DeviceTimeout, match="'flushCfg'"):
                cli.run("flushCfg")
    finally:
        b.close()
