"""sim-bench-hupr-v2: sim-bench-hupr-v1 with 13 times the training frames, stored as the models consume them.

v1's 720 training frames (36 two-second sessions) are memorised by ``hupr-lite`` (docs/benchmark-hupr.md):
on its training frames it reaches AP 70, on the test subjects ~1. v2 keeps v1's rig, chirp, camera, labels,
actions, rooms and test and validation subjects (seeds 5 and 6, seed 4) and changes:

* 16 subjects (seeds 1–16): 13 train (9 360 frames), 1 val (720), 2 test (1 440); 11 520 frames in all;
* 60 frames (6 s) per session instead of 20;
* tensors: the 8 central Doppler bins (what the HuPR models use of HuPR's 16) and each map z-scored per
  elevation bin and averaged over elevation (the models' first step, ``hupr_elevation = "mean"``):
  (8, 2, 64, 64, 1) per radar and frame, 16 times smaller than v1's, so the training set fits in RAM.
"""

from __future__ import annotations

from dataclasses import replace

from rfpose.app.sim_datasets.sim_bench_hupr_v1 import PRESET as V1

PRESET = replace(
    V1,
    name="sim-bench-hupr-v2",
    description="sim-bench-hupr-v1's rig and labels with 16 subjects (13 train, val 4, test 5 and 6) and 60 frames "
                "(6 s) per session; maps stored as the HuPR models use them: 8 Doppler bins, averaged over elevation",
    subject_seeds=tuple(range(1, 17)),
    frames_per_session=60,
    preprocess=replace(V1.preprocess, hupr_doppler_bins=8, hupr_elevation="mean"))
