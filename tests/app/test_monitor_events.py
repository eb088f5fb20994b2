"""Events from tracked simulated people: a fall fires (once, with time and confidence) and clears; sitting
down, walking and lying down slowly do not; posture; presence per zone with its off delay; inactivity;
the SQLite log survives a restart."""

import numpy as np
import pytest
from monitor_sim import SIM_MOUNT, detections, sim_skeletons

from rfpose.app.monitor.config import EventsConfig, TrackingConfig, ZoneConfig
from rfpose.app.monitor.detect import Detection
from rfpose.app.monitor.events import EventEngine, posture_of
from rfpose.app.monitor.room import T_room_radar, apply
from rfpose.app.monitor.store import EventStore
from rfpose.app.monitor.tracking import Tracker
from rfpose.sim.scenarios import build_rig

RADAR_XYZ = np.array([0.0, 0.0, SIM_MOUNT.height_m])


def run(joints, t, cfg=EventsConfig(), zones=(), noise=0.03, extra_s=0.0):
    tracker, engine = Tracker(TrackingConfig(), RADAR_XYZ), EventEngine(cfg, list(zones))
    rng = np.random.default_rng(0)
    events = []
    dt = t[1] - t[0]
    n_extra = int(extra_s / dt)
    for k in range(len(t) + n_extra):
        tk = t[0] + k * dt
        dets = detections(joints[k], rng, noise) if k < len(t) else []
        events += engine.update(tk, 1000.0 + tk, tracker.update(tk, dets))
    return events, engine


def test_simulated_fall_alarms_within_the_confirmation_time_of_reaching_the_floor():
    t, joints = sim_skeletons("fall", 12.0)
    events, engine = run(joints, t)
    falls = [e for e in events if e.kind == "fall"]
    assert len(falls) == 1 and falls[0].value is True and 0.5 <= falls[0].confidence <= 1.0
    head = joints[:, 0, 8, 2]
    t_floor = t[np.argmax(head < EventsConfig().floor_height_m)]
    assert 0 < falls[0].time - 1000.0 - t_floor <= EventsConfig().fall_confirm_s + 0.5
    assert engine.state()["fall"] and engine.state()["people"][0]["posture"] == "lying"


def test_the_alarm_clears_once_the_person_has_stood_up_for_recover_s():
    t, joints = sim_skeletons("fall", 12.0)
    up = joints[0, 0] - joints[0, 0, 0] + joints[-1, 0, 0] * [1, 1, 0] + [0, 0, joints[0, 0, 0, 2]]
    more = np.concatenate([joints, np.repeat(up[None, None], 60, axis=0)])  # stands for 6 s
    events, engine = run(more, np.arange(len(more)) * 0.1)
    kinds = [e.kind for e in events if e.kind.startswith("fall")]
    assert kinds == ["fall", "fall_cleared"] and not engine.state()["fall"]
    cleared = [e for e in events if e.kind == "fall_cleared"][0]
    assert cleared.time - 1000.0 >= 12.0 + EventsConfig().recover_s - 0.1


def test_sitting_down_and_walking_are_not_falls():
    for scenario, seed in (("walk-sit", 1), ("walk-sit", 2), ("walk", 3), ("random-poses", 4)):
        t, joints = sim_skeletons(scenario, 20.0, seed=seed)
        events, engine = run(joints, t)
        assert not [e for e in events if e.kind == "fall"], scenario
        if scenario == "walk-sit":
            assert engine.state()["people"][0]["posture"] == "sitting"
            postures = [e.value for e in events if e.kind == "posture"]
            assert postures[0] == "standing" and postures[-1] == "sitting"


#: the fall rule on the head alone (the default) and on the torso's mean height with its floor threshold
FALL_HEIGHTS = {"head": EventsConfig(), "torso": EventsConfig(fall_height="torso", floor_height_m=0.6)}


@pytest.mark.parametrize("height", FALL_HEIGHTS)
@pytest.mark.parametrize("scenario", ["fall-forward", "fall-backward", "fall-sideways", "slump"])
def test_every_kind_of_simulated_fall_alarms_within_5_s_of_reaching_the_floor(scenario, height):
    for seed in (1, 2, 3):
        rig = build_rig(scenario, seed=seed, num_frames=250, board="awr1843boost", camera=False, lidar=False)
        t = np.arange(0, 25, 0.1)
        joints = apply(T_room_radar(SIM_MOUNT), rig.ground_truth(t))
        truth = rig.world.people[0].describe()["event"]
        events, _ = run(joints, t, FALL_HEIGHTS[height])
        falls = [e for e in events if e.kind == "fall"]
        assert len(falls) == 1, (scenario, seed)
        assert 0 < falls[0].time - 1000.0 - truth["t_floor_s"] <= 5.0
        assert falls[0].detail["slow"] == (scenario == "slump")


