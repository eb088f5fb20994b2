"""CenterPoint-style single-stage 3D pose targets, loss and decoding (as HRRadarPose uses them).

The network predicts, on a voxel grid (z, y, x), a root ("pelvis") heatmap ``(B, 1, Z, Y, X)`` of logits
and ``3·J`` offsets ``(B, 3J, Z, Y, X)``: for each joint, its (x, y, z) position minus the integer root
voxel, in voxel units of the output grid (so the three axes are metrically unequal, as in RT-Pose).

Targets follow RT-Pose (``AssignLabelPose2``): a 3-D Gaussian of radius 2 voxels on the floor of the root
voxel, peak exactly 1 there; offsets supervised only at that voxel. RT-Pose's ``gaussian3D`` uses
σ = 5/6 but raises 2σ² to the power 1.5, so its effective σ is about 0.9 voxel; we use a plain
Gaussian with σ = 0.9 voxel, which gives the same shape.

``offset_radius`` r > 0 (not RT-Pose) supervises the offsets at every voxel within r of the root voxel
(Chebyshev distance), each relative to its own voxel and weighted by the heatmap Gaussian, and decoding
then averages the poses of the peak's neighbourhood weighted by the predicted heatmap. On a coarse output
grid this gives the offset head (2r+1)³ times the supervision per person, and a peak one voxel off the
true root reads offsets that were trained.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from rfpose.dataset import VoxelGrid

GAUSSIAN_RADIUS = 2
GAUSSIAN_SIGMA = 0.9


def _grid_tensors(grid: VoxelGrid, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Voxel size and ROI minimum as (x, y, z) tensors (the joint coordinate order)."""
    vs = torch.tensor(grid.voxel_size_m[::-1], dtype=torch.float32, device=device)
    mn = torch.tensor(grid.roi_min_m[::-1], dtype=torch.float32, device=device)
    return vs, mn


