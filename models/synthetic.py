"""Small synthetic DATASET.zarr files in the shared contract format, for tests and smoke runs.

These are not radar simulations (that is :mod:`rfpose.sim`): each joint is drawn as a blob into the radar
tensor at the voxel (rtpose) or range/azimuth/elevation bins (hupr) where it stands, so a network can learn
the mapping quickly. They exercise the whole training/evaluation path on realistic layouts and dtypes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rfpose.dataset import HUPR_FORMAT, RTPOSE_FORMAT, DatasetWriter, SampleTable, to_float16
from rfpose.skeletons import convert

# A standing person (rtpose15), metres, pelvis at the origin, x forward, y left, z up.
STANDING = np.array([
    [0.00, 0.00, 0.00], [0.00, -0.10, -0.02], [0.00, -0.11, -0.45], [0.00, -0.12, -0.88],
    [0.00, 0.10, -0.02], [0.00, 0.11, -0.45], [0.00, 0.12, -0.88], [0.00, 0.00, 0.30],
    [0.00, 0.00, 0.62], [0.00, -0.18, 0.45], [0.00, -0.22, 0.18], [0.00, -0.24, -0.08],
    [0.00, 0.18, 0.45], [0.00, 0.22, 0.18], [0.00, 0.24, -0.08]], dtype=np.float32)


@dataclass
class SyntheticSpec:
    format: str = "rtpose"  # "rtpose" | "hupr"
    samples: int = 16
    sessions: int = 2
    people: int = 1
    seed: int = 0
    rtpose_shape: tuple[int, int, int, int] = (32, 8, 16, 32)  # (doppler, z, y, x)
    voxel_size_m: tuple[float, float, float] = (0.3, 0.25, 0.125)  # (z, y, x)
    roi_min_m: tuple[float, float, float] = (-1.2, -2.0, 1.0)
    hupr_shape: tuple[int, int, int, int, int] = (16, 2, 16, 16, 4)  # (doppler, re/im, range, az, el)
    split: tuple[int, ...] = (0, 1, 2)  # split code of each session, cycled


def _poses(rng, n_people: int, lo, hi) -> np.ndarray:
    """(P, 15, 3) random standing/waving people inside [lo, hi] (x, y, z)."""
    out = np.empty((n_people, 15, 3), dtype=np.float32)
    for p in range(n_people):
        pose = STANDING * rng.uniform(0.85, 1.1)
        pose[11, 2] += rng.uniform(0, 0.6)  # raise a wrist sometimes
        pose[14, 2] += rng.uniform(0, 0.6)
        yaw = rng.uniform(-0.5, 0.5)
        c, s = np.cos(yaw), np.sin(yaw)
        pose = pose @ np.array([[c, s, 0], [-s, c, 0], [0, 0, 1]], dtype=np.float32)
        root = rng.uniform(lo, hi).astype(np.float32)
        out[p] = pose + root
    return out


def write_synthetic_dataset(path: str | Path, spec: SyntheticSpec | None = None) -> Path:
    """Write a DATASET.zarr with ``spec.samples`` samples (through the one writer); returns its path."""
    spec = spec or SyntheticSpec()
    rng = np.random.default_rng(spec.seed)
    path = Path(path)
    n, P = spec.samples, spec.people
    session = (np.arange(n) * spec.sessions // n).astype(np.int32)
    frame = np.zeros(n, dtype=np.int32)
    for s in range(spec.sessions):
        frame[session == s] = np.arange((session == s).sum())
    split = np.array([spec.split[s % len(spec.split)] for s in session], dtype=np.uint8)

    dz, dy, dx = spec.voxel_size_m
    z0, y0, x0 = spec.roi_min_m
    D, Z, Y, X = spec.rtpose_shape
    lo = np.array([x0 + 0.3 * X * dx, y0 + 0.25 * Y * dy, z0 + 0.45 * Z * dz])
    hi = np.array([x0 + 0.7 * X * dx, y0 + 0.75 * Y * dy, z0 + 0.55 * Z * dz])
    joints = np.full((n, P, 15, 3), np.nan, dtype=np.float32)
    for i in range(n):
        k = 1 if P == 1 else rng.integers(1, P + 1)
        joints[i, :k] = _poses(rng, k, lo, hi)

    sessions = [{"path": f"synthetic/session{s}.zarr", "name": f"session{s}", "subject": s, "action": "stand",
                 "scene": "synthetic"} for s in range(spec.sessions)]
    config = {"synthetic": True, "seed": spec.seed}

    if spec.format == "rtpose":
        x = np.abs(rng.normal(0, 0.02, (n, D, Z, Y, X))).astype(np.float32)
        zz, yy, xx = np.meshgrid(z0 + dz * np.arange(Z), y0 + dy * np.arange(Y), x0 + dx * np.arange(X), indexing="ij")
        for i in range(n):
            for p in range(P):
                if not np.isfinite(joints[i, p]).all():
                    continue
                dop = rng.integers(0, D)
                for j, (jx, jy, jz) in enumerate(joints[i, p]):
                    blob = np.exp(-((xx - jx) ** 2 / (2 * dx**2) + (yy - jy) ** 2 / (2 * dy**2)
                                    + (zz - jz) ** 2 / (2 * dz**2)))
                    gain = 2.0 if j == 0 else 1.0
                    x[i, (dop + j) % D] += gain * blob
                    x[i, dop] += 0.3 * blob
        tensors = {"x": to_float16(x)}
        input_spec = {"tensor_format": RTPOSE_FORMAT, "shape": [D, Z, Y, X], "dtype": "float16",
                      "normalisation": "synthetic blobs, unit peak", "skeleton": "rtpose15",
                      "grid": {"voxel_size_m": [dz, dy, dx], "roi_min_m": [z0, y0, x0]},
                      "axes": {"doppler": {"size": D}, "z": {"min_m": z0, "step_m": dz},
                               "y": {"min_m": y0, "step_m": dy}, "x": {"min_m": x0, "step_m": dx}}}
        joints_2d = None
    else:
        Dd, C, R, A, E = spec.hupr_shape
        j14 = convert(joints, "rtpose15", "hupr14")[0].astype(np.float32)  # (n, P, 14, 3)
        # image: x (column) from lateral y (left is image left), y (row) from height; both 256 px
        img = np.empty(j14.shape[:-1] + (2,), dtype=np.float32)
        img[..., 0] = 128 - (j14[..., 1] - (y0 + 0.5 * Y * dy)) / (Y * dy) * 256
        img[..., 1] = 128 - (j14[..., 2] - (z0 + 0.5 * Z * dz)) / (Z * dz) * 256
        img = np.clip(img, 0, 255)
        stride = 256 / A
        rr = (j14[..., 0] - x0) / (X * dx) * R  # range bin
        xh = rng.normal(0, 0.02, (n, Dd, C, R, A, E)).astype(np.float32)
        xv = rng.normal(0, 0.02, (n, Dd, C, R, A, E)).astype(np.float32)
        ri, ai = np.meshgrid(np.arange(R), np.arange(A), indexing="ij")
        for i in range(n):
            for p in range(P):
                if not np.isfinite(j14[i, p]).all():
                    continue
                for j in range(14):
                    col, row = img[i, p, j] / stride
                    b_ra = np.exp(-((ri - rr[i, p, j]) ** 2 + (ai - col) ** 2) / 2.0)
                    b_re = np.exp(-((ri - rr[i, p, j]) ** 2 + (ai - row) ** 2) / 2.0)
                    d = (j * 3 + i) % Dd
                    phase = rng.uniform(0, 2 * np.pi)
                    xh[i, d, 0] += (np.cos(phase) * b_ra)[..., None]
                    xh[i, d, 1] += (np.sin(phase) * b_ra)[..., None]
                    xv[i, d, 0] += (np.cos(phase) * b_re)[..., None]
                    xv[i, d, 1] += (np.sin(phase) * b_re)[..., None]
        tensors = {"x_hori": to_float16(xh), "x_vert": to_float16(xv)}
        joints_2d = np.where(np.isfinite(img), img, np.nan).astype(np.float32)
        input_spec = {"tensor_format": HUPR_FORMAT, "shape": [Dd, C, R, A, E], "dtype": "float16",
                      "normalisation": "synthetic blobs, unit peak", "skeleton": "hupr14",
                      "axes": {"doppler": Dd, "complex": C, "range": R, "azimuth": A, "elevation": E}}
    conf = np.where(np.isfinite(joints[..., 0]), 1.0, 0.0).astype(np.float32)
    if spec.format == "hupr":
        conf = conf[..., :14]
    samples = SampleTable(joints=joints, confidence=conf, joints_2d=joints_2d,
                          timestamp_ns=frame.astype(np.int64) * 100_000_000, session_index=session,
                          frame_index=frame, subject=session.copy(), split=split)
    writer = DatasetWriter.create(path, format=spec.format, input_spec=input_spec, config=config,
                                  sessions=sessions, samples=samples)
    writer.write(0, n, **tensors)
    writer.finish()
    return path


__all__ = ["SyntheticSpec", "write_synthetic_dataset"]