@pytest.mark.parametrize("cfg", [EventsConfig(head_median_s=1.0), FALL_HEIGHTS["torso"]], ids=["head-median", "torso"])
def test_a_pose_models_jumping_head_still_gives_the_fall(cfg):
    """A pose model's head on a person lying on the floor jumps to standing height in many frames (measured on
    sim-falls-v1's validation subject: 0.3-1.5 m): each frame's head cancels the fall candidate again and
    again. The median over ``head_median_s`` (1 s) confirms it within 5 s of the floor, and so does the torso's
    mean height, which one jumping joint moves a fifth as far."""
    rig = build_rig("fall-forward", seed=2, num_frames=200, board="awr1843boost", camera=False, lidar=False)
    t = np.arange(0, 20, 0.1)
    joints = apply(T_room_radar(SIM_MOUNT), rig.ground_truth(t))
    t_floor = rig.world.people[0].describe()["event"]["t_floor_s"]
    jumps = (t > t_floor) & (np.random.default_rng(1).random(len(t)) < 0.4)
    joints[jumps, 0, 8, 2] = 1.5
    assert not [e for e in run(joints, t)[0] if e.kind == "fall"]
    falls = [e for e in run(joints, t, cfg)[0] if e.kind == "fall"]
    assert len(falls) == 1 and 0 < falls[0].time - 1000.0 - t_floor <= 5.0


@pytest.mark.parametrize("height", FALL_HEIGHTS)
@pytest.mark.parametrize("scenario", ["sit-fast", "lie-down", "bend-pick", "kneel"])
def test_confounders_are_not_falls(scenario, height):
    for seed in (1, 2, 3):
        rig = build_rig(scenario, seed=seed, num_frames=250, board="awr1843boost", camera=False, lidar=False)
        t = np.arange(0, 25, 0.1)
        events, engine = run(apply(T_room_radar(SIM_MOUNT), rig.ground_truth(t)), t, FALL_HEIGHTS[height])
        assert not [e for e in events if e.kind == "fall"], (scenario, seed)
    if scenario == "lie-down":
        assert engine.state()["people"][0]["posture"] == "lying"  # on the bed


def test_presence_per_zone_with_off_delay_and_exclusion():
    t, joints = sim_skeletons("walk", 20.0, seed=3)
    near = ZoneConfig("near", [[0.0, -5.0], [3.0, -5.0], [3.0, 5.0], [0.0, 5.0]])
    far = ZoneConfig("far", [[3.0, -5.0], [9.0, -5.0], [9.0, 5.0], [3.0, 5.0]])
    excl = ZoneConfig("fan", [[20, 20], [21, 20], [21, 21]], exclusion=True)
    cfg = EventsConfig(presence_off_s=3.0)
    events, engine = run(joints, t, cfg, [near, far, excl], extra_s=8.0)
    room = [(e.time - 1000.0, e.value) for e in events if e.kind == "presence" and e.zone is None]
    assert room[0][1] is True and room[0][0] <= 1.0  # occupied within 1 s of the person appearing
    assert room[-1][1] is False and 20.0 + 3.0 - 0.2 <= room[-1][0] <= 20.0 + 2.0 + 3.0 + 0.2  # death_s + off delay
    in_near = (joints[:, 0, 0, 0] < 3.0)
    zones = {e.zone for e in events if e.kind == "presence" and e.zone}
    assert zones == ({"near"} if in_near.all() else {"far"} if not in_near.any() else {"near", "far"})
    assert "fan" not in engine.state()["zones"]


def test_inactivity_after_the_configured_time():
    t, joints = sim_skeletons("walk-sit", 40.0, seed=1)
    events, _ = run(joints, t, EventsConfig(inactivity_s=10.0))
    inact = [e for e in events if e.kind == "inactivity"]
    sat = t[np.argmax(joints[:, 0, 0, 2] < 0.6)]
    assert len(inact) == 1 and inact[0].time - 1000.0 >= sat + 10.0 - 1.0


def test_posture_rule_on_simple_skeletons():
    stand = np.zeros((15, 3))
    stand[:, 2] = np.linspace(0.1, 1.7, 15)
    stand[0, 2], stand[8, 2] = 1.0, 1.75
    assert posture_of(stand, 1.75)[0] == "standing"
    sit = stand.copy()
    sit[0, 2], sit[8, 2] = 0.5, 1.25
    assert posture_of(sit, 1.25)[0] == "sitting"
    lie = stand.copy()
    lie[8] = [0.8, 0, 0.3]
    lie[0] = [0, 0, 0.25]
    assert posture_of(lie, 0.3)[0] == "lying"
    assert posture_of(None, 1.7)[0] == "standing" and posture_of(None, 0.4)[0] == "lying"


