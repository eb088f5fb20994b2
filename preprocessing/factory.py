"""The one processor factory: the exact preprocessing of a dataset, rebuilt from its saved config.

A dataset records its :class:`~rfpose.dataset.PreprocessConfig` (core, :mod:`rfpose.dataset`) and the radar
it was computed for. Core cannot import a stage, so the factory that turns that config into processors
lives here, in the preprocessing stage. ``rfpose preprocess`` (and through it ``rfpose simulate-dataset``),
``rfpose adc2tensor``, training (which saves the config into its run) and the live pipeline all build their
processors with :func:`build_processor`; :func:`processor_for_run` adds the check that the radar a run is
deployed on gives the tensors it was trained on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rfpose.boards import Board
from rfpose.dataset import HUPR_ELEVATION_MEAN_NOTE, TENSOR_FORMAT, PreprocessConfig, to_float16
from rfpose.errors import ConfigError
from rfpose.radar_config import RadarParams

from rfpose.preprocessing.cartesian import CartesianConfig, CartesianProcessor
from rfpose.preprocessing.hupr import HuprConfig, HuprProcessor, zscored_elevation_mean
from rfpose.preprocessing.points import DevicePoints, PointCloudConfig, PointCloudProcessor

#: radar parameters that do not change a frame's tensor (how many frames a capture runs for)
_RADAR_FIELDS_IGNORED = ("num_frames",)


class RadarMismatchError(ConfigError):
    """The radar a run (or dataset) is applied to would give other tensors than the dataset was built from.
    ``field`` names the first differing parameter; ``differences`` all of them."""

    def __init__(self, where: str, differences: list[tuple[str, object, object]]):
        self.differences = differences
        self.field = differences[0][0]
        listed = "; ".join(f"{name}: dataset {a!r}, this radar {b!r}" for name, a, b in differences[:4])
        more = f" (and {len(differences) - 4} more)" if len(differences) > 4 else ""
        super().__init__(f"the radar configuration differs from the one the dataset was built for: {listed}{more}",
                         where)


@dataclass
class DatasetProcessor:
    """Radar frames → the per-sample tensors a dataset stores (a dataset format's whole chain).

    ``chain`` is the underlying processor (:class:`CartesianProcessor`, :class:`HuprProcessor`,
    :class:`PointCloudProcessor`, or :class:`DevicePoints` for a points dataset built from a point-cloud stream).
    :meth:`compute` gives float32 values before storage, :meth:`__call__` the stored ones (float16 for tensors;
    point clouds are stored as computed).
    """

    config: PreprocessConfig
    params: RadarParams
    board: Board
    chain: object

    @property
    def format(self) -> str:
        return self.config.format

    @property
    def gain(self) -> float:
        """N·L·V, the chain's coherent gain for a unit target (the hupr maps are divided by it)."""
        p = self.params
        return float(p.num_adc_samples * p.num_loops * p.num_tx * p.num_rx)

    @property
    def output_shape(self) -> tuple:
        """Per-sample stored shape: rtpose (D, Z, Y, X); hupr (D, 2, R, A, E), E = 1 when averaged over
        elevation; points (None, 5)."""
        if self.format == "rtpose":
            return tuple(self.chain.output_shape)
        if self.format == "hupr":
            d, r, a, e = self.chain.output_shape
            return (d, 2, r, a, 1 if self.config.hupr_elevation == "mean" else e)
        return (None, 5)

    @property
    def takes_points(self) -> bool:
        """True when the input is a device's point clouds (``points_from = "stream"``), not raw ADC frames."""
        return isinstance(self.chain, DevicePoints)

    def compute(self, iq):
        """Complex frames (F, L, T, R, N) → float32 (F, *output_shape) (points: a list of (n_i, 5) arrays; with
        :attr:`takes_points`, ``iq`` is a sequence of the device's structured point arrays)."""
        if self.format == "points":
            return [self.chain(f) for f in iq]
        y = self.chain(iq)
        if self.format == "hupr":
            y = y / np.float32(self.gain)
            y = np.stack([y.real, y.imag], axis=2).astype(np.float32)
            if self.config.hupr_elevation == "mean":
                y = zscored_elevation_mean(y)
        return y

    def voxels_into(self, iq: np.ndarray, out) -> np.ndarray:
        """rtpose: complex frames → the stored values (float16-rounded, as float32) written straight into
        ``out`` — an array ``(F, *output_shape)`` (or without F for one frame) of any strides, or a tuple of
        them that all receive the values (:meth:`CartesianProcessor.__call__`); the live pipeline fills its
        model inputs this way, without intermediate arrays."""
        if self.format != "rtpose":
            raise ConfigError(f"voxels_into computes rtpose voxels, not the {self.format} format")
        return self.chain(iq, out=out, float16_values=True)

    def __call__(self, iq: np.ndarray):
        y = self.compute(iq)
        return y if self.format == "points" else to_float16(y)

    def to_dict(self) -> dict:
        return self.chain.to_dict()

    def input_spec(self, skeleton: str) -> dict:
        """The dataset's ``input_spec`` attribute for tensors of this processor and labels of ``skeleton``."""
        fmt = TENSOR_FORMAT[self.format]
        if self.format == "rtpose":
            from rfpose.dataset import VoxelGrid

            axes = self.chain.axes_dict()
            grid = VoxelGrid.from_centres(axes["z_m"], axes["y_m"], axes["x_m"])
            return {"tensor_format": fmt, "shape": list(self.output_shape), "dtype": "float16",
                    "normalisation": f"|X| max-pooled over Doppler pairs, divided by scale {self.chain.scale:g} "
                                     "(N·L·V, the chain's coherent gain), clipped to 65504" + self._chain_note(),
                    "skeleton": skeleton, "axes": axes,
                    "grid": {"voxel_size_m": list(grid.voxel_size_m), "roi_min_m": list(grid.roi_min_m)}}
        if self.format == "hupr":
            return {"tensor_format": fmt, "shape": list(self.output_shape), "dtype": "float16",
                    "normalisation": "complex FFT output divided by N·L·V (the chain's coherent gain); re/im on axis 1"
                                     + (HUPR_ELEVATION_MEAN_NOTE if self.config.hupr_elevation == "mean" else ""),
                    "skeleton": skeleton, "axes": {**self.chain.axes.to_dict(),
                                                   "order": ["doppler", "re_im", "range", "azimuth", "elevation"]}}
        # points from a device's stream carry its SNR; a note in the (verbatim-compared) normalisation keeps a
        # model trained on them from taking CFAR points unnoticed, and the other way round
        source = "; the device's points as sent (e.g. demo-firmware UART)" if self.takes_points else ""
        return {"tensor_format": fmt, "shape": [None, 5], "dtype": "float32",
                "normalisation": "none: metres, m/s (positive receding), dB" + source, "skeleton": skeleton,
                "axes": {"fields": ["x", "y", "z", "v", "snr"]}}

    def _chain_note(self) -> str:
        """Settings that change what the values mean belong in the input spec (compared verbatim), so a
        model trained on them refuses tensors made without them. The defaults add nothing, so datasets
        built before these settings existed keep their spec."""
        c = self.config
        notes = [f"{k.split('_')[0]} window {getattr(c, k)}" for k in ("doppler_window", "angle_window")
                 if getattr(c, k) != "none"]
        if c.clutter_removal:
            notes.append("static clutter removed")
        if c.doppler_pool != 2:
            notes.append(f"Doppler pooling {c.doppler_pool}")
        return f"; {', '.join(notes)}" if notes else ""


def build_processor(config: PreprocessConfig, params: RadarParams, board: Board, workers: int = -1,
                    **chain_options) -> DatasetProcessor:
    """The processor that computes ``config``'s tensors from ``board``'s frames with radar ``params``.

    ``chain_options`` are chain settings a dataset does not record (``rfpose adc2tensor``'s FFT sizes:
    ``azimuth_fft``, ``elevation_fft``); datasets are built without them."""
    if config.format == "rtpose":
        g = config.grid
        chain = CartesianProcessor(params, board, CartesianConfig(
            x_m=g.x_m, y_m=g.y_m, z_m=g.z_m, n_z=g.n_zyx[0], n_y=g.n_zyx[1], n_x=g.n_zyx[2],
            doppler_window=config.doppler_window, angle_window=config.angle_window,
            clutter_removal=config.clutter_removal, doppler_pool=config.doppler_pool, **chain_options),
            workers=workers)
    elif config.format == "hupr":
        chain = HuprProcessor(params, board, HuprConfig(n_doppler_keep=config.hupr_doppler_bins), workers=workers)
    elif config.points_from == "stream":
        chain = DevicePoints()
    else:
        chain = PointCloudProcessor(params, board, PointCloudConfig(method=config.cfar), workers=workers)
    return DatasetProcessor(config, params, board, chain)


def radar_differences(saved: dict, board: Board, params: RadarParams) -> list[tuple[str, object, object]]:
    """(field, dataset's value, this radar's value) for every parameter in which ``board``/``params`` differ
    from a dataset's recorded radar (``DatasetReader.radar``: {"board", "params"})."""
    diffs = []
    if saved["board"] != board.name:
        diffs.append(("board", saved["board"], board.name))
    now = params.summary()
    for name, value in saved["params"].items():
        if name in _RADAR_FIELDS_IGNORED or name not in now:
            continue
        if not _same(value, now[name]):
            diffs.append((name, value, now[name]))
    return diffs


def _same(a, b) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) or isinstance(b, float):
        return bool(np.isclose(float(a), float(b), rtol=1e-9, atol=0))
    return a == b


def processor_for_run(config: PreprocessConfig, saved_radar: dict | None, board: Board, params: RadarParams,
                      where: str, workers: int = -1) -> DatasetProcessor:
    """:func:`build_processor` for a trained run deployed on ``board``/``params``; a radar that would give
    other tensors than the run's dataset is a :class:`RadarMismatchError` naming the differing field."""
    if saved_radar is not None:
        diffs = radar_differences(saved_radar, board, params)
        if diffs:
            raise RadarMismatchError(where, diffs)
    return build_processor(config, params, board, workers)


_CACHE: dict = {}


def cached_processor(config: PreprocessConfig, board_name: str, cfg_text: str, workers: int = -1) -> DatasetProcessor:
    """:func:`build_processor` for a recorded stream's board and .cfg text, built once per process (dataset
    workers process many tasks of the same radar)."""
    key = (config, board_name, cfg_text, workers)
    if key not in _CACHE:
        from rfpose.boards import get_board
        from rfpose.radar_config import parse_cfg

        board = get_board(board_name)
        params = parse_cfg(cfg_text, f"<{board_name} cfg_text>").derive(board)
        _CACHE[key] = build_processor(config, params, board, workers)
    return _CACHE[key]
