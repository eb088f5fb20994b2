"""``rfpose calibrate SESSION...``: sort calibration captures by what they show, run every solver they
allow, merge the partial results into one :class:`~rfpose.rig_calibration.Calibration`.

A capture is a **board** capture when a ChArUco board is seen in its camera frames (→ camera intrinsics
and LiDAR → camera), a **reflector** capture when the LiDAR finds a corner reflector in most sweeps
(→ radar → LiDAR), and otherwise a **motion** capture (→ clock offsets). The captures must come from one
rig (same streams with the same nominal geometry); a capture that lacks a stream its role needs is refused.

The partial results are merged through the sensors they share: LiDAR → camera poses are expressed in the
LiDAR's frame and re-expressed in the radar's once a reflector capture gives the radar → LiDAR pose.
Reads only what a real rig records (stream attrs with nominal geometry, frames); never ``sim_truth``.
"""

from __future__ import annotations

import logging
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rfpose.calibration.charuco import CharucoTarget, detect
from rfpose.calibration.intrinsics import IntrinsicsConfig, IntrinsicsResult, calibrate_intrinsics, stream_views
from rfpose.calibration.lidar_camera import (BoardPose, LidarCameraConfig, LidarCameraResult, attach_lidar,
                                              board_poses, inv, solve_lidar_camera)
from rfpose.errors import CalibrationError, ConfigError, CorrespondenceError, TargetNotFoundError
from rfpose.rig_calibration import Calibration, SensorCalibration, merge_all, pose_error, provenance

log = logging.getLogger(__name__)

SOLVERS = ("intrinsics", "lidar-camera", "radar-lidar", "radar-camera", "joint", "clocks")
ROLES = ("board", "reflector", "motion")


@dataclass
class CalibrateOptions:
    """``solvers``: which to run (a subset of :data:`SOLVERS`); ``target``: the printed ChArUco board;
    ``radar_method``: ``"polar"`` or ``"cfar"`` reflector detection; ``max_clock_offset_s``: how far clocks
    may disagree before calibration; ``progress``: tqdm bars on stderr."""

    solvers: tuple[str, ...] = SOLVERS
    target: CharucoTarget = field(default_factory=CharucoTarget)
    radar_method: str = "polar"
    reflector_edge_m: float = 0.10
    max_clock_offset_s: float = 0.5
    progress: bool = False
    workers: int = 1
    intrinsics: IntrinsicsConfig = field(default_factory=IntrinsicsConfig)
    lidar_camera: LidarCameraConfig = field(default_factory=LidarCameraConfig)


@dataclass
class CalibrationRun:
    """The merged calibration and what the report shows: per camera its intrinsics and LiDAR → camera
    results, one board image with its LiDAR sweep per camera, the radar → LiDAR partial result, each
    capture's role, and the seconds each solver took."""

    calibration: Calibration
    roles: dict[str, str]
    intrinsics: dict[str, IntrinsicsResult] = field(default_factory=dict)
    lidar_camera: dict[str, LidarCameraResult] = field(default_factory=dict)
    overlays: dict[str, dict] = field(default_factory=dict)
    radar: Calibration | None = None
    radar_camera: dict = field(default_factory=dict)  # camera -> RadarCameraFit (direct, from the marker)
    joint: object | None = None  # rfpose.calibration.joint.JointFit of the last reflector capture
    clocks: Calibration | None = None
    seconds: dict[str, float] = field(default_factory=dict)


# -- inputs ---------------------------------------------------------------------------------------------
def _streams_of(reader, kind: str) -> list[str]:
    return [s for s in reader.streams if reader.kind(s) == kind]


def check_same_rig(readers: list) -> None:
    """Refuse captures of different rigs: a stream present in two captures must have the same kind, the
    same nominal extrinsics and (cameras) image size and nominal intrinsics, (radars) the same board."""
    first: dict[str, tuple] = {}
    for r in readers:
        for name in r.streams:
            s = r.stream(name)
            m = s.metadata
            T = np.asarray(m.get("extrinsics", np.eye(4)), float)
            key = (r.kind(name), m.get("board"), m.get("width"), m.get("height"))
            if name not in first:
                first[name] = (r.path, key, T, m.get("intrinsics"))
                continue
            p0, key0, T0, K0 = first[name]
            what = None
            if key != key0:
                what = f"kind/board/image size {key0} against {key}"
            else:
                dt, dr = pose_error(T, T0)
                if dt > 1e-4 or dr > 1e-3:
                    what = f"nominal extrinsics differ by {dt * 1e3:.0f} mm / {dr:.2f} deg"
                elif K0 is not None and not np.allclose(np.asarray(K0, float), np.asarray(m.get("intrinsics"), float)):
                    what = "nominal intrinsics differ"
            if what:
                raise CorrespondenceError(f"{p0} and {r.path} are captures of different rigs (stream {name!r}: {what}); "
                                          "calibrate each rig from its own captures")


