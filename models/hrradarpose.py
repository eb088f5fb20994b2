"""HRRadarPose (RT-Pose, ECCV 2024): an HRNet-style 3-D CNN over Cartesian radar voxels.

Input (B, 32 Doppler, 16 z, 64 y, 160 x): the Doppler bins are the channels of 3-D convolutions over
(z, y, x); with ``frames`` T > 1 (not in RT-Pose) the T most recent frames are stacked along that axis.
Four parallel branches (32/32/64/64 channels at 1, 1/2, 1/4, 1/8 resolution, GroupNorm(8), residual
blocks, sum fusion) are upsampled trilinearly, concatenated (192) and mixed by a 1×1×1 conv to
128 channels; a CenterPoint head predicts a root heatmap and 15×(x, y, z) offsets (see
:mod:`rfpose.models.centerpose`). Structure from the released config ``hr3d_one_hm_doppler.py`` /
``hr_tiny_feat32_zyx_l4_in32`` (engineering notes: shared/reference/rtpose.md §3); written from that description.

File order, timm style: blocks → model → ``_create`` → cfgs → registered variants.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from rfpose.errors import ConfigError, UnknownNameError
from rfpose.models import centerpose
from rfpose.models.registry import register_model
from rfpose.dataset import RTPOSE_FORMAT, RTPOSE_GRID, InputSpec, VoxelGrid

RTPOSE_NORMALISATION = "|X| maxpooled over Doppler pairs, (v-1)/(1e8-1) clipped at 0, then /10 (RT-Pose DZYX f16 cache)"
#: ``joint_weights`` of :class:`HRRadarPose`: how the offset loss weighs each joint of a label
JOINT_WEIGHTS = ("none", "confidence")


# ---------------------------------------------------------------- blocks
def group_norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(8 if channels >= 8 and channels % 8 == 0 else 1, channels)


def norm_conv(cin: int, cout: int, stride: int = 1, kernel: int = 3, relu: bool = True) -> nn.Sequential:
    """GroupNorm → Conv3d (no bias) [→ ReLU]: the pre-normalised conv unit used throughout RT-Pose's HRNet."""
    layers = [group_norm(cin), nn.Conv3d(cin, cout, kernel, stride, kernel // 2, bias=False)]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class ResBlock3d(nn.Module):
    """[1×1×1 conv if channels change] → GN-conv-ReLU → GN-conv → + residual → ReLU."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.project = nn.Conv3d(cin, cout, 1) if cin != cout else nn.Identity()
        self.conv1 = norm_conv(cout, cout)
        self.conv2 = norm_conv(cout, cout, relu=False)

    def forward(self, x):
        x = self.project(x)
        return F.relu(self.conv2(self.conv1(x)) + x)


def _resize(x: torch.Tensor, size) -> torch.Tensor:
    return F.interpolate(x, size=size, mode="trilinear", align_corners=True)


class HRModule(nn.Module):
    """Parallel branches of residual blocks, then every branch receives the sum of all (multi-scale fusion)."""

    def __init__(self, channels: tuple[int, ...], blocks: int = 1):
        super().__init__()
        n = len(channels)
        self.branches = nn.ModuleList(nn.Sequential(*[ResBlock3d(c, c) for _ in range(blocks)]) for c in channels)
        self.fuse = nn.ModuleList()
        for i in range(n):
            row = nn.ModuleList()
            for j in range(n):
                if j == i:
                    row.append(nn.Identity())
                elif j > i:  # coarser -> finer: 1×1 conv then upsample in forward
                    row.append(norm_conv(channels[j], channels[i], kernel=1, relu=False))
                else:  # finer -> coarser: (i - j) strided convs
                    steps = [norm_conv(channels[j], channels[j], stride=2) for _ in range(i - j - 1)]
                    steps.append(norm_conv(channels[j], channels[i], stride=2, relu=False))
                    row.append(nn.Sequential(*steps))
            self.fuse.append(row)

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        xs = [b(x) for b, x in zip(self.branches, xs)]
        out = []
        for i, row in enumerate(self.fuse):
            y = xs[i]
            for j, f in enumerate(row):
                if j == i:
                    continue
                z = f(xs[j])
                if j > i:
                    z = _resize(z, xs[i].shape[2:])
                y = y + z
            out.append(F.relu(y))
        return out


class HRBackbone3d(nn.Module):
    """Optional strided stem → ResBlock → stages adding one half-resolution branch each."""

    def __init__(self, in_channels: int, channels: tuple[int, ...], blocks: int = 1, modules_per_stage: int = 1,
                 stem_stride: tuple[int, int, int] | None = None, stem_channels: int | None = None):
        super().__init__()
        c0 = channels[0]
        if stem_stride is not None:
            # patchify: kernel = stride, so every input voxel is seen exactly once
            sc = stem_channels or c0
            self.stem = nn.Sequential(nn.Conv3d(in_channels, sc, stem_stride, stem_stride, 0, bias=False), group_norm(sc),
                                      nn.ReLU(inplace=True))
            in_channels = sc
        else:
            self.stem = nn.Identity()
        self.layer1 = ResBlock3d(in_channels, c0)
        self.transitions = nn.ModuleList()
        self.stages = nn.ModuleList()
        for n in range(2, len(channels) + 1):
            self.transitions.append(norm_conv(channels[n - 2], channels[n - 1], stride=2))
            self.stages.append(nn.Sequential(*[HRModule(channels[:n], blocks) for _ in range(modules_per_stage)]))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        xs = [self.layer1(self.stem(x))]
        for transition, stage in zip(self.transitions, self.stages):
            xs = stage(xs + [transition(xs[-1])])
        return xs


class ConcatFuse(nn.Module):
    """Upsample every branch to the finest, concatenate, 1×1×1 conv (RT-Pose ``final_fuse='conat_conv'``)."""

    def __init__(self, channels: tuple[int, ...], out_channels: int):
        super().__init__()
        self.conv = nn.Conv3d(sum(channels), out_channels, 1)

    def forward(self, xs):
        size = xs[0].shape[2:]
        return self.conv(torch.cat([xs[0]] + [_resize(x, size) for x in xs[1:]], dim=1))


def head(cin: int, hidden: int, cout: int, bias_init: float | None = None, kernel: int = 3) -> nn.Sequential:
    """conv(cin→hidden)-ReLU-conv(hidden→cout); ``kernel`` is the size of the last conv (RT-Pose: 3)."""
    h = nn.Sequential(nn.Conv3d(cin, hidden, 3, 1, 1), nn.ReLU(inplace=True),
                      nn.Conv3d(hidden, cout, kernel, 1, kernel // 2))
    if bias_init is not None:
        nn.init.constant_(h[-1].bias, bias_init)
    return h


def _cube(radius: int, device) -> torch.Tensor:
    """(K, 3) integer (z, y, x) steps of a cube of Chebyshev ``radius``, in a kernel's row-major order."""
    d = torch.arange(-radius, radius + 1, device=device)
    return torch.stack(torch.meshgrid(d, d, d, indexing="ij"), dim=-1).reshape(-1, 3)


def head_at(h: nn.Sequential, feats: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``h(feats)`` (a :func:`head`) read at flat voxels ``index (B, N)`` → ``(B, N, cout)``, computed there
    alone: each output voxel from the feature patch its two convolutions see (zero outside the grid, as their
    zero padding), so decoding a few peaks skips the head's pass over the whole grid."""
    conv1, conv2 = h[0], h[2]
    B, C, Z, Y, X = feats.shape
    size = torch.tensor([Z, Y, X], device=feats.device)
    zyx = torch.stack([index // (Y * X), (index // X) % Y, index % X], dim=-1)  # (B, N, 3)
    hidden_at = zyx[:, :, None] + _cube(conv2.kernel_size[0] // 2, feats.device)  # (B, N, S2, 3)
    read = hidden_at[..., None, :] + _cube(conv1.kernel_size[0] // 2, feats.device)  # (B, N, S2, S1, 3)
    inside = ((read >= 0) & (read < size)).all(-1)
    read = torch.minimum(read.clamp(min=0), size - 1)
    batch = torch.arange(B, device=feats.device).reshape(B, 1, 1, 1)
    patch = feats.permute(0, 2, 3, 4, 1)[batch, read[..., 0], read[..., 1], read[..., 2]]  # (B, N, S2, S1, C)
    patch = patch * inside[..., None]
    w1 = conv1.weight.permute(0, 2, 3, 4, 1).reshape(conv1.out_channels, -1)  # (hidden, S1·C)
    hidden = F.relu(patch.flatten(-2) @ w1.T + conv1.bias)  # (B, N, S2, hidden)
    hidden = hidden * ((hidden_at >= 0) & (hidden_at < size)).all(-1)[..., None]
    w2 = conv2.weight.permute(0, 2, 3, 4, 1).reshape(conv2.out_channels, -1)  # (cout, S2·hidden)
    return hidden.flatten(-2) @ w2.T + conv2.bias


# ---------------------------------------------------------------- model
class HRRadarPose(nn.Module):
    """HRRadarPose network plus its loss and decoding.

    Args:
        input_shape: per-sample input (doppler, z, y, x).
        channels: channels of the parallel branches (its length = number of branches).
        fuse_channels: channels after the concat-fuse conv.
        head_channels: hidden channels of each head.
        heatmap_head_channels: hidden channels of the heatmap head alone (default ``head_channels``); the
            root heatmap is an easier target than the 45 offsets and its 3×3×3 conv is a large share of
            the lite model's multiply-adds.
        stem_stride: optional (z, y, x) stride of a first conv (the deployment variant); ``None`` = RT-Pose.
        grid: voxel geometry of the input (sets metre conversion in decoding).
        max_people: decoding default (1 = RT-Pose's global argmax).
        offset_loss: units of the offset L1 (``centerpose.OFFSET_UNITS``): "voxel" as RT-Pose, or
            "isotropic" (metric, every axis weighted alike).
        offset_radius: offsets supervised and decoded within this many output voxels of the root voxel
            (``centerpose``); 0 = RT-Pose (the root voxel only).
        log_input_ref: ``None`` feeds the linear magnitudes (RT-Pose); a value ``r`` (input units, about the
            noise floor) feeds ``log1p(x / r)``, so weak moving reflectors (hands, ~1 % of the static
            clutter's magnitude) reach the first convolution at a comparable scale.
        frames: radar frames per sample, the target frame last (frames t-T+1 … t: causal, so a live
            pipeline needs no future frame). They are stacked oldest first along the channel axis, so the
            network input is (B, frames × doppler, z, y, x); 1 = RT-Pose.
        joint_weights: "none" (RT-Pose) or "confidence": each joint's offset loss is weighted by its label's
            confidence (``rfpose annotate`` writes one per joint; a dataset without one weighs 1), so a
            joint the labelling was unsure of counts less than the same joint well placed in other frames.
    """

    family = "hrradarpose"

    def __init__(self, input_shape=(32, 16, 64, 160), channels=(32, 32, 64, 64), blocks: int = 1,
                 modules_per_stage: int = 1, fuse_channels: int = 128, head_channels: int = 32,
                 stem_stride: tuple[int, int, int] | None = None, stem_channels: int | None = None,
                 num_joints: int = 15, skeleton: str = "rtpose15", grid: VoxelGrid = RTPOSE_GRID,
                 normalisation: str = RTPOSE_NORMALISATION, max_people: int = 1, score_threshold: float = 0.1,
                 head_kernel: int = 3, offset_loss: str = "voxel", offset_radius: int = 0,
                 log_input_ref: float | None = None, frames: int = 1, heatmap_head_channels: int | None = None,
                 joint_weights: str = "none"):
        super().__init__()
        self.input_shape = tuple(input_shape)
        if not (isinstance(frames, int) and frames >= 1):
            raise ConfigError(f"frames must be an integer ≥ 1, got {frames!r}")
        self.frames = frames
        self.stem_stride = tuple(stem_stride) if stem_stride is not None else (1, 1, 1)
        self.num_joints = num_joints
        self.max_people, self.score_threshold = max_people, score_threshold
        centerpose.offset_axis_scale(grid, offset_loss)  # fail early on unknown units
        self.offset_loss = offset_loss
        if not (isinstance(offset_radius, int) and offset_radius >= 0):
            raise ConfigError(f"offset_radius must be an integer ≥ 0 (output voxels), got {offset_radius!r}")
        self.offset_radius = offset_radius
        if joint_weights not in JOINT_WEIGHTS:
            raise UnknownNameError("joint weights", joint_weights, JOINT_WEIGHTS)
        self.joint_weights = joint_weights
        if log_input_ref is not None and not log_input_ref > 0:
            raise ConfigError(f"log_input_ref must be > 0 (input units), got {log_input_ref}")
        self.log_input_ref = log_input_ref
        self.spec = InputSpec(RTPOSE_FORMAT, self.input_shape, normalisation, skeleton, grid=grid,
                              extra={"frames": frames})
        self.backbone = HRBackbone3d(frames * input_shape[0], tuple(channels), blocks, modules_per_stage,
                                     tuple(stem_stride) if stem_stride is not None else None, stem_channels)
        self.neck = ConcatFuse(tuple(channels), fuse_channels)
        self.heatmap_head = head(fuse_channels, heatmap_head_channels or head_channels, 1, bias_init=-2.19,
                                 kernel=head_kernel)
        self.offset_head = head(fuse_channels, head_channels, 3 * num_joints, kernel=head_kernel)

    @property
    def output_grid(self) -> VoxelGrid:
        return self.spec.grid.scaled(self.stem_stride)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, T·D, Z, Y, X) → the fused features (B, fuse_channels, Z', Y', X') the heads read."""
        if self.log_input_ref is not None:
            x = torch.log1p(x.clamp(min=0) / self.log_input_ref)
        return self.neck(self.backbone(x))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """x (B, T·D, Z, Y, X) → {"heatmap": (B, 1, Z', Y', X') logits, "offsets": (B, 3J, Z', Y', X') voxels}."""
        feats = self.features(x)
        return {"heatmap": self.heatmap_head(feats), "offsets": self.offset_head(feats)}

    def predict(self, x: torch.Tensor, max_people: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``decode(forward(x))`` for inference, with the offset head computed only at the voxels decoding
        reads ((2r + 1)³ around each of ``max_people`` peaks, not the whole grid: a quarter of the lite
        recipe's multiply-adds). → joints (B, K, J, 3) metres, scores (B, K)."""
        feats = self.features(x)
        return self.decode({"heatmap": self.heatmap_head(feats),
                            "offsets": lambda index: head_at(self.offset_head, feats, index)}, max_people)

    def example_inputs(self, batch: int = 1) -> tuple[torch.Tensor]:
        d, *zyx = self.input_shape
        return (torch.zeros(batch, self.frames * d, *zyx),)

    def loss(self, outputs: dict, batch: dict) -> tuple[torch.Tensor, dict]:
        weight = batch.get("confidence") if self.joint_weights == "confidence" else None
        return centerpose.centerpose_loss(outputs, batch["joints"], self.output_grid, offset_units=self.offset_loss,
                                       offset_radius=self.offset_radius, joint_weight=weight)

    def decode(self, outputs: dict, max_people: int | None = None, score_threshold: float | None = None):
        """→ (joints (B, K, J, 3) metres, scores (B, K))."""
        return centerpose.decode(outputs, self.output_grid, max_people or self.max_people,
                                 self.score_threshold if score_threshold is None else score_threshold,
                                 offset_radius=self.offset_radius)

    def decode_flip(self, outputs: dict, outputs_flipped: dict):
        """Flip test (HRNet's test-time augmentation) for one person per frame: ``outputs_flipped`` are the
        network's outputs on the input with its y axis reversed; its pose is mirrored back (y about the grid
        centre, left/right joints swapped) and averaged with the direct one. → (joints (B, 1, J, 3), scores (B, 1))."""
        from rfpose.skeletons import get_skeleton

        joints, scores = self.decode(outputs, max_people=1)
        mirrored, scores_f = self.decode(outputs_flipped, max_people=1)
        mirrored = mirrored[:, :, torch.as_tensor(get_skeleton(self.spec.skeleton).flip_permutation())]
        g, ny = self.spec.grid, self.input_shape[2]
        centre = g.roi_min_m[1] + (ny - 1) * g.voxel_size_m[1] / 2
        mirrored[..., 1] = 2 * centre - mirrored[..., 1]
        return (joints + mirrored) / 2, (scores + scores_f) / 2


def _create(**kwargs) -> HRRadarPose:
    if "grid" in kwargs and isinstance(kwargs["grid"], dict):
        g = kwargs["grid"]
        kwargs["grid"] = VoxelGrid(tuple(g["voxel_size_m"]), tuple(g["roi_min_m"]))
    return HRRadarPose(**kwargs)


# ---------------------------------------------------------------- cfgs
CFGS = {
    # RT-Pose hr_tiny_feat32_zyx_l4_in32 + conat_conv fuse 128 + one-heatmap CenterPoint head
    "hrradarpose": dict(channels=(32, 32, 64, 64), fuse_channels=128, head_channels=32),
    # deployment: a patchify stem (stride 2 in z and y, 4 in x: 16× fewer voxels, 8 × 32 × 40 output
    # voxels of 0.73 × 0.31 × 0.18 m), three narrow branches, 1×1×1 output convs in the heads
    "hrradarpose-lite": dict(channels=(16, 16, 32), fuse_channels=32, head_channels=8, stem_stride=(2, 2, 4),
                             stem_channels=16, head_kernel=1),
}
# Small spatial size for forward/backward smoke tests (every axis divisible by 8, x by 32).
TINY = dict(input_shape=(32, 8, 16, 32))


# ---------------------------------------------------------------- variants
@register_model("hrradarpose", tiny=TINY)
def hrradarpose(**kw):
    """HRRadarPose as in RT-Pose: full-resolution 4-branch 3-D HRNet, 2.2 M params, ~93 GMACs."""
    return _create(**{**CFGS["hrradarpose"], **kw})


@register_model("hrradarpose", tiny=TINY)
def hrradarpose_lite(**kw):
    """HRRadarPose for CPU deployment: patchify stem (2, 2, 4), 3 narrow branches, coarser output grid."""
    return _create(**{**CFGS["hrradarpose-lite"], **kw})
