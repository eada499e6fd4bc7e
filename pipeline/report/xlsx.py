"""tables.xlsx: every table of the report, one sheet each, after a contents sheet.

Numbers are written as numbers (never text) at full precision, with a display format matching
the decimals the HTML report shows: statistics bounded by 1 without the leading zero (``.791``),
p-values as APA prints them (``.035``, and ``< .001`` below .001 through the conditional format
``[<0.001]"< .001";.000`` -- the cell still holds the exact value, e.g. 1.17e-25), degrees of
freedom as integers; the header row is bold and frozen. Text that a spreadsheet
could take for a formula -- anything starting with ``=``, ``+``, ``-`` or ``@`` (or a tab or
carriage return), e.g. an item wording, a label or an id from the survey -- is neutralised: it
is written as a text cell with a leading apostrophe (OWASP's advice against formula injection),
so Excel and LibreOffice show it as text and never evaluate it. No cell is ever a formula: the
writer has no way to write one.

The workbook is written directly as SpreadsheetML (a zip of a few XML parts, inline strings)
rather than with openpyxl: ``import openpyxl`` costs 0.15-0.33 s and writing the example's 34
sheets another 0.09-0.14 s on the reference machine, against 0.03-0.04 s here
(``benchmarks/bench_report.py``), within a 2.5 s budget for a whole run. The file is
deterministic (fixed zip timestamps, no creation date). Tests read it back with openpyxl.
"""

from __future__ import annotations

import math
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.report.xmltext import xml_text

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_MAX_DECIMALS = 8
_STYLE_DEFAULT, _STYLE_HEADER, _STYLE_WRAP = 0, 1, 2


def safe_text(value: str) -> str:
    """Neutralise text that a spreadsheet would read as a formula."""
    return "'" + value if value.startswith(FORMULA_START) else value


def cell_value(value):
    """The value a cell holds: numbers stay numbers (bool, int, float), text is neutralised,
    NaN, infinities and empty text become empty cells."""
    if value is None or (isinstance(value, str) and value == "") or value is pd.NA \
            or value is pd.NaT:
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        f = float(value)
        return f if math.isfinite(f) else None
    return safe_text(str(value))


def _column_letter(i: int) -> str:
    """1 -> A, 27 -> AA."""
    out = ""
    while i:
        i, r = divmod(i - 1, 26)
        out = chr(65 + r) + out
    return out


_BOUNDED0 = 3 + _MAX_DECIMALS + 1  # styles of '.0', '.00', ... (no leading zero)
_STYLE_P = _BOUNDED0 + _MAX_DECIMALS  # p-values: '.035', '< .001' below .001 (APA)
P_FORMAT = '[<0.001]"< .001";.000'


def _number_style(table, column, label=None, value=None) -> int:
    """Style index for a numeric cell of ``column`` (in the row labelled ``label``): the
    p-value format, an integer format for df, a fixed-decimals format (without the leading
    zero for statistics bounded by 1) or General. The cell keeps the full value; the format
    only changes what Excel shows (a p of 1.2e-25 shows '< .001' and is 1.2e-25 in the
    formula bar)."""
    if column in table.p_columns or (label is not None and label in table.p_rows):
        return _STYLE_P
    if column in table.int_cols or (label is not None and label in table.int_rows):
        return 3
    d = table.decimals.get(column)
    if d is None:
        return _STYLE_DEFAULT
    cut = table.cuts.get(column) if column in table.cuts else (
        table.row_cuts.get(label) if label is not None else None)
    if cut is not None and isinstance(value, float):
        from pipeline.report.apa import side_decimals  # noqa: PLC0415

        from pipeline.report.html import cut_spec  # noqa: PLC0415

        c, absolute, above = cut_spec(cut)
        d = side_decimals(value, int(d), c, absolute=absolute, above=above)  # as the HTML
    d = min(max(int(d), 0), _MAX_DECIMALS)
    bounded = column in table.bounded or (label is not None and label in table.bounded_rows)
    if bounded and d >= 1:
        return _BOUNDED0 + d - 1
    return 3 + d  # styles 3.. = 0, 0.0, 0.00, ...


