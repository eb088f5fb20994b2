"""Recording demo-firmware point clouds into sessions, end to end through the real interfaces: the mmWave
CLI driver configures a board emulator over one pty, DemoPointSource reads TLV packets from a UART emulator
on another, and `rfpose record` writes the points stream; the session is reopened and compared with what
the emulator sent."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rfpose.boards import get_board
from rfpose.cli import main
from rfpose.drivers.demo_points import DemoPointSource
from rfpose.drivers.emulators.board import BoardEmulator
from rfpose.drivers.emulators.uart import UartEmulator, simulated_points, walking_targets
from rfpose.drivers.recorder import Recorder, emulated_points
from rfpose.drivers.rig import parse_rig
from rfpose.errors import ConfigError, DeviceTimeout
from rfpose.session import SessionReader, SessionWriter
from rfpose.source import RADAR_POINT_DTYPE, PointCloudFrame

pytestmark = pytest.mark.timeout(120)


def _assert_points_match(got: np.ndarray, want: np.ndarray, where: str) -> None:
    """Positions and velocity travel as float32 and must come back bit-exact; SNR/noise at 0.1 dB steps."""
    assert got.dtype == RADAR_POINT_DTYPE and got.shape == want.shape, where
    for f in ("x", "y", "z", "v"):
        np.testing.assert_array_equal(got[f], want[f], err_msg=f"{where} {f}")
    for f in ("snr_db", "noise_db"):
        np.testing.assert_allclose(got[f], want[f], rtol=0, atol=1e-5, err_msg=f"{where} {f}")


def _write(tmp_path, name: str, text: str):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_record_emulated_points_rig_with_garbage_and_corruption(tmp_path, capsys):
    """`rfpose record` on an emulate = true rig: board + UART emulators in-process, ~2 s of frames."""
    rig = _write(tmp_path, "rig.toml", """
[rig]
name = "points-rig"
emulate = true

[[sensors]]
name = "pts"
kind = "radar_points"
board = "awr1843boost"
extrinsics = [[1, 0, 0, 0.5], [0, 1, 0, 0], [0, 0, 1, 1.2], [0, 0, 0, 1]]

[sensors.emulation]
targets = 4
seed = 11
garbage_rate = 0.4
corrupt_rate = 0.2
""")
    out = tmp_path / "s.zarr"
    assert main(["record", "--rig", str(rig), "--out", str(out), "--duration", "2", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)["pts"]
    r = SessionReader(out)
    assert r.closed and r.kind("pts") == "points"
    s = r.stream("pts")
    n, bad = len(s), summary["bad_packets"]
    assert n == summary["frames"] >= 10 and bad > 0 and summary["skipped_bytes"] > 0
    # the same seeded emulator, asked for the same frames, says exactly which packets went out damaged
    twin = UartEmulator(walking_targets(4, 11), garbage_rate=0.4, corrupt_rate=0.2, seed=11, autostart=False)
    try:
        damaged = [twin.wire(k)[1] for k in range(n + bad)]
        assert s.frame_numbers.tolist() == [k for k, d in enumerate(damaged) if not d]
        assert bad == sum(damaged)  # every damaged packet counted and skipped, no good one lost
        for i, f in enumerate(s):
            assert isinstance(f, PointCloudFrame) and f.index == i
            _assert_points_match(f.points, twin.expected_points(f.frame_number), f"frame {i}")
    finally:
        twin.close()
    assert np.all(np.diff(s.timestamps_ns) > 0)
    assert s.metadata["board"] == "awr1843boost"
    assert s.metadata["cfg_text"] == get_board("awr1843boost").default_config().to_text()
    assert s.metadata["frame_period_s"] == pytest.approx(0.1)
    np.testing.assert_array_equal(s.metadata["extrinsics"][:3, 3], [0.5, 0, 1.2])
    assert r.attrs["rig"]["sensors"][0]["emulation"]["garbage_rate"] == 0.4


CFG_50MS = """% demo configuration at 20 frames/s for the test
sensorStop
flushCfg
dfeDataOutputMode 1
channelCfg 15 7 0
adcCfg 2 1
adcbufCfg -1 0 1 1 1
profileCfg 0 77 109 5.8 57 0 0 70.006 1 256 5000 0 0 30
chirpCfg 0 0 0 0 0 0 0 1
chirpCfg 1 1 0 0 0 0 0 2
chirpCfg 2 2 0 0 0 0 0 4
frameCfg 0 2 32 0 50 1 0
lowPower 0 0
guiMonitor -1 1 0 0 0 0 0
cfarCfg -1 0 2 8 4 3 0 15 1
sensorStart
"""


def _points_rig(tmp_path, cli: str, data: str) -> str:
    _write(tmp_path, "fast.cfg", CFG_50MS)
    return str(_write(tmp_path, "rig.toml", f"""
