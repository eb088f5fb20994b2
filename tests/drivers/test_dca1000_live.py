"""The DCA1000 driver against the emulator over real UDP sockets on loopback (no mocks)."""

import fcntl
import socket
import struct
import threading
import time

import numpy as np
import pytest

from rfpose.drivers import dca1000_protocol as proto
from rfpose.drivers.dca1000_control import DCA1000CommandError, DCA1000Control
from rfpose.drivers.dca1000_receiver import SIOCGSTAMPNS, DCA1000Receiver
from rfpose.drivers.dca1000_source import DCA1000Source
from rfpose.drivers.emulators.adc_frames import SyntheticAdc
from rfpose.drivers.emulators.dca1000 import DCA1000Emulator, Impairments
from rfpose.errors import DeviceTimeout

pytestmark = pytest.mark.timeout(60)
F = 786_432  # AWR1843BOOST default cfg: 64 loops x 3 TX x 4 RX x 256 complex samples


def test_setup_sequence_and_version(addrs):
    host, fpga = addrs
    with DCA1000Emulator(SyntheticAdc(), fpga_ip=fpga, host_ip=host) as emu, DCA1000Control(host, fpga) as ctl:
        v = ctl.setup(lvds_lanes=2, packet_delay_us=10)
        assert (v.major, v.minor, v.playback) == (2, 8, False)
        ctl.reset_radar()
        ctl.reset_fpga()
        assert emu.commands == [0x09, 0x0E, 0x0B, 0x03, 0x09, 0x02, 0x01]
        assert emu.packet_delay_us == 10.0 and not emu.fpga_configured  # RESET_FPGA cleared it


def test_wrong_lane_mode_is_rejected(addrs):
    host, fpga = addrs
    with DCA1000Emulator(SyntheticAdc(), fpga_ip=fpga, host_ip=host, lvds_lanes=4), DCA1000Control(host, fpga) as ctl:
        with pytest.raises(DCA1000CommandError, match="CONFIG_FPGA"):
            ctl.configure_fpga(2)
        ctl.configure_fpga(4)


def test_unanswered_command_times_out_naming_command_and_address(addrs):
    host, fpga = addrs
    with DCA1000Emulator(SyntheticAdc(), fpga_ip=fpga, host_ip=host) as emu, \
            DCA1000Control(host, fpga, timeout_s=0.1, retries=3) as ctl:
        emu.unresponsive = True
        t = time.monotonic()
        with pytest.raises(DeviceTimeout, match=rf"{fpga}:4096.*START_RECORD|START_RECORD.*{fpga}") as e:
            ctl.start_record()
        assert "3 tries" in str(e.value)
        assert time.monotonic() - t >= 3 * 0.1  # every try waited its timeout (load can only make it longer)


def test_nobody_listening_times_out(addrs):
    host, fpga = addrs
    with DCA1000Control(host, fpga, timeout_s=0.05, retries=2) as ctl:
        with pytest.raises(DeviceTimeout, match="SYSTEM_ALIVENESS"):
            ctl.is_alive()


def test_malformed_and_stray_responses_are_skipped(addrs):
    """A fake FPGA (plain UDP sockets) answers garbage, a wrong command, an async status, then the real
    answer, all from port 1024 as the hardware does; a forged failure answer from another port of the
    FPGA's address and one from another address come first. The driver skips the forged ones (counted
    as foreign) and the first two, surfaces the status, and returns the answer."""
    host, fpga = addrs
    fake = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    fake.bind((fpga, 4096))
    src = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    src.bind((fpga, 1024))
    other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    other.bind((fpga[:-1] + "3", 1024))
    seen = []

    def serve():
        data, addr = fake.recvfrom(2048)
        req = proto.parse_request(data)
        fake.sendto(proto.pack_response(req.cmd, 1), addr)   # from port 4096: not the FPGA's source port
        other.sendto(proto.pack_response(req.cmd, 1), addr)  # from another address
        for reply in (b"\x00garbage", proto.pack_response(0x06, 0),
                      proto.pack_response(proto.Cmd.ASYNC_STATUS, proto.AsyncStatus.DDR_FULL),
                      proto.pack_response(req.cmd, 0)):
            src.sendto(reply, addr)

    t = threading.Thread(target=serve)
    t.start()
    with DCA1000Control(host, fpga, timeout_s=1.0, on_status=lambda c, n: seen.append(n)) as ctl:
        ctl.start_record()
        assert ctl.bad_responses == 2 and ctl.foreign == 2
        assert seen == ["DDR_FULL"] and ctl.status_counts["DDR_FULL"] == 1
    t.join()
    for s in (fake, src, other):
        s.close()


