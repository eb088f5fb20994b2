"""People tracked with stable ids: a constant-velocity Kalman filter per person on the floor plane (room
frame) and global nearest-neighbour assignment (``scipy.optimize.linear_sum_assignment``, gated).

What users of radar presence sensors complain about, and what this does about it:

- **Ghosts / stale targets**: a track is born *tentative* and confirmed only after ``birth_hits`` detections
  within ``birth_window_s``, each within ``birth_gate_m`` of its prediction (sporadic noise rarely does
  that), **and** after moving ``birth_motion_m`` (mean of its first detections to mean of its last: people
  walk in; a swaying curtain or a fan's Doppler is not displacement) — **or** when its last ``birth_hits``
  detections are a pose model's skeletons all scored at least ``birth_score``: a model trained with
  empty-room frames gives nobody a low score, so its confidence is evidence of its own, and a person who
  stands still (appears in the room without walking) is found. Cluster detections (a device's point cloud:
  the score counts points) still need the motion, unless ``birth_doppler_s`` > 0: then a cluster whose every
  detection showed motion (Doppler) for that long is confirmed too (a person waving in place; a swaying curtain
  as well, so it needs an exclusion zone). A tentative track that stays put for
  ``birth_static_s`` is static clutter: it is dropped and births near it are suppressed for
  ``clutter_memory_s``. A confirmed track may then stand still (people sit and sleep). Detections outside
  the room's boundary (multipath ghosts behind walls), below the floor or too high for a person's pelvis
  (``min_z_m`` … ``max_z_m``: floor bounces, ceiling fans), or inside an exclusion zone are ignored; a new
  detection right next to a confirmed track is a duplicate, not a second person.
- **Phantom hits at the sensor**: detections within ``origin_radius_m`` of the radar are dropped, and a
  track that loses its detections *coasts* on its prediction (its velocity decaying) until ``death_s``,
  then disappears: it is never reset to (0, 0).
- **A person lying still**: a pose model scores them lower than someone standing; with ``sustain_score``
  set (``[model]``), skeletons scored between it and ``min_score`` update a confirmed track (it does not
  die) but never start one, so empty-room blips at those scores stay harmless; so does a cluster of
  minor-motion points alone (no Doppler). In the assignment a weak detection counts ``weak_cost_m`` farther,
  so a person's own detection wins over what their body shadows nearby. Points come from motion
  (Doppler), so someone lying still on the floor may give none: with ``floor_death_s`` > 0 a confirmed track
  whose top was last below ``floor_top_m`` lives that long without detections instead of ``death_s``.
- **One person lying, two tracks**: the moving ends of someone lying on the floor (head and arms, feet) can be
  detected apart, and a track coasting on one end while the other end starts a track would count two people.
  A confirmed track coasting low (top below ``floor_top_m``) within ``lying_merge_m`` of a confirmed track
  detected now, also low, is that person: the two become one, with the older id (its events go on) at the
  detected position.
- **Hysteresis**: births need several hits, deaths need ``death_s`` of silence, so a person does not flicker.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from rfpose.app.monitor.config import TrackingConfig
from rfpose.app.monitor.detect import Detection
from rfpose.app.monitor.room import inside


@dataclass
class Track:
    id: int
    x: np.ndarray  # (4,) state: x, y, vx, vy (m, m/s), room frame
    P: np.ndarray  # (4, 4) covariance
    t_birth: float
    t_update: float
    z: float  # smoothed height of the position (pelvis / centroid), m
    top_z: float  # latest top height (head), m
    score: float
    joints: np.ndarray | None = None  # latest skeleton, room frame (J, 3)
    confirmed: bool = False
    hits: list[float] = field(default_factory=list)  # detection times while tentative
    xys: list[np.ndarray] = field(default_factory=list)  # detected positions while tentative
    skeleton_scores: list[float] = field(default_factory=list)  # their pose-model scores (0: not a skeleton)
    moving: list[bool] = field(default_factory=list)  # whether each showed motion (Doppler) directly
    t_strong: float = -np.inf  # the last detection that was not weak (s)

    def displacement(self, n: int) -> float:
        """How far the median of the last ``n`` tentative detections is from the median of the first ``n``
        (a jittering reflector, or one stray detection, does not look like motion)."""
        return float(np.linalg.norm(np.median(self.xys[-n:], axis=0) - np.median(self.xys[:n], axis=0)))

    @property
    def position(self) -> np.ndarray:
        return np.array([self.x[0], self.x[1], self.z])

    @property
    def velocity(self) -> np.ndarray:
        return self.x[2:4].copy()

    def coasting(self, t: float) -> bool:
        return t - self.t_update > 1e-9

    def to_dict(self, t: float) -> dict:
        return {"id": self.id, "position": [round(float(v), 3) for v in self.position],
                "velocity": [round(float(v), 3) for v in self.velocity], "top_z": round(float(self.top_z), 3),
                "score": round(float(self.score), 3), "coasting": self.coasting(t),
                "joints": None if self.joints is None else np.round(self.joints, 3).tolist()}


class Tracker:
    """Feed :meth:`update` each frame's detections with the frame's time (seconds, monotonic)."""

    def __init__(self, cfg: TrackingConfig, radar_xyz_room: np.ndarray | None = None,
                 boundary: np.ndarray | None = None, exclusions: list[np.ndarray] | None = None):
        self.cfg = cfg
        self.radar_xyz = np.zeros(3) if radar_xyz_room is None else np.asarray(radar_xyz_room, float)
        self.boundary = None if boundary is None or len(boundary) == 0 else np.asarray(boundary, float)
        self.exclusions = [np.asarray(z, float) for z in (exclusions or [])]
        self.tracks: list[Track] = []
        self.clutter: list[tuple[np.ndarray, float]] = []  # (xy, time last seen)
        self.t: float | None = None
        self._next_id = 1
        self.rejected = {"origin": 0, "height": 0, "outside": 0, "excluded": 0, "duplicate": 0, "clutter": 0}

    # ------------------------------------------------------------------------------ public
    @property
    def confirmed(self) -> list[Track]:
        return [tr for tr in self.tracks if tr.confirmed]

    def update(self, t: float, detections: list[Detection]) -> list[Track]:
        """Advance to time ``t`` (s) with this frame's detections; → the confirmed tracks."""
        prev = self.t
        dt = 0.0 if prev is None else max(0.0, t - prev)
        self.t = t
        dets = self._admissible(detections)
        for tr in self.tracks:
            self._predict(tr, dt, coasting=prev is not None and tr.t_update < prev - 1e-9)
        matches, lone_dets = self._assign(dets)
        for ti, di in matches:
            self._correct(self.tracks[ti], dets[di], t)
        for di in lone_dets:
            if not dets[di].weak:
                self._birth(dets[di], t)
        self._join_lying(t)
        self._prune(t)
        return self.confirmed

    # ------------------------------------------------------------------------------ steps
    def _admissible(self, detections: list[Detection]) -> list[Detection]:
        out = []
        for d in detections:
            p = np.asarray(d.position, float)
            if not np.isfinite(p).all():
                continue
            rel = d.radar_xyz if d.radar_xyz is not None else p - self.radar_xyz
            if np.linalg.norm(rel) < self.cfg.origin_radius_m or np.allclose(rel, 0.0):
                self.rejected["origin"] += 1
                continue
            if not self.cfg.min_z_m <= p[2] <= self.cfg.max_z_m:
                self.rejected["height"] += 1
                continue
            if self.boundary is not None and not inside(self.boundary, p[:2])[0]:
                self.rejected["outside"] += 1
                continue
            if any(inside(z, p[:2])[0] for z in self.exclusions):
                self.rejected["excluded"] += 1
                continue
            out.append(d)
        return out

    def _predict(self, tr: Track, dt: float, coasting: bool) -> None:
        if dt <= 0:
            return
        F = np.eye(4)
        F[0, 2] = F[1, 3] = dt
        q = self.cfg.process_noise ** 2
        G = np.array([[dt * dt / 2, 0], [0, dt * dt / 2], [dt, 0], [0, dt]])
        tr.x = F @ tr.x
        tr.P = F @ tr.P @ F.T + G @ G.T * q
        if coasting:  # without measurements a lost person is assumed to slow down, not to walk through walls
            tr.x[2:] *= np.exp(-dt / 0.5)

    def _assign(self, dets: list[Detection]) -> tuple[list[tuple[int, int]], list[int]]:
        if not self.tracks or not dets:
            return [], list(range(len(dets)))
        pred = np.array([tr.x[:2] for tr in self.tracks])
        meas = np.array([d.position[:2] for d in dets])
        cost = np.linalg.norm(pred[:, None] - meas[None], axis=2)
        # confirmed tracks win ties against tentative ones, which have a tighter gate
        confirmed = np.array([tr.confirmed for tr in self.tracks])
        cost = cost + np.where(confirmed, 0.0, 0.05)[:, None]
        gate = np.where(confirmed, self.cfg.gate_m, self.cfg.birth_gate_m + 0.05)[:, None]
        big = 1e6
        weak = np.array([d.weak for d in dets])
        gated = np.where(cost <= gate, cost + np.where(weak, self.cfg.weak_cost_m, 0.0)[None, :], big)
        in_clutter = self._in_clutter(meas, refresh=False)
        gated[np.ix_(~confirmed, in_clutter)] = big  # clutter only feeds people already confirmed
        gated[np.ix_(~confirmed, weak)] = big  # and so do weak detections
        rows, cols = linear_sum_assignment(gated)
        matches = [(r, c) for r, c in zip(rows, cols) if gated[r, c] < big]
        used = {c for _, c in matches}
        return matches, [i for i in range(len(dets)) if i not in used]

    def _correct(self, tr: Track, d: Detection, t: float) -> None:
        H = np.zeros((2, 4))
        H[0, 0] = H[1, 1] = 1.0
        R = np.eye(2) * self.cfg.measurement_noise_m ** 2
        y = d.position[:2] - H @ tr.x
        S = H @ tr.P @ H.T + R
        K = tr.P @ H.T @ np.linalg.inv(S)
        tr.x = tr.x + K @ y
        tr.P = (np.eye(4) - K @ H) @ tr.P
        a = 0.5
        tr.z = a * d.position[2] + (1 - a) * tr.z
        tr.top_z = d.top_z
        tr.score = 0.7 * tr.score + 0.3 * d.score
        tr.joints = d.joints
        tr.t_update = t
        if not d.weak:
            tr.t_strong = t
        if not tr.confirmed:
            tr.hits.append(t)
            tr.xys.append(np.asarray(d.position[:2], float))
            tr.skeleton_scores.append(_skeleton_score(d))
            tr.moving.append(d.moving)
            self._maybe_confirm(tr, t)

    def _maybe_confirm(self, tr: Track, t: float) -> None:
        c = self.cfg
        tr.hits = [h for h in tr.hits if t - h <= c.birth_window_s]
        if len(tr.hits) < c.birth_hits:
            return
        confident = min(tr.skeleton_scores[-c.birth_hits:]) >= c.birth_score
        stirring = 0 < c.birth_doppler_s <= t - tr.t_birth and all(tr.moving)
        if confident or stirring or tr.displacement(c.birth_hits) >= c.birth_motion_m:
            tr.confirmed, tr.xys, tr.skeleton_scores, tr.moving = True, [], [], []
            tr.id = self._next_id
            self._next_id += 1

    def _birth(self, d: Detection, t: float) -> None:
        c = self.cfg
        xy = np.asarray(d.position[:2], float)
        for tr in self.tracks:
            if tr.confirmed and np.linalg.norm(tr.x[:2] - xy) < c.merge_m:
                self.rejected["duplicate"] += 1
                return
        if self._in_clutter(xy[None], refresh=True)[0]:
            self.rejected["clutter"] += 1
            return
        P = np.diag([c.measurement_noise_m ** 2] * 2 + [1.0, 1.0])
        tr = Track(0, np.array([xy[0], xy[1], 0.0, 0.0]), P, t, t, float(d.position[2]), d.top_z, d.score,
                   d.joints, hits=[t], xys=[xy], skeleton_scores=[_skeleton_score(d)], moving=[d.moving], t_strong=t)
        self.tracks.append(tr)
        self._maybe_confirm(tr, t)

    def _join_lying(self, t: float) -> None:
        """Drop each confirmed track that coasts low beside a low one detected now; the survivor takes the older
        id and birth time."""
        c = self.cfg
        if c.lying_merge_m <= 0:
            return
        low = [tr for tr in self.confirmed if tr.top_z < c.floor_top_m]
        seen = [tr for tr in low if not tr.coasting(t)]
        gone = set()
        for tr in low:
            dist = [np.linalg.norm(s.x[:2] - tr.x[:2]) for s in seen]
            if not tr.coasting(t) or not dist or min(dist) >= c.lying_merge_m:
                continue
            keep = seen[int(np.argmin(dist))]
            if tr.id < keep.id:
                keep.id, keep.t_birth = tr.id, tr.t_birth
            gone.add(id(tr))
        self.tracks = [tr for tr in self.tracks if id(tr) not in gone]

    def _in_clutter(self, xy: np.ndarray, refresh: bool) -> np.ndarray:
        """Which (N, 2) positions lie in remembered static clutter; ``refresh``: clutter seen again is
        remembered for another ``clutter_memory_s`` (it stays suppressed for as long as it is there)."""
        c = self.cfg
        self.clutter = [(p, tc) for p, tc in self.clutter if self.t - tc < c.clutter_memory_s]
        if not self.clutter or not len(xy):
            return np.zeros(len(xy), bool)
        pts = np.array([p for p, _ in self.clutter])
        near = np.linalg.norm(xy[:, None] - pts[None], axis=2) < c.clutter_radius_m  # (N, C)
        if refresh:
            for i in np.flatnonzero(near.any(axis=0)):
                self.clutter[i] = (self.clutter[i][0], self.t)
        return near.any(axis=1)

    def _prune(self, t: float) -> None:
        c = self.cfg
        keep = []
        people = [tr.x[:2] for tr in self.tracks if tr.confirmed]
        for tr in self.tracks:
            if not tr.confirmed and any(np.linalg.norm(tr.x[:2] - p) < c.merge_m for p in people):
                self.rejected["duplicate"] += 1  # a second start on a person confirmed meanwhile
                continue
            if tr.confirmed:
                life = max(c.death_s, c.floor_death_s) if tr.top_z < c.floor_top_m else c.death_s
                if t - tr.t_update <= life:
                    keep.append(tr)
            elif t - tr.t_update > c.birth_window_s:
                continue  # a tentative track that lost its detections: noise
            elif t - tr.t_birth > c.birth_static_s:
                self.clutter.append((np.mean(tr.xys, axis=0), t))  # never moved: static clutter
            else:
                keep.append(tr)
        self.tracks = keep


def _skeleton_score(d: Detection) -> float:
    """A pose model's confidence in a person (its skeleton's score); 0 for a point cluster, whose score only
    counts points."""
    return float(d.score) if d.joints is not None else 0.0
