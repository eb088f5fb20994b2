"""``rfpose demo``: the whole pipeline on the simulated rig, measured, with a report.

1. **capture** — an emulated AWR1843 (CLI on a pty) and DCA1000 (loopback UDP) streaming simulated ADC,
   plus a simulated LiDAR and camera replayed live, recorded by the ``rfpose record`` machinery
   (:class:`~rfpose.drivers.recorder.Recorder`) through the real drivers.
2. **label** — the captured radar frames are matched byte for byte to the simulator's frames, and the
   simulator's skeletons are added to the session as label set ``gt``.
3. **simulate** — a training set: several subjects doing RT-Pose's six actions.
4. **preprocess** — sessions → Cartesian-voxel datasets (split by subject), with Dask.
5. **train** — ``hrradarpose-lite`` within a time budget; **evaluate** on held-out subjects.
6. **replay** — the captured session, radar only, frame by frame at its recorded pace through
   :class:`~rfpose.app.live.RadarPosePipeline`, with per-frame latency.
7. **report** — ``report.html`` (self-contained), ``report.json`` and the PNGs.

Every number in the report is measured in the run. A stage that fails is reported as failed with its
error, and the stages that need its output as skipped.
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
    frames_per_session: int = 30
    train_minutes: float = 7.0
    batch_size: int = 4
    threads: int = 2
    scheduler: str | None = None
    """Dask scheduler for preprocessing: None = a local cluster, "synchronous", or an address"""

    @classmethod
    def preset(cls, quick: bool, **overrides) -> "DemoConfig":
        if quick:
            base = dict(quick=True, capture_seconds=3.0, subjects=4, actions=("walk", "wave"),
                        frames_per_session=16, train_minutes=0.6)
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


def _sim_uri(cfg: DemoConfig, frames: int, stream: str = "", realtime: bool = False, extra: str = "") -> str:
    q = f"board={cfg.board}&seed={cfg.seed}&frames={frames}" + ("&realtime=1" if realtime else "") + extra
    return f"sim://{cfg.capture_scenario}?{q}" + (f"#{stream}" if stream else "")


def _rig_toml(cfg: DemoConfig, frames: int) -> str:
    return f"""# The demo's rig: emulated AWR1843 + DCA1000 fed by the simulator, simulated LiDAR and camera live.
[rig]
name = "demo-emulated"
emulate = true

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
adc = "{_sim_uri(cfg, frames)}&camera=0&lidar=0"
seed = {cfg.seed}

[[sensors]]
name = "lidar"
kind = "lidar"
uri = "{_sim_uri(cfg, frames, 'lidar', realtime=True)}"

[[sensors]]
name = "cam_left"
kind = "camera"
# the simulated camera renders 640x480 frames in ~0.15 s; 5 frames/s leaves the CPU to the radar path
uri = "{_sim_uri(cfg, frames, 'cam_left', realtime=True, extra='&max_rate_hz=5')}"
"""


def stage_capture(state: _State) -> None:
    from rfpose.drivers.recorder import Recorder, summary
    from rfpose.drivers.rig import parse_rig

    cfg, out = state.cfg, state.out
    with _stage(state, "capture") as st:
        frames = int(cfg.capture_seconds * 10) + 30  # simulated frames; the emulator loops past the end
        rig_path = out / "capture" / "rig.toml"
        rig_path.parent.mkdir(parents=True, exist_ok=True)
        rig_path.write_text(_rig_toml(cfg, frames))
        rig = parse_rig(rig_path.read_text(), str(rig_path), rig_path.parent)
        session = out / "capture" / "session.zarr"
        t0 = time.perf_counter()
        status = Recorder(rig, session, duration_s=cfg.capture_seconds, overwrite=True, status_interval_s=1.0).run()
        wall = time.perf_counter() - t0
        counts = summary(status)
        st.items, st.unit = counts["radar"]["frames"], "radar frames"
        st.detail = ", ".join(f"{n}: {v['frames']} frames" for n, v in counts.items())
        state.doc["capture"] = {"session": str(session), "rig_file": str(rig_path), "seconds": wall,
                                "sensors": {n: {**v, "rate_hz": v["frames"] / cfg.capture_seconds}
                                            for n, v in counts.items()},
                                "sim_frames": frames}


def stage_label(state: _State) -> None:
    """Match captured radar frames to simulator frames by their bytes; add the simulator's skeletons."""
    from rfpose.session import SessionReader, add_label_set
    from rfpose.sim.scenarios import build_rig

    cfg = state.cfg
    with _stage(state, "label", needs=("capture",)) as st:
        if st.status == "skipped":
            return
        cap = state.doc["capture"]
        rig = build_rig(cfg.capture_scenario, seed=cfg.seed, num_frames=cap["sim_frames"], board=cfg.board)
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
        ts = np.asarray(radar.timestamps_ns)
        r.close()
        add_label_set(cap["session"], "gt", "rtpose15", ts[matched], joints[matched], frame_index=np.flatnonzero(matched),
                      provenance={"method": "simulator", "matched": "radar frames identical to the simulator's "
                                  "bytes", "frame": "radar frame, metres"})
        cap.update({"radar_frames": n, "complete_frames": int(complete), "identical_to_simulator": int(identical),
                    "first_sim_frame": offset, "sim_index": sim_index.tolist()})
        st.items, st.unit = n, "radar frames"
        st.detail = f"{identical}/{n} captured frames byte-identical to the simulator's"


