"""Property-based fuzzing of every parser and file reader (issue 20). Each input ends in a result, a typed
rfpose error, or a counted skip — never another exception — within bounded time and memory.

The default ``ci`` profile keeps the whole set short; ``pytest -m fuzz --hypothesis-profile=fuzz`` runs long.
"""

from __future__ import annotations

import json
import shutil
import struct
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fuzz_harness import typed
from rfpose.drivers import dca1000_protocol as proto
from rfpose.drivers import tlv
from rfpose.drivers.dca1000_reassembly import FrameReassembler

pytestmark = pytest.mark.fuzz

# -- .cfg ------------------------------------------------------------------------------------------

_TOKENS = ["0", "1", "-1", "3", "15", "256", "1e9", "-1e-9", "5e-324", "1e400", "nan", "inf", "0x10", "x", "",
           "77", "60", "29.982", "0.5", "65535", "4294967296"]


@st.composite
def mutated_cfg(draw):
    from rfpose.boards import get_board

    lines = get_board("awr1843boost").default_config().to_text().splitlines()
    for _ in range(draw(st.integers(1, 6))):
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["token", "delete", "duplicate", "swap", "noise"]))
        words = lines[i].split()
        if op == "token" and words:
            words[draw(st.integers(0, len(words) - 1))] = draw(st.sampled_from(_TOKENS))
            lines[i] = " ".join(words)
        elif op == "delete":
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, lines[i])
        elif op == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        else:
            lines[i] = draw(st.text(max_size=40))
        if not lines:
            break
    return "\n".join(lines)


@given(text=st.one_of(mutated_cfg(), st.text(max_size=300)), board=st.sampled_from([None, "awr1843boost", "iwr6843isk"]))
def test_fuzz_cfg(text, board):
    from rfpose.boards import get_board
    from rfpose.radar_config import parse_cfg, validate_cfg

    cfg = typed(parse_cfg, text, "fuzz.cfg")
    if cfg is not None:
        typed(validate_cfg, cfg, get_board(board) if board else None)
        typed(cfg.to_text)


# -- DCA1000 control packets ------------------------------------------------------------------------

@st.composite
def near_request(draw):
    size = draw(st.integers(0, 40))
    base = proto.pack_request(draw(st.integers(0, 0xFFFF)), draw(st.binary(min_size=size, max_size=size)))
    return _flip_some(draw, base)


