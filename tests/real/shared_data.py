"""Where the real recordings are: ``../shared/data`` relative to the repository root (as in CI); a git
worktree one level deeper finds it in the nearest ancestor that has one."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def shared_data(name: str) -> Path:
    """The folder ``shared/data/<name>`` next to the repository (or an ancestor), or skip the test."""
    for base in (ROOT, *ROOT.parents):
        p = base.parent / "shared" / "data" / name
        if p.is_dir():
            return p
    pytest.skip(f"real data ../shared/data/{name} not found next to {ROOT} (CI provides it)")
