"""Stage ``simulate``: the training set, recorded (simulated) with the demo's rig."""

from __future__ import annotations

from rfpose.app.demo.config import CAMERA, DemoConfig
from rfpose.app.demo.state import DemoState, stage


def _subject_seed(cfg: DemoConfig, k: int) -> int:
    return cfg.seed * 100 + 11 + k


def _simulate_one(args: tuple) -> str:
    from rfpose.sim.camera import CameraModel
    from rfpose.sim.session_writer import simulate_session

    path, action, frames, seed, motion_seed, rig_seed, board, streams, camera_hz = args
    simulate_session(path, action, frames, seed=seed, board=board, camera=CAMERA in streams,
                     lidar="lidar" in streams, overwrite=True, labels_2d=False, motion_seed=motion_seed,
                     rig_seed=rig_seed, streams=streams, camera_model=CameraModel(rate_hz=camera_hz))
    return path


def stage_simulate(state: DemoState) -> None:
    """The training set, recorded (simulated) with the demo's rig: every subject's sessions carry the rig's
    nominal geometry and its sensor clocks, like the capture; the held-out test subject needs only radar."""
    from rfpose.sim.scenarios import subject_id
    from rfpose.worker_pool import process_pool

    cfg, out = state.cfg, state.out
    with stage(state, "simulate") as st:
        jobs, subjects, by_subject = [], [], {}
        for k in range(cfg.subjects):
            seed = _subject_seed(cfg, k)
            test = k == cfg.subjects - 1
            streams = ("radar",) if test else ("radar", "lidar", CAMERA)
            subject = subject_id(seed)
            subjects.append(subject)
            for action in cfg.actions:
                path = str(out / "train-sessions" / f"s{k}-{action}.zarr")
                jobs.append((path, action, cfg.frames_per_session, seed, None, cfg.seed, cfg.board, streams,
                             cfg.camera_rate_hz))
                by_subject.setdefault(subject, []).append(path)
        clock = str(out / "train-sessions" / "s0-walk-clocks.zarr")  # a longer walk: the rig's clock offsets
        jobs.insert(0, (clock, "walk", cfg.clock_session_frames, _subject_seed(cfg, 0), 1, cfg.seed, cfg.board,
                        ("radar", "lidar", CAMERA), cfg.camera_rate_hz))
        by_subject[subjects[0]].append(clock)
        with process_pool(max(1, cfg.threads)) as pool:
            list(pool.map(_simulate_one, jobs))
        st.items, st.unit = sum(j[2] for j in jobs), "radar frames"
        st.detail = (f"{cfg.subjects} subjects x {len(cfg.actions)} actions x {cfg.frames_per_session} frames + a "
                     f"{cfg.clock_session_frames}-frame walk; radar, LiDAR and {CAMERA} at {cfg.camera_rate_hz:g} Hz "
                     f"(test subject: radar only); {cfg.threads} processes")
        state.doc["training_set"] = {"sessions": [j[0] for j in jobs], "subjects": subjects,
                                     "by_subject": by_subject, "actions": list(cfg.actions), "clock_session": clock,
                                     "train_subjects": subjects[:-2], "val_subjects": subjects[-2:-1],
                                     "test_subjects": subjects[-1:]}
