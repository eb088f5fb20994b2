"""Demo-firmware TLV packets: golden header bytes, axes, validation, stream resync, and the point source
against the UART emulator on a real pty."""

import struct

import numpy as np
import pytest

from rfpose.drivers import tlv
from rfpose.drivers.demo_points import DemoPointSource
from rfpose.drivers.emulators.uart import UartEmulator
from rfpose.errors import DeviceTimeout, ParseError

pytestmark = pytest.mark.timeout(60)


def test_header_golden_bytes():
    h = tlv.TlvHeader(version=0x03050004, total_packet_len=96, platform=0xA1843, frame_number=7,
                      time_cpu_cycles=0x11223344, num_detected_obj=2, num_tlvs=1, sub_frame_number=0)
    b = tlv.pack_header(h)
    assert b.hex(" ") == ("02 01 04 03 06 05 08 07 04 00 05 03 60 00 00 00 43 18 0a 00 07 00 00 00 "
                          "44 33 22 11 02 00 00 00 01 00 00 00 00 00 00 00")
    assert tlv.parse_header(b) == h
    assert tlv.TLV_HEADER.pack(1, 32).hex(" ") == "01 00 00 00 20 00 00 00"


def test_packet_hand_built_in_ti_axes():
    # one point at TI (x right 1, y forward 2, z up 0.5), receding at 0.25 m/s; snr 12.3 dB, noise 45.6 dB
    pts = struct.pack("<4f", 1.0, 2.0, 0.5, 0.25)
    side = struct.pack("<2h", 123, 456)
    body = tlv.TLV_HEADER.pack(1, 16) + pts + tlv.TLV_HEADER.pack(7, 4) + side + tlv.TLV_HEADER.pack(6, 4) + bytes(4)
    total = 40 + len(body)
    total += -total % 32
    pkt = tlv.pack_header(tlv.TlvHeader(0, total, 0, 3, 0, 1, 3, 0)) + body
    pkt = pkt.ljust(total, b"\0")
    assert len(pkt) % 32 == 0
    f = tlv.parse_packet(pkt)
    p = f.points[0]
    # rfpose radar frame: x forward = y_ti, y left = -x_ti, z up
    assert (p["x"], p["y"], p["z"], p["v"]) == (2.0, -1.0, 0.5, 0.25)
    assert p["snr_db"] == pytest.approx(12.3) and p["noise_db"] == pytest.approx(45.6)
    assert f.skipped_tlv_types == [6] and f.header.frame_number == 3


def test_pack_parse_round_trip_is_padded():
    pts = np.array([[3.0, 0.5, 1.0, -0.2], [1.0, -1.0, 0.0, 0.0]], np.float32)
    b = tlv.pack_packet(9, pts, snr_db=[10, 20])
    assert len(b) % 32 == 0
    f = tlv.parse_packet(b)
    assert np.allclose(np.c_[f.points["x"], f.points["y"], f.points["z"], f.points["v"]], pts)


@pytest.mark.parametrize("mutate,match", [
    (lambda b: b[:30], "needs 36 bytes"),
    (lambda b: b[:38], "needs 40 bytes"),  # an SDK 3.x version: the header has subFrameNumber
    (lambda b: b"\x00" + b[1:], "magic"),
    (lambda b: b[:12] + struct.pack("<I", 20) + b[16:], "implausible"),
    (lambda b: b[:12] + struct.pack("<I", len(b) + 64) + b[16:], "header says"),
    (lambda b: b[:28] + struct.pack("<I", 3) + b[32:], "point TLV has 32 bytes for 3 objects"),
    (lambda b: b[:44] + struct.pack("<I", 4000) + b[48:], "runs past the packet end"),
    (lambda b: b[:32] + struct.pack("<I", 9) + b[36:], "header runs past"),
])
def test_bad_packets_raise_parse_error(mutate, match):
    good = tlv.pack_packet(1, np.ones((2, 4), np.float32))
    with pytest.raises(ParseError, match=match):
        tlv.parse_packet(mutate(good))


def test_stream_parser_resyncs_and_counts():
    rng = np.random.default_rng(0)
    packets = [tlv.pack_packet(i, rng.normal(size=(i % 4, 4)).astype(np.float32), snr_db=np.zeros(i % 4))
               for i in range(12)]
    bad = bytearray(packets[5])
    bad[12:16] = struct.pack("<I", 10**8)  # totalPacketLen absurd
    bad2 = bytearray(packets[8])
    bad2[44:48] = struct.pack("<I", 0xFFFF)  # first TLV length past the end
    stream = b"\x07\x02junk" + b"".join(packets[:5]) + bytes(bad) + b"\x02\x01\x04" + b"".join(packets[6:8]) \
        + bytes(bad2) + b"".join(packets[9:])
    parser = tlv.TlvStreamParser()
    frames = []
    for i in range(0, len(stream), 37):  # arbitrary read sizes split headers and magic words
        frames += parser.feed(stream[i:i + 37])
    assert [f.header.frame_number for f in frames] == [0, 1, 2, 3, 4, 6, 7, 9, 10, 11]
    assert parser.bad_packets == 2 and parser.packets == 10 and parser.skipped_bytes > 0


def test_point_source_over_pty_with_garbage_and_corruption():
    with UartEmulator(frame_period_s=0.02, garbage_rate=0.3, corrupt_rate=0.2, seed=3, num_frames=40,
                      autostart=False) as emu:
        src = DemoPointSource(emu.path, timeout_s=0.5)
        emu.start()
        got = []
        with src, pytest.raises(DeviceTimeout, match="no point-cloud packet"):
            for f in src:
                got.append(f)
        assert [f.frame_number for f in got] == emu.sent
        assert src.parser.bad_packets == len(emu.corrupted) > 0
        want = emu.points(emu.sent[0])
        f0 = got[0].points
        assert np.allclose(np.c_[f0["x"], f0["y"], f0["z"], f0["v"]], want, atol=1e-6)  # RADAR_POINT_DTYPE
        assert np.allclose(f0["noise_db"], 50.0)
