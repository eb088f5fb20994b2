"""Clock offsets between streams from a motion both sensors see (Kalibr-style, reference note §3(d)).

Each sensor gives a motion signal sampled at its own timestamps: the radial velocity of a moving person
(radar: Doppler of the moving returns; LiDAR: rate of change of the range of the foreground centroid) or
the rate of change of their azimuth (radar/LiDAR: centroid direction; camera: the moving blob's column
through the nominal intrinsics), or a moved target's position (range; pixel coordinates).
:func:`estimate_offset` finds the offset that best aligns a stream's signal with the reference's: the
reference is interpolated by a piecewise cubic (modified Akima: follows a stop-and-go move's start and end
without overshoot) and evaluated at the stream's own sample times, shifted; the score is the Pearson
correlation of the two (summed over the channels of a multi-channel signal, e.g. pixel ``u`` and ``v``).
Scanned over ±``max_offset_s`` at 10 ms, then refined below a millisecond by a bounded scalar search
(sub-frame refinement). The 1-sigma is the larger of the correlation peak's curvature and a delete-a-block
jackknife of the optimum. An offset the motion does not pin down is refused rather than guessed
(:class:`~rfpose.errors.DegenerateCalibrationError`): a correlation that stays flat around its peak (a
constant-velocity walk: two range ramps correlate whatever their shift) or a separate peak nearly as good
(periodic motion). Linear interpolation of both signals onto a grid, as before, biased the offset by
up to 0.5 ms at 10 Hz. The sign follows the calibration contract: the returned ``offset_ns`` is *added to the
stream's timestamps* to put them on the reference clock.

Timestamp convention: every sample's time must be *when its data were taken* on the sensor's clock — the
caller shifts frame timestamps accordingly (radar: the middle of the chirping; LiDAR: the mean time of the
points used; camera: the exposure, which the frame timestamp denotes).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.interpolate import Akima1DInterpolator
from scipy.optimize import minimize_scalar

from rfpose.errors import CalibrationError, DegenerateCalibrationError, TargetNotFoundError


@dataclass
class OffsetEstimate:
    """``offset_ns`` (add to the stream's timestamps); ``correlation`` at the optimum (−1..1);
    ``std_ns`` the 1-sigma from the correlation peak's curvature (the larger of the curvature at the optimum and
    over ±100 ms around it) and the overlap length; ``overlap_s``; ``second_ratio`` the misfit (1 − correlation)
    at the optimum over the misfit at the best separate local peak more than 100 ms away (0 = none; near 1 =
    ambiguous)."""

    offset_ns: int
    correlation: float
    std_ns: float
    overlap_s: float
    second_ratio: float

    def to_dict(self) -> dict:
        return {"offset_ns": self.offset_ns, "correlation": self.correlation, "std_ms": self.std_ns / 1e6,
                "overlap_s": self.overlap_s, "second_peak_ratio": self.second_ratio}


def _clean(t_ns, x) -> tuple[np.ndarray, np.ndarray]:
    """Times (s, float64 from the first sample's whole second) and ``(N, k)`` samples, rows with a NaN dropped."""
    t = np.asarray(t_ns, np.int64)
    x = np.asarray(x, np.float64).reshape(len(t), -1)
    ok = np.isfinite(x).all(axis=1)
    return t[ok], x[ok]


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two ``(N, k)`` signals, channels pooled after removing each one's mean."""
    a = a - a.mean(axis=0)
    b = b - b.mean(axis=0)
    d = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / d) if d > 0 else 0.0


