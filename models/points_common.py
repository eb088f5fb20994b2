"""What the point-cloud models ("points" family) share: their input spec and the joint-regression head's
loss and decoding. Inputs are ``points`` (B, T, K, F) and ``valid`` (B, T, K) (see ``points_data``)."""

from __future__ import annotations

import torch

from rfpose.models.spec import InputSpec

#: MARS's points: x, y, z (metres, radar frame), Doppler (m/s, sign as recorded), TI demo intensity
MARS_POINTS_FORMAT = "points-xyzvi"
MARS_NORMALISATION = "none: metres (radar frame), m/s, TI demo intensity"


def points_spec(tensor_format: str, max_points: int, fields: int, normalisation: str, skeleton: str,
                frames: int) -> InputSpec:
    return InputSpec(tensor_format, (max_points, fields), normalisation, skeleton, extra={"frames": frames})


class JointRegressor(torch.nn.Module):
    """Base of the points family: ``forward`` returns ``{"joints": (B, J, 3)}`` metres in the radar frame."""

    family = "points"
    loss_name = "mse"

    def loss(self, outputs: dict, batch: dict) -> tuple[torch.Tensor, dict]:
        target = batch["joints"][:, 0]  # one person per frame
        pred = outputs["joints"]
        mask = torch.isfinite(target)
        diff = (pred - torch.nan_to_num(target))[mask]
        loss = diff.abs().mean() if self.loss_name == "l1" else diff.pow(2).mean()
        return loss, {self.loss_name: float(loss.detach())}

    def decode(self, outputs: dict):
        """→ (joints (B, 1, J, 3) metres, scores (B, 1), always 1: one person per frame)."""
        j = outputs["joints"]
        return j[:, None], torch.ones(j.shape[0], 1, device=j.device)

    def example_inputs(self, batch: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        k, f = self.spec.shape
        return torch.zeros(batch, self.frames, k, f), torch.ones(batch, self.frames, k)
