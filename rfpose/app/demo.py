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
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rfpose.errors import RfposeError
from rfpose.sim.motion import RTPOSE_ACTIONS

log = logging.getLogger(__name__)

CAMERA = "cam_left"
"""the camera the demo records and annotates from (with the LiDAR); one camera halves the rendering"""


@dataclass
class DemoConfig:
    """What the demo runs. ``preset(quick)`` gives the two shipped sizes."""

    out: str = "demo-out"
    quick: bool = False
    seed: int = 2026
    board: str = "awr1843boost"
    model: str = "hrradarpose-lite"
    capture_scenario: str = "walk-wave"
    capture_seconds: float = 6.0
    subjects: int = 5
    """simulated subjects; the last two are the validation and test subjects"""
    actions: tuple[str, ...] = RTPOSE_ACTIONS
    frames_per_session: int = 20
    clock_session_frames: int = 60
    """radar frames of the training rig's walk session that gives its clock offsets"""
    camera_rate_hz: float = 10.0
    max_clock_offset_s: float = 0.3
    """how far the rig's clocks may disagree before calibration (the simulated rig's: up to 0.2 s)"""
    detector: str = "mediapipe"
    train_minutes: float = 4.0
    batch_size: int = 4
    threads: int = 2
    monitor_seconds: float = 15.0
    scheduler: str | None = None
    """Dask scheduler for preprocessing: None = a local cluster, "synchronous", or an address"""

    @classmethod
    def preset(cls, quick: bool, **overrides) -> "DemoConfig":
        if quick:
            base = dict(quick=True, capture_seconds=5.0, subjects=4, actions=("walk", "wave"),
                        frames_per_session=16, clock_session_frames=60, train_minutes=0.6, monitor_seconds=8.0)
        else:
            base = {}
        return cls(**{**base, **overrides})


@dataclass
class StageResult:
    name: str
    status: str = "pending"  # done | failed | skipped
    seconds: float = 0.0
    detail: str = ""
    items: int | None = None
    unit: str = ""

    def row(self) -> dict:
        rate = self.items / self.seconds if self.items and self.seconds > 0 else None
        return {"stage": self.name, "status": self.status, "seconds": round(self.seconds, 2),
                "items": self.items, "unit": self.unit, "per_second": None if rate is None else round(rate, 2),
                "detail": self.detail}


@dataclass
class _State:
    cfg: DemoConfig
    out: Path
    stages: list[StageResult] = field(default_factory=list)
    doc: dict = field(default_factory=dict)
    figures: list = field(default_factory=list)


@contextlib.contextmanager
def _stage(state: _State, name: str, needs: tuple[str, ...] = ()):
    """Time one stage. A stage whose prerequisites did not complete is ``skipped`` (the body checks
    ``st.status``); an exception marks it ``failed`` and the demo goes on to report it."""
    st = StageResult(name)
    state.stages.append(st)
    missing = [n for n in needs if not _done(state, n)]
    if missing:
        st.status, st.detail = "skipped", f"needs {', '.join(missing)}, which did not complete"
    log.info("demo: %s ...", name)
    t0 = time.perf_counter()
    try:
        yield st
        if st.status == "pending":
            st.status = "done"
    except Exception as exc:  # noqa: BLE001 - reported in the stage table, later stages are skipped
        st.status, st.detail = "failed", f"{type(exc).__name__}: {exc}"
        log.error("demo: stage %s failed: %s", name, st.detail)
        if not isinstance(exc, RfposeError):
            log.debug("%s", traceback.format_exc())
    finally:
        st.seconds = time.perf_counter() - t0
    print(f"[demo] {name}: {st.status} in {st.seconds:.1f} s" + (f" — {st.detail}" if st.detail else ""), flush=True)


def _done(state: _State, name: str) -> bool:
    return any(s.name == name and s.status == "done" for s in state.stages)


# ------------------------------------------------------------------------------------------------
# stages
# ------------------------------------------------------------------------------------------------


def _sim_uri(cfg: DemoConfig, scenario: str, frames: int, stream: str = "", realtime: bool = False,
             extra: str = "") -> str:
    q = f"board={cfg.board}&seed={cfg.seed}&frames={frames}" + ("&realtime=1" if realtime else "") + extra
    return f"sim://{scenario}?{q}" + (f"#{stream}" if stream else "")


def _rig_toml(cfg: DemoConfig, scenario: str, frames: int, sensors: tuple[str, ...], camera_hz: float,
              camera_drops: bool = True) -> str:
    """The demo's rig for one capture: an emulated AWR1843 + DCA1000 fed by the simulator, the simulated
    LiDAR and camera replayed live (only ``sensors``). ``camera_drops=False``: the camera delivers every frame
    (late if rendering is slower than real time, stamped with its capture time), as a camera with a deep
    buffer would; the capture then ends when the last frame is rendered."""
    parts = ['# The demo\'s rig: emulated AWR1843 + DCA1000 fed by the simulator, simulated LiDAR and camera live.\n'
             '[rig]\nname = "demo-emulated"\nemulate = true\n']
    if "radar" in sensors:
        parts.append(f"""
[[sensors]]
name = "radar"
kind = "radar"
driver = "dca1000"
board = "{cfg.board}"
cfg = "{cfg.board}.cfg"
host_ip = "127.0.0.1"
fpga_ip = "127.0.0.2"
packet_delay_us = 25

[sensors.emulation]
adc = "{_sim_uri(cfg, scenario, frames)}&camera=0&lidar=0"
seed = {cfg.seed}
preload = true  # simulate every frame before sensorStart: the emulated board never falls behind its frame clock
""")
    if "lidar" in sensors:
        parts.append(f"""
[[sensors]]
name = "lidar"
kind = "lidar"
uri = "{_sim_uri(cfg, scenario, frames, 'lidar', realtime=True)}"
""")
    if CAMERA in sensors:
        parts.append(f"""
[[sensors]]
name = "{CAMERA}"
kind = "camera"
# the simulated camera renders a 640x480 frame in ~0.15-0.3 s: at most {camera_hz:g} frames/s (late ones are dropped)
uri = "{_sim_uri(cfg, scenario, frames, CAMERA, realtime=True, extra=f'&max_rate_hz={camera_hz:g}' + ('' if camera_drops else '&drop_late=0'))}"
""")
    return "".join(parts)


