"""Replay a recorded or simulated source as if it were live: frames come out at their own pace and,
optionally, carry the host clock at emission, as a live driver stamps them.

Used to put simulated LiDAR and cameras beside emulated radars in ``rfpose record`` (the radar side
goes through the real DCA1000 protocol; there is no LiDAR or camera wire protocol to emulate), and to
replay a session into the monitor at its recorded timing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

from rfpose.source import Frame, SourceBase


class RealtimeSource(SourceBase):
    """Wrap a seekable source; ``iter`` sleeps so frame ``i`` leaves ``t_i − t_0`` after the first.

    ``restamp``: replace ``timestamp_ns`` by the host clock (``time.time_ns()``) at emission.
    ``loop``: start over at the end (a live sensor never runs out). ``stop()`` ends the iteration.
    ``speed`` > 1 replays faster.
    """

    is_live = True
    is_seekable = False

    def __init__(self, source, *, restamp: bool = True, loop: bool = False, speed: float = 1.0):
        super().__init__()
        self.source, self.restamp, self.loop, self.speed = source, restamp, loop, float(speed)
        self.kind, self.name = source.kind, source.name
        self.metadata = dict(source.metadata)
        self.metadata["replayed_from"] = type(source).__name__
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()

    def _iter(self) -> Iterator[Frame]:
        ts = getattr(self.source, "timestamps_ns", None)
        n = len(self.source)
        emitted = 0
        start = time.monotonic()
        t0 = None
        period_offset = 0.0
        while not self._stop.is_set():
            for i in range(n):
                if self._stop.is_set():
                    return
                frame = self.source[i]
                t = (ts[i] if ts is not None else frame.timestamp_ns) * 1e-9
                if t0 is None:
                    t0 = t
                due = start + (t - t0 + period_offset) / self.speed
                delay = due - time.monotonic()
                if delay > 0 and self._stop.wait(delay):
                    return
                if self.restamp:
                    frame.timestamp_ns = time.time_ns()
                emitted += 1
                yield frame
            if not self.loop or n == 0:
                return
            # continue the timeline one median period after the last frame
            if n > 1:
                last = (ts[n - 1] if ts is not None else self.source[n - 1].timestamp_ns) * 1e-9
                period_offset += last - t0 + (last - t0) / (n - 1)

    def _close(self) -> None:
        self._stop.set()
        self.source.close()
