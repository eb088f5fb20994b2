"""Cameras through OpenCV ``VideoCapture`` (a device index, a V4L2 path, a video file or a stream URL),
yielding :class:`~rfpose.source.CameraFrame` RGB images with host timestamps."""

from __future__ import annotations

import time

from rfpose.errors import DeviceError, DeviceTimeout
from rfpose.source import END, CameraFrame, SourceBase


class CameraSource(SourceBase):
    """Frames from one camera (live) or a video file (``is_live`` False, not seekable).

    Args:
        device: an integer index (``/dev/videoN``), a device path, a file or an URL.
        width / height / fps: requested capture settings (the camera may choose others).
        max_failures: consecutive failed reads on a live camera before :class:`DeviceTimeout`.
    """

    kind = "camera"

    def __init__(self, device: int | str = 0, *, width: int | None = None, height: int | None = None,
                 fps: float | None = None, name: str = "camera", max_failures: int = 50):
        super().__init__()
        import cv2

        self.cv2 = cv2
        self.name = name
        self.device = device
        self.is_live = isinstance(device, int) or str(device).startswith(("/dev/", "rtsp:", "http:"))
        self.cap = cv2.VideoCapture(device)
        if not self.cap.isOpened():
            raise DeviceError(f"cannot open camera {device!r} with OpenCV")
        if width:
            self.cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
        if height:
            self.cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        if fps:
            self.cap.set(cv2.CAP_PROP_FPS, fps)
        self.max_failures = max_failures
        self._failures = self._index = 0
        self.metadata = {"device": str(device), "width": int(self.cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
                         "height": int(self.cap.get(cv2.CAP_PROP_FRAME_HEIGHT)),
                         "fps": float(self.cap.get(cv2.CAP_PROP_FPS))}

    def _read(self, timeout_s: float):
        if self._stopping:
            return END
        ok, bgr = self.cap.read()
        if not ok:
            if not self.is_live:
                return END  # the end of the file
            self._failures += 1
            if self._failures >= self.max_failures:
                raise DeviceTimeout(f"camera {self.device!r} returned no frame {self._failures} times in a row")
            time.sleep(min(0.01, timeout_s))
            return None
        self._failures = 0
        self._index += 1
        return CameraFrame(self._index - 1, time.time_ns(), self.cv2.cvtColor(bgr, self.cv2.COLOR_BGR2RGB))

    def _close(self) -> None:
        self.cap.release()
