"""The commit marker: how many frames of each stream are whole and may be read.

Data chunks are written first; this small JSON file is written last, to a temporary name and then
``os.replace``d over the old one, so a reader sees either the previous marker or the new one, never a
torn one — even when the writer is killed mid-write. Readers trust only these counts, never the arrays'
shapes (the writer grows arrays ahead of the data).

Marker contents (``rfpose_commit.json``)::

    {"rfpose_format": "1.0", "sequence": 42, "committed_unix_ns": 1700000000000000000, "closed": false,
     "streams": {"radar": {"kind": "radar", "frames": 40},
                 "lidar": {"kind": "lidar", "frames": 39, "points": 1234567},
                 "points": {"kind": "points", "frames": 40, "points": 5120}},
     "labels": {"gt": {"entries": 40}}}

A stream of a kind this code does not know is a corrupt marker when the marker's format version is one this
code fully knows, and is skipped with a warning when the marker comes from a newer minor version (which
may add stream kinds).
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from rfpose.errors import FormatError
from rfpose.session.layout import COMMIT_FILE, FORMAT_MINOR, FORMAT_VERSION, KINDS, RAGGED_KINDS, check_version

log = logging.getLogger(__name__)


@dataclass
class StreamCommit:
    kind: str
    frames: int
    points: int = 0  # ragged kinds (lidar, points) only: committed points (== point_offsets[frames])


@dataclass
class Commit:
    sequence: int = 0
    closed: bool = False
    streams: dict[str, StreamCommit] = field(default_factory=dict)
    labels: dict[str, int] = field(default_factory=dict)  # label set -> committed entries
    committed_unix_ns: int = 0
    rfpose_format: str = FORMAT_VERSION

    def to_json(self) -> dict:
        streams = {}
        for name, s in self.streams.items():
            d = {"kind": s.kind, "frames": s.frames}
            if s.kind in RAGGED_KINDS:
                d["points"] = s.points
            streams[name] = d
        return {"rfpose_format": self.rfpose_format, "sequence": self.sequence,
                "committed_unix_ns": self.committed_unix_ns, "closed": self.closed, "streams": streams,
                "labels": {name: {"entries": n} for name, n in self.labels.items()}}


def commit_path(session: str | Path) -> Path:
    return Path(session) / COMMIT_FILE


def write_commit(session: str | Path, commit: Commit, durable: bool = False) -> None:
    """Atomically replace the marker. ``durable`` also fsyncs (survives power loss of the marker itself;
    a process kill needs no fsync, the page cache outlives the process)."""
    target = commit_path(session)
    commit.committed_unix_ns = time.time_ns()
    data = json.dumps(commit.to_json(), separators=(",", ":")).encode()
    tmp = target.with_name(f".{COMMIT_FILE}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        if durable:
            f.flush()
            os.fsync(f.fileno())
    os.replace(tmp, target)
    if durable:
        fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _count(value, what: str, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise FormatError(f"{where}: corrupt commit marker: {what} is {value!r}, expected a count >= 0")
    return value


def read_commit(session: str | Path) -> Commit:
    """Read and validate the marker; every problem is a :class:`FormatError` naming the file."""
    path = commit_path(session)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise FormatError(f"{path}: commit marker missing — the writer never committed (killed before its first "
                          "commit?) or this is not an rfpose session") from None
    except OSError as e:
        raise FormatError(f"{path}: cannot read commit marker: {e.strerror}") from None
    try:
        d = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise FormatError(f"{path}: corrupt commit marker (not valid JSON: {e})") from None
    if not isinstance(d, dict) or not isinstance(d.get("streams"), dict) or not isinstance(d.get("labels"), dict):
        raise FormatError(f"{path}: corrupt commit marker (expected an object with 'streams' and 'labels')")
    version = d.get("rfpose_format")
    _, minor = check_version(version, str(path))
    streams = {}
    for name, s in d["streams"].items():
        if not isinstance(s, dict) or s.get("kind") not in KINDS:
            if minor > FORMAT_MINOR and isinstance(s, dict) and isinstance(s.get("kind"), str):
                log.warning("%s: skipping stream %r of kind %r, which session format %s added (this rfpose "
                            "reads %s)", path, name, s["kind"], version, FORMAT_VERSION)
                continue
            raise FormatError(f"{path}: corrupt commit marker: stream {name!r} has no valid kind")
        streams[name] = StreamCommit(s["kind"], _count(s.get("frames"), f"{name}.frames", str(path)),
                                     _count(s.get("points", 0), f"{name}.points", str(path)))
    labels = {}
    for name, s in d["labels"].items():
        if not isinstance(s, dict):
            raise FormatError(f"{path}: corrupt commit marker: label set {name!r} is not an object")
        labels[name] = _count(s.get("entries"), f"{name}.entries", str(path))
    return Commit(sequence=_count(d.get("sequence", 0), "sequence", str(path)), closed=bool(d.get("closed", False)),
                  streams=streams, labels=labels,
                  committed_unix_ns=_count(d.get("committed_unix_ns", 0), "committed_unix_ns", str(path)),
                  rfpose_format=version)
