"""The monitor's loop: one radar source → detections → tracks → events → log, MQTT and the web page.

A reader thread owns the source: it opens it (``open_source``), pushes frames into a short queue (the
oldest is dropped and counted when inference falls behind, as a live sensor does not wait) and, when the
device stops answering or fails, closes it and opens it again with exponential backoff — no restart.
A watchdog marks the device unavailable once no frame came for ``source.stale_s`` (whatever inference is
doing), and available again with the next frame.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rfpose.app.monitor.config import MonitorConfig, check_radar_only
from rfpose.app.monitor.detect import make_estimator
from rfpose.app.monitor.events import EventEngine
from rfpose.app.monitor.room import T_room_radar
from rfpose.app.monitor.store import EventStore
from rfpose.app.monitor.tracking import Tracker
from rfpose.errors import ConfigError, RfposeError

log = logging.getLogger(__name__)


@dataclass
class _Opened:
    kind: str
    metadata: dict


class SourceReader(threading.Thread):
    """Keeps one source open and streaming; frames go to ``out`` (bounded, oldest dropped)."""

    def __init__(self, uri: str, out: queue.Queue, min_backoff_s: float, max_backoff_s: float, opener=None):
        super().__init__(name="monitor-source", daemon=True)
        if opener is None:
            from rfpose.drivers.open_source import open_source as opener
        self.uri, self.out, self.opener = uri, out, opener
        self.min_backoff, self.max_backoff = min_backoff_s, max_backoff_s
        self.stop_event = threading.Event()
        self.dropped = 0
        self.reconnects = 0
        self.opened: _Opened | None = None
        self.fatal: BaseException | None = None
        self.finished = threading.Event()  # a finite (non-live) source reached its end
        self.last_error = ""
        self.source = None
        self._source_dropped = 0
        self.last_frame_t = -float("inf")  # monotonic time the last frame arrived

    def run(self) -> None:
        backoff = self.min_backoff
        while not self.stop_event.is_set():
            src = None
            try:
                src = self.opener(self.uri)
                if src.kind not in ("radar", "points"):
                    raise ConfigError(f"source {self.uri!r} gives {src.kind} frames; the room monitor reads radar only")
                self.source = src
                self.opened = _Opened(src.kind, dict(src.metadata))
                for frame in src:
                    if self.stop_event.is_set():
                        return
                    backoff = self.min_backoff
                    if getattr(frame, "complete", True):  # a dying device's flushed partial frame is no sign of life
                        self.last_frame_t = time.monotonic()
                    self._put(frame)
                if not src.is_live:
                    self.finished.set()
                    return
                self.last_error = "the source ended"
            except ConfigError as e:
                if self.opened is None:  # a mistake in the URI or the run: retrying will not fix it
                    self.fatal = e
                    self.finished.set()
                    return
                self.last_error = str(e)
            except (RfposeError, OSError) as e:
                self.last_error = str(e)
                log.warning("radar source %s: %s; reopening in %.1f s", self.uri, e, backoff)
            except Exception as e:  # noqa: BLE001 — a driver bug must not stop the monitor; it is logged
                self.last_error = f"{type(e).__name__}: {e}"
                log.exception("radar source %s failed; reopening in %.1f s", self.uri, backoff)
            finally:
                if src is not None:
                    self._source_dropped += self._stat(src, "dropped_frames")
                    self.source = None
                    try:
                        src.close()
                    except Exception:  # noqa: BLE001
                        log.debug("closing the source failed", exc_info=True)
            if self.stop_event.wait(backoff):
                return
            self.reconnects += 1
            backoff = min(self.max_backoff, backoff * 2)

    @staticmethod
    def _stat(src, key: str) -> int:
        """A counter from the source's stats (a method or a property, whichever the source has)."""
        try:
            st = getattr(src, "stats", None)
            st = st() if callable(st) else st
            return int(st.get(key, 0)) if isinstance(st, dict) else 0
        except Exception:  # noqa: BLE001 — diagnostics must never stop the monitor
            return 0

    def _put(self, frame) -> None:
        while True:
            try:
                self.out.put_nowait(frame)
                return
            except queue.Full:
                try:
                    self.out.get_nowait()
                    self.dropped += 1
                except queue.Empty:
                    pass

    @property
    def dropped_frames(self) -> int:
        src = self.source
        return self.dropped + self._source_dropped + (self._stat(src, "dropped_frames") if src is not None else 0)

    def stop(self) -> None:
        self.stop_event.set()
        src = self.source
        if src is not None and hasattr(src, "stop"):
            try:
                src.stop()
            except Exception:  # noqa: BLE001
                log.debug("stopping the source failed", exc_info=True)


