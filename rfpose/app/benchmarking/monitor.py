"""``rfpose bench monitor``: end-to-end latency of the room monitor, torch against ONNX Runtime (and, as
``clusters``, the model-free path: CFAR points from the raw ADC, clustered).

The set-up a user runs: an AWR1843BOOST stream (a simulated session replayed by the emulated DCA1000 over
loopback UDP, in a loop) → ``rfpose monitor`` in its own process (the run's preprocessing, the model,
tracking, events) → a real mosquitto on 127.0.0.1 and the web page's WebSocket. Latency is measured per
frame from the host time the frame's last packet arrived (the driver's ``timestamp_ns``, carried in the
monitor's skeleton messages) to the moment the MQTT subscriber / the WebSocket client received it. The
monitor's CPU is read from ``/proc`` over the measured window (100 % = one core).

Without ``--run`` the model is an untrained ``hrradarpose-lite`` at RT-Pose's grid (the voxel grid the
AWR1843's configuration gives) of the project's recipe (run 15: :data:`RECIPE_MODEL_ARGS`, two frames per
input; ``--model-arg`` replaces them): timing does not depend on the weights. The JSON says which model ran.
Each row also gives the monitor's per-stage medians and 95th percentiles (``/health``'s ``stages_ms_p50`` and
``stages_ms_p95``: the wait from the frame's last packet to processing, decode, voxels, model,
tracking-events-publishing), which say which stage a slow tail comes from.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from rfpose.errors import ConfigError

BOARD = "awr1843boost"
#: the widths and settings of the project's best recipe (run 15, README "Results"): what a deployment runs
RECIPE_MODEL_ARGS = {"head_channels": 32, "fuse_channels": 64, "offset_loss": "isotropic", "offset_radius": 1,
                     "frames": 2, "heatmap_head_channels": 8}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port: int, timeout_s: float, proc=None) -> None:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        if proc is not None and proc.poll() is not None:
            raise ConfigError(f"the process serving port {port} exited: {proc.stderr.read()[-2000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise ConfigError(f"nothing listening on 127.0.0.1:{port} after {timeout_s:g} s")


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _session(tmp: Path, frames: int) -> Path:
    path = tmp / "awr1843-walk.zarr"
    done = subprocess.run([sys.executable, "-m", "rfpose", "simulate", "--scenario", "walk", "--board", BOARD,
                           "--frames", str(frames), "--seed", "7", "--no-camera", "--no-lidar", "--out", str(path)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise ConfigError(f"simulating the AWR1843 session failed: {done.stderr.strip()[-500:]}")
    return path


def _untrained_run(tmp: Path, model_args: dict) -> Path:
    """hrradarpose-lite with the input shape the AWR1843's default configuration gives and ``model_args``,
    saved as a run."""
    import torch

    from rfpose.boards import get_board
    from rfpose.models import create_model
    from rfpose.preprocessing.cartesian import CartesianProcessor

    board = get_board(BOARD)
    params = board.default_config().derive(board)
    shape = list(CartesianProcessor(params, board, workers=1).output_shape)
    overrides = {**model_args, "input_shape": shape}
    model = create_model("hrradarpose-lite", **overrides)
    run = tmp / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"model": {"name": "hrradarpose-lite", "overrides": overrides}}))
    torch.save({"model": model.state_dict()}, run / "best.pt")
    return run


def _model_description(run: Path, run_dir: str | None, model_args: dict) -> dict:
    """What the JSON records of the model: the run given, or the untrained recipe model and its arguments."""
    doc = json.loads((run / "config.json").read_text())["model"]
    overrides = doc.get("overrides", {})
    out = {"name": doc["name"], "input_shape": overrides.get("input_shape"), "frames": overrides.get("frames", 1)}
    if run_dir:
        return {**out, "run": str(run_dir), "weights": "the run's"}
    recipe = "the project's recipe (run 15)" if model_args == RECIPE_MODEL_ARGS else "--model-arg"
    return {**out, "run": None, "model_args": model_args, "model_args_from": recipe,
            "weights": "untrained (timing does not depend on them)"}


class _Collector:
    """Receive times (ns) of skeleton messages by frame, from MQTT and from the WebSocket."""

    def __init__(self):
        self.lat: dict[str, list[float]] = {"mqtt": [], "web": []}
        self.active = False

    def add(self, kind: str, payload: str) -> None:
        now = time.time_ns()
        if not self.active:
            return
        try:
            ns = json.loads(payload).get("frame_ns")
        except ValueError:
            return
        if ns:
            self.lat[kind].append((now - ns) * 1e-6)


def _measure(runtime: str, run: Path, uri: str, tmp: Path, broker_port: int, seconds: float, warmup_s: float,
             threads: int) -> dict:
    import httpx
    import paho.mqtt.client as mqtt
    import websockets.sync.client as wsc
    from paho.mqtt.enums import CallbackAPIVersion

    web_port = _free_port()
    token = "bench-" + "x" * 24
    (tmp / "token").write_text(token)
    conf = tmp / f"monitor-{runtime}.toml"
    model = "" if runtime == "clusters" else f'[model]\nrun = "{run}"\nruntime = "{runtime}"\nthreads = {threads}\n'
    conf.write_text(f"""device_id = "bench"
