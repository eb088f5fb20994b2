"""Fixtures for the board solvers (imported by the test modules that use them): the ``calibration-charuco`` rig of three seeds, its camera views and
LiDAR sweeps generated frame by frame from the simulator's sources (no radar is synthesised: the board
solvers never look at it), and a small recorded session for the CLI."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest

SEEDS = (0, 1, 2)
FAST_SEEDS = (0,)
"""the seeds ``make test`` runs the solvers on (each seed renders its own 19 s board capture, the suite's
costliest fixture); the others are ``slow`` (pytest -m slow)"""
BOARD = "awr1843boost"  # the cheapest radar to simulate; the rig's cameras and LiDAR do not depend on it


@dataclass
class BoardCapture:
    seed: int
    rig: object
    truth: object
    views: list
    camera: object
    lidar: object
    sweeps: dict = field(default_factory=dict, repr=False)

    def sweep(self, i: int) -> np.ndarray:
        """LiDAR sweep ``i`` as (N, 3) xyz, simulated once (several tests search the same sweeps)."""
        if i not in self.sweeps:
            p = self.lidar[i].points
            self.sweeps[i] = np.stack([p["x"], p["y"], p["z"]], 1).astype(np.float64)
        return self.sweeps[i]


def board_rig(seed: int):
    from rfpose.sim.camera import CameraModel
    from rfpose.sim.scenarios import build_rig, default_frames

    # 10 Hz cameras: a third of the rendering of 30 Hz; the moves between rests still give distinct views
    return build_rig("calibration-charuco", seed=seed, num_frames=default_frames("calibration-charuco", BOARD),
                     board=BOARD, camera_model=CameraModel(rate_hz=10))


_CAPTURES: dict[int, BoardCapture] = {}


def board_capture(seed: int) -> BoardCapture:
    """cam_left's ChArUco views and the LiDAR of seed ``seed`` (cached for the test session)."""
    if seed not in _CAPTURES:
        from rfpose.calibration.charuco import CharucoTarget
        from rfpose.calibration.intrinsics import stream_views

        rig = board_rig(seed)
        cam = rig.sources["cam_left"]
        _CAPTURES[seed] = BoardCapture(seed, rig, rig.truth(), stream_views(cam, CharucoTarget(), f"seed{seed}"), cam,
                                       rig.sources["lidar"])
    return _CAPTURES[seed]


@pytest.fixture(scope="session", params=[pytest.param(s, id=f"seed{s}", marks=() if s in FAST_SEEDS else pytest.mark.slow)
                                        for s in SEEDS])
def capture(request) -> BoardCapture:
    return board_capture(request.param)


@pytest.fixture(scope="session")
def charuco_session(tmp_path_factory):
    """A recorded ``calibration-charuco`` session for the CLI tests: seed 0, 5 Hz cameras, the first 11 s
    (10 board poses, the nine across the image among them)."""
    from rfpose.sim.camera import CameraModel
    from rfpose.sim.session_writer import simulate_session

    out = tmp_path_factory.mktemp("calib") / "charuco.zarr"
    simulate_session(out, "calibration-charuco", 110, seed=0, board=BOARD, camera_model=CameraModel(rate_hz=5),
                     labels_2d=False)
    return out
