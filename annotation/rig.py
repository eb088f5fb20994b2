"""The calibrated rig as annotation sees it: cameras and LiDARs in the radar frame, on the radar's clock.

Everything comes from the session reader's stream metadata (what a calibrated real rig gives), never from
simulator truth: ``extrinsics`` (4x4 sensor -> rig), ``intrinsics`` (3x3), ``distortion`` (OpenCV k1 k2 p1
p2 k3) and the streams' timestamps, which the session reader puts on the common clock with the calibrated
``clock_offset_ns`` (see :func:`clock_offset_ns` for sessions recorded before that existed). The label
frame is the first radar stream's frame: a point ``p_s`` of sensor s is ``T_radar_s @ p_s`` with
``T_radar_s = inv(T_rig_radar) @ T_rig_s``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rfpose.boards import get_board
from rfpose.errors import FormatError, UnknownNameError
from rfpose.radar_config import parse_cfg, validate_cfg


def clock_offset_ns(meta: dict, where: str) -> int:
    """What still has to be subtracted from a stream's reader timestamps to put them on the common clock.

    A calibrated session's stream has ``clock_offset_ns`` (written by ``rfpose calibrate apply``) and the
    session reader already adds it to ``timestamps_ns``: nothing is left (0). Sessions written before that
    (simulator revisions that recorded ``clock.clock_offset_s``, host time minus true time, in the stream
    attrs) are corrected with that value. Otherwise the host clocks are taken as synchronised (0)."""
    if "clock_offset_ns" in meta:
        return 0
    clock = meta.get("clock")
    if isinstance(clock, dict) and clock.get("clock_offset_s") is not None:
        return int(round(float(clock["clock_offset_s"]) * 1e9))
    return 0


def _extrinsics(meta: dict, where: str) -> np.ndarray:
    T = meta.get("extrinsics")
    if T is None:
        raise FormatError(f"{where}: no extrinsics in the stream attrs; calibrate the rig first (rfpose calibrate)")
    T = np.asarray(T, np.float64)
    if T.shape != (4, 4) or not np.all(np.isfinite(T)):
        raise FormatError(f"{where}: extrinsics must be a finite 4x4 matrix, got shape {T.shape}")
    return T


@dataclass
class CameraCalib:
    """One calibrated camera. ``T_radar_cam``: camera (OpenCV axes: x right, y down, z forward) -> radar
    frame; ``K`` 3x3 px; ``dist`` (5,); ``offset_ns``: clock offset relative to the radar's."""

    name: str
    K: np.ndarray
    dist: np.ndarray
    T_radar_cam: np.ndarray
    width: int
    height: int
    offset_ns: int

    @property
    def T_cam_radar(self) -> np.ndarray:
        return np.linalg.inv(self.T_radar_cam)

    def to_camera(self, p_radar: np.ndarray) -> np.ndarray:
        """Radar-frame points ``(..., 3)`` in camera coordinates."""
        T = self.T_cam_radar
        return p_radar @ T[:3, :3].T + T[:3, 3]

    def project(self, p_radar: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pixels ``(..., 2)`` (with distortion) and camera depth ``(...)`` of radar-frame points."""
        pc = self.to_camera(np.asarray(p_radar, np.float64))
        z = pc[..., 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            xn = pc[..., :2] / z[..., None]
        return self.distort(xn), z

    def distort(self, xn: np.ndarray) -> np.ndarray:
        """Normalised undistorted coordinates ``(..., 2)`` -> pixels (OpenCV's model)."""
        k1, k2, p1, p2, k3 = self.dist
        x, y = xn[..., 0], xn[..., 1]
        r2 = x * x + y * y
        radial = 1 + k1 * r2 + k2 * r2**2 + k3 * r2**3
        xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
        yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
        return np.stack([self.K[0, 0] * xd + self.K[0, 2], self.K[1, 1] * yd + self.K[1, 2]], -1)

    def normalise(self, uv: np.ndarray, iters: int = 10) -> np.ndarray:
        """Pixels ``(..., 2)`` -> normalised undistorted coordinates (fixed-point inversion, as OpenCV's
        ``undistortPoints``); NaN stays NaN."""
        k1, k2, p1, p2, k3 = self.dist
        xd = (uv[..., 0] - self.K[0, 2]) / self.K[0, 0]
        yd = (uv[..., 1] - self.K[1, 2]) / self.K[1, 1]
        x, y = xd.copy(), yd.copy()
        for _ in range(iters):
            r2 = x * x + y * y
            radial = 1 + k1 * r2 + k2 * r2**2 + k3 * r2**3
            dx = 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
            dy = p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
            x, y = (xd - dx) / radial, (yd - dy) / radial
        return np.stack([x, y], -1)


@dataclass
class LidarCalib:
    name: str
    T_radar_lidar: np.ndarray
    offset_ns: int


@dataclass
class RigView:
    """The radar stream the labels belong to, its label-time shift, and the calibrated cameras and LiDARs."""

    radar: str
    radar_offset_ns: int
    label_shift_ns: int  # label time = radar timestamp + this (middle of the frame's chirping)
    cameras: list[CameraCalib]
    lidars: list[LidarCalib]
    calibration: dict  # provenance: where the calibration came from

    def camera(self, name: str) -> CameraCalib:
        for c in self.cameras:
            if c.name == name:
                return c
        raise UnknownNameError("camera stream", name, [c.name for c in self.cameras])


def load_rig(reader, radar: str | None = None, cameras: list[str] | None = None,
             lidars: list[str] | None = None) -> RigView:
    """The calibrated rig of an open session (:class:`rfpose.session.SessionReader`)."""
    by_kind: dict[str, list[str]] = {}
    for s in reader.streams:
        by_kind.setdefault(reader.kind(s), []).append(s)
    radars = by_kind.get("radar", []) + by_kind.get("points", [])
    if radar is None:
        if not radars:
            raise FormatError(f"{reader.path}: no radar stream to place labels on")
        radar = radars[0]
    elif radar not in radars:
        raise UnknownNameError("radar stream", radar, radars)
    rmeta = reader.stream(radar).metadata
    rwhere = f"{reader.path}/streams/{radar}"
    T_rig_radar = np.asarray(rmeta.get("extrinsics", np.eye(4)), np.float64)
    T_radar_rig = np.linalg.inv(T_rig_radar)
    shift = 0
    if rmeta.get("cfg_text"):
        board = get_board(rmeta["board"]) if rmeta.get("board") else None
        params = validate_cfg(parse_cfg(rmeta["cfg_text"], f"{rwhere} cfg_text"), board)
        shift = int(round(params.active_chirping_s / 2 * 1e9))
    cams = []
    for name in (by_kind.get("camera", []) if cameras is None else cameras):
        if name not in by_kind.get("camera", []):
            raise UnknownNameError("camera stream", name, by_kind.get("camera", []))
        m = reader.stream(name).metadata
        where = f"{reader.path}/streams/{name}"
        K = m.get("intrinsics")
        if K is None:
            raise FormatError(f"{where}: no intrinsics; calibrate the camera first (rfpose calibrate)")
        dist = np.zeros(5)
        d = np.asarray(m.get("distortion") if m.get("distortion") is not None else [], np.float64).ravel()
        dist[:min(5, d.size)] = d[:5]
        cams.append(CameraCalib(name, np.asarray(K, np.float64), dist, T_radar_rig @ _extrinsics(m, where),
                                int(m["width"]), int(m["height"]), clock_offset_ns(m, where)))
    lids = []
    for name in (by_kind.get("lidar", []) if lidars is None else lidars):
        if name not in by_kind.get("lidar", []):
            raise UnknownNameError("lidar stream", name, by_kind.get("lidar", []))
        m = reader.stream(name).metadata
        where = f"{reader.path}/streams/{name}"
        lids.append(LidarCalib(name, T_radar_rig @ _extrinsics(m, where), clock_offset_ns(m, where)))
    calib = dict(reader.attrs.get("calibration") or {}) or {"source": "stream attrs (nominal or as recorded)"}
    return RigView(radar, clock_offset_ns(rmeta, rwhere), shift, cams, lids, calib)
