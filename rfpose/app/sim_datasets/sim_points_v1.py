"""sim-points-v1: a point-cloud pose benchmark on the board demo-firmware users have (docs/benchmark.md has the
results). One simulation, two datasets of the same frames:

* ``dataset.zarr`` — **CFAR points**: rfpose's point chain (``rfpose preprocess --format points``: CA-CFAR
  12 dB on the range–Doppler map after static clutter removal, FFT angle per detection) on the simulated raw
  ADC (the radar stream ``radar``);
* ``dataset-uart.zarr`` — **demo-firmware UART points**: the session's ``radar_points`` stream, what the SDK
  demo sends on its data UART for the same frames (:func:`demo_firmware_points`), built as
  ``rfpose preprocess --format points --radar-stream radar_points`` builds a real UART recording.

Radar: AWR1843BOOST with rfpose's default demo configuration unchanged (3 TX × 4 RX, 256 samples, 64 loops,
10 frames/s, 4.2 cm range bins, ``clutterRemoval -1 0`` and ``cfarCfg … 15 1`` as TI ships them). Subjects:
8 (seeds 1–8; height and build from the seed), each doing RT-Pose's six actions in a clean and in a
cluttered room, 40 frames (4 s) per session, a different take of the motion in each; split by subject:
seeds 1–5 train (2400 frames), 6 val (480), 7 and 8 test (960).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from rfpose.app.sim_datasets.preset import SimDatasetPreset
from rfpose.dataset import PreprocessConfig

#: the session stream that carries the demo firmware's points
UART_STREAM = "radar_points"


def demo_cfar_config(cfg):
    """The demo firmware's detection settings of a parsed ``.cfg`` as rfpose's CFAR config: ``cfarCfg``'s
    range and Doppler windows (noise cells, guard cells) and threshold (dB, SDK 3.x), ``clutterRemoval``.
    The firmware runs 1-D CFAR along range and confirms along Doppler; rfpose's 2-D CA-CFAR with the same
    windows, threshold and a 3 × 3 peak grouping stands in for it."""
    from rfpose.preprocessing.points import PointCloudConfig
    from rfpose.radar_config import RawCommand

    raw = cfg.commands(RawCommand)
    cfar = {int(c.args[1]): c.args for c in raw if c.name == "cfarCfg" and len(c.args) >= 8}
    rng, dop = cfar.get(0), cfar.get(1)
    kw = {}
    if rng is not None and dop is not None:
        kw = dict(train=(int(dop[3]), int(rng[3])), guard=(int(dop[4]), int(rng[4])), threshold_db=float(rng[7]))
    clutter = [c for c in raw if c.name == "clutterRemoval" and len(c.args) >= 2]
    return PointCloudConfig(method="ca", clutter_removal=bool(clutter and int(clutter[-1].args[1])), **kw)


class DemoFirmware:
    """A board's demo firmware on its own ADC: ``frame`` (a :class:`~rfpose.source.RadarFrame`) → the points
    its data UART carries, decoded by rfpose's UART parser (:data:`rfpose.source.RADAR_POINT_DTYPE`: float32
    x, y, z, v; SNR at the wire's 0.1 dB; noise unknown to the chain, sent as 0 dB)."""

    def __init__(self, board: str, cfg_text: str):
        from rfpose.boards import get_board
        from rfpose.preprocessing.points import PointCloudProcessor
        from rfpose.radar_config import parse_cfg

        self.board = get_board(board)
        cfg = parse_cfg(cfg_text, f"<{board} cfg>")
        self.params = cfg.derive(self.board)
        self.chain = PointCloudProcessor(self.params, self.board, demo_cfar_config(cfg), workers=1)

    def __call__(self, frame) -> np.ndarray:
        from rfpose.drivers.tlv import TlvStreamParser, pack_packet
        from rfpose.preprocessing.decode import decode_radar_words

        pts = self.chain(decode_radar_words(frame.adc, self.params, self.board)[0])
        packet = pack_packet(frame.index, pts[:, :4], snr_db=np.clip(pts[:, 4], 0, 3000),
                             noise_db=np.zeros(len(pts)), platform=0xA1843)
        (out,) = TlvStreamParser().feed(packet)
        return out.points


@dataclasses.dataclass(frozen=True)
class SimPointsPreset(SimDatasetPreset):
    """Sessions with the raw ADC and the demo firmware's points of the same frames; ``dataset.zarr`` holds
    rfpose's CFAR points, ``dataset-uart.zarr`` the demo firmware's."""

    def simulate_session(self, path, scenario, seed, cfg_text, scene, motion_seed):
        from rfpose.sim.session_writer import simulate_session

        simulate_session(path, scenario, self.frames_per_session, seed=seed, board=self.board, camera=False,
                         lidar=False, cfg_text=cfg_text, overwrite=True, scene=scene, motion_seed=motion_seed,
                         device_points=DemoFirmware(self.board, cfg_text), points_stream=UART_STREAM,
                         breathing=self.breathing)

    def extra_datasets(self, subject_of_seed):
        return {"dataset-uart.zarr": dataclasses.replace(self.preprocess_config(subject_of_seed),
                                                         radar_stream=UART_STREAM)}


PRESET = SimPointsPreset(
    "sim-points-v1",
    "AWR1843BOOST demo configuration (10 Hz), 8 subjects x 6 actions x {clean, cluttered}, 40 frames per "
    "session, split by subject 5/1/2; CFAR points (dataset.zarr) and demo-firmware UART points "
    "(dataset-uart.zarr) of the same frames",
    board="awr1843boost", adc_samples=None, loops=None,
    subject_seeds=tuple(range(1, 9)),
    scenes=("clean", "cluttered"),
    frames_per_session=40,
    val_seeds=(6,),
    test_seeds=(7, 8),
    preprocess=PreprocessConfig(format="points"))
