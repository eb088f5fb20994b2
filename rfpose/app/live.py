"""Radar-only pose estimation, one frame at a time, as a live monitor runs it.

:class:`RadarPosePipeline` takes the raw ADC words of one frame (``RadarFrame.adc``), turns them into the
model's input exactly as ``rfpose preprocess`` does for the dataset the model was trained on, runs the
network and decodes skeletons in metres (radar frame). Each call reports its per-stage latency. A model
trained on windows of T frames (``frames``) gets the T most recent ones; until T frames have been seen the
oldest is repeated, as the dataset reader clamps windows at a session's start.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rfpose.errors import ConfigError


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

    from rfpose.preprocessing.dataset import FLOAT16_MAX

    return torch.from_numpy(x).clamp(max=FLOAT16_MAX).half().float()


class RecentFrames:
    """The ``frames`` most recent inputs (1, D, Z, Y, X), stacked oldest first along the channel axis. Until
    ``frames`` have been pushed the oldest is repeated, as the dataset reader clamps a window at a session's
    start (``rfpose.models.data.session_windows``)."""

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
    """Decode → Cartesian voxels → HRRadarPose-family model → skeletons.

    ``run_dir`` is a training run (``rfpose train``); ``board`` and ``cfg_text`` describe the radar whose
    frames will be fed (they must produce the tensor the model was trained on, which the model's input
    spec checks). ``threads`` sets torch's intra-op threads.
    """

    def __init__(self, run_dir: str | Path, board: str, cfg_text: str, threads: int | None = None,
                 which: str = "best", max_people: int | None = None):
        import torch

        from rfpose.boards import get_board
        from rfpose.models.train import load_run
        from rfpose.preprocessing.cartesian import CartesianProcessor
        from rfpose.radar_config import parse_cfg

        if threads:
            torch.set_num_threads(threads)
        self.model, self.run_config = load_run(run_dir, which=which)
        if getattr(self.model, "family", None) != "hrradarpose":
            raise ConfigError(f"{run_dir}: the live pipeline runs HRRadarPose-family models, not "
                              f"{getattr(self.model, 'family', '?')}")
        self.board = get_board(board)
        self.params = parse_cfg(cfg_text, f"<{board} cfg>").derive(self.board)
        self.processor = CartesianProcessor(self.params, self.board, workers=threads or 2)
        shape = tuple(self.processor.output_shape)
        if shape != tuple(self.model.input_shape):
            raise ConfigError(f"{run_dir}: the model takes {tuple(self.model.input_shape)} voxels, this radar "
                              f"configuration gives {shape}")
        self.max_people = max_people
        self._torch = torch
        self._recent = RecentFrames(self.model.frames)

    def __call__(self, words: np.ndarray) -> PoseResult:
        from rfpose.preprocessing.decode import decode_radar_words

        t0 = time.perf_counter()
        iq = decode_radar_words(words, self.params, self.board)
        t1 = time.perf_counter()
        x = self._recent.push(round_like_dataset(self.processor(iq)))  # (1, frames × doppler, z, y, x)
        t2 = time.perf_counter()
        with self._torch.inference_mode():
            out = self.model(x)
            joints, scores = self.model.decode(out, max_people=self.max_people)
        t3 = time.perf_counter()
        ms = {"decode": (t1 - t0) * 1e3, "voxels": (t2 - t1) * 1e3, "model": (t3 - t2) * 1e3,
              "total": (t3 - t0) * 1e3}
        return PoseResult(joints[0].numpy(), scores[0].numpy(), ms)
