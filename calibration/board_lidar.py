"""The calibration board in a LiDAR sweep: crop around where the board is expected, RANSAC plane (Open3D
``segment_plane``), refit, keep the largest connected cluster of plane inliers, and check
that what is left is board-sized.

The expected pose comes from the camera (PnP) and the nominal LiDAR→camera extrinsics a user measured
with a tape, so the crop is generous (``margin_m`` around the board's outline and ``depth_m`` off its
plane). Metres, LiDAR frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class BoardLidarConfig:
    """``margin_m``/``depth_m``: crop around the predicted board; ``plane_threshold_m``: RANSAC inlier
    distance (about 2σ of the LiDAR's range noise); ``cluster_eps_m``: DBSCAN neighbour distance;
    ``min_points``: fewer board points than this is "not found"; ``area_tolerance``: the cluster's extent
    must be within this factor of the board's."""

    margin_m: float = 0.25
    depth_m: float = 0.25
    plane_threshold_m: float = 0.04
    ransac_iterations: int = 300
    cluster_eps_m: float = 0.06
    min_points: int = 60
    area_tolerance: float = 1.6


@dataclass
class LidarBoard:
    """Board points ``(N, 3)`` in the LiDAR frame and their plane: unit normal ``n`` (towards the sensor)
    and offset ``d`` with ``n·p + d = 0``."""

    points: np.ndarray
    normal: np.ndarray
    offset: float

    @property
    def distance_m(self) -> float:
        return float(abs(self.offset))


def crop_to_board(xyz: np.ndarray, T_lidar_board: np.ndarray, size_m: tuple[float, float],
                  cfg: BoardLidarConfig) -> np.ndarray:
    """Points within ``cfg.margin_m`` of the predicted board rectangle and ``cfg.depth_m`` of its plane."""
    R, t = T_lidar_board[:3, :3], T_lidar_board[:3, 3]
    q = (xyz - t) @ R  # board frame
    w, h = size_m
    m = cfg.margin_m
    keep = ((q[:, 0] > -m) & (q[:, 0] < w + m) & (q[:, 1] > -m) & (q[:, 1] < h + m) & (np.abs(q[:, 2]) < cfg.depth_m))
    return xyz[keep]


def find_board(xyz: np.ndarray, T_lidar_board: np.ndarray, size_m: tuple[float, float],
               cfg: BoardLidarConfig = BoardLidarConfig(), seed: int = 0) -> LidarBoard | None:
    """The board's points in one sweep ``xyz`` ``(N, 3)`` near the predicted pose ``T_lidar_board``
    (board frame → LiDAR), or None when no board-sized plane is there."""
    import open3d as o3d

    crop = crop_to_board(xyz, T_lidar_board, size_m, cfg)
    if len(crop) < cfg.min_points:
        return None
    from threadpoolctl import threadpool_limits

    # one OpenMP thread: Open3D's RANSAC draws its hypotheses in parallel threads, so with several the seeded
    # run is not repeatable (another plane, another inlier set, a few hundredths of a degree on LiDAR -> camera)
    with threadpool_limits(1, "openmp"):
        o3d.utility.random.seed(seed)
        pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(crop))
        model, inliers = pcd.segment_plane(cfg.plane_threshold_m, 3, cfg.ransac_iterations)
    if len(inliers) < cfg.min_points:
        return None
    # RANSAC's plane comes from three points: inliers chosen around it lean towards it. Refit on the
    # inliers and re-select at 3 robust sigmas of the refitted plane's residuals (twice).
    sel = np.asarray(inliers)
    for _ in range(2):
        c = crop[sel].mean(0)
        normal = np.linalg.svd(crop[sel] - c, full_matrices=False)[2][2]
        dist = (crop - c) @ normal
        sigma = 1.4826 * np.median(np.abs(dist[sel]))
        sel = np.nonzero(np.abs(dist) < max(3 * sigma, 1e-3))[0]
    if len(sel) < cfg.min_points:
        return None
    pts = largest_cluster(crop[sel], cfg.cluster_eps_m)
    if len(pts) < cfg.min_points:
        return None
    centre = pts.mean(0)
    _, s, vt = np.linalg.svd(pts - centre, full_matrices=False)
    n = vt[2] if vt[2] @ centre < 0 else -vt[2]  # towards the sensor
    # extent along the two in-plane principal axes against the board's (a diagonal view of a rectangle)
    proj = (pts - centre) @ vt[:2].T
    extent = np.ptp(proj, axis=0)
    diag = np.hypot(*size_m)
    if not (min(size_m) / cfg.area_tolerance <= extent.min() and extent.max() <= diag * cfg.area_tolerance):
        return None
    return LidarBoard(pts, n, float(-n @ centre))


def largest_cluster(xyz: np.ndarray, eps_m: float) -> np.ndarray:
    """The largest set of points connected by neighbours closer than ``eps_m`` (single-linkage, as DBSCAN
    with a minimum of one neighbour; Open3D's ``cluster_dbscan`` spins its threads on a busy machine)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    pairs = cKDTree(xyz).query_pairs(eps_m, output_type="ndarray")
    n = len(xyz)
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    return xyz[labels == np.bincount(labels).argmax()]


def plane_angle_deg(n1: np.ndarray, n2: np.ndarray) -> float:
    return float(np.degrees(np.arccos(np.clip(abs(n1 @ n2), -1.0, 1.0))))
