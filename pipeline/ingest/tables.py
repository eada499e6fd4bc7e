"""Reading one table (csv, tsv or xlsx) as cells, with the rows a user sees.

Shared by the survey, unit-table and tie-list readers. xlsx files are read with python-calamine
(a Rust reader, about 10x faster than pandas' default openpyxl engine, same values); csv/tsv with
the delimiter sniffed and the encoding tried in order utf-8 (with or without BOM), then cp1252,
the encoding used being recorded.
"""

from __future__ import annotations

import csv
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import StudyError, did_you_mean

ENCODINGS = ("utf-8-sig", "cp1252")
MAX_XLSX_UNCOMPRESSED = 4 << 30  # 4 GiB of XML: beyond this an xlsx is refused (zip bombs)
MAX_XLSX_RATIO = 200  # compression ratio above which an xlsx is suspect


@dataclass(frozen=True)
class Table:
    """A table as read: text/number cells, and the file row of each data row."""

    frame: pd.DataFrame
    rows: np.ndarray  # row number a user sees (header = 1)
    header: list[list]  # the header row(s) as read
    encoding: str | None
    sheet: str | None
    delimiter: str | None = None


def read_table(path: Path, *, sheet=None, what: str = "file", header_rows: int = 1,
               raw_header: bool = False) -> Table:
    """Read a csv/tsv/xlsx table.

    Parameters
    ----------
    path
        The file.
    sheet
        xlsx only: sheet name or 0-based index (default: the first sheet).
    what
        What the file is, for messages ("survey export", "unit table").
    header_rows
        Number of header rows; the first one names the columns.
    raw_header
        Return all header rows without checking names (layout readers interpret them).

    Raises
    ------
    StudyError
        Missing, empty, unreadable or corrupt file; missing sheet; duplicate or empty column names.
    """
    path = Path(path)
    if not path.exists():
        raise StudyError(f"the {what} does not exist", file=path,
                         fix="check the path in study.yaml (relative to the study folder)")
    if path.stat().st_size == 0:
        raise StudyError(f"the {what} is empty (0 bytes)", file=path,
                         fix="export the data again; the file was not written completely")
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        rows, sheet_name = _xlsx_rows(path, sheet, what)
        encoding, delimiter = None, None
    elif suffix in (".csv", ".tsv", ".txt"):
        rows, encoding, delimiter = _csv_rows(path, what, tsv=suffix == ".tsv")
        sheet_name = None
    else:
        raise StudyError(f"socap cannot read '{suffix}' files as a {what}", file=path,
                         fix="save it as .xlsx or .csv")
    rows = [r for r in rows]
    while rows and all(_blank(v) for v in rows[-1]):
        rows.pop()
    if not rows:
        raise StudyError(f"the {what} has no rows", file=path, sheet=sheet_name,
                         fix="check that the export holds data (and the right sheet)")
    header = rows[:header_rows]
    body = rows[header_rows:]
    width = max(len(r) for r in rows)
    names = [str(v).strip() if not _blank(v) else "" for v in header[0]]
    names += [""] * (width - len(names))
    # trailing unnamed, empty columns are spreadsheet noise
    while names and names[-1] == "" and all(len(r) < len(names) or _blank(r[len(names) - 1]) for r in body):
        names.pop()
    width = len(names)
    if not raw_header:
        _check_names(names, path, sheet_name, what)
    data = [list(r[:width]) + [None] * (width - len(r)) for r in body]
    keep = [i for i, r in enumerate(data) if not all(_blank(v) for v in r)]
    frame = pd.DataFrame([data[i] for i in keep], columns=names if not raw_header else range(width),
                         dtype=object)
    frame = frame.map(_clean_cell) if len(frame) else frame
    file_rows = np.asarray(keep, dtype=np.int64) + header_rows + 1
    return Table(frame=frame, rows=file_rows, header=header, encoding=encoding, sheet=sheet_name,
                 delimiter=delimiter)


def _blank(v) -> bool:
    return v is None or (isinstance(v, str) and v.strip() == "") or (isinstance(v, float) and np.isnan(v))


def _clean_cell(v):
    if isinstance(v, str):
        v = v.strip()
        return v if v != "" else None
    if isinstance(v, float) and np.isnan(v):
        return None
    return v


