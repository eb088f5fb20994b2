"""The layering contracts (pyproject [tool.importlinter], docs/architecture.md) hold, and a forbidden import
— at module level or inside a function body — breaks them."""

import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("importlinter")
ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("lint_imports", ROOT / ".ci" / "lint_imports.py")
lint_imports = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(lint_imports)


def test_the_tree_keeps_the_contracts(tmp_path):
    res = lint_imports.lint(lint_imports.build_view(tmp_path))
    assert res.returncode == 0, res.stdout + res.stderr
    assert "2 kept, 0 broken" in res.stdout


@pytest.mark.parametrize("module, code, message", [
    # core imports no stage (here inside a function body, where most imports are)
    ("rfpose/skeletons.py", "def _f():\n    from rfpose.models import train\n",
     "rfpose.skeletons -> rfpose.models.train"),
    # core imports no application code
    ("rfpose/session/reader.py", "from rfpose.app import report\n", "rfpose.session.reader -> rfpose.app.report"),
    # a stage imports no other stage ...
    ("rfpose/models/data.py", "import rfpose.preprocessing.polar\n",
     "rfpose.models.data -> rfpose.preprocessing.polar"),
    # ... and no application code
    ("rfpose/drivers/recorder.py", "def _f():\n    import rfpose.cli.record\n",
     "rfpose.drivers.recorder -> rfpose.cli.record"),
    # the cycle between boards and radar_config stays broken
    ("rfpose/radar_config.py", "def _f():\n    from rfpose.boards import get_board\n",
     "rfpose.radar_config -> rfpose.boards"),
    # a new module under rfpose must be placed in a layer
    ("rfpose/newcore.py", "X = 1\n", "rfpose.newcore"),
])
def test_a_forbidden_import_breaks_the_contracts(tmp_path, module, code, message):
    view = lint_imports.build_view(tmp_path)
    with open(view / module, "a") as f:
        f.write("\n" + code)
    res = lint_imports.lint(view)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "BROKEN" in res.stdout and message in res.stdout


def test_preprocessing_may_use_the_drivers_layout_decoders(tmp_path):
    view = lint_imports.build_view(tmp_path)
    with open(view / "rfpose/preprocessing/points.py", "a") as f:
        f.write("\ndef _f():\n    from rfpose.drivers.tlv import POINT_DTYPE\n")
    res = lint_imports.lint(view)
    assert res.returncode == 0 and "1 ignored import" in res.stdout, res.stdout + res.stderr
