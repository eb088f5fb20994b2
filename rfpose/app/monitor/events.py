"""Tracks → events: presence and count per zone, posture per person, falls, inactivity.

Every :class:`Event` has a wall-clock time, a kind, a value and a confidence. The rules:

- **Presence**: a zone (polygon in the room frame) is occupied as soon as a confirmed track is in it, and
  empty after ``presence_off_s`` without one (the room as a whole is the zone ``room``).
- **Posture** from a skeleton: lying if the torso (pelvis → head) leans more than 55° from vertical or the
  head is below 0.6 m; sitting if the pelvis is below 0.72 m; else standing. From a point cluster: its top
  height. The reported posture is the majority over ``posture_window_s``.
- **Fall** (on the head height, or with ``fall_height = "torso"`` the mean height of the pelvis, thorax,
  shoulders and head; its median over ``head_median_s``: a pose model's head on a person lying on
  the floor jumps between the floor and standing height from frame to frame): the height drops at least
  ``fall_drop_m`` within ``fall_window_s``, at ``fall_speed_mps`` or
  faster at its fastest (TI's people-tracking rule compares heights only, so it fires on sitting down
  deliberately), ends below ``floor_height_m`` (on the floor, not on a bed or a chair), and stays down
  ``fall_confirm_s``. A slow slump (the same drop to the floor within ``slow_fall_window_s``) alarms after
  ``slow_fall_confirm_s``, with a lower confidence. A person who lies still
  on the floor often stops being detected at all: a fall candidate whose track is lost keeps counting and
  confirms unless someone stands up near it (a track that coasts beside someone on their feet is that person
  found again: it raises nothing until detected again, and a weak detection such as minor-motion points
  alone, which may be the clutter that person's body shadows, does not count). With ``seen_within_s`` an
  alarm needs its person detected that recently instead (minor-motion points keep someone lying still in
  view). The alarm clears once the person stands for ``recover_s``.
- **Inactivity**: a confirmed person who moved less than ``inactivity_radius_m`` for ``inactivity_s``.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field

import numpy as np

from rfpose.app.monitor.config import EventsConfig, ZoneConfig
from rfpose.app.monitor.room import inside
from rfpose.app.monitor.tracking import Track
from rfpose.skeletons import get_skeleton

POSTURES = ("standing", "sitting", "lying")
ROOM = "room"
#: rtpose15 joints whose mean height ``fall_height = "torso"`` reads
TORSO = np.array([get_skeleton("rtpose15").index(n) for n in ("pelvis", "thorax", "head", "r_shoulder", "l_shoulder")])


@dataclass
class Event:
    time: float  # unix seconds
    kind: str  # presence | count | posture | fall | fall_cleared | inactivity
    value: object
    confidence: float = 1.0
    track: int | None = None
    zone: str | None = None
    detail: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"time": self.time, "kind": self.kind, "value": self.value, "confidence": round(self.confidence, 3),
                "track": self.track, "zone": self.zone, "detail": self.detail}


def posture_of(joints: np.ndarray | None, top_z: float, root: int = 0, head: int | None = 8) -> tuple[str, float]:
    """(posture, confidence) of one person from room-frame joints (J, 3), or from its top height alone."""
    if joints is None or head is None:
        if top_z < 0.75:
            return "lying", float(np.clip(0.6 + (0.75 - top_z), 0.5, 0.9))
        if top_z < 1.35:
            return "sitting", float(np.clip(0.5 + min(top_z - 0.75, 1.35 - top_z), 0.5, 0.8))
        return "standing", float(np.clip(0.6 + (top_z - 1.35), 0.5, 0.9))
    torso = joints[head] - joints[root]
    lean = float(np.degrees(np.arccos(np.clip(torso[2] / (np.linalg.norm(torso) + 1e-9), -1, 1))))
    head_z, pelvis_z = float(joints[head, 2]), float(joints[root, 2])
    if lean > 55 or head_z < 0.6:
        margin = max((lean - 55) / 30, (0.6 - head_z) / 0.3)
        return "lying", float(np.clip(0.6 + 0.4 * margin, 0.5, 0.99))
    if pelvis_z < 0.72:
        return "sitting", float(np.clip(0.6 + (0.72 - pelvis_z) / 0.4, 0.5, 0.99))
    return "standing", float(np.clip(0.6 + (pelvis_z - 0.72) / 0.4 + (55 - lean) / 200, 0.5, 0.99))


def _descent(ts: np.ndarray, zs: np.ndarray, t: float, window_s: float) -> tuple[float, float]:
    """Heights ``zs`` (m) at times ``ts`` (s) → (drop from the highest within ``window_s`` before ``t`` to the
    last, m; the fastest descent in that window, m/s, over ~0.2 s steps: single frames are too noisy)."""
    fast = ts >= t - window_s
    zf, tf = zs[fast], ts[fast]
    k = max(1, int(round(0.2 / max(np.median(np.diff(ts)), 1e-3)))) if len(ts) > 1 else 1
    speed = float(np.max((zf[:-k] - zf[k:]) / np.maximum(tf[k:] - tf[:-k], 1e-3))) if len(zf) > k else 0.0
    return float(zf.max() - zf[-1]), speed


@dataclass
class _Person:
    history: deque  # (t, height the fall rule sees: the median over head_median_s)
    postures: deque  # (t, posture, confidence)
    posture: str | None = None
    posture_conf: float = 0.0
    anchor_xy: np.ndarray | None = None
    anchor_t: float = 0.0
    inactive_reported: bool = False
    fall_candidate: dict | None = None  # {"t_floor", "speed", "drop", "xy"}
    still: dict | bool | None = None  # the still rule's candidate while the track has no detections (False: none)
    standing_since: float | None = None
    superseded: bool = False  # coasting beside someone on their feet: no fall candidates until detected again
    slot: int = 0
    heads: deque = field(default_factory=deque)  # (t, fall height of the frame) over the last head_median_s


class EventEngine:
    """Call :meth:`update` once per frame with the confirmed tracks; it returns the new events and keeps
    the current :attr:`state` (what MQTT and the web page show)."""

    def __init__(self, cfg: EventsConfig, zones: list[ZoneConfig], root: int = 0, head: int | None = 8,
                 person_slots: int = 3):
        self.cfg = cfg
        self.zones = [z for z in zones if not z.exclusion]
        self.root, self.head, self.slots = root, head, person_slots
        self.people: dict[int, _Person] = {}
        self.falls: dict[int, dict] = {}  # active alarms: track id → {"t", "xy", "confidence", "standing_since"}
        self.pending: dict[int, dict] = {}  # fall candidates of lost tracks
        self.zone_state = {z: {"occupied": False, "count": 0, "last_seen": -np.inf} for z in
                           [ROOM] + [z.name for z in self.zones]}

    # ------------------------------------------------------------------------------ state
    @property
    def fall_alarm(self) -> bool:
        return bool(self.falls)

    def state(self) -> dict:
        return {
            "occupied": self.zone_state[ROOM]["occupied"], "count": self.zone_state[ROOM]["count"],
            "zones": {k: dict(occupied=v["occupied"], count=v["count"]) for k, v in self.zone_state.items() if k != ROOM},
            "people": [{"id": tid, "slot": p.slot, "posture": p.posture, "confidence": round(p.posture_conf, 3)}
                       for tid, p in self.people.items()],
            "fall": self.fall_alarm,
            "falls": [{"track": k, **{kk: (vv.tolist() if isinstance(vv, np.ndarray) else vv) for kk, vv in v.items()}}
                      for k, v in self.falls.items()],
        }

    # ------------------------------------------------------------------------------ update
    def update(self, t: float, wall: float, tracks: list[Track]) -> list[Event]:
        ev: list[Event] = []
        live = {tr.id for tr in tracks}
        for tid in [k for k in self.people if k not in live]:
            p = self.people.pop(tid)
            if p.fall_candidate is not None or p.still:
                self.pending[tid] = p.fall_candidate or p.still
        for tr in tracks:
            ev += self._person(t, wall, tr, tracks)
        ev += self._pending(t, wall, tracks)
        ev += self._recover(t, wall, tracks)
        ev += self._zones(t, wall, tracks)
        return ev

    def _person(self, t: float, wall: float, tr: Track, tracks: list[Track]) -> list[Event]:
        c, ev = self.cfg, []
        p = self.people.get(tr.id)
        if p is None:
            p = self.people[tr.id] = _Person(deque(), deque(), anchor_xy=tr.position[:2], anchor_t=t)
            used = {q.slot for q in self.people.values()}
            p.slot = next((s for s in range(1, self.slots + 1) if s not in used), 0)
        # posture, majority over the window
        label, conf = posture_of(tr.joints, tr.top_z, self.root, self.head)
        p.postures.append((t, label, conf))
        while p.postures and t - p.postures[0][0] > c.posture_window_s:
            p.postures.popleft()
        major, n = Counter(lab for _, lab, _ in p.postures).most_common(1)[0]
        if major != p.posture and n > len(p.postures) / 2:
            p.posture = major
            p.posture_conf = float(np.mean([cf for _, lab, cf in p.postures if lab == major])) * n / len(p.postures)
            ev.append(Event(wall, "posture", major, p.posture_conf, tr.id))
        # falls
        p.heads.append((t, self._fall_height(tr)))
        while t - p.heads[0][0] > c.head_median_s + 1e-6:
            p.heads.popleft()
        z = float(np.median([h for _, h in p.heads]))
        p.history.append((t, z))
        while p.history and t - p.history[0][0] > max(c.fall_window_s, c.slow_fall_window_s):
            p.history.popleft()
        # a track without detections beside someone on their feet: its person, found again under a new track
        if tr.coasting(t) and self._someone_up(tr.position[:2], tracks, tr.id):
            p.superseded = True
        elif tr.t_strong >= t - 1e-9:
            p.superseded = False
        if p.superseded:
            p.fall_candidate, p.still = None, False
        elif tr.id not in self.falls:
            ev += self._fall_rule(t, wall, tr, p, z)
            if tr.id not in self.falls and c.still_fall_s > 0:
                ev += self._still_rule(t, wall, tr, p)
        # inactivity
        xy = tr.position[:2]
        if np.linalg.norm(xy - p.anchor_xy) > c.inactivity_radius_m:
            p.anchor_xy, p.anchor_t, p.inactive_reported = xy, t, False
        elif not p.inactive_reported and t - p.anchor_t >= c.inactivity_s:
            p.inactive_reported = True
            ev.append(Event(wall, "inactivity", round(t - p.anchor_t, 1), 0.9, tr.id,
                            detail={"position": [round(float(v), 2) for v in xy]}))
        return ev

    def _fall_height(self, tr: Track) -> float:
        if self.cfg.fall_height == "torso" and tr.joints is not None:
            return float(tr.joints[TORSO, 2].mean())
        return tr.top_z

    def _fall_rule(self, t: float, wall: float, tr: Track, p: _Person, z: float) -> list[Event]:
        c = self.cfg
        cand = p.fall_candidate
        if cand is None:
            if z >= c.floor_height_m or len(p.history) < 3:
                return []
            ts, zs = np.array(p.history).T
            drop, speed = _descent(ts, zs, t, c.fall_window_s)
            if drop >= c.fall_drop_m and speed >= c.fall_speed_mps:
                cand = {"slow": False, "confirm_s": c.fall_confirm_s, "speed": speed, "drop": drop}
            elif float(zs.max() - z) >= c.fall_drop_m:  # down on the floor from standing or sitting, slowly
                cand = {"slow": True, "confirm_s": c.slow_fall_confirm_s, "speed": speed, "drop": float(zs.max() - z)}
            else:
                return []
            p.fall_candidate = cand | {"t_floor": t}
            cand = p.fall_candidate
        if z > c.floor_height_m + 0.15:  # got up again before the confirmation: not a fall
            p.fall_candidate = None
            return []
        cand["xy"], cand["z"] = tr.position[:2].copy(), float(tr.z)
        return self._confirm(t, wall, tr.id, cand, lost=False, seen=tr.t_update)

    def _still_rule(self, t: float, wall: float, tr: Track, p: _Person) -> list[Event]:
        """A fall that ends motionless: the track's last detections descended like a fall (``fall_drop_m`` at
        ``fall_speed_mps``) to below ``still_floor_m``, and it has had none since for ``still_fall_s``."""
        c = self.cfg
        if not tr.coasting(t):
            p.still = None
            return []
        if p.still is None:  # the first frame without a detection: read the descent that ended at the last one
            ts, zs = np.array(p.history).T
            seen = ts <= tr.t_update + 1e-9
            ts, zs, p.still = ts[seen], zs[seen], False
            if len(zs) >= 3 and zs[-1] < c.still_floor_m:
                drop, speed = _descent(ts, zs, tr.t_update, c.fall_window_s)
                if drop >= c.fall_drop_m and speed >= c.fall_speed_mps:
                    p.still = {"slow": False, "confirm_s": c.still_fall_s, "speed": speed, "drop": drop,
                               "t_floor": tr.t_update, "xy": tr.position[:2].copy(), "z": float(tr.z), "still": True}
        return self._confirm(t, wall, tr.id, p.still, lost=False) if p.still else []

    def _confirm(self, t: float, wall: float, tid: int, cand: dict, lost: bool, seen: float | None = None) -> list[Event]:
        """Alarm if ``cand`` has waited its confirmation (``seen``: when its person was last detected; None for
        the still rule, whose candidate is the absence of detections, and for lost tracks)."""
        c = self.cfg
        if t - cand["t_floor"] < cand["confirm_s"] or (c.fall_centre_m and cand["z"] > c.fall_centre_m):
            return []
        if c.seen_within_s and not cand.get("still") and (seen is None or t - seen > c.seen_within_s):
            return []
        if cand["slow"]:
            conf = 0.6
        else:
            conf = float(np.clip(0.5 + 0.25 * min(cand["speed"] / c.fall_speed_mps - 1, 1)
                                 + 0.25 * min(cand["drop"] / c.fall_drop_m - 1, 1), 0.5, 0.99))
        if lost:
            conf *= 0.9
        self.falls[tid] = {"t": wall, "xy": cand["xy"], "confidence": conf, "standing_since": None}
        if tid in self.people:
            self.people[tid].fall_candidate = self.people[tid].still = None
        return [Event(wall, "fall", True, conf, tid, self._zone_at(cand["xy"]),
                      {"descent_mps": round(cand["speed"], 2), "drop_m": round(cand["drop"], 2), "slow": cand["slow"],
                       "on_floor_s": round(t - cand["t_floor"], 1), "track_lost": lost,
                       "motionless": cand.get("still", False),
                       "position": [round(float(v), 2) for v in cand["xy"]]})]

    def _pending(self, t: float, wall: float, tracks: list[Track]) -> list[Event]:
        ev = []
        for tid, cand in list(self.pending.items()):
            if self._someone_up(cand["xy"], tracks):
                del self.pending[tid]  # someone is up where the candidate was: it got up
                continue
            got = self._confirm(t, wall, tid, cand, lost=True)
            if got:
                del self.pending[tid]
                ev += got
        return ev

    def _someone_up(self, xy: np.ndarray, tracks: list[Track], but: int | None = None) -> bool:
        """Whether a track other than ``but`` within 1 m of ``xy`` has its top above the floor's band."""
        return any(tr.id != but and tr.top_z > self.cfg.floor_height_m + 0.15
                   and np.linalg.norm(tr.position[:2] - xy) < 1.0 for tr in tracks)

    def _recover(self, t: float, wall: float, tracks: list[Track]) -> list[Event]:
        """Clear an alarm once its person (or, if lost, someone near the fall) has stood for recover_s."""
        ev = []
        for tid, alarm in list(self.falls.items()):
            p = self.people.get(tid)
            up = p is not None and p.posture == "standing"
            if p is None:
                up = any(tr.top_z > 1.2 and np.linalg.norm(tr.position[:2] - alarm["xy"]) < 1.0 for tr in tracks)
            if not up:
                alarm["standing_since"] = None
                continue
            alarm["standing_since"] = alarm["standing_since"] or t
            if t - alarm["standing_since"] >= self.cfg.recover_s:
                del self.falls[tid]
                ev.append(Event(wall, "fall_cleared", False, 0.9, tid, self._zone_at(alarm["xy"])))
        return ev

    def _zone_at(self, xy) -> str | None:
        for z in self.zones:
            if inside(z.polygon, xy)[0]:
                return z.name
        return None

    def _zones(self, t: float, wall: float, tracks: list[Track]) -> list[Event]:
        ev = []
        xy = np.array([tr.position[:2] for tr in tracks]).reshape(-1, 2)
        counts = {ROOM: len(tracks)}
        for z in self.zones:
            counts[z.name] = int(inside(z.polygon, xy).sum()) if len(xy) else 0
        for name, n in counts.items():
            st = self.zone_state[name]
            zone = None if name == ROOM else name
            if n:
                st["last_seen"] = t
            occupied = bool(n > 0 or (st["occupied"] and t - st["last_seen"] < self.cfg.presence_off_s))
            if occupied != st["occupied"]:
                st["occupied"] = occupied
                ev.append(Event(wall, "presence", occupied, 1.0 if n else 0.9, zone=zone))
            if n != st["count"]:
                st["count"] = n
                ev.append(Event(wall, "count", n, 1.0, zone=zone))
        return ev
