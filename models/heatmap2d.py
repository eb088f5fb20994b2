"""2-D keypoint heatmaps as HuPR uses them: Gaussian targets, BCE loss and argmax decoding.

Coordinates are pixels of the square label image (HuPR: 256 × 256) as (x = column, y = row); a heatmap
of side H covers it with stride ``image_size / H`` (HuPR: 4). A joint at pixel (x, y) lands on heatmap
cell ``int(x / stride + 0.5)`` (HuPR's rounding), and decoding maps cell ``c`` back to ``c · stride``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

SIGMA = 2.0
RADIUS = 6  # HuPR draws 13 × 13 Gaussians (3σ)


def gaussian_targets(joints_2d: torch.Tensor, size: tuple[int, int], stride: float, sigma: float = SIGMA,
                     radius: int = RADIUS) -> torch.Tensor:
    """Heatmap targets (B, J, H, W) with peak 1 at each joint, max over people.

    Args:
        joints_2d: (B, P, J, 2) pixels (x, y); NaN for absent people or joints.
    """
    B, P, J, _ = joints_2d.shape
    H, W = size
    device = joints_2d.device
    cell = torch.floor(joints_2d / stride + 0.5)  # (B, P, J, 2) x, y
    valid = torch.isfinite(cell).all(-1)
    cell = torch.nan_to_num(cell, nan=-1e4)
    ys = torch.arange(H, device=device, dtype=torch.float32).view(1, 1, 1, H, 1)
    xs = torch.arange(W, device=device, dtype=torch.float32).view(1, 1, 1, 1, W)
    dx = xs - cell[..., 0, None, None]
    dy = ys - cell[..., 1, None, None]
    g = torch.exp(-(dx**2 + dy**2) / (2 * sigma**2))
    g = g * ((dx.abs() <= radius) & (dy.abs() <= radius) & valid[..., None, None])
    return g.amax(dim=1) if P else torch.zeros(B, J, H, W, device=device)


def heatmap_bce_loss(logits: list[torch.Tensor], target: torch.Tensor) -> torch.Tensor:
    """Sum over the given heatmaps (logits) of the mean binary cross-entropy with ``target``."""
    return sum(F.binary_cross_entropy_with_logits(lg, target) for lg in logits)


@torch.no_grad()
def decode_argmax(heatmap: torch.Tensor, stride: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-joint argmax with a quarter-cell shift toward the higher neighbour.

    Args:
        heatmap: (B, J, H, W) probabilities.
    Returns:
        joints (B, J, 2) pixels (x, y), scores (B, J) the peak values.
    """
    B, J, H, W = heatmap.shape
    flat = heatmap.reshape(B, J, -1)
    scores, idx = flat.max(dim=-1)
    row = (idx // W).float()
    col = (idx % W).float()
    r, c = idx // W, idx % W

    def at(rr, cc):
        rr = rr.clamp(0, H - 1)
        cc = cc.clamp(0, W - 1)
        return flat.gather(-1, (rr * W + cc)[..., None])[..., 0]

    dx = torch.sign(at(r, c + 1) - at(r, c - 1)) * ((c > 0) & (c < W - 1))
    dy = torch.sign(at(r + 1, c) - at(r - 1, c)) * ((r > 0) & (r < H - 1))
    xy = torch.stack([col + 0.25 * dx, row + 0.25 * dy], dim=-1) * stride
    return xy, scores
