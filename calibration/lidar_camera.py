"""LiDAR → camera extrinsics from a ChArUco board held still in several poses.

1. **Still poses.** The camera sees the board in every frame; runs of frames in which its corners move
   less than ``still_px`` between frames for at least ``min_still_s`` are one pose, with the corners
   averaged over the run (:func:`still_poses`).
2. **The same pose in the LiDAR.** Clocks are not yet calibrated, so every LiDAR sweep within
   ``max_clock_offset_s`` of the run is searched near the board pose the camera and the nominal
   extrinsics predict (:func:`rfpose.calibration.board_lidar.find_board`); the sweeps whose board planes
   agree with each other form the LiDAR side of the pose (a board in motion gives a different plane).
3. **Closed-form start.** Board normals in both sensors give the rotation (Kabsch, ``Rotation.align_vectors``);
   plane offsets give the translation by linear least squares (:func:`planes_initial`).
4. **Joint refinement** (``scipy.optimize.least_squares``, ``soft_l1``) over the LiDAR→camera pose and every
   board pose at once, with three kinds of residual, each divided by its noise:

   - ChArUco corner reprojection (px) of every board pose (pins the board poses to the images);
   - the range error (m) of every LiDAR board point: how far along its own ray it lies off its board's
     plane. A LiDAR's noise is along the ray; the orthogonal point-to-plane distance (and a plane fitted
     by SVD) leans every oblique board by ~0.7° at 2 cm range noise, which this residual does not;
   - board edges: the in-plane distance (m) by which the point where a LiDAR ray meets the board lies
     *outside* the board's outline (zero inside; only for points near the outline). It fixes the in-plane
     translation that planes alone determine only through the spread of board orientations, and, taken
     where the ray meets the plane, is free of the range noise.

   The covariance of the LiDAR→camera pose comes from the Jacobian at the solution, scaled by the
   residuals' variance; it is expressed as ``[rotation vector (rad, LiDAR frame), translation (m)]`` of
   the camera's pose in the LiDAR frame (``T_lidar_cam``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import reduce

import numpy as np
from scipy.optimize import least_squares
from scipy.spatial.transform import Rotation
from threadpoolctl import threadpool_limits

from rfpose.calibration.board_lidar import BoardLidarConfig, LidarBoard, find_board, plane_angle_deg
from rfpose.calibration.charuco import CharucoTarget, CharucoView, _cv2
from rfpose.errors import CalibrationError, DegenerateCalibrationError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LidarCameraConfig:
    """``still_px``/``min_still_s``: what counts as the board held still in the images;
    ``max_clock_offset_s``: how far LiDAR and camera clocks may disagree before calibration;
    ``agree_deg``/``agree_m``: LiDAR sweeps of one pose must give planes this close, and at least
    ``min_sweeps`` of them;
    ``min_poses``: fewer usable board poses are refused; ``points_per_pose``: LiDAR points per pose in the
    solve (a random subset); ``sigma_px``/``sigma_m``/``sigma_edge_m``: residual scales (noise);
    ``max_plane_rms_mm`` gates acceptance; ``max_from_nominal``: a result further than (m, deg) from the
    nominal extrinsics is refused as a wrong association."""

    still_px: float = 0.5
    min_still_s: float = 0.35
    max_clock_offset_s: float = 0.3
    agree_deg: float = 0.6
    agree_m: float = 0.006
    min_poses: int = 5
    min_sweeps: int = 3
    min_normal_spread_deg: float = 4.0
    points_per_pose: int = 3000
    sigma_px: float = 0.15
    sigma_m: float = 0.02
    sigma_edge_m: float = 0.01
    edge_band_m: float = 0.05
    max_plane_rms_mm: float = 40.0
    max_from_nominal: tuple[float, float] = (0.3, 15.0)
    lidar: BoardLidarConfig = field(default_factory=BoardLidarConfig)


@dataclass
class BoardPose:
    """One still board pose: the camera's averaged view and PnP pose ``T_cam_board``, the camera frames
    and host-time span it covers, and the LiDAR's board points (``lidar``) from sweeps ``lidar_frames``."""

    view: CharucoView
    T_cam_board: np.ndarray
    camera_frames: tuple[int, int]
    span_ns: tuple[int, int]
    lidar: LidarBoard | None = None
    lidar_frames: list[int] = field(default_factory=list)


