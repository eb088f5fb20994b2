"""Tracking on simulated people: stable ids, births and deaths with hysteresis, no ghosts from static clutter,
no phantom at the sensor, room boundary and exclusion zones."""

import numpy as np
from monitor_sim import SIM_MOUNT, detections, sim_skeletons

from rfpose.app.monitor.config import TrackingConfig
from rfpose.app.monitor.detect import Detection
from rfpose.app.monitor.tracking import Tracker

RADAR = np.array([0.0, 0.0, SIM_MOUNT.height_m])


def _static(xy, z=1.0, moving=False):
    p = np.array([xy[0], xy[1], z])
    return Detection(p, z + 0.3, 0.8, None, moving, radar_xyz=p - RADAR)


def _skeleton_at(xy, score, z=0.9):
    """A pose model's detection: a (crude) upright skeleton with its pelvis at (x, y, z)."""
    p = np.array([xy[0], xy[1], z])
    joints = p + np.linspace([0, 0, -0.9], [0, 0, 0.8], 15)
    return Detection(p, z + 0.8, score, joints, radar_xyz=p - RADAR)


def test_a_walking_person_gets_one_stable_id_within_a_second():
    t, joints = sim_skeletons("walk", 20.0, seed=3)
    rng = np.random.default_rng(0)
    tr = Tracker(TrackingConfig(), RADAR)
    ids, first = set(), None
    for k, tk in enumerate(t):
        out = tr.update(tk, detections(joints[k], rng, noise_m=0.08) if rng.random() > 0.1 else [])  # 10 % misses
        ids |= {x.id for x in out}
        if out and first is None:
            first = tk
        if out:
            assert np.linalg.norm(out[0].position[:2] - joints[k, 0, 0, :2]) < 0.35
    assert ids == {1} and first <= 1.0


def test_static_clutter_never_becomes_a_person_but_a_person_who_sits_still_stays():
    cfg = TrackingConfig()
    tr = Tracker(cfg, RADAR)
    rng = np.random.default_rng(1)
    t, joints = sim_skeletons("walk-sit", 30.0, seed=2)
    fan = np.array([2.0, 1.5])
    for k, tk in enumerate(t):
        dets = detections(joints[k], rng, 0.05) + [_static(fan + rng.normal(0, 0.05, 2))]
        out = tr.update(tk, dets)
    assert len(out) == 1 and out[0].id == 1  # the sitting person, still tracked; the fan never confirmed
    assert np.linalg.norm(out[0].position[:2] - joints[-1, 0, 0, :2]) < 0.3
    assert tr.rejected["clutter"] > 0


def test_lost_target_coasts_then_dies_and_is_never_reset_to_the_sensor():
    tr = Tracker(TrackingConfig(death_s=2.0), RADAR)
    t, joints = sim_skeletons("walk", 4.0, seed=4)
    for k, tk in enumerate(t):
        tr.update(tk, detections(joints[k]))
    last = tr.confirmed[0].position.copy()
    seen = []
    for k in range(1, 40):  # detections vanish; a sensor resetting its target reports (0, 0)
        out = tr.update(t[-1] + 0.1 * k, [_static((0.0, 0.0), z=1.0, moving=True)])
        seen += [x.position for x in out]
    assert tr.rejected["origin"] >= 39
    assert all(np.linalg.norm(p[:2]) > 1.0 and np.linalg.norm(p[:2] - last[:2]) < 1.0 for p in seen)
    assert len(seen) <= 21 and tr.confirmed == [] and tr.tracks == []  # dead after death_s, nothing born at 0


def _down_after_walking(cfg: TrackingConfig, top_z: float, frames: int) -> tuple[Tracker, float]:
    """A tracker that followed a walking person, then ``frames`` detections (10 Hz) of them down on the floor
    where last seen, with the top at ``top_z``; → (the tracker, the time of the last of them)."""
    t, joints = sim_skeletons("walk", 4.0, seed=4)
    tr = Tracker(cfg, RADAR)
    for k, tk in enumerate(t):
        tr.update(tk, detections(joints[k]))
    p = np.array([*tr.confirmed[0].position[:2], 0.2])
    for k in range(1, frames + 1):
        tr.update(t[-1] + 0.1 * k, [Detection(p, top_z, 0.8, None, False, radar_xyz=p - RADAR)])
    return tr, t[-1] + 0.1 * frames


