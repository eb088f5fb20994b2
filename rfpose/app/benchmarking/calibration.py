"""Calibration against the simulator's truth: the captures a user records, ``rfpose calibrate``'s solvers, and
each sensor's error (the truth is read here, for evaluation only; the solvers never see it).

Per seed (one simulated rig per seed and board): a ``calibration-charuco`` and a ``calibration-reflector``
capture with cameras at ``camera_hz``, then :func:`rfpose.app.calibrate.calibrate_captures` on both, timed
(wall and this process's CPU). One row per seed and sensor: translation (mm) and rotation (°) of
``T_rig_sensor`` against the truth, clock offset error (ms), camera intrinsics (fx, fy in %, cx, cy in px),
the LiDAR → camera pose the calibration implies against the true one, and how far the written radar → camera
pose is from the direct (reflector marker) estimate."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np


def _captures(work: Path, seed: int, board: str, camera_hz: float) -> tuple[list[str], float]:
    from rfpose.sim.camera import CameraModel
    from rfpose.sim.session_writer import simulate_session

    t0, paths = time.perf_counter(), []
    for name in ("charuco", "reflector"):
        path = work / f"seed{seed}-{name}.zarr"
        simulate_session(path, f"calibration-{name}", None, seed=seed, board=board,
                         camera_model=CameraModel(rate_hz=camera_hz), labels_2d=False, overwrite=True)
        paths.append(str(path))
    return paths, time.perf_counter() - t0


def _rows(seed: int, calib, truth) -> list[dict]:
    from rfpose.rig_calibration import pose_error

    errors = calib.compare(truth)
    T_lidar = np.linalg.inv(calib.pose("lidar")) if "lidar" in calib.sensors else None
    T_lidar_true = np.linalg.inv(truth.rebased(calib.rig_frame).pose("lidar"))
    rows = []
    for name, e in errors.items():
        row = {"seed": seed, "sensor": name, **{k: round(v, 3) for k, v in e.items()}}
        if calib[name].K is not None and T_lidar is not None and calib[name].T_rig_sensor is not None:
            dt, dr = pose_error(T_lidar @ calib.pose(name), T_lidar_true @ truth.rebased(calib.rig_frame).pose(name))
            row["lidar_cam_mm"], row["lidar_cam_deg"] = round(dt * 1e3, 2), round(dr, 3)
        agree = (calib[name].residual or {}).get("joint", {}).get("direct_separate", {}).get("change")
        if agree:
            row["vs_direct_mm"], row["vs_direct_deg"] = round(agree["trans_mm"], 2), round(agree["rot_deg"], 3)
        rows.append(row)
    return rows


def run(seeds: list[int], board: str = "awr1843boost", camera_hz: float = 10.0, work: str | None = None,
        progress: bool = True) -> tuple[list[dict], list[dict]]:
    """Returns (error rows, timing rows: per seed simulation wall s, calibration wall and CPU s)."""
    from rfpose.app.calibrate import calibrate_captures
    from rfpose.rig_calibration import Calibration
    from rfpose.session import SessionReader

    rows, timing = [], []
    with tempfile.TemporaryDirectory(prefix="rfpose-bench-calibration-") as tmp:
        base = Path(work) if work else Path(tmp)
        base.mkdir(parents=True, exist_ok=True)
        for seed in seeds:
            paths, sim_s = _captures(base, seed, board, camera_hz)
            wall, cpu = time.perf_counter(), time.process_time()
            result = calibrate_captures(paths)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            truth = Calibration.from_dict(SessionReader(paths[0]).attrs["sim_truth"])
            rows += _rows(seed, result.calibration, truth)
            timing.append({"seed": seed, "simulate_wall_s": round(sim_s, 1), "calibrate_wall_s": round(wall, 1),
                           "calibrate_cpu_s": round(cpu, 1)})
            if progress:
                print(f"seed {seed}: captures {sim_s:.0f} s, calibration {wall:.1f} s wall, {cpu:.1f} s CPU",
                      flush=True)
    return rows, timing