@dataclass
class LidarCameraResult:
    """``T_lidar_cam`` (camera → LiDAR, 4×4), its 6×6 ``covariance`` ([rotvec rad, t m], LiDAR frame),
    the refined board poses, residual summaries and per-pose residuals (for histograms)."""

    camera: str
    lidar: str
    T_lidar_cam: np.ndarray
    covariance: np.ndarray
    poses: list[BoardPose]
    residual: dict
    per_pose: list[dict]
    plane_residuals_mm: np.ndarray
    corner_residuals_px: np.ndarray


# -- geometry helpers --------------------------------------------------------------------------------
def to_T(rotvec: np.ndarray, t: np.ndarray) -> np.ndarray:
    T = np.eye(4)
    T[:3, :3] = Rotation.from_rotvec(rotvec).as_matrix()
    T[:3, 3] = t
    return T


def inv(T: np.ndarray) -> np.ndarray:
    out = np.eye(4)
    out[:3, :3] = T[:3, :3].T
    out[:3, 3] = -T[:3, :3].T @ T[:3, 3]
    return out


def project(K: np.ndarray, dist: np.ndarray, pc: np.ndarray) -> np.ndarray:
    """Pixels ``(N, 2)`` of camera-frame points ``(N, 3)`` (OpenCV's model, ``dist`` = k1 k2 p1 p2 k3)."""
    k1, k2, p1, p2, k3 = dist
    x, y = pc[:, 0] / pc[:, 2], pc[:, 1] / pc[:, 2]
    r2 = x * x + y * y
    rad = 1 + k1 * r2 + k2 * r2 * r2 + k3 * r2 ** 3
    xd = x * rad + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
    yd = y * rad + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
    return np.stack([K[0, 0] * xd + K[0, 1] * yd + K[0, 2], K[1, 1] * yd + K[1, 2]], 1)


def pnp(view: CharucoView, K: np.ndarray, dist: np.ndarray) -> np.ndarray:
    """``T_cam_board`` of a view (IPPE start, iterative refinement)."""
    cv2 = _cv2()
    ok, rvec, tvec = cv2.solvePnP(view.object_m, view.image_px, K, dist, flags=cv2.SOLVEPNP_IPPE)
    if ok:
        ok, rvec, tvec = cv2.solvePnP(view.object_m, view.image_px, K, dist, rvec, tvec, True,
                                      flags=cv2.SOLVEPNP_ITERATIVE)
    if not ok:
        raise CalibrationError(f"{view.capture}: frame {view.frame}: PnP failed on {len(view)} ChArUco corners")
    return to_T(np.asarray(rvec, float).reshape(3), np.asarray(tvec, float).reshape(3))


def board_plane(T_x_board: np.ndarray) -> tuple[np.ndarray, float]:
    """Plane ``(n, d)`` (``n·p + d = 0``, ``n`` towards the sensor at the origin) of a board pose."""
    n = -T_x_board[:3, 2]
    return n, float(-n @ T_x_board[:3, 3])


# -- 1. still poses in the images --------------------------------------------------------------------
def _mean_motion(a: CharucoView, b: CharucoView) -> float:
    common, ia, ib = np.intersect1d(a.ids, b.ids, return_indices=True)
    if len(common) < 4:
        return np.inf
    return float(np.linalg.norm(a.image_px[ia] - b.image_px[ib], axis=1).mean())