def _subject_seed(cfg: DemoConfig, k: int) -> int:
    return cfg.seed * 100 + 11 + k


def stage_simulate(state: _State) -> None:
    from rfpose.sim.session_writer import simulate_session

    cfg, out = state.cfg, state.out
    with _stage(state, "simulate") as st:
        sessions, subjects = [], []
        for k in range(cfg.subjects):
            seed = _subject_seed(cfg, k)
            for action in cfg.actions:
                path = out / "train-sessions" / f"s{k}-{action}.zarr"
                simulate_session(path, action, cfg.frames_per_session, seed=seed, board=cfg.board, camera=False,
                                 lidar=False, overwrite=True, labels_2d=False)
                sessions.append(str(path))
            subjects.append(f"S{seed:04d}p0")
        st.items, st.unit = len(sessions) * cfg.frames_per_session, "radar frames"
        st.detail = f"{cfg.subjects} subjects x {len(cfg.actions)} actions x {cfg.frames_per_session} frames"
        state.doc["training_set"] = {"sessions": sessions, "subjects": subjects, "actions": list(cfg.actions),
                                     "val_subjects": subjects[-2:-1], "test_subjects": subjects[-1:]}


def stage_preprocess(state: _State) -> None:
    from rfpose.dataset import PreprocessConfig
    from rfpose.preprocessing.dataset import build_dataset

    cfg, out = state.cfg, state.out
    with _stage(state, "preprocess", needs=("simulate",)) as st:
        if st.status == "skipped":
            return
        ts = state.doc["training_set"]
        pcfg = PreprocessConfig(format="rtpose", val_subjects=tuple(ts["val_subjects"]),
                                test_subjects=tuple(ts["test_subjects"]))
        train_ds = out / "datasets" / "train.zarr"
        summary = build_dataset(ts["sessions"], str(train_ds), pcfg, scheduler=cfg.scheduler, overwrite=True,
                                progress=False)
        n = int(summary.get("samples", 0) or 0)
        state.doc["datasets"] = {"train": {"path": str(train_ds), **_jsonable(summary)}}
        if _done(state, "label"):
            cap_ds = out / "datasets" / "capture.zarr"
            cap_summary = build_dataset([state.doc["capture"]["session"]], str(cap_ds), PreprocessConfig(format="rtpose"),
                                        scheduler=cfg.scheduler, overwrite=True, progress=False)
            state.doc["datasets"]["capture"] = {"path": str(cap_ds), **_jsonable(cap_summary)}
            n += int(cap_summary.get("samples", 0) or 0)
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
        st.detail = f"{result['epochs_done']} epochs in {cfg.train_minutes:g} min budget"
        state.doc["training"] = {"run": str(run), "model": cfg.model, "epochs": result["epochs_done"],
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
        run, data = state.doc["training"]["run"], state.doc["datasets"]["train"]["path"]
        summary = evaluate_run(run, data, split="test", progress=False)
        st.items, st.unit = summary.get("samples"), "test frames"
        state.doc["evaluation"] = _jsonable(summary)
        if "capture" in state.doc.get("datasets", {}):
            cap = evaluate_run(run, state.doc["datasets"]["capture"]["path"], split="train", progress=False)
            state.doc["evaluation_capture"] = _jsonable(cap)


def stage_replay(state: _State) -> None:
    from rfpose.drivers.realtime import RealtimeSource
    from rfpose.app.live import RadarPosePipeline
    from rfpose.metrics import pose3d_summary
    from rfpose.session import SessionReader

    cfg = state.cfg
    with _stage(state, "replay", needs=("train", "label")) as st:
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
    if _done(state, "label"):
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
    if "training" in doc:
        t = doc["training"]
        sections.append(("Training", table_from_dict({k: t[k] for k in ("model", "epochs", "best_epoch",
                                                                        "budget_minutes")}, "training")
                         + figs_html("training", "validation")))
    for key, title in (("evaluation", "Evaluation on the held-out subject"),
                       ("evaluation_capture", "Evaluation on the captured session")):
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
    stage_label(state)
    stage_simulate(state)
    stage_preprocess(state)
    stage_train(state)
    stage_evaluate(state)
    stage_replay(state)
    with _stage(state, "figures") as st:
        make_figures(state)
        st.items, st.unit = len(state.figures), "figures"
    state.doc["total_seconds"] = time.perf_counter() - t0
    path = write_demo_report(state)
    print(f"[demo] report: {path}", flush=True)
    return state.doc