def _flip_some(draw, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(draw(st.integers(0, 3))):
        if not b:
            break
        b[draw(st.integers(0, len(b) - 1))] = draw(st.integers(0, 255))
    cut = draw(st.integers(0, len(b)))
    return bytes(b[:cut]) if draw(st.booleans()) else bytes(b) + draw(st.binary(max_size=4))


@given(data=st.one_of(near_request(), st.binary(max_size=600)))
def test_fuzz_dca1000_control(data):
    req = typed(proto.parse_request, data)
    if req is not None:
        assert proto.parse_request(proto.pack_request(req.cmd, req.payload)) == req
        typed(proto.parse_config_fpga_payload, req.payload)
        typed(proto.parse_config_record_payload, req.payload)
    resp = typed(proto.parse_response, data[:8] if len(data) > 8 and data[0] & 1 else data)
    if resp is not None:
        assert 0 <= resp.status <= 0xFFFF
        proto.decode_fpga_version(resp.status)


# -- DCA1000 data packets and reassembly -------------------------------------------------------------

F = 6000  # not a multiple of 1456: packets straddle frame boundaries


def _genuine(n_frames: int, seed: int) -> tuple[bytes, list[bytes]]:
    data = np.random.default_rng(seed).integers(0, 256, n_frames * F, dtype=np.uint8).tobytes()
    P = proto.MAX_PAYLOAD_BYTES
    return data, [proto.pack_data_packet(i // P + 1, i, data[i:i + P]) for i in range(0, len(data), P)]


@st.composite
def impaired_stream(draw):
    """Genuine packets with random loss, duplicates and bounded reordering."""
    data, pkts = _genuine(draw(st.integers(1, 6)), draw(st.integers(0, 3)))
    out = []
    for p in pkts:
        r = draw(st.integers(0, 19))
        if r == 0:
            continue  # lost
        out.append(p)
        if r == 1:
            out.append(p)  # duplicate
    for _ in range(draw(st.integers(0, 4))):  # a few swaps of neighbours
        if len(out) > 2:
            i = draw(st.integers(0, len(out) - 2))
            out[i], out[i + 1] = out[i + 1], out[i]
    return data, out


def _reassemble(pkts):
    """Feed the packets, flush, check the invariants every output must meet; returns (frames, stats)."""
    frames = []
    r = FrameReassembler(F, frames.append, reorder_bytes=8 * proto.MAX_PAYLOAD_BYTES)
    for p in pkts:
        r.feed(p, len(p))
    r.flush()
    _check_frames(frames, r.stats)
    return frames, r.stats


def _check_frames(frames, stats):
    idx = [f.index for f in frames]
    assert idx == sorted(set(idx))
    for f in frames:
        assert 0 <= f.lost_bytes <= F and f.complete == (f.lost_bytes == 0)
        assert f.adc.dtype == np.int16 and f.adc.nbytes == F
    assert stats.malformed + stats.duplicates <= stats.packets and stats.foreign == 0
    assert stats.lost_bytes >= 0


@given(stream=impaired_stream())
def test_fuzz_reassembly_genuine_stream_is_byte_exact(stream):
    data, pkts = stream
    frames, stats = _reassemble(pkts)
    # genuine packets are never malformed; only a tail too short to confirm (fewer than confirm_packets
    # packets after the start or a long gap) stays unconfirmed
    assert set(stats.malformed_reasons) <= {"unconfirmed"} and stats.malformed <= 2 * (1 + stats.jumps)
    src = np.frombuffer(data, np.uint8)
    for f in frames:
        if f.complete:
            assert np.array_equal(f.adc.view(np.uint8), src[f.index * F:(f.index + 1) * F])


_header = st.tuples(st.integers(0, 0xFFFFFFFF), st.integers(0, (1 << 48) - 1)).map(
    lambda t: proto.pack_data_header(*t))
junk = st.one_of(st.binary(max_size=1500), st.tuples(_header, st.binary(max_size=1460)).map(lambda t: t[0] + t[1]))


@given(stream=impaired_stream(), extra=st.lists(st.tuples(st.integers(0, 200), junk), max_size=12))
def test_fuzz_reassembly_with_junk_never_raises(stream, extra):
    _, pkts = stream
    pkts = list(pkts)
    for at, j in extra:
        pkts.insert(min(at, len(pkts)), j)
    _reassemble(pkts)


# -- TLV packets and streams ----------------------------------------------------------------------

@st.composite
def tlv_packet(draw):
    n = draw(st.integers(0, 5))
    pts = draw(st.lists(st.floats(-50, 50, width=32), min_size=4 * n, max_size=4 * n))
    snr = draw(st.none() | st.just(np.zeros(n)))
    extra = draw(st.lists(st.tuples(st.integers(2, 20).filter(lambda t: t != tlv.TLV_SIDE_INFO), st.binary(max_size=40)),
                          max_size=2))
    return tlv.pack_packet(draw(st.integers(0, 2**32 - 1)), np.array(pts, np.float32).reshape(n, 4), snr_db=snr,
                           extra_tlvs=extra)


@given(pkt=tlv_packet(), mutate=st.data())
def test_fuzz_tlv_packet(pkt, mutate):
    data = _flip_some(mutate.draw, pkt)
    frame = typed(tlv.parse_packet, data)
    if frame is not None:
        assert frame.points.dtype == tlv.POINT_DTYPE


@given(pkts=st.lists(tlv_packet(), min_size=1, max_size=6),
       garbage=st.lists(st.binary(max_size=80).filter(lambda b: tlv.MAGIC not in b), max_size=6),
       reads=st.integers(1, 200))
def test_fuzz_tlv_stream_recovers_every_packet_between_garbage(pkts, garbage, reads):
    stream = b""
    for i, p in enumerate(pkts):
        g = garbage[i] if i < len(garbage) else b""
        if g.endswith(tlv.MAGIC[:1]) or any(tlv.MAGIC.startswith(g[-k:]) for k in range(1, min(len(g), 7) + 1)):
            g = g + b"\xff"  # a garbage tail that a packet could complete into a magic word is not garbage
        stream += g + p
    parser = tlv.TlvStreamParser()
    frames = []
    for i in range(0, len(stream), reads):
        frames += parser.feed(stream[i:i + reads])
    assert [f.header.frame_number for f in frames] == [tlv.parse_header(p).frame_number for p in pkts]
    assert parser.bad_packets == 0


@given(chunks=st.lists(st.one_of(st.binary(max_size=200), tlv_packet()), max_size=8), data=st.data())
def test_fuzz_tlv_stream_with_corruption_never_raises(chunks, data):
    parser = tlv.TlvStreamParser()
    for c in chunks:
        parser.feed(_flip_some(data.draw, c))
    assert parser.packets >= 0 and parser.bad_packets >= 0


# -- PCD / PLY ------------------------------------------------------------------------------------

@st.composite
def pcd_file(draw):
    mode = draw(st.sampled_from(["ascii", "binary", "binary_compressed"]))
    n = draw(st.integers(0, 5))
    fields = {"FIELDS": "x y z intensity", "SIZE": "4 4 4 4", "TYPE": "F F F F", "COUNT": "1 1 1 1",
              "WIDTH": str(n), "HEIGHT": "1", "POINTS": str(n), "DATA": mode}
    for _ in range(draw(st.integers(0, 3))):
        key = draw(st.sampled_from(sorted(fields)))
        fields[key] = " ".join(draw(st.lists(st.sampled_from(_TOKENS + ["F", "I", "U", "x", "y", "-5", "1000000000"]),
                                             min_size=1, max_size=4)))
        if draw(st.booleans()) and key != "DATA":
            fields.pop(key)
    header = "".join(f"{k} {v}\n" for k, v in fields.items() if k != "DATA") + f"DATA {fields.get('DATA', mode)}\n"
    pts = np.random.default_rng(n).normal(size=(n, 4)).astype("<f4")
    body = pts.tobytes() if mode != "ascii" else "".join(" ".join(f"{v:g}" for v in row) + "\n" for row in pts).encode()
    if mode == "binary_compressed":
        body = struct.pack("<II", len(body), len(body)) + body
    return _flip_some(draw, header.encode() + body) if draw(st.booleans()) else header.encode() + body


@given(raw=st.one_of(pcd_file(), st.binary(max_size=300)))
def test_fuzz_pcd(tmp_path_factory, raw):
    from rfpose.drivers.pcd import read_pcd

    import open3d  # noqa: F401 - imported before measuring (binary_compressed files go through it)

    p = tmp_path_factory.getbasetemp() / "fuzz.pcd"
    p.write_bytes(raw)
    tracemalloc.start()
    try:
        pts = typed(read_pcd, p)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 << 20
    if pts is not None:
        assert len(pts) * 4 <= len(raw) or len(pts) == 0


@st.composite
def ply_file(draw):
    fmt = draw(st.sampled_from(["ascii", "binary_little_endian", "binary_big_endian", "zip"]))
    n = draw(st.sampled_from([0, 1, 3, 10**8, -2]))
    props = draw(st.lists(st.sampled_from(["float", "double", "uchar", "int", "list uchar int", "quat"]),
                          min_size=1, max_size=4))
    header = f"ply\nformat {fmt} 1.0\nelement vertex {n}\n" + "".join(
        f"property {t} {'xyzw'[i]}\n" for i, t in enumerate(props)) + "end_header\n"
    return header.encode() + draw(st.binary(max_size=120))


@settings(max_examples=30)
@given(raw=ply_file())
def test_fuzz_ply_header(tmp_path_factory, raw):
    from rfpose.drivers.pcd import check_ply_header

    p = tmp_path_factory.getbasetemp() / "fuzz.ply"
    typed(check_ply_header, p, raw)


# -- ADC files and sidecars -------------------------------------------------------------------------

_json = st.recursive(st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.floats(allow_nan=False)
                     | st.text(max_size=8), lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c,
                                                                                              max_size=4), max_leaves=12)


@st.composite
def sidecar(draw):
    n = draw(st.integers(0, 3))
    fb = draw(st.sampled_from([64, 0, -64, 63, "64", None, 64.0]))
    meta = {"frame_bytes": fb, "frames": {"index": list(range(n)), "timestamp_ns": list(range(n)),
                                          "lost_bytes": [0] * n, "complete": [True] * n}}
    for _ in range(draw(st.integers(0, 3))):
        where = draw(st.sampled_from(["top", "frames", "list"]))
        if where == "top":
            meta[draw(st.sampled_from(["frame_bytes", "frames", "board", "cfg"]))] = draw(_json)
        elif where == "frames" and isinstance(meta.get("frames"), dict):
            meta["frames"][draw(st.sampled_from(["index", "timestamp_ns", "lost_bytes", "complete"]))] = draw(_json)
        elif isinstance(meta.get("frames"), dict):
            lst = meta["frames"].get(draw(st.sampled_from(["index", "lost_bytes", "complete"])))
            if isinstance(lst, list) and lst:
                lst[draw(st.integers(0, len(lst) - 1))] = draw(_json)
    text = json.dumps(meta)
    return n, (text if draw(st.integers(0, 9)) else text[:draw(st.integers(0, len(text)))])


@given(side=sidecar(), extra=st.integers(0, 3), explicit=st.sampled_from([None, 64, 0, 2]))
def test_fuzz_adc_file_and_sidecar(tmp_path_factory, side, extra, explicit):
    from rfpose.drivers.adc_file import AdcFileSource

    n, text = side
    d = tmp_path_factory.getbasetemp()
    (d / "adc.bin").write_bytes(bytes(64 * n + extra))
    (d / "adc.json").write_text(text)
    src = typed(AdcFileSource, d / "adc.bin", frame_bytes=explicit)
    if src is not None:
        for i in range(len(src)):
            f = src[i]
            assert f.adc.nbytes == src.frame_bytes and 0 <= f.lost_bytes <= src.frame_bytes
        src.close()


# -- rig files ------------------------------------------------------------------------------------

_RIG = """[rig]
name = "lab"
emulate = false
[[sensors]]
name = "radar"
kind = "radar"
board = "awr1843boost"
host_ip = "192.168.33.30"
fpga_ip = "192.168.33.180"
packet_delay_us = 25
extrinsics = [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]
[sensors.emulation]
adc = "counter"
loss_rate = 0.0
[[sensors]]
name = "cam"
kind = "camera"
uri = "camera://0"
intrinsics = [[600, 0, 320], [0, 600, 240], [0, 0, 1]]
"""
_LITERALS = ["1", "-5", "0.5", "1e400", "nan", "'x'", '"192.168.33"', "[1, 2]", "['a']", "true", "{a = 1}", "[[1]]",
             "''", "70000", '"sonar"', '"awr9999"', '"../x"', "[]"]


@given(data=st.data())
def test_fuzz_rig(data):
    from rfpose.drivers.rig import parse_rig

    lines = _RIG.splitlines()
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(lines) - 1))
        if "=" in lines[i] and data.draw(st.booleans()):
            key = lines[i].split("=")[0]
            lines[i] = f"{key}= {data.draw(st.sampled_from(_LITERALS))}"
        elif data.draw(st.booleans()):
            del lines[i]
        else:
            lines.insert(i, data.draw(st.sampled_from(["foo = 1", "[rig]", "[[sensors]]", "emulation = 5",
                                                       "[sensors.emulation]", "name = 'radar'"])))
    typed(parse_rig, "\n".join(lines), "fuzz.toml")


