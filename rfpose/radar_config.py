"""TI mmWave SDK CLI ``.cfg`` files as typed dataclasses: parse, write back, validate, derive.

A ``.cfg`` is a list of CLI lines. :func:`parse_cfg` turns it into a :class:`RadarConfig` whose
``entries`` keep every line in order: typed commands for the chirp/frame/channel/LVDS commands,
:class:`RawCommand` for the demo's algorithm commands (kept verbatim), :class:`Comment` and
:class:`Blank`. ``RadarConfig.to_text()`` writes a file that parses back to an equal object.

:meth:`RadarConfig.derive` gives :class:`RadarParams`, the physical quantities (units in the names).
:func:`validate_cfg` checks consistency (and, given a board, device limits); every error is a
:class:`~rfpose.errors.ConfigError` citing ``file:line``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Protocol, Union

from rfpose.errors import ConfigError


class Board(Protocol):
    """What configuration checks need from a board (:class:`rfpose.boards.Board` has it; rfpose.boards
    imports this module, so it is not imported here)."""

    name: str
    num_tx: int
    num_rx: int
    lvds_lanes: int
    capture: str
    band_ghz: tuple[float, float]
    max_sample_rate_ksps: float
    frame_memory_bytes: int | None


SPEED_OF_LIGHT_M_S = 299_792_458.0


# --------------------------------------------------------------------------------------------
# Commands
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    """Base of the typed CLI commands. Fields are the CLI arguments in order."""

    NAME: ClassVar[str] = ""
    #: number of trailing fields that may be omitted (older SDKs / variants)
    OPTIONAL_TAIL: ClassVar[int] = 0
    line: int = field(default=0, compare=False, repr=False, kw_only=True)

    @classmethod
    def arg_fields(cls) -> list[dataclasses.Field]:
        return [f for f in dataclasses.fields(cls) if f.name != "line"]

    @classmethod
    def from_args(cls, args: list[str], path: str, line: int) -> "Command":
        fields = cls.arg_fields()
        n_max, n_min = len(fields), len(fields) - cls.OPTIONAL_TAIL
        if not n_min <= len(args) <= n_max:
            want = str(n_max) if n_min == n_max else f"{n_min} to {n_max}"
            raise ConfigError(f"{cls.NAME} takes {want} arguments, got {len(args)}", path, line)
        values = {}
        for f, token in zip(fields, args):
            values[f.name] = _convert(token, f.type, cls.NAME, f.name, path, line)
        for f in fields[len(args):]:
            values[f.name] = None
        return cls(**values, line=line)

    def args(self) -> list[str]:
        out = []
        for f in self.arg_fields():
            v = getattr(self, f.name)
            if v is None:
                break
            out.append(_format(v))
        return out

    def to_line(self) -> str:
        return " ".join([self.NAME, *self.args()])


def _convert(token: str, type_name, cmd: str, name: str, path: str, line: int):
    type_name = type_name if isinstance(type_name, str) else type_name.__name__
    try:
        if type_name.startswith("int"):
            return int(token, 0)
        if type_name.startswith("float"):
            value = float(token)
            if not math.isfinite(value):
                raise ValueError(token)
            return value
    except ValueError:
        kind = "an integer" if type_name.startswith("int") else "a number"
        raise ConfigError(f"{cmd} argument {name!r} must be {kind}, got {token!r}", path, line) from None
    return token


def _format(v) -> str:
    if isinstance(v, float):
        text = repr(v)
        return text[:-2] if text.endswith(".0") else text
    return str(v)


@dataclass(frozen=True)
class SensorStop(Command):
    NAME: ClassVar[str] = "sensorStop"


@dataclass(frozen=True)
class FlushCfg(Command):
    NAME: ClassVar[str] = "flushCfg"


@dataclass(frozen=True)
class SensorStart(Command):
    """``sensorStart [reconfig]``; the L-SDK form ``sensorStart 0 0 0 0`` is accepted too."""

    NAME: ClassVar[str] = "sensorStart"
    OPTIONAL_TAIL: ClassVar[int] = 4
    arg0: int | None = None
    arg1: int | None = None
    arg2: int | None = None
    arg3: int | None = None


@dataclass(frozen=True)
class DfeDataOutputMode(Command):
    """1 = frame based chirps, 2 = continuous wave, 3 = advanced frame."""

    NAME: ClassVar[str] = "dfeDataOutputMode"
    mode: int


@dataclass(frozen=True)
class ChannelCfg(Command):
    """``channelCfg rxChannelEn txChannelEn cascading [cascadingPinoutCfg powerCfg]`` (bit masks)."""

    NAME: ClassVar[str] = "channelCfg"
    OPTIONAL_TAIL: ClassVar[int] = 2
    rx_mask: int
    tx_mask: int
    cascading: int
    cascading_pinout: int | None = None
    power_cfg: int | None = None


@dataclass(frozen=True)
class AdcCfg(Command):
    """``adcCfg numADCBits adcOutputFmt``: bits 0/1/2 = 12/14/16; fmt 0 real, 1 complex 1x, 2 complex 2x."""

    NAME: ClassVar[str] = "adcCfg"
    num_adc_bits: int
    adc_output_fmt: int


@dataclass(frozen=True)
class AdcbufCfg(Command):
    """``adcbufCfg subFrameIdx adcOutputFmt sampleSwap chanInterleave chirpThreshold``; SDK 1.x (xWR14xx)
    has no ``subFrameIdx`` (four arguments, kept as ``sub_frame_idx=None`` and written back that way).

    adcOutputFmt 0 complex, 1 real; sampleSwap 1 puts Q before I in each word pair; chanInterleave
    0 interleaves the RX channels (xWR14xx, 4 lanes), 1 blocks them (2-lane devices).
    """

    NAME: ClassVar[str] = "adcbufCfg"
    sub_frame_idx: int | None
    adc_output_fmt: int
    sample_swap: int
    chan_interleave: int
    chirp_threshold: int

    @classmethod
    def from_args(cls, args: list[str], path: str, line: int) -> "AdcbufCfg":
        # SDK 1.x (xWR14xx) has no subFrameIdx: ``adcbufCfg adcOutputFmt sampleSwap chanInterleave chirpThreshold``.
        if len(args) == 4:
            return dataclasses.replace(super().from_args(["-1", *args], path, line), sub_frame_idx=None)
        return super().from_args(args, path, line)

    def args(self) -> list[str]:
        values = [self.sub_frame_idx, self.adc_output_fmt, self.sample_swap, self.chan_interleave,
                  self.chirp_threshold]
        return [_format(v) for v in values if v is not None]


@dataclass(frozen=True)
class ProfileCfg(Command):
    """``profileCfg`` with all 14 parameters, in the SDK's units."""

    NAME: ClassVar[str] = "profileCfg"
    profile_id: int
    start_freq_ghz: float
    idle_time_us: float
    adc_start_time_us: float
    ramp_end_time_us: float
    tx_out_power: int
    tx_phase_shifter: int
    freq_slope_mhz_per_us: float
    tx_start_time_us: float
    num_adc_samples: int
    dig_out_sample_rate_ksps: float
    hpf1_corner: int
    hpf2_corner: int
    rx_gain_db: int

    @property
    def chirp_time_s(self) -> float:
        return (self.idle_time_us + self.ramp_end_time_us) * 1e-6


