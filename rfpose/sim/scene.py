"""The room around the people: floor, walls, furniture, a chair, calibration targets; its geometry for
LiDAR and camera, and its static radar clutter (scattering centres on walls, corners and furniture).

All in the rig frame (the radar frame: x forward, y left, z up; the radar at the origin, the floor at
``floor_z``). Clutter is static: the same centres with the same amplitudes every frame, as a still room
gives (that is what static-clutter removal relies on).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from rfpose.sim.geometry import BOX, RECT, Primitive

# room materials (camera palette index / LiDAR reflectivity); body materials are 0..3 (rfpose.sim.body)
FLOOR, WALL, WOOD, METAL, FABRIC, BOARD = 10, 11, 12, 13, 14, 15

MATERIAL_RGB = {0: None, 1: None, 2: None, 3: None, FLOOR: (150, 110, 70), WALL: (205, 200, 190), WOOD: (120, 80, 45),
                METAL: (170, 170, 175), FABRIC: (90, 60, 50), BOARD: (255, 255, 255)}
#: LiDAR reflectivity 0..1 per material
REFLECTIVITY = {0: 0.45, 1: 0.35, 2: 0.2, 3: 0.1, FLOOR: 0.3, WALL: 0.7, WOOD: 0.4, METAL: 0.9, FABRIC: 0.25,
                BOARD: 0.8}


@dataclass
class Room:
    """A rectangular room and its contents. ``kind`` "clean" has walls and the chair (if any); "cluttered"
    adds a table, a cabinet and a shelf. ``chair_xy``: None for no chair."""

    floor_z: float = -1.0
    x_back: float = 6.5
    y_half: float = 3.5
    height: float = 2.8
    kind: str = "clean"
    chair_xy: tuple[float, float] | None = None
    reflector: tuple[float, float, float] | None = None  # apex position of a trihedral corner reflector
    reflector_edge_m: float = 0.10
    charuco: dict | None = None  # {"center": (x,y,z), "yaw": rad, "squares": (7, 5), "square_m": 0.08}
    primitives: list[Primitive] = field(default_factory=list, init=False)

    def __post_init__(self):
        self.primitives = self._build()

    def describe(self) -> dict:
        return {"kind": self.kind, "floor_z_m": self.floor_z, "x_back_m": self.x_back, "y_half_m": self.y_half,
                "height_m": self.height, "chair_xy_m": None if self.chair_xy is None else list(self.chair_xy),
                "corner_reflector": None if self.reflector is None else
                {"apex_m": list(self.reflector), "edge_m": self.reflector_edge_m},
                "charuco": self.charuco}

    # -- geometry --------------------------------------------------------------------------------
    def _build(self) -> list[Primitive]:
        f, xb, yh, h = self.floor_z, self.x_back, self.y_half, self.height
        x0 = -1.0
        xc = (xb + x0) / 2
        P = []
        # floor (normal up), back wall, side walls, ceiling as rectangles; rows of axes = (u, v, normal)
        P.append(Primitive(RECT, np.array([xc, 0, f]), np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1.0]]),
                           np.array([(xb - x0) / 2, yh, 0]), material=FLOOR, texture="wood", name="floor"))
        P.append(Primitive(RECT, np.array([xb, 0, f + h / 2]), np.array([[0, -1, 0], [0, 0, -1], [-1, 0, 0.0]]),
                           np.array([yh, h / 2, 0]), material=WALL, texture="wall", name="back_wall"))
        for s in (-1, 1):
            P.append(Primitive(RECT, np.array([xc, s * yh, f + h / 2]),
                               np.array([[1, 0, 0], [0, 0, -1], [0, -s, 0.0]]), np.array([(xb - x0) / 2, h / 2, 0]),
                               material=WALL, texture="wall", name="side_wall"))
        P.append(Primitive(RECT, np.array([xc, 0, f + h]), np.array([[1, 0, 0], [0, 1, 0], [0, 0, -1.0]]),
                           np.array([(xb - x0) / 2, yh, 0]), material=WALL, name="ceiling"))
        if self.kind == "cluttered":
            P.append(_box((xb - 0.35, -2.2, f + 0.9), (0.3, 0.5, 0.9), WOOD, "cabinet"))
            P.append(_box((4.2, 2.6, f + 0.37), (0.4, 0.7, 0.37), WOOD, "table"))
            P.append(_box((xb - 0.2, 1.5, f + 1.4), (0.15, 0.6, 0.02), WOOD, "shelf"))
        if self.chair_xy is not None:
            P.extend(chair_primitives(np.asarray(self.chair_xy, float), f))
        if self.reflector is not None:
            a = self.reflector_edge_m
            apex = np.asarray(self.reflector, float)
            P.append(_box(apex + np.array([a / 3, 0, 0]), (a / 3, a / 2, a / 2), METAL, "corner_reflector"))
            # foam stand down to the floor
            P.append(_box((apex[0] + 0.05, apex[1], (f + apex[2] - a / 2) / 2), (0.05, 0.05, (apex[2] - a / 2 - f) / 2),
                          WALL, "stand"))
        if self.charuco is not None:
            c = self.charuco
            nx, ny = c.get("squares", (7, 5))
            sq = c.get("square_m", 0.08)
            yaw = c.get("yaw", 0.0)
            nrm = np.array([-np.cos(yaw), -np.sin(yaw), 0.0])  # faces the rig
            u = np.array([np.sin(yaw), -np.cos(yaw), 0.0])  # image right as seen from the rig
            v = np.array([0, 0, -1.0])
            P.append(Primitive(RECT, np.asarray(c["center"], float), np.stack([u, v, nrm]),
                               np.array([nx * sq / 2, ny * sq / 2, 0]), material=BOARD, texture="charuco",
                               name="charuco"))
        return P

    # -- radar clutter -----------------------------------------------------------------------------
    def clutter(self, rng: np.random.Generator, wavelength_m: float = 3.9e-3):
        """Static scattering centres: positions ``(K, 3)``, RCS ``(K,)`` m² and unit phase ``(K,)``.

        ``wavelength_m`` sets the corner reflector's RCS (4πa⁴/(3λ²))."""
        f, xb, yh = self.floor_z, self.x_back, self.y_half
        pts, rcs = [], []

        def add(p, dbsm):
            pts.append(np.atleast_2d(p))
            rcs.append(10 ** (np.atleast_1d(dbsm) / 10))

        # wall/floor and wall/wall junctions (dihedral / trihedral corners): the strongest returns
        ys = np.linspace(-yh + 0.2, yh - 0.2, 14)
        add(np.stack([np.full_like(ys, xb), ys, np.full_like(ys, f)], 1), rng.uniform(5, 12, len(ys)))
        for s in (-1, 1):
            add([[xb, s * yh, f], [xb, s * yh, f + self.height]], [15.0, 12.0])
            zs = np.linspace(f + 0.3, f + self.height - 0.3, 6)
            add(np.stack([np.full_like(zs, xb), np.full_like(zs, s * yh), zs], 1), rng.uniform(6, 12, len(zs)))
            xs = np.linspace(1.0, xb - 0.3, 8)
            add(np.stack([xs, np.full_like(xs, s * yh), np.full_like(xs, f)], 1), rng.uniform(0, 6, len(xs)))
        # wall surfaces (specular patches, rough plaster)
        n = 30
        add(np.stack([np.full(n, xb), rng.uniform(-yh, yh, n), rng.uniform(f, f + self.height, n)], 1), rng.uniform(0, 6, n))
        for s in (-1, 1):
            add(np.stack([rng.uniform(0.5, xb, n // 2), np.full(n // 2, s * yh), rng.uniform(f, f + self.height, n // 2)], 1),
                rng.uniform(-3, 3, n // 2))
        # floor: weak grazing returns
        m = 25
        add(np.stack([rng.uniform(0.8, xb, m), rng.uniform(-yh, yh, m), np.full(m, f)], 1), rng.uniform(-15, -5, m))
        for p in self.primitives:
            if p.name in ("cabinet", "table", "shelf"):
                add(_box_corners(p), rng.uniform(2, 10, 8))
            elif p.name.startswith("chair"):
                add(_box_corners(p)[::2], rng.uniform(-2, 6, 4))
        if self.reflector is not None:
            a = self.reflector_edge_m
            add(np.asarray(self.reflector, float), 10 * np.log10(trihedral_rcs_m2(a, wavelength_m)))
        if self.charuco is not None:
            add(np.asarray(self.charuco["center"], float), 5.0)
        p = np.concatenate(pts)
        r = np.concatenate(rcs)
        phase = np.exp(2j * np.pi * rng.random(len(r)))
        return p, r, phase


def trihedral_rcs_m2(edge_m: float, wavelength_m: float) -> float:
    """Peak RCS of a triangular trihedral corner reflector, σ = 4πa⁴/(3λ²)."""
    return 4 * np.pi * edge_m**4 / (3 * wavelength_m**2)


def _box(center, half, material, name) -> Primitive:
    return Primitive(BOX, np.asarray(center, float), np.eye(3), np.asarray(half, float), material=material, name=name)


def _box_corners(p: Primitive) -> np.ndarray:
    s = np.array([[i, j, k] for i in (-1, 1) for j in (-1, 1) for k in (-1, 1)], float)
    return p.center + (s * p.radii) @ p.axes


def chair_primitives(xy: np.ndarray, floor_z: float) -> list[Primitive]:
    """A chair facing the radar: seat at 0.46 m, backrest on the far side, four metal legs."""
    toward = -xy / np.linalg.norm(xy)
    yaw = np.arctan2(toward[1], toward[0])
    c, s = np.cos(yaw), np.sin(yaw)
    axes = np.array([[c, s, 0], [-s, c, 0], [0, 0, 1.0]])  # rows: forward (toward radar), left, up
    base = np.array([xy[0], xy[1], floor_z])
    P = [Primitive(BOX, base + np.array([0, 0, 0.45]), axes, np.array([0.22, 0.22, 0.02]), material=FABRIC,
                   name="chair_seat"),
         Primitive(BOX, base + axes[0] * -0.21 + np.array([0, 0, 0.72]), axes, np.array([0.02, 0.22, 0.26]),
                   material=FABRIC, name="chair_back")]
    for i in (-1, 1):
        for j in (-1, 1):
            P.append(Primitive(BOX, base + axes[0] * 0.19 * i + axes[1] * 0.19 * j + np.array([0, 0, 0.215]), axes,
                               np.array([0.015, 0.015, 0.215]), material=METAL, name="chair_leg"))
    return P
