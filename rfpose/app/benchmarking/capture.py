"""DCA1000 emulator to driver over loopback UDP: sustained rate, loss and receiver CPU.

Each row streams for ``--seconds`` from an emulated DCA1000 running in its own process (so sender and
receiver do not share a GIL) to the real receiver (socket.recv_into + frame reassembly) in this process.
Paced rows use the FPGA's packet delay plus the gigabit wire time (5 us -> ~701 Mb/s, 25 us -> ~319 Mb/s);
the ``unpaced`` row sends as fast as Python can, which shows whether the sender or the receiver is the
limit. ``receiver_cpu_percent`` is the receiver thread's CPU time over the wall time.
"""

from __future__ import annotations

import multiprocessing as mp
import threading
import time

from rfpose.drivers import dca1000_protocol as proto



def _sender(fpga_ip: str, host_ip: str, frame_bytes: int, unpaced: bool, ready, stop, results) -> None:
    from rfpose.drivers.emulators.adc_frames import SyntheticAdc
    from rfpose.drivers.emulators.dca1000 import DCA1000Emulator

    class Prebuilt:  # a few frames made once and cycled: the sender only sends
        def __init__(self):
            self.pool = [SyntheticAdc("random", seed=1).frame(k, frame_bytes) for k in range(4)]

        def frames(self, _frame_bytes):
            k = 0
            while True:
                yield self.pool[k % 4]
                k += 1

    # frame period 0: the radar never limits; the link pacing (or nothing, when unpaced) does.
    emu = DCA1000Emulator(Prebuilt(), fpga_ip=fpga_ip, host_ip=host_ip, frame_bytes=frame_bytes,
                          frame_period_s=0.0, standalone=True, unpaced=unpaced)
    ready.set()
    stop.wait()
    started, ended = emu.stream_started_at, emu.stream_ended_at
    cpu = time.process_time()
    emu.close()
    ended = emu.stream_ended_at or time.monotonic()
    results.put({"packets_sent": emu.packets_sent, "bytes_sent": emu.bytes_sent,
                 "stream_s": (ended - started) if started else 0.0, "sender_cpu_s": cpu})


def measure(delay_us: float | None, seconds: float, frame_bytes: int, host_ip: str, fpga_ip: str) -> dict:
    """One row: stream for ``seconds`` at ``delay_us`` (None = unpaced) and measure the receiver."""
    from rfpose.drivers.dca1000_control import DCA1000Control
    from rfpose.drivers.dca1000_receiver import DCA1000Receiver

    ctx = mp.get_context("spawn")
    ready, stop, results = ctx.Event(), ctx.Event(), ctx.Queue()
    proc = ctx.Process(target=_sender, args=(fpga_ip, host_ip, frame_bytes, delay_us is None, ready, stop, results),
                       daemon=True)
    proc.start()
    try:
        if not ready.wait(60):
            raise RuntimeError("the emulator process did not start")
        with DCA1000Control(host_ip, fpga_ip, timeout_s=1.0) as ctl:
            rx = DCA1000Receiver(host_ip, frame_bytes, fpga_ip=fpga_ip, queue_frames=8)
            done = threading.Event()

            def consume() -> None:  # a consumer that keeps up: frames are taken and released
                while not done.is_set() or not rx.frames.empty():
                    rx.get(timeout=0.05)

            consumer = threading.Thread(target=consume, daemon=True)
            consumer.start()
            try:
                ctl.setup(2, delay_us if delay_us is not None else proto.MIN_PACKET_DELAY_US)
                rx.start()
                ctl.start_record()
                time.sleep(seconds)
                ctl.stop_record()
                time.sleep(0.2)
                rx.stop(flush=True, include_partial=False)
            finally:
                done.set()
                consumer.join()
                rx.close()
        stop.set()
        sent = results.get(timeout=30)
    finally:
        stop.set()
        proc.join(10)
        if proc.is_alive():
            proc.kill()
    st = rx.stats
    wall = sent["stream_s"] or seconds
    dgram = proto.DATA_HEADER_BYTES
    unique = st.packets - st.duplicates - st.malformed
    received_bits = (st.bytes + dgram * unique) * 8
    sent_bits = (sent["bytes_sent"] + dgram * sent["packets_sent"]) * 8
    offered = (proto.MAX_DATAGRAM_BYTES * 8 / (delay_us * 1e-6 + proto.MAX_DATAGRAM_BYTES * 8 / 1e9) / 1e6
               if delay_us is not None else sent_bits / wall / 1e6)
    return {
        "packet_delay_us": delay_us if delay_us is not None else "unpaced",
        "offered_mbps": round(offered, 1),
        "sender_mbps": round(sent_bits / wall / 1e6, 1),
        "received_mbps": round(received_bits / wall / 1e6, 1),
        "seconds": round(wall, 2),
        "packets_sent": sent["packets_sent"],
        "lost_packets": max(0, sent["packets_sent"] - unique),
        "frames": st.frames_emitted,
        "incomplete_frames": st.frames_incomplete,
        "dropped_frames": rx.dropped_frames,
        "receiver_cpu_percent": round(100 * rx.thread_cpu_s / max(rx.stopped_at - rx.started_at, 1e-9), 1),
        "sender_cpu_percent": round(100 * sent["sender_cpu_s"] / wall, 1),
        "rcvbuf_granted_bytes": rx.rcvbuf_granted,
    }


def run(delays_us: list[float], seconds: float, frame_bytes: int, host_ip: str, fpga_ip: str,
        unpaced: bool = True) -> tuple[list[dict], dict]:
    """One row per packet delay (µs, each within the DCA1000's 5–500: ``rfpose.cli.args.packet_delay_us``;
    and one unpaced row), plus the summary (highest zero-loss rate)."""
    rows = [measure(d, seconds, frame_bytes, host_ip, fpga_ip) for d in delays_us]
    if unpaced:
        rows.append(measure(None, seconds, frame_bytes, host_ip, fpga_ip))
    clean = [r["received_mbps"] for r in rows if r["lost_packets"] == 0]
    extra = {"max_zero_loss_mbps": max(clean) if clean else 0.0,
             "note": "offered_mbps is the DCA1000 link model (delay + gigabit wire time) for paced rows and the "
                     "sender's achieved rate for the unpaced row"}
    return rows, extra