def has_board(reader, target: CharucoTarget, probes: int = 12) -> bool:
    """Whether a ChArUco board shows in any of ``probes`` evenly spaced frames of the first camera."""
    cams = _streams_of(reader, "camera")
    if not cams:
        return False
    s = reader.stream(cams[0])
    frames = np.unique(np.linspace(0, len(s) - 1, probes).round().astype(int)) if len(s) else []
    return any(len(detect(s[int(i)].image, target)) >= 4 for i in frames)


def has_reflector(reader, edge_m: float, min_fraction: float = 0.4, min_stops: int = 3) -> bool:
    """Whether the LiDAR finds a corner reflector in at least ``min_fraction`` of the sweeps, resting at
    ``min_stops`` or more places (a walking person can pass for a reflector-sized object, but never rests)."""
    from rfpose.app.calibration_inputs import lidar_reflector_track
    from rfpose.calibration.reflector import find_stops

    if not _streams_of(reader, "lidar"):
        return False
    track = lidar_reflector_track(reader, edge_m=edge_m)
    if not len(track.xyz) or float(np.isfinite(track.xyz[:, 0]).mean()) < min_fraction:
        return False
    return len(find_stops(track.timestamps_ns, track.xyz)) >= min_stops


def classify(reader, opts: CalibrateOptions) -> str:
    if has_board(reader, opts.target):
        return "board"
    if _streams_of(reader, "radar") and has_reflector(reader, opts.reflector_edge_m):
        return "reflector"
    return "motion"


def _require(reader, role: str, kinds: tuple[str, ...], rig_kinds: set[str]) -> None:
    """A capture of ``role`` must have a stream of each of ``kinds`` that the rig has."""
    for kind in kinds:
        if kind in rig_kinds and not _streams_of(reader, kind):
            raise CorrespondenceError(f"{reader.path}: {role} capture has no {kind} stream (the rig's other captures "
                                      f"have one); record {role} captures with every sensor")


# -- solvers over sessions ----------------------------------------------------------------------------------
@contextmanager
def _bar(opts: CalibrateOptions, total: int, desc: str):
    if not opts.progress:
        yield None
        return
    from tqdm import tqdm

    bar = tqdm(total=total, desc=desc, unit="frame", file=sys.stderr, leave=False)
    try:
        yield bar
    finally:
        bar.close()


def _lidar_sweeps(stream):
    def sweep(i: int) -> np.ndarray:
        p = stream.read_points(i, i + 1)
        return np.stack([p["x"], p["y"], p["z"]], 1).astype(np.float64)

    return sweep


def _nominal_K(stream) -> np.ndarray | None:
    K = stream.metadata.get("intrinsics")
    return None if K is None else np.asarray(K, float)


def calibrate_cameras(readers: list, opts: CalibrateOptions, run: CalibrationRun) -> list[Calibration]:
    """Intrinsics of every camera and LiDAR → camera for each, from the board captures."""
    parts = []
    found: dict[str, dict] = {str(r.path): {} for r in readers}  # LiDAR boards per capture, shared by the cameras
    cameras = sorted({c for r in readers for c in _streams_of(r, "camera")})
    for cam in cameras:
        views, where = {}, []
        size = None
        t0 = time.perf_counter()
        for r in readers:
            if cam not in r.streams:
                continue
            s = r.stream(cam)
            size = (int(s.metadata["width"]), int(s.metadata["height"]))
            with _bar(opts, len(s), f"{cam}: ChArUco {Path(r.path).name}") as bar:
                views[str(r.path)] = stream_views(s, opts.target, str(r.path), progress=bar)
            where.append(str(r.path))
        streams = [r.stream(cam) for r in readers if cam in r.streams]
        K0 = _nominal_K(streams[0])
        label = f"{', '.join(where)}: {cam}"
        all_views = [v for vs in views.values() for v in vs]
        if "intrinsics" in opts.solvers:
            intr = calibrate_intrinsics(all_views, size, K0, cam, label, opts.intrinsics)
            run.seconds[f"intrinsics {cam}"] = time.perf_counter() - t0
            run.intrinsics[cam] = intr
            K, dist = intr.K, intr.dist
            parts.append(Calibration("", {cam: SensorCalibration(K=K, dist=dist, image_size=size, residual={
                "rms_px": intr.rms_px, "intrinsics": intr.residual()})},
                provenance(where, "ChArUco intrinsics (cv2.calibrateCameraExtended)", target=opts.target.to_dict())))
        else:
            K, dist = K0, np.asarray(streams[0].metadata.get("distortion", np.zeros(5)), float)
        if "lidar-camera" in opts.solvers:
            part = _lidar_camera(readers, cam, views, K, dist, opts, run, found)
            if part is not None:
                parts.append(part)
    return parts