def test_a_person_last_seen_on_the_floor_outlives_death_s_only_with_floor_death_s():
    """Lying still gives no Doppler: with ``floor_death_s`` a track whose top was last below ``floor_top_m`` is
    kept that long without detections; one lost at standing height still dies after ``death_s``."""

    def silent_for(cfg, top_z):
        tr, last = _down_after_walking(cfg, top_z, 5)
        alive = [dt for dt in np.arange(0.1, 30.0, 0.1) if tr.update(last + dt, [])]
        return max(alive, default=0.0)

    floor = TrackingConfig(death_s=2.0, floor_death_s=20.0, floor_top_m=0.7)
    assert 19.8 <= silent_for(floor, top_z=0.35) <= 20.0
    assert 1.8 <= silent_for(floor, top_z=1.1) <= 2.0  # lost standing: not on the floor
    assert 1.8 <= silent_for(TrackingConfig(death_s=2.0), top_z=0.35) <= 2.0  # off by default


def test_one_person_lying_detected_at_two_ends_is_one_track():
    """A person walks, goes down and lies still; their track coasts while their feet, 1 m away, start moving on
    the floor and become a second confirmed track. With ``lying_merge_m`` the two are one person: one track,
    the first id, at the detected end. A track coasting at standing height is never joined so."""

    def tracks_after(cfg, top_z):
        tr, last = _down_after_walking(cfg, top_z, 15)  # until the track has stopped
        feet = tr.confirmed[0].position[:2] + [0.0, 1.0]  # beyond the track's gate
        out = []
        for k in range(1, 21):  # the feet shuffle 0.5 m over 2 s; the upper body gives nothing
            p = np.array([*(feet + [0.025 * k, 0.0]), 0.15])
            out = tr.update(last + 0.1 * k, [Detection(p, 0.3, 0.8, None, True, radar_xyz=p - RADAR)])
        return out, feet

    floor = dict(death_s=2.0, floor_death_s=20.0, floor_top_m=0.7)
    out, feet = tracks_after(TrackingConfig(**floor), top_z=0.35)
    assert [x.id for x in out] == [1] and np.linalg.norm(out[0].position[:2] - feet - [0.5, 0.0]) < 0.2
    assert sorted(x.id for x in tracks_after(TrackingConfig(**floor, lying_merge_m=0.0), top_z=0.35)[0]) == [1, 2]
    # the first track coasting at standing height (someone beside a person lying): two people
    assert sorted(x.id for x in tracks_after(TrackingConfig(**floor | {"death_s": 5.0}), top_z=1.1)[0]) == [1, 2]


def test_boundary_and_exclusion_zone_drop_ghosts():
    boundary = np.array([[0, -3], [6, -3], [6, 3], [0, 3]], float)
    fan_zone = np.array([[3, -1], [4, -1], [4, 1], [3, 1]], float)
    tr = Tracker(TrackingConfig(), RADAR, boundary, [fan_zone])
    rng = np.random.default_rng(2)
    for k in range(100):
        ghost = _static((7.5 + 0.3 * np.sin(k / 5), 0.5 * np.cos(k / 7)), moving=True)  # multipath behind the wall
        fan = _static((3.5 + rng.normal(0, 0.2), rng.normal(0, 0.2)), moving=True)
        assert tr.update(0.1 * k, [ghost, fan]) == []
    assert tr.rejected["outside"] == 100 and tr.rejected["excluded"] == 100


