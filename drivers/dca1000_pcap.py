"""DCA1000EVM traffic read back from a pcap capture (Wireshark, tcpdump): the FPGA's control replies and its
data stream, reassembled into radar frames by the same :class:`FrameReassembler` the live receiver uses.

Only datagrams from the FPGA's address and source port count (a real DCA1000 sends from port 1024, see
``shared/data/real/README.md``); the rest of the capture is counted as ``foreign``. Frame timestamps are the
capture times of the packets that completed them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rfpose.boards import Board, get_board
from rfpose.drivers.dca1000_protocol import CONFIG_PORT, DATA_PORT, Response, parse_response
from rfpose.drivers.dca1000_reassembly import FrameReassembler, StreamStats
from rfpose.drivers.pcap import PcapStats, UdpDatagram, read_udp
from rfpose.errors import ConfigError, ParseError
from rfpose.source import RadarFrame, SourceBase

FPGA_IP = "192.168.33.180"
FPGA_PORT = 1024  # the real card's source port for replies and data


@dataclass
class Dca1000Traffic:
    """A capture split by the DCA1000's ports: replies (with capture times), data datagrams, the rest counted."""

    replies: list[tuple[int, Response]] = field(default_factory=list)
    data: list[UdpDatagram] = field(default_factory=list)
    bad_replies: int = 0
    foreign: int = 0


def split_dca1000(datagrams, *, fpga_ip: str = FPGA_IP, fpga_port: int = FPGA_PORT, config_port: int = CONFIG_PORT,
                  data_port: int = DATA_PORT) -> Dca1000Traffic:
    out = Dca1000Traffic()
    for d in datagrams:
        if d.src != (fpga_ip, fpga_port) or d.dst[1] not in (config_port, data_port):
            out.foreign += 1
        elif d.dst[1] == data_port:
            out.data.append(d)
        else:
            try:
                out.replies.append((d.timestamp_ns, parse_response(d.payload)))
            except ParseError:
                out.bad_replies += 1
    return out


def reassemble(data: list[UdpDatagram], frame_bytes: int, include_partial: bool = True
               ) -> tuple[list[RadarFrame], StreamStats]:
    """Frames of ``frame_bytes`` from data datagrams in capture order (timestamps from the capture)."""
    frames: list[RadarFrame] = []
    now = [0]
    r = FrameReassembler(frame_bytes, frames.append, clock_ns=lambda: now[0])
    for d in data:
        now[0] = d.timestamp_ns
        r.feed(d.payload, len(d.payload))
    r.flush(include_partial)
    return frames, r.stats


class Dca1000PcapSource(SourceBase):
    """Radar frames from the DCA1000 data in a pcap file (seekable; the capture is read once).

    The frame size comes from ``frame_bytes``, or from ``board`` and ``cfg`` as for a live capture.
    ``metadata`` holds the replies, the reassembly and pcap counters and what a session stores.
    """

    kind = "radar"
    is_live = False
    is_seekable = True

    def __init__(self, path: str | Path, *, frame_bytes: int | None = None, board: str | Board | None = None,
                 cfg=None, fpga_ip: str = FPGA_IP, fpga_port: int = FPGA_PORT, config_port: int = CONFIG_PORT,
                 data_port: int = DATA_PORT, include_partial: bool = True, name: str = "radar"):
        super().__init__()
        self.name = name
        meta: dict = {"pcap": str(path)}
        if board is not None:
            from rfpose.drivers.dca1000_source import resolve_cfg

            board = get_board(board) if isinstance(board, str) else board
            config = resolve_cfg(cfg, board)
            params = config.derive(board)
            meta.update(board=board.name, cfg_text=config.to_text(), frame_shape=list(params.frame_shape))
            frame_bytes = frame_bytes or params.frame_bytes
        if not frame_bytes or frame_bytes <= 0 or frame_bytes % 2:
            raise ConfigError(f"{path}: give a board (and cfg) or a positive even frame_bytes, not {frame_bytes}")
        datagrams, pcap_stats = read_udp(path)
        traffic = split_dca1000(datagrams, fpga_ip=fpga_ip, fpga_port=fpga_port, config_port=config_port,
                                data_port=data_port)
        self._frames, stream = reassemble(traffic.data, frame_bytes, include_partial)
        self.traffic = traffic
        meta.update(frame_bytes=frame_bytes, pcap_stats=_pcap_dict(pcap_stats), stream=stream.as_dict(),
                    replies=[{"timestamp_ns": t, "cmd": r.cmd, "status": r.status} for t, r in traffic.replies],
                    bad_replies=traffic.bad_replies, foreign_datagrams=traffic.foreign)
        self.metadata = meta

    def _len(self) -> int:
        return len(self._frames)

    def _get(self, index: int) -> RadarFrame:
        return self._frames[index]


def _pcap_dict(s: PcapStats) -> dict:
    return {"records": s.records, "udp": s.udp, "skipped": dict(s.skipped), "truncated": s.truncated}
