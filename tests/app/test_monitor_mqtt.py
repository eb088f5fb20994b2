"""The monitor against a real mosquitto: Home Assistant device discovery, availability with a last will,
state topics, the fall alarm on a simulated fall, re-announcement when Home Assistant comes back online, and
a broker restart during a fall (states back within 10 s, the alarm not lost)."""

import json
import threading
import time

from monitor_sim import TruthEstimator, realtime_opener, sim_config, sim_skeletons

from rfpose.app.monitor.config import ZoneConfig
from rfpose.app.monitor.service import Monitor


def _monitor(tmp_path, broker, joints, loop=False, **mqtt):
    cfg = sim_config(device_id="lab")
    cfg.source.uri = "test://truth"
    cfg.mqtt.host, cfg.mqtt.port = "127.0.0.1", broker.port
    for k, v in mqtt.items():
        setattr(cfg.mqtt, k, v)
    cfg.web.enabled = False
    cfg.event_log = str(tmp_path / "events.sqlite")
    cfg.zones = [ZoneConfig("floor", [[0.5, -6], [9, -6], [9, 6], [0.5, 6]])]
    mon = Monitor(cfg, estimator=TruthEstimator(joints), opener=realtime_opener(len(joints), loop))
    th = threading.Thread(target=mon.run, kwargs={"duration_s": 60}, daemon=True)
    th.start()
    return mon, th


def test_discovery_states_and_fall_alarm_on_a_simulated_fall(tmp_path, broker, subscriber):
    t, joints = sim_skeletons("fall", 10.0)
    mon, th = _monitor(tmp_path, broker, joints, skeletons=True)
    try:
        disc = json.loads(subscriber.wait_for("homeassistant/device/lab/config")[2])
        subscriber.wait_for("rfpose/lab/availability", "online", timeout=5)
        subscriber.wait_for("rfpose/lab/occupancy", "ON", timeout=5)
        subscriber.wait_for("rfpose/lab/fall", "ON", timeout=15)
        fall = [json.loads(p) for p in subscriber.all("rfpose/lab/event") if json.loads(p)["kind"] == "fall"]
        assert len(fall) == 1 and 0.5 <= fall[0]["confidence"] <= 1 and fall[0]["zone"] == "floor"
        assert subscriber.last("rfpose/lab/count") == "1"
        assert subscriber.last("rfpose/lab/zone/floor/occupancy") == "ON"
        subscriber.wait_for("rfpose/lab/person/1/posture", "lying", timeout=5)
        assert subscriber.last("rfpose/lab/person/2/posture") == "absent"
        sk = json.loads(subscriber.last("rfpose/lab/skeletons"))
        assert len(sk["tracks"][0]["joints"]) == 15 and sk["frame_ns"] > 0

        # device-based discovery as Home Assistant documents it
        assert disc["dev"]["ids"] == ["rfpose_lab"] and disc["o"]["name"] == "rfpose"
        assert disc["availability_topic"] == "rfpose/lab/availability"
        cmps = disc["cmps"]
        assert all("p" in c and c["unique_id"].startswith("rfpose_lab_") and "object_id" not in c
                   for c in cmps.values())
        occ = cmps["lab_occupancy"]
        assert occ["p"] == "binary_sensor" and occ["device_class"] == "occupancy"
        assert occ["state_topic"] == "rfpose/lab/occupancy"
        falls = [(k, c) for k, c in cmps.items() if "fall" in k]
        assert len(falls) == 1 and falls[0][1]["p"] == "binary_sensor" and "fall" in falls[0][1]["unique_id"]
        assert "fall" in falls[0][1]["name"].lower() and falls[0][1]["state_topic"] == "rfpose/lab/fall"
        assert cmps["lab_zone_floor_occupancy"]["device_class"] == "occupancy"
        assert cmps["lab_person_1_posture"]["options"] == ["standing", "sitting", "lying", "absent"]
        assert cmps["lab_count"]["state_topic"] == "rfpose/lab/count"
        assert cmps["lab_latency"]["entity_category"] == "diagnostic"

        # Home Assistant restarts: discovery and every state are published again
        since = time.monotonic()
        subscriber.c.publish("homeassistant/status", "online", qos=1)
        subscriber.wait_for("homeassistant/device/lab/config", since=since, timeout=5)
        for topic in ("availability", "occupancy", "fall", "count", "person/1/posture"):
            subscriber.wait_for(f"rfpose/lab/{topic}", since=since, timeout=5)

        # the frames end (a finite replay): the device goes offline within the stale time
        subscriber.wait_for("rfpose/lab/availability", "offline", timeout=10)
    finally:
        mon.stop()
        th.join(timeout=10)
    assert mon.mqtt.discovery_sent >= 2
    # a clean stop leaves 'offline' retained; the broker also holds the last will for a crash
    late = type(subscriber)(broker.port, topics=("rfpose/lab/availability",))
    try:
        m = late.wait_for("rfpose/lab/availability", timeout=5)
        assert m[2] == "offline" and m[3]  # retained
    finally:
        late.close()


def test_last_will_marks_the_device_offline_when_the_monitor_dies(tmp_path, broker, subscriber):
    t, joints = sim_skeletons("walk", 30.0)
    mon, th = _monitor(tmp_path, broker, joints, keepalive_s=1)
    try:
        subscriber.wait_for("rfpose/lab/availability", "online", timeout=10)
        since = time.monotonic()
        mon.mqtt.client.loop_stop()  # the process "hangs": no more pings, the socket is dropped abruptly
        mon.mqtt.client.socket().close()
        subscriber.wait_for("rfpose/lab/availability", "offline", since=since, timeout=5)
    finally:
        mon.stop()
        th.join(timeout=10)


def test_broker_restart_during_a_fall_states_back_within_10_s_and_no_alarm_lost(tmp_path, broker, subscriber):
    t, joints = sim_skeletons("fall", 30.0)
    mon, th = _monitor(tmp_path, broker, joints)
    try:
        subscriber.wait_for("rfpose/lab/occupancy", "ON", timeout=10)
        broker.stop()
        time.sleep(6.0)  # the fall happens and is confirmed while the broker is away
        assert mon.engine.fall_alarm
        restarted = time.monotonic()
        broker.start()
        subscriber.wait_for("homeassistant/device/lab/config", since=restarted, timeout=10)
        for topic, value in (("availability", "online"), ("occupancy", "ON"), ("fall", "ON"), ("count", "1")):
            m = subscriber.wait_for(f"rfpose/lab/{topic}", value, since=restarted, timeout=10)
            assert m[0] - restarted <= 10.0
        ev = subscriber.wait_for("rfpose/lab/event", since=restarted, timeout=10)
        kinds = [json.loads(p)["kind"] for p in subscriber.all("rfpose/lab/event", since=restarted)]
        assert "fall" in kinds, kinds  # queued while disconnected, delivered on reconnection
        assert ev[0] - restarted <= 10.0
    finally:
        mon.stop()
        th.join(timeout=10)