@dataclass(frozen=True)
class ChirpCfg(Command):
    NAME: ClassVar[str] = "chirpCfg"
    start_idx: int
    end_idx: int
    profile_id: int
    start_freq_var: float
    freq_slope_var: float
    idle_time_var: float
    adc_start_time_var: float
    tx_mask: int


@dataclass(frozen=True)
class FrameCfg(Command):
    """``frameCfg chirpStart chirpEnd numLoops numFrames framePeriodicity_ms triggerSelect frameTriggerDelay_ms``."""

    NAME: ClassVar[str] = "frameCfg"
    chirp_start_idx: int
    chirp_end_idx: int
    num_loops: int
    num_frames: int
    frame_period_ms: float
    trigger_select: int
    trigger_delay_ms: float


@dataclass(frozen=True)
class LowPower(Command):
    NAME: ClassVar[str] = "lowPower"
    arg0: int
    adc_mode: int


@dataclass(frozen=True)
class LvdsStreamCfg(Command):
    """``lvdsStreamCfg subFrameIdx enableHeader dataFmt enableSW``; dataFmt 1 = ADC samples."""

    NAME: ClassVar[str] = "lvdsStreamCfg"
    sub_frame_idx: int
    enable_header: int
    data_fmt: int
    enable_sw: int


TYPED_COMMANDS: dict[str, type[Command]] = {
    c.NAME: c
    for c in (SensorStop, FlushCfg, SensorStart, DfeDataOutputMode, ChannelCfg, AdcCfg, AdcbufCfg,
              ProfileCfg, ChirpCfg, FrameCfg, LowPower, LvdsStreamCfg)
}

