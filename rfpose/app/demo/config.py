"""The demo's configuration: what it runs, and the two shipped sizes."""

from __future__ import annotations

from dataclasses import dataclass

from rfpose.sim.motion import RTPOSE_ACTIONS

CAMERA = "cam_left"
"""the camera the demo records and annotates from (with the LiDAR); one camera halves the rendering"""


@dataclass
class DemoConfig:
    """What the demo runs. ``preset(quick)`` gives the two shipped sizes."""

    out: str = "demo-out"
    quick: bool = False
    seed: int = 2026
    board: str = "awr1843boost"
    model: str = "hrradarpose-lite"
    capture_scenario: str = "walk-wave"
    capture_seconds: float = 6.0
    subjects: int = 5
    """simulated subjects; the last two are the validation and test subjects"""
    actions: tuple[str, ...] = RTPOSE_ACTIONS
    frames_per_session: int = 20
    clock_session_frames: int = 60
    """radar frames of the training rig's walk session that gives its clock offsets"""
    camera_rate_hz: float = 10.0
    max_clock_offset_s: float = 0.3
    """how far the rig's clocks may disagree before calibration (the simulated rig's: up to 0.2 s)"""
    detector: str = "mediapipe"
    train_minutes: float = 4.0
    batch_size: int = 4
    threads: int = 2
    monitor_seconds: float = 15.0
    scheduler: str | None = None
    """Dask scheduler for preprocessing: None = a local cluster, "synchronous", or an address"""

    @classmethod
    def preset(cls, quick: bool, **overrides) -> "DemoConfig":
        if quick:
            base = dict(quick=True, capture_seconds=5.0, subjects=4, actions=("walk", "wave"),
                        frames_per_session=16, clock_session_frames=60, train_minutes=0.6, monitor_seconds=8.0)
        else:
            base = {}
        return cls(**{**base, **overrides})
