"""Calibration targets carried through a sequence of stops: a trihedral corner reflector on a foam stand
and a ChArUco board, as a person moving them around an empty room would (move, hold still, move …).

A target's pose is a continuous function of true time: it rests ``dwell_s`` at each stop and moves to the
next over ``move_s`` (smoothstep in position, slerp in orientation). The LiDAR and the cameras see its
primitives at the time of each ray; the radar sees its scattering centre(s).

Reference points (what the calibration solvers estimate, documented in docs/simulator.md):

- corner reflector: ``position`` = the apex, the radar phase centre of a trihedral. The simulator draws the
  reflector as a metal block whose front face (facing the rig) is centred on the apex, so the LiDAR
  reference point of the target is the centre of that face. The face carries a visual marker for the
  cameras, as Domhof et al.'s target carries its circles: a printed 2 × 2 black/white checker
  (:func:`marker_texture`) whose centre — a saddle point a camera locates to a fraction of a pixel — is the
  apex (a radar-transparent foam or paper sheet in front of a real trihedral).
- ChArUco board: ``position`` = the board centre; the rotation maps board axes to the rig: columns u (along
  the squares' columns, image right as seen from the rig), v (along rows, down), w = u × v (into the board,
  away from the viewer), OpenCV's board-frame convention.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.spatial.transform import Rotation, Slerp

from rfpose.sim.geometry import BOX, RECT, Primitive

METAL, BOARD, FOAM = 13, 15, 11  # rfpose.sim.scene materials (foam renders and reflects like a wall)
MARKER_TEXTURE = "reflector_marker"


def marker_texture(px: int = 64) -> np.ndarray:
    """The reflector's visual marker: a 2 × 2 checker (uint8 grey, ``px`` × ``px``; top-left and bottom-right
    black) whose centre is the apex."""
    h = px // 2
    img = np.full((px, px), 255, np.uint8)
    img[:h, :h] = 0
    img[h:, h:] = 0
    return img


@dataclass
class StopAndGo:
    """Poses ``positions`` (S, 3) m and ``rotations`` (S, 3, 3) visited in order from ``start_s``."""

    positions: np.ndarray
    rotations: np.ndarray
    dwell_s: float = 1.2
    move_s: float = 0.6
    start_s: float = 0.0

    def __post_init__(self):
        self.positions = np.asarray(self.positions, float)
        self.rotations = np.asarray(self.rotations, float)

    @property
    def num_stops(self) -> int:
        return len(self.positions)

    @property
    def duration_s(self) -> float:
        """True time at which the last stop's rest ends."""
        return self.start_s + self.num_stops * self.dwell_s + (self.num_stops - 1) * self.move_s

    def rest_windows(self) -> np.ndarray:
        """``(S, 2)`` true-time intervals (s) during which the target rests at each stop."""
        t0 = self.start_s + np.arange(self.num_stops) * (self.dwell_s + self.move_s)
        return np.stack([t0, t0 + self.dwell_s], 1)

    def pose(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        """``(position (3,), rotation (3, 3))`` at true time ``t``; before the start / after the end the
        target rests at the first / last stop."""
        period = self.dwell_s + self.move_s
        u = (t - self.start_s) / period
        k = int(np.clip(np.floor(u), 0, self.num_stops - 1))
        into = t - self.start_s - k * period
        if k >= self.num_stops - 1 or into <= self.dwell_s:
            return self.positions[k], self.rotations[k]
        s = (into - self.dwell_s) / self.move_s
        s = s * s * (3 - 2 * s)
        p = (1 - s) * self.positions[k] + s * self.positions[k + 1]
        R = Slerp([0.0, 1.0], Rotation.from_matrix(self.rotations[k:k + 2]))(s).as_matrix()
        return p, R

    def describe(self) -> dict:
        return {"positions_m": self.positions.tolist(), "rotations": self.rotations.tolist(),
                "dwell_s": self.dwell_s, "move_s": self.move_s, "start_s": self.start_s,
                "rest_windows_s": self.rest_windows().tolist()}


def facing(position: np.ndarray, toward=(0.0, 0.0, 0.0)) -> np.ndarray:
    """Target→rig rotation of an upright target at ``position`` facing ``toward`` horizontally: columns
    u (right as seen from ``toward``), v (down), w = u × v (horizontal, away from ``toward``)."""
    d = np.asarray(position, float) - np.asarray(toward, float)
    d[2] = 0.0
    w = d / np.linalg.norm(d)
    v = np.array([0.0, 0.0, -1.0])
    return np.stack([np.cross(v, w), v, w], 1)


def _rect_axes(R: np.ndarray) -> np.ndarray:
    """Primitive axes rows (u, v, outward normal) of a target with rotation ``R``."""
    return np.stack([R[:, 0], R[:, 1], -R[:, 2]])


@dataclass
class CornerReflector:
    """A trihedral of edge ``edge_m`` on a foam stand down to ``floor_z``, moved along ``path``."""

    path: StopAndGo
    edge_m: float = 0.10
    floor_z: float = -1.0
    name: str = "corner_reflector"

    def primitives(self, t: float) -> list[Primitive]:
        apex, R = self.path.pose(t)
        a = self.edge_m
        n = -R[:, 2]  # toward the rig
        axes = np.stack([-n, R[:, 0], np.cross(-n, R[:, 0])])
        block = Primitive(BOX, apex - n * (a / 3), axes, np.array([a / 3, a / 2, a / 2]), material=METAL,
                          name=self.name)
        marker = Primitive(RECT, apex + n * 1e-3, _rect_axes(R), np.array([a / 2, a / 2, 0.0]), material=BOARD,
                           texture=MARKER_TEXTURE, name=self.name + "_marker")
        top = apex[2] - a / 2
        stand = Primitive(BOX, np.array([*(apex[:2] - n[:2] * (a / 3)), (self.floor_z + top) / 2]), axes,
                          np.array([0.04, 0.04, (top - self.floor_z) / 2 - 1e-3]), material=FOAM, name="stand")
        return [block, marker, stand]

    def radar_points(self, t: float) -> np.ndarray:
        """``(1, 3)`` scattering centre (the apex) in the rig frame."""
        return self.path.pose(t)[0][None]

    def describe(self) -> dict:
        return {"kind": "corner_reflector", "edge_m": self.edge_m, "reference": "apex = centre of the front face",
                "marker": "2x2 checker on the front face, its centre on the apex",
                **self.path.describe()}


@dataclass
class CharucoBoard:
    """A ChArUco board (``squares`` of ``square_m``) on a thin foam backing, moved along ``path``."""

    path: StopAndGo
    squares: tuple[int, int] = (7, 5)
    square_m: float = 0.08
    marker_m: float = 0.06
    dictionary: str = "DICT_5X5_100"
    name: str = "charuco"
    extra: dict = field(default_factory=dict)

    def primitives(self, t: float) -> list[Primitive]:
        c, R = self.path.pose(t)
        nx, ny = self.squares
        return [Primitive(RECT, c, _rect_axes(R), np.array([nx * self.square_m / 2, ny * self.square_m / 2, 0]),
                          material=BOARD, texture="charuco", name=self.name)]

    def radar_points(self, t: float) -> np.ndarray:
        return self.path.pose(t)[0][None]

    def describe(self) -> dict:
        return {"kind": "charuco", "squares": list(self.squares), "square_m": self.square_m,
                "marker_m": self.marker_m, "dictionary": self.dictionary,
                "reference": "board centre; rotation columns = u (columns), v (rows), w (into the board)", **self.path.describe()}