def test_event_log_persists_across_restarts(tmp_path):
    t, joints = sim_skeletons("fall", 12.0)
    events, _ = run(joints, t)
    store = EventStore(tmp_path / "events.sqlite")
    store.add(events)
    store.close()
    again = EventStore(tmp_path / "events.sqlite")
    got = again.recent(1000)
    assert len(got) == len(events) and got[0]["kind"] == events[-1].kind
    assert [g["kind"] for g in again.recent(5, kinds=("fall",))] == ["fall"]
    assert again.recent(1, kinds=("fall",))[0]["confidence"] == [e for e in events if e.kind == "fall"][0].confidence


def _cluster_descent(move_again_s: float | None):
    """A point cluster as the model-free path sees a fall: a person walks in (top 1.1 m), the top drops to
    0.6 m in 0.3 s (the last pooled points still hold the descent, above a 0.55 m floor), then no point at
    all (lying still: no Doppler) — or, with ``move_again_s``, points again after that long (someone who knelt
    and moves on)."""
    times, frames = [], []
    for k in range(30):  # walks 1.5 m in 3 s
        frames.append((np.array([2.0 + 0.05 * k, 0.0, 0.8]), 1.1))
    for k in range(1, 4):
        frames.append((np.array([3.5, 0.0, 0.8 - 0.1 * k]), 1.1 - k * 0.5 / 3))
    frames += [None] * int(round((move_again_s or 12.0) * 10))
    if move_again_s is not None:
        frames += [(np.array([3.5 + 0.05 * k, 0.0, 0.5]), 0.6) for k in range(40)]
    for k, f in enumerate(frames):
        times.append(0.1 * k)
    dets = [[] if f is None else [Detection(f[0], f[1], 0.8, None, True, radar_xyz=f[0] - RADAR_XYZ)]
            for f in frames]
    return np.array(times), dets


@pytest.mark.parametrize("still_fall_s", [0.0, 5.0])
def test_a_fall_that_ends_motionless_alarms_after_still_fall_s(still_fall_s):
    """The model-free path loses a person lying still after a fall (no Doppler, no points), and the last
    points, pooled over the descent, stay above the floor: ``still_fall_s`` turns the fast descent to below
    ``still_floor_m`` followed by that long without any detection into the fall. A person who moves again
    within it (kneeling to look under the bed) gives none, nor does the rule when off."""
    cfg = EventsConfig(floor_height_m=0.55, fall_drop_m=0.5, still_fall_s=still_fall_s)
    tracking = TrackingConfig(floor_death_s=10.0, floor_top_m=0.8)
    for move_again_s in (None, 3.0):
        t, dets = _cluster_descent(move_again_s)
        tracker, engine = Tracker(tracking, RADAR_XYZ), EventEngine(cfg, [])
        events = [e for k, tk in enumerate(t) for e in engine.update(tk, 1000.0 + tk, tracker.update(tk, dets[k]))]
        falls = [e for e in events if e.kind == "fall"]
        if still_fall_s and move_again_s is None:
            assert len(falls) == 1 and falls[0].detail["motionless"] and falls[0].detail["drop_m"] >= 0.5
            assert falls[0].time - 1000.0 == pytest.approx(3.3 + still_fall_s, abs=0.15)
        else:
            assert falls == [], (still_fall_s, move_again_s)


def test_fall_centre_m_holds_the_alarm_while_the_persons_centre_is_high():
    """A cluster's top can drop when only its low points move (a leg lifted, then still) while its centroid
    stays up; with ``fall_centre_m`` the alarm needs the centre (the pelvis, a cluster's centroid) low too."""
    t, dets = _cluster_descent(None)  # the centroid ends at 0.5 m
    tracking = TrackingConfig(floor_death_s=10.0, floor_top_m=0.8)
    for centre, alarms in ((0.0, 1), (0.6, 1), (0.45, 0)):
        cfg = EventsConfig(floor_height_m=0.55, fall_drop_m=0.5, still_fall_s=5.0, fall_centre_m=centre)
        tracker, engine = Tracker(tracking, RADAR_XYZ), EventEngine(cfg, [])
        events = [e for k, tk in enumerate(t) for e in engine.update(tk, 1000.0 + tk, tracker.update(tk, dets[k]))]
        assert len([e for e in events if e.kind == "fall"]) == alarms, centre


