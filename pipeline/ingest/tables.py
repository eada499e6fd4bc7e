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

from pipeline.errors import ProblemList, StudyError, did_you_mean
from pipeline.ingest.arrowcsv import DELIMITERS, arrow_csv as _arrow_csv, sniff_delimiter  # noqa: F401
from pipeline.ingest.arrowcsv import utf8_arrow_cells as _utf8_arrow_cells

ENCODINGS = ("utf-8-sig", "cp1252")
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

    _cells: pd.DataFrame | None
    path: Path
    encoding: str | None
    sheet: str | None
    delimiter: str | None = None
    arrow: object | None = None  # pyarrow.Table of the same cells, when read by pyarrow

    @property
    def cells(self) -> pd.DataFrame:
        """The cells as a DataFrame (built on first use from the arrow table, when read by
        pyarrow: the readers themselves work on the arrow table)."""
        if self._cells is None:
            object.__setattr__(self, "_cells", _arrow_frame(self.arrow))
        return self._cells

    @property
    def shape(self) -> tuple[int, int]:
        if self._cells is None:
            return self.arrow.num_rows, self.arrow.num_columns
        return self._cells.shape

    def head_rows(self, k: int) -> list[list]:
        """The first ``k`` rows as lists, strings stripped and blanks as None."""
        if self._cells is None:
            head = self.arrow.slice(0, k)
            cols = [head.column(j).to_pylist() for j in range(head.num_columns)]
            return [[_clean_cell(c[i]) for c in cols] for i in range(head.num_rows)]
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
    table = None
    if suffix in (".xlsx", ".xlsm"):
        cells, sheet_name = _xlsx_cells(path, sheet, what)
        encoding, delimiter = None, None
    elif suffix in (".csv", ".tsv", ".txt"):
        cells, encoding, delimiter, table = _csv_cells(path, what, tsv=suffix == ".tsv")
        sheet_name = None
    else:
        raise StudyError(f"socap cannot read '{suffix}' files as a {what}", file=path,
                         fix="save it as .xlsx or .csv")
    grid = Grid(_cells=cells, path=path, encoding=encoding, sheet=sheet_name,
                delimiter=delimiter, arrow=table)
    rows, width = grid.shape
    if rows == 0 or width == 0 or (
            rows <= 3 and all(v is None for r in grid.head_rows(3) for v in r)):
        raise StudyError(f"the {what} has no rows", file=path, sheet=sheet_name,
                         fix="check that the export holds data (and the right sheet)")
    return grid


#: the first bytes of an OLE2 compound file (Excel 97-2003 .xls; an encrypted .xlsx)
OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def _ole2_has_stream(raw: bytes, name: str) -> bool:
    """Whether an OLE2 compound file holds a stream called ``name``: a directory entry (128
    bytes, at a multiple of 128 from the file's start, as sectors are 512 or 4096 bytes) that
    begins with the UTF-16LE name, gives its length with the terminator and is a stream."""
    want = name.encode("utf-16-le") + b"\0\0"
    size = len(want).to_bytes(2, "little")
    at = raw.find(want)
    while at != -1:
        if at % 128 == 0 and raw[at + 64:at + 66] == size and raw[at + 66:at + 67] == b"\x02":
            return True
        at = raw.find(want, at + 1)
    return False


def refuse_ole2(path: Path, what: str) -> None:
    """An .xlsx that is an OLE2 compound file: password-protected (Excel wraps an encrypted
    workbook in one, with EncryptionInfo and EncryptedPackage streams -- MS-OFFCRYPTO 2.3.4) or
    an Excel 97-2003 workbook renamed; either way a clear message instead of 'not a zip'."""
    with open(path, "rb") as fh:
        head = fh.read(8)
        if head != OLE2_MAGIC:
            return
        raw = head + fh.read()
    if _ole2_has_stream(raw, "EncryptionInfo") or _ole2_has_stream(raw, "EncryptedPackage"):
        raise StudyError(
            f"the {what} is password-protected: save it without a password (socap cannot "
            "read an encrypted workbook)",
            file=path,
            fix="open it in Excel (File > Info > Protect Workbook > Encrypt with Password: clear "
            "the password) or LibreOffice (Save As, untick 'Save with password'), save, run "
            "again; or export csv")
    raise StudyError(
        f"the {what} is an Excel 97-2003 workbook (or another OLE2 document) named "
        f"'{path.suffix}', not an .xlsx workbook",
        file=path, fix="open it in Excel/LibreOffice and save it as .xlsx, or export csv")


