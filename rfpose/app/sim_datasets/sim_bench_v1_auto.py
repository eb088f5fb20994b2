"""sim-bench-v1-auto: the sim-bench-v1 sessions labelled by ``rfpose annotate`` from a calibrated rig.

Everything sim-bench-v1 has (board, chirp, frame period, grid, subjects, actions, scenes, takes, split), plus
what a real recording needs for labels: every session is recorded with the cameras and the LiDAR of **one**
physical rig (``rig_seed``: the simulator's rig of that seed, whoever the subject), that rig is calibrated once
as a user would (a ChArUco board capture, a corner-reflector capture and a walking capture → ``rfpose
calibrate`` → ``OUT/calibration/CALIB.json``), the calibration is written into every session (``rfpose
calibrate apply``), and ``rfpose annotate`` writes label set ``auto`` (detector ``mediapipe``, the first camera
+ LiDAR, default parameters). The dataset is built from ``auto`` (flagged frames skipped); the simulator's
``gt`` stays in the sessions for evaluation against the truth.

``dataset-gt.zarr`` is its twin built from the same sessions with the simulator's truth as labels: a model
trained on each, measured against the truth, says what the labels cost (docs/annotation.md).

Cost per session: 120 images of ``cam_left`` (30 Hz × 4 s; the only camera recorded) rendered and passed
through MediaPipe, plus the one-time calibration captures. ``--train-takes 1`` halves the training sessions;
``--subjects 3 --frames-per-session 2 --scenarios walk`` is the smoke run (tests/app/test_sim_bench_auto.py
builds a reduced version with the groundtruth detector).
"""

from __future__ import annotations

import fcntl
from dataclasses import dataclass, replace
from pathlib import Path

from rfpose.app.sim_datasets.preset import SimDatasetPreset
from rfpose.app.sim_datasets.sim_bench_v1 import PRESET as BENCH


@dataclass(frozen=True)
class AutoLabelledPreset(SimDatasetPreset):
    """A preset whose sessions carry cameras and LiDAR on one calibrated rig and are labelled by
    ``rfpose annotate``; the dataset is built from those labels."""

    rig_seed: int = 0
    """every session is recorded on the simulator's rig of this seed (one rig, one calibration)"""
    detector: str = "mediapipe"
    cameras: tuple[str, ...] = ("cam_left",)
    """cameras the labels are lifted from (with the LiDAR); the only cameras the sessions record (the calibration
    captures record all of the rig's)"""
    labels: str = "auto"
    calibration_walk_frames: int = 50
    """radar frames of the walking capture the clock offsets are calibrated from"""

    def calibration_path(self, out: Path) -> Path:
        return out / "calibration" / "CALIB.json"

    def calibrate_rig(self, out: Path, cfg_text: str):
        """Simulate the calibration captures on the rig and run ``rfpose calibrate`` once (a lock file keeps
        parallel session workers from doing it twice); returns the :class:`Calibration`."""
        from rfpose.app.calibrate import CalibrateOptions, calibrate_captures
        from rfpose.rig_calibration import Calibration
        from rfpose.sim.session_writer import simulate_session

        target = self.calibration_path(out)
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target.parent / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if target.exists():
                return Calibration.load(target)
            d = target.parent
            captures = [(d / "board.zarr", "calibration-charuco", None, {}),
                        (d / "reflector.zarr", "calibration-reflector", None, {}),  # cameras too: their clocks
                        (d / "walk.zarr", "walk", self.calibration_walk_frames, {})]
            for path, scenario, frames, kw in captures:
                simulate_session(path, scenario, frames, seed=self.rig_seed, board=self.board, cfg_text=cfg_text,
                                 overwrite=True, rig_seed=self.rig_seed, **kw)
            run = calibrate_captures([str(p) for p, *_ in captures], CalibrateOptions())
            run.calibration.save(target, overwrite=True)
            return run.calibration

    def simulate_session(self, path: str, scenario: str, seed: int, cfg_text: str, scene: str | None,
                         motion_seed: int) -> None:
        """Record the session with cameras and LiDAR on the shared rig, write the rig's calibration into it and
        label it with ``rfpose annotate`` (label set :attr:`labels`)."""
        from rfpose.annotation.run import annotate_session, write_labels
        from rfpose.session import open_session
        from rfpose.session.calibration import apply_calibration
        from rfpose.sim.session_writer import simulate_session

        out = Path(path).parent.parent  # OUT/sessions/NAME.zarr
        calib = self.calibrate_rig(out, cfg_text)
        simulate_session(path, scenario, self.frames_per_session, seed=seed, board=self.board, cfg_text=cfg_text,
                         overwrite=True, scene=scene, motion_seed=motion_seed, rig_seed=self.rig_seed,
                         streams=("radar", "lidar", *self.cameras), breathing=self.breathing)
        apply_calibration(path, calib, source=str(self.calibration_path(out)))
        ann, _ = annotate_session(open_session(path), self.detector, list(self.cameras), True, progress=False)
        write_labels(path, self.labels, ann, force=True)

    def preprocess_config(self, subject_of_seed: dict[int, str]):
        return replace(super().preprocess_config(subject_of_seed), labels=self.labels)

    def extra_datasets(self, subject_of_seed: dict[int, str]) -> dict:
        """``dataset-gt.zarr``: the same sessions and frames' inputs with the simulator's truth as labels, the
        twin a model trained on the ``auto`` labels is compared with (evaluation only)."""
        return {"dataset-gt.zarr": super().preprocess_config(subject_of_seed)}


PRESET = AutoLabelledPreset(
    **{**BENCH.__dict__, "name": "sim-bench-v1-auto",
       "description": "sim-bench-v1 recorded with cameras + LiDAR on one rig (rig seed 0), calibrated with rfpose "
                      "calibrate, labelled by rfpose annotate (mediapipe, cam_left + LiDAR), dataset from the "
                      "auto labels"})
