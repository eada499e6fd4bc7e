"""Reading one table (csv, tsv or xlsx) as cells, with the rows a user sees.

Shared by the survey, unit-table and tie-list readers. Two steps:

1. :func:`read_grid` reads every row of the file (header rows included) as raw cells:
   xlsx with python-calamine (a Rust reader, about 10x faster than pandas' default openpyxl
   engine, same values); csv/tsv with pandas' C tokenizer as text (``dtype=str``), the delimiter
   sniffed from the first records and the encoding tried in order UTF-8 (with or without BOM),
   UTF-16 (a BOM says so: Qualtrics' TSV downloads), then Windows-1252, the encoding used being
   recorded.
2. :func:`typed_body` types the data rows column by column, vectorised: a column whose every
   non-empty cell is a number becomes numeric (int64 when whole and complete, else float64);
   other columns stay text (stripped, empty -> None) with their numbers as they were. Numbers
   written with leading zeros (``0012``) keep the whole column as text: they are ids.

Layout readers (Qualtrics, SurveyMonkey, KoBo) call the two steps themselves because they need
the header rows before they know how many there are; :func:`read_table` is the one-header-row
composition used for plain exports and the unit table.

Row numbers are those a user sees in a spreadsheet: the first row of the file is row 1.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import ProblemList, StudyError, did_you_mean

ENCODINGS = ("utf-8-sig", "cp1252")
DELIMITERS = (",", ";", "\t", "|")
MAX_XLSX_UNCOMPRESSED = 4 << 30  # 4 GiB of XML: beyond this an xlsx is refused (zip bombs)
MAX_XLSX_RATIO = 200  # compression ratio above which an xlsx is suspect
_LEADING_ZERO = r"^[+-]?0\d"
_NOT_NUMBERS = {"nan", "inf", "-inf", "+inf", "infinity", "-infinity", "+infinity"}


@dataclass(frozen=True)
class Grid:
    """Every row of a table file as raw cells (integer column labels, header rows included).

    csv/tsv cells are strings (empty string for an empty cell); xlsx cells are the values the
    workbook stores (str, float, int, bool, datetime; empty string for an empty cell).
    """

    cells: pd.DataFrame
    path: Path
    encoding: str | None
    sheet: str | None
    delimiter: str | None = None

    def head_rows(self, k: int) -> list[list]:
        """The first ``k`` rows as lists, strings stripped and blanks as None."""
        out = []
        for r in self.cells.head(k).itertuples(index=False, name=None):
            out.append([_clean_cell(v) for v in r])
        return out


@dataclass(frozen=True)
class Table:
    """A table as read: typed cells, and the file row of each data row."""

    frame: pd.DataFrame
    rows: np.ndarray  # row number a user sees (header = 1)
    header: list[list]  # the header row(s) as read
    encoding: str | None
    sheet: str | None
    delimiter: str | None = None


def read_table(path: Path, *, sheet=None, what: str = "file", header_rows: int = 1,
               raw_header: bool = False) -> Table:
    """Read a csv/tsv/xlsx table whose first row names the columns.

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
        Return all header rows without checking names; columns are then labelled 0, 1, ...

    Raises
    ------
    StudyError
        Missing, empty, unreadable or corrupt file; missing sheet; duplicate or empty column names.
    """
    grid = read_grid(path, sheet=sheet, what=what)
    header = grid.head_rows(header_rows)
    frame, rows = typed_body(grid, header_rows)
    if raw_header:
        return Table(frame=frame, rows=rows, header=header, encoding=grid.encoding,
                     sheet=grid.sheet, delimiter=grid.delimiter)
    names = [_name(v) for v in (header[0] if header else [])]
    frame = name_columns(frame, names, path=grid.path, sheet=grid.sheet, what=what)
    return Table(frame=frame, rows=rows, header=header, encoding=grid.encoding, sheet=grid.sheet,
                 delimiter=grid.delimiter)


# --------------------------------------------------------------------------------------------
# step 1: raw cells


def read_grid(path: Path, *, sheet=None, what: str = "file") -> Grid:
    """Read every row of a csv/tsv/xlsx file as raw cells (see :class:`Grid`).

    The file is only opened for reading.

    Raises
    ------
    StudyError
        Missing, empty, unreadable, corrupt or binary file; missing sheet; no rows.
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
        cells, sheet_name = _xlsx_cells(path, sheet, what)
        encoding, delimiter = None, None
    elif suffix in (".csv", ".tsv", ".txt"):
        cells, encoding, delimiter = _csv_cells(path, what, tsv=suffix == ".tsv")
        sheet_name = None
    else:
        raise StudyError(f"socap cannot read '{suffix}' files as a {what}", file=path,
                         fix="save it as .xlsx or .csv")
    grid = Grid(cells=cells, path=path, encoding=encoding, sheet=sheet_name, delimiter=delimiter)
    if cells.shape[0] == 0 or cells.shape[1] == 0 or (
            len(cells) <= 3 and all(v is None for r in grid.head_rows(3) for v in r)):
        raise StudyError(f"the {what} has no rows", file=path, sheet=sheet_name,
                         fix="check that the export holds data (and the right sheet)")
    return grid


