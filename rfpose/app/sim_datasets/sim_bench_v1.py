"""sim-bench-v1: the RT-Pose-like 3D pose benchmark (docs/benchmark.md has the reasoning and the results).

* board: mmwcas (the RT-Pose cascade: 12 TX × 16 RX, TDM, 77 GHz, 64.985 MHz/µs, 5 Msps), with the chirp
  reduced to 128 ADC samples (bandwidth 1.66 GHz, 9 cm range bins, same 11.5 m max range) and 32 loops
  (16 Doppler channels after RT-Pose's pair max-pool), frames every 200 ms (5 Hz);
* tensor grid: RT-Pose's voxel size (4.5 × 15.7 × 36 cm) on the part of its ROI people can occupy:
  x 0.77–5.80 m (112), y ±3.69 m (48), z −1.09–1.45 m (8) → (16, 8, 48, 112) per frame;
* 17 subjects (seeds 1–17; the simulator draws height 1.55–1.95 m and build 0.85–1.25 from the seed),
  each doing all six RT-Pose actions in a clean and in a cluttered (furnished) room, a different take of
  the motion in every session: 12 sessions × 20 frames per subject, twice over for training subjects;
* split by subject: seeds 1–7 and 11–17 train (6720 frames), 8 val (240), 9 and 10 test (480);
  7440 frames in all.
"""

from rfpose.app.sim_datasets.preset import SimDatasetPreset
from rfpose.dataset import PreprocessConfig

PRESET = SimDatasetPreset(
    "sim-bench-v1",
    "RT-Pose-like cascade (reduced chirp and ROI), 17 subjects x 6 actions x {clean, cluttered}, "
    "20 frames at 5 Hz per session, two takes per training subject, split by subject 14/1/2",
    frame_period_ms=200.0,
    subject_seeds=tuple(range(1, 18)),
    scenes=("clean", "cluttered"),
    frames_per_session=20,
    train_takes=2,
    val_seeds=(8,),
    test_seeds=(9, 10),
    # RT-Pose's voxel size (4.5 cm x, 15.7 cm y, 36 cm z) on the part of its ROI people can occupy
    # (the simulator's walking area is x 1.5-5 m, |azimuth| < 35 deg, floor at z = -1 m)
    preprocess=PreprocessConfig(grid_x_m=(0.77, 5.80), grid_y_m=(-3.69, 3.69), grid_z_m=(-1.09, 1.45),
                                grid_n_zyx=(8, 48, 112)))
