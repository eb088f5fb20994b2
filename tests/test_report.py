"""The report's tables tag every number with its JSON path; cells a record lacks carry no path."""

import json

import numpy as np

from rfpose.app.report import Figure, _fmt, figure_html, table_from_dict, table_from_rows, write_report


def test_tables_tag_values_with_their_json_path():
    d = table_from_dict({"mpjpe_mm": 81.25, "frames": 12, "nested": {"x": 1}}, "evaluation")
    assert 'data-key="evaluation.mpjpe_mm">81.25<' in d and 'data-key="evaluation.frames">12<' in d
    assert "nested" not in d
    rows = table_from_rows([{"a": 1.5, "b": None}, {"a": 3}], "rows")
    assert 'data-key="rows.0.b">-<' in rows and 'data-key="rows.1.b"' not in rows and "<td>-</td>" in rows
    assert _fmt(True) == "yes" and _fmt(float("nan")) == "n/a" and _fmt([1, 2.5]) == "1, 2.5"


def test_write_report_inlines_figures_and_writes_json(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1])
    fig.savefig(tmp_path / "f.png")
    doc = {"value": np.float32(2.5), "arr": np.arange(3)}
    page = write_report(tmp_path, doc, [("Figure", figure_html(Figure("f", tmp_path / "f.png", "a line")))], "T")
    html = page.read_text()
    assert 'src="data:image/png;base64,' in html and "http" not in html
    assert json.loads((tmp_path / "report.json").read_text()) == {"value": 2.5, "arr": [0, 1, 2]}
