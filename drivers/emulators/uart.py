"""The demo firmware's processed output (TLV packets padded to 32 bytes) on a pty.

Points come from a generator (a few targets walking on circles, seeded), from the rig simulator
(:func:`simulated_points`: the joints of simulated people) or from any callable
``points(frame_number) -> (N, 4)`` x, y, z, v in the radar frame. Garbage bytes between packets and
corrupted packets can be injected (seeded); :attr:`UartEmulator.sent` / :attr:`UartEmulator.corrupted`
list the frame numbers that went out whole / damaged, and :meth:`UartEmulator.expected_points` is what a
correct parser must return for a frame.

Like the real board, the stream can be driven by the CLI: pass the emulator as the ``dca`` of a
:class:`~rfpose.drivers.emulators.board.BoardEmulator` and its ``sensorStart`` starts the stream at the
configuration's frame period (and frame count), ``sensorStop`` stops it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import numpy as np

from rfpose.drivers import tlv
from rfpose.drivers.emulators.pty_pair import PtyPair
from rfpose.source import RADAR_POINT_DTYPE

log = logging.getLogger(__name__)

#: The noise floor every emulated point reports (dB).
NOISE_DB = 50.0


def walking_targets(num_targets: int = 3, seed: int = 0) -> Callable[[int], np.ndarray]:
    """Targets on circles in front of the radar, 10 frames/s; each frame returns ``(N, 4)``."""
    rng = np.random.default_rng(seed)
    centres = np.c_[rng.uniform(2, 5, num_targets), rng.uniform(-1.5, 1.5, num_targets), rng.uniform(0, 1.5, num_targets)]
    radius, phase = rng.uniform(0.3, 1.0, num_targets), rng.uniform(0, 2 * np.pi, num_targets)

    def points(frame: int) -> np.ndarray:
        t = frame * 0.1
        a = phase + 0.5 * t
        pos = centres + np.c_[radius * np.cos(a), radius * np.sin(a), np.zeros(num_targets)]
        vel = (radius * 0.5)[:, None] * np.c_[-np.sin(a), np.cos(a), np.zeros(num_targets)]
        radial = np.sum(pos * vel, axis=1) / np.linalg.norm(pos, axis=1)
        return np.c_[pos, radial].astype(np.float32)

    return points


def simulated_points(scenario: str = "walk", seed: int = 0, frame_period_s: float = 0.1, people: int | None = None,
                     horizon_s: float = 600.0) -> Callable[[int], np.ndarray]:
    """Points on the simulated people of a :mod:`rfpose.sim` scenario: every rtpose15 joint of every person
    in the first radar's frame at ``frame * frame_period_s`` (wrapping after ``horizon_s``), with its radial
    velocity (m/s, positive when receding) from a 1 ms central difference (one-sided at t = 0, where the
    simulated motion starts). Each frame returns ``(N, 4)``."""
    from rfpose.sim.scenarios import build_rig

    period = float(frame_period_s)
    rig = build_rig(scenario, seed=seed, num_frames=max(1, int(np.ceil(horizon_s / 0.1))), board="awr1843boost",
                    people=people, camera=False, lidar=False)
    T = rig.radars[0].T_rig_sensor
    R, o = T[:3, :3], T[:3, 3]
    dt = 1e-3

    def points(frame: int) -> np.ndarray:
        t = (frame * period) % horizon_s
        t0 = max(t - dt, 0.0)
        j = rig.world.joints(np.array([t0, t, t + dt]))  # (3, P, 15, 3) rig frame
        p = (j.reshape(3, -1, 3) - o) @ R                  # radar frame
        pos, vel = p[1], (p[2] - p[0]) / (t + dt - t0)
        rng = np.linalg.norm(pos, axis=1)
        radial = np.sum(pos * vel, axis=1) / np.maximum(rng, 1e-9)
        return np.c_[pos, radial].astype(np.float32)

    return points


def side_info_db(num_points: int) -> tuple[np.ndarray, np.ndarray]:
    """SNR and noise (dB) the emulator reports for a frame's points: SNR spread 10..30 dB, noise 50 dB."""
    return np.linspace(10, 30, num_points), np.full(num_points, NOISE_DB)


