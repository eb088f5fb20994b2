"""Shared helpers for the monitor tests: simulated people as skeleton detections in the room frame."""

from __future__ import annotations

import numpy as np

from rfpose.app.monitor.config import MonitorConfig, RadarMount
from rfpose.app.monitor.detect import Detection
from rfpose.app.monitor.room import T_room_radar, apply

#: The simulator's radar is 1 m above its floor, looking horizontally along x.
SIM_MOUNT = RadarMount(height_m=1.0)


def sim_skeletons(scenario: str, seconds: float, rate_hz: float = 10.0, seed: int = 1, people: int | None = None):
    """Times (T,) and the simulator's true rtpose15 joints (T, P, 15, 3) in the room frame (tests only)."""
    from rfpose.sim.scenarios import build_rig

    rig = build_rig(scenario, seed=seed, num_frames=int(seconds * rate_hz), board="awr1843boost", camera=False,
                    lidar=False, people=people)
    t = np.arange(0.0, seconds, 1.0 / rate_hz)
    return t, apply(T_room_radar(SIM_MOUNT), rig.ground_truth(t))


def detections(joints: np.ndarray, rng: np.random.Generator | None = None, noise_m: float = 0.0) -> list[Detection]:
    """(P, 15, 3) room-frame skeletons → detections (with optional Gaussian joint noise)."""
    out = []
    for j in joints:
        if rng is not None and noise_m:
            j = j + rng.normal(0, noise_m, j.shape)
        radar = j[0] - np.array([0, 0, SIM_MOUNT.height_m])
        out.append(Detection(j[0].copy(), float(j[8, 2]), 0.9, j, radar_xyz=radar))
    return out


def sim_config(**kw) -> MonitorConfig:
    cfg = MonitorConfig(**kw)
    cfg.room.radar = SIM_MOUNT
    return cfg


class Ticks:
    """A seekable radar source whose frames carry only their index and 10 Hz times: the tests pair it with
    :class:`TruthEstimator` to drive the monitor with the simulator's true skeletons in real time."""

    def __new__(cls, n: int, period_s: float = 0.1):
        from rfpose.source import RadarFrame, SourceBase

        class _Ticks(SourceBase):
            kind, name, is_seekable = "radar", "radar", True
            timestamps_ns = np.arange(n, dtype=np.int64) * int(period_s * 1e9)

            def _len(self):
                return n

            def _get(self, i):
                return RadarFrame(i, int(self.timestamps_ns[i]), np.zeros(0, np.int16))

        return _Ticks()


class TruthEstimator:
    """frame.index → detections of the simulator's true skeletons at that frame (tests only)."""

    def __init__(self, joints: np.ndarray, noise_m: float = 0.02):
        self.joints, self.rng, self.noise = joints, np.random.default_rng(0), noise_m

    def __call__(self, frame):
        k = frame.index
        dets = detections(self.joints[k], self.rng, self.noise) if k < len(self.joints) else []
        return dets, {"total": 0.0}


def realtime_opener(n: int, loop: bool = False):
    """Opens the ticks once in real time; reopening fails like an unplugged device."""
    from rfpose.drivers.realtime import RealtimeSource
    from rfpose.errors import DeviceError

    opened = []

    def opener(uri):
        if opened:
            raise DeviceError("the test device is gone")
        opened.append(uri)
        return RealtimeSource(Ticks(n), loop=loop)

    return opener
