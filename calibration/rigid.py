"""Robust rigid fit between corresponding 3D points, with the covariance of the result.

``fit_rigid(src, dst, sigma)`` finds ``T_dst_src`` (4x4, maps ``src`` points onto ``dst``): the closed-form
Kabsch/Umeyama solution (SVD, no scale) as the start, then ``scipy.optimize.least_squares`` with a robust
loss over the residuals ``(R·src + t − dst)`` whitened by each correspondence's measurement covariance.
The 6x6 covariance of ``[rotation vector (rad), translation (m)]`` is ``s²·(JᵀJ)⁻¹`` at the solution
(``s²`` the reduced chi-square, at least 1 so a lucky fit does not claim more than the noise model allows),
with the perturbation applied on the left (``T = exp(δ)·T̂``, in the ``dst`` frame).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.linalg import block_diag
from scipy.optimize import least_squares
from scipy.spatial.transform import Rotation

from rfpose.errors import DegenerateCalibrationError


@dataclass
class RigidFit:
    """``T`` (4, 4) maps src to dst; ``covariance`` (6, 6) of [rotvec rad, translation m] (left perturbation);
    ``residual_m`` (N, 3) dst-frame residuals; ``inliers`` (N,) bool (robust weight above one half)."""

    T: np.ndarray
    covariance: np.ndarray
    residual_m: np.ndarray
    inliers: np.ndarray
    cost: float
    variance_factors: dict = field(default_factory=dict)  # estimated factors of covariance components

    @property
    def rms_mm(self) -> float:
        return float(np.sqrt(np.mean(np.sum(self.residual_m[self.inliers] ** 2, axis=1))) * 1e3)

    def std(self) -> dict:
        """Per-axis 1-sigma: rotation about x, y, z (deg) and translation along x, y, z (mm)."""
        s = np.sqrt(np.clip(np.diag(self.covariance), 0, None))
        return {"rot_deg": np.degrees(s[:3]).tolist(), "trans_mm": (s[3:] * 1e3).tolist()}

    def summary(self) -> dict:
        return {"rms_mm": self.rms_mm, "max_mm": float(np.max(np.linalg.norm(self.residual_m, axis=1)) * 1e3),
                "inliers": int(self.inliers.sum()), "correspondences": int(len(self.inliers)), **self.std(),
                **({"variance_factors": self.variance_factors} if self.variance_factors else {})}


def kabsch(src: np.ndarray, dst: np.ndarray, w: np.ndarray | None = None) -> np.ndarray:
    """Closed-form (weighted) least-squares rotation and translation ``T`` with ``dst ≈ R·src + t``."""
    w = np.ones(len(src)) if w is None else np.asarray(w, float)
    w = w / w.sum()
    cs, cd = w @ src, w @ dst
    H = (src - cs).T @ ((dst - cd) * w[:, None])
    U, _, Vt = np.linalg.svd(H)
    D = np.diag([1.0, 1.0, np.sign(np.linalg.det(Vt.T @ U.T))])
    R = Vt.T @ D @ U.T
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = R, cd - R @ cs
    return T


def _compose(x: np.ndarray, T0: np.ndarray) -> np.ndarray:
    """``R = exp(x[:3])·R0``, ``t = t0 + x[3:]``: the covariance of x is that of T's rotation (left, dst frame)
    and of its translation."""
    T = np.eye(4)
    T[:3, :3] = Rotation.from_rotvec(x[:3]).as_matrix() @ T0[:3, :3]
    T[:3, 3] = T0[:3, 3] + x[3:]
    return T


def fit_rigid(src: np.ndarray, dst: np.ndarray, sigma: np.ndarray | None = None, loss: str = "soft_l1",
              f_scale: float = 2.0, min_points: int = 3) -> RigidFit:
    """Robust rigid transform with ``dst ≈ T·src``.

    ``src``, ``dst``: ``(N, 3)`` metres. ``sigma``: ``(N, 3, 3)`` covariance of each residual in the dst frame
    (None: isotropic 1 mm); the residuals are whitened by it, so ``f_scale`` is in standard deviations."""
    src, dst = np.asarray(src, float), np.asarray(dst, float)
    n = len(src)
    if n < min_points:
        raise DegenerateCalibrationError(f"a rigid fit needs at least {min_points} correspondences, got {n}")
    cov = np.broadcast_to(np.eye(3) * 1e-6, (n, 3, 3)) if sigma is None else np.asarray(sigma, float)
    Wh = np.linalg.cholesky(np.linalg.inv(cov)).transpose(0, 2, 1)  # whitening: Wh @ r has unit covariance
    T = kabsch(src, dst)

    def res(x, T0):
        Tx = _compose(x, T0)
        r = src @ Tx[:3, :3].T + Tx[:3, 3] - dst
        return np.einsum("nij,nj->ni", Wh, r).ravel()

    for _ in range(2):  # the second pass re-linearises at the solution, so the Jacobian is the one at T
        sol = least_squares(res, np.zeros(6), loss=loss, f_scale=f_scale, x_scale="jac", args=(T,))
        T = _compose(sol.x, T)
    r = src @ T[:3, :3].T + T[:3, 3] - dst
    z = res(np.zeros(6), T).reshape(n, 3)
    rho_w = 1.0 / np.sqrt(1 + (np.linalg.norm(z, axis=1) / f_scale) ** 2) if loss == "soft_l1" else np.ones(n)
    J = sol.jac
    dof = max(1, 3 * n - 6)
    s2 = max(1.0, float(np.sum(z ** 2)) / dof)
    JtJ = J.T @ J
    if np.linalg.cond(JtJ) > 1e12:
        raise DegenerateCalibrationError("the correspondences do not determine all six degrees of freedom "
                                         "(points collinear or coincident); spread them in range, azimuth and height")
    C = np.linalg.inv(JtJ) * s2
    return RigidFit(T, C, r, rho_w > 0.5, float(sol.cost))


def variance_factor(fit: RigidFit, src: np.ndarray, cov_fixed: np.ndarray, Q: np.ndarray, theta: float) -> float:
    """One Förstner (1979) variance-component step for a rigid fit: the factor ``θ`` of the component ``Q`` in
    each correspondence's residual covariance ``Σᵢ = cov_fixedᵢ + θ·Qᵢ`` that the fit's residuals support,
    ``θ·(vᵀWQWv) / tr(WQWQ_vv)`` (``W = Σ⁻¹``, ``Q_vv`` the residuals' cofactor matrix: the residuals' share
    of the redundancy, so the six pose parameters' absorption of the errors is accounted for). Iterated with
    refits it converges to the REML estimate. Only the fit's inliers count; ``src`` ``(N, 3)``,
    ``cov_fixed`` and ``Q`` ``(N, 3, 3)``."""
    k = fit.inliers
    n = int(k.sum())
    R = fit.T[:3, :3]
    q = np.asarray(src, float)[k] @ R.T
    J = np.zeros((3 * n, 6))
    for i, p in enumerate(q):  # left perturbation: d(exp(a)·R·src + t) = −[R·src]× a + dt
        J[3 * i:3 * i + 3, :3] = [[0, p[2], -p[1]], [-p[2], 0, p[0]], [p[1], -p[0], 0]]
        J[3 * i:3 * i + 3, 3:] = np.eye(3)
    Qk = np.asarray(Q, float)[k]
    S = block_diag(*(np.asarray(cov_fixed, float)[k] + theta * Qk))
    Qb = block_diag(*Qk)
    W = np.linalg.inv(S)
    Qvv = S - J @ np.linalg.solve(J.T @ W @ J, J.T)
    v = fit.residual_m[k].ravel()
    WQW = W @ Qb @ W
    den = float(np.trace(WQW @ Qvv))
    return theta * float(v @ WQW @ v) / den if den > 1e-12 else theta
