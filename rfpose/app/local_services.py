"""The real services the demo talks to: Debian's ``mosquitto`` started on 127.0.0.1 at a free port, and a
headless ``chromium`` driven over the DevTools protocol (its WebSocket). Either being absent is a
:class:`~rfpose.errors.DependencyError` that says how to install it (``.ci/ensure-mosquitto``,
``.ci/ensure-chromium``), never a traceback."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

from rfpose.errors import DependencyError, RfposeError


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def find_executable(*names: str, extra: tuple[str, ...] = ()) -> str | None:
    for n in names:
        p = shutil.which(n)
        if p:
            return p
    return next((p for p in extra if os.path.exists(p)), None)


def _terminate(proc: subprocess.Popen | None) -> None:
    """Stop a process this module started: SIGTERM, then SIGKILL after 10 s."""
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


class Mosquitto:
    """``mosquitto -c CONF`` listening on 127.0.0.1 only, anonymous (it is reachable from this host alone),
    no persistence; a context manager that stops the process it started."""

    def __init__(self, workdir: str | Path):
        self.exe = find_executable("mosquitto", extra=("/usr/sbin/mosquitto",))
        if self.exe is None:
            raise DependencyError("mosquitto is not installed: apt-get install mosquitto (make demo runs "
                                  ".ci/ensure-mosquitto, which needs root and apt)")
        self.port = free_port()
        self.conf = Path(workdir) / "mosquitto.conf"
        self.conf.parent.mkdir(parents=True, exist_ok=True)
        self.conf.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                             "log_dest none\n")
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        """Start the broker and wait until it listens (again, on the same port, after :meth:`stop`)."""
        self.proc = subprocess.Popen([self.exe, "-c", str(self.conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        t0 = time.monotonic()
        while time.monotonic() - t0 < 10:
            if self.proc.poll() is not None:
                raise RfposeError(f"mosquitto exited at start: {self.proc.stderr.read().decode().strip()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RfposeError(f"mosquitto did not listen on 127.0.0.1:{self.port} within 10 s")

    def stop(self) -> None:
        _terminate(self.proc)
        self.proc = None

    def __enter__(self) -> Mosquitto:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


class HeadlessChromium:
    """One page of a headless Chromium over the DevTools protocol: navigate, evaluate JavaScript, wait for a
    condition, take a screenshot. A context manager that stops the browser it started."""

    def __init__(self, window: tuple[int, int] = (1200, 900)):
        self.exe = find_executable("chromium", "chromium-browser")
        if self.exe is None:
            raise DependencyError("chromium is not installed: apt-get install chromium (make demo runs "
                                  ".ci/ensure-chromium, which needs root and apt)")
        self.window = window
        self.proc: subprocess.Popen | None = None
        self.profile = ""
        self.ws = None
        self._n = 0

    def __enter__(self) -> HeadlessChromium:
        import websockets.sync.client as wsc

        self.profile = tempfile.mkdtemp(prefix="rfpose-chromium-")
        self.proc = subprocess.Popen(
            [self.exe, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--remote-debugging-port=0", f"--user-data-dir={self.profile}",
             f"--window-size={self.window[0]},{self.window[1]}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            port_file = Path(self.profile) / "DevToolsActivePort"
            t0 = time.monotonic()
            while not (port_file.exists() and port_file.read_text().strip()):
                if time.monotonic() - t0 > 60 or self.proc.poll() is not None:
                    raise RfposeError("chromium did not start (no DevTools port within 60 s)")
                time.sleep(0.1)
            port = int(port_file.read_text().split()[0])
            pages = []
            while not pages:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
                    pages = [p for p in json.load(r) if p["type"] == "page"]
            # entered as a context (websockets 17 deprecates a bare connect()); __exit__ closes it
            self.ws = wsc.connect(pages[0]["webSocketDebuggerUrl"], max_size=50_000_000, open_timeout=30).__enter__()
            self.call("Page.enable")
        except BaseException:
            self.__exit__()
            raise
        return self

    def call(self, method: str, **params) -> dict:
        self._n += 1
        self.ws.send(json.dumps({"id": self._n, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv(timeout=60))
            if msg.get("id") == self._n:
                if "error" in msg:
                    raise RfposeError(f"chromium: {method}: {msg['error'].get('message', msg['error'])}")
                return msg["result"]

    def eval(self, js: str):
        r = self.call("Runtime.evaluate", expression=js, returnByValue=True, awaitPromise=True)
        return r["result"].get("value")

    def wait(self, js: str, timeout_s: float = 20.0, what: str = ""):
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout_s:
            v = self.eval(js)
            if v:
                return v
            time.sleep(0.1)
        raise RfposeError(f"chromium: timed out after {timeout_s:g} s waiting for {what or js}")

    def screenshot(self, path: str | Path) -> Path:
        import base64

        Path(path).write_bytes(base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"]))
        return Path(path)

    def __exit__(self, *exc) -> None:
        if self.ws is not None:
            self.ws.close()
            self.ws = None
        _terminate(self.proc)
        self.proc = None
        if self.profile:
            shutil.rmtree(self.profile, ignore_errors=True)
