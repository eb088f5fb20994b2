#!/usr/bin/env python3
"""Check the layering contracts (``[tool.importlinter]`` in pyproject.toml) with import-linter.

The stages live in top-level folders that install as ``rfpose.drivers`` etc. (pyproject's package-dir), so
the source tree has no single ``rfpose`` folder for import-linter to walk. This script lays the packages out
as a wheel would (a copy under a temporary directory, following package-dir), and runs ``lint-imports``
there against the repository's pyproject.toml. Exit code 0 when every contract is kept.

    python .ci/lint_imports.py            # what `make test` runs
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def build_view(dest: Path, root: Path = ROOT) -> Path:
    """Copy every package's ``*.py`` to ``dest`` at its installed location (``rfpose/drivers/…``); returns dest."""
    setuptools = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]
    mapping = setuptools.get("package-dir", {})
    for package in setuptools["packages"]:
        parts = package.split(".")
        src = root / Path(*parts)
        for i in range(len(parts), 0, -1):
            prefix = ".".join(parts[:i])
            if prefix in mapping:
                src = root / mapping[prefix] / Path(*parts[i:])
                break
        out = dest / Path(*parts)
        out.mkdir(parents=True, exist_ok=True)
        for f in src.glob("*.py"):
            shutil.copy2(f, out / f.name)
    return dest


def lint(view: Path, config: Path = ROOT / "pyproject.toml") -> subprocess.CompletedProcess:
    """Run lint-imports on a laid-out tree (cwd and PYTHONPATH = the view, so the copy is what is analysed)."""
    exe = Path(sys.executable).with_name("lint-imports")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-c", "import sys; from importlinter.cli import "
                                           "lint_imports_command as m; sys.exit(m())"]
    env = {**os.environ, "PYTHONPATH": str(view)}
    return subprocess.run([*cmd, str(config), "--no-cache", "--no-logo"], cwd=view, env=env, capture_output=True,
                          text=True)


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="rfpose-layers-") as tmp:
        res = lint(build_view(Path(tmp)))
    sys.stdout.write(res.stdout)
    sys.stderr.write(res.stderr)
    return res.returncode


if __name__ == "__main__":
    sys.exit(main())