def test_two_people_keep_their_ids_and_a_duplicate_detection_is_not_a_third():
    t, joints = sim_skeletons("two-people", 15.0, seed=5)
    tr = Tracker(TrackingConfig(), RADAR)
    rng = np.random.default_rng(3)
    for k, tk in enumerate(t):
        dets = detections(joints[k], rng, 0.05)
        dets.append(Detection(dets[0].position + [0.15, 0.1, 0], 1.7, 0.5, None, radar_xyz=dets[0].radar_xyz))
        out = tr.update(tk, dets)
    assert sorted(x.id for x in out) == [1, 2]
    for x in out:
        d = min(np.linalg.norm(x.position[:2] - joints[-1, p, 0, :2]) for p in range(2))
        assert d < 0.35


def test_an_hour_of_an_empty_cluttered_room_gives_no_phantom_then_a_person_is_found_within_a_second():
    """36 000 frames: a plant (static), a swaying curtain and a ceiling fan (with Doppler), and stray
    detections anywhere in 30 % of frames; then a person walks in."""
    rng = np.random.default_rng(0)
    tr = Tracker(TrackingConfig(), RADAR)

    def clutter(t):
        dets = [_static((2.0 + rng.normal(0, .05), 1.5 + rng.normal(0, .05)), z=0.8),
                _static((3.0 + rng.normal(0, .04), -2.0 + 0.05 * np.sin(t)), z=1.2, moving=True),
                _static((2.5 + rng.normal(0, .05), rng.normal(0, .05)), z=2.4, moving=True)]
        if rng.random() < 0.3:
            stray = _static((rng.uniform(0.5, 6), rng.uniform(-3, 3)), z=rng.uniform(0.2, 1.5), moving=rng.random() < .5)
            stray.score = 0.4
            dets.append(stray)
        return dets

    hour = 36_000
    for k in range(hour):
        assert tr.update(k * 0.1, clutter(k * 0.1)) == [], f"phantom at {k * 0.1:.1f} s"
    t, joints = sim_skeletons("walk", 10.0, seed=8)
    found = None
    for k, tk in enumerate(t):
        out = tr.update((hour + k) * 0.1, clutter(tk) + detections(joints[k], rng, 0.05))
        if out and found is None:
            found = tk
    assert found is not None and found <= 1.0 and [x.id for x in out] == [1]


def test_a_person_who_stands_still_is_confirmed_by_confident_skeletons_but_a_static_cluster_is_not():
    """People in the simulator appear without walking in (wave, random poses): a pose model's confident
    skeletons confirm them without motion; a point cluster standing as still needs motion (its score counts
    points, not people); skeletons scored below ``birth_score`` need motion too."""
    t, joints = sim_skeletons("wave", 5.0, seed=3)
    assert np.ptp(joints[:, 0, 0, :2], axis=0).max() < 0.25  # standing on the spot
    for score, skeleton, born in ((0.8, True, True), (0.8, False, False), (0.5, True, False)):
        tr, rng, first = Tracker(TrackingConfig(birth_score=0.6), RADAR), np.random.default_rng(4), None
        for k, tk in enumerate(t):
            d = detections(joints[k], rng, 0.03)[0]
            d.score, d.joints = score, d.joints if skeleton else None
            if tr.update(tk, [d]) and first is None:
                first = tk
        assert (first is not None) == born, (score, skeleton)
        if born:
            assert first <= 0.5 and [x.id for x in tr.confirmed] == [1]