def test_async_status_when_radar_streams_without_record(addrs):
    host, fpga = addrs
    with DCA1000Emulator(SyntheticAdc(), fpga_ip=fpga, host_ip=host) as emu, DCA1000Control(host, fpga) as ctl:
        emu.radar_start(F, 0.1)  # the radar chirps but nobody started the record
        deadline = time.monotonic() + 20  # returns as soon as the packet is there
        while not ctl.status_counts and time.monotonic() < deadline:
            ctl.poll_status()
            time.sleep(0.01)
        assert ctl.status_counts == {"LVDS_BUFFER_FULL": 1}
        assert ctl.status_queue.get_nowait() == (9, "LVDS_BUFFER_FULL")
        emu.radar_stop()


def _lost_per_frame(lost, frame_bytes):
    out = {}
    for _, bc, n in lost:
        pos = bc
        while pos < bc + n:
            k = pos // frame_bytes
            take = min(bc + n, (k + 1) * frame_bytes) - pos
            out[k] = out.get(k, 0) + take
            pos += take
    return out


def test_impaired_stream_over_udp_is_byte_exact_outside_lost_packets(addrs):
    host, fpga = addrs
    n_frames = 8
    boundary_seq = 2 * F // proto.MAX_PAYLOAD_BYTES + 1  # the packet holding byte 2F spans frames 1|2
    imp = Impairments(loss_rate=0.01, drop_seqs=frozenset({boundary_seq, boundary_seq + 1}), duplicate_rate=0.01,
                      reorder_rate=0.01, corrupt_rate=0.005, seed=7)
    adc = SyntheticAdc("random", seed=11, num_frames=n_frames)
    with DCA1000Emulator(adc, fpga_ip=fpga, host_ip=host, frame_bytes=F, frame_period_s=0.03, standalone=True,
                         impairments=imp) as emu, DCA1000Control(host, fpga) as ctl:
        rx = DCA1000Receiver(host, F, fpga_ip=fpga, on_idle=ctl.poll_status)
        ctl.setup(2, 5)
        rx.start()
        ctl.start_record()
        assert emu.wait_streamed(20)
        time.sleep(0.2)
        ctl.stop_record()
        rx.stop(flush=True, include_partial=True)
        frames = []
        while (f := rx.get(0)) is not None:
            frames.append(f)
        rx.close()
        assert ctl.status_counts["REC_COMPLETED"] == 1
    log = emu.impaired
    assert log.duplicated and log.reordered and log.corrupted
    assert {boundary_seq, boundary_seq + 1} <= {s for s, _, _ in log.lost}
    want_lost = _lost_per_frame(log.lost, F)
    assert 1 in want_lost and 2 in want_lost
    assert [f.index for f in frames] == list(range(n_frames))
    for f in frames:
        src = np.frombuffer(adc.frame(f.index, F), np.uint8)
        got = f.adc.view(np.uint8)
        mask = np.ones(F, bool)
        for _, bc, n in log.lost:
            lo, hi = max(bc, f.index * F), min(bc + n, (f.index + 1) * F)
            if lo < hi:
                mask[lo - f.index * F:hi - f.index * F] = False
        assert np.array_equal(got[mask], src[mask]), f"frame {f.index}"
        assert not got[~mask].any()
        assert f.lost_bytes == want_lost.get(f.index, 0)
        assert f.complete == (f.index not in want_lost)
    st = rx.stats
    assert st.duplicates == len(log.duplicated)
    assert st.malformed == len(log.corrupted)
    assert st.lost_bytes == sum(n for _, _, n in log.lost)


