"""The source lifecycle (start / read with timeouts / stop and drain / stats) and the fan-out: several
consumers of one running source, a recorder among them."""

import queue
import threading
import time

import numpy as np
import pytest

from rfpose.drivers.emulators.adc_frames import SyntheticAdc
from rfpose.drivers.recorder import Recorder
from rfpose.drivers.rig import load_rig
from rfpose.errors import DeviceError, DeviceTimeout
from rfpose.fanout import FanOut, Listener
from rfpose.source import END, RadarFrame, SourceBase

pytestmark = pytest.mark.timeout(120)
F = 786_432


class QueueSource(SourceBase):
    """A live source fed by the test through a queue (the base class's loop is what is under test)."""

    kind = "radar"
    is_live = True

    def __init__(self, name="q", data_timeout_s=None):
        super().__init__()
        self.name = name
        self.data_timeout_s = data_timeout_s
        self.q: queue.Queue = queue.Queue()
        self.calls = []

    def _start(self):
        self.calls.append("start")

    def _stop(self):
        self.calls.append("stop")

    def _read(self, timeout_s):
        try:
            item = self.q.get(timeout=timeout_s)
        except queue.Empty:
            return END if self.stopping else None
        if isinstance(item, BaseException):
            raise item
        return item

    def _stats(self):
        return {"queued": self.q.qsize()}


def _frame(i):
    return RadarFrame(i, 1000 + i, np.full(4, i, np.int16))


def test_read_times_out_starts_once_and_stop_drains():
    src = QueueSource()
    t0 = time.monotonic()
    assert src.read(timeout_s=0.15) is None and not src.ended
    assert 0.14 <= time.monotonic() - t0 < 1.0
    assert src.calls == ["start"] and src.started
    for i in range(3):
        src.q.put(_frame(i))
    assert src.read(0.5).index == 0
    src.stop()
    src.stop()
    assert src.calls == ["start", "stop"]
    assert [f.index for f in src] == [1, 2]  # what the device had sent is still read
    assert src.ended and src.read(0.1) is None
    assert src.stats == {"frames": 3, "queued": 0}
    src.close()
    src.start()  # no-op once stopped
    assert src.calls == ["start", "stop"]


def test_data_timeout_stops_reads_what_is_left_then_raises():
    src = QueueSource(data_timeout_s=0.3)
    src.q.put(_frame(0))
    got = [src.read(1.0)]
    t0 = time.monotonic()
    with pytest.raises(DeviceTimeout, match="no data for 0.3 s"):
        while True:
            got.append(src.read(0.05))
    assert time.monotonic() - t0 >= 0.3
    assert "stop" in src.calls and got[0].index == 0


def test_seekable_source_reads_with_a_cursor_and_iterates_fresh(tmp_path):
    from rfpose.drivers.adc_file import AdcFileSource, AdcFileWriter

    path = tmp_path / "adc_data.bin"
    w = AdcFileWriter(path, frame_bytes=8, board="awr1843boost", cfg_text="")
    for i in range(4):
        w.write(_frame(i))
    w.close()
    src = AdcFileSource(path)
    assert [f.index for f in src] == [0, 1, 2, 3] == [f.index for f in src]  # each iter is a fresh pass
    assert src.read(0).index == 0 and src.read(0).index == 1
    src.stop()
    assert src.read(0) is None and src.ended


def test_slow_lossy_consumer_drops_and_counts_without_holding_up_the_others():
    src = QueueSource()
    fan = FanOut([src])
    everything = fan.subscribe("everything", maxsize=4, lossless=True)
    slow = fan.subscribe("slow", maxsize=2)  # never read until the end
    fan.start()
    got = []
    for i in range(50):
        src.q.put(_frame(i))
        got.append(everything.get(timeout=5)[1].index)
    fan.stop()
    assert fan.join(timeout=5)
    assert got == list(range(50))
    assert slow.received == 2 and slow.dropped == 48
    assert [f.index for _, f in slow] == [0, 1]
    assert fan.frames == {"q": 50} and fan.stats["consumers"]["slow"]["dropped"] == 48


def test_a_failing_listener_is_counted_and_the_others_see_everything():
    class Collect(Listener):
        def __init__(self, fail_every=0):
            self.frames, self.fail_every, self.ended = [], fail_every, threading.Event()

        def on_frame(self, source, frame):
            if self.fail_every and frame.index % self.fail_every == 0:
                raise ValueError(f"bad frame {frame.index}")
            self.frames.append((source, frame.index))

        def on_end(self, errors):
            self.errors = errors
            self.ended.set()

    a, b = QueueSource("a"), QueueSource("b")
    fan = FanOut([a, b])
    good, bad = Collect(), Collect(fail_every=3)
    fan.add_listener(good, maxsize=100)
    bad_sub = fan.add_listener(bad, name="bad", maxsize=100)
    fan.start()
    for i in range(9):
        a.q.put(_frame(i))
    b.q.put(_frame(0))
    b.q.put(DeviceError("unplugged"))  # a source failing ends its own reader only
    time.sleep(0.3)
    fan.stop()
    assert fan.join(timeout=5) and good.ended.is_set()
    assert sorted(good.frames) == [("a", i) for i in range(9)] + [("b", 0)]
    assert bad_sub.errors == 4 and isinstance(bad_sub.last_error, ValueError)  # a0 a3 a6 b0
    assert len(bad.frames) == 6
    assert isinstance(fan.errors["b"], DeviceError) and isinstance(good.errors["b"], DeviceError)


def test_recorder_and_a_second_consumer_share_one_emulated_radar(tmp_path, emulated_rig):
    """One emulated DCA1000 through the real driver: the recorder's session is byte-exact and a second
    consumer on the same running source sees every frame the recorder wrote."""
    from rfpose.session import SessionReader

    rig = load_rig(emulated_rig())
    seen = []

    class Monitor(Listener):
        def on_frame(self, source, frame):
            seen.append((source, frame.index, frame.adc.tobytes()))

    subs = []
    rec = Recorder(rig, tmp_path / "s.zarr", duration_s=1.5,
                   on_fanout=lambda fan: subs.append(fan.add_listener(Monitor(), maxsize=1000)))
    status = rec.run()
    n = status["radar"].frames
    assert n >= 8
    s = SessionReader(tmp_path / "s.zarr").stream("radar")
    assert len(s) == n
    adc = SyntheticAdc("counter")
    for i in range(n):
        f = s[i]
        assert f.complete and f.adc.tobytes() == adc.frame(f.index, F)
    assert rec.fanout.join(timeout=5)
    assert subs[0].dropped == 0 and subs[0].errors == 0
    assert [(name, idx) for name, idx, _ in seen] == [("radar", s[i].index) for i in range(n)]
    assert all(b == s[i].adc.tobytes() for i, (_, _, b) in enumerate(seen))
