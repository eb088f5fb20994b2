"""The event log: every event in an SQLite file (WAL), kept across restarts."""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path

from rfpose.app.monitor.events import Event
from rfpose.errors import FormatError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time REAL NOT NULL,          -- unix seconds
    kind TEXT NOT NULL,
    value TEXT NOT NULL,         -- JSON
    confidence REAL NOT NULL,
    track INTEGER,
    zone TEXT,
    detail TEXT NOT NULL         -- JSON
);
CREATE INDEX IF NOT EXISTS events_time ON events(time);
"""


class EventStore:
    """Append events, read the most recent ones; safe to use from several threads."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as e:
            raise FormatError(f"{self.path}: not a usable event log ({e})") from None
        self._lock = threading.Lock()

    def add(self, events: list[Event]) -> None:
        if not events:
            return
        rows = [(e.time, e.kind, json.dumps(e.value), e.confidence, e.track, e.zone, json.dumps(e.detail))
                for e in events]
        with self._lock:
            self._db.executemany("INSERT INTO events (time, kind, value, confidence, track, zone, detail) "
                                 "VALUES (?, ?, ?, ?, ?, ?, ?)", rows)

    def recent(self, limit: int = 100, kinds: tuple[str, ...] | None = None) -> list[dict]:
        """The newest ``limit`` events (optionally of some kinds), newest first."""
        q = "SELECT id, time, kind, value, confidence, track, zone, detail FROM events"
        args: list = []
        if kinds:
            q += f" WHERE kind IN ({','.join('?' * len(kinds))})"
            args += list(kinds)
        q += " ORDER BY id DESC LIMIT ?"
        with self._lock:
            rows = self._db.execute(q, args + [int(limit)]).fetchall()
        return [{"id": r[0], "time": r[1], "kind": r[2], "value": json.loads(r[3]), "confidence": r[4],
                 "track": r[5], "zone": r[6], "detail": json.loads(r[7])} for r in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()
