"""Joint refinement of radar → LiDAR, LiDAR → camera and radar → camera: one least-squares problem.

The separate solvers each estimate one transform from their own observations; chaining two of them and
comparing with the third (radar → camera direct against radar → LiDAR → camera) shows their errors add up.
Here the observations of all of them enter one ``scipy.optimize.least_squares`` problem whose unknowns are
``T_radar_lidar``, per camera ``T_lidar_cam`` and its still board poses, and the reflector's true positions
(in the radar frame), so ``T_radar_cam = T_radar_lidar · T_lidar_cam`` holds by construction — the fully
connected pose estimation of Domhof et al. (2021), with the board observations added. Residuals, each
whitened by its own measurement covariance as the separate solvers use them:

- radar reflector stops: fitted position − measured (radar stop covariance, :func:`radar_extrinsics.radar_stops`);
- LiDAR reflector stops: the fitted position in the LiDAR frame − measured (LiDAR stop covariance);
- the marker's pixels per camera: the fitted position projected through ``T_radar_lidar · T_lidar_cam`` and the
  camera's intrinsics − measured (pixel covariance, :func:`radar_camera.marker_stops`);
- per camera the board residuals of :func:`lidar_camera.solve_lidar_camera` (ChArUco corners, LiDAR ranges and
  board edges; its analytic sparse Jacobian), unchanged.

Only the inliers of the separate fits enter; the loss is soft-L1 as in those fits. The covariance of every
transform comes from the joint Jacobian (``s²(JᵀJ)⁻¹``, ``s²`` the residual variance, at least 1).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import least_squares
from scipy.sparse import coo_matrix, csr_matrix
from scipy.spatial.transform import Rotation

from rfpose.calibration.lidar_camera import BoardProblem, project
from rfpose.errors import DegenerateCalibrationError


@dataclass
class PointObservations:
    """Observations of the reflector's positions by one sensor: ``index`` (n,) which position (row of the
    radar's stops) each one sees, ``value`` (n, d) (m in the sensor frame, or px) and ``cov`` (n, d, d)."""

    index: np.ndarray
    value: np.ndarray
    cov: np.ndarray

    def whitening(self) -> np.ndarray:
        return np.array([np.linalg.inv(np.linalg.cholesky(c)) for c in self.cov])


@dataclass
class CameraTerms:
    """One camera in the joint problem: its calibrated ``K``, ``dist``; the marker's stops (``marker``, px);
    the board problem of its LiDAR → camera solve (``board``: :func:`lidar_camera.board_problem`) and that
    solve's ``T_lidar_cam0`` and board poses ``T_cam_board0`` (the start)."""

    K: np.ndarray
    dist: np.ndarray
    marker: PointObservations
    board: BoardProblem
    T_lidar_cam0: np.ndarray
    T_cam_board0: list[np.ndarray]


@dataclass
class JointFit:
    """``T_radar_lidar`` (LiDAR → radar) and per camera ``T_lidar_cam`` and ``T_radar_cam`` (= their product),
    each with its 6×6 covariance over ``[rotation vector rad, translation m]`` (left perturbation; radar frame
    for the radar's poses, LiDAR frame for ``T_lidar_cam``); ``residual``: per block RMS in physical units."""

    T_radar_lidar: np.ndarray
    cov_radar_lidar: np.ndarray
    T_lidar_cam: dict[str, np.ndarray]
    cov_lidar_cam: dict[str, np.ndarray]
    T_radar_cam: dict[str, np.ndarray]
    cov_radar_cam: dict[str, np.ndarray]
    positions: np.ndarray
    residual: dict = field(default_factory=dict)


def _T(R: np.ndarray, t: np.ndarray) -> np.ndarray:
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = R, t
    return T