class UartEmulator:
    """Stream TLV packets on a pty at ``frame_period_s``.

    Args:
        points: ``points(frame_number) -> (N, 4)``; default :func:`walking_targets`.
        garbage_rate: probability of random bytes before a packet.
        corrupt_rate: probability that a packet is damaged (bad length field or TLV length).
        num_frames: stop after this many packets (None: until closed or stopped); with a linked board, the
            smaller of this and the configuration's frame count.
        autostart: start streaming now (otherwise on :meth:`start` or the linked board's ``sensorStart``).
        first_frame: the frame number of the first packet.
    """

    def __init__(self, points: Callable[[int], np.ndarray] | None = None, *, frame_period_s: float = 0.1,
                 garbage_rate: float = 0.0, corrupt_rate: float = 0.0, seed: int = 0, num_frames: int | None = None,
                 autostart: bool = True, first_frame: int = 0):
        self.points = points or walking_targets(seed=seed)
        self.frame_period_s = frame_period_s
        self.garbage_rate, self.corrupt_rate = garbage_rate, corrupt_rate
        self.rng = np.random.default_rng(seed)
        self.num_frames = num_frames
        self.pty = PtyPair()
        self.path = self.pty.path
        self.sent: list[int] = []
        self.corrupted: list[int] = []
        self.garbage_bytes = 0
        self.next_frame = first_frame
        self._limit = num_frames
        self._run_frames = 0
        self._t0 = 0.0
        self._running = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()  # held while one packet is made and written
        self._thread = threading.Thread(target=self._run, name="uart-emu", daemon=True)
        self._thread.start()
        if autostart:
            self.start()

    # -- control ------------------------------------------------------------------------------------
    def start(self) -> None:
        """Start streaming (a no-op while streaming)."""
        with self._lock:
            if self._running.is_set():
                return
            self._run_frames = 0
            self._t0 = time.monotonic()
            self._running.set()

    def radar_start(self, frame_bytes: int | None = None, frame_period_s: float | None = None,
                    num_frames: int | None = None) -> None:
        """The linked board's ``sensorStart``: stream at the configuration's frame period and count."""
        with self._lock:
            if frame_period_s:
                self.frame_period_s = float(frame_period_s)
            limits = [n for n in (self.num_frames, num_frames) if n]
            self._limit = min(limits) if limits else None
        self.start()

    def radar_stop(self) -> None:
        """The linked board's ``sensorStop``: returns once no packet is being written any more."""
        self._running.clear()
        with self._lock:
            pass

    @property
    def running(self) -> bool:
        return self._running.is_set()

    # -- packets ------------------------------------------------------------------------------------
    def packet(self, frame: int) -> bytes:
        pts = self.points(frame)
        snr, noise = side_info_db(len(pts))
        return tlv.pack_packet(frame, pts, snr_db=snr, noise_db=noise,
                               extra_tlvs=[(6, bytes(24))])  # a stats TLV the driver skips

    def expected_points(self, frame: int) -> np.ndarray:
        """What a correct parser returns for frame ``frame`` (:data:`rfpose.source.RADAR_POINT_DTYPE`):
        the generator's float32 x, y, z, v and the side info at the wire's 0.1 dB resolution."""
        pts = np.asarray(self.points(frame), np.float32).reshape(-1, 4)
        snr, noise = side_info_db(len(pts))
        out = np.zeros(len(pts), RADAR_POINT_DTYPE)
        out["x"], out["y"], out["z"], out["v"] = pts.T
        out["snr_db"] = np.round(snr * 10).astype(np.int16) * 0.1
        out["noise_db"] = np.round(noise * 10).astype(np.int16) * 0.1
        return out

    def wire(self, frame: int) -> tuple[bytes, bool]:
        """The bytes that go out for frame ``frame`` (garbage and damage drawn from the seeded generator, so
        an emulator with the same seed and rates, asked for the same frames in order, reproduces the stream)
        and whether the packet was damaged."""
        data = self.packet(frame)
        if self.garbage_rate and self.rng.random() < self.garbage_rate:
            junk = self.rng.integers(0, 256, int(self.rng.integers(1, 100)), dtype=np.uint8).tobytes()
            self.garbage_bytes += len(junk)
            data = junk + data
        if self.corrupt_rate and self.rng.random() < self.corrupt_rate:
            return _corrupt(data, self.rng), True
        return data, False

    def _run(self) -> None:
        try:
            self._stream()
        except Exception:  # noqa: BLE001 - a broken point generator: the port goes quiet, like a hung board
            log.exception("UART emulator on %s stopped", self.path)
            self._running.clear()

    def _stream(self) -> None:
        while not self._stop.is_set():
            if not self._running.wait(0.05):
                continue
            with self._lock:
                if not self._running.is_set():
                    continue
                if self._limit is not None and self._run_frames >= self._limit:
                    self._running.clear()  # the configured frames are done (the board keeps its state)
                    continue
                frame = self.next_frame
                data, damaged = self.wire(frame)
                (self.corrupted if damaged else self.sent).append(frame)
                self.pty.write(data)
                self.next_frame += 1
                self._run_frames += 1
                due = self._t0 + self._run_frames * self.frame_period_s
            wait = due - time.monotonic()
            if wait > 0:
                self._stop.wait(wait)

    def close(self) -> None:
        self._stop.set()
        self._running.clear()
        if self._thread.is_alive():
            self._thread.join()
        self.pty.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _corrupt(packet: bytes, rng) -> bytes:
    buf = bytearray(packet)
    i = packet.find(tlv.MAGIC)
    if rng.random() < 0.5:
        buf[i + 12:i + 16] = (int(rng.integers(1 << 20, 1 << 30))).to_bytes(4, "little")  # totalPacketLen
    else:
        buf[i + 44:i + 48] = (0xFFFF).to_bytes(4, "little")  # first TLV's length runs past the end
    return bytes(buf)
