"""Scenario registry: named, seeded recipes that build a :class:`~rfpose.sim.rig.SimulatedRig`.

``SCENARIOS`` maps a name to a :class:`ScenarioSpec`; :func:`build_rig` turns a name, a seed and options
into people, a room and sensors. An unknown name is an :class:`~rfpose.errors.UnknownNameError` listing the
valid ones.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import zlib

import numpy as np
from scipy.spatial.transform import Rotation

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
from rfpose.sim.targets import CharucoBoard, CornerReflector, StopAndGo, facing


SCENES = ("clean", "cluttered")
RIGS = ("rtpose", "hupr")  # one radar (+ stereo cameras, LiDAR) | HuPR's horizontal + vertical radar, one camera


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
    ScenarioSpec("calibration-reflector", "a trihedral corner reflector (10 cm) on a foam stand carried through "
                 "10 positions (range, azimuth, height), 1.3 s pauses, empty room", (), reflector=True),
    ScenarioSpec("calibration-charuco", "a ChArUco board (7x5, 8 cm squares) held in 16 poses (tilts, distances, "
                 "image corners), 0.8 s pauses, empty room", (), charuco=True),
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


def subject_id(seed: int, person: int = 0) -> str:
    """The subject id of person ``person`` of every scenario simulated with ``seed`` (the body is drawn from
    the seed alone, so a seed is one subject per person across its sessions)."""
    return f"S{seed:04d}p{person}"


def build_rig(name: str, seed: int = 0, num_frames: int = 10, board: str | None = None, people: int | None = None,
              camera: bool = True, lidar: bool = True, lidar_pattern: str = "livox", multipath: bool = False,
              cfg_text: str | None = None, camera_model: CameraModel | None = None, scene: str | None = None,
              motion_seed: int | None = None, rig_seed: int | None = None,
              stereo_baseline_m: float | None = None, rig: str | None = None,
              breathing: bool = False) -> SimulatedRig:
    """Build the rig of scenario ``name``. ``board`` defaults to mmwcas (RT-Pose-like); ``cfg_text`` to the
    board's shipped .cfg. ``people`` overrides the scenario's person count (actions cycle).

    ``scene`` ("clean" | "cluttered") overrides the scenario's room; a cluttered room always has a chair.
    ``motion_seed``: None draws body and motion from ``seed`` alone (the default); an integer keeps the bodies
    of ``seed`` (same subjects) and draws their paths and gestures from ``(seed, motion_seed)``, so one subject
    can perform several different takes of an action.

    ``rig_seed``: None gives every seed its own physical rig (the default); an integer puts the session on the
    rig of that seed (sensor poses, mounting and tape errors, camera models, clocks), as a dataset recorded
    with one rig and one calibration across subjects is. ``stereo_baseline_m``: None keeps the rig's compact
    camera pair (12 cm apart, parallel); a distance spreads ``cam_left``/``cam_right`` that far apart, toed in
    to converge at :data:`STEREO_CONVERGE_M`, as a rig built for stereo labelling is (see
    :func:`make_sensors`).

    ``rig`` ("rtpose" | "hupr") overrides the scenario's sensor rig: "hupr" puts any scenario's people in
    front of HuPR's two radars (``radar_hori``, ``radar_vert``) and one camera.

    ``breathing``: the radar body model in which each scattering centre keeps its echo from frame to frame and
    the chest moves with the person's breathing (:class:`rfpose.sim.scattering.Breathing`); off, every frame
    draws each centre's echo afresh (the default, with which the shipped datasets were built)."""
    spec = get_scenario(name)
    if rig is not None:
        if rig not in RIGS:
            raise UnknownNameError("rig", rig, RIGS)
        spec = replace(spec, hupr=rig == "hupr")
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
    rig_rng = rig_rngs(seed if rig_seed is None else rig_seed, b.name)
    targets = []
    if spec.reflector:
        targets.append(CornerReflector(reflector_path(np.random.default_rng([seed, 0x4EF])), floor_z=area.floor_z))
    if spec.charuco:
        wide = None if stereo_baseline_m is None else camera_designs(spec.hupr, stereo_baseline_m)
        targets.append(CharucoBoard(charuco_path(np.random.default_rng([seed, 0xC4A]), wide)))
    room = Room(floor_z=area.floor_z, kind=spec.scene, chair_xy=chair_xy)
    n_people = len(spec.actions) if people is None else int(people)
    if n_people and not spec.actions:
        raise ConfigError(f"scenario {name!r} has no people; --people does not apply")
    persons = []
    b_params = validate_cfg(parse_cfg(cfg, "<cfg_text>"), b)
    horizon_s = num_frames * b_params.frame_period_s + 5.0  # paths are drawn for the session's length
    for i in range(n_people):
        prng = np.random.default_rng([seed, 0xB0D, i])
        body = BodyParams.random(prng, subject_id=subject_id(seed, i))
        mrng = prng if motion_seed is None else np.random.default_rng([seed, 0xB0D, i, 0x7A4E, int(motion_seed)])
        persons.append(Person(body, spec.actions[i % len(spec.actions)], mrng, area,
                               chair_xy=None if chair_xy is None else np.array(chair_xy), horizon_s=horizon_s))
    world = World(room, persons, seed, multipath, wavelength_m=b_params.wavelength_m, targets=targets,
                  breathing=breathing)

    radars, lidars, cameras = make_sensors(b, cfg, rig_rng, hupr=spec.hupr, lidar=lidar, camera=camera,
                                           lidar_pattern=lidar_pattern, camera_model=camera_model,
                                           stereo_baseline_m=stereo_baseline_m)
    desc = {"scenario": name, "seed": seed, "spec": spec.to_dict(), "board": b.name, "multipath": multipath,
            "rig": "hupr" if spec.hupr else "rtpose", "motion_seed": motion_seed}
    if rig_seed is not None:
        desc["rig_seed"] = int(rig_seed)
    if stereo_baseline_m is not None:
        desc["stereo_baseline_m"] = float(stereo_baseline_m)
    if breathing:
        desc["breathing"] = [asdict(b) for b in world.breathing]
    return SimulatedRig(world, radars, lidars, cameras, num_frames, seed, desc)


