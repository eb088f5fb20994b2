"""The live web page (FastAPI + a WebSocket), authenticated everywhere.

Every HTTP and WebSocket endpoint but ``/login`` needs the token from ``web.token_file``:

- API clients send ``Authorization: Bearer TOKEN``;
- browsers log in on ``/login`` (a form), which sets an HttpOnly, SameSite=Strict session cookie derived
  from the token; a browser cannot put headers on a WebSocket, so ``/ws`` accepts that cookie (sent with
  the upgrade), ``?token=TOKEN`` or a ``Sec-WebSocket-Protocol: rfpose.token.TOKEN`` (echoed back, as
  browsers require);
- ``/`` redirects to ``/login`` when unauthenticated; anything else gets 401 (HTTP) or 403 (the
  WebSocket handshake is refused).

The server binds to ``web.host`` (127.0.0.1 unless configured otherwise).

Endpoints: ``/`` the page (top and side views of the tracked skeletons, zones, event log), ``/ws`` live
frames (JSON), ``/api/state`` the room, zones and latest frame, ``/api/events?limit=N`` the log,
``/health`` CPU, latency, frame rate, dropped frames.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import os
import secrets
import threading
import time
from importlib import resources
from pathlib import Path
from urllib.parse import parse_qs

from fastapi import FastAPI, Request, WebSocket
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

from rfpose.app.monitor.config import MonitorConfig
from rfpose.errors import ConfigError

log = logging.getLogger(__name__)

COOKIE = "rfpose_session"
WS_PROTOCOL_PREFIX = "rfpose.token."


def load_or_create_token(path: str | Path) -> str:
    """The token in ``path``; a new random one (written with mode 600) if the file does not exist."""
    p = Path(path)
    if p.exists():
        token = p.read_text().strip()
        if len(token) < 16:
            raise ConfigError("the web token must be at least 16 characters", str(p))
        return token
    token = secrets.token_urlsafe(24)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    log.warning("created a web token in %s", p)
    return token


class Hub:
    """Hands frames from the monitor's thread to the WebSocket clients on the server's event loop; a slow
    client misses frames (its queue keeps the newest two) instead of slowing the monitor down."""

    def __init__(self, rate_hz: float):
        self.loop: asyncio.AbstractEventLoop | None = None
        self.clients: set[asyncio.Queue] = set()
        self.latest: dict | None = None
        self.min_interval = 1.0 / rate_hz
        self._last = 0.0

    def publish(self, payload: dict) -> None:
        self.latest = payload
        now = time.monotonic()
        if now - self._last < self.min_interval and not payload.get("events"):
            return
        self._last = now
        if self.loop is not None and self.clients:
            msg = json.dumps(payload)
            self.loop.call_soon_threadsafe(self._fanout, msg)

    def _fanout(self, msg: str) -> None:
        for q in self.clients:
            if q.full():
                q.get_nowait()
            q.put_nowait(msg)


def create_app(cfg: MonitorConfig, token: str, monitor, hub: Hub) -> FastAPI:
    session = hmac.new(token.encode(), b"rfpose-web-session", hashlib.sha256).hexdigest()
    page = resources.files("rfpose.app.monitor").joinpath("page.html").read_text()
    app = FastAPI(title="rfpose monitor", docs_url=None, redoc_url=None, openapi_url=None)

    def authorized(headers, cookies, query) -> bool:
        auth = headers.get("authorization", "")
        if auth.lower().startswith("bearer ") and hmac.compare_digest(auth[7:].strip().encode(), token.encode()):
            return True
        if hmac.compare_digest(cookies.get(COOKIE, "").encode(), session.encode()):
            return True
        return hmac.compare_digest(query.get("token", "").encode(), token.encode())

    @app.middleware("http")
    async def require_auth(request: Request, call_next):
        if request.url.path == "/login" or authorized(request.headers, request.cookies, request.query_params):
            return await call_next(request)
        if request.url.path == "/" and request.method == "GET":
            return RedirectResponse("/login", status_code=303)
        return JSONResponse({"detail": "authentication required"}, status_code=401,
                            headers={"WWW-Authenticate": "Bearer"})

    @app.get("/login")
    async def login_page(error: int = 0):
        return HTMLResponse(_LOGIN.replace("{error}", "<p class=err>Wrong token.</p>" if error else ""))

    @app.post("/login")
    async def login(request: Request):
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        given = form.get("token", [""])[0].strip()
        if not hmac.compare_digest(given.encode(), token.encode()):
            return RedirectResponse("/login?error=1", status_code=303)
        resp = RedirectResponse("/", status_code=303)
        resp.set_cookie(COOKIE, session, httponly=True, samesite="strict", secure=request.url.scheme == "https",
                        max_age=30 * 86400)
        return resp

    @app.post("/logout")
    async def logout():
        resp = RedirectResponse("/login", status_code=303)
        resp.delete_cookie(COOKIE)
        return resp

    @app.get("/")
    async def index():
        return HTMLResponse(page)

    @app.get("/api/state")
    async def state():
        return _room(cfg, monitor) | {"latest": hub.latest}

    @app.get("/api/events")
    async def events(limit: int = 100):
        return monitor.store.recent(max(1, min(limit, 10_000)))

    @app.get("/health")
    async def health():
        return monitor.health()

    @app.websocket("/ws")
    async def ws(websocket: WebSocket):
        offered = [p.strip() for p in websocket.headers.get("sec-websocket-protocol", "").split(",") if p.strip()]
        proto = next((p for p in offered if p.startswith(WS_PROTOCOL_PREFIX)), None)
        ok = authorized(websocket.headers, websocket.cookies, websocket.query_params) or (
            proto is not None and hmac.compare_digest(proto[len(WS_PROTOCOL_PREFIX):].encode(), token.encode()))
        if not ok:
            await websocket.close(code=1008)  # before accept: the handshake is refused with 403
            return
        await websocket.accept(subprotocol=proto)
        hub.loop = asyncio.get_running_loop()
        q: asyncio.Queue = asyncio.Queue(maxsize=2)
        hub.clients.add(q)
        try:
            await websocket.send_text(json.dumps({"hello": _room(cfg, monitor), "latest": hub.latest}))
            while True:
                await websocket.send_text(await q.get())
        except Exception:  # noqa: BLE001 — the client went away
            pass
        finally:
            hub.clients.discard(q)

    return app


def _room(cfg: MonitorConfig, monitor) -> dict:
    edges = [list(e) for e in monitor.skeleton.edges]
    m = cfg.room.radar
    return {"device_id": cfg.device_id, "name": cfg.name, "radar": [m.x_m, m.y_m, m.height_m],
            "boundary": cfg.room.boundary, "edges": edges,
            "zones": [{"name": z.name, "polygon": z.polygon, "exclusion": z.exclusion} for z in cfg.zones]}


class WebServer:
    """uvicorn in a thread; :attr:`port` is the bound port (``web.port = 0`` picks a free one)."""

    def __init__(self, cfg: MonitorConfig, monitor):
        import uvicorn

        self.cfg = cfg
        self.token = load_or_create_token(cfg.web.token_file)
        self.hub = Hub(cfg.web.rate_hz)
        self.app = create_app(cfg, self.token, monitor, self.hub)
        self.server = uvicorn.Server(uvicorn.Config(self.app, host=cfg.web.host, port=cfg.web.port,
                                                    log_level="warning", lifespan="off", ws="websockets-sansio"))
        self._thread = threading.Thread(target=self.server.run, name="monitor-web", daemon=True)

    def start(self, timeout_s: float = 10.0) -> None:
        self._thread.start()
        t0 = time.monotonic()
        while not self.server.started:
            if not self._thread.is_alive():
                raise ConfigError(f"the web server could not listen on {self.cfg.web.host}:{self.cfg.web.port}")
            if time.monotonic() - t0 > timeout_s:
                raise ConfigError(f"the web server did not start on {self.cfg.web.host}:{self.cfg.web.port}")
            time.sleep(0.02)

    @property
    def port(self) -> int:
        return self.server.servers[0].sockets[0].getsockname()[1]

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=5)


_LOGIN = """<!doctype html><html><head><meta charset="utf-8"><title>rfpose monitor: log in</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font:16px system-ui,sans-serif;background:#111;color:#eee;display:grid;place-items:center;height:90vh}
form{background:#222;padding:2em;border-radius:8px}input{font:inherit;padding:.4em;margin:.4em 0;width:18em}
.err{color:#f66}</style></head><body><form method="post" action="/login"><h2>rfpose room monitor</h2>{error}
<label>Token<br><input id="token" name="token" type="password" autocomplete="current-password" autofocus></label><br>
<button id="login" type="submit">Log in</button></form></body></html>"""
