"""sim-falls-v1 and ``rfpose evaluate-monitor``: the preset's plan (split by subject, an hour of non-fall
activity for the test subjects, fall sessions long enough to confirm), the scoring rules, and a tiny preset
replayed end to end through a trained run."""

import json

import pytest

from rfpose.app.monitor.evaluate import Trial, _score, _spread, _trial, meets, summarise
from rfpose.app.sim_datasets import get_preset, reduced_cfg
from rfpose.cli import main
from rfpose.sim.motion import CONFOUNDER_ACTIONS, FALL_ACTIONS


def test_the_preset_splits_by_subject_and_gives_the_test_subjects_an_hour_of_non_fall_activity():
    p = get_preset("sim-falls-v1")
    assert p.board == "awr1843boost" and set(FALL_ACTIONS) | set(CONFOUNDER_ACTIONS) <= set(p.scenarios)
    plan = p.sessions()
    test = [s for s in plan if s[0] in p.test_seeds]
    assert {s[0] for s in plan if p.in_dataset(s[0], s[1])} == set(p.subject_seeds) - set(p.test_seeds)
    assert [s[1] for s in test].count("empty") == len(p.test_seeds)
    assert sorted(s[0] for s in plan if s[1] == "empty") == list(p.subject_seeds)  # every subject's room
    falls = [s for s in test if s[1] in FALL_ACTIONS]
    assert len(falls) == len(p.test_seeds) * p.test_takes * len(FALL_ACTIONS) >= 20
    assert len({s[3] for s in falls if s[0] == p.test_seeds[0]}) == len(falls) // len(p.test_seeds)  # takes differ
    train = [s for s in plan if s[0] not in p.test_seeds + p.val_seeds]
    train_falls = [s for s in train if s[1] in FALL_ACTIONS]
    n_train = len(p.subject_seeds) - len(p.test_seeds) - len(p.val_seeds)
    assert len(train_falls) == n_train * p.train_fall_takes * len(FALL_ACTIONS) and p.train_fall_takes > 1
    people = [s for s in train if s[1] != "empty"]
    assert len({(s[0], s[3]) for s in people}) == len(people)  # every training take has its own motion
    assert len(train) - len(train_falls) == n_train * (len(p.scenarios) - len(FALL_ACTIONS) + 1)  # + empty room
    cfg = reduced_cfg(p.board, p.adc_samples, p.loops)
    activity = [s for s in test if s[1] not in FALL_ACTIONS and s[1] != "empty"]
    n = p.frames_for(activity[0][1], activity[0][0], cfg, "cluttered", activity[0][3], test=True)
    assert len(activity) * n * 0.1 >= 3600  # 10 Hz
    for sc in ("slump", "fall-forward"):  # fall sessions run 12 s past the floor: a slow fall confirms inside
        from rfpose.sim.scenarios import build_rig

        rig = build_rig(sc, seed=6, num_frames=10, board=p.board, camera=False, lidar=False, cfg_text=cfg,
                        scene="cluttered", motion_seed=0)
        t_floor = rig.world.people[0].describe()["event"]["t_floor_s"]
        assert p.frames_for(sc, 6, cfg, "cluttered", 0, test=True) * 0.1 >= t_floor + 12.0


def _out(t, occupied, falls=(), count=None):
    return {"state": {"occupied": occupied, "count": int(occupied) if count is None else count},
            "events": [{"kind": "fall", "time": t} for _ in falls]}


