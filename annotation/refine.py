"""Temporal and anatomical refinement of joint tracks: left/right swap repair, constant bone lengths,
smoothing, and resampling onto the radar frames' times.

All functions take one person's track: ``(T, J, D)`` positions with NaN where unknown, ``times_ns (T,)``.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import savgol_filter

from rfpose.skeletons import get_skeleton


def flip_index(skeleton: str) -> np.ndarray:
    sk = get_skeleton(skeleton)
    idx = np.arange(sk.num_joints)
    for a, b in sk.flip_pairs:
        idx[a], idx[b] = b, a
    return idx


def repair_swaps(kp: np.ndarray, conf: np.ndarray, skeleton: str = "rtpose15", ratio: float = 0.5,
                 min_px: float = 6.0, memory: int = 5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Undo left/right swaps of a 2D track ``kp (T, J, 2)``, ``conf (T, J)``.

    Frame i is mirrored when, against the last accepted frame at most ``memory`` frames back, its mirrored
    joints are closer than ``ratio`` times its joints as given and the latter move more than ``min_px``
    (median over the left/right joints): a person's limbs do not trade places between two video frames.
    Returns the repaired ``kp``, ``conf`` and the ``(T,)`` bool of frames that were mirrored.
    """
    flip = flip_index(skeleton)
    sided = np.flatnonzero(flip != np.arange(len(flip)))
    kp, conf = kp.copy(), conf.copy()
    swapped = np.zeros(len(kp), bool)
    last = None
    for i in range(len(kp)):
        if not np.isfinite(kp[i, sided]).any():
            continue
        if last is not None and i - last <= memory:
            ref = kp[last, sided]
            direct = np.nanmedian(np.linalg.norm(kp[i, sided] - ref, axis=-1))
            mirrored = np.nanmedian(np.linalg.norm(kp[i, flip][sided] - ref, axis=-1))
            if direct > min_px and mirrored < ratio * direct:
                kp[i], conf[i] = kp[i, flip], conf[i, flip]
                swapped[i] = True
        last = i
    return kp, conf, swapped


def bone_lengths(X: np.ndarray, weight: np.ndarray, skeleton: str = "rtpose15") -> np.ndarray:
    """Per-bone length of one subject ``(E,)``: the weighted median over frames (``weight (T,)``)."""
    sk = get_skeleton(skeleton)
    out = np.full(len(sk.edges), np.nan)
    for e, (a, b) in enumerate(sk.edges):
        L = np.linalg.norm(X[:, a] - X[:, b], axis=-1)
        ok = np.isfinite(L) & (weight > 0)
        if ok.any():
            o = np.argsort(L[ok])
            cw = np.cumsum(weight[ok][o])
            out[e] = L[ok][o][np.searchsorted(cw, cw[-1] / 2)]
    return out


def enforce_bone_lengths(X: np.ndarray, inv_mass: np.ndarray, lengths: np.ndarray, skeleton: str = "rtpose15",
                         passes: int = 10) -> np.ndarray:
    """Move joints so every bone has its subject's length (position-based projection, ``passes`` sweeps).

    ``inv_mass (T, J, 3, 3)`` (m²): how freely each joint moves, in which direction; each bone's correction is
    shared between its ends through it (a joint lifted along one camera's ray with a LiDAR depth moves mostly
    along that ray, where it is least certain). An isotropic ``σ² I`` shares it in proportion to σ².
    """
    sk = get_skeleton(skeleton)
    X = X.copy()
    S = np.nan_to_num(inv_mass, nan=1.0)
    for _ in range(passes):
        for e, (a, b) in enumerate(sk.edges):
            if not np.isfinite(lengths[e]):
                continue
            d = X[:, b] - X[:, a]
            L = np.linalg.norm(d, axis=-1)
            ok = np.isfinite(L) & (L > 1e-6)
            n = np.where(ok[:, None], d / np.where(ok, L, 1.0)[:, None], 0.0)
            Sa, Sb = np.einsum("tij,tj->ti", S[:, a], n), np.einsum("tij,tj->ti", S[:, b], n)
            den = np.einsum("ti,ti->t", n, Sa + Sb)
            lam = np.where(ok & (den > 0), (L - lengths[e]) / np.maximum(den, 1e-12), 0.0)
            X[:, a] += lam[:, None] * Sa
            X[:, b] -= lam[:, None] * Sb
    return X


