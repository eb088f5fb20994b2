"""Radar → camera directly from the corner reflector's visual marker, and the camera's clock from its moves.

The reflector carries a printed 2 × 2 black/white checker centred on its apex (Domhof et al.'s target
carries circles for the same purpose; ``docs/calibration-radar.md``). This module takes arrays:

- :func:`locate_marker`: in one grey image, the checker's centre — a saddle point — among the pixels that
  differ from the capture's median image (the reflector is moved, the room is not): a quadrant filter at a
  few scales finds it to a pixel, ``cv2.cornerSubPix`` refines it to a fraction of one.
- :func:`marker_stops`: runs of frames with the marker still (as :func:`rfpose.calibration.reflector.find_stops`,
  in pixels), pooled into one pixel position and its covariance per stop.
- :func:`solve_radar_camera`: ``T_radar_camera`` from the radar's stop positions (3-D, covariance from
  :func:`rfpose.calibration.radar_extrinsics.radar_stops`) and the camera's stop pixels, an
  errors-in-variables least squares (the pose and the reflector's true positions are unknowns; radar
  residuals whitened by the radar covariance, pixel residuals by the pixel covariance; soft-L1 loss), the
  pose's covariance from the Jacobian. Intrinsics and distortion are the camera's calibrated ones.

Degenerate input is refused with a typed error: a marker never found in a camera
(:class:`TargetNotFoundError`), too few stops seen by both sensors or positions on a line or plane
(:class:`DegenerateCalibrationError`), stops that do not agree (:class:`CorrespondenceError`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import least_squares
from scipy.spatial.transform import Rotation

from rfpose.calibration.radar_extrinsics import MIN_STOPS, StopMeasurement, check_geometry, match_stops
from rfpose.calibration.reflector import find_stops
from rfpose.errors import CorrespondenceError, DegenerateCalibrationError, TargetNotFoundError

#: pixel noise floor of a stop's marker position (sub-pixel corner refinement, rendering): px
PIXEL_FLOOR_PX = 0.1
SCALES_PX = (2, 3, 5, 8, 12)


# -- the marker in one image ---------------------------------------------------------------------------------------
def saddle_response(gray: np.ndarray, h: int) -> np.ndarray:
    """``(H, W)`` response of a 2 × 2 checker centred on each pixel, quadrants ``h`` px wide: the mean of the
    top-right and bottom-left quadrants minus the top-left and bottom-right ones (positive for the marker's
    orientation, black top-left), 0 within ``h`` px of the border."""
    g = np.asarray(gray, np.float64)
    H, W = g.shape
    S = np.zeros((H + 1, W + 1))
    S[1:, 1:] = g.cumsum(0).cumsum(1)
    out = np.zeros((H, W))
    if H <= 2 * h + 1 or W <= 2 * h + 1:
        return out
    v = np.arange(h, H - h - 1)[:, None]
    u = np.arange(h, W - h - 1)[None, :]

    def box(r0, c0):  # sum over rows [r0, r0 + h), cols [c0, c0 + h)
        return S[r0 + h, c0 + h] - S[r0, c0 + h] - S[r0 + h, c0] + S[r0, c0]

    tl, br = box(v - h, u - h), box(v + 1, u + 1)
    tr, bl = box(v - h, u + 1), box(v + 1, u - h)
    out[h:H - h - 1, h:W - h - 1] = (tr + bl - tl - br) / (2 * h * h)
    return out


def locate_marker(gray: np.ndarray, background: np.ndarray, min_contrast: float = 40.0,
                  changed: float = 25.0) -> tuple[np.ndarray, float] | None:
    """The marker's centre ``(u, v)`` px (pixel centres at integers, OpenCV's convention) in a grey image, and
    its contrast (grey levels); None if no saddle of ``min_contrast`` lies where the image differs from the
    ``background`` by more than ``changed``."""
    import cv2

    g = np.asarray(gray, np.float32)
    moved = np.abs(g - background) > changed
    if moved.sum() < 4:
        return None
    moved = cv2.dilate(moved.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    rows, cols = np.flatnonzero(moved.any(axis=1)), np.flatnonzero(moved.any(axis=0))
    pad = max(SCALES_PX) + 2  # search only the changed region's bounding box
    r0, c0 = max(0, rows[0] - pad), max(0, cols[0] - pad)
    crop, mcrop = g[r0:rows[-1] + pad + 1, c0:cols[-1] + pad + 1], moved[r0:rows[-1] + pad + 1, c0:cols[-1] + pad + 1]
    peaks = []
    for h in SCALES_PX:
        r = np.where(mcrop, saddle_response(crop, h), 0.0)
        k = int(np.argmax(r))
        peaks.append((float(r.flat[k]), np.unravel_index(k, r.shape), h))
    best = max(p[0] for p in peaks)
    if best < min_contrast:
        return None
    # the largest quadrant that still sees full contrast ≈ the checker's square: the refinement window
    _, (v, u), scale = [p for p in peaks if p[0] >= 0.9 * best][-1]
    where = (v + r0, u + c0)
    if not _is_checker(g, where, scale, min_contrast):
        return None
    win = max(2, int(round(0.6 * scale)))
    pt = np.array([[[float(where[1]), float(where[0])]]], np.float32)
    crit = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 50, 1e-3)
    pt = cv2.cornerSubPix(g, pt, (win, win), (-1, -1), crit)
    uv = pt.reshape(2).astype(np.float64)
    if np.any(np.abs(uv - [where[1], where[0]]) > win):  # ran off: no corner there
        return None
    return uv, best


def _is_checker(g: np.ndarray, where: tuple[int, int], h: int, min_contrast: float) -> bool:
    """The four ``h`` px quadrants around ``where`` look like the marker: the two bright ones alike, the two
    dark ones alike, each nearly uniform, and bright − dark ≥ ``min_contrast`` (a saddle-shaped patch of a
    person's clothes is not)."""
    v, u = where
    q = [g[v - h:v, u - h:u], g[v - h:v, u + 1:u + 1 + h], g[v + 1:v + 1 + h, u - h:u], g[v + 1:v + 1 + h, u + 1:u + 1 + h]]
    if any(x.size == 0 for x in q):
        return False
    tl, tr, bl, br = (float(x.mean()) for x in q)
    contrast = 0.5 * (tr + bl) - 0.5 * (tl + br)
    spread = max(float(np.percentile(x, 75) - np.percentile(x, 25)) for x in q)
    return contrast >= min_contrast and abs(tr - bl) < 0.3 * contrast and abs(tl - br) < 0.3 * contrast \
        and spread < 0.5 * contrast


@dataclass
class MarkerTrack:
    """Per camera frame: ``timestamps_ns`` (F,) (the exposure, on the camera's clock), the marker's ``uv``
    (F, 2) px (NaN where not found) and ``contrast`` (F,) grey levels."""

    timestamps_ns: np.ndarray
    uv: np.ndarray
    contrast: np.ndarray

    @property
    def found(self) -> int:
        return int(np.isfinite(self.uv[:, 0]).sum())


def marker_stops(track: MarkerTrack, tol_px: float = 1.0, min_duration_s: float = 0.6) -> list[StopMeasurement]:
    """Stops of the marker: ``xyz`` holds ``(u, v, 0)`` px, ``cov`` the ``(3, 3)`` covariance of the mean
    (frame scatter / n + :data:`PIXEL_FLOOR_PX`²; the third axis unused)."""
    uv3 = np.concatenate([track.uv, np.zeros((len(track.uv), 1))], 1)
    out = []
    for s in find_stops(track.timestamps_ns, uv3, tol_px, min_duration_s):
        p = track.uv[s.frames]
        cov = np.zeros((3, 3))
        cov[:2, :2] = np.cov(p.T) / len(p) + PIXEL_FLOOR_PX ** 2 * np.eye(2)
        cov[2, 2] = 1.0
        out.append(StopMeasurement(np.array([*p.mean(axis=0), 0.0]), cov, s.mid_ns, s.t0_ns, s.t1_ns, len(p)))
    return out


# -- the direct fit ------------------------------------------------------------------------------------------------
@dataclass
class RadarCameraFit:
    """``T_radar_camera`` (4×4, camera → radar), its ``covariance`` (6×6 over ``[rotation vector rad,
    translation m]``, left perturbation in the radar frame), per stop pixel residuals ``residual_px`` (n, 2),
    radar residuals ``residual_mm`` (n, 3) (fitted minus measured position), ``inliers`` (n,), and the
    stops' ``radar_xyz`` (n, 3), ``uv`` (n, 2) with its covariance ``uv_cov`` and (after
    :func:`solve_radar_camera`) ``radar_index``, the radar stop of each row."""

    T: np.ndarray
    covariance: np.ndarray
    residual_px: np.ndarray
    residual_mm: np.ndarray
    inliers: np.ndarray
    radar_xyz: np.ndarray
    uv: np.ndarray
    uv_cov: np.ndarray | None = None  # (n, 2, 2) px²
    radar_index: np.ndarray | None = None  # (n,) which of the radar's stops each row is
    extra: dict = field(default_factory=dict)

    def summary(self) -> dict:
        e = np.linalg.norm(self.residual_px, axis=1)
        std = np.sqrt(np.clip(np.diag(self.covariance), 0, None))
        return {"rms_px": float(np.sqrt(np.mean(e[self.inliers] ** 2))), "max_px": float(e.max()),
                "radar_rms_mm": float(np.sqrt(np.mean(np.sum(self.residual_mm[self.inliers] ** 2, 1)))),
                "stops": int(len(e)), "inliers": int(self.inliers.sum()),
                "std_rot_deg": np.degrees(std[:3]).tolist(), "std_trans_mm": (std[3:] * 1e3).tolist(),
                "residual_px": self.residual_px.tolist(), **self.extra}


def _project(K: np.ndarray, dist: np.ndarray, p_cam: np.ndarray) -> np.ndarray:
    """OpenCV's pinhole + ``[k1, k2, p1, p2, k3]`` projection of camera-frame points ``(n, 3)`` → ``(n, 2)``."""
    x, y = p_cam[:, 0] / p_cam[:, 2], p_cam[:, 1] / p_cam[:, 2]
    k1, k2, p1, p2, k3 = (list(np.asarray(dist, float).ravel()) + [0.0] * 5)[:5]
    r2 = x * x + y * y
    rad = 1 + k1 * r2 + k2 * r2 ** 2 + k3 * r2 ** 3
    xd = x * rad + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
    yd = y * rad + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
    return np.stack([K[0, 0] * xd + K[0, 1] * yd + K[0, 2], K[1, 1] * yd + K[1, 2]], 1)


def _pose(x: np.ndarray, T0: np.ndarray) -> np.ndarray:
    T = np.eye(4)
    T[:3, :3] = Rotation.from_rotvec(x[:3]).as_matrix() @ T0[:3, :3]
    T[:3, 3] = Rotation.from_rotvec(x[:3]).as_matrix() @ T0[:3, 3] + x[3:6]
    return T


def fit_radar_camera(radar_xyz: np.ndarray, radar_cov: np.ndarray, uv: np.ndarray, uv_cov: np.ndarray,
                     K: np.ndarray, dist: np.ndarray, T0: np.ndarray, where: str = "",
                     outlier_sigma: float = 4.0) -> RadarCameraFit:
    """``T_radar_camera`` from ``n`` reflector positions measured by the radar (``(n, 3)`` m, covariances
    ``(n, 3, 3)``) and seen by the camera (``(n, 2)`` px, ``(n, 2, 2)``), starting from ``T0``.

    Unknowns: the pose (left perturbation of ``T0`` in the radar frame) and the true positions; residuals:
    radar (whitened by its covariance) and pixels (whitened), soft-L1. Two rounds: a round drops stops whose
    whitened residual exceeds ``outlier_sigma`` (fewer than :data:`MIN_STOPS` left: CorrespondenceError)."""
    n = len(radar_xyz)
    Lr = np.array([np.linalg.inv(np.linalg.cholesky(c)) for c in radar_cov])
    Lc = np.array([np.linalg.inv(np.linalg.cholesky(c)) for c in uv_cov])
    K = np.asarray(K, float)

    def residuals(x, idx):
        T = _pose(x[:6], T0)
        p = x[6:].reshape(-1, 3)
        rr = np.einsum("nij,nj->ni", Lr[idx], p - radar_xyz[idx])
        pc = (p - T[:3, 3]) @ T[:3, :3]  # radar → camera frame
        rc = np.einsum("nij,nj->ni", Lc[idx], _project(K, dist, pc) - uv[idx])
        return np.concatenate([rr.ravel(), rc.ravel()])

    idx = np.arange(n)
    x = np.concatenate([np.zeros(6), radar_xyz.ravel()])
    for _ in range(2):
        res = least_squares(residuals, x if len(x) == 6 + 3 * len(idx) else np.concatenate([x[:6], radar_xyz[idx].ravel()]),
                            args=(idx,), loss="soft_l1", f_scale=2.0, x_scale="jac", method="trf")
        x = res.x
        r = res.fun
        k = len(idx)
        per = np.sqrt((r[:3 * k].reshape(k, 3) ** 2).sum(1) + (r[3 * k:].reshape(k, 2) ** 2).sum(1))
        keep = per <= outlier_sigma
        if keep.all():
            break
        if keep.sum() < MIN_STOPS:
            raise CorrespondenceError(f"{where}: only {int(keep.sum())} of {k} reflector positions agree between the "
                                      "radar and the camera; is the marker on the reflector, and nothing else moving?")
        idx = idx[keep]
        x = np.concatenate([x[:6], x[6:].reshape(-1, 3)[keep].ravel()])
    T = _pose(x[:6], T0)
    J = res.jac
    dof = max(1, len(res.fun) - len(x))
    s2 = max(1.0, float(res.fun @ res.fun) / dof)
    cov = s2 * np.linalg.pinv(J.T @ J)[:6, :6]
    # residuals of every stop (outliers too) at the solution, in physical units
    p_all = radar_xyz.copy()
    p_all[idx] = x[6:].reshape(-1, 3)
    pc = (p_all - T[:3, 3]) @ T[:3, :3]
    rpx = _project(K, dist, pc) - uv
    inl = np.zeros(n, bool)
    inl[idx] = True
    return RadarCameraFit(T, cov, rpx, (p_all - radar_xyz) * 1e3, inl, radar_xyz, uv, np.asarray(uv_cov, float))


def solve_radar_camera(radar: list[StopMeasurement], camera: list[StopMeasurement], K: np.ndarray, dist: np.ndarray,
                       T0: np.ndarray, has_elevation: bool = True, max_offset_s: float = 0.5,
                       where: str = "") -> RadarCameraFit:
    """Match the radar's and the camera's stops in time (clocks within ``max_offset_s``), check that the
    positions determine the pose, fit (:func:`fit_radar_camera`)."""
    if not camera:
        raise TargetNotFoundError(f"{where}: the reflector's marker was never seen still by the camera; keep the "
                                  "marker facing the camera and inside the image at every position")
    pairs = match_stops(radar, camera, max_offset_s, where)
    if len(pairs) < MIN_STOPS:
        raise DegenerateCalibrationError(f"{where}: the camera saw the marker at {len(pairs)} of the radar's "
                                         f"{len(radar)} reflector positions; at least {MIN_STOPS} are needed (better "
                                         "8+): add positions inside the camera's image")
    pr = np.array([radar[i].xyz for i, _ in pairs])
    check_geometry(pr, has_elevation, where)
    fit = fit_radar_camera(pr, np.array([radar[i].cov for i, _ in pairs]), np.array([camera[j].xyz[:2] for _, j in pairs]),
                           np.array([camera[j].cov[:2, :2] for _, j in pairs]), K, dist, T0, where)
    fit.radar_index = np.array([i for i, _ in pairs])
    fit.extra.update({"stops_radar": len(radar), "stops_camera": len(camera), "pairs": len(pairs)})
    return fit


def _reference_pixels(ref_xyz: np.ndarray, T_ref_camera: np.ndarray, K: np.ndarray, dist: np.ndarray) -> np.ndarray:
    """The reference sensor's reflector positions ``(F, 3)`` projected into the camera ``(F, 2)`` px (NaN where
    missing or behind the camera)."""
    T = np.asarray(T_ref_camera, float)
    ok = np.isfinite(ref_xyz[:, 0])
    uv = np.full((len(ref_xyz), 2), np.nan)
    pc = (ref_xyz[ok] - T[:3, 3]) @ T[:3, :3]
    front = pc[:, 2] > 0.1
    tmp = np.full((ok.sum(), 2), np.nan)
    tmp[front] = _project(np.asarray(K, float), dist, pc[front])
    uv[ok] = tmp
    return uv


def marker_clock_offset(track: MarkerTrack, ref_t_ns: np.ndarray, ref_xyz: np.ndarray, T_ref_camera: np.ndarray,
                        K: np.ndarray, dist: np.ndarray, max_offset_s: float = 0.5, where: str = ""):
    """The camera's clock offset against a sensor that tracks the reflector in 3-D (``ref_xyz`` (F, 3) in its
    frame at the times its data were taken, ``ref_t_ns``): the reference's positions projected into the image
    (``T_ref_camera``, ``K``, ``dist``) against the marker's pixels, both coordinates
    (:func:`rfpose.calibration.clock.estimate_offset`). Projection puts both signals in the camera's own
    geometry, so the parallax between the sensors biases nothing."""
    from rfpose.calibration.clock import estimate_offset

    uv = _reference_pixels(ref_xyz, T_ref_camera, K, dist)
    return estimate_offset(ref_t_ns, uv, track.timestamps_ns, track.uv, max_offset_s, where=where)


def trigger_clock_offset(tracks: list[MarkerTrack], ref_t_ns: np.ndarray, ref_xyz: np.ndarray,
                         T_ref_cameras: list[np.ndarray], Ks: list[np.ndarray], dists: list[np.ndarray],
                         max_offset_s: float = 0.5, where: str = ""):
    """One clock offset for cameras on one hardware trigger (one exposure instant per frame, one clock): each
    camera's frames are matched to the first camera's by time (nearest within half a frame period), the
    matched frames' timestamps averaged (each camera's stamping jitter averages out), and the marker's pixels
    of every camera form one multi-channel signal against the reference projected into each camera
    (:func:`marker_clock_offset`'s signals, pooled: the correlation is summed over the cameras). Frames where a
    camera misses the marker drop out of the pooled signal."""
    from rfpose.calibration.clock import estimate_offset

    t0 = np.asarray(tracks[0].timestamps_ns, np.int64)
    period = float(np.median(np.diff(t0))) if len(t0) > 1 else np.inf
    t_sum, n = t0.astype(np.float64), np.ones(len(t0))
    x = [tracks[0].uv]
    for tr in tracks[1:]:
        t = np.asarray(tr.timestamps_ns, np.int64)
        k = np.clip(np.searchsorted(t, t0), 1, len(t) - 1)
        k -= (t0 - t[k - 1]) < (t[k] - t0)  # the nearer neighbour
        near = np.abs(t[k] - t0) < period / 2
        uv = np.full((len(t0), 2), np.nan)
        uv[near] = tr.uv[k[near]]
        t_sum[near] += t[k[near]]
        n[near] += 1
        x.append(uv)
    ref = np.concatenate([_reference_pixels(ref_xyz, T, K, d) for T, K, d in zip(T_ref_cameras, Ks, dists)], 1)
    t_mean = np.round(t_sum / n).astype(np.int64)
    return estimate_offset(ref_t_ns, ref, t_mean, np.concatenate(x, 1), max_offset_s, where=where)
