"""Suite-wide set-up: the header says how much disk the temporary directory has, because the suite writes
sessions and datasets (the quick demo alone 1.6 GB) and a full disk shows up as set-up errors in every later
test rather than as one clear failure."""

from __future__ import annotations

import shutil
import tempfile

NEEDS_GB = 4.0


def pytest_report_header(config):
    tmp = tempfile.gettempdir()
    free_gb = shutil.disk_usage(tmp).free / 1e9
    line = f"disk: {free_gb:.1f} GB free in {tmp} (the suite needs about {NEEDS_GB:.0f} GB at its peak)"
    return line if free_gb >= NEEDS_GB else f"WARNING {line}: expect set-up errors once it is full"