def open_workbook(path: Path, what: str):
    """The python-calamine workbook of an .xlsx/.xlsm file, after the checks every reader of a
    workbook makes: not encrypted or an old .xls (:func:`refuse_ole2`), a zip archive that does
    not expand beyond :data:`MAX_XLSX_UNCOMPRESSED`, readable by calamine, at least one sheet.

    Raises
    ------
    StudyError
        Each of those, with the fix.
    """
    refuse_ole2(path, what)
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
    except python_calamine.PasswordError:
        raise StudyError(f"the {what} is password-protected: save it without a password",
                         file=path, fix="save it again without a password, or export csv") \
            from None
    except Exception as exc:  # calamine raises its own error types
        raise StudyError(f"the {what} cannot be read as an .xlsx workbook (corrupt: {exc})",
                         file=path,
                         fix="open it in Excel/LibreOffice and save it again as .xlsx") from None
    if not list(wb.sheet_names):
        with zipfile.ZipFile(path) as zf:
            parts = {n.lower() for n in zf.namelist()}
        if not any(n.endswith("workbook.xml") for n in parts):
            raise StudyError(
                f"the {what} cannot be read as an .xlsx workbook (corrupt: the archive holds no "
                "workbook part, xl/workbook.xml; another kind of zip file renamed?)", file=path,
                fix="open it in Excel/LibreOffice and save it again as .xlsx, or export csv")
        raise StudyError(f"the {what} is a workbook without any sheet", file=path,
                         fix="open it in Excel/LibreOffice, check it holds the data, save it "
                         "again as .xlsx (or export csv)")
    return wb


def _xlsx_cells(path: Path, sheet, what: str) -> tuple[pd.DataFrame, str]:
    wb = open_workbook(path, what)
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
    # A whole line must decode as UTF-8: Windows-1252 text can hold byte pairs that happen to be
    # valid UTF-8 ('ß' before a closing quote), but then its line holds other bytes that are not.
    checked: set[int] = set()
    for m in _UTF8_MULTIBYTE.finditer(raw):
        start = raw.rfind(b"\n", 0, m.start()) + 1
        if start in checked:
            continue
        checked.add(start)
        end = raw.find(b"\n", m.end())
        try:
            raw[start:len(raw) if end < 0 else end].decode("utf-8")
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


def _csv_cells(path: Path, what: str, tsv: bool):
    """(cells, encoding, delimiter, arrow table or None) of a delimited text file."""
    from pipeline.ingest import readahead

    ahead = readahead.take(path)  # parsed while the CLI imported pandas (large exports)
    if ahead is not None:
        raw, fast = ahead
    else:
        with open(path, "rb") as fh:  # read-only
            raw = fh.read()
        fast = _utf8_arrow_cells(raw, tsv)
    if fast is not None:
        _check_quotes(fast[3], raw, fast[2], path, what)
        return fast
    text, used = decode_text(raw, path, what)
    text = text.removeprefix("\ufeff")
    delimiter = "\t" if tsv else sniff_delimiter(text)
    table = _arrow_csv(raw if used in ("utf-8", "utf-8 (BOM)") else None, text, delimiter)
    if table is not None:
        _check_quotes(table, raw if used in ("utf-8", "utf-8 (BOM)") else None, delimiter, path,
                      what)
        return None, used, delimiter, table
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
    _check_quotes(cells, None, delimiter, path, what)
    return cells, used, delimiter, None