#: Commands of the SDK demos that rfpose keeps verbatim (algorithm, monitoring, tracker settings).
VERBATIM_COMMANDS = frozenset({
    "guiMonitor", "cfarCfg", "multiObjBeamForming", "calibDcRangeSig", "clutterRemoval", "aoaFovCfg",
    "cfarFovCfg", "compRangeBiasAndRxChanPhase", "measureRangeBiasAndRxChanPhase", "extendedMaxVelocity",
    "CQRxSatMonitor", "CQSigImgMonitor", "analogMonitor", "bpmCfg", "calibData", "advFrameCfg",
    "subFrameCfg", "configDataPort", "queryDemoStatus", "antGeometry0", "antGeometry1", "antPhaseRot",
    "fovCfg", "sensorPosition", "staticBoundaryBox", "boundaryBox", "presenceBoundaryBox", "gatingParam",
    "stateParam", "allocationParam", "maxAcceleration", "trackingCfg", "idlePowerCycle", "adcDataSource",
    "dynamicRACfarCfg", "staticRACfarCfg", "dynamicRangeAngleCfg", "dynamic2DAngleCfg", "staticRangeAngleCfg",
    "mpdBoundaryBox", "clusterCfg", "runningMode", "chirpQualityRxSatMonCfg", "monCalibReportCfg",
    "factoryCalibCfg", "adcLogging", "channelCfgPeriodic", "lowPowerCfg", "rangeSelCfg",
    # SDK 1.x / 2.x demos (xWR14xx, xWR16xx)
    "peakGrouping", "nearFieldCfg",
})


@dataclass(frozen=True)
class RawCommand:
    """A known demo command kept verbatim: its name and argument tokens."""

    name: str
    args: tuple[str, ...] = ()
    line: int = field(default=0, compare=False, repr=False, kw_only=True)

    def to_line(self) -> str:
        return " ".join([self.name, *self.args])


@dataclass(frozen=True)
class Comment:
    """A ``%`` comment line, text without the ``%``."""

    text: str
    line: int = field(default=0, compare=False, repr=False, kw_only=True)

    def to_line(self) -> str:
        return "%" + self.text


@dataclass(frozen=True)
class Blank:
    line: int = field(default=0, compare=False, repr=False, kw_only=True)

    def to_line(self) -> str:
        return ""


Entry = Union[Command, RawCommand, Comment, Blank]


# --------------------------------------------------------------------------------------------
# The configuration
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AdcLayout:
    """How one frame of ADC samples is laid out on the DCA1000 byte stream (int16 words).

    ``complex``: I and Q per sample (else real). ``q_first``: with sampleSwap=1 each word group
    carries Q before I. ``lanes``: LVDS lanes, 2 (RX-blocked per chirp, words ``I0 I1 Q0 Q1``) or 4
    (xWR14xx, RX-interleaved per sample, words ``I_rx0..3 Q_rx0..3``).
    """

    complex: bool
    q_first: bool
    lanes: int

    @property
    def interleaved(self) -> bool:
        return self.lanes == 4

    @property
    def bytes_per_sample(self) -> int:
        return 4 if self.complex else 2


