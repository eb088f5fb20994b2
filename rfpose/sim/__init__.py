"""The rig simulator: people in motion, radar scattering, FMCW MIMO radar, LiDAR and RGB with ground truth.

Main entry points: :func:`rfpose.sim.scenarios.build_rig` (a named, seeded scenario as a
:class:`~rfpose.sim.rig.SimulatedRig` with one seekable source per sensor),
:func:`rfpose.sim.radar.simulate_point_targets` (point targets for tests) and the pure wire-format encoders
in :mod:`rfpose.sim.adc_layout`. See docs/simulator.md.
"""

#: Bumped whenever a change alters what the simulator writes for the same seed (2: diffuse RCS term;
#: 3: a seeded rig per (seed, board) with nominal geometry in the streams and the truth in ``sim_truth``).
#: Sessions record it; ``rfpose simulate-dataset`` re-simulates sessions of another revision on resume.
SIM_REVISION = 3
