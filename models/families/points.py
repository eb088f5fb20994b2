"""The points family: a radar's detected points (x, y, z, Doppler, intensity or SNR per point, ragged per
frame) → one 3-D skeleton per frame, in metres (MARS's ``mars-cnn``, rfpose's ``pointpose``).

Windows are causal: T frames ``model.frame_stride`` apart (default 1), the target frame last, clamped at
the start of the session. Metrics: the 3-D set plus MARS's (``mae_cm``: the mean absolute error of each
axis over joints and frames, in cm, and their mean; per subject when the sessions name one); the best
checkpoint is the one with the lowest mean.
"""

from __future__ import annotations

import numpy as np

from rfpose import metrics
from rfpose.dataset import POINTS_FORMAT, TENSOR_ARRAYS, InputSpec
from rfpose.models.families.base import ModelFamily, Recipe


class PointsFamily(ModelFamily):
    name = "points"
    tensor_format = POINTS_FORMAT  # MARS's datasets are "points-xyzvi" (intensity in place of SNR)
    input_arrays = TENSOR_ARRAYS["points"]
    model_inputs = ("points", "valid")  # (B, T, K, F) padded points and their (B, T, K) mask
    # MARS (MARS_model.py): Keras Adam lr 1e-3, beta_1 0.5, no weight decay, batch 128, 150 epochs, MSE, no
    # augmentation
    recipe = Recipe("adam", 1e-3, 0.0, (0.5, 0.999), 150, 128, val_batch_size=512, augment=False)
    model_recipes = {
        # PointPose: decoupled weight decay, OneCycle to 2e-3 with 30 % warm-up, batch 128, 20 epochs; no
        # augmentation: on MARS (one room, the subject always at the same place) flips and yaws put the
        # subject where it never stands (3 epochs: validate MAE 8.70 cm with them; 6.94 after one without)
        "pointpose": Recipe("adamw-onecycle", 2e-3, 1e-4, (0.9, 0.99), 20, 128, pct_start=0.3, val_batch_size=512,
                            augment=False),
    }
    selection = ("mae_cm_mean", False)
    causal = True

    def overrides_for_data(self, spec: InputSpec) -> dict:
        if not spec.tensor_format.startswith("points-"):
            return {}
        return {"input_shape": list(spec.shape), "normalisation": spec.normalisation, "skeleton": spec.skeleton,
                "tensor_format": spec.tensor_format}

    def windows(self, reader, model) -> np.ndarray:
        stride = int(getattr(model, "frame_stride", 1))
        span = (model.frames - 1) * stride + 1
        return reader.windows(span, span - 1)[:, ::stride]

    live_radars = 1  # one radar; its two dataset arrays are the ragged points

    def window_span(self, model) -> int:
        return (model.frames - 1) * int(getattr(model, "frame_stride", 1)) + 1

    def target_position(self, model) -> int:
        return self.window_span(model) - 1

    def live_inputs(self, model, window):
        """``window``: the span's frames, oldest first, each a one-element tuple of its (n, F) points → the
        (points (1, T, K, F), valid (1, T, K)) of every ``frame_stride``-th frame, padded as training pads."""
        from rfpose.models.points_data import live_points

        return live_points([w[0] for w in window[::int(getattr(model, "frame_stride", 1))]], model.max_points)

    def sample_inputs(self, model, reader, window, joints, joints_2d, augment, rng, flip_perm):
        from rfpose.models.points_data import sample_points

        inputs, joints, order = sample_points(reader, window, model.max_points, joints, augment, rng, flip_perm)
        return inputs, joints, joints_2d, order

    def summarise(self, result, skeleton, sessions_meta=None):
        from rfpose.models.evaluate import summarise_3d

        out = summarise_3d(result, skeleton, sessions_meta)
        if out["samples"] == 0:
            return out
        pred, gt = result["pred"][:, 0], result["joints"][:, 0]  # one person per frame
        out["mae_cm"] = metrics.mars_mae_cm(pred, gt)
        out["mae_cm_mean"] = out["mae_cm"]["mean"]
        if sessions_meta:
            subjects = np.array([str(sessions_meta[int(s)].get("subject")) if int(s) < len(sessions_meta) else "?"
                                 for s in result["session"]])
            out["per_subject_mae_cm"] = {k: metrics.mars_mae_cm(pred[subjects == k], gt[subjects == k])
                                         for k in sorted(set(subjects))}
        return out
