"""MQTT with Home Assistant device-based discovery (paho-mqtt ≥ 2, ``CallbackAPIVersion.VERSION2``).

Topics live under ``<prefix>`` (default ``rfpose/<device id>``):

====================================  =========================================================  ========
``<prefix>/availability``             ``online`` / ``offline`` (the last will; offline while the      retained
                                      radar is silent)
``<prefix>/occupancy``                ``ON`` / ``OFF``                                              retained
``<prefix>/count``                    people in the room                                            retained
``<prefix>/zone/<name>/occupancy``    ``ON`` / ``OFF``; ``…/count`` the people in the zone          retained
``<prefix>/fall``                     ``ON`` while a fall alarm is active                           retained
``<prefix>/person/<slot>/posture``    ``standing`` / ``sitting`` / ``lying`` / ``absent``           retained
``<prefix>/diagnostics``              JSON: fps, latency_ms (p50, p95), cpu_percent, dropped_frames  retained
``<prefix>/event``                    every event as JSON (QoS 1, queued while disconnected)
``<prefix>/skeletons``                tracked skeletons as JSON (``skeletons = true``)
====================================  =========================================================  ========

Discovery is one retained message on ``<discovery prefix>/device/<device id>/config`` (``dev``, ``o`` and
a ``cmps`` map, each component with ``p`` and a ``unique_id``; ``default_entity_id``, not the deprecated
``object_id``). It is sent again, with the availability and every state, whenever the client (re)connects
and whenever Home Assistant announces ``online`` on ``<discovery prefix>/status``, so entities never stay
unavailable after a broker or Home Assistant restart. paho reconnects with backoff; events and state
changes made while disconnected are published on reconnection, so an alarm is never lost.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import deque
from pathlib import Path

from rfpose.app.monitor.config import MonitorConfig
from rfpose.app.monitor.events import POSTURES, Event
from rfpose.errors import ConfigError

log = logging.getLogger(__name__)

ONLINE, OFFLINE = "online", "offline"


def discovery_payload(cfg: MonitorConfig, sw_version: str, model: str = "mmWave radar") -> tuple[str, dict]:
    """(topic, payload) of the Home Assistant device-based discovery message."""
    dev, pre = cfg.device_id, cfg.topic_prefix
    uid = f"rfpose_{dev}"

    def comp(platform: str, key: str, name: str, topic: str, **extra) -> tuple[str, dict]:
        return f"{dev}_{key}", {"p": platform, "name": name, "unique_id": f"{uid}_{key}",
                                "default_entity_id": f"{platform}.{uid}_{key}", "state_topic": topic, **extra}

    on_off = {"payload_on": "ON", "payload_off": "OFF"}
    cmps = dict([
        comp("binary_sensor", "occupancy", "Occupancy", f"{pre}/occupancy", device_class="occupancy", **on_off),
        comp("sensor", "count", "People", f"{pre}/count", state_class="measurement", icon="mdi:account-multiple"),
        comp("binary_sensor", "fall", "Fall detected", f"{pre}/fall", device_class="safety", **on_off),
    ])
    for z in cfg.zones:
        if z.exclusion:
            continue
        cmps.update([comp("binary_sensor", f"zone_{z.name}_occupancy", f"{z.name} occupancy",
                          f"{pre}/zone/{z.name}/occupancy", device_class="occupancy", **on_off),
                     comp("sensor", f"zone_{z.name}_count", f"{z.name} people", f"{pre}/zone/{z.name}/count",
                          state_class="measurement", icon="mdi:account-multiple")])
    for s in range(1, cfg.mqtt.person_slots + 1):
        cmps.update([comp("sensor", f"person_{s}_posture", f"Person {s} posture", f"{pre}/person/{s}/posture",
                          device_class="enum", options=[*POSTURES, "absent"], icon="mdi:human")])
    for key, name, tmpl, unit in (("fps", "Frame rate", "{{ value_json.fps }}", "Hz"),
                                  ("latency", "Latency p95", "{{ value_json.latency_ms_p95 }}", "ms"),
                                  ("cpu", "CPU", "{{ value_json.cpu_percent }}", "%"),
                                  ("dropped", "Dropped frames", "{{ value_json.dropped_frames }}", None)):
        unit_kw = {"unit_of_measurement": unit} if unit else {}
        cmps.update([comp("sensor", key, name, f"{pre}/diagnostics", entity_category="diagnostic",
                          state_class="measurement", value_template=tmpl, **unit_kw)])
    payload = {
        "dev": {"ids": [uid], "name": cfg.name, "mf": "rfpose", "mdl": model, "sw": sw_version},
        "o": {"name": "rfpose", "sw": sw_version},
        "availability_topic": f"{pre}/availability", "payload_available": ONLINE, "payload_not_available": OFFLINE,
        "qos": 1,
        "cmps": cmps,
    }
    return f"{cfg.mqtt.discovery_prefix}/device/{dev}/config", payload


def state_messages(cfg: MonitorConfig, state: dict) -> dict[str, str]:
    """Retained state topics → payloads from the event engine's :meth:`state`."""
    pre = cfg.topic_prefix
    msgs = {f"{pre}/occupancy": "ON" if state["occupied"] else "OFF", f"{pre}/count": str(state["count"]),
            f"{pre}/fall": "ON" if state["fall"] else "OFF"}
    for name, z in state["zones"].items():
        msgs[f"{pre}/zone/{name}/occupancy"] = "ON" if z["occupied"] else "OFF"
        msgs[f"{pre}/zone/{name}/count"] = str(z["count"])
    slots = {p["slot"]: p["posture"] for p in state["people"] if p["slot"] and p["posture"]}
    for s in range(1, cfg.mqtt.person_slots + 1):
        msgs[f"{pre}/person/{s}/posture"] = slots.get(s, "absent")
    return msgs


