"""Record the radar stream the monitor watches into a session, through the source fan-out.

Each time the monitor's reader opens its source, :func:`recording_opener` puts it under a
:class:`~rfpose.fanout.FanOut` with two consumers: the :class:`SessionRecorder` (lossless: every frame the
device sent is written, words as received) and the monitor (lossy and bounded: a slow model drops frames
for itself, never for the recording). One session spans reconnects: frames after a reopen are appended to
the same stream, as long as the device reports the same board and configuration.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from rfpose.errors import ConfigError
from rfpose.fanout import FanOut, Listener
from rfpose.source import END, SourceBase

log = logging.getLogger(__name__)

STREAM = "radar"


class SessionRecorder(Listener):
    """Writes the frames of every opened source into one session ``out`` (refused if it exists, unless
    ``overwrite``). Opened lazily with the first source (its board and .cfg name the stream)."""

    def __init__(self, out: str | Path, overwrite: bool = False, attrs: dict | None = None):
        self.out, self.overwrite, self.attrs = Path(out), overwrite, attrs or {}
        if self.out.exists() and not overwrite:
            raise ConfigError(f"{self.out} exists; give --force to overwrite the recording")
        self.writer = None
        self.frames = 0
        self.rejected = 0  # sources not recorded (another board or configuration than the session's)
        self._meta: tuple | None = None
        self._lock = threading.Lock()

    def attach(self, fan: FanOut, name: str, src) -> bool:
        """Record ``src`` (a source of ``fan`` named ``name``); False if it differs from the session's."""
        from rfpose.session import SessionWriter

        meta = (src.kind, src.metadata.get("board"), src.metadata.get("cfg_text"))
        with self._lock:
            if self.writer is None:
                self.writer = SessionWriter(self.out, attrs={"config": {"command": "monitor --record"},
                                                             **self.attrs},
                                            overwrite=self.overwrite, commit_interval_s=1.0, commit_every=1 << 30)
                extra = {"driver_uri": self.attrs.get("source_uri", "")}
                if src.kind == "points":
                    self.writer.add_points_stream(STREAM, board=meta[1], cfg_text=meta[2], attrs=extra)
                else:
                    self.writer.add_radar_stream(STREAM, board=meta[1], cfg_text=meta[2], attrs=extra)
                self._meta = meta
            elif meta != self._meta:
                self.rejected += 1
                log.error("the reopened radar reports another board or configuration; %s records no more of it",
                          self.out)
                return False
        fan.add_listener(self, name="recorder", maxsize=512, lossless=True)
        return True

    def on_frame(self, source: str, frame) -> None:
        with self._lock:
            self.writer.append(STREAM, frame)
            self.frames += 1

    def close(self) -> None:
        with self._lock:
            if self.writer is not None:
                self.writer.close()
                self.writer = None


class _Iterated(SourceBase):
    """A seekable source (a session stream, a file) read front to back through its iterator: the fan-out
    reads with ``read(timeout)``, which a recorded stream uses for block reads."""

    def __init__(self, inner):
        super().__init__()
        self.inner, self.kind, self.name = inner, inner.kind, getattr(inner, "name", "") or STREAM
        self.metadata = dict(inner.metadata)
        self._it = None

    def _read(self, timeout_s: float):
        if self._it is None:
            self._it = iter(self.inner)
        return END if self.stopping else next(self._it, END)

    def _close(self) -> None:
        self.inner.close()


class FannedSource(SourceBase):
    """``inner`` read by a fan-out; this source yields the monitor's (lossy) share of its frames, the
    recorder gets every frame. An error of ``inner`` is raised here once its frames are read."""

    def __init__(self, inner, recorder: SessionRecorder, maxsize: int = 8):
        super().__init__()
        if getattr(inner, "is_seekable", False):
            inner = _Iterated(inner)
        self.inner = inner
        self.kind, self.is_live = inner.kind, inner.is_live
        self.name = inner.name or STREAM
        self.metadata = dict(inner.metadata)
        self.fan = FanOut({self.name: inner})
        self.recording = recorder.attach(self.fan, self.name, inner)
        self.sub = self.fan.subscribe("monitor", maxsize=maxsize)

    def _start(self) -> None:
        self.fan.start()

    def _read(self, timeout_s: float):
        item = self.sub.get(timeout=timeout_s)
        if item is not None:
            return item[1]
        if self.fan.done and self.sub.done:
            if self.fan.errors:
                raise next(iter(self.fan.errors.values()))
            return END
        return None

    def _stop(self) -> None:
        self.fan.stop()

    def _close(self) -> None:
        self.fan.stop()
        self.fan.join(timeout=5)  # the recorder has written every frame the device sent
        self.sub.close()
        self.inner.close()

    def _stats(self) -> dict:
        st = self.inner.stats
        st = dict(st() if callable(st) else st)
        st["dropped_frames"] = int(st.get("dropped_frames", 0)) + self.sub.dropped
        return st


def recording_opener(opener, recorder: SessionRecorder):
    """An opener (``uri → source``) whose sources are recorded by ``recorder`` while the monitor reads them."""

    def open_recorded(uri: str):
        return FannedSource(opener(uri), recorder)

    return open_recorded