def _cell_xml(ref: str, value, style: int) -> str:
    s = f' s="{style}"' if style else ""
    if value is None:
        return ""
    if isinstance(value, bool):
        return f'<c r="{ref}" t="b"{s}><v>{int(value)}</v></c>'
    if isinstance(value, int):
        return f'<c r="{ref}"{s}><v>{value}</v></c>'
    if isinstance(value, float):
        return f'<c r="{ref}"{s}><v>{value!r}</v></c>'
    text = xml_text(value, quote=False)
    return f'<c r="{ref}" t="inlineStr"{s}><is><t xml:space="preserve">{text}</t></is></c>'


def _sheet_xml(header: list, rows: list[list], styles: list, wrap: list[bool],
               widths: list[float]) -> str:
    """``styles``: per column a style index, or a function (row index, value -> style)."""
    parts = ['<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
             '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
             '<sheetViews><sheetView workbookViewId="0">'
             '<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>'
             '<selection pane="bottomLeft" activeCell="A2" sqref="A2"/>'
             '</sheetView></sheetViews><sheetFormatPr defaultRowHeight="15"/>']
    if widths:
        parts.append("<cols>" + "".join(
            f'<col min="{i}" max="{i}" width="{w:g}" customWidth="1"/>'
            for i, w in enumerate(widths, start=1)) + "</cols>")
    parts.append("<sheetData>")
    letters = [_column_letter(i) for i in range(1, max(len(header), 1) + 1)]
    parts.append('<row r="1">' + "".join(
        _cell_xml(f"{letters[j]}1", cell_value(h), _STYLE_HEADER) for j, h in enumerate(header))
        + "</row>")
    for r, row in enumerate(rows, start=2):
        cells = []
        for j, v in enumerate(row):
            if isinstance(v, str):
                style = _STYLE_WRAP if wrap[j] else _STYLE_DEFAULT
            elif isinstance(v, (float, int)) and not isinstance(v, bool):
                style = styles[j](r - 2, v) if callable(styles[j]) else styles[j]
                if isinstance(v, int) and style != _STYLE_P:
                    style = _STYLE_DEFAULT  # counts and integral df: General shows 1241
            else:
                style = _STYLE_DEFAULT
            cells.append(_cell_xml(f"{letters[j]}{r}", v, style))
        parts.append(f'<row r="{r}">' + "".join(cells) + "</row>")
    parts.append("</sheetData></worksheet>")
    return "".join(parts)


def _styles_xml() -> str:
    fmts = "".join(f'<numFmt numFmtId="{164 + d}" formatCode="0.{"0" * d}"/>'
                   for d in range(1, _MAX_DECIMALS + 1))
    fmts += "".join(f'<numFmt numFmtId="{180 + d}" formatCode=".{"0" * d}"/>'
                    for d in range(1, _MAX_DECIMALS + 1))
    fmts += f'<numFmt numFmtId="200" formatCode="{xml_text(P_FORMAT)}"/>'
    n_fmts = 2 * _MAX_DECIMALS + 1
    number_xfs = ['<xf numFmtId="1" fontId="0" fillId="0" borderId="0" xfId="0" '
                  'applyNumberFormat="1"/>']
    number_xfs += [f'<xf numFmtId="{164 + d}" fontId="0" fillId="0" borderId="0" xfId="0" '
                   'applyNumberFormat="1"/>' for d in range(1, _MAX_DECIMALS + 1)]
    number_xfs += [f'<xf numFmtId="{180 + d}" fontId="0" fillId="0" borderId="0" xfId="0" '
                   'applyNumberFormat="1"/>' for d in range(1, _MAX_DECIMALS + 1)]
    number_xfs.append('<xf numFmtId="200" fontId="0" fillId="0" borderId="0" xfId="0" '
                      'applyNumberFormat="1"/>')
    xfs = ['<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>',
           '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/>',
           '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0" applyAlignment="1">'
           '<alignment wrapText="1" vertical="top"/></xf>'] + number_xfs
    return ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
            f'<numFmts count="{n_fmts}">{fmts}</numFmts>'
            '<fonts count="2"><font><sz val="11"/><name val="Calibri"/><family val="2"/></font>'
            '<font><b/><sz val="11"/><name val="Calibri"/><family val="2"/></font></fonts>'
            '<fills count="2"><fill><patternFill patternType="none"/></fill>'
            '<fill><patternFill patternType="gray125"/></fill></fills>'
            '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border>'
            '</borders><cellStyleXfs count="1">'
            '<xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
            f'<cellXfs count="{len(xfs)}">{"".join(xfs)}</cellXfs>'
            '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
            '</styleSheet>')


