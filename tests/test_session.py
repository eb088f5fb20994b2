"""The session format: round trips, crash safety under SIGKILL, version/corruption errors, time lookups."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from rfpose.boards import get_board
from rfpose.errors import ConfigError, FormatError, RfposeError, ShapeError, UnknownNameError
from rfpose.session import SessionReader, SessionWriter, expected_radar_frame_shape, open_session
from rfpose.session.layout import COMMIT_FILE
from rfpose.session.timeindex import indices_between, nearest_index
from rfpose.source import (LIDAR_POINT_DTYPE, RADAR_POINT_DTYPE, CameraFrame, LidarFrame, PointCloudFrame, RadarFrame,
                           Source)

HERE = Path(__file__).parent
KILL_SCRIPT = HERE / "session_kill_writer.py"
_spec = importlib.util.spec_from_file_location("session_kill_writer", KILL_SCRIPT)
kw = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(kw)


def _points(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    pts = np.zeros(n, LIDAR_POINT_DTYPE)
    for f in ("x", "y", "z", "intensity"):
        pts[f] = rng.normal(0, 3, n)
    pts["time_offset_ns"] = rng.integers(-(2**40), 2**40, n)
    return pts


@dataclasses.dataclass
class _WriterConfig:
    frames: int = 3
    scenario: str = "walk"


def _T(tx: float) -> np.ndarray:
    t = np.eye(4)
    t[0, 3] = tx
    return t


# -- round trip --------------------------------------------------------------------------------

def test_round_trip_every_stream_kind(tmp_path):
    path = tmp_path / "s.zarr"
    rng = np.random.default_rng(0)
    b1843, bcas = get_board("awr1843boost"), get_board("mmwcas")
    cfg1843, cfgcas = b1843.default_config().to_text(), bcas.default_config().to_text()
    shape1843 = expected_radar_frame_shape("awr1843boost", cfg1843)
    shapecas = expected_radar_frame_shape("mmwcas", cfgcas)
    # physics of the wire: 64 loops x 3 TX x 4 RX x 256 complex samples = 2 words each
    assert shape1843 == (64 * 3 * 4 * 256 * 2,)
    assert shapecas == (4, 64 * 12 * 4 * 256 * 2)

    radar = [RadarFrame(10 + i, 1_000 + 100 * i, rng.integers(-2**15, 2**15, shape1843, dtype=np.int16),
                        lost_bytes=[0, 1456, 0][i], complete=[True, False, True][i]) for i in range(3)]
    cascade = [RadarFrame(i, 1_010 + 100 * i, rng.integers(-2**15, 2**15, shapecas, dtype=np.int16)) for i in range(2)]
    counts = [5, 0, 17, 0, 1]
    lidar = [LidarFrame(i, 1_020 + 100 * i, _points(n, i)) for i, n in enumerate(counts)]
    cam = [CameraFrame(i, 1_030 + 100 * i, rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)) for i in range(4)]
    K = np.array([[500.0, 0, 32], [0, 500, 24], [0, 0, 1]])
    one = (rng.normal(size=(1, 15, 3)).astype(np.float32), rng.uniform(size=(1, 15)).astype(np.float32))
    two = (rng.normal(size=(2, 15, 3)).astype(np.float32), rng.uniform(size=(2, 15)).astype(np.float32))
    pose2d = rng.normal(size=(1, 14, 2)).astype(np.float32)

    with SessionWriter(path, attrs={"rig": {"name": "lab", "radars": 2}, "config": _WriterConfig(), "note": "x"}) as w:
        w.add_radar_stream("radar", board="awr1843boost", cfg_text=cfg1843, extrinsics=_T(0.1),
                           attrs={"serial": "R1"})
        w.add_radar_stream("cascade", board="mmwcas", cfg_text=cfgcas, frame_shape=shapecas)
        w.add_lidar_stream("lidar", extrinsics=_T(0.2))
        w.add_camera_stream("cam_left", height=48, width=64, intrinsics=K, distortion=(0.1, -0.01, 0, 0, 0.001))
        w.add_labels("gt", skeleton="rtpose15", dims=3, max_people=2, provenance={"method": "simulator-ground-truth"})
        w.add_labels("hupr2d", skeleton="custom14", num_joints=14, dims=2, max_people=1,
                     provenance={"method": "mediapipe+lidar", "version": "0.10.21"}, attrs={"camera": "cam_left"})
        for f in radar:
            w.append("radar", f)
        for f in cascade:
            w.append("cascade", f)
        for f in lidar:
            w.append("lidar", f)
        for f in cam:
            w.append("cam_left", f)
        w.append_labels("gt", 1_000, *one, frame_index=0)
        w.append_labels("gt", 1_100, *two, frame_index=1)
        w.append_labels("gt", 1_200, np.zeros((0, 15, 3)), np.zeros((0, 15)))  # nobody in view
        w.append_labels("hupr2d", 1_005, pose2d)  # confidence defaults to 1

    r = open_session(path)
    assert r.closed
    assert r.streams == ["radar", "cascade", "lidar", "cam_left"]
    assert [r.kind(n) for n in r.streams] == ["radar", "radar", "lidar", "camera"]
    assert r.attrs["rfpose_format"] == "1.1" and r.attrs["rig"] == {"name": "lab", "radars": 2}
    assert r.attrs["config"] == {"frames": 3, "scenario": "walk"} and r.attrs["note"] == "x"
    assert r.attrs["rfpose_version"] and r.attrs["created"].startswith("20")

    s = r.stream("radar")
    assert isinstance(s, Source) and s.kind == "radar" and s.name == "radar"
    assert not s.is_live and s.is_seekable and len(s) == 3
    assert s.metadata["board"] == "awr1843boost" and s.metadata["cfg_text"] == cfg1843
    assert s.metadata["serial"] == "R1" and s.metadata["frame_shape"] == shape1843
    np.testing.assert_array_equal(s.metadata["extrinsics"], _T(0.1))
    for want, got in zip(radar, s):
        assert got.adc.dtype == np.int16
        np.testing.assert_array_equal(got.adc, want.adc)
        assert (got.index, got.timestamp_ns, got.lost_bytes, got.complete) == \
            (want.index, want.timestamp_ns, want.lost_bytes, want.complete)
    np.testing.assert_array_equal(s[-1].adc, radar[-1].adc)
    np.testing.assert_array_equal(s.read_block(1, 3), np.stack([radar[1].adc, radar[2].adc]))
    with pytest.raises(IndexError):
        s[3]

    c = r.stream("cascade")
    assert len(c) == 2
    for want, got in zip(cascade, c):
        assert got.adc.shape == shapecas
        np.testing.assert_array_equal(got.adc, want.adc)

    lid = r.stream("lidar")
    assert [len(f.points) for f in lid] == counts
    np.testing.assert_array_equal(lid.point_offsets, np.concatenate([[0], np.cumsum(counts)]))
    for want, got in zip(lidar, lid):
        assert got.points.dtype == LIDAR_POINT_DTYPE
        np.testing.assert_array_equal(got.points, want.points)
        assert got.timestamp_ns == want.timestamp_ns
    np.testing.assert_array_equal(lid.metadata["extrinsics"], _T(0.2))

    cs = r.stream("cam_left")
    for want, got in zip(cam, cs):
        np.testing.assert_array_equal(got.image, want.image)
    np.testing.assert_array_equal(cs.metadata["intrinsics"], K)
    np.testing.assert_array_equal(cs.metadata["distortion"], [0.1, -0.01, 0, 0, 0.001])
    np.testing.assert_array_equal(cs.metadata["extrinsics"], np.eye(4))

    assert r.label_sets == ["gt", "hupr2d"]
    gt = r.labels("gt")
    assert gt.skeleton == "rtpose15" and gt.provenance == {"method": "simulator-ground-truth"}
    assert gt.joints.shape == (3, 2, 15, 3) and gt.confidence.shape == (3, 2, 15)
    np.testing.assert_array_equal(gt.joints[0, :1], one[0])
    np.testing.assert_array_equal(gt.confidence[0, :1], one[1])
    assert np.isnan(gt.joints[0, 1]).all() and np.isnan(gt.confidence[0, 1]).all()
    np.testing.assert_array_equal(gt.joints[1], two[0])
    np.testing.assert_array_equal(gt.confidence[1], two[1])
    assert np.isnan(gt.joints[2]).all()
    np.testing.assert_array_equal(gt.timestamp_ns, [1_000, 1_100, 1_200])
    np.testing.assert_array_equal(gt.frame_index, [0, 1, -1])
    np.testing.assert_array_equal(gt.num_people, [1, 2, 0])
    h = r.labels("hupr2d")
    assert h.dims == 2 and h.attrs == {"camera": "cam_left"} and h.provenance["version"] == "0.10.21"
    np.testing.assert_array_equal(h.joints[0], pose2d)
    np.testing.assert_array_equal(h.confidence[0], np.ones((1, 14)))

    summary = r.summary()
    assert summary["streams"]["lidar"] == {"kind": "lidar", "frames": 5, "first_ns": 1_020, "last_ns": 1_420}
    json.dumps(summary)


def test_arrays_grow_past_their_capacity_and_are_trimmed_on_close(tmp_path):
    import zarr

    path = tmp_path / "g.zarr"
    counts = [70_000, 0, 90_000, 3]  # more than one 2**17-point chunk and the initial point capacity
    with SessionWriter(path, commit_every=7) as w:
        w.add_radar_stream("radar", board="iwr1443boost", frame_shape=(256,))
        w.add_lidar_stream("lidar")
        for i in range(150):  # > the 64-frame initial capacity, twice
            w.append("radar", RadarFrame(i, i * 10, np.full(256, i - 75, np.int16), complete=i % 2 == 0))
        for i, n in enumerate(counts):
            w.append("lidar", LidarFrame(i, i, _points(n, 100 + i)))
        assert zarr.open_array(path / "streams/radar/adc", mode="r").shape[0] >= 150
    r = SessionReader(path)
    s = r.stream("radar")
    assert len(s) == 150
    assert [int(s[i].adc[0]) for i in (0, 63, 64, 149)] == [-75, -12, -11, 74]
    np.testing.assert_array_equal(s.complete, np.arange(150) % 2 == 0)
    np.testing.assert_array_equal(s.timestamps_ns, np.arange(150) * 10)
    for i, n in enumerate(counts):
        np.testing.assert_array_equal(r.stream("lidar")[i].points, _points(n, 100 + i))
    # close() trimmed the arrays to the committed length: plain zarr tools see the true sizes
    adc = zarr.open_array(path / "streams/radar/adc", mode="r")
    assert adc.shape == (150, 256) and adc.metadata.dimension_names == ("frame", "word")
    assert zarr.open_array(path / "streams/lidar/point_offsets", mode="r").shape == (5,)
    assert zarr.open_array(path / "streams/lidar/points/x", mode="r").shape == (sum(counts),)


def _radar_points(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    pts = np.zeros(n, RADAR_POINT_DTYPE)
    pts["x"], pts["y"], pts["z"] = rng.uniform(0.5, 9, n), rng.uniform(-4, 4, n), rng.uniform(-1, 2, n)
    pts["v"] = rng.uniform(-2, 2, n)
    pts["snr_db"], pts["noise_db"] = rng.integers(50, 300, n) * 0.1, rng.integers(300, 700, n) * 0.1
    return pts


def _assert_points_equal(got: np.ndarray, want: np.ndarray) -> None:
    assert got.dtype == want.dtype and got.shape == want.shape
    for f in want.dtype.names:  # field by field: NaN equals NaN
        np.testing.assert_array_equal(got[f], want[f], err_msg=f)


def test_points_stream_round_trip(tmp_path):
    import zarr

    path = tmp_path / "p.zarr"
    cfg = get_board("iwr6843isk").default_config().to_text()
    counts = [12, 0, 9000, 9000, 1, 0, 20_000]  # past the 16384-point initial capacity, twice
    frames = [PointCloudFrame(i, 5_000 + 100 * i, _radar_points(n, i), frame_number=41 + i + (i > 3))
              for i, n in enumerate(counts)]
    frames[4].points["snr_db"] = frames[4].points["noise_db"] = np.nan  # no side-info TLV
    with SessionWriter(path, commit_every=3) as w:
        w.add_points_stream("points", board="iwr6843isk", cfg_text=cfg, extrinsics=_T(0.3),
                            attrs={"data_port": "/dev/ttyUSB1", "kind": "points"})
        w.add_lidar_stream("lidar")
        for f in frames:
            w.append("points", f)
        w.append("lidar", LidarFrame(0, 5_000, _points(4, 9)))
    marker = json.loads((path / COMMIT_FILE).read_text())
    assert marker["rfpose_format"] == "1.1"
    assert marker["streams"]["points"] == {"kind": "points", "frames": 7, "points": sum(counts)}

    r = SessionReader(path)
    assert r.kind("points") == "points" and r.streams == ["points", "lidar"]
    s = r.stream("points")
    assert isinstance(s, Source) and s.kind == "points" and s.is_seekable and len(s) == 7
    assert s.metadata["board"] == "iwr6843isk" and s.metadata["cfg_text"] == cfg
    assert s.metadata["data_port"] == "/dev/ttyUSB1"
    assert s.metadata["point_fields"] == {f: "<f4" for f in ("x", "y", "z", "v", "snr_db", "noise_db")}
    np.testing.assert_array_equal(s.metadata["extrinsics"], _T(0.3))
    for want, got in zip(frames, s):
        assert isinstance(got, PointCloudFrame) and got.points.dtype == RADAR_POINT_DTYPE
        _assert_points_equal(got.points, want.points)
        assert (got.index, got.timestamp_ns, got.frame_number) == (want.index, want.timestamp_ns, want.frame_number)
    np.testing.assert_array_equal(s.frame_numbers, [41, 42, 43, 44, 46, 47, 48])
    np.testing.assert_array_equal(s.point_offsets, np.concatenate([[0], np.cumsum(counts)]))
    block = s.read_points(2, 5)
    _assert_points_equal(block, np.concatenate([f.points for f in frames[2:5]]))
    assert s.read_points(5, 6).shape == (0,)
    assert s.index_at(5_000 + 100 * 3 + 49) == 3
    assert r.summary()["streams"]["points"] == {"kind": "points", "frames": 7, "first_ns": 5_000, "last_ns": 5_600}
    # trimmed on close; plain zarr sees one float32 array per field
    x = zarr.open_array(path / "streams/points/points/x", mode="r")
    assert x.shape == (sum(counts),) and x.dtype == np.float32 and x.metadata.dimension_names == ("point",)
    assert zarr.open_array(path / "streams/points/frame_number", mode="r").shape == (7,)
    # the lidar stream next to it is unchanged by the points kind
    np.testing.assert_array_equal(r.stream("lidar")[0].points, _points(4, 9))


def test_points_stream_bad_input_and_empty_stream(tmp_path):
    path = tmp_path / "pb.zarr"
    w = SessionWriter(path)
    with pytest.raises(UnknownNameError, match="unknown board 'awr9999'"):
        w.add_points_stream("p", board="awr9999")
    with pytest.raises(ConfigError, match="cfg_text must be the .cfg text"):
        w.add_points_stream("p", cfg_text=b"sensorStart")
    with pytest.raises(ShapeError, match="extrinsics must be a finite 4x4"):
        w.add_points_stream("p", extrinsics=np.ones((4, 4)) * np.nan)
    w.add_points_stream("p")  # board and cfg unknown: allowed (stored as null)
    w.add_points_stream("empty")
    w.add_lidar_stream("lidar")
    good = PointCloudFrame(0, 10, _radar_points(3, 0), frame_number=7)
    w.append("p", good)
    lidar_pts = np.zeros(2, LIDAR_POINT_DTYPE)
    with pytest.raises(ShapeError, match="points stream; got a LidarFrame"):
        w.append("p", LidarFrame(1, 11, lidar_pts))
    with pytest.raises(ShapeError, match="lidar stream; got a PointCloudFrame"):
        w.append("lidar", good)
    with pytest.raises(ShapeError, match=r"'p' frame 1 .*numeric fields \('x', 'y', 'z', 'v', 'snr_db', 'noise_db'\)"):
        w.append("p", PointCloudFrame(1, 11, np.zeros((3, 6), np.float32)))
    no_v = np.zeros(2, [("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("velocity", "<f4"), ("snr_db", "<f4"),
                        ("noise_db", "<f4")])
    with pytest.raises(ShapeError, match="numeric fields"):
        w.append("p", PointCloudFrame(1, 11, no_v))
    with pytest.raises(ShapeError, match="frame_number must be an integer"):
        w.append("p", PointCloudFrame(1, 11, _radar_points(2, 1), frame_number=None))
    w.append("p", PointCloudFrame(1, 12, _radar_points(2, 2), frame_number=8))
    w.close()
    r = SessionReader(path)
    s = r.stream("p")
    assert len(s) == 2 and s.metadata["board"] is None and s.metadata["cfg_text"] is None
    np.testing.assert_array_equal(s[1].points, _radar_points(2, 2))  # the rejected appends changed nothing
    assert s.point_offsets.tolist() == [0, 3, 5]
    e = r.stream("empty")
    assert len(e) == 0 and list(e) == [] and e.frame_numbers.shape == (0,) and e.read_points(0, 0).shape == (0,)


def test_newer_minor_version_stream_kinds_are_skipped_older_are_errors(tmp_path, caplog):
    path = _small_session(tmp_path / "f.zarr")

    def add_hologram(d, version):
        d["rfpose_format"] = version
        d["streams"]["holo"] = {"kind": "hologram", "frames": 3}
    _edit_json(path / COMMIT_FILE, lambda d: add_hologram(d, "1.9"))
    r = SessionReader(path)  # a future 1.9 writer added a kind: read what this version knows
    assert r.streams == ["radar"] and len(r.stream("radar")) == 1
    assert "skipping stream 'holo' of kind 'hologram'" in caplog.text
    _edit_json(path / COMMIT_FILE, lambda d: add_hologram(d, "1.1"))
    with pytest.raises(FormatError, match="stream 'holo' has no valid kind"):
        SessionReader(path)



def test_recorded_streams_follow_the_source_protocol_and_feed_a_fanout(tmp_path):
    """``session://…#stream`` is a Source like any driver: ``read(timeout_s)`` gives the frames in order, then
    None with ``ended``; two consumers of a fan-out over a radar and a camera stream each get every frame."""
    from rfpose.drivers.open_source import open_source
    from rfpose.fanout import FanOut

    path = tmp_path / "s.zarr"
    rng = np.random.default_rng(1)
    cfg = get_board("awr1843boost").default_config().to_text()
    shape = expected_radar_frame_shape("awr1843boost", cfg)
    radar = [RadarFrame(i, 1_000 + 100 * i, rng.integers(-2**15, 2**15, shape, dtype=np.int16)) for i in range(3)]
    cam = [CameraFrame(i, 1_030 + 100 * i, rng.integers(0, 256, (8, 12, 3), dtype=np.uint8)) for i in range(4)]
    with SessionWriter(path) as w:
        w.add_radar_stream("radar", board="awr1843boost", cfg_text=cfg)
        w.add_camera_stream("cam", height=8, width=12, intrinsics=np.eye(3))
        for f in radar:
            w.append("radar", f)
        for f in cam:
            w.append("cam", f)

    for name, want in (("radar", radar), ("cam", cam)):
        src = open_source(f"session://{path}#{name}")
        got = [src.read(0.5) for _ in want]
        assert [g.timestamp_ns for g in got] == [f.timestamp_ns for f in want]
        assert src.read(0.5) is None and src.ended
        assert src.stats["frames"] == len(want)
        src.close()

    fan = FanOut({n: open_source(f"session://{path}#{n}") for n in ("radar", "cam")})
    subs = [fan.subscribe(c, lossless=True) for c in ("recorder", "monitor")]
    fan.start()
    for sub in subs:
        seen = list(sub)
        assert sorted((n, f.index) for n, f in seen) == sorted([("radar", i) for i in range(3)] + [("cam", i) for i in range(4)])
        np.testing.assert_array_equal(next(f.adc for n, f in seen if n == "radar" and f.index == 2), radar[2].adc)
    fan.stop()
    assert fan.join(5) and not fan.errors

# -- commit policy and live reading ------------------------------------------------------------

def test_reader_sees_only_committed_frames_of_a_live_writer(tmp_path):
    path = tmp_path / "live.zarr"
    w = SessionWriter(path, commit_every=5)
    w.add_camera_stream("cam", height=4, width=6, intrinsics=np.eye(3))
    for i in range(3):
        w.append("cam", CameraFrame(i, i, np.full((4, 6, 3), i, np.uint8)))
    r = SessionReader(path)
    s = r.stream("cam")
    assert len(s) == 0 and not r.closed  # appended, not yet committed
    with pytest.raises(IndexError):
        s.index_at(0)
    w.flush()
    r.refresh()
    assert len(s) == 3 and int(s[2].image[0, 0, 0]) == 2
    for i in range(3, 7):
        w.append("cam", CameraFrame(i, i, np.full((4, 6, 3), i, np.uint8)))
    r.refresh()
    assert len(s) == 3  # 4 appends since the last commit
    w.append("cam", CameraFrame(7, 7, np.full((4, 6, 3), 7, np.uint8)))
    r.refresh()
    assert len(s) == 8  # the 5th append committed all of them
    w.close()
    r.refresh()
    assert len(s) == 8 and r.closed
    assert [int(f.image[0, 0, 0]) for f in s] == list(range(8))


def test_commit_interval_commits_on_time(tmp_path, monkeypatch):
    import types

    import rfpose.session.writer as writer_module

    now = [100.0]  # the writer's clock, advanced by the test: a loaded machine cannot change the outcome
    monkeypatch.setattr(writer_module, "time", types.SimpleNamespace(monotonic=lambda: now[0]))
    path = tmp_path / "t.zarr"
    w = SessionWriter(path, commit_every=1000, commit_interval_s=0.05)
    w.add_lidar_stream("lidar")
    now[0] += 0.01
    w.append("lidar", LidarFrame(0, 0, _points(3, 0)))
    assert len(SessionReader(path).stream("lidar")) == 0
    now[0] += 0.05
    w.append("lidar", LidarFrame(1, 1, _points(4, 1)))
    assert len(SessionReader(path).stream("lidar")) == 2
    w.close()


def test_exception_inside_the_writer_block_keeps_appended_frames(tmp_path):
    path = tmp_path / "e.zarr"
    with pytest.raises(RuntimeError):
        with SessionWriter(path, commit_every=100) as w:
            w.add_radar_stream("radar", board="awr1843boost", frame_shape=(8,))
            w.append("radar", RadarFrame(0, 5, np.arange(8, dtype=np.int16)))
            raise RuntimeError("capture loop crashed")
    s = SessionReader(path).stream("radar")
    assert len(s) == 1
    np.testing.assert_array_equal(s[0].adc, np.arange(8))


# -- crash safety --------------------------------------------------------------------------------

def _check_committed_content(path: Path, at_least: int) -> int:
    """Every visible frame equals what the kill script wrote; returns the committed radar frames."""
    r = SessionReader(path)
    assert not r.closed
    words = r.stream("radar").metadata["frame_shape"][0]
    counts = {name: len(r.stream(name)) for name in r.streams}
    gt = r.labels("gt")
    assert min(*counts.values(), len(gt)) >= at_least
    # appends go radar, lidar, points, cam, labels, each committed: counts can only step down along that order by 1
    seq = [counts["radar"], counts["lidar"], counts["points"], counts["cam"], len(gt)]
    assert all(a - b in (0, 1) for a, b in zip(seq, seq[1:])) and seq[0] - seq[-1] <= 1, seq
    for i, f in enumerate(r.stream("radar")):
        want = kw.radar_frame(i, words)
        np.testing.assert_array_equal(f.adc, want.adc)
        assert (f.index, f.timestamp_ns, f.lost_bytes, f.complete) == (i, want.timestamp_ns, want.lost_bytes,
                                                                         want.complete)
    for i, f in enumerate(r.stream("lidar")):
        np.testing.assert_array_equal(f.points, kw.lidar_frame(i).points)
    pts = r.stream("points")
    for i, f in enumerate(pts):
        want = kw.points_frame(i)
        np.testing.assert_array_equal(f.points, want.points)
        assert (f.index, f.timestamp_ns, f.frame_number) == (i, want.timestamp_ns, want.frame_number)
    np.testing.assert_array_equal(pts.frame_numbers, 1000 + 2 * np.arange(len(pts)))
    for i, f in enumerate(r.stream("cam")):
        np.testing.assert_array_equal(f.image, kw.camera_frame(i).image)
    for i in range(len(gt)):
        j, c = kw.label(i)
        np.testing.assert_array_equal(gt.joints[i, :len(j)], j)
        np.testing.assert_array_equal(gt.confidence[i, :len(c)], c)
        assert gt.frame_index[i] == i and gt.timestamp_ns[i] == kw.timestamp(i)
    return counts["radar"]


def _spawn(path: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(KILL_SCRIPT), str(path), *extra], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("after_iterations, delay_s", [(2, 0.0), (5, 0.004), (6, 0.007), (9, 0.013)])
def test_sigkill_mid_append_leaves_committed_frames_intact(tmp_path, after_iterations, delay_s):
    path = tmp_path / "killed.zarr"
    proc = _spawn(path)
    try:
        done = 0
        while done < after_iterations:
            line = proc.stdout.readline()
            assert line, f"writer exited early: {proc.stderr.read()}"
            done = int(line)
        time.sleep(delay_s)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    _check_committed_content(path, at_least=done)


@pytest.mark.parametrize("point", ["after_payload", "mid_flush", "before_replace"])
def test_kill_at_each_step_of_the_commit_protocol(tmp_path, point):
    path = tmp_path / "selfkill.zarr"
    proc = _spawn(path, "--self-kill", f"{point}:4")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL, err
    assert out.split() == ["1", "2", "3", "4"]
    # frame 4's radar data (and, for mid_flush, part of its scalars) is on disk but never committed
    assert _check_committed_content(path, at_least=4) == 4
    assert (path / "streams/radar/adc/c/4/0").exists()


# -- errors --------------------------------------------------------------------------------------

def _small_session(path: Path) -> Path:
    with SessionWriter(path) as w:
        w.add_radar_stream("radar", board="awr1843boost", frame_shape=(16,))
        w.append("radar", RadarFrame(0, 0, np.ones(16, np.int16)))
    return path


def _edit_json(file: Path, edit) -> None:
    d = json.loads(file.read_text())
    edit(d)
    file.write_text(json.dumps(d))


def test_unknown_major_version_is_refused(tmp_path):
    path = _small_session(tmp_path / "v.zarr")
    _edit_json(path / "zarr.json", lambda d: d["attributes"].update(rfpose_format="2.0"))
    with pytest.raises(FormatError, match=r"v\.zarr.*format 2\.0 is not supported"):
        SessionReader(path)
    _edit_json(path / "zarr.json", lambda d: d["attributes"].update(rfpose_format="1.7"))  # newer minor: read
    assert len(SessionReader(path).stream("radar")) == 1
    _edit_json(path / COMMIT_FILE, lambda d: d.update(rfpose_format="3.1"))
    with pytest.raises(FormatError, match=r"rfpose_commit\.json.*format 3\.1 is not supported"):
        SessionReader(path)
    _edit_json(path / "zarr.json", lambda d: d["attributes"].update(rfpose_format="one"))
    with pytest.raises(FormatError, match="not 'MAJOR.MINOR'"):
        SessionReader(path)


def test_not_a_session_is_a_format_error_naming_the_path(tmp_path):
    import zarr

    with pytest.raises(FormatError, match=r"nothing\.zarr: no such session"):
        SessionReader(tmp_path / "nothing.zarr")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FormatError, match=r"empty: not an rfpose session"):
        SessionReader(tmp_path / "empty")
    (tmp_path / "file.zarr").write_bytes(b"\x00" * 10)
    with pytest.raises(FormatError, match=r"file\.zarr: not an rfpose session"):
        SessionReader(tmp_path / "file.zarr")
    zarr.create_group(str(tmp_path / "plain.zarr"), attributes={"x": 1})
    with pytest.raises(FormatError, match=r"plain\.zarr: not an rfpose session \(root attrs have no"):
        SessionReader(tmp_path / "plain.zarr")
    (tmp_path / "garbage.zarr").mkdir()
    (tmp_path / "garbage.zarr/zarr.json").write_text("{not json")
    with pytest.raises(FormatError, match=r"garbage\.zarr: not a readable zarr group"):
        SessionReader(tmp_path / "garbage.zarr")


@pytest.mark.parametrize("content, message", [
    (b'{"rfpose_format": "1.0", "streams": {"radar": {"kind": "ra', "not valid JSON"),
    (b"", "not valid JSON"),
    (b"\xff\xfe\x00", "not valid JSON"),
    (b"[1, 2]", "expected an object"),
    (b'{"rfpose_format": "1.0", "streams": {"radar": {"kind": "radar", "frames": -3}}, "labels": {}}',
     "radar.frames is -3"),
    (b'{"rfpose_format": "1.0", "streams": {"radar": {"kind": "sonar", "frames": 1}}, "labels": {}}',
     "no valid kind"),
])
def test_corrupt_commit_marker_is_a_format_error(tmp_path, content, message):
    path = _small_session(tmp_path / "c.zarr")
    (path / COMMIT_FILE).write_bytes(content)
    with pytest.raises(FormatError, match=message) as e:
        SessionReader(path)
    assert str(path / COMMIT_FILE) in str(e.value)


def test_missing_commit_marker_and_truncated_arrays(tmp_path):
    path = _small_session(tmp_path / "m.zarr")
    marker = (path / COMMIT_FILE).read_bytes()
    (path / COMMIT_FILE).unlink()
    with pytest.raises(FormatError, match="commit marker missing"):
        SessionReader(path)
    (path / COMMIT_FILE).write_bytes(marker.replace(b'"frames":1', b'"frames":5'))
    with pytest.raises(FormatError, match=r"streams/radar/\w+: holds 1 entries but the commit marker counts 5"):
        SessionReader(path).stream("radar")


def test_corrupt_chunk_is_a_format_error_naming_the_frame(tmp_path):
    path = _small_session(tmp_path / "k.zarr")
    (path / "streams/radar/adc/c/0/0").write_bytes(b"garbage")
    s = SessionReader(path, strict=True).stream("radar")
    with pytest.raises(FormatError, match=r"streams/radar: frame 0 cannot be decoded.*adc: cannot read 0"):
        s[0]
    f = SessionReader(path).stream("radar")[0]  # not strict: read as lost, never as good data
    assert not f.complete and f.lost_bytes == 32 and not f.adc.any()


def test_writer_rejects_bad_input_without_losing_frames(tmp_path, caplog):
    path = tmp_path / "w.zarr"
    cfg = get_board("awr1843boost").default_config().to_text()
    w = SessionWriter(path)
    with pytest.raises(UnknownNameError, match="unknown board 'awr9999'"):
        w.add_radar_stream("r", board="awr9999", frame_shape=(8,))
    with pytest.raises(ShapeError, match="does not match"):
        w.add_radar_stream("r", board="awr1843boost", cfg_text=cfg, frame_shape=(100,))
    # a source's metadata passed through whole: keys the writer owns are dropped (warned if they differ)
    w.add_camera_stream("cam", height=2, width=3, intrinsics=np.eye(3), extrinsics=_T(1.0),
                        attrs={"kind": "camera", "height": 2, "width": 3, "extrinsics": np.eye(4), "fps": 30.0})
    assert "ignoring attrs['extrinsics']" in caplog.text and "'height'" not in caplog.text
    with pytest.raises(ConfigError, match="must be letters"):
        w.add_lidar_stream("../evil")
    with pytest.raises(ShapeError, match="extrinsics must be a finite 4x4"):
        w.add_lidar_stream("l", extrinsics=np.eye(3))
    w.add_radar_stream("radar", board="awr1843boost", frame_shape=(8,))
    w.add_lidar_stream("lidar")
    w.add_labels("gt", skeleton="rtpose15", max_people=1)
    with pytest.raises(ConfigError, match="already exists"):
        w.add_lidar_stream("lidar")
    w.append("radar", RadarFrame(0, 0, np.arange(8, dtype=np.int16)))
    with pytest.raises(ShapeError, match=r"'radar' frame 1 .*shape \(8,\), got int16 \(9,\)"):
        w.append("radar", RadarFrame(1, 1, np.arange(9, dtype=np.int16)))
    with pytest.raises(ShapeError, match="got float32"):
        w.append("radar", RadarFrame(1, 1, np.arange(8, dtype=np.float32)))
    with pytest.raises(ShapeError, match="radar stream; got a LidarFrame"):
        w.append("radar", LidarFrame(1, 1, _points(2, 0)))
    with pytest.raises(ShapeError, match="structured"):
        w.append("lidar", LidarFrame(0, 0, np.zeros((3, 4), np.float32)))
    with pytest.raises(UnknownNameError, match="unknown stream 'radra'; valid: cam, lidar, radar"):
        w.append("radra", RadarFrame(1, 1, np.arange(8, dtype=np.int16)))
    with pytest.raises(ShapeError, match=r"people <= 1"):
        w.append_labels("gt", 0, np.zeros((2, 15, 3)))
    with pytest.raises(ShapeError, match="confidence"):
        w.append_labels("gt", 0, np.zeros((1, 15, 3)), np.zeros((1, 14)))
    w.append("radar", RadarFrame(1, 1, np.arange(8, dtype=np.int16) * 2))
    w.close()
    with pytest.raises(RfposeError, match="closed"):
        w.append("radar", RadarFrame(2, 2, np.arange(8, dtype=np.int16)))
    r = SessionReader(path)
    s = r.stream("radar")
    assert len(s) == 2
    np.testing.assert_array_equal(s[1].adc, np.arange(8) * 2)
    meta = r.stream("cam").metadata
    assert meta["fps"] == 30.0 and meta["height"] == 2
    np.testing.assert_array_equal(meta["extrinsics"], _T(1.0))
    assert len(SessionReader(path).labels("gt")) == 0

    with pytest.raises(ConfigError, match="already exists"):
        SessionWriter(path)
    SessionWriter(path, overwrite=True).close()  # a session may be replaced …
    assert SessionReader(path).streams == []
    (tmp_path / "precious").mkdir()
    (tmp_path / "precious/thesis.tex").write_text("x")
    with pytest.raises(ConfigError, match="refusing to overwrite"):
        SessionWriter(tmp_path / "precious", overwrite=True)  # … but never a directory that is not one
    assert (tmp_path / "precious/thesis.tex").exists()


def test_unknown_stream_and_label_names_list_the_valid_ones(tmp_path):
    r = SessionReader(_small_session(tmp_path / "u.zarr"))
    with pytest.raises(UnknownNameError, match="unknown stream 'lidar'; valid: radar"):
        r.stream("lidar")
    with pytest.raises(UnknownNameError, match="unknown label set 'gt'"):
        r.labels("gt")


# -- time lookups --------------------------------------------------------------------------------

def test_nearest_and_window_lookups():
    ts = np.array([100, 200, 200, 300, 450], dtype=np.int64)
    assert [nearest_index(ts, t) for t in (-5, 100, 149, 150, 151, 200, 260, 376, 375, 10**18)] == \
        [0, 0, 0, 0, 1, 1, 3, 4, 3, 4]  # 150 is a tie between 100 and 200: the earlier frame
    np.testing.assert_array_equal(indices_between(ts, 200, 300), [1, 2, 3])
    np.testing.assert_array_equal(indices_between(ts, 201, 299), [])
    np.testing.assert_array_equal(indices_between(ts, 0, 10**18), np.arange(5))
    np.testing.assert_array_equal(indices_between(ts, 300, 200), [])
    # a host clock stepped back: still correct
    odd = np.array([500, 100, 300, 100], dtype=np.int64)
    assert [nearest_index(odd, t) for t in (90, 200, 210, 450, 1000)] == [1, 1, 2, 0, 0]  # 200: tie, earlier time
    np.testing.assert_array_equal(indices_between(odd, 100, 300), [1, 2, 3])
    empty = np.zeros(0, np.int64)
    with pytest.raises(IndexError):
        nearest_index(empty, 5)
    assert indices_between(empty, 0, 10).shape == (0,)


def test_stream_time_lookups_including_empty_streams(tmp_path):
    path = tmp_path / "time.zarr"
    with SessionWriter(path) as w:
        w.add_radar_stream("radar", board="awr1843boost", frame_shape=(4,))
        w.add_lidar_stream("empty")
        w.add_labels("gt", skeleton="rtpose15")
        for i in range(10):
            w.append("radar", RadarFrame(i, 1_000_000 + 33_333_333 * i, np.full(4, i, np.int16)))
        w.append_labels("gt", 1_500_000, np.zeros((1, 15, 3)))
    r = SessionReader(path)
    s = r.stream("radar")
    t = s.timestamps_ns
    assert t.dtype == np.int64 and len(t) == 10 and not t.flags.writeable
    assert s.index_at(1_000_000 + 33_333_333 * 4 + 16_000_000) == 4
    assert s.index_at(1_000_000 + 33_333_333 * 4 + 17_000_000) == 5
    assert int(s[s.index_at(0)].adc[0]) == 0 and s.index_at(2**62) == 9
    np.testing.assert_array_equal(s.indices_between(t[2], t[5]), [2, 3, 4, 5])
    np.testing.assert_array_equal(s.indices_between(t[2] + 1, t[3] - 1), [])
    e = r.stream("empty")
    assert len(e) == 0 and list(e) == [] and e.timestamps_ns.shape == (0,)
    with pytest.raises(IndexError, match="empty: stream has no frames"):
        e.index_at(0)
    assert e.indices_between(0, 2**62).shape == (0,)
    gt = r.labels("gt")
    assert gt.index_at(10**12) == 0 and list(gt.indices_between(0, 10)) == []


def test_add_label_set_to_a_closed_session(tmp_path):
    from rfpose.session import add_label_set

    path = tmp_path / "s.zarr"
    with SessionWriter(path) as w:
        w.add_camera_stream("cam", height=4, width=5, intrinsics=np.eye(3))
        for i in range(3):
            w.append("cam", CameraFrame(i, 100 + i, np.full((4, 5, 3), i, np.uint8)))
        w.add_labels("gt", skeleton="rtpose15")
        w.append_labels("gt", 100, np.zeros((1, 15, 3)))
        with pytest.raises(FormatError, match="still being recorded"):
            add_label_set(path, "late", "rtpose15", [1], np.zeros((1, 1, 15, 3)))
    joints = np.random.default_rng(0).normal(size=(3, 2, 15, 3)).astype(np.float32)
    joints[1, 1] = np.nan  # entry 1 has one person
    add_label_set(path, "matched", "rtpose15", [100, 101, 102], joints, frame_index=[0, 1, 2],
                  provenance={"method": "test"})
    r = SessionReader(path)
    assert sorted(r.label_sets) == ["gt", "matched"]
    lab = r.labels("matched")
    np.testing.assert_array_equal(lab.joints, joints)
    assert lab.frame_index.tolist() == [0, 1, 2] and lab.provenance == {"method": "test"}
    assert lab.num_people.tolist() == [2, 1, 2]
    assert len(r.stream("cam")) == 3 and len(r.labels("gt").timestamp_ns) == 1  # the rest is untouched
    with pytest.raises(ConfigError, match="already exists"):
        add_label_set(path, "matched", "rtpose15", [1], np.zeros((1, 1, 15, 3)))
    with pytest.raises(ShapeError, match="timestamps"):
        add_label_set(path, "bad", "rtpose15", [1, 2], np.zeros((1, 1, 15, 3)))


def test_label_flags_default_to_usable_and_must_match_the_entries():
    from rfpose.session.reader import LabelSet

    def labels(attrs):
        n = 3
        return LabelSet("auto", "rtpose15", 3, 1, 15, {}, attrs, np.zeros((n, 1, 15, 3)), np.ones((n, 1, 15)),
                        np.arange(n), np.arange(n))

    assert labels({}).flags().tolist() == [0, 0, 0]
    assert labels({"flags": [0, 1, 4]}).flags().tolist() == [0, 1, 4]
    with pytest.raises(FormatError, match="label set auto: attrs flags has 2 values for 3 entries"):
        labels({"flags": [0, 1]}).flags()
