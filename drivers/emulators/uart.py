"""The demo firmware's processed output (TLV packets padded to 32 bytes) on a pty.

Points come from a generator (a few targets walking on circles, seeded) or any callable
``points(frame_number) -> (N, 4)`` x, y, z, v in the radar frame. Garbage bytes between packets and
corrupted packets can be injected (seeded); :attr:`sent` / :attr:`corrupted` count what went out.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np

from rfpose.drivers import tlv
from rfpose.drivers.emulators.pty_pair import PtyPair


def walking_targets(num_targets: int = 3, seed: int = 0) -> Callable[[int], np.ndarray]:
    """Targets on circles in front of the radar, 10 frames/s; each frame returns ``(N, 4)``."""
    rng = np.random.default_rng(seed)
    centres = np.c_[rng.uniform(2, 5, num_targets), rng.uniform(-1.5, 1.5, num_targets), rng.uniform(0, 1.5, num_targets)]
    radius, phase = rng.uniform(0.3, 1.0, num_targets), rng.uniform(0, 2 * np.pi, num_targets)

    def points(frame: int) -> np.ndarray:
        t = frame * 0.1
        a = phase + 0.5 * t
        pos = centres + np.c_[radius * np.cos(a), radius * np.sin(a), np.zeros(num_targets)]
        vel = radius * 0.5 * np.c_[-np.sin(a), np.cos(a), np.zeros(num_targets)]
        radial = np.sum(pos * vel, axis=1) / np.linalg.norm(pos, axis=1)
        return np.c_[pos, radial].astype(np.float32)

    return points


class UartEmulator:
    """Stream TLV packets on a pty at ``frame_period_s``.

    Args:
        points: ``points(frame_number) -> (N, 4)``; default :func:`walking_targets`.
        garbage_rate: probability of random bytes before a packet.
        corrupt_rate: probability that a packet is damaged (bad length field or TLV length).
        num_frames: stop after this many packets (None: until closed).
    """

    def __init__(self, points: Callable[[int], np.ndarray] | None = None, *, frame_period_s: float = 0.1,
                 garbage_rate: float = 0.0, corrupt_rate: float = 0.0, seed: int = 0, num_frames: int | None = None,
                 autostart: bool = True):
        self.points = points or walking_targets(seed=seed)
        self.frame_period_s = frame_period_s
        self.garbage_rate, self.corrupt_rate = garbage_rate, corrupt_rate
        self.rng = np.random.default_rng(seed)
        self.num_frames = num_frames
        self.pty = PtyPair()
        self.path = self.pty.path
        self.sent: list[int] = []
        self.corrupted: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="uart-emu", daemon=True)
        if autostart:
            self.start()

    def start(self) -> None:
        """Start streaming (bytes sent before the driver opens the port are flushed by its open)."""
        if not self._thread.is_alive():
            self._thread.start()

    def packet(self, frame: int) -> bytes:
        pts = self.points(frame)
        snr = np.linspace(10, 30, len(pts))
        return tlv.pack_packet(frame, pts, snr_db=snr, noise_db=np.full(len(pts), 50.0),
                               extra_tlvs=[(6, bytes(24))])  # a stats TLV the driver skips

    def _run(self) -> None:
        frame, t0 = 0, time.monotonic()
        while not self._stop.is_set() and (self.num_frames is None or frame < self.num_frames):
            data = self.packet(frame)
            if self.garbage_rate and self.rng.random() < self.garbage_rate:
                data = self.rng.integers(0, 256, int(self.rng.integers(1, 100)), dtype=np.uint8).tobytes() + data
            if self.corrupt_rate and self.rng.random() < self.corrupt_rate:
                data = _corrupt(data, self.rng)
                self.corrupted.append(frame)
            else:
                self.sent.append(frame)
            self.pty.write(data)
            frame += 1
            wait = t0 + frame * self.frame_period_s - time.monotonic()
            if wait > 0:
                self._stop.wait(wait)

    def close(self) -> None:
        self._stop.set()
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
