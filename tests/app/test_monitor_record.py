"""``rfpose monitor --record``: the radar stream the monitor watches, recorded through the source fan-out —
byte-exact to what an emulated DCA1000 sent over UDP while the monitor keeps publishing; an existing
recording is refused without --force."""

import os
import threading
import time

import numpy as np

from rfpose.cli import main
from tests.loopback import loopback_pair




def test_recording_while_monitoring_is_byte_exact_and_the_monitor_keeps_publishing(monitor_run, broker, subscriber,
                                                                                   tmp_path):
    from rfpose.app.monitor.config import MonitorConfig
    from rfpose.app.monitor.service import Monitor
    from rfpose.boards import get_board
    from rfpose.drivers.emulators.adc_frames import SourceAdc
    from rfpose.drivers.emulators.dca1000 import DCA1000Emulator
    from rfpose.drivers.open_source import open_source

    session, run = monitor_run
    sent = [f.adc.copy() for f in open_source(f"session://{session}#radar")]
    host, fpga = loopback_pair()
    board = get_board("awr1843boost")
    dca = DCA1000Emulator(SourceAdc(open_source(f"session://{session}#radar"), loop=True), fpga_ip=fpga,
                          host_ip=host, standalone=True, frame_bytes=board.default_config().derive(board).frame_bytes,
                          frame_period_s=0.1)
    out = tmp_path / "watched.zarr"
    cfg = MonitorConfig(device_id="rec")
    cfg.source.uri = f"dca1000://{host}?fpga={fpga}&board=awr1843boost&delay_us=5"
    cfg.source.record = str(out)
    cfg.model.run = str(run)
    cfg.mqtt.host, cfg.mqtt.port, cfg.mqtt.skeletons = "127.0.0.1", broker.port, True
    cfg.web.enabled = False
    cfg.event_log = str(tmp_path / "ev.sqlite")
    mon = Monitor(cfg)
    th = threading.Thread(target=mon.run, kwargs={"duration_s": 120}, daemon=True)
    th.start()
    try:
        subscriber.wait_for("rfpose/rec/availability", "online", timeout=60)
        since = time.monotonic()
        subscriber.wait_for("rfpose/rec/skeletons", timeout=60, since=since)  # still publishing while recording
        t0 = time.monotonic()
        while mon.recorder.frames < 30 and time.monotonic() - t0 < 60:
            time.sleep(0.1)
    finally:
        mon.stop()
        th.join(timeout=30)
        dca.close()
    assert not th.is_alive() and mon.processed > 0
    got = open_source(f"session://{out}#radar")
    frames = list(got)
    assert len(frames) == mon.recorder.frames >= 30
    assert got.metadata["board"] == "awr1843boost" and got.metadata["cfg_text"]
    # every recorded frame is complete and equal, word for word, to the emulator's frames in order (the
    # emulator loops over the session; the recording starts wherever the monitor joined)
    i0 = next(i for i, a in enumerate(sent) if np.array_equal(a, frames[0].adc))
    for k, f in enumerate(frames):
        assert f.complete and f.lost_bytes == 0
        assert np.array_equal(f.adc, sent[(i0 + k) % len(sent)]), k
    ts = np.array([f.timestamp_ns for f in frames])
    assert np.all(np.diff(ts) > 0)


def test_an_existing_recording_is_refused_without_force(monitor_run, tmp_path, capsys):
    session, run = monitor_run
    out = tmp_path / "rec.zarr"
    out.mkdir()
    argv = ["monitor", "--source", f"session://{session}#radar", "--run", str(run), "--record", str(out),
            "--event-log", str(tmp_path / "e.sqlite")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "exists" in err and "--force" in err and "Traceback" not in err and err.count("\n") == 1
    assert main([*argv, "--force", "--duration", "20"]) == 0  # a finite session: recorded to its end
    from rfpose.drivers.open_source import open_source

    assert len(list(open_source(f"session://{out}#radar"))) == 20