def estimate_offset(t_ref_ns: np.ndarray, ref: np.ndarray, t_ns: np.ndarray, x: np.ndarray,
                    max_offset_s: float = 0.5, min_overlap_s: float = 4.0, min_correlation: float = 0.5,
                    max_std_s: float | None = None, max_second_ratio: float = 0.8, where: str = "",
                    advice: str | None = None) -> OffsetEstimate:
    """The offset to add to the stream's timestamps ``t_ns`` so its signal ``x`` lines up with the
    reference's ``ref`` at ``t_ref_ns``. Signals are ``(N,)`` or ``(N, k)`` (k channels on the same
    scale, e.g. pixels); samples with a NaN are ignored. Refused (:class:`DegenerateCalibrationError`) when
    the 1-sigma exceeds ``max_std_s`` (default a quarter of ``max_offset_s``: the estimate must be well inside the
    search, whose uniform prior has a 1-sigma of ``max_offset_s / √3``) or a separate peak's misfit is within ``1 / max_second_ratio`` of the
    optimum's; ``advice`` replaces the refusal's advice on what to record (default: a walker's)."""
    ta_ns, a = _clean(t_ref_ns, ref)
    tb_ns, b = _clean(t_ns, x)
    if len(ta_ns) < 10 or len(tb_ns) < 10:
        raise TargetNotFoundError(f"{where}: too few motion samples ({len(ta_ns)} reference, {len(tb_ns)} stream); "
                                  "record someone walking through the field of view")
    if a.shape[1] != b.shape[1]:
        raise CalibrationError(f"{where}: {a.shape[1]}-channel reference against a {b.shape[1]}-channel signal")
    origin = int(ta_ns[0])
    ta, tb = (ta_ns - origin) / 1e9, (tb_ns - origin) / 1e9
    if ta[-1] - ta[0] - 2 * max_offset_s < min_overlap_s:
        raise CalibrationError(f"{where}: the capture is too short for a clock offset search of ±{max_offset_s} s")
    spline = Akima1DInterpolator(ta, a, method="makima", axis=0)
    dt = float(np.median(np.diff(tb)))
    gap = 3 * float(np.median(np.diff(ta)))  # no reference sample for longer: do not trust the interpolation

    def score(off: float, keep: np.ndarray | None = None, overlap_s: float = min_overlap_s) -> float:
        q = tb + off
        m = (q >= ta[0]) & (q <= ta[-1])
        k = np.clip(np.searchsorted(ta, q[m]), 1, len(ta) - 1)
        m[m] = (ta[k] - ta[k - 1]) <= gap
        if keep is not None:
            m &= keep
        if m.sum() * dt < overlap_s:
            return -1.0
        return _corr(spline(q[m]), b[m])

    coarse = np.arange(-max_offset_s, max_offset_s + 1e-9, 0.01)
    sc = np.array([score(o) for o in coarse])
    k = int(np.argmax(sc))
    if sc[k] < min_correlation:
        raise TargetNotFoundError(f"{where}: the motion signals do not match (best correlation {sc[k]:.2f} < "
                                  f"{min_correlation}); is the same moving person seen by both sensors?")
    if k in (0, len(coarse) - 1):
        raise DegenerateCalibrationError(f"{where}: the best alignment is at the edge of the ±{max_offset_s:g} s "
                                         "search; the offset may be larger (raise the maximum offset)")
    res = minimize_scalar(lambda o: -score(o), bounds=(coarse[k] - 0.01, coarse[k] + 0.01), method="bounded",
                          options={"xatol": 1e-6})
    best = float(res.x) if -res.fun >= sc[k] else float(coarse[k])
    rho = max(score(best), sc[k])
    # curvature of the correlation at the peak → std of the offset (Cramér–Rao-like, per independent sample);
    # also over ±100 ms, since a bumpy plateau (gappy samples, interpolation) can look sharp at the top
    h = 5e-3
    c2 = (score(best + h) - 2 * rho + score(best - h)) / h ** 2
    near = (np.abs(coarse - best) <= 0.1) & (sc > -1)
    if near.sum() >= 5:
        c2 = max(c2, 2 * float(np.polyfit(coarse[near] - best, sc[near], 2)[0]))
    overlap = min(ta[-1], tb[-1] + best) - max(ta[0], tb[0] + best)
    n_eff = max(1.0, overlap / dt)
    std = float(np.sqrt(max(1e-12, (1 - rho ** 2) / max(-c2, 1e-9) / n_eff))) if c2 < 0 else float("inf")
    std = max(std, _jackknife_std(score, coarse, len(tb), min_overlap_s))
    # the best separate local peak (more than 100 ms away), as a misfit ratio
    peaks = np.flatnonzero((sc >= np.roll(sc, 1)) & (sc >= np.roll(sc, -1)) & (np.abs(coarse - best) > 0.1))
    peaks = peaks[(peaks > 0) & (peaks < len(sc) - 1) & (sc[peaks] > -1)]
    second = float(sc[peaks].max()) if len(peaks) else None
    ratio = 0.0 if second is None else (1 - rho + 1e-3) / (1 - second + 1e-3)  # 1e-3: indistinguishable
    max_std_s = max_offset_s / 4 if max_std_s is None else max_std_s
    if std > max_std_s:
        raise DegenerateCalibrationError(
            f"{where}: the motion does not pin the offset down (1-sigma {std * 1e3:.0f} ms > {max_std_s * 1e3:.0f} "
            f"ms: the correlation is flat around {best * 1e3:+.0f} ms); "
            + (advice or "record a walk with turns and stops, not a straight line at constant speed"))
    if ratio > max_second_ratio:
        raise DegenerateCalibrationError(
            f"{where}: ambiguous offset: {best * 1e3:+.0f} ms (correlation {rho:.3f}) and a separate peak "
            f"(correlation {second:.3f}) fit nearly as well; " + (advice or "record a less repetitive motion"))
    return OffsetEstimate(int(round(best * 1e9)), rho, std * 1e9, float(overlap), ratio)


def _jackknife_std(score, coarse: np.ndarray, n: int, min_overlap_s: float, blocks: int = 5) -> float:
    """Delete-a-block jackknife of the offset (s): the optimum found again without each fifth of the stream's
    samples in turn. The curvature alone trusts a plateau whose top wanders with the data (a short straight
    walk: 45 ms claimed, 125 ms off); a wandering optimum shows here."""
    edges = np.linspace(0, n, blocks + 1).astype(int)
    found = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        keep = np.ones(n, bool)
        keep[lo:hi] = False
        sc = np.array([score(o, keep, min_overlap_s * (blocks - 1) / blocks) for o in coarse])
        k = int(np.argmax(sc))
        if sc[k] <= -1:
            return float("inf")
        if 0 < k < len(sc) - 1:  # parabola through the three best grid points
            den = sc[k - 1] - 2 * sc[k] + sc[k + 1]
            shift = 0.5 * (sc[k - 1] - sc[k + 1]) / den if den < 0 else 0.0
            found.append(coarse[k] + np.clip(shift, -0.5, 0.5) * (coarse[1] - coarse[0]))
        else:
            found.append(coarse[k])
    found = np.asarray(found)
    return float(np.sqrt((blocks - 1) / blocks * np.sum((found - found.mean()) ** 2)))
