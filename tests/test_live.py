"""The live pipeline feeds the model what the dataset reader gives it in training: inputs rounded as the
dataset writer stores them, and the same temporal windows."""

import numpy as np
import torch

from rfpose.live import RecentFrames, round_like_dataset
from rfpose.models.data import session_windows
from rfpose.preprocessing.dataset import FLOAT16_MAX


def test_live_rounding_equals_the_dataset_float16_storage():
    rng = np.random.default_rng(0)
    x = np.concatenate([
        rng.random(10_000, dtype=np.float32) * 70_000,  # up to above float16's maximum
        np.float32([0.0, 1e-8, 6e-5, 2049.0, 2051.0, 65519.0, 65520.0, 1e9]),  # subnormal, ties, overflow
    ]).reshape(1, 1, -1)
    dataset = np.minimum(x, FLOAT16_MAX).astype(np.float16).astype(np.float32)  # preprocessing.dataset
    live = round_like_dataset(x.copy()).numpy()
    np.testing.assert_array_equal(live, dataset)
    assert live.max() == FLOAT16_MAX and live.dtype == np.float32


def test_live_windows_equal_the_dataset_reader_windows():
    frames = [torch.full((1, 2, 1, 1, 1), float(k)) for k in range(5)]
    windows = session_windows(np.zeros(5, dtype=int), np.arange(5), 3, target=2)  # the reader's, frames=3
    recent = RecentFrames(3)
    for k, x in enumerate(frames):
        expect = torch.cat([frames[i] for i in windows[k]], dim=1)
        torch.testing.assert_close(recent.push(x), expect, rtol=0, atol=0)
    assert RecentFrames(1).push(frames[4]) is frames[4]
