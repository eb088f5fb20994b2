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
        cfg.clusters.top_percentile = 100.0  # 15 ideal joint points, not a surface: the head is the top
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


def test_cfar_point_clusters_from_raw_adc_see_a_fall_reach_the_floor(tmp_path):
    """Without a model: CFAR points from the simulated ADC of a forward fall (sim-falls-v1's radar), clustered
    over 5 frames. The cluster's top (the 80th percentile of its points' heights) is where a person's moving upper
    body is before the fall and near the floor after it: the physics the model-free fall rule reads."""
    from rfpose.app.monitor.config import ClustersConfig, RadarMount
    from rfpose.app.monitor.detect import AdcClusterEstimator
    from rfpose.app.sim_datasets import get_preset
    from rfpose.app.sim_datasets.preset import reduced_cfg
    from rfpose.drivers.open_source import open_source
    from rfpose.session import open_session
    from rfpose.source import RadarFrame

    preset = get_preset("sim-falls-v1")
    path = str(tmp_path / "fall.zarr")
    preset.simulate_session(path, "fall-forward", 5, reduced_cfg(preset.board, preset.adc_samples, preset.loops,
                                                                   preset.frame_period_ms), "cluttered", 0)
    event = open_session(path).attrs["rig"]["people"][0]["event"]
    src = open_source(f"session://{path}#radar")
    est = AdcClusterEstimator(dict(src.metadata), T_room_radar(RadarMount(height_m=1.0)),
                              ClustersConfig(cfar_threshold_db=8.0, min_points=3, top_percentile=80.0))
    tops = []
    try:
        for k, f in enumerate(src):
            dets, ms = est(RadarFrame(k, f.timestamp_ns, f.adc))
            tops.append((f.timestamp_ns * 1e-9, max(dets, key=lambda d: d.score).top_z if dets else np.nan))
            assert ms["total"] >= ms["points"] > 0
    finally:
        src.close()
    t, top = np.array(tops).T
    t -= t[0]
    before = top[(t > 1.0) & (t < event["t_start_s"])]
    after = top[t > event["t_floor_s"] + 1.0]
    assert np.isfinite(before).mean() > 0.8 and np.isfinite(after).mean() > 0.3  # a person lying still fades
    assert np.nanmedian(before) > 0.8 and np.nanmedian(after) < 0.6
    est.flush()
    assert len(est.clusters.pool) == 0
    # with minor-motion points the person lying still stays in view, low, in (almost) every frame
    minor = AdcClusterEstimator(dict(src.metadata), T_room_radar(RadarMount(height_m=1.0)),
                                ClustersConfig(cfar_threshold_db=8.0, min_points=3, top_percentile=80.0,
                                               minor_motion_db=15.0))
    src = open_source(f"session://{path}#radar")
    lying = []
    try:
        for k, f in enumerate(src):
            dets = minor(RadarFrame(k, f.timestamp_ns, f.adc))[0]
            if f.timestamp_ns * 1e-9 - tops[0][0] > event["t_floor_s"] + 1.0:
                lying.append(max(dets, key=lambda d: d.score) if dets else None)
    finally:
        src.close()
    assert sum(d is not None for d in lying) >= 0.95 * len(lying) > 50, len(lying)
    assert np.median([d.top_z for d in lying if d is not None]) < 0.6
    minor.flush()
    assert minor.minor.previous is None
    # the service's own path: a raw-ADC source and no run → these clusters, tracked
    cfg = sim_config(device_id="adc")
    cfg.source.uri = f"session://{path}?realtime=1#radar"  # paced as the device sent it
    cfg.web.enabled = False
    cfg.event_log = str(tmp_path / "ev.sqlite")
    mon = Monitor(cfg)
    seen = []
    mon.listeners.append(seen.append)
    th = threading.Thread(target=mon.run, kwargs={"duration_s": 30}, daemon=True)
    th.start()
    t0 = time.monotonic()
    while not any(p["tracks"] for p in seen) and time.monotonic() - t0 < 30:
        time.sleep(0.1)
    mon.stop()
    th.join(timeout=10)
    assert isinstance(mon._estimator, AdcClusterEstimator) and any(p["tracks"] for p in seen)
