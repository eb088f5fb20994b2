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

from rfpose.source import Frame, SourceBase


class RealtimeSource(SourceBase):
    """Wrap a seekable source; ``iter`` sleeps so frame ``i`` leaves ``t_i − t_0`` after the first.

    Like a live sensor, it does not wait for a slow consumer: a frame already more than one frame
    period overdue is dropped without being read (``dropped`` counts them), so a source that is slow to
    produce frames (a simulator rendering images) falls back to the rate it can sustain.

    ``restamp``: replace ``timestamp_ns`` by the host clock (``time.time_ns()``) at emission.
    ``loop``: start over at the end (a live sensor never runs out). ``speed`` > 1 replays faster.
    ``max_rate_hz``: emit at most this many frames per second (the others are skipped, not counted as
    dropped). ``stop()`` ends the iteration.
    """

    is_live = True
    is_seekable = False

    def __init__(self, source, *, restamp: bool = True, loop: bool = False, speed: float = 1.0,
                 max_rate_hz: float | None = None):
        super().__init__()
        self.source, self.restamp, self.loop, self.speed = source, restamp, loop, float(speed)
        self.min_interval_s = 1.0 / max_rate_hz if max_rate_hz else 0.0
        self.kind, self.name = source.kind, source.name
        self.metadata = dict(source.metadata)
        self.metadata["replayed_from"] = type(source).__name__
        self.emitted = self.dropped = 0
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()

    def stats(self) -> dict:
        return {"emitted": self.emitted, "dropped_frames": self.dropped}

    def _times_s(self) -> list[float]:
        ts = getattr(self.source, "timestamps_ns", None)
        if ts is None:
            ts = [self.source[i].timestamp_ns for i in range(len(self.source))]
        return [t * 1e-9 for t in ts]

    def _iter(self) -> Iterator[Frame]:
        times = self._times_s()
        n = len(times)
        if n == 0:
            return
        span = times[-1] - times[0]
        period = span / (n - 1) if n > 1 else 0.1
        start = time.monotonic()
        last_emit = -float("inf")
        lap = 0
        while not self._stop.is_set():
            for i in range(n):
                due = start + (times[i] - times[0] + lap * (span + period)) / self.speed
                now = time.monotonic()
                if now > due + period / self.speed:
                    self.dropped += 1  # overdue: a live sensor would have moved on
                    continue
                if due - last_emit < self.min_interval_s:
                    continue
                if due > now and self._stop.wait(due - now):
                    return
                if self._stop.is_set():
                    return
                frame = self.source[i]
                if self.restamp:
                    frame.timestamp_ns = time.time_ns()
                last_emit = due
                self.emitted += 1
                yield frame
            if not self.loop:
                return
            lap += 1

    def _close(self) -> None:
        self._stop.set()
        self.source.close()
