"""Point-cloud samples for the "points" model family: a DATASET.zarr's ragged points, padded, in RAM.

A points dataset stores every frame's detections ragged (``points_values`` (M, 5) float32, frame i being
rows ``points_offsets[i]:points_offsets[i+1]``; fields in the input spec, e.g. x, y, z, Doppler,
intensity or SNR; metres in the radar frame: x forward, y left, z up). A split is small (MARS: 1.5 M
points, 30 MB), so it is read once and padded to ``(N, K, 5)``; frames with more than K points keep the K
strongest (largest fifth field), in their stored order.

An item's ``inputs`` are ``points`` (T, K, 5) float32, zero-padded, and ``valid`` (T, K) float32 (1 for a
real point): the T frames of a causal window ending at the sample, ``model.frame_stride`` (default 1)
apart (t-(T-1)s … t, clamped at the start of its session), so a live pipeline never needs a future frame.

Augmentation (radar frame, points and joints together; Doppler is radial and unchanged by all three):
lateral flip (y → -y, left/right joints swapped), yaw about the vertical axis through the radar (uniform
in ±``max_yaw_deg``), and one random point dropout rate per sample (up to 20 %).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from rfpose.errors import FormatError, UnknownNameError
from rfpose.models.augment import AugmentConfig
from rfpose.models.data import SPLITS, DataOptions, dataset_spec, open_dataset, session_windows
from rfpose.skeletons import get_skeleton

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
    """points (T, K, F), valid (T, K), joints (P, J, 3) → augmented copies (radar frame, metres)."""
    points, valid, joints = points.copy(), valid.copy(), joints.copy()
    if rng.random() < cfg.flip_prob:
        points[..., 1] *= -1
        joints = joints[:, flip_perm]
        joints[..., 1] *= -1
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
    return points * valid[..., None], valid, joints


class PointsDataset(torch.utils.data.Dataset):
    """One split of a points DATASET.zarr for a points-family model (``model.frames``, ``model.max_points``).

    Items: ``inputs`` (points (T, K, F), valid (T, K)), ``joints`` (P, J, 3) metres, ``joints_2d`` NaN,
    ``index`` and ``session``.
    """

    def __init__(self, path: str | Path, model, options: DataOptions | None = None):
        self.path = str(path)
        self.options = options or DataOptions()
        if self.options.split not in SPLITS:
            raise UnknownNameError("split", self.options.split, list(SPLITS))
        group = open_dataset(path)
        self.spec = dataset_spec(group, path)
        for name in ("points_values", "points_offsets", "joints", "split", "session_index", "frame_index"):
            if name not in group:
                raise FormatError(f"{path}: array {name!r} missing (not a points dataset?)")
        split = np.asarray(group["split"][:])
        n = len(split)
        offsets = np.asarray(group["points_offsets"][:], dtype=np.int64)
        if len(offsets) != n + 1 or offsets[0] != 0 or np.any(np.diff(offsets) < 0):
            raise FormatError(f"{path}: points_offsets must be {n + 1} non-decreasing offsets from 0")
        values = np.asarray(group["points_values"][:], dtype=np.float32)
        if values.ndim != 2 or len(values) != offsets[-1]:
            raise FormatError(f"{path}: points_values has shape {values.shape}, offsets end at {offsets[-1]}")
        self.session_index = np.asarray(group["session_index"][:]).astype(np.int64)
        frame_index = np.asarray(group["frame_index"][:]).astype(np.int64)
        self.subject = np.asarray(group["subject"][:]) if "subject" in group else np.full(n, -1)
        self.indices = np.flatnonzero(split == SPLITS[self.options.split])
        if self.options.limit is not None:
            self.indices = self.indices[: self.options.limit]
        self.frames = int(model.frames)
        stride = int(getattr(model, "frame_stride", 1))
        span = (self.frames - 1) * stride + 1
        self.windows = session_windows(self.session_index, frame_index, span, target=span - 1)[:, ::stride]
        rows = np.unique(self.windows[self.indices])  # frames this split reads (its windows' context included)
        starts, ends = offsets[rows], offsets[rows + 1]
        sub_offsets = np.r_[0, np.cumsum(ends - starts)]
        sub_values = values[np.concatenate([np.arange(a, b) for a, b in zip(starts, ends)])
                            if len(rows) else np.zeros(0, np.int64)]
        self.points, counts = pad_frames(sub_values, sub_offsets, int(model.max_points))
        self.valid = (np.arange(self.points.shape[1])[None, :] < counts[:, None]).astype(np.float32)
        self._row = np.full(n, -1, np.int64)
        self._row[rows] = np.arange(len(rows))
        self.joints = np.asarray(group["joints"][:], dtype=np.float32)
        self.flip_perm = get_skeleton(self.spec.skeleton).flip_permutation()
        self._epoch = 0

    has_2d = False

    def set_epoch(self, epoch: int) -> None:
        self._epoch = epoch

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> dict:
        idx = int(self.indices[i])
        rows = self._row[self.windows[idx]]
        points, valid, joints = self.points[rows], self.valid[rows], self.joints[idx]
        aug = self.options.augment
        if aug is not None:
            rng = np.random.default_rng((self.options.seed, self._epoch, idx))
            points, valid, joints = augment_points(points, valid, joints, self.flip_perm, aug, rng)
        joints = torch.from_numpy(np.ascontiguousarray(joints))
        return {"inputs": (torch.from_numpy(np.ascontiguousarray(points)), torch.from_numpy(valid)),
                "joints": joints, "joints_2d": torch.full((*joints.shape[:2], 2), float("nan")),
                "index": idx, "session": int(self.session_index[idx])}
