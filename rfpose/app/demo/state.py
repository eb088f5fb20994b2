"""The demo's state (config, stage table, report document, figures) and the stage runner."""

from __future__ import annotations

import contextlib
import json
import logging
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rfpose.app.demo.config import DemoConfig
from rfpose.errors import RfposeError

log = logging.getLogger(__name__)


@dataclass
class StageResult:
    """One row of the report's stage table: status, wall time and throughput (``items`` ``unit`` per second)."""

    name: str
    status: str = "pending"  # done | failed | skipped
    seconds: float = 0.0
    detail: str = ""
    items: int | None = None
    unit: str = ""

    def row(self) -> dict:
        rate = self.items / self.seconds if self.items and self.seconds > 0 else None
        return {"stage": self.name, "status": self.status, "seconds": round(self.seconds, 2),
                "items": self.items, "unit": self.unit, "per_second": None if rate is None else round(rate, 2),
                "detail": self.detail}


@dataclass
class DemoState:
    """What the stages share: the config, the output directory, the stage table, the report document
    (``report.json``) and the figures."""

    cfg: DemoConfig
    out: Path
    stages: list[StageResult] = field(default_factory=list)
    doc: dict = field(default_factory=dict)
    figures: list = field(default_factory=list)


@contextlib.contextmanager
def stage(state: DemoState, name: str, needs: tuple[str, ...] = ()):
    """Time one stage. A stage whose prerequisites did not complete is ``skipped`` (the body checks
    ``st.status``); an exception marks it ``failed`` and the demo goes on to report it."""
    st = StageResult(name)
    state.stages.append(st)
    missing = [n for n in needs if not done(state, n)]
    if missing:
        st.status, st.detail = "skipped", f"needs {', '.join(missing)}, which did not complete"
    log.info("demo: %s ...", name)
    t0 = time.perf_counter()
    try:
        yield st
        if st.status == "pending":
            st.status = "done"
    except Exception as exc:  # noqa: BLE001 - reported in the stage table, later stages are skipped
        st.status, st.detail = "failed", f"{type(exc).__name__}: {exc}"
        log.error("demo: stage %s failed: %s", name, st.detail)
        if not isinstance(exc, RfposeError):
            log.debug("%s", traceback.format_exc())
    finally:
        st.seconds = time.perf_counter() - t0
    print(f"[demo] {name}: {st.status} in {st.seconds:.1f} s" + (f" — {st.detail}" if st.detail else ""), flush=True)


def done(state: DemoState, name: str) -> bool:
    """Whether stage ``name`` completed."""
    return any(s.name == name and s.status == "done" for s in state.stages)


def jsonable(x):
    """``x`` with numpy scalars and arrays as plain JSON values (anything else as its ``str``)."""
    return json.loads(json.dumps(x, default=lambda o: o.item() if isinstance(o, np.generic) else
                                 (o.tolist() if isinstance(o, np.ndarray) else str(o))))