def _check_quotes(cells, raw, delimiter, path, what) -> None:
    """A quote never closed swallows the rows after it into one cell: refused, naming the row
    (:mod:`pipeline.ingest.quotes`)."""
    from pipeline.ingest.quotes import check_swallowed_rows

    if hasattr(cells, "num_columns"):  # arrow table
        columns = [cells.column(j) for j in range(cells.num_columns)]
        header = [c[0].as_py() if len(c) else None for c in columns]
    else:
        columns = [cells[j] for j in cells.columns]
        header = [c.iloc[0] if len(c) else None for c in columns]
    check_swallowed_rows(columns, raw=raw, delimiter=delimiter, path=path, what=what,
                         header_names=header)


def _arrow_frame(table) -> pd.DataFrame:
    """The arrow cells as a DataFrame of arrow-backed strings (no copy, no Python objects)."""
    return pd.DataFrame({i: pd.Series(pd.arrays.ArrowStringArray(table.column(i)))
                         for i in range(table.num_columns)})


# --------------------------------------------------------------------------------------------
# step 2: typed data rows


def typed_body(grid: Grid, header_rows: int, skip=()) -> tuple[pd.DataFrame, np.ndarray]:
    """The data rows (after ``header_rows``), typed column by column; blank rows dropped.

    Parameters
    ----------
    skip
        Positions of columns the caller drops unread (identifying columns, by their name): they
        count for blank rows but are returned empty (None), without typing their cells.

    Returns
    -------
    frame, rows
        Columns labelled 0, 1, ... as in the grid; ``rows`` the file row of each kept row.
    """
    return typed_body_coded(grid, header_rows, skip)[:2]


def typed_body_coded(grid: Grid, header_rows: int, skip=(), categorical=()):
    """:func:`typed_body` plus the text columns' distinct values where the reader has them:
    ``(frame, rows, codes)`` with ``codes[j] = (codes, uniques)`` exactly as
    ``pandas.factorize(frame[j].astype(object))`` would return them (codes -1 for missing cells,
    uniques in order of first appearance) -- so that later stages need not hash 10^6 cells
    again.

    ``categorical``: positions of columns that later stages read through those codes (the
    instrument's items, the unit and group ids): when they are coded, their cells come as a
    pandas Categorical over the same codes instead of an object array (the same values, no
    10^6 pointers laid out under the GIL: ~15 ms a column at 10^6 rows)."""
    if grid.arrow is not None:
        return _typed_body_arrow(grid.arrow, header_rows, set(skip), set(categorical))
    frame, rows = _typed_body_cells(grid, header_rows)
    return frame, rows, {}


def _typed_body_cells(grid: Grid, header_rows: int) -> tuple[pd.DataFrame, np.ndarray]:
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


def _typed_body_arrow(table, header_rows: int, skip: set, categorical: set = frozenset()):
    """:func:`typed_body_coded` on pyarrow's cells: each column typed in arrow compute, blank
    rows found from the columns' null masks, text built as Python strings only once per distinct
    value."""
    n = max(table.num_rows - header_rows, 0)
    index = pd.RangeIndex(n)
    blank = np.ones(n, bool)
    cols, codes = {}, {}

    def one(j):
        return _arrow_string_column(table.column(j).slice(header_rows), index,
                                    text_only=j in skip, with_nulls=True,
                                    categorical=j in categorical)

    if n >= 100_000 and table.num_columns > 1:
        # two columns at a time: arrow's hashing and casting release the GIL, so one column's
        # dictionary encoding runs while another's Python strings are laid out
        from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415

        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="socap-typing") as pool:
            typed_cols = list(pool.map(one, range(table.num_columns)))
    else:
        typed_cols = [one(j) for j in range(table.num_columns)]
    for j, (col, null, coded) in enumerate(typed_cols):
        blank &= null
        cols[j] = (pd.Series(np.full(n, None, dtype=object), index=index, dtype=object)
                   if j in skip else col)
        if coded is not None:
            codes[j] = coded
    typed = pd.DataFrame(cols, index=index, copy=False)  # no consolidation: no copy
    rows = np.arange(header_rows + 1, header_rows + 1 + n, dtype=np.int64)
    if not cols:
        blank = np.ones(n, bool)
    if blank.any():
        typed = typed.loc[~blank].reset_index(drop=True)
        rows = rows[~blank]
        codes = {j: _drop_unused(c[~blank], u) for j, (c, u) in codes.items()}
        for j in codes:  # a Categorical's values are those of its rows, in order of appearance
            if isinstance(typed[j].dtype, pd.CategoricalDtype):
                typed[j] = typed[j].cat.remove_unused_categories()
    return typed, rows, codes


