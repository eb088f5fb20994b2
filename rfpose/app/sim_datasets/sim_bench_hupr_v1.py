"""sim-bench-hupr-v1: the HuPR-like 2-D pose benchmark (docs/benchmark-hupr.md has the reasoning and the results).

* rig: HuPR's (hupr.md §1): a horizontal and a vertical AWR1843BOOST (the IWR1843's RF; the vertical one
  rotated 90° about boresight, 12 cm below) and one camera 12 cm above the horizontal radar;
* chirp: HuPR's 3 TX × 4 RX TDM, 64 loops, frames every 100 ms (10 Hz), with 128 ADC samples instead of
  256: 8.4 cm range bins, so the 64 range bins HuPR keeps span 1.30–6.65 m, the simulated walking area
  (x 1.5–5 m), instead of 1.30–3.93 m;
* tensors: HuPR's preprocessing (``rfpose preprocess --format hupr``): per radar and frame a complex
  (16 Doppler, 64 range, 64 azimuth, 8 elevation) map, static clutter removed;
* labels: hupr14 2-D keypoints in a 256 × 256 camera image (63° field of view, HuPR's label image size):
  the simulator's exact projection (true camera pose and lens) of the 3-D truth at each horizontal-radar
  frame's time (label set ``gt_2d_hupr14_camera``); neck = the truth's thorax;
* 6 subjects (seeds 1–6), all six RT-Pose actions in a clean and a cluttered room, 20 frames (2 s) each;
* split by subject: seeds 1–3 train (720 frames), 4 val (240), 5 and 6 test (480); 1440 frames in all.
"""

from __future__ import annotations

from dataclasses import dataclass

from rfpose.app.sim_datasets.preset import SimDatasetPreset
from rfpose.dataset import PreprocessConfig
from rfpose.sim.session_writer import radar_time_label_set

#: the benchmark's camera: square like HuPR's 256 × 256 label image, so labels are its pixels unscaled; the
#: focal length gives the default camera's 63° field of view; 10 Hz, one image per radar frame
CAMERA = dict(width=256, height=256, fx=208.0, fy=208.0, cx=127.5, cy=127.5, rate_hz=10.0)
LABEL_SKELETON = "hupr14"


@dataclass(frozen=True)
class HuprPreset(SimDatasetPreset):
    """A preset on HuPR's two-radar rig with 2-D labels in the camera image (see the module docstring)."""

    def simulate_session(self, path: str, scenario: str, seed: int, cfg_text: str, scene: str | None,
                         motion_seed: int) -> None:
        from rfpose.sim.camera import CameraModel
        from rfpose.sim.session_writer import simulate_session

        simulate_session(path, scenario, self.frames_per_session, seed=seed, board=self.board, camera=True,
                         lidar=False, cfg_text=cfg_text, overwrite=True, scene=scene, motion_seed=motion_seed,
                         camera_model=CameraModel(**CAMERA), rig="hupr", labels_2d=False,
                         radar_time_labels_2d=LABEL_SKELETON, breathing=self.breathing)


PRESET = HuprPreset(
    "sim-bench-hupr-v1",
    "HuPR-like rig (horizontal + vertical AWR1843, one 256x256 camera; 128 ADC samples), hupr14 2-D labels, "
    "6 subjects x 6 actions x {clean, cluttered}, 20 frames at 10 Hz per session, split by subject 3/1/2",
    board="awr1843boost",
    adc_samples=128,
    loops=None,
    frame_period_ms=None,
    subject_seeds=tuple(range(1, 7)),
    scenes=("clean", "cluttered"),
    frames_per_session=20,
    train_takes=1,
    val_seeds=(4,),
    test_seeds=(5, 6),
    # HuPR's maps from the two radars; labels: the camera's hupr14 projection at the radar frames' times
    preprocess=PreprocessConfig(format="hupr", labels=radar_time_label_set(LABEL_SKELETON, "camera"),
                                camera_stream="camera"))