def _record(state: _State, name: str, scenario: str, seconds: float | None, frames: int, sensors: tuple[str, ...],
            camera_hz: float) -> dict:
    """Record one capture through the real drivers; returns its summary for the report. ``seconds`` None: until
    every (finite, simulated) source has delivered its last frame, the camera without drops."""
    from rfpose.drivers.recorder import Recorder, summary
    from rfpose.drivers.rig import parse_rig

    rig_path = state.out / "capture" / f"{name}.rig.toml"
    rig_path.parent.mkdir(parents=True, exist_ok=True)
    rig_path.write_text(_rig_toml(state.cfg, scenario, frames, sensors, camera_hz, camera_drops=seconds is not None))
    rig = parse_rig(rig_path.read_text(), str(rig_path), rig_path.parent)
    session = state.out / "capture" / f"{name}.zarr"
    t0 = time.perf_counter()
    status = Recorder(rig, session, duration_s=seconds, overwrite=True, status_interval_s=1.0).run()
    wall = time.perf_counter() - t0
    counts = summary(status)
    span = seconds or frames / 10.0
    return {"session": str(session), "scenario": scenario, "rig_file": str(rig_path), "seconds": wall,
            "sensors": {n: {**v, "rate_hz": v["frames"] / span} for n, v in counts.items()}, "sim_frames": frames}


def stage_capture(state: _State) -> None:
    cfg = state.cfg
    with _stage(state, "capture") as st:
        frames = int(cfg.capture_seconds * 10) + 30  # simulated frames; the emulator loops past the end
        cap = _record(state, "session", cfg.capture_scenario, cfg.capture_seconds, frames,
                      ("radar", "lidar", CAMERA), camera_hz=5.0)
        state.doc["capture"] = cap
        st.items, st.unit = cap["sensors"]["radar"]["frames"], "radar frames"
        st.detail = ", ".join(f"{n}: {v['frames']} frames" for n, v in cap["sensors"].items())


def stage_capture_calibration(state: _State) -> None:
    """The captures a user records to calibrate: the ChArUco board moved through its poses in front of the
    LiDAR and camera, and the corner reflector moved through its stops in front of the radar and LiDAR."""
    from rfpose.sim.scenarios import default_frames

    cfg = state.cfg
    with _stage(state, "capture-calibration") as st:
        caps = {}
        for name, scenario, sensors in (("board", "calibration-charuco", ("lidar", CAMERA)),
                                        ("reflector", "calibration-reflector", ("radar", "lidar"))):
            frames = default_frames(scenario, cfg.board)
            # the board capture has no radar: it ends when the camera has delivered every frame (5 Hz)
            seconds = None if "radar" not in sensors else frames / 10.0
            caps[name] = _record(state, name, scenario, seconds, frames, sensors, camera_hz=5.0)
        state.doc["calibration_captures"] = caps
        st.items = sum(v["frames"] for c in caps.values() for v in c["sensors"].values())
        st.unit = "frames"
        st.detail = "; ".join(f"{k}: " + ", ".join(f"{n} {v['frames']}" for n, v in c["sensors"].items())
                              for k, c in caps.items())


def _capture_rig(cfg: DemoConfig, frames: int, scenario: str | None = None):
    from rfpose.sim.scenarios import build_rig

    return build_rig(scenario or cfg.capture_scenario, seed=cfg.seed, num_frames=frames, board=cfg.board)


def stage_truth(state: _State) -> None:
    """Evaluation only: match captured radar frames to simulator frames by their bytes, add the simulator's
    skeletons as label set ``gt``, and work out each captured stream's true clock offset against the radar
    (the simulator knows when every recorded frame was really taken)."""
    from rfpose.session import SessionReader, add_label_set

    with _stage(state, "truth", needs=("capture",)) as st:
        if st.status == "skipped":
            return
        cap = state.doc["capture"]
        rig = _capture_rig(state.cfg, cap["sim_frames"])
        sim = rig.radar
        r = SessionReader(cap["session"])
        radar = r.stream("radar")
        n = len(radar)
        if n == 0:
            raise RfposeError("the capture recorded no radar frame")
        # The emulator starts at simulator frame 0 on sensorStart; confirm and find any offset from the bytes.
        first = radar[0].adc
        offset = next((k for k in range(min(len(sim), 10)) if np.array_equal(sim[k].adc, first)), None)
        identical = complete = 0
        sim_index = np.full(n, -1, np.int64)
        for i in range(n):
            f = radar[i]
            complete += f.complete
            k = ((offset or 0) + i) % len(sim)
            if np.array_equal(f.adc, sim[k].adc):
                identical += 1
                sim_index[i] = k
        matched = sim_index >= 0
        P = len(rig.world.people)
        joints = np.full((n, P, 15, 3), np.nan, np.float32)
        for i in np.flatnonzero(matched):
            joints[i] = rig.ground_truth(rig.label_time_s(int(sim_index[i])))
        ts = np.asarray(radar.raw_timestamps_ns)
        # true time − recorded time, per stream (median over frames); the radar's defines the rig clock
        lag = {"radar": float(np.median([sim.true_time_s(int(k)) * 1e9 - t for k, t in zip(sim_index[matched],
                                                                                           ts[matched])]))}
        for name in ("lidar", CAMERA):
            if name in r.streams and len(r.stream(name)):
                s = r.stream(name)
                src = rig.sources[name]
                lag[name] = float(np.median([src.true_time_s(int(k) % len(src)) * 1e9 - t
                                             for k, t in zip(s.source_indices, s.raw_timestamps_ns)]))
        r.close()
        add_label_set(cap["session"], "gt", "rtpose15", ts[matched], joints[matched], frame_index=np.flatnonzero(matched),
                      provenance={"method": "simulator", "matched": "radar frames identical to the simulator's "
                                  "bytes", "frame": "radar frame, metres", "use": "evaluation only"})
        cap.update({"radar_frames": n, "complete_frames": int(complete), "identical_to_simulator": int(identical),
                    "first_sim_frame": offset, "sim_index": sim_index.tolist(),
                    "true_clock_offset_ns": {k: int(round(v - lag["radar"])) for k, v in lag.items()}})
        st.items, st.unit = n, "radar frames"
        st.detail = f"{identical}/{n} captured frames byte-identical to the simulator's"


