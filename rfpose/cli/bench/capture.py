"""DCA1000 emulator to driver over loopback UDP: sustained rate, loss and receiver CPU.

See :mod:`rfpose.app.benchmarking.capture`.
"""

from __future__ import annotations


def add_arguments(p) -> None:
    from rfpose.cli import args as a

    p.add_argument("--seconds", type=float, default=30.0, help="streaming time per row (default 30)")
    p.add_argument("--delays-us", type=a.comma_list(a.packet_delay_us), default="25,10,5", help="packet delays to test, comma separated (5-500 us)")
    p.add_argument("--no-unpaced", action="store_true", help="skip the row with the sender unpaced")
    p.add_argument("--frame-bytes", type=int, default=786432, help="bytes per radar frame (AWR1843 default cfg)")
    p.add_argument("--host-ip", default="127.0.9.1")
    p.add_argument("--fpga-ip", default="127.0.9.2")


def run(args) -> int:
    from rfpose.app.benchmarking import capture, emit

    rows, extra = capture.run(args.delays_us, args.seconds, args.frame_bytes, args.host_ip, args.fpga_ip,
                              unpaced=not args.no_unpaced)
    emit(rows, args.json, args.out, title=f"capture: emulated DCA1000 -> receiver over loopback, {args.seconds:g} s per row",
         extra=extra)
    if not args.json:
        print(f"highest zero-loss rate: {extra['max_zero_loss_mbps']} Mb/s")
    return 0