def _runs(valid: np.ndarray):
    """Start/stop of each run of True in a 1D bool array."""
    v = np.concatenate([[False], valid, [False]]).astype(np.int8)
    d = np.diff(v)
    return zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1))


def reject_outliers(X: np.ndarray, window: int = 7, k: float = 3.0, floor_m: float = 0.05) -> np.ndarray:
    """Hampel filter over time: a coordinate further than ``k`` robust σ (1.4826·MAD, at least ``floor_m``)
    from the median of its ``window`` neighbours is replaced by that median (a LiDAR depth taken from the
    wall behind the person, a detection on the wrong person for one frame)."""
    from numpy.lib.stride_tricks import sliding_window_view

    T = X.shape[0]
    if T < window:
        return X.copy()
    h = window // 2
    pad = np.concatenate([np.full((h, *X.shape[1:]), np.nan), X, np.full((h, *X.shape[1:]), np.nan)])
    win = sliding_window_view(pad, window, axis=0)  # (T, J, D, window)
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            med = np.nanmedian(win, axis=-1)
            mad = np.nanmedian(np.abs(win - med[..., None]), axis=-1)
    bad = np.abs(X - med) > np.maximum(k * 1.4826 * np.nan_to_num(mad), floor_m)
    bad &= np.isfinite(med)
    # a joint is an outlier as a whole: if any coordinate is, replace the point
    bad = bad.any(-1, keepdims=True) & np.ones_like(bad)
    return np.where(bad, med, X)


def smooth_savgol(X: np.ndarray, window: int = 9, order: int = 2) -> np.ndarray:
    """Savitzky–Golay over time on each run of valid frames (per joint); runs shorter than the window are
    left as they are."""
    out = X.copy()
    T, J = X.shape[:2]
    for j in range(J):
        for a, b in _runs(np.isfinite(X[:, j]).all(-1)):
            if b - a >= window:
                out[a:b, j] = savgol_filter(X[a:b, j], window, order, axis=0, mode="interp")
    return out


def _second_difference_normal(r: np.ndarray, n: int) -> np.ndarray:
    """``D' diag(r) D`` for the second-difference operator ``D ((n-2) × n)``, in the upper banded form
    (3, n) of :func:`scipy.linalg.solveh_banded`; ``r (n-2,)`` per-row penalty weights."""
    ab = np.zeros((3, n))
    main = np.zeros(n)
    main[:-2] += r
    main[1:-1] += 4 * r
    main[2:] += r
    off1 = np.zeros(n - 1)
    off1[:-1] -= 2 * r
    off1[1:] -= 2 * r
    ab[2], ab[1, 1:], ab[0, 2:] = main, off1, r
    return ab