def test_birth_doppler_confirms_a_cluster_that_keeps_moving_in_place_and_a_curtain_needs_its_exclusion_zone():
    """``birth_doppler_s``: a cluster that shows motion (Doppler) in every detection for that long is a person
    waving in place, confirmed without walking; one that stops showing it is not; a swaying curtain shows it
    too, so it becomes a track unless an exclusion zone covers it (and the stray detections of the hour test
    never persist that long)."""
    cfg = TrackingConfig(birth_doppler_s=0.5)
    for moving, born in ((True, True), (False, False)):
        tr, rng, first = Tracker(cfg, RADAR), np.random.default_rng(5), None
        for k in range(30):
            d = _static((3.0 + rng.normal(0, .03), 0.5 + rng.normal(0, .03)), moving=moving or k < 2)
            if tr.update(k * 0.1, [d]) and first is None:
                first = k * 0.1
        assert (first is not None) == born and (not born or first <= 0.6)
    rng = np.random.default_rng(6)
    curtain = np.array([[2.7, -2.3], [3.3, -2.3], [3.3, -1.7], [2.7, -1.7]])

    def clutter(t):
        dets = [_static((3.0 + rng.normal(0, .04), -2.0 + 0.05 * np.sin(t)), z=1.2, moving=True)]
        if rng.random() < 0.3:
            dets.append(_static((rng.uniform(0.5, 6), rng.uniform(-3, 3)), z=rng.uniform(0.2, 1.5),
                                moving=rng.random() < .5))
        return dets

    open_room, zoned = Tracker(cfg, RADAR), Tracker(cfg, RADAR, exclusions=[curtain])
    phantom = 0
    for k in range(6000):  # ten minutes
        dets = clutter(k * 0.1)
        phantom += bool(open_room.update(k * 0.1, dets))
        assert zoned.update(k * 0.1, dets) == [], f"phantom at {k * 0.1:.1f} s"
    assert phantom > 5000  # the curtain, from its first half second on


def test_an_hour_of_a_pose_models_ghosts_in_an_empty_room_gives_no_phantom():
    """36 000 frames of what a pose model trained with empty rooms gives in one: skeletons at the plant and
    the fan scored under ``birth_score``, stray skeletons anywhere, and now and then a confident blip of one or
    two frames; then a person who stands still is found within a second."""
    rng = np.random.default_rng(5)
    cfg = TrackingConfig()
    tr = Tracker(cfg, RADAR)
    blip = {"left": 0, "xy": None}

    def ghosts():
        dets = [_skeleton_at((2.0 + rng.normal(0, .05), 1.5 + rng.normal(0, .05)), rng.uniform(0.3, 0.55)),
                _skeleton_at((3.0 + rng.normal(0, .1), -2.0 + rng.normal(0, .1)), rng.uniform(0.3, 0.5))]
        if rng.random() < 0.3:
            dets.append(_skeleton_at((rng.uniform(0.5, 6), rng.uniform(-3, 3)), rng.uniform(0.3, 0.59)))
        if blip["left"] == 0 and rng.random() < 0.01:  # a confident ghost for one or two frames
            blip.update(left=int(rng.integers(1, 3)), xy=(rng.uniform(1, 5), rng.uniform(-2, 2)))
        if blip["left"]:
            blip["left"] -= 1
            dets.append(_skeleton_at(blip["xy"], rng.uniform(cfg.birth_score, 1.0)))
        return dets

    hour = 36_000
    for k in range(hour):
        assert tr.update(k * 0.1, ghosts()) == [], f"phantom at {k * 0.1:.1f} s"
    t, joints = sim_skeletons("wave", 5.0, seed=9)
    found = None
    for k, tk in enumerate(t):
        out = tr.update((hour + k) * 0.1, ghosts() + detections(joints[k], rng, 0.05))
        if out and found is None:
            found = tk
    assert found is not None and found <= 1.0 and len(out) == 1
    assert np.linalg.norm(out[0].position[:2] - joints[-1, 0, 0, :2]) < 0.3