def test_scoring_alerts_false_alarms_and_presence_timing():
    fall = _trial({"path": "/x/s1.zarr", "scenario": "fall-forward", "subject": "S1",
                   "event": {"kind": "fall", "t_start_s": 2.0, "t_floor_s": 2.8}}, 3.0, 10.0, 0.1, leave=False)
    assert fall.t_start_s == 5.0 and fall.non_fall_s == 2.0 and fall.t_leave_s is None
    for k in range(130):
        t = k * 0.1
        occupied = t >= 3.4 or 1.0 <= t < 1.2  # a 0.2 s phantom before the entry, occupied 0.4 s after it
        _score(fall, t, 0.1, _out(t, occupied, [1] if k in (40, 90, 110) else [],
                                  count=2 if 1.0 <= t < 1.2 or 10.0 <= t < 10.5 else None))  # 4.0 s: before the fall
    assert fall.false_alarms == [4.0] and fall.alert_s == pytest.approx(9.0 - 5.8)
    assert fall.occupied_after_s == pytest.approx(0.4) and fall.phantom_s == pytest.approx(0.2)
    assert fall.repeat_alarms == 1  # the second alarm of the same fall is neither a detection nor a false alarm
    assert fall.extra_people_s == pytest.approx(0.5)  # counted twice for 0.5 s while in the room; not before
    walk = _trial({"path": "/x/s2.zarr", "scenario": "walk", "subject": "S1", "event": {"kind": "none"}},
                  3.0, 20.0, 0.1, leave=True)
    for k in range(300):
        t = k * 0.1
        _score(walk, t, 0.1, _out(t, 3.0 <= t < 27.5, [1] if k == 250 else []))  # 2 s after leaving at 23 s
    assert walk.empty_after_s == pytest.approx(4.5) and walk.non_fall_s == 20.0 and walk.false_alarms == [25.0]
    s = summarise([fall, walk], {"name": "p"}, "test", _Cfg(), {"frames": 430}, "run", 3.0, 35.0)
    assert s["falls"] == {"trials": 1, "detected": 1, "recall": 1.0, "repeat_alarms": 1,
                          "alert_after_floor_s": {"n": 1, "p50": 3.2, "max": 3.2}}
    assert s["false_alarms"]["count"] == 2 and s["false_alarms"]["after_leaving"] == 1
    assert s["presence"]["extra_people_s"] == pytest.approx(0.5)
    assert s["false_alarms"]["non_fall_activity_h"] == pytest.approx(22 / 3600, abs=1e-3)
    assert s["meets"]["recall"] and s["meets"]["alert_s"] and not s["meets"]["non_fall_hours"]
    assert s["meets"]["empty_s"] and s["meets"]["occupied_s"]
    assert meets({**s, "falls": {**s["falls"], "alert_after_floor_s": {"n": 1, "p50": 6, "max": 6}}})["alert_s"] is False


class _Cfg:
    from rfpose.app.monitor.config import EventsConfig, TrackingConfig

    events, tracking = EventsConfig(), TrackingConfig()


def test_leave_trials_are_spread_over_the_scenarios():
    ss = [{"path": f"{sc}{i}", "scenario": sc} for sc in ("walk", "kneel", "wave") for i in range(3)]
    assert _spread(ss, 3) == {"walk0", "kneel0", "wave0"} and len(_spread(ss, 5)) == 5 and len(_spread(ss, None)) == 9


@pytest.fixture(scope="module")
def tiny_falls(tmp_path_factory):
    """A tiny sim-falls-v1 (3 subjects, sit-fast and walk, 6-frame training sessions) and a run trained one
    step on its training subjects."""
    import torch

    d = tmp_path_factory.mktemp("falls")
    data, run = d / "falls", d / "run"
    threads = torch.get_num_threads()
    try:
        assert main(["simulate-dataset", "--preset", "sim-falls-v1", "--out", str(data), "--subjects", "3",
                     "--frames-per-session", "6", "--scenarios", "sit-fast,walk", "--test-takes", "1"]) == 0
        assert main(["train", "--model", "hrradarpose-lite", "--data", str(data / "dataset.zarr"), "--out", str(run),
                     "--epochs", "1", "--limit-train", "1", "--limit-val", "1", "--batch-size", "1",
                     "--threads", "2"]) == 0
    finally:
        torch.set_num_threads(threads)
    return data, run


