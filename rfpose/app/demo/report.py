"""The demo's report: ``report.html`` (self-contained) and ``report.json``."""

from __future__ import annotations

from pathlib import Path

from rfpose.app.demo.state import DemoState


def write_demo_report(state: DemoState) -> Path:
    import html

    from rfpose.app.benchmarking import machine_info
    from rfpose.app.report import figure_html, table_from_dict, table_from_rows, write_report

    doc = state.doc
    doc["stages"] = [s.row() for s in state.stages]
    doc["missing"] = [s["stage"] for s in doc["stages"] if s["status"] != "done"]
    doc["figures"] = [{"id": f.id, "file": str(f.path.relative_to(state.out)), "caption": f.caption, **(f.data or {})}
                      for f in state.figures]
    doc.setdefault("machine", machine_info())
    sections = []
    intro = (f"<p class='sub'>{'Quick' if state.cfg.quick else 'Full'} run on {doc['machine']['cpu']} "
             f"({doc['machine']['cores']} cores). Everything below was measured in this run.</p>")
    c = state.cfg
    intro += (f"<p class='sub'>Sizes chosen to fit ~15 min on 2 cores: a {c.capture_seconds:g} s capture; "
              f"{c.subjects} subjects x {len(c.actions)} actions x {c.frames_per_session} radar frames with one "
              f"camera at {c.camera_rate_hz:g} Hz (rendering dominates); {c.train_minutes:g} min of training; "
              f"{c.monitor_seconds:g} s of monitoring. The models and labels are therefore far from what a full "
              "data set gives.</p>")
    if doc["missing"]:
        intro += ("<p class='note'>Not completed in this run: " + ", ".join(doc["missing"]) +
                  ". See the stage table for why.</p>")
    sections.append(("", intro))
    sections.append(("Stages: timings and throughput", table_from_rows(doc["stages"], "stages")))
    if "rig" in doc:
        sections.append(("Rig and radar parameters", table_from_dict(doc["rig"]["radar"], "rig.radar") +
                         table_from_rows(doc["rig"]["sensors"], "rig.sensors")))
    cap = doc.get("capture")
    if cap:
        keys = ["radar_frames", "complete_frames", "identical_to_simulator", "seconds"]
        sections.append(("Capture through the real drivers",
                         table_from_dict({k: cap[k] for k in keys if k in cap}, "capture") +
                         table_from_rows([{"sensor": n, **v} for n, v in cap["sensors"].items()], "capture_rows")))
    figs = {f.id: f for f in state.figures}

    def figs_html(*ids):
        return "".join(figure_html(figs[i]) for i in ids if i in figs)

    if any(i in figs for i in ("range_doppler", "range_azimuth", "lidar", "camera")):
        sections.append(("What the sensors saw", figs_html("range_doppler", "range_azimuth", "lidar", "camera")))
    cal = doc.get("calibration")
    if cal:
        body = ("<p>Geometry from the board and reflector captures (<code>calibration/geometry.json</code>, "
                "<code>geometry.html</code>), clock offsets from motion: the walk capture's own for the capture, the "
                "training rig's walk session for the training set. Errors against the simulator's truth "
                "(evaluation only); the radar is the rig frame. Clock errors of the capture are against the true "
                "time of each recorded frame.</p>")
        body += "".join(f"<p class='note'>{html.escape(n)}</p>" for n in cal.get("notes", []))
        body += table_from_rows(cal["errors"], "calibration.errors")
        body += table_from_dict(cal["training_set_clock_ms"], "calibration.training_set_clock_ms",
                                ("training set: clock error", "ms"))
        body += table_from_dict(cal["seconds"], "calibration.seconds", ("solver", "seconds"))
        sections.append(("Calibration", body))
    ann = doc.get("annotation")
    if ann:
        body = (f"<p><code>rfpose annotate</code> with <b>{html.escape(ann['detector'])}</b> on "
                f"{html.escape(', '.join(ann['cameras']))} + LiDAR, through the calibrated geometry and clocks; label "
                "set <code>auto</code>. Errors are against the simulator's truth, over the labelled (complete, "
                "unflagged) radar frames.</p>")
        body += table_from_dict({k: ann[k] for k in ("radar_frames", "labelled", "mpjpe_mm", "pelvis_mm",
                                                     "detector_seconds", "labelling_seconds", "labelling_fps")},
                                "annotation")
        body += table_from_rows(ann["sessions"], "annotation.sessions")
        sections.append(("Auto-annotation", body + figs_html("label_error", "auto_labels")))
    if "training" in doc:
        t = doc["training"]
        sections.append(("Training (on the auto labels)",
                         table_from_dict({k: t[k] for k in ("model", "labels", "train_samples", "epochs",
                                                            "best_epoch", "budget_minutes")}, "training")
                         + figs_html("training", "validation")))
    for key, title in (("evaluation", "Evaluation on the held-out subject, against the simulator's truth"),
                       ("evaluation_capture", "Evaluation on the captured session, against the simulator's truth")):
        ev = doc.get(key)
        if ev:
            flat = {k: v for k, v in ev.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
            sections.append((title, table_from_dict(flat, key) + (figs_html("per_joint") if key == "evaluation" else "")))
    rep = doc.get("replay")
    if rep:
        lat = [{"stage": k, **v} for k, v in rep["latency"].items()]
        body = table_from_dict({k: rep[k] for k in ("frames", "wall_seconds", "frames_per_s_capacity",
                                                    "frames_over_period", "period_ms")}, "replay")
        body += table_from_rows(lat, "latency_rows")
        if "metrics" in rep:
            body += table_from_dict(rep["metrics"], "replay.metrics")
        sections.append(("Replay: radar only, frame by frame", body + figs_html("skeletons", "latency")))
    mon = doc.get("monitor")
    if mon:
        body = ("<p>The captured session replayed in real time (looped) through <code>rfpose monitor</code>: "
                "radar only, the trained run, a real mosquitto on 127.0.0.1, the web page with token auth, "
                "a headless Chromium logged in. Latency: from a frame's capture to its publication, measured by "
                "the monitor (its <code>/health</code>).</p>")
        body += "".join(f"<p class='note'>{html.escape(n)}</p>" for n in mon.get("notes", []))
        body += table_from_dict({k: mon.get(k) for k in ("seconds", "latency_ms_p50", "latency_ms_p95")}, "monitor")
        body += table_from_dict(mon["health"], "monitor.health", ("health", "value"))
        if "mqtt" in mon:
            body += table_from_dict(mon["mqtt"], "monitor.mqtt", ("MQTT", "value"))
        if "browser" in mon:
            body += table_from_dict(mon["browser"], "monitor.browser", ("page", "value"))
        body += "<h3>Events</h3>" + table_from_rows(mon["events"], "monitor.events")
        sections.append(("Room monitor", body + figs_html("monitor_page")))
    doc["latency_rows"] = [{"stage": k, **v} for k, v in rep["latency"].items()] if rep else []
    doc["capture_rows"] = [{"sensor": n, **v} for n, v in cap["sensors"].items()] if cap else []
    return write_report(state.out, doc, sections, "rfpose demo report")
