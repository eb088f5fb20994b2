"""LiDAR: scan patterns (spinning 32/64-beam, Livox-like non-repetitive rosette) and ray casting against
the room and the moving bodies.

Points are returned in the LiDAR's own frame (x forward, y left, z up) with their own time within the
sweep (``time_offset_ns`` from the frame's start); bodies are sampled at that time (rays are grouped in
``time_bins`` slices of the sweep, each with the bodies posed at the slice's centre).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from rfpose.errors import UnknownNameError
from rfpose.sim.geometry import cast
from rfpose.source import LIDAR_POINT_DTYPE

DEG = np.pi / 180
PATTERNS = ("spinning32", "spinning64", "livox")


@dataclass(frozen=True)
class LidarModel:
    """``pattern``: spinning32 (Velodyne HDL-32-like, −30.67…+10.67°), spinning64 (Ouster OS1-64-like,
    ±22.5°) or livox (Livox Horizon-like rosette, 81.7° × 25.1°, 6 channels). ``columns`` per revolution
    for spinning sensors; ``points_per_frame`` for the rosette."""

    pattern: str = "livox"
    rate_hz: float = 10.0
    columns: int = 1024
    points_per_frame: int = 24000
    range_noise_m: float = 0.02
    dropout: float = 0.02
    min_range_m: float = 0.3
    max_range_m: float = 90.0
    time_bins: int = 10

    def __post_init__(self):
        if self.pattern not in PATTERNS:
            raise UnknownNameError("lidar pattern", self.pattern, PATTERNS)

    def to_dict(self) -> dict:
        return asdict(self)


def scan_rays(model: LidarModel) -> tuple[np.ndarray, np.ndarray]:
    """Unit ray directions ``(N, 3)`` in the LiDAR frame and each ray's time in the sweep (s, ``(N,)``)."""
    period = 1.0 / model.rate_hz
    if model.pattern.startswith("spinning"):
        if model.pattern == "spinning32":
            el = np.linspace(-30.67, 10.67, 32) * DEG
        else:
            el = np.linspace(-22.5, 22.5, 64) * DEG
        col = np.arange(model.columns)
        az = np.pi - 2 * np.pi * col / model.columns  # starts behind, sweeps clockwise seen from above
        az_g, el_g = np.meshgrid(az, el, indexing="ij")
        t = np.repeat(col * period / model.columns, len(el))
        d = np.stack([np.cos(el_g) * np.cos(az_g), np.cos(el_g) * np.sin(az_g), np.sin(el_g)], -1).reshape(-1, 3)
        return d, t
    # Livox-like: two counter-rotating prisms per channel trace a rosette that never repeats exactly;
    # six channels stacked vertically cover the 81.7° x 25.1° field.
    n = model.points_per_frame
    ch = 6
    per = n // ch
    t = np.arange(per) * period / per
    w1, w2 = 2 * np.pi * 211.3, -2 * np.pi * 137.9
    az_l, el_l = [], []
    for c in range(ch):
        ph = c * 1.07
        x = 0.5 * (np.cos(w1 * t + ph) + np.cos(w2 * t + 2 * ph))
        y = 0.5 * (np.sin(w1 * t + ph) + np.sin(w2 * t + 2 * ph))
        az_l.append(x * 40.85 * DEG)
        el_l.append(y * 4.5 * DEG + (c - 2.5) * 3.9 * DEG)
    az, el = np.concatenate(az_l), np.concatenate(el_l)
    d = np.stack([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)], -1)
    return d, np.tile(t, ch)


def lidar_points(model: LidarModel, T_rig_lidar: np.ndarray, room_prims, body_prims_at, rng: np.random.Generator,
                 reflectivity=None) -> np.ndarray:
    """One sweep as a structured :data:`LIDAR_POINT_DTYPE` array in the LiDAR frame.

    ``body_prims_at(t_s_array) -> list of primitive lists`` gives the bodies at the given offsets from the
    sweep start (the centre of each of ``model.time_bins`` slices); ``room_prims`` is static.
    """
    from rfpose.sim.scene import REFLECTIVITY
    from rfpose.sim.threads import single_blas_thread

    with single_blas_thread():
        return _lidar_points(model, T_rig_lidar, room_prims, body_prims_at, rng, reflectivity or REFLECTIVITY)


def _lidar_points(model, T_rig_lidar, room_prims, body_prims_at, rng, refl):
    d_l, t_l = scan_rays(model)
    R, o = T_rig_lidar[:3, :3], T_rig_lidar[:3, 3]
    d = d_l @ R.T
    period = 1.0 / model.rate_hz
    bins = np.minimum((t_l / period * model.time_bins).astype(int), model.time_bins - 1)
    centres = (np.arange(model.time_bins) + 0.5) * period / model.time_bins
    bodies = body_prims_at(centres)
    rng_t = np.full(len(d), np.inf)
    mat = np.zeros(len(d), int)
    cosi = np.zeros(len(d))
    for b in range(model.time_bins):
        sel = np.nonzero(bins == b)[0]
        if not len(sel):
            continue
        prims = list(room_prims) + list(bodies[b])
        t, idx, nrm = cast(prims, o, d[sel])
        rng_t[sel] = t
        ok = idx >= 0
        mat[sel[ok]] = [prims[i].material for i in idx[ok]]
        cosi[sel] = np.abs(np.einsum("ij,ij->i", nrm, d[sel]))
    keep = np.isfinite(rng_t) & (rng_t >= model.min_range_m) & (rng_t <= model.max_range_m)
    keep &= rng.random(len(d)) >= model.dropout
    r = rng_t[keep] + rng.normal(0, model.range_noise_m, keep.sum())
    pts = d_l[keep] * r[:, None]
    out = np.empty(len(r), LIDAR_POINT_DTYPE)
    out["x"], out["y"], out["z"] = pts[:, 0], pts[:, 1], pts[:, 2]
    rf = np.array([refl.get(int(m), 0.3) for m in range(max(refl) + 1)])[mat[keep]]
    out["intensity"] = np.clip(255 * rf * (0.3 + 0.7 * cosi[keep]), 0, 255)
    out["time_offset_ns"] = np.round(t_l[keep] * 1e9).astype(np.int64)
    return out
