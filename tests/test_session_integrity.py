"""Session integrity (issue 20): a missing, bit-flipped or truncated chunk reads back as lost/corrupt —
counted and flagged, or a CorruptDataError when strict — never as good data; malformed attrs and commit
markers are typed errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rfpose.errors import CorruptDataError, FormatError
from rfpose.session import SessionReader, SessionWriter
from rfpose.session.layout import COMMIT_FILE
from rfpose.source import RADAR_POINT_DTYPE, CameraFrame, PointCloudFrame, RadarFrame

W = 4096  # int16 words per radar frame


def _session(path: Path, frames: int = 4) -> Path:
    rng = np.random.default_rng(0)
    with SessionWriter(path) as w:
        w.add_radar_stream("radar", board="awr1843boost", frame_shape=(W,))
        w.add_camera_stream("cam", height=8, width=6, intrinsics=np.eye(3))
        w.add_points_stream("pts")
        for i in range(frames):
            w.append("radar", RadarFrame(i, 1000 + i, rng.integers(-2000, 2000, W, dtype=np.int16)))
            w.append("cam", CameraFrame(i, 1000 + i, rng.integers(0, 255, (8, 6, 3), dtype=np.uint8)))
            pts = np.zeros(5, RADAR_POINT_DTYPE)
            pts["x"] = rng.normal(size=5)
            w.append("pts", PointCloudFrame(i, 1000 + i, pts, frame_number=i))
    return path


def _chunk(path: Path, rel: str) -> Path:
    p = path / rel
    assert p.is_file(), p
    return p


def _flip(p: Path, at: int = -9) -> None:
    b = bytearray(p.read_bytes())
    b[at] ^= 0x10
    p.write_bytes(bytes(b))


def _uncompressed_flip(path: Path) -> None:
    """Flip a bit inside a chunk that still decodes: rewrite frame 2's ADC chunk with one word changed."""
    import zarr
    from zarr.storage import LocalStore

    arr = zarr.open_array(store=LocalStore(path / "streams/radar/adc"), mode="r+")
    a = arr[2]
    a[100] ^= 1
    arr[2] = a


DAMAGE = {
    "missing": lambda path: _chunk(path, "streams/radar/adc/c/2/0").unlink(),
    "bit flip that still decodes": _uncompressed_flip,
    "bit flip in the compressed bytes": lambda path: _flip(_chunk(path, "streams/radar/adc/c/2/0")),
    "truncated": lambda path: _chunk(path, "streams/radar/adc/c/2/0").write_bytes(
        _chunk(path, "streams/radar/adc/c/2/0").read_bytes()[:40]),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damaged_radar_chunk_reads_as_lost_not_as_good_data(tmp_path, damage):
    path = _session(tmp_path / "s.zarr")
    good = SessionReader(path).stream("radar")
    want = [good[i].adc.copy() for i in range(4)]
    assert good.verified and good.verify() == []
    DAMAGE[damage](path)
    s = SessionReader(path).stream("radar")
    frames = [s[i] for i in range(4)]
    assert s.corrupt_frames == {2}
    assert not frames[2].complete and frames[2].lost_bytes == 2 * W and not frames[2].adc.any()
    for i in (0, 1, 3):
        assert frames[i].complete and np.array_equal(frames[i].adc, want[i])
    # the block read used by preprocessing: the same frame zeroed and flagged
    s2 = SessionReader(path).stream("radar")
    block = s2.read_block(0, 4)
    assert not block[2].any() and np.array_equal(block[3], want[3])
    assert s2.corrupt_frames == {2} and not s2.complete[2] and s2.lost_bytes[2] == 2 * W
    # strict: a typed error naming the stream and the frame
    strict = SessionReader(path, strict=True).stream("radar")
    assert np.array_equal(strict[1].adc, want[1])
    with pytest.raises(CorruptDataError, match=r"streams/radar: frame 2"):
        strict[2]
    with pytest.raises(CorruptDataError):
        strict.read_block(0, 4)


def test_damaged_camera_and_point_chunks_are_detected(tmp_path):
    path = _session(tmp_path / "s.zarr")
    _chunk(path, "streams/cam/image/c/1/0/0/0").unlink()
    _flip(_chunk(path, "streams/pts/points/x/c/0"))
    r = SessionReader(path)
    cam = r.stream("cam")
    assert not cam[1].image.any() and cam.corrupt_frames == {1}
    pts = r.stream("pts")
    bad = pts.verify()
    assert bad and all(len(pts[i].points) == 0 for i in bad)
    block = pts.read_points(0, 4)
    assert np.isnan(block["x"]).sum() == 5 * len(bad)
    with pytest.raises(CorruptDataError, match="streams/cam: frame 1"):
        SessionReader(path, strict=True).stream("cam")[1]


def test_a_lost_checksum_chunk_flags_frames_rather_than_trusting_them(tmp_path):
    path = _session(tmp_path / "s.zarr")
    _chunk(path, "streams/radar/checksum/c/0").unlink()
    assert SessionReader(path).stream("radar").verify() == [0, 1, 2, 3]


def test_sessions_without_checksums_are_read_unverified(tmp_path):
    import shutil

    path = _session(tmp_path / "s.zarr")
    shutil.rmtree(path / "streams/radar/checksum")
    s = SessionReader(path).stream("radar")
    assert not s.verified and s.verify() == [] and s[0].complete


def _edit(file: Path, edit) -> None:
    d = json.loads(file.read_text())
    edit(d)
    file.write_text(json.dumps(d))


@pytest.mark.parametrize("file, edit, match", [
    ("zarr.json", lambda d: d["attributes"].update(rfpose_format="1.\u00b2"), "not 'MAJOR.MINOR'"),
    (COMMIT_FILE, lambda d: d.update(rfpose_format="\u0661.1"), "not 'MAJOR.MINOR'"),
    (COMMIT_FILE, lambda d: d.update(committed_unix_ns=float("nan")), "committed_unix_ns"),
    (COMMIT_FILE, lambda d: d.update(committed_unix_ns=[1, 2]), "committed_unix_ns"),
    ("streams/radar/zarr.json", lambda d: d["attributes"].update(extrinsics=[["a"] * 4] * 4), "extrinsics"),
    ("streams/radar/zarr.json", lambda d: d["attributes"].update(frame_shape=["x"]), "frame_shape"),
])
def test_malformed_attrs_and_markers_are_format_errors(tmp_path, file, edit, match):
    path = _session(tmp_path / "s.zarr", frames=1)
    text = (path / file).read_text()
    _edit(path / file, edit)
    with pytest.raises(FormatError, match=match):
        SessionReader(path).stream("radar")
    (path / file).write_text(text)
    assert len(SessionReader(path).stream("radar")) == 1