def _xlsx_cells(path: Path, sheet, what: str) -> tuple[pd.DataFrame, str]:
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
    import python_calamine

    try:
        wb = python_calamine.CalamineWorkbook.from_path(str(path))
    except Exception as exc:  # calamine raises its own error types
        raise StudyError(f"the {what} cannot be read as an .xlsx workbook ({exc})", file=path,
                         fix="open it in Excel/LibreOffice and save it again as .xlsx") from None
    names = list(wb.sheet_names)
    sheet_name = pick_sheet(names, sheet, path)
    try:
        rows = wb.get_sheet_by_name(sheet_name).to_python(skip_empty_area=False)
    except Exception as exc:
        raise StudyError(f"sheet '{sheet_name}' of the {what} cannot be read ({exc})", file=path,
                         sheet=sheet_name, fix="save the workbook again as .xlsx") from None
    cells = pd.DataFrame(rows, dtype=object) if rows else pd.DataFrame(dtype=object)
    return cells, sheet_name


def pick_sheet(names: list[str], sheet, path: Path) -> str:
    """The sheet to read: ``sheet`` by name or 0-based number, default the first."""
    if sheet is None:
        return names[0]
    if isinstance(sheet, int):
        if not 0 <= sheet < len(names):
            raise StudyError(f"the workbook has no sheet number {sheet} (it has {len(names)})",
                             file=path, fix=f"sheets: {', '.join(names)}")
        return names[sheet]
    if sheet not in names:
        raise StudyError(f"the workbook has no sheet '{sheet}'", file=path, sheet=sheet,
                         fix=f"{did_you_mean(sheet, names)} Sheets: {', '.join(names)}.")
    return sheet


def decode_text(raw: bytes, path: Path, what: str) -> tuple[str, str]:
    """Text of a delimited file and the encoding used (UTF-8 [BOM], UTF-16 by BOM, cp1252)."""
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
        try:
            return raw.decode("utf-16"), "utf-16"
        except UnicodeDecodeError:
            raise StudyError(f"the {what} starts like UTF-16 text but cannot be decoded", file=path,
                             fix="export it again, or save it as CSV UTF-8") from None
    if b"\x00" in raw[:4096]:
        raise StudyError(f"the {what} is a binary file, not text", file=path,
                         fix="export it as .csv (comma-separated text) or .xlsx")
    for enc in ENCODINGS:
        try:
            text = raw.decode(enc)
        except UnicodeDecodeError as exc:
            _refuse_mixed_encodings(raw, exc, path, what)
            continue
        if enc == "utf-8-sig":
            return text, "utf-8 (BOM)" if raw.startswith(b"\xef\xbb\xbf") else "utf-8"
        return text, enc
    raise StudyError(f"the {what} is neither UTF-8 nor Windows-1252 text", file=path,
                     fix="save it again as CSV UTF-8")


