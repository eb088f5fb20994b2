"""A device that vanishes mid-record (issue 20): the board emulator's process is killed, so its CLI pty
closes and the DCA1000 stream stops. `rfpose record` ends with one line naming the device, exit code 3
(partial), and the session holds every frame received before, readable."""

import os
import signal
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.timeout(120)


def test_record_survives_a_vanishing_board_with_a_partial_exit_code(tmp_path, addrs):
    from rfpose.session import SessionReader

    host, fpga = addrs
    emu = subprocess.Popen([sys.executable, "-m", "rfpose", "emulate", "board", "--dca1000", "--host-ip", host,
                            "--fpga-ip", fpga, "--duration", "60"], stdout=subprocess.PIPE, text=True)
    try:
        lines = [emu.stdout.readline(), emu.stdout.readline()]
        pty = next(ln.split(" on ")[1].strip() for ln in lines if "CLI on" in ln)
        rig = tmp_path / "rig.toml"
        rig.write_text(f"""
[[sensors]]
name = "radar"
kind = "radar"
board = "awr1843boost"
host_ip = "{host}"
fpga_ip = "{fpga}"
cli_port = "{pty}"
packet_delay_us = 5
""")
        out = tmp_path / "s.zarr"
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        rec = subprocess.Popen([sys.executable, "-m", "rfpose", "-v", "record", "--rig", str(rig), "--out", str(out)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # wait until frames are being recorded
            line = rec.stderr.readline()
            if "record: radar" in line and " 0 fr" not in line or not line:
                break
        emu.kill()  # the board vanishes: its pty closes, the data stops
        emu.wait(10)
        stdout, stderr = rec.communicate(timeout=60)
    finally:
        for p in (emu, locals().get("rec")):
            if p is not None and p.poll() is None:
                p.kill()
    errors = [ln for ln in stderr.splitlines() if ln.startswith("rfpose record:")]
    assert "Traceback" not in stderr, stderr
    assert rec.returncode == 3, stderr
    assert len(errors) == 1 and "partial" in errors[0] and "radar" in errors[0], stderr
    s = SessionReader(out).stream("radar")
    assert len(s) >= 1 and s.verify() == []
    assert f"{len(s)} frames" in errors[0]
