"""Point-cloud samples of the "points" model family: a DATASET.zarr's ragged points, padded, in RAM.

A points dataset stores every frame's detections ragged (``points_values`` (M, 5) float32, frame i being
rows ``points_offsets[i]:points_offsets[i+1]``; fields in the input spec, e.g. x, y, z, Doppler,
intensity or SNR; metres in the radar frame: x forward, y left, z up). That is small (MARS: 1 M labelled
points, 20 MB), so a reader's frames are read once and padded to ``(N, K, F)`` (:func:`padded_points`);
frames with more than K points keep the K strongest (largest last field), in their stored order.

A sample's inputs are ``points`` (T, K, F) float32, zero-padded, and ``valid`` (T, K) float32 (1 for a
real point) of its window (``rfpose.models.families.points``: T frames ``frame_stride`` apart, causal).

Augmentation (radar frame, points and joints together; Doppler is radial and unchanged by all three):
lateral flip (y → -y, left/right joints swapped), yaw about the vertical axis through the radar (uniform
in ±``max_yaw_deg``), and one random point dropout rate per sample (up to 20 %).
"""

from __future__ import annotations

import math
import weakref

import numpy as np
import torch

from rfpose.errors import FormatError
from rfpose.models.augment import AugmentConfig

MAX_DROPOUT = 0.2


def pad_frames(values: np.ndarray, offsets: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Ragged frames → ``(N, k, F)`` zero-padded points and ``(N,)`` counts (≤ k).

    A frame with more than ``k`` points keeps its ``k`` largest by the last field, in stored order.
    """
    offsets = np.asarray(offsets, dtype=np.int64)
    counts = np.diff(offsets)
    n, f = len(counts), values.shape[1]
    out = np.zeros((n, k, f), np.float32)
    frame = np.repeat(np.arange(n), counts)
    rank = np.arange(len(values)) - np.repeat(offsets[:-1], counts)
    over = np.flatnonzero(counts > k)
    keep = np.ones(len(values), bool)
    for i in over:  # rare (MARS: never); the strongest k, stored order kept
        a, b = offsets[i], offsets[i + 1]
        drop = np.argsort(values[a:b, -1], kind="stable")[: b - a - k]
        keep[a + drop] = False
    if len(over):
        kept_before = np.r_[0, np.cumsum(keep)]  # kept points before each position
        rank = kept_before[:-1] - np.repeat(kept_before[offsets[:-1]], counts)
    out[frame[keep], rank[keep]] = values[keep]
    return out, np.minimum(counts, k)


def augment_points(points: np.ndarray, valid: np.ndarray, joints: np.ndarray, flip_perm: np.ndarray,
                   cfg: AugmentConfig, rng: np.random.Generator):
    """points (T, K, F), valid (T, K), joints (P, J, 3) → augmented copies (radar frame, metres) and the joint
    permutation applied (``flip_perm`` if mirrored, else the identity)."""
    points, valid, joints = points.copy(), valid.copy(), joints.copy()
    order = np.arange(joints.shape[-2])
    if rng.random() < cfg.flip_prob:
        points[..., 1] *= -1
        joints = joints[:, flip_perm]
        joints[..., 1] *= -1
        order = np.asarray(flip_perm)
    if cfg.max_yaw_deg > 0 and rng.random() < cfg.rotate_prob:
        a = math.radians(rng.uniform(-cfg.max_yaw_deg, cfg.max_yaw_deg))
        c, s = math.cos(a), math.sin(a)
        rot = np.array([[c, -s], [s, c]], np.float32)
        points[..., :2] = points[..., :2] @ rot.T
        joints[..., :2] = joints[..., :2] @ rot.T
    rate = rng.uniform(0, MAX_DROPOUT)
    drop = (rng.random(valid.shape) < rate) & (valid > 0)
    keep_one = valid.sum(-1) - drop.sum(-1) < 1  # never empty a frame that had points
    drop[keep_one] = False
    valid[drop] = 0
    points[drop] = 0
    return points * valid[..., None], valid, joints, order


_PADDED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def padded_points(reader, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Every frame of a points dataset padded to ``k`` points: ``(N, k, F)`` float32 points and ``(N, k)``
    float32 mask, read once per reader (MARS: 25k frames, 32 MB) and kept while the reader lives."""
    per_reader = _PADDED.setdefault(reader, {})
    if k not in per_reader:
        root = reader.root
        offsets = np.asarray(root["points_offsets"][:], dtype=np.int64)
        values = np.asarray(root["points_values"][:], dtype=np.float32)
        n = len(reader)
        if len(offsets) != n + 1 or offsets[0] != 0 or np.any(np.diff(offsets) < 0) or offsets[-1] != len(values):
            raise FormatError(f"{reader.path}: points_offsets must be {n + 1} non-decreasing offsets from 0 to "
                              f"the {len(values)} rows of points_values")
        points, counts = pad_frames(values, offsets, k)
        per_reader[k] = (points, (np.arange(k)[None, :] < counts[:, None]).astype(np.float32))
    return per_reader[k]


def sample_points(reader, window: np.ndarray, k: int, joints: torch.Tensor, augment: AugmentConfig | None,
                  rng: np.random.Generator, flip_perm: np.ndarray):
    """The (points (T, k, F), valid (T, k)) tensors of ``window`` (dataset rows), the joints, augmented
    together when ``augment`` is given, and the joint permutation applied."""
    points, valid = padded_points(reader, k)
    p, v, j = points[window], valid[window], joints.numpy()
    order = np.arange(j.shape[-2])
    if augment is not None:
        p, v, j, order = augment_points(p, v, j, flip_perm, augment, rng)
    return (torch.from_numpy(np.ascontiguousarray(p)), torch.from_numpy(np.ascontiguousarray(v))), \
        torch.from_numpy(np.ascontiguousarray(j)), order



def live_points(frames: list[np.ndarray], k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """T frames' (n_i, F) points, oldest first → ``(points (1, T, k, F), valid (1, T, k))`` float32, each
    frame padded by :func:`pad_frames` (the live pipeline's equivalent of :func:`sample_points`)."""
    out = [pad_frames(np.asarray(f, np.float32), np.array([0, len(f)]), k) for f in frames]
    points = np.stack([p[0] for p, _ in out])[None]
    valid = np.stack([np.arange(k) < c[0] for _, c in out]).astype(np.float32)[None]
    return torch.from_numpy(points), torch.from_numpy(valid)
