"""The room frame: the radar's mount as a transform, and polygons (zones, the room's boundary).

Room frame: origin on the floor, z up, x/y horizontal. The radar frame is the project's (x forward, y left,
z up); ``T_room_radar`` places it at ``(x_m, y_m, height_m)``, turned by ``yaw_deg`` about z and tilted
down by ``tilt_deg``.
"""

from __future__ import annotations

import numpy as np

from rfpose.app.monitor.config import RadarMount


def T_room_radar(mount: RadarMount) -> np.ndarray:
    """4×4 transform taking radar-frame points (metres) into the room frame."""
    yaw, tilt = np.deg2rad(mount.yaw_deg), np.deg2rad(mount.tilt_deg)
    cy, sy, ct, st = np.cos(yaw), np.sin(yaw), np.cos(tilt), np.sin(tilt)
    Rz = np.array([[cy, -sy, 0], [sy, cy, 0], [0, 0, 1]])
    Ry = np.array([[ct, 0, st], [0, 1, 0], [-st, 0, ct]])  # positive tilt turns boresight (x) downward
    T = np.eye(4)
    T[:3, :3] = Rz @ Ry
    T[:3, 3] = (mount.x_m, mount.y_m, mount.height_m)
    return T


def apply(T: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(…, 3) points through a 4×4 transform."""
    return points @ T[:3, :3].T + T[:3, 3]


def inside(polygon: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Even-odd ray cast: which of the (N, 2) points lie inside the (V, 2) polygon → (N,) bool."""
    poly = np.asarray(polygon, dtype=np.float64)
    xy = np.atleast_2d(np.asarray(xy, dtype=np.float64))
    x, y = xy[:, 0:1], xy[:, 1:2]
    x0, y0 = poly[:, 0], poly[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    crosses = (y0 > y) != (y1 > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        x_at = x0 + (y - y0) * (x1 - x0) / (y1 - y0)
    return np.count_nonzero(crosses & (x < x_at), axis=1) % 2 == 1