def _subject_seed(cfg: DemoConfig, k: int) -> int:
    return cfg.seed * 100 + 11 + k


def _simulate_one(args: tuple) -> str:
    from rfpose.sim.camera import CameraModel
    from rfpose.sim.session_writer import simulate_session

    path, action, frames, seed, motion_seed, rig_seed, board, streams, camera_hz = args
    simulate_session(path, action, frames, seed=seed, board=board, camera=CAMERA in streams,
                     lidar="lidar" in streams, overwrite=True, labels_2d=False, motion_seed=motion_seed,
                     rig_seed=rig_seed, streams=streams, camera_model=CameraModel(rate_hz=camera_hz))
    return path


def stage_simulate(state: _State) -> None:
    """The training set, recorded (simulated) with the demo's rig: every subject's sessions carry the rig's
    nominal geometry and its sensor clocks, like the capture; the held-out test subject needs only radar."""
    import concurrent.futures as cf
    import multiprocessing as mp

    cfg, out = state.cfg, state.out
    with _stage(state, "simulate") as st:
        jobs, subjects, by_subject = [], [], {}
        for k in range(cfg.subjects):
            seed = _subject_seed(cfg, k)
            test = k == cfg.subjects - 1
            streams = ("radar",) if test else ("radar", "lidar", CAMERA)
            subject = f"S{seed:04d}p0"
            subjects.append(subject)
            for action in cfg.actions:
                path = str(out / "train-sessions" / f"s{k}-{action}.zarr")
                jobs.append((path, action, cfg.frames_per_session, seed, None, cfg.seed, cfg.board, streams,
                             cfg.camera_rate_hz))
                by_subject.setdefault(subject, []).append(path)
        clock = str(out / "train-sessions" / "s0-walk-clocks.zarr")  # a longer walk: the rig's clock offsets
        jobs.insert(0, (clock, "walk", cfg.clock_session_frames, _subject_seed(cfg, 0), 1, cfg.seed, cfg.board,
                        ("radar", "lidar", CAMERA), cfg.camera_rate_hz))
        by_subject[subjects[0]].append(clock)
        with cf.ProcessPoolExecutor(max(1, cfg.threads), mp_context=mp.get_context("spawn")) as pool:
            list(pool.map(_simulate_one, jobs))
        st.items, st.unit = sum(j[2] for j in jobs), "radar frames"
        st.detail = (f"{cfg.subjects} subjects x {len(cfg.actions)} actions x {cfg.frames_per_session} frames + a "
                     f"{cfg.clock_session_frames}-frame walk; radar, LiDAR and {CAMERA} at {cfg.camera_rate_hz:g} Hz "
                     f"(test subject: radar only); {cfg.threads} processes")
        state.doc["training_set"] = {"sessions": [j[0] for j in jobs], "subjects": subjects,
                                     "by_subject": by_subject, "actions": list(cfg.actions), "clock_session": clock,
                                     "train_subjects": subjects[:-2], "val_subjects": subjects[-2:-1],
                                     "test_subjects": subjects[-1:]}


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


def stage_calibrate(state: _State) -> None:
    """Calibrate from the calibration captures (geometry) and from motion (clocks), apply to the capture and
    to the training set. Reads what a rig records; the truth is read afterwards, for the error table only."""
    from rfpose.app.calibrate import CalibrateOptions, calibrate_captures
    from rfpose.app.calibration_inputs import clock_offsets_from_session
    from rfpose.app.calibration_report import write_report as write_calibration_report
    from rfpose.rig_calibration import Calibration
    from rfpose.session import SessionReader
    from rfpose.session.calibration import apply_calibration

    cfg, out = state.cfg, state.out
    with _stage(state, "calibrate", needs=("capture", "capture-calibration", "simulate")) as st:
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
        truth = _capture_rig(cfg, 10).truth()  # evaluation only: the nominal geometry's errors, before applying
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
            elif name in after:
                after[name].pop("clock_ms", None)
        doc["errors"] = _error_rows(nominal, after)
        set_truth = Calibration.from_dict(SessionReader(ts["clock_session"]).attrs["sim_truth"])
        doc["training_set_clock_ms"] = {n: float(e["clock_ms"]) for n, e in calib_set.compare(set_truth).items()
                                        if "clock_ms" in e and n != calib_set.rig_frame}
        doc["seconds"] = {k: round(v, 2) for k, v in seconds.items()}
        doc["roles"] = {Path(k).name: v for k, v in run.roles.items()}
        state.doc["calibration"] = doc
        worst = [r for r in doc["errors"] if r["geometry"] == "calibrated" and "trans_mm" in r and r["sensor"] != "radar"]
        st.detail = "; ".join(f"{r['sensor']}: {r['trans_mm']:.1f} mm / {r['rot_deg']:.2f} deg" for r in worst)
        st.items, st.unit = 1 + len(ts["sessions"]), "sessions calibrated"


