"""A demo-firmware board's point clouds (the UART emulator on a pty, with garbage and corrupted packets)
through the monitor: clusters → one tracked person following the simulated one, presence, posture."""

import threading
import time

import numpy as np
from monitor_sim import sim_config

from rfpose.app.monitor.room import T_room_radar, apply
from rfpose.app.monitor.service import Monitor
from rfpose.drivers.emulators.uart import UartEmulator, simulated_points


def test_uart_point_clouds_are_tracked_as_one_person(tmp_path):
    from rfpose.sim.scenarios import build_rig

    seen = []
    with UartEmulator(simulated_points("walk", seed=2, frame_period_s=0.1), frame_period_s=0.1, garbage_rate=0.2,
                      corrupt_rate=0.05, seed=2) as uart:
        cfg = sim_config(device_id="pts")
        cfg.source.uri = f"uart://{uart.path}"
        cfg.web.enabled = False
        cfg.event_log = str(tmp_path / "ev.sqlite")
        mon = Monitor(cfg)
        mon.listeners.append(lambda p: seen.append((p, list(uart.sent))))
        th = threading.Thread(target=mon.run, kwargs={"duration_s": 60}, daemon=True)
        th.start()
        t0 = time.monotonic()
        while len(seen) < 40 and time.monotonic() - t0 < 40:
            time.sleep(0.1)
        mon.stop()
        th.join(timeout=10)
    assert len(seen) >= 40
    truth = build_rig("walk", seed=2, num_frames=600, board="awr1843boost", camera=False, lidar=False)
    T = T_room_radar(cfg.room.radar)
    tracked = [(p, sent) for p, sent in seen if p["tracks"]]
    assert len(tracked) >= len(seen) - 6  # confirmed within a few frames, then kept
    assert {t["id"] for p, _ in tracked for t in p["tracks"]} == {1}
    for p, sent in tracked[-10:]:
        frame_number = sent[-1]  # the newest packet sent when this frame was processed (±1 frame)
        pelvis = apply(T, truth.ground_truth(frame_number * 0.1)[0, 0])
        assert np.linalg.norm(np.array(p["tracks"][0]["position"][:2]) - pelvis[:2]) < 0.5
    last = seen[-1][0]["state"]
    assert last["occupied"] and last["count"] == 1 and last["people"][0]["posture"] == "standing"
    assert mon.reader.opened.kind == "points"
