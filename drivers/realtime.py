"""Replay a recorded or simulated source as if it were live: frames come out at their own pace and,
optionally, carry the host clock at emission, as a live driver stamps them.

Used to put simulated LiDAR and cameras beside emulated radars in ``rfpose record`` (the radar side
goes through the real DCA1000 protocol; there is no LiDAR or camera wire protocol to emulate), and to
replay a session into a live pipeline at its recorded timing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import numpy as np

from rfpose.source import END, POLL_S, Frame, SourceBase


class RealtimeSource(SourceBase):
    """Wrap a seekable source; ``iter`` sleeps so frame ``i`` leaves ``t_i − t_0`` after the first.

    Like a live sensor, it does not wait for a slow consumer: a frame already more than one frame
    period overdue is dropped without being read (``dropped`` counts them), so a source that is slow to
    produce frames (a simulator rendering images) falls back to the rate it can sustain.

    ``restamp``: replace ``timestamp_ns`` by the host clock (``time.time_ns()``) at the frame's due time — when a
    live sensor would have captured it; a frame that was slow to produce (a rendered image) is not stamped late.
    ``loop``: start over at the end (a live sensor never runs out). ``speed`` > 1 replays faster.
    ``max_rate_hz``: emit at most this many frames per second (the others are skipped, not counted as
    dropped). ``drop_late=False`` emits every frame, late if need be (a replay that must see them all).
    ``stop()`` ends the stream.
    """

    is_live = True
    is_seekable = False

    def __init__(self, source, *, restamp: bool = True, loop: bool = False, speed: float = 1.0,
                 max_rate_hz: float | None = None, drop_late: bool = True):
        super().__init__()
        self.drop_late = drop_late
        self.source, self.restamp, self.loop, self.speed = source, restamp, loop, float(speed)
        self.min_interval_s = 1.0 / max_rate_hz if max_rate_hz else 0.0
        self.kind, self.name = source.kind, source.name
        self.metadata = dict(source.metadata)
        self.metadata["replayed_from"] = type(source).__name__
        self.emitted = self.dropped = 0
        self._halt = threading.Event()
        self._frames: Iterator[Frame | None] | None = None

    def _stop(self) -> None:
        self._halt.set()

    def _stats(self) -> dict:
        return {"emitted": self.emitted, "dropped_frames": self.dropped}

    def _read(self, timeout_s: float):
        if self._frames is None:
            self._frames = self._paced()
        return next(self._frames, END)

    def _paced(self) -> Iterator[Frame | None]:
        """Frames at their due times; None while waiting (at most every :data:`POLL_S`), so reads can time out."""
        # Frame times come from ``timestamps_ns`` when the source knows them without producing frames
        # (sessions, the simulator); otherwise each frame's own time is read and the next ones are
        # predicted from the frame period seen so far, so overdue frames are still skipped unread.
        n = len(self.source)
        known = getattr(self.source, "timestamps_ns", None)
        times = None if known is None else np.asarray(known, dtype=np.float64) * 1e-9
        period = float(np.median(np.diff(times))) if times is not None and n > 1 else None
        t0 = times[0] if times is not None and n else None
        start, last_emit, lap, span = time.monotonic(), -float("inf"), 0, 0.0
        wall_start_ns = time.time_ns()
        while n and not self._halt.is_set():
            last_read = None  # (index, time) of the last frame read in this lap
            t = None
            for i in range(n):
                if times is not None:
                    t = times[i]
                elif last_read is not None and period:
                    t = last_read[1] + (i - last_read[0]) * period
                else:
                    t = None
                planned = t is not None  # known or predicted before reading: a frame read in time is emitted
                if planned:
                    due = start + (t - t0 + lap * span) / self.speed
                    if self._overdue(due, period):
                        self.dropped += 1  # a live sensor would have moved on
                        continue
                    if due - last_emit < self.min_interval_s:
                        continue  # over the rate cap: skipped unread (producing a frame, e.g. rendering, costs time)
                frame = self.source[i]
                if times is None:
                    t = frame.timestamp_ns * 1e-9
                    if t0 is None:
                        t0 = t
                    if last_read is not None and t > last_read[1]:
                        period = (t - last_read[1]) / (i - last_read[0])
                    last_read = (i, t)
                due = start + (t - t0 + lap * span) / self.speed
                if not planned and self.emitted and self._overdue(due, period):
                    self.dropped += 1  # its time was only learnt by reading it, and it is stale
                    continue
                if due - last_emit < self.min_interval_s:
                    continue
                while due - time.monotonic() > POLL_S:
                    if self._halt.wait(POLL_S):
                        return
                    yield None
                if due > time.monotonic() and self._halt.wait(due - time.monotonic()):
                    return
                if self._halt.is_set():
                    return
                if self.restamp:
                    frame.timestamp_ns = wall_start_ns + int(round((due - start) * 1e9))
                last_emit = due
                self.emitted += 1
                yield frame
            if not self.loop or t is None:
                return
            span = (t - t0) + (period or 0.1) if times is None else (times[-1] - times[0]) + (period or 0.1)
            lap += 1

    def _overdue(self, due: float, period: float | None) -> bool:
        return self.drop_late and bool(period) and time.monotonic() > due + period / self.speed

    def _close(self) -> None:
        self.source.close()