def _check_names(names: list[str], path: Path, sheet, what: str) -> None:
    from ..errors import ProblemList  # noqa: PLC0415

    problems = ProblemList()
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        col = _column_letter(i)
        if name == "":
            problems.add(f"column {col} has data but no name in the header row", file=path,
                         sheet=sheet, row=1, column=col, fix="give the column a name or delete it")
            continue
        if name in seen:
            problems.add(f"column name '{name}' appears twice (columns {_column_letter(seen[name])} "
                         f"and {col})", file=path, sheet=sheet, row=1, column=name,
                         fix="rename one of them (or map it under survey: columns:)")
        else:
            seen[name] = i
    problems.raise_if_any(f"The {what} {path} has problems in its header:")


def _column_letter(i: int) -> str:
    s = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        s = chr(65 + r) + s
    return s


def _xlsx_rows(path: Path, sheet, what: str):
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            total = sum(i.file_size for i in infos)
            packed = sum(i.compress_size for i in infos) or 1
            if total > MAX_XLSX_UNCOMPRESSED or (total > (256 << 20) and total / packed > MAX_XLSX_RATIO):
                raise StudyError(
                    f"the {what} expands to {total / 2**30:.1f} GiB of XML (compression ratio "
                    f"{total / packed:.0f}:1); socap refuses to unpack it",
                    file=path,
                    fix="check the file is a genuine export; for very large surveys export csv",
                )
    except zipfile.BadZipFile:
        raise StudyError(
            f"the {what} is not a valid .xlsx file (it is not a zip archive: truncated, corrupt, "
            "or another format renamed to .xlsx)",
            file=path,
            fix="open it in Excel/LibreOffice and save it again as .xlsx, or export csv",
        ) from None
    import python_calamine  # noqa: PLC0415

    try:
        wb = python_calamine.CalamineWorkbook.from_path(str(path))
    except Exception as exc:  # calamine raises its own error types
        raise StudyError(f"the {what} cannot be read as an .xlsx workbook ({exc})", file=path,
                         fix="open it in Excel/LibreOffice and save it again as .xlsx") from None
    names = list(wb.sheet_names)
    if sheet is None:
        sheet_name = names[0]
    elif isinstance(sheet, int):
        if not 0 <= sheet < len(names):
            raise StudyError(f"the workbook has no sheet number {sheet} (it has {len(names)})",
                             file=path, fix=f"sheets: {', '.join(names)}")
        sheet_name = names[sheet]
    else:
        if sheet not in names:
            raise StudyError(f"the workbook has no sheet '{sheet}'", file=path, sheet=sheet,
                             fix=f"{did_you_mean(sheet, names)} Sheets: {', '.join(names)}.")
        sheet_name = sheet
    try:
        rows = wb.get_sheet_by_name(sheet_name).to_python(skip_empty_area=False)
    except Exception as exc:
        raise StudyError(f"sheet '{sheet_name}' of the {what} cannot be read ({exc})", file=path,
                         sheet=sheet_name, fix="save the workbook again as .xlsx") from None
    return rows, sheet_name


def _csv_rows(path: Path, what: str, tsv: bool):
    raw = path.read_bytes()
    if b"\x00" in raw[:4096]:
        if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
            encodings = ("utf-16",)
        else:
            raise StudyError(f"the {what} is a binary file, not text", file=path,
                             fix="export it as .csv (comma-separated text) or .xlsx")
    else:
        encodings = ENCODINGS
    text, used = None, None
    for enc in encodings:
        try:
            text = raw.decode(enc)
            used = "utf-8" if enc == "utf-8-sig" else enc
            if enc == "utf-8-sig" and raw.startswith(b"\xef\xbb\xbf"):
                used = "utf-8 (BOM)"
            break
        except UnicodeDecodeError:
            continue
    if text is None:
        raise StudyError(f"the {what} is neither UTF-8 nor Windows-1252 text", file=path,
                         fix="save it again as CSV UTF-8")
    sample = text[:65536]
    if tsv:
        delimiter = "\t"
    else:
        try:
            delimiter = csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
        except csv.Error:
            delimiter = ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        rows = [[_number(v) for v in r] for r in reader]
    except csv.Error as exc:
        raise StudyError(f"the {what} is not valid delimited text ({exc})", file=path,
                         row=reader.line_num, fix="check quotes in that row") from None
    return rows, used, delimiter


def _number(v: str):
    """csv cells: numbers become numbers, the rest stays text (None for empty)."""
    s = v.strip()
    if s == "":
        return None
    c = s[0]
    if c.isdigit() or (c in "+-." and len(s) > 1):
        try:
            if s.lstrip("+-").isdigit():
                if len(s.lstrip("+-")) > 1 and s.lstrip("+-")[0] == "0":
                    return s  # leading zeros: an id such as 0012, keep as text
                return int(s)
            return float(s)
        except ValueError:
            return s
    return s