def test_device_that_stops_sending_raises_timeout_and_keeps_frames(addrs):
    host, fpga = addrs
    from rfpose.drivers.emulators.board import BoardEmulator

    # 3 frames at 0.1 s, then the radar "dies" half way through frame 3: no more data ever comes
    class Dies:
        def frames(self, frame_bytes):
            adc = SyntheticAdc("counter")
            for k in range(3):
                yield adc.frame(k, frame_bytes)
            yield adc.frame(3, frame_bytes)[: frame_bytes // 2]

    dca = DCA1000Emulator(Dies(), fpga_ip=fpga, host_ip=host)
    board = BoardEmulator("awr1843boost", dca=dca)
    got = []
    try:
        src = DCA1000Source("awr1843boost", None, host_ip=host, fpga_ip=fpga, cli_port=board.path,
                            frame_timeout_s=0.8, timeout_s=0.2)
        with src, pytest.raises(DeviceTimeout, match="no radar data"):
            for frame in src:
                got.append(frame)
    finally:
        board.close()
        dca.close()
    assert [f.index for f in got[:3]] == [0, 1, 2] and all(f.complete for f in got[:3])
    adc = SyntheticAdc("counter")
    assert all(f.adc.tobytes() == adc.frame(f.index, F) for f in got[:3])
    # the half frame that did arrive is kept, flagged incomplete
    assert len(got) == 4 and not got[3].complete and got[3].lost_bytes == F // 2


def test_full_cycle_configure_record_stop_from_a_recorded_session(addrs, tmp_path):
    """Board emulator on a pty + DCA1000 emulator on UDP streaming a recorded session + the driver."""
    from rfpose.drivers.emulators.adc_frames import SourceAdc
    from rfpose.drivers.emulators.board import BoardEmulator
    from rfpose.drivers.open_source import open_source
    from rfpose.session import SessionWriter
    from rfpose.source import RadarFrame

    board_name = "iwr1443boost"  # 4-lane board: CONFIG_FPGA must say so
    from rfpose.boards import get_board

    cfg = get_board(board_name).default_config()
    words = cfg.derive(get_board(board_name)).frame_bytes // 2
    rng = np.random.default_rng(5)
    recorded = [rng.integers(-2000, 2000, words, dtype=np.int16) for _ in range(4)]
    with SessionWriter(tmp_path / "s.zarr", attrs={}) as w:
        w.add_radar_stream("radar", board=board_name, cfg_text=cfg.to_text())
        for i, a in enumerate(recorded):
            w.append("radar", RadarFrame(i, i, a))
    host, fpga = addrs
    dca = DCA1000Emulator(SourceAdc(open_source(f"session://{tmp_path}/s.zarr#radar")), fpga_ip=fpga, host_ip=host,
                          lvds_lanes=4)
    board = BoardEmulator(board_name, dca=dca)
    got = []
    try:
        with DCA1000Source(board_name, cfg, host_ip=host, fpga_ip=fpga, cli_port=board.path, packet_delay_us=5,
                           frame_timeout_s=1.0) as src:
            for f in src:  # the session has 4 frames: the stream ends, REC_COMPLETED, then a timeout
                got.append(f)
    except DeviceTimeout:
        pass
    else:
        pytest.fail("expected a timeout after the last frame")
    finally:
        assert not board.running and not dca.recording  # sensorStop and STOP_RECORD were sent on exit
        assert board.received[-1] == "sensorStop" and dca.commands[-1] == proto.Cmd.STOP_RECORD
        board.close()
        dca.close()
    assert dca.fpga_configured
    assert src.control.status_counts.get("LVDS_BUFFER_FULL", 0) == 0  # record started before sensorStart
    assert src.control.status_counts.get("REC_COMPLETED") == 1
    assert [f.index for f in got] == [0, 1, 2, 3]
    for f, a in zip(got, recorded):
        assert f.complete and np.array_equal(f.adc, a)


def test_emulated_dca1000_streams_the_simulator(addrs):
    """sim:// source -> DCA1000 emulator -> UDP -> driver: the simulator's wire words arrive unchanged."""
    from rfpose.drivers.emulators.adc_frames import SourceAdc
    from rfpose.drivers.emulators.board import BoardEmulator
    from rfpose.drivers.open_source import open_source

    uri = "sim://walk?board=awr1843boost&frames=1&camera=0&lidar=0&seed=3"
    host, fpga = addrs
    dca = DCA1000Emulator(SourceAdc(open_source(uri)), fpga_ip=fpga, host_ip=host)
    board = BoardEmulator("awr1843boost", dca=dca)
    got = []
    try:
        with DCA1000Source("awr1843boost", None, host_ip=host, fpga_ip=fpga, cli_port=board.path,
                           packet_delay_us=5, frame_timeout_s=5) as src:
            for f in src:
                got.append(f)
                break
    finally:
        board.close()
        dca.close()
    want = open_source(uri)[0]
    assert len(got) == 1 and got[0].complete and np.array_equal(got[0].adc, want.adc)


def _wait_until_the_kernel_stamps_datagrams(host: str, timeout_s: float = 20.0) -> None:
    """Linux turns receive stamps on for the whole host in a deferred work item after the first socket asks, which
    a busy host may run late; until then datagrams are stamped when read. Probe with a socket pair of our own."""
    rx, tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM), socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        rx.bind((host, 0))
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            tx.sendto(b"probe", rx.getsockname())
            sent = time.time_ns()
            time.sleep(0.1)
            rx.recv(16)
            sec, nsec = struct.unpack("qq", fcntl.ioctl(rx.fileno(), SIOCGSTAMPNS, bytes(16)))
            if sec * 1_000_000_000 + nsec - sent < 50_000_000:
                return
        pytest.fail(f"the kernel did not start stamping received datagrams within {timeout_s} s")
    finally:
        rx.close()
        tx.close()


