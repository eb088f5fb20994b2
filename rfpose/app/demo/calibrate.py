"""Stage ``calibrate``: geometry from the calibration captures, clocks from motion, applied to every
session; errors against the simulator's truth for the report."""

from __future__ import annotations

import contextlib
import dataclasses
import time
from pathlib import Path

import numpy as np

from rfpose.app.demo.rig import capture_rig
from rfpose.app.demo.state import DemoState, stage
from rfpose.errors import RfposeError


def _nominal_errors(reader, truth) -> dict:
    """Errors of the nominal geometry (stream attrs before calibration) against the truth."""
    from rfpose.rig_calibration import pose_error

    out = {}
    for name in reader.streams:
        if name not in truth.sensors or truth.sensors[name].T_rig_sensor is None:
            continue
        m = reader.stream(name).metadata
        e = {}
        if m.get("extrinsics") is not None:
            dt, dr = pose_error(np.asarray(m["extrinsics"], float), truth.pose(name))
            e.update(trans_mm=dt * 1e3, rot_deg=dr)
        K, Kt = m.get("intrinsics"), truth.sensors[name].K
        if K is not None and Kt is not None:
            K = np.asarray(K, float)
            e.update(fx_pct=100 * (K[0, 0] / Kt[0, 0] - 1), fy_pct=100 * (K[1, 1] / Kt[1, 1] - 1),
                     cx_px=K[0, 2] - Kt[0, 2], cy_px=K[1, 2] - Kt[1, 2])
        out[name] = e
    return out


def _error_rows(before: dict, after: dict) -> list[dict]:
    rows = []
    for name in after:
        for what, d in (("nominal (before)", before.get(name, {})), ("calibrated", after[name])):
            if d:
                rows.append({"sensor": name, "geometry": what, **{k: float(v) for k, v in d.items()}})
    return rows


def stage_calibrate(state: DemoState) -> None:
    """Calibrate from the calibration captures (geometry) and from motion (clocks), apply to the capture and
    to the training set. Reads what a rig records; the truth is read afterwards, for the error table only."""
    from rfpose.app.calibrate import CalibrateOptions, calibrate_captures
    from rfpose.app.calibration_inputs import clock_offsets_from_session
    from rfpose.app.calibration_report import write_report as write_calibration_report
    from rfpose.rig_calibration import Calibration
    from rfpose.session import SessionReader
    from rfpose.session.calibration import apply_calibration

    cfg, out = state.cfg, state.out
    with stage(state, "calibrate", needs=("capture", "capture-calibration", "simulate")) as st:
        if st.status == "skipped":
            return
        caps = state.doc["calibration_captures"]
        seconds = {}
        t = time.perf_counter()
        run = calibrate_captures([caps["board"]["session"], caps["reflector"]["session"]],
                                 CalibrateOptions(solvers=("intrinsics", "lidar-camera", "radar-lidar"),
                                                  workers=cfg.threads))
        # poses and intrinsics only: a clock offset seen in a calibration capture (the reflector's LiDAR) belongs
        # to that capture's host clocks, not to the sessions it is applied to
        geometry = Calibration(run.calibration.rig_frame,
                               {n: dataclasses.replace(s, clock_offset_ns=None) for n, s in run.calibration.sensors.items()},
                               run.calibration.provenance)
        seconds.update({f"geometry_{k}": v for k, v in run.seconds.items()})  # no dots: report keys are paths
        seconds["geometry"] = time.perf_counter() - t
        cal_dir = out / "calibration"
        cal_dir.mkdir(parents=True, exist_ok=True)
        geometry.save(cal_dir / "geometry.json", overwrite=True)
        write_calibration_report(run, cal_dir / "geometry.html")

        doc = {"dir": str(cal_dir), "rig_frame": geometry.rig_frame}
        # the capture: the geometry, and clock offsets from the walk it recorded (its own host clocks)
        cap = state.doc["capture"]
        def with_clocks(session: str, what: str):
            """The geometry plus clock offsets from the motion in ``session``; without them (a note in the
            report) if the motion in it does not pin them down — its streams then keep their recorded clocks."""
            t = time.perf_counter()
            try:
                return geometry.merge(clock_offsets_from_session(session, max_offset_s=cfg.max_clock_offset_s,
                                                                 workers=cfg.threads))
            except RfposeError as e:
                doc.setdefault("notes", []).append(f"clock offsets of the {what} not calibrated: {e}")
                print(f"[demo] calibrate: {doc['notes'][-1]}", flush=True)
                return geometry
            finally:
                seconds[f"clocks_{what.replace(' ', '_')}"] = time.perf_counter() - t

        calib = with_clocks(cap["session"], "capture")
        calib.save(cal_dir / "capture.json", overwrite=True)
        truth = capture_rig(cfg, 10).truth()  # evaluation only: the nominal geometry's errors, before applying
        with contextlib.closing(SessionReader(cap["session"])) as before:
            nominal = _nominal_errors(before, truth)
        apply_calibration(cap["session"], calib, source=str(cal_dir / "capture.json"))
        # the training set: the same geometry, clock offsets from the rig's walk session
        ts = state.doc["training_set"]
        calib_set = with_clocks(ts["clock_session"], "training set")
        calib_set.save(cal_dir / "training-set.json", overwrite=True)
        for s in ts["sessions"]:
            apply_calibration(s, calib_set, source=str(cal_dir / "training-set.json"))
        # evaluation: against the simulator's truth (the rig of the demo's seed; the capture's true clocks)
        after = calib.compare(truth)
        for name, off in cap.get("true_clock_offset_ns", {}).items():
            if name in calib.sensors and calib.sensors[name].clock_offset_ns is not None:
                after.setdefault(name, {})["clock_ms"] = (calib.sensors[name].clock_offset_ns - off) / 1e6
                if (std := _clock_std_ms(calib, name)) is not None:
                    after[name]["clock_std_ms"] = std
            elif name in after:
                after[name].pop("clock_ms", None)
        doc["errors"] = _error_rows(nominal, after)
        set_truth = Calibration.from_dict(SessionReader(ts["clock_session"]).attrs["sim_truth"])
        doc["training_set_clock_ms"] = {n: float(e["clock_ms"]) for n, e in calib_set.compare(set_truth).items()
                                        if "clock_ms" in e and n != calib_set.rig_frame}
        doc["training_set_clock_std_ms"] = {n: _clock_std_ms(calib_set, n) for n in doc["training_set_clock_ms"]}
        doc["seconds"] = {k: round(v, 2) for k, v in seconds.items()}
        doc["roles"] = {Path(k).name: v for k, v in run.roles.items()}
        state.doc["calibration"] = doc
        worst = [r for r in doc["errors"] if r["geometry"] == "calibrated" and "trans_mm" in r and r["sensor"] != "radar"]
        st.detail = "; ".join(f"{r['sensor']}: {r['trans_mm']:.1f} mm / {r['rot_deg']:.2f} deg" for r in worst)
        st.items, st.unit = 1 + len(ts["sessions"]), "sessions calibrated"


def _clock_std_ms(calib, name: str) -> float | None:
    """The 1-sigma (ms) of a stream's clock offset from motion, through the stream it was chained to."""
    clock = calib.sensors[name].residual.get("clock", {})
    if "std_ms" not in clock:
        return None
    via = clock.get("via")
    chained = _clock_std_ms(calib, via) if via in calib.sensors and via != calib.rig_frame else 0.0
    return float((clock["std_ms"] ** 2 + (chained or 0.0) ** 2) ** 0.5)
