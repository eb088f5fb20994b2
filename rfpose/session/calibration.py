"""Write a rig calibration into a recorded session (``rfpose calibrate apply``).

For every stream the calibration knows, the stream attrs ``extrinsics`` (T_rig_sensor), ``intrinsics`` and
``distortion`` (cameras) and ``clock_offset_ns`` are replaced by the calibrated values; the values they
replace are appended to the stream's ``calibration_history`` (with the version they belonged to), and
``calibration`` records the version (1, 2, …), the calibration's provenance and the date. The root attrs get
the whole calibration (``calibration``, the JSON contract of :mod:`rfpose.rig_calibration`) and its own
``calibration_history``. The session reader then returns the calibrated geometry and
``timestamps_ns + clock_offset_ns`` (see :class:`rfpose.session.reader.SessionStream`).

Poses are written in the session's rig frame: the calibration is re-expressed in the frame of the
session's reference stream (the stream whose extrinsics are the identity, normally the first radar).
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

import numpy as np
import zarr
from zarr.storage import LocalStore

from rfpose.errors import CalibrationError
from rfpose.rig_calibration import Calibration


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _rig_reference(reader, calib: Calibration) -> str:
    """The session stream that is the rig origin (identity extrinsics), preferring the calibration's."""
    if calib.rig_frame in reader.streams:
        T = reader.stream(calib.rig_frame).metadata.get("extrinsics")
        if T is None or np.allclose(T, np.eye(4), atol=1e-9):
            return calib.rig_frame
    for name in reader.streams:
        T = reader.stream(name).metadata.get("extrinsics")
        if T is not None and np.allclose(T, np.eye(4), atol=1e-9) and name in calib.sensors:
            return name
    raise CalibrationError(f"{reader.path}: no stream of the session is both the rig origin (identity extrinsics) "
                           f"and in the calibration (rig frame {calib.rig_frame!r}, sensors {sorted(calib.sensors)})")


def apply_calibration(path: str | Path, calib: Calibration, source: str | None = None) -> dict:
    """Write ``calib`` into the session at ``path``; returns ``{"version", "streams": {name: [fields]},
    "skipped": [sensors not in the session]}``. A :class:`CalibrationError` if the session is still being
    written, no stream matches, or a camera's image size differs from the calibration's."""
    from rfpose.session.reader import SessionReader

    reader = SessionReader(path)
    if not reader.closed:
        raise CalibrationError(f"{reader.path}: the session is still being written (or its writer crashed); "
                               "calibrate a closed session")
    matched = [n for n in calib.sensors if n in reader.streams]
    if not matched:
        raise CalibrationError(f"{reader.path}: none of the calibration's sensors {sorted(calib.sensors)} is a stream "
                               f"of the session ({', '.join(reader.streams)})")
    ref = _rig_reference(reader, calib)
    c = calib.rebased(ref) if ref != calib.rig_frame else calib
    history = list(reader.attrs.get("calibration_history", []))
    version = len(history) + 1
    stamp = {"version": version, "applied": _now(), "source": source, "rig_frame": ref,
             "provenance": calib.provenance}
    updates: dict[str, dict] = {}
    changed: dict[str, list[str]] = {}
    for name in matched:
        s, stream = c.sensors[name], reader.stream(name)
        meta = stream.metadata
        new: dict = {}
        if s.T_rig_sensor is not None:
            new["extrinsics"] = np.asarray(s.T_rig_sensor, float).tolist()
        if s.clock_offset_ns is not None:
            new["clock_offset_ns"] = int(s.clock_offset_ns)
        if s.K is not None:
            if stream.kind != "camera":
                raise CalibrationError(f"{reader.path}/streams/{name}: the calibration has intrinsics but the stream "
                                       f"is a {stream.kind}")
            if s.image_size is not None and tuple(s.image_size) != (int(meta["width"]), int(meta["height"])):
                raise CalibrationError(f"{reader.path}/streams/{name}: images are {meta['width']}x{meta['height']} but "
                                       f"the calibration is for {s.image_size[0]}x{s.image_size[1]}")
            new["intrinsics"] = np.asarray(s.K, float).tolist()
            new["distortion"] = (np.zeros(5) if s.dist is None else np.asarray(s.dist, float)).tolist()
        if not new:
            continue
        raw = dict(stream._group.attrs)
        before = {k: raw.get(k) for k in new}
        prev = raw.get("calibration", {"version": 0, "source": "as recorded"})
        hist = list(raw.get("calibration_history", [])) + [{"version": prev.get("version", 0), **before}]
        updates[name] = {**new, "calibration": stamp, "calibration_history": hist}
        changed[name] = sorted(new)
    root = zarr.open_group(store=LocalStore(reader.path), mode="r+", zarr_format=3)
    for name, attrs in updates.items():
        root[f"streams/{name}"].attrs.update(attrs)
    previous = reader.attrs.get("calibration")
    root.attrs.update({"calibration": {**c.to_dict(), "version": version, "applied": stamp["applied"],
                                       "source": source},
                       "calibration_history": history + [previous if previous is not None else
                                                         {"version": 0, "source": "as recorded"}]})
    reader.close()
    return {"version": version, "rig_frame": ref, "streams": changed,
            "skipped": sorted(n for n in calib.sensors if n not in reader.streams)}
