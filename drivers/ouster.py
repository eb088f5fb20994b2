"""Ouster LiDARs through the optional ``ouster-sdk`` (``pip install rfpose[ouster]``)."""

from __future__ import annotations

import time

import numpy as np

from rfpose.errors import DeviceError
from rfpose.source import LIDAR_POINT_DTYPE, LidarFrame, SourceBase


def _require_ouster():
    try:
        from ouster.sdk import open_source  # noqa: F401
        from ouster.sdk.core import XYZLut  # noqa: F401
    except ImportError:
        raise DeviceError("reading Ouster LiDARs needs ouster-sdk, which is not installed; "
                          "install it with: pip install 'rfpose[ouster]'") from None


class OusterSource(SourceBase):
    """Scans of an Ouster sensor (host name or IP) or recording (pcap/osf) as LiDAR frames."""

    kind = "lidar"

    def __init__(self, target: str, *, name: str = "lidar"):
        super().__init__()
        _require_ouster()
        from ouster.sdk import open_source

        self.name = name
        self.is_live = not target.endswith((".pcap", ".osf"))
        try:
            self.scans = open_source(target)
        except Exception as e:  # noqa: BLE001 - ouster raises its own types
            raise DeviceError(f"cannot open Ouster source {target!r}: {e}") from None
        self.metadata = {"target": target}

    def _iter(self):
        from ouster.sdk.core import ChanField, XYZLut

        info = self.scans.sensor_info[0] if isinstance(self.scans.sensor_info, list) else self.scans.sensor_info
        lut = XYZLut(info)
        for index, scans in enumerate(self.scans):
            scan = scans[0] if isinstance(scans, list) else scans
            if scan is None:
                continue
            xyz = lut(scan).reshape(-1, 3)
            keep = np.any(xyz != 0, axis=1)
            pts = np.zeros(int(keep.sum()), LIDAR_POINT_DTYPE)
            pts["x"], pts["y"], pts["z"] = xyz[keep].T
            try:
                pts["intensity"] = scan.field(ChanField.REFLECTIVITY).reshape(-1)[keep]
            except Exception:  # noqa: BLE001 - the field set depends on the profile
                pass
            yield LidarFrame(index, time.time_ns(), pts)

    def _close(self) -> None:
        close = getattr(self.scans, "close", None)
        if close:
            close()
