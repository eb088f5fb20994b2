"""sim-falls-v1: the room monitor's fall and presence benchmark (docs/monitor.md, "Fall benchmark").

* board: AWR1843BOOST at 10 Hz (the monitor's target), the chirp reduced to 128 complex ADC samples (range
  bins 8.4 cm, the same 10.7 m maximum range) and 32 loops (Doppler resolution 0.12 m/s, ±1.95 m/s);
* tensor grid: sim-bench-v1's (RT-Pose's voxel size on the part of its ROI people occupy, (8, 48, 112)),
  not RT-Pose's whole ROI: on this machine the whole ROI costs ~290 ms of CPU per frame (simulation,
  preprocessing and hrradarpose-lite) against ~65 ms here, which decides whether an hour of monitoring can
  be simulated and replayed at all;
* every session in a furnished room (the chair doubles as the bed of ``lie-down``): the four falls
  (forward, backward, sideways, a slow slump from the chair), the four confounders (sitting down fast,
  lying down on a bed, bending to pick something up, kneeling) and six ordinary activities (RT-Pose's);
* 8 subjects, split by subject: seeds 1–4 train, 5 and 8 val, 6 and 7 test; the training subjects
  fall ``train_fall_takes`` (3) times in each way. Training and validation sessions
  last ``frames_per_session`` frames (15 s); test sessions of non-fall activities last
  ``activity_factor`` times that (60 s), and every fall session runs until 12 s after the body reached
  the floor (the slow-fall confirmation is 4 s), so a fall's alarm is always inside its session;
* test subjects do every scenario ``test_takes`` (3) times;
* every subject gets one empty-room session (its room, 60 s, no person): for the training subjects the
  frames where the model learns to see nobody (zero-person labels), for the validation and test subjects
  the empty stretch the evaluation plays before a person appears and after they leave;
* only training and validation sessions (their empty rooms included) go into ``dataset.zarr``;
  ``rfpose evaluate-monitor`` replays the test sessions (raw ADC) through the monitor.

Test subjects: 2 × 3 takes × 10 non-fall activities × 60 s = 1 h of non-fall activity (plus the walk
before each fall), 24 falls.
"""

from __future__ import annotations

from dataclasses import dataclass

from rfpose.app.sim_datasets.preset import ACTIONS, SimDatasetPreset
from rfpose.dataset import PreprocessConfig
from rfpose.sim.motion import CONFOUNDER_ACTIONS, FALL_ACTIONS

EMPTY = "empty"
#: seconds a fall session runs on after the body reached the floor (slow-fall confirmation 4 s, the 5 s
#: alert target, and margin)
AFTER_FLOOR_S = 12.0


@dataclass(frozen=True)
class FallsPreset(SimDatasetPreset):
    """A preset of falls, confounders and ordinary activity with long test sessions (see the module)."""

    activity_factor: int = 4
    """test sessions of non-fall activities last this many times ``frames_per_session``"""
    test_takes: int = 3
    """takes of every scenario per test subject"""
    train_fall_takes: int = 3
    """takes of every fall per training subject (a fall session holds a few seconds on the floor: the
    model must see many people lying there to keep seeing them)"""
    empty_frames: int | None = None
    """the empty-room session of each subject (training: frames where the model must see nobody; validation
    and test: the evaluation's pre- and post-roll); None: as long as a test activity"""

    def sessions(self) -> list[tuple[int, str, str | None, int, int]]:
        n, pairs = len(self.scenes), len(self.scenes) * len(self.scenarios)
        out = []
        for seed in self.subject_seeds:
            takes = self.test_takes if seed in self.test_seeds else (
                1 if seed in self.val_seeds else self.train_takes)
            out += [(seed, sc, scene, t * pairs + a * n + k, t) for t in range(takes)
                    for a, sc in enumerate(self.scenarios) for k, scene in enumerate(self.scenes)]
            if seed not in self.test_seeds + self.val_seeds:
                out += [(seed, sc, scene, t * pairs + a * n + k, t) for t in range(takes, self.train_fall_takes)
                        for a, sc in enumerate(self.scenarios) if sc in FALL_ACTIONS
                        for k, scene in enumerate(self.scenes)]
            out.append((seed, EMPTY, None, 0, 0))
        return out

    def in_dataset(self, seed: int, scenario: str) -> bool:
        return seed not in self.test_seeds

    def frames_for(self, scenario: str, seed: int, cfg_text: str, scene: str | None, motion_seed: int,
                   test: bool) -> int:
        """Frames of one session: the empty room's, a fall's until ``AFTER_FLOOR_S`` past the floor, the
        longer test length for a test subject's other sessions."""
        import math

        from rfpose.sim.scenarios import build_rig

        if scenario == EMPTY:
            return self.empty_frames or self.frames_per_session * self.activity_factor
        n = self.frames_per_session * (self.activity_factor if test else 1)
        rig = build_rig(scenario, seed=seed, num_frames=n, board=self.board, camera=False, lidar=False,
                        cfg_text=cfg_text, scene=scene, motion_seed=motion_seed)
        event = rig.world.people[0].describe()["event"]
        if event["kind"] == "fall":
            period = rig.radars[0].params.frame_period_s
            n = max(self.frames_per_session, math.ceil((event["t_floor_s"] + AFTER_FLOOR_S) / period))
        return n

    def simulate_session(self, path: str, scenario: str, seed: int, cfg_text: str, scene: str | None,
                         motion_seed: int) -> None:
        from rfpose.sim.session_writer import simulate_session

        frames = self.frames_for(scenario, seed, cfg_text, scene, motion_seed, seed in self.test_seeds)
        simulate_session(path, scenario, frames, seed=seed, board=self.board, camera=False, lidar=False,
                         cfg_text=cfg_text, overwrite=True, scene=scene, motion_seed=motion_seed,
                         breathing=self.breathing)


PRESET = FallsPreset(
    "sim-falls-v1",
    "room monitor falls: AWR1843 at 10 Hz (reduced chirp), 4 falls + 4 confounders + 6 everyday actions in a "
    "furnished room, 8 subjects split 4/2/2, training falls 3 takes each; test subjects 3 takes of 60 s activities (1 h non-fall), 24 falls",
    board="awr1843boost",
    adc_samples=128,
    loops=32,
    subject_seeds=tuple(range(1, 9)),
    scenarios=FALL_ACTIONS + CONFOUNDER_ACTIONS + ACTIONS,
    scenes=("cluttered",),
    frames_per_session=150,
    val_seeds=(5, 8),
    test_seeds=(6, 7),
    preprocess=PreprocessConfig(grid_x_m=(0.77, 5.80), grid_y_m=(-3.69, 3.69), grid_z_m=(-1.09, 1.45),
                                grid_n_zyx=(8, 48, 112)))
