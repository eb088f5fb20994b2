"""Run a device emulator so the real drivers can be pointed at it (no hardware needed).

  rfpose emulate board --board awr1843boost [--dca1000 --fpga-ip 127.0.0.2 --host-ip 127.0.0.1]
      a mmWave board's CLI on a pty (prints the port); with --dca1000 also the capture card, started
      and stopped by the board's sensorStart / sensorStop like the real pair
  rfpose emulate dca1000 --board awr1843boost [--cfg FILE] [--adc counter|random|FILE.bin|URI]
      a standalone DCA1000 on loopback UDP; START_RECORD starts the stream at the cfg's frame rate
  rfpose emulate uart [--period-s 0.1]
      the demo firmware's point-cloud stream on a pty

Impairments (--loss-rate, --drop-seqs, --duplicate-rate, --reorder-rate, --corrupt-rate, --seed) apply
to the DCA1000 data packets; --garbage-rate and --corrupt-rate to the UART stream.
"""

from __future__ import annotations

import signal
import threading


def add_arguments(p) -> None:
    sub = p.add_subparsers(dest="device", metavar="DEVICE")
    sub.required = True
    b = sub.add_parser("board", help="a mmWave board's CLI on a pty (optionally with a DCA1000)")
    b.add_argument("--board", default="awr1843boost")
    b.add_argument("--dca1000", action="store_true", help="also emulate the DCA1000, linked to sensorStart")
    _dca_args(b)
    d = sub.add_parser("dca1000", help="a standalone DCA1000 on loopback UDP")
    d.add_argument("--board", default="awr1843boost")
    d.add_argument("--cfg", help="radar .cfg giving the frame size and rate (default: the board's)")
    _dca_args(d)
    u = sub.add_parser("uart", help="demo-firmware point clouds on a pty")
    u.add_argument("--period-s", type=float, default=0.1)
    u.add_argument("--targets", type=int, default=3)
    u.add_argument("--garbage-rate", type=float, default=0.0)
    u.add_argument("--corrupt-rate", type=float, default=0.0)
    u.add_argument("--seed", type=int, default=0)
    for q in (b, d, u):
        q.add_argument("--duration", type=float, help="exit after this many seconds (default: until Ctrl-C)")


def _dca_args(p) -> None:
    p.add_argument("--fpga-ip", default="127.0.0.2")
    p.add_argument("--host-ip", default="127.0.0.1")
    p.add_argument("--adc", default="counter", help="counter, random, an adc_data.bin path or a source URI")
    p.add_argument("--loss-rate", type=float, default=0.0)
    p.add_argument("--drop-seqs", default="", help="comma-separated data packet seqs to drop, e.g. 540,541")
    p.add_argument("--duplicate-rate", type=float, default=0.0)
    p.add_argument("--reorder-rate", type=float, default=0.0)
    p.add_argument("--corrupt-rate", type=float, default=0.0)
    p.add_argument("--seed", type=int, default=0)


def _impairments(args):
    from rfpose.drivers.emulators.dca1000 import Impairments
    from rfpose.errors import ConfigError

    try:
        drops = frozenset(int(s) for s in args.drop_seqs.split(",") if s.strip())
    except ValueError:
        raise ConfigError(f"--drop-seqs {args.drop_seqs!r} must be comma-separated integers") from None
    return Impairments(loss_rate=args.loss_rate, drop_seqs=drops, duplicate_rate=args.duplicate_rate,
                       reorder_rate=args.reorder_rate, corrupt_rate=args.corrupt_rate, seed=args.seed)


def _wait(duration: float | None) -> None:
    done = threading.Event()
    old = {s: signal.signal(s, lambda *_: done.set()) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        done.wait(duration)
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def run(args) -> int:
    from rfpose.boards import get_board
    from rfpose.drivers.emulated import emulated_adc

    devices = []
    try:
        if args.device == "uart":
            from rfpose.drivers.emulators.uart import UartEmulator, walking_targets

            u = UartEmulator(walking_targets(args.targets, args.seed), frame_period_s=args.period_s,
                             garbage_rate=args.garbage_rate, corrupt_rate=args.corrupt_rate, seed=args.seed)
            devices.append(u)
            print(f"demo-firmware UART on {u.path}  (e.g. rfpose ... uart://{u.path})", flush=True)
        else:
            from rfpose.drivers.emulators.dca1000 import DCA1000Emulator

            board = get_board(args.board)
            dca = None
            if args.device == "dca1000" or args.dca1000:
                kw = {}
                if args.device == "dca1000":
                    from rfpose.drivers.dca1000_source import resolve_cfg

                    params = resolve_cfg(args.cfg, board).derive(board)
                    kw = dict(frame_bytes=params.frame_bytes, frame_period_s=params.frame_period_s,
                              num_frames=params.num_frames or None, standalone=True)
                dca = DCA1000Emulator(emulated_adc(args.adc, args.seed), fpga_ip=args.fpga_ip, host_ip=args.host_ip,
                                      lvds_lanes=board.lvds_lanes, impairments=_impairments(args), **kw)
                devices.append(dca)
                print(f"DCA1000 on {args.fpga_ip}:4096 (data to {args.host_ip}:4098)", flush=True)
            if args.device == "board":
                from rfpose.drivers.emulators.board import BoardEmulator

                be = BoardEmulator(board, dca=dca)
                devices.append(be)
                print(f"{board.name} CLI on {be.path}", flush=True)
        _wait(args.duration)
    finally:
        for d in reversed(devices):
            d.close()
    return 0
