"""Fixtures for the monitor tests: a real mosquitto on 127.0.0.1 (Debian's, started here), a tiny trained
run on a simulated AWR1843 session, an MQTT subscriber that records what it sees."""

from __future__ import annotations

import shutil
import sys
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from mqtt_broker import Broker  # noqa: E402  (tests/app is on sys.path from here)


@pytest.fixture
def broker(tmp_path):
    b = Broker(tmp_path)
    b.start()
    yield b
    b.stop()


class Subscriber:
    """A paho client on '#' recording (time, topic, payload, retain); reconnects fast after a broker restart."""

    def __init__(self, port: int, topics=("#",)):
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.messages: list[tuple[float, str, str, bool]] = []
        self.lock = threading.Lock()
        self.c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"test-sub-{port}-{id(self)}")
        self.c.reconnect_delay_set(min_delay=0.05, max_delay=0.2)
        self.c.on_connect = lambda c, u, f, rc, p: [c.subscribe(t, qos=1) for t in topics]
        self.c.on_message = self._on_message
        self.c.connect("127.0.0.1", port)
        self.c.loop_start()

    def _on_message(self, c, u, msg):
        with self.lock:
            self.messages.append((time.monotonic(), msg.topic, msg.payload.decode(), bool(msg.retain)))

    def last(self, topic: str, since: float = 0.0):
        with self.lock:
            got = [m for m in self.messages if m[1] == topic and m[0] >= since]
        return got[-1][2] if got else None

    def all(self, topic: str, since: float = 0.0) -> list[str]:
        with self.lock:
            return [m[2] for m in self.messages if m[1] == topic and m[0] >= since]

    def wait_for(self, topic: str, payload=None, timeout: float = 10.0, since: float = 0.0):
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            with self.lock:
                for m in self.messages:
                    if m[1] == topic and m[0] >= since and (payload is None or m[2] == payload):
                        return m
            time.sleep(0.02)
        raise AssertionError(f"no {topic} {payload!r} within {timeout} s; saw {self.all(topic)[-5:]}")

    def close(self):
        self.c.disconnect()
        self.c.loop_stop()


@pytest.fixture
def subscriber(broker):
    s = Subscriber(broker.port)
    yield s
    s.close()


@pytest.fixture(scope="session")
def monitor_run(tmp_path_factory):
    """(session.zarr, run dir): 20 simulated AWR1843 frames of a person walking, preprocessed as RT-Pose
    voxels, and hrradarpose-lite trained one step on them (the run deploys on its own)."""
    import torch

    from rfpose.cli import main

    d = tmp_path_factory.mktemp("monitor-run")
    session, data, run = d / "walk.zarr", d / "walk-data.zarr", d / "run"
    threads = torch.get_num_threads()
    try:
        assert main(["simulate", "--scenario", "walk", "--board", "awr1843boost", "--frames", "20", "--seed", "1",
                     "--no-camera", "--no-lidar", "--out", str(session)]) == 0
        assert main(["preprocess", str(session), "--out", str(data), "--format", "rtpose", "--no-progress",
                     "--scheduler", "synchronous"]) == 0
        assert main(["train", "--model", "hrradarpose-lite", "--data", str(data), "--out", str(run), "--epochs", "1",
                     "--limit-train", "1", "--limit-val", "1", "--batch-size", "1", "--threads", "2"]) == 0
    finally:
        torch.set_num_threads(threads)
    shutil.rmtree(data, ignore_errors=True)  # the run must deploy without its dataset
    return session, run
