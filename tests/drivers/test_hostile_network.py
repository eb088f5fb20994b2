"""Hostile and stray datagrams during a real capture (issue 20): a DCA1000 receiver takes data only from
the FPGA's address and source port, and no single packet moves the stream. Real UDP on loopback, the
real `rfpose record` against the emulators, no mocks."""

import json
import random
import socket
import threading

import numpy as np
import pytest

from rfpose.cli import main
from rfpose.drivers import dca1000_protocol as proto
from rfpose.drivers.emulators.adc_frames import SyntheticAdc
from rfpose.drivers.emulators.dca1000 import DCA1000Emulator

pytestmark = pytest.mark.timeout(120)
F = 786_432  # the AWR1843BOOST preset's frame


def test_emulator_answers_and_streams_from_the_hardware_port(addrs):
    """Like a real DCA1000 (../shared/data/real): replies and data leave from the FPGA's port 1024."""
    host, fpga = addrs
    with DCA1000Emulator(SyntheticAdc(), fpga_ip=fpga, host_ip=host, standalone=True, frame_bytes=4 * 1456,
                         frame_period_s=0.01, num_frames=1) as emu:
        ctl = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        ctl.bind((host, 4096))
        data = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        data.bind((host, 4098))
        ctl.settimeout(20)  # returns as soon as the reply is there
        data.settimeout(20)
        try:
            ctl.sendto(proto.pack_request(proto.Cmd.START_RECORD), (fpga, 4096))
            reply, addr = ctl.recvfrom(64)
            assert proto.parse_response(reply) == proto.Response(proto.Cmd.START_RECORD, 0) and addr == (fpga, 1024)
            pkt, addr = data.recvfrom(2048)
            assert addr == (fpga, 1024) and proto.unpack_data_header(pkt) == (1, 0)
            emu.wait_streamed(20)
        finally:
            ctl.close()
            data.close()


def _hostile_sender(host, fpga, stop, sent):
    """Forged data packets, forged replies and status, random bytes: from other addresses on 127/8 and
    from other ports of the FPGA's own address, to the host's data and config ports."""
    rng = random.Random(7)
    socks = []
    prefix = fpga.rsplit(".", 1)[0]
    for ip, port in [(f"{prefix}.3", 1024), (f"{prefix}.4", 4098), ("127.0.0.5", 0), (fpga, 4098), (fpga, 5555)]:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((ip, port))
        socks.append(s)
    payloads = [
        lambda: proto.pack_data_packet(0xFFFFFFFF, rng.randrange(1 << 26), bytes(1456)),      # the attack
        lambda: proto.pack_data_packet(rng.randrange(1, 2000), rng.randrange(1000) * 1456, rng.randbytes(1456)),
        lambda: rng.randbytes(rng.randrange(0, 1500)),
        lambda: proto.pack_response(proto.Cmd.ASYNC_STATUS, proto.AsyncStatus.REC_COMPLETED),
        lambda: proto.pack_response(proto.Cmd.STOP_RECORD, 1),
    ]
    try:
        while not stop.wait(0.001):
            s = rng.choice(socks)
            port = rng.choice((4098, 4098, 4096))
            try:
                s.sendto(rng.choice(payloads)(), (host, port))
                sent[port] += 1
            except OSError:
                pass  # nobody bound yet (ICMP unreachable from an earlier send)
    finally:
        for s in socks:
            s.close()


def test_record_completes_byte_exact_under_forged_and_random_datagrams(tmp_path, addrs, capsys, emulated_rig):
    from rfpose.session import SessionReader

    host, fpga = addrs
    rig = emulated_rig("seed = 2")
    stop, sent = threading.Event(), {4096: 0, 4098: 0}
    t = threading.Thread(target=_hostile_sender, args=(host, fpga, stop, sent), daemon=True)
    t.start()
    out = tmp_path / "s.zarr"
    try:
        code = main(["record", "--rig", str(rig), "--out", str(out), "--duration", "1.5", "--json"])
    finally:
        stop.set()
        t.join()
    assert code == 0
    summary = json.loads(capsys.readouterr().out)["radar"]
    assert sent[4098] > 100 and sent[4096] > 50
    assert summary["foreign_packets"] > 100  # counted, not taken
    assert summary["malformed_packets"] == 0 and summary["lost_bytes"] == 0 and summary["incomplete"] == 0
    assert summary["status"].get("REC_COMPLETED", 0) == 0  # forged status packets were not believed
    s = SessionReader(out).stream("radar")
    assert len(s) == summary["frames"] >= 8
    adc = SyntheticAdc("counter", seed=2)
    for i in range(len(s)):
        f = s[i]
        assert f.index == i and f.complete
        assert np.array_equal(f.adc, np.frombuffer(adc.frame(f.index, F), np.int16)), f"frame {i} differs"