_UTF8_MULTIBYTE = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")


def _refuse_mixed_encodings(raw: bytes, exc: UnicodeDecodeError, path: Path, what: str) -> None:
    """A file that is not UTF-8 but holds UTF-8 characters mixes two encodings (rows pasted from
    different sources): decoding it as Windows-1252 would silently garble the UTF-8 rows."""
    bad_line = raw.count(b"\n", 0, exc.start) + 1
    for m in _UTF8_MULTIBYTE.finditer(raw):
        try:
            m.group().decode("utf-8")
        except UnicodeDecodeError:
            continue
        good_line = raw.count(b"\n", 0, m.start()) + 1
        raise StudyError(
            f"the {what} mixes text encodings: row {good_line} holds UTF-8 characters but row "
            f"{bad_line} holds bytes that are not UTF-8 (probably Windows-1252); reading it "
            "either way would garble some answers",
            file=path, row=bad_line,
            fix="open the file in a spreadsheet or text editor, fix the garbled characters and "
            "save it as CSV UTF-8")


def sniff_delimiter(text: str) -> str:
    """The delimiter that splits the first records into the same number (> 1) of fields.

    csv.Sniffer is fooled by question texts with commas and line breaks in quoted header cells
    (Qualtrics, SurveyMonkey), so each candidate is tried on the first complete records instead;
    the one giving consistent, widest records wins (comma on ties).
    """
    sample = text[:200_000]
    truncated = len(text) > len(sample)
    best, best_score = ",", (-1, -1)
    for d in DELIMITERS:
        try:
            records = list(csv.reader(io.StringIO(sample), delimiter=d))
        except csv.Error:
            continue
        if truncated and len(records) > 1:
            records = records[:-1]
        records = [r for r in records if r][:30]
        if not records:
            continue
        widths = [len(r) for r in records]
        consistent = sum(w == widths[0] for w in widths) / len(widths)
        score = (int(widths[0] > 1) + consistent, widths[0])
        if score > best_score:
            best, best_score = d, score
    return best


def _csv_cells(path: Path, what: str, tsv: bool) -> tuple[pd.DataFrame, str, str]:
    with open(path, "rb") as fh:  # read-only
        raw = fh.read()
    text, used = decode_text(raw, path, what)
    text = text.removeprefix("\ufeff")
    delimiter = "\t" if tsv else sniff_delimiter(text)
    cells = _arrow_csv(raw if used in ("utf-8", "utf-8 (BOM)") else None, text, delimiter)
    if cells is not None:
        return cells, used, delimiter
    try:
        cells = pd.read_csv(io.StringIO(text), sep=delimiter, header=None, dtype=object,
                            keep_default_na=False, na_filter=False, skip_blank_lines=False,
                            engine="c", quotechar='"', doublequote=True)
    except pd.errors.ParserError:
        # ragged rows (a row longer than the first): the csv module pads them
        reader = csv.reader(io.StringIO(text), delimiter=delimiter)
        try:
            records = list(reader)
        except csv.Error as exc:
            raise StudyError(f"the {what} is not valid delimited text ({exc})", file=path,
                             row=reader.line_num, fix="check quotes in that row") from None
        width = max((len(r) for r in records), default=0)
        cells = pd.DataFrame([r + [""] * (width - len(r)) for r in records], dtype=object)
    except pd.errors.EmptyDataError:
        cells = pd.DataFrame(dtype=object)
    cells.columns = range(cells.shape[1])
    return cells, used, delimiter


