"""Ouster LiDARs through the optional ``ouster-sdk`` (``pip install 'rfpose[ouster]'``).

Supported SDK versions: ``ouster-sdk >=0.15, <1.1`` (the ``ouster`` extra pins this range; tested with 1.0.1).
0.15 introduced the ``ouster.sdk.core`` namespace this module imports; its ``open_source`` yields one list
of scans per step, and 1.0 renamed ``LidarScan``/``ScanSource`` to ``LidarFrame``/``FrameSetSource`` and
yields a ``FrameSet`` instead of a list. Both shapes are handled; only non-deprecated names are used.

:class:`OusterSource` reads a live sensor (host name or IP), or a recording: a ``.pcap`` (its metadata JSON
is found next to it by the SDK, or given as ``meta=PATH``) or an ``.osf``. Each lidar frame (one
revolution) of one sensor (``sensor=0``) becomes a :class:`~rfpose.source.LidarFrame`:

- ``x, y, z``: the SDK's own projection (``XYZLut``, extrinsics not applied) of the first-return ``RANGE``
  field (millimetres) into metres in Ouster's *sensor* coordinate frame (x forward, away from the
  connector; y left; z up; origin at the centre of the base). The rig's extrinsics place that frame.
- points with zero range (no return) and points of invalid columns (``status`` bit 0 clear: packets lost,
  or outside the azimuth window) are dropped; the rest stay in the SDK's staggered (beam, column) order.
- ``intensity``: the ``REFLECTIVITY`` field (calibrated, 0-255, the simulator's scale) by default, else
  ``SIGNAL``; ``intensity_field=NAME`` picks any channel field (a missing one is a ConfigError).
- ``time_offset_ns``: each point's column measurement timestamp minus the frame's first valid column's
  (the sensor clock, so valid in any timestamp mode).
- ``timestamp_ns``: host clock: the receive time of the packet holding the frame's first valid column
  (``packet_timestamp``, also stored in pcap/osf recordings); when a recording lacks it, the sensor's
  timestamp of that column, and for a live sensor, the time the frame was read.

Recordings the SDK has indexed (every ``.osf``; a ``.pcap`` with ``index=True``, which reads the file once
at open) are seekable: ``len()`` and ``source[i]``; frame ``index`` counts the recording's frames.
"""

from __future__ import annotations

import re
import time
from importlib import metadata as _md

import numpy as np

from rfpose.errors import ConfigError, DeviceError, FormatError
from rfpose.source import END, LIDAR_POINT_DTYPE, LidarFrame, SourceBase

MIN_SDK = (0, 15)
_INSTALL = "install it with: pip install 'rfpose[ouster]'"


def _version_tuple(text: str) -> tuple[int, ...]:
    """``"0.15.1rc2"`` -> ``(0, 15, 1)``: the leading numeric release parts."""
    m = re.match(r"\d+(?:\.\d+)*", text)
    return tuple(int(p) for p in m.group(0).split(".")) if m else ()


def _require_ouster() -> str:
    """The installed ouster-sdk version; DeviceError when it is missing or older than :data:`MIN_SDK`."""
    try:
        version = _md.version("ouster-sdk")
    except _md.PackageNotFoundError:
        version = None
    try:
        from ouster.sdk import open_source  # noqa: F401
        from ouster.sdk.core import XYZLut  # noqa: F401
    except ImportError:
        if version is None:
            raise DeviceError(f"reading Ouster LiDARs needs ouster-sdk, which is not installed; {_INSTALL}") from None
        raise DeviceError(f"ouster-sdk {version} is installed, but rfpose needs ouster-sdk >= "
                          f"{'.'.join(map(str, MIN_SDK))}; {_INSTALL}") from None
    if version is not None and _version_tuple(version) < MIN_SDK:
        raise DeviceError(f"ouster-sdk {version} is installed, but rfpose needs ouster-sdk >= "
                          f"{'.'.join(map(str, MIN_SDK))}; {_INSTALL}")
    return version or "unknown"


def _enum_name(value) -> str:
    name = getattr(value, "name", None)
    return str(name if isinstance(name, str) else value).rsplit(".", 1)[-1]