def _lidar_camera(readers, cam, views, K, dist, opts, run, found) -> Calibration | None:
    t0 = time.perf_counter()
    cfg = opts.lidar_camera
    poses: list[BoardPose] = []
    lidar_name = None
    where = []
    for r in readers:
        lidars = _streams_of(r, "lidar")
        if cam not in r.streams or not lidars:
            continue
        lidar_name = lidar_name or lidars[0]
        cs, ls = r.stream(cam), r.stream(lidar_name)
        T_lidar_cam0 = inv(np.asarray(ls.metadata["extrinsics"], float)) @ np.asarray(cs.metadata["extrinsics"], float)
        pp = board_poses(views[str(r.path)], K, dist, opts.intrinsics.min_corners, cfg)
        if not pp:
            raise TargetNotFoundError(f"{r.path}: {cam}: the board is never held still for >= {cfg.min_still_s:g} s; "
                                      "LiDAR–camera calibration needs pauses between board poses")
        with _bar(opts, len(pp), f"{lidar_name}: board planes {Path(r.path).name}") as bar:
            counts = attach_lidar(pp, _lidar_sweeps(ls), np.asarray(ls.timestamps_ns), T_lidar_cam0, opts.target, cfg,
                                  found[str(r.path)])
            if bar is not None:
                bar.update(len(pp))
        if counts["poses_without_lidar_board"] == len(pp):
            raise TargetNotFoundError(f"{r.path}: {lidar_name}: no board plane near any of the {len(pp)} still board "
                                      f"poses {cam} saw (camera frames {pp[0].camera_frames[0]}.."
                                      f"{pp[-1].camera_frames[1]}); check the nominal extrinsics and that the board "
                                      "is inside the LiDAR's field of view")
        poses += pp
        where.append(str(r.path))
        run.overlays.setdefault(cam, _overlay(r, cam, lidar_name, pp))
    if lidar_name is None:
        return None
    res = solve_lidar_camera(poses, K, dist, opts.target, T_lidar_cam0, cam, lidar_name, f"{', '.join(where)}: "
                             f"{lidar_name}->{cam}", cfg)
    res.residual["still_poses"] = len(poses)
    run.lidar_camera[cam] = res
    run.seconds[f"lidar-camera {cam}"] = time.perf_counter() - t0
    return Calibration(lidar_name, {lidar_name: SensorCalibration(np.eye(4)), cam: SensorCalibration(
        res.T_lidar_cam, covariance=res.covariance, residual={"lidar_camera": res.residual})},
        provenance(where, "ChArUco board planes + edges, LiDAR -> camera"))