def stage_annotate(state: _State) -> None:
    """``rfpose annotate`` on every session with a camera (training set and capture): label set ``auto``.
    The label error against ``gt`` is computed afterwards, for the report only."""
    from rfpose.annotation.pipeline import AnnotateParams
    from rfpose.annotation.run import annotate_session, write_labels
    from rfpose.app.annotation_report import truth_errors
    from rfpose.session import open_session

    cfg = state.cfg
    with _stage(state, "annotate", needs=("calibrate",)) as st:
        if st.status == "skipped":
            return
        ts = state.doc["training_set"]
        test = set(ts["by_subject"][ts["test_subjects"][0]])
        sessions = [s for s in ts["sessions"] if s not in test] + [state.doc["capture"]["session"]]
        rows, errs, det_s, lab_s, frames = [], [], 0.0, 0.0, 0
        for path in sessions:
            reader = open_session(path)
            ann, summary = annotate_session(reader, cfg.detector, [CAMERA], True, AnnotateParams(), progress=False)
            write_labels(path, "auto", ann, force=True)
            det_s += summary["detector_seconds"]
            lab_s += summary["labelling_seconds"]
            frames += summary["radar_frames"]
            e = truth_errors(open_session(path), ann)  # evaluation only
            good = e[ann.labelled] if e is not None else None  # unflagged, complete labels
            row = {"session": Path(path).name, "radar_frames": summary["radar_frames"],
                   "labelled": summary["labelled"], "flagged": int(sum(summary["flagged"].values())),
                   "mean_quality": float(summary["mean_quality"])}
            if good is not None and np.isfinite(good).any():
                row["mpjpe_mm"] = float(np.nanmean(good) * 1e3)
                row["pelvis_mm"] = float(np.nanmean(good[:, 0]) * 1e3)
                errs.append(good)
            rows.append(row)
        allerr = np.concatenate(errs) if errs else np.zeros((0, 15))
        state.doc["annotation"] = {
            "detector": cfg.detector, "cameras": [CAMERA], "lidar": True, "sessions": rows,
            "radar_frames": frames, "labelled": int(sum(r["labelled"] for r in rows)),
            "mpjpe_mm": float(np.nanmean(allerr) * 1e3) if allerr.size else None,
            "pelvis_mm": float(np.nanmean(allerr[:, 0]) * 1e3) if allerr.size else None,
            "per_joint_mm": (np.nanmean(allerr, axis=0) * 1e3).tolist() if allerr.size else [],
            "detector_seconds": det_s, "labelling_seconds": lab_s,
            "labelling_fps": frames / lab_s if lab_s > 0 else None}
        st.items, st.unit = frames, "radar frames"
        a = state.doc["annotation"]
        st.detail = (f"{a['labelled']}/{frames} radar frames labelled; MPJPE vs truth "
                     + (f"{a['mpjpe_mm']:.0f} mm" if a["mpjpe_mm"] is not None else "n/a")
                     + f"; detector {det_s:.0f} s")


def stage_preprocess(state: _State) -> None:
    from rfpose.dataset import PreprocessConfig
    from rfpose.preprocessing.dataset import build_dataset

    cfg, out = state.cfg, state.out
    with _stage(state, "preprocess", needs=("annotate",)) as st:
        if st.status == "skipped":
            return
        ts = state.doc["training_set"]
        train_sessions = [s for subj in ts["train_subjects"] + ts["val_subjects"] for s in ts["by_subject"][subj]]
        test_sessions = ts["by_subject"][ts["test_subjects"][0]]
        datasets = {
            # what a user trains on: the auto labels (flagged frames left out)
            "train": (train_sessions, PreprocessConfig(format="rtpose", labels="auto",
                                                       val_subjects=tuple(ts["val_subjects"]))),
            # evaluation against the simulator's truth: the held-out subject, and the capture
            "test": (test_sessions, PreprocessConfig(format="rtpose", labels="gt",
                                                     test_subjects=tuple(ts["test_subjects"]))),
            "capture": ([state.doc["capture"]["session"]], PreprocessConfig(format="rtpose", labels="gt")),
        }
        state.doc["datasets"] = {}
        n = 0
        with contextlib.ExitStack() as stack:
            scheduler = cfg.scheduler
            if scheduler is None:  # one local cluster (2 workers x 1 thread) for the three datasets
                from dask.distributed import LocalCluster

                logging.getLogger("distributed").setLevel(logging.WARNING)
                cluster = stack.enter_context(LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None,
                                                           processes=True))
                scheduler = cluster.scheduler_address
            for name, (sessions, pcfg) in datasets.items():
                path = out / "datasets" / f"{name}.zarr"
                summary = build_dataset(sessions, str(path), pcfg, scheduler=scheduler, overwrite=True,
                                        progress=False)
                state.doc["datasets"][name] = {"path": str(path), "labels": pcfg.labels, **_jsonable(summary)}
                n += int(summary.get("samples", 0) or 0)
        st.items, st.unit = n, "frames"