def _left(T0: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``R = exp(x[:3])·R0``, ``t = t0 + x[3:]`` (the convention of :func:`rigid.fit_rigid`)."""
    T = np.eye(4)
    T[:3, :3] = Rotation.from_rotvec(x[:3]).as_matrix() @ T0[:3, :3]
    T[:3, 3] = T0[:3, 3] + x[3:6]
    return T


def _pose_delta(T: np.ndarray, T0: np.ndarray) -> np.ndarray:
    """``[rotvec of R·R0ᵀ, t − t0]``: the inverse of :func:`_left`."""
    return np.concatenate([Rotation.from_matrix(T[:3, :3] @ T0[:3, :3].T).as_rotvec(), T[:3, 3] - T0[:3, 3]])


def _to_local(T: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Points ``(n, 3)`` of the parent frame into the frame of the sensor whose pose is ``T``."""
    return (p - T[:3, 3]) @ T[:3, :3]


class _Problem:
    """Parameters: ``[a, t]`` of ``T_radar_lidar`` (left perturbation of ``T_rl0``), then each camera's board
    parameters (``BoardProblem``: ``T_lidar_cam`` first, then its board poses), then the positions (3 each)."""

    def __init__(self, radar, lidar, cameras, T_rl0, positions0):
        self.radar, self.lidar, self.cameras = radar, lidar, cameras
        self.T_rl0 = T_rl0
        self.Lr, self.Ll = radar.whitening(), lidar.whitening()
        self.Lc = {c: t.marker.whitening() for c, t in cameras.items()}
        self.off = {}
        o = 6
        for c, t in cameras.items():
            self.off[c] = o
            o += t.board.n
        self.p_off = o
        self.n_pos = len(positions0)
        self.n = o + 3 * self.n_pos

    def x0(self, positions: np.ndarray, state: dict) -> np.ndarray:
        """The parameters at ``T_rl0``, the cameras' ``state`` ``{camera: (T_lidar_cam, [T_cam_board])}`` (the
        centres of their rotations) and ``positions``."""
        parts = [np.zeros(6)]
        for c in self.cameras:
            T_lc, T_cb = state[c]
            parts.append(np.concatenate([np.zeros(3), T_lc[:3, 3]] + [np.concatenate([np.zeros(3), T[:3, 3]])
                                                                       for T in T_cb]))
        parts.append(np.asarray(positions, float).ravel())
        return np.concatenate(parts)

    def T_lc(self, x, c) -> np.ndarray:
        R, t, _, _ = self.cameras[c].board.unpack(x[self.off[c]:self.off[c] + self.cameras[c].board.n])
        return _T(R, t)

    def reflector_residuals(self, x) -> np.ndarray:
        T_rl = _left(self.T_rl0, x[:6])
        p = x[self.p_off:].reshape(-1, 3)
        r, li = self.radar, self.lidar
        out = [np.einsum("nij,nj->ni", self.Lr, p[r.index] - r.value).ravel(),
               np.einsum("nij,nj->ni", self.Ll, _to_local(T_rl, p[li.index]) - li.value).ravel()]
        for c, t in self.cameras.items():
            T_rc = T_rl @ self.T_lc(x, c)
            uv = project(t.K, t.dist, _to_local(T_rc, p[t.marker.index]))
            out.append(np.einsum("nij,nj->ni", self.Lc[c], uv - t.marker.value).ravel())
        return np.concatenate(out)

    def residuals(self, x) -> np.ndarray:
        out = [self.reflector_residuals(x)]
        for c, t in self.cameras.items():
            out.append(t.board.residuals(x[self.off[c]:self.off[c] + t.board.n]))
        return np.concatenate(out)

    def reflector_columns(self) -> np.ndarray:
        """The parameters the reflector residuals depend on: ``T_radar_lidar``, each ``T_lidar_cam``, positions."""
        return np.concatenate([np.arange(6)] + [np.arange(o, o + 6) for o in self.off.values()] +
                              [np.arange(self.p_off, self.n)])

    def jacobian(self, x) -> csr_matrix:
        cols = self.reflector_columns()
        f0 = self.reflector_residuals(x)
        Jr = np.empty((len(f0), len(cols)))
        for k, j in enumerate(cols):  # central differences over the few parameters the reflector terms see
            h = 1e-7 if j < self.p_off else 1e-6
            xp, xm = x.copy(), x.copy()
            xp[j] += h
            xm[j] -= h
            Jr[:, k] = (self.reflector_residuals(xp) - self.reflector_residuals(xm)) / (2 * h)
        rr, cc = np.nonzero(Jr)
        rows, colsl, vals = [rr], [cols[cc]], [Jr[rr, cc]]
        row = len(f0)
        for c, t in self.cameras.items():
            Jb = t.board.jacobian(x[self.off[c]:self.off[c] + t.board.n]).tocoo()
            rows.append(Jb.row + row)
            colsl.append(Jb.col + self.off[c])
            vals.append(Jb.data)
            row += Jb.shape[0]
        return coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(colsl))),
                          shape=(row, self.n)).tocsr()


