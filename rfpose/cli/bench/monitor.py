"""room monitor end to end: frame's last packet → MQTT publish and → web client, torch vs ONNX Runtime

See :mod:`rfpose.app.benchmarking.monitor`.
"""

from __future__ import annotations


def add_arguments(p) -> None:
    p.add_argument("--run", help="training run (default: an untrained hrradarpose-lite at RT-Pose's grid, the "
                                 "project's recipe: run 15's model arguments)")
    p.add_argument("--model-arg", action="append", default=[], metavar="KEY=JSON",
                   help="without --run: the untrained model's constructor arguments instead of run 15's (repeatable)")
    p.add_argument("--session", help="AWR1843 session to stream (default: a simulated walk, 30 frames)")
    p.add_argument("--runtimes", default="torch,onnx",
                   help="comma separated: torch, onnx (default both), clusters (no model: CFAR points, clustered)")
    p.add_argument("--seconds", type=float, default=30.0, help="measured time per runtime (default 30)")
    p.add_argument("--warmup", type=float, default=15.0, help="unmeasured time first (default 15)")
    p.add_argument("--threads", type=int, default=1, help="inference threads (default 1, as the monitor's)")


def run(args) -> int:
    from rfpose.app.benchmarking import emit, monitor
    from rfpose.cli.args import model_overrides

    rows, extra = monitor.run(args.run, [r.strip() for r in args.runtimes.split(",") if r.strip()], args.seconds,
                              args.warmup, args.threads, args.session, model_overrides(args.model_arg) or None)
    m = extra["model"]
    model = ("no model" if m is None else f"{m['name']} from {m['run']}" if m["run"]
             else f"untrained {m['name']} ({m['model_args_from']})")
    if m is not None:
        model += f", input {m['input_shape']} x {m['frames']} frames"
    emit(rows, args.json, args.out, extra=extra,
         title=f"monitor: AWR1843 via emulated DCA1000 -> rfpose monitor -> MQTT / WebSocket, {args.seconds:g} s "
               f"per runtime (latency from the frame's last packet, ms); {model}")
    return 0
