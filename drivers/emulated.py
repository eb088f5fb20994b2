"""Emulated devices started in-process, linked as on a real rig: for a DCA1000 radar a DCA1000 emulator on
its FPGA address plus a board CLI emulator on a pty (``sensorStart`` starts the stream); for a demo-firmware
radar a board CLI emulator plus a UART emulator on a second pty. Used by ``emulate = true`` rigs
(:class:`EmulatedDevices`) and by the ``emu+dca1000://`` / ``emu+uart://`` sources of
:func:`~rfpose.drivers.open_source.open_source`.
"""

from __future__ import annotations

import logging

from rfpose.drivers.rig import EmulationConfig, RigConfig
from rfpose.errors import ConfigError

log = logging.getLogger(__name__)


def start_dca1000(board: str, host_ip: str, fpga_ip: str, e: EmulationConfig,
                  fpga_port: int = 1024) -> tuple[list, str]:
    """Start a DCA1000 emulator (sending from ``fpga_ip:fpga_port``) and its board's CLI emulator; returns
    (devices, CLI pty path)."""
    from rfpose.boards import get_board
    from rfpose.drivers.emulators.board import BoardEmulator
    from rfpose.drivers.emulators.dca1000 import DCA1000Emulator, Impairments

    dca = DCA1000Emulator(emulated_adc(e.adc, e.seed, preload=e.preload), fpga_ip=fpga_ip, host_ip=host_ip, source_port=fpga_port,
                          lvds_lanes=get_board(board).lvds_lanes,
                          impairments=Impairments(loss_rate=e.loss_rate, duplicate_rate=e.duplicate_rate,
                                                  reorder_rate=e.reorder_rate, corrupt_rate=e.corrupt_rate,
                                                  seed=e.seed))
    try:
        cli = BoardEmulator(board, dca=dca)
    except BaseException:
        dca.close()
        raise
    return [dca, cli], cli.path


def start_uart(board: str, cfg: str | None, e: EmulationConfig) -> tuple[list, str, str]:
    """Start a demo-firmware UART emulator and its board's CLI emulator; returns (devices, CLI pty, data pty).
    The stream runs at the frame period of ``cfg`` (default: the board's preset)."""
    from rfpose.boards import get_board
    from rfpose.drivers.dca1000_source import resolve_cfg
    from rfpose.drivers.emulators.board import BoardEmulator
    from rfpose.drivers.emulators.uart import UartEmulator

    b = get_board(board)
    period = resolve_cfg(cfg or None, b).derive(b).frame_period_s
    uart = UartEmulator(emulated_points(e.points, e.seed, e.targets, period), garbage_rate=e.garbage_rate,
                        corrupt_rate=e.corrupt_rate, seed=e.seed, autostart=False)
    try:
        cli = BoardEmulator(b, dca=uart)  # its sensorStart / sensorStop start and stop the UART stream
    except BaseException:
        uart.close()
        raise
    return [uart, cli], cli.path, uart.path


class EmulatedDevices:
    """The in-process emulators of an ``emulate = true`` rig: a DCA1000 + board CLI pair per DCA1000 radar,
    a UART + board CLI pair per demo-firmware point-cloud radar (``radar_points`` without ``uri``)."""

    def __init__(self, rig: RigConfig):
        self.devices: list = []
        self.cli_ports: dict[str, str] = {}
        self.data_ports: dict[str, str] = {}
        try:
            for s in rig.sensors:
                if s.kind == "radar_points" and not s.uri:
                    devices, self.cli_ports[s.name], self.data_ports[s.name] = start_uart(s.board, s.cfg, s.emulation)
                    self.devices += devices
                    log.info("emulating %s: board CLI on %s, demo-firmware data UART on %s", s.name,
                             self.cli_ports[s.name], self.data_ports[s.name])
                elif s.kind == "radar" and s.driver == "dca1000":
                    devices, self.cli_ports[s.name] = start_dca1000(s.board, s.host_ip, s.fpga_ip, s.emulation,
                                                                    s.fpga_port)
                    self.devices += devices
                    log.info("emulating %s: board CLI on %s, DCA1000 on %s", s.name, self.cli_ports[s.name],
                             s.fpga_ip)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        for d in reversed(self.devices):
            d.close()
        self.devices = []


def emulated_points(spec: str, seed: int = 0, targets: int = 3, frame_period_s: float = 0.1):
    """The point generator named by a radar_points sensor's ``emulation.points``: ``walking`` (``targets``
    targets circling in front of the radar) or ``sim://SCENARIO[?people=N]`` (joints of simulated people)."""
    from urllib.parse import parse_qs, urlsplit

    from rfpose.drivers.emulators.uart import simulated_points, walking_targets

    if spec == "walking":
        return walking_targets(targets, seed)
    if spec.startswith("sim://"):
        parts = urlsplit(spec)
        q = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        unknown = sorted(set(q) - {"people"})
        if unknown:
            raise ConfigError(f"emulation.points {spec!r}: unknown option(s) {', '.join(unknown)}; valid: people")
        try:
            people = int(q["people"]) if "people" in q else None
        except ValueError:
            raise ConfigError(f"emulation.points {spec!r}: people={q['people']!r} is not a whole number") from None
        return simulated_points((parts.netloc + parts.path).strip("/"), seed=seed, frame_period_s=frame_period_s,
                                people=people)
    raise ConfigError(f"emulation.points {spec!r} is unknown; valid: walking, sim://SCENARIO[?people=N]")


def emulated_adc(spec: str, seed: int = 0, preload: bool = False):
    """The ADC provider named by a rig's ``emulation.adc``; ``preload``: a source's frames are all produced
    now (a finite, seekable source: the simulator, a session), not while streaming."""
    from rfpose.drivers.emulators.adc_frames import AdcFile, SourceAdc, SyntheticAdc

    if spec in ("counter", "random"):
        return SyntheticAdc(spec, seed=seed)
    if "://" in spec:
        from rfpose.drivers.open_source import open_source

        return SourceAdc(open_source(spec), loop=True, preload=preload)
    return AdcFile(spec, loop=True)