def _neighbourhood(radius: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """(K, 3) integer (x, y, z) steps within Chebyshev ``radius``, root first, and their Gaussian weights (K,)."""
    d = torch.arange(-radius, radius + 1, device=device)
    steps = torch.stack(torch.meshgrid(d, d, d, indexing="ij"), dim=-1).reshape(-1, 3).flip(-1)
    steps = steps[torch.argsort((steps != 0).any(-1).long(), stable=True)]  # (0, 0, 0) first
    weight = torch.exp(-(steps.float() ** 2).sum(-1) / (2 * GAUSSIAN_SIGMA**2))
    return steps, weight


def _flat_index(cell: torch.Tensor, shape_zyx) -> torch.Tensor:
    _, Y, X = shape_zyx
    return (cell[..., 2] * Y + cell[..., 1]) * X + cell[..., 0]


def _inside(cell: torch.Tensor, shape_zyx) -> torch.Tensor:
    Z, Y, X = shape_zyx
    return (cell >= 0).all(-1) & (cell < torch.tensor([X, Y, Z], device=cell.device)).all(-1)


def build_targets(joints: torch.Tensor, grid: VoxelGrid, shape_zyx: tuple[int, int, int], root: int = 0,
                  offset_radius: int = 0):
    """Training targets for a batch of labelled people.

    Args:
        joints: (B, P, J, 3) metres, radar frame, NaN rows for absent people.
        grid: geometry of the *output* grid.
        shape_zyx: output grid size.
        offset_radius: offsets supervised within this many voxels of the root voxel (0: RT-Pose).
    Returns:
        dict with ``heatmap`` (B, 1, Z, Y, X) in [0, 1], ``index`` (B, P) flat voxel index of each root,
        ``offsets`` (B, P, 3J) voxel units, ``mask`` (B, P) bool (person present and root inside the grid),
        and the offset supervision over the K = (2r+1)³ voxels of each root's neighbourhood (root first):
        ``offset_index`` (B, P, K), ``offset_targets`` (B, P, K, 3J) relative to each voxel,
        ``offset_weight`` (B, P, K) Gaussian weight, 0 outside the grid or for an absent person.
    """
    B, P, J, _ = joints.shape
    Z, Y, X = shape_zyx
    device = joints.device
    vs, mn = _grid_tensors(grid, device)
    vox = (joints - mn) / vs  # (B, P, J, 3) in voxel units, (x, y, z)
    root_vox = vox[:, :, root]  # (B, P, 3)
    present = torch.isfinite(vox).all(dim=-1).all(dim=-1)
    cell = torch.floor(torch.nan_to_num(root_vox, nan=-1e6)).long()
    inside = present & _inside(cell, shape_zyx)
    cell = torch.where(inside[..., None], cell, torch.zeros_like(cell))
    vox = torch.where(inside[..., None, None], vox, torch.zeros_like(vox))

    steps, gauss = _neighbourhood(offset_radius, device)  # the root voxel first
    near = cell[:, :, None, :] + steps  # (B, P, K, 3)
    near_ok = inside[..., None] & _inside(near, shape_zyx)
    near = torch.where(near_ok[..., None], near, torch.zeros_like(near))
    near_index = _flat_index(near, shape_zyx)
    near_offsets = (vox[:, :, None] - near[:, :, :, None, :].float()).reshape(B, P, len(steps), J * 3)

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
    return {"heatmap": heatmap, "index": near_index[..., 0], "offsets": near_offsets[:, :, 0], "mask": inside,
            "offset_index": near_index, "offset_targets": near_offsets, "offset_weight": near_ok.float() * gauss}


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


def offset_l1_loss(pred_offsets: torch.Tensor, targets: dict, axis_scale: torch.Tensor | None = None,
                   joint_weight: torch.Tensor | None = None) -> torch.Tensor:
    """Σ over the 3J offset channels of the weighted mean L1 error over the supervised voxels (with
    ``offset_radius`` 0: the mean over labelled people at their root voxel, as RT-Pose).

    ``axis_scale`` (3,) multiplies the (x, y, z) errors, which are in output voxels; ``None`` keeps voxels.
    ``joint_weight`` (B, P, J) ≥ 0 weighs each person's joints (e.g. the labels' confidence); every channel
    stays a weighted mean, so it moves weight between samples of a joint, not between joints."""
    B, P, K = targets["offset_index"].shape
    pred = gather_at(pred_offsets, targets["offset_index"].reshape(B, P * K)).reshape(B, P, K, -1)
    weight = targets["offset_weight"][..., None]
    if joint_weight is not None:
        weight = weight * torch.nan_to_num(joint_weight).clamp(min=0).repeat_interleave(3, dim=-1)[:, :, None]
    err = (pred - targets["offset_targets"]).abs() * weight
    if axis_scale is not None:
        err = err * axis_scale.repeat(err.shape[-1] // 3)
    per_channel = err.sum(dim=(0, 1, 2)) / (weight.expand_as(err).sum(dim=(0, 1, 2)) + 1e-4)
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
                    offset_weight: float = 0.5, offset_units: str = "voxel",
                    offset_radius: int = 0, joint_weight: torch.Tensor | None = None) -> tuple[torch.Tensor, dict]:
    """RT-Pose loss: focal(heatmap) + 0.5 · L1(offsets), the L1 in ``offset_units`` (see
    :func:`offset_axis_scale`) over the root voxel's ``offset_radius`` neighbourhood, each joint's weighted
    by ``joint_weight`` (B, P, J) if given (:func:`offset_l1_loss`). Returns (total, parts as floats)."""
    hm = outputs["heatmap"]
    targets = build_targets(joints, grid, tuple(hm.shape[2:]), root, offset_radius)
    fl = focal_loss(hm, targets["heatmap"])
    l1 = offset_l1_loss(outputs["offsets"], targets, offset_axis_scale(grid, offset_units, hm.device),
                        joint_weight)
    total = fl + offset_weight * l1
    return total, {"focal": float(fl.detach()), "offset_l1": float(l1.detach())}


@torch.no_grad()
def decode(outputs: dict, grid: VoxelGrid, max_people: int = 1, score_threshold: float = 0.1,
           nms_kernel: int = 3, offset_radius: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Poses from network outputs.

    ``max_people=1`` is RT-Pose's decoding: the global argmax of the heatmap, no threshold. For
    ``max_people > 1`` local maxima (3-D max-pool NMS) are ranked and those below ``score_threshold``
    dropped (their joints are NaN). ``offset_radius`` r > 0 (for a model trained so) averages the poses
    predicted at the voxels within r of each peak, weighted by their heatmap scores.

    ``outputs["offsets"]`` is the dense ``(B, 3J, Z, Y, X)`` map, or a function of flat voxel indices
    ``(B, N)`` → ``(B, N, 3J)`` offsets there (decoding reads only the peaks' neighbourhoods, so a model can
    compute its offsets there alone).

    Returns:
        joints (B, K, J, 3) metres in the radar frame, scores (B, K) sigmoid heatmap values.
    """
    hm = torch.sigmoid(outputs["heatmap"].float())
    off = outputs["offsets"]
    offsets_at = off if callable(off) else (lambda index: gather_at(off.float(), index))
    B, _, Z, Y, X = hm.shape
    if max_people > 1:
        pad = nms_kernel // 2
        hmax = F.max_pool3d(hm, nms_kernel, stride=1, padding=pad)
        peaks = torch.where(hm == hmax, hm, torch.zeros_like(hm))
    else:
        peaks = hm
    scores, index = peaks.reshape(B, -1).topk(max_people, dim=1)
    cell = torch.stack([index % X, (index // X) % Y, index // (Y * X)], dim=-1)  # (B, K, 3) x, y, z
    steps, _ = _neighbourhood(offset_radius, hm.device)
    near = cell[:, :, None, :] + steps  # (B, K, N, 3)
    ok = _inside(near, (Z, Y, X))
    near = torch.where(ok[..., None], near, torch.zeros_like(near))
    near_index = _flat_index(near, (Z, Y, X)).reshape(B, -1)
    pred = offsets_at(near_index).float()
    pred = pred.reshape(B, max_people, len(steps), pred.shape[-1] // 3, 3)
    score = gather_at(hm, near_index).reshape(B, max_people, -1)
    weight = (score + 1e-6) * ok  # + 1e-6: a peak whose sigmoid underflows still decodes
    weight = weight / weight.sum(-1, keepdim=True)
    vs, mn = _grid_tensors(grid, hm.device)
    joints = ((near[..., None, :].float() + pred) * weight[..., None, None]).sum(2) * vs + mn
    if max_people > 1:
        joints = torch.where((scores >= score_threshold)[..., None, None], joints,
                             torch.full_like(joints, float("nan")))
    return joints, scores
