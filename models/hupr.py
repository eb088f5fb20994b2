"""HuPR (WACV 2023): two-view radar heatmaps → MNet → 3-D encoders → cross/self attention (CSAM) → PRGCN.

Inputs are two views of the same scene, RA from the horizontal radar and RE from the vertical one, each a
temporal window ``(B, T=8 frames, D=8 Doppler, 2 re/im, 64 range, 64 azimuth, 8 elevation)``. The model
averages over elevation (as the reference), merges Doppler with MNet, encodes each view with a 3-D CNN
at three scales, fuses the views with self- and cross-attention at each scale while decoding to 14
joint heatmaps at 64 × 64, and refines them with a graph convolution over the skeleton (PRGCN).
Structure from the engineering notes (shared/reference/hupr.md §3); written from that description.

Deviations from the reference code, all deliberate:

* **MNet pairing.** The reference ``.view``s the (Doppler, re/im) axes as (2, 8), so its Conv3d(2→32,
  kernel=stride=(2,1,1)) pairs the real and imaginary parts of one bin along depth and mixes bins k and
  k+4 across its two input channels. We permute instead: the two input channels are the real and
  imaginary parts of the same Doppler bin, and the (2,1,1) kernel pairs adjacent Doppler bins (2k, 2k+1);
  a max-pool over the remaining D/2 outputs follows. Same parameter count (the intended reading).
* Devices come from the caller (no ``.cuda()``); the adjacency matrix is a buffer.
* ``graph="connected"`` adds the missing neck–hip edges (the reference graph has two disconnected parts).
* ``hupr-lite`` replaces CSAM with ``ProjectionDecoder`` (range pooled out, angle axes mapped to image
  columns and rows) and makes PRGCN residual; ``hupr-lite-csam`` keeps the reference's structure at the
  same size. With the reference's decoder the lite model did not learn in 30 CPU minutes (validation AP 0
  after every epoch; docs/benchmark-hupr.md).
* ``encode_size`` (``hupr-lite``: 32) average-pools the (range, azimuth) maps before MNet, so the 3-D encoders
  work at a quarter of the reference's cells; the heatmaps keep the input's side.

File order, timm style: blocks → model → ``_create`` → cfgs → registered variants.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from rfpose.models import heatmap2d
from rfpose.models.centerpose import focal_loss
from rfpose.models.registry import register_model
from rfpose.dataset import HUPR_FORMAT, InputSpec
from rfpose.skeletons import HUPR14

HUPR_NORMALISATION = "per elevation bin: min-max to [0, 1], then z-score with the map's own mean and std (HuPR loader)"


# ---------------------------------------------------------------- blocks
class MNet(nn.Module):
    """Doppler merge: (N, 2 re/im, D, H, W) → Conv3d(2→F, k=s=(2,1,1)) → max over D/2 → (N, F, H, W)."""

    def __init__(self, out_channels: int, num_doppler: int):
        super().__init__()
        self.conv = nn.Conv3d(2, out_channels, (2, 1, 1), (2, 1, 1))
        self.pool = nn.MaxPool3d((num_doppler // 2, 1, 1))

    def forward(self, x):
        return self.pool(self.conv(x)).squeeze(2)


class BasicBlock3D(nn.Module):
    """conv-BN-act-conv-BN + (3×3×3 conv-BN residual projection) → act, as HuPR's Encoder3D block."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.main = nn.Sequential(nn.Conv3d(cin, cout, 3, 1, 1, bias=False), nn.BatchNorm3d(cout), nn.ReLU(inplace=True),
                                  nn.Conv3d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm3d(cout))
        self.residual = nn.Sequential(nn.Conv3d(cin, cout, 3, 1, 1, bias=False), nn.BatchNorm3d(cout))

    def forward(self, x):
        return F.relu(self.main(x) + self.residual(x))


