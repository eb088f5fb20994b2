"""The model-family contract: everything the rest of rfpose needs to know about a family of pose networks.

A *family* is a kind of network that shares its input tensors, targets, loss, decoding, metrics and
training recipe (``hrradarpose``: 4-D radar voxels → 3-D skeletons; ``hupr``: two range–angle views →
2-D skeletons). Training, evaluation, export and the live pipeline ask the family; nothing outside the
family modules compares a family's name.

Adding a family (for example point-cloud models):

1. Write the network in ``rfpose/models/<name>.py``: an ``nn.Module`` with a ``family = "<name>"`` class
   attribute, a ``spec`` (:class:`~rfpose.dataset.InputSpec`), ``frames`` (samples per temporal window),
   ``example_inputs(batch)``, ``loss(outputs, batch) -> (loss, parts)`` (it builds its own targets from
   ``batch["joints"]`` (B, P, J, 3) metres and ``batch["joints_2d"]`` (B, P, J, 2) pixels),
   ``decode(outputs, max_people=None) -> (poses, scores)`` and optionally ``decode_flip``. Register its
   variants with ``@register_model("<name>", tiny={...})``; the registry imports every module of
   ``rfpose.models`` that registers models, so no list needs editing.
2. Write ``rfpose/models/families/<name>.py`` with one :class:`ModelFamily` subclass setting ``name`` and
   the class attributes below and implementing :meth:`sample_inputs`, :meth:`overrides_for_data` and
   :meth:`summarise`. It is discovered by its module being in this package.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from rfpose.dataset import DatasetReader, InputSpec
from rfpose.errors import ConfigError


@dataclass(frozen=True)
class Recipe:
    """Optimiser and schedule of a model family, as its paper's code does it."""

    optimizer: str  # "adamw-onecycle" | "adam"
    lr: float
    weight_decay: float
    betas: tuple[float, float]
    epochs: int
    batch_size: int
    grad_clip: float | None = None
    pct_start: float = 0.4
    lr_decay_every: int | None = None
    lr_decay: float = 1.0
    val_batch_size: int = 4
    augment: bool = True
    """False: the recipe never augments (a paper that trains without augmentation)"""


