"""Real-time replay of a seekable source: pacing, host timestamps, loop and stop.

No wall-clock upper bounds: a loaded machine only makes things later, so the checks are order, counts and
lower bounds of pacing (which lateness cannot break)."""

import threading
import time

import numpy as np
import pytest

from rfpose.drivers.open_source import open_source
from rfpose.drivers.realtime import RealtimeSource
from rfpose.errors import ConfigError
from rfpose.source import CameraFrame, SourceBase


class _Recorded(SourceBase):
    kind, name, is_seekable = "camera", "cam", True

    def __init__(self, n, period_s):
        super().__init__()
        self.n, self.period_ns = n, int(period_s * 1e9)

    def _len(self):
        return self.n

    def _get(self, i):
        return CameraFrame(i, 1_000_000_000 + i * self.period_ns, np.full((2, 2, 3), i, np.uint8))


def test_paced_and_restamped():
    src = RealtimeSource(_Recorded(6, 0.05))
    t0 = time.monotonic()
    frames, arrivals = [], []
    for f in src:
        frames.append(f)
        arrivals.append(time.monotonic() - t0)
    assert [f.index for f in frames] == list(range(6))
    assert arrivals[-1] - arrivals[0] >= 0.25 * 0.98  # paced: never sooner than 5 periods after the first
    host = np.array([f.timestamp_ns for f in frames])
    assert (np.diff(host) > 0).all() and host[-1] - host[0] >= 0.25e9 * 0.98  # restamped on the host clock
    assert abs(host[-1] - time.time_ns()) < 60e9


def test_loop_and_stop():
    src = RealtimeSource(_Recorded(3, 0.01), loop=True, speed=2.0, drop_late=False)  # load never drops one
    indices = []
    for f in src:
        indices.append(f.index)
        if len(indices) == 7:
            threading.Thread(target=src.stop).start()  # stopped from another thread, as a recorder does
    assert 7 <= len(indices) <= 9 and indices[:7] == [0, 1, 2, 0, 1, 2, 0]


def test_open_source_realtime_query(tmp_path):
    src = open_source("sim://walk?board=awr1843boost&frames=3&realtime=1#cam_left")
    assert isinstance(src, RealtimeSource) and src.is_live and src.kind == "camera"
    first = next(iter(src))
    assert first.image.ndim == 3
    src.close()
    cv2 = pytest.importorskip("cv2")
    video = tmp_path / "v.avi"
    w = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (32, 24))
    for i in range(3):
        w.write(np.full((24, 32, 3), 40 * i, np.uint8))
    w.release()
    with pytest.raises(ConfigError, match="realtime replay"):  # a video file plays once, it cannot seek
        open_source(f"camera://{video}?realtime=1")


class _Slow(_Recorded):
    def _get(self, i):
        time.sleep(0.03)  # produces a frame in 30 ms, but frames are due every 10 ms
        return super()._get(i)


def test_overdue_frames_are_dropped_not_burst():
    src = RealtimeSource(_Slow(30, 0.01))
    frames = list(src)
    assert src.dropped > 10 and src.emitted == len(frames) and src.emitted + src.dropped == 30
    gaps = np.diff([f.timestamp_ns for f in frames])
    assert (gaps > 0.02e9).all()  # no burst of late frames


def test_max_rate_caps_emission():
    src = RealtimeSource(_Recorded(20, 0.01), max_rate_hz=25)
    frames = list(src)
    gaps = np.diff([f.timestamp_ns for f in frames])
    assert 1 <= len(frames) <= 6 and (gaps >= 0.04e9 * 0.98).all()  # never faster than the cap


class _SlowKnown(_Slow):
    """Knows its timestamps without producing frames (as sessions and the simulator do)."""

    def __init__(self, n, period_s):
        super().__init__(n, period_s)
        self.reads = 0

    @property
    def timestamps_ns(self):
        return np.array([1_000_000_000 + i * self.period_ns for i in range(self.n)])

    def _get(self, i):
        self.reads += 1
        return super()._get(i)


def test_overdue_frames_of_a_source_with_known_times_are_never_read():
    inner = _SlowKnown(30, 0.01)
    src = RealtimeSource(inner)
    frames = list(src)
    assert inner.reads == len(frames) == src.emitted and src.dropped > 10


def test_frames_over_the_rate_cap_of_a_source_with_known_times_are_never_read():
    inner = _SlowKnown(30, 0.01)
    src = RealtimeSource(inner, max_rate_hz=30, drop_late=False)  # every 4th frame, each produced in 30 ms
    frames = list(src)
    assert [f.index for f in frames] == list(range(0, 30, 4)) and inner.reads == len(frames)


def test_drop_late_false_emits_every_frame_in_order():
    src = RealtimeSource(_SlowKnown(12, 0.01), drop_late=False)
    assert [f.index for f in src] == list(range(12)) and src.dropped == 0