def _overlay(reader, cam: str, lidar: str, poses: list[BoardPose]) -> dict:
    """One board image of ``cam`` (the pose with the most LiDAR sweeps) and its LiDAR sweep, for the report."""
    best = max(poses, key=lambda p: len(p.lidar_frames))
    if not best.lidar_frames:
        return {}
    sweep = _lidar_sweeps(reader.stream(lidar))(best.lidar_frames[len(best.lidar_frames) // 2])
    return {"capture": str(reader.path), "frame": best.view.frame, "image": reader.stream(cam)[best.view.frame].image,
            "lidar_xyz": sweep}


def _reflector_overlay(reader) -> dict:
    """A middle camera frame per camera and a LiDAR sweep of a reflector capture, for the report."""
    images = {c: reader.stream(c)[len(reader.stream(c)) // 2].image for c in _streams_of(reader, "camera")
              if len(reader.stream(c))}
    lidars = [s for s in _streams_of(reader, "lidar") if len(reader.stream(s))]
    sweep = _lidar_sweeps(reader.stream(lidars[0]))(len(reader.stream(lidars[0])) // 2) if lidars else None
    return {"capture": str(reader.path), "images": images, "lidar_xyz": sweep}


# -- the whole run -----------------------------------------------------------------------------------------
def calibrate_captures(paths: list[str], opts: CalibrateOptions | None = None) -> CalibrationRun:
    """Run every solver in ``opts.solvers`` that the captures allow; a :class:`CalibrationError` names what
    is missing when a requested solver has no capture to work on."""
    from rfpose.session import SessionReader

    opts = opts or CalibrateOptions()
    unknown = sorted(set(opts.solvers) - set(SOLVERS))
    if unknown:
        raise ConfigError(f"unknown solver(s) {unknown}; valid: {', '.join(SOLVERS)}")
    readers = [SessionReader(p) for p in paths]
    check_same_rig(readers)
    rig_kinds = {r.kind(s) for r in readers for s in r.streams}
    t0 = time.perf_counter()
    roles = {str(r.path): classify(r, opts) for r in readers}
    by_role = {role: [r for r in readers if roles[str(r.path)] == role] for role in ROLES}
    for r in by_role["board"]:
        _require(r, "board", ("lidar",), rig_kinds if "lidar-camera" in opts.solvers else set())
    for r in by_role["reflector"]:
        _require(r, "reflector", ("radar", "lidar"), rig_kinds)
    run = CalibrationRun(Calibration("radar"), roles, seconds={"classify": time.perf_counter() - t0})
    wants_cameras = {"intrinsics", "lidar-camera"} & set(opts.solvers)
    if wants_cameras and not by_role["board"]:
        raise TargetNotFoundError(f"no ChArUco board ({_describe(opts.target)}) found in any capture "
                                  f"({', '.join(roles)}); {' and '.join(sorted(wants_cameras))} need a board capture")
    if "radar-lidar" in opts.solvers and not by_role["reflector"] and set(opts.solvers) <= {"radar-lidar", "clocks"}:
        raise TargetNotFoundError(f"no corner reflector found by the LiDAR in any capture ({', '.join(roles)})")
    cameras = calibrate_cameras(by_role["board"], opts, run) if wants_cameras else []
    radar, refined = [], []
    if "radar-lidar" in opts.solvers and by_role["reflector"]:
        from rfpose.app.calibration_inputs import (radar_camera_from_session, radar_lidar_from_session,
                                                   reflector_tracks)

        for r in by_role["reflector"]:
            t = time.perf_counter()
            tracks = reflector_tracks(r, method=opts.radar_method, edge_m=opts.reflector_edge_m, workers=opts.workers)
            radar.append(radar_lidar_from_session(r, method=opts.radar_method, edge_m=opts.reflector_edge_m,
                                                  tracks=tracks))
            run.seconds["radar-lidar"] = run.seconds.get("radar-lidar", 0.0) + time.perf_counter() - t
            cams = _streams_of(r, "camera")
            if "radar-camera" in opts.solvers and cams:
                t = time.perf_counter()
                so_far = combine(radar[-1:], cameras, None, readers)
                with _bar(opts, sum(len(r.stream(c)) for c in cams), f"reflector marker {Path(r.path).name}") as bar:
                    part, fits = radar_camera_from_session(r, so_far, tracks, cams, opts.max_clock_offset_s, bar)
                radar.append(part)
                run.radar_camera.update(fits)
                run.seconds["radar-camera"] = run.seconds.get("radar-camera", 0.0) + time.perf_counter() - t
                if "joint" in opts.solvers and set(fits) & set(run.lidar_camera):
                    from rfpose.app.calibration_inputs import joint_from_tracks

                    t = time.perf_counter()
                    joint, fit = joint_from_tracks(tracks, so_far, fits, run.lidar_camera, opts.target,
                                                   opts.lidar_camera, opts.reflector_edge_m, str(r.path))
                    if joint is not None:
                        refined.append(joint)
                        run.joint = fit
                    run.seconds["joint"] = run.seconds.get("joint", 0.0) + time.perf_counter() - t
        run.radar = radar[0]
        run.overlays["_reflector"] = _reflector_overlay(by_role["reflector"][-1])
    if "clocks" in opts.solvers and by_role["motion"]:
        from rfpose.app.calibration_inputs import clock_offsets_from_session

        t = time.perf_counter()
        known = merge_all(radar) if radar and radar[0].rig_frame in by_role["motion"][0].streams else None
        run.clocks = clock_offsets_from_session(by_role["motion"][0], max_offset_s=opts.max_clock_offset_s,
                                                workers=opts.workers, known=known)
        run.seconds["clocks"] = time.perf_counter() - t
    run.calibration = combine(radar, cameras, run.clocks, readers, refined)
    run.calibration.provenance = {
        **provenance([str(r.path) for r in readers], "rfpose calibrate", solvers=list(opts.solvers), roles=roles,
                     seconds=run.seconds, target=opts.target.to_dict()),
        "parts": run.calibration.provenance.get("merged", [run.calibration.provenance])}
    return run


def combine(radar: list[Calibration], cameras: list[Calibration], clocks: Calibration | None, readers,
            refined: list[Calibration] = ()) -> Calibration:
    """Merge partial results into one calibration whose origin is the radar when a radar → LiDAR pose is
    known, else the LiDAR when a LiDAR → camera pose is, else the first radar stream (poses absent);
    ``refined`` (the joint radar–LiDAR–camera refinement) last, so its poses win over the separate ones."""
    posed = [c for c in cameras if c.rig_frame]
    intrinsics = [c for c in cameras if not c.rig_frame]
    frame = (radar[0].rig_frame if radar else posed[0].rig_frame if posed else
             next((s for r in readers for s in _streams_of(r, "radar")), None) or readers[0].streams[0])
    parts = radar + posed + [Calibration(frame, c.sensors, c.provenance) for c in intrinsics] + list(refined)
    if clocks is not None:
        if clocks.rig_frame != frame and frame in clocks.sensors:  # offsets against the new origin's clock
            base = clocks.sensors[frame].clock_offset_ns
            clocks = Calibration(frame, {n: SensorCalibration(clock_offset_ns=s.clock_offset_ns - base,
                                                              residual=s.residual)
                                         for n, s in clocks.sensors.items()}, clocks.provenance)
        parts.append(clocks)
    if not parts:
        raise CalibrationError("no solver had a capture to work on")
    return merge_all(parts)


def _describe(t: CharucoTarget) -> str:
    return f"{t.squares[0]}x{t.squares[1]}, {t.square_m * 1e3:g} mm squares, {t.dictionary}"


@dataclass
class CalibrationOutput:
    """What :func:`calibrate_sessions` did: the run (calibration + everything the report shows), the files
    written (``json_path``, ``html_path``; None if not asked) and, per session it was applied to, the summary
    of :func:`rfpose.session.calibration.apply_calibration`."""

    run: CalibrationRun
    json_path: Path | None = None
    html_path: Path | None = None
    applied: dict[str, dict] = field(default_factory=dict)

    @property
    def calibration(self) -> Calibration:
        return self.run.calibration


def calibrate_sessions(captures: list[str | Path], out: str | Path | None = None, apply_to: list[str | Path] = (),
                       opts: CalibrateOptions | None = None, report: bool = True,
                       force: bool = False) -> CalibrationOutput:
    """One call from calibration captures to calibrated sessions (what ``rfpose calibrate`` and
    ``rfpose calibrate apply`` do together).

    ``captures``: the rig's calibration sessions — a ``calibration-charuco`` capture (board: intrinsics and
    LiDAR → camera), a ``calibration-reflector`` capture recorded with every sensor (radar → LiDAR, direct
    radar → camera from the reflector's marker, the LiDAR's and the cameras' clocks) and optionally a capture
    with motion (``walk``: clocks of streams the reflector capture lacks). ``out``: write ``CALIB.json``
    (and, with ``report``, ``CALIB.html`` next to it; an existing file only with ``force``). ``apply_to``:
    sessions to write the result into (versioned stream attrs). Typed :class:`CalibrationError` subclasses
    name what is missing or degenerate."""
    from rfpose.session.calibration import apply_calibration

    json_path = Path(out) if out is not None else None
    if json_path is not None and json_path.exists() and not force:
        raise CalibrationError(f"{json_path}: exists; pass force=True (--force) to replace it")
    run = calibrate_captures([str(c) for c in captures], opts)
    result = CalibrationOutput(run)
    if json_path is not None:
        run.calibration.save(json_path, overwrite=force)
        result.json_path = json_path
        if report:
            from rfpose.app.calibration_report import write_report

            result.html_path = write_report(run, json_path.with_suffix(".html"))
    for s in apply_to:
        result.applied[str(s)] = apply_calibration(s, run.calibration, source=str(json_path) if json_path else None)
    return result