def average_view(views: list[CharucoView]) -> CharucoView:
    """Corners seen in every one of ``views`` (one still pose), averaged; frame = the middle view's."""
    ids = reduce(np.intersect1d, [v.ids for v in views])

    def pick(v, a):
        order = np.argsort(v.ids)
        return a[order[np.searchsorted(v.ids, ids, sorter=order)]]

    mid = views[len(views) // 2]
    px = np.mean([pick(v, v.image_px) for v in views], axis=0)
    return CharucoView(mid.frame, mid.timestamp_ns, ids, px, pick(mid, mid.object_m), mid.capture)


def still_poses(views: list[CharucoView], min_corners: int, cfg: LidarCameraConfig) -> list[list[CharucoView]]:
    """Runs of consecutive camera frames in which the board is held still for at least ``min_still_s``
    (first to last frame plus one frame period, from the frames' timestamps)."""
    ts = np.array([v.timestamp_ns for v in views], np.int64)
    period = int(np.median(np.diff(ts))) if len(ts) > 1 else 0

    def long_enough(run):
        return len(run) >= 2 and (run[-1].timestamp_ns - run[0].timestamp_ns + period) / 1e9 >= cfg.min_still_s

    runs, cur = [], []
    for v in views:
        if len(v) >= min_corners and cur and v.frame == cur[-1].frame + 1 and _mean_motion(cur[-1], v) < cfg.still_px:
            cur.append(v)
            continue
        if long_enough(cur):
            runs.append(cur)
        cur = [v] if len(v) >= min_corners else []
    if long_enough(cur):
        runs.append(cur)
    return runs


# -- 2. the same poses in the LiDAR -----------------------------------------------------------------
def attach_lidar(poses: list[BoardPose], sweeps, sweep_times_ns: np.ndarray, T_lidar_cam0: np.ndarray,
                 target: CharucoTarget, cfg: LidarCameraConfig, found_cache: dict | None = None) -> dict:
    """Find each pose's board in the LiDAR sweeps near its time span; ``sweeps(i) -> (N, 3)`` xyz of sweep
    ``i``. Sets ``pose.lidar``; returns counts (poses without a LiDAR board, sweeps searched).

    ``found_cache`` (sweep index -> board or None) lets a second camera of the same capture reuse the
    boards found for the first (the same board at the same times); a cached board is still checked
    against this camera's prediction."""
    margin = int(cfg.max_clock_offset_s * 1e9)
    counts = {"poses_without_lidar_board": 0, "sweeps_searched": 0}
    found_cache = {} if found_cache is None else found_cache
    for pose in poses:
        T_pred = T_lidar_cam0 @ pose.T_cam_board
        idx = np.nonzero((sweep_times_ns >= pose.span_ns[0] - margin) & (sweep_times_ns <= pose.span_ns[1] + margin))[0]
        found: list[tuple[int, LidarBoard]] = []
        n_pred, d_pred = board_plane(T_pred)
        for i in map(int, idx):
            if i not in found_cache:
                counts["sweeps_searched"] += 1
                found_cache[i] = find_board(sweeps(i), T_pred, target.size_m, cfg.lidar, seed=i)
            b = found_cache[i]
            if b is not None and plane_angle_deg(b.normal, n_pred) < cfg.max_from_nominal[1] and \
                    abs(b.offset - d_pred) < cfg.max_from_nominal[0]:
                found.append((i, b))
        # the largest group of sweeps whose planes agree: the board at rest (in motion it moves between sweeps)
        best: list[tuple[int, LidarBoard]] = []
        for _, ref in found:
            group = [(i, b) for i, b in found if plane_angle_deg(b.normal, ref.normal) < cfg.agree_deg
                     and abs(b.offset - ref.offset) < cfg.agree_m]
            if len(group) > len(best):
                best = group
        if len(best) < cfg.min_sweeps:  # one or two lone sweeps: a board in motion or another pose
            best = []
        elif len(best) >= 4:  # the first and last sweep of a rest may catch the start or end of a move
            best = sorted(best, key=lambda ib: ib[0])[1:-1]
        if not best:
            counts["poses_without_lidar_board"] += 1
            continue
        pts = np.concatenate([b.points for _, b in best])
        n = np.mean([b.normal for _, b in best], 0)
        n /= np.linalg.norm(n)
        pose.lidar = LidarBoard(pts, n, float(np.mean([b.offset for _, b in best])))
        pose.lidar_frames = [i for i, _ in best]
    return counts


# -- 3. closed-form start ---------------------------------------------------------------------------
def planes_initial(poses: list[BoardPose]) -> np.ndarray:
    """``T_lidar_cam`` from the board planes seen by both sensors: normals → rotation, offsets → translation."""
    n_c = np.array([board_plane(p.T_cam_board)[0] for p in poses])
    d_c = np.array([board_plane(p.T_cam_board)[1] for p in poses])
    n_l = np.array([p.lidar.normal for p in poses])
    d_l = np.array([p.lidar.offset for p in poses])
    R_cl, _ = Rotation.align_vectors(n_c, n_l)  # camera <- lidar
    # n_c·(R p_l + t) + d_c = 0 and n_l·p_l + d_l = 0  =>  n_c·t = d_l - d_c
    t_cl = np.linalg.lstsq(n_c, d_l - d_c, rcond=None)[0]
    T_cl = np.eye(4)
    T_cl[:3, :3], T_cl[:3, 3] = R_cl.as_matrix(), t_cl
    return inv(T_cl)


def normal_spread_deg(poses: list[BoardPose]) -> float:
    """The smaller spread (deg) of the board normals about the mean normal, over two orthogonal axes."""
    n = np.array([board_plane(p.T_cam_board)[0] for p in poses])
    s = np.linalg.svd(n - n.mean(0), compute_uv=False)
    return float(np.degrees(np.arcsin(min(1.0, s[1] / np.sqrt(len(n))))))


# -- 4. joint refinement ----------------------------------------------------------------------------
def _skew(v: np.ndarray) -> np.ndarray:
    """``(N, 3)`` -> ``(N, 3, 3)`` cross-product matrices."""
    z = np.zeros(len(v))
    return np.stack([np.stack([z, -v[:, 2], v[:, 1]], -1), np.stack([v[:, 2], z, -v[:, 0]], -1),
                     np.stack([-v[:, 1], v[:, 0], z], -1)], 1)


class BoardProblem:
    """Residuals and their sparse Jacobian for :func:`solve_lidar_camera`.

    Parameters: ``[a, t]`` of ``T_lidar_cam`` (``R = exp(a)·R_lc0``), then ``[b_k, s_k]`` of each
    ``T_cam_board`` (``R = exp(b_k)·R_cb0_k``). Per pose the residuals are the corners (2 per corner, /σ_px),
    then per LiDAR point its range error against the board plane (/σ_m), then, for the points near the
    outline, the x and y excess of the point where its ray meets the board (/σ_edge)."""

    def __init__(self, poses, lidar_pts, K, dist, size_m, cfg):
        self.poses, self.pts, self.K, self.dist, self.size, self.cfg = poses, lidar_pts, K, np.asarray(dist, float), size_m, cfg
        self.rays = [q / np.linalg.norm(q, axis=1, keepdims=True) for q in lidar_pts]  # LiDAR frame, unit
        self.n = 6 + 6 * len(poses)

    def centre(self, R_lc0, t_lc, R_cb0, t_cb):
        """Linearise about these rotations; keep edge residuals for the points within ``edge_band_m`` of
        the board's outline there (inside points far from an edge contribute zero and no gradient)."""
        self.R_lc0, self.R_cb0 = R_lc0, list(R_cb0)
        W, H = self.size
        band = self.cfg.edge_band_m
        self.edge = []
        for k in range(len(self.poses)):
            q = ((self.pts[k] - t_lc) @ R_lc0 - t_cb[k]) @ R_cb0[k]
            self.edge.append(np.nonzero((q[:, 0] < band) | (q[:, 0] > W - band) | (q[:, 1] < band) |
                                        (q[:, 1] > H - band))[0])
        self.sizes = [2 * len(p.view) + len(q) + 2 * len(e) for p, q, e in zip(self.poses, self.pts, self.edge)]

    def unpack(self, x):
        R_lc = Rotation.from_rotvec(x[:3]).as_matrix() @ self.R_lc0
        R_cb = [Rotation.from_rotvec(x[6 + 6 * k:9 + 6 * k]).as_matrix() @ self.R_cb0[k] for k in range(len(self.poses))]
        t_cb = [x[9 + 6 * k:12 + 6 * k] for k in range(len(self.poses))]
        return R_lc, x[3:6], R_cb, t_cb

    def _pose_terms(self, R_lc, t_lc, R_cb, t_cb, k):
        """Pose ``k``'s view, its LiDAR points in the camera frame ``w`` and the board frame ``q``, each
        point's range error ``r`` along its ray and the board-frame point where its ray meets the board."""
        p = self.poses[k]
        w = (self.pts[k] - t_lc) @ R_lc  # camera frame
        q = (w - t_cb) @ R_cb  # board frame
        u_b = self.rays[k] @ (R_lc @ R_cb)  # ray directions in the board frame
        r = q[:, 2] / u_b[:, 2]
        on = q - r[:, None] * u_b
        return p, w, q, u_b, r, on

    def residuals(self, x):
        R_lc, t_lc, R_cb, t_cb = self.unpack(x)
        c, (W, H) = self.cfg, self.size
        out = []
        for k in range(len(self.poses)):
            p, _, _, _, r, on = self._pose_terms(R_lc, t_lc, R_cb[k], t_cb[k], k)
            q_e = on[self.edge[k]]
            uv = project(self.K, self.dist, p.view.object_m @ R_cb[k].T + t_cb[k])
            ex = np.minimum(q_e[:, 0], 0) + np.maximum(q_e[:, 0] - W, 0)
            ey = np.minimum(q_e[:, 1], 0) + np.maximum(q_e[:, 1] - H, 0)
            out += [((uv - p.view.image_px) / c.sigma_px).ravel(), r / c.sigma_m,
                    np.concatenate([ex, ey]) / c.sigma_edge_m]
        return np.concatenate(out)

    def jacobian(self, x):
        from scipy.sparse import csr_matrix

        R_lc, t_lc, R_cb, t_cb = self.unpack(x)
        c, (W, H) = self.cfg, self.size
        rows, cols, vals = [], [], []
        row = 0

        def put(r0, block, c0):  # block (n_rows, n_cols) dense at rows r0.., cols c0..
            nr, nc = block.shape
            rows.append(np.repeat(np.arange(r0, r0 + nr), nc))
            cols.append(np.tile(np.arange(c0, c0 + nc), nr))
            vals.append(block.ravel())

        eps = 1e-6
        for k in range(len(self.poses)):
            p, w, q, u_b, _, on = self._pose_terms(R_lc, t_lc, R_cb[k], t_cb[k], k)
            nc = 2 * len(p.view)
            # corners: numeric in the pose's own 6 parameters (cheap: a few dozen points)
            base = project(self.K, self.dist, p.view.object_m @ R_cb[k].T + t_cb[k]).ravel()
            Jc = np.empty((nc, 6))
            for j in range(6):
                d = np.zeros(6)
                d[j] = eps
                R = Rotation.from_rotvec(d[:3]).as_matrix() @ R_cb[k]
                Jc[:, j] = (project(self.K, self.dist, p.view.object_m @ R.T + t_cb[k] + d[3:]).ravel() - base) / eps
            put(row, Jc / c.sigma_px, 6 + 6 * k)
            # LiDAR points: dq/da = R_cb^T R_lc^T [p - t]x, dq/dt = -R_cb^T R_lc^T, dq/db = R_cb^T [w - s]x, dq/ds = -R_cb^T
            A = R_cb[k].T @ R_lc.T
            dq_da = np.einsum("ij,njk->nik", A, _skew(self.pts[k] - t_lc))
            dq_db = np.einsum("ij,njk->nik", R_cb[k].T, _skew(w - t_cb[k]))
            dq_dt = np.broadcast_to(-A, dq_da.shape)
            dq_ds = np.broadcast_to(-R_cb[k].T, dq_da.shape)
            shared = np.concatenate([dq_da, dq_dt], 2)  # (N, 3, 6)
            own = np.concatenate([dq_db, dq_ds], 2)
            # range error r = q_z / u_z and ray-plane point q - r u, with the rays' directions u (board frame)
            # turning with the rotations: du/da = A [u_lidar]x, du/db = R_cb^T [u_cam]x
            z3 = np.zeros_like(dq_da)
            du_shared = np.concatenate([np.einsum("ij,njk->nik", A, _skew(self.rays[k])), z3], 2)
            du_own = np.concatenate([np.einsum("ij,njk->nik", R_cb[k].T, _skew(self.rays[k] @ R_lc)), z3], 2)
            r = q[:, 2] / u_b[:, 2]
            inv_uz = (1.0 / u_b[:, 2])[:, None]
            dr_shared = (shared[:, 2] - r[:, None] * du_shared[:, 2]) * inv_uz
            dr_own = (own[:, 2] - r[:, None] * du_own[:, 2]) * inv_uz
            shared = shared - u_b[:, :, None] * dr_shared[:, None, :] - r[:, None, None] * du_shared
            own = own - u_b[:, :, None] * dr_own[:, None, :] - r[:, None, None] * du_own
            npt = len(q)
            r_plane = row + nc
            put(r_plane, dr_shared / c.sigma_m, 0)
            put(r_plane, dr_own / c.sigma_m, 6 + 6 * k)
            e = self.edge[k]
            q, shared, own = on[e], shared[e], own[e]
            out_x = ((q[:, 0] < 0) | (q[:, 0] > W)).astype(float)[:, None]
            out_y = ((q[:, 1] < 0) | (q[:, 1] > H)).astype(float)[:, None]
            r_edge = r_plane + npt
            put(r_edge, shared[:, 0] * out_x / c.sigma_edge_m, 0)
            put(r_edge, own[:, 0] * out_x / c.sigma_edge_m, 6 + 6 * k)
            put(r_edge + len(e), shared[:, 1] * out_y / c.sigma_edge_m, 0)
            put(r_edge + len(e), own[:, 1] * out_y / c.sigma_edge_m, 6 + 6 * k)
            row += self.sizes[k]
        return csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                          shape=(row, self.n))


