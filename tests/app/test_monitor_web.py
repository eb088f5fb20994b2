"""The web page: every endpoint authenticated (Bearer, cookie from the login page, ?token=, WebSocket
subprotocol), bound to 127.0.0.1 by default, /health; a real headless Chromium logs in and sees the tracked
skeletons move on the canvases."""

import base64
import json
import os
import threading
import time

import httpx
import pytest
import websockets.sync.client as wsc
from monitor_sim import TruthEstimator, realtime_opener, sim_config, sim_skeletons
from websockets.exceptions import InvalidStatus

from rfpose.app.local_services import HeadlessChromium
from rfpose.app.monitor.config import ZoneConfig
from rfpose.app.monitor.service import Monitor
from rfpose.errors import DependencyError

TOKEN = "test-token-0123456789abcdef"


@pytest.fixture
def web_monitor(tmp_path):
    t, joints = sim_skeletons("walk", 60.0, seed=3)
    cfg = sim_config(device_id="lab")
    cfg.source.uri = "test://truth"
    cfg.web.port = 0
    (tmp_path / "token").write_text(TOKEN + "\n")
    cfg.web.token_file = str(tmp_path / "token")
    cfg.event_log = str(tmp_path / "events.sqlite")
    cfg.zones = [ZoneConfig("near", [[0.5, -4], [3, -4], [3, 4], [0.5, 4]]),
                 ZoneConfig("plant", [[5.5, 2.5], [6, 2.5], [6, 3]], exclusion=True)]
    mon = Monitor(cfg, estimator=TruthEstimator(joints), opener=realtime_opener(len(joints)))
    th = threading.Thread(target=mon.run, kwargs={"duration_s": 120}, daemon=True)
    th.start()
    t0 = time.monotonic()
    while not (mon.web.server.started and mon.processed > 5 and mon.tracker.confirmed):  # a person is tracked
        assert time.monotonic() - t0 < 20, "the monitor did not start"
        time.sleep(0.05)
    yield mon, f"127.0.0.1:{mon.web.port}"
    mon.stop()
    th.join(timeout=10)


def test_every_endpoint_needs_the_token(web_monitor):
    mon, addr = web_monitor
    base = f"http://{addr}"
    assert mon.web.server.servers[0].sockets[0].getsockname()[0] == "127.0.0.1"
    with httpx.Client(base_url=base, follow_redirects=False) as c:
        r = c.get("/")
        assert r.status_code == 303 and r.headers["location"] == "/login"
        for path in ("/health", "/api/state", "/api/events", "/docs", "/openapi.json", "/nope"):
            assert c.get(path).status_code == 401, path
            assert c.get(path, headers={"Authorization": "Bearer wrong-token-xxxxxxxxxx"}).status_code == 401
        assert c.post("/logout").status_code == 401
        assert c.get("/login").status_code == 200
        h = c.get("/health", headers={"Authorization": f"Bearer {TOKEN}"}).json()
        assert h["available"] and h["fps"] > 3 and h["frames"] > 5 and "cpu_percent" in h
        assert h["dropped_frames"] >= 0 and h["latency_ms_p95"] is not None
        assert c.get(f"/api/events?token={TOKEN}").status_code == 200
        bad = c.post("/login", data={"token": "nope"})
        assert bad.status_code == 303 and "error" in bad.headers["location"] and "set-cookie" not in bad.headers
        good = c.post("/login", data={"token": TOKEN})
        assert good.status_code == 303 and good.headers["location"] == "/"
        cookie = good.headers["set-cookie"]
        assert "HttpOnly" in cookie and "samesite=strict" in cookie.lower() and TOKEN not in cookie
        assert c.get("/").status_code == 200  # the client keeps the cookie
        state = c.get("/api/state").json()
        assert [z["name"] for z in state["zones"]] == ["near", "plant"] and state["latest"]["tracks"]
        session_cookie = c.cookies["rfpose_session"]

    ws = f"ws://{addr}/ws"
    for kw in ({}, {"additional_headers": {"Cookie": "rfpose_session=forged"}}, {"subprotocols": ["rfpose.token.x"]}):
        with pytest.raises(InvalidStatus) as e:
            wsc.connect(ws, open_timeout=5, **kw)
        assert e.value.response.status_code == 403
    for url, kw in ((f"{ws}?token={TOKEN}", {}),
                    (ws, {"additional_headers": {"Cookie": f"rfpose_session={session_cookie}"}}),
                    (ws, {"subprotocols": [f"rfpose.token.{TOKEN}"]}),
                    (ws, {"additional_headers": {"Authorization": f"Bearer {TOKEN}"}})):
        with wsc.connect(url, open_timeout=5, **kw) as conn:
            hello = json.loads(conn.recv(timeout=5))
            assert hello["hello"]["device_id"] == "lab" and len(hello["hello"]["edges"]) == 14
            frame = json.loads(conn.recv(timeout=5))
            assert frame["tracks"] and frame["frame_ns"] > 0
            if "subprotocols" in kw:
                assert conn.subprotocol == f"rfpose.token.{TOKEN}"


def _chromium() -> HeadlessChromium:
    try:
        return HeadlessChromium()
    except DependencyError as e:
        if os.environ.get("CI"):
            pytest.fail(f"chromium is required in CI (make test installs it with .ci/ensure-chromium): {e}")
        pytest.skip(str(e))


def test_headless_chromium_logs_in_and_sees_skeletons_move(web_monitor, tmp_path):
    mon, addr = web_monitor
    with _chromium() as browser:
        browser.call("Page.navigate", url=f"http://{addr}/")
        browser.wait("location.pathname === '/login' && !!document.getElementById('token')")
        assert browser.eval("document.cookie") == ""
        browser.eval(f"document.getElementById('token').value = {json.dumps(TOKEN)};"
                     "document.getElementById('login').click(); true")
        browser.wait("location.pathname === '/' && window.rfpose && window.rfpose.frames > 3")
        assert browser.eval("document.cookie") == ""  # HttpOnly: the page's scripts cannot read it
        pelvis = "window.rfpose.last.tracks.map(t => t.joints[0])"
        first = browser.eval(pelvis)
        time.sleep(1.5)
        later = browser.eval(pelvis)
        assert first and later and len(first[0]) == 3
        assert max(abs(a - b) for a, b in zip(first[0], later[0])) > 0.2  # the person walked
        # the canvases show the skeleton: lit pixels in the colour of track 1
        lit = browser.eval("""(() => { const c = document.getElementById('top'), d = c.getContext('2d')
            .getImageData(0, 0, c.width, c.height).data; let n = 0;
            for (let i = 0; i < d.length; i += 4) if (d[i] === 0xff && d[i+1] === 0xb7 && d[i+2] === 0x4d) n++;
            return n; })()""")
        assert lit > 20
        assert "present" in browser.eval("document.getElementById('status').textContent")
        browser.wait("document.getElementById('health').textContent.includes('radar online')")
        assert browser.eval("document.querySelectorAll('#log tr.ev-presence').length") >= 1
        shot = browser.call("Page.captureScreenshot", format="png")["data"]
        (tmp_path / "monitor.png").write_bytes(base64.b64decode(shot))
        assert (tmp_path / "monitor.png").stat().st_size > 10_000