@dataclass(frozen=True)
class RadarParams:
    """Physical quantities derived from a configuration. SI units, named in the field."""

    num_tx: int
    num_rx: int
    tx_order: tuple[int, ...]
    rx_channels: tuple[int, ...]
    num_adc_samples: int
    num_loops: int
    chirps_per_frame: int
    num_frames: int
    frame_period_s: float
    start_frequency_hz: float
    center_frequency_hz: float
    slope_hz_per_s: float
    sample_rate_hz: float
    idle_time_s: float
    adc_start_time_s: float
    ramp_end_time_s: float
    chirp_time_s: float
    bandwidth_hz: float
    range_resolution_m: float
    max_range_m: float
    wavelength_m: float
    velocity_resolution_mps: float
    max_velocity_mps: float
    active_chirping_s: float
    frame_bytes: int
    data_rate_mbps: float
    complex_sampling: bool
    layout: AdcLayout

    @property
    def frame_shape(self) -> tuple[int, int, int, int]:
        """The raw ADC frame axis order ``(loop, tx, rx, sample)``."""
        return (self.num_loops, self.num_tx, self.num_rx, self.num_adc_samples)

    @property
    def center_wavelength_m(self) -> float:
        """Wavelength at the centre of the sampled band: the true Doppler and angle scale."""
        return SPEED_OF_LIGHT_M_S / self.center_frequency_hz

    def summary(self) -> dict:
        """A flat JSON-ready dict (what ``rfpose cfg show --json`` prints)."""
        d = dataclasses.asdict(self)
        d["tx_order"] = list(self.tx_order)
        d["rx_channels"] = list(self.rx_channels)
        d["layout"] = {**dataclasses.asdict(self.layout), "interleaved": self.layout.interleaved}
        return d


