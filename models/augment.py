"""Training augmentations that keep radar tensors and labels consistent.

RT-Pose voxels (D, Z, Y, X) with joints (P, J, 3) metres:
  * lateral flip: reverse the y axis of the grid; joints reflect about the grid's y centre and swap
    left/right (``skeleton.flip_permutation()``).
  * yaw rotation about the vertical axis through the radar (z axis at y = x = 0): every z plane is resampled
    bilinearly with ``grid_sample`` (empty outside the field of view), joints rotate with it.
  * intensity jitter: one log-normal gain per sample (the magnitude stays non-negative).
HuPR maps (T, D, 2, R, A, E) per view with joints_2d (P, J, 2) pixels:
  * lateral flip: reverse the horizontal radar's azimuth axis (and the vertical radar's elevation axis,
    which is horizontal in the world since that board is rotated); mirror x about the heatmap centre and
    swap left/right joints.
  * "rotation": a shift of the azimuth axis by a few bins with zero fill and the same shift of the joints'
    x in pixels (bins × image stride). HuPR's network maps polar bins to image pixels implicitly and
    azimuth bins are uniform in sin θ, so this is the small-angle equivalent of a yaw, not an exact one.
  * intensity jitter: one gain per sample (complex values keep their phase).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from rfpose.dataset import VoxelGrid


@dataclass
class AugmentConfig:
    enabled: bool | None = None
    """None: the model's recipe decides (HuPR's trains without augmentation, RT-Pose's with)"""
    flip_prob: float = 0.5
    max_yaw_deg: float = 10.0
    """rtpose: uniform yaw in ±max_yaw_deg, applied with probability rotate_prob"""
    rotate_prob: float = 0.5
    max_azimuth_shift_bins: int = 2
    """hupr: uniform azimuth shift in ±bins"""
    jitter_std: float = 0.1
    """standard deviation of the log gain"""


# ---------------------------------------------------------------- RT-Pose voxels
def flip_voxels_y(x: torch.Tensor, joints: torch.Tensor, grid: VoxelGrid, perm: np.ndarray):
    """x (D, Z, Y, X), joints (P, J, 3) → flipped copies."""
    Y = x.shape[2]
    centre = grid.roi_min_m[1] + (Y - 1) * grid.voxel_size_m[1] / 2
    j = joints[:, perm].clone()
    j[..., 1] = 2 * centre - j[..., 1]
    return x.flip(2), j


def rotate_voxels_yaw(x: torch.Tensor, joints: torch.Tensor, grid: VoxelGrid, angle_rad: float):
    """Rotate the scene by ``angle_rad`` about the radar's vertical axis (counter-clockwise seen from above).

    A yaw leaves z alone, so every (Doppler, z) plane is resampled bilinearly in (y, x) by one 2-D
    ``grid_sample`` (half the cost of a trilinear 3-D one)."""
    D, Z, Y, X = x.shape
    (_, dy, dx), (_, y0, x0) = grid.voxel_size_m, grid.roi_min_m
    ys = y0 + dy * torch.arange(Y, dtype=torch.float32)
    xs = x0 + dx * torch.arange(X, dtype=torch.float32)
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")  # output voxel positions (Y, X)
    c, s = math.cos(angle_rad), math.sin(angle_rad)
    # sample the input where the rotated scene point came from: R(-θ) p
    x_in = c * xx + s * yy
    y_in = -s * xx + c * yy
    gx = 2 * (x_in - x0) / (dx * max(X - 1, 1)) - 1
    gy = 2 * (y_in - y0) / (dy * max(Y - 1, 1)) - 1
    g = torch.stack([gx, gy], dim=-1)[None]
    planes = x.reshape(1, D * Z, Y, X).float()
    out = F.grid_sample(planes, g, mode="bilinear", padding_mode="zeros", align_corners=True).reshape(D, Z, Y, X)
    j = joints.clone()
    j[..., 0] = c * joints[..., 0] - s * joints[..., 1]
    j[..., 1] = s * joints[..., 0] + c * joints[..., 1]
    return out.to(x.dtype), j


def augment_voxels(x, joints, grid: VoxelGrid, perm, cfg: AugmentConfig, rng: np.random.Generator):
    """→ (x, joints, order): ``order`` (J,) is the joint permutation applied (``perm`` if mirrored, else the
    identity), for per-joint values that travel with the joints (their label confidence)."""
    order = np.arange(joints.shape[-2])
    if not cfg.enabled:
        return x, joints, order
    if rng.random() < cfg.flip_prob:
        x, joints = flip_voxels_y(x, joints, grid, perm)
        order = np.asarray(perm)
    if cfg.max_yaw_deg > 0 and rng.random() < cfg.rotate_prob:
        x, joints = rotate_voxels_yaw(x, joints, grid, math.radians(rng.uniform(-cfg.max_yaw_deg, cfg.max_yaw_deg)))
    if cfg.jitter_std > 0:
        x = x * float(np.exp(rng.normal(0.0, cfg.jitter_std)))
    return x, joints, order


# ---------------------------------------------------------------- HuPR maps
def flip_hupr(x_hori, x_vert, joints_2d, perm, stride_px: float):
    """Views (T, D, 2, R, A, E); joints_2d (P, J, 2) pixels. Mirrors about the heatmap centre cell."""
    A = x_hori.shape[4]
    j = joints_2d[:, perm].clone()
    j[..., 0] = (A - 1) * stride_px - j[..., 0]
    return x_hori.flip(4), x_vert.flip(5), j


def shift_azimuth(x_hori, joints_2d, bins: int, stride_px: float):
    if bins == 0:
        return x_hori, joints_2d
    out = torch.zeros_like(x_hori)
    if bins > 0:
        out[..., bins:, :] = x_hori[..., :-bins, :]
    else:
        out[..., :bins, :] = x_hori[..., -bins:, :]
    j = joints_2d.clone()
    j[..., 0] = j[..., 0] + bins * stride_px
    return out, j


def augment_hupr(x_hori, x_vert, joints_2d, perm, stride_px, cfg: AugmentConfig, rng: np.random.Generator):
    """→ (x_hori, x_vert, joints_2d, order), ``order`` as :func:`augment_voxels`'s."""
    order = np.arange(joints_2d.shape[-2])
    if not cfg.enabled:
        return x_hori, x_vert, joints_2d, order
    if rng.random() < cfg.flip_prob:
        x_hori, x_vert, joints_2d = flip_hupr(x_hori, x_vert, joints_2d, perm, stride_px)
        order = np.asarray(perm)
    if cfg.max_azimuth_shift_bins > 0:
        k = int(rng.integers(-cfg.max_azimuth_shift_bins, cfg.max_azimuth_shift_bins + 1))
        x_hori, joints_2d = shift_azimuth(x_hori, joints_2d, k, stride_px)
    if cfg.jitter_std > 0:
        g = float(np.exp(rng.normal(0.0, cfg.jitter_std)))
        x_hori, x_vert = x_hori * g, x_vert * g
    return x_hori, x_vert, joints_2d, order
