"""report.html: one self-contained file (inline CSS and SVG, no external requests).

Rendered by Jinja2 with autoescaping on: every user-supplied text (title, item wording, labels,
ids) is escaped. Figures are matplotlib SVG (which escapes its own text) inlined as markup.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd


def _fmt(value, decimals: int | None = None) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}".replace(",", " ") if abs(value) >= 10000 else str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return ""
        if decimals is None:
            if value.is_integer() and abs(value) < 1e12:
                return str(int(value))
            decimals = 3
        if decimals >= 4 and 0 <= value < 10 ** -decimals:
            return f"< {10 ** -decimals:.{decimals}f}"
        return f"{value:.{decimals}f}"
    return str(value)


def _rows(table):
    out = []
    for rec in table.frame.itertuples(index=False, name=None):
        cells = []
        for col, v in zip(table.frame.columns, rec):
            v = None if (isinstance(v, float) and math.isnan(v)) else v
            num = isinstance(v, (int, float)) and not isinstance(v, bool)
            grey = (num and col in table.grey_below and abs(v) < table.grey_below[col])
            cells.append({"text": _fmt(v, table.decimals.get(col)), "num": num, "grey": grey,
                          "raw": v})
        out.append(cells)
    return out


def write_html(results: dict, tables, figures, path: Path) -> Path:
    from jinja2 import Environment, FileSystemLoader, select_autoescape  # noqa: PLC0415

    env = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                      autoescape=select_autoescape(["html", "j2"]), trim_blocks=True,
                      lstrip_blocks=True)
    env.filters["fmt"] = _fmt
    template = env.get_template("report.html.j2")
    by_section: dict[str, list] = {}
    for t in tables:
        by_section.setdefault(t.section, []).append({"t": t, "rows": _rows(t)})
    figs: dict[str, list] = {}
    for f in figures:
        figs.setdefault(f.section, []).append(f)
    html = template.render(r=results, sections=by_section, figures=figs,
                           css=(Path(__file__).parent / "templates" / "report.css").read_text())
    Path(path).write_text(html, encoding="utf-8")
    return Path(path)
