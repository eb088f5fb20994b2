"""Camera intrinsics from ChArUco views: pinhole K and OpenCV distortion ``[k1, k2, p1, p2, k3]``.

Pipeline: detect the board in every frame (:func:`detect_views`), drop near-duplicate views (a still board
gives the same view many times), refuse a set of views that cannot determine the model
(:func:`check_coverage`), then ``cv2.calibrateCameraExtended`` started from the nominal intrinsics
(``CALIB_USE_INTRINSIC_GUESS``: OpenCV 5's solver converges to bad minima without a guess), one round
of dropping views whose residual is far above the rest, and an acceptance gate on the RMS residual and
the parameters' standard deviations. Pixels follow OpenCV (pixel centres at integer coordinates).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from rfpose.calibration.charuco import CharucoTarget, CharucoView, _cv2, detect
from rfpose.errors import CalibrationError, DegenerateCalibrationError, TargetNotFoundError
from rfpose.session import CameraStream

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IntrinsicsConfig:
    """``min_corners``: a view with fewer ChArUco corners is rejected (and counted); ``min_views``: fewer
    distinct views are refused; ``min_tilt_deg``: the board must be tilted at least this much (about a
    horizontal and about a vertical axis) in some views; ``border_frac``: corners must come within this
    fraction of the image size of every edge; ``duplicate_px``: a view whose corners all lie within this
    mean distance of a kept view's is a duplicate; ``max_views`` caps the solve; ``max_rms_px`` and
    ``max_focal_std`` (relative) gate acceptance."""

    min_corners: int = 8
    min_views: int = 8
    min_tilt_deg: float = 15.0
    border_frac: float = 0.2
    duplicate_px: float = 8.0
    max_views: int = 60
    max_rms_px: float = 1.0
    max_focal_std: float = 0.005


@dataclass
class IntrinsicsResult:
    """K ``(3, 3)``, ``dist`` ``[k1, k2, p1, p2, k3]``, ``image_size`` (w, h), RMS reprojection (px), per
    used view its frame and RMS (px), the standard deviations of (fx, fy, cx, cy, k1, k2, p1, p2, k3), and
    the counts of frames without a board, views rejected for too few corners, duplicates and outliers.
    ``board_poses`` maps a used view's ``(capture, frame)`` to ``T_cam_board`` (4×4)."""

    camera: str
    K: np.ndarray
    dist: np.ndarray
    image_size: tuple[int, int]
    rms_px: float
    per_view: list[dict]
    std: dict
    counts: dict
    board_poses: dict = field(default_factory=dict)

    def residual(self) -> dict:
        per = np.array([v["rms_px"] for v in self.per_view])
        return {"rms_px": self.rms_px, "views": len(self.per_view), "max_view_rms_px": float(per.max()),
                "std": self.std, **self.counts}


def detect_views(images, target: CharucoTarget, frames=None, timestamps_ns=None, capture: str = "",
                 progress=None) -> list[CharucoView]:
    """One :class:`CharucoView` per image (empty where no board is seen). ``images`` iterates over
    ``(H, W, 3)`` uint8 arrays; ``progress`` is an optional tqdm-like bar updated per image."""
    out = []
    for i, img in enumerate(images):
        frame = i if frames is None else int(frames[i])
        ts = 0 if timestamps_ns is None else int(timestamps_ns[i])
        out.append(detect(img, target, frame, ts, capture))
        if progress is not None:
            progress.update(1)
    return out


def stream_views(stream, target: CharucoTarget, capture: str = "", step: int = 1, progress=None,
                 chunk: int = 32) -> list[CharucoView]:
    """:func:`detect_views` over every ``step``-th frame of a camera source (a recorded stream is read in
    chunks; any other source frame by frame)."""
    frames = np.arange(0, len(stream), step)
    ts = np.asarray(stream.timestamps_ns)
    out = []
    for a in range(0, len(frames), chunk):
        sel = frames[a:a + chunk]
        if isinstance(stream, CameraStream):
            block = stream.read_block(int(sel[0]), int(sel[-1]) + 1)[sel - sel[0]]
        else:
            block = (stream[int(i)].image for i in sel)
        out += detect_views(block, target, sel, ts[sel], capture, progress)
    return out