# -- the physical rig: one per (seed, board), whatever the scenario ------------------------------------------------
#: Nominal-geometry errors (what a tape measure and a data sheet give), documented in docs/simulator.md.
MOUNT_TRANS_M, MOUNT_ROT_DEG = 0.01, 1.0  # true pose = design pose ∘ a mounting deviation of up to these
TAPE_TRANS_M, TAPE_ROT_DEG = 0.05, 3.0  # nominal = true pose ∘ a tape-measure error of up to these
FOCAL_ERROR = (0.015, 0.04)  # nominal focal length off the true one by this fraction (either sign)
CLOCK_OFFSET_S = (0.02, 0.2)  # |true clock offset| of each LiDAR / camera trigger against the radar
COMPACT_BASELINE_M = 0.12  # the default rig's camera pair: side by side above the radar, parallel
STEREO_CONVERGE_M = 3.5  # a wide pair's optical axes cross this far ahead (the middle of the walking area)


def rig_rngs(seed: int, board: str):
    """``name -> Generator`` for the rig's draws: one stream per (seed, board, name), independent of the
    scenario and of the other sensors, so every scenario of a seed and board sees the same rig."""
    return lambda name: np.random.default_rng([int(seed), zlib.crc32(board.encode()), zlib.crc32(name.encode())])


def perturb(T: np.ndarray, rng: np.random.Generator, max_trans_m: float, max_rot_deg: float) -> np.ndarray:
    """``T`` composed (in the sensor frame) with a rotation about a random axis by an angle uniform in
    [max/3, max] and a translation of random direction and length uniform in [max/3, max]."""
    axis = rng.normal(size=3)
    ang = np.radians(rng.uniform(max_rot_deg / 3, max_rot_deg))
    d = rng.normal(size=3)
    D = transform(Rotation.from_rotvec(axis / np.linalg.norm(axis) * ang).as_matrix(),
                  d / np.linalg.norm(d) * rng.uniform(max_trans_m / 3, max_trans_m))
    return T @ D


def _offset(rng: np.random.Generator) -> float:
    return float(rng.choice([-1.0, 1.0]) * rng.uniform(*CLOCK_OFFSET_S))


def true_camera_model(rng: np.random.Generator, design: CameraModel) -> CameraModel:
    """A camera of the ``design`` type as built: focal ±2 %, aspect ±0.3 %, principal point ±2 % of the
    image, radial/tangential distortion around the design's."""
    f = design.fx * (1 + rng.uniform(-0.02, 0.02))
    k1, k2, p1, p2, k3 = design.distortion
    return replace(design, fx=f, fy=f * (1 + rng.uniform(-0.003, 0.003)),
                   cx=design.cx + rng.uniform(-0.02, 0.02) * design.width,
                   cy=design.cy + rng.uniform(-0.02, 0.02) * design.height,
                   distortion=(k1 + rng.uniform(-0.03, 0.03), k2 + rng.uniform(-0.01, 0.01),
                               p1 + rng.uniform(-5e-4, 5e-4), p2 + rng.uniform(-5e-4, 5e-4), k3))