def _arrow_csv(raw: bytes | None, text: str, delimiter: str) -> pd.DataFrame | None:
    """Every record as arrow strings (pyarrow's C++ reader, no Python object per cell), or None
    when the file has blank lines or ragged rows inside it (the pandas path handles those and
    keeps their row numbers)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    try:
        first = next(csv.reader(io.StringIO(text[:1_000_000]), delimiter=delimiter))
    except (StopIteration, csv.Error):
        return None
    width = len(first)
    if raw is None:
        raw = text.encode("utf-8")
    elif raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    raw = raw.rstrip(b"\r\n")  # trailing blank lines are not rows
    if not raw:
        return None
    try:
        table = pacsv.read_csv(
            pa.BufferReader(raw),
            read_options=pacsv.ReadOptions(autogenerate_column_names=True, block_size=1 << 24),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True,
                                             ignore_empty_lines=False),
            convert_options=pacsv.ConvertOptions(
                column_types={f"f{i}": pa.string() for i in range(width)},
                strings_can_be_null=False, quoted_strings_can_be_null=False))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError):
        return None
    if table.num_columns != width:
        return None
    return pd.DataFrame({i: pd.Series(pd.arrays.ArrowStringArray(table.column(i).combine_chunks())
                                      if hasattr(pd.arrays, "ArrowStringArray") else
                                      table.column(i).to_pandas())
                         for i in range(width)})


# --------------------------------------------------------------------------------------------
# step 2: typed data rows


def typed_body(grid: Grid, header_rows: int) -> tuple[pd.DataFrame, np.ndarray]:
    """The data rows (after ``header_rows``), typed column by column; blank rows dropped.

    Returns
    -------
    frame, rows
        Columns labelled 0, 1, ... as in the grid; ``rows`` the file row of each kept row.
    """
    body = grid.cells.iloc[header_rows:]
    typed = pd.DataFrame({j: typed_column(body[j]) for j in body.columns},
                         index=pd.RangeIndex(len(body)))
    rows = np.arange(header_rows + 1, header_rows + 1 + len(body), dtype=np.int64)
    if typed.shape[1]:
        blank = typed.isna().all(axis=1).to_numpy()
    else:
        blank = np.ones(len(typed), bool)
    if blank.any():
        typed = typed.loc[~blank].reset_index(drop=True)
        rows = rows[~blank]
    return typed, rows


def typed_column(s: pd.Series) -> pd.Series:
    """One column's cells: numbers where every filled cell is one, else stripped text/values."""
    if isinstance(s.dtype, pd.StringDtype) or str(s.dtype) in ("str", "string"):
        import pyarrow as pa

        return _arrow_string_column(pa.array(s.array, type=pa.string(), from_pandas=True),
                                    pd.RangeIndex(len(s)))
    values = s.to_numpy(dtype=object)
    kind = pd.api.types.infer_dtype(values, skipna=True)
    index = pd.RangeIndex(len(values))
    if kind not in ("string", "empty", "integer", "floating", "mixed-integer-float", "decimal"):
        # xlsx: empty cells arrive as '' among numbers, dates, booleans
        values = values.copy()
        values[values == ""] = None
        kind = pd.api.types.infer_dtype(values, skipna=True)
    if kind in ("integer", "floating", "mixed-integer-float", "decimal"):
        return _numeric(pd.to_numeric(pd.Series(values, index=index), errors="coerce"))
    if kind == "empty":
        return pd.Series([None] * len(values), index=index, dtype=object)
    if kind == "string":
        import pyarrow as pa

        return _arrow_string_column(pa.array(values, type=pa.string(), from_pandas=True), index)
    # mixed cells (numbers and text, booleans, dates; xlsx): kept as the workbook stores them,
    # empty cells None. Text is compared stripped downstream (labels, ids), so no Python loop here.
    if values is s.to_numpy(dtype=object):
        values = values.copy()
    values[pd.isna(values)] = None
    return pd.Series(values, index=index, dtype=object)


_NUMBER_RE = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$|^[+-]?(nan|NaN|inf|Inf|infinity|Infinity)$"


def _maybe_numbers(t) -> bool:
    """Whether the first filled cells look like numbers (a failed arrow cast costs ~40 ms)."""
    import pyarrow.compute as pc

    head = pc.drop_null(t.slice(0, 5000) if len(t) > 5000 else t)
    if len(head) == 0:
        head = pc.drop_null(t)
    return bool(pc.all(pc.match_substring_regex(head, _NUMBER_RE)).as_py())