def distinct_views(views: list[CharucoView], duplicate_px: float, max_views: int) -> list[CharucoView]:
    """Views whose corners differ from every kept view's by more than ``duplicate_px`` on average (most
    corners first), at most ``max_views`` spread over the capture; returned in frame order."""
    kept: list[CharucoView] = []
    for v in sorted(views, key=lambda v: (-len(v), v.capture, v.frame)):
        dup = False
        for k in kept:
            common, iv, ik = np.intersect1d(v.ids, k.ids, return_indices=True)
            if len(common) >= 4 and np.linalg.norm(v.image_px[iv] - k.image_px[ik], axis=1).mean() < duplicate_px:
                dup = True
                break
        if not dup:
            kept.append(v)
    kept.sort(key=lambda v: (v.capture, v.frame))
    if len(kept) > max_views:
        kept = [kept[i] for i in np.linspace(0, len(kept) - 1, max_views).round().astype(int)]
    return kept


def board_tilts(views: list[CharucoView], K: np.ndarray, dist: np.ndarray) -> np.ndarray:
    """Each view's board normal in the camera frame ``(V, 3)`` (unit, pointing away from the camera), from
    a PnP with the given intrinsics."""
    cv2 = _cv2()
    normals = []
    for v in views:
        ok, rvec, _ = cv2.solvePnP(v.object_m, v.image_px, K, dist, flags=cv2.SOLVEPNP_IPPE)
        R = cv2.Rodrigues(rvec)[0] if ok else np.eye(3)
        normals.append(R[:, 2])
    return np.array(normals).reshape(-1, 3)


def check_coverage(views: list[CharucoView], image_size: tuple[int, int], K_guess: np.ndarray, where: str,
                   cfg: IntrinsicsConfig = IntrinsicsConfig()) -> None:
    """Refuse views that cannot determine pinhole + distortion: too few, no tilt (focal length and the
    principal point are then unobservable), or corners never near an image edge (distortion is then
    extrapolated). Raises :class:`CalibrationError` saying what to record."""
    if len(views) < cfg.min_views:
        raise DegenerateCalibrationError(f"{where}: {len(views)} distinct board views with >= {cfg.min_corners} corners; "
                               f"need >= {cfg.min_views}: record more board poses (distances, tilts, image corners)")
    n = board_tilts(views, K_guess, np.zeros(5))
    sin_min = np.sin(np.radians(cfg.min_tilt_deg))
    missing = [axis for axis, comp in (("a vertical axis (turned left/right)", n[:, 0]),
                                       ("a horizontal axis (tipped up/down)", n[:, 1])) if np.abs(comp).max() < sin_min]
    if missing:
        raise DegenerateCalibrationError(f"{where}: the board is never tilted >= {cfg.min_tilt_deg:g} deg about "
                               f"{' or about '.join(missing)} in {len(views)} views; focal length cannot be "
                               "separated from distance: add views with the board tilted 20-45 deg")
    w, h = image_size
    px = np.concatenate([v.image_px for v in views])
    b = cfg.border_frac
    sides = {"left": px[:, 0].min() > b * w, "right": px[:, 0].max() < (1 - b) * w,
             "top": px[:, 1].min() > b * h, "bottom": px[:, 1].max() < (1 - b) * h}
    lacking = [s for s, bad in sides.items() if bad]
    if lacking:
        raise DegenerateCalibrationError(f"{where}: board corners never come within {b:.0%} of the image's "
                               f"{', '.join(lacking)} edge{'s' if len(lacking) > 1 else ''}; lens distortion "
                               "is not determined: add views with the board near those edges and corners")


