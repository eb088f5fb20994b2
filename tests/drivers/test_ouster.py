"""OusterSource against the real ouster-sdk (the ``ouster`` extra; skipped without it).

No sensor is needed: the SDK itself builds the test recordings. A SensorInfo from the SDK's defaults
(OS-1-64, 512x10, profile RNG19_RFL8_SIG16_NIR16), three LidarFrames with known RANGE, REFLECTIVITY and
SIGNAL images, column timestamps, packet (host) timestamps and some invalid columns, written once with the
SDK's OSF writer and once as packets (``frame_to_packets``) into a pcap with its metadata JSON. Reading
them back through OusterSource / open_source must give, per frame, the SDK's own ``XYZLut`` projection of
the known ranges (an independent LUT built from the SensorInfo written, not the one read back), without
zero-range points and points of invalid columns.
"""

from __future__ import annotations

import json
import warnings
from importlib.metadata import version

import numpy as np
import pytest

pytest.importorskip("ouster.sdk")
from ouster.sdk import core, osf, pcap  # noqa: E402

from rfpose.drivers.open_source import open_source  # noqa: E402
from rfpose.drivers.ouster import OusterSource  # noqa: E402
from rfpose.errors import ConfigError, DeviceError  # noqa: E402
from rfpose.source import LIDAR_POINT_DTYPE, LidarFrame, Source  # noqa: E402

N_FRAMES = 3
HOST_T0 = 1_700_000_000_000_000_000  # host clock of the first packet (ns)
SENSOR_T0 = 5_000_000_000  # sensor clock of the first column (ns)
PERIOD = 100_000_000  # 10 Hz
# columns whose status is "invalid" in each frame (one 16-column packet each): frame 1 loses its first
# packet, so its first valid column (and the packet holding it) is 16, not 0
INVALID = {0: slice(32, 48), 1: slice(0, 16), 2: slice(496, 512)}
# 1.0 renamed LidarScan -> LidarFrame and scan_to_packets -> frame_to_packets; the test data is built with
# whichever the installed SDK has (the driver itself must use no deprecated name: see _read)
SdkFrame = getattr(core, "LidarFrame", None) or core.LidarScan


def _to_packets(frame, info):
    if hasattr(core, "frame_to_packets"):
        return core.frame_to_packets(frame, core.PacketFormat(info), info.init_id, info.sn)
    from ouster.sdk.util import scan_to_packets  # < 1.0

    return scan_to_packets(frame, info)


def _member(cls, name, *prefixes):
    """An enum member under its 1.0 name or an older prefixed one (MODE_512x10, PROFILE_LIDAR_...)."""
    for prefix in ("", *prefixes):
        if hasattr(cls, prefix + name):
            return getattr(cls, prefix + name)
    raise AttributeError(f"{cls.__name__} has no {name}")


def _sensor_info():
    info = core.SensorInfo.from_default(_member(core.LidarMode, "512x10", "_", "MODE_"))
    profile = _member(core.UDPProfileLidar, "RNG19_RFL8_SIG16_NIR16", "PROFILE_LIDAR_")
    info.format.udp_profile_lidar = profile
    info.config.udp_profile_lidar = profile
    info.config.udp_port_lidar, info.config.udp_port_imu = 7502, 7503
    info.sn, info.init_id = 122201000123, 4242
    return info


