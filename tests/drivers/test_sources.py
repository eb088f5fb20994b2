"""File and camera sources and open_source() dispatch."""

import numpy as np
import pytest

from rfpose.drivers.adc_file import AdcFileSource, AdcFileWriter
from rfpose.drivers.open_source import open_source
from rfpose.drivers.pcd import PcdDirectorySource, read_pcd, write_pcd
from rfpose.errors import ConfigError, DeviceError, FormatError, UnknownNameError
from rfpose.source import LIDAR_POINT_DTYPE, RadarFrame, Source


def _cloud(n, seed=0):
    rng = np.random.default_rng(seed)
    pts = np.zeros(n, LIDAR_POINT_DTYPE)
    for k in ("x", "y", "z", "intensity"):
        pts[k] = rng.normal(size=n).astype(np.float32)
    return pts


@pytest.mark.parametrize("binary", [True, False])
def test_pcd_round_trip(tmp_path, binary):
    pts = _cloud(50)
    write_pcd(tmp_path / "000000.pcd", pts, binary=binary)
    got = read_pcd(tmp_path / "000000.pcd")
    for k in ("x", "y", "z", "intensity"):
        assert np.allclose(got[k], pts[k], atol=1e-5)


def test_pcd_hand_written_ascii_with_extra_fields(tmp_path):
    (tmp_path / "a.pcd").write_text("VERSION .7\nFIELDS x y z rgb intensity\nSIZE 4 4 4 4 2\nTYPE F F F F U\n"
                                    "COUNT 1 1 1 1 1\nWIDTH 2\nHEIGHT 1\nPOINTS 2\nDATA ascii\n"
                                    "1 2 3 0 7\n4 5 6 0 9\n")
    got = read_pcd(tmp_path / "a.pcd")
    assert got["x"].tolist() == [1, 4] and got["z"].tolist() == [3, 6] and got["intensity"].tolist() == [7, 9]


def test_pcd_via_open3d_matches(tmp_path):
    o3d = pytest.importorskip("open3d")
    pts = _cloud(20, 1)
    pc = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(np.c_[pts["x"], pts["y"], pts["z"]].astype(np.float64)))
    o3d.io.write_point_cloud(str(tmp_path / "b.pcd"), pc, write_ascii=False, compressed=True)
    got = read_pcd(tmp_path / "b.pcd")  # binary_compressed goes through open3d
    assert np.allclose(got["x"], pts["x"], atol=1e-5)


def test_truncated_and_malformed_pcd(tmp_path):
    write_pcd(tmp_path / "c.pcd", _cloud(10))
    raw = (tmp_path / "c.pcd").read_bytes()
    (tmp_path / "t.pcd").write_bytes(raw[:-5])
    with pytest.raises(FormatError, match="t.pcd: truncated"):
        read_pcd(tmp_path / "t.pcd")
    (tmp_path / "h.pcd").write_text("VERSION .7\nFIELDS x y\nDATA ascii\n")
    with pytest.raises(FormatError, match="h.pcd: malformed PCD header"):
        read_pcd(tmp_path / "h.pcd")


def test_pcd_directory_source(tmp_path):
    for i in (0, 1, 2, 10):
        write_pcd(tmp_path / f"{i:06d}.pcd", _cloud(5 + i, i))
    (tmp_path / "notes.txt").write_text("x")
    src = open_source(f"pcd://{tmp_path}?fps=5")
    assert isinstance(src, Source) and src.kind == "lidar" and src.is_seekable and len(src) == 4
    frames = list(src)
    assert [len(f.points) for f in frames] == [5, 6, 7, 15]
    assert [f.timestamp_ns for f in frames] == [0, 200_000_000, 400_000_000, 600_000_000]
    assert src[-1].points.dtype == LIDAR_POINT_DTYPE
    assert isinstance(open_source(str(tmp_path)), PcdDirectorySource)


def test_camera_source_reads_a_video_file(tmp_path):
    cv2 = pytest.importorskip("cv2")
    path = str(tmp_path / "v.avi")
    vw = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    for i in range(5):
        img = np.zeros((48, 64, 3), np.uint8)
        img[..., 2] = 200  # red in BGR
        vw.write(img)
    vw.release()
    with open_source(f"camera://{path}") as cam:
        frames = list(cam)
    assert len(frames) == 5 and frames[0].image.shape == (48, 64, 3)
    assert frames[0].image[..., 0].mean() > 150 and frames[0].image[..., 2].mean() < 50  # RGB order
    with pytest.raises(DeviceError, match="cannot open camera"):
        open_source(f"camera://{tmp_path}/missing.avi")


def test_ouster_without_sdk_is_a_clear_error():
    try:
        import ouster.sdk  # noqa: F401
        pytest.skip("ouster-sdk is installed")
    except ImportError:
        pass
    with pytest.raises(DeviceError, match=r"pip install 'rfpose\[ouster\]'"):
        open_source("ouster://os-122.local")


def test_unknown_scheme_lists_valid_ones():
    with pytest.raises(UnknownNameError, match="unknown source scheme 'foo'; valid: adc, camera, dca1000"):
        open_source("foo://bar")
    with pytest.raises(ConfigError, match="needs \\?board"):
        open_source("dca1000://127.0.0.1?fpga=127.0.0.2")


def test_adc_file_writer_and_replay(tmp_path):
    F = 4096
    out = tmp_path / "adc_data.bin"
    frames = [RadarFrame(i, 1000 + i, np.arange(F // 2, dtype=np.int16) + i, lost_bytes=8 * (i == 1),
                         complete=i != 1) for i in range(3)]
    with AdcFileWriter(out, frame_bytes=F, board="awr1843boost", cfg_text="x") as w:
        for f in frames:
            w.write(f)
    assert out.stat().st_size == 3 * F
    src = open_source(str(out))
    assert len(src) == 3
    g = src[1]
    assert np.array_equal(g.adc, frames[1].adc) and g.lost_bytes == 8 and not g.complete and g.timestamp_ns == 1001
    with pytest.raises(FormatError, match="frame 0 has 2 bytes"):
        AdcFileWriter(tmp_path / "x.bin", frame_bytes=F, board="b", cfg_text="").write(
            RadarFrame(0, 0, np.zeros(1, np.int16)))
    (tmp_path / "t.bin").write_bytes(bytes(F + 2))
    with pytest.raises(FormatError, match="not a whole number"):
        AdcFileSource(tmp_path / "t.bin", frame_bytes=F)
    with pytest.raises(FormatError, match="frame size unknown"):
        AdcFileSource(tmp_path / "t.bin")
