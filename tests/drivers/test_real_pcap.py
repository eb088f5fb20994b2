"""Golden tests from real DCA1000EVM traffic (``../shared/data/real``, recorded on a real card by
mmwave-capture-std): the control replies, the data packets' sequence numbers and byte counts, the reassembled
ADC frame, and the 2-lane Q-first word order, against the facts its README lists."""

import hashlib
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rfpose.drivers import dca1000_protocol as proto
from rfpose.drivers import pcap
from rfpose.drivers.dca1000_pcap import Dca1000PcapSource, reassemble, split_dca1000
from rfpose.errors import ParseError
from rfpose.preprocessing.decode import decode_frame
from rfpose.radar_config import parse_cfg
from tests.shared_data import shared_data

FRAME_SHA256 = "1be5daf4f0a43056e04b5ba2ffe70017a3319213e23558f589f556ab1b6c1936"
CMD_REPLIES = [(0x01, 0), (0x02, 0), (0x05, 0), (0x06, 0), (0x0B, 0), (0x03, 0), (0x04, 0), (0x09, 0), (0x0A, 0),
               (0x0E, 0x0402)]
# stream-order sample index -> I + jQ, as the README (and upstream's own test) give them
SAMPLES = {415: -88 + 193j, 671: -55 + 205j, 1255: 366 - 21j, 1262: 582 + 30j, 1736: -127 - 238j,
           2394: 745 - 301j, 3293: -90 - 615j, 3474: 268 - 48j, 4065: 223 + 120j}


def _traffic(name):
    datagrams, stats = pcap.read_udp(shared_data("real", name))
    return datagrams, stats, split_dca1000(datagrams)


def test_cmd_capture_replies_in_order():
    datagrams, stats, traffic = _traffic("test_cmd.pcap")
    assert stats.records == stats.udp == 10 and not stats.skipped and not stats.truncated
    assert all(d.src == ("192.168.33.180", 1024) and d.dst == ("192.168.33.30", 4096) for d in datagrams)
    assert datagrams[-1].payload == bytes.fromhex("5aa50e000204aaee")
    assert [(r.cmd, r.status) for _, r in traffic.replies] == CMD_REPLIES
    assert traffic.foreign == traffic.bad_replies == 0 and not traffic.data
    version = proto.decode_fpga_version(traffic.replies[-1][1].status)
    assert (version.major, version.minor, version.playback) == (2, 8, False)


def test_one_frame_capture_packets():
    datagrams, stats, traffic = _traffic("test_one_frame.pcap")
    assert stats.udp == 18
    assert [(r.cmd, r.status) for _, r in traffic.replies] == [(0x09, 0), (0x01, 0), (0x03, 0), (0x0B, 0), (0x05, 0),
                                                               (0x0A, 0x0100)]
    assert traffic.replies[-1][1].is_async
    headers = [proto.unpack_data_header(d.payload) for d in traffic.data]
    assert [seq for seq, _ in headers] == list(range(1, 13))
    assert [bc for _, bc in headers] == [1456 * i for i in range(12)]
    assert [len(d.payload) for d in traffic.data] == [1466] * 11 + [378]
    gap_s = (traffic.data[11].timestamp_ns - traffic.data[10].timestamp_ns) / 1e9
    assert gap_s == pytest.approx(2.0, abs=0.01)


def test_reassembled_frame_is_byte_exact():
    _, _, traffic = _traffic("test_one_frame.pcap")
    frames, st = reassemble(traffic.data, 16384)
    assert len(frames) == 1 and frames[0].complete and frames[0].lost_bytes == 0
    assert st.packets == 12 and st.malformed == st.duplicates == 0
    raw = frames[0].adc.tobytes()
    assert len(raw) == 16384 and hashlib.sha256(raw).hexdigest() == FRAME_SHA256
    # a frame size one word off leaves the capture's bytes in another frame split: the hash cannot match
    off, _ = reassemble(traffic.data, 16382)
    assert hashlib.sha256(off[0].adc.tobytes()).hexdigest() != FRAME_SHA256


def _params(sample_swap: int):
    """16 blocks of 256 complex samples: 4 loops x 1 TX x 4 RX, 2-lane, RX-blocked."""
    return parse_cfg(f"channelCfg 15 1 0\nadcCfg 2 1\nadcbufCfg -1 0 {sample_swap} 1 1\n"
                     "profileCfg 0 77 429 7 57.14 0 0 70 1 256 5209 0 0 30\nchirpCfg 0 0 0 0 0 0 0 1\n"
                     "frameCfg 0 0 4 0 100 1 0\n").derive()


