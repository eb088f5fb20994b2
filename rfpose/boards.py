"""Board presets: antenna geometry, LVDS layout, device limits and a default raw-capture ``.cfg``.

Antenna positions are in units of λ/2 as ``(az, el)`` pairs: ``az`` grows towards the radar frame's
+y (left) and ``el`` towards +z (up), so a virtual element at ``(a, e)`` sits at
``y = a·λ/2, z = e·λ/2`` in the antenna plane (x = 0, boresight along +x).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

import numpy as np

from rfpose.errors import UnknownNameError
from rfpose.radar_config import RadarConfig, parse_cfg, validate_cfg


@dataclass(frozen=True)
class Board:
    """A radar board preset.

    ``tx_positions`` / ``rx_positions`` are ``(n, 2)`` arrays of (az, el) in λ/2 units, indexed by the
    device's TX / RX channel number (TX0 = bit 0 of ``txChannelEn``).
    """

    name: str
    description: str
    tx_positions: tuple[tuple[float, float], ...]
    rx_positions: tuple[tuple[float, float], ...]
    lvds_lanes: int
    capture: str  # "dca1000" or "tda2" (the cascade's per-chip files)
    band_ghz: tuple[float, float]
    max_sample_rate_ksps: float
    frame_memory_bytes: int | None
    default_cfg_name: str
    num_chips: int = 1

    @property
    def num_tx(self) -> int:
        return len(self.tx_positions)

    @property
    def num_rx(self) -> int:
        return len(self.rx_positions)

    def tx_array(self) -> np.ndarray:
        return np.asarray(self.tx_positions, dtype=np.float64)

    def rx_array(self) -> np.ndarray:
        return np.asarray(self.rx_positions, dtype=np.float64)

    def virtual_positions(self, tx_order, rx_channels=None) -> np.ndarray:
        """Virtual element positions ``(tx_slot, rx, 2)`` in λ/2 for the TX order of a frame."""
        rx = self.rx_array() if rx_channels is None else self.rx_array()[list(rx_channels)]
        tx = self.tx_array()[list(tx_order)]
        return tx[:, None, :] + rx[None, :, :]

    def default_cfg_text(self) -> str:
        return resources.files("rfpose.configs").joinpath(self.default_cfg_name).read_text()

    def default_cfg_path(self):
        """A traversable for the shipped ``.cfg`` (use ``str()`` for a filesystem path)."""
        return resources.files("rfpose.configs").joinpath(self.default_cfg_name)

    def default_config(self) -> RadarConfig:
        """The shipped ``.cfg`` parsed and validated against this board."""
        cfg = parse_cfg(self.default_cfg_text(), str(self.default_cfg_path()))
        validate_cfg(cfg, self)
        return cfg


_ROW3 = ((0.0, 0.0), (2.0, 1.0), (4.0, 0.0))  # TX0, TX1 (elevated λ/2, centred), TX2: the 2×8 boards
_ULA4 = ((0.0, 0.0), (1.0, 0.0), (2.0, 0.0), (3.0, 0.0))

# RT-Pose's MMWCAS-RF-EVM positions (hardware_param.m), TX1..TX12 and RX1..RX16 in λ/2.
_CAS_TX_AZ = (11, 10, 9, 32, 28, 24, 20, 16, 12, 8, 4, 0)
_CAS_TX_EL = (6, 4, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0)
_CAS_RX_AZ = (11, 12, 13, 14, 50, 51, 52, 53, 46, 47, 48, 49, 0, 1, 2, 3)

BOARDS: dict[str, Board] = {
    b.name: b
    for b in (
        Board("awr1843boost", "TI AWR1843BOOST, 3 TX x 4 RX, 76-81 GHz, 2-lane LVDS", _ROW3, _ULA4,
              lvds_lanes=2, capture="dca1000", band_ghz=(76.0, 81.0), max_sample_rate_ksps=12500,
              frame_memory_bytes=1 << 20, default_cfg_name="awr1843boost.cfg"),
        Board("iwr6843isk", "TI IWR6843ISK, 3 TX x 4 RX, 60-64 GHz, 2-lane LVDS", _ROW3, _ULA4,
              lvds_lanes=2, capture="dca1000", band_ghz=(60.0, 64.0), max_sample_rate_ksps=12500,
              frame_memory_bytes=768 * 1024, default_cfg_name="iwr6843isk.cfg"),
        # AOP: 2x2 RX patch and an L of three TX give a 4x4 virtual grid with holes (antGeometry of the
        # people-counting demo), shifted to non-negative indices.
        Board("iwr6843aop", "TI IWR6843AOPEVM, 3 TX x 4 RX antenna-on-package, 2-lane LVDS",
              ((2.0, 2.0), (0.0, 0.0), (2.0, 0.0)), ((0.0, 0.0), (0.0, 1.0), (1.0, 0.0), (1.0, 1.0)),
              lvds_lanes=2, capture="dca1000", band_ghz=(60.0, 64.0), max_sample_rate_ksps=12500,
              frame_memory_bytes=768 * 1024, default_cfg_name="iwr6843aop.cfg"),
        # xWR1642BOOST: two TX 2λ apart and four RX λ/2 apart give an 8-element azimuth array, no elevation.
        Board("awr1642boost", "TI AWR1642BOOST / IWR1642BOOST, 2 TX x 4 RX, 76-81 GHz, 2-lane LVDS, azimuth only",
              ((0.0, 0.0), (4.0, 0.0)), _ULA4,
              lvds_lanes=2, capture="dca1000", band_ghz=(76.0, 81.0), max_sample_rate_ksps=6250,
              frame_memory_bytes=768 * 1024, default_cfg_name="awr1642boost.cfg"),
        Board("iwr1443boost", "TI IWR1443BOOST, 3 TX x 4 RX, 76-81 GHz, 4-lane LVDS (RX-interleaved)", _ROW3, _ULA4,
              lvds_lanes=4, capture="dca1000", band_ghz=(76.0, 81.0), max_sample_rate_ksps=12500,
              frame_memory_bytes=576 * 1024, default_cfg_name="iwr1443boost.cfg"),
        Board("mmwcas", "TI MMWCAS-RF-EVM 4-chip AWR2243 cascade, 12 TX x 16 RX (RT-Pose), TDA2 capture",
              tuple(zip(map(float, _CAS_TX_AZ), map(float, _CAS_TX_EL))),
              tuple((float(a), 0.0) for a in _CAS_RX_AZ),
              lvds_lanes=4, capture="tda2", band_ghz=(76.0, 81.0), max_sample_rate_ksps=22500,
              frame_memory_bytes=None, default_cfg_name="mmwcas.cfg", num_chips=4),
    )
}


#: The industrial (IWR) and automotive (AWR) versions of a BOOST board share antennas and limits.
ALIASES = {"iwr1642boost": "awr1642boost", "iwr1843boost": "awr1843boost", "awr1443boost": "iwr1443boost"}


def get_board(name: str) -> Board:
    """Look up a preset by name (or an IWR/AWR alias); an unknown name lists the valid ones."""
    key = name.lower()
    try:
        return BOARDS[ALIASES.get(key, key)]
    except KeyError:
        raise UnknownNameError("board", name, list(BOARDS)) from None


def list_boards() -> list[str]:
    return sorted(BOARDS)
