"""report.html: one self-contained file (inline CSS and SVG, no scripts, no external requests).

Rendered by Jinja2 with autoescaping on: every user-supplied text (title, item wording, labels,
ids, column names, model names) is escaped. The page's Content-Security-Policy forbids scripts
and every fetch (``default-src 'none'``), so even a mistake in escaping could not run code or
load anything. Figures are inlined as SVG markup written by :mod:`.svgplot`, which escapes its
text itself.

Numbers are shown at each table's stated decimals (``ReportTable.decimals``), p-values with
three decimals and "< 0.001" below that, counts with thousands separators; the unrounded values
are in results.json and tables.xlsx.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.measure.reliability import ALPHA_THRESHOLD
from pipeline.report.apa import fmt_df, fmt_number, fmt_p, header_html, is_number, p_phrase
from pipeline.report.methods import methods as make_methods

SECTIONS = (("methods", "Methods"), ("sample", "Sample"),
            ("measurement", "Items and reliability"),
            ("efa", "Exploratory factor analysis"), ("cfa", "Confirmatory factor analysis"),
            ("invariance", "Measurement invariance"), ("levels", "Aggregation to units"),
            ("network", "Network"), ("models", "Models"), ("warnings", "Warnings"),
            ("provenance", "Provenance"), ("references", "References"))



_is_num = is_number
_CHAR_PX = 7.4  # average width of a table character at the report's table font, in CSS px
_NARROW_PX = 350  # tables estimated wider than this are stacked (one card per row) on phones


def _clean(v):
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, (float, np.floating)) and math.isnan(v):
        return None
    return v


def _label_text(label: str) -> str:
    """A header as plain text with Unicode symbols (for the phone layout's cell labels)."""
    return {"mean": "M", "sd": "SD", "alpha": "\u03b1", "omega total": "\u03c9 total",
            "chi-square": "\u03c7\u00b2", "h2": "h\u00b2", "beta": "\u03b2",
            "beta SE": "\u03b2 SE"}.get(label, label)


def cell_text(table, column, value, label=None) -> str:
    """One cell as the report shows it (numbers by the table's rules, see the module
    docstring); ``label`` is the row's first-column label (statistic/value tables)."""
    if not _is_num(value):
        return "" if value is None else str(value)
    if column in table.p_columns or (label is not None and label in table.p_rows):
        return fmt_p(value)
    if (label is not None and label in table.int_rows) or column in table.int_cols:
        return fmt_df(value)
    bounded = column in table.bounded or (label is not None and label in table.bounded_rows)
    cut = table.cuts.get(column) if label is None or column in table.cuts else None
    if cut is None and label is not None:
        cut = table.row_cuts.get(label)
    cut_value, absolute, above = cut_spec(cut)
    decimals = table.decimals.get(column)
    return fmt_number(value, decimals, bounded=bounded, cut=cut_value, absolute_cut=absolute,
                      above=above)


def cut_spec(cut) -> tuple:
    """A ReportTable cut-off as ``(value, absolute, above)``: a number (flagged below it),
    ``(number, absolute)`` or ``(number, absolute, "above")``."""
    if not isinstance(cut, tuple):
        return cut, False, False
    return cut[0], bool(cut[1]) if len(cut) > 1 else False, len(cut) > 2 and cut[2] == "above"


def table_view(table, anchor: str | None = None) -> dict:
    """Header and cells of a ReportTable as the template renders them."""
    cols = list(table.frame.columns)
    pair_low = {low: (label, high) for label, low, high in table.ci_pairs
                if low in cols and high in cols}
    skip = {high for _, high in pair_low.values()}
    header, labels = [], []
    for c in cols:
        if c in skip:
            continue
        label = pair_low[c][0] if c in pair_low else str(c)
        plain_header = (table.name_headers or table.numbered) and c != cols[0]
        if table.numbered and c != cols[0]:
            label = str(len(header))
        header.append(label if plain_header else header_html(label))
        labels.append(label if plain_header else _label_text(label))
    rows = []
    first = cols[0] if cols else None
    widths = [len(str(h)) for h in labels]
    for rec in table.frame.itertuples(index=False, name=None):
        values = dict(zip(cols, (_clean(v) for v in rec)))
        row_label = str(values.get(first)) if table.p_rows or table.int_rows or \
            table.bounded_rows or table.row_cuts else None
        cells = []
        for c in cols:
            if c in skip:
                continue
            v = values[c]
            if table.numbered and c == first:
                cells.append({"text": f"{len(rows) + 1}. {v}", "cls": ""})
                continue
            if c in pair_low:
                hi = values[pair_low[c][1]]
                if c in table.fixed and values.get(table.fixed[c]) in (0, 0.0):
                    cells.append({"text": "\u2014", "cls": "num"})
                    continue
                text = ("[" + cell_text(table, c, v) + ", " + cell_text(table, c, hi) + "]"
                        if v is not None and hi is not None else "")
                cells.append({"text": text, "cls": "num"})
                continue
            num = _is_num(v)
            if c in table.fixed and values.get(table.fixed[c]) in (0, 0.0):
                text = "\u2014"  # a fixed parameter has no SE, z, p or CI (APA: em dash)
            else:
                text = cell_text(table, c, v, row_label)
            cls = []
            if num:
                cls.append("num")
            if num and c in table.grey_below and abs(v) < table.grey_below[c]:
                cls.append("grey")
            if num and ((c in table.flag_above and v > table.flag_above[c])
                        or (c in table.flag_below and v < table.flag_below[c])):
                cls.append("flag")
            if c in table.wrap:
                cls.append("wrap")
            cells.append({"text": text, "cls": " ".join(cls)})
        for j, cell in enumerate(cells):
            if j < len(widths) and not (cols[j] in table.wrap):
                widths[j] = max(widths[j], len(cell["text"]))
        flagged = False
        if table.flag_column and table.flag_column in values:
            fv = values[table.flag_column]
            flagged = bool(fv) and (not table.flag_values or fv in table.flag_values)
        rows.append({"cells": cells, "flagged": flagged})
    est = sum(w * _CHAR_PX + 18 for w in widths) + sum(
        22 * _CHAR_PX for c in cols if c in table.wrap)
    return {"t": table, "header": header, "labels": labels, "rows": rows,
            "anchor": anchor or table.anchor, "stack": est > _NARROW_PX}


def highlights(results: dict) -> list[str]:
    """A few sentences for the top of the report, each number read from results."""
    out = []
    s = results.get("sample") or {}
    line = (f"{fmt_number(s.get('respondents'))} respondents kept of "
            f"{fmt_number(s.get('rows_read'))} responses read ({fmt_number(s.get('excluded'))} "
            "excluded)")
    if s.get("units"):
        line += f"; {fmt_number(s.get('units'))} units"
    if s.get("groups"):
        line += f" in {fmt_number(s.get('groups'))} groups"
    out.append(line + ".")
    rel = results.get("reliability") or {}
    alphas = [(c, r.get("alpha")) for c, r in rel.items() if r.get("alpha") is not None]
    if alphas:
        lo = min(alphas, key=lambda t: t[1])
        hi = max(alphas, key=lambda t: t[1])
        cut = f"{ALPHA_THRESHOLD:.2f}".removeprefix("0")

        def a(v):
            return fmt_number(v, 3, bounded=True, cut=ALPHA_THRESHOLD)

        low = [c for c, v in alphas if v < ALPHA_THRESHOLD]
        out.append(f"Cronbach's alpha from {a(lo[1])} ({lo[0]}) to {a(hi[1])} ({hi[0]})"
                   + (f"; below {cut}: {', '.join(low)}." if low else f"; all at least {cut}."))
    fit = ((results.get("cfa") or {}).get("fit")) or {}
    if fit.get("cfi") is not None:
        from pipeline.report.tables import HU_BENTLER  # noqa: PLC0415

        parts = []
        if fit.get("chisq") is not None and fit.get("df") is not None:
            parts.append(f"\u03c7\u00b2({fmt_df(fit['df'])}) = {fmt_number(fit['chisq'], 2)}, "
                         f"p {p_phrase(fit.get('pvalue'))}")
        for k in ("cfi", "tli", "rmsea", "srmr"):
            if fit.get(k) is not None:
                parts.append(f"{k.upper()} = "
                             f"{fmt_number(fit[k], 3, bounded=True, cut=HU_BENTLER[k][1])}")
        misses = [k.upper() for k, (op, cut) in HU_BENTLER.items() if fit.get(k) is not None
                  and not (fit[k] >= cut if op == ">=" else fit[k] <= cut)]
        out.append("CFA fit: " + ", ".join(parts) + (
            f" (outside Hu & Bentler's cutoffs: {', '.join(misses)})." if misses else
            " (within Hu & Bentler's cutoffs)."))
    inv = results.get("invariance") or {}
    if inv:
        out.append(f"Measurement invariance across {inv.get('group')}: "
                   f"{inv.get('level_reached')} level reached"
                   + (f" ({(inv.get('partial') or {}).get('level_reached')})"
                      if (inv.get("partial") or {}).get("level_reached") else "") + ".")
    for name, m in (results.get("models") or {}).items():
        f, w = m.get("focal"), m.get("moderator")
        coefs = m.get("coefficients") or {}
        term = next((t for t in (f"{f}:{w}", f"{w}:{f}") if f and w and t in coefs), None)
        if term:
            c = coefs[term]
            stat = "t" if m.get("test") == "t" else "z"
            df = f"({fmt_df(c['df'])})" if c.get("df") is not None else ""
            out.append(f"Model '{name}': {term} B = {fmt_number(c.get('estimate'), 3)}, "
                       f"95% CI [{fmt_number(c.get('ci_low'), 3)}, "
                       f"{fmt_number(c.get('ci_high'), 3)}], {stat}{df} = "
                       f"{fmt_number(c.get('z_or_t'), 2)}, p {p_phrase(c.get('p'))}.")
    n_warn = len(results.get("warnings") or [])
    if n_warn:
        out.append(f"{n_warn} warning{'s' if n_warn != 1 else ''}: see the Warnings section.")
    return out


def write_html(results: dict, tables, figures, path: Path) -> Path:
    from jinja2 import Environment, FileSystemLoader, select_autoescape  # noqa: PLC0415

    from pipeline.report.apa import text_html  # noqa: PLC0415
    from pipeline.report.rcode import lavaan_syntax  # noqa: PLC0415

    here = Path(__file__).parent / "templates"
    env = Environment(loader=FileSystemLoader(here), autoescape=select_autoescape(["html", "j2"]),
                      trim_blocks=True, lstrip_blocks=True, bytecode_cache=_bytecode_cache())
    env.filters["num"] = fmt_number
    env.filters["apa"] = text_html
    template = env.get_template("report.html.j2")
    blocks, model_blocks = report_blocks(tables, figures)
    figure_numbers = _figure_numbers(blocks, model_blocks)
    present = {"methods", "warnings", "provenance", "references", "sample"} | set(blocks)
    if model_blocks:
        present.add("models")
    nav = [(key, title) for key, title in SECTIONS if key in present]
    # every text that may cite a source: the reference list holds each one cited
    texts = [t.note for t in tables] + [f.caption for f in figures]
    texts += [w.get("message", "") for w in results.get("warnings") or []]
    texts += [n for m in (results.get("models") or {}).values() for n in m.get("notes") or []]
    texts += [str((m.get("diagnostics") or {}).get("condition_number_method") or "")
              for m in (results.get("models") or {}).values()]
    cfa = results.get("cfa") or {}
    html = template.render(r=results, blocks=blocks, model_blocks=model_blocks, nav=nav,
                           highlights=highlights(results),
                           methods=make_methods(results, texts),
                           figure_numbers=figure_numbers,
                           lavaan_syntax=lavaan_syntax(cfa) if cfa.get("loadings") else "",
                           config_text=_config_yaml(results.get("config") or {}),
                           css=(here / "report.css").read_text(encoding="utf-8"))
    Path(path).write_text(html, encoding="utf-8")
    return Path(path)


def _figure_numbers(blocks: dict, model_blocks: dict) -> dict:
    """Figure 1, 2, ... in the order the figures appear (APA 7)."""
    order = []
    for key, _ in SECTIONS:
        if key == "models":
            for items in model_blocks.values():
                order += [f.key for kind, f in items if kind == "figure"]
        else:
            order += [f.key for kind, f in blocks.get(key, []) if kind == "figure"]
    return {k: i for i, k in enumerate(order, start=1)}


def _bytecode_cache():
    """Jinja2's cache of the compiled template in the user's cache folder: compiling the report
    template costs ~0.1 s, a tenth of a small run; loading it back ~5 ms. Jinja2 keys the cache
    on the template's source, so an edited template is compiled afresh. None (no cache) when
    the folder cannot be created."""
    import os  # noqa: PLC0415

    from jinja2 import FileSystemBytecodeCache  # noqa: PLC0415

    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    folder = os.path.join(base, "socap", "jinja2")
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError:
        return None
    if not os.access(folder, os.W_OK):
        return None
    return FileSystemBytecodeCache(folder)


def report_blocks(tables, figures) -> tuple[dict, dict]:
    """Tables and figures in reading order: per section, and per model for the models.

    A section's figures follow its first table (the scree plot after the adequacy table, the
    network drawing after the network summary); a model's figures follow its Johnson-Neyman
    table (or its last table).
    """
    blocks: dict[str, list] = {}
    model_blocks: dict[str, list] = {}
    anchors: set[str] = set()
    for t in tables:
        anchor, k = t.anchor, 2
        while anchor in anchors:  # keys differing only in punctuation share a slug
            anchor, k = f"{t.anchor}-{k}", k + 1
        anchors.add(anchor)
        view = ("table", table_view(t, anchor))
        if t.section == "models" and t.group:
            model_blocks.setdefault(t.group, []).append(view)
        else:
            blocks.setdefault(t.section, []).append(view)
    for name, items in model_blocks.items():
        figs = [("figure", f) for f in figures if f.section == "models" and f.group == name]
        at = next((i + 1 for i, (_, v) in enumerate(items) if v["t"].key.startswith("jn_")),
                  len(items))
        items[at:at] = figs
    for section in {f.section for f in figures if not (f.section == "models" and f.group)}:
        figs = [("figure", f) for f in figures
                if f.section == section and not (f.section == "models" and f.group)]
        items = blocks.setdefault(section, [])
        items[1 if items else 0:1 if items else 0] = figs
    return blocks, model_blocks


def _config_yaml(config: dict) -> str:
    import yaml  # noqa: PLC0415  (PyYAML: already loaded to read study.yaml)

    return yaml.safe_dump(config, sort_keys=False, allow_unicode=True, default_flow_style=False,
                          width=100)