def test_a_track_lost_beside_someone_on_their_feet_raises_no_alarm():
    """A person's points can leave their track for a moment (a low pose; clutter their body shadows) while a
    new track picks them up beside it, standing. The old track, coasting with its low top, is that person:
    its fall candidate is dropped, and stays dropped after the new track walks away. Alone, the same
    coasting track alarms."""
    from rfpose.app.monitor.tracking import Track

    cfg = EventsConfig(floor_height_m=0.55, fall_drop_m=0.5)

    def track(i, xy, z, top, t_update):
        return Track(i, np.array([xy[0], xy[1], 0.0, 0.0]), np.eye(4), 0.0, t_update, z, top, 0.8, confirmed=True)

    for beside in (False, True):
        engine, falls = EventEngine(cfg, []), []
        for k in range(120):
            t = 0.1 * k
            if k < 30:  # standing, then its top drops to 0.45 m in 0.3 s, then no detection
                first = track(1, (3.0, 0.0), 0.8, 1.1, t)
            elif k < 33:
                first = track(1, (3.0, 0.0), 0.8 - 0.1 * (k - 29), 1.1 - 0.65 * (k - 29) / 3, t)
            else:
                first.t_update = 3.2
            tracks = [first]
            if beside and k >= 36:  # found again standing, 0.5 m away; from 6 s on it walks off
                tracks.append(track(2, (3.0 + max(0.0, t - 6.0), 0.5), 0.9, 1.2, t))
            falls += [e for e in engine.update(t, 1000.0 + t, tracks) if e.kind == "fall"]
        assert len(falls) == (0 if beside else 1), beside


def test_seen_within_s_holds_the_alarm_of_a_person_no_longer_detected():
    """With minor-motion points someone lying still after a fall stays detected; ``seen_within_s`` makes the
    alarm need that: a fall candidate whose track lost its detections (or died) waits, and alarms once the
    person is seen on the floor again."""
    from rfpose.app.monitor.tracking import Track

    def track(xy_z_top, t_update):
        (x, y, z), top = xy_z_top
        return Track(1, np.array([x, y, 0.0, 0.0]), np.eye(4), 0.0, t_update, z, top, 0.8, confirmed=True)

    # the top is under the 0.55 m floor at 3.2 s; confirmation 2 s (the default)
    for seen_within_s, seen_again_s, alarm_at in ((0.0, None, 5.2), (1.0, None, None), (1.0, 6.0, 6.0)):
        cfg = EventsConfig(floor_height_m=0.55, fall_drop_m=0.5, seen_within_s=seen_within_s)
        engine, falls, last = EventEngine(cfg, []), [], 0.0
        for k in range(100):
            t = 0.1 * k
            if k < 30:
                pose = ((3.0, 0.0, 0.8), 1.1)
            elif k < 33:
                pose = ((3.0, 0.0, 0.8 - 0.1 * (k - 29)), 1.1 - 0.65 * (k - 29) / 3)
            if k < 33 or (seen_again_s is not None and t >= seen_again_s):
                last = t  # detected this frame
            falls += [t for e in engine.update(t, 1000.0 + t, [track(pose, last)]) if e.kind == "fall"]
        if alarm_at is None:
            assert falls == [], seen_within_s
        else:
            assert len(falls) == 1 and falls[0] == pytest.approx(alarm_at, abs=0.05), (seen_within_s, falls)


@pytest.mark.parametrize("beside, weak, alarms", [(True, True, 0), (True, False, 1), (False, True, 1)])
def test_a_superseded_track_stays_so_through_weak_detections(beside, weak, alarms):
    """A walker's old track, coasting beside them, can pick up minor-motion points at floor level behind
    them: the clutter their body shadows. Those weak detections do not make it a person again, and its top
    "falling" to the floor raises nothing; a Doppler detection there does, and so do weak detections of a
    track nobody stands beside (someone lying still after a fall, seen only by their breathing)."""
    from rfpose.app.monitor.tracking import Track

    cfg = EventsConfig(floor_height_m=0.55, fall_drop_m=0.5)
    old = Track(1, np.array([3.0, 0.0, 0.0, 0.0]), np.eye(4), 0.0, 0.0, 0.9, 1.2, 0.8, confirmed=True)
    engine, falls = EventEngine(cfg, []), []
    for k in range(100):
        t = 0.1 * k
        if k < 30:  # detected by its Doppler points
            old.t_update = old.t_strong = t
        elif k >= 36:  # from 3.6 s on, points at floor level where it coasts
            old.z, old.top_z, old.t_update = 0.2, 0.25, t
            if not weak:
                old.t_strong = t
        tracks = [old]
        if beside and k >= 30:  # the walker under a new track, 0.6 m away
            tracks.append(Track(2, np.array([3.0 + 0.6, 0.0, 0.0, 0.0]), np.eye(4), 3.0, t, 0.9, 1.2, 0.8,
                                confirmed=True, t_strong=t))
        falls += [e for e in engine.update(t, 1000.0 + t, tracks) if e.kind == "fall"]
    assert len(falls) == alarms