# -- session stores -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def template(tmp_path_factory):
    from rfpose.session import SessionWriter
    from rfpose.source import RADAR_POINT_DTYPE, PointCloudFrame, RadarFrame

    path = tmp_path_factory.mktemp("fuzz-session") / "s.zarr"
    rng = np.random.default_rng(0)
    frames = [rng.integers(-2000, 2000, 256, dtype=np.int16) for _ in range(3)]
    with SessionWriter(path) as w:
        w.add_radar_stream("radar", board="awr1843boost", frame_shape=(256,))
        w.add_points_stream("pts")
        for i, a in enumerate(frames):
            w.append("radar", RadarFrame(i, 1000 + i, a))
            pts = np.zeros(2, RADAR_POINT_DTYPE)
            pts["x"] = i
            w.append("pts", PointCloudFrame(i, 1000 + i, pts, frame_number=i))
    files = sorted(str(p.relative_to(path)) for p in path.rglob("*") if p.is_file())
    return path, frames, files


@settings(max_examples=15)
@given(data=st.data())
def test_fuzz_session_never_reads_bad_data_as_good(template, tmp_path_factory, data):
    """Any damage to any file: typed errors, or frames flagged lost — never a complete frame with wrong data."""
    from rfpose.session import SessionReader

    src, frames, files = template
    path = tmp_path_factory.getbasetemp() / "fuzzed.zarr"
    shutil.rmtree(path, ignore_errors=True)
    shutil.copytree(src, path)
    for _ in range(data.draw(st.integers(1, 3))):
        f = path / data.draw(st.sampled_from(files))
        if not f.exists():
            continue
        op = data.draw(st.sampled_from(["flip", "truncate", "delete", "garbage"]))
        if op == "delete":
            f.unlink()
        elif op == "garbage":
            f.write_bytes(data.draw(st.binary(max_size=64)))
        else:
            raw = f.read_bytes()
            f.write_bytes(_flip_some(data.draw, raw) if op == "flip" else raw[:data.draw(st.integers(0, len(raw)))])
    reader = typed(SessionReader, path)
    if reader is None:
        return
    s = typed(reader.stream, "radar") if "radar" in reader.streams else None
    if s is not None:
        for i in range(len(s)):
            fr = typed(s.__getitem__, i)
            if fr is not None and fr.complete and s.verified and i < len(frames) and not s.corrupt_frames & {i}:
                assert np.array_equal(fr.adc, frames[i]), f"frame {i} read back as good but differs"
    p = typed(reader.stream, "pts") if "pts" in reader.streams else None
    if p is not None:
        for i in range(len(p)):
            typed(p.__getitem__, i)
