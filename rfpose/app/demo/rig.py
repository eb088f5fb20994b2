"""The demo's simulated rig: the rig file of each capture, the simulator behind it, and its table."""

from __future__ import annotations

from rfpose.app.demo.config import CAMERA, DemoConfig
from rfpose.app.demo.state import DemoState


def _sim_uri(cfg: DemoConfig, scenario: str, frames: int, stream: str = "", realtime: bool = False,
             extra: str = "") -> str:
    q = f"board={cfg.board}&seed={cfg.seed}&frames={frames}" + ("&realtime=1" if realtime else "") + extra
    return f"sim://{scenario}?{q}" + (f"#{stream}" if stream else "")


def rig_toml(cfg: DemoConfig, scenario: str, frames: int, sensors: tuple[str, ...], camera_hz: float,
             camera_drops: bool = True) -> str:
    """The demo's rig for one capture: an emulated AWR1843 + DCA1000 fed by the simulator, the simulated
    LiDAR and camera replayed live (only ``sensors``). ``camera_drops=False``: the camera delivers every frame
    (late if rendering is slower than real time, stamped with its capture time), as a camera with a deep
    buffer would; the capture then ends when the last frame is rendered."""
    parts = ['# The demo\'s rig: emulated AWR1843 + DCA1000 fed by the simulator, simulated LiDAR and camera live.\n'
             '[rig]\nname = "demo-emulated"\nemulate = true\n']
    if "radar" in sensors:
        parts.append(f"""
[[sensors]]
name = "radar"
kind = "radar"
driver = "dca1000"
board = "{cfg.board}"
cfg = "{cfg.board}.cfg"
host_ip = "127.0.0.1"
fpga_ip = "127.0.0.2"
packet_delay_us = 25

[sensors.emulation]
adc = "{_sim_uri(cfg, scenario, frames)}&camera=0&lidar=0"
seed = {cfg.seed}
preload = true  # simulate every frame before sensorStart: the emulated board never falls behind its frame clock
""")
    if "lidar" in sensors:
        parts.append(f"""
[[sensors]]
name = "lidar"
kind = "lidar"
uri = "{_sim_uri(cfg, scenario, frames, 'lidar', realtime=True)}"
""")
    if CAMERA in sensors:
        parts.append(f"""
[[sensors]]
name = "{CAMERA}"
kind = "camera"
# the simulated camera renders a 640x480 frame in ~0.15-0.3 s: at most {camera_hz:g} frames/s (late ones are dropped)
uri = "{_sim_uri(cfg, scenario, frames, CAMERA, realtime=True, extra=f'&max_rate_hz={camera_hz:g}' + ('' if camera_drops else '&drop_late=0'))}"
""")
    return "".join(parts)


def capture_rig(cfg: DemoConfig, frames: int):
    """The simulated rig behind the capture (its scenario and seed, ``frames`` radar frames): evaluation only."""
    from rfpose.sim.scenarios import build_rig

    return build_rig(cfg.capture_scenario, seed=cfg.seed, num_frames=frames, board=cfg.board)


def rig_table(state: DemoState) -> None:
    """The rig's radar parameters and sensors, for the report."""
    from rfpose.boards import get_board

    board = get_board(state.cfg.board)
    p = board.default_config().derive(board)
    radar = {"board": board.name, "tx x rx": f"{p.num_tx} x {p.num_rx}", "start_frequency_ghz": p.start_frequency_hz / 1e9,
             "bandwidth_ghz": p.bandwidth_hz / 1e9, "range_resolution_cm": p.range_resolution_m * 100,
             "max_range_m": p.max_range_m, "velocity_resolution_mps": p.velocity_resolution_mps,
             "max_velocity_mps": p.max_velocity_mps, "frame_rate_hz": 1 / p.frame_period_s,
             "frame_bytes": p.frame_bytes, "data_rate_mbps": p.data_rate_mbps}
    sensors = [{"sensor": "radar", "kind": "AWR1843 via DCA1000 (emulated, UDP loopback)", "rate_hz": 1 / p.frame_period_s},
               {"sensor": "lidar", "kind": "Livox-like non-repetitive (simulated, live replay)", "rate_hz": 10.0},
               {"sensor": "cam_left", "kind": "pinhole RGB 640x480 (simulated, live replay capped at 5 Hz)",
                "rate_hz": 5.0}]
    state.doc["rig"] = {"radar": radar, "sensors": sensors}
