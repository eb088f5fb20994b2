"""Scenario registry: named, seeded recipes that build a :class:`~rfpose.sim.rig.SimulatedRig`.

``SCENARIOS`` maps a name to a :class:`ScenarioSpec`; :func:`build_rig` turns a name, a seed and options
into people, a room and sensors. An unknown name is an :class:`~rfpose.errors.UnknownNameError` listing the
valid ones.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np

from rfpose.boards import get_board
from rfpose.errors import ConfigError, UnknownNameError
from rfpose.radar_config import parse_cfg, validate_cfg
from rfpose.sim.body import BodyParams
from rfpose.sim.camera import R_RIG_CAM_FORWARD, CameraModel
from rfpose.sim.lidar import LidarModel
from rfpose.sim.motion import Area, Person
from rfpose.sim.rig import (CameraSensor, LidarSensor, RadarSensor, SensorClock, SimulatedRig, World, rot_x,
                            transform)
from rfpose.sim.scene import Room


SCENES = ("clean", "cluttered")


@dataclass(frozen=True)
class ScenarioSpec:
    name: str
    description: str
    actions: tuple[str, ...] = ()  # one per person; cycled when more people are asked for
    scene: str = "clean"  # "clean" | "cluttered"
    chair: bool = False
    reflector: bool = False
    charuco: bool = False
    hupr: bool = False

    def to_dict(self) -> dict:
        d = asdict(self)
        d["actions"] = list(self.actions)
        return d


SCENARIOS: dict[str, ScenarioSpec] = {s.name: s for s in (
    ScenarioSpec("walk", "one person walks around the room", ("walk",)),
    ScenarioSpec("wave", "one person stands and waves (dominant hand)", ("wave",)),
    ScenarioSpec("random-poses", "one person stands and moves through random poses", ("random-poses",)),
    ScenarioSpec("walk-sit", "one person walks to a chair and sits down", ("walk-sit",), chair=True),
    ScenarioSpec("walk-wave", "one person walks and waves", ("walk-wave",)),
    ScenarioSpec("lift-leg", "one person stands and lifts a leg", ("lift-leg",)),
    ScenarioSpec("fall", "one person walks and falls", ("fall",)),
    # sim-falls-v1: falls and the everyday motions a fall detector must tell from them, in a furnished room
    ScenarioSpec("fall-forward", "one person walks and falls forwards, arms out", ("fall-forward",),
                 scene="cluttered", chair=True),
    ScenarioSpec("fall-backward", "one person walks and falls backwards onto the back", ("fall-backward",),
                 scene="cluttered", chair=True),
    ScenarioSpec("fall-sideways", "one person walks and falls to one side", ("fall-sideways",),
                 scene="cluttered", chair=True),
    ScenarioSpec("slump", "one person sits on a chair, then slowly slides off it onto the floor", ("slump",),
                 scene="cluttered", chair=True),
    ScenarioSpec("sit-fast", "one person walks to a chair and drops onto it (0.5 s)", ("sit-fast",),
                 scene="cluttered", chair=True),
    ScenarioSpec("lie-down", "one person sits on a bed's edge (0.5 m, where the chair stands) and lies down on it",
                 ("lie-down",), scene="cluttered", chair=True),
    ScenarioSpec("bend-pick", "one person walks, stops and bends down to pick something up", ("bend-pick",),
                 scene="cluttered", chair=True),
    ScenarioSpec("kneel", "one person walks, kneels on both knees for a few seconds and gets up", ("kneel",),
                 scene="cluttered", chair=True),
    ScenarioSpec("empty", "an empty furnished room (background / static clutter)", (), scene="cluttered", chair=True),
    ScenarioSpec("cluttered-walk", "one person walks in a furnished room", ("walk",), scene="cluttered", chair=True),
    ScenarioSpec("two-people", "two people: one walks, one waves", ("walk", "wave"), scene="cluttered"),
    ScenarioSpec("calibration-reflector", "a trihedral corner reflector (10 cm) on a foam stand, empty room", (),
                 reflector=True),
    ScenarioSpec("calibration-charuco", "a ChArUco board (7x5, 8 cm squares) facing the rig, empty room", (),
                 charuco=True),
    ScenarioSpec("hupr-rig", "HuPR-like rig: horizontal + vertical radar (radar_hori, radar_vert), one camera; "
                 "one person walks", ("walk",), hupr=True),
)}


def get_scenario(name: str) -> ScenarioSpec:
    try:
        return SCENARIOS[name]
    except KeyError:
        raise UnknownNameError("scenario", name, list(SCENARIOS)) from None


def default_board(spec: ScenarioSpec) -> str:
    return "awr1843boost" if spec.hupr else "mmwcas"


def build_rig(name: str, seed: int = 0, num_frames: int = 10, board: str | None = None, people: int | None = None,
              camera: bool = True, lidar: bool = True, lidar_pattern: str = "livox", multipath: bool = False,
              cfg_text: str | None = None, camera_model: CameraModel | None = None, scene: str | None = None,
              motion_seed: int | None = None) -> SimulatedRig:
    """Build the rig of scenario ``name``. ``board`` defaults to mmwcas (RT-Pose-like); ``cfg_text`` to the
    board's shipped .cfg. ``people`` overrides the scenario's person count (actions cycle).

    ``scene`` ("clean" | "cluttered") overrides the scenario's room; a cluttered room always has a chair.
    ``motion_seed``: None draws body and motion from ``seed`` alone (the default); an integer keeps the bodies
    of ``seed`` (same subjects) and draws their paths and gestures from ``(seed, motion_seed)``, so one subject
    can perform several different takes of an action."""
    spec = get_scenario(name)
    if scene is not None:
        if scene not in SCENES:
            raise UnknownNameError("scene", scene, SCENES)
        spec = replace(spec, scene=scene, chair=spec.chair or scene == "cluttered")
    if num_frames < 1:
        raise ConfigError(f"--frames must be at least 1, got {num_frames}")
    b = get_board(board or default_board(spec))
    cfg = cfg_text or b.default_cfg_text()
    area = Area()
    rng = np.random.default_rng([seed, 0x5CE])
    chair_xy = None
    if spec.chair:
        chair_xy = (float(rng.uniform(3.0, 4.0)), float(rng.uniform(-0.8, 0.8)))
    reflector = None
    if spec.reflector:
        x = float(rng.uniform(2.0, 4.5))
        reflector = (x, float(rng.uniform(-0.4, 0.4) * x), float(rng.uniform(-0.5, 0.4)))
    charuco = None
    if spec.charuco:
        centre = [float(rng.uniform(1.3, 1.8)), float(rng.uniform(-0.25, 0.25)), float(rng.uniform(-0.1, 0.15))]
        charuco = {"center": centre,
                   "yaw": float(rng.uniform(-0.3, 0.3)), "squares": [7, 5], "square_m": 0.08, "marker_m": 0.06,
                   "dictionary": "DICT_5X5_100"}
    room = Room(floor_z=area.floor_z, kind=spec.scene, chair_xy=chair_xy, reflector=reflector, charuco=charuco)
    n_people = len(spec.actions) if people is None else int(people)
    if n_people and not spec.actions:
        raise ConfigError(f"scenario {name!r} has no people; --people does not apply")
    persons = []
    b_params = validate_cfg(parse_cfg(cfg, "<cfg_text>"), b)
    horizon_s = num_frames * b_params.frame_period_s + 5.0  # paths are drawn for the session's length
    for i in range(n_people):
        prng = np.random.default_rng([seed, 0xB0D, i])
        body = BodyParams.random(prng, subject_id=f"S{seed:04d}p{i}")  # one subject per (seed, person)
        mrng = prng if motion_seed is None else np.random.default_rng([seed, 0xB0D, i, 0x7A4E, int(motion_seed)])
        persons.append(Person(body, spec.actions[i % len(spec.actions)], mrng, area,
                               chair_xy=None if chair_xy is None else np.array(chair_xy), horizon_s=horizon_s))
    world = World(room, persons, seed, multipath, wavelength_m=b_params.wavelength_m)

    jitter = np.random.default_rng([seed, 0xC10])
    if spec.hupr:
        radars = [RadarSensor("radar_hori", b, cfg, transform(), SensorClock(0.0, 0.0, 2e-4)),
                  RadarSensor("radar_vert", b, cfg, transform(rot_x(np.pi / 2), (0.0, 0.0, -0.12)),
                              SensorClock(float(jitter.uniform(0, 0.02)), float(jitter.uniform(-5e-3, 5e-3)), 2e-4))]
    else:
        radars = [RadarSensor("radar", b, cfg, transform(), SensorClock(0.0, 0.0, 2e-4))]
    lidars = []
    if lidar:
        lidars.append(LidarSensor("lidar", LidarModel(lidar_pattern), transform(t=(0.0, 0.0, 0.2)),
                                  SensorClock(float(jitter.uniform(0, 0.1)), float(jitter.uniform(-0.02, 0.02)), 1e-3)))
    cameras = []
    if camera:
        cm = camera_model or CameraModel()
        cam_clock = SensorClock(float(jitter.uniform(0, 1 / 30)), float(jitter.uniform(-0.03, 0.03)), 2e-3)
        if spec.hupr:
            cameras.append(CameraSensor("camera", cm, transform(R_RIG_CAM_FORWARD, (0.0, 0.0, 0.12)), cam_clock))
        else:
            for nm, y in (("cam_left", 0.06), ("cam_right", -0.06)):
                clock = SensorClock(cam_clock.start_s, cam_clock.clock_offset_s, cam_clock.jitter_s)  # one trigger
                cameras.append(CameraSensor(nm, cm, transform(R_RIG_CAM_FORWARD, (0.0, y, 0.1)), clock))
    desc = {"scenario": name, "seed": seed, "spec": spec.to_dict(), "board": b.name, "multipath": multipath,
            "rig": "hupr" if spec.hupr else "rtpose", "motion_seed": motion_seed}
    return SimulatedRig(world, radars, lidars, cameras, num_frames, seed, desc)
