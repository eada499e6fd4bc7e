"""tables.xlsx: every table of the report, one sheet each.

Numbers are written as numbers (never text), the header row is frozen, and text that a
spreadsheet could take for a formula (starting with ``=``, ``+``, ``-`` or ``@``, e.g. an item
wording or an id from the survey) is neutralised: written as a string cell with a leading
apostrophe, so Excel and LibreOffice show it as text and never evaluate it.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_text(value: str) -> str:
    """Neutralise text that a spreadsheet would read as a formula."""
    return "'" + value if value.startswith(FORMULA_START) else value


def _cell(value):
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        f = float(value)
        return f if math.isfinite(f) else None
    if isinstance(value, (list, tuple, dict)):
        return safe_text(str(value))
    return safe_text(str(value))


def write_xlsx(tables, path: Path) -> None:
    from openpyxl import Workbook  # noqa: PLC0415
    from openpyxl.styles import Font  # noqa: PLC0415
    from openpyxl.utils import get_column_letter  # noqa: PLC0415

    wb = Workbook()
    wb.remove(wb.active)
    used = set()
    bold = Font(bold=True)
    for t in tables:
        name = t.key[:31]
        k = 2
        while name.lower() in used:
            name = f"{t.key[:28]}_{k}"
            k += 1
        used.add(name.lower())
        ws = wb.create_sheet(name)
        ws.append([_cell(str(c)) for c in t.frame.columns])
        for c in ws[1]:
            c.font = bold
        for row in t.frame.itertuples(index=False, name=None):
            ws.append([_cell(v) for v in row])
        for cell in ws.iter_rows(min_row=2):
            for c in cell:
                if isinstance(c.value, str):
                    c.data_type = "s"  # never a formula
        ws.freeze_panes = "A2"
        for i, col in enumerate(t.frame.columns, start=1):
            width = max([len(str(col))] + [len(str(v)) for v in t.frame.iloc[:200, i - 1]])
            ws.column_dimensions[get_column_letter(i)].width = min(max(8, width + 2), 60)
    wb.save(path)
