"""Where an emulated DCA1000 gets its ADC bytes: a deterministic generator, an ``adc_data.bin`` file or
any radar :class:`~rfpose.source.Source` (simulator, recorded session).

Each provider has ``frames(frame_bytes)`` returning an iterator of ``frame_bytes``-long bytes objects.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from rfpose.errors import ConfigError, FormatError

log = logging.getLogger(__name__)


class SyntheticAdc:
    """Deterministic frames: ``counter`` (int16 words numbering the stream, wrapping) or ``random``
    (int16 from ``seed`` and the frame index). ``num_frames`` None streams forever."""

    def __init__(self, pattern: str = "counter", seed: int = 0, num_frames: int | None = None):
        if pattern not in ("counter", "random"):
            raise ValueError(f"pattern must be 'counter' or 'random', not {pattern!r}")
        self.pattern, self.seed, self.num_frames = pattern, seed, num_frames

    def frame(self, k: int, frame_bytes: int) -> bytes:
        words = frame_bytes // 2
        if self.pattern == "counter":
            w = (np.arange(words, dtype=np.int64) + k * words + self.seed) & 0xFFFF
            return w.astype(np.uint16).tobytes()
        rng = np.random.default_rng([self.seed, k])
        return rng.integers(-32768, 32768, words, dtype=np.int16).tobytes()

    def frames(self, frame_bytes: int) -> Iterator[bytes]:
        k = 0
        while self.num_frames is None or k < self.num_frames:
            yield self.frame(k, frame_bytes)
            k += 1


class AdcFile:
    """Frames from a headerless, frame-contiguous ``adc_data.bin``; ``loop`` repeats it."""

    def __init__(self, path: str | Path, loop: bool = False):
        self.path, self.loop = Path(path), loop
        if not self.path.is_file():
            raise FormatError(f"{self.path}: no such adc_data.bin file")

    def frames(self, frame_bytes: int) -> Iterator[bytes]:
        size = self.path.stat().st_size
        n = size // frame_bytes
        if n == 0:
            raise FormatError(f"{self.path}: {size} bytes is less than one frame of {frame_bytes} bytes")
        if size % frame_bytes:
            log.warning("%s: %d trailing bytes after %d frames of %d bytes are ignored",
                        self.path, size % frame_bytes, n, frame_bytes)
        while True:
            with open(self.path, "rb") as f:
                for _ in range(n):
                    yield f.read(frame_bytes)
            if not self.loop:
                return


class SourceAdc:
    """Frames from a radar source yielding :class:`~rfpose.source.RadarFrame` (the simulator or a
    session); the frames' word count must match the configuration."""

    def __init__(self, source, loop: bool = False, preload: bool = False):
        self.source, self.loop = source, loop
        self._preloaded = None
        if preload:
            if not getattr(source, "is_seekable", False):
                raise ConfigError(f"emulation.preload needs a finite recorded or simulated source, not {type(source).__name__}")
            self._preloaded = [source[i] for i in range(len(source))]

    def frames(self, frame_bytes: int) -> Iterator[bytes]:
        while True:
            for fr in (self.source if self._preloaded is None else self._preloaded):
                data = np.ascontiguousarray(fr.adc, dtype="<i2").tobytes()
                if len(data) != frame_bytes:
                    raise FormatError(f"radar source frame {fr.index} has {len(data)} bytes; the configuration "
                                      f"needs {frame_bytes}")
                yield data
            if not (self.loop and getattr(self.source, "is_seekable", False)):
                return
