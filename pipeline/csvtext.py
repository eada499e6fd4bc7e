"""Every csv socap writes, with text a spreadsheet could take for a formula neutralised.

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is run as a
formula by Excel, LibreOffice and Google Sheets when the csv is opened there ("formula" or
"CSV injection": ``=HYPERLINK(...)`` in a respondent id, a file name or a free-text answer).
As OWASP advises, such a text cell gets a leading single quote and every text cell is quoted
(``"'=HYPERLINK(...)"``); so that the rule can be undone exactly, a text that already starts
with single quotes before one of those characters gets one more (``'=x`` is written ``''=x``).
Numbers are never touched: a numeric column's -0.5 stays -0.5. Readers undo the prefix by
removing one leading quote from text matching ``^'+[=+\\-@\\t\\r]`` -- reports/reproduce.R does
(:data:`pipeline.report.rcode.R_READ_TABLE`).

Used by exclusions.csv (:mod:`pipeline.run`) and the csv companions of reproduce.R
(:mod:`pipeline.report.rcode`); tables.xlsx has its own rule (:func:`pipeline.report.xlsx.
safe_text`: text cells, never formulas).
"""

from __future__ import annotations

from pathlib import Path

#: text cells matching this get one more leading single quote (RE2 and Python syntax)
FORMULA_PATTERN = r"^('*[=+\-@\t\r])"


def neutralise_text(value: str) -> str:
    """One text cell as the csv writers write it (without the surrounding quotes)."""
    import re  # noqa: PLC0415

    return re.sub(FORMULA_PATTERN, r"'\1", value)


def neutralise_table(table):
    """A pyarrow Table with every text column neutralised (dictionary columns as plain text)."""
    import pyarrow as pa  # noqa: PLC0415
    import pyarrow.compute as pc  # noqa: PLC0415

    columns = []
    for field, col in zip(table.schema, table.columns):
        if pa.types.is_dictionary(field.type):
            col = col.cast(pa.large_string())
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            col = pc.replace_substring_regex(col, pattern=FORMULA_PATTERN, replacement=r"'\1")
        columns.append(col)
    return pa.table(columns, names=table.column_names)


def _arrow_table(frame):
    import pandas as pd  # noqa: PLC0415
    import pyarrow as pa  # noqa: PLC0415

    try:
        return pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed cells in an object column: as text
        fixed = frame.copy()
        for c in fixed.columns:
            if fixed[c].dtype == object:
                fixed[c] = fixed[c].map(lambda v: v if v is None or isinstance(v, str)
                                        or (isinstance(v, float) and v != v) else str(v))
                fixed[c] = fixed[c].where(fixed[c].notna(), None).astype(pd.StringDtype())
        return pa.Table.from_pandas(fixed, preserve_index=False)


def write_csv(frame, path: Path, *, null_string: str = "") -> None:
    """``frame`` as csv (UTF-8, header, text quoted and neutralised, numbers as the shortest
    decimals that read back exactly, missing cells as ``null_string``) by arrow's csv writer."""
    import pyarrow.csv as pacsv  # noqa: PLC0415

    table = neutralise_table(_arrow_table(frame))
    pacsv.write_csv(table, path, pacsv.WriteOptions(null_string=null_string))