def calibrate_intrinsics(views: list[CharucoView], image_size: tuple[int, int], K_guess: np.ndarray | None = None,
                         camera: str = "camera", where: str = "", cfg: IntrinsicsConfig = IntrinsicsConfig()
                         ) -> IntrinsicsResult:
    """Intrinsics of one camera from its ChArUco views (all frames, with or without a board).

    ``K_guess``: nominal intrinsics (data sheet); None uses f = image width, centred principal point.
    Raises :class:`CalibrationError` (naming ``where``) when the views cannot determine the model or the
    result fails the acceptance gate."""
    cv2 = _cv2()
    where = where or camera
    w, h = image_size
    if K_guess is None:
        K_guess = np.array([[w, 0, (w - 1) / 2], [0, w, (h - 1) / 2], [0, 0, 1.0]])
    seen = [v for v in views if len(v) > 0]
    usable = [v for v in seen if len(v) >= cfg.min_corners]
    counts = {"frames": len(views), "frames_without_board": len(views) - len(seen),
              "rejected_few_corners": len(seen) - len(usable)}
    if not seen:
        raise TargetNotFoundError(f"{where}: no ChArUco board found in any of {len(views)} frames; check the target "
                               "(--target) and that the board is in view")
    distinct = distinct_views(usable, cfg.duplicate_px, cfg.max_views)
    counts["rejected_duplicates"] = len(usable) - len(distinct)
    check_coverage(distinct, image_size, K_guess, where, cfg)
    flags = cv2.CALIB_USE_INTRINSIC_GUESS
    crit = (cv2.TERM_CRITERIA_COUNT + cv2.TERM_CRITERIA_EPS, 100, 1e-9)

    def solve(vs):
        obj = [v.object_m.astype(np.float32).reshape(-1, 1, 3) for v in vs]
        img = [v.image_px.astype(np.float32).reshape(-1, 1, 2) for v in vs]
        return cv2.calibrateCameraExtended(obj, img, (w, h), K_guess.copy(), np.zeros(5), flags=flags, criteria=crit)

    rms, K, dist, rvecs, tvecs, std_in, _, per_view = solve(distinct)
    per_view = np.asarray(per_view, float).reshape(-1)
    med = float(np.median(per_view))
    bad = per_view > max(3 * med, 0.5)
    counts["rejected_outliers"] = int(bad.sum())
    if bad.any() and len(distinct) - bad.sum() >= cfg.min_views:
        log.info("%s: dropping %d views with residuals %s px", where, bad.sum(), np.round(per_view[bad], 2))
        distinct = [v for v, b in zip(distinct, bad) if not b]
        rms, K, dist, rvecs, tvecs, std_in, _, per_view = solve(distinct)
        per_view = np.asarray(per_view, float).reshape(-1)
    else:
        counts["rejected_outliers"] = 0
    std = np.asarray(std_in, float).reshape(-1)
    names = ("fx", "fy", "cx", "cy", "k1", "k2", "p1", "p2", "k3")
    std_d = {n: float(s) for n, s in zip(names, std[:9])}
    if rms > cfg.max_rms_px:
        raise CalibrationError(f"{where}: reprojection RMS {rms:.2f} px over {len(distinct)} views exceeds "
                               f"{cfg.max_rms_px:g} px; the target definition (--target) or the detections are wrong")
    if max(std_d["fx"] / K[0, 0], std_d["fy"] / K[1, 1]) > cfg.max_focal_std:
        raise DegenerateCalibrationError(f"{where}: focal length poorly determined (std {std_d['fx']:.1f} px over "
                               f"{len(distinct)} views); add views with more tilt and at several distances")
    poses = {}
    for v, rv, tv in zip(distinct, rvecs, tvecs):
        T = np.eye(4)
        T[:3, :3] = cv2.Rodrigues(np.asarray(rv, float))[0]
        T[:3, 3] = np.asarray(tv, float).reshape(3)
        poses[(v.capture, v.frame)] = T
    return IntrinsicsResult(camera, np.asarray(K, float), np.asarray(dist, float).reshape(-1)[:5], (int(w), int(h)),
                            float(rms), [{"capture": v.capture, "frame": v.frame, "rms_px": float(r), "corners": len(v)}
                                         for v, r in zip(distinct, per_view)], std_d, counts, poses)