def board_problem(poses: list[BoardPose], K: np.ndarray, dist: np.ndarray, target: CharucoTarget,
                  cfg: LidarCameraConfig = LidarCameraConfig(), seed: int = 0) -> BoardProblem:
    """The residuals of :func:`solve_lidar_camera` over ``poses`` (each with its LiDAR board), with the same
    random subset of ``cfg.points_per_pose`` LiDAR points per pose for the same ``seed`` — also used by the
    joint radar–LiDAR–camera refinement (:mod:`rfpose.calibration.joint`). Centre it before use."""
    rng = np.random.default_rng(seed)
    lidar_pts = []
    for p in poses:
        pts = p.lidar.points
        lidar_pts.append(pts[rng.choice(len(pts), cfg.points_per_pose, replace=False)] if len(pts) > cfg.points_per_pose
                         else pts)
    return BoardProblem(poses, lidar_pts, K, dist, target.size_m, cfg)


def solve_lidar_camera(poses: list[BoardPose], K: np.ndarray, dist: np.ndarray, target: CharucoTarget,
                       T_lidar_cam0: np.ndarray, camera: str = "camera", lidar: str = "lidar", where: str = "",
                       cfg: LidarCameraConfig = LidarCameraConfig(), seed: int = 0) -> LidarCameraResult:
    """Jointly refine ``T_lidar_cam`` and the board poses (see the module docstring)."""
    where = where or f"{lidar}->{camera}"
    poses = [p for p in poses if p.lidar is not None]
    if len(poses) < cfg.min_poses:
        raise DegenerateCalibrationError(f"{where}: {len(poses)} still board poses seen by both camera and LiDAR; "
                                         f"need >= {cfg.min_poses}: hold the board still (>= {cfg.min_still_s:g} s) "
                                         "in more poses inside both fields of view")
    spread = normal_spread_deg(poses)
    if spread < cfg.min_normal_spread_deg:
        raise DegenerateCalibrationError(f"{where}: board orientations span only {spread:.1f} deg; the translation "
                                         f"is undetermined: add poses tilted >= {cfg.min_normal_spread_deg:g} deg "
                                         "about both a vertical and a horizontal axis")
    T0 = planes_initial(poses)
    problem = board_problem(poses, K, dist, target, cfg, seed)
    lidar_pts = problem.pts
    # rotations are perturbed on the left of the current estimate; re-centring after each solve makes the
    # analytic Jacobian (first order in the perturbation) exact at the solution used for the covariance
    R_lc, t_lc = T0[:3, :3], T0[:3, 3]
    R_cb = [p.T_cam_board[:3, :3] for p in poses]
    t_cb = [p.T_cam_board[:3, 3] for p in poses]
    for _ in range(3):
        problem.centre(R_lc, t_lc, R_cb, t_cb)
        with threadpool_limits(1, "blas"):  # (N, 3) @ (3, 3) products: BLAS threads only spin on a busy machine
            x0 = np.concatenate([np.zeros(3), t_lc] + [np.concatenate([np.zeros(3), t]) for t in t_cb])
            sol = least_squares(problem.residuals, x0, jac=problem.jacobian, loss="soft_l1", f_scale=3.0,
                                method="trf", x_scale="jac", max_nfev=100)
        R_lc, t_lc, R_cb, t_cb = problem.unpack(sol.x)
        if np.abs(sol.x[:3]).max() < 1e-7:
            break
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = R_lc, t_lc
    J = sol.jac
    m, n = J.shape
    s2 = 2 * sol.cost / max(1, m - n)
    try:
        cov_all = np.linalg.inv((J.T @ J).toarray()) * s2
    except np.linalg.LinAlgError:
        raise DegenerateCalibrationError(f"{where}: the board poses leave the LiDAR->camera pose undetermined "
                                         "(singular normal equations); add tilted poses at several distances") from None
    cov = cov_all[:6, :6]
    sizes = problem.sizes
    # residuals per kind, in physical units
    r = sol.fun
    per_pose, planes_mm, corners_px = [], [], []
    row = 0
    for k, p in enumerate(poses):
        nc, nl = 2 * len(p.view), len(lidar_pts[k])
        c = r[row:row + nc] * cfg.sigma_px
        pl = r[row + nc:row + nc + nl] * cfg.sigma_m * 1e3
        ed = r[row + nc + nl:row + sizes[k]] * cfg.sigma_edge_m * 1e3
        row += sizes[k]
        p.T_cam_board = np.eye(4)
        p.T_cam_board[:3, :3], p.T_cam_board[:3, 3] = R_cb[k], t_cb[k]
        per_pose.append({"capture": p.view.capture, "camera_frame": p.view.frame, "lidar_frames": p.lidar_frames,
                         "corners": len(p.view), "lidar_points": int(len(p.lidar.points)), "rms_px": float(np.sqrt((c ** 2).mean())),
                         "plane_rms_mm": float(np.sqrt((pl ** 2).mean())), "edge_rms_mm": float(np.sqrt((ed ** 2).mean())),
                         "distance_m": float(np.linalg.norm(p.T_cam_board[:3, 3]))})
        planes_mm.append(pl)
        corners_px.append(np.hypot(c[0::2], c[1::2]))
    planes_mm, corners_px = np.concatenate(planes_mm), np.concatenate(corners_px)
    std = np.sqrt(np.clip(np.diag(cov), 0, None))
    residual = {"rms_px": float(np.sqrt((corners_px ** 2).mean())), "plane_rms_mm": float(np.sqrt((planes_mm ** 2).mean())),
                "edge_rms_mm": float(np.sqrt(np.mean([pp["edge_rms_mm"] ** 2 for pp in per_pose]))),
                "poses": len(poses), "normal_spread_deg": spread,
                "std_rot_deg": np.degrees(std[:3]).tolist(), "std_trans_mm": (std[3:] * 1e3).tolist(),
                "covariance_frame": lidar,
                "solver": "ChArUco corners + LiDAR ranges and board edges along the rays (least_squares soft_l1)"}
    # a pose whose board the LiDAR and the camera cannot agree on (a wrong match): drop it, solve again
    rms = np.array([pp["rms_px"] for pp in per_pose])
    bad = rms > max(1.0, 5 * float(np.median(rms)))
    if bad.any() and len(poses) - bad.sum() >= cfg.min_poses:
        log.info("%s: dropping board poses at camera frames %s (corner RMS %s px)", where,
                 [pp["camera_frame"] for pp, b in zip(per_pose, bad) if b], np.round(rms[bad], 1))
        keep = [p for p, b in zip(poses, bad) if not b]
        res = solve_lidar_camera(keep, K, dist, target, T_lidar_cam0, camera, lidar, where, cfg, seed)
        res.residual["dropped_poses"] = res.residual.get("dropped_poses", 0) + int(bad.sum())
        return res
    if residual["plane_rms_mm"] > cfg.max_plane_rms_mm:
        raise CalibrationError(f"{where}: LiDAR board points lie {residual['plane_rms_mm']:.1f} mm RMS off the camera's "
                               f"board planes (> {cfg.max_plane_rms_mm:g} mm); the LiDAR and camera poses do not match")
    dt = np.linalg.norm(T[:3, 3] - T_lidar_cam0[:3, 3])
    dr = np.degrees(Rotation.from_matrix(T_lidar_cam0[:3, :3].T @ T[:3, :3]).magnitude())
    if dt > cfg.max_from_nominal[0] or dr > cfg.max_from_nominal[1]:
        raise CalibrationError(f"{where}: result is {dt * 1e3:.0f} mm / {dr:.1f} deg from the nominal extrinsics "
                               f"(limit {cfg.max_from_nominal[0] * 1e3:.0f} mm / {cfg.max_from_nominal[1]:g} deg); "
                               "check the nominal extrinsics in the session or the board detections")
    return LidarCameraResult(camera, lidar, T, cov, poses, residual, per_pose, planes_mm, corners_px)


def board_poses(views: list[CharucoView], K: np.ndarray, dist: np.ndarray, min_corners: int,
                cfg: LidarCameraConfig = LidarCameraConfig()) -> list[BoardPose]:
    """The still board poses of a camera's views, each with its averaged corners and PnP pose."""
    out = []
    for run in still_poses(views, min_corners, cfg):
        v = average_view(run[1:-1] if len(run) > 3 else run)
        if len(v) < min_corners:
            continue
        out.append(BoardPose(v, pnp(v, K, dist), (run[0].frame, run[-1].frame),
                             (run[0].timestamp_ns, run[-1].timestamp_ns)))
    return out
