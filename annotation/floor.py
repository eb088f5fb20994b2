"""The floor from the LiDAR, and joints held above it.

A LiDAR sees the floor around and beyond the person (a Livox-like rosette at 1 m reaches it from ~4.5 m); one
plane fitted to a session's lowest points bounds how low a joint can be. A joint lifted too far along its
camera ray also ends up too low (the camera looks down at the feet), so pulling it back along that ray to a
least height above the floor corrects its depth: the ankles, placed mostly from MediaPipe's 3D shape, are the
joints it catches (docs/annotation.md, "The floor").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Floor:
    """The plane ``normal · p = offset_m`` in the radar frame; ``normal`` (3,) unit, pointing up."""

    normal: np.ndarray
    offset_m: float
    inliers: int

    def height(self, p: np.ndarray) -> np.ndarray:
        """Height above the floor (m) of points ``p (..., 3)`` in the radar frame."""
        return p @ self.normal - self.offset_m

    def to_dict(self) -> dict:
        return {"normal": [round(float(v), 5) for v in self.normal], "offset_m": round(self.offset_m, 4),
                "inliers": self.inliers}


def fit_floor(xyz: np.ndarray, max_tilt_deg: float = 20.0, tol_m: float = 0.02, low_fraction: float = 0.15,
              min_inliers: int = 500, iters: int = 200, sample: int = 200_000, seed: int = 0) -> Floor | None:
    """The floor among LiDAR points ``xyz (M, 3)`` in the radar frame (z up), or None when there is none.

    RANSAC over the lowest ``low_fraction`` of a strided ``sample`` of the points, for planes tilted at most
    ``max_tilt_deg`` from horizontal with ``tol_m`` inlier distance, then least-squares planes through the
    sample's points near it. None when fewer than ``min_inliers`` (or a fifth of the low points) lie on it.
    """
    pts = np.asarray(xyz[:: max(1, len(xyz) // sample)], np.float64)
    pts = pts[np.isfinite(pts).all(1)]
    if len(pts) < 3 * min_inliers:
        return None
    low = pts[pts[:, 2] <= np.quantile(pts[:, 2], low_fraction)]
    rng = np.random.default_rng(seed)
    tri = low[rng.integers(0, len(low), (iters, 3))]
    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    norm = np.linalg.norm(n, axis=1)
    ok = norm > 1e-9
    n = n[ok] / norm[ok, None] * np.sign(n[ok, 2:3] + 1e-12)
    level = n[:, 2] >= np.cos(np.radians(max_tilt_deg))
    n, a = n[level], tri[ok][level, 0]
    if not len(n):
        return None
    counts = (np.abs(low @ n.T - np.einsum("ij,ij->i", n, a)) < tol_m).sum(0)
    best = int(np.argmax(counts))
    if counts[best] < max(min_inliers, len(low) // 5):
        return None
    normal, offset = n[best], float(n[best] @ a[best])
    for _ in range(2):  # refit on every point near it: the lowest points alone would bias it low by their noise
        inl = pts[np.abs(pts @ normal - offset) < tol_m]
        centre = inl.mean(0)
        normal = np.linalg.svd(inl - centre, full_matrices=False)[2][2]
        normal = normal if normal[2] > 0 else -normal
        offset = float(normal @ centre)
    return Floor(normal, offset, int(len(inl)))


def hold_above_floor(X: np.ndarray, joints: list[int], floor: Floor, min_height_m: float,
                     centre: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Move each of ``joints`` of ``X (T, J, 3)`` that lies lower than ``min_height_m`` above ``floor`` back
    along its ray from the camera ``centre (3,)`` (radar frame) to that height; a ray that does not descend,
    or a camera not above that height, leaves it alone. Returns the new ``X`` and the ``(T, J)`` bool of moved
    joints."""
    X = X.copy()
    moved = np.zeros(X.shape[:2], bool)
    c_h = float(floor.height(centre))
    if c_h <= min_height_m:
        return X, moved
    for j in joints:
        p = X[:, j]
        h = floor.height(p)
        descent = (p - centre) @ floor.normal
        low = np.isfinite(h) & (h < min_height_m) & (descent < 0)
        s = (min_height_m - c_h) / np.where(low, descent, -1.0)
        X[low, j] = centre + s[low, None] * (p[low] - centre)
        moved[:, j] = low
    return X, moved
