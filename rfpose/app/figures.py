"""Matplotlib figures of radar maps, point clouds, images and skeletons (Agg backend, PNG out).

Each function takes plain arrays in the project's conventions (radar frame x forward, y left, z up;
skeletons ``(joint, xyz)``), writes one PNG and returns its path.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rfpose.skeletons import get_skeleton


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90, bbox_inches="tight")
    _plt().close(fig)
    return path


def range_doppler(power_db: np.ndarray, range_m: np.ndarray, velocity_mps: np.ndarray, path, title="") -> Path:
    """``power_db`` is ``(doppler, range)``."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4))
    im = ax.pcolormesh(range_m, velocity_mps, power_db, shading="auto", cmap="viridis")
    ax.set_xlabel("range (m)")
    ax.set_ylabel("radial velocity (m/s)")
    ax.set_title(title or "range-Doppler map")
    fig.colorbar(im, ax=ax, label="power (dB)")
    return _save(fig, path)


def range_azimuth(power_db: np.ndarray, range_m: np.ndarray, sin_az: np.ndarray, path, title="",
                  joints: np.ndarray | None = None) -> Path:
    """``power_db`` is ``(range, azimuth)`` with azimuth bins uniform in sin θ; drawn as a top view
    (x forward, y left) with optional true joints overlaid."""
    plt = _plt()
    r, s = np.meshgrid(range_m, sin_az, indexing="ij")
    x, y = r * np.sqrt(np.clip(1 - s**2, 0, None)), r * s
    fig, ax = plt.subplots(figsize=(6, 5))
    im = ax.pcolormesh(y, x, power_db, shading="auto", cmap="magma")
    if joints is not None:
        for person in np.atleast_3d(joints).reshape(-1, joints.shape[-2], 3):
            ax.plot(person[:, 1], person[:, 0], "c.", ms=5)
    ax.set_xlabel("y, left (m)")
    ax.set_ylabel("x, forward (m)")
    ax.invert_xaxis()
    ax.set_aspect("equal")
    ax.set_title(title or "range-azimuth map (top view)")
    fig.colorbar(im, ax=ax, label="power (dB)")
    return _save(fig, path)


def _draw_skeleton(ax, joints, skeleton, color, label=None, dims=(0, 1), lw=2.0):
    sk = get_skeleton(skeleton)
    first = True
    for a, b in sk.edges:
        pa, pb = joints[a], joints[b]
        if np.isnan(pa).any() or np.isnan(pb).any():
            continue
        ax.plot([pa[dims[0]], pb[dims[0]]], [pa[dims[1]], pb[dims[1]]], color=color, lw=lw,
                label=label if first else None)
        first = False


def lidar_with_skeleton(points_xyz: np.ndarray, joints: np.ndarray, path, skeleton="rtpose15", title="") -> Path:
    """Top and side views of LiDAR points (in the radar frame) with the true skeletons ``(P, J, 3)``."""
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.5))
    pts = points_xyz[np.isfinite(points_xyz).all(axis=1)]
    for ax, (i, j), names in ((axes[0], (1, 0), ("y, left (m)", "x, forward (m)")),
                              (axes[1], (0, 2), ("x, forward (m)", "z, up (m)"))):
        ax.scatter(pts[:, i], pts[:, j], s=0.5, c=pts[:, 2], cmap="viridis", alpha=0.6)
        for person in joints.reshape(-1, joints.shape[-2], 3):
            _draw_skeleton(ax, person, skeleton, "red", dims=(i, j))
        ax.set_xlabel(names[0])
        ax.set_ylabel(names[1])
        ax.set_aspect("equal")
    axes[0].invert_xaxis()
    fig.suptitle(title or f"LiDAR point cloud ({len(pts)} points) with skeleton")
    return _save(fig, path)


def image_with_skeleton(image: np.ndarray, joints_2d: np.ndarray, path, skeleton="rtpose15", title="") -> Path:
    plt = _plt()
    h, w = image.shape[:2]
    fig, ax = plt.subplots(figsize=(7, 7 * h / w))
    ax.imshow(image)
    for person in joints_2d.reshape(-1, joints_2d.shape[-2], 2):
        _draw_skeleton(ax, person, skeleton, "lime")
        ax.plot(person[:, 0], person[:, 1], "yo", ms=3)
    ax.set_xlim(0, w)
    ax.set_ylim(h, 0)
    ax.axis("off")
    ax.set_title(title or "camera frame with projected skeleton")
    return _save(fig, path)


def skeletons_pred_vs_true(pred: np.ndarray, true: np.ndarray, path, skeleton="rtpose15", titles=None,
                           pred_label: str = "predicted") -> Path:
    """Side-by-side front (y–z) views of predicted (blue, legend ``pred_label``) and true (red) skeletons, one
    panel per frame. ``pred``/``true`` are ``(frames, J, 3)``."""
    plt = _plt()
    n = len(pred)
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n, 4.2), squeeze=False)
    for k in range(n):
        ax = axes[0, k]
        _draw_skeleton(ax, true[k], skeleton, "red", "true", dims=(1, 2))
        _draw_skeleton(ax, pred[k], skeleton, "royalblue", pred_label, dims=(1, 2))
        ax.set_aspect("equal")
        ax.invert_xaxis()
        ax.set_xlabel("y (m)")
        if k == 0:
            ax.set_ylabel("z (m)")
            ax.legend(loc="lower left", fontsize=8)
        if titles:
            ax.set_title(titles[k], fontsize=9)
    return _save(fig, path)


def bar_chart(labels: list[str], values, path, ylabel: str, title: str) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 3.8))
    ax.bar(range(len(values)), values, color="steelblue")
    ax.set_xticks(range(len(values)))
    ax.set_xticklabels(labels, rotation=45, ha="right")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    for i, v in enumerate(values):
        ax.text(i, v, f"{v:.0f}", ha="center", va="bottom", fontsize=7)
    return _save(fig, path)


def curves(series: dict[str, tuple[list, list]], path, xlabel: str, ylabel: str, title: str, logy=False) -> Path:
    """``series`` maps a label to ``(x, y)``."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3.8))
    for label, (x, y) in series.items():
        ax.plot(x, y, marker="o", ms=3, label=label)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend()
    ax.grid(alpha=0.3)
    return _save(fig, path)


def histogram(values, path, xlabel: str, title: str) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.hist(values, bins=30, color="slateblue")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("frames")
    ax.set_title(title)
    return _save(fig, path)
