"""Constants of the DATASET.zarr format (the preprocessing ↔ models contract), declared once.

Dataset formats (root attr ``format``) and the per-sample tensor arrays each one stores:

- ``rtpose``: ``x`` (N, D, Z, Y, X) float16, tensor format :data:`RTPOSE_FORMAT`;
- ``hupr``: ``x_hori``, ``x_vert`` (N, D, 2, R, A, E) float16, tensor format :data:`HUPR_FORMAT`;
- ``points``: ``points_values`` (M, 5) float32 and ``points_offsets`` (N+1,) int64, :data:`POINTS_FORMAT`.
"""

from __future__ import annotations

import numpy as np
from zarr.codecs import BloscCodec

DATASET_FORMAT_VERSION = "1.0"
SUPPORTED_VERSIONS = ("1.0",)
FORMATS = ("rtpose", "hupr", "points")
SPLIT_NAMES = ("train", "val", "test")
SPLITS = {name: code for code, name in enumerate(SPLIT_NAMES)}
COMPRESSORS = (BloscCodec(cname="zstd", clevel=3, shuffle="bitshuffle"),)
#: tensors are stored as float16, clipped to its largest finite value
FLOAT16_MAX = 65504.0

#: tensor formats (``input_spec.tensor_format``) of the dataset formats
RTPOSE_FORMAT = "rtpose-dzyx-magnitude"
HUPR_FORMAT = "hupr-ra-re-complex"
POINTS_FORMAT = "points-xyzvs"
#: the end of a hupr dataset's ``input_spec.normalisation`` when its maps are stored averaged over elevation
#: (``PreprocessConfig.hupr_elevation = "mean"``); a HuPR model then skips that step of its own
HUPR_ELEVATION_MEAN_NOTE = "; each map z-scored per elevation bin (unbiased std), then averaged over elevation"
#: points whose fifth field is the TI demo's intensity instead of SNR in dB (MARS)
POINTS_INTENSITY_FORMAT = "points-xyzvi"
TENSOR_FORMAT = {"rtpose": RTPOSE_FORMAT, "hupr": HUPR_FORMAT, "points": POINTS_FORMAT}
#: per-sample input arrays of each dataset format
TENSOR_ARRAYS = {"rtpose": ("x",), "hupr": ("x_hori", "x_vert"), "points": ("points_values", "points_offsets")}
#: label and bookkeeping arrays (sample axis first); ``joints_2d`` is optional
LABEL_ARRAYS = ("joints", "confidence", "joints_2d")
BOOKKEEPING_ARRAYS = ("timestamp_ns", "session_index", "frame_index", "subject", "split")


def to_float16(x: np.ndarray) -> np.ndarray:
    """Values as the dataset stores them: float16, clipped to ±:data:`FLOAT16_MAX` (no ``inf``)."""
    return np.clip(x, -FLOAT16_MAX, FLOAT16_MAX).astype(np.float16)
