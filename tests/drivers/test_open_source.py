"""open_source's scheme table: emulated devices behind a URI, realtime looped session replay, errors."""

import time

import numpy as np
import pytest

from rfpose.drivers.emulators.adc_frames import SyntheticAdc
from rfpose.drivers.open_source import OPENERS, open_source
from rfpose.errors import ConfigError, UnknownNameError

pytestmark = pytest.mark.timeout(120)


def test_every_documented_scheme_is_in_the_table():
    import rfpose.drivers.open_source as mod

    for name in OPENERS:
        assert f"``{name}://" in mod.__doc__
    assert {"dca1000", "uart", "session", "sim", "adc", "pcd", "camera", "ouster", "emu+dca1000",
            "emu+uart"} <= set(OPENERS)


def test_unknown_scheme_and_options_are_typed_errors():
    with pytest.raises(UnknownNameError, match=r"unknown source scheme 'lidar'; valid: .*emu\+dca1000, emu\+uart"):
        open_source("lidar://x")
    with pytest.raises(ConfigError, match="unknown option\\(s\\) loss; valid: .*loss_rate"):
        open_source("emu+dca1000://127.0.0.1?board=awr1843boost&loss=0.1")
    with pytest.raises(ConfigError, match="needs \\?board"):
        open_source("emu+dca1000://127.0.0.1")
    with pytest.raises(ConfigError, match="seed='x' is not a number"):
        open_source("emu+uart://?seed=x")


def test_emulated_dca1000_uri_streams_the_counter_pattern_through_the_real_driver(addrs):
    host, fpga = addrs
    src = open_source(f"emu+dca1000://{host}?fpga={fpga}&board=awr1843boost&delay_us=5")
    frame_bytes = src.params.frame_bytes
    try:
        frames = [src.read(timeout_s=5.0) for _ in range(3)]
    finally:
        src.close()
    adc = SyntheticAdc("counter")
    for f in frames:
        assert f.complete and f.adc.tobytes() == adc.frame(f.index, frame_bytes)
    assert src.stats["frames"] >= 3
    # closing the source closed its emulators: their UDP ports are free for the next one
    open_source(f"emu+dca1000://{host}?fpga={fpga}&board=awr1843boost").close()


def test_emulated_uart_uri_streams_point_clouds():
    with open_source("emu+uart://?board=iwr6843isk&points=walking&targets=2&seed=1") as src:
        frames = [src.read(timeout_s=5.0) for _ in range(3)]
        assert src.kind == "points" and src.metadata["board"] == "iwr6843isk"
    assert [f.frame_number for f in frames] == sorted(f.frame_number for f in frames)
    assert all(len(f.points) == 2 for f in frames)


def test_session_replayed_in_real_time_and_looped(tmp_path):
    from rfpose.sim.session_writer import simulate_session

    path = tmp_path / "s.zarr"
    simulate_session(path, "walk", num_frames=4, seed=0, camera=False, lidar=False)
    src = open_source(f"session://{path}?realtime=1&loop=1#radar")
    assert src.is_live and not src.is_seekable
    t0 = time.monotonic()
    frames = [src.read(timeout_s=2.0) for _ in range(6)]
    elapsed = time.monotonic() - t0
    src.stop()
    src.close()
    period = src.metadata.get("frame_period_s") or 0.1
    assert [f.index for f in frames] == [0, 1, 2, 3, 0, 1]  # looped
    assert elapsed >= 4 * period * 0.8  # paced, not as fast as possible
    assert np.array_equal(frames[4].adc, frames[0].adc)
    with pytest.raises(ConfigError, match="realtime replay needs a recorded or simulated source"):
        open_source("emu+uart://?realtime=1")


def test_preloaded_emulator_frames_equal_the_sources_and_late_frames_are_kept(tmp_path):
    """``emulation.preload`` produces the same bytes up front; ``drop_late=0`` emits a slow source's every frame,
    stamped with its due time."""
    from rfpose.drivers.emulators.adc_frames import SourceAdc
    from rfpose.sim.session_writer import simulate_session

    path = tmp_path / "s.zarr"
    simulate_session(path, "walk", num_frames=3, seed=0, camera=False, lidar=False)
    uri = f"session://{path}#radar"
    src = open_source(uri)
    nbytes = src[0].adc.size * 2
    lazy, pre = SourceAdc(open_source(uri)), SourceAdc(open_source(uri), loop=True, preload=True)
    gen = pre.frames(nbytes)
    assert list(lazy.frames(nbytes)) == [next(gen) for _ in range(3)] and next(gen) == next(lazy.frames(nbytes))
    with pytest.raises(ConfigError, match="preload"):
        SourceAdc(open_source("emu+uart://"), preload=True)

    class Slow:  # a seekable source that takes 0.25 s per frame at 10 Hz
        kind, name, is_seekable, metadata = "radar", "radar", True, {}
        timestamps_ns = np.arange(4, dtype=np.int64) * 100_000_000

        def __len__(self):
            return 4

        def __getitem__(self, i):
            time.sleep(0.25)
            return src[i % 3]

        def close(self):
            pass

    from rfpose.drivers.realtime import RealtimeSource

    for drop_late, expect in ((True, lambda n: n < 4), (False, lambda n: n == 4)):
        rt = RealtimeSource(Slow(), drop_late=drop_late)
        got = []
        while (f := rt.read(timeout_s=2.0)) is not None and len(got) < 4:
            got.append(f.timestamp_ns)
        rt.close()
        assert expect(len(got)), (drop_late, len(got))
        if not drop_late:
            assert np.allclose(np.diff(got), 1e8, atol=2e6)  # stamped when due, not when delivered
    assert open_source(f"session://{path}?realtime=1&drop_late=0#radar").drop_late is False
