"""Procedural human motion: a walking path, a Boulic–Thalmann-style gait and the actions of RT-Pose
(walk, stand and wave, random poses, walk and sit, walk and wave, lift a leg) plus a fall.

Everything is a continuous function of time ``t`` (seconds from the scenario start), so each radar chirp,
LiDAR ray and camera exposure can sample the body at its own instant. Random choices (path, speed,
timing, poses) are drawn once from the person's seeded generator when the :class:`Person` is built.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rfpose.errors import UnknownNameError
from rfpose.sim.body import BodyParams, Pose, Segments, body_segments, forward_kinematics, joints_rtpose15

#: RT-Pose's six actions (rtpose.md §4): the simulator's benchmark presets and the demo use these
RTPOSE_ACTIONS = ("walk", "wave", "random-poses", "walk-sit", "walk-wave", "lift-leg")
ACTIONS = RTPOSE_ACTIONS + ("fall",)
#: sim-falls-v1's falls (each ends on the floor) and the everyday motions a fall detector must not take for
#: one (each ends on a seat, a bed, the knees or standing again). Each walks to a spot first.
FALL_ACTIONS = ("fall-forward", "fall-backward", "fall-sideways", "slump")
CONFOUNDER_ACTIONS = ("sit-fast", "lie-down", "bend-pick", "kneel")
ALL_ACTIONS = ACTIONS + FALL_ACTIONS + CONFOUNDER_ACTIONS
DEG = np.pi / 180
SEAT_HEIGHT_M = 0.46
BED_HEIGHT_M = 0.5


@dataclass(frozen=True)
class Area:
    """Where people may stand and walk (rig frame): a wedge ``x_min..x_max`` inside ``±half_fov`` of the
    radar boresight, with ``margin`` from its edges. ``floor_z`` is the floor height (m)."""

    x_min: float = 1.5
    x_max: float = 5.0
    half_fov: float = 35 * DEG
    margin: float = 0.3
    floor_z: float = -1.0

    def contains(self, xy: np.ndarray) -> np.ndarray:
        x, y = xy[..., 0], xy[..., 1]
        return (x >= self.x_min) & (x <= self.x_max) & (np.abs(y) <= x * np.tan(self.half_fov) - self.margin)

    def sample(self, rng: np.random.Generator, n: int = 1) -> np.ndarray:
        out = []
        while len(out) < n:
            p = rng.uniform([self.x_min, -self.x_max], [self.x_max, self.x_max])
            if self.contains(p):
                out.append(p)
        return np.array(out)


def _bump(phi, centre, width):
    d = (phi - centre + 0.5) % 1.0 - 0.5
    return np.exp(-0.5 * (d / width) ** 2)


def _smoothstep(x):
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def _wrap(a):
    return (a + np.pi) % (2 * np.pi) - np.pi


def wander(rng: np.random.Generator, area: Area, start: np.ndarray, n: int, max_turn: float = 100 * DEG,
           min_leg_m: float = 1.0) -> np.ndarray:
    """``n`` waypoints after ``start`` inside ``area`` with legs of at least ``min_leg_m`` and turns of at
    most ``max_turn`` where possible (a person does not reverse on the spot)."""
    pts = [np.asarray(start, float)]
    heading = None
    for _ in range(n):
        best = None
        for _try in range(200):
            q = area.sample(rng)[0]
            leg = q - pts[-1]
            if np.linalg.norm(leg) < min_leg_m:
                continue
            h = np.arctan2(leg[1], leg[0])
            if heading is None or abs(_wrap(h - heading)) <= max_turn:
                best = q
                break
        if best is None:
            best = q
        heading = np.arctan2(*(best - pts[-1])[::-1])
        pts.append(best)
    return np.array(pts)


class WalkPath:
    """A walk at constant speed through waypoints, corners rounded; the person stops at the last one.

    ``state(t)`` returns floor position ``(T, 2)``, heading ``(T,)``, walked distance ``(T,)`` and a
    gait weight ``(T,)`` (1 while walking, easing to 0 within half a second of stopping).
    """

    def __init__(self, waypoints: np.ndarray, speed_mps: float, start_s: float = 0.0, round_m: float = 0.5):
        self.speed, self.start_s = float(speed_mps), float(start_s)
        wp = np.asarray(waypoints, float)
        seg = np.diff(wp, axis=0)
        seglen = np.linalg.norm(seg, axis=1)
        cum = np.concatenate([[0.0], np.cumsum(seglen)])
        self.length = float(cum[-1])
        step = 0.01
        s = np.arange(0.0, self.length + step, step)
        dense = np.stack([np.interp(s, cum, wp[:, 0]), np.interp(s, cum, wp[:, 1])], axis=1)
        w = max(1, int(round_m / step))
        pad = np.concatenate([np.repeat(dense[:1], w, 0), dense, np.repeat(dense[-1:], w, 0)])
        c = np.cumsum(np.concatenate([np.zeros((1, 2)), pad]), axis=0)
        smooth = (c[2 * w + 1:] - c[:-2 * w - 1]) / (2 * w + 1)
        smooth = smooth[: len(s)]
        # the box filter pulls the ends inwards: blend the path back onto the first and last waypoints
        ramp = np.clip(1 - s / (2 * round_m), 0, 1)[:, None]
        smooth = smooth + ramp * (dense[0] - smooth[0])
        ramp = np.clip(1 - (self.length - s) / (2 * round_m), 0, 1)[:, None]
        smooth = smooth + ramp * (dense[-1] - smooth[-1])
        self._s, self._xy = s, smooth
        d = np.gradient(self._xy, axis=0)
        ang = np.unwrap(np.arctan2(d[:, 1], d[:, 0]))
        # the body turns over about a step, not at a point: low-pass the heading along the path
        hp = np.concatenate([np.repeat(ang[:1], w, 0), ang, np.repeat(ang[-1:], w, 0)])
        hc = np.cumsum(np.concatenate([[0.0], hp]))
        self._heading = ((hc[2 * w + 1:] - hc[:-2 * w - 1]) / (2 * w + 1))[: len(s)]
        self.end_s = self.start_s + self.length / self.speed

    def state(self, t: np.ndarray):
        dist = np.clip((t - self.start_s) * self.speed, 0.0, self.length)
        xy = np.stack([np.interp(dist, self._s, self._xy[:, 0]), np.interp(dist, self._s, self._xy[:, 1])], -1)
        heading = np.interp(dist, self._s, self._heading)
        weight = np.clip(np.minimum((t - self.start_s) / 0.5 + 1, (self.end_s - t) / 0.5), 0, 1)
        weight = np.where(t < self.start_s, 0.0, weight) if self.length > 0 else np.zeros_like(t)
        return xy, heading, dist, weight


def apply_gait(p: Pose, body: BodyParams, dist: np.ndarray, weight: np.ndarray, speed: float, arms: bool = True):
    """Add walking: phase from the distance walked (feet do not slide), amplitudes from the relative speed."""
    rv = speed / body.hip_height_m  # Boulic–Thalmann relative velocity
    cycle_s = 1.346 / np.sqrt(max(rv, 0.05))
    stride = speed * cycle_s
    phase = dist / stride
    amp = np.clip(rv / 1.3, 0.4, 1.3)
    w = weight
    for si, off in ((0, 0.0), (1, 0.5)):
        phi = (phase + off) % 1.0
        p.hip_flex[..., si] += w * amp * (7 * DEG + 18 * DEG * np.cos(2 * np.pi * phi))
        p.knee_flex[..., si] += w * (amp * (15 * DEG * _bump(phi, 0.12, 0.06) + 58 * DEG * _bump(phi, 0.72, 0.1)))
        p.ankle_flex[..., si] += w * amp * (-14 * DEG * _bump(phi, 0.6, 0.06) + 6 * DEG * np.sin(2 * np.pi * phi))
        if arms:
            p.shoulder_flex[..., si] += w * amp * (-16 * DEG * np.cos(2 * np.pi * phi) + 2 * DEG)
            p.elbow_flex[..., si] += w * amp * (10 * DEG + 8 * DEG * (1 - np.cos(2 * np.pi * phi)))
    phr = phase % 1.0
    p.pelvis_dz += w * (-0.012 * amp * np.cos(4 * np.pi * phr) - 0.01 * amp)
    p.pelvis_dxy[..., 1] += w * (-0.02 * amp * np.sin(2 * np.pi * phr))
    p.pelvis_yaw += w * 4 * DEG * amp * np.cos(2 * np.pi * phr)
    p.trunk_pitch += w * 3 * DEG * amp
    p.trunk_roll += w * 2 * DEG * np.sin(2 * np.pi * phr)
    return p


class Person:
    """One subject performing one action, placed in ``area``. ``rng`` is consumed at construction only."""

    def __init__(self, body: BodyParams, action: str, rng: np.random.Generator, area: Area = Area(),
                 chair_xy: np.ndarray | None = None, horizon_s: float = 120.0):
        """``horizon_s``: how long the motion is planned for (walks stop, random poses hold, after it)."""
        if action not in ALL_ACTIONS:
            raise UnknownNameError("action", action, ALL_ACTIONS)
        self.body, self.action, self.area = body, action, area
        self.dominant = 0 if body.handedness == "right" else 1
        # independent streams, each consumed in a fixed order: the first seconds of a long plan equal a short one
        r_main, r_path, r_pose = rng.spawn(3)
        self.speed = float(r_main.uniform(0.7, 1.4))
        start = area.sample(r_main)[0]
        self.start_xy = start
        face_radar = float(np.arctan2(-start[1], -start[0]))
        self.stand_heading = face_radar + float(r_main.uniform(-35, 35)) * DEG
        self.wave_hz = float(r_main.uniform(1.2, 2.2))
        self.wave_phase = float(r_main.uniform(0, 2 * np.pi))
        self.lift_period = float(r_main.uniform(2.5, 4.0))
        self.lift_side = int(r_main.integers(2))
        self.sway = r_main.uniform(0, 2 * np.pi, 3)
        other = area.sample(r_main)[0]
        fall_at = float(r_main.uniform(1.5, 3.0))
        self.fall_dir = float(r_main.choice([0.0, 1.0, -1.0]))  # forward, left, right
        self.path: WalkPath | None = None
        self.t_event = 0.0
        self.sit_down_s, self.seat_h = 1.3, SEAT_HEIGHT_M
        # sim-falls-v1: one draw per quantity, in a fixed order, whatever the action
        fall_s, slump_after_s, slump_s, lie_after_s, lie_s, hold_s = r_main.uniform(
            [0.6, 2.0, 3.0, 1.0, 1.5, 2.0], [1.1, 4.0, 5.0, 2.0, 2.5, 5.0])
        side = float(r_main.choice([-1.0, 1.0]))
        self.event: dict = {"kind": "none"}
        if action in ("walk", "walk-wave"):
            n = int(horizon_s * self.speed / 1.0) + 3
            self.path = WalkPath(wander(r_path, area, start, n), self.speed)
        elif action in ("walk-sit", "sit-fast", "slump", "lie-down"):
            chair = np.asarray(chair_xy if chair_xy is not None else [3.2, 0.0], float)
            self.chair_xy = chair
            toward = -chair / np.linalg.norm(chair)  # chair faces the radar
            front = chair + toward * 0.45  # sitting moves the pelvis back onto the seat
            self.path = WalkPath(np.vstack([start, other, front]), self.speed)
            self.sit_heading = float(np.arctan2(toward[1], toward[0]))
            self.t_event = self.path.end_s + 0.3
        elif action in ("fall", "fall-forward", "fall-backward", "fall-sideways", "bend-pick", "kneel"):
            self.path = WalkPath(np.vstack([start, other]), self.speed)
            self.t_event = float(min(self.path.end_s, fall_at))
        self.fall_s, self.fall_back = 0.9, action == "fall-backward"
        if action in ("fall", "fall-forward", "fall-backward", "fall-sideways"):
            if action != "fall":  # "fall" keeps its own draw of the direction and 0.9 s
                self.fall_dir = 0.0 if action != "fall-sideways" else side
                self.fall_s = float(fall_s)
            self.event = {"kind": "fall", "t_start_s": self.t_event, "t_floor_s": self.t_event + self.fall_s}
        elif action == "sit-fast":
            self.sit_down_s = 0.5
        elif action == "slump":
            t0 = self.t_event + 0.9 + self.sit_down_s + float(slump_after_s)
            self.slump = (t0, float(slump_s), side)
            self.event = {"kind": "fall", "t_start_s": t0, "t_floor_s": t0 + float(slump_s)}
        elif action == "lie-down":
            self.seat_h = BED_HEIGHT_M
            t0 = self.t_event + 0.9 + self.sit_down_s + float(lie_after_s)
            self.lie = (t0, float(lie_s), side)
        elif action in ("bend-pick", "kneel"):
            self.hold_s = float(hold_s)
        # random poses: a new target every 1.5–2.5 s; one row of uniforms per pose (prefix-stable)
        n = int(horizon_s / 1.5) + 2
        u = r_pose.random((n, 15))
        self.pose_times = np.cumsum(1.5 + u[:, 0])

        def span(cols, lo, hi):
            return (lo + (hi - lo) * u[:, cols]) * DEG

        self.pose_targets = {
            "shoulder_flex": span([1, 2], -40, 150),
            "shoulder_abd": span([3, 4], 0, 120),
            "elbow_flex": span([5, 6], 0, 120),
            "trunk_pitch": span(7, -5, 35),
            "trunk_roll": span(8, -15, 15),
            "hip_flex": span([9, 10], -5, 40) * (u[:, 11:12] < 0.4),
            "hip_abd": span([12, 13], 0, 20),
        }

    def describe(self) -> dict:
        """What the person does; ``event`` is the truth a fall benchmark scores against: ``{"kind": "fall",
        "t_start_s", "t_floor_s"}`` (loss of balance, body on the floor) or ``{"kind": "none"}``."""
        return {"action": self.action, "subject": self.body.to_dict(), "start_xy_m": [float(v) for v in self.start_xy],
                "speed_mps": self.speed, "event": dict(self.event)}

    # -- motion ---------------------------------------------------------------------------------
    def pose(self, t) -> Pose:
        t = np.atleast_1d(np.asarray(t, dtype=np.float64))
        p = Pose.neutral(t.shape, self.area.floor_z)
        p.root_xy[:] = self.start_xy
        p.heading[:] = self.stand_heading
        # idle sway
        p.trunk_roll += 1.0 * DEG * np.sin(2 * np.pi * 0.23 * t + self.sway[0])
        p.trunk_pitch += 1.0 * DEG * np.sin(2 * np.pi * 0.17 * t + self.sway[1])
        p.pelvis_dxy[..., 1] += 0.01 * np.sin(2 * np.pi * 0.11 * t + self.sway[2])
        a = self.action
        if self.path is not None:
            xy, heading, dist, w = self.path.state(t)
            p.root_xy[:], p.heading[:] = xy, heading
            apply_gait(p, self.body, dist, w, self.speed, arms=True)
        if a in ("wave", "walk-wave"):
            self._wave(p, t)
        elif a == "random-poses":
            self._random_poses(p, t)
        elif a == "lift-leg":
            self._lift_leg(p, t)
        elif a in ("walk-sit", "sit-fast"):
            self._sit(p, t)
        elif a == "slump":
            self._sit(p, t)
            self._slump(p, t)
        elif a == "lie-down":
            self._sit(p, t)
            self._lie_down(p, t)
        elif a in ("fall", "fall-forward", "fall-backward", "fall-sideways"):
            self._fall(p, t)
        elif a == "bend-pick":
            self._bend_pick(p, t)
        elif a == "kneel":
            self._kneel(p, t)
        return p

    def _wave(self, p: Pose, t):
        d = self.dominant
        up = _smoothstep(t / 0.8)
        p.shoulder_flex[..., d] = (1 - up) * p.shoulder_flex[..., d] + up * 20 * DEG
        p.shoulder_abd[..., d] = up * 80 * DEG
        p.elbow_flex[..., d] = up * 10 * DEG
        p.forearm_abd[..., d] = up * (75 * DEG + 25 * DEG * np.sin(2 * np.pi * self.wave_hz * t + self.wave_phase))

    def _random_poses(self, p: Pose, t):
        times = np.concatenate([[0.0], self.pose_times])
        i = np.clip(np.searchsorted(times, t, side="right") - 1, 0, len(times) - 2)
        u = _smoothstep(np.clip((t - times[i]) / 1.0, 0, 1))[..., None]
        for name, targets in self.pose_targets.items():
            prev = np.where(i[..., None] > 0, targets[np.maximum(i - 1, 0)].reshape(len(t), -1), 0.0)
            cur = targets[i].reshape(len(t), -1)
            val = (1 - u) * prev + u * cur
            arr = getattr(p, name)
            arr += val.reshape(arr.shape)
        # a raised leg bends the knee; keep the standing leg straight
        p.knee_flex += 0.8 * p.hip_flex

    def _lift_leg(self, p: Pose, t):
        s = self.lift_side
        cyc = (t % self.lift_period) / self.lift_period
        lift = _smoothstep(cyc / 0.25) * (1 - _smoothstep((cyc - 0.6) / 0.25))
        p.hip_flex[..., s] += lift * 75 * DEG
        p.knee_flex[..., s] += lift * 85 * DEG
        p.shoulder_abd += lift[..., None] * 25 * DEG
        p.pelvis_dxy[..., 1] += lift * 0.04 * (1 if s == 0 else -1)

    def _sit(self, p: Pose, t):
        t0 = self.t_event
        turn = _smoothstep((t - (t0 - 0.3)) / 1.0)
        xy_end, h_end, _, _ = self.path.state(np.array([self.path.end_s]))
        dh = _wrap(self.sit_heading - h_end[0])
        p.heading[:] = np.where(t >= t0 - 0.3, h_end[0] + dh * turn, p.heading)
        down = _smoothstep((t - (t0 + 0.9)) / self.sit_down_s)
        knee_h = self.body.shank_m + self.body.ankle_height_m
        p.pelvis_dz += down * (self.seat_h + 0.06 - self.body.hip_height_m)
        p.pelvis_dxy[..., 0] += -down * (self.body.thigh_m * 0.85)
        p.hip_flex += down[..., None] * 88 * DEG
        p.knee_flex += down[..., None] * 85 * DEG * np.clip(knee_h / 0.48, 0.8, 1.2)
        lean = np.sin(np.pi * np.clip((t - (t0 + 0.9)) / self.sit_down_s, 0, 1))
        p.trunk_pitch += lean * 25 * DEG + down * 5 * DEG
        p.shoulder_flex += down[..., None] * 30 * DEG
        p.elbow_flex += down[..., None] * 50 * DEG

    def _stop_at_event(self, p: Pose, t):
        """Stand still where the walk was at ``t_event`` (the action happens on the spot)."""
        t0 = self.t_event
        xy, h, _, _ = self.path.state(np.minimum(t, t0))
        p.root_xy[:] = np.where((t > t0)[..., None], xy, p.root_xy)
        p.heading[:] = np.where(t > t0, h, p.heading)

    def _fall(self, p: Pose, t):
        t0 = self.t_event
        u = np.clip((t - t0) / self.fall_s, 0, 1)
        fall = u * u  # accelerating
        self._stop_at_event(p, t)
        ang = fall * 88 * DEG
        if self.fall_back:
            p.pitch -= ang  # backwards: knees and hips give way, arms reach forward
            p.hip_flex += fall[..., None] * 35 * DEG
            p.knee_flex += fall[..., None] * 45 * DEG
            p.shoulder_flex += fall[..., None] * 60 * DEG
            return
        p.knee_flex += fall[..., None] * 20 * DEG
        # (arms flexed 70° and abducted 30°, as before, left a fallen body propped 0.6–0.8 m up on its hands)
        if self.fall_dir == 0.0:
            p.pitch += ang  # forwards: the arms reach ahead to break the fall and end on the floor
            p.shoulder_flex += fall[..., None] * 150 * DEG
        else:
            p.roll += self.fall_dir * ang  # sideways: the arms stay in front of the body
            p.shoulder_flex += fall[..., None] * 40 * DEG

    def _slump(self, p: Pose, t):
        """Slide off the chair to the floor: the pelvis drops from the seat, the trunk sags sideways and
        the legs straighten, ending half-lying on the floor."""
        t0, dur, side = self.slump
        u = _smoothstep((t - t0) / dur)
        seat_dz = self.seat_h + 0.06 - self.body.hip_height_m
        p.pelvis_dz += u * (0.15 - self.body.hip_height_m - seat_dz)
        p.pelvis_dxy[..., 0] += u * 0.35
        p.knee_flex -= u[..., None] * 80 * DEG  # the thighs stay level, the shanks straighten along the floor
        p.trunk_roll += u * side * 55 * DEG
        p.trunk_pitch -= u * 30 * DEG
        p.shoulder_flex -= u[..., None] * 25 * DEG
        p.elbow_flex -= u[..., None] * 40 * DEG

    def _lie_down(self, p: Pose, t):
        """From sitting on the bed's edge, lie down on it sideways: the body turns horizontal at bed height."""
        t0, dur, side = self.lie
        u = _smoothstep((t - t0) / dur)
        p.roll += u * side * 85 * DEG
        p.hip_flex -= u[..., None] * 60 * DEG
        p.knee_flex -= u[..., None] * 45 * DEG
        p.floor_z = p.floor_z + u * BED_HEIGHT_M

    def _bend_pick(self, p: Pose, t):
        """Stop, bend down to pick something off the floor (1.2 s), hold, straighten up (1.2 s)."""
        self._stop_at_event(p, t)
        t0 = self.t_event
        u = _smoothstep((t - t0) / 1.2) * (1 - _smoothstep((t - (t0 + 1.2 + self.hold_s * 0.3)) / 1.2))
        p.trunk_pitch += u * 80 * DEG
        p.hip_flex += u[..., None] * 25 * DEG
        p.knee_flex += u[..., None] * 40 * DEG
        p.pelvis_dz -= u * 0.12
        p.pelvis_dxy[..., 0] -= u * 0.15
        p.shoulder_flex[..., self.dominant] += u * 85 * DEG

    def _kneel(self, p: Pose, t):
        """Stop, go down on both knees (1.5 s), stay ``hold_s``, get up (1.5 s)."""
        self._stop_at_event(p, t)
        t0 = self.t_event
        u = _smoothstep((t - t0) / 1.5) * (1 - _smoothstep((t - (t0 + 1.5 + self.hold_s)) / 1.5))
        b = self.body
        p.pelvis_dz += u * (b.thigh_m + 0.05 - b.hip_height_m)
        p.knee_flex += u[..., None] * 90 * DEG
        p.ankle_flex -= u[..., None] * 60 * DEG
        p.trunk_pitch += u * 10 * DEG
        p.shoulder_flex += u[..., None] * 20 * DEG

    # -- outputs -----------------------------------------------------------------------------------
    def points(self, t) -> dict[str, np.ndarray]:
        return forward_kinematics(self.body, self.pose(t))

    def joints(self, t) -> np.ndarray:
        """rtpose15 joints ``(T, 15, 3)`` in metres, rig frame."""
        return joints_rtpose15(self.points(t))

    def segments(self, t, person: int = 0) -> Segments:
        return body_segments(self.body, self.points(t), person)
