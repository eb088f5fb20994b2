"""`rfpose demo --quick` end to end, and its report opened in headless Chromium: every image loads, and
every number and figure on the page is the one the run wrote to report.json."""

import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from rfpose.app.report import _fmt

# the quick demo records its calibration captures in real time and renders the board camera: ~5 min on 2 idle
# cores, much longer on a loaded machine
pytestmark = pytest.mark.timeout(1800)

REQUIRED_FIGURES = {"range_doppler", "range_azimuth", "lidar", "camera", "training", "per_joint", "skeletons",
                    "latency", "label_error"}


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.images, self.keyed, self._key, self._text = [], {}, None, []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.images.append(a)
        if "data-key" in a:
            self._key, self._text = a["data-key"], []

    def handle_data(self, data):
        if self._key is not None:
            self._text.append(data)

    def handle_endtag(self, tag):
        if self._key is not None and tag == "td":
            self.keyed[self._key] = "".join(self._text)
            self._key = None


def _lookup(doc, dotted: str):
    node = doc
    for part in dotted.split("."):
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "out"
    exe = Path(sys.executable).with_name("rfpose")
    r = subprocess.run([str(exe), "demo", "--quick", "--out", str(out)], capture_output=True, text=True,
                       timeout=1700)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    yield out, json.loads((out / "report.json").read_text())
    shutil.rmtree(out, ignore_errors=True)  # 1.6 GB of sessions and datasets; the disk is the suite's too


def test_every_stage_ran(demo_run):
    _out, doc = demo_run
    stages = {s["stage"]: s for s in doc["stages"]}
    assert all(s["status"] == "done" for s in stages.values()), stages
    assert doc["missing"] == []
    cap = doc["capture"]
    assert cap["radar_frames"] > 0 and cap["identical_to_simulator"] == cap["radar_frames"]
    assert doc["replay"]["frames"] == cap["radar_frames"]
    assert doc["evaluation"]["samples"] > 0 and "mpjpe_mm" in doc["evaluation"]
    print(f"quick demo: {doc['total_seconds']:.0f} s")


def test_calibrated_from_the_captures(demo_run):
    _out, doc = demo_run
    cal = doc["calibration"]
    rows = {(r["sensor"], r["geometry"]): r for r in cal["errors"]}
    # the radar is the rig frame; the LiDAR and the camera are calibrated, and better than the tape measure
    for sensor in ("lidar", "cam_left"):
        after, before = rows[(sensor, "calibrated")], rows[(sensor, "nominal (before)")]
        assert after["trans_mm"] < 30 and after["rot_deg"] < 1.0, after
        assert after["trans_mm"] < before["trans_mm"] or after["rot_deg"] < before["rot_deg"], (before, after)
        if not any("of the capture" in n for n in cal.get("notes", [])):  # too little or too plain a motion (a loaded machine drops frames)
            # a walk pins a clock down to tens of ms (the reflector's moves, in the calibration tests, to 2 ms):
            # the error must lie within what the estimate says of itself
            assert abs(after["clock_ms"]) <= 3 * after.get("clock_std_ms", 0.0) + 5, after
    assert abs(rows[("cam_left", "calibrated")]["fx_pct"]) < 1.0
    if not any("of the training set" in n for n in cal.get("notes", [])):
        assert set(cal["training_set_clock_ms"]) == {"lidar", "cam_left"}, cal
    for name, err in cal["training_set_clock_ms"].items():
        std = cal["training_set_clock_std_ms"][name]
        assert abs(err) <= 3 * std + 5, (name, err, std)
    # the calibration was written into the capture (the session reader returns it)
    from rfpose.session import SessionReader

    r = SessionReader(doc["capture"]["session"])
    assert r.attrs["calibration"]["source"].endswith("capture.json")
    lidar = r.stream("lidar")
    applied = r.attrs["calibration"]["sensors"]["lidar"]
    np.testing.assert_allclose(lidar.metadata["extrinsics"], applied["T_rig_sensor"])
    # offset-corrected timestamps (no offset when the capture showed too little motion; the report says so)
    assert (np.asarray(lidar.timestamps_ns) - np.asarray(lidar.raw_timestamps_ns) ==
            (applied.get("clock_offset_ns") or 0)).all()


def test_trained_on_auto_labels(demo_run):
    _out, doc = demo_run
    ann = doc["annotation"]
    assert ann["labelled"] > 0.3 * ann["radar_frames"], ann
    assert 0 < ann["mpjpe_mm"] < 250, ann  # auto labels against the simulator's truth
    assert doc["training"]["labels"] == "auto" and doc["datasets"]["train"]["labels"] == "auto"
    assert doc["datasets"]["test"]["labels"] == "gt"  # evaluation only


def test_monitor_replayed_the_capture(demo_run):
    _out, doc = demo_run
    mon = doc["monitor"]
    assert mon["health"]["frames"] > 10 and mon["latency_ms_p50"] is not None and mon["latency_ms_p95"] is not None
    if shutil.which("mosquitto") or os.path.exists("/usr/sbin/mosquitto"):
        assert mon["mqtt"]["discovery_messages"] > 0 and mon["mqtt"]["fall_entity"], mon["mqtt"]
        assert "online" in mon["mqtt"]["availability_payloads"].split(", ") and mon["mqtt"]["state_messages"] > 0
    else:
        assert any("MQTT part skipped" in n for n in mon["notes"])
    if _chromium():
        assert mon["browser"]["frames"] > 3 and "monitor_page" in {f["id"] for f in doc["figures"]}
    else:
        assert any("browser part skipped" in n for n in mon["notes"])


def test_report_in_headless_chromium(demo_run):
    out, doc = demo_run
    browser = _chromium()
    if browser is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is required in CI (make test installs it with .ci/ensure-chromium)")
        pytest.skip("chromium not installed (apt-get install chromium)")
    profile = tempfile.mkdtemp()
    try:
        dom = subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", "--virtual-time-budget=10000", "--dump-dom",
             (out / "report.html").as_uri()], capture_output=True, text=True, timeout=120).stdout
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    assert 'data-images-checked="true"' in dom, "the page's load handler did not run"
    page = _Page()
    page.feed(dom)

    # every image decoded by the browser, and each one is a figure the run recorded, byte for byte
    figures = {f["id"]: f for f in doc["figures"]}
    assert REQUIRED_FIGURES <= set(figures), set(figures)
    shown = set()
    for img in page.images:
        assert img.get("data-loaded") == "true" and int(img.get("data-natural-width", 0)) > 0, img.get("id")
        fig = figures[img["data-figure"]]
        png = base64.b64decode(img["src"].split(",", 1)[1])
        assert hashlib.sha256(png).hexdigest() == fig["sha256"]
        assert (out / fig["file"]).read_bytes() == png
        shown.add(img["data-figure"])
    assert shown == set(figures)
    assert all(not img["src"].startswith(("http:", "https:", "file:")) for img in page.images)

    # every number on the page is the JSON's
    assert len(page.keyed) > 50
    for key, text in page.keyed.items():
        value = _lookup(doc, key)
        assert text.strip() == (_fmt(value) if value is not None else "-"), key
