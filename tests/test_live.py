"""The live pipeline rounds its inputs exactly as the dataset writer stores them."""

import numpy as np

from rfpose.live import round_like_dataset
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
