"""A real mosquitto for the monitor tests: Debian's broker on 127.0.0.1 at a free port (the demo's own
:class:`rfpose.app.local_services.Mosquitto`); missing, it fails the test in CI and skips it elsewhere."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rfpose.app.local_services import Mosquitto
from rfpose.errors import DependencyError


class Broker(Mosquitto):
    """:meth:`stop` / :meth:`start` keep the port (a broker restart)."""

    def __init__(self, workdir: Path):
        try:
            super().__init__(workdir)
        except DependencyError as e:
            if os.environ.get("CI"):
                pytest.fail(f"mosquitto is required in CI (make test installs it with .ci/ensure-mosquitto): {e}")
            pytest.skip(str(e))
