"""Replay a simulated fall benchmark (``rfpose simulate-dataset --preset sim-falls-v1``) through the monitor.

Every session of the chosen split is one *trial*: the subject's empty room (``pre_s``), then the person's
session from its first frame (the person appears: the entry), and for "leave" trials the empty room again
(``post_s``: the person is gone). The frames go through :meth:`Monitor.process` — the service's own path:
the run's preprocessing and model, tracking, posture, fall and presence rules — with the frame times as the
clock, so it runs as fast as the CPU allows. Only the scoring reads the simulator's truth (the session's
``rig.people[0].event``: when the fall started and when the body reached the floor).

Scoring:

* a fall trial is **detected** if a ``fall`` event comes at or after the fall's start; its **time to
  alert** is that event's time minus the time the body reached the floor;
* every other ``fall`` event is a **false alarm**: in a non-fall session, or before the fall started;
* **non-fall activity** is time a person is present and not falling: a non-fall session's whole length
  and a fall session's time before the fall started (empty-room time is not counted);
* **occupied after entry**: from the person's first frame to the room's first ``occupied``; **empty after
  leaving** (leave trials): from the person's last frame to the room's ``empty``; **phantom** seconds:
  occupied during the empty room before the entry; **extra people** seconds: while the one person is in the
  room, the room's count above one (a person counted twice).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from rfpose.errors import ConfigError

log = logging.getLogger(__name__)

#: issue 17's Done-when for sim-falls-v1
TARGETS = {"recall": 0.95, "false_alarms_in_1h": 1, "alert_s_max": 5.0, "occupied_s_max": 1.0, "empty_s_max": 30.0,
           "non_fall_hours_min": 1.0}
EMPTY = "empty"


@dataclass
class Trial:
    session: str
    scenario: str
    subject: str
    fall: bool
    t_entry_s: float  # stream time of the person's first frame
    t_leave_s: float | None  # stream time the person is gone (leave trials)
    t_start_s: float | None = None  # the fall's start and the body on the floor, stream time (fall trials)
    t_floor_s: float | None = None
    non_fall_s: float = 0.0
    alert_s: float | None = None  # first fall event after the fall's start − t_floor
    false_alarms: list = field(default_factory=list)  # stream times of fall events while nobody had fallen
    repeat_alarms: int = 0  # further fall events after this trial's fall was detected (the same fall again)
    occupied_after_s: float | None = None
    empty_after_s: float | None = None
    phantom_s: float = 0.0
    extra_people_s: float = 0.0  # the person in the room, counted as more than one
    frames: int = 0  # replayed: empty room before, the session, empty room after
    empty_s: float = 0.0  # of which empty room (before the entry and after leaving)
    stream_s: float = 0.0
    # what the model saw (the best detection's score per frame, 0 with none at model.min_score): while the
    # person is in the room and while it is empty
    person_frames: int = 0
    person_frames_missed: int = 0
    person_score_p50: float | None = None
    empty_frames_detected: int = 0
    empty_score_max: float | None = None


def find_trials(data: str | Path, split: str = "test") -> tuple[dict, list[dict]]:
    """``(preset, sessions)`` of a built preset directory: the sessions of ``split``'s subjects, each a dict
    with its path, scenario, seed, subject, truth event and frame count; the empty-room sessions listed
    under scenario ``empty``."""
    import zarr

    data = Path(data)
    if not (data / "preset.json").is_file():
        raise ConfigError(f"{data}: not a simulated dataset preset (no preset.json); give the --out directory "
                          "of rfpose simulate-dataset")
    preset = json.loads((data / "preset.json").read_text())
    seeds = {"test": preset["test_seeds"], "val": preset["val_seeds"]}.get(split)
    if seeds is None:
        train = set(preset["subject_seeds"]) - set(preset["val_seeds"]) - set(preset["test_seeds"])
        seeds = sorted(train) if split == "train" else None
    if seeds is None:
        raise ConfigError(f"--split must be train, val or test, got {split!r}")
    out = []
    for path in sorted((data / "sessions").glob("*.zarr")):
        try:
            a = zarr.open_group(str(path), mode="r").attrs.asdict()
        except Exception as e:  # noqa: BLE001 — zarr raises several types for a broken store
            raise ConfigError(f"{path}: unreadable session ({type(e).__name__}: {e})") from None
        if a.get("seed") not in seeds or "subject" not in a:  # not this split, or a half-written session
            continue
        people = a.get("rig", {}).get("people", [])
        out.append({"path": str(path), "scenario": a["scenario"], "seed": a["seed"], "subject": a["subject"],
                    "event": people[0]["event"] if people else {"kind": "none"},
                    "frames": a["config"]["simulator"]["num_frames"]})
    if not any(s["scenario"] != EMPTY for s in out):
        raise ConfigError(f"{data}: no finished {split} sessions in {data / 'sessions'}")
    return preset, out


def _frames(path: str) -> tuple[list, float, dict]:
    """A session's radar frames (ADC words), its frame period (s) and the stream's metadata."""
    from rfpose.drivers.open_source import open_source

    src = open_source(f"session://{path}#radar")
    try:
        meta = dict(src.metadata)
        frames, ts = [], []
        for f in src:
            frames.append(f.adc)
            ts.append(f.timestamp_ns)
    finally:
        src.close()
    period = float(np.median(np.diff(ts))) * 1e-9 if len(ts) > 1 else 0.1
    return frames, period, meta


def evaluate_monitor(run: str | Path | None, data: str | Path, cfg=None, split: str = "test", pre_s: float = 3.0,
                     post_s: float = 35.0, leave_trials: int | None = None, runtime: str = "torch",
                     threads: int = 1, progress: bool = True, workers: int = 1) -> dict:
    """Replay ``split``'s sessions of the preset in ``data`` through the monitor with the model of ``run``
    (None: no model, people as clusters of CFAR points, ``cfg.clusters``).

    ``cfg`` is the :class:`MonitorConfig` whose room, tracking and event rules are evaluated (default: the
    defaults, the radar 1 m above the floor as the simulator mounts it). ``leave_trials``: how many non-fall
    sessions (spread over the scenarios) end with ``post_s`` of empty room to time "empty after leaving"
    (None: all). ``workers`` > 1 replays that many trials at once in separate processes, each with its own
    model (``threads`` inference threads); every trial is a fresh monitor on a fresh stream, so the result
    is the single-process one. Returns the summary (see :func:`summarise`) with every trial."""
    from tqdm import tqdm

    from rfpose.app.monitor.config import MonitorConfig, RadarMount
    from rfpose.worker_pool import process_pool

    if run is not None and not (Path(run) / "config.json").is_file():
        raise ConfigError(f"{run}: not a training run (no config.json)")
    if workers < 1:
        raise ConfigError(f"workers must be at least 1, got {workers}")
    preset, sessions = find_trials(data, split)
    if cfg is None:
        cfg = MonitorConfig()
        cfg.room.radar = RadarMount(height_m=1.0)
    cfg.model.run, cfg.model.runtime, cfg.model.threads = str(run or ""), runtime, threads
    cfg.mqtt.host, cfg.web.enabled = "", False
    people = [s for s in sessions if s["scenario"] != EMPTY]
    empties = {s["seed"]: s["path"] for s in sessions if s["scenario"] == EMPTY}
    leavers = _spread([s for s in people if s["event"]["kind"] != "fall"], leave_trials)
    jobs = [(s, empties.get(s["seed"]), s["path"] in leavers) for s in people]

    t_wall = time.perf_counter()
    bar = tqdm(total=len(jobs), desc="evaluate-monitor", disable=None if progress else True)
    if workers > 1 and len(jobs) > 1:
        with process_pool(min(workers, len(jobs)), _start_worker, (cfg, pre_s, post_s)) as pool:
            results = [bar.update() or r for r in pool.map(_replay_in_worker, jobs)]
    else:
        replay = TrialReplay(cfg, pre_s, post_s)
        try:
            results = [bar.update() or replay(job) for job in jobs]
        finally:
            replay.close()
    bar.close()
    trials = [r["trial"] for r in results]
    n_frames = sum(t.frames for t in trials)
    speed = {"frames": n_frames, "wall_s": round(time.perf_counter() - t_wall, 1),
             "cpu_s": round(sum(r["cpu_s"] for r in results), 1), "load_1min": os.getloadavg()[0],
             "runtime": results[0]["runtime"] if results else runtime, "threads": threads, "workers": workers}
    speed["ms_per_frame"] = round(1e3 * speed["wall_s"] / max(n_frames, 1), 1)
    speed["cpu_ms_per_frame"] = round(1e3 * speed["cpu_s"] / max(n_frames, 1), 1)
    speed["realtime_factor"] = round(sum(t.stream_s for t in trials) / max(speed["wall_s"], 1e-9), 2)
    return summarise(trials, preset, split, cfg, speed, str(run) if run else None, pre_s, post_s)


class TrialReplay:
    """Replays trials through fresh monitors sharing one estimator (the run's model, loaded on the first
    trial) and one event log in a temporary directory; one per process."""

    def __init__(self, cfg, pre_s: float, post_s: float):
        self.cfg, self.pre_s, self.post_s = cfg, pre_s, post_s
        self.estimator, self.meta0 = None, None
        self.empty_frames: dict[str, list] = {}
        self.tmp = tempfile.TemporaryDirectory(prefix="rfpose-evaluate-monitor-")
        cfg.event_log = str(Path(self.tmp.name) / "events.sqlite")

    def __call__(self, job: tuple[dict, str | None, bool]) -> dict:
        """``(session, its subject's empty room or None, leave)`` → ``{"trial", "cpu_s", "runtime"}``."""
        from rfpose.app.monitor.detect import make_estimator
        from rfpose.app.monitor.room import T_room_radar
        from rfpose.app.monitor.service import Monitor
        from rfpose.source import RadarFrame

        s, empty, leave = job
        cpu0 = time.process_time()
        cfg = self.cfg
        frames, period, meta = _frames(s["path"])
        if self.estimator is None:
            self.meta0 = meta
            self.estimator = make_estimator("radar", meta, cfg.model, T_room_radar(cfg.room.radar), cfg.clusters)
        elif (meta["board"], meta["cfg_text"]) != (self.meta0["board"], self.meta0["cfg_text"]):
            raise ConfigError(f"{s['path']}: another radar configuration than the first session's")
        if empty is not None and empty not in self.empty_frames:
            self.empty_frames[empty] = _frames(empty)[0]
        room = self.empty_frames.get(empty, [])
        pre = room[: int(round(self.pre_s / period))]
        post = room[: int(round(self.post_s / period))] if leave else []
        trial = _trial(s, len(pre) * period, len(frames) * period, period, bool(post))
        self.estimator.flush()  # a new stream: the model's windows and the pooled points restart (trials independent)
        cfg.source.uri = f"session://{s['path']}#radar"
        seen = _BestScores(self.estimator)
        monitor = Monitor(cfg, estimator=seen)
        try:
            stream = pre + frames + post
            for k, adc in enumerate(stream):
                t = k * period
                out = monitor.process(RadarFrame(k, int(t * 1e9), adc), clock_s=t)
                _score(trial, t, period, out)
            trial.frames, trial.stream_s = len(stream), round(len(stream) * period, 2)
            trial.empty_s = round((len(pre) + len(post)) * period, 2)
        finally:
            monitor.store.close()
        person = np.zeros(len(stream), bool)
        person[len(pre):len(pre) + len(frames)] = True
        _seen(trial, np.asarray(seen.scores), person)
        return {"trial": trial, "cpu_s": time.process_time() - cpu0,
                "runtime": getattr(self.estimator, "runtime", cfg.model.runtime)}

    def close(self) -> None:
        self.tmp.cleanup()


class _BestScores:
    """The estimator, recording the best detection's score of every frame (0 without a detection)."""

    def __init__(self, estimator):
        self.estimator, self.scores = estimator, []

    def __call__(self, frame):
        detections, ms = self.estimator(frame)
        self.scores.append(max((d.score for d in detections), default=0.0))
        return detections, ms


def _seen(tr: Trial, scores: np.ndarray, person: np.ndarray) -> None:
    on, off = scores[person], scores[~person]
    tr.person_frames = int(person.sum())
    tr.person_frames_missed = int((on == 0).sum())
    tr.person_score_p50 = round(float(np.median(on)), 3) if len(on) else None
    tr.empty_frames_detected = int((off > 0).sum())
    tr.empty_score_max = round(float(off.max()), 3) if len(off) else None


_WORKER: TrialReplay | None = None


def _start_worker(cfg, pre_s: float, post_s: float) -> None:
    global _WORKER
    _WORKER = TrialReplay(cfg, pre_s, post_s)  # its temporary directory goes when the process exits


def _replay_in_worker(job) -> dict:
    return _WORKER(job)


def _spread(sessions: list[dict], n: int | None) -> set[str]:
    """``n`` of ``sessions`` taking every scenario in turn (all when None)."""
    if n is None or n >= len(sessions):
        return {s["path"] for s in sessions}
    by: dict[str, list] = {}
    for s in sessions:
        by.setdefault(s["scenario"], []).append(s)
    picked, queues = [], list(by.values())
    while len(picked) < n:
        for q in queues:
            if q and len(picked) < n:
                picked.append(q.pop(0))
    return {s["path"] for s in picked}


def _trial(s: dict, entry_s: float, length_s: float, period: float, leave: bool) -> Trial:
    ev = s["event"]
    fall = ev["kind"] == "fall"
    tr = Trial(Path(s["path"]).name, s["scenario"], str(s["subject"]), fall, entry_s,
               entry_s + length_s if leave else None)
    if fall:
        tr.t_start_s, tr.t_floor_s = entry_s + ev["t_start_s"], entry_s + ev["t_floor_s"]
        tr.non_fall_s = min(ev["t_start_s"], length_s)
    else:
        tr.non_fall_s = length_s
    return tr


def _score(tr: Trial, t: float, period: float, out: dict) -> None:
    occupied = out["state"]["occupied"]
    if tr.t_entry_s <= t and (tr.t_leave_s is None or t < tr.t_leave_s):
        tr.extra_people_s += period * (out["state"]["count"] > 1)
    if t < tr.t_entry_s:
        tr.phantom_s += period * bool(occupied)
    elif occupied and tr.occupied_after_s is None and (tr.t_leave_s is None or t < tr.t_leave_s):
        tr.occupied_after_s = round(t - tr.t_entry_s, 2)
    if tr.t_leave_s is not None and t >= tr.t_leave_s and not occupied and tr.empty_after_s is None:
        tr.empty_after_s = round(t - tr.t_leave_s, 2)
    for e in out["events"]:
        if e["kind"] != "fall":
            continue
        if tr.fall and e["time"] >= tr.t_start_s:
            if tr.alert_s is None:
                tr.alert_s = round(e["time"] - tr.t_floor_s, 2)
            else:
                tr.repeat_alarms += 1
        else:
            tr.false_alarms.append(round(e["time"], 2))


def _stats(x: list[float]) -> dict:
    return {"n": len(x), "p50": round(float(np.median(x)), 2) if x else None,
            "max": round(float(np.max(x)), 2) if x else None}


def summarise(trials: list[Trial], preset: dict, split: str, cfg, speed: dict, run: str, pre_s: float,
              post_s: float) -> dict:
    falls = [t for t in trials if t.fall]
    detected = [t for t in falls if t.alert_s is not None]
    non_fall_h = sum(t.non_fall_s for t in trials) / 3600
    fa = sum(len(t.false_alarms) for t in trials)
    leaves = [t for t in trials if t.t_leave_s is not None]
    occ = [t.occupied_after_s for t in trials if t.occupied_after_s is not None]
    emp = [t.empty_after_s for t in leaves if t.empty_after_s is not None]
    by_kind: dict[str, dict] = {}
    for t in trials:
        k = by_kind.setdefault(t.scenario, {"trials": 0, "falls_detected": 0, "false_alarms": 0, "non_fall_s": 0.0})
        k["trials"] += 1
        k["falls_detected"] += t.alert_s is not None
        k["false_alarms"] += len(t.false_alarms)
        k["non_fall_s"] = round(k["non_fall_s"] + t.non_fall_s, 1)
    s = {
        "preset": preset["name"], "split": split, "run": run,
        "subjects": sorted({t.subject for t in trials}),
        "falls": {"trials": len(falls), "detected": len(detected),
                  "recall": round(len(detected) / len(falls), 4) if falls else None,
                  "repeat_alarms": sum(t.repeat_alarms for t in falls),
                  "alert_after_floor_s": _stats([t.alert_s for t in detected])},
        "false_alarms": {"count": fa, "after_leaving": sum(t.t_leave_s is not None and a >= t.t_leave_s
                                                           for t in trials for a in t.false_alarms),
                         "non_fall_activity_h": round(non_fall_h, 4),
                         "non_fall_activity_s": round(non_fall_h * 3600, 1),
                         "per_hour": round(fa / non_fall_h, 2) if non_fall_h else None},
        "presence": {"occupied_after_entry_s": _stats(occ), "entries": len(trials),
                     "entries_never_occupied": len(trials) - len(occ),
                     "empty_after_leaving_s": _stats(emp), "leaves": len(leaves),
                     "leaves_not_empty_within_post_s": len(leaves) - len(emp),
                     "phantom_s": round(sum(t.phantom_s for t in trials), 1),
                     "extra_people_s": round(sum(t.extra_people_s for t in trials), 1),
                     "person_in_room_s": round(sum(t.stream_s - t.empty_s for t in trials), 1),
                     "empty_room_s": round(sum(t.empty_s for t in trials), 1)},
        "detections": _detections(trials),
        "replayed_h": round(sum(t.stream_s for t in trials) / 3600, 3),
        "by_scenario": by_kind,
        "rules": {"events": asdict(cfg.events), "tracking": asdict(cfg.tracking),
                  **({} if run else {"clusters": asdict(cfg.clusters)})},
        "replay": {"pre_s": pre_s, "post_s": post_s}, "speed": speed, "targets": TARGETS,
        "trials": [asdict(t) for t in trials],
    }
    s["meets"] = meets(s)
    return s


def _detections(trials: list[Trial]) -> dict:
    """How often the model saw the person and the empty room (before tracking): the share of person frames
    without a detection, the median of the trials' median best score, the share of empty-room frames with a
    detection and the highest score there."""
    person = sum(t.person_frames for t in trials)
    empty = sum(t.frames for t in trials) - person
    p50 = [t.person_score_p50 for t in trials if t.person_score_p50 is not None]
    emax = [t.empty_score_max for t in trials if t.empty_score_max is not None]
    return {"person_frames": person, "person_frames_missed": round(sum(t.person_frames_missed for t in trials)
                                                                   / max(person, 1), 4),
            "person_score_p50": round(float(np.median(p50)), 3) if p50 else None,
            "empty_frames": empty, "empty_frames_detected": round(sum(t.empty_frames_detected for t in trials)
                                                                  / max(empty, 1), 4),
            "empty_score_max": max(emax) if emax else None}


def meets(s: dict) -> dict:
    """Each Done-when target: True / False (None when the run has nothing to measure it)."""
    f, p = s["falls"], s["presence"]
    return {
        "recall": None if f["recall"] is None else f["recall"] >= TARGETS["recall"],
        "false_alarms": s["false_alarms"]["count"] <= TARGETS["false_alarms_in_1h"] * max(
            1.0, s["false_alarms"]["non_fall_activity_h"]),
        "non_fall_hours": s["false_alarms"]["non_fall_activity_h"] >= TARGETS["non_fall_hours_min"],
        "alert_s": None if f["alert_after_floor_s"]["max"] is None else (
            f["alert_after_floor_s"]["max"] <= TARGETS["alert_s_max"]),
        "occupied_s": None if not p["occupied_after_entry_s"]["n"] else (
            p["entries_never_occupied"] == 0 and p["occupied_after_entry_s"]["max"] <= TARGETS["occupied_s_max"]),
        "empty_s": None if not p["leaves"] else (
            p["leaves_not_empty_within_post_s"] == 0 and p["empty_after_leaving_s"]["max"] <= TARGETS["empty_s_max"]),
    }


def format_table(s: dict) -> str:
    f, fa, p, sp, m = s["falls"], s["false_alarms"], s["presence"], s["speed"], s["meets"]

    def mark(ok):
        return "-" if ok is None else ("yes" if ok else "NO")

    a, o, e = f["alert_after_floor_s"], p["occupied_after_entry_s"], p["empty_after_leaving_s"]
    rows = [
        ("falls detected (recall)", f"{f['detected']}/{f['trials']} ({(f['recall'] or 0) * 100:.1f} %)", "≥ 95 %",
         mark(m["recall"])),
        ("false alarms / non-fall activity", f"{fa['count']} in {fa['non_fall_activity_h']:.3f} h"
         + (f" ({fa['after_leaving']} after the person left)" if fa.get("after_leaving") else ""), "≤ 1 in ≥ 1 h",
         f"{mark(m['false_alarms'])} (hours: {mark(m['non_fall_hours'])})"),
        ("first alert after the floor p50 / max", f"{a['p50']} / {a['max']} s", "≤ 5 s", mark(m["alert_s"])),
        ("occupied after entry p50 / max", f"{o['p50']} / {o['max']} s (missed {p['entries_never_occupied']})",
         "≤ 1 s", mark(m["occupied_s"])),
        ("empty after leaving p50 / max", f"{e['p50']} / {e['max']} s ({p['leaves']} leaves, "
         f"{p['leaves_not_empty_within_post_s']} not empty)", "≤ 30 s", mark(m["empty_s"])),
        ("phantom occupancy in the empty room", f"{p['phantom_s']} s of {p['empty_room_s']} s", "", ""),
        ("one person counted as more", f"{p['extra_people_s']} s of {p['person_in_room_s']} s", "", ""),
    ]
    d = s.get("detections")
    if d:
        rows.append(("detector: person frames missed / score p50", f"{d['person_frames_missed'] * 100:.1f} % / "
                     f"{d['person_score_p50']}", "", ""))
        rows.append(("detector: empty-room frames detected / max", f"{d['empty_frames_detected'] * 100:.1f} % / "
                     f"{d['empty_score_max']}", "", ""))
    w = [max(len(r[i]) for r in rows) for i in range(4)]
    out = [f"{s['preset']} {s['split']} subjects {', '.join(s['subjects'])}; "
           + (f"run {s['run']}" if s["run"] else "no model: clusters of CFAR points")]
    out += ["  ".join(c.ljust(w[i]) for i, c in enumerate(r)).rstrip() for r in rows]
    out.append("")
    out.append(f"{'scenario':<16}{'trials':>7}{'detected':>9}{'false al.':>10}{'non-fall s':>11}")
    for k, v in s["by_scenario"].items():
        out.append(f"{k:<16}{v['trials']:>7}{v['falls_detected']:>9}{v['false_alarms']:>10}{v['non_fall_s']:>11.0f}")
    out.append(f"\nreplayed {sp['frames']} frames ({s['replayed_h']:.3f} h) in {sp['wall_s']} s: "
               f"{sp['ms_per_frame']} ms per frame ({sp.get('cpu_ms_per_frame')} ms CPU), {sp['realtime_factor']}x "
               f"real time ({sp['runtime']}, "
               f"{sp['threads']} thread(s) × {sp.get('workers', 1)} worker(s), 1-min load {sp['load_1min']:.1f})")
    return "\n".join(out)
