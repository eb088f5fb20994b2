"""End to end through the CLI: capture-adc, record (emulated rig, Ctrl-C), emulate, bench capture."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from rfpose.cli import main
from rfpose.drivers.emulators.adc_frames import SyntheticAdc
from rfpose.drivers.rig import load_rig, parse_rig
from rfpose.errors import ConfigError

pytestmark = pytest.mark.timeout(120)
F = 786_432


def test_capture_adc_emulated_is_byte_exact(tmp_path, addrs, capsys):
    host, fpga = addrs
    out = tmp_path / "adc_data.bin"
    assert main(["capture-adc", "--board", "awr1843boost", "--frames", "4", "--out", str(out), "--emulate",
                 "--host-ip", host, "--fpga-ip", fpga, "--packet-delay-us", "5"]) == 0
    assert "4 frames (0 incomplete, 0 bytes lost)" in capsys.readouterr().out
    data = out.read_bytes()
    adc = SyntheticAdc("counter")
    assert data == b"".join(adc.frame(k, F) for k in range(4))
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["board"] == "awr1843boost" and meta["frame_bytes"] == F and meta["num_frames"] == 4
    assert meta["frames"]["complete"] == [True] * 4 and meta["frames"]["lost_bytes"] == [0] * 4
    assert meta["cfg"].startswith("% rfpose default") and meta["fpga_version"] == "2.8"
    ts = meta["frames"]["timestamp_ns"]
    assert all(b > a for a, b in zip(ts, ts[1:]))


def test_capture_adc_without_radar_times_out_cleanly(tmp_path, addrs, capsys):
    """No CLI port and nobody starts the radar: the DCA answers but no data comes."""
    from rfpose.drivers.emulators.dca1000 import DCA1000Emulator

    host, fpga = addrs
    out = tmp_path / "adc_data.bin"
    with DCA1000Emulator(SyntheticAdc(), fpga_ip=fpga, host_ip=host):
        code = main(["capture-adc", "--board", "awr1843boost", "--frames", "2", "--out", str(out), "--host-ip", host,
                     "--fpga-ip", fpga, "--timeout", "0.5"])
    assert code == 2
    assert "no radar data from the DCA1000" in capsys.readouterr().err
    assert json.loads(out.with_suffix(".json").read_text())["num_frames"] == 0


def test_record_emulated_rig(tmp_path, emulated_rig, capsys):
    from rfpose.session import SessionReader

    rig = emulated_rig("loss_rate = 0.002\nseed = 4")
    out = tmp_path / "s.zarr"
    assert main(["record", "--rig", str(rig), "--out", str(out), "--duration", "1.2", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    n = summary["radar"]["frames"]
    assert n >= 8
    s = SessionReader(out).stream("radar")
    assert len(s) == n and s.metadata["board"] == "awr1843boost"
    adc = SyntheticAdc("counter", seed=4)
    lost = 0
    for i in range(len(s)):
        f = s[i]
        src = np.frombuffer(adc.frame(f.index, F), np.int16)
        keep = f.adc != 0
        assert np.array_equal(f.adc[keep], src[keep])
        lost += f.lost_bytes
        assert f.complete == (f.lost_bytes == 0)
    assert lost == summary["radar"]["lost_bytes"] > 0


def test_record_stops_cleanly_on_sigint(tmp_path, emulated_rig):
    from rfpose.session import SessionReader

    rig = emulated_rig()
    out = tmp_path / "s.zarr"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "rfpose", "-v", "record", "--rig", str(rig), "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # wait for the first status line
            line = proc.stderr.readline()
            if "record: radar" in line or not line:
                break
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    n = int(stdout.split("radar: ")[1].split(" frames")[0])
    s = SessionReader(out).stream("radar")
    assert len(s) == n >= 5  # every frame counted was committed
    assert all(s[i].complete for i in range(len(s)))


def test_shipped_emulated_rig_parses():
    rig = load_rig("emulated_rig.toml")
    assert rig.emulate and rig.sensors[0].board == "awr1843boost" and rig.sensors[0].fpga_ip == "127.0.0.2"


@pytest.mark.parametrize("text,match", [
    ("[[sensors]]\nname='r'\nkind='sonar'\n", "kind 'sonar'"),
    ("[[sensors]]\nname='r'\nkind='radar'\n", "needs 'board'"),
    ("[[sensors]]\nname='c'\nkind='camera'\nuri='camera://0'\n", "intrinsics"),
    ("[[sensors]]\nname='c'\nkind='lidar'\nuri='pcd:///x'\nfoo=1\n", "unknown key.*foo"),
    ("[rig]\nname='x'\n", "no \\[\\[sensors\\]\\]"),
    ("[rig\n", "not valid TOML"),
    # issue 20: values of the wrong type are ConfigErrors naming the key, never a TypeError
    ("[[sensors]]\nname=['a','b']\nkind='radar'\nboard='awr1843boost'\n", "name = .* must be a string"),
    ("[[sensors]]\nname='r'\nkind='radar'\nboard='awr1843boost'\nemulation=5\n", "emulation: expected a table"),
    ("[[sensors]]\nname='r'\nkind='radar'\nboard='awr1843boost'\npacket_delay_us='fast'\n", "must be a number"),
    ("[[sensors]]\nname='r'\nkind='radar'\nboard='awr1843boost'\n[sensors.emulation]\nseed='x'\n",
     "seed = 'x' must be a whole number"),
    ("[[sensors]]\nname='r'\nkind='radar'\nboard='awr1843boost'\nfpga_ip='192.168.33'\n", "not an IPv4"),
    ("[[sensors]]\nname='r'\nkind='radar'\nboard='awr1843boost'\npacket_delay_us=1\n", "outside the DCA1000"),
    ("[[sensors]]\nname='r'\nkind='radar'\nboard='awr1843boost'\nfpga_port=70000\n", "not a UDP port"),
    ("sensors=[1, 2]\n", "expected a \\[\\[sensors\\]\\] table"),
    ("rig=3\n[[sensors]]\nname='r'\nkind='radar'\nboard='awr1843boost'\n", "must be a table"),
    ("[rig]\nemulate='yes'\n[[sensors]]\nname='r'\nkind='radar'\nboard='awr1843boost'\n", "emulate true or false"),
])
def test_bad_rig_files(text, match):
    with pytest.raises(ConfigError, match=match):
        parse_rig(text, "rig.toml")


def test_emulate_command_runs_and_drivers_talk_to_it(addrs):
    """`rfpose emulate board --dca1000` in another process; the real source drives it."""
    from rfpose.drivers.dca1000_source import DCA1000Source

    host, fpga = addrs
    proc = subprocess.Popen([sys.executable, "-m", "rfpose", "emulate", "board", "--dca1000", "--host-ip", host,
                             "--fpga-ip", fpga, "--duration", "30"], stdout=subprocess.PIPE, text=True)
    try:
        lines = [proc.stdout.readline(), proc.stdout.readline()]
        pty = next(ln.split(" on ")[1].strip() for ln in lines if "CLI on" in ln)
        got = []
        with DCA1000Source("awr1843boost", None, host_ip=host, fpga_ip=fpga, cli_port=pty,
                           packet_delay_us=5) as src:
            for f in src:
                got.append(f)
                if len(got) == 3:
                    break
        assert [f.index for f in got] == [0, 1, 2] and all(f.complete for f in got)
        assert got[1].adc.tobytes() == SyntheticAdc("counter").frame(1, F)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(10)
    assert proc.returncode == 0


def test_bench_capture_short(tmp_path, capsys):
    out = tmp_path / "b.json"
    assert main(["bench", "capture", "--seconds", "0.7", "--delays-us", "25", "--json", "--out", str(out),
                 "--host-ip", "127.0.99.1", "--fpga-ip", "127.0.99.2"]) == 0
    doc = json.loads(out.read_text())
    assert doc["machine"]["cores"] >= 1
    paced, unpaced = doc["rows"]
    for r in doc["rows"]:
        assert {"offered_mbps", "received_mbps", "seconds", "lost_packets", "receiver_cpu_percent"} <= set(r)
        assert r["received_mbps"] > 0 and r["receiver_cpu_percent"] > 0
    assert paced["offered_mbps"] == pytest.approx(319.3, abs=0.5)
    assert unpaced["packet_delay_us"] == "unpaced"
    assert json.loads(capsys.readouterr().out)["rows"] == doc["rows"]


def test_a_shared_trigger_is_recorded_in_the_stream_attrs(tmp_path):
    """Cameras declared on one hardware trigger in the rig file carry it as the stream attr ``trigger`` (which
    ``rfpose calibrate`` reads to estimate one clock offset for them); the rig file's word wins over the
    source's, and a camera without one keeps the source's (the simulator's cameras share one)."""
    from rfpose.drivers.recorder import Recorder
    from rfpose.session import SessionReader

    uri = "sim://walk?board=awr1843boost&seed=0&frames=2#cam_left"
    sensors = "".join(f'\n[[sensors]]\nname = "{n}"\nkind = "camera"\nuri = "{uri}"\n{extra}'
                      for n, extra in (("left", 'trigger = "stereo"\n'), ("right", 'trigger = "stereo"\n'), ("sim", "")))
    Recorder(parse_rig(sensors, "rig.toml"), tmp_path / "rec.zarr").run()
    r = SessionReader(tmp_path / "rec.zarr")
    assert r.stream("left").metadata["trigger"] == r.stream("right").metadata["trigger"] == "stereo"
    assert r.stream("sim").metadata["trigger"] == "cameras"
    with pytest.raises(ConfigError, match="trigger = 3 must be a string"):
        parse_rig('[[sensors]]\nname="c"\nkind="camera"\nuri="camera://0"\ntrigger=3\n', "rig.toml")
