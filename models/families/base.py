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
    """the default of ``--augment`` / ``--no-augment`` (False: the paper trains without augmentation)"""


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
        memory_format: torch memory format of the model and its inputs (training and live inference).
        stacks_frames_on_channels: :meth:`live_inputs` concatenates a window's frames (one input array, each
            ``(1, C, …)``) along axis 1, oldest first; a causal family with it lets the live pipeline write
            every frame straight into the inputs of the windows it belongs to.
        output_dims: 3 for skeletons in metres (radar frame), 2 for skeletons in label-image pixels.
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
    stacks_frames_on_channels: ClassVar[bool] = False
    output_dims: ClassVar[int] = 3

    #: recipes of particular models that differ from the family's (model name → Recipe)
    model_recipes: ClassVar[dict[str, Recipe]] = {}

    def recipe_for(self, model_name: str) -> Recipe:
        """The training recipe of a registered model: its own if the family lists one, else the family's."""
        return self.model_recipes.get(model_name, self.recipe)

    def overrides_for_data(self, spec: InputSpec) -> dict:
        """Constructor overrides (JSON-serialisable) that make a model of this family accept a dataset's
        tensors; {} when the dataset's format is not this family's (the spec check then reports it)."""
        raise NotImplementedError

    def target_position(self, model) -> int:
        """Position of the labelled frame in its window of ``model.frames`` frames."""
        return model.frames - 1 if self.causal else model.frames // 2

    def windows(self, reader: DatasetReader, model) -> np.ndarray:
        """(N, model.frames) sample indices of every sample's temporal window."""
        return reader.windows(model.frames, self.target_position(model))

    @property
    def live_radars(self) -> int:
        """Radar frames the live pipeline takes per call (one per input array; HuPR: two radars)."""
        return len(self.input_arrays)

    def window_span(self, model) -> int:
        """Frames of the stream one window covers (``model.frames`` unless the window skips frames)."""
        return model.frames

    def live_inputs(self, model, window: list[tuple[torch.Tensor, ...]]) -> tuple[torch.Tensor, ...]:
        """The model's inputs (batch 1) from one temporal window of live frames, as :meth:`sample_inputs`
        builds them from the dataset: ``window`` holds ``model.frames`` frames, oldest first, each a tuple
        with one float32 tensor ``(1, *stored shape)`` per array of ``input_arrays`` (one radar each), values
        rounded as the dataset stores them. Families without a live pipeline keep this default."""
        raise ConfigError(f"the {self.name} family has no live pipeline (it needs "
                          f"{', '.join(self.input_arrays)} per frame)")

    def sample_inputs(self, model, reader: DatasetReader, window: np.ndarray, joints: torch.Tensor,
                      joints_2d: torch.Tensor, augment, rng: np.random.Generator, flip_perm: np.ndarray):
        """One training sample: ``window`` (T,) dataset rows → (inputs tuple of float32 tensors, joints,
        joints_2d, order), with ``augment`` (an :class:`~rfpose.models.augment.AugmentConfig` or None) applied
        consistently to inputs and labels; ``order`` (J,) is the permutation of the joint axis it applied (a
        left/right mirror swaps joints; the identity otherwise), which the label confidence follows."""
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

    def check_training_data(self, reader: DatasetReader) -> None:
        """Refuse a dataset this family cannot learn from (before any work)."""
        from rfpose.errors import FormatError

        if self.needs_2d_labels and "joints_2d" not in reader:
            raise FormatError(f"{reader.path}: {self.name} models need 'joints_2d' labels")