def stage_train(state: _State) -> None:
    from rfpose.models.train import TrainConfig, train

    cfg, out = state.cfg, state.out
    with _stage(state, "train", needs=("preprocess",)) as st:
        if st.status == "skipped":
            return
        run = out / "run"
        tcfg = TrainConfig(model=cfg.model, data=state.doc["datasets"]["train"]["path"], out=str(run),
                           epochs=1000, batch_size=cfg.batch_size, max_minutes=cfg.train_minutes, seed=cfg.seed,
                           threads=cfg.threads)
        result = train(tcfg)
        history = result.get("history", [])
        st.items, st.unit = result["epochs_done"] * _split_size(tcfg.data, 0), "training samples"
        st.detail = f"{result['epochs_done']} epochs in {cfg.train_minutes:g} min budget, on the auto labels"
        state.doc["training"] = {"run": str(run), "model": cfg.model, "labels": "auto",
                                 "epochs": result["epochs_done"], "train_samples": _split_size(tcfg.data, 0),
                                 "best_epoch": result["best_epoch"], "budget_minutes": cfg.train_minutes,
                                 "history": _jsonable(history)}


def _split_size(dataset: str, code: int) -> int:
    import zarr

    return int((np.asarray(zarr.open_group(dataset, mode="r")["split"][:]) == code).sum())


def stage_evaluate(state: _State) -> None:
    from rfpose.models.evaluate import evaluate_run

    with _stage(state, "evaluate", needs=("train",)) as st:
        if st.status == "skipped":
            return
        run, ds = state.doc["training"]["run"], state.doc["datasets"]
        summary = evaluate_run(run, ds["test"]["path"], split="test", progress=False)
        st.items, st.unit = summary.get("samples"), "test frames"
        state.doc["evaluation"] = _jsonable(summary)
        if "capture" in ds:
            cap = evaluate_run(run, ds["capture"]["path"], split="train", progress=False)
            state.doc["evaluation_capture"] = _jsonable(cap)


def stage_replay(state: _State) -> None:
    from rfpose.drivers.realtime import RealtimeSource
    from rfpose.app.live import RadarPosePipeline
    from rfpose.metrics import pose3d_summary
    from rfpose.session import SessionReader

    cfg = state.cfg
    with _stage(state, "replay", needs=("train", "truth")) as st:
        if st.status == "skipped":
            return
        r = SessionReader(state.doc["capture"]["session"])
        radar = r.stream("radar")
        meta = radar.metadata
        pipe = RadarPosePipeline(state.doc["training"]["run"], meta["board"], meta["cfg_text"], threads=cfg.threads)
        labels = r.labels("gt")
        truth = {int(f): labels.joints[i] for i, f in enumerate(labels.frame_index)}
        lat, preds, gts, idx, behind = [], [], [], [], 0
        t_start = time.perf_counter()
        live = RealtimeSource(radar, restamp=False, drop_late=False)  # every frame, at the recorded pace
        period = 1.0 / max(meta.get("rate_hz", 10.0) or 10.0, 1e-3)
        for n_seen, frame in enumerate(live):
            t_arrival = time.perf_counter()
            res = pipe(frame.adc)
            lat.append(res.latency_ms)
            behind += (time.perf_counter() - t_arrival) > period
            if frame.index in truth and len(res.joints):
                preds.append(res.joints[0])
                gts.append(truth[frame.index][0])
                idx.append(frame.index)
        wall = time.perf_counter() - t_start
        r.close()
        total = np.array([x["total"] for x in lat])
        stages = {k: {"median_ms": float(np.median([x[k] for x in lat])),
                      "p95_ms": float(np.percentile([x[k] for x in lat], 95))} for k in lat[0]}
        doc = {"frames": len(lat), "wall_seconds": wall, "latency": stages,
               "frames_per_s_capacity": float(1000.0 / np.median(total)),
               "frames_over_period": int(behind), "period_ms": period * 1e3, "latency_ms_all": total.tolist()}
        if preds:
            m = pose3d_summary(np.stack(preds), np.stack(gts))
            doc["metrics"] = {k: v for k, v in m.items() if not isinstance(v, dict)}
            doc["samples"] = {"frame_index": idx, "pred": np.stack(preds).tolist(), "true": np.stack(gts).tolist()}
        state.doc["replay"] = _jsonable(doc)
        st.items, st.unit = len(lat), "frames"
        st.detail = (f"median {stages['total']['median_ms']:.0f} ms/frame; "
                       f"{behind} of {len(lat)} frames took longer than the {period * 1e3:.0f} ms frame period")


class _MqttLog:
    """A second MQTT client on the demo's broker that records what the monitor publishes."""

    def __init__(self, port: int):
        import threading

        import paho.mqtt.client as mqtt

        self.messages: list[tuple[str, bytes, bool]] = []
        self._lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="rfpose-demo-listener")
        self.client.on_connect = lambda c, *_a: c.subscribe("#")
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_message(self, _c, _u, msg) -> None:
        with self._lock:
            self.messages.append((msg.topic, bytes(msg.payload), bool(msg.retain)))

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()

    def summary(self, prefix: str) -> dict:
        with self._lock:
            msgs = list(self.messages)
        disc = [(t, p) for t, p, _r in msgs if t.startswith("homeassistant/") and p]
        entities = {}
        for _t, p in disc:  # device-based discovery: one payload, its components by id
            with contextlib.suppress(ValueError, AttributeError):
                entities.update((json.loads(p).get("cmps") or json.loads(p).get("components") or {}))
        avail = [p.decode(errors="replace") for t, p, _r in msgs if t == f"{prefix}/availability"]
        return {"messages": len(msgs), "topics": len({t for t, _p, _r in msgs}), "discovery_messages": len(disc),
                "discovery_entities": len(entities), "fall_entity": any("fall" in k for k in entities),
                "availability_payloads": ", ".join(dict.fromkeys(avail)) or None,
                "state_messages": sum(t.startswith(prefix) and not t.endswith(("/availability", "/skeletons"))
                                      for t, _p, _r in msgs)}