def _arrow_string_column(arr, index) -> pd.Series:
    """A column of strings, in arrow compute (C++): numbers when every filled cell parses as one
    and none has leading zeros, else text stripped of surrounding spaces, blanks as None."""
    import pyarrow as pa
    import pyarrow.compute as pc

    t = pc.utf8_trim_whitespace(arr)
    t = pc.if_else(pc.equal(t, ""), pa.scalar(None, pa.string()), t)
    if t.null_count < len(t) and _maybe_numbers(t):
        try:
            x = pc.cast(t, pa.float64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            x = None
        if x is not None:
            words = pc.any(pc.and_kleene(pc.is_valid(x), pc.invert(pc.is_finite(x)))).as_py()
            zeros = pc.any(pc.match_substring_regex(t, r"^[+-]?0\d")).as_py()
            if not words and not zeros:
                return _numeric(pd.Series(x.to_numpy(zero_copy_only=False), index=index))
    return pd.Series(t.to_numpy(zero_copy_only=False), index=index, dtype=object)


def _text(t: pd.Series) -> pd.Series:
    out = t.astype(object)
    return out.where(t.notna(), None)


def _numeric(num: pd.Series) -> pd.Series:
    x = num.to_numpy(dtype=float)
    if (not np.isnan(x).any() and np.all(np.abs(x) < 2**53)
            and np.array_equal(x, np.round(x))):
        return pd.Series(x.astype(np.int64), index=num.index)
    return pd.Series(x, index=num.index)


def _clean_cell(v):
    if isinstance(v, str):
        v = v.strip()
        return v if v != "" else None
    if isinstance(v, float) and np.isnan(v):
        return None
    return v


def _blank(v) -> bool:
    return v is None or (isinstance(v, str) and v.strip() == "") or (isinstance(v, float) and np.isnan(v))


def _name(v) -> str:
    if _blank(v):
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v).strip()


def name_columns(frame: pd.DataFrame, names: list[str], *, path: Path, sheet, what: str,
                 header_row: int = 1) -> pd.DataFrame:
    """Label the typed columns with ``names``; unnamed empty columns are dropped (spreadsheet
    noise), unnamed columns holding data and repeated names are errors (all reported at once)."""
    names = list(names) + [""] * (frame.shape[1] - len(names))
    keep = [j for j, n in zip(frame.columns, names) if n != "" or frame[j].notna().any()]
    kept_names = [names[j] for j in keep]
    check_names(kept_names, path, sheet, what, header_row=header_row,
                positions=[int(j) for j in keep])
    out = frame[keep]
    out.columns = kept_names
    return out


def check_names(names: list[str], path: Path, sheet, what: str, *, header_row: int = 1,
                positions: list[int] | None = None) -> None:
    """Every column named, no name twice; all problems reported at once."""
    positions = positions if positions is not None else list(range(len(names)))
    problems = ProblemList()
    seen: dict[str, int] = {}
    for pos, name in zip(positions, names):
        col = column_letter(pos)
        if name == "":
            problems.add(f"column {col} has data but no name in the header row", file=path,
                         sheet=sheet, row=header_row, column=col,
                         fix="give the column a name or delete it")
            continue
        if name in seen:
            problems.add(f"column name '{name}' appears twice (columns {column_letter(seen[name])} "
                         f"and {col})", file=path, sheet=sheet, row=header_row, column=name,
                         fix="rename one of them (or map it under survey: columns:)")
        else:
            seen[name] = pos
    problems.raise_if_any(f"The {what} {path} has problems in its header:")


def column_letter(i: int) -> str:
    """Spreadsheet column letter of a 0-based position (0 -> A, 26 -> AA)."""
    s = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        s = chr(65 + r) + s
    return s


_column_letter = column_letter  # older name