@dataclass(frozen=True)
class RadarConfig:
    """A parsed ``.cfg``: every line in order plus typed accessors.

    ``path`` is where it came from (for error messages); it does not take part in equality.
    """

    entries: tuple[Entry, ...]
    path: str = field(default="<string>", compare=False)

    # -- accessors --------------------------------------------------------------------------
    def commands(self, kind: type[Command]) -> list:
        return [e for e in self.entries if isinstance(e, kind)]

    def _one(self, kind: type[Command], required: bool = True):
        found = self.commands(kind)
        if not found:
            if required:
                raise ConfigError(f"missing {kind.NAME}", self.path)
            return None
        if len(found) > 1:
            raise ConfigError(f"{kind.NAME} given more than once (also at line {found[0].line})",
                              self.path, found[1].line)
        return found[0]

    @property
    def channel(self) -> ChannelCfg:
        return self._one(ChannelCfg)

    @property
    def adc(self) -> AdcCfg | None:
        return self._one(AdcCfg, required=False)

    @property
    def adcbuf(self) -> AdcbufCfg | None:
        return self._one(AdcbufCfg, required=False)

    @property
    def frame(self) -> FrameCfg:
        return self._one(FrameCfg)

    @property
    def lvds(self) -> LvdsStreamCfg | None:
        return self._one(LvdsStreamCfg, required=False)

    @property
    def profiles(self) -> list[ProfileCfg]:
        return self.commands(ProfileCfg)

    @property
    def chirps(self) -> list[ChirpCfg]:
        return self.commands(ChirpCfg)

    def raw(self, name: str) -> list[RawCommand]:
        return [e for e in self.entries if isinstance(e, RawCommand) and e.name == name]

    # -- writing ----------------------------------------------------------------------------
    def to_text(self) -> str:
        return "\n".join(e.to_line() for e in self.entries) + "\n"

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_text())

    def cli_lines(self) -> list[str]:
        """The lines a host sends to the board: commands only, no comments or blanks."""
        return [e.to_line() for e in self.entries if isinstance(e, (Command, RawCommand))]

    def replace_command(self, old: Entry, new: Entry) -> "RadarConfig":
        """A copy with one entry swapped (used by tools that edit a preset)."""
        entries = tuple(new if e is old else e for e in self.entries)
        return RadarConfig(entries, self.path)

    # -- derived ----------------------------------------------------------------------------
    def chirp_for_index(self, idx: int) -> ChirpCfg:
        for c in self.chirps:
            if c.start_idx <= idx <= c.end_idx:
                return c
        raise ConfigError(f"frameCfg uses chirp {idx}, which no chirpCfg defines", self.path, self.frame.line)

    def profile_by_id(self, profile_id: int, line: int = 0) -> ProfileCfg:
        for p in self.profiles:
            if p.profile_id == profile_id:
                return p
        raise ConfigError(f"chirpCfg uses profile {profile_id}, which no profileCfg defines", self.path, line or None)

    def derive(self, board: Board | None = None) -> RadarParams:
        """Derive the physical parameters. With ``board``, the LVDS lane count comes from the board."""
        frame, channel = self.frame, self.channel
        if frame.chirp_start_idx > frame.chirp_end_idx:
            raise ConfigError("frameCfg chirpStart is after chirpEnd", self.path, frame.line)
        chirps = [self.chirp_for_index(i) for i in range(frame.chirp_start_idx, frame.chirp_end_idx + 1)]
        profile = self.profile_by_id(chirps[0].profile_id, chirps[0].line)
        for c in chirps[1:]:
            if c.profile_id != profile.profile_id:
                raise ConfigError("chirps of one frame use different profiles; rfpose needs one profile per frame",
                                  self.path, c.line)
        tx_order = []
        for c in chirps:
            bits = _bits(c.tx_mask)
            if len(bits) != 1:
                raise ConfigError(f"chirpCfg txMask {c.tx_mask:#x} enables {len(bits)} TX; TDM-MIMO needs exactly one "
                                  "TX per chirp", self.path, c.line)
            tx_order.append(bits[0])
        rx = tuple(_bits(channel.rx_mask))
        if not rx:
            raise ConfigError("channelCfg rxChannelEn enables no RX channel", self.path, channel.line)

        complex_sampling = self._complex_sampling()
        q_first = bool(self.adcbuf.sample_swap) if self.adcbuf else True
        if board is not None:
            lanes = board.lvds_lanes
        else:
            lanes = 4 if (self.adcbuf is not None and self.adcbuf.chan_interleave == 0) else 2
        layout = AdcLayout(complex=complex_sampling, q_first=q_first, lanes=lanes)

        fs = profile.dig_out_sample_rate_ksps * 1e3
        slope = profile.freq_slope_mhz_per_us * 1e12
        n = profile.num_adc_samples
        f0 = profile.start_freq_ghz * 1e9
        adc_start = profile.adc_start_time_us * 1e-6
        bandwidth = abs(slope) * n / fs
        center = f0 + slope * (adc_start + n / (2 * fs))
        wavelength = SPEED_OF_LIGHT_M_S / f0
        tc = profile.chirp_time_s
        num_tx = len(tx_order)
        period = frame.frame_period_ms * 1e-3
        frame_bytes = frame.num_loops * num_tx * len(rx) * n * layout.bytes_per_sample
        return RadarParams(
            num_tx=num_tx,
            num_rx=len(rx),
            tx_order=tuple(tx_order),
            rx_channels=rx,
            num_adc_samples=n,
            num_loops=frame.num_loops,
            chirps_per_frame=frame.num_loops * num_tx,
            num_frames=frame.num_frames,
            frame_period_s=period,
            start_frequency_hz=f0,
            center_frequency_hz=center,
            slope_hz_per_s=slope,
            sample_rate_hz=fs,
            idle_time_s=profile.idle_time_us * 1e-6,
            adc_start_time_s=adc_start,
            ramp_end_time_s=profile.ramp_end_time_us * 1e-6,
            chirp_time_s=tc,
            bandwidth_hz=bandwidth,
            range_resolution_m=SPEED_OF_LIGHT_M_S / (2 * bandwidth),
            # Complex sampling sees beat frequencies up to Fs; real sampling only up to Fs/2.
            max_range_m=SPEED_OF_LIGHT_M_S * fs / (2 * abs(slope)) * (1.0 if complex_sampling else 0.5),
            wavelength_m=wavelength,
            velocity_resolution_mps=wavelength / (2 * frame.num_loops * num_tx * tc),
            max_velocity_mps=wavelength / (4 * num_tx * tc),
            active_chirping_s=frame.num_loops * num_tx * tc,
            frame_bytes=frame_bytes,
            data_rate_mbps=frame_bytes * 8 / period / 1e6 if period > 0 else float("inf"),
            complex_sampling=complex_sampling,
            layout=layout,
        )

    def _complex_sampling(self) -> bool:
        adc, buf = self.adc, self.adcbuf
        if adc is None and buf is None:
            return True
        if adc is not None and buf is not None:
            if (adc.adc_output_fmt == 0) != (buf.adc_output_fmt == 1):
                raise ConfigError(
                    f"adcCfg adcOutputFmt {adc.adc_output_fmt} ({'real' if adc.adc_output_fmt == 0 else 'complex'}) "
                    f"disagrees with adcbufCfg adcOutputFmt {buf.adc_output_fmt} "
                    f"({'real' if buf.adc_output_fmt == 1 else 'complex'})", self.path, buf.line)
        if buf is not None:
            return buf.adc_output_fmt == 0
        return adc.adc_output_fmt != 0


def _bits(mask: int) -> list[int]:
    return [i for i in range(mask.bit_length()) if mask >> i & 1]


