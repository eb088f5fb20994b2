"""Lifting 2D joints to 3D in the radar frame: one weighted least-squares problem per joint and time.

Each camera c that sees joint j gives two linear rows on the radar-frame point X (the DLT rows of its
normalised, undistorted coordinates), scaled so that their residual is the reprojection error in pixels
divided by the joint's 2D uncertainty (``sigma_px / confidence``). A depth measurement (from the LiDAR, or
a relative-depth prior) gives one more row on the reference camera's depth, scaled by its σ. The problem is
solved as iteratively reweighted least squares: each pass recomputes the rows' depth scaling from the
current estimate (so the solution minimises reprojection error, not the algebraic DLT error) and applies
Cauchy weights to each view's reprojection error (robust over views: a camera whose detection disagrees is
down-weighted). Vectorised over all joints and frames: ``(M, R, 3)`` rows, ``(M, 3, 3)`` solves.

With two or more cameras this is confidence-weighted triangulation refined by reprojection error; with one
camera plus depth it is back-projection at the measured depth; with both, the fusion of the two.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: 2D uncertainty of a joint detected with confidence 1 (px); MediaPipe's median error on the renders is ~4 px
SIGMA_PX = 4.0
OUTLIER_SIGMAS = 3.0  # Cauchy scale in units of sigma: views with a larger normalised residual fade out


@dataclass
class LiftResult:
    joints: np.ndarray  # (T, J, 3) radar frame, m; NaN where unsolvable
    reproj_px: np.ndarray  # (C, T, J) reprojection error per camera, NaN where the camera has no detection
    views: np.ndarray  # (T, J) number of cameras that saw the joint (weight > 0)
    depth_used: np.ndarray  # (T, J) bool: a depth row took part
    cov_m2: np.ndarray  # (T, J, 3, 3) posterior covariance of the point (m², radar frame): the LS covariance,
    #                     inflated by the residual χ² per degree of freedom when the views disagree
    sigma_m: np.ndarray  # (T, J) sqrt of its trace (m)


def lift(R: np.ndarray, t: np.ndarray, focal: np.ndarray, xn: np.ndarray, conf: np.ndarray,
         depth: np.ndarray | None = None, depth_sigma: np.ndarray | None = None, iters: int = 6,
         sigma_px: float = SIGMA_PX) -> LiftResult:
    """Solve radar-frame points from C cameras.

    ``R (C, 3, 3)``, ``t (C, 3)``: radar -> camera c (``p_c = R p + t``); ``focal (C,)`` px; ``xn (C, T, J, 2)``
    normalised undistorted coordinates (NaN where not detected); ``conf (C, T, J)`` in [0, 1];
    ``depth``/``depth_sigma (T, J)``: camera-0 depth (m) and its σ (NaN / inf where none).
    """
    C, T, J = conf.shape
    M = T * J
    x = xn.reshape(C, M, 2)
    w = np.where(np.isfinite(x).all(-1), np.clip(conf.reshape(C, M), 0, 1), 0.0)
    x = np.nan_to_num(x)
    d = np.full(M, np.nan) if depth is None else np.asarray(depth, float).reshape(M)
    sd = np.full(M, np.inf) if depth_sigma is None else np.asarray(depth_sigma, float).reshape(M)
    has_d = np.isfinite(d) & np.isfinite(sd) & (sd > 0)
    # rows: (u P3 - P1) X = u t3 - t1 ; (v P3 - P2) X = v t3 - t2   (P = R, radar -> camera)
    A = np.zeros((M, 2 * C + 1, 3))
    b = np.zeros((M, 2 * C + 1))
    for c in range(C):
        for k in range(2):
            A[:, 2 * c + k] = x[c, :, k, None] * R[c, 2] - R[c, k]
            b[:, 2 * c + k] = t[c, k] - x[c, :, k] * t[c, 2]
    A[:, 2 * C] = R[0, 2]
    b[:, 2 * C] = np.where(has_d, d, 0.0) - t[0, 2]
    z = np.where(has_d, d, 3.0)[None].repeat(C, 0)  # depth of the point in each camera, first guess
    robust = np.ones((C, M))
    X = np.full((M, 3), np.nan)
    for _ in range(iters):
        s = np.zeros((M, 2 * C + 1))
        for c in range(C):
            # residual of a DLT row = z_c * (normalised reprojection error); px = focal * that / z_c
            s[:, 2 * c:2 * c + 2] = (w[c] * robust[c] * focal[c] / (sigma_px * np.maximum(z[c], 0.1)))[:, None]
        s[:, 2 * C] = np.where(has_d, 1.0 / np.where(has_d, sd, 1.0), 0.0)
        As, bs = A * s[..., None], b * s
        N = np.einsum("mri,mrj->mij", As, As)
        rhs = np.einsum("mri,mr->mi", As, bs)
        ok = np.linalg.det(N) > 1e-9 * np.maximum(np.einsum("mii->m", N), 1e-30) ** 3
        X = np.full((M, 3), np.nan)
        if ok.any():
            X[ok] = np.linalg.solve(N[ok], rhs[ok][..., None])[..., 0]
        pc = np.einsum("cij,mj->cmi", R, X) + t[:, None]
        z = np.where(np.isfinite(pc[..., 2]) & (pc[..., 2] > 0.1), pc[..., 2], np.maximum(z, 0.1))
        err = _reproj_px(pc, x, focal, w)
        norm = err / sigma_px * np.maximum(w, 1e-6)
        # Cauchy: a view far off gets ~no weight; a view without a detection (NaN error) keeps weight w = 0
        robust = np.where(np.isfinite(norm), 1.0 / (1.0 + (norm / OUTLIER_SIGMAS) ** 2), 1.0)
    views = (w > 0).sum(0)
    cov = np.full((M, 3, 3), np.nan)
    if ok.any():
        res = np.einsum("mri,mi->mr", As[ok], X[ok]) - bs[ok]
        dof = (s[ok] > 0).sum(1) - 3
        chi = np.where(dof > 0, (res ** 2).sum(1) / np.maximum(dof, 1), 1.0)
        cov[ok] = np.linalg.inv(N[ok]) * np.maximum(chi, 1.0)[:, None, None]
    cov = cov.reshape(T, J, 3, 3)
    return LiftResult(X.reshape(T, J, 3), err.reshape(C, T, J), views.reshape(T, J), has_d.reshape(T, J),
                      cov, np.sqrt(np.einsum("tjii->tj", cov)))


def _reproj_px(pc: np.ndarray, x: np.ndarray, focal: np.ndarray, w: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        proj = pc[..., :2] / pc[..., 2:3]
    err = np.linalg.norm(proj - x, axis=-1) * focal[:, None]
    return np.where(w > 0, err, np.nan)