class ModelFamily:
    """Base class of the families (one subclass per module of :mod:`rfpose.models.families`).

    Class attributes a family sets:
        name: the family's name (the models' ``family`` attribute and ``register_model``'s argument).
        tensor_format: the dataset tensor format its models read (``input_spec.tensor_format``).
        input_arrays: dataset arrays of one sample, in ``model(*inputs)`` order.
        model_inputs: the names of ``model(*inputs)``'s arguments, the exported model's input names; by
            default :attr:`input_arrays` (a family whose inputs are made from the arrays names its own).
        recipe: optimiser defaults (:class:`Recipe`); ``model_recipes`` those of models that differ.
        selection: (metric name, higher is better) that picks the best checkpoint.
        needs_2d_labels: training needs ``joints_2d`` in the dataset.
        causal: windows end at the target frame (frames t-T+1 … t), so a live pipeline needs no future
            frame; False: the target sits at T//2.
        memory_format: torch memory format of the model and its inputs in training.
    """

    name: ClassVar[str]
    tensor_format: ClassVar[str]
    input_arrays: ClassVar[tuple[str, ...]]
    model_inputs: ClassVar[tuple[str, ...] | None] = None
    recipe: ClassVar[Recipe]
    selection: ClassVar[tuple[str, bool]]
    needs_2d_labels: ClassVar[bool] = False
    causal: ClassVar[bool] = False
    memory_format: ClassVar[torch.memory_format] = torch.contiguous_format

    #: recipes of particular models that differ from the family's (model name → Recipe)
    model_recipes: ClassVar[dict[str, Recipe]] = {}

    def recipe_for(self, model_name: str) -> Recipe:
        """The training recipe of a registered model: its own if the family lists one, else the family's."""
        return self.model_recipes.get(model_name, self.recipe)

    def overrides_for_data(self, spec: InputSpec) -> dict:
        """Constructor overrides (JSON-serialisable) that make a model of this family accept a dataset's
        tensors; {} when the dataset's format is not this family's (the spec check then reports it)."""
        raise NotImplementedError

    def windows(self, reader: DatasetReader, model) -> np.ndarray:
        """(N, model.frames) sample indices of every sample's temporal window."""
        return reader.windows(model.frames, model.frames - 1 if self.causal else None)

    def sample_inputs(self, model, reader: DatasetReader, window: np.ndarray, joints: torch.Tensor,
                      joints_2d: torch.Tensor, augment, rng: np.random.Generator, flip_perm: np.ndarray):
        """One training sample: ``window`` (T,) dataset rows → (inputs tuple of float32 tensors, joints,
        joints_2d), with ``augment`` (an :class:`~rfpose.models.augment.AugmentConfig` or None) applied
        consistently to inputs and labels."""
        raise NotImplementedError

    def summarise(self, result: dict, skeleton: str, sessions_meta: list | None = None) -> dict:
        """Metrics of a prediction result (:func:`rfpose.models.evaluate.predict`)."""
        raise NotImplementedError

    def selection_metric(self, summary: dict) -> tuple[str, float, bool]:
        """(name, value, higher_is_better) of a summary, to pick the best checkpoint."""
        name, higher = self.selection
        return name, float(summary.get(name, 0.0 if higher else np.inf)), higher

    def flip_inputs(self, inputs: tuple) -> tuple:
        """The inputs mirrored left/right, for the flip test (models with ``decode_flip``)."""
        raise ConfigError(f"the {self.name} family has no flip test")

    def live_window(self, model):
        """The model's inputs for a live stream, frame by frame: a callable that takes one frame's sample as
        the family's processor computes it (``DatasetProcessor.compute`` on one frame) and returns the model's
        inputs (a tuple, batch 1) for the window ending at that frame, equal to what training reads from the
        dataset for it. The default serves causal families with one tensor per frame: the ``model.frames``
        most recent samples, rounded as the dataset stores them, stacked oldest first along the channel axis."""
        if not self.causal or len(self.input_arrays) != 1:
            raise ConfigError(f"the live pipeline runs models on causal windows; the {self.name} family's need "
                              f"{', '.join(self.input_arrays)}" + ("" if self.causal else " and future frames"))
        recent = RecentFrames(model.frames)
        return lambda sample: (recent.push(round_like_dataset(sample)),)

    def check_training_data(self, reader: DatasetReader) -> None:
        """Refuse a dataset this family cannot learn from (before any work)."""
        from rfpose.errors import FormatError

        if self.needs_2d_labels and "joints_2d" not in reader:
            raise FormatError(f"{reader.path}: {self.name} models need 'joints_2d' labels")


def round_like_dataset(x: np.ndarray) -> torch.Tensor:
    """float32 voxels → float32 torch tensor rounded as DATASET.zarr stores them (float16, clipped at its
    maximum), so live inputs equal training inputs. Torch converts RT-Pose's 5.2 M voxels in 3 ms on 2 cores;
    numpy's float16 cast takes 30 ms."""
    from rfpose.dataset import FLOAT16_MAX

    return torch.from_numpy(x).clamp(max=FLOAT16_MAX).half().float()


class RecentFrames:
    """The ``frames`` most recent inputs (1, D, Z, Y, X), stacked oldest first along the channel axis. Until
    ``frames`` have been pushed the oldest is repeated, as the dataset reader clamps a window at a session's
    start (``rfpose.dataset.session_windows``)."""

    def __init__(self, frames: int):
        from collections import deque

        self._recent = deque(maxlen=frames)

    def push(self, x):
        """Add the newest frame; → (1, frames × D, Z, Y, X)."""
        self._recent.append(x)
        if self._recent.maxlen == 1:
            return x
        missing = self._recent.maxlen - len(self._recent)
        return torch.cat([self._recent[0]] * missing + list(self._recent), dim=1)
