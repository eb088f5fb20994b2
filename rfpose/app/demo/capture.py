"""Stages ``capture`` and ``capture-calibration``: recordings through the real drivers."""

from __future__ import annotations

import time

from rfpose.app.demo.config import CAMERA
from rfpose.app.demo.rig import rig_toml
from rfpose.app.demo.state import DemoState, stage


def _record(state: DemoState, name: str, scenario: str, seconds: float | None, frames: int, sensors: tuple[str, ...],
            camera_hz: float) -> dict:
    """Record one capture through the real drivers; returns its summary for the report. ``seconds`` None: until
    every (finite, simulated) source has delivered its last frame, the camera without drops."""
    from rfpose.drivers.recorder import Recorder, summary
    from rfpose.drivers.rig import parse_rig

    rig_path = state.out / "capture" / f"{name}.rig.toml"
    rig_path.parent.mkdir(parents=True, exist_ok=True)
    rig_path.write_text(rig_toml(state.cfg, scenario, frames, sensors, camera_hz, camera_drops=seconds is not None))
    rig = parse_rig(rig_path.read_text(), str(rig_path), rig_path.parent)
    session = state.out / "capture" / f"{name}.zarr"
    t0 = time.perf_counter()
    status = Recorder(rig, session, duration_s=seconds, overwrite=True, status_interval_s=1.0).run()
    wall = time.perf_counter() - t0
    counts = summary(status)
    span = seconds or frames / 10.0
    return {"session": str(session), "scenario": scenario, "rig_file": str(rig_path), "seconds": wall,
            "sensors": {n: {**v, "rate_hz": v["frames"] / span} for n, v in counts.items()}, "sim_frames": frames}


def stage_capture(state: DemoState) -> None:
    cfg = state.cfg
    with stage(state, "capture") as st:
        frames = int(cfg.capture_seconds * 10) + 30  # simulated frames; the emulator loops past the end
        cap = _record(state, "session", cfg.capture_scenario, cfg.capture_seconds, frames,
                      ("radar", "lidar", CAMERA), camera_hz=5.0)
        state.doc["capture"] = cap
        st.items, st.unit = cap["sensors"]["radar"]["frames"], "radar frames"
        st.detail = ", ".join(f"{n}: {v['frames']} frames" for n, v in cap["sensors"].items())


def stage_capture_calibration(state: DemoState) -> None:
    """The captures a user records to calibrate: the ChArUco board moved through its poses in front of the
    LiDAR and camera, and the corner reflector moved through its stops in front of the radar and LiDAR."""
    from rfpose.sim.scenarios import default_frames

    cfg = state.cfg
    with stage(state, "capture-calibration") as st:
        caps = {}
        for name, scenario, sensors in (("board", "calibration-charuco", ("lidar", CAMERA)),
                                        ("reflector", "calibration-reflector", ("radar", "lidar"))):
            frames = default_frames(scenario, cfg.board)
            # the board capture has no radar: it ends when the camera has delivered every frame (5 Hz)
            seconds = None if "radar" not in sensors else frames / 10.0
            caps[name] = _record(state, name, scenario, seconds, frames, sensors, camera_hz=5.0)
        state.doc["calibration_captures"] = caps
        st.items = sum(v["frames"] for c in caps.values() for v in c["sensors"].values())
        st.unit = "frames"
        st.detail = "; ".join(f"{k}: " + ", ".join(f"{n} {v['frames']}" for n, v in c["sensors"].items())
                              for k, c in caps.items())
