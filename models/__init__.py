"""Pose networks (HRRadarPose, HuPR), registry, training, evaluation, export.

    from rfpose.models import create_model, list_models
    model = create_model("hrradarpose-lite")
"""

from rfpose.models.registry import create_model, list_models, model_entry, register_model
from rfpose.dataset import InputSpec, SpecMismatchError, VoxelGrid, check_spec

__all__ = ["create_model", "list_models", "model_entry", "register_model", "InputSpec", "VoxelGrid",
           "SpecMismatchError", "check_spec"]
