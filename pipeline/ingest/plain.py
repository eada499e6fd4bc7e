"""Plain exports: one header row naming the columns (xlsx, csv/tsv, parquet).

Layout detection and the platform readers (Qualtrics, SurveyMonkey, KoBo, SPSS/Stata) build on
the same :class:`Export` shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..errors import StudyError
from .personal import identifying_columns
from .tables import read_table


@dataclass(frozen=True)
class Export:
    data: pd.DataFrame  # cells as read + source_row
    columns: pd.DataFrame  # column, source_column, question, file
    file: "ExportFile"  # noqa: F821
    notes: tuple[str, ...] = ()
    personal_data_dropped: tuple[str, ...] = ()


def read_export(path: Path, *, sheet=None, layout: str = "auto", separator=None) -> Export:
    """Read one survey export into the common raw-responses shape.

    Raises
    ------
    StudyError
        Unreadable, empty or header-only file, duplicate column names.
    """
    from . import ExportFile  # noqa: PLC0415

    path = Path(path)
    if path.suffix.lower() == ".parquet":
        frame = pd.read_parquet(path)
        rows = pd.RangeIndex(2, len(frame) + 2).to_numpy()
        encoding, sheet_name = None, None
    else:
        table = read_table(path, sheet=sheet, what="survey export")
        frame, rows, encoding, sheet_name = table.frame, table.rows, table.encoding, table.sheet
    if len(frame) == 0:
        raise StudyError("the survey export has a header but no responses", file=path,
                         sheet=sheet_name, fix="check the export holds data (and the right sheet)")
    pii = identifying_columns(frame.columns)
    frame = frame.drop(columns=pii)
    meta = pd.DataFrame({"column": frame.columns, "source_column": frame.columns,
                         "question": [None] * frame.shape[1], "file": path.name})
    frame = frame.reset_index(drop=True)
    frame.insert(0, "source_row", rows)
    notes = []
    if encoding and encoding not in ("utf-8", "utf-8 (BOM)"):
        notes.append(f"{path.name} was read as {encoding} (not UTF-8).")
    info = ExportFile(path=str(path), layout="plain", rows=len(frame), columns=frame.shape[1] - 1,
                      encoding=encoding, sheet=sheet_name, header_rows=1)
    return Export(data=frame, columns=meta, file=info, notes=tuple(notes),
                  personal_data_dropped=tuple(pii))
