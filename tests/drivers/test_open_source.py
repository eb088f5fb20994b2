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
