"""MARS's CNN (An & Ogras, ACM TECS 2021; upstream ``MARS_model.py``): a frame's ≤ 64 points as an
8×8×5 map → 19 Kinect joints.

Network, as upstream's Keras model: Conv2D 16 (3×3, ReLU, same) → Dropout 0.3 → Conv2D 32 (3×3, ReLU,
same) → Dropout 0.3 → BatchNorm (momentum 0.95) → Flatten → Dense 512 (ReLU) → BatchNorm (0.95) →
Dropout 0.4 → Dense 57 (linear), Glorot-uniform weights, zero biases, Keras's BatchNorm epsilon 1e-3.
Trained with MSE and Adam (lr 1e-3, β1 0.5), batch 128, 150 epochs, no augmentation (the "mars" recipe).

A dataset with more than 64 points in a frame gives the network that frame's 64 strongest.

Feature map: upstream does not publish how the points fill the 8×8 grid. Here they keep the radar's
output order (the order of the rows in the recording), are zero-padded to 64 and fill the map row by
row (point p at row p // 8, column p % 8), with the raw field values (metres, m/s, intensity), which is
the plain reading of the paper ("zero-padded to 64 points and reshaped to 8 × 8 × 5").
"""

from __future__ import annotations

import torch
from torch import nn

from rfpose.errors import ConfigError
from rfpose.models.points_common import (MARS_NORMALISATION, MARS_POINTS_FORMAT, MARS_SHAPE, JointRegressor,
                                         points_spec)
from rfpose.models.registry import register_model
from rfpose.skeletons import get_skeleton


class MarsCNN(JointRegressor):
    frames = 1
    max_points = 64

    def __init__(self, skeleton: str = "kinect19", tensor_format: str = MARS_POINTS_FORMAT,
                 normalisation: str = MARS_NORMALISATION, input_shape=MARS_SHAPE):
        super().__init__()
        num_fields = int(input_shape[1])
        if num_fields != 5:
            raise ConfigError(f"mars-cnn takes points of 5 fields (an 8×8×5 map), got {tuple(input_shape)}")
        self.num_joints = get_skeleton(skeleton).num_joints
        self.spec = points_spec(tensor_format, input_shape, normalisation, skeleton, 1)
        self.features = nn.Sequential(
            nn.Conv2d(num_fields, 16, 3, padding=1), nn.ReLU(), nn.Dropout(0.3),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.Dropout(0.3),
            nn.BatchNorm2d(32, eps=1e-3, momentum=0.05),  # Keras momentum 0.95 = torch 0.05
        )
        self.head = nn.Sequential(
            nn.Flatten(), nn.Linear(32 * 64, 512), nn.ReLU(), nn.BatchNorm1d(512, eps=1e-3, momentum=0.05),
            nn.Dropout(0.4), nn.Linear(512, 3 * self.num_joints),
        )
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    @staticmethod
    def feature_map(points: torch.Tensor) -> torch.Tensor:
        """points (B, 64, F) in stored order, zero-padded → (B, F, 8, 8), point p at (p // 8, p % 8)."""
        b, k, f = points.shape
        return points.reshape(b, 8, 8, f).permute(0, 3, 1, 2)

    def forward(self, points: torch.Tensor, valid: torch.Tensor | None = None) -> dict:
        """points (B, 1, 64, F) → {"joints": (B, J, 3)}; the 3J outputs are upstream's x of every joint, then
        y, then z."""
        out = self.head(self.features(self.feature_map(points[:, -1])))
        return {"joints": out.reshape(-1, 3, self.num_joints).transpose(1, 2)}


@register_model("points")
def mars_cnn(**kw):
    """MARS's CNN as published: 8×8×5 point map, two 3×3 convs, Dense 512, MSE (0.6 M params)."""
    return MarsCNN(**kw)