# --------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------


def parse_cfg(text: str, path: str = "<string>") -> RadarConfig:
    """Parse the text of a ``.cfg``. Syntax errors raise :class:`ConfigError` with ``path:line``.

    Semantic checks are in :func:`validate_cfg` (``load_cfg`` runs both).
    """
    entries: list[Entry] = []
    for lineno, raw_line in enumerate(text.splitlines(), start=1):
        stripped = raw_line.strip()
        if not stripped:
            entries.append(Blank(line=lineno))
            continue
        if stripped.startswith("%"):
            entries.append(Comment(stripped[1:], line=lineno))
            continue
        tokens = stripped.split()
        name, args = tokens[0], tokens[1:]
        if name in TYPED_COMMANDS:
            entries.append(TYPED_COMMANDS[name].from_args(args, path, lineno))
        elif name in VERBATIM_COMMANDS:
            entries.append(RawCommand(name, tuple(args), line=lineno))
        else:
            raise ConfigError(f"unknown command {name!r}", path, lineno)
    return RadarConfig(tuple(entries), path)


def load_cfg(path: str | Path, board: Board | None = None) -> RadarConfig:
    """Read, parse and validate a ``.cfg`` file (against ``board`` when given: a
    :class:`~rfpose.boards.Board`, e.g. ``get_board("awr1843boost")``)."""
    p = Path(path)
    try:
        text = p.read_text()
    except FileNotFoundError:
        raise ConfigError("no such file", str(p)) from None
    except UnicodeDecodeError:
        raise ConfigError("not a text file", str(p)) from None
    cfg = parse_cfg(text, str(p))
    validate_cfg(cfg, board)
    return cfg


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------

_RANGES = {
    # command: {field: (lo, hi)}; inclusive
    "profileCfg": {"profile_id": (0, 3), "hpf1_corner": (0, 3), "hpf2_corner": (0, 3), "num_adc_samples": (2, 1024),
                   "idle_time_us": (2, 5242.87), "ramp_end_time_us": (1, 500), "adc_start_time_us": (0, 4095),
                   "dig_out_sample_rate_ksps": (1000, 25000), "tx_out_power": (0, 63),
                   "rx_gain_db": (0, 255)},
    "frameCfg": {"num_loops": (1, 255), "num_frames": (0, 65535), "frame_period_ms": (0.1, 1342.0),
                 "trigger_select": (1, 2), "chirp_start_idx": (0, 511), "chirp_end_idx": (0, 511)},
    "chirpCfg": {"start_idx": (0, 511), "end_idx": (0, 511), "profile_id": (0, 3)},
    "adcCfg": {"num_adc_bits": (0, 2), "adc_output_fmt": (0, 2)},
    "adcbufCfg": {"adc_output_fmt": (0, 1), "sample_swap": (0, 1), "chan_interleave": (0, 1)},
    "dfeDataOutputMode": {"mode": (1, 3)},
    "lvdsStreamCfg": {"enable_header": (0, 1), "data_fmt": (0, 4), "enable_sw": (0, 1)},
}


