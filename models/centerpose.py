"""CenterPoint-style single-stage 3D pose targets, loss and decoding (as HRRadarPose uses them).

The network predicts, on a voxel grid (z, y, x), a root ("pelvis") heatmap ``(B, 1, Z, Y, X)`` of logits
and ``3·J`` offsets ``(B, 3J, Z, Y, X)``: for each joint, its (x, y, z) position minus the integer root
voxel, in voxel units of the output grid (so the three axes are metrically unequal, as in RT-Pose).

Targets follow RT-Pose (``AssignLabelPose2``): a 3-D Gaussian of radius 2 voxels on the floor of the root
voxel, peak exactly 1 there; offsets supervised only at that voxel. RT-Pose's ``gaussian3D`` uses
σ = 5/6 but raises 2σ² to the power 1.5, so its effective σ is about 0.9 voxel; we use a plain
Gaussian with σ = 0.9 voxel, which gives the same shape.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from rfpose.models.spec import VoxelGrid

GAUSSIAN_RADIUS = 2
GAUSSIAN_SIGMA = 0.9


def _grid_tensors(grid: VoxelGrid, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Voxel size and ROI minimum as (x, y, z) tensors (the joint coordinate order)."""
    vs = torch.tensor(grid.voxel_size_m[::-1], dtype=torch.float32, device=device)
    mn = torch.tensor(grid.roi_min_m[::-1], dtype=torch.float32, device=device)
    return vs, mn


def build_targets(joints: torch.Tensor, grid: VoxelGrid, shape_zyx: tuple[int, int, int], root: int = 0):
    """Training targets for a batch of labelled people.

    Args:
        joints: (B, P, J, 3) metres, radar frame, NaN rows for absent people.
        grid: geometry of the *output* grid.
        shape_zyx: output grid size.
    Returns:
        dict with ``heatmap`` (B, 1, Z, Y, X) in [0, 1], ``index`` (B, P) flat voxel index of each root,
        ``offsets`` (B, P, 3J) voxel units, ``mask`` (B, P) bool (person present and root inside the grid).
    """
    B, P, J, _ = joints.shape
    Z, Y, X = shape_zyx
    device = joints.device
    vs, mn = _grid_tensors(grid, device)
    vox = (joints - mn) / vs  # (B, P, J, 3) in voxel units, (x, y, z)
    root_vox = vox[:, :, root]  # (B, P, 3)
    present = torch.isfinite(vox).all(dim=-1).all(dim=-1)
    cell = torch.floor(torch.nan_to_num(root_vox, nan=-1e6)).long()
    size_xyz = torch.tensor([X, Y, Z], device=device)
    inside = present & (cell >= 0).all(-1) & (cell < size_xyz).all(-1)
    cell = torch.where(inside[..., None], cell, torch.zeros_like(cell))
    index = (cell[..., 2] * Y + cell[..., 1]) * X + cell[..., 0]
    offsets = (vox - cell[:, :, None, :].float()).reshape(B, P, J * 3)
    offsets = torch.where(inside[..., None], offsets, torch.zeros_like(offsets))

    heatmap = torch.zeros(B, 1, Z, Y, X, device=device)
    r = GAUSSIAN_RADIUS
    d = torch.arange(-r, r + 1, device=device, dtype=torch.float32)
    dz, dy, dx = torch.meshgrid(d, d, d, indexing="ij")
    kernel = torch.exp(-(dx**2 + dy**2 + dz**2) / (2 * GAUSSIAN_SIGMA**2))
    for b, p in inside.nonzero().tolist():
        x, y, z = cell[b, p].tolist()
        z0, z1 = max(z - r, 0), min(z + r + 1, Z)
        y0, y1 = max(y - r, 0), min(y + r + 1, Y)
        x0, x1 = max(x - r, 0), min(x + r + 1, X)
        patch = kernel[z0 - z + r:z1 - z + r, y0 - y + r:y1 - y + r, x0 - x + r:x1 - x + r]
        region = heatmap[b, 0, z0:z1, y0:y1, x0:x1]
        heatmap[b, 0, z0:z1, y0:y1, x0:x1] = torch.maximum(region, patch)
    return {"heatmap": heatmap, "index": index, "offsets": offsets, "mask": inside}


def focal_loss(logits: torch.Tensor, target: torch.Tensor, alpha: float = 2.0, beta: float = 4.0) -> torch.Tensor:
    """CornerNet focal loss on sigmoid(logits), normalised by the number of positives (target == 1)."""
    pos = target.eq(1).float()
    neg = 1.0 - pos
    log_p = F.logsigmoid(logits)
    log_1mp = F.logsigmoid(-logits)
    p = torch.sigmoid(logits)
    pos_loss = (pos * (1 - p) ** alpha * log_p).sum()
    neg_loss = (neg * (1 - target) ** beta * p**alpha * log_1mp).sum()
    num_pos = pos.sum()
    return -(pos_loss + neg_loss) / num_pos.clamp(min=1.0)