class OusterSource(SourceBase):
    """Frames of an Ouster sensor (host name or IP) or recording (``.pcap``/``.osf``) as LiDAR frames.

    ``sensor`` picks one sensor of a multi-sensor recording; ``meta`` is the metadata JSON of a pcap when
    it does not sit next to it; ``index=True`` indexes a pcap so the source is seekable;
    ``intensity_field`` names the channel field reported as ``intensity`` (default REFLECTIVITY, else SIGNAL).
    """

    kind = "lidar"

    def __init__(self, target: str, *, name: str = "lidar", sensor: int = 0, meta: str | None = None,
                 index: bool = False, intensity_field: str | None = None):
        super().__init__()
        version = _require_ouster()
        from ouster.sdk import open_source
        from ouster.sdk.core import XYZLut

        self.name = name
        self.target = target
        self.intensity_field = intensity_field
        self._scans = None
        recording = target.lower().endswith((".pcap", ".osf"))
        kw: dict = {"sensor_idx": int(sensor)}
        if meta:
            kw["meta"] = [str(meta)]
        if index and target.lower().endswith(".pcap"):
            kw["index"] = True
        try:
            self._src = open_source(target, **kw)
        except Exception as e:  # noqa: BLE001 - the SDK raises its own types (SourceURLException, RuntimeError …)
            raise DeviceError(f"cannot open Ouster source {target!r}: {e}") from None
        try:
            infos = self._src.sensor_info
            self.info = infos[0] if isinstance(infos, (list, tuple)) else infos
            self.is_live = bool(getattr(self._src, "is_live", not recording))
            self.is_seekable = not self.is_live and bool(getattr(self._src, "is_indexed", False))
            try:
                self._lut = XYZLut(self.info, use_extrinsics=False)
            except TypeError:  # an SDK whose XYZLut has no use_extrinsics (it never applies them)
                self._lut = XYZLut(self.info)
        except Exception:
            self._src.close()
            raise
        fmt = self.info.format
        self._cols_per_packet = max(1, int(getattr(fmt, "columns_per_packet", 16)))
        self.metadata = {
            "target": target,
            "sensor_index": int(sensor),
            "ouster_sdk_version": version,
            "prod_line": str(self.info.prod_line),
            "serial_number": str(self.info.sn),
            "fw_rev": str(self.info.fw_rev),
            "lidar_mode": _enum_name(self.info.config.lidar_mode) if self.info.config.lidar_mode is not None
            else f"{fmt.columns_per_frame}x{fmt.fps}",
            "udp_profile_lidar": _enum_name(fmt.udp_profile_lidar),
            "beams": int(fmt.pixels_per_column),
            "columns_per_frame": int(fmt.columns_per_frame),
            "intensity_field": intensity_field or "REFLECTIVITY (else SIGNAL)",
            "coordinate_frame": "ouster sensor frame (x forward, y left, z up), metres",
        }
        to_json = getattr(self.info, "to_json_string", None) or getattr(self.info, "updated_metadata_string", None)
        if to_json is not None:
            self.metadata["sensor_info_json"] = to_json()

    # -- frames -------------------------------------------------------------------------------------
    @staticmethod
    def _pick(step):
        """The scan of our sensor in one step of the SDK source: a LidarFrame/LidarScan itself (single-sensor
        sources of older SDKs), or the first entry of a FrameSet (1.0) or list (0.15-0.16); None if absent."""
        if step is None or hasattr(step, "packet_timestamp"):
            return step
        for scan in step:
            return scan
        return None

    def _intensity(self, scan) -> np.ndarray | None:
        fields = list(scan.fields) if hasattr(scan, "fields") else []
        if self.intensity_field is not None:
            if fields and self.intensity_field not in fields:
                raise ConfigError(f"Ouster source {self.target!r}: no field {self.intensity_field!r} for intensity "
                                  f"in this profile; fields: {', '.join(sorted(fields))}")
            return scan.field(self.intensity_field)
        for candidate in ("REFLECTIVITY", "SIGNAL"):
            if candidate in fields:
                return scan.field(candidate)
        return None

    def _frame(self, index: int, scan) -> LidarFrame:
        rng = np.asarray(scan.field("RANGE"))
        xyz = self._lut(rng)  # (H, W, 3) metres; (0, 0, 0) where the range is 0
        col_ts = np.asarray(scan.timestamp).astype(np.int64)
        valid_cols = (np.asarray(scan.status) & 1).astype(bool)
        keep = (rng != 0) & valid_cols[None, :]
        pts = np.zeros(int(keep.sum()), LIDAR_POINT_DTYPE)
        if valid_cols.any():
            first = int(np.argmax(valid_cols))
            sensor_t0 = int(col_ts[first])
            packet_ts = np.asarray(scan.packet_timestamp)
            k = first // self._cols_per_packet
            host_t0 = int(packet_ts[k]) if k < len(packet_ts) else 0
        else:
            first, sensor_t0, host_t0 = 0, 0, 0
        if not host_t0:
            host_t0 = time.time_ns() if self.is_live else sensor_t0
        if len(pts):
            sel = xyz[keep]
            pts["x"], pts["y"], pts["z"] = sel[:, 0], sel[:, 1], sel[:, 2]
            intensity = self._intensity(scan)
            if intensity is not None:
                pts["intensity"] = np.asarray(intensity)[keep]
            cols = np.nonzero(keep)[1]
            pts["time_offset_ns"] = col_ts[cols] - sensor_t0
        return LidarFrame(index, host_t0, pts)

    def _read(self, timeout_s: float):
        if self.is_seekable:
            return super()._read(timeout_s)
        if self._stopping:
            return END
        if self._scans is None:
            self._scans = enumerate(self._src)
        for index, step in self._scans:
            scan = self._pick(step)
            if scan is not None:
                return self._frame(index, scan)
        return END

    def _iter(self):
        for index, step in enumerate(self._src):
            if self._stopping:
                return
            scan = self._pick(step)
            if scan is not None:
                yield self._frame(index, scan)

    def _len(self) -> int:
        return len(self._src)

    def _get(self, index: int) -> LidarFrame:
        scan = self._pick(self._src[index])
        if scan is None:
            raise FormatError(f"{self.target}: frame {index} holds no scan of sensor {self.metadata['sensor_index']}")
        return self._frame(index, scan)

    def _close(self) -> None:
        close = getattr(self._src, "close", None)
        if close:
            close()