def _width(values) -> float:
    longest = max((len(str(v)) for v in values if v is not None), default=6)
    return float(min(max(8, longest + 2), 60))


def _table_sheet(t) -> str:
    header = [str(c) for c in t.frame.columns]
    rows = [[cell_value(None if isinstance(v, float) and math.isnan(v) else v) for v in rec]
            for rec in t.frame.itertuples(index=False, name=None)]
    labels = ([str(r[0]) for r in rows] if (t.p_rows or t.int_rows or t.bounded_rows
                                             or t.row_cuts) else None)
    styles = [(lambda i, v, c=c: _number_style(t, c, labels[i] if labels else None, v))
              if (labels or c in t.cuts) else _number_style(t, c) for c in t.frame.columns]
    wrap = [c in t.wrap for c in t.frame.columns]
    widths = [_width([header[j]] + [r[j] for r in rows[:200]]) for j in range(len(header))]
    return _sheet_xml(header, rows, styles, wrap, widths)


def write_xlsx(tables, path: Path) -> None:
    """Write the tables as one workbook: a 'contents' sheet, then one sheet per table."""
    names = ["contents"] + [t.key for t in tables]
    contents_rows = [[cell_value(t.key), cell_value(t.title), cell_value(t.note)]
                     for t in tables]
    sheets = [_sheet_xml(["sheet", "table", "note"], contents_rows, [0, 0, 0],
                         [False, False, True], [28.0, 60.0, 100.0])]
    sheets += [_table_sheet(t) for t in tables]
    n = len(sheets)
    content_types = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" '
        'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/styles.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
        + "".join(f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="application/'
                  'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
                  for i in range(1, n + 1))
        + "</Types>")
    root_rels = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        'relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>')
    workbook = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
        '<bookViews><workbookView activeTab="0"/></bookViews><sheets>'
        + "".join(f'<sheet name="{xml_text(name)}" sheetId="{i}" r:id="rId{i}"/>'
                  for i, name in enumerate(names, start=1))
        + "</sheets></workbook>")
    wb_rels = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        + "".join(f'<Relationship Id="rId{i}" Type="http://schemas.openxmlformats.org/'
                  f'officeDocument/2006/relationships/worksheet" Target="worksheets/sheet{i}.xml"/>'
                  for i in range(1, n + 1))
        + f'<Relationship Id="rId{n + 1}" Type="http://schemas.openxmlformats.org/'
          'officeDocument/2006/relationships/styles" Target="styles.xml"/></Relationships>')
    parts = [("[Content_Types].xml", content_types), ("_rels/.rels", root_rels),
             ("xl/workbook.xml", workbook), ("xl/_rels/workbook.xml.rels", wb_rels),
             ("xl/styles.xml", _styles_xml())]
    parts += [(f"xl/worksheets/sheet{i}.xml", s) for i, s in enumerate(sheets, start=1)]
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, text in parts:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, text.encode("utf-8"))
