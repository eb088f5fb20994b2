"""The demo report's figures, each with the numbers it shows."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from rfpose.app.demo.config import CAMERA
from rfpose.app.demo.rig import capture_rig
from rfpose.app.demo.state import DemoState, done


def add_figure(state: DemoState, fig_id: str, path: Path, caption: str, data: dict | None = None) -> None:
    from rfpose.app.report import Figure

    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    state.figures.append(Figure(fig_id, Path(path), caption, {"sha256": digest, **(data or {})}))


def make_figures(state: DemoState) -> None:
    from rfpose.app import figures as F

    out = state.out / "figures"
    cfg = state.cfg
    if done(state, "truth"):
        from rfpose.boards import get_board
        from rfpose.preprocessing.decode import decode_radar_words
        from rfpose.preprocessing.polar import PolarConfig, PolarProcessor
        from rfpose.radar_config import parse_cfg
        from rfpose.session import SessionReader

        r = SessionReader(state.doc["capture"]["session"])
        radar = r.stream("radar")
        labels = r.labels("gt")
        k = int(labels.frame_index[len(labels.frame_index) // 2])
        frame = radar[k]
        board = get_board(radar.metadata["board"])
        params = parse_cfg(radar.metadata["cfg_text"]).derive(board)
        proc = PolarProcessor(params, board, PolarConfig(output="magnitude", clutter_removal=True))
        cube = proc(decode_radar_words(frame.adc, params, board))[0]  # (doppler, range, az, el)
        ax = proc.axes
        rd = 20 * np.log10(cube.sum(axis=(2, 3)) + 1e-6)
        ra = 20 * np.log10(cube.sum(axis=(0, 3)) + 1e-6)
        true = labels.joints[list(labels.frame_index).index(k)]
        peak = np.unravel_index(np.argmax(ra), ra.shape)
        F.range_doppler(rd, ax.range_m, ax.velocity_mps, out / "range_doppler.png",
                        title=f"captured frame {k}: range-Doppler (static clutter removed)")
        add_figure(state, "range_doppler", out / "range_doppler.png",
                    f"Range-Doppler map of captured radar frame {k} (summed over angle, static clutter removed).",
                    {"frame": k, "peak_range_m": float(ax.range_m[peak[0]])})
        F.range_azimuth(ra, ax.range_m, ax.sin_az, out / "range_azimuth.png", joints=true,
                        title=f"captured frame {k}: range-azimuth, true joints in cyan")
        add_figure(state, "range_azimuth", out / "range_azimuth.png",
                    f"Range-azimuth map of captured frame {k} as a top view, true joints overlaid.",
                    {"frame": k, "peak_range_m": float(ax.range_m[peak[0]]),
                     "true_pelvis_range_m": float(np.linalg.norm(true[0, 0]))})
        state.doc["radar_maps"] = {"frame": k, "peak_range_m": float(ax.range_m[peak[0]]),
                                   "true_pelvis_range_m": float(np.linalg.norm(true[0, 0]))}
        # LiDAR and camera with skeletons (the simulator's truth at each frame's own time)
        rig = capture_rig(cfg, state.doc["capture"]["sim_frames"])
        if "lidar" in r.streams and len(r.stream("lidar")):
            lid = r.stream("lidar")
            lf = lid[len(lid) // 2]
            T = np.asarray(lid.metadata["extrinsics"], np.float64)
            p = np.stack([lf.points["x"], lf.points["y"], lf.points["z"]], axis=1).astype(np.float64)
            p = p @ T[:3, :3].T + T[:3, 3]
            j = rig.ground_truth(rig.sources["lidar"].true_time_s(lf.index))
            F.lidar_with_skeleton(p, j, out / "lidar.png",
                                  title=f"captured LiDAR frame {lf.index}: {len(p)} points, true skeleton in red")
            add_figure(state, "lidar", out / "lidar.png", "Captured LiDAR sweep in the radar frame with the "
                        "true skeleton (top and side views).", {"points": int(len(p))})
        if CAMERA in r.streams and len(r.stream(CAMERA)):
            cam = r.stream(CAMERA)
            cf = cam[len(cam) // 2]
            kp, _vis = rig.sources[CAMERA].keypoints(cf.index)
            F.image_with_skeleton(cf.image, kp, out / "camera.png",
                                  title=f"captured camera frame {cf.index} with projected skeleton")
            add_figure(state, "camera", out / "camera.png", "Captured left-camera frame with the true skeleton "
                        "projected (exact 2D keypoints).", {"height": int(cf.image.shape[0]),
                                                             "width": int(cf.image.shape[1])})
        r.close()
    ann = state.doc.get("annotation")
    if ann and ann.get("per_joint_mm"):
        from rfpose.skeletons import get_skeleton

        names = list(get_skeleton("rtpose15").joints)
        F.bar_chart(names, ann["per_joint_mm"], out / "label_error.png", "error (mm)",
                    f"auto labels vs truth ({state.cfg.detector}, {CAMERA} + LiDAR)")
        add_figure(state, "label_error", out / "label_error.png", "Per-joint error of the auto labels against the "
                    "simulator's truth, over every labelled radar frame (mm).",
                    {"per_joint_mm": dict(zip(names, ann["per_joint_mm"]))})
    if done(state, "annotate") and done(state, "truth"):
        from rfpose.session import SessionReader

        r = SessionReader(state.doc["capture"]["session"])
        auto, gt = r.labels("auto"), r.labels("gt")
        row = {int(f): i for i, f in enumerate(gt.frame_index)}
        both = [(i, row[int(f)]) for i, f in enumerate(auto.frame_index)
                if int(f) in row and np.isfinite(auto.joints[i, 0]).all()]
        if both:
            pick = [both[int(k)] for k in np.linspace(0, len(both) - 1, min(4, len(both))).astype(int)]
            F.skeletons_pred_vs_true(np.stack([auto.joints[i, 0] for i, _ in pick]),
                                     np.stack([gt.joints[j, 0] for _, j in pick]), out / "auto_labels.png",
                                     titles=[f"frame {int(auto.frame_index[i])}" for i, _ in pick],
                                     pred_label="auto label")
            add_figure(state, "auto_labels", out / "auto_labels.png", "Captured session: auto labels from the "
                        "camera + LiDAR (blue) and the simulator's truth (red), front view.",
                        {"frames": [int(auto.frame_index[i]) for i, _ in pick]})
        r.close()
    mon = state.doc.get("monitor")
    if mon and mon.get("screenshot"):
        add_figure(state, "monitor_page", Path(mon["screenshot"]), "The monitor's web page in headless Chromium "
                    "after logging in with the token: live top and side views of the tracked skeletons, zones, "
                    "the event log.", {"frames_seen_by_page": (mon.get("browser") or {}).get("frames")})
    if "training" in state.doc and state.doc["training"]["history"]:
        h = state.doc["training"]["history"]
        ep = [r["epoch"] for r in h]
        series = {k: (ep, [r[k] for r in h]) for k in h[0] if k.endswith("loss") and all(k in r for r in h)}
        F.curves(series, out / "training.png", "epoch", "loss", "training curves", logy=True)
        add_figure(state, "training", out / "training.png", "Training and validation loss per epoch.",
                    {"epochs": len(h)})
        val_keys = [k for k in h[0] if "mpjpe" in k]
        if val_keys:
            F.curves({k: (ep, [r.get(k) for r in h]) for k in val_keys}, out / "validation.png", "epoch", "mm",
                     "validation error")
            add_figure(state, "validation", out / "validation.png", "Validation MPJPE per epoch.", {})
    ev = state.doc.get("evaluation")
    if ev and "per_joint_mm" in ev:
        names = list(ev["per_joint_mm"])
        F.bar_chart(names, [ev["per_joint_mm"][n] for n in names], out / "per_joint.png", "error (mm)",
                    "per-joint error, held-out subject (root-relative)")
        add_figure(state, "per_joint", out / "per_joint.png", "Per-joint root-relative error on the held-out "
                    "test subject (mm).", {"per_joint_mm": ev["per_joint_mm"]})
    rep = state.doc.get("replay")
    if rep and "samples" in rep:
        pred, true = np.array(rep["samples"]["pred"]), np.array(rep["samples"]["true"])
        pick = np.linspace(0, len(pred) - 1, min(4, len(pred))).astype(int)
        F.skeletons_pred_vs_true(pred[pick], true[pick], out / "skeletons.png",
                                 titles=[f"frame {rep['samples']['frame_index'][i]}" for i in pick])
        add_figure(state, "skeletons", out / "skeletons.png", "Replay, radar only: predicted (blue) and true (red) "
                    "skeletons, front view.", {"frames": [int(rep["samples"]["frame_index"][i]) for i in pick]})
    if rep:
        F.histogram(rep["latency_ms_all"], out / "latency.png", "ms per frame (decode + voxels + model)",
                    "replay latency")
        add_figure(state, "latency", out / "latency.png", "Per-frame latency of the radar-only replay.",
                    {"median_ms": rep["latency"]["total"]["median_ms"]})
