"""CALIB.html: a self-contained page (figures inline as base64 PNG) to judge a calibration by eye.

LiDAR points projected onto each camera's board image with the calibrated extrinsics and intrinsics;
the radar's reflector detections projected onto the images and into the LiDAR's view; histograms of the
solvers' residuals; each pose's 1-sigma uncertainty and covariance (as correlations).
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path

import numpy as np

from rfpose.rig_calibration import Calibration


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return f'<img src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'


def _figure(*size):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(*size[:2], figsize=size[2] if len(size) > 2 else (6, 4))


def _project(calib: Calibration, cam: str, frm: str, xyz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pixels ``(N, 2)`` and in-image flags of points in sensor ``frm``'s frame seen by camera ``cam``."""
    from rfpose.calibration.lidar_camera import project

    s = calib.sensors[cam]
    T = calib.transform(cam, frm)
    pc = xyz @ T[:3, :3].T + T[:3, 3]
    front = pc[:, 2] > 0.1
    uv = np.full((len(xyz), 2), np.nan)
    uv[front] = project(s.K, s.dist, pc[front])
    w, h = s.image_size
    ok = front & (uv[:, 0] >= 0) & (uv[:, 0] < w) & (uv[:, 1] >= 0) & (uv[:, 1] < h)
    return uv, ok


def _can_project(calib: Calibration, cam: str, frm: str) -> bool:
    try:
        calib.transform(cam, frm)
    except Exception:  # a partial calibration without one of the poses
        return False
    return calib.sensors.get(cam) is not None and calib.sensors[cam].K is not None


def lidar_on_image(calib: Calibration, cam: str, lidar: str, image: np.ndarray, xyz: np.ndarray, title: str) -> str:
    fig, ax = _figure(1, 1, (7, 5.5))
    ax.imshow(image)
    uv, ok = _project(calib, cam, lidar, xyz)
    rng = np.linalg.norm(xyz, axis=1)
    sc = ax.scatter(uv[ok, 0], uv[ok, 1], c=rng[ok], s=1.5, cmap="turbo", vmin=0.5, vmax=max(1.0, float(np.percentile(rng[ok], 95)) if ok.any() else 5))
    fig.colorbar(sc, ax=ax, label="LiDAR range (m)", shrink=0.8)
    ax.set_title(title, fontsize=9)
    ax.axis("off")
    return _png(fig)


def radar_on_image(calib: Calibration, cam: str, radar: str, image: np.ndarray, radar_xyz: np.ndarray,
                   title: str) -> str:
    fig, ax = _figure(1, 1, (7, 5.5))
    ax.imshow(image)
    uv, ok = _project(calib, cam, radar, radar_xyz)
    ax.scatter(uv[ok, 0], uv[ok, 1], s=60, facecolors="none", edgecolors="red", linewidths=1.5,
               label="radar reflector detections")
    for i in np.nonzero(ok)[0]:
        ax.annotate(str(i), uv[i], color="yellow", fontsize=8, xytext=(4, 4), textcoords="offset points")
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title(title, fontsize=9)
    ax.axis("off")
    return _png(fig)