def test_evaluate_monitor_replays_the_test_subject_through_the_monitor(tiny_falls, tmp_path, capsys):
    import zarr

    data, run = tiny_falls
    root = zarr.open_group(str(data / "dataset.zarr"), mode="r")
    # train and val subjects only (the test subject is replayed raw), each with its empty room
    assert len(root.attrs["sessions"]) == 6
    capsys.readouterr()
    out = tmp_path / "eval.json"
    assert main(["evaluate-monitor", str(run), "--data", str(data), "--pre", "1", "--post", "1.5",
                 "--out", str(out)]) == 0
    table = capsys.readouterr().out
    assert "falls detected (recall)" in table and "false alarms / non-fall activity" in table
    s = json.loads(out.read_text())
    assert s["split"] == "test" and len(s["subjects"]) == 1 and s["falls"]["trials"] == 0
    assert [t["scenario"] for t in s["trials"]] == ["sit-fast", "walk"]
    # 24-frame test sessions (6 x activity factor 4) after 10 empty frames, then 15 empty frames
    assert [t["frames"] for t in s["trials"]] == [49, 49] and s["speed"]["frames"] == 98
    assert s["false_alarms"]["non_fall_activity_s"] == pytest.approx(4.8)
    assert s["presence"]["leaves"] == 2 and s["presence"]["empty_room_s"] == pytest.approx(5.0)
    assert s["speed"]["realtime_factor"] > 0 and s["rules"]["events"]["fall_confirm_s"] == 2.0
    assert main(["evaluate-monitor", str(run), "--data", str(data), "--out", str(out)]) == 2  # exists: --force


def test_evaluate_monitor_without_a_run_tracks_clusters_of_cfar_points(tiny_falls, tmp_path, capsys):
    data, _ = tiny_falls
    capsys.readouterr()
    out = tmp_path / "clusters.json"
    assert main(["evaluate-monitor", "--data", str(data), "--pre", "1", "--post", "1.5", "--out", str(out)]) == 0
    assert "no model: clusters of CFAR points" in capsys.readouterr().out
    s = json.loads(out.read_text())
    assert s["run"] is None and s["rules"]["clusters"]["frames"] == 0 and s["speed"]["frames"] == 98
    # the walking person gives CFAR points (Doppler) in most frames; the empty room, none that cluster
    walk = next(t for t in s["trials"] if t["scenario"] == "walk")
    assert walk["person_frames_missed"] < walk["person_frames"] / 2 and s["presence"]["phantom_s"] == 0


def _every_guess_a_person():
    """Rules under which the one-step model's every best guess is a person (it scores everything low): its
    outputs decide the trials, so a replay that fed the model other windows would differ."""
    from rfpose.app.monitor.config import MonitorConfig, RadarMount

    cfg = MonitorConfig()
    cfg.room.radar = RadarMount(height_m=1.0)
    cfg.model.min_score, cfg.model.max_people = 0.0, 1
    cfg.tracking.birth_score, cfg.tracking.min_z_m, cfg.tracking.max_z_m = 0.0, -10.0, 10.0
    return cfg


def test_replay_with_two_workers_gives_the_single_process_result(tiny_falls):
    from rfpose.app.monitor.evaluate import evaluate_monitor

    data, run = tiny_falls
    one, two = (evaluate_monitor(run, data, _every_guess_a_person(), pre_s=1.0, post_s=1.5, progress=False,
                                 workers=w) for w in (1, 2))
    assert two["speed"]["workers"] == 2 and two["speed"]["frames"] == one["speed"]["frames"] == 98
    assert two["speed"]["cpu_s"] > 0 and one["detections"]["person_frames_missed"] == 0
    assert one["presence"]["entries_never_occupied"] == 0 and one["detections"]["person_score_p50"] > 0
    assert {k: v for k, v in one.items() if k != "speed"} == {k: v for k, v in two.items() if k != "speed"}


