"""Radar-only pose estimation, one frame at a time, as a live monitor runs it.

:class:`RadarPosePipeline` takes one frame of a radar source — the raw ADC words of a ``RadarFrame`` or the
points of a ``PointCloudFrame`` (demo-firmware UART, a recorded points stream) — turns it into the model's
input exactly as ``rfpose preprocess`` did for the dataset the model was trained on, runs the network and
decodes skeletons in metres (radar frame). Each call reports its per-stage latency. A model trained on
windows of several frames gets its window of the most recent ones (the family's ``live_window``); until
the window is full the oldest frame is repeated, as the dataset reader clamps windows at a session's start.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rfpose.errors import ConfigError, SourceMismatchError
from rfpose.models.families.base import RecentFrames, round_like_dataset  # noqa: F401 (re-exported)

log = logging.getLogger(__name__)

#: what a source's frames carry, by ``Source.kind``, as the live pipeline names it
SOURCE_INPUTS = {"radar": "raw ADC frames", "points": "point clouds"}
_MADE_FROM_ADC = {"rtpose": "voxel tensors", "hupr": "range-angle maps", "points": "rfpose's CFAR points"}


@dataclass
class PoseResult:
    joints: np.ndarray  # (people, joints, 3) metres, radar frame
    scores: np.ndarray  # (people,)
    latency_ms: dict[str, float] = field(default_factory=dict)  # per stage and "total"


class RadarPosePipeline:
    """Decode → the run's dataset preprocessing → model → skeletons.

    ``source_kind`` is the kind of the source whose frames will be fed: "radar" (``RadarFrame.adc`` words)
    or "points" (``PointCloudFrame.points``, a device's points: demo-firmware UART, ``emu+uart://``,
    ``uart-file://``, a recorded points stream). A run whose dataset was built from the other kind (a tensor
    or CFAR-points model on a points source, a model of a device's points on raw ADC) is a
    :class:`~rfpose.errors.SourceMismatchError`.

    ``run_dir`` is a training run (``rfpose train``): its ``config.json`` records the dataset's
    preprocessing config and radar, and the processor is rebuilt from them
    (:func:`rfpose.preprocessing.factory.processor_for_run`: grid, windows, clutter removal, Doppler
    pooling), so the model gets what it was trained on. ``board`` and ``cfg_text`` describe the radar
    whose frames will be fed; one that would give other tensors is a
    :class:`~rfpose.preprocessing.factory.RadarMismatchError` naming the differing parameter. A run trained
    before runs recorded their preprocessing gets the default chain, checked by shape only. ``threads``
    sets torch's intra-op threads.
    """

    def __init__(self, run_dir: str | Path, board: str, cfg_text: str, threads: int | None = None,
                 which: str = "best", max_people: int | None = None, source_kind: str = "radar"):
        import torch

        from rfpose.boards import get_board
        from rfpose.dataset import InputSpec, PreprocessConfig, check_spec
        from rfpose.models.families import get_family
        from rfpose.models.train import load_run
        from rfpose.preprocessing.factory import processor_for_run
        from rfpose.radar_config import parse_cfg

        if threads:
            torch.set_num_threads(threads)
        self.model, self.run_config = load_run(run_dir, which=which)
        family = get_family(self.model)
        if source_kind not in SOURCE_INPUTS:
            raise ConfigError(f"the live pipeline reads radar sources ({', '.join(SOURCE_INPUTS)}); this source "
                              f"gives {source_kind} frames")
        try:
            self._window = family.live_window(self.model)
        except ConfigError as e:
            raise ConfigError(f"{run_dir}: {e}") from None
        self.board = get_board(board)
        self.params = parse_cfg(cfg_text, f"<{board} cfg>").derive(self.board)
        saved = self.run_config.get("preprocess")
        if saved is None:
            log.warning("%s: the run does not record its dataset's preprocessing (trained before runs did); "
                        "using the default chain", run_dir)
        config = PreprocessConfig.from_dict(saved) if saved is not None else PreprocessConfig()
        self.processor = processor_for_run(config, self.run_config.get("radar"), self.board, self.params,
                                           f"{run_dir} on {board}", workers=threads or 2)
        needs = "points" if self.processor.takes_points else "radar"
        if source_kind != needs:
            trained = (f"the points of the point-cloud stream {config.radar_stream!r}" if needs == "points" else
                       f"{_MADE_FROM_ADC[config.format]} computed from the raw ADC of {config.radar_stream!r}")
            raise SourceMismatchError(f"the model was trained on {trained}; this source gives "
                                      f"{SOURCE_INPUTS[source_kind]} (it needs a source of {SOURCE_INPUTS[needs]})",
                                      needs, source_kind, str(run_dir))
        self.source_kind = source_kind
        shape = tuple(self.processor.output_shape)
        if config.format != "points" and shape != tuple(self.model.input_shape):
            raise ConfigError(f"{run_dir}: the model takes {tuple(self.model.input_shape)} voxels, this radar "
                              f"configuration gives {shape}")
        if saved is not None:
            spec = InputSpec.from_dict(self.processor.input_spec(self.model.spec.skeleton))
            check_spec(self.model.spec, spec, f"{run_dir}: live input")
        self.max_people = max_people
        self._torch = torch

    def prepare(self, data: np.ndarray) -> tuple:
        """One frame (raw ADC words, or a device's structured points) → the model inputs (a tuple, batch 1) of
        the window ending at it, as the dataset reader would give them (voxels: float16-rounded, the window's
        older frames before it along channels; points: (1, T, K, F) padded points and their (1, T, K) mask)."""
        return self._inputs(self._decode(data))

    def _decode(self, data: np.ndarray):
        if self.processor.takes_points:
            return [data]
        from rfpose.preprocessing.decode import decode_radar_words

        return decode_radar_words(data, self.params, self.board)

    def _inputs(self, decoded) -> tuple:
        return self._window(self.processor.compute(decoded))

    def __call__(self, data: np.ndarray) -> PoseResult:
        """One frame (``RadarFrame.adc`` or ``PointCloudFrame.points``, as ``source_kind`` says) → skeletons."""
        t0 = time.perf_counter()
        decoded = self._decode(data)
        t1 = time.perf_counter()
        x = self._inputs(decoded)
        t2 = time.perf_counter()
        with self._torch.inference_mode():
            out = self.model(*x)
            joints, scores = self.model.decode(out, max_people=self.max_people)
        t3 = time.perf_counter()
        ms = {"decode": (t1 - t0) * 1e3, "voxels": (t2 - t1) * 1e3, "model": (t3 - t2) * 1e3,
              "total": (t3 - t0) * 1e3}
        return PoseResult(joints[0].numpy(), scores[0].numpy(), ms)
