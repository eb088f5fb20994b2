"""The rig calibration result: per sensor its pose in the rig frame, its clock offset and (cameras) its
intrinsics, with residuals, covariance and provenance — what ``rfpose calibrate`` writes, what
``rfpose calibrate apply`` puts into sessions, and the schema of a simulated session's ``attrs["sim_truth"]``.

JSON contract (``CALIB.json``)::

    {"rfpose_calibration": 1,
     "rig_frame": "radar",                       # the sensor whose frame and clock the rig uses
     "sensors": {NAME: {"T_rig_sensor": 4x4,     # sensor -> rig, metres (row-major nested lists)
                        "clock_offset_ns": int,  # add to the stream's timestamps to put them on the rig clock
                        "K": 3x3, "dist": [k1, k2, p1, p2, k3], "image_size": [w, h],   # cameras only
                        "residual": {...},       # solver figures, e.g. "rms_mm", "rms_px"
                        "covariance": 6x6},      # of [rotation vector (rad, 3), translation (m, 3)]
     "provenance": {...}}                        # inputs, software version, date, solvers

A *partial* calibration (one solver's output: intrinsics only, or the radar only) leaves out what it did
not estimate (``T_rig_sensor``/``clock_offset_ns`` absent or null); :meth:`Calibration.merge` combines
partial results, re-expressing one in the other's rig frame through a sensor both know. The covariance
is the one of the solve that produced the pose, in the frame that solve used (``covariance_frame``).
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from rfpose.errors import CalibrationError, CalibrationFileError

SCHEMA_VERSION = 1
KEY = "rfpose_calibration"


def invert(T: np.ndarray) -> np.ndarray:
    """Inverse of a rigid 4x4 transform."""
    R, t = T[:3, :3], T[:3, 3]
    out = np.eye(4)
    out[:3, :3] = R.T
    out[:3, 3] = -R.T @ t
    return out


def rotation_angle_deg(R: np.ndarray) -> float:
    """Angle (degrees) of a 3x3 rotation matrix."""
    from scipy.spatial.transform import Rotation

    return float(np.degrees(Rotation.from_matrix(R).magnitude()))


def pose_error(T_est: np.ndarray, T_true: np.ndarray) -> tuple[float, float]:
    """``(translation error m, rotation error deg)`` between two sensor->rig poses."""
    d = invert(T_true) @ T_est
    return float(np.linalg.norm(T_est[:3, 3] - T_true[:3, 3])), rotation_angle_deg(d[:3, :3])


# -- validation helpers ---------------------------------------------------------------------------------
def _matrix(value: Any, shape: tuple[int, ...], where: str, path: str | None) -> np.ndarray:
    try:
        a = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise CalibrationFileError(f"expected a {'x'.join(map(str, shape))} array of numbers", path, where) from None
    if a.shape != shape:
        raise CalibrationFileError(f"expected shape {list(shape)}, got {list(a.shape)}", path, where)
    if not np.all(np.isfinite(a)):
        raise CalibrationFileError("contains NaN or infinity", path, where)
    return a


def _rigid(value: Any, where: str, path: str | None) -> np.ndarray:
    T = _matrix(value, (4, 4), where, path)
    if not np.allclose(T[3], [0, 0, 0, 1], atol=1e-9):
        raise CalibrationFileError("last row must be [0, 0, 0, 1]", path, where)
    R = T[:3, :3]
    if not np.allclose(R @ R.T, np.eye(3), atol=1e-6) or np.linalg.det(R) < 0:
        raise CalibrationFileError("rotation part is not a proper rotation (orthonormal, det +1)", path, where)
    return T


@dataclass
class SensorCalibration:
    """One sensor's calibration. ``None`` = not estimated by the run that made this object.

    ``T_rig_sensor`` (4, 4) maps sensor coordinates (m) to the rig frame; ``clock_offset_ns`` is added to the
    stream's timestamps to put them on the rig clock; ``K`` (3, 3) px, ``dist`` (5,) OpenCV
    ``[k1, k2, p1, p2, k3]``, ``image_size`` ``(w, h)`` px for cameras; ``covariance`` (6, 6) of
    ``[rotation vector rad, translation m]`` of ``T_rig_sensor``; ``residual`` free-form solver figures."""

    T_rig_sensor: np.ndarray | None = None
    clock_offset_ns: int | None = None
    K: np.ndarray | None = None
    dist: np.ndarray | None = None
    image_size: tuple[int, int] | None = None
    residual: dict = field(default_factory=dict)
    covariance: np.ndarray | None = None

    @property
    def is_camera(self) -> bool:
        return self.K is not None

    def std(self) -> dict | None:
        """Per-axis 1-sigma of the pose from ``covariance``: rotation (deg) and translation (mm)."""
        if self.covariance is None:
            return None
        s = np.sqrt(np.clip(np.diag(self.covariance), 0, None))
        return {"rot_deg": np.degrees(s[:3]).tolist(), "trans_mm": (s[3:] * 1e3).tolist()}

    def to_dict(self) -> dict:
        d: dict[str, Any] = {}
        if self.T_rig_sensor is not None:
            d["T_rig_sensor"] = np.asarray(self.T_rig_sensor, float).tolist()
        if self.clock_offset_ns is not None:
            d["clock_offset_ns"] = int(self.clock_offset_ns)
        if self.K is not None:
            d["K"] = np.asarray(self.K, float).tolist()
        if self.dist is not None:
            d["dist"] = np.asarray(self.dist, float).tolist()
        if self.image_size is not None:
            d["image_size"] = [int(self.image_size[0]), int(self.image_size[1])]
        d["residual"] = _jsonable(self.residual)
        if self.covariance is not None:
            d["covariance"] = np.asarray(self.covariance, float).tolist()
        return d

    @classmethod
    def from_dict(cls, d: Any, where: str, path: str | None = None) -> SensorCalibration:
        if not isinstance(d, dict):
            raise CalibrationFileError("expected an object", path, where)
        known = {"T_rig_sensor", "clock_offset_ns", "K", "dist", "image_size", "residual", "covariance"}
        unknown = sorted(set(d) - known)
        if unknown:
            raise CalibrationFileError(f"unknown field(s) {unknown}; valid: {sorted(known)}", path, where)
        T = d.get("T_rig_sensor")
        T = None if T is None else _rigid(T, f"{where}.T_rig_sensor", path)
        off = d.get("clock_offset_ns")
        if off is not None:
            if isinstance(off, bool) or not isinstance(off, (int, float)) or not math.isfinite(off) or off != int(off):
                raise CalibrationFileError(f"expected an integer (ns), got {off!r}", path, f"{where}.clock_offset_ns")
            off = int(off)
        K = d.get("K")
        if K is not None:
            K = _matrix(K, (3, 3), f"{where}.K", path)
            if K[0, 0] <= 0 or K[1, 1] <= 0 or not np.allclose(K[2], [0, 0, 1]) or K[1, 0] != 0:
                raise CalibrationFileError("not a camera matrix [[fx,s,cx],[0,fy,cy],[0,0,1]] with fx, fy > 0",
                                           path, f"{where}.K")
        dist = d.get("dist")
        if dist is not None:
            dist = _matrix(dist, (5,), f"{where}.dist", path)
        size = d.get("image_size")
        if size is not None:
            s = _matrix(size, (2,), f"{where}.image_size", path)
            if np.any(s < 1) or np.any(s != np.round(s)):
                raise CalibrationFileError(f"expected [width, height] in whole pixels, got {size!r}", path,
                                           f"{where}.image_size")
            size = (int(s[0]), int(s[1]))
        if (dist is not None or size is not None) and K is None:
            raise CalibrationFileError("'dist'/'image_size' given without 'K'", path, where)
        res = d.get("residual", {})
        if not isinstance(res, dict):
            raise CalibrationFileError("expected an object", path, f"{where}.residual")
        cov = d.get("covariance")
        if cov is not None:
            cov = _matrix(cov, (6, 6), f"{where}.covariance", path)
        return cls(T, off, K, dist, size, dict(res), cov)

    def updated(self, other: SensorCalibration) -> SensorCalibration:
        """This entry with every field ``other`` estimated taken from ``other``."""
        out = replace(self, residual={**self.residual, **other.residual})
        for f in ("T_rig_sensor", "clock_offset_ns", "K", "dist", "image_size", "covariance"):
            v = getattr(other, f)
            if v is not None:
                setattr(out, f, v)
        return out


@dataclass
class Calibration:
    """A rig's calibration: ``sensors`` by stream name, all poses in the frame of sensor ``rig_frame`` and all
    clock offsets against its clock."""

    rig_frame: str
    sensors: dict[str, SensorCalibration] = field(default_factory=dict)
    provenance: dict = field(default_factory=dict)

    # -- queries ------------------------------------------------------------------------------------
    def __getitem__(self, name: str) -> SensorCalibration:
        try:
            return self.sensors[name]
        except KeyError:
            raise CalibrationError(f"calibration has no sensor {name!r}; it has {sorted(self.sensors)}") from None

    def pose(self, name: str) -> np.ndarray:
        """``T_rig_sensor`` of ``name`` (the rig frame's own sensor is the identity even if not listed)."""
        if name == self.rig_frame and (name not in self.sensors or self.sensors[name].T_rig_sensor is None):
            return np.eye(4)
        T = self[name].T_rig_sensor
        if T is None:
            raise CalibrationError(f"calibration has no pose for sensor {name!r}")
        return T

    def transform(self, to: str, frm: str) -> np.ndarray:
        """``T_to_frm``: maps coordinates in sensor ``frm`` to sensor ``to``."""
        return invert(self.pose(to)) @ self.pose(frm)

    def clock_offset_ns(self, name: str) -> int:
        if name == self.rig_frame and (name not in self.sensors or self.sensors[name].clock_offset_ns is None):
            return 0
        off = self[name].clock_offset_ns
        if off is None:
            raise CalibrationError(f"calibration has no clock offset for sensor {name!r}")
        return off

    # -- change of rig frame and merging --------------------------------------------------------------
    def rebased(self, rig_frame: str) -> Calibration:
        """The same calibration with sensor ``rig_frame`` as origin (poses and clock offsets re-expressed)."""
        if rig_frame == self.rig_frame:
            return self
        T_new_old = invert(self.pose(rig_frame))
        base_off = self.sensors.get(rig_frame, SensorCalibration()).clock_offset_ns
        sensors = {}
        for name, s in {**{self.rig_frame: SensorCalibration(np.eye(4), 0)}, **self.sensors}.items():
            s2 = replace(s, residual=dict(s.residual))
            if s.T_rig_sensor is not None:
                s2.T_rig_sensor = T_new_old @ s.T_rig_sensor
            if s.clock_offset_ns is not None:
                s2.clock_offset_ns = None if base_off is None else s.clock_offset_ns - base_off
            if s.covariance is not None:
                s2.residual.setdefault("covariance_frame", self.rig_frame)
            sensors[name] = s2
        return Calibration(rig_frame, sensors, {**self.provenance, "rebased_from": self.rig_frame})

    def merge(self, other: Calibration) -> Calibration:
        """Combine two partial calibrations; ``other``'s estimates win where both have one.

        If the rig frames differ, ``other`` is re-expressed in this rig frame through this calibration's pose
        (and clock offset) of ``other``'s rig sensor, or the other way round; a :class:`CalibrationError` if
        neither knows the other's origin."""
        if other.rig_frame != self.rig_frame:
            if other.rig_frame in self.sensors and self.sensors[other.rig_frame].T_rig_sensor is not None:
                anchor = self.sensors[other.rig_frame]
                sensors = {}
                for name, s in other.sensors.items():
                    s2 = replace(s, residual=dict(s.residual))
                    if s.T_rig_sensor is not None:
                        s2.T_rig_sensor = anchor.T_rig_sensor @ s.T_rig_sensor
                    if s.clock_offset_ns is not None:
                        s2.clock_offset_ns = (None if anchor.clock_offset_ns is None
                                              else s.clock_offset_ns + anchor.clock_offset_ns)
                    if s.covariance is not None:
                        s2.residual.setdefault("covariance_frame", other.rig_frame)
                    sensors[name] = s2
                other = Calibration(self.rig_frame, sensors, other.provenance)
            elif self.rig_frame in other.sensors and other.sensors[self.rig_frame].T_rig_sensor is not None:
                other = other.rebased(self.rig_frame)
            else:
                raise CalibrationError(f"cannot merge calibrations with rig frames {self.rig_frame!r} and "
                                       f"{other.rig_frame!r}: neither gives the pose of the other's origin")
        sensors = {n: replace(s, residual=dict(s.residual)) for n, s in self.sensors.items()}
        for name, s in other.sensors.items():
            sensors[name] = sensors[name].updated(s) if name in sensors else s
        parts = list(self.provenance.get("merged", [self.provenance])) + \
            list(other.provenance.get("merged", [other.provenance]))
        return Calibration(self.rig_frame, sensors, {"merged": parts, "date": _now()})

    def compare(self, truth: Calibration) -> dict[str, dict]:
        """Per sensor, errors of this calibration against ``truth`` (evaluation and tests only): translation
        ``trans_mm``, rotation ``rot_deg``, clock ``clock_ms``, camera ``fx_pct``, ``fy_pct``, ``cx_px``,
        ``cy_px`` — for what both have."""
        t = truth.rebased(self.rig_frame)
        out = {}
        for name, s in self.sensors.items():
            if name not in t.sensors:
                continue
            g, e = t.sensors[name], {}
            if s.T_rig_sensor is not None and g.T_rig_sensor is not None:
                dt, dr = pose_error(s.T_rig_sensor, g.T_rig_sensor)
                e["trans_mm"], e["rot_deg"] = dt * 1e3, dr
            if s.clock_offset_ns is not None and g.clock_offset_ns is not None:
                e["clock_ms"] = (s.clock_offset_ns - g.clock_offset_ns) / 1e6
            if s.K is not None and g.K is not None:
                e["fx_pct"] = 100 * (s.K[0, 0] / g.K[0, 0] - 1)
                e["fy_pct"] = 100 * (s.K[1, 1] / g.K[1, 1] - 1)
                e["cx_px"], e["cy_px"] = s.K[0, 2] - g.K[0, 2], s.K[1, 2] - g.K[1, 2]
            out[name] = e
        return out

    # -- serialisation --------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {KEY: SCHEMA_VERSION, "rig_frame": self.rig_frame,
                "sensors": {n: s.to_dict() for n, s in self.sensors.items()},
                "provenance": _jsonable(self.provenance)}

    @classmethod
    def from_dict(cls, d: Any, path: str | None = None) -> Calibration:
        """Validate and load the JSON object; a :class:`CalibrationFileError` names the bad field."""
        if not isinstance(d, dict):
            raise CalibrationFileError("expected a JSON object", path)
        if KEY not in d:
            raise CalibrationFileError(f"not an rfpose calibration (no {KEY!r} key)", path, KEY)
        if d[KEY] != SCHEMA_VERSION:
            raise CalibrationFileError(f"unsupported version {d[KEY]!r}; this rfpose reads {SCHEMA_VERSION}", path,
                                       KEY)
        rig = d.get("rig_frame")
        if not isinstance(rig, str) or not rig:
            raise CalibrationFileError("expected a sensor name", path, "rig_frame")
        sensors = d.get("sensors")
        if not isinstance(sensors, dict) or not sensors:
            raise CalibrationFileError("expected a non-empty object of sensors", path, "sensors")
        out = {}
        for name, s in sensors.items():
            out[name] = SensorCalibration.from_dict(s, f"sensors.{name}", path)
        if rig in out and out[rig].T_rig_sensor is not None and not np.allclose(out[rig].T_rig_sensor, np.eye(4),
                                                                                 atol=1e-9):
            raise CalibrationFileError(f"the rig frame sensor {rig!r} must have the identity pose", path,
                                       f"sensors.{rig}.T_rig_sensor")
        prov = d.get("provenance", {})
        if not isinstance(prov, dict):
            raise CalibrationFileError("expected an object", path, "provenance")
        return cls(rig, out, dict(prov))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)

    def save(self, path: str | Path, overwrite: bool = False) -> Path:
        """Write ``path`` (JSON); an existing file is replaced only with ``overwrite``."""
        p = Path(path)
        if p.exists() and not overwrite:
            raise CalibrationError(f"{p}: exists; pass --force to replace it")
        tmp = p.with_name(p.name + ".tmp")
        tmp.write_text(self.to_json() + "\n")
        tmp.replace(p)
        return p

    @classmethod
    def load(cls, path: str | Path) -> Calibration:
        p = Path(path)
        try:
            text = p.read_text()
        except OSError as e:
            raise CalibrationFileError(f"cannot read ({e.strerror})", str(p)) from None
        try:
            d = json.loads(text)
        except json.JSONDecodeError as e:
            raise CalibrationFileError(f"not JSON (line {e.lineno}: {e.msg})", str(p)) from None
        return cls.from_dict(d, str(p))


def merge_all(calibrations: list[Calibration]) -> Calibration:
    """Fold :meth:`Calibration.merge` over ``calibrations`` (later ones win)."""
    if not calibrations:
        raise CalibrationError("nothing to merge")
    out = calibrations[0]
    for c in calibrations[1:]:
        out = out.merge(c)
    return out


def provenance(inputs: list[str], solver: str, **extra) -> dict:
    """A provenance record: input captures, solver, rfpose version, UTC date, plus ``extra``."""
    from rfpose import __version__

    return {"inputs": [str(i) for i in inputs], "solver": solver, "software": f"rfpose {__version__}",
            "date": _now(), **extra}


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, np.generic):
        return x.item()
    return x