def test_every_subject_gets_an_empty_room_with_zero_person_labels_in_its_own_split(tiny_falls):
    """The model must learn to see nobody: each training and validation subject's empty room is in the
    dataset, labelled with no person, under that subject (so in that subject's split)."""
    import numpy as np
    import zarr

    from rfpose.dataset import DatasetReader

    data, _ = tiny_falls
    subject_of = {}
    for path in sorted((data / "sessions").glob("*.zarr")):
        a = zarr.open_group(str(path), mode="r").attrs
        subject_of.setdefault(a["seed"], set()).add(a["subject"])
    assert all(len(v) == 1 for v in subject_of.values()), subject_of  # the empty room is its seed's subject's
    r = DatasetReader(data / "dataset.zarr")
    names = [s["name"] for s in r.attrs["sessions"]]
    joints, sess, split = r.labels("joints"), r.session_index, r.split
    for name in ("seed1-empty", "seed2-empty"):
        rows = sess == names.index(name)
        person = sess == names.index(name.replace("empty", "walk-cluttered"))
        assert rows.sum() == 24 and np.isnan(joints[rows]).all() and np.isfinite(joints[person][:, 0]).all()
        assert set(split[rows]) == set(split[person]) and len(set(split[rows])) == 1
    assert set(split[sess == names.index("seed2-empty")]) == {1}  # val


def test_evaluate_monitor_user_mistakes_are_one_line(tmp_path, capsys):
    (tmp_path / "run").mkdir()
    assert main(["evaluate-monitor", str(tmp_path / "run"), "--data", str(tmp_path)]) == 2
    assert "not a training run" in capsys.readouterr().err
    (tmp_path / "run" / "config.json").write_text("{}")
    assert main(["evaluate-monitor", str(tmp_path / "run"), "--data", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "no preset.json" in err and err.count("\n") == 1


def test_held_out_subjects_are_simulated_alone_with_the_presets_design(tiny_falls, tmp_path, capsys):
    """``--held-out test:SEEDS`` simulates only those subjects, with the sessions the preset gives its test split
    (here the tiny preset's own test subject again: the same sessions), no dataset; evaluate-monitor replays
    them; a second call simulates nothing."""
    import zarr

    data, _ = tiny_falls
    out = tmp_path / "held-out"
    smoke = ["--frames-per-session", "6", "--scenarios", "sit-fast,walk", "--test-takes", "1"]
    capsys.readouterr()
    assert main(["simulate-dataset", "--preset", "sim-falls-v1", "--out", str(out), *smoke, "--held-out", "test:3"]) == 0
    assert json.loads(capsys.readouterr().out)["simulated_now"] == 3
    assert not (out / "dataset.zarr").exists() and json.loads((out / "preset.json").read_text())["test_seeds"] == [3]
    names = sorted(p.name for p in (out / "sessions").glob("*.zarr"))
    assert names == sorted(p.name for p in (data / "sessions").glob("seed3-*.zarr")) and len(names) == 3
    for name in names:
        a, b = (zarr.open_group(str(d / "sessions" / name), mode="r").attrs.asdict() for d in (out, data))
        assert a["config"] == b["config"] and a["subject"] == b["subject"]
    assert main(["evaluate-monitor", "--data", str(out), "--pre", "1", "--post", "1.5", "--out",
                 str(tmp_path / "e.json")]) == 0
    assert json.loads((tmp_path / "e.json").read_text())["subjects"] == [a["subject"]]
    capsys.readouterr()
    assert main(["simulate-dataset", "--preset", "sim-falls-v1", "--out", str(out), *smoke, "--held-out", "test:3"]) == 0
    assert json.loads(capsys.readouterr().out)["simulated_now"] == 0
    before = (data / "preset.json").read_text()  # a full build keeps its preset
    assert main(["simulate-dataset", "--preset", "sim-falls-v1", "--out", str(data), *smoke, "--held-out", "val:7"]) == 2
    assert (data / "preset.json").read_text() == before and not list((data / "sessions").glob("seed7-*"))