event_log = "{tmp / f'events-{runtime}.sqlite'}"
[source]
uri = "{uri}"
{model}[mqtt]
host = "127.0.0.1"
port = {broker_port}
skeletons = true
[web]
port = {web_port}
token_file = "{tmp / 'token'}"
rate_hz = 1000
""")
    proc = subprocess.Popen([sys.executable, "-m", "rfpose", "monitor", "--config", str(conf)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    col = _Collector()
    sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-{runtime}")
    sub.on_connect = lambda c, u, f, rc, p: c.subscribe("rfpose/bench/skeletons", qos=0)
    sub.on_message = lambda c, u, m: col.add("mqtt", m.payload.decode())
    stop = threading.Event()

    def ws_reader():
        with wsc.connect(f"ws://127.0.0.1:{web_port}/ws?token={token}", open_timeout=30) as ws:
            while not stop.is_set():
                try:
                    col.add("web", ws.recv(timeout=0.5))
                except TimeoutError:
                    continue

    try:
        _wait_port(web_port, 180, proc)
        sub.connect("127.0.0.1", broker_port)
        sub.loop_start()
        reader = threading.Thread(target=ws_reader, daemon=True)
        reader.start()
        time.sleep(warmup_s)  # model load, first frames, allocator warm-up
        col.active = True
        cpu0, t0 = _cpu_s(proc.pid), time.monotonic()
        time.sleep(seconds)
        cpu = 100.0 * (_cpu_s(proc.pid) - cpu0) / (time.monotonic() - t0)
        col.active = False
        health = httpx.get(f"http://127.0.0.1:{web_port}/health", headers={"Authorization": f"Bearer {token}"},
                           timeout=10).json()
    finally:
        stop.set()
        sub.loop_stop()
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
    row = {"runtime": runtime, "frames": len(col.lat["mqtt"]), "fps": round(len(col.lat["mqtt"]) / seconds, 2)}
    for kind in ("mqtt", "web"):
        a = np.array(col.lat[kind])
        for q in (50, 95, 99):
            row[f"{kind}_p{q}_ms"] = round(float(np.percentile(a, q)), 1) if a.size else None
    for q in (50, 95):
        for stage, ms in (health.get(f"stages_ms_p{q}") or {}).items():  # queue, decode, voxels, model, inference, …
            row[f"{stage}_p{q}_ms"] = ms
    row["dropped_frames"] = health.get("dropped_frames")
    row["cpu_percent"] = round(cpu, 1)
    return row


def run(run_dir: str | None, runtimes: list[str], seconds: float, warmup_s: float, threads: int,
        session: str | None = None, model_args: dict | None = None) -> tuple[list[dict], dict]:
    """``model_args`` (untrained model only; default :data:`RECIPE_MODEL_ARGS`) are its constructor arguments."""
    from rfpose.boards import get_board
    from rfpose.drivers.emulators.adc_frames import SourceAdc
    from rfpose.drivers.emulators.dca1000 import DCA1000Emulator
    from rfpose.drivers.open_source import open_source

    exe = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None)
    if exe is None:
        raise ConfigError("bench monitor needs Debian's mosquitto (apt-get install mosquitto)")
    for r in runtimes:
        if r not in ("torch", "onnx", "clusters"):
            raise ConfigError(f"--runtimes: {r!r} is not torch, onnx or clusters")
    if run_dir and model_args:
        raise ConfigError("--model-arg builds an untrained model; a --run brings its own")
    model_args = dict(RECIPE_MODEL_ARGS) if model_args is None else model_args
    tmp = Path(tempfile.mkdtemp(prefix="rfpose-bench-monitor-"))
    procs = []
    try:
        sess = Path(session) if session else _session(tmp, 30)
        run = model = None
        if set(runtimes) - {"clusters"}:
            run = Path(run_dir) if run_dir else _untrained_run(tmp, model_args)
            if not (run / "config.json").exists():
                raise ConfigError(f"{run}: not a training run (no config.json)")
            model = _model_description(run, run_dir, model_args)
        if "onnx" in runtimes and not (run / "model.onnx").exists():
            if run_dir:  # never write into the user's run
                run = Path(shutil.copytree(run, tmp / "run-copy"))
            from rfpose.models.export import export_model
            from rfpose.models.train import load_run

            export_model(load_run(run)[0], "onnx", run / "model.onnx")
        broker_port = _free_port()
        (tmp / "mosquitto.conf").write_text(f"listener {broker_port} 127.0.0.1\nallow_anonymous true\n"
                                            "persistence false\nlog_dest none\n")
        procs.append(subprocess.Popen([exe, "-c", str(tmp / "mosquitto.conf")], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL))
        _wait_port(broker_port, 10)
        a = 100 + os.getpid() % 100
        host, fpga = f"127.{a}.88.1", f"127.{a}.88.2"
        board = get_board(BOARD)
        frame_bytes = board.default_config().derive(board).frame_bytes
        dca = DCA1000Emulator(SourceAdc(open_source(f"session://{sess}#radar"), loop=True), fpga_ip=fpga,
                              host_ip=host, standalone=True, frame_bytes=frame_bytes, frame_period_s=0.1)
        uri = f"dca1000://{host}?fpga={fpga}&board={BOARD}&delay_us=5"
        try:
            rows = [_measure(r, run, uri, tmp, broker_port, seconds, warmup_s, threads) for r in runtimes]
        finally:
            dca.close()
    finally:
        for p in procs:
            p.terminate()
            p.wait(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)
    extra = {"board": BOARD, "model": model, "seconds": seconds,
             "warmup_s": warmup_s, "threads": threads, "frame_period_s": 0.1, "target_p95_ms": 100.0}
    return rows, extra
