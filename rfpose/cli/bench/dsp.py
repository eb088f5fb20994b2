"""raw ADC to radar tensors, against numpy.fft and the published peers (xwr, openradar, HuPR, RT-Pose)

Tasks: rd (AWR1843 frame -> range-Doppler), hupr (-> HuPR input), rtpose (cascade frame -> RT-Pose ROI
Cartesian tensor), live (AWR1843 frame -> the monitor's voxels: CPU time per step). See :mod:`rfpose.app.benchmarking.dsp`.
"""

from __future__ import annotations


def add_arguments(p) -> None:
    p.add_argument("--frames", type=int, default=8, help="frames per batch for the batched implementations")
    p.add_argument("--quick", action="store_true", help="short timings, reduced slow re-creations (for tests)")
    p.add_argument("--tasks", default="rd,hupr,rtpose", help="comma-separated subset of rd, hupr, rtpose, live")


def run(args) -> int:
    from rfpose.app.benchmarking import dsp, emit

    rows = dsp.run([t.strip() for t in args.tasks.split(",") if t.strip()], args.frames, args.quick)
    emit(rows, args.json, args.out, title="rfpose bench dsp", extra={"frames": args.frames, "quick": args.quick})
    return 0
