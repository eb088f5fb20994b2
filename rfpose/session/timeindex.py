"""Look frames up by host time. Pure functions over an int64 ``timestamp_ns`` array.

Host timestamps are normally non-decreasing; if a clock step made them not, lookups still work (they go
through a stable argsort), only slower.
"""

from __future__ import annotations

import numpy as np


def _order(timestamps_ns: np.ndarray) -> np.ndarray | None:
    """``None`` when already sorted (the common case), else the stable sorting permutation."""
    if timestamps_ns.size < 2 or bool(np.all(timestamps_ns[1:] >= timestamps_ns[:-1])):
        return None
    return np.argsort(timestamps_ns, kind="stable")


def nearest_index(timestamps_ns: np.ndarray, t_ns: int) -> int:
    """Index of the frame whose timestamp is nearest ``t_ns`` (the earlier frame on a tie).

    Raises ``IndexError`` for an empty stream (there is no nearest frame).
    """
    ts = np.asarray(timestamps_ns, dtype=np.int64)
    if ts.size == 0:
        raise IndexError("no frames: cannot find the frame nearest a time in an empty stream")
    order = _order(ts)
    s = ts if order is None else ts[order]
    t = np.int64(t_ns)
    j = int(np.searchsorted(s, t, side="left"))
    if j == 0:
        k = 0
    elif j == s.size:
        k = s.size - 1
    else:
        # int64 differences of host-clock times cannot overflow; compare as Python ints anyway
        k = j - 1 if int(t) - int(s[j - 1]) <= int(s[j]) - int(t) else j
    if order is None:
        return k
    # the first frame (lowest index) among equal timestamps
    return int(order[np.searchsorted(s, s[k], side="left")])


def indices_between(timestamps_ns: np.ndarray, t0_ns: int, t1_ns: int) -> np.ndarray:
    """Indices (ascending, int64) of frames with ``t0_ns <= timestamp_ns <= t1_ns``; empty if none."""
    ts = np.asarray(timestamps_ns, dtype=np.int64)
    if ts.size == 0 or t1_ns < t0_ns:
        return np.zeros(0, dtype=np.int64)
    order = _order(ts)
    if order is None:
        lo = np.searchsorted(ts, np.int64(t0_ns), side="left")
        hi = np.searchsorted(ts, np.int64(t1_ns), side="right")
        return np.arange(lo, hi, dtype=np.int64)
    return np.flatnonzero((ts >= t0_ns) & (ts <= t1_ns)).astype(np.int64)