def test_weak_skeletons_keep_a_confirmed_person_but_never_start_one():
    """A person who falls and lies still: the model's scores drop under ``min_score``. Weak detections
    (``sustain_score`` ≤ score < ``min_score``) keep the confirmed track alive past ``death_s``; the same weak
    detections alone, in an empty room, never start a track."""
    cfg = TrackingConfig(birth_score=0.6, death_s=2.0)

    def weak_at(xy, rng):
        d = _skeleton_at((xy[0] + rng.normal(0, .03), xy[1] + rng.normal(0, .03)), 0.2, z=0.2)
        d.weak = True
        return d

    for weak_after in (True, False):
        tr, rng = Tracker(cfg, RADAR), np.random.default_rng(6)
        for k in range(20):  # standing, confident: confirmed
            tr.update(k * 0.1, [_skeleton_at((3.0, 0.5), 0.8)])
        assert [x.id for x in tr.confirmed] == [1]
        for k in range(20, 120):  # 10 s on the floor
            tr.update(k * 0.1, [weak_at((3.1, 0.6), rng)] if weak_after else [])
        assert ([x.id for x in tr.confirmed] == [1]) == weak_after
        if weak_after:
            assert tr.confirmed[0].z < 0.4  # the track follows the person down

    tr, rng = Tracker(cfg, RADAR), np.random.default_rng(7)
    for k in range(3000):  # 5 min of weak skeletons at one spot in an empty room
        assert tr.update(k * 0.1, [weak_at((2.0, -1.0), rng)]) == []
    assert not tr.tracks


def test_the_estimator_marks_skeletons_under_min_score_weak_only_with_sustain_score():
    import types

    from rfpose.app.monitor.config import ModelConfig
    from rfpose.app.monitor.detect import SkeletonEstimator

    pipeline = types.SimpleNamespace(model=types.SimpleNamespace(spec=types.SimpleNamespace(skeleton="rtpose15")))
    joints = np.stack([np.linspace([2.0, 0, -0.9], [2.0, 0, 0.8], 15)] * 3)
    scores = np.array([0.8, 0.2, 0.05])
    for sustain, expect in ((None, [(0.8, False)]), (0.1, [(0.8, False), (0.2, True)])):
        est = SkeletonEstimator(ModelConfig(min_score=0.3, sustain_score=sustain), {}, np.eye(4), pipeline=pipeline)
        assert [(round(d.score, 2), d.weak) for d in est.from_skeletons(joints, scores)] == expect


def test_a_person_s_own_detection_wins_over_a_weak_one_nearer_the_track():
    """A confirmed track with a weak detection (a cluster of minor-motion points only: what the person's body
    shadowed) 0.1 m from its prediction and the person's Doppler cluster 0.3 m away takes the person's; the
    weak one starts nothing. Alone, the weak one keeps the track."""
    tr = Tracker(TrackingConfig(), RADAR)
    for k in range(20):
        tr.update(k * 0.1, [_static((2.0 + 0.05 * k, 0.0), moving=True)])
    assert [x.id for x in tr.confirmed] == [1]
    x0 = tr.confirmed[0].x[:2].copy()
    weak = _static(x0 + [0.1, 0.0], z=0.3)
    weak.weak = True
    for k in range(20, 30):
        tr.update(k * 0.1, [weak, _static(x0 + [0.0, 0.3], moving=True)])
    assert [x.id for x in tr.confirmed] == [1] and len(tr.tracks) == 1
    assert tr.confirmed[0].x[1] > 0.2 and tr.confirmed[0].z > 0.6
    for k in range(30, 60):
        tr.update(k * 0.1, [weak])
    assert [x.id for x in tr.confirmed] == [1] and tr.confirmed[0].z < 0.4


def test_a_weak_detection_updates_a_track_but_is_not_its_last_strong_one():
    """``t_strong`` (the events' superseded rule reads it) moves with detections that are not weak only:
    minor-motion points alone keep a track alive without it."""
    tr = Tracker(TrackingConfig(), RADAR)
    for k in range(12):  # walks in with Doppler: confirmed
        tr.update(0.1 * k, [_static((2.0 + 0.06 * k, 0.0), moving=True)])
    (person,) = tr.confirmed
    assert person.t_strong == person.t_update == 0.1 * 11
    weak = _static((2.66, 0.0))
    weak.weak = True
    tr.update(1.2, [weak])
    assert person.t_update == 1.2 and person.t_strong == 0.1 * 11
    tr.update(1.3, [_static((2.66, 0.0), moving=True)])
    assert person.t_strong == 1.3
