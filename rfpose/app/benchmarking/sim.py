"""Simulator speed: radar (per board), LiDAR and camera frames per second.

Rows: ``{"sensor", "config", "frames_per_s", "ms_per_frame"}``. The radar rows time a whole frame of the
"walk" scenario (body and clutter scatterers, occlusion, IF synthesis, quantisation, wire encoding) and,
separately, the IF synthesis alone for 500 moving scattering centres (the design target: an AWR1843
frame well under 100 ms on 2 cores).
"""

from __future__ import annotations



def run(boards: list[str], repeat: int = 3, seed: int = 0) -> list[dict]:
    """One row per radar board (whole frame, IF synthesis alone), per LiDAR pattern and for the camera."""
    import numpy as np

    from rfpose.app.benchmarking import best_time_s
    from rfpose.boards import get_board
    from rfpose.sim.radar import Scatterers, synthesize_frame
    from rfpose.sim.scenarios import build_rig

    rows = []

    def row(sensor, config, seconds, **extra):
        rows.append({"sensor": sensor, "config": config, "frames_per_s": 1.0 / seconds, "ms_per_frame": seconds * 1e3,
                     **extra})

    for name in boards:
        board = get_board(name)
        rig = build_rig("walk", seed=seed, num_frames=1000, board=name, camera=False, lidar=False)
        src = rig.radar
        counter = iter(range(10**9))
        rounds = repeat if board.capture != "tda2" else 1
        min_s = 0.0 if board.capture == "tda2" else 0.3  # a cascade frame takes seconds: time it once
        t = best_time_s(lambda: src[next(counter) % 1000], repeat=rounds, min_time_s=min_s)
        p = src.sensor.params
        row("radar", f"{name} walk frame {p.num_loops}x{p.num_tx}x{p.num_rx}x{p.num_adc_samples}", t)
        rng = np.random.default_rng(seed)
        K = 500
        pos = rng.uniform([1, -2, -1], [5, 2, 1], (K, 3))
        vel = rng.normal(0, 1.0, (K, 3))
        scat = Scatterers(np.array([0.0, 0.1]), np.stack([pos, pos + 0.1 * vel]), np.full(K, 0.01))
        t = best_time_s(lambda: synthesize_frame(p, board, scat, rng=rng, loops_per_group=src.sensor.loops_per_group),
                        repeat=rounds, min_time_s=min_s)
        row("radar", f"{name} IF synthesis, {K} moving centres", t)
    rig = build_rig("walk", seed=seed, num_frames=1000, board="awr1843boost", camera=True, lidar=True)
    for pattern in ("livox", "spinning64"):
        r2 = build_rig("walk", seed=seed, num_frames=1000, board="awr1843boost", camera=False, lidar=True,
                       lidar_pattern=pattern)
        lid = r2.sources["lidar"]
        counter = iter(range(10**9))
        n_rays = {"livox": 24000, "spinning64": 64 * 1024}[pattern]
        t = best_time_s(lambda: lid[next(counter) % len(lid)], repeat=repeat, min_time_s=0.3)
        row("lidar", f"{pattern} ({n_rays} rays)", t)
    cam = rig.sources["cam_left"]
    counter = iter(range(10**9))
    t = best_time_s(lambda: cam[next(counter) % len(cam)], repeat=repeat, min_time_s=0.3)
    m = cam.sensor.model
    row("camera", f"{m.width}x{m.height} render, 1 person, room", t)
    return rows
