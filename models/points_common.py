"""What the point-cloud models ("points" family) share: their input spec and the joint-regression head's
loss and decoding. Inputs are ``points`` (B, T, K, F) and ``valid`` (B, T, K) (see ``points_data``)."""

from __future__ import annotations

import torch

from rfpose.dataset import POINTS_INTENSITY_FORMAT, InputSpec

#: the default input: MARS's points (x, y, z metres in the radar frame, Doppler m/s, TI demo intensity),
#: at most 64 per frame; ``rfpose train`` replaces it with the dataset's spec
MARS_POINTS_FORMAT = POINTS_INTENSITY_FORMAT
MARS_NORMALISATION = "none: metres (radar frame), m/s, TI demo intensity"
MARS_SHAPE = (64, 5)


def points_spec(tensor_format: str, shape, normalisation: str, skeleton: str, frames: int) -> InputSpec:
    """``shape`` is the dataset's (points per frame or -1 when unbounded, fields)."""
    return InputSpec(tensor_format, tuple(int(s) for s in shape), normalisation, skeleton, extra={"frames": frames})


class JointRegressor(torch.nn.Module):
    """Base of the points family: ``forward`` returns ``{"joints": (B, J, 3)}`` metres in the radar frame;
    ``max_points`` is the number of points per frame it takes (the strongest, zero-padded)."""

    family = "points"
    loss_name = "mse"

    def loss(self, outputs: dict, batch: dict) -> tuple[torch.Tensor, dict]:
        target = batch["joints"][:, 0]  # one person per frame
        pred = outputs["joints"]
        mask = torch.isfinite(target)
        diff = (pred - torch.nan_to_num(target))[mask]
        loss = diff.abs().mean() if self.loss_name == "l1" else diff.pow(2).mean()
        return loss, {self.loss_name: float(loss.detach())}

    def decode(self, outputs: dict, max_people: int | None = None):
        """→ (joints (B, 1, J, 3) metres, scores (B, 1), always 1: one person per frame)."""
        j = outputs["joints"]
        return j[:, None], torch.ones(j.shape[0], 1, device=j.device)

    def example_inputs(self, batch: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.spec.shape[1]
        return torch.zeros(batch, self.frames, self.max_points, f), torch.ones(batch, self.frames, self.max_points)
