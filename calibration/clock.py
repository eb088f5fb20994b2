"""Clock offsets between streams from a motion both sensors see (Kalibr-style, reference note §3(d)).

Each sensor gives a motion signal sampled at its own timestamps: the radial velocity of a moving person
(radar: Doppler of the moving returns; LiDAR: rate of change of the range of the foreground centroid) or
the rate of change of their azimuth (radar/LiDAR: centroid direction; camera: the moving blob's column
through the nominal intrinsics). :func:`estimate_offset` finds the offset that best aligns a stream's
signal with the reference's: the Pearson correlation of the two, linearly interpolated onto a common
1 ms grid, scanned over ±``max_offset_s`` at 10 ms, then at 1 ms around the best, then refined below a millisecond by a bounded scalar
search (sub-frame refinement). The sign follows the calibration contract: the returned ``offset_ns`` is
*added to the stream's timestamps* to put them on the reference clock.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar

from rfpose.errors import CalibrationError, TargetNotFoundError


@dataclass
class OffsetEstimate:
    """``offset_ns`` (add to the stream's timestamps); ``correlation`` at the optimum (−1..1);
    ``std_ns`` the 1-sigma from the correlation peak's curvature and the overlap length; ``overlap_s``;
    ``second_ratio`` the second-best separate peak relative to the best (near 1 = ambiguous)."""

    offset_ns: int
    correlation: float
    std_ns: float
    overlap_s: float
    second_ratio: float

    def to_dict(self) -> dict:
        return {"offset_ns": self.offset_ns, "correlation": self.correlation, "std_ms": self.std_ns / 1e6,
                "overlap_s": self.overlap_s, "second_peak_ratio": self.second_ratio}


def _clean(t_ns, x) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(t_ns, np.float64) / 1e9
    x = np.asarray(x, np.float64)
    ok = np.isfinite(x) & np.isfinite(t)
    return t[ok], x[ok]


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    a = a - a.mean()
    b = b - b.mean()
    d = np.sqrt((a @ a) * (b @ b))
    return float(a @ b / d) if d > 0 else 0.0


def estimate_offset(t_ref_ns: np.ndarray, ref: np.ndarray, t_ns: np.ndarray, x: np.ndarray,
                    max_offset_s: float = 0.5, grid_s: float = 1e-3, min_overlap_s: float = 4.0,
                    min_correlation: float = 0.5, where: str = "") -> OffsetEstimate:
    """The offset to add to the stream's timestamps ``t_ns`` so its signal ``x`` lines up with the
    reference's ``ref`` at ``t_ref_ns`` (NaN samples are ignored)."""
    ta, a = _clean(t_ref_ns, ref)
    tb, b = _clean(t_ns, x)
    if len(ta) < 10 or len(tb) < 10:
        raise TargetNotFoundError(f"{where}: too few motion samples ({len(ta)} reference, {len(tb)} stream); "
                                  "record someone walking through the field of view")
    t0, t1 = ta[0] + max_offset_s, ta[-1] - max_offset_s
    grid = np.arange(t0, t1, grid_s)
    if t1 - t0 < min_overlap_s:
        raise CalibrationError(f"{where}: the capture is too short for a clock offset search of ±{max_offset_s} s")
    a_g = np.interp(grid, ta, a)

    def score(off: float) -> float:
        lo, hi = tb[0] + off, tb[-1] + off
        m = (grid >= lo) & (grid <= hi)
        if m.sum() * grid_s < min_overlap_s:
            return -1.0
        return _corr(a_g[m], np.interp(grid[m], tb + off, b))

    coarse = np.arange(-max_offset_s, max_offset_s + 1e-9, 10 * grid_s)
    sc = np.array([score(o) for o in coarse])
    k0 = int(np.argmax(sc))
    fine = np.arange(coarse[k0] - 10 * grid_s, coarse[k0] + 10.5 * grid_s, grid_s)
    offs = np.concatenate([coarse, fine])
    sc = np.concatenate([sc, [score(o) for o in fine]])
    k = int(np.argmax(sc))
    if sc[k] < min_correlation:
        raise TargetNotFoundError(f"{where}: the motion signals do not match (best correlation {sc[k]:.2f} < "
                                  f"{min_correlation}); is the same moving person seen by both sensors?")
    # second separate peak (outside ±100 ms of the best) tells how ambiguous the answer is
    far = np.abs(offs - offs[k]) > 0.1
    second = float(sc[far].max()) if far.any() else -1.0
    res = minimize_scalar(lambda o: -score(o), bounds=(offs[k] - 2 * grid_s, offs[k] + 2 * grid_s),
                          method="bounded", options={"xatol": 1e-5})
    best = float(res.x) if -res.fun >= sc[k] else float(offs[k])
    rho = max(score(best), sc[k])
    # curvature of the correlation at the peak → std of the offset (Cramér–Rao-like, per independent sample)
    h = 5e-3
    c2 = (score(best + h) - 2 * rho + score(best - h)) / h ** 2
    n_eff = max(1.0, (min(ta[-1], tb[-1] + best) - max(ta[0], tb[0] + best)) / np.median(np.diff(tb)))
    std = float(np.sqrt(max(1e-12, (1 - rho ** 2) / max(-c2, 1e-9) / n_eff))) if c2 < 0 else float("inf")
    return OffsetEstimate(int(round(best * 1e9)), rho, std * 1e9, float((t1 - t0)), second / rho if rho > 0 else 1.0)
