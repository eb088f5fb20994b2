"""Several consumers of one set of running sources: one reader thread per source, a bounded queue per
consumer (python-can's Notifier/Listener pattern).

    fan = FanOut([radar])                         # or {"radar": src, "lidar": src2}
    rec = fan.subscribe("recorder", maxsize=512, lossless=True)
    live = fan.subscribe("monitor", maxsize=8)    # lossy: a slow monitor drops frames, counted
    fan.start()
    for name, frame in live: ...                  # ends when every source has ended
    fan.stop(); fan.join()

A reader thread calls ``source.read(POLL_S)`` and offers each frame to every subscription. A lossy
subscription whose queue is full drops the frame and counts it (``dropped``); it never holds up the reader,
so it never delays the other consumers. A ``lossless`` subscription (the recorder) makes the reader wait for
room instead: nothing is lost on its side, and a stalled writer back-pressures into the source's own
bounded buffer, whose drops the driver counts (``source.stats``). A :class:`Listener` gets the frames in its
own thread; an exception it raises is counted and logged (``errors``, ``last_error``) and delivery goes on.
A source that fails ends its reader; the error is kept in :attr:`FanOut.errors`.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from rfpose.errors import RfposeError
from rfpose.source import POLL_S, Frame, Source

log = logging.getLogger(__name__)


class Listener:
    """A push-style consumer: :meth:`on_frame` for each frame, :meth:`on_end` once every source has ended."""

    def on_frame(self, source: str, frame: Frame) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def on_end(self, errors: Mapping[str, BaseException]) -> None:
        """Called once after the last frame; ``errors`` holds the sources that failed (name -> error)."""


class Subscription:
    """One consumer's bounded queue of ``(source name, frame)``; iterate it, or :meth:`get` with a timeout."""

    def __init__(self, fanout: FanOut, name: str, maxsize: int, lossless: bool):
        self.name, self.lossless = name, lossless
        self._fanout = fanout
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, maxsize))
        self._closed = threading.Event()
        self.received = 0  #: frames put in the queue
        self.dropped = 0  #: frames not delivered because the queue was full (lossy) or the consumer left
        self.errors = 0  #: exceptions raised by a listener's on_frame
        self.last_error: BaseException | None = None

    def _offer(self, item: tuple[str, Frame]) -> None:
        if self._closed.is_set():
            return
        try:
            if self.lossless:
                while True:
                    try:
                        self._queue.put(item, timeout=POLL_S)
                        break
                    except queue.Full:
                        if self._closed.is_set():
                            raise
            else:
                self._queue.put_nowait(item)
            self.received += 1
        except queue.Full:
            self.dropped += 1

    def get(self, timeout: float | None = None) -> tuple[str, Frame] | None:
        """The next ``(source name, frame)``, or None if none within ``timeout`` (s)."""
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return None

    @property
    def done(self) -> bool:
        """Every source has ended and this consumer has taken every frame it was given."""
        return self._fanout.done and self._queue.empty()

    def __iter__(self) -> Iterator[tuple[str, Frame]]:
        while not self._closed.is_set():
            item = self.get(timeout=POLL_S)
            if item is not None:
                yield item
            elif self.done:
                return

    def close(self) -> None:
        """Leave: the readers stop offering frames to this consumer (a waiting lossless reader is released)."""
        self._closed.set()
        self._fanout._remove(self)

    @property
    def stats(self) -> dict[str, Any]:
        d = {"received": self.received, "dropped": self.dropped, "queued": self._queue.qsize()}
        if self.errors:
            d.update(errors=self.errors, last_error=f"{type(self.last_error).__name__}: {self.last_error}")
        return d