class MqttLink:
    """The monitor's MQTT connection. Thread-safe: the service calls :meth:`publish_state`,
    :meth:`publish_events`, :meth:`set_available` from its loop; paho's network thread reconnects."""

    def __init__(self, cfg: MonitorConfig, sw_version: str, model: str = "mmWave radar"):
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.cfg, m = cfg, cfg.mqtt
        self.prefix = cfg.topic_prefix
        self.avail_topic = f"{self.prefix}/availability"
        self.status_topic = f"{m.discovery_prefix}/status"
        self.discovery = discovery_payload(cfg, sw_version, model)
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=m.client_id or f"rfpose-{cfg.device_id}")
        self.client.will_set(self.avail_topic, OFFLINE, qos=1, retain=True)
        if m.username:
            password = None
            if m.password_file:
                try:
                    password = Path(m.password_file).read_text().strip()
                except OSError as e:
                    raise ConfigError(f"cannot read the MQTT password file ({e.strerror})", m.password_file) from None
            self.client.username_pw_set(m.username, password)
        if m.tls:
            try:
                self.client.tls_set(ca_certs=m.ca_file or None, certfile=m.cert_file or None,
                                    keyfile=m.key_file or None)
            except (OSError, ValueError) as e:
                raise ConfigError(f"MQTT TLS set-up failed: {e}") from None
        self.client.reconnect_delay_set(min_delay=1, max_delay=max(1, int(m.reconnect_max_s)))
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self._lock = threading.Lock()
        self._states: dict[str, str] = {}
        self._available = False
        self._outbox: deque = deque(maxlen=10_000)  # events made while disconnected
        self.connected = threading.Event()
        self.connects = 0
        self.discovery_sent = 0

    # ------------------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        m = self.cfg.mqtt
        self.client.connect_async(m.host, m.port, keepalive=m.keepalive_s)
        self.client.loop_start()

    def stop(self) -> None:
        if self.connected.is_set():
            info = self.client.publish(self.avail_topic, OFFLINE, qos=1, retain=True)
            try:
                info.wait_for_publish(timeout=2.0)
            except RuntimeError:
                pass
        self.client.disconnect()
        self.client.loop_stop()

    # ------------------------------------------------------------------------------ paho callbacks
    # Callbacks run on paho's network thread holding paho's callback lock, and paho's publish() may take that
    # lock: so nothing here calls publish() while holding self._lock (it only snapshots under it).
    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.warning("MQTT broker %s:%s refused the connection: %s", self.cfg.mqtt.host, self.cfg.mqtt.port,
                        reason_code)
            return
        self.connects += 1
        client.subscribe(self.status_topic, qos=1)
        self.connected.set()
        self._announce()
        with self._lock:
            queued, self._outbox = list(self._outbox), deque(maxlen=self._outbox.maxlen)
        for msg in queued:
            client.publish(*msg)
        log.info("MQTT connected to %s:%s", self.cfg.mqtt.host, self.cfg.mqtt.port)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self.connected.clear()
        if reason_code != 0:
            log.warning("MQTT connection lost (%s); reconnecting", reason_code)

    def _on_message(self, client, userdata, msg) -> None:
        if msg.topic == self.status_topic and msg.payload.strip() == ONLINE.encode():
            self._announce()  # Home Assistant restarted: it forgot everything not retained

    def _announce(self) -> None:
        """Discovery, then availability, then every state (retained)."""
        if self.cfg.mqtt.discovery:
            topic, payload = self.discovery
            self.client.publish(topic, json.dumps(payload), qos=1, retain=True)
            self.discovery_sent += 1
        with self._lock:
            msgs = [(self.avail_topic, ONLINE if self._available else OFFLINE), *self._states.items()]
        for topic, payload in msgs:
            self.client.publish(topic, payload, qos=1, retain=True)

    # ------------------------------------------------------------------------------ publishing
    def set_available(self, available: bool) -> None:
        with self._lock:
            changed, self._available = available != self._available, available
        if changed and self.connected.is_set():
            self.client.publish(self.avail_topic, ONLINE if available else OFFLINE, qos=1, retain=True)

    def publish_state(self, state: dict, diagnostics: dict | None = None) -> None:
        """Publish the retained states that changed (all of them are resent on reconnection)."""
        msgs = state_messages(self.cfg, state)
        if diagnostics is not None:
            msgs[f"{self.prefix}/diagnostics"] = json.dumps(diagnostics)
        with self._lock:
            changed = [(t, p) for t, p in msgs.items() if self._states.get(t) != p]
            self._states.update(changed)
        if self.connected.is_set():
            for topic, payload in changed:
                self.client.publish(topic, payload, qos=1, retain=True)

    def publish_events(self, events: list[Event]) -> None:
        msgs = [(f"{self.prefix}/event", json.dumps(e.to_dict()), 1, False) for e in events]
        if not msgs:
            return
        if not self.connected.is_set():
            with self._lock:
                self._outbox.extend(msgs)
            return
        for msg in msgs:  # QoS 1: paho keeps it and resends it if the connection drops before the broker's ack
            self.client.publish(*msg)

    def publish_skeletons(self, payload: dict) -> None:
        if self.cfg.mqtt.skeletons and self.connected.is_set():
            self.client.publish(f"{self.prefix}/skeletons", json.dumps(payload), qos=0, retain=False)