[rig]
name = "bench"
[[sensors]]
name = "points"
kind = "radar_points"
board = "awr1843boost"
cfg = "fast.cfg"
cli_port = "{cli}"
data_port = "{data}"
"""))


def test_record_from_board_and_uart_on_ptys_is_exact(tmp_path):
    """Emulators run by the test (as hardware would be): the .cfg goes over the CLI pty, its frame period
    paces the UART stream, and the session holds exactly the packets that went out whole."""
    from rfpose.drivers.rig import load_rig

    with UartEmulator(walking_targets(3, 5), garbage_rate=0.3, corrupt_rate=0.15, seed=5, autostart=False) as uart, \
            BoardEmulator("awr1843boost", dca=uart) as board:
        rig = load_rig(_points_rig(tmp_path, board.path, uart.path))
        assert not uart.running  # nothing streams before sensorStart
        status = Recorder(rig, tmp_path / "p.zarr", duration_s=1.5).run()
        assert not uart.running  # the recorder's sensorStop stopped the stream
        sent, corrupted = list(uart.sent), list(uart.corrupted)
        commands = [ln for ln in board.received]
    cfg_lines = [ln for ln in CFG_50MS.splitlines() if ln and not ln.startswith("%") and ln != "sensorStart"]
    assert commands[:len(cfg_lines)] == cfg_lines  # the whole .cfg in order, then start and stop
    assert commands[len(cfg_lines):] == ["sensorStart", "sensorStop"]
    s = SessionReader(tmp_path / "p.zarr").stream("points")
    assert s.frame_numbers.tolist() == sent and len(sent) >= 15
    assert status["points"].extra["bad_packets"] == len(corrupted) > 0
    twin_points = walking_targets(3, 5)
    for f in s:
        want = np.asarray(twin_points(f.frame_number))
        got = f.points
        np.testing.assert_array_equal(np.c_[got["x"], got["y"], got["z"], got["v"]], want)
    # the board's frameCfg (50 ms) paced the stream: host arrival times follow it
    period = np.median(np.diff(s.timestamps_ns)) / 1e9
    assert period == pytest.approx(0.05, rel=0.3)


def test_device_that_stops_sending_keeps_the_frames(tmp_path, capsys):
    """The board's stream dies after 6 packets: record reports the DeviceTimeout as a partial recording
    (exit 3) and the session still holds every frame that arrived."""
    with UartEmulator(walking_targets(2, 1), num_frames=6, seed=1, autostart=False) as uart, \
            BoardEmulator("awr1843boost", dca=uart) as board:
        rig = _points_rig(tmp_path, board.path, uart.path)
        code = main(["record", "--rig", rig, "--out", str(tmp_path / "d.zarr")])
        sent = list(uart.sent)
    assert code == 3
    err = capsys.readouterr().err
    assert "no point-cloud packet on" in err and "intact but partial (points 6 frames" in err
    r = SessionReader(tmp_path / "d.zarr")
    assert r.closed and r.stream("points").frame_numbers.tolist() == sent == list(range(6))


def test_simulated_points_are_the_simulated_people(tmp_path):
    """The emulator fed by the rig simulator: points are the scenario's joints (radar frame) and their
    radial velocities, as checked against the simulator's own ground truth."""
    from rfpose.sim.scenarios import build_rig

    period = 0.05
    with UartEmulator(simulated_points("walk", seed=2, frame_period_s=period), frame_period_s=0.02, seed=2,
                      autostart=False, first_frame=5) as uart:
        src = DemoPointSource(uart.path, timeout_s=2.0)
        uart.start()
        frames = []
        with src:
            for f in src:
                frames.append(f)
                if len(frames) == 4:
                    break
    gt = build_rig("walk", seed=2, num_frames=10, board="awr1843boost", camera=False, lidar=False)
    assert [f.frame_number for f in frames] == [5, 6, 7, 8]
    for f in frames:
        t = f.frame_number * period
        joints = gt.ground_truth(t).reshape(-1, 3)
        p = f.points
        assert len(p) == 15
        np.testing.assert_allclose(np.c_[p["x"], p["y"], p["z"]], joints, atol=1e-5)
        step = (gt.ground_truth(t + 0.01).reshape(-1, 3) - gt.ground_truth(t - 0.01).reshape(-1, 3)) / 0.02
        radial = np.sum(joints * step, axis=1) / np.linalg.norm(joints, axis=1)
        np.testing.assert_allclose(p["v"], radial, atol=0.05)
    assert np.abs(np.concatenate([f.points["v"] for f in frames])).max() > 0.1  # the person moves


