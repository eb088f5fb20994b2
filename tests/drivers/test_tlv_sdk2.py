"""SDK 1.x/2.x demo UART packets (TI's documented formats, built by hand here): the 36-byte SDK 1.x header,
the Q-format point TLV with its descriptor, Doppler indices to m/s (signed in 2.x, unsigned in 1.x), and
the stream parser telling the formats apart by the header's version."""

import struct

import numpy as np
import pytest

from rfpose.drivers import tlv
from rfpose.errors import ParseError

MAGIC = bytes([2, 1, 4, 3, 6, 5, 8, 7])


def _q_packet(version, objects, q_format=9, frame=5, sdk1=None, extra=b""):
    """An SDK 1.x/2.x packet from (rangeIdx, dopplerIdx, peakVal, x, y, z) integer tuples, TI layout."""
    body = struct.pack("<HH", len(objects), q_format) + b"".join(struct.pack("<HhHhhh", *o) for o in objects)
    tlvs = struct.pack("<II", 1, len(body)) + body + extra
    sdk1 = (version >> 24) == 1 if sdk1 is None else sdk1
    head = 36 if sdk1 else 40
    total = head + len(tlvs)
    total += -total % 32
    fields = [version, total, 0xA1642, frame, 0, len(objects), 1 + (1 if extra else 0)]
    header = MAGIC + struct.pack("<7I", *fields) + (b"" if sdk1 else struct.pack("<I", 0))
    return (header + tlvs).ljust(total, b"\0")


def test_sdk2_header_and_q_points_golden():
    # TI axes: x right 1.0 m (512 in Q9), y forward 2.5 m (1280), z up -0.25 m (-128)
    pkt = _q_packet(0x02010004, [(60, -3, 1200, 512, 1280, -128)])
    assert pkt[:48].hex(" ") == ("02 01 04 03 06 05 08 07 04 00 01 02 40 00 00 00 42 16 0a 00 05 00 00 00 "
                                 "00 00 00 00 01 00 00 00 01 00 00 00 00 00 00 00 01 00 00 00 10 00 00 00")
    scale = tlv.DopplerScale(velocity_resolution_mps=0.1, num_doppler_bins=16)
    f = tlv.parse_packet(pkt, doppler=scale)
    p = f.points[0]
    assert (p["x"], p["y"], p["z"]) == (2.5, -1.0, -0.25)  # rfpose: x forward, y left, z up
    assert p["v"] == pytest.approx(-0.3)
    assert np.isnan(p["snr_db"]) and np.isnan(p["noise_db"])
    assert f.bins.tolist() == [(60, -3, 1200)]
    assert f.header.frame_number == 5 and f.header.version == 0x02010004


def test_sdk1_header_is_36_bytes_and_doppler_index_unsigned():
    # SDK 1.x sends dopplerIdx unsigned: 14 of 16 bins is -2 bins
    pkt = _q_packet(0x01020003, [(10, 14, 50, 0, 256, 0), (11, 3, 60, -256, 512, 64)], q_format=8)
    assert len(pkt) % 32 == 0 and pkt[36:40] == struct.pack("<I", 1)  # the TLV starts at byte 36
    f = tlv.parse_packet(pkt, doppler=tlv.DopplerScale(0.05, 16))
    assert f.header.sub_frame_number == 0
    assert np.allclose(f.points["x"], [1.0, 2.0]) and np.allclose(f.points["y"], [0.0, 1.0])
    assert np.allclose(f.points["z"], [0.0, 0.25])
    assert np.allclose(f.points["v"], [-0.1, 0.15])


def test_without_doppler_scale_velocity_is_nan():
    f = tlv.parse_packet(_q_packet(0x02010004, [(1, 2, 3, 4, 5, 6)]))
    assert np.isnan(f.points["v"][0]) and f.bins["doppler_idx"][0] == 2


def test_forced_sdk_overrides_the_version():
    pkt = _q_packet(0x03050004, [(1, 2, 3, 512, 512, 0)] * 2)  # a 3.x version but Q-format points
    with pytest.raises(ParseError, match="16 bytes each"):
        tlv.parse_packet(pkt)
    assert tlv.parse_packet(pkt, sdk=2).points["x"].tolist() == [1.0, 1.0]


@pytest.mark.parametrize("mutate,match", [
    (lambda b: b[:48] + struct.pack("<H", 2) + b[50:], "says 2 objects"),
    (lambda b: b[:50] + struct.pack("<H", 40) + b[52:], "xyzQFormat 40"),
])
def test_bad_q_packets_raise(mutate, match):
    with pytest.raises(ParseError, match=match):
        tlv.parse_packet(mutate(_q_packet(0x02010004, [(1, 2, 3, 4, 5, 6)])))


def test_stream_parser_mixed_sdk_versions_and_noise():
    a = _q_packet(0x01020003, [(1, 1, 1, 0, 512, 0)], frame=1)
    b = _q_packet(0x02010004, [(2, -1, 1, 0, 1024, 0)], frame=2)
    c = tlv.pack_packet(3, np.array([[3.0, 0.0, 0.0, 0.5]], np.float32))
    parser = tlv.TlvStreamParser(doppler=tlv.DopplerScale(0.1, 16))
    frames = []
    stream = b"\x07junk" + a + b + b"\x02\x01" + c
    for i in range(0, len(stream), 17):
        frames += parser.feed(stream[i:i + 17])
    assert [f.header.frame_number for f in frames] == [1, 2, 3]
    assert [float(f.points["x"][0]) for f in frames] == [1.0, 2.0, 3.0]
    assert [float(f.points["v"][0]) for f in frames] == pytest.approx([0.1, -0.1, 0.5])
    assert parser.bad_packets == 0 and parser.skipped_bytes == 7


def test_pack_packet_q_round_trip():
    pts = np.array([[2.0, -0.5, 0.75], [4.25, 1.0, -0.125]])
    for version in (0x01020003, 0x02010004):
        b = tlv.pack_packet_q(4, pts, range_idx=[40, 80], doppler_idx=[1, -2], peak=[9, 9], version=version)
        f = tlv.parse_packet(b)
        assert np.allclose(np.c_[f.points["x"], f.points["y"], f.points["z"]], pts)
        assert f.bins["doppler_idx"].tolist() == [1, -2]


def test_doppler_scale_from_config_pads_to_a_power_of_two():
    from rfpose.radar_config import parse_cfg

    cfg = parse_cfg("channelCfg 15 3 0\nprofileCfg 0 77 429 7 57.14 0 0 70 1 256 5209 0 0 30\n"
                    "chirpCfg 0 0 0 0 0 0 0 1\nchirpCfg 1 1 0 0 0 0 0 2\nframeCfg 0 1 24 0 100 1 0\n")
    params = cfg.derive()
    scale = tlv.DopplerScale.from_params(params)
    assert scale.num_doppler_bins == 32
    assert scale.velocity_resolution_mps * 32 == pytest.approx(params.velocity_resolution_mps * 24)
