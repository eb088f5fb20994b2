"""The simulated rig: a world (room, people), sensors with extrinsics and clocks, and one seekable
:class:`rfpose.source.SourceBase` per sensor stream.

Frames are generated on demand and are deterministic per frame: frame i of stream s draws its randomness
from ``np.random.default_rng([seed, crc32(s), i])``, so any frame can be regenerated alone, in any order.

Time: "true" time t (s) runs from the scenario start. Sensor k's frame i is captured at
``t = start_s[k] + i/rate[k]`` (radar: the frame's first chirp; LiDAR: the sweep start; camera: the
exposure). Its ``timestamp_ns`` is the host clock: ``epoch_ns + (t + clock_offset_s[k] + jitter)·1e9``
with Gaussian jitter. Ground truth keeps true times (``timestamp_ns = epoch_ns + t·1e9``, no offset).

What a user knows and what is true: each sensor has its true pose ``T_rig_sensor`` (and a camera its true
``model``, with distortion), which the simulator renders with, and a ``nominal_T`` (``nominal_model``):
what a user has before calibrating (a tape-measured pose, the data sheet's focal length, no distortion).
Sources report only the nominal values and no clock offsets; :meth:`SimulatedRig.truth` returns the truth
as an :class:`rfpose.rig_calibration.Calibration`, which simulated sessions store in ``attrs["sim_truth"]``
for evaluation and tests alone.
"""

from __future__ import annotations

import dataclasses
import zlib
from dataclasses import dataclass, field

import numpy as np

from rfpose.boards import Board
from rfpose.radar_config import RadarParams, parse_cfg, validate_cfg
from rfpose.sim.adc_layout import encode_for_board
from rfpose.sim.camera import R_RIG_CAM_FORWARD, CameraModel, Rendered, charuco_texture, project, render, render_room
from rfpose.sim.geometry import segments_to_primitives
from rfpose.sim.lidar import LidarModel, lidar_points
from rfpose.sim.motion import Person
from rfpose.sim.radar import ReceiverModel, Scatterers, synthesize_frame
from rfpose.sim.body import SEGMENTS
from rfpose.sim.scattering import (FLOOR_GAMMA, TORSO, Breathing, body_centres, body_scatterers, floor_images,
                                   occluded_by)
from rfpose.sim.scene import MATERIAL_RGB, Room
from rfpose.sim.targets import MARKER_TEXTURE, CornerReflector, marker_texture
from rfpose.source import CameraFrame, LidarFrame, RadarFrame, SourceBase

EPOCH_NS = 1_790_000_000_000_000_000  # a fixed host-clock origin, so sessions are reproducible


def transform(R: np.ndarray | None = None, t=(0.0, 0.0, 0.0)) -> np.ndarray:
    T = np.eye(4)
    if R is not None:
        T[:3, :3] = R
    T[:3, 3] = t
    return T


def rot_x(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


@dataclass
class SensorClock:
    start_s: float = 0.0
    clock_offset_s: float = 0.0
    jitter_s: float = 0.0

    def to_dict(self) -> dict:
        return {"start_s": self.start_s, "clock_offset_s": self.clock_offset_s, "jitter_s": self.jitter_s}


@dataclass
class RadarSensor:
    name: str
    board: Board
    cfg_text: str
    T_rig_sensor: np.ndarray = field(default_factory=lambda: np.eye(4))
    clock: SensorClock = field(default_factory=SensorClock)
    receiver: ReceiverModel = field(default_factory=ReceiverModel)
    loops_per_group: int = 8
    nominal_T: np.ndarray | None = None  # what a user measured; None: the truth

    def __post_init__(self):
        cfg = parse_cfg(self.cfg_text, f"<{self.name} cfg>")
        self.params: RadarParams = validate_cfg(cfg, self.board)

    @property
    def rate_hz(self) -> float:
        return 1.0 / self.params.frame_period_s


@dataclass
class LidarSensor:
    name: str
    model: LidarModel = field(default_factory=LidarModel)
    T_rig_sensor: np.ndarray = field(default_factory=lambda: transform(t=(0.0, 0.0, 0.2)))
    clock: SensorClock = field(default_factory=SensorClock)
    nominal_T: np.ndarray | None = None

    @property
    def rate_hz(self) -> float:
        return self.model.rate_hz


@dataclass
class CameraSensor:
    name: str
    model: CameraModel = field(default_factory=CameraModel)
    T_rig_sensor: np.ndarray = field(default_factory=lambda: transform(R_RIG_CAM_FORWARD, (0.0, 0.0, 0.1)))
    clock: SensorClock = field(default_factory=SensorClock)
    nominal_T: np.ndarray | None = None
    nominal_model: CameraModel | None = None  # the data sheet's pinhole model; None: the truth
    trigger: str | None = None  # cameras on one hardware trigger share this name (and one clock)

    @property
    def rate_hz(self) -> float:
        return self.model.rate_hz


def nominal_pose(sensor) -> np.ndarray:
    """The pose a user has before calibrating (``nominal_T``, or the truth if the rig has none)."""
    return sensor.T_rig_sensor if sensor.nominal_T is None else sensor.nominal_T


def stream_rng(seed: int, stream: str, index: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), zlib.crc32(stream.encode()), int(index)])


