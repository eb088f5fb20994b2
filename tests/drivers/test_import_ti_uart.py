"""``rfpose import ti-uart``: a recorded data-UART stream (SDK 2.x Q-format and SDK 3.x packets, with line
noise between them) becomes a session whose points, velocities, frame numbers and times are what was sent."""

import numpy as np
import pytest

from rfpose.cli import main
from rfpose.drivers import tlv
from rfpose.session import open_session
from tests.test_radar_config_older_sdk import SDK2_XWR16XX

CFG = SDK2_XWR16XX.replace("frameCfg 0 1 16 0 100 1 0", "frameCfg 0 1 16 0 50 1 0")  # 20 frames/s


def _recording(tmp_path, version):
    rng = np.random.default_rng(0)
    chunks, truth = [], []
    for k in range(20):
        n = int(rng.integers(0, 6))
        pts = np.c_[rng.uniform(0.5, 5, n), rng.uniform(-2, 2, n), rng.uniform(-1, 1, n)]
        doppler = rng.integers(-8, 8, n)
        chunks.append(tlv.pack_packet_q(100 + k, pts, range_idx=np.arange(n), doppler_idx=doppler,
                                        peak=np.full(n, 500), version=version))
        if k == 7:
            chunks.append(b"\x00\x13 noise on the line \x02\x01\x04")
        truth.append((pts, doppler))
    path = tmp_path / "uart.dat"
    path.write_bytes(b"".join(chunks))
    (tmp_path / "board.cfg").write_text(CFG)
    return path, truth


@pytest.mark.parametrize("version", [0x01020003, 0x02010004])
def test_import_sdk2_recording(tmp_path, capsys, version):
    path, truth = _recording(tmp_path, version)
    out = tmp_path / "s.zarr"
    args = ["import", "ti-uart", str(path), "--cfg", str(tmp_path / "board.cfg"), "--out", str(out),
            "--board", "awr1642boost"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "20 frames" in printed and "0 bad packets" in printed
    from rfpose.radar_config import parse_cfg
    dv = tlv.DopplerScale.from_params(parse_cfg(CFG).derive()).velocity_resolution_mps
    stream = open_session(out).stream("radar_points")
    assert len(stream) == 20
    for i, (pts, doppler) in enumerate(truth):
        f = stream[i]
        assert f.frame_number == 100 + i and f.timestamp_ns == i * 50_000_000
        got = np.c_[f.points["x"], f.points["y"], f.points["z"]]
        assert np.allclose(got, pts, atol=1 / 512)
        assert np.allclose(f.points["v"], doppler * dv, atol=1e-6)
    assert main(args) == 2  # exists: refused without --force
    assert main(args + ["--force"]) == 0


def test_import_refuses_a_file_without_packets(tmp_path, capsys):
    (tmp_path / "board.cfg").write_text(CFG)
    (tmp_path / "empty.dat").write_bytes(b"nothing here" * 100)
    assert main(["import", "ti-uart", str(tmp_path / "empty.dat"), "--cfg", str(tmp_path / "board.cfg"),
                 "--out", str(tmp_path / "s.zarr")]) == 2
    assert "no demo-firmware packet" in capsys.readouterr().err


def test_open_source_uart_file(tmp_path):
    from rfpose.drivers.open_source import open_source

    path, truth = _recording(tmp_path, 0x02010004)
    with open_source(f"uart-file://{path}?cfg={tmp_path / 'board.cfg'}&sdk=2") as src:
        frames = list(src)
    assert [f.frame_number for f in frames] == list(range(100, 120))
    assert np.allclose(frames[3].points["x"], truth[3][0][:, 0], atol=1 / 512)
