"""Where the real recordings are: ``../shared/data`` beside the repository (CI lays it there too).

Locally a missing folder skips the tests that need it; under CI (``CI=true``) it fails them, so a moved
folder cannot silently turn the golden tests off.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def shared_data(*parts: str) -> Path:
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        message = f"real data not found at {path} (expected ../shared/data beside the repository)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path