def _browse_monitor(url: str, token: str, shot: Path, seconds: float) -> dict:
    """A headless Chromium logs in on the monitor's page with the token and photographs the live view."""
    from rfpose.app.local_services import HeadlessChromium

    with HeadlessChromium() as b:
        b.call("Page.navigate", url=url)
        b.wait("location.pathname === '/login' && !!document.getElementById('token')", what="the login page")
        b.eval(f"document.getElementById('token').value = {json.dumps(token)};"
               "document.getElementById('login').click(); true")
        b.wait("location.pathname === '/' && window.rfpose && window.rfpose.frames >= 2", timeout_s=max(seconds, 30),
               what="live frames on the page")
        t0 = time.monotonic()
        while time.monotonic() - t0 < seconds and not b.eval("window.rfpose.last && window.rfpose.last.tracks "
                                                             "&& window.rfpose.last.tracks.length > 0"):
            time.sleep(0.2)
        page = b.eval("({frames: window.rfpose.frames, tracks: (window.rfpose.last.tracks || []).length, "
                      "status: document.getElementById('status').textContent, "
                      "health: document.getElementById('health').textContent})")
        b.screenshot(shot)
    return page


def stage_monitor(state: _State) -> None:
    """``rfpose monitor`` on the captured session replayed in real time: a real broker, the web page with
    token auth, and a browser. mosquitto or chromium missing skips that part (said in the report)."""
    import secrets
    import threading

    from rfpose.app.local_services import Mosquitto
    from rfpose.app.monitor.config import MonitorConfig, RadarMount, ZoneConfig
    from rfpose.app.monitor.service import Monitor
    from rfpose.errors import DependencyError

    cfg, out = state.cfg, state.out / "monitor"
    with _stage(state, "monitor", needs=("train", "capture")) as st:
        if st.status == "skipped":
            return
        out.mkdir(parents=True, exist_ok=True)
        doc: dict = {"seconds": cfg.monitor_seconds, "notes": []}
        broker = None
        try:
            broker = Mosquitto(out).__enter__()
        except DependencyError as e:
            doc["notes"].append(f"MQTT part skipped: {e}")
            print(f"[demo] monitor: {e}; running without MQTT", flush=True)
        token = secrets.token_urlsafe(24)
        (out / "token").write_text(token + "\n")
        (out / "token").chmod(0o600)
        events_db = out / "events.sqlite"
        events_db.unlink(missing_ok=True)
        mcfg = MonitorConfig(device_id="demo", name="rfpose demo room")
        mcfg.source.uri = f"session://{Path(state.doc['capture']['session']).resolve()}?realtime=1&loop=1#radar"
        mcfg.model.run, mcfg.model.threads = state.doc["training"]["run"], cfg.threads
        mcfg.room.radar = RadarMount(height_m=1.0)
        mcfg.zones = [ZoneConfig("room", [[0.5, -3.0], [6.0, -3.0], [6.0, 3.0], [0.5, 3.0]])]
        mcfg.web.port, mcfg.web.token_file = 0, str(out / "token")
        mcfg.event_log = str(events_db)
        listener = None
        if broker is not None:
            mcfg.mqtt.host, mcfg.mqtt.port = "127.0.0.1", broker.port
            listener = _MqttLog(broker.port)
        mon = Monitor(mcfg)
        th = threading.Thread(target=mon.run, daemon=True)  # until stopped: at least monitor_seconds of frames
        wall0 = time.time()
        try:
            th.start()
            t0 = time.monotonic()
            while not (mon.web.server.started and mon.processed > 0):
                if not th.is_alive() or time.monotonic() - t0 > 60:
                    raise RfposeError("the monitor did not start processing frames within 60 s")
                time.sleep(0.1)
            t_first = time.monotonic()
            try:
                doc["browser"] = _browse_monitor(f"http://127.0.0.1:{mon.web.port}/", token, out / "page.png",
                                                 cfg.monitor_seconds)
                doc["screenshot"] = str(out / "page.png")
            except DependencyError as e:
                doc["notes"].append(f"browser part skipped: {e}")
                print(f"[demo] monitor: {e}; no screenshot", flush=True)
            while time.monotonic() - t_first < cfg.monitor_seconds and th.is_alive():
                time.sleep(0.1)
            health = mon.health()
        finally:
            mon.stop()
            th.join(timeout=30)
            if listener is not None:
                time.sleep(0.3)
                listener.close()
            if broker is not None:
                broker.__exit__()
        from rfpose.app.monitor.store import EventStore

        store = EventStore(events_db)
        events = store.recent(200)
        store.close()
        doc["health"] = {k: v for k, v in health.items() if not isinstance(v, dict)}
        doc["latency_ms_p50"], doc["latency_ms_p95"] = health["latency_ms_p50"], health["latency_ms_p95"]
        doc["events"] = [{"t_s": round(e["time"] - wall0, 2), **{k: e.get(k) for k in ("kind", "value", "track",
                                                                                       "zone", "confidence")}}
                         for e in sorted(events, key=lambda e: e.get("time") or 0)]
        if listener is not None:
            doc["mqtt"] = {"broker": f"mosquitto 127.0.0.1:{broker.port}", **listener.summary(mcfg.topic_prefix)}
        state.doc["monitor"] = _jsonable(doc)
        st.items, st.unit = health["frames"], "frames"
        st.detail = (f"{health['frames']} frames, {len(events)} events, latency p50 {health['latency_ms_p50']} ms "
                     f"p95 {health['latency_ms_p95']} ms" + "".join(f"; {n}" for n in doc["notes"]))



# ------------------------------------------------------------------------------------------------
# report
# ------------------------------------------------------------------------------------------------