class BasicBlock2D(nn.Module):
    """conv-PReLU-conv + (3×3 conv residual) → PReLU, no normalisation (HuPR's decoder block)."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.main = nn.Sequential(nn.Conv2d(cin, cout, 3, 1, 1, bias=False), nn.PReLU(),
                                  nn.Conv2d(cout, cout, 3, 1, 1, bias=False))
        self.residual = nn.Conv2d(cin, cout, 3, 1, 1, bias=False)
        self.act = nn.PReLU()

    def forward(self, x):
        return self.act(self.main(x) + self.residual(x))


def _half(x):
    return F.interpolate(x, scale_factor=0.5, mode="trilinear", align_corners=True)


class Encoder3D(nn.Module):
    """Per-view encoder: (B, F, T, H, W) → 2-D features at H (2F ch), H/2 (4F), H/4 (8F), time collapsed."""

    def __init__(self, f: int, frames: int):
        super().__init__()
        self.layer1 = nn.Sequential(nn.Conv3d(f, 2 * f, 3, 1, 1), BasicBlock3D(2 * f, 2 * f))
        self.layer2 = nn.Sequential(BasicBlock3D(2 * f, 4 * f), BasicBlock3D(4 * f, 4 * f))
        self.layer3 = nn.Sequential(BasicBlock3D(4 * f, 8 * f), BasicBlock3D(8 * f, 8 * f))
        self.collapse1 = nn.Conv3d(2 * f, 2 * f, (frames, 1, 1), bias=False)
        self.collapse2 = nn.Conv3d(4 * f, 4 * f, (max(frames // 2, 1), 1, 1), bias=False)
        self.collapse3 = nn.Conv3d(8 * f, 8 * f, (max(frames // 4, 1), 1, 1), bias=False)

    def forward(self, x):
        l1 = self.layer1(x)
        l2 = self.layer2(_half(l1))
        l3 = self.layer3(_half(l2))
        return self.collapse1(l1).squeeze(2), self.collapse2(l2).squeeze(2), self.collapse3(l3).squeeze(2)


class SpatialAttention(nn.Module):
    """HuPR attention: out = X · softmax_k(Kᵀ Q), an (HW × HW) map, no scaling, no value projection.

    With ``max_size`` set, maps larger than that are average-pooled to ``max_size`` before attending and
    the result is upsampled back (the lite variant; the reference attends at full size).
    """

    def __init__(self, max_size: int | None = None):
        super().__init__()
        self.max_size = max_size

    def forward(self, k, q, x):
        size = x.shape[2:]
        if self.max_size is not None and size[0] > self.max_size:
            f = size[0] // self.max_size
            k, q, x = (F.avg_pool2d(t, f) for t in (k, q, x))
        b, c, h, w = x.shape
        attn = torch.softmax(torch.bmm(k.reshape(b, c, h * w).transpose(1, 2), q.reshape(b, c, h * w)), dim=1)
        out = torch.bmm(x.reshape(b, c, h * w), attn).reshape(b, c, h, w)
        if out.shape[2:] != size:
            out = F.interpolate(out, size=size, mode="bilinear", align_corners=True)
        return out

    def count_macs(self, inputs, output) -> int:
        x = inputs[2]
        h, w = x.shape[2:]
        if self.max_size is not None and h > self.max_size:
            f = h // self.max_size
            h, w = h // f, w // f
        return 2 * x.shape[0] * x.shape[1] * (h * w) ** 2


class CSAM(nn.Module):
    """Cross- and self-attention between the RA and RE views at one scale → 4 maps of C channels."""

    def __init__(self, c: int, max_size: int | None = None):
        super().__init__()

        def proj():
            return nn.Conv2d(c, c, 1, bias=False)

        self.k_cross_ra, self.q_cross_ra, self.k_cross_re, self.q_cross_re = proj(), proj(), proj(), proj()
        self.k_self_ra, self.q_self_ra, self.k_self_re, self.q_self_re = proj(), proj(), proj(), proj()
        self.attn = SpatialAttention(max_size)

    def forward(self, ra, re):
        ra_cross = self.attn(self.k_cross_ra(ra), self.q_cross_re(re), ra) + ra
        re_cross = self.attn(self.k_cross_re(re), self.q_cross_ra(ra), re) + re
        ra_self = self.attn(self.k_self_ra(ra), self.q_self_ra(ra), ra)
        re_self = self.attn(self.k_self_re(re), self.q_self_re(re), re)
        return torch.cat([ra_cross, ra_self, re_cross, re_self], dim=1)


def _up2(x):
    return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=True)


class CSAMDecoder(nn.Module):
    """Coarse-to-fine decoder; at each scale the four CSAM maps join the upsampled decoder state."""

    def __init__(self, f: int, num_joints: int, attention_max_size: int | None = None):
        super().__init__()
        self.csam = nn.ModuleList([CSAM(8 * f, attention_max_size), CSAM(4 * f, attention_max_size),
                                   CSAM(2 * f, attention_max_size)])
        self.dec3 = nn.Sequential(BasicBlock2D(32 * f, 8 * f), BasicBlock2D(8 * f, 4 * f))
        self.dec2 = nn.Sequential(BasicBlock2D(20 * f, 4 * f), BasicBlock2D(4 * f, 2 * f))
        self.dec1 = nn.Sequential(BasicBlock2D(10 * f, 2 * f), BasicBlock2D(2 * f, f),
                                  nn.Conv2d(f, num_joints, 1, bias=False))

    def forward(self, ra_feats, re_feats):
        (ra1, ra2, ra3), (re1, re2, re3) = ra_feats, re_feats
        y = _up2(self.dec3(self.csam[0](ra3, re3)))
        y = _up2(self.dec2(torch.cat([y, self.csam[1](ra2, re2)], dim=1)))
        return self.dec1(torch.cat([y, self.csam[2](ra1, re1)], dim=1))


PRIOR_LOGIT = -4.6  # sigmoid ≈ 0.01: about the share of a 64² map that a σ = 2 Gaussian covers


class RangePool(nn.Module):
    """(B, C, R, A) → (B, 2C, A): per channel and angle bin, a learned softmax over range of the features,
    and the expected range under the same weights (0 … 1 over the map), so the distance survives the pooling."""

    def __init__(self, c: int):
        super().__init__()
        self.score = nn.Conv2d(c, c, 1)

    def forward(self, x):
        w = torch.softmax(self.score(x), dim=2)
        r = torch.linspace(0, 1, x.shape[2], device=x.device, dtype=x.dtype).view(1, 1, -1, 1)
        return torch.cat([(w * x).sum(2), (w * r).sum(2)], dim=1)


class AxisMap(nn.Module):
    """(B, C, N_in) → (B, C, N_out): a learned linear map from a radar's angle bins to image pixels along one
    axis. Randomly initialised, so it takes either orientation (the rig decides whether azimuth bins run
    left to right in the image) and the sine-to-tangent warp of the angle axis."""

    def __init__(self, n_in: int, n_out: int):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(n_out, n_in) * n_in ** -0.5)

    def forward(self, x):
        return torch.matmul(x, self.weight.t())


class ProjectionDecoder(nn.Module):
    """Decoder in image coordinates (the lite variant's replacement for CSAM).

    At each scale, each view's features are pooled over range (``RangePool``) onto its angle axis; the
    horizontal radar's azimuth is mapped to image columns and the vertical radar's azimuth (elevation) to
    image rows (``AxisMap``). Broadcast over the other axis, with their product and the pixel coordinates,
    they form an image-shaped grid that 2-D blocks decode coarse to fine. The reference learns this
    range–angle → image correspondence in CSAM's attention over ~10⁶ steps; here it is built in, so the
    network learns in the few thousand steps a CPU allows.

    Args:
        in_size: side of the encoders' finest (range × angle) feature maps; scales ``in_size`` / 4, / 2, / 1.
        out_size: side of the image grid decoded (the heatmap); the axis maps take ``in_size / k`` angle bins
            to ``out_size / k`` pixels, so encoding coarser than the heatmap costs the decoder nothing.
    """

    def __init__(self, f: int, num_joints: int, in_size: int, out_size: int):
        super().__init__()
        chans = (8 * f, 4 * f, 2 * f)
        pairs = [(in_size // k, out_size // k) for k in (4, 2, 1)]  # (angle bins, image pixels) per scale
        self.pool_ra = nn.ModuleList(RangePool(c) for c in chans)
        self.pool_re = nn.ModuleList(RangePool(c) for c in chans)
        self.map_ra = nn.ModuleList(AxisMap(n, m) for n, m in pairs)
        self.map_re = nn.ModuleList(AxisMap(n, m) for n, m in pairs)
        self.dec3 = nn.Sequential(BasicBlock2D(48 * f + 2, 8 * f), BasicBlock2D(8 * f, 4 * f))
        self.dec2 = nn.Sequential(BasicBlock2D(28 * f + 2, 4 * f), BasicBlock2D(4 * f, 2 * f))
        out = nn.Conv2d(f, num_joints, 1)
        nn.init.constant_(out.bias, PRIOR_LOGIT)  # start at the background's rate, not at p = 0.5
        self.dec1 = nn.Sequential(BasicBlock2D(14 * f + 2, 2 * f), BasicBlock2D(2 * f, f), out)

    def _grid(self, s: int, ra, re):
        cols = self.map_ra[s](self.pool_ra[s](ra))[:, :, None, :]  # (B, 2C, 1, W)
        rows = self.map_re[s](self.pool_re[s](re))[:, :, :, None]  # (B, 2C, H, 1)
        b, _, h, _ = rows.shape
        w = cols.shape[3]
        yy, xx = torch.meshgrid(torch.linspace(-1, 1, h, device=ra.device, dtype=ra.dtype),
                                torch.linspace(-1, 1, w, device=ra.device, dtype=ra.dtype), indexing="ij")
        coords = torch.stack([yy, xx])[None].expand(b, 2, h, w)
        return torch.cat([cols.expand(-1, -1, h, -1), rows.expand(-1, -1, -1, w), cols * rows, coords], dim=1)

    def forward(self, ra_feats, re_feats):
        (ra1, ra2, ra3), (re1, re2, re3) = ra_feats, re_feats
        y = _up2(self.dec3(self._grid(0, ra3, re3)))
        y = _up2(self.dec2(torch.cat([y, self._grid(1, ra2, re2)], dim=1)))
        return self.dec1(torch.cat([y, self._grid(2, ra1, re1)], dim=1))


def hupr_adjacency(graph: str = "paper") -> torch.Tensor:
    """(14, 14) binary adjacency with self-loops, ``A[i, j] = 1`` when node j aggregates node i (H·A).

    ``paper``: HuPR's matrix (shoulder→neck one-directional, no neck–hip edge: two disconnected parts).
    ``connected``: additionally neck↔hips both ways and neck→shoulders, so one connected graph.
    """
    sk = HUPR14
    i = sk.index
    a = torch.eye(sk.num_joints)

    def both(u, v):
        a[i(u), i(v)] = a[i(v), i(u)] = 1

    for u, v in [("r_hip", "r_knee"), ("r_knee", "r_ankle"), ("r_hip", "l_hip"), ("l_hip", "l_knee"),
                 ("l_knee", "l_ankle"), ("neck", "head"), ("l_shoulder", "l_elbow"), ("l_elbow", "l_wrist"),
                 ("r_shoulder", "r_elbow"), ("r_elbow", "r_wrist")]:
        both(u, v)
    a[i("l_shoulder"), i("neck")] = a[i("r_shoulder"), i("neck")] = 1  # neck aggregates the shoulders only
    if graph == "connected":
        both("neck", "l_hip")
        both("neck", "r_hip")
        a[i("neck"), i("l_shoulder")] = a[i("neck"), i("r_shoulder")] = 1
    elif graph != "paper":
        from rfpose.errors import UnknownNameError

        raise UnknownNameError("PRGCN graph", graph, ["paper", "connected"])
    return a


class GraphConv(nn.Module):
    """H' = W · (H · A) + b with W (F × F) and a per-node bias b (F × J), as HuPR's GCN layer."""

    def __init__(self, features: int, nodes: int):
        super().__init__()
        bound = features ** -0.5
        self.weight = nn.Parameter(torch.empty(features, features).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(features, nodes).uniform_(-bound, bound))

    def forward(self, h, adj):
        return torch.matmul(self.weight, torch.matmul(h, adj)) + self.bias

    def count_macs(self, inputs, output) -> int:
        h = inputs[0]
        b, f, j = h.shape
        return b * (f * j * j + f * f * j)


class PRGCN(nn.Module):
    """Pose refinement over the skeleton graph: logits (B, J, H, W) → refined logits (B, J, H, W).

    Each joint's node feature is its logit map bilinearly downsampled by 2 and flattened (H/2 · W/2).
    """

    def __init__(self, num_joints: int, size: int, graph: str = "paper", layers: int = 3, residual: bool = False):
        super().__init__()
        self.size, self.residual = size, residual
        feats = (size // 2) ** 2
        self.register_buffer("adjacency", hupr_adjacency(graph), persistent=False)
        self.layers = nn.ModuleList(GraphConv(feats, num_joints) for _ in range(layers))
        if residual:  # starts as the identity: the refinement adds to the decoder's logits
            nn.init.zeros_(self.layers[-1].weight)
            nn.init.zeros_(self.layers[-1].bias)

    def forward(self, logits):
        b, j, h, w = logits.shape
        x = F.interpolate(logits, size=(h // 2, w // 2), mode="bilinear", align_corners=True)
        x = x.reshape(b, j, -1).transpose(1, 2)  # (B, F, J)
        for n, layer in enumerate(self.layers):
            x = layer(x, self.adjacency)
            if n < len(self.layers) - 1:
                x = F.relu(x)
        x = x.transpose(1, 2).reshape(b, j, h // 2, w // 2)
        x = F.interpolate(x, size=(h, w), mode="bilinear", align_corners=True)
        return logits + x if self.residual else x


def zscored_elevation_mean(x: torch.Tensor) -> torch.Tensor:
    """HuPR's input normalisation, then its mean over elevation: (B, T, D, 2, R, A, E) → (B, T, D, 2, R, A).

    Each (range, azimuth) map — one frame, Doppler bin, re/im part and elevation bin — is brought to zero mean
    and unit (unbiased) standard deviation (HuPR's loader min-max scales each map to [0, 1] first, which a
    z-score undoes); an all-zero map stays zero. The result is their mean over the E elevation bins, computed
    as one weighted sum, Σ_e (x_e − m_e) / (E s_e), after one pass for the maps' sums and sums of squares (a
    third of the CPU time of normalising the maps and then averaging them).
    """
    n, e = x.shape[4] * x.shape[5], x.shape[6]
    s1 = x.sum(dim=(4, 5), keepdim=True)  # (B, T, D, 2, 1, 1, E)
    s2 = (x * x).sum(dim=(4, 5), keepdim=True)
    mean = s1 / n
    std = ((s2 - s1 * mean) / (n - 1)).clamp_min(0).sqrt()
    w = 1 / (std.clamp_min(1e-12) * e)
    return torch.matmul(x, w.transpose(-1, -2))[..., 0] - (mean * w).sum(-1)


# ---------------------------------------------------------------- model
HEATMAP_LOSSES = {"bce": F.binary_cross_entropy_with_logits, "focal": focal_loss}


class HuPR(nn.Module):
    """HuPR network plus its loss and decoding.

    Args:
        input_shape: stored per-frame shape of one view (doppler, re/im, range, azimuth, elevation); the
            model uses ``num_doppler`` central Doppler bins of it.
        frames: temporal window length T (the target frame is at index T//2, frames t-T/2 … t+T/2-1).
        num_filters: F (reference 32).
        graph: PRGCN adjacency, ``paper`` or ``connected``.
        attention_max_size: attend on maps pooled to at most this side (``None`` = full size, reference).
        decoder: ``csam`` (the reference) or ``projection`` (``ProjectionDecoder``).
        prgcn_residual: PRGCN adds its refinement to the decoder's logits and starts as the identity
            (the reference replaces them).
        encode_size: side the (range, azimuth) maps are average-pooled to before MNet and the encoders
            (``None`` = the input's, the reference; maps no larger are encoded as they are); divides the input's
            side and is divisible by 4. The heatmaps stay at the input's side: the projection decoder maps the
            coarser angle bins to it, the CSAM decoder's logits are upsampled bilinearly.
        heatmap_loss: ``bce`` (the reference: the mean binary cross-entropy over every cell) or ``focal``
            (CornerNet's penalty-reduced focal loss, α 2 and β 4, summed and divided by the number of joint
            peaks): the same targets, but a joint's few cells are not outweighed by the ~4000 empty ones.
        elevation_averaged: the inputs hold one elevation bin, already the z-scored mean over elevation
            (a dataset built with ``hupr_elevation = "mean"``), so the model skips that first step.
    """

    family = "hupr"

    def __init__(self, input_shape=(16, 2, 64, 64, 8), frames: int = 8, num_doppler: int = 8,
                 num_filters: int = 32, num_joints: int = 14, graph: str = "paper",
                 attention_max_size: int | None = None, decoder: str = "csam", prgcn_residual: bool = False,
                 encode_size: int | None = None, heatmap_loss: str = "bce", elevation_averaged: bool = False,
                 image_size_px: int = 256,
                 normalisation: str = HUPR_NORMALISATION, skeleton: str = "hupr14"):
        super().__init__()
        self.input_shape = tuple(input_shape)
        self.frames, self.num_doppler, self.num_joints = frames, num_doppler, num_joints
        d, _, r, a, _ = self.input_shape
        e = self.encode_size = min(encode_size or r, r)
        if r != a or r % 4 or r % e or e % 4:
            from rfpose.errors import ShapeError

            raise ShapeError(f"HuPR needs square range × azimuth maps divisible by 4, encoded at a side that divides "
                             f"them and is divisible by 4; got {r} × {a} encoded at {e}")
        if elevation_averaged and self.input_shape[4] != 1:
            from rfpose.errors import ShapeError

            raise ShapeError(f"HuPR inputs averaged over elevation have one elevation bin, got {self.input_shape}")
        self.elevation_averaged = elevation_averaged
        self.heatmap_size = r
        if heatmap_loss not in HEATMAP_LOSSES:
            from rfpose.errors import UnknownNameError

            raise UnknownNameError("HuPR heatmap loss", heatmap_loss, list(HEATMAP_LOSSES))
        self.heatmap_loss = heatmap_loss
        self.doppler_start = (d - num_doppler) // 2
        self.spec = InputSpec(HUPR_FORMAT, self.input_shape, normalisation, skeleton, image_size_px=image_size_px,
                              extra={"frames": frames, "doppler_bins": [self.doppler_start,
                                                                        self.doppler_start + num_doppler]})
        f = num_filters
        self.mnet_ra, self.mnet_re = MNet(f, num_doppler), MNet(f, num_doppler)
        self.encoder_ra, self.encoder_re = Encoder3D(f, frames), Encoder3D(f, frames)
        if decoder == "csam":
            self.decoder = CSAMDecoder(f, num_joints, attention_max_size)
        elif decoder == "projection":
            self.decoder = ProjectionDecoder(f, num_joints, e, r)
        else:
            from rfpose.errors import UnknownNameError

            raise UnknownNameError("HuPR decoder", decoder, ["csam", "projection"])
        self.prgcn = PRGCN(num_joints, r, graph, residual=prgcn_residual)

    @property
    def stride_px(self) -> float:
        return self.spec.image_size_px / self.heatmap_size

    def _view(self, x, mnet, encoder):
        # (B, T, D, 2, R, A, E) -> mean over elevation -> (B·T, 2, D, R, A): re/im are the channels
        b, t, d, c, r, a, _ = x.shape
        x = x[..., 0] if self.elevation_averaged else zscored_elevation_mean(x)
        x = x.transpose(2, 3).reshape(b * t, c, d, r, a)
        k, e = r // self.encode_size, self.encode_size
        if k > 1:
            x = F.avg_pool3d(x, (1, k, k))  # (B·T, 2, D, E, E), E = encode_size
        x = mnet(x)  # (B·T, F, E, E)
        x = x.reshape(b, t, -1, e, e).transpose(1, 2)  # (B, F, T, E, E)
        if not torch.onnx.is_in_onnx_export():  # ONNX has no memory formats
            # channels-last: a third less time in oneDNN's 3-D convolution backward (4x its forward otherwise)
            x = x.contiguous(memory_format=torch.channels_last_3d)
        return encoder(x)

    def forward(self, x_hori: torch.Tensor, x_vert: torch.Tensor) -> dict[str, torch.Tensor]:
        """Two (B, T, D, 2, R, A, E) views → {"logits", "gcn_logits"} each (B, J, R, A)."""
        logits = self.decoder(self._view(x_hori, self.mnet_ra, self.encoder_ra),
                              self._view(x_vert, self.mnet_re, self.encoder_re))
        if logits.shape[-1] != self.heatmap_size:  # the CSAM decoder at encode_size
            logits = F.interpolate(logits, size=(self.heatmap_size,) * 2, mode="bilinear", align_corners=False)
        return {"logits": logits, "gcn_logits": self.prgcn(logits)}

    def model_input_shape(self) -> tuple[int, ...]:
        _, c, r, a, e = self.input_shape
        return (self.frames, self.num_doppler, c, r, a, e)

    def example_inputs(self, batch: int = 1):
        s = self.model_input_shape()
        return torch.zeros(batch, *s), torch.zeros(batch, *s)

    def loss(self, outputs: dict, batch: dict) -> tuple[torch.Tensor, dict]:
        """``heatmap_loss`` on both heatmaps against σ=2 Gaussians (peak 1), equal weights."""
        target = heatmap2d.gaussian_targets(batch["joints_2d"], (self.heatmap_size, self.heatmap_size),
                                            self.stride_px)
        loss = HEATMAP_LOSSES[self.heatmap_loss]
        l1, l2 = loss(outputs["logits"], target), loss(outputs["gcn_logits"], target)
        name = self.heatmap_loss
        return l1 + l2, {f"{name}_heatmap": float(l1.detach()), f"{name}_prgcn": float(l2.detach())}

    def decode(self, outputs: dict, **_):
        """→ (joints (B, 1, J, 2) pixels of the label image, scores (B, 1, J)) from the PRGCN heatmap."""
        xy, scores = heatmap2d.decode_argmax(torch.sigmoid(outputs["gcn_logits"].float()), self.stride_px)
        return xy[:, None], scores[:, None]


def _create(**kwargs) -> HuPR:
    return HuPR(**kwargs)


# ---------------------------------------------------------------- cfgs
CFGS = {
    "hupr": dict(num_filters=32, graph="paper"),
    # CPU: a quarter of the filters; the projection decoder instead of CSAM and a residual PRGCN, which
    # learn in the ~10³ steps a CPU gives; encoded at 32 × 32 (64 angle bins oversample 8 antennas), a
    # training step's CPU time cut to about a third (docs/benchmark-hupr.md)
    "hupr-lite": dict(num_filters=8, graph="paper", decoder="projection", prgcn_residual=True, encode_size=32),
    # the lite size with the reference's CSAM (attention on maps pooled to 16 × 16: the 64² attention
    # alone is 4 maps of 4096² per sample) and PRGCN
    "hupr-lite-csam": dict(num_filters=8, graph="paper", attention_max_size=16),
}
TINY = dict(input_shape=(4, 2, 16, 16, 2), frames=4, num_doppler=4, num_filters=8)


# ---------------------------------------------------------------- variants
@register_model("hupr", tiny=TINY)
def hupr(**kw):
    """HuPR as in the paper: MNet, 3-D encoders (F=32), CSAM at three scales, PRGCN (~35 M params)."""
    return _create(**{**CFGS["hupr"], **kw})


@register_model("hupr", tiny=TINY)
def hupr_lite(**kw):
    """HuPR for CPU: F=8, the projection decoder instead of CSAM, a residual PRGCN."""
    return _create(**{**CFGS["hupr-lite"], **kw})


@register_model("hupr", tiny=TINY)
def hupr_lite_csam(**kw):
    """HuPR's structure at the lite size: F=8, CSAM attending on 16 × 16 pooled maps, PRGCN."""
    return _create(**{**CFGS["hupr-lite-csam"], **kw})