def _drop_unused(codes: np.ndarray, uniques: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Factorization of a subset of rows: uniques no kept row uses are dropped, order kept."""
    used = np.zeros(len(uniques) + 1, bool)
    used[codes] = True
    used = used[:-1]
    if used.all():
        return codes, uniques
    remap = np.full(len(uniques) + 1, -1, dtype=codes.dtype)
    remap[:-1][used] = np.arange(int(used.sum()), dtype=codes.dtype)
    return remap[codes], uniques[used]


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


def _arrow_string_column(arr, index, *, text_only: bool = False, with_nulls: bool = False,
                         categorical: bool = False):
    """A column of strings, in arrow compute (C++): numbers when every filled cell parses as one
    and none has leading zeros, else text stripped of surrounding spaces, blanks as None.

    With ``with_nulls`` returns ``(series, null mask, (codes, uniques) or None)``, the last for
    dictionary-encoded text (see :func:`typed_body_coded`); with ``text_only`` the series is None
    (only the mask is computed); with ``categorical`` dictionary-encoded text comes as a pandas
    Categorical (see :func:`typed_body_coded`)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if with_nulls and not text_only and _few_distinct(arr):
        return _coded_column(arr, index, categorical)
    t = pc.utf8_trim_whitespace(arr)
    t = pc.if_else(pc.equal(t, ""), pa.scalar(None, pa.string()), t)
    if text_only:
        return None, _null_mask(t), None
    if t.null_count < len(t) and _maybe_numbers(t):
        try:
            x = pc.cast(t, pa.float64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            x = None
        if x is not None:
            words = pc.any(pc.and_kleene(pc.is_valid(x), pc.invert(pc.is_finite(x)))).as_py()
            if not words and not _leading_zeros(t):
                num = _numeric(pd.Series(x.to_numpy(zero_copy_only=False), index=index))
                if with_nulls:
                    return num, (np.isnan(num.to_numpy()) if num.dtype.kind == "f"
                                 else np.zeros(len(num), bool)), None
                return num
    values, null, coded = _object_strings(t, arrow_text=with_nulls)
    if isinstance(values, np.ndarray):
        out = pd.Series(values, index=index, dtype=object, copy=False)
    else:  # mostly distinct text: pandas' arrow-backed "str" column, as from a parquet export
        out = pd.Series(values, index=index, copy=False)
    return (out, null, coded) if with_nulls else out


def _few_distinct(arr) -> bool:
    """Whether a column repeats a few values (answers, codes, labels: judged on its first
    20,000 cells), so that it is cheaper to work on its distinct values."""
    import pyarrow.compute as pc

    if len(arr) < 1000:
        return False
    head = arr.slice(0, 20_000)
    return pc.count_distinct(head).as_py() <= len(head) // 4


def _coded_column(arr, index, categorical: bool = False):
    """:func:`_arrow_string_column` of a column of few distinct values, done on those values:
    one hash pass (dictionary encoding) over the cells, then trimming, the test for numbers and
    the Python strings once per distinct value. The result is the same as the cell-wise path's:
    the same decision (the first 5,000 filled cells look like numbers, every filled value casts
    to a finite number, none has leading zeros) on the same set of values."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    enc = pc.dictionary_encode(arr)
    idx = pc.fill_null(enc.indices, -1).to_numpy(zero_copy_only=False)
    values = pc.utf8_trim_whitespace(enc.dictionary)
    values = pc.if_else(pc.equal(values, ""), pa.scalar(None, pa.string()), values)
    if values.null_count < len(values):
        head = pc.utf8_trim_whitespace(arr.slice(0, 5000))
        head = pc.drop_null(pc.if_else(pc.equal(head, ""), pa.scalar(None, pa.string()), head))
        if len(head) == 0:
            head = pc.drop_null(values)
        if bool(pc.all(pc.match_substring_regex(head, _NUMBER_RE)).as_py()):
            try:
                x = pc.cast(values, pa.float64())
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                x = None
            if x is not None and not pc.any(pc.and_kleene(
                    pc.is_valid(x), pc.invert(pc.is_finite(x)))).as_py() \
                    and not _leading_zeros(values):
                num = np.append(x.to_numpy(zero_copy_only=False), np.nan)[idx]
                num = _numeric(pd.Series(num, index=index, copy=False))
                null = (np.isnan(num.to_numpy()) if num.dtype.kind == "f"
                        else np.zeros(len(num), bool))
                return num, null, None
    # text: distinct trimmed values (two raw values may trim to one), in order of appearance
    merged = pc.dictionary_encode(values)
    to_merged = np.append(pc.fill_null(merged.indices, -1).to_numpy(zero_copy_only=False), -1)
    # the smallest integer type that holds the codes (int8 for answers: 1 byte per cell)
    to_merged = to_merged.astype(np.min_scalar_type(-max(len(merged.dictionary), 1)))
    codes = to_merged[idx]
    uniques = np.empty(len(merged.dictionary) + 1, dtype=object)
    uniques[:-1] = merged.dictionary.to_numpy(zero_copy_only=False)
    uniques[-1] = None
    if categorical:  # the same cells over the same codes, no object array
        out = pd.Series(pd.Categorical.from_codes(
            codes, categories=pd.Index(uniques[:-1], dtype=object), validate=False),
            index=index, copy=False)
    else:
        out = pd.Series(uniques[codes], index=index, dtype=object, copy=False)
    return out, codes < 0, (codes, uniques[:-1])


def _null_mask(t) -> np.ndarray:
    import pyarrow.compute as pc

    if t.null_count == 0:
        return np.zeros(len(t), bool)
    return np.asarray(pc.is_null(t).to_numpy(zero_copy_only=False), dtype=bool)


def _leading_zeros(t) -> bool:
    """Whether a cell is a number written with leading zeros (``0012``, ``-07``): an id."""
    import pyarrow.compute as pc

    cand = pc.or_kleene(pc.starts_with(t, "0"),
                        pc.or_kleene(pc.starts_with(t, "+0"), pc.starts_with(t, "-0")))
    if not pc.any(cand).as_py():  # the regex only where a cell starts like one (cheap test)
        return False
    return bool(pc.any(pc.match_substring_regex(pc.filter(t, cand), r"^[+-]?0\d")).as_py())


def _object_strings(t, arrow_text: bool = False):
    """Arrow strings as a NumPy object array (None for nulls) or an arrow-backed "str" array,
    the null mask, and ``(codes, uniques)`` for a dictionary-encoded column (else None).

    Answers, codes and labels repeat a few values over many rows: those columns are dictionary
    encoded and each distinct value becomes one Python string shared by its rows (a pointer per
    cell instead of a string object per cell: ~10x less memory and time at 10^6 rows). Columns of
    mostly distinct values (ids, free text) are converted cell by cell -- or, with
    ``arrow_text`` (a survey export's body), stay in arrow: pandas' "str" array (the dtype
    pandas 3 gives text, and the one a parquet export arrives in) over the same buffers, no
    Python string per cell (0.2 s and ~60 MB less at 10^6 ids)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    n = len(t)
    head = t.slice(0, 20_000)
    if n >= 1000 and pc.count_distinct(head).as_py() <= len(head) // 4:
        if isinstance(t, pa.ChunkedArray):
            t = t.combine_chunks()
        enc = pc.dictionary_encode(t)
        idx = pc.fill_null(enc.indices, -1).to_numpy(zero_copy_only=False)
        uniques = np.empty(len(enc.dictionary) + 1, dtype=object)
        uniques[:-1] = enc.dictionary.to_numpy(zero_copy_only=False)
        uniques[-1] = None
        return uniques[idx], idx < 0, (idx, uniques[:-1])
    if not arrow_text:
        values = np.asarray(t.to_numpy(zero_copy_only=False), dtype=object)
        return values, _null_mask(t), None
    strings = pd.arrays.ArrowStringArray(t, dtype=pd.StringDtype("pyarrow", na_value=np.nan))
    return strings, _null_mask(t), None


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