def test_replayed_points_session_records_through_a_uri(tmp_path):
    """A radar_points sensor may also be any source URI of point clouds (here a recorded session)."""
    src_path = tmp_path / "old.zarr"
    rng = np.random.default_rng(0)
    with SessionWriter(src_path) as w:
        w.add_points_stream("points", board="iwr6843isk")
        w.add_lidar_stream("lidar")
        for i in range(5):
            pts = np.zeros(i + 1, RADAR_POINT_DTYPE)
            pts["x"] = rng.uniform(1, 5, i + 1)
            w.append("points", PointCloudFrame(i, 100 + i, pts, frame_number=70 + i))
    rig = parse_rig(f"""
[[sensors]]
name = "copy"
kind = "radar_points"
uri = "session://{src_path}#points"
""", "rig.toml")
    Recorder(rig, tmp_path / "copy.zarr").run()  # ends by itself when the replay is exhausted
    a, b = SessionReader(src_path).stream("points"), SessionReader(tmp_path / "copy.zarr").stream("copy")
    assert b.frame_numbers.tolist() == [70, 71, 72, 73, 74] and b.metadata["board"] == "iwr6843isk"
    for fa, fb in zip(a, b):
        np.testing.assert_array_equal(fa.points, fb.points)
    bad = parse_rig(f"""
[[sensors]]
name = "copy"
kind = "radar_points"
uri = "session://{src_path}#lidar"
""", "rig.toml")
    with pytest.raises(ConfigError, match="yields 'lidar' frames, not point clouds"):
        Recorder(bad, tmp_path / "bad.zarr").run()


@pytest.mark.parametrize("text,match", [
    ("[[sensors]]\nname='p'\nkind='radar_points'\n", "radar_points sensor needs 'board'"),
    ("[[sensors]]\nname='p'\nkind='radar_points'\nboard='iwr6843isk'\ndriver='dca1000'\n", "driver 'dca1000'"),
    ("[[sensors]]\nname='p'\nkind='radar_points'\nboard='iwr6843isk'\n[sensors.emulation]\nadc='random'\n",
     "adc only apply to radar sensors"),
    ("[[sensors]]\nname='r'\nkind='radar'\nboard='awr1843boost'\n[sensors.emulation]\ngarbage_rate=0.1\n",
     "garbage_rate only apply to radar_points"),
    ("[[sensors]]\nname='p'\nkind='radar_points'\nboard='iwr6843isk'\n[sensors.emulation]\ncorrupt_rate=1.5\n",
     r"corrupt_rate = 1.5 is not a probability"),
    ("[[sensors]]\nname='p'\nkind='radar_points'\nboard='iwr6843isk'\n[sensors.emulation]\ntargets=0\n",
     "targets = 0 must be"),
])
def test_bad_radar_points_rig_entries(text, match):
    with pytest.raises(ConfigError, match=match):
        parse_rig(text, "rig.toml")


def test_radar_points_rig_defaults_and_point_generators():
    rig = parse_rig("[[sensors]]\nname='p'\nkind='radar_points'\nboard='iwr6843isk'\n", "rig.toml")
    s = rig.sensors[0]
    assert (s.driver, s.data_port, s.cli_port, s.emulation.points) == ("uart", "auto", "", "walking")
    np.testing.assert_array_equal(emulated_points("walking", 3, 2)(7), walking_targets(2, 3)(7))
    with pytest.raises(ConfigError, match="emulation.points 'lidar://x' is unknown; valid: walking, sim://"):
        emulated_points("lidar://x")
    with pytest.raises(ConfigError, match="unknown option.*seed"):
        emulated_points("sim://walk?seed=3")


def test_points_timeout_without_any_packet(tmp_path):
    """A data port that never sends: a DeviceTimeout naming the port, after the configured time."""
    with UartEmulator(autostart=False) as uart:
        with DemoPointSource(uart.path, timeout_s=0.3) as src, pytest.raises(DeviceTimeout, match=uart.path):
            next(iter(src))