def _one_sided_db(samples: np.ndarray) -> float:
    blocks = samples.reshape(16, 256)
    spec = np.abs(np.fft.fft((blocks - blocks.mean(1, keepdims=True)) * np.hanning(256), axis=1)) ** 2
    return float(10 * np.log10(spec[:, 1:128].sum() / spec[:, 129:].sum()))


def test_word_order_is_q_first_on_real_data():
    src = Dca1000PcapSource(shared_data("real", "test_one_frame.pcap"), frame_bytes=16384)
    words = src[0].adc
    assert words[:8].tolist() == [168, -356, -255, -497, -779, -381, 18, 630]
    q_first = decode_frame(words, _params(1)).reshape(-1)  # (loop, tx, rx, sample) = stream order here
    assert q_first[:4].tolist() == [-255 + 168j, -497 - 356j, 18 - 779j, 630 - 381j]
    for index, value in SAMPLES.items():
        assert q_first[index] == value, index
    i_first = decode_frame(words, _params(0)).reshape(-1)
    # real targets sit at positive beat frequencies of I + jQ: one-sided Q-first, the mirror I-first
    assert _one_sided_db(q_first) > 30
    assert _one_sided_db(i_first) == pytest.approx(-_one_sided_db(q_first), abs=0.5)


def test_source_metadata_and_foreign_traffic(tmp_path):
    data = shared_data("real", "test_one_frame.pcap").read_bytes()
    # the same capture with a forged data packet from another host appended: counted, not reassembled
    record = data[24 + 16 + 60:]  # everything after the first (60-byte) record
    first = data[24:24 + 16 + 60]
    forged_frame = bytearray(first[16:])
    forged_frame[26:30] = bytes([192, 168, 33, 99])
    forged = first[:16] + bytes(forged_frame)
    (tmp_path / "x.pcap").write_bytes(data[:24] + forged + first + record)
    src = Dca1000PcapSource(tmp_path / "x.pcap", frame_bytes=16384)
    assert src.metadata["foreign_datagrams"] == 1 and len(src.metadata["replies"]) == 6
    assert hashlib.sha256(src[0].adc.tobytes()).hexdigest() == FRAME_SHA256


def test_bad_files():
    with pytest.raises(ParseError, match="not a pcap file"):
        list(pcap.iter_udp(b"\x0a\x0d\x0d\x0a" + bytes(40)))  # pcapng
    with pytest.raises(ParseError, match="too short"):
        list(pcap.iter_udp(b"\xd4\xc3"))
    data = shared_data("real", "test_cmd.pcap").read_bytes()
    stats = pcap.PcapStats()
    got = list(pcap.iter_udp(data[:-5], stats))
    assert len(got) == 9 and stats.truncated
    big_endian = struct.pack(">IHHiIII", pcap.MAGIC_US, 2, 4, 0, 0, 65535, 147)
    with pytest.raises(ParseError, match="link type 147"):
        list(pcap.iter_udp(big_endian))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_mutated_captures_give_counted_skips_or_parse_errors(data):
    raw = bytearray(shared_data("real", "test_one_frame.pcap").read_bytes())
    for _ in range(data.draw(st.integers(1, 8))):
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] = data.draw(st.integers(0, 255))
    raw = bytes(raw[:data.draw(st.integers(0, len(raw)))])
    stats = pcap.PcapStats()
    try:
        datagrams = list(pcap.iter_udp(raw, stats))
    except ParseError:
        return
    traffic = split_dca1000(datagrams)
    frames, st_ = reassemble(traffic.data, 16384)
    assert stats.udp == len(datagrams) <= stats.records
    assert all(len(f.adc) == 8192 for f in frames)
    assert st_.packets == len(traffic.data)


def test_open_source_reads_the_capture():
    from rfpose.drivers.open_source import open_source

    path = shared_data("real", "test_one_frame.pcap")
    with open_source(f"dca1000-pcap://{path}?frame_bytes=16384") as src:
        frames = list(src)
    assert len(frames) == 1 and hashlib.sha256(frames[0].adc.tobytes()).hexdigest() == FRAME_SHA256
    assert src.metadata["stream"]["packets"] == 12 and src.metadata["foreign_datagrams"] == 0
