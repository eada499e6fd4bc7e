"""A quote opened in a csv cell and never closed (or closed only many rows later).

A csv parser treats everything from an opening ``"`` to the next ``"`` as one cell, line breaks
included. One stray quote -- a comment typed as ``"Great, but`` -- therefore turns the rest of
the file (or everything up to the next quote) into the text of one cell: 1,570 responses read as
101, without a word. :func:`check_swallowed_rows` finds such cells after parsing: a cell whose
embedded lines split, at the file's delimiter, into exactly as many fields as a record has is
records read as text. It names the file row where the cell starts, its column and how many rows
it swallowed.

The check costs nothing for files without quotes (no cell can hold a line break) and one count
of line breaks for files whose records hold none (the number of lines equals the number of
records); only a file with line breaks inside cells has those cells looked at.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from pipeline.errors import StudyError


def _record_like(line: str, delimiter: str, width: int) -> bool:
    try:
        fields = next(csv.reader(io.StringIO(line), delimiter=delimiter))
    except (StopIteration, csv.Error):
        return False
    return len(fields) == width


def swallowed(cell: str, delimiter: str, width: int) -> int:
    """How many of the cell's embedded lines (after its first) read as whole records."""
    lines = cell.replace("\r\n", "\n").replace("\r", "\n").split("\n")[1:]
    return sum(_record_like(line, delimiter, width) for line in lines if delimiter in line)


def check_swallowed_rows(columns, *, raw: bytes | None, delimiter: str, path: Path,
                         what: str, header_names=None) -> None:
    """Raise a :class:`StudyError` when a cell holds records read as its text.

    Parameters
    ----------
    columns
        The parsed cells column by column: pyarrow string arrays (the arrow path) or pandas
        Series of str (the general path); record 0 is the file's first record (the header).
    raw
        The file's bytes, when at hand: a file whose line breaks are exactly the records'
        needs no further look.
    delimiter
        The delimiter the file was parsed with.
    header_names
        The first record, to name the column.
    """
    columns = list(columns)
    if not columns:
        return
    width = len(columns)
    n = len(columns[0])
    if n == 0:
        return
    if raw is not None:
        if raw.find(b'"') < 0:
            return
        body = raw.rstrip(b"\r\n")
        if body.count(b"\n") + (body.count(b"\r") if b"\n" not in body else 0) <= n - 1:
            return  # one line per record: no cell holds a line break
    breaks = _breaks_per_cell(columns)  # list of (column position, np array of counts)
    if breaks is None:
        return
    import numpy as np

    per_record = np.zeros(n, dtype=np.int64)
    for _, counts in breaks:
        per_record += counts
    if not per_record.any():
        return
    # the file line each record starts on (record 0 on line 1)
    start_line = np.concatenate([[1], 1 + np.cumsum(per_record[:-1] + 1)])
    worst = None
    for j, counts in breaks:
        for i in np.flatnonzero(counts >= 1):
            cell = _cell(columns[j], int(i))
            k = swallowed(cell, delimiter, width)
            if k >= (1 if width >= 5 else 2) and (worst is None or k > worst[2]):
                worst = (int(i), j, k, cell)
    if worst is None:
        return
    i, j, k, cell = worst
    from pipeline.ingest.tables import column_letter

    name = (str(header_names[j]) if header_names is not None and j < len(header_names)
            else column_letter(j))
    # rows as a spreadsheet shows records (header = row 1); the text line where they differ
    row = i + 1
    line = int(start_line[i])
    at_line = f" (line {line} in a text editor)" if line != row else ""
    first = cell.split("\n", 1)[0].strip()
    last_line = line + int(per_record[i])
    ends = "the end of the file" if i == n - 1 else f"line {last_line}"
    raise StudyError(
        f"the {what} has a quote that is opened in row {row}{at_line}, column "
        f"{column_letter(j)} ('{name}': {first[:40]!r}...) and not closed on that row: the cell "
        f"runs to {ends}, so {k} following rows were read as the text of that one cell instead "
        "of as responses",
        file=path, row=row, column=name,
        fix="close the quote or remove it in that cell (a quote inside a quoted cell is written "
            "twice: \"\"), then save the file again")


def _breaks_per_cell(columns):
    """Line breaks per cell for every column that has any: [(position, counts)]."""
    import numpy as np

    out = []
    for j, col in enumerate(columns):
        if hasattr(col, "null_count"):  # arrow
            import pyarrow as pa
            import pyarrow.compute as pc

            if isinstance(col, pa.ChunkedArray):
                col = col.combine_chunks()
            counts = pc.fill_null(pc.count_substring(col, "\n"), 0)
            if not pc.any(pc.greater(counts, 0)).as_py():
                counts_r = pc.fill_null(pc.count_substring(col, "\r"), 0)
                if not pc.any(pc.greater(counts_r, 0)).as_py():
                    continue
                counts = counts_r
            out.append((j, np.asarray(counts.to_numpy(zero_copy_only=False), dtype=np.int64)))
        else:
            s = col.astype(str)
            counts = s.str.count("\n").to_numpy(dtype=np.int64)
            if not counts.any():
                counts = s.str.count("\r").to_numpy(dtype=np.int64)
                if not counts.any():
                    continue
            out.append((j, counts))
    return out


def _cell(col, i: int) -> str:
    if hasattr(col, "null_count"):
        v = col[i].as_py()
    else:
        v = col.iloc[i]
    return "" if v is None else str(v)
