"""``adc_data.bin``: headerless int16 words, frames contiguous (what TI's ``Packet_Reorder_Zerofill``
produces, lost spans zero-filled), plus the rfpose sidecar ``adc_data.json`` with per-frame completeness,
lost bytes and host timestamps, the .cfg and the board.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from rfpose.errors import FormatError
from rfpose.source import RadarFrame, SourceBase

SIDECAR_VERSION = 1


def sidecar_path(bin_path: str | Path) -> Path:
    return Path(bin_path).with_suffix(".json")


class AdcFileWriter:
    """Append frames to an ``adc_data.bin`` and write the sidecar on :meth:`close`."""

    def __init__(self, path: str | Path, *, frame_bytes: int, board: str, cfg_text: str, extra: dict | None = None):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.frame_bytes = frame_bytes
        self.f = open(self.path, "wb")
        self.meta = {"format": "rfpose adc_data.bin sidecar", "version": SIDECAR_VERSION, "board": board,
                     "frame_bytes": frame_bytes, "cfg": cfg_text, **(extra or {}),
                     "frames": {"index": [], "timestamp_ns": [], "lost_bytes": [], "complete": []}}

    def write(self, frame: RadarFrame) -> None:
        data = np.ascontiguousarray(frame.adc, dtype="<i2")
        if data.nbytes != self.frame_bytes:
            raise FormatError(f"frame {frame.index} has {data.nbytes} bytes, expected {self.frame_bytes}")
        self.f.write(data.tobytes())
        fr = self.meta["frames"]
        fr["index"].append(int(frame.index))
        fr["timestamp_ns"].append(int(frame.timestamp_ns))
        fr["lost_bytes"].append(int(frame.lost_bytes))
        fr["complete"].append(bool(frame.complete))

    def close(self, **extra) -> dict:
        self.f.close()
        fr = self.meta["frames"]
        self.meta.update(extra)
        self.meta["num_frames"] = len(fr["index"])
        self.meta["incomplete_frames"] = int(sum(not c for c in fr["complete"]))
        self.meta["lost_bytes"] = int(sum(fr["lost_bytes"]))
        sidecar_path(self.path).write_text(json.dumps(self.meta, indent=1))
        return self.meta

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        if not self.f.closed:
            self.close()


def _sidecar_error(side: Path, what: str) -> FormatError:
    return FormatError(f"{side}: {what}")


def load_sidecar(side: Path, frames: int | None = None) -> dict:
    """Read and validate an ``adc_data.json`` sidecar: a JSON object with a positive even ``frame_bytes``
    and, when ``frames`` is given, per-frame lists of exactly that length (indices and timestamps
    integers, ``lost_bytes`` within ``[0, frame_bytes]``, ``complete`` booleans). Every problem is a
    :class:`FormatError` naming the file."""
    try:
        meta = json.loads(side.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise _sidecar_error(side, f"not valid JSON ({e})") from None
    except OSError as e:
        raise _sidecar_error(side, f"cannot be read ({e.strerror})") from None
    if not isinstance(meta, dict):
        raise _sidecar_error(side, "expected a JSON object")
    fb = meta.get("frame_bytes")
    if not _is_int(fb) or fb <= 0 or fb % 2:
        raise _sidecar_error(side, f"frame_bytes {fb!r} is not a positive even number")
    if frames is None:
        return meta
    fr = meta.get("frames")
    if not isinstance(fr, dict):
        raise _sidecar_error(side, "has no 'frames' object")
    for key, ok in (("index", _is_int), ("timestamp_ns", _is_int), ("complete", lambda v: isinstance(v, bool)),
                    ("lost_bytes", lambda v: _is_int(v) and 0 <= v <= fb)):
        values = fr.get(key)
        if not isinstance(values, list) or len(values) != frames:
            raise _sidecar_error(side, f"frames.{key} must list {frames} values (one per frame in the .bin), got "
                                       f"{len(values) if isinstance(values, list) else type(values).__name__}")
        bad = next((i for i, v in enumerate(values) if not ok(v)), None)
        if bad is not None:
            raise _sidecar_error(side, f"frames.{key}[{bad}] = {values[bad]!r} is invalid")
    return meta


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


class AdcFileSource(SourceBase):
    """Replay an ``adc_data.bin`` as radar frames (seekable). The frame size comes from ``frame_bytes``
    or the sidecar; per-frame loss flags and timestamps come from the sidecar when present."""

    kind = "radar"
    is_seekable = True

    def __init__(self, path: str | Path, *, frame_bytes: int | None = None, name: str = "radar",
                 frame_period_s: float = 0.1):
        super().__init__()
        self.path = Path(path)
        if not self.path.is_file():
            raise FormatError(f"{self.path}: no such file")
        self.name = name
        side = sidecar_path(self.path)
        self.sidecar = load_sidecar(side) if side.is_file() else None
        if frame_bytes is None:
            if self.sidecar is None:
                raise FormatError(f"{self.path}: frame size unknown (no {side.name}); give the cfg and board")
            frame_bytes = self.sidecar["frame_bytes"]
        if not _is_int(frame_bytes) or frame_bytes <= 0 or frame_bytes % 2:
            raise FormatError(f"{self.path}: frame size {frame_bytes!r} is not a positive even number of bytes")
        self.frame_bytes = frame_bytes
        size = self.path.stat().st_size
        if size % frame_bytes:
            raise FormatError(f"{self.path}: {size} bytes is not a whole number of {frame_bytes}-byte frames "
                              f"(truncated?)")
        self.n = size // frame_bytes
        if self.sidecar is not None:
            if self.sidecar["frame_bytes"] != frame_bytes:
                raise FormatError(f"{side}: frame_bytes {self.sidecar['frame_bytes']} but {frame_bytes} was given")
            self.sidecar = load_sidecar(side, self.n)
        self.period_ns = int(frame_period_s * 1e9)
        # an empty capture (no frame arrived) is a valid, empty source; mmap refuses empty files
        self.data = np.memmap(self.path, dtype="<i2", mode="r") if size else np.zeros(0, "<i2")
        self.metadata = {"path": str(self.path), "frame_bytes": frame_bytes}
        if self.sidecar:
            self.metadata.update(board=self.sidecar.get("board"), cfg_text=self.sidecar.get("cfg"))

    def _len(self) -> int:
        return self.n

    def _get(self, i: int) -> RadarFrame:
        w = self.frame_bytes // 2
        adc = np.array(self.data[i * w:(i + 1) * w])
        if self.sidecar:
            fr = self.sidecar["frames"]
            return RadarFrame(fr["index"][i], fr["timestamp_ns"][i], adc, fr["lost_bytes"][i], fr["complete"][i])
        return RadarFrame(i, i * self.period_ns, adc)

    def _close(self) -> None:
        del self.data
