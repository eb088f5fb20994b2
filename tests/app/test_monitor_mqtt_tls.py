"""MQTT over TLS with a username and password, against a real mosquitto configured so (self-signed CA made
with openssl, password file made with mosquitto_passwd); a wrong password is refused without a crash."""

import os
import shutil
import subprocess
import threading
import time

import pytest
from mqtt_broker import Broker
from monitor_sim import TruthEstimator, realtime_opener, sim_config, sim_skeletons

from rfpose.app.monitor.service import Monitor


def _tools():
    missing = [t for t in ("openssl", "mosquitto_passwd") if shutil.which(t) is None]
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"{missing} required in CI (openssl, and mosquitto from .ci/ensure-mosquitto)")
        pytest.skip(f"{missing} not installed")


@pytest.fixture
def tls_broker(tmp_path):
    _tools()

    def sh(*cmd):
        subprocess.run(cmd, cwd=tmp_path, check=True, capture_output=True)

    sh("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "1",
       "-subj", "/CN=rfpose test CA")
    sh("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj",
       "/CN=127.0.0.1")
    (tmp_path / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    sh("openssl", "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
       "-out", "server.crt", "-days", "1", "-extfile", "san.ext")
    sh("mosquitto_passwd", "-b", "-c", "passwd", "monitor", "s3cret-pass")
    b = Broker(tmp_path)
    b.conf.write_text(f"listener {b.port} 127.0.0.1\ncafile {tmp_path / 'ca.crt'}\ncertfile {tmp_path / 'server.crt'}\n"
                      f"keyfile {tmp_path / 'server.key'}\nallow_anonymous false\npassword_file {tmp_path / 'passwd'}\n"
                      "persistence false\nlog_dest none\n" + ("user root\n" if os.geteuid() == 0 else ""))
    b.start()
    yield b, tmp_path
    b.stop()


def _run(tmp_path, port, password):
    (tmp_path / "mqtt-password").write_text(password + "\n")
    t, joints = sim_skeletons("walk", 30.0)
    cfg = sim_config(device_id="tls")
    cfg.source.uri = "test://truth"
    cfg.web.enabled = False
    cfg.event_log = str(tmp_path / "ev.sqlite")
    m = cfg.mqtt
    m.host, m.port, m.tls, m.ca_file = "127.0.0.1", port, True, str(tmp_path / "ca.crt")
    m.username, m.password_file = "monitor", str(tmp_path / "mqtt-password")
    mon = Monitor(cfg, estimator=TruthEstimator(joints), opener=realtime_opener(len(joints)))
    th = threading.Thread(target=mon.run, kwargs={"duration_s": 30}, daemon=True)
    th.start()
    return mon, th


def test_tls_and_password(tls_broker):
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    broker, d = tls_broker
    got = []
    sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="tls-sub")
    sub.tls_set(ca_certs=str(d / "ca.crt"))
    sub.username_pw_set("monitor", "s3cret-pass")
    sub.on_connect = lambda c, u, f, rc, p: c.subscribe("rfpose/tls/#")
    sub.on_message = lambda c, u, m: got.append((m.topic, m.payload.decode()))
    sub.connect("127.0.0.1", broker.port)
    sub.loop_start()
    mon, th = _run(d, broker.port, "s3cret-pass")
    try:
        t0 = time.monotonic()
        while ("rfpose/tls/occupancy", "ON") not in got and time.monotonic() - t0 < 15:
            time.sleep(0.05)
        assert ("rfpose/tls/availability", "online") in got and ("rfpose/tls/occupancy", "ON") in got
    finally:
        mon.stop()
        th.join(timeout=10)
        sub.loop_stop()
    bad, th = _run(d, broker.port, "wrong")
    try:
        time.sleep(2.0)
        assert not bad.mqtt.connected.is_set() and bad.processed > 5 and th.is_alive()  # refused, still running
    finally:
        bad.stop()
        th.join(timeout=10)