def nominal_camera_model(rng: np.random.Generator, true: CameraModel) -> CameraModel:
    """The data sheet's model: one focal length off the true one by ``FOCAL_ERROR``, the image centre,
    no distortion."""
    e = rng.choice([-1.0, 1.0]) * rng.uniform(*FOCAL_ERROR)
    f = 0.5 * (true.fx + true.fy) * (1 + e)
    return replace(true, fx=f, fy=f, cx=(true.width - 1) / 2, cy=(true.height - 1) / 2, distortion=(0.0,) * 5)


def camera_designs(hupr: bool = False, stereo_baseline_m: float | None = None) -> list[tuple[str, np.ndarray]]:
    """``(name, T_rig_camera design pose)`` of the rig's cameras: HuPR's single camera; the compact pair
    (:data:`COMPACT_BASELINE_M` apart, parallel); or, with ``stereo_baseline_m``, a pair that far apart, each
    turned about the vertical toward the rig's axis so the optical axes cross :data:`STEREO_CONVERGE_M` ahead."""
    if hupr:
        return [("camera", transform(R_RIG_CAM_FORWARD, (0.0, 0.0, 0.12)))]
    if stereo_baseline_m is None:
        half = COMPACT_BASELINE_M / 2
        return [(nm, transform(R_RIG_CAM_FORWARD, (0.0, y, 0.1)))
                for nm, y in (("cam_left", half), ("cam_right", -half))]
    if not 0.02 <= stereo_baseline_m <= 5.0:
        raise ConfigError(f"--stereo-baseline must be within 0.02-5 m, got {stereo_baseline_m:g}")
    half = float(stereo_baseline_m) / 2
    return [(nm, transform(Rotation.from_euler("z", -np.arctan2(y, STEREO_CONVERGE_M)).as_matrix() @ R_RIG_CAM_FORWARD,
                           (0.0, y, 0.1))) for nm, y in (("cam_left", half), ("cam_right", -half))]


def make_sensors(board, cfg: str, rig_rng, hupr: bool = False, lidar: bool = True, camera: bool = True,
                 lidar_pattern: str = "livox", camera_model: CameraModel | None = None,
                 stereo_baseline_m: float | None = None):
    """The radars, LiDAR and cameras of the rig: design poses, true poses (mounting deviation), nominal
    poses (tape error), clocks and camera models, each drawn from its own ``rig_rng(name)`` stream.

    ``stereo_baseline_m`` (None: :data:`COMPACT_BASELINE_M`, parallel) places ``cam_left``/``cam_right`` at
    y = ±baseline/2 and turns each toward the rig's axis so the optical axes meet :data:`STEREO_CONVERGE_M`
    ahead; the draws (mounting, tape, intrinsics, clocks) are the same streams, so only the design poses
    differ from the compact rig of the same seed."""
    def placed(name: str, design: np.ndarray, origin: bool = False) -> tuple[np.ndarray, np.ndarray]:
        if origin:  # the rig frame's own sensor: exact by definition
            return design, design
        g = rig_rng(name + "/pose")
        true = perturb(design, g, MOUNT_TRANS_M, MOUNT_ROT_DEG)
        return true, perturb(true, g, TAPE_TRANS_M, TAPE_ROT_DEG)

    if hupr:
        T2, N2 = placed("radar_vert", transform(rot_x(np.pi / 2), (0.0, 0.0, -0.12)))
        g = rig_rng("radar_vert/clock")
        radars = [RadarSensor("radar_hori", board, cfg, transform(), SensorClock(0.0, 0.0, 2e-4)),
                  RadarSensor("radar_vert", board, cfg, T2, SensorClock(float(g.uniform(0, 0.02)),
                                                                         float(g.uniform(-5e-3, 5e-3)), 2e-4),
                              nominal_T=N2)]
    else:
        radars = [RadarSensor("radar", board, cfg, transform(), SensorClock(0.0, 0.0, 2e-4))]
    lidars = []
    if lidar:
        T, N = placed("lidar", transform(t=(0.0, 0.0, 0.2)))
        g = rig_rng("lidar/clock")
        lidars.append(LidarSensor("lidar", LidarModel(lidar_pattern), T,
                                  SensorClock(float(g.uniform(0, 0.1)), _offset(g), 1e-3), nominal_T=N))
    cameras = []
    if camera:
        design = camera_model or CameraModel()
        g = rig_rng("cameras/clock")  # the cameras share one trigger
        cam_clock = SensorClock(float(g.uniform(0, 1 / 30)), _offset(g), 2e-3)
        for nm, design_T in camera_designs(hupr, stereo_baseline_m):
            T, N = placed(nm, design_T)
            true = true_camera_model(rig_rng(nm + "/intrinsics"), design)
            clock = SensorClock(cam_clock.start_s, cam_clock.clock_offset_s, cam_clock.jitter_s)
            cameras.append(CameraSensor(nm, true, T, clock, nominal_T=N,
                                        nominal_model=nominal_camera_model(rig_rng(nm + "/datasheet"), true),
                                        trigger="cameras"))
    return radars, lidars, cameras