def validate_cfg(cfg: RadarConfig, board: Board | None = None) -> RadarParams:
    """Check a parsed configuration for consistency and, with a board (a :class:`~rfpose.boards.Board`),
    against the device.

    Returns the derived parameters. Raises :class:`ConfigError` naming ``file:line``.
    """
    if isinstance(board, str):  # boards imports this module, so names are resolved by the caller
        raise TypeError(f"validate_cfg takes a Board, not the name {board!r}: pass rfpose.boards.get_board(name)")
    path = cfg.path
    for e in cfg.entries:
        if isinstance(e, Command):
            for fname, (lo, hi) in _RANGES.get(e.NAME, {}).items():
                v = getattr(e, fname)
                if v is not None and not lo <= v <= hi:
                    raise ConfigError(f"{e.NAME} {fname} = {_format(v)} is out of range [{_format(lo)}, {_format(hi)}]",
                                      path, e.line)
    mode = cfg._one(DfeDataOutputMode, required=False)
    if mode is not None and mode.mode != 1:
        raise ConfigError(f"dfeDataOutputMode {mode.mode} is not supported; rfpose handles frame mode 1 only",
                          path, mode.line)
    channel, frame = cfg.channel, cfg.frame
    if cfg.adcbuf is not None and cfg.adcbuf.sample_swap == 0 and board is None:
        pass  # I-first is legal (mmWave Studio captures); the layout records it
    seen_profiles = {}
    for p in cfg.profiles:
        if p.profile_id in seen_profiles:
            raise ConfigError(f"profileCfg {p.profile_id} defined twice (first at line {seen_profiles[p.profile_id]})",
                              path, p.line)
        seen_profiles[p.profile_id] = p.line
        if p.freq_slope_mhz_per_us == 0:
            raise ConfigError("profileCfg freqSlopeConst is 0: no chirp", path, p.line)
        adc_end = p.adc_start_time_us + p.num_adc_samples / (p.dig_out_sample_rate_ksps * 1e-3)
        if adc_end > p.ramp_end_time_us + 1e-9:
            raise ConfigError(f"profileCfg samples until {adc_end:.2f} us, after the ramp ends at "
                              f"{_format(p.ramp_end_time_us)} us", path, p.line)
        if board is not None:
            lo, hi = board.band_ghz
            f_end = p.start_freq_ghz + p.freq_slope_mhz_per_us * p.ramp_end_time_us * 1e-3
            if not (lo <= p.start_freq_ghz <= hi and lo <= f_end <= hi):
                raise ConfigError(f"profileCfg sweeps {p.start_freq_ghz:.3f}-{f_end:.3f} GHz, outside the "
                                  f"{board.name} band {lo}-{hi} GHz", path, p.line)
            if p.dig_out_sample_rate_ksps > board.max_sample_rate_ksps:
                raise ConfigError(f"profileCfg digOutSampleRate {_format(p.dig_out_sample_rate_ksps)} ksps exceeds the "
                                  f"{board.name} limit of {board.max_sample_rate_ksps} ksps", path, p.line)
    for c in cfg.chirps:
        if c.start_idx > c.end_idx:
            raise ConfigError("chirpCfg startIdx is after endIdx", path, c.line)
        if c.tx_mask & ~channel.tx_mask:
            raise ConfigError(f"chirpCfg txMask {c.tx_mask:#x} enables TX outside channelCfg txChannelEn "
                              f"{channel.tx_mask:#x}", path, c.line)
        if c.profile_id not in seen_profiles:
            raise ConfigError(f"chirpCfg uses profile {c.profile_id}, which no profileCfg defines", path, c.line)
    if channel.tx_mask == 0:
        raise ConfigError("channelCfg txChannelEn enables no TX", path, channel.line)
    if board is not None:
        if channel.rx_mask >> board.num_rx:
            raise ConfigError(f"channelCfg rxChannelEn {channel.rx_mask:#x} enables RX the {board.name} does not have "
                              f"({board.num_rx} RX)", path, channel.line)
        if channel.tx_mask >> board.num_tx:
            raise ConfigError(f"channelCfg txChannelEn {channel.tx_mask:#x} enables TX the {board.name} does not have "
                              f"({board.num_tx} TX)", path, channel.line)
    if not cfg.profiles:
        raise ConfigError("missing profileCfg", path)
    if not cfg.chirps:
        raise ConfigError("missing chirpCfg", path)
    params = cfg.derive(board)
    if params.active_chirping_s > params.frame_period_s:
        raise ConfigError(f"chirping takes {params.active_chirping_s * 1e3:.3f} ms, longer than the frame period "
                          f"{_format(frame.frame_period_ms)} ms", path, frame.line)
    if board is not None and board.frame_memory_bytes is not None:
        # The radar cube (complex int16 per sample) must fit the device memory.
        cube = params.num_loops * params.num_tx * params.num_rx * params.num_adc_samples * 4
        if cube > board.frame_memory_bytes:
            raise ConfigError(f"a frame needs {cube} bytes of radar cube; the {board.name} has "
                              f"{board.frame_memory_bytes}", path, frame.line)
    if board is not None and cfg.adcbuf is not None:
        want = 0 if board.lvds_lanes == 4 else 1
        if board.capture == "dca1000" and cfg.adcbuf.chan_interleave != want:
            raise ConfigError(f"adcbufCfg chanInterleave {cfg.adcbuf.chan_interleave} does not match the "
                              f"{board.name} ({board.lvds_lanes}-lane LVDS needs {want})", path, cfg.adcbuf.line)
    return params