def test_a_frame_is_stamped_when_the_kernel_received_it_not_when_it_was_read(addrs):
    """A host too busy to run the receiver thread on time must not stamp frames late: the frame's time is the
    kernel's receive time of its last datagram, here 0.4 s before the thread first reads the socket."""
    host, fpga = addrs
    frame_bytes = 2 * proto.MAX_PAYLOAD_BYTES
    rx = DCA1000Receiver(host, frame_bytes, fpga_ip=fpga)
    _wait_until_the_kernel_stamps_datagrams(host)
    board = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    board.bind((fpga, proto.FPGA_SOURCE_PORT))
    try:
        payload = bytes(range(256)) * (3 * frame_bytes // 256) + bytes(3 * frame_bytes % 256)  # 3 frames
        for seq, off in enumerate(range(0, 3 * frame_bytes, proto.MAX_PAYLOAD_BYTES), start=1):
            board.sendto(proto.pack_data_packet(seq, off, payload[off:off + proto.MAX_PAYLOAD_BYTES]),
                         (host, proto.DATA_PORT))
        sent = time.time_ns()
        time.sleep(0.4)
        read_from = time.time_ns()
        rx.start()
        frame = rx.get(timeout=5)
        rx.stop()
    finally:
        rx.close()
        board.close()
    assert frame is not None and frame.complete and bytes(frame.adc.view(np.uint8)) == payload[:frame_bytes]
    assert abs(frame.timestamp_ns - sent) < 50_000_000, (frame.timestamp_ns - sent) / 1e6
    assert frame.timestamp_ns < read_from - 300_000_000
