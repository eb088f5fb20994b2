"""The room monitor works in 3-D room coordinates: a HuPR run (2-D skeletons in image pixels) is refused with
a typed error, as a library call and as a one-line CLI error."""

import json

import pytest

from rfpose.app.monitor.detect import check_3d_run
from rfpose.cli import main
from rfpose.errors import IncompatibleRunError


def _run(tmp_path, name):
    run = tmp_path / name
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"model": {"name": name, "overrides": {}}}))
    return run


def test_monitor_refuses_a_2d_hupr_run(tmp_path, capsys):
    run = _run(tmp_path, "hupr-lite")
    with pytest.raises(IncompatibleRunError, match="3-D skeletons in metres"):
        check_3d_run(run)
    check_3d_run(_run(tmp_path, "hrradarpose-lite"))  # 3-D families pass
    assert main(["monitor", "--source", "sim://walk", "--run", str(run),
                 "--event-log", str(tmp_path / "e.sqlite")]) == 2
    err = capsys.readouterr().err
    assert "hupr family" in err and "room monitor" in err and "Traceback" not in err and err.count("\n") == 1
