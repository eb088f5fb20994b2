"""Record a session from every sensor in a rig file.

  rfpose record --rig RIG.toml --out SESSION.zarr [--duration S]

Radars are configured over their CLI, the DCA1000 record is started before sensorStart, and every stream
is written with host timestamps. Ctrl-C or SIGTERM stops cleanly: the radars are stopped and every frame
received is committed. Try it without hardware: rfpose record --rig emulated_rig.toml --out s.zarr --duration 3
(see docs/capture.md).
"""

from __future__ import annotations

import json


def add_arguments(p) -> None:
    from rfpose.cli import args as a

    p.add_argument("--rig", required=True, help="rig file (TOML), or the name of a shipped one (emulated_rig.toml)")
    p.add_argument("--out", required=True, help="session to write (.zarr)")
    p.add_argument("--duration", type=a.positive_float, help="seconds to record (default: until Ctrl-C)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing session")
    p.add_argument("--emulate", action="store_true", help="start the device emulators in-process (as emulate = true)")
    p.add_argument("--json", action="store_true", help="print the per-sensor summary as JSON")


def run(args) -> int:
    from rfpose.drivers.recorder import Recorder, summary
    from rfpose.drivers.rig import load_rig

    rig = load_rig(args.rig)
    if args.emulate:
        rig.emulate = True
    status = Recorder(rig, args.out, duration_s=args.duration, overwrite=args.overwrite).run()
    s = summary(status)
    if args.json:
        print(json.dumps(s, indent=2, default=str))
    else:
        kinds = {sc.name: sc.kind for sc in rig.sensors}
        for name, d in s.items():
            line = f"{name}: {d['frames']} frames"
            if kinds.get(name) == "radar":
                line += f", {d['incomplete']} incomplete, {d['lost_bytes']} bytes lost"
            if d.get("bad_packets"):
                line += f", {d['bad_packets']} bad packets skipped"
            if d.get("dropped_frames"):
                line += f", {d['dropped_frames']} frames dropped (consumer too slow)"
            print(line)
        print(f"session written to {args.out}")
    return 0
