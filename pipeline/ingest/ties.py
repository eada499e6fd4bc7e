"""Reading and cleaning the tie list (who works with whom): csv, tsv or xlsx.

The tie list has one row per tie with columns ``source`` and ``target`` (aliases ``from`` /
``to``; names are case-insensitive), an optional ``weight`` (tie strength, non-negative) and an
optional ``type`` (e.g. ``supply``, ``R&D``). Other columns are ignored (with a note).

Node ids are text
-----------------
Every id is kept as the text the user sees: ``0012`` stays ``0012`` and is a different firm from
``12``. Surrounding spaces are stripped. Numbers stored as numbers in a spreadsheet are written
without a trailing ``.0`` (an Excel cell holding the number 12 becomes ``"12"``; a cell formatted
as text holding ``0012`` stays ``"0012"``). :func:`pipeline.ids.id_text` is the one rule, used for the unit ids
of the survey as well so that both sides compare equal.

Cleaning
--------
* rows that are completely empty are skipped; a row with an empty source or target, or a weight
  that is not a number, negative, or not finite, is an error -- every bad row is reported at once
  (row numbers as in a spreadsheet: the header is row 1);
* an empty weight cell counts as weight 1 (noted);
* self-loops (a firm tied to itself) are dropped (noted);
* duplicate ties -- the same pair, and for an undirected network the same pair in either
  orientation -- are merged into one tie whose weight is the sum of their weights; the number of
  merged rows of each type is kept (``ties_<type>`` columns) so that ``degree_<type>`` counts the
  partners over ties of that type.

The cleaning itself is :func:`tie_list`, a pure function on a DataFrame, so that
:func:`pipeline.network.network_measures` can apply exactly the same rules to a table it is given
directly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.errors import ProblemList, StudyError, did_you_mean
from pipeline.ids import id_text, node_ids

__all__ = ["TieList", "read_ties", "tie_list"]

SOURCE_NAMES = ("source", "from")
TARGET_NAMES = ("target", "to")
WEIGHT_NAMES = ("weight",)
TYPE_NAMES = ("type",)
SUFFIXES = {".csv", ".tsv", ".txt", ".xlsx", ".xlsm"}


@dataclass(frozen=True)
class TieList:
    """A cleaned tie list: one row per distinct tie (pair), with what cleaning did.

    Attributes
    ----------
    edges
        Columns ``source``, ``target`` (text ids, as categoricals sharing one sorted set of
        categories: the ids that have a tie), ``weight`` (sum of the merged rows' weights),
        ``ties`` (rows merged into this tie), ``first_row`` (the file row of its first
        occurrence, for messages) and one ``ties_<type>`` column per tie type (rows of
        that type merged into it). For an undirected list ``source`` is the id that sorts first.
        Sorted by source, then target.
    directed
        Whether ``source -> target`` is a direction.
    types
        The tie types found (sorted), as written in the file.
    weighted
        Whether the file had a weight column.
    rows_read
        Non-empty data rows read.
    self_loops_dropped, duplicates_merged
        Rows removed as self-loops; rows merged into another row of the same pair.
    notes
        What cleaning did, one sentence each.
    file
        The file read, when there was one.
    """

    edges: pd.DataFrame
    directed: bool
    types: tuple[str, ...] = ()
    weighted: bool = False
    rows_read: int = 0
    self_loops_dropped: int = 0
    duplicates_merged: int = 0
    notes: tuple[str, ...] = field(default_factory=tuple)
    file: str | None = None


# --------------------------------------------------------------------------------------------
# Ids as text
# --------------------------------------------------------------------------------------------


# --------------------------------------------------------------------------------------------
# Reading files
# --------------------------------------------------------------------------------------------


def _cell_text(v: Any) -> str:
    return id_text(v) or ""


def _read_table(path: Path) -> tuple[list[str], pd.DataFrame, int, str | None]:
    """Header, body (all text) and the spreadsheet row number of the header; plus a note."""
    suffix = path.suffix.lower()
    note = None
    if suffix in {".xlsx", ".xlsm"}:
        import python_calamine

        from pipeline.ingest.tables import open_workbook

        book = open_workbook(path, "tie list")
        try:
            sheet = book.get_sheet_by_index(0)
            rows = sheet.to_python(skip_empty_area=False)
        except (OSError, ValueError, python_calamine.CalamineError) as exc:  # corrupt, encrypted
            raise StudyError(
                f"cannot read the workbook ({exc})", file=path,
                fix="save the tie list again as .xlsx or .csv from your spreadsheet program",
            ) from None
        table = [[_cell_text(v) for v in r] for r in rows]
        if len(book.sheet_names) > 1:
            note = (f"{path.name}: the tie list was read from the first sheet "
                    f"'{book.sheet_names[0]}'.")
        width = max((len(r) for r in table), default=0)
        frame = pd.DataFrame([r + [""] * (width - len(r)) for r in table], dtype=object)
    else:
        raw = path.read_bytes()
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = raw.decode("cp1252", errors="replace")
            note = f"{path.name} is not UTF-8; it was read as Windows-1252 (Western European)."
        first = next((ln for ln in text.splitlines() if ln.strip()), "")
        if suffix == ".tsv":
            sep = "\t"
        else:
            counts = {c: first.count(c) for c in (",", ";", "\t")}
            sep = max(counts, key=counts.get) if max(counts.values()) > 0 else ","
        import io

        try:
            frame = pd.read_csv(io.StringIO(text), sep=sep, header=None, dtype=str,
                                keep_default_na=False, skip_blank_lines=False, quotechar='"')
        except pd.errors.EmptyDataError:
            frame = pd.DataFrame()
        except pd.errors.ParserError as exc:
            raise StudyError(
                f"cannot read the file as a table ({exc})", file=path,
                fix="check that every row has the same columns; quote ids that contain the "
                    "separator",
            ) from None
        frame = frame.fillna("").apply(lambda c: c.str.strip())
        frame.attrs["sep"] = sep
    if frame.shape[0] == 0:
        raise StudyError("the tie list is empty", file=path,
                         fix="put a header row (source, target, optional weight and type) and "
                             "one row per tie")
    nonblank = (frame != "").any(axis=1).to_numpy()
    if not nonblank.any():
        raise StudyError("the tie list is empty", file=path,
                         fix="put a header row (source, target, optional weight and type) and "
                             "one row per tie")
    # The header is the first row naming a source or target column (a title row above it is
    # allowed); failing that, the first non-empty row.
    h = int(np.argmax(nonblank))
    known = set(SOURCE_NAMES + TARGET_NAMES)
    for i in np.flatnonzero(nonblank)[:20]:
        if any(str(x).strip().lower() in known for x in frame.iloc[i].tolist()):
            h = int(i)
            break
    header = [str(x).strip() for x in frame.iloc[h].tolist()]
    body = frame.iloc[h + 1:].reset_index(drop=True)
    body.columns = range(body.shape[1])
    body.attrs = dict(frame.attrs)
    return header, body, h + 1, note


def _find(header: list[str], names: tuple[str, ...], what: str, path: Path,
          problems: ProblemList) -> int | None:
    low = [h.lower() for h in header]
    hits = [i for i, h in enumerate(low) if h in names]
    if len(hits) > 1:
        problems.add(
            f"more than one {what} column: " + ", ".join(f"'{header[i]}'" for i in hits),
            file=path, row=None,
            fix=f"keep one column named {' or '.join(repr(n) for n in names)}",
        )
        return None
    return hits[0] if hits else None


def read_ties(path: Path, *, directed: bool) -> TieList:
    """Read a tie list file and clean it (see the module notes).

    Parameters
    ----------
    path
        A ``.csv`` (comma, semicolon or tab separated, detected from the header line), ``.tsv``,
        ``.txt`` or ``.xlsx`` file (first sheet; the header is the first non-empty row).
    directed
        Whether a tie ``source -> target`` has a direction (config ``network.directed``).

    Returns
    -------
    TieList

    Raises
    ------
    StudyError
        The file is missing or of another kind, has no source/target column, or has bad rows
        (empty ids, bad weights) -- all bad rows are reported together, each with its
        spreadsheet row number and column.
    """
    path = Path(path)
    if not path.exists():
        raise StudyError("the tie list file does not exist", file=path,
                         key="network.edges",
                         fix="check network.edges in study.yaml (paths are relative to the study "
                             "folder)")
    if path.suffix.lower() not in SUFFIXES:
        raise StudyError(
            f"a tie list must be .csv, .tsv or .xlsx, not '{path.suffix}'", file=path,
            key="network.edges", fix="save the tie list as .csv or .xlsx",
        )
    header, body, header_row, note = _read_table(path)
    problems = ProblemList()
    i_src = _find(header, SOURCE_NAMES, "source", path, problems)
    i_tgt = _find(header, TARGET_NAMES, "target", path, problems)
    i_w = _find(header, WEIGHT_NAMES, "weight", path, problems)
    i_t = _find(header, TYPE_NAMES, "type", path, problems)
    named = [h for h in header if h]
    for idx, names, what in ((i_src, SOURCE_NAMES, "source"), (i_tgt, TARGET_NAMES, "target")):
        if idx is None and not any(p.message.startswith(f"more than one {what}")
                                   for p in problems.items):
            hint = ""
            for h in named:
                if h.lower() not in SOURCE_NAMES + TARGET_NAMES + WEIGHT_NAMES + TYPE_NAMES:
                    guess = did_you_mean(h.lower(), names)
                    if guess.startswith("did you mean"):
                        hint = f" (is '{h}' meant to be '{names[0]}'?)"
                        break
            problems.add(
                f"no '{what}' column{hint}; the header row has: "
                + (", ".join(f"'{h}'" for h in named) or "nothing"),
                file=path, row=header_row,
                fix=f"name the column of the {'first' if what == 'source' else 'second'} firm "
                    f"of each tie '{names[0]}' (or '{names[1]}')",
            )
    problems.raise_if_any(f"The tie list {path} cannot be read:")
    notes = [note] if note else []
    used = {i for i in (i_src, i_tgt, i_w, i_t) if i is not None}
    ignored = [h for i, h in enumerate(header) if i not in used and h]
    if ignored:
        notes.append(f"{path.name}: columns ignored: " + ", ".join(f"'{h}'" for h in ignored) + ".")
    cols = {"source": body[i_src], "target": body[i_tgt]}
    if i_w is not None:
        w = body[i_w]
        if body.attrs.get("sep") == ";":  # decimal comma in semicolon files (European Excel)
            w = w.str.replace(r"^(-?\d+),(\d+)$", r"\1.\2", regex=True)
        cols["weight"] = w
    if i_t is not None:
        cols["type"] = body[i_t]
    frame = pd.DataFrame(cols)
    keep = (frame != "").any(axis=1).to_numpy()
    rows = np.arange(frame.shape[0]) + header_row + 1
    frame = frame[keep].reset_index(drop=True)
    rows = rows[keep]
    names = {"source": header[i_src], "target": header[i_tgt]}
    if i_w is not None:
        names["weight"] = header[i_w]
    if i_t is not None:
        names["type"] = header[i_t]
    result = tie_list(frame, directed=directed, file=path, rows=rows, column_names=names)
    return TieList(**{**result.__dict__, "notes": tuple(notes) + result.notes})


# --------------------------------------------------------------------------------------------
# Cleaning (pure)
# --------------------------------------------------------------------------------------------


def tie_list(
    frame: pd.DataFrame,
    *,
    directed: bool,
    file: str | Path | None = None,
    rows: np.ndarray | None = None,
    column_names: dict[str, str] | None = None,
) -> TieList:
    """Validate and merge a tie table: ``source``, ``target``, optional ``weight`` and ``type``.

    Also accepts the ``edges`` of a :class:`TieList` (``ties`` and ``ties_<type>`` count columns
    instead of ``type``), so that an already merged directed list can be merged again as an
    undirected one.

    Parameters
    ----------
    frame
        The tie table.
    directed
        Whether ties have a direction; if not, ``a-b`` and ``b-a`` are the same tie.
    file, rows, column_names
        For error messages: the file, the spreadsheet row of each table row (default: position
        + 2, i.e. header in row 1) and the user's spelling of each column.

    Returns
    -------
    TieList

    Raises
    ------
    StudyError
        Empty ids, or weights that are not numbers, negative or not finite (all rows at once).
    """
    cols = {str(c).lower(): c for c in frame.columns}
    file_s = str(file) if file is not None else None
    names = {"source": "source", "target": "target", "weight": "weight", "type": "type"}
    names.update(column_names or {})
    for need in ("source", "target"):
        if need not in cols:
            alias = "from" if need == "source" else "to"
            if alias in cols:
                cols[need] = cols[alias]
            else:
                raise StudyError(f"no '{need}' column in the tie table", file=file_s,
                                 fix=f"name the column '{need}'")
    n = frame.shape[0]
    if rows is None:
        rows = np.arange(n) + 2
    src = node_ids(frame[cols["source"]])
    tgt = node_ids(frame[cols["target"]])
    problems = ProblemList()
    for ids, key in ((src, "source"), (tgt, "target")):
        empty = np.flatnonzero(ids.eq("").to_numpy())
        for i in empty:
            problems.add(f"empty {key} id", file=file_s, row=int(rows[i]), column=names[key],
                         fix=f"fill in the {key} firm of this tie, or delete the row")
    notes: list[str] = []
    where = f"{Path(file_s).name}: " if file_s else ""
    weighted = "weight" in cols
    if weighted:
        wraw = frame[cols["weight"]]
        if pd.api.types.is_numeric_dtype(wraw.dtype) and not pd.api.types.is_bool_dtype(wraw.dtype):
            w = wraw.to_numpy(dtype=float)
            blank = np.isnan(w)
            text = None
        else:
            text = wraw.astype(object).where(wraw.notna(), "").astype(str).str.strip()
            blank = (text == "").to_numpy()
            w = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float)
        bad_num = ~blank & np.isnan(w)
        nonfinite = ~blank & np.isinf(w)
        negative = ~blank & np.isfinite(w) & (w < 0)
        for i in np.flatnonzero(bad_num | nonfinite | negative):
            shown = text.iloc[i] if text is not None else (id_text(w[i]) or "")
            if bad_num[i]:
                msg = f"weight '{shown}' is not a number"
            elif nonfinite[i]:
                msg = f"weight '{shown}' is not a finite number"
            else:
                msg = f"weight '{shown}' is negative"
            problems.add(msg, file=file_s, row=int(rows[i]), column=names["weight"],
                         fix="give a tie strength of 0 or more (a plain number with a decimal "
                             "point), or leave it empty for weight 1")
        if blank.any():
            notes.append(f"{where}{int(blank.sum())} tie(s) have no weight and count as weight 1.")
        w = np.where(blank, 1.0, w)
        zero = int((w == 0).sum())
        if zero and not problems:
            notes.append(f"{where}{zero} tie(s) have weight 0: they count as ties for degree but "
                         "add nothing to strength or constraint.")
    else:
        w = np.ones(n)
    problems.raise_if_any(
        f"The tie list {file_s} has problems:" if file_s else "The tie table has problems:")

    # Type counts: either from a 'type' column or from 'ties'/'ties_<type>' columns.
    if "type" in cols:
        t = node_ids(frame[cols["type"]]).to_numpy(dtype=object)
        blank_t = t == ""
        types = tuple(sorted(set(t[~blank_t].tolist())))
        counts = np.ones(n)
        type_counts = {ty: (t == ty).astype(float) for ty in types}
        if blank_t.any() and types:
            notes.append(f"{where}{int(blank_t.sum())} tie(s) have no type; they count for "
                         "degree but for no degree_<type>.")
    else:
        counts = (frame[cols["ties"]].to_numpy(dtype=float) if "ties" in cols else np.ones(n))
        tcols = [c for c in frame.columns if str(c).startswith("ties_")]
        types = tuple(str(c)[5:] for c in tcols)
        type_counts = {str(c)[5:]: frame[c].to_numpy(dtype=float) for c in tcols}

    # Integer codes in sorted id order (hash first, then sort only the distinct ids: much faster
    # than factorize(sort=True) on millions of Arrow strings).
    codes, uniques = pd.factorize(pd.concat([src, tgt], ignore_index=True))
    uniques = np.asarray(uniques, dtype=object)
    order = np.argsort(uniques, kind="stable")
    rank = np.empty(order.size, dtype=np.int64)
    rank[order] = np.arange(order.size)
    uniques = uniques[order]
    codes = rank[np.asarray(codes, dtype=np.int64)]
    a, b = codes[:n], codes[n:]
    loop = a == b
    n_loops = int(counts[loop].sum())
    if n_loops:
        notes.append(f"{where}{n_loops} self-loop(s) (a firm tied to itself) were dropped.")
    keep = ~loop
    a, b, w, counts = a[keep], b[keep], w[keep], counts[keep]
    type_counts = {k: v[keep] for k, v in type_counts.items()}
    if not directed:
        a, b = np.minimum(a, b), np.maximum(a, b)
    m = max(int(uniques.size), 1)
    key = a * m + b
    ukey, inv = np.unique(key, return_inverse=True)
    k = ukey.size
    first_row = np.full(k, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first_row, inv, np.asarray(rows, dtype=np.int64)[keep])
    merged_w = np.bincount(inv, weights=w, minlength=k)
    merged_n = np.bincount(inv, weights=counts, minlength=k)
    dup = int(counts.sum()) - k
    if dup:
        how = "the same pair" if directed else "the same pair in either direction"
        notes.append(f"{where}{dup} duplicate tie(s) ({how}) were merged; their weights were "
                     "summed.")
    # Ids as categoricals sharing the sorted ids that still have a tie as categories (compact,
    # and the network stage works on the codes).
    ea, eb = ukey // m, ukey % m
    used = np.zeros(uniques.size, dtype=bool)
    used[ea] = True
    used[eb] = True
    recode = np.cumsum(used) - 1
    names = pd.Index(uniques[used], dtype=object)
    edges = pd.DataFrame({
        "source": pd.Categorical.from_codes(recode[ea], categories=names),
        "target": pd.Categorical.from_codes(recode[eb], categories=names),
        "weight": merged_w,
        "ties": np.rint(merged_n).astype(np.int64),
        "first_row": first_row,
    })
    for ty in types:
        edges[f"ties_{ty}"] = np.rint(
            np.bincount(inv, weights=type_counts[ty], minlength=k)).astype(np.int64)
    return TieList(
        edges=edges,
        directed=directed,
        types=types,
        weighted=weighted,
        rows_read=int(np.rint(counts.sum())) + n_loops,
        self_loops_dropped=n_loops,
        duplicates_merged=max(dup, 0),
        notes=tuple(notes),
        file=file_s,
    )


_SLUG = re.compile(r"[^0-9a-zA-Z]+")


def type_slug(label: str) -> str:
    """Column-name form of a tie type: ``'R&D'`` -> ``'r_d'`` (for ``degree_<type>``)."""
    s = _SLUG.sub("_", label.strip()).strip("_").lower()
    return s or "blank"
