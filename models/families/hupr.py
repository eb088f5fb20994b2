"""The HuPR family: horizontal and vertical range–angle maps → 2-D skeletons in label-image pixels."""

from __future__ import annotations

import numpy as np
import torch

from rfpose.dataset import HUPR_ELEVATION_MEAN_NOTE, HUPR_FORMAT, TENSOR_ARRAYS, InputSpec
from rfpose.models.families.base import ModelFamily, Recipe


class HuprFamily(ModelFamily):
    name = "hupr"
    tensor_format = HUPR_FORMAT
    input_arrays = TENSOR_ARRAYS["hupr"]  # ("x_hori", "x_vert")
    # HuPR: Adam lr 1e-4, (coupled) wd 1e-4, ×0.999 every 2000 batches, batch 20, 200 epochs
    # and no augmentation (train and test transforms are identical)
    recipe = Recipe("adam", 1e-4, 1e-4, (0.9, 0.999), 200, 20, lr_decay_every=2000, lr_decay=0.999, augment=False)
    selection = ("ap", True)
    needs_2d_labels = True
    output_dims = 2

    def overrides_for_data(self, spec: InputSpec) -> dict:
        if spec.tensor_format != self.tensor_format:
            return {}
        return {"input_shape": list(spec.shape), "normalisation": spec.normalisation, "skeleton": spec.skeleton,
                "num_doppler": min(8, spec.shape[0]), "image_size_px": spec.image_size_px or 256,
                "elevation_averaged": spec.normalisation.endswith(HUPR_ELEVATION_MEAN_NOTE)}

    def sample_inputs(self, model, reader, window, joints, joints_2d, augment, rng, flip_perm):
        from rfpose.models.augment import augment_hupr

        doppler = slice(*model.spec.extra["doppler_bins"])
        xh, xv = (torch.from_numpy(reader.read(name, window, doppler)).float() for name in self.input_arrays)
        order = np.arange(joints_2d.shape[-2])  # the hupr14 labels (and their confidence) are 2-D
        if augment is not None:
            xh, xv, joints_2d, order = augment_hupr(xh, xv, joints_2d, flip_perm, model.stride_px, augment, rng)
        return (xh, xv), joints, joints_2d, order

    def live_inputs(self, model, window):
        # per view (1, T, D', 2, R, A, E): the central Doppler bins of every frame, oldest first
        doppler = slice(*model.spec.extra["doppler_bins"])
        return tuple(torch.stack([frame[v][:, doppler] for frame in window], dim=1)
                     for v in range(len(self.input_arrays)))

    def summarise(self, result, skeleton, sessions_meta=None):
        from rfpose.models.evaluate import summarise_2d

        return summarise_2d(result, skeleton)
