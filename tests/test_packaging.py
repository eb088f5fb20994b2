"""The one import namespace: every folder installs under rfpose, from an editable install and a wheel."""

import os
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
SETUPTOOLS = PYPROJECT["tool"]["setuptools"]
PACKAGES = SETUPTOOLS["packages"]
MAPPING = SETUPTOOLS["package-dir"]


def _dir_of(package: str) -> Path:
    parts = package.split(".")
    for i in range(len(parts), 0, -1):
        prefix = ".".join(parts[:i])
        if prefix in MAPPING:
            return ROOT / MAPPING[prefix] / Path(*parts[i:])
    return ROOT / Path(*parts)


def test_every_package_folder_is_listed():
    top = ["rfpose", "drivers", "preprocessing", "calibration", "annotation", "models"]
    found = set()
    for folder in top:
        for init in (ROOT / folder).rglob("__init__.py"):
            found.add(init.parent.resolve())
    listed = {_dir_of(p).resolve() for p in PACKAGES}
    missing = sorted(str(p.relative_to(ROOT)) for p in found - listed)
    assert not missing, f"folders with __init__.py missing from pyproject packages: {missing}"
    for p in PACKAGES:
        assert (_dir_of(p) / "__init__.py").exists(), p


def _import_all_script() -> str:
    return (
        "import importlib, json, sys\n"
        f"pkgs = {PACKAGES!r}\n"
        "files = {p: importlib.import_module(p).__file__ for p in pkgs}\n"
        "print(json.dumps(files))\n"
    )


def test_editable_install_imports_every_subpackage():
    out = subprocess.run([sys.executable, "-c", _import_all_script()], capture_output=True, text=True, cwd="/",
                         check=True).stdout
    import json

    files = json.loads(out)
    assert Path(files["rfpose.drivers"]).parent.resolve() == (ROOT / "drivers").resolve()
    assert Path(files["rfpose.models"]).parent.resolve() == (ROOT / "models").resolve()


def test_built_wheel_imports_every_subpackage(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path)], check=True, capture_output=True)
    wheel = next(tmp_path.glob("rfpose-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "rfpose/drivers/__init__.py" in names and "rfpose/configs/awr1843boost.cfg" in names
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    env = {**os.environ, "PYTHONPATH": str(site)}
    out = subprocess.run([sys.executable, "-c", _import_all_script()], capture_output=True, text=True, cwd="/",
                         env=env, check=True).stdout
    import json

    for pkg, file in json.loads(out).items():
        assert Path(file).resolve().is_relative_to(site.resolve()), (pkg, file)


@pytest.mark.parametrize("args", [["--help"], ["cfg", "--help"], ["--version"]])
def test_console_script_runs(args):
    exe = Path(sys.executable).with_name("rfpose")
    r = subprocess.run([str(exe), *args], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "rfpose" in r.stdout