def _jsonable(x):
    return json.loads(json.dumps(x, default=lambda o: o.item() if isinstance(o, np.generic) else
                                 (o.tolist() if isinstance(o, np.ndarray) else str(o))))


def _add_figure(state: _State, fig_id: str, path: Path, caption: str, data: dict | None = None) -> None:
    from rfpose.app.report import Figure

    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    state.figures.append(Figure(fig_id, Path(path), caption, {"sha256": digest, **(data or {})}))


def make_figures(state: _State) -> None:
    from rfpose.app import figures as F

    out = state.out / "figures"
    cfg = state.cfg
    if _done(state, "truth"):
        from rfpose.boards import get_board
        from rfpose.preprocessing.decode import decode_radar_words
        from rfpose.preprocessing.polar import PolarConfig, PolarProcessor
        from rfpose.radar_config import parse_cfg
        from rfpose.session import SessionReader

        r = SessionReader(state.doc["capture"]["session"])
        radar = r.stream("radar")
        labels = r.labels("gt")
        k = int(labels.frame_index[len(labels.frame_index) // 2])
        frame = radar[k]
        board = get_board(radar.metadata["board"])
        params = parse_cfg(radar.metadata["cfg_text"]).derive(board)
        proc = PolarProcessor(params, board, PolarConfig(output="magnitude", clutter_removal=True))
        cube = proc(decode_radar_words(frame.adc, params, board))[0]  # (doppler, range, az, el)
        ax = proc.axes
        rd = 20 * np.log10(cube.sum(axis=(2, 3)) + 1e-6)
        ra = 20 * np.log10(cube.sum(axis=(0, 3)) + 1e-6)
        true = labels.joints[list(labels.frame_index).index(k)]
        peak = np.unravel_index(np.argmax(ra), ra.shape)
        F.range_doppler(rd, ax.range_m, ax.velocity_mps, out / "range_doppler.png",
                        title=f"captured frame {k}: range-Doppler (static clutter removed)")
        _add_figure(state, "range_doppler", out / "range_doppler.png",
                    f"Range-Doppler map of captured radar frame {k} (summed over angle, static clutter removed).",
                    {"frame": k, "peak_range_m": float(ax.range_m[peak[0]])})
        F.range_azimuth(ra, ax.range_m, ax.sin_az, out / "range_azimuth.png", joints=true,
                        title=f"captured frame {k}: range-azimuth, true joints in cyan")
        _add_figure(state, "range_azimuth", out / "range_azimuth.png",
                    f"Range-azimuth map of captured frame {k} as a top view, true joints overlaid.",
                    {"frame": k, "peak_range_m": float(ax.range_m[peak[0]]),
                     "true_pelvis_range_m": float(np.linalg.norm(true[0, 0]))})
        state.doc["radar_maps"] = {"frame": k, "peak_range_m": float(ax.range_m[peak[0]]),
                                   "true_pelvis_range_m": float(np.linalg.norm(true[0, 0]))}
        # LiDAR and camera with skeletons (the simulator's truth at each frame's own time)
        from rfpose.sim.scenarios import build_rig

        rig = build_rig(cfg.capture_scenario, seed=cfg.seed, num_frames=state.doc["capture"]["sim_frames"],
                        board=cfg.board)
        if "lidar" in r.streams and len(r.stream("lidar")):
            lid = r.stream("lidar")
            lf = lid[len(lid) // 2]
            T = np.asarray(lid.metadata["extrinsics"], np.float64)
            p = np.stack([lf.points["x"], lf.points["y"], lf.points["z"]], axis=1).astype(np.float64)
            p = p @ T[:3, :3].T + T[:3, 3]
            j = rig.ground_truth(rig.sources["lidar"].true_time_s(lf.index))
            F.lidar_with_skeleton(p, j, out / "lidar.png",
                                  title=f"captured LiDAR frame {lf.index}: {len(p)} points, true skeleton in red")
            _add_figure(state, "lidar", out / "lidar.png", "Captured LiDAR sweep in the radar frame with the "
                        "true skeleton (top and side views).", {"points": int(len(p))})
        if "cam_left" in r.streams and len(r.stream("cam_left")):
            cam = r.stream("cam_left")
            cf = cam[len(cam) // 2]
            kp, _vis = rig.sources["cam_left"].keypoints(cf.index)
            F.image_with_skeleton(cf.image, kp, out / "camera.png",
                                  title=f"captured camera frame {cf.index} with projected skeleton")
            _add_figure(state, "camera", out / "camera.png", "Captured left-camera frame with the true skeleton "
                        "projected (exact 2D keypoints).", {"height": int(cf.image.shape[0]),
                                                             "width": int(cf.image.shape[1])})
        r.close()
    ann = state.doc.get("annotation")
    if ann and ann.get("per_joint_mm"):
        from rfpose.skeletons import get_skeleton

        names = list(get_skeleton("rtpose15").joints)
        F.bar_chart(names, ann["per_joint_mm"], out / "label_error.png", "error (mm)",
                    f"auto labels vs truth ({state.cfg.detector}, {CAMERA} + LiDAR)")
        _add_figure(state, "label_error", out / "label_error.png", "Per-joint error of the auto labels against the "
                    "simulator's truth, over every labelled radar frame (mm).",
                    {"per_joint_mm": dict(zip(names, ann["per_joint_mm"]))})
    if _done(state, "annotate") and _done(state, "truth"):
        from rfpose.session import SessionReader

        r = SessionReader(state.doc["capture"]["session"])
        auto, gt = r.labels("auto"), r.labels("gt")
        row = {int(f): i for i, f in enumerate(gt.frame_index)}
        both = [(i, row[int(f)]) for i, f in enumerate(auto.frame_index)
                if int(f) in row and np.isfinite(auto.joints[i, 0]).all()]
        if both:
            pick = [both[int(k)] for k in np.linspace(0, len(both) - 1, min(4, len(both))).astype(int)]
            F.skeletons_pred_vs_true(np.stack([auto.joints[i, 0] for i, _ in pick]),
                                     np.stack([gt.joints[j, 0] for _, j in pick]), out / "auto_labels.png",
                                     titles=[f"frame {int(auto.frame_index[i])}" for i, _ in pick],
                                     pred_label="auto label")
            _add_figure(state, "auto_labels", out / "auto_labels.png", "Captured session: auto labels from the "
                        "camera + LiDAR (blue) and the simulator's truth (red), front view.",
                        {"frames": [int(auto.frame_index[i]) for i, _ in pick]})
        r.close()
    mon = state.doc.get("monitor")
    if mon and mon.get("screenshot"):
        _add_figure(state, "monitor_page", Path(mon["screenshot"]), "The monitor's web page in headless Chromium "
                    "after logging in with the token: live top and side views of the tracked skeletons, zones, "
                    "the event log.", {"frames_seen_by_page": (mon.get("browser") or {}).get("frames")})
    if "training" in state.doc and state.doc["training"]["history"]:
        h = state.doc["training"]["history"]
        ep = [r["epoch"] for r in h]
        series = {k: (ep, [r[k] for r in h]) for k in h[0] if k.endswith("loss") and all(k in r for r in h)}
        F.curves(series, out / "training.png", "epoch", "loss", "training curves", logy=True)
        _add_figure(state, "training", out / "training.png", "Training and validation loss per epoch.",
                    {"epochs": len(h)})
        val_keys = [k for k in h[0] if "mpjpe" in k]
        if val_keys:
            F.curves({k: (ep, [r.get(k) for r in h]) for k in val_keys}, out / "validation.png", "epoch", "mm",
                     "validation error")
            _add_figure(state, "validation", out / "validation.png", "Validation MPJPE per epoch.", {})
    ev = state.doc.get("evaluation")
    if ev and "per_joint_mm" in ev:
        names = list(ev["per_joint_mm"])
        F.bar_chart(names, [ev["per_joint_mm"][n] for n in names], out / "per_joint.png", "error (mm)",
                    "per-joint error, held-out subject (root-relative)")
        _add_figure(state, "per_joint", out / "per_joint.png", "Per-joint root-relative error on the held-out "
                    "test subject (mm).", {"per_joint_mm": ev["per_joint_mm"]})
    rep = state.doc.get("replay")
    if rep and "samples" in rep:
        pred, true = np.array(rep["samples"]["pred"]), np.array(rep["samples"]["true"])
        pick = np.linspace(0, len(pred) - 1, min(4, len(pred))).astype(int)
        F.skeletons_pred_vs_true(pred[pick], true[pick], out / "skeletons.png",
                                 titles=[f"frame {rep['samples']['frame_index'][i]}" for i in pick])
        _add_figure(state, "skeletons", out / "skeletons.png", "Replay, radar only: predicted (blue) and true (red) "
                    "skeletons, front view.", {"frames": [int(rep["samples"]["frame_index"][i]) for i in pick]})
    if rep:
        F.histogram(rep["latency_ms_all"], out / "latency.png", "ms per frame (decode + voxels + model)",
                    "replay latency")
        _add_figure(state, "latency", out / "latency.png", "Per-frame latency of the radar-only replay.",
                    {"median_ms": rep["latency"]["total"]["median_ms"]})


def write_demo_report(state: _State) -> Path:
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


def rig_table(state: _State) -> None:
    from rfpose.boards import get_board

    board = get_board(state.cfg.board)
    p = board.default_config().derive(board)
    radar = {"board": board.name, "tx x rx": f"{p.num_tx} x {p.num_rx}", "start_frequency_ghz": p.start_frequency_hz / 1e9,
             "bandwidth_ghz": p.bandwidth_hz / 1e9, "range_resolution_cm": p.range_resolution_m * 100,
             "max_range_m": p.max_range_m, "velocity_resolution_mps": p.velocity_resolution_mps,
             "max_velocity_mps": p.max_velocity_mps, "frame_rate_hz": 1 / p.frame_period_s,
             "frame_bytes": p.frame_bytes, "data_rate_mbps": p.data_rate_mbps}
    sensors = [{"sensor": "radar", "kind": "AWR1843 via DCA1000 (emulated, UDP loopback)", "rate_hz": 1 / p.frame_period_s},
               {"sensor": "lidar", "kind": "Livox-like non-repetitive (simulated, live replay)", "rate_hz": 10.0},
               {"sensor": "cam_left", "kind": "pinhole RGB 640x480 (simulated, live replay capped at 5 Hz)",
                "rate_hz": 5.0}]
    state.doc["rig"] = {"radar": radar, "sensors": sensors}


def run_demo(cfg: DemoConfig) -> dict:
    """Run every stage, write the report; returns the report document."""
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    state = _State(cfg, out)
    state.doc["config"] = dataclasses.asdict(cfg)
    t0 = time.perf_counter()
    rig_table(state)
    stage_capture(state)
    stage_capture_calibration(state)
    stage_truth(state)
    stage_simulate(state)
    stage_calibrate(state)
    stage_annotate(state)
    stage_preprocess(state)
    stage_train(state)
    stage_evaluate(state)
    stage_replay(state)
    stage_monitor(state)
    with _stage(state, "figures") as st:
        make_figures(state)
        st.items, st.unit = len(state.figures), "figures"
    state.doc["total_seconds"] = time.perf_counter() - t0
    path = write_demo_report(state)
    print(f"[demo] report: {path}", flush=True)
    return state.doc