class World:
    """Room + people. ``clutter`` and body occluders are fixed at construction from ``seed``."""

    def __init__(self, room: Room, people: list[Person], seed: int, multipath: bool = False,
                 wavelength_m: float = 3.9e-3, targets: list | None = None, breathing: bool = False):
        self.room, self.people, self.seed, self.multipath = room, people, seed, multipath
        self.targets = list(targets or [])  # moving calibration targets (rfpose.sim.targets)
        self.wavelength_m = wavelength_m
        rng = np.random.default_rng([seed, 0xC1])
        self.clutter_pos, self.clutter_rcs, self.clutter_phase = room.clutter(rng, wavelength_m)
        self.breathing = [Breathing.random(np.random.default_rng([seed, 0xB4EA, i])) for i in range(len(people))] \
            if breathing else None

    def _body_radar_model(self, seg, radar_pos: np.ndarray, rng: np.random.Generator, t_knots: np.ndarray,
                          mid: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Scattering centres of the people for one radar frame: positions ``(knots, K, 3)`` (rig frame), RCS
        ``(K,)`` and unit phasors ``(K,)``, K the centres facing the radar and not occluded.

        Without a breathing model every frame draws each centre's phase and Swerling-like RCS factor afresh
        (the body decorrelates from frame to frame whatever it does). With one (``breathing``) both are fixed
        per centre and person, so a body that holds still returns the same echo frame after frame, as a
        mannequin would, but for its chest: the torso's centres move along their normals with the person's
        breathing (:class:`Breathing`), the motion a radar sees in someone lying still."""
        pos, nrm, sid = body_centres(seg)
        if self.breathing is None:
            _, rcs = body_scatterers(seg, radar_pos, rng, t_index=mid)
            keep = rcs > 0
            return pos[:, keep], rcs[keep], np.exp(2j * np.pi * rng.random(keep.sum()))
        _, rcs = body_scatterers(seg, radar_pos, None, t_index=mid)
        person, part = sid // len(SEGMENTS), sid % len(SEGMENTS)
        echoes = [b.centre_echoes(int((person == i).sum())) for i, b in enumerate(self.breathing)]  # bodies in order
        phase = np.concatenate([e[0] for e in echoes])
        rcs = rcs * np.concatenate([e[1] for e in echoes])
        chest = part == TORSO
        if chest.any():
            d = np.stack([b.displacement_m(t_knots) for b in self.breathing], axis=1)  # (knots, people)
            pos = pos.copy()
            pos[:, chest] += nrm[:, chest] * d[:, person[chest], None]
        keep = rcs > 0
        return pos[:, keep], rcs[keep], phase[keep]

    def joints(self, t) -> np.ndarray:
        """``(T, P, 15, 3)`` rtpose15 joints in the rig frame at times ``t`` (s)."""
        t = np.atleast_1d(np.asarray(t, float))
        if not self.people:
            return np.zeros((len(t), 0, 15, 3))
        return np.stack([p.joints(t) for p in self.people], axis=1)

    def segments(self, t):
        from rfpose.sim.body import concat_segments

        t = np.atleast_1d(np.asarray(t, float))
        if not self.people:
            return None
        return concat_segments([p.segments(t, person=i) for i, p in enumerate(self.people)])

    def body_primitives(self, t) -> list[list]:
        """Per time in ``t``: the moving primitives (people, then calibration targets)."""
        seg = self.segments(t)
        ts = np.atleast_1d(np.asarray(t, float))
        out = [[] for _ in ts] if seg is None else [segments_to_primitives(seg, i) for i in range(len(ts))]
        for i, ti in enumerate(ts):
            for tg in self.targets:
                out[i].extend(tg.primitives(float(ti)))
        return out

    def target_scatterers(self, t_knots: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Scattering centres of the calibration targets: positions ``(M, K, 3)`` (rig frame) at the knot
        times and RCS ``(K,)`` m² (a trihedral's 4πa⁴/(3λ²); a board's +5 dBsm)."""
        from rfpose.sim.scene import trihedral_rcs_m2
        from rfpose.sim.targets import CornerReflector

        pos, rcs = [], []
        for tg in self.targets:
            pos.append(np.stack([tg.radar_points(float(t)) for t in t_knots]))
            k = pos[-1].shape[1]
            sigma = trihedral_rcs_m2(tg.edge_m, self.wavelength_m) if isinstance(tg, CornerReflector) else 10 ** 0.5
            rcs.append(np.full(k, sigma))
        if not pos:
            return np.zeros((len(t_knots), 0, 3)), np.zeros(0)
        return np.concatenate(pos, 1), np.concatenate(rcs)

    # -- radar ------------------------------------------------------------------------------------
    def radar_scatterers(self, sensor: RadarSensor, t0: float, rng: np.random.Generator,
                         knots: int = 5) -> Scatterers:
        """All scatterers of one radar frame starting at true time ``t0``, in the radar's own frame."""
        p = sensor.params
        span = p.active_chirping_s
        times = np.linspace(0.0, span, knots)
        T = sensor.T_rig_sensor
        R, o = T[:3, :3], T[:3, 3]
        to_radar = lambda x: (x - o) @ R  # noqa: E731  rig -> radar frame
        mid = knots // 2
        parts = []
        occluders = []
        seg = self.segments(t0 + times)
        if seg is not None:
            bp, rcs, phase = self._body_radar_model(seg, o, rng, t0 + times, mid)
            parts.append(Scatterers(times, to_radar(bp), rcs, None, phase))
            if self.multipath:
                img = floor_images(bp, self.room.floor_z)
                g = FLOOR_GAMMA
                for out_p, back_p, k in ((bp, img, g), (img, bp, g), (img, img, g * g)):
                    parts.append(Scatterers(times, to_radar(out_p), rcs, to_radar(back_p), phase * k))
            occluders = segments_to_primitives(seg, mid)
        if self.targets:
            tp, trcs = self.target_scatterers(t0 + times)
            parts.append(Scatterers(times, to_radar(tp), trcs, None, np.ones(len(trcs), complex)))
        cp = self.clutter_pos
        hidden = occluded_by(occluders, o, cp)
        c = ~hidden
        cpos = np.broadcast_to(to_radar(cp[c]), (knots, c.sum(), 3))
        parts.append(Scatterers(times, cpos, self.clutter_rcs[c], None, self.clutter_phase[c]))
        if any(pp.pos_back is not None for pp in parts):
            parts = [Scatterers(pp.times_s, pp.pos_out, pp.rcs_m2, pp.pos_out if pp.pos_back is None else pp.pos_back,
                                pp.phase) for pp in parts]
        return Scatterers.concat(parts)


class _SimSource(SourceBase):
    is_seekable = True

    def __init__(self, rig: "SimulatedRig", sensor, num_frames: int):
        super().__init__()
        self.rig, self.sensor, self.name = rig, sensor, sensor.name
        self.num_frames = int(num_frames)

    def _len(self) -> int:
        return self.num_frames

    def true_time_s(self, index: int) -> float:
        c = self.sensor.clock
        return c.start_s + index / self.sensor.rate_hz

    def host_timestamp_ns(self, index: int, rng: np.random.Generator) -> int:
        c = self.sensor.clock
        t = self.true_time_s(index) + c.clock_offset_s + (rng.normal(0, c.jitter_s) if c.jitter_s else 0.0)
        return EPOCH_NS + int(round(t * 1e9))

    @property
    def timestamps_ns(self) -> np.ndarray:
        """Every frame's ``timestamp_ns`` without synthesising the frames (what frame ``i`` will carry)."""
        return np.array([self.host_timestamp_ns(i, stream_rng(self.rig.seed, self.name + "/clock", i))
                         for i in range(self.num_frames)], dtype=np.int64)


class SimRadarSource(_SimSource):
    """Raw ADC frames of one simulated radar, as :class:`RadarFrame` with wire-format int16 words."""

    kind = "radar"

    def __init__(self, rig, sensor: RadarSensor, num_frames: int):
        super().__init__(rig, sensor, num_frames)
        p = sensor.params
        if sensor.board.capture == "tda2":
            shape = (sensor.board.num_chips, p.frame_bytes // 2 // sensor.board.num_chips)
        else:
            shape = (p.frame_bytes // 2,)
        self.metadata = {"board": sensor.board.name, "cfg_text": sensor.cfg_text, "frame_shape": shape,
                         "extrinsics": nominal_pose(sensor).tolist(), "rate_hz": sensor.rate_hz,
                         "receiver": dataclasses.asdict(sensor.receiver), "simulated": True}

    def iq(self, index: int) -> np.ndarray:
        """The frame's complex IF samples ``(loop, tx, rx, sample)`` before quantisation."""
        rng = stream_rng(self.rig.seed, self.name, index)
        t0 = self.true_time_s(index)
        scat = self.rig.world.radar_scatterers(self.sensor, t0, rng)
        return synthesize_frame(self.sensor.params, self.sensor.board, scat, self.sensor.receiver, rng, True,
                                self.sensor.loops_per_group)

    def _get(self, index: int) -> RadarFrame:
        iq = self.iq(index)
        ts = self.host_timestamp_ns(index, stream_rng(self.rig.seed, self.name + "/clock", index))
        return RadarFrame(index, ts, encode_for_board(iq, self.sensor.params, self.sensor.board))


class SimLidarSource(_SimSource):
    kind = "lidar"

    def __init__(self, rig, sensor: LidarSensor, num_frames: int):
        super().__init__(rig, sensor, num_frames)
        self.metadata = {"extrinsics": nominal_pose(sensor).tolist(), "model": sensor.model.to_dict(),
                         "rate_hz": sensor.rate_hz, "simulated": True}

    def _get(self, index: int) -> LidarFrame:
        rng = stream_rng(self.rig.seed, self.name, index)
        t0 = self.true_time_s(index)
        pts = lidar_points(self.sensor.model, self.sensor.T_rig_sensor, self.rig.world.room.primitives,
                           lambda dt: self.rig.world.body_primitives(t0 + np.asarray(dt)), rng)
        ts = self.host_timestamp_ns(index, stream_rng(self.rig.seed, self.name + "/clock", index))
        return LidarFrame(index, ts, pts)


class SimCameraSource(_SimSource):
    kind = "camera"

    def __init__(self, rig, sensor: CameraSensor, num_frames: int):
        super().__init__(rig, sensor, num_frames)
        m = sensor.nominal_model or sensor.model
        self.metadata = {"height": m.height, "width": m.width, "intrinsics": m.K.tolist(),
                         "distortion": list(m.distortion), "extrinsics": nominal_pose(sensor).tolist(),
                         "rate_hz": sensor.rate_hz, "simulated": True}
        if sensor.trigger:
            self.metadata["trigger"] = sensor.trigger

    def render(self, index: int) -> Rendered:
        t = self.true_time_s(index)
        return self.rig.render(self.sensor, t)

    def keypoints(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact 2D rtpose15 keypoints ``(P, 15, 2)`` px and in-image flags ``(P, 15)``."""
        j = self.rig.world.joints(self.true_time_s(index))[0]
        return project(self.sensor.model, self.sensor.T_rig_sensor, j)

    def _get(self, index: int) -> CameraFrame:
        ts = self.host_timestamp_ns(index, stream_rng(self.rig.seed, self.name + "/clock", index))
        return CameraFrame(index, ts, self.render(index).image)


class SimulatedRig:
    """A world seen by sensors for ``num_frames`` radar frames (other streams cover the same duration)."""

    def __init__(self, world: World, radars: list[RadarSensor], lidars: list[LidarSensor],
                 cameras: list[CameraSensor], num_frames: int, seed: int, description: dict | None = None):
        self.world, self.radars, self.lidars, self.cameras = world, radars, lidars, cameras
        self.seed, self.num_frames = seed, int(num_frames)
        self.description = description or {}
        r0 = radars[0]
        self.duration_s = self.num_frames * r0.params.frame_period_s
        self._textures = {}
        self._room_images: dict = {}
        if world.room.charuco is not None:
            c = world.room.charuco
            self._textures["charuco"] = charuco_texture(c.get("squares", (7, 5)), c.get("square_m", 0.08),
                                                        c.get("marker_m", 0.06))[0]
        for tg in world.targets:
            if isinstance(tg, CornerReflector):
                self._textures[MARKER_TEXTURE] = marker_texture()
            if getattr(tg, "squares", None) is not None:
                self._textures["charuco"] = charuco_texture(tg.squares, tg.square_m, tg.marker_m)[0]
        self.sources: dict[str, _SimSource] = {}
        for r in radars:
            self.sources[r.name] = SimRadarSource(self, r, num_frames)
        for s in lidars + cameras:
            n = int(np.floor((self.duration_s - s.clock.start_s) * s.rate_hz + 1e-9))
            cls = SimLidarSource if isinstance(s, LidarSensor) else SimCameraSource
            self.sources[s.name] = cls(self, s, max(n, 0))

    @property
    def radar(self) -> SimRadarSource:
        return self.sources[self.radars[0].name]

    def ground_truth(self, t_s) -> np.ndarray:
        """rtpose15 joints ``(P, 15, 3)`` (metres, rig = radar frame) at true time ``t_s``; ``(T, P, 15, 3)``
        for an array of times."""
        j = self.world.joints(t_s)
        return j[0] if np.ndim(t_s) == 0 else j

    def label_time_s(self, index: int) -> float:
        """True time the ground truth of radar frame ``index`` refers to: the middle of its chirping."""
        r = self.radars[0]
        return self.sources[r.name].true_time_s(index) + r.params.active_chirping_s / 2

    def render(self, sensor: CameraSensor, t: float) -> Rendered:
        palettes = []
        for p in self.world.people:
            b = p.body
            palettes.append({0: b.skin_rgb, 1: b.shirt_rgb, 2: b.trousers_rgb, 3: b.shoes_rgb})
        room = self._room_images.get(sensor.name)
        if room is None:  # the room and the camera stand still: cast them once
            room = self._room_images[sensor.name] = render_room(sensor.model, sensor.T_rig_sensor,
                                                                 self.world.room.primitives, MATERIAL_RGB,
                                                                 self._textures)
        return render(sensor.model, sensor.T_rig_sensor, self.world.room.primitives, self.world.body_primitives(t)[0],
                      MATERIAL_RGB, palettes, self._textures, room=room)

    def describe(self) -> dict:
        """What a user of the rig knows: sensors with their nominal geometry, the room kind, the people's
        actions. The truth (poses, clocks, intrinsics, target positions) is in :meth:`truth`."""
        return {**self.description,
                "radars": [{"name": r.name, "board": r.board.name, "extrinsics": nominal_pose(r).tolist()}
                           for r in self.radars],
                "lidars": [{"name": s.name, "model": s.model.to_dict(), "extrinsics": nominal_pose(s).tolist()}
                           for s in self.lidars],
                "cameras": [{"name": s.name, **(s.nominal_model or s.model).to_dict(),
                             "extrinsics": nominal_pose(s).tolist()} for s in self.cameras],
                "room": {"kind": self.world.room.kind},
                "people": [p.describe() for p in self.world.people]}

    def truth(self):
        """The true calibration (:class:`rfpose.rig_calibration.Calibration`, rig frame = the first radar):
        poses, clock offsets (``clock_offset_ns`` = first radar's offset − the sensor's, jitter aside) and
        the cameras' true intrinsics; provenance holds the scene (room, target paths) and the nominal
        errors. For evaluation and tests only."""
        from rfpose.rig_calibration import Calibration, SensorCalibration, invert, pose_error

        r0 = self.radars[0]
        T0 = invert(r0.T_rig_sensor)
        sensors, nominal = {}, {}
        for s in [*self.radars, *self.lidars, *self.cameras]:
            off = int(round((r0.clock.clock_offset_s - s.clock.clock_offset_s) * 1e9))
            e = SensorCalibration(T0 @ s.T_rig_sensor, off)
            if isinstance(s, CameraSensor):
                m = s.model
                e.K, e.dist, e.image_size = m.K, np.asarray(m.distortion, float), (m.width, m.height)
            sensors[s.name] = e
            dt, dr = pose_error(T0 @ nominal_pose(s), T0 @ s.T_rig_sensor)
            nominal[s.name] = {"trans_mm": dt * 1e3, "rot_deg": dr}
        prov = {"source": "simulator", "scenario": self.description.get("scenario"),
                "seed": self.seed, "board": r0.board.name, "nominal_error": nominal,
                "clock_jitter_s": {s.name: s.clock.jitter_s for s in [*self.radars, *self.lidars, *self.cameras]},
                "scene": {"room": self.world.room.describe(), "targets": [t.describe() for t in self.world.targets]}}
        return Calibration(r0.name, sensors, prov)