def joint_refine(radar: PointObservations, lidar: PointObservations, T_radar_lidar0: np.ndarray,
                 cameras: dict[str, CameraTerms], where: str = "", f_scale: float = 3.0,
                 rounds: int = 3) -> JointFit:
    """Refine every transform at once (see the module docstring), starting from the separate solutions.

    ``radar``: the radar's reflector stops (``index`` = 0..n−1, the positions' numbering); ``lidar``: the
    LiDAR's stops matched to them (LiDAR frame); ``cameras``: per camera the marker's stops matched to them and
    its board problem. Refused (:class:`DegenerateCalibrationError`) when the joint normal equations are
    singular."""
    from threadpoolctl import threadpool_limits

    positions = np.asarray(radar.value, float).copy()
    T_rl = np.asarray(T_radar_lidar0, float)
    state = {c: (t.T_lidar_cam0, t.T_cam_board0) for c, t in cameras.items()}
    for _ in range(rounds):
        for c, t in cameras.items():  # re-centre the rotations at the current estimate (as the board solver does)
            T_lc, T_cb = state[c]
            t.board.centre(T_lc[:3, :3], T_lc[:3, 3], [T[:3, :3] for T in T_cb], [T[:3, 3] for T in T_cb])
        prob = _Problem(radar, lidar, cameras, T_rl, positions)
        with threadpool_limits(1, "blas"):
            sol = least_squares(prob.residuals, prob.x0(positions, state), jac=prob.jacobian, loss="soft_l1",
                                f_scale=f_scale, method="trf", x_scale="jac", max_nfev=50)
        x = sol.x
        T_rl = _left(T_rl, x[:6])
        positions = x[prob.p_off:].reshape(-1, 3).copy()
        for c, t in cameras.items():
            R_lc, t_lc, R_cb, t_cb = t.board.unpack(x[prob.off[c]:prob.off[c] + t.board.n])
            state[c] = (_T(R_lc, t_lc), [_T(R, tt) for R, tt in zip(R_cb, t_cb)])
        moved = max([np.abs(x[:3]).max()] + [np.abs(x[o:o + 3]).max() for o in prob.off.values()])
        if moved < 1e-7:
            break
    J = sol.jac
    m, n = J.shape
    s2 = max(1.0, 2 * sol.cost / max(1, m - n))
    JtJ = (J.T @ J).toarray()
    if np.linalg.cond(JtJ) > 1e14:
        raise DegenerateCalibrationError(f"{where}: the joint radar–LiDAR–camera problem is singular; add reflector "
                                         "positions and board poses")
    C = np.linalg.inv(JtJ) * s2
    fit = JointFit(T_rl, C[:6, :6], {}, {}, {}, {}, positions)
    for c, t in cameras.items():
        o = prob.off[c]
        T_lc = state[c][0]
        fit.T_lidar_cam[c] = T_lc
        # the board problem's T_lidar_cam: R = exp(a)·R_lc0, t absolute — the same left convention
        fit.cov_lidar_cam[c] = C[o:o + 6, o:o + 6]
        fit.T_radar_cam[c] = T_rl @ T_lc
        # propagate [δ_rl, δ_lc] to the radar → camera pose by differences at the solution
        idx = np.r_[0:6, o:o + 6]
        G = np.empty((6, 12))
        T_rc = fit.T_radar_cam[c]
        for k in range(12):
            d = np.zeros(12)
            d[k] = 1e-7
            Tk = _left(T_rl, d[:6]) @ _left(T_lc, d[6:])
            G[:, k] = _pose_delta(Tk, T_rc) / 1e-7
        fit.cov_radar_cam[c] = G @ C[np.ix_(idx, idx)] @ G.T
    # residuals in physical units
    p = positions
    board_rows, row = {}, len(prob.reflector_residuals(x))
    for c, t in cameras.items():
        board_rows[c] = row
        row += sum(t.board.sizes)
    fit.residual = {
        "radar_rms_mm": float(np.sqrt(np.mean(np.sum((p[radar.index] - radar.value) ** 2, 1))) * 1e3),
        "lidar_rms_mm": float(np.sqrt(np.mean(np.sum((_to_local(T_rl, p[lidar.index]) - lidar.value) ** 2, 1))) * 1e3),
        "positions": int(len(p)), "s2": float(2 * sol.cost / max(1, m - n)), "nfev": int(sol.nfev),
        "solver": "joint least_squares (soft_l1): radar, LiDAR and marker stops + board corners, ranges, edges"}
    for c, t in cameras.items():
        uv = project(t.K, t.dist, _to_local(fit.T_radar_cam[c], p[t.marker.index]))
        rb = sol.fun[board_rows[c]:board_rows[c] + sum(t.board.sizes)]
        corners, ranges = [], []
        row = 0
        for pose, size, pts in zip(t.board.poses, t.board.sizes, t.board.pts):
            nc = 2 * len(pose.view)
            corners.append(rb[row:row + nc] * t.board.cfg.sigma_px)
            ranges.append(rb[row + nc:row + nc + len(pts)] * t.board.cfg.sigma_m * 1e3)
            row += size
        fit.residual[c] = {"marker_rms_px": float(np.sqrt(np.mean(np.sum((uv - t.marker.value) ** 2, 1)))),
                           "marker_stops": int(len(t.marker.index)),
                           "board_rms_px": float(np.sqrt(np.mean(np.concatenate(corners) ** 2)) * np.sqrt(2)),
                           "board_range_rms_mm": float(np.sqrt(np.mean(np.concatenate(ranges) ** 2)))}
    return fit
