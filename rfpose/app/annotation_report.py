"""The QA page of ``rfpose annotate --report``: one self-contained HTML file (images inline as PNG).

Shows the 3D labels reprojected onto camera images and over the LiDAR points (top view) for a few radar
frames, quality and joint confidence over time with the flagged frames, the summary and, where the session
has simulator truth (label set ``gt``), the per-joint error of the labels against it. Truth is read here,
in the application layer, for evaluation only.
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path

import numpy as np

from rfpose.annotation.pipeline import FLAG_NAMES, Annotation
from rfpose.annotation.rig import load_rig
from rfpose.skeletons import get_skeleton


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80, bbox_inches="tight")
    plt.close(fig)
    return f'<img src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode("ascii")}">'


def truth_joints(reader, ann: Annotation) -> np.ndarray | None:
    """The simulator's ``gt`` joints (m) ``(N, 15, 3)`` of the person nearest (by pelvis) to the first label
    person at the same radar frames, NaN where either is missing; None without truth."""
    if "gt" not in reader.label_sets:
        return None
    gt = reader.labels("gt")
    row = {int(f): i for i, f in enumerate(gt.frame_index)}
    out = np.full(ann.joints.shape[:1] + ann.joints.shape[2:], np.nan)
    for n, f in enumerate(ann.frame_index):
        i = row.get(int(f))
        if i is None or not np.isfinite(ann.joints[n, 0]).any():
            continue
        g = gt.joints[i][: int(gt.num_people[i])]
        if len(g) == 0:
            continue
        dist = np.linalg.norm(g[:, 0] - ann.joints[n, 0, 0], axis=-1)
        if not np.isfinite(dist).any():  # the label's pelvis or every true pelvis missing
            continue
        out[n] = g[int(np.nanargmin(dist))]
    return out


def truth_errors(reader, ann: Annotation) -> np.ndarray | None:
    """Per-joint error (m) ``(N, 15)`` of the first label person against :func:`truth_joints`; None without
    truth."""
    truth = truth_joints(reader, ann)
    return None if truth is None else np.linalg.norm(ann.joints[:, 0] - truth, axis=-1)


def write_report(path, reader, ann: Annotation, summary: dict, frames: int = 4) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sk = get_skeleton("rtpose15")
    rig = load_rig(reader, cameras=summary.get("cameras"), lidars=summary.get("lidar"))
    parts = [f"<h1>rfpose annotate: {html.escape(str(reader.path))}</h1>",
             "<pre>" + html.escape(json.dumps({k: v for k, v in summary.items() if k != "report"}, indent=1,
                                              default=str)) + "</pre>"]
    # quality over time
    fig, ax = plt.subplots(figsize=(9, 2.8))
    ax.plot(ann.frame_index, ann.quality, label="frame quality")
    ax.plot(ann.frame_index, ann.confidence[:, 0].mean(-1), alpha=0.6, label="mean joint confidence (person 0)")
    bad = ann.flags != 0
    ax.scatter(ann.frame_index[bad], ann.quality[bad], color="red", s=12, label="flagged", zorder=3)
    ax.set_xlabel("radar frame")
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=7)
    parts += ["<h2>Quality over time</h2>", _png(fig),
              "<p>flags: " + html.escape(", ".join(f"{b} = {n}" for b, n in FLAG_NAMES.items())) + "</p>"]
    # reprojection on images and over the LiDAR
    labelled = np.flatnonzero(np.isfinite(ann.joints[:, 0]).all(axis=(1, 2)))
    picks = labelled[np.linspace(0, len(labelled) - 1, min(frames, len(labelled))).astype(int)] if len(labelled) else []
    cam = rig.camera(ann.reference_camera) if rig.cameras else None
    for n in picks:
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
        t = int(ann.timestamps_ns[n])
        if cam is not None:
            s = reader.stream(cam.name)
            i = s.index_at(t + cam.offset_ns - rig.radar_offset_ns)
            axes[0].imshow(s[i].image)
            for p in range(ann.joints.shape[1]):
                uv, _ = cam.project(ann.joints[n, p])
                for a, b in sk.edges:
                    axes[0].plot(uv[[a, b], 0], uv[[a, b], 1], "-", color="lime" if p == 0 else "orange", lw=1.5)
            axes[0].set_title(f"{cam.name} frame {i}: labels of radar frame {ann.frame_index[n]}", fontsize=8)
            axes[0].axis("off")
        if rig.lidars:
            ls = reader.stream(rig.lidars[0].name)
            j = ls.index_at(t + rig.lidars[0].offset_ns - rig.radar_offset_ns)
            pts = ls[j].points
            T = rig.lidars[0].T_radar_lidar
            xyz = np.stack([pts["x"], pts["y"], pts["z"]], -1) @ T[:3, :3].T + T[:3, 3]
            centre = np.nanmean(ann.joints[n, 0], axis=0)
            near = np.linalg.norm(xyz[:, :2] - centre[:2], axis=-1) < 1.5
            axes[1].scatter(xyz[near, 1], xyz[near, 2], s=1, c=xyz[near, 0], cmap="viridis")
            for a, b in sk.edges:
                axes[1].plot(ann.joints[n, 0, [a, b], 1], ann.joints[n, 0, [a, b], 2], "r-", lw=1.5)
            axes[1].set_title(f"LiDAR sweep {j} (front view: y, z; colour = x) and the label", fontsize=8)
            axes[1].invert_xaxis()
            axes[1].set_aspect("equal")
        parts.append(_png(fig))
    err = truth_errors(reader, ann)
    if err is not None:
        ok = ann.flags == 0
        rows = "".join(f"<tr><td>{nm}</td><td>{np.nanmean(err[ok, j]) * 1000:.1f}</td>"
                       f"<td>{np.nanmean(err[:, j]) * 1000:.1f}</td></tr>" for j, nm in enumerate(sk.joints))
        parts += ["<h2>Error against the simulator's truth (evaluation only)</h2>",
                  f"<p>MPJPE unflagged frames {np.nanmean(err[ok]) * 1000:.1f} mm, all labelled frames "
                  f"{np.nanmean(err) * 1000:.1f} mm</p>",
                  f"<table><tr><th>joint</th><th>unflagged (mm)</th><th>all (mm)</th></tr>{rows}</table>"]
        fig, ax = plt.subplots(figsize=(9, 2.5))
        frame_err = np.array([np.nanmean(e) if np.isfinite(e).any() else np.nan for e in err])
        ax.plot(ann.frame_index, frame_err * 1000)
        ax.set_xlabel("radar frame")
        ax.set_ylabel("frame MPJPE (mm)")
        parts.append(_png(fig))
    out = Path(path)
    out.write_text("<!DOCTYPE html><html><head><meta charset='utf-8'><title>rfpose annotate QA</title>"
                   "<style>body{font-family:sans-serif;max-width:1000px;margin:auto}td,th{padding:2px 8px}</style>"
                   "</head><body>" + "\n".join(parts) + "</body></html>")
    return str(out)
