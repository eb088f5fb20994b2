"""One split of DATASET.zarr as torch training samples (the reading itself is :mod:`rfpose.dataset`).

Temporal windows of T frames come from :meth:`rfpose.dataset.DatasetReader.windows`: HuPR's with the target
at position T//2 (frames t-T/2 … t+T/2-1), HRRadarPose's (``frames`` > 1) causal, target last (frames
t-T+1 … t), stacked along the Doppler axis.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from rfpose.dataset import SPLITS, DatasetReader, check_spec
from rfpose.dataset import dataset_spec, open_dataset, session_windows  # noqa: F401  (their old home)
from rfpose.errors import UnknownNameError
from rfpose.models.augment import AugmentConfig
from rfpose.skeletons import get_skeleton

log = logging.getLogger(__name__)


@dataclass
class DataOptions:
    split: str = "train"
    limit: int | None = None
    """use only this many samples, spread evenly over the split"""
    augment: AugmentConfig | None = None
    seed: int = 0
    cache: bool = False
    """hold the split's input tensors in RAM, in the dataset's dtype (not with DataLoader workers)"""
    cache_ram_fraction: float = 0.8
    """the cache is refused (ConfigError) when it would take more than this share of the available RAM"""


class PoseDataset(torch.utils.data.Dataset):
    """One split of DATASET.zarr as training samples for a model; what a sample holds is the model family's
    (:meth:`~rfpose.models.families.base.ModelFamily.sample_inputs`).

    Items are dicts: ``inputs`` (tuple of float32 tensors, what ``model(*inputs)`` takes), ``joints``
    (P, J, 3) metres, ``joints_2d`` (P, J, 2) pixels (NaN when the dataset has none), ``confidence`` (P, J)
    the labels' per-joint confidence (1 where the dataset has none; it follows a mirrored sample's joints),
    ``index`` (sample index in the dataset) and ``session`` (session index).
    """

    def __init__(self, path: str | Path, model, options: DataOptions | None = None):
        from rfpose.models.families import get_family

        self.path = str(path)
        self.options = options or DataOptions()
        if self.options.split not in SPLITS:
            raise UnknownNameError("split", self.options.split, list(SPLITS))
        self.reader = DatasetReader(path)
        self.spec = self.reader.spec
        self.family = get_family(model)
        if self.spec.tensor_format != self.family.tensor_format:
            check_spec(model.spec, self.spec, f"{path}")
        self.reader.require(self.family.input_arrays + ("joints",))
        self.indices = self.reader.indices(self.options.split)
        if self.options.limit is not None and self.options.limit < len(self.indices):
            # spread over the split, so a cut validation set still spans its sessions and subjects
            keep = np.unique(np.linspace(0, len(self.indices) - 1, self.options.limit).round().astype(int))
            self.indices = self.indices[keep]
        # labels are small (N × P × J × 3): read once, not one zarr chunk per item
        self.joints = self.reader.labels("joints")
        self.joints_2d = self.reader.labels("joints_2d")
        self.confidence = self.reader.labels("confidence")
        self.flip_perm = get_skeleton(self.spec.skeleton).flip_permutation()
        self.model = model
        self.windows = self.family.windows(self.reader, model)
        self.session_index = self.reader.session_index
        self._epoch = 0
        self._cache = self._read_cache() if self.options.cache else None

    def _read_cache(self) -> dict[str, np.ndarray]:
        """The input arrays of the split's windows, held in RAM in the dataset's dtype."""
        rows = self.windows[self.indices]
        return {name: self.reader.cache(name, rows, self.options.cache_ram_fraction)
                for name in self.family.input_arrays}

    @property
    def has_2d(self) -> bool:
        return self.joints_2d is not None

    def set_epoch(self, epoch: int) -> None:
        self._epoch = epoch

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> dict:
        idx = int(self.indices[i])
        joints = torch.from_numpy(self.joints[idx].copy())
        if self.joints_2d is not None:
            j2d = torch.from_numpy(self.joints_2d[idx].copy())
        else:
            j2d = torch.full((*joints.shape[:2], 2), float("nan"))
        rng = np.random.default_rng((self.options.seed, self._epoch, idx))
        inputs, joints, j2d, order = self.family.sample_inputs(self.model, self.reader, self.windows[idx], joints,
                                                               j2d, self.options.augment, rng, self.flip_perm)
        conf = (torch.from_numpy(self.confidence[idx][:, order].copy()) if self.confidence is not None
                else torch.ones(joints.shape[:2]))
        return {"inputs": inputs, "joints": joints, "joints_2d": j2d, "confidence": conf, "index": idx,
                "session": int(self.session_index[idx])}
