"""PointPose: rfpose's point-cloud pose network (a two-stage PointNet over a short causal window of frames).

Input: the T most recent frames' points (B, T, K, F) with their mask (B, T, K) (fields x, y, z metres in
the radar frame, Doppler m/s, intensity or SNR). Output: (B, J, 3) joints, metres, radar frame.

- Anchor: the masked median (x, y) of the newest frame's points. Points of every frame and the predicted
  joints are relative to it in x and y (z stays absolute: the radar's height is fixed), so a subject who
  stands elsewhere in the room needs no new weights. Point features: (x - ax, y - ay, z, Doppler,
  log1p(intensity)).
- Per frame, a shared point MLP (F → c1 → c2) over the real points only (padding never enters), max pooling, then a second MLP on each point's
  feature concatenated with its frame's pooled feature (c2 + c2 → c3), pooled again (max and mean): the
  frame's descriptor, plus a learned embedding of its position in the window.
- The T descriptors, oldest first, are concatenated and regressed by an MLP to 3J offsets from a learned
  template pose (initialised to zero: the template is the output bias).
- Loss: L1 (the benchmark's metric is a mean absolute error); recipe "pointpose": AdamW with OneCycle.
"""

from __future__ import annotations

import torch
from torch import nn

from rfpose.errors import ConfigError
from rfpose.models.points_common import MARS_NORMALISATION, MARS_POINTS_FORMAT, JointRegressor, points_spec
from rfpose.models.registry import register_model
from rfpose.skeletons import get_skeleton


def _mlp(*sizes: int) -> nn.Sequential:
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers)


def segment_max(x: torch.Tensor, seg: torch.Tensor, n: int) -> torch.Tensor:
    """Per-segment maximum of the rows of x (P, C) with segment ids seg (P,) in [0, n) → (n, C); 0 where a
    segment is empty."""
    out = x.new_full((n, x.shape[1]), float("-inf"))
    out = out.scatter_reduce(0, seg[:, None].expand_as(x), x, "amax", include_self=True)
    return torch.where(torch.isfinite(out), out, torch.zeros_like(out))


def segment_mean(x: torch.Tensor, seg: torch.Tensor, n: int) -> torch.Tensor:
    total = x.new_zeros((n, x.shape[1])).index_add(0, seg, x)
    count = torch.bincount(seg, minlength=n).clamp(min=1).to(x.dtype)
    return total / count[:, None]


class PointPose(JointRegressor):
    loss_name = "l1"

    def __init__(self, frames: int = 3, max_points: int = 64, num_fields: int = 5, widths=(32, 64, 96),
                 hidden: int = 512, dropout: float = 0.1, skeleton: str = "kinect19",
                 tensor_format: str = MARS_POINTS_FORMAT, normalisation: str = MARS_NORMALISATION,
                 input_shape=None):
        super().__init__()
        if not (isinstance(frames, int) and frames >= 1):
            raise ConfigError(f"frames must be an integer ≥ 1, got {frames!r}")
        if input_shape is not None:
            max_points, num_fields = int(input_shape[0]), int(input_shape[1])
        if num_fields < 4:
            raise ConfigError(f"PointPose needs x, y, z and Doppler at least, got {num_fields} fields")
        self.frames, self.max_points = frames, max_points
        self.num_joints = get_skeleton(skeleton).num_joints
        self.spec = points_spec(tensor_format, max_points, num_fields, normalisation, skeleton, frames)
        c1, c2, c3 = widths
        self.stage1 = _mlp(num_fields, c1, c2)
        self.stage2 = _mlp(2 * c2, c3)
        self.frame_embedding = nn.Parameter(torch.zeros(frames, 2 * c3))
        self.head = nn.Sequential(nn.Linear(frames * 2 * c3, hidden), nn.ReLU(), nn.Dropout(dropout),
                                  nn.Linear(hidden, hidden // 2), nn.ReLU(), nn.Linear(hidden // 2, 3 * self.num_joints))

    @staticmethod
    def anchor(points: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """(B, 2) masked median (x, y) of the newest frame's points (0 for an empty frame)."""
        xy = points[:, -1, :, :2].masked_fill(valid[:, -1, :, None] <= 0, float("nan"))
        return torch.nan_to_num(xy.nanmedian(dim=1).values)

    def forward(self, points: torch.Tensor, valid: torch.Tensor) -> dict:
        """points (B, T, K, F), valid (B, T, K) → {"joints": (B, J, 3)} metres."""
        a = self.anchor(points, valid)
        feats = points - nn.functional.pad(a, (0, points.shape[-1] - 2))[:, None, None, :]
        if feats.shape[-1] > 4:
            feats = torch.cat([feats[..., :4], torch.log1p(feats[..., 4:].clamp(min=0))], dim=-1)
        b, t, k, f = feats.shape
        keep = (valid.reshape(-1) > 0).nonzero().squeeze(1)  # only real points go through the MLPs
        seg = torch.div(keep, k, rounding_mode="floor")  # frame id in [0, B·T)
        h = self.stage1(feats.reshape(-1, f)[keep])  # (P, c2)
        g = segment_max(h, seg, b * t)
        h = self.stage2(torch.cat([h, g[seg]], dim=1))
        desc = torch.cat([segment_max(h, seg, b * t), segment_mean(h, seg, b * t)], dim=1)
        desc = desc.reshape(b, t, -1) + self.frame_embedding
        out = self.head(desc.flatten(1)).reshape(-1, self.num_joints, 3)
        return {"joints": out + nn.functional.pad(a, (0, 1))[:, None, :]}


@register_model("points", recipe="pointpose", tiny={"widths": (8, 8, 8), "hidden": 16})
def pointpose(**kw):
    """rfpose's point-cloud pose network: two-stage PointNet over 3 causal frames, anchored at the points' median."""
    return PointPose(**kw)
