"""Parameter and multiply-add counts, without an external package.

MACs are counted by forward hooks on every convolution and linear layer (``out_elements * in_channels /
groups * kernel_volume``), plus any module that reports its own matrix products through a
``count_macs(inputs, output) -> int`` method (attention, graph convolution). The forward pass runs on
PyTorch's ``meta`` device, so counting the 93 GMAC HRRadarPose takes milliseconds and no memory.
Normalisation, activation, pooling and interpolation are not counted (the convention of the papers'
"conv MACs").
"""

from __future__ import annotations

import torch
from torch import nn

_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)


def count_params(model: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def _conv_macs(m: nn.Module, inputs, output) -> int:
    kernel = 1
    for k in m.kernel_size:
        kernel *= k
    if isinstance(m, (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)):
        x = inputs[0]
        return x.numel() * (m.out_channels // m.groups) * kernel
    return output.numel() * (m.in_channels // m.groups) * kernel


def count_macs(model: nn.Module, *inputs: torch.Tensor, per_module: bool = False):
    """Multiply-adds of one forward pass on ``inputs`` (batch included; divide by batch for per-frame).

    Runs on whatever device the model and inputs are on; use :func:`count_macs_meta` to avoid compute.
    Returns the total, or ``(total, {module_name: macs})`` when ``per_module``.
    """
    counts: dict[str, int] = {}
    handles = []
    for name, m in model.named_modules():
        if isinstance(m, _CONVS):
            fn = _conv_macs
        elif isinstance(m, nn.Linear):
            def fn(m, i, o):
                return o.numel() * m.in_features
        elif hasattr(m, "count_macs") and m is not model:
            def fn(m, i, o):
                return int(m.count_macs(i, o))
        else:
            continue

        def hook(mod, inp, out, _name=name, _fn=fn):
            counts[_name] = counts.get(_name, 0) + int(_fn(mod, inp, out))

        handles.append(m.register_forward_hook(hook))
    try:
        with torch.no_grad():
            model(*inputs)
    finally:
        for h in handles:
            h.remove()
    total = sum(counts.values())
    return (total, counts) if per_module else total


def count_macs_meta(build, input_shapes: list[tuple[int, ...]]) -> int:
    """MACs of ``build()`` (a zero-argument model factory) on zero-cost ``meta`` tensors of ``input_shapes``.

    A model whose shapes depend on the values (a point-cloud model runs its MLPs on the real points only)
    cannot run on ``meta``; it is counted on the CPU with inputs of ones (every point slot real: an upper
    bound)."""
    try:
        with torch.device("meta"):
            model = build()
            model.eval()
            inputs = [torch.empty(s) for s in input_shapes]
            return count_macs(model, *inputs)
    except NotImplementedError:
        model = build().eval()
        return count_macs(model, *[torch.ones(s) for s in input_shapes])