def radar_in_lidar(calib: Calibration, radar: str, lidar: str, radar_xyz: np.ndarray, lidar_xyz: np.ndarray,
                   sweep: np.ndarray | None) -> str:
    """Top and side views in the LiDAR frame: a sweep (grey), the LiDAR's reflector positions (blue) and
    the radar's detections mapped through the calibration (red)."""
    T = calib.transform(lidar, radar)
    r_in_l = radar_xyz @ T[:3, :3].T + T[:3, 3]
    fig, axes = _figure(1, 2, (11, 4.5))
    for ax, (i, j, name) in zip(axes, ((0, 1, "top view: x forward, y left"), (0, 2, "side view: x forward, z up"))):
        if sweep is not None and len(sweep):
            sub = sweep[:: max(1, len(sweep) // 8000)]
            ax.scatter(sub[:, i], sub[:, j], s=0.3, c="0.7")
        ax.scatter(lidar_xyz[:, i], lidar_xyz[:, j], s=30, c="tab:blue", label="LiDAR reflector")
        ax.scatter(r_in_l[:, i], r_in_l[:, j], s=40, marker="x", c="red", label="radar detection (calibrated)")
        ax.set_xlabel("xyz"[i] + " (m)")
        ax.set_ylabel("xyz"[j] + " (m)")
        ax.set_title(name, fontsize=9)
        ax.set_aspect("equal", adjustable="datalim")
    axes[0].legend(fontsize=8)
    return _png(fig)


def histogram(values: np.ndarray, xlabel: str, title: str) -> str:
    fig, ax = _figure(1, 1, (5, 3.2))
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    ax.hist(v, bins=min(60, max(10, len(v) // 20)), color="tab:blue")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("count")
    ax.set_title(f"{title}\nRMS {np.sqrt(np.mean(v ** 2)):.3g}, n = {len(v)}" if len(v) else title, fontsize=9)
    return _png(fig)


def covariance_figure(cov: np.ndarray, title: str) -> str:
    std = np.sqrt(np.clip(np.diag(cov), 1e-30, None))
    corr = cov / np.outer(std, std)
    labels = ["rx", "ry", "rz", "tx", "ty", "tz"]
    fig, ax = _figure(1, 1, (4.2, 3.6))
    im = ax.imshow(corr, vmin=-1, vmax=1, cmap="coolwarm")
    ax.set_xticks(range(6), labels)
    ax.set_yticks(range(6), labels)
    for i in range(6):
        for j in range(6):
            ax.text(j, i, f"{corr[i, j]:.2f}", ha="center", va="center", fontsize=7)
    fig.colorbar(im, ax=ax, shrink=0.8)
    ax.set_title(title, fontsize=9)
    return _png(fig)


def _sensor_table(calib: Calibration) -> str:
    from scipy.spatial.transform import Rotation

    rows = []
    for name, s in calib.sensors.items():
        pose = clock = intr = std = ""
        if s.T_rig_sensor is not None:
            t = s.T_rig_sensor[:3, 3] * 1e3
            rpy = Rotation.from_matrix(s.T_rig_sensor[:3, :3]).as_euler("xyz", degrees=True)
            pose = f"t = ({t[0]:.1f}, {t[1]:.1f}, {t[2]:.1f}) mm<br>rpy = ({rpy[0]:.2f}, {rpy[1]:.2f}, {rpy[2]:.2f})°"
        if s.clock_offset_ns is not None:
            clock = f"{s.clock_offset_ns / 1e6:+.2f} ms"
        elif s.residual.get("clock", {}).get("not_calibrated"):
            clock = f"not calibrated<br><small>{html.escape(s.residual['clock']['not_calibrated'])}</small>"
        if s.K is not None:
            K = s.K
            intr = (f"fx {K[0, 0]:.2f}, fy {K[1, 1]:.2f}<br>cx {K[0, 2]:.2f}, cy {K[1, 2]:.2f}<br>"
                    f"dist [{', '.join(f'{d:.4f}' for d in s.dist)}]")
        sd = s.std()
        if sd:
            std = (f"rot ({', '.join(f'{v:.3f}' for v in sd['rot_deg'])})°<br>"
                   f"trans ({', '.join(f'{v:.2f}' for v in sd['trans_mm'])}) mm"
                   f"<br><small>frame: {html.escape(str(s.residual.get('covariance_frame', calib.rig_frame)))}</small>")
        rows.append(f"<tr><td><b>{html.escape(name)}</b></td><td>{pose}</td><td>{clock}</td><td>{intr}</td>"
                    f"<td>{std}</td></tr>")
    return ("<table><tr><th>sensor</th><th>pose in the rig frame</th><th>clock offset</th><th>intrinsics</th>"
            "<th>1-sigma</th></tr>" + "".join(rows) + "</table>")


def render_report(run) -> str:
    """The HTML text of the report of a :class:`rfpose.app.calibrate.CalibrationRun`."""
    calib: Calibration = run.calibration
    parts = [f"<h1>Rig calibration</h1><p>rig frame: <b>{html.escape(calib.rig_frame)}</b>; captures: "
             + ", ".join(f"{html.escape(Path(p).name)} ({r})" for p, r in run.roles.items()) + "</p>",
             "<p>solver seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in run.seconds.items()) + "</p>",
             _sensor_table(calib)]
    for cam, intr in run.intrinsics.items():
        c = intr.counts
        parts.append(f"<h2>{html.escape(cam)}: intrinsics</h2><p>RMS reprojection {intr.rms_px:.3f} px over "
                     f"{len(intr.per_view)} views; {c['frames_without_board']} frames without a board, "
                     f"{c['rejected_few_corners']} views rejected for too few corners, {c['rejected_duplicates']} "
                     f"near-duplicates, {c.get('rejected_outliers', 0)} outliers.</p>")
        parts.append(histogram([v["rms_px"] for v in intr.per_view], "per-view RMS (px)", f"{cam}: per-view residuals"))
    for cam, lc in run.lidar_camera.items():
        r = lc.residual
        parts.append(f"<h2>{html.escape(lc.lidar)} → {html.escape(cam)}</h2><p>{r['poses']} still board poses; "
                     f"LiDAR range RMS (along the rays, to the board planes) {r['plane_rms_mm']:.1f} mm, edge RMS "
                     f"{r['edge_rms_mm']:.2f} mm, corner RMS "
                     f"{r['rms_px']:.3f} px; board orientations span {r['normal_spread_deg']:.1f}°.</p>")
        ov = run.overlays.get(cam) or {}
        if ov and _can_project(calib, cam, lc.lidar):
            caption = f"{Path(ov['capture']).name} frame {ov['frame']}: LiDAR points on {cam}"
            parts.append(f"<p>{html.escape(caption)} (calibrated extrinsics, intrinsics and distortion; colour = "
                         "range)</p>" + lidar_on_image(calib, cam, lc.lidar, ov["image"], ov["lidar_xyz"], caption))
        parts.append(histogram(lc.plane_residuals_mm, "range error along the ray (mm)", "LiDAR board points"))
        parts.append(histogram(lc.corner_residuals_px, "corner reprojection (px)", "ChArUco corners, joint solve"))
        parts.append(covariance_figure(lc.covariance, f"{cam} in the {lc.lidar} frame: correlations"))
    if run.radar is not None:
        parts.append(_radar_section(run))
    if getattr(run, "radar_camera", None):
        parts.append(_radar_camera_section(run))
    clocks = {n: s for n, s in calib.sensors.items() if n != calib.rig_frame and
              (s.clock_offset_ns is not None or s.residual.get("clock", {}).get("not_calibrated"))}
    if clocks:
        rows = "".join(f"<tr><td>{html.escape(n)}</td><td>"
                       + ("not calibrated" if s.clock_offset_ns is None else f"{s.clock_offset_ns / 1e6:+.2f} ms")
                       + "</td>"
                       f"<td><small>{html.escape(json.dumps(s.residual.get('clock', {}), default=str))}</small></td></tr>"
                       for n, s in clocks.items())
        parts.append(f"<h2>Clock offsets (against {html.escape(calib.rig_frame)})</h2><table><tr><th>stream</th>"
                     f"<th>offset (add to its timestamps)</th><th>fit</th></tr>{rows}</table>")
    parts.append("<h2>CALIB.json</h2><pre>" + html.escape(calib.to_json()) + "</pre>")
    style = ("body{font-family:sans-serif;max-width:1200px;margin:auto}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top;font-size:13px}img{margin:4px}"
             "pre{font-size:11px;background:#f6f6f6;padding:8px;overflow:auto;max-height:400px}")
    return f"<!doctype html><html><head><meta charset='utf-8'><title>rfpose calibration</title><style>{style}</style>" \
           f"</head><body>{''.join(parts)}</body></html>"


def _radar_camera_section(run) -> str:
    """Direct radar → camera (from the reflector's marker) next to the pose chained through the LiDAR."""
    calib: Calibration = run.calibration
    radar = calib.rig_frame
    rows, figs = [], []
    for cam, fit in run.radar_camera.items():
        d = calib.sensors[cam].residual.get("radar_camera_direct", {})
        agree = d.get("agreement_with_chained")
        chained = "—" if agree is None else f"{agree['trans_mm']:.1f} mm / {agree['rot_deg']:.3f}°"
        j = calib.sensors[cam].residual.get("joint", {})
        joint = "—" if not j else (f"{j['direct_separate']['change']['trans_mm']:.1f} mm / "
                                   f"{j['direct_separate']['change']['rot_deg']:.3f}° (direct), "
                                   f"{j['chained_separate']['change']['trans_mm']:.1f} mm / "
                                   f"{j['chained_separate']['change']['rot_deg']:.3f}° (chained); marker "
                                   f"{j['marker_rms_px']:.3f} px, board {j['board_rms_px']:.3f} px")
        t = fit.T[:3, 3] * 1e3
        rows.append(f"<tr><td>{html.escape(cam)}</td><td>t = ({t[0]:.1f}, {t[1]:.1f}, {t[2]:.1f}) mm</td>"
                    f"<td>{d.get('rms_px', float('nan')):.3f} px over {d.get('inliers', 0)} of {d.get('stops', 0)} "
                    f"stops</td><td>({', '.join(f'{v:.1f}' for v in d.get('std_trans_mm', []))}) mm; "
                    f"({', '.join(f'{v:.3f}' for v in d.get('std_rot_deg', []))})°</td><td>{chained}</td>"
                    f"<td>{joint}</td></tr>")
        ov = run.overlays.get("_reflector", {}).get("images", {}).get(cam)
        if ov is not None:
            figs.append(_marker_figure(calib, cam, radar, fit, ov))
    return (f"<h2>{html.escape(radar)} → cameras, direct (reflector marker)</h2><p>The marker's centre (the "
            "reflector's apex) located in every camera frame, pooled per stop, against the radar's stop positions; "
            "errors-in-variables fit (radar and pixel residuals whitened), covariance from the Jacobian. When a "
            "board capture gave the LiDAR → camera pose, the written poses are the joint refinement (radar, LiDAR "
            "and marker stops with the board's corners, ranges and edges in one least-squares problem), so "
            "radar → camera = radar → LiDAR · LiDAR → camera; the last columns: how far the separate direct and "
            "chained poses disagree, and how far the joint one moved from each.</p><table><tr><th>camera</th>"
            "<th>direct pose (camera in the radar frame)</th><th>reprojection</th><th>1-sigma</th><th>direct vs "
            "chained</th><th>joint vs separate</th></tr>"
            + "".join(rows) + "</table>" + "".join(figs))


def _marker_figure(calib: Calibration, cam: str, radar: str, fit, image: np.ndarray) -> str:
    from rfpose.calibration.radar_camera import _project as project_px

    fig, ax = _figure(1, 1, (7, 5.5))
    ax.imshow(image)
    s = calib.sensors[cam]
    pc = (fit.radar_xyz - fit.T[:3, 3]) @ fit.T[:3, :3]
    uv_d = project_px(s.K, s.dist, pc)
    ax.scatter(fit.uv[:, 0], fit.uv[:, 1], s=50, facecolors="none", edgecolors="lime", label="marker (camera)")
    ax.scatter(uv_d[:, 0], uv_d[:, 1], s=30, marker="x", c="red", label="radar stop, direct pose")
    if _can_project(calib, cam, radar):
        uv_c, ok = _project(calib, cam, radar, fit.radar_xyz)
        ax.scatter(uv_c[ok, 0], uv_c[ok, 1], s=30, marker="+", c="cyan", label="radar stop, chained pose")
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title(f"{cam}: reflector stops", fontsize=9)
    ax.axis("off")
    return _png(fig)


def _radar_section(run) -> str:
    calib: Calibration = run.calibration
    radar = run.radar
    lidar = next(n for n in radar.sensors if n != radar.rig_frame)
    stops = radar.provenance.get("stops", [])
    out = [f"<h2>{html.escape(radar.rig_frame)} → {html.escape(lidar)} (corner reflector)</h2>"]
    res = radar.sensors[lidar].residual
    out.append("<p>" + html.escape(", ".join(f"{k}: {v:.3g}" if isinstance(v, float) else f"{k}: {v}"
                                              for k, v in res.items() if not isinstance(v, (list, dict)))) + "</p>")
    if "radar_elevation" in res.get("variance_factors", {}):
        f = res["variance_factors"]["radar_elevation"]
        out.append(f"<p>radar elevation floor estimated from the residuals: ×{np.sqrt(f):.3g} of the prior 1-sigma "
                   "(1 % of a resolution cell)</p>")
    if not stops:
        return "".join(out)
    rx = np.array([s["radar_xyz"] for s in stops], float)
    lx = np.array([s["lidar_xyz"] for s in stops], float)
    ov = run.overlays.get("_reflector", {})
    if _can_project(calib, lidar, radar.rig_frame) or lidar == calib.rig_frame or radar.rig_frame == calib.rig_frame:
        out.append(radar_in_lidar(calib, radar.rig_frame, lidar, rx, lx, ov.get("lidar_xyz")))
        T = calib.transform(lidar, radar.rig_frame)
        d = (rx @ T[:3, :3].T + T[:3, 3]) - lx
        out.append(histogram(np.linalg.norm(d, axis=1) * 1e3, "radar − LiDAR reflector distance (mm)",
                             "reflector positions after calibration"))
    for cam, img in ov.get("images", {}).items():
        if _can_project(calib, cam, radar.rig_frame):
            caption = f"{cam}: every reflector position the radar detected, projected (radar reflector detections)"
            out.append(f"<p>{html.escape(caption)}</p>" + radar_on_image(calib, cam, radar.rig_frame, img, rx, caption))
    if radar.sensors[lidar].covariance is not None:
        out.append(covariance_figure(radar.sensors[lidar].covariance, f"{lidar} in the {radar.rig_frame} frame"))
    return "".join(out)


def write_report(run, path: str | Path) -> Path:
    p = Path(path)
    p.write_text(render_report(run))
    return p