class FanOut:
    """Read each source in its own thread and hand every frame to every subscription.

    ``sources``: a mapping name -> source, or sources (named by their ``name``). Subscribe before
    :meth:`start` to see every frame; a later subscriber sees frames from then on.
    """

    def __init__(self, sources: Mapping[str, Source] | Iterable[Source]):
        items = sources.items() if isinstance(sources, Mapping) else ((s.name, s) for s in sources)
        self.sources: dict[str, Source] = {}
        for name, src in items:
            if name in self.sources:
                raise ValueError(f"two sources named {name!r}")
            self.sources[name] = src
        self.frames: dict[str, int] = dict.fromkeys(self.sources, 0)  #: frames read per source
        self.errors: dict[str, BaseException] = {}  #: sources that failed
        self._subs: list[Subscription] = []
        self._lock = threading.Lock()
        self._readers: list[threading.Thread] = []
        self._listeners: list[threading.Thread] = []
        self._ended: set[str] = set()

    # -- consumers --------------------------------------------------------------------------------
    def subscribe(self, name: str, *, maxsize: int = 64, lossless: bool = False) -> Subscription:
        """A new consumer queue of ``maxsize`` frames; ``lossless`` makes the readers wait for room."""
        sub = Subscription(self, name, maxsize, lossless)
        with self._lock:
            self._subs = [*self._subs, sub]
        return sub

    def add_listener(self, listener: Listener, *, name: str | None = None, maxsize: int = 64,
                     lossless: bool = False) -> Subscription:
        """Deliver frames to ``listener.on_frame`` in a thread of its own (a subscription drained for it)."""
        sub = self.subscribe(name or type(listener).__name__, maxsize=maxsize, lossless=lossless)

        def deliver() -> None:
            for source, frame in sub:
                try:
                    listener.on_frame(source, frame)
                except Exception as e:  # noqa: BLE001 - counted and reported; the others go on
                    sub.errors += 1
                    sub.last_error = e
                    if sub.errors == 1:
                        log.exception("listener %s failed on a %s frame", sub.name, source)
            try:
                listener.on_end(dict(self.errors))
            except Exception as e:  # noqa: BLE001
                sub.errors += 1
                sub.last_error = e
                log.exception("listener %s failed at the end", sub.name)

        t = threading.Thread(target=deliver, name=f"fanout-{sub.name}", daemon=True)
        self._listeners.append(t)
        t.start()
        return sub

    def _remove(self, sub: Subscription) -> None:
        with self._lock:
            self._subs = [s for s in self._subs if s is not sub]

    # -- running ----------------------------------------------------------------------------------
    def start(self) -> None:
        """Start every source (in this thread: a device that fails to start raises here), then the readers."""
        if self._readers:
            return
        for src in self.sources.values():
            src.start()
        for name, src in self.sources.items():
            t = threading.Thread(target=self._read_loop, args=(name, src), name=f"read-{name}", daemon=True)
            self._readers.append(t)
            t.start()

    def _read_loop(self, name: str, src: Source) -> None:
        try:
            while True:
                frame = src.read(POLL_S)
                if frame is None:
                    if src.ended:
                        return
                    continue
                self.frames[name] += 1
                for sub in self._subs:
                    sub._offer((name, frame))
        except Exception as e:  # noqa: BLE001 - kept for the owner; the other sources go on
            self.errors[name] = e
            if isinstance(e, RfposeError):
                log.error("source %s: %s", name, e)
            else:  # a bug, not a device problem: keep the traceback
                log.exception("source %s failed", name)
        finally:
            self._ended.add(name)

    def stop(self) -> None:
        """Stop every source; the readers still hand on what the devices already sent, then end."""
        for name, src in self.sources.items():
            try:
                src.stop()
            except Exception as e:  # noqa: BLE001 - one device failing to stop must not keep the others running
                log.warning("stopping %s: %s", name, e)

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the readers and the listeners; True if all ended within ``timeout`` (s)."""
        for t in [*self._readers, *self._listeners]:
            t.join(timeout)
        return not any(t.is_alive() for t in [*self._readers, *self._listeners])

    @property
    def done(self) -> bool:
        """Every source has ended (or failed)."""
        return len(self._ended) == len(self.sources)

    @property
    def stats(self) -> dict[str, Any]:
        return {"frames": dict(self.frames), "errors": {n: str(e) for n, e in self.errors.items()},
                "consumers": {s.name: s.stats for s in self._subs}}

    def __enter__(self) -> FanOut:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
        self.join()
