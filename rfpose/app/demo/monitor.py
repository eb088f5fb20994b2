"""Stage ``monitor``: ``rfpose monitor`` on the captured session, a real broker and a headless browser."""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path

from rfpose.app.demo.state import DemoState, jsonable, stage
from rfpose.errors import RfposeError


class _MqttLog:
    """A second MQTT client on the demo's broker that records what the monitor publishes."""

    def __init__(self, port: int):
        import threading

        import paho.mqtt.client as mqtt

        self.messages: list[tuple[str, bytes, bool]] = []
        self._lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="rfpose-demo-listener")
        self.client.on_connect = lambda c, *_a: c.subscribe("#")
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_message(self, _c, _u, msg) -> None:
        with self._lock:
            self.messages.append((msg.topic, bytes(msg.payload), bool(msg.retain)))

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()

    def summary(self, prefix: str) -> dict:
        with self._lock:
            msgs = list(self.messages)
        disc = [(t, p) for t, p, _r in msgs if t.startswith("homeassistant/") and p]
        entities = {}
        for _t, p in disc:  # device-based discovery: one payload, its components by id
            with contextlib.suppress(ValueError, AttributeError):
                entities.update((json.loads(p).get("cmps") or json.loads(p).get("components") or {}))
        avail = [p.decode(errors="replace") for t, p, _r in msgs if t == f"{prefix}/availability"]
        return {"messages": len(msgs), "topics": len({t for t, _p, _r in msgs}), "discovery_messages": len(disc),
                "discovery_entities": len(entities), "fall_entity": any("fall" in k for k in entities),
                "availability_payloads": ", ".join(dict.fromkeys(avail)) or None,
                "state_messages": sum(t.startswith(prefix) and not t.endswith(("/availability", "/skeletons"))
                                      for t, _p, _r in msgs)}


def _browse_monitor(url: str, token: str, shot: Path, seconds: float) -> dict:
    """A headless Chromium logs in on the monitor's page with the token and photographs the live view."""
    from rfpose.app.local_services import HeadlessChromium

    with HeadlessChromium() as b:
        b.call("Page.navigate", url=url)
        b.wait("location.pathname === '/login' && !!document.getElementById('token')", what="the login page")
        b.eval(f"document.getElementById('token').value = {json.dumps(token)};"
               "document.getElementById('login').click(); true")
        # several frames: the page shows a live, moving view, not one snapshot
        b.wait("location.pathname === '/' && window.rfpose && window.rfpose.frames >= 5", timeout_s=max(seconds, 30),
               what="live frames on the page")
        t0 = time.monotonic()
        while time.monotonic() - t0 < seconds and not b.eval("window.rfpose.last && window.rfpose.last.tracks "
                                                             "&& window.rfpose.last.tracks.length > 0"):
            time.sleep(0.2)
        page = b.eval("({frames: window.rfpose.frames, tracks: (window.rfpose.last.tracks || []).length, "
                      "status: document.getElementById('status').textContent, "
                      "health: document.getElementById('health').textContent})")
        b.screenshot(shot)
    return page


def stage_monitor(state: DemoState) -> None:
    """``rfpose monitor`` on the captured session replayed in real time: a real broker, the web page with
    token auth, and a browser. mosquitto or chromium missing skips that part (said in the report)."""
    import secrets
    import threading

    from rfpose.app.local_services import Mosquitto
    from rfpose.app.monitor.config import MonitorConfig, RadarMount, ZoneConfig
    from rfpose.app.monitor.service import Monitor
    from rfpose.errors import DependencyError

    cfg, out = state.cfg, state.out / "monitor"
    with stage(state, "monitor", needs=("train", "capture")) as st:
        if st.status == "skipped":
            return
        out.mkdir(parents=True, exist_ok=True)
        doc: dict = {"seconds": cfg.monitor_seconds, "notes": []}
        broker = None
        try:
            broker = Mosquitto(out).__enter__()
        except DependencyError as e:
            doc["notes"].append(f"MQTT part skipped: {e}")
            print(f"[demo] monitor: {e}; running without MQTT", flush=True)
        token = secrets.token_urlsafe(24)
        (out / "token").write_text(token + "\n")
        (out / "token").chmod(0o600)
        events_db = out / "events.sqlite"
        events_db.unlink(missing_ok=True)
        mcfg = MonitorConfig(device_id="demo", name="rfpose demo room")
        mcfg.source.uri = f"session://{Path(state.doc['capture']['session']).resolve()}?realtime=1&loop=1#radar"
        mcfg.model.run, mcfg.model.threads = state.doc["training"]["run"], cfg.threads
        mcfg.room.radar = RadarMount(height_m=1.0)
        mcfg.zones = [ZoneConfig("room", [[0.5, -3.0], [6.0, -3.0], [6.0, 3.0], [0.5, 3.0]])]
        mcfg.web.port, mcfg.web.token_file = 0, str(out / "token")
        mcfg.event_log = str(events_db)
        listener = None
        if broker is not None:
            mcfg.mqtt.host, mcfg.mqtt.port = "127.0.0.1", broker.port
            listener = _MqttLog(broker.port)
        mon = Monitor(mcfg)
        th = threading.Thread(target=mon.run, daemon=True)  # until stopped: at least monitor_seconds of frames
        wall0 = time.time()
        try:
            th.start()
            t0 = time.monotonic()
            while not (mon.web.server.started and mon.processed > 0):
                if not th.is_alive() or time.monotonic() - t0 > 60:
                    raise RfposeError("the monitor did not start processing frames within 60 s")
                time.sleep(0.1)
            t_first = time.monotonic()
            try:
                doc["browser"] = _browse_monitor(f"http://127.0.0.1:{mon.web.port}/", token, out / "page.png",
                                                 cfg.monitor_seconds)
                doc["screenshot"] = str(out / "page.png")
            except DependencyError as e:
                doc["notes"].append(f"browser part skipped: {e}")
                print(f"[demo] monitor: {e}; no screenshot", flush=True)
            while time.monotonic() - t_first < cfg.monitor_seconds and th.is_alive():
                time.sleep(0.1)
            health = mon.health()
        finally:
            mon.stop()
            th.join(timeout=30)
            if listener is not None:
                time.sleep(0.3)
                listener.close()
            if broker is not None:
                broker.__exit__()
        from rfpose.app.monitor.store import EventStore

        store = EventStore(events_db)
        events = store.recent(200)
        store.close()
        doc["health"] = {k: v for k, v in health.items() if not isinstance(v, dict)}
        doc["latency_ms_p50"], doc["latency_ms_p95"] = health["latency_ms_p50"], health["latency_ms_p95"]
        doc["events"] = [{"t_s": round(e["time"] - wall0, 2), **{k: e.get(k) for k in ("kind", "value", "track",
                                                                                       "zone", "confidence")}}
                         for e in sorted(events, key=lambda e: e.get("time") or 0)]
        if listener is not None:
            doc["mqtt"] = {"broker": f"mosquitto 127.0.0.1:{broker.port}", **listener.summary(mcfg.topic_prefix)}
        state.doc["monitor"] = jsonable(doc)
        st.items, st.unit = health["frames"], "frames"
        st.detail = (f"{health['frames']} frames, {len(events)} events, latency p50 {health['latency_ms_p50']} ms "
                     f"p95 {health['latency_ms_p95']} ms" + "".join(f"; {n}" for n in doc["notes"]))
