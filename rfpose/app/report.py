"""A self-contained HTML report (no external assets) written next to its JSON and PNGs.

Every number the page shows is rendered from the report document and tagged with ``data-key`` (its
dotted path in ``report.json``), and every figure is an inline PNG also written to disk, so a test can
check the page against the JSON the run wrote. A small inline script marks each image
``data-loaded="true"`` once the browser has decoded it.
"""

from __future__ import annotations

import base64
import html
import json
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Figure:
    """A PNG in the report. ``data`` holds the numbers the figure plots (also stored in the JSON)."""

    id: str
    path: Path
    caption: str
    data: dict | None = None


_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1100px;color:#222}
h1{margin-bottom:0} .sub{color:#666;margin-top:.2rem}
table{border-collapse:collapse;margin:.5rem 0 1.2rem} td,th{border:1px solid #ddd;padding:.25rem .6rem;text-align:left}
th{background:#f4f4f4} td.num{text-align:right;font-variant-numeric:tabular-nums}
.status-done{color:#0a7d2c;font-weight:600} .status-missing{color:#a66b00;font-weight:600}
.status-failed{color:#b00020;font-weight:600}
figure{display:inline-block;margin:.5rem;vertical-align:top;max-width:520px}
figure img{max-width:100%;border:1px solid #eee} figcaption{font-size:.9rem;color:#444}
.note{background:#fff8e1;border-left:4px solid #f0b400;padding:.5rem 1rem}
"""

_SCRIPT = """
function markImages(){document.querySelectorAll('img').forEach(function(im){
  var ok = im.complete && im.naturalWidth > 0; im.setAttribute('data-loaded', ok ? 'true' : 'false');
  im.setAttribute('data-natural-width', String(im.naturalWidth));});
  document.body.setAttribute('data-images-checked','true');}
window.addEventListener('load', markImages);
"""


def _fmt(v) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        if v != v:
            return "n/a"
        return f"{v:.4g}" if abs(v) < 1e6 else f"{v:.4e}"
    if isinstance(v, (list, tuple)):
        return ", ".join(_fmt(x) for x in v)
    return str(v)


def table_from_dict(d: dict, key_prefix: str, headers=("parameter", "value")) -> str:
    """A two-column table of ``d``; each value cell carries ``data-key="prefix.name"``."""
    rows = []
    for k, v in d.items():
        if isinstance(v, dict):
            continue
        cls = "num" if isinstance(v, (int, float)) and not isinstance(v, bool) else ""
        rows.append(f'<tr><td>{html.escape(str(k))}</td><td class="{cls}" data-key="{html.escape(key_prefix)}.'
                    f'{html.escape(str(k))}">{html.escape(_fmt(v)) if v is not None else "-"}</td></tr>')
    return f"<table><tr><th>{headers[0]}</th><th>{headers[1]}</th></tr>{''.join(rows)}</table>"


def table_from_rows(rows: list[dict], key_prefix: str) -> str:
    """A table of records; cell ``(i, col)`` carries ``data-key="prefix.i.col"``."""
    if not rows:
        return "<p>(none)</p>"
    cols = list(dict.fromkeys(k for r in rows for k in r if not isinstance(r[k], (dict, list))))
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = []
    for i, r in enumerate(rows):
        cells = []
        for c in cols:
            if c not in r:  # this record lacks the column: an empty cell, not a number from the JSON
                cells.append("<td>-</td>")
                continue
            v = r[c]
            cls = "num" if isinstance(v, (int, float)) and not isinstance(v, bool) else ""
            if c == "status":
                cls = f"status-{v}"
            cells.append(f'<td class="{cls}" data-key="{key_prefix}.{i}.{html.escape(c)}">'
                         f'{html.escape(_fmt(v)) if v is not None else "-"}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def figure_html(fig: Figure) -> str:
    data = base64.b64encode(Path(fig.path).read_bytes()).decode("ascii")
    return (f'<figure><img id="fig-{html.escape(fig.id)}" data-figure="{html.escape(fig.id)}" '
            f'alt="{html.escape(fig.caption)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{html.escape(fig.caption)}</figcaption></figure>")


def write_report(out_dir: str | Path, doc: dict, sections: list[tuple[str, str]], title: str) -> Path:
    """Write ``report.json`` (``doc``) and ``report.html`` built from ``sections`` of (heading, html)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(doc, indent=2, default=_json_default))
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             f"<style>{_STYLE}</style><script>{_SCRIPT}</script></head><body>",
             f"<h1>{html.escape(title)}</h1>"]
    for heading, body in sections:
        parts.append(f"<h2>{html.escape(heading)}</h2>{body}" if heading else body)
    parts.append("</body></html>")
    path = out / "report.html"
    path.write_text("".join(parts))
    return path


def _json_default(o):
    import numpy as np

    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
