"""Radar-only pose estimation, one frame at a time, as a live monitor runs it.

:class:`RadarPosePipeline` takes the raw ADC words of one frame (``RadarFrame.adc``), turns them into the
model's input exactly as ``rfpose preprocess`` does for the dataset the model was trained on, runs the
network and decodes skeletons in metres (radar frame). Each call reports its per-stage latency. A model
trained on windows of T frames (``frames``) gets the T most recent ones; until T frames have been seen the
oldest is repeated, as the dataset reader clamps windows at a session's start.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rfpose.errors import ConfigError

log = logging.getLogger(__name__)


@dataclass
class PoseResult:
    joints: np.ndarray  # (people, joints, 3) metres, radar frame
    scores: np.ndarray  # (people,)
    latency_ms: dict[str, float] = field(default_factory=dict)  # per stage and "total"


def round_like_dataset(x: np.ndarray):
    """float32 voxels → float32 torch tensor rounded as DATASET.zarr stores them (float16, clipped at its
    maximum), so live inputs equal training inputs. Torch converts RT-Pose's 5.2 M voxels in 3 ms on 2 cores;
    numpy's float16 cast takes 30 ms."""
    import torch

    from rfpose.dataset import FLOAT16_MAX

    return torch.from_numpy(x).clamp(max=FLOAT16_MAX).half().float()


class RecentFrames:
    """The ``frames`` most recent inputs (1, D, Z, Y, X), stacked oldest first along the channel axis. Until
    ``frames`` have been pushed the oldest is repeated, as the dataset reader clamps a window at a session's
    start (``rfpose.dataset.session_windows``)."""

    def __init__(self, frames: int):
        self._recent = deque(maxlen=frames)

    def push(self, x):
        """Add the newest frame; → (1, frames × D, Z, Y, X)."""
        import torch

        self._recent.append(x)
        if self._recent.maxlen == 1:
            return x
        missing = self._recent.maxlen - len(self._recent)
        return torch.cat([self._recent[0]] * missing + list(self._recent), dim=1)


class RadarPosePipeline:
    """Decode → the run's dataset preprocessing → model → skeletons.

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
                 which: str = "best", max_people: int | None = None):
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
        if not family.causal or len(family.input_arrays) != 1:
            raise ConfigError(f"{run_dir}: the live pipeline runs models on one causal tensor per frame; the "
                              f"{family.name} family's windows need {', '.join(family.input_arrays)}"
                              + ("" if family.causal else " and future frames"))
        self.board = get_board(board)
        self.params = parse_cfg(cfg_text, f"<{board} cfg>").derive(self.board)
        saved = self.run_config.get("preprocess")
        if saved is None:
            log.warning("%s: the run does not record its dataset's preprocessing (trained before runs did); "
                        "using the default chain", run_dir)
        config = PreprocessConfig.from_dict(saved) if saved is not None else PreprocessConfig()
        self.processor = processor_for_run(config, self.run_config.get("radar"), self.board, self.params,
                                           f"{run_dir} on {board}", workers=threads or 2)
        shape = tuple(self.processor.output_shape)
        if shape != tuple(self.model.input_shape):
            raise ConfigError(f"{run_dir}: the model takes {tuple(self.model.input_shape)} voxels, this radar "
                              f"configuration gives {shape}")
        if saved is not None:
            spec = InputSpec.from_dict(self.processor.input_spec(self.model.spec.skeleton))
            check_spec(self.model.spec, spec, f"{run_dir}: live input")
        self.max_people = max_people
        self._torch = torch
        self._recent = RecentFrames(self.model.frames)

    def prepare(self, words: np.ndarray):
        """One frame's raw ADC words → the model input (1, frames × doppler, z, y, x), as the dataset reader
        would give it (float16-rounded, the window's older frames before it)."""
        return self._voxels(self._decode(words))

    def _decode(self, words: np.ndarray) -> np.ndarray:
        from rfpose.preprocessing.decode import decode_radar_words

        return decode_radar_words(words, self.params, self.board)

    def _voxels(self, iq: np.ndarray):
        return self._recent.push(round_like_dataset(self.processor.compute(iq)))

    def __call__(self, words: np.ndarray) -> PoseResult:
        t0 = time.perf_counter()
        iq = self._decode(words)
        t1 = time.perf_counter()
        x = self._voxels(iq)
        t2 = time.perf_counter()
        with self._torch.inference_mode():
            out = self.model(x)
            joints, scores = self.model.decode(out, max_people=self.max_people)
        t3 = time.perf_counter()
        ms = {"decode": (t1 - t0) * 1e3, "voxels": (t2 - t1) * 1e3, "model": (t3 - t2) * 1e3,
              "total": (t3 - t0) * 1e3}
        return PoseResult(joints[0].numpy(), scores[0].numpy(), ms)
