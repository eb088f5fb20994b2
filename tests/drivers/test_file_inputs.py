"""Lying sizes and malformed content in file inputs (issue 20): PCD/PLY headers are checked against the
file's real length before anything is allocated, and every problem is a FormatError naming the file."""

import json
import resource
import tracemalloc

import numpy as np
import pytest

from rfpose.drivers.adc_file import AdcFileSource, AdcFileWriter
from rfpose.drivers.open_source import open_source
from rfpose.drivers.pcd import read_pcd, write_pcd
from rfpose.errors import FormatError
from rfpose.source import LIDAR_POINT_DTYPE, RadarFrame


def _pcd(fields="x y z", size="4 4 4", type_="F F F", count="1 1 1", points=2, data="ascii", body=b"1 2 3\n4 5 6\n"):
    return (f"VERSION 0.7\nFIELDS {fields}\nSIZE {size}\nTYPE {type_}\nCOUNT {count}\nWIDTH {points}\nHEIGHT 1\n"
            f"POINTS {points}\nDATA {data}\n").encode() + body


@pytest.mark.parametrize("raw, match", [
    (_pcd(count="1 1 1000000000"), "implausible sizes"),                 # a huge COUNT
    (_pcd(points=10**8, data="binary", body=bytes(120)), "truncated"),  # lying POINTS, binary
    (_pcd(points=10**8), "truncated"),                                   # lying POINTS, ascii
    (_pcd(points=-5), "implausible sizes"),
    (_pcd(count="1 1 -1"), "implausible sizes"),
    (_pcd(size="4 4 -4"), "unsupported PCD field type"),
    (_pcd(fields="x x z"), "names a field twice"),
    (_pcd(body=b"1 2 three\n4 5 6\n"), "non-numeric"),
    (_pcd(points=3, data="binary_compressed", body=bytes(16)), "compressed PCD data does not match"),
    (_pcd(data="binary_compressed", body=(10**6).to_bytes(4, "little") + (24).to_bytes(4, "little") + bytes(8)),
     "compressed PCD data does not match"),
    (b"VERSION 0.7\nFIELDS x\n", "header ends before DATA"),
])
def test_bad_pcd_is_a_format_error_without_a_big_allocation(tmp_path, raw, match):
    p = tmp_path / "000001.pcd"
    p.write_bytes(raw)
    tracemalloc.start()
    try:
        with pytest.raises(FormatError, match=match) as e:
            read_pcd(p)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(p) in str(e.value) and peak < 50 << 20


@pytest.mark.parametrize("header, body, match", [
    ("format binary_little_endian 1.0\nelement vertex 100000000\nproperty float x\nproperty float y\n"
     "property float z\n", bytes(120), "lying PLY header"),
    ("format ascii 1.0\nelement vertex 100000000\nproperty float x\nproperty float y\nproperty float z\n",
     b"1 2 3\n" * 20, "lying PLY header"),
    ("format binary_little_endian 1.0\nelement vertex -3\nproperty float x\n", b"", "negative"),
    ("format binary_little_endian 1.0\nelement vertex many\nproperty float x\n", b"", "malformed PLY header"),
    ("format binary_little_endian 1.0\nelement vertex 1\nproperty quaternion x\n", bytes(4), "malformed PLY header"),
    ("format zip 1.0\nelement vertex 1\nproperty float x\n", bytes(4), "unknown PLY format"),
])
def test_lying_ply_is_refused_before_open3d_allocates(tmp_path, header, body, match):
    d = tmp_path / "pcd"
    d.mkdir()
    (d / "000001.ply").write_bytes(b"ply\n" + header.encode() + b"end_header\n" + body)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(FormatError, match=match):
        open_source(f"pcd://{d}")[0]
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200_000  # KiB: nothing like 1.2 GB


