"""A trained network prepared for CPU inference one frame at a time (the live pipeline, the room monitor).

PyTorch sends a convolution to oneDNN only when its heuristic expects a gain. With a batch of one, 3×3×3
kernels and small feature maps (hrradarpose-lite at RT-Pose's grid: 16–64 channels over 8 × 32 × 40 voxels)
it takes its reference im2col path (``aten::slow_conv3d``) instead, 9–13× slower on a 2-core Xeon; training
(batches ≥ 2) gets oneDNN already. :func:`for_cpu_inference` routes every ``Conv3d`` through oneDNN — the
same convolution, outputs equal to float32 rounding — and stores the weights in the family's memory format
(channels-last for the voxel models), in which the inputs should come too.

Only inference takes the oneDNN path: with gradients enabled, while tracing (ONNX export) or on another
device or dtype the convolution is PyTorch's own, so a prepared model still trains and exports.
"""

from __future__ import annotations

import torch
from torch import nn


class _OneDnnConv3d(nn.Conv3d):
    """``nn.Conv3d`` whose inference forward is ``torch.mkldnn_convolution`` (same parameters and state dict)."""

    def _conv_forward(self, x, weight, bias):
        if (torch.is_grad_enabled() or torch.jit.is_tracing() or torch.jit.is_scripting()
                or self.padding_mode != "zeros" or isinstance(self.padding, str) or x.device.type != "cpu"
                or x.dtype != torch.float32 or weight.dtype != torch.float32):
            return super()._conv_forward(x, weight, bias)
        return torch.mkldnn_convolution(x, weight, bias, self.padding, self.stride, self.dilation, self.groups)


def for_cpu_inference(model: nn.Module, memory_format: torch.memory_format = torch.contiguous_format) -> nn.Module:
    """``model`` (changed in place and returned) with its ``Conv3d`` layers run by oneDNN in inference and its
    parameters in ``memory_format`` (e.g. ``torch.channels_last_3d``; the family's ``memory_format``). A no-op
    where PyTorch has no oneDNN."""
    if not torch.backends.mkldnn.is_available():
        return model
    for m in model.modules():
        if type(m) is nn.Conv3d:
            m.__class__ = _OneDnnConv3d
    if memory_format != torch.contiguous_format:
        model.to(memory_format=memory_format)
    return model


def predict(model, inputs: tuple, max_people: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Poses of one batch of inputs, as ``model.decode(model(*inputs))``: by the model's own ``predict`` where
    it has one (computing only what decoding reads). → (joints, scores) as the model's ``decode``."""
    own = getattr(model, "predict", None)
    if own is not None:
        return own(*inputs, max_people=max_people)
    return model.decode(model(*inputs), max_people=max_people)