def gather_at(features: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """(B, C, Z, Y, X) features at flat voxel ``index`` (B, K) -> (B, K, C)."""
    B, C = features.shape[:2]
    flat = features.reshape(B, C, -1)
    return flat.gather(2, index[:, None, :].expand(B, C, index.shape[1])).transpose(1, 2)


OFFSET_UNITS = ("voxel", "isotropic")


def offset_l1_loss(pred_offsets: torch.Tensor, targets: dict, axis_scale: torch.Tensor | None = None) -> torch.Tensor:
    """Σ over the 3J offset channels of the mean (over labelled people) L1 error at the root voxel.

    ``axis_scale`` (3,) multiplies the (x, y, z) errors, which are in output voxels; ``None`` keeps voxels."""
    pred = gather_at(pred_offsets, targets["index"])  # (B, P, 3J)
    mask = targets["mask"][..., None].float()
    err = (pred - targets["offsets"]).abs() * mask
    if axis_scale is not None:
        err = err * axis_scale.repeat(err.shape[-1] // 3)
    per_channel = err.sum(dim=(0, 1)) / (mask.sum() + 1e-4)
    return per_channel.sum()


def offset_axis_scale(grid: VoxelGrid, units: str, device=None) -> torch.Tensor | None:
    """Per-axis factor turning voxel-unit offset errors into ``units``.

    ``"voxel"`` (RT-Pose): none, so on anisotropic voxels a metre of error costs more along the finest
    axis. ``"isotropic"``: metres divided by the geometric mean voxel size, so every axis costs the same
    per metre while the loss keeps about the magnitude of the voxel-unit one (and the 0.5 weight)."""
    if units == "voxel":
        return None
    if units != "isotropic":
        from rfpose.errors import UnknownNameError

        raise UnknownNameError("offset loss units", units, OFFSET_UNITS)
    vs, _ = _grid_tensors(grid, device)
    return vs / vs.prod() ** (1 / 3)


def centerpose_loss(outputs: dict, joints: torch.Tensor, grid: VoxelGrid, root: int = 0,
                    offset_weight: float = 0.5, offset_units: str = "voxel") -> tuple[torch.Tensor, dict]:
    """RT-Pose loss: focal(heatmap) + 0.5 · L1(offsets), the L1 in ``offset_units`` (see
    :func:`offset_axis_scale`). Returns (total, parts as floats)."""
    hm = outputs["heatmap"]
    targets = build_targets(joints, grid, tuple(hm.shape[2:]), root)
    fl = focal_loss(hm, targets["heatmap"])
    l1 = offset_l1_loss(outputs["offsets"], targets, offset_axis_scale(grid, offset_units, hm.device))
    total = fl + offset_weight * l1
    return total, {"focal": float(fl.detach()), "offset_l1": float(l1.detach())}


@torch.no_grad()
def decode(outputs: dict, grid: VoxelGrid, max_people: int = 1, score_threshold: float = 0.1,
           nms_kernel: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """Poses from network outputs.

    ``max_people=1`` is RT-Pose's decoding: the global argmax of the heatmap, no threshold. For
    ``max_people > 1`` local maxima (3-D max-pool NMS) are ranked and those below ``score_threshold``
    dropped (their joints are NaN).

    Returns:
        joints (B, K, J, 3) metres in the radar frame, scores (B, K) sigmoid heatmap values.
    """
    hm = torch.sigmoid(outputs["heatmap"].float())
    off = outputs["offsets"].float()
    B, _, Z, Y, X = hm.shape
    J = off.shape[1] // 3
    if max_people > 1:
        pad = nms_kernel // 2
        hmax = F.max_pool3d(hm, nms_kernel, stride=1, padding=pad)
        hm = torch.where(hm == hmax, hm, torch.zeros_like(hm))
    scores, index = hm.reshape(B, -1).topk(max_people, dim=1)
    z = index // (Y * X)
    y = (index // X) % Y
    x = index % X
    cell = torch.stack([x, y, z], dim=-1).float()  # (B, K, 3)
    pred = gather_at(off, index).reshape(B, max_people, J, 3)
    vs, mn = _grid_tensors(grid, hm.device)
    joints = (cell[:, :, None, :] + pred) * vs + mn
    if max_people > 1:
        joints = torch.where((scores >= score_threshold)[..., None, None], joints,
                             torch.full_like(joints, float("nan")))
    return joints, scores