# -- calibration target motion -------------------------------------------------------------------------------------
def reflector_path(rng: np.random.Generator, stops: int = 10) -> StopAndGo:
    """``stops`` apex positions spread in range (1.8–4.5 m), azimuth (±30°) and height (stratified over
    −0.35…+0.45 m, kept inside the LiDAR's ±13° band), each held 1.3 s, 0.6 s moves: 18.7 s."""
    def strata(lo, hi):
        return rng.permutation(lo + (np.arange(stops) + rng.uniform(0.15, 0.85, stops)) * (hi - lo) / stops)

    r, az, z = strata(1.8, 4.5), np.radians(strata(-30.0, 30.0)), strata(-0.35, 0.45)
    z = np.clip(z, 0.2 - 0.2 * r + 0.08, 0.2 + 0.2 * r - 0.08)  # LiDAR at z 0.2 m, ±13° minus the reflector
    pos = np.stack([r * np.cos(az), r * np.sin(az), z], 1)
    rot = np.stack([facing(p) for p in pos])
    return StopAndGo(pos, rot, dwell_s=1.3, move_s=0.6, start_s=0.3)


def charuco_path(rng: np.random.Generator, cameras: list[tuple[str, np.ndarray]] | None = None) -> StopAndGo:
    """Board poses for intrinsics and LiDAR–camera calibration: per camera nine across its image (corners,
    edges, centre) at 1.1–2.0 m and (default rig) seven near the centre at 0.9–1.6 m, tilted ±10–35° about
    the vertical and horizontal axes with ±15° roll; each held 0.8 s, 0.4 s moves.

    ``cameras`` None: the compact pair, seen as one camera at the rig's centre (16 poses, 19.1 s). A wide
    stereo rig (``(name, design pose)`` of :func:`camera_designs`) gets the nine poses in front of each camera
    plus two near each camera's centre, held 0.6 s with 0.3 s moves (22 poses, 20.1 s), as a user calibrating
    each camera of a spread-out rig would."""
    views = [(np.array([0.0, 0.0, 0.1]), np.eye(3), 7)] if cameras is None else [
        (T[:3, 3], T[:3, :3] @ R_RIG_CAM_FORWARD.T, 2) for _, T in cameras]
    pos, rot = [], []
    for cam, R_yaw, n_centre in views:  # R_yaw: the camera's turn about the vertical, in the rig frame
        grid = [(-0.28, -0.2), (0.0, -0.22), (0.28, -0.2), (-0.3, 0.0), (0.0, 0.0), (0.3, 0.0), (-0.28, 0.2),
                (0.0, 0.22), (0.28, 0.2)]
        grid += [(rng.uniform(-0.12, 0.12), rng.uniform(-0.1, 0.1)) for _ in range(n_centre)]
        for i, (u, v) in enumerate(grid):
            d = rng.uniform(1.1, 2.0) if i < 9 else rng.uniform(0.9, 1.6)
            ray = R_yaw @ np.array([1.0, -u, -v])  # camera looks along +x: image right = -y, image down = -z
            pos.append(cam + d * ray / np.linalg.norm(ray))
            sign = rng.choice([-1.0, 1.0], 2)
            yaw, pitch = sign * np.radians(rng.uniform(10, 35, 2))
            roll = np.radians(rng.uniform(-15, 15))
            local = Rotation.from_euler("yxz", [yaw, pitch, roll]).as_matrix()  # about v (yaw), u (pitch), w (roll)
            rot.append(facing(pos[-1], cam) @ local)
    dwell, move = (0.8, 0.4) if cameras is None else (0.6, 0.3)
    return StopAndGo(np.array(pos), np.array(rot), dwell_s=dwell, move_s=move, start_s=0.3)


def default_frames(name: str, board: str | None = None, cfg_text: str | None = None,
                   stereo_baseline_m: float | None = None) -> int:
    """Radar frames a scenario needs by default: a calibration scenario's whole target path plus 0.2 s;
    10 for the others."""
    spec = get_scenario(name)
    if not (spec.reflector or spec.charuco):
        return 10
    b = get_board(board or default_board(spec))
    period = validate_cfg(parse_cfg(cfg_text or b.default_cfg_text(), "<cfg_text>"), b).frame_period_s
    wide = None if stereo_baseline_m is None else camera_designs(spec.hupr, stereo_baseline_m)
    path = reflector_path(np.random.default_rng(0)) if spec.reflector else charuco_path(np.random.default_rng(0), wide)
    return int(np.ceil((path.duration_s + 0.2) / period))
