"""Capture raw ADC frames from a DCA1000EVM into adc_data.bin (headerless int16, frames contiguous, lost
spans zero-filled) plus adc_data.json (per-frame completeness, lost bytes, timestamps, cfg, board).

  rfpose capture-adc --cfg FILE.cfg --board NAME --frames N --out adc_data.bin
                     [--host-ip 192.168.33.30] [--fpga-ip 192.168.33.180] [--cli-port PORT|auto]

Without --cli-port the radar must be started by someone else (e.g. mmWave Studio). --emulate runs the
board and DCA1000 emulators in-process on --host-ip/--fpga-ip (defaults 127.0.0.1/127.0.0.2 then).
"""

from __future__ import annotations

import sys


def add_arguments(p) -> None:
    p.add_argument("--cfg", help="radar .cfg (default: the board's shipped preset)")
    p.add_argument("--board", required=True)
    p.add_argument("--host-ip")
    p.add_argument("--fpga-ip")
    p.add_argument("--cli-port", help="radar CLI serial port, or 'auto' to detect an XDS110/CP2105 board")
    p.add_argument("--frames", type=int, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--packet-delay-us", type=float, default=25.0)
    p.add_argument("--timeout", type=float, help="seconds without data before giving up (default 5 frame periods, >= 2 s)")
    p.add_argument("--emulate", action="store_true", help="capture from in-process emulators (no hardware)")


def run(args) -> int:
    import time

    from tqdm import tqdm

    from rfpose.boards import get_board
    from rfpose.drivers.adc_file import AdcFileWriter
    from rfpose.drivers.dca1000_source import DCA1000Source, resolve_cfg
    from rfpose.errors import ConfigError, RfposeError

    if args.frames < 1:
        raise ConfigError("--frames must be at least 1")
    board = get_board(args.board)
    cfg = resolve_cfg(args.cfg, board)
    host_ip = args.host_ip or ("127.0.0.1" if args.emulate else "192.168.33.30")
    fpga_ip = args.fpga_ip or ("127.0.0.2" if args.emulate else "192.168.33.180")
    cli_port = args.cli_port
    devices = []
    try:
        if args.emulate:
            from rfpose.drivers.emulators.adc_frames import SyntheticAdc
            from rfpose.drivers.emulators.board import BoardEmulator
            from rfpose.drivers.emulators.dca1000 import DCA1000Emulator

            dca = DCA1000Emulator(SyntheticAdc("counter"), fpga_ip=fpga_ip, host_ip=host_ip,
                                  lvds_lanes=board.lvds_lanes)
            devices.append(dca)
            be = BoardEmulator(board, dca=dca)
            devices.append(be)
            cli_port = be.path
        src = DCA1000Source(board, cfg, host_ip=host_ip, fpga_ip=fpga_ip, cli_port=cli_port,
                            packet_delay_us=args.packet_delay_us, frame_timeout_s=args.timeout)
        params = src.params
        writer = AdcFileWriter(args.out, frame_bytes=params.frame_bytes, board=board.name, cfg_text=cfg.to_text(),
                               extra={"host_ip": host_ip, "fpga_ip": fpga_ip, "cli_port": cli_port,
                                      "packet_delay_us": args.packet_delay_us,
                                      "frame_shape": list(params.frame_shape), "started_unix_ns": time.time_ns()})
        error: RfposeError | None = None
        with src, tqdm(total=args.frames, unit="frame", disable=not sys.stderr.isatty()) as bar:
            try:
                for frame in src:
                    writer.write(frame)
                    bar.update(1)
                    if len(writer.meta["frames"]["index"]) >= args.frames:
                        break
            except RfposeError as e:
                error = e  # keep every frame captured so far
            src.stop()
            meta = writer.close(stats=src.stats, fpga_version=src.metadata.get("fpga_version"),
                                rcvbuf_granted_bytes=src.metadata.get("rcvbuf_granted_bytes"),
                                error=str(error) if error else None)
        n = meta["num_frames"]
        print(f"{n} frames ({meta['incomplete_frames']} incomplete, {meta['lost_bytes']} bytes lost) -> {args.out}")
        if error is not None:
            raise error
        return 0
    finally:
        for d in reversed(devices):
            d.close()