class Truth:
    """What was written: per frame the range image (mm), reflectivity, signal, column and packet times."""

    def __init__(self, info):
        self.info = info
        h, w = info.format.pixels_per_column, info.format.columns_per_frame
        self.h, self.w, self.cpp = h, w, info.format.columns_per_packet
        rng = np.random.default_rng(7)
        self.range, self.refl, self.signal, self.col_ts, self.pkt_ts, self.valid = [], [], [], [], [], []
        for i in range(N_FRAMES):
            r = rng.integers(300, 60_000, (h, w)).astype(np.uint32)
            r[rng.random((h, w)) < 0.25] = 0  # no return
            valid = np.ones(w, bool)
            valid[INVALID[i]] = False
            self.range.append(r)
            self.refl.append(rng.integers(1, 256, (h, w)).astype(np.uint8))
            self.signal.append(rng.integers(1, 5000, (h, w)).astype(np.uint16))
            self.col_ts.append(SENSOR_T0 + i * PERIOD + np.arange(w, dtype=np.uint64) * (PERIOD // w))
            self.pkt_ts.append(HOST_T0 + i * PERIOD + np.arange(w // self.cpp, dtype=np.uint64) * 6_250_000 + 777)
            self.valid.append(valid)

    def frames(self):
        for i in range(N_FRAMES):
            f = SdkFrame(self.info)
            f.frame_id = i
            f.field("RANGE")[:] = self.range[i]
            f.field("REFLECTIVITY")[:] = self.refl[i]
            f.field("SIGNAL")[:] = self.signal[i]
            f.timestamp[:] = self.col_ts[i]
            f.measurement_id[:] = np.arange(self.w)
            f.status[:] = self.valid[i].astype(np.uint32)
            f.packet_timestamp[:] = self.pkt_ts[i]
            yield f

    def expected(self, i, field="REFLECTIVITY"):
        """(mask, xyz, intensity, time offsets, host timestamp) of frame i, from the SDK's XYZLut."""
        keep = (self.range[i] != 0) & self.valid[i][None, :]
        xyz = core.XYZLut(self.info, use_extrinsics=False)(self.range[i])[keep]
        first = int(np.argmax(self.valid[i]))
        offsets = (self.col_ts[i].astype(np.int64) - int(self.col_ts[i][first]))[np.nonzero(keep)[1]]
        intensity = (self.refl[i] if field == "REFLECTIVITY" else self.signal[i])[keep]
        return keep, xyz, intensity, offsets, int(self.pkt_ts[i][first // self.cpp])


@pytest.fixture(scope="module")
def recordings(tmp_path_factory):
    d = tmp_path_factory.mktemp("ouster")
    truth = Truth(_sensor_info())
    writer = osf.Writer(str(d / "rec.osf"), truth.info)
    for f in truth.frames():
        writer.save(0, f)
    writer.close()
    packets = [p for f in truth.frames() for p in _to_packets(f, truth.info)]
    assert pcap.record(packets, str(d / "rec.pcap")) == N_FRAMES * truth.w // truth.cpp
    (d / "rec.json").write_text(truth.info.to_json_string())  # found next to the pcap by the SDK
    (d / "other").mkdir()
    (d / "other" / "rec.pcap").write_bytes((d / "rec.pcap").read_bytes())  # metadata elsewhere: meta=
    return d, truth


def _read(src):
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)  # no deprecated SDK names (1.0 renamed scan -> frame)
        with src:
            return list(src)


def _check_frames(frames, truth, field="REFLECTIVITY", ts_tol_ns=0):
    assert [f.index for f in frames] == list(range(N_FRAMES))
    for i, fr in enumerate(frames):
        keep, xyz, intensity, offsets, host_ts = truth.expected(i, field)
        assert isinstance(fr, LidarFrame) and fr.points.dtype == LIDAR_POINT_DTYPE
        assert len(fr.points) == int(keep.sum()) > 0.6 * truth.h * truth.w  # zero range + invalid columns gone
        got = np.c_[fr.points["x"], fr.points["y"], fr.points["z"]]
        np.testing.assert_allclose(got, xyz, rtol=0, atol=1e-5)  # float32 metres of the SDK's LUT
        # metres, not millimetres: each point lies at its range from the origin, up to the beam offsets
        r_m = truth.range[i][keep] / 1000.0
        assert np.abs(np.linalg.norm(got, axis=1) - r_m).max() < 0.06
        np.testing.assert_array_equal(fr.points["intensity"], intensity.astype(np.float32))
        np.testing.assert_array_equal(fr.points["time_offset_ns"], offsets)
        assert fr.points["time_offset_ns"].min() == 0 and fr.points["time_offset_ns"].max() < PERIOD
        assert abs(fr.timestamp_ns - host_ts) <= ts_tol_ns


def test_osf_recording(recordings):
    d, truth = recordings
    src = OusterSource(str(d / "rec.osf"))
    assert isinstance(src, Source) and src.kind == "lidar" and src.name == "lidar"
    assert not src.is_live and src.is_seekable and len(src) == N_FRAMES
    meta = src.metadata
    json.dumps(meta)  # a session stores it as stream attrs
    assert meta["prod_line"] == "OS-1-64" and meta["serial_number"] == "122201000123"
    assert meta["lidar_mode"] == "512x10" and meta["beams"] == 64 and meta["columns_per_frame"] == 512
    assert meta["ouster_sdk_version"] == version("ouster-sdk")
    assert core.SensorInfo(meta["sensor_info_json"]).format.columns_per_frame == 512
    frames = _read(src)
    _check_frames(frames, truth)
    # indexing reads the same frames
    with OusterSource(str(d / "rec.osf")) as again:
        last = again[-1]
        assert last.index == N_FRAMES - 1 and last.timestamp_ns == frames[-1].timestamp_ns
        np.testing.assert_array_equal(last.points, frames[-1].points)
        np.testing.assert_array_equal(again[1].points, frames[1].points)


def test_pcap_recording_through_open_source(recordings):
    d, truth = recordings
    src = open_source(str(d / "rec.pcap"))  # a plain path: dispatch on the suffix, metadata found next to it
    assert isinstance(src, OusterSource) and not src.is_live and not src.is_seekable
    _check_frames(_read(src), truth, ts_tol_ns=1000)  # pcap stores packet times in microseconds


def test_ouster_uri_with_options(recordings):
    d, truth = recordings
    src = open_source(f"ouster://{d}/rec.osf?name=top_lidar")
    assert isinstance(src, OusterSource) and src.name == "top_lidar"
    assert [len(f.points) for f in _read(src)] == [int(truth.expected(i)[0].sum()) for i in range(N_FRAMES)]
    # a pcap whose metadata is elsewhere, indexed so it is seekable; SIGNAL as intensity
    src = open_source(str(d / "other" / "rec.pcap"), meta=str(d / "rec.json"), index=True, intensity_field="SIGNAL")
    assert src.is_seekable and len(src) == N_FRAMES
    _check_frames(_read(src), truth, field="SIGNAL", ts_tol_ns=1000)


def test_errors(recordings, monkeypatch):
    d, _ = recordings
    with pytest.raises(DeviceError, match="cannot open Ouster source .*missing.osf"):
        OusterSource(str(d / "missing.osf"))
    with OusterSource(str(d / "rec.osf"), intensity_field="NOPE") as src:
        with pytest.raises(ConfigError, match="no field 'NOPE' for intensity.*REFLECTIVITY"):
            src[0]
    monkeypatch.setattr("rfpose.drivers.ouster._md.version", lambda name: "0.14.0")
    with pytest.raises(DeviceError, match=r"ouster-sdk 0.14.0 is installed, but rfpose needs ouster-sdk >= 0.15"):
        OusterSource(str(d / "rec.osf"))