def test_a_good_ply_still_reads(tmp_path):
    import open3d as o3d

    d = tmp_path / "pcd"
    d.mkdir()
    pts = np.random.default_rng(0).normal(size=(50, 3))
    pc = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(pts))
    o3d.io.write_point_cloud(str(d / "000000.ply"), pc, write_ascii=False)
    got = open_source(f"pcd://{d}")[0].points
    assert len(got) == 50 and np.allclose(got["x"], pts[:, 0], atol=1e-6)


def test_good_pcd_with_count_fields_still_reads(tmp_path):
    pts = np.zeros(3, LIDAR_POINT_DTYPE)
    pts["x"] = [1, 2, 3]
    write_pcd(tmp_path / "a.pcd", pts)
    assert np.array_equal(read_pcd(tmp_path / "a.pcd")["x"], [1, 2, 3])
    p = tmp_path / "b.pcd"
    p.write_bytes(_pcd(fields="x y z normal", size="4 4 4 4", type_="F F F F", count="1 1 1 3",
                       body=b"1 2 3 0 0 1\n4 5 6 0 1 0\n"))
    assert np.array_equal(read_pcd(p)["z"], [3, 6])


F = 64


def _capture(tmp_path, n=3):
    out = tmp_path / "adc_data.bin"
    with AdcFileWriter(out, frame_bytes=F, board="awr1843boost", cfg_text="x") as w:
        for i in range(n):
            w.write(RadarFrame(i, 100 + i, np.full(F // 2, i, np.int16)))
    return out


def _edit(side, fn):
    d = json.loads(side.read_text())
    fn(d)
    side.write_text(json.dumps(d))


@pytest.mark.parametrize("damage, match", [
    (lambda s: s.write_text("{not json"), "not valid JSON"),
    (lambda s: s.write_bytes(b"\xff\xfe"), "not valid JSON"),
    (lambda s: s.write_text("[1, 2]"), "expected a JSON object"),
    (lambda s: _edit(s, lambda d: d.pop("frame_bytes")), "frame_bytes None"),
    (lambda s: _edit(s, lambda d: d.update(frame_bytes=0)), "frame_bytes 0"),
    (lambda s: _edit(s, lambda d: d.update(frame_bytes=-64)), "frame_bytes -64"),
    (lambda s: _edit(s, lambda d: d.update(frame_bytes="64")), "frame_bytes '64'"),
    (lambda s: _edit(s, lambda d: d.pop("frames")), "no 'frames'"),
    (lambda s: _edit(s, lambda d: d["frames"].pop("lost_bytes")), "frames.lost_bytes must list 3"),
    (lambda s: _edit(s, lambda d: d["frames"]["index"].pop()), "frames.index must list 3 values.*got 2"),
    (lambda s: _edit(s, lambda d: d["frames"]["lost_bytes"].__setitem__(1, -8)), r"lost_bytes\[1\] = -8"),
    (lambda s: _edit(s, lambda d: d["frames"]["lost_bytes"].__setitem__(1, 10**9)), r"lost_bytes\[1\]"),
    (lambda s: _edit(s, lambda d: d["frames"]["timestamp_ns"].__setitem__(0, "now")), r"timestamp_ns\[0\]"),
    (lambda s: _edit(s, lambda d: d["frames"]["complete"].__setitem__(2, 1)), r"complete\[2\]"),
])
def test_bad_adc_sidecars_are_format_errors(tmp_path, damage, match):
    out = _capture(tmp_path)
    damage(out.with_suffix(".json"))
    with pytest.raises(FormatError, match=match):
        open_source(f"adc://{out}")[0]


def test_adc_file_sizes(tmp_path):
    out = _capture(tmp_path, n=0)
    assert out.stat().st_size == 0 and len(AdcFileSource(out)) == 0  # an empty capture is an empty source
    for fb in (0, -64, 63):
        with pytest.raises(FormatError, match="not a positive even number"):
            AdcFileSource(out, frame_bytes=fb)
    out = _capture(tmp_path, n=2)
    with pytest.raises(FormatError, match="frame_bytes 64 but 32 was given"):
        AdcFileSource(out, frame_bytes=32)
