"""``rfpose demo``: the whole pipeline on the simulated rig, measured, with a report.

1. **capture** — an emulated AWR1843 (CLI on a pty) and DCA1000 (loopback UDP) streaming simulated ADC,
   plus a simulated LiDAR and camera replayed live, recorded by the ``rfpose record`` machinery
   (:class:`~rfpose.drivers.recorder.Recorder`) through the real drivers: a person walking and waving, and
   the two calibration captures a user records (``calibration-charuco``: LiDAR + camera; ``calibration-reflector``:
   radar + LiDAR).
2. **truth** — the captured radar frames are matched byte for byte to the simulator's frames, and the
   simulator's skeletons are added as label set ``gt`` (evaluation only, like ``attrs["sim_truth"]``).
3. **simulate** — a training set recorded with the same rig: several subjects doing RT-Pose's actions
   (radar, LiDAR, left camera), plus a longer walk for the rig's clocks.
4. **calibrate** — camera intrinsics and LiDAR → camera from the board capture, radar → LiDAR from the
   reflector capture, clock offsets from motion (the walk capture for the capture, the walk session for the
   training set); applied to the sessions; errors against the simulator's truth.
5. **annotate** — ``rfpose annotate`` (MediaPipe, left camera + LiDAR, the calibrated geometry and clocks)
   labels every session with cameras as label set ``auto``; label error against the truth.
6. **preprocess** — sessions → Cartesian-voxel datasets with Dask: training on the ``auto`` labels, the
   held-out subject and the capture on the truth (evaluation).
7. **train** — ``hrradarpose-lite`` within a time budget; **evaluate** on the held-out subject.
8. **replay** — the captured session, radar only, frame by frame at its recorded pace through
   :class:`~rfpose.app.live.RadarPosePipeline`, with per-frame latency.
9. **monitor** — the captured session replayed in real time through ``rfpose monitor`` against a real
   broker (Debian's mosquitto on 127.0.0.1) and its web page, which a headless Chromium logs in to and
   photographs.
10. **report** — ``report.html`` (self-contained), ``report.json`` and the PNGs.

Every number in the report is measured in the run. A stage that fails is reported as failed with its
error, and the stages that need its output as skipped. The training path (calibrate, annotate,
preprocess ``auto``, train) never reads the simulator's truth; only ``truth`` and the evaluations do.

The package: :mod:`.config` (sizes), :mod:`.state` (the stage runner), :mod:`.rig`, one module per stage
or group of stages, :mod:`.figures`, :mod:`.report` and :mod:`.run` (the order).
"""

from rfpose.app.demo.config import CAMERA, DemoConfig
from rfpose.app.demo.run import run_demo

__all__ = ["CAMERA", "DemoConfig", "run_demo"]