class Monitor:
    """The service. ``run()`` blocks until :meth:`stop` (or a finite source ends, or ``duration_s``)."""

    def __init__(self, cfg: MonitorConfig, *, estimator=None, opener=None, sw_version: str | None = None):
        from rfpose import __version__

        check_radar_only(cfg.source.uri)
        if cfg.model.run and not (Path(cfg.model.run) / "config.json").is_file():
            raise ConfigError(f"{cfg.model.run}: not a training run (no config.json); give the run directory "
                              "written by rfpose train")
        self.cfg = cfg
        self.version = sw_version or __version__
        self.T = T_room_radar(cfg.room.radar)
        m = cfg.room.radar
        self.tracker = Tracker(cfg.tracking, np.array([m.x_m, m.y_m, m.height_m]),
                               np.array(cfg.room.boundary, float) if cfg.room.boundary else None,
                               [np.array(z.polygon, float) for z in cfg.zones if z.exclusion])
        self.engine = EventEngine(cfg.events, cfg.zones, person_slots=cfg.mqtt.person_slots)
        self.store = EventStore(cfg.event_log)
        self._estimator, self._estimator_key = estimator, None
        self._fixed_estimator = estimator is not None
        self.recorder = None
        if cfg.source.record:
            from rfpose.app.monitor.record import SessionRecorder, recording_opener

            self.recorder = SessionRecorder(cfg.source.record, cfg.source.record_overwrite,
                                            attrs={"source_uri": cfg.source.uri, "device_id": cfg.device_id})
            if opener is None:
                from rfpose.drivers.open_source import open_source as opener
            opener = recording_opener(opener, self.recorder)
        self.frames: queue.Queue = queue.Queue(maxsize=cfg.source.queue_frames)
        self.reader = SourceReader(cfg.source.uri, self.frames, cfg.source.reconnect_min_s,
                                   cfg.source.reconnect_max_s, opener)
        self.mqtt = None
        if cfg.mqtt.host:
            from rfpose.app.monitor.mqtt import MqttLink

            self.mqtt = MqttLink(cfg, self.version)
        self.web = None
        if cfg.web.enabled:
            from rfpose.app.monitor.web import WebServer

            self.web = WebServer(cfg, self)
        self.available = False
        self.processed = 0
        self.latency_ms: deque = deque(maxlen=200)  # frame complete → published
        self.stage_ms: deque = deque(maxlen=200)  # per frame {stage: ms}: queue, decode, voxels, model, … publish
        self._frame_times: deque = deque(maxlen=100)
        self._cpu = (time.monotonic(), time.process_time(), 0.0)
        self._last_diag = 0.0
        self._stop = threading.Event()
        self.listeners: list = []  # callables(payload dict) called after each frame (bench, tests)

    # ------------------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        if self.mqtt is not None:
            self.mqtt.start()
        if self.web is not None:
            self.web.start()
        self.reader.start()
        threading.Thread(target=self._watchdog, name="monitor-watchdog", daemon=True).start()

    def _watchdog(self) -> None:
        """Availability follows the radar, not the inference: online while frames arrive, offline once none
        came for ``source.stale_s`` (checked every 0.1 s, so a slow model never delays it)."""
        while not self._stop.wait(0.1):
            ok = time.monotonic() - self.reader.last_frame_t <= self.cfg.source.stale_s
            if ok != self.available:
                self._set_available(ok)
                if not ok:
                    log.warning("radar silent for %.1f s: marked unavailable (%s)", self.cfg.source.stale_s,
                                self.reader.last_error or "no frames")

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        self._stop.set()
        self.reader.stop()
        self.reader.join(timeout=5)
        if self.recorder is not None:
            self.recorder.close()
        if self.mqtt is not None:
            self.mqtt.stop()
        if self.web is not None:
            self.web.stop()
        self.store.close()

    def run(self, duration_s: float | None = None) -> None:
        """Start, process frames until stopped, close."""
        self.start()
        try:
            self.loop(duration_s)
        finally:
            self.close()

    def loop(self, duration_s: float | None = None) -> None:
        end = None if duration_s is None else time.monotonic() + duration_s
        while not self._stop.is_set() and (end is None or time.monotonic() < end):
            try:
                frame = self.frames.get(timeout=0.05)
            except queue.Empty:
                if self.reader.fatal is not None:
                    raise self.reader.fatal
                if self.reader.finished.is_set() and self.frames.empty():
                    return
                self._diagnostics()
                continue
            self.process(frame)

    @property
    def skeleton(self):
        """The skeleton the current estimator gives (the web page draws its edges); rtpose15 until known."""
        from rfpose.skeletons import get_skeleton

        return getattr(self._estimator, "skeleton", None) or get_skeleton("rtpose15")

    # ------------------------------------------------------------------------------ one frame
    def _estimator_for(self):
        if self._fixed_estimator:
            return self._estimator
        opened = self.reader.opened
        key = (opened.kind, opened.metadata.get("board"), opened.metadata.get("cfg_text"))
        if key != self._estimator_key:
            self._estimator = make_estimator(opened.kind, opened.metadata, self.cfg.model, self.T, self.cfg.clusters)
            self._estimator_key = key
        return self._estimator

    def process(self, frame, clock_s: float | None = None) -> dict:
        """One frame through estimator → tracker → events → log, MQTT and the web page. ``clock_s`` replaces
        both the monotonic and the wall clock (a replay faster than real time, ``rfpose evaluate-monitor``);
        None uses the real clocks and records the frame's latency."""
        estimator = self._estimator_for()  # built on the first frame (seconds): the frame's time starts after it
        t = time.monotonic() if clock_s is None else clock_s
        wall = time.time() if clock_s is None else clock_s
        t0 = time.perf_counter()
        waited_ms = (time.time_ns() - frame.timestamp_ns) * 1e-6  # the frame's last packet → processing starts
        detections, stage_ms = estimator(frame)
        t1 = time.perf_counter()
        tracks = self.tracker.update(t, detections)
        events = self.engine.update(t, wall, tracks)
        self.store.add(events)
        state = self.engine.state()
        payload = {"frame": int(frame.index), "frame_ns": int(frame.timestamp_ns), "time": wall,
                   "tracks": [tr.to_dict(t) for tr in tracks], "state": state,
                   "events": [e.to_dict() for e in events]}
        if self.mqtt is not None:
            self.mqtt.publish_events(events)
            self.mqtt.publish_state(state)
            self.mqtt.publish_skeletons({k: payload[k] for k in ("frame", "frame_ns", "time", "tracks")})
        if self.web is not None:
            self.web.hub.publish(payload)
        self.processed += 1
        now_ns = time.time_ns()
        self._frame_times.append(time.monotonic())
        if clock_s is None:
            self.latency_ms.append((now_ns - frame.timestamp_ns) * 1e-6)
        t2 = time.perf_counter()
        self.stage_ms.append({**({"queue": waited_ms} if clock_s is None else {}), **stage_ms,
                              "inference": stage_ms.get("total", (t1 - t0) * 1e3),
                              "after_inference": (t2 - t1) * 1e3})
        for fn in self.listeners:
            fn(payload)
        for e in events:
            log.info("event %s %s (track %s, zone %s, confidence %.2f)", e.kind, e.value, e.track, e.zone,
                     e.confidence)
        self._diagnostics()
        return payload

    def _set_available(self, ok: bool) -> None:
        self.available = ok
        if self.mqtt is not None:
            self.mqtt.set_available(ok)

    # ------------------------------------------------------------------------------ health
    def health(self) -> dict:
        # called from the web server's thread too: copy the deques (list() of a deque is atomic) before use
        now = time.monotonic()
        ft = [x for x in list(self._frame_times) if now - x < 5.0]
        fps = (len(ft) - 1) / (ft[-1] - ft[0]) if len(ft) > 1 and ft[-1] > ft[0] else 0.0
        lat = np.array(list(self.latency_ms))
        stage = list(self.stage_ms)
        names = [k for k in dict.fromkeys(k for st in stage for k in st) if k != "total"]
        stages, stages95 = ({k: round(float(np.percentile([st[k] for st in stage if k in st], q)), 1) for k in names}
                            for q in (50, 95))
        t0, c0, cpu = self._cpu
        if now - t0 >= 1.0:
            cpu = 100.0 * (time.process_time() - c0) / (now - t0)
            self._cpu = (now, time.process_time(), cpu)
        return {
            "available": self.available, "frames": self.processed, "fps": round(fps, 2),
            "latency_ms_p50": round(float(np.percentile(lat, 50)), 1) if lat.size else None,
            "latency_ms_p95": round(float(np.percentile(lat, 95)), 1) if lat.size else None,
            "inference_ms_p50": stages.get("inference"),
            "stages_ms_p50": stages,  # queue (last packet → processing), decode, voxels, model, after_inference
            "stages_ms_p95": stages95,
            "cpu_percent": round(cpu, 1), "cpu_count": os.cpu_count(),
            "dropped_frames": self.reader.dropped_frames, "reconnects": self.reader.reconnects,
            "source_error": self.reader.last_error or None, "tracks": len(self.tracker.confirmed),
            "rejected_detections": dict(self.tracker.rejected),
        }

    def _diagnostics(self) -> None:
        now = time.monotonic()
        if now - self._last_diag < 1.0:
            return
        self._last_diag = now
        h = self.health()
        if self.mqtt is not None:
            self.mqtt.publish_state(self.engine.state(), {k: h[k] for k in (
                "fps", "latency_ms_p50", "latency_ms_p95", "cpu_percent", "dropped_frames", "reconnects")})
