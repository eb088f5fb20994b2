"""The HRRadarPose family (RT-Pose): 4-D radar voxels (Doppler, z, y, x) → 3-D skeletons in metres."""

from __future__ import annotations

import numpy as np
import torch

from rfpose.dataset import RTPOSE_FORMAT, TENSOR_ARRAYS, InputSpec
from rfpose.models.families.base import ModelFamily, Recipe


class HRRadarPoseFamily(ModelFamily):
    name = "hrradarpose"
    tensor_format = RTPOSE_FORMAT
    input_arrays = TENSOR_ARRAYS["rtpose"]  # ("x",)
    # RT-Pose: fastai OneCycle, lr_max 2e-3, 40% warm-up, Adam with decoupled wd 0.01, betas (0.9, 0.99),
    # grad-norm clip 35, batch 8, 100 epochs
    recipe = Recipe("adamw-onecycle", 2e-3, 0.01, (0.9, 0.99), 100, 8, grad_clip=35.0, pct_start=0.4)
    selection = ("mpjpe_rtpose_mm", False)
    causal = True
    # oneDNN's 3-D convolutions run about 15 % faster on channels-last tensors (2-core CPU, lite model)
    memory_format = torch.channels_last_3d
    stacks_frames_on_channels = True  # live_inputs below

    def overrides_for_data(self, spec: InputSpec) -> dict:
        if spec.tensor_format != self.tensor_format:
            return {}
        return {"input_shape": list(spec.shape), "normalisation": spec.normalisation, "skeleton": spec.skeleton,
                "grid": {"voxel_size_m": list(spec.grid.voxel_size_m), "roi_min_m": list(spec.grid.roi_min_m)}}

    def sample_inputs(self, model, reader, window, joints, joints_2d, augment, rng, flip_perm):
        from rfpose.models.augment import augment_voxels

        # (T·D, Z, Y, X), oldest frame first; torch casts float16 about 4× faster than numpy
        x = torch.from_numpy(reader.read("x", window)).float().flatten(0, 1)
        order = np.arange(joints.shape[-2])
        if augment is not None:
            x, joints, order = augment_voxels(x, joints, model.spec.grid, flip_perm, augment, rng)
        return (x,), joints, joints_2d, order

    def live_inputs(self, model, window):
        return (torch.cat([frame[0] for frame in window], dim=1),)  # (1, T·D, Z, Y, X), oldest first

    def summarise(self, result, skeleton, sessions_meta=None):
        from rfpose.models.evaluate import summarise_3d

        return summarise_3d(result, skeleton, sessions_meta)

    def flip_inputs(self, inputs):
        return tuple(t.flip(3) for t in inputs)  # the y axis of (B, D, Z, Y, X)
