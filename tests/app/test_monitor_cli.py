"""``rfpose monitor`` end to end: a recorded AWR1843 session replayed in real time through a trained run into
a real broker; the monitor survives the emulated DCA1000 being killed and restarted; user mistakes are one
line and exit code 2."""

import json
import os
import subprocess
import sys
import threading
import time

import pytest

from rfpose.cli import main
from tests.loopback import loopback_pair


def test_quick_form_replays_a_session_through_a_trained_run_into_mqtt(monitor_run, broker, subscriber, tmp_path):
    session, run = monitor_run
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "rfpose", "monitor", "--source", f"session://{session}?realtime=1&loop=1#radar",
         "--run", str(run), "--mqtt", f"127.0.0.1:{broker.port}", "--device-id", "cli", "--radar-height", "1.0",
         "--event-log", str(tmp_path / "ev.sqlite"), "--duration", "25"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        subscriber.wait_for("homeassistant/device/cli/config", timeout=60)
        subscriber.wait_for("rfpose/cli/availability", "online", timeout=60)
        t0 = time.monotonic()
        while time.monotonic() - t0 < 30:
            diag = subscriber.last("rfpose/cli/diagnostics")
            if diag and json.loads(diag)["fps"] > 0:
                break
            time.sleep(0.2)
        d = json.loads(subscriber.last("rfpose/cli/diagnostics"))
        assert d["fps"] > 0 and d["latency_ms_p50"] > 0 and d["cpu_percent"] > 0  # (the machine may be loaded)
        proc.terminate()  # systemd's stop: SIGTERM → offline published, clean exit
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert "rfpose monitor: session://" in out and "MQTT 127.0.0.1" in out
        subscriber.wait_for("rfpose/cli/availability", "offline", timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert (tmp_path / "ev.sqlite").exists()


@pytest.mark.parametrize("argv, words", [
    (["--source", "camera://0"], "radar only"),
    (["--source", "sim://walk", "--config", "x.toml"], "do not mix"),
    (["--config", "/nonexistent/monitor.toml"], "cannot read"),
    (["--source", "sim://walk", "--run", "/nonexistent-run"], "not a training run"),
    (["--source", "sim://walk", "--mqtt", "host:notaport"], "HOST:PORT"),
    ([], "give --config"),
])
def test_user_mistakes_are_one_line_errors(argv, words, capsys, tmp_path):
    assert main(["monitor", *argv, "--event-log", str(tmp_path / "e.sqlite")]) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err and err.count("\n") == 1


def test_config_file_errors_name_the_line(tmp_path, capsys):
    p = tmp_path / "monitor.toml"
    p.write_text('[source]\nuri = "uart:///dev/ttyACM1"\n\n[tracking]\ngate_m = -1\n[web]\nenabled = false\n')
    assert main(["monitor", "--config", str(p)]) == 2
    assert f"{p}:5: tracking.gate_m: must be positive" in capsys.readouterr().err




def test_killed_and_restarted_dca1000_goes_offline_then_recovers_without_restart(monitor_run, broker, subscriber,
                                                                                tmp_path):
    from rfpose.app.monitor.config import MonitorConfig
    from rfpose.app.monitor.service import Monitor
    from rfpose.boards import get_board
    from rfpose.drivers.emulators.adc_frames import SourceAdc
    from rfpose.drivers.emulators.dca1000 import DCA1000Emulator
    from rfpose.drivers.open_source import open_source

    session, run = monitor_run
    host, fpga = loopback_pair()
    board = get_board("awr1843boost")
    frame_bytes = board.default_config().derive(board).frame_bytes

    def emulator():
        return DCA1000Emulator(SourceAdc(open_source(f"session://{session}#radar"), loop=True), fpga_ip=fpga,
                               host_ip=host, standalone=True, frame_bytes=frame_bytes, frame_period_s=0.1)

    cfg = MonitorConfig(device_id="dca")
    cfg.source.uri = f"dca1000://{host}?fpga={fpga}&board=awr1843boost&delay_us=5"
    cfg.model.run = str(run)
    cfg.mqtt.host, cfg.mqtt.port = "127.0.0.1", broker.port
    cfg.web.enabled = False
    cfg.event_log = str(tmp_path / "ev.sqlite")
    dca = emulator()
    mon = Monitor(cfg)
    th = threading.Thread(target=mon.run, kwargs={"duration_s": 120}, daemon=True)
    th.start()
    try:
        subscriber.wait_for("rfpose/dca/availability", "online", timeout=60)
        killed = time.monotonic()
        dca.close()  # unplugged
        m = subscriber.wait_for("rfpose/dca/availability", "offline", since=killed, timeout=5)
        assert m[0] - killed <= 2.0
        time.sleep(3.0)
        back = time.monotonic()
        dca = emulator()  # plugged in again
        m = subscriber.wait_for("rfpose/dca/availability", "online", since=back, timeout=10)
        assert m[0] - back <= 5.0
        n = mon.processed
        time.sleep(1.0)
        assert mon.processed > n and th.is_alive() and mon.reader.reconnects >= 1
    finally:
        mon.stop()
        th.join(timeout=15)
        dca.close()