def smooth_least_squares(X: np.ndarray, weight: np.ndarray, times_ns: np.ndarray, lam_s4: float = 2e-4,
                         robust_iters: int = 0, robust_scale_mps2: float = 2.0) -> np.ndarray:
    """Least-squares trajectory (Whittaker–Henderson): per joint and run of valid frames, the track ``x``
    minimising ``Σ w_t |x_t − X_t|² + (λ / dt⁴) Σ r_t |x_{t+1} − 2 x_t + x_{t−1}|²`` — the measurements weighted
    by ``weight (T, J)`` (inverse variance up to a constant, e.g. the joint confidence), the acceleration
    penalised. ``lam_s4`` (s⁴) sets the trade-off in physical units: its 4th root is the time constant
    (2e-4 s⁴: 0.12 s), independent of the frame rate. A banded solve per run: O(T).

    ``robust_iters`` > 0 re-solves with ``r_t = 1 / max(1, |a_t| / robust_scale_mps2)`` from the previous
    solution's acceleration ``a_t`` (iteratively reweighted: an L1-like penalty where the acceleration is large,
    so a foot's heel strike or a hand's turn keeps its kink instead of being smeared over the window)."""
    from scipy.linalg import solveh_banded

    out = X.copy()
    T, J = X.shape[:2]
    dt = float(np.median(np.diff(np.asarray(times_ns, np.float64)))) * 1e-9 if T > 1 else 1 / 30
    lam = lam_s4 / dt**4
    w_all = np.clip(np.nan_to_num(weight), 1e-3, None)
    for j in range(J):
        for a, b in _runs(np.isfinite(X[:, j]).all(-1)):
            n = b - a
            if n < 3:
                continue
            r = np.ones(n - 2)
            for it in range(robust_iters + 1):
                ab = lam * _second_difference_normal(r, n)
                ab[2] += w_all[a:b, j]
                x = solveh_banded(ab, w_all[a:b, j, None] * X[a:b, j])
                acc = np.linalg.norm(np.diff(x, 2, axis=0), axis=-1) / dt**2
                r = 1.0 / np.maximum(1.0, acc / robust_scale_mps2)
            out[a:b, j] = x
    return out


def smooth_one_euro(X: np.ndarray, times_ns: np.ndarray, min_cutoff: float = 1.0, beta: float = 0.5,
                    d_cutoff: float = 1.0) -> np.ndarray:
    """One Euro filter (Casiez et al., CHI 2012) forward in time, restarted after every gap."""
    out = X.copy()
    t = np.asarray(times_ns, np.float64) * 1e-9
    alpha = lambda cut, dt: 1.0 / (1.0 + 1.0 / (2 * np.pi * cut * dt))  # noqa: E731
    for j in range(X.shape[1]):
        prev = dprev = None
        for i in range(len(X)):
            x = X[i, j]
            if not np.isfinite(x).all():
                prev = None
                continue
            if prev is None:
                prev, dprev, tp = x, np.zeros_like(x), t[i]
                continue
            dt = max(t[i] - tp, 1e-3)
            dx = (x - prev) / dt
            dprev = dprev + alpha(d_cutoff, dt) * (dx - dprev)
            cut = min_cutoff + beta * np.linalg.norm(dprev)
            prev = prev + alpha(cut, dt) * (x - prev)
            out[i, j], tp = prev, t[i]
    return out


def resample(times_ns: np.ndarray, values: np.ndarray, at_ns: np.ndarray, max_gap_ns: int) -> np.ndarray:
    """Linear interpolation of ``values (T, ...)`` sampled at ``times_ns`` onto ``at_ns (N,)``; NaN where
    the two samples around a time are more than ``max_gap_ns`` apart or either is NaN, and outside."""
    times_ns = np.asarray(times_ns, np.int64)
    at = np.asarray(at_ns, np.int64)
    out = np.full((len(at), *values.shape[1:]), np.nan)
    if len(times_ns) < 2:
        return out
    i1 = np.clip(np.searchsorted(times_ns, at, side="right"), 1, len(times_ns) - 1)
    i0 = i1 - 1
    t0, t1 = times_ns[i0], times_ns[i1]
    inside = (at >= t0) & (at <= t1) & (t1 - t0 <= max_gap_ns) & (t1 > t0)
    a = np.where(inside, (at - t0) / np.where(t1 > t0, t1 - t0, 1), 0.0).astype(np.float64)
    shape = (-1,) + (1,) * (values.ndim - 1)
    v = values[i0] * (1 - a.reshape(shape)) + values[i1] * a.reshape(shape)
    out[inside] = v[inside]
    k = np.clip(np.searchsorted(times_ns, at), 0, len(times_ns) - 1)
    exact = times_ns[k] == at  # a label time on a sample takes it, whatever the gaps around it
    out[exact] = values[k[exact]]
    return out
