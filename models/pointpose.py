"""PointPose: rfpose's point-cloud pose network — a PointNet per frame and an MLP over a causal window of
a few seconds of frames.

Input: T frames' points (B, T, K, F) with their mask (B, T, K), oldest first, the target frame last,
``frame_stride`` radar frames apart (T = 12, stride 2: 2.2 s at MARS's 10 frames/s); fields x, y, z
(metres, radar frame), Doppler (m/s), intensity or SNR. Output: (B, J, 3) joints, metres, radar frame.

Why a long window: on MARS a frame's points say little about the pose (a frame has 1–64 points, median 39,
mostly from the upper body, laterally scattered). Knowing only the movement being done already gives 6.1
cm (the train mean pose of each movement, scored on validate), the subject and the movement 4.5 cm. A
repetition of a rehabilitation movement takes a few seconds, so the network sees that much.

- Point features: (x, y, z, Doppler, log1p(intensity)), absolute. (Points relative to the frame's median
  were tried: on MARS the median's lateral position scatters 2.2× more than the body's (0.24 against
  0.11 m, correlation 0.18 over the train frames), so anchoring added noise.)
- Per frame, a shared point MLP (F → c1 → c2) over the real points only (padding never enters), then
  max and mean pooling and the frame's point count: the frame's descriptor, plus a learned embedding of
  its position in the window.
- The T descriptors are concatenated and regressed by an MLP to 3J coordinates around a template pose,
  the output bias, set to the mean pose of the first training batch (the joints are ~2 m from the radar,
  far from a zero-initialised output).
- Loss: L1 (the benchmark's metric is a mean absolute error); recipe "pointpose": AdamW with OneCycle.
"""

from __future__ import annotations

import torch
from torch import nn

from rfpose.errors import ConfigError
from rfpose.models.points_common import (MARS_NORMALISATION, MARS_POINTS_FORMAT, MARS_SHAPE, JointRegressor,
                                         points_spec)
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


def _dense_pool(h: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """:func:`segment_max` and :func:`segment_mean` of every frame's real points, on the padded features
    h (B, T, K, C) with their mask valid (B, T, K) → (B, T, 2C). The MLP then also runs on the padding (about
    1.5× the training time at half-full frames), but the graph has no data-dependent shape, so it exports."""
    real = (valid > 0).unsqueeze(-1)
    top = torch.where(real, h, torch.full_like(h, float("-inf"))).amax(dim=2)
    top = torch.where(torch.isfinite(top), top, torch.zeros_like(top))
    mean = (h * real).sum(dim=2) / real.sum(dim=2).clamp(min=1)
    return torch.cat([top, mean], dim=-1)


class PointPose(JointRegressor):
    loss_name = "l1"

    def __init__(self, frames: int = 12, frame_stride: int = 2, max_points: int | None = None,
                 widths=(32, 64), hidden: int = 512, dropout: float = 0.2, skeleton: str = "kinect19",
                 tensor_format: str = MARS_POINTS_FORMAT, normalisation: str = MARS_NORMALISATION,
                 input_shape=MARS_SHAPE):
        super().__init__()
        for name, v in (("frames", frames), ("frame_stride", frame_stride)):
            if not (isinstance(v, int) and v >= 1):
                raise ConfigError(f"{name} must be an integer ≥ 1, got {v!r}")
        num_fields = int(input_shape[1])
        if max_points is None:  # the dataset's bound, or 64 when it has none
            max_points = int(input_shape[0]) if int(input_shape[0]) > 0 else 64
        if num_fields < 4:
            raise ConfigError(f"PointPose needs x, y, z and Doppler at least, got {num_fields} fields")
        self.frames, self.frame_stride, self.max_points = frames, frame_stride, max_points
        self.num_joints = get_skeleton(skeleton).num_joints
        self.spec = points_spec(tensor_format, input_shape, normalisation, skeleton, frames)
        self.spec.extra["frame_stride"] = frame_stride
        c1, c2 = widths
        self.points_mlp = _mlp(num_fields, c1, c2)
        d = 2 * c2 + 1
        self.frame_embedding = nn.Parameter(torch.zeros(frames, d))
        self.head = nn.Sequential(nn.Linear(frames * d, hidden), nn.ReLU(), nn.Dropout(dropout),
                                  nn.Linear(hidden, hidden // 2), nn.ReLU(),
                                  nn.Linear(hidden // 2, 3 * self.num_joints))
        self.register_buffer("template_set", torch.tensor(False))

    def loss(self, outputs: dict, batch: dict):
        if self.training and not bool(self.template_set):
            with torch.no_grad():
                mean = torch.nanmean(batch["joints"][:, 0], dim=0)  # (J, 3)
                self.head[-1].bias.copy_(torch.nan_to_num(mean).reshape(-1))
                self.template_set.fill_(True)
        return super().loss(outputs, batch)

    def forward(self, points: torch.Tensor, valid: torch.Tensor) -> dict:
        """points (B, T, K, F), valid (B, T, K) → {"joints": (B, J, 3)} metres."""
        feats = points
        if feats.shape[-1] > 4:
            feats = torch.cat([feats[..., :4], torch.log1p(feats[..., 4:].clamp(min=0))], dim=-1)
        b, t, k, f = feats.shape
        count = valid.reshape(b * t, k).sum(1, keepdim=True) / k
        if torch.jit.is_tracing():  # ONNX / TorchScript export: fixed shapes, the same values
            pooled = _dense_pool(self.points_mlp(feats), valid).reshape(b * t, -1)
        else:
            keep = (valid.reshape(-1) > 0).nonzero().squeeze(1)  # only real points go through the MLP
            seg = torch.div(keep, k, rounding_mode="floor")  # frame id in [0, B·T)
            h = self.points_mlp(feats.reshape(-1, f)[keep])  # (P, c2)
            pooled = torch.cat([segment_max(h, seg, b * t), segment_mean(h, seg, b * t)], dim=1)
        desc = torch.cat([pooled, count], dim=1).reshape(b, t, -1) + self.frame_embedding
        return {"joints": self.head(desc.flatten(1)).reshape(-1, self.num_joints, 3)}


@register_model("points", tiny={"widths": (8, 8), "hidden": 16, "frames": 3})
def pointpose(**kw):
    """rfpose's point-cloud pose network: per-frame PointNet, MLP over 12 causal frames 2 apart (2.2 s)."""
    return PointPose(**kw)
