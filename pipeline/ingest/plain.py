"""One survey export -> the common raw-responses shape (:class:`Export`), whatever its layout.

:func:`read_export` reads the file's cells (:mod:`.tables`, or :mod:`.spss` for SPSS/Stata),
detects the platform layout from the header rows (:mod:`.layouts`) unless ``survey.layout``
names it, types the data rows, drops identifying columns (:mod:`.personal`) and describes every
column (source column, question text, platform id, value labels, missing codes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.errors import StudyError
from pipeline.ingest.layouts import LAYOUT_NAMES, LAYOUTS, detect, header_for
from pipeline.ingest.personal import find_personal, identifying_names
from pipeline.ingest.tables import check_names, read_grid, typed_body_coded

STATS_SUFFIXES = (".sav", ".zsav", ".por", ".dta")
META_FIELDS = ("column", "source_column", "question", "import_id", "value_labels",
               "missing_codes", "system", "file", "layout", "repeated")


@dataclass(frozen=True)
class Export:
    data: pd.DataFrame  # source_row + typed cells, columns named
    columns: pd.DataFrame  # one row per column: META_FIELDS
    file: ExportFile  # noqa: F821
    notes: tuple[str, ...] = ()
    personal_data_dropped: tuple[str, ...] = ()
    #: why each dropped column was taken for personal data: {column: {by, what}} (no values)
    personal_data_reasons: dict = field(default_factory=dict)


def read_export(path: Path, *, sheet=None, layout: str = "auto", separator=None,
                known_names=(), keep=()) -> Export:
    """Read one survey export into the common raw-responses shape.

    Parameters
    ----------
    path
        The export (.xlsx/.xlsm, .csv/.tsv/.txt, .sav/.zsav, .dta, .parquet); opened read-only.
    sheet
        xlsx: the sheet (name or 0-based number); default the first.
    layout
        ``auto`` (detect), ``plain``, ``qualtrics``, ``surveymonkey``, ``kobo``, ``spss``,
        ``stata``.
    separator
        KoBo/ODK group separator (``/`` or ``-``); detected when None.
    known_names
        Instrument item ids: recognise ODK's ``-`` separator; never treated as personal data.
    keep
        Further column names never dropped as personal data (unit, group, weight, mapped columns).

    Raises
    ------
    StudyError
        Unreadable, empty or header-only file, duplicate or unnamed columns, a layout that does
        not fit the file.
    """
    from pipeline.ingest.survey import ExportFile

    path = Path(path)
    suffix = path.suffix.lower()
    notes: list[str] = []
    encoding = sheet_name = delimiter = None
    if suffix in STATS_SUFFIXES:
        from pipeline.ingest.spss import read_stats_file

        if layout not in ("auto", "spss", "stata"):
            raise StudyError(f"survey.layout is '{layout}' but {path.name} is an SPSS/Stata file",
                             file=path, key="survey.layout",
                             fix="set survey: layout: auto (SPSS/Stata files need no layout)")
        frame, info, detected, encoding = read_stats_file(path)
        rows = np.arange(1, len(frame) + 1, dtype=np.int64)
        names = list(frame.columns)
        meta = pd.DataFrame({
            "column": names, "source_column": names,
            "question": [i["question"] for i in info], "import_id": [None] * len(names),
            "value_labels": [i["value_labels"] for i in info],
            "missing_codes": [i["missing_codes"] for i in info],
            "system": [False] * len(names), "repeated": [False] * len(names)})
        header_rows = 0
        reason = (f"{LAYOUT_NAMES[detected]} {path.suffix.lower()} file (read with its variable "
                  "and value labels)")
    elif suffix == ".parquet":
        frame = pd.read_parquet(path)
        rows = np.arange(2, len(frame) + 2, dtype=np.int64)
        detected, header_rows = "plain", 1
        reason = "parquet file (column names as stored)"
        names = [str(c) for c in frame.columns]
        frame.columns = names
        meta = _meta(names, names, [None] * len(names), None, set())
    else:
        if layout in ("spss", "stata"):
            raise StudyError(f"survey.layout is '{layout}' but {path.name} is not a .sav/.dta file",
                             file=path, key="survey.layout",
                             fix="set survey: layout: auto, or give the .sav/.dta export")
        grid = read_grid(path, sheet=sheet, what="survey export")
        encoding, sheet_name, delimiter = grid.encoding, grid.sheet, grid.delimiter
        head = grid.head_rows(3)
        width = grid.shape[1]
        if layout == "auto":
            detected, reason = detect(head, known_names)
        else:
            detected, reason = layout, "set in study.yaml (survey.layout)"
        if detected not in LAYOUTS:
            raise StudyError(f"unknown survey layout '{layout}'", key="survey.layout",
                             fix="use auto, " + ", ".join(LAYOUTS) + ", spss or stata")
        header = header_for(detected, head, width, separator=separator, known_names=known_names)
        if header.rows > len(head) or (header.rows > 1 and len(head) < header.rows):
            raise StudyError(f"the export has fewer rows than a {detected} header needs "
                             f"({header.rows})", file=path, sheet=sheet_name,
                             fix="export again with the header rows, or set survey: layout:")
        # identifying columns named as such are dropped below: their cells are not typed
        by_name = identifying_names([str(n) for n in header.names],
                                    keep=set(known_names) | set(keep))
        skip = [j for j, name in enumerate(header.names) if name in by_name]
        # text columns of few distinct values (answers, codes, labels) come as Categoricals over
        # the reader's dictionary codes: later stages read them through those codes
        body, rows, _ = typed_body_coded(grid, header.rows, skip=skip,
                                         categorical=range(len(header.names)))
        del grid
        keep_cols = [j for j in body.columns
                     if header.names[j] != "" or body[j].notna().any()]
        names = [header.names[j] for j in keep_cols]
        # a name written twice is no problem unless socap needs that column (an item, the id,
        # unit or group): the repeats are numbered (Q5.1, Q5.2, ...), and the cleaning refuses
        # the name itself where it must say which column is meant, suggesting how
        names, repeated, renamed = unique_names(names, [int(j) for j in keep_cols])
        check_names(names, path, sheet_name, "survey export", header_row=1,
                    positions=[int(j) for j in keep_cols])
        if renamed:
            notes.append(f"{path.name}: column names written more than once were told apart "
                         "as " + "; ".join(renamed[:6])
                         + (f"; ... {len(renamed) - 6} more" if len(renamed) > 6 else "") + ".")
        frame = body[keep_cols]
        frame.columns = names
        meta = _meta(names, [header.sources[j] for j in keep_cols],
                     [header.questions[j] for j in keep_cols],
                     [header.import_ids[j] for j in keep_cols] if header.import_ids else None,
                     header.system)
        meta["repeated"] = repeated
        if header.missing_codes:  # platform missing codes (SoSci -9, -1) on answer columns
            codes = [(float(c), float(c)) for c in header.missing_codes]
            labels = {float(c): r for c, r in header.missing_codes.items()}
            answer = ~meta["system"].to_numpy(bool)
            meta["missing_codes"] = [list(codes) if a else None for a in answer]
            meta["value_labels"] = [dict(labels) if a else None for a in answer]
        header_rows = header.rows
        notes.extend(f"{path.name}: {n}" for n in header.notes)
    if len(frame) == 0:
        raise StudyError("the survey export has a header but no responses", file=path,
                         sheet=sheet_name, fix="check the export holds data (and the right sheet)")
    # by name, or by content in the columns that are not platform metadata (time stamps, UUIDs)
    system = set(meta.loc[meta["system"].astype(bool), "column"])
    found = find_personal(list(frame.columns), frame=frame, keep=set(known_names) | set(keep),
                          no_content=system)
    reasons = {f.column: f.to_dict() for f in found}
    pii = [f.column for f in found]
    if pii:
        frame = frame.drop(columns=pii)
        meta = meta.loc[~meta["column"].isin(pii)].reset_index(drop=True)
    meta["file"] = path.name
    meta["layout"] = detected
    frame = frame.reset_index(drop=True)
    frame.insert(0, "source_row", rows)
    if encoding and encoding not in ("utf-8", "utf-8 (BOM)", "UTF-8", "utf-16"):
        notes.append(f"{path.name} was read as {encoding} (not UTF-8).")
    info = ExportFile(path=str(path), layout=detected, rows=len(frame),
                      columns=frame.shape[1] - 1, encoding=encoding, sheet=sheet_name,
                      header_rows=header_rows, delimiter=delimiter, layout_reason=reason)
    return Export(data=frame, columns=meta[list(META_FIELDS)], file=info, notes=tuple(notes),
                  personal_data_dropped=tuple(pii), personal_data_reasons=reasons)


def _meta(names, sources, questions, import_ids, system) -> pd.DataFrame:
    n = len(names)
    return pd.DataFrame({
        "column": names, "source_column": sources, "question": questions,
        "import_id": import_ids if import_ids is not None else [None] * n,
        "value_labels": [None] * n, "missing_codes": [None] * n,
        "system": [c in system for c in names], "repeated": [False] * n})


def unique_names(names: list[str], positions: list[int]):
    """Names written more than once, numbered in file order (``Q5.1``, ``Q5.2``; a number
    already taken by another column is skipped): every repeat gets a name of its own, so that
    each can be named in study.yaml, and the bare name names none of them. Returns the names, a
    repeated flag per column and one note per repeated name ("'Q5' (columns H, M) -> Q5.1,
    Q5.2")."""
    from pipeline.ingest.tables import column_letter

    counts: dict[str, int] = {}
    for n in names:
        if n:
            counts[n] = counts.get(n, 0) + 1
    if all(c == 1 for c in counts.values()):
        return list(names), [False] * len(names), []
    taken = set(names)
    seen: dict[str, int] = {}
    out, repeated = [], []
    groups: dict[str, list[tuple[int, str]]] = {}
    for n, pos in zip(names, positions):
        rep = bool(n) and counts[n] > 1
        repeated.append(rep)
        if not rep:
            out.append(n)
            continue
        k = seen.get(n, 1)
        while f"{n}.{k}" in taken:
            k += 1
        new = f"{n}.{k}"
        taken.add(new)
        seen[n] = k + 1
        out.append(new)
        groups.setdefault(n, []).append((pos, new))
    notes = [f"'{n}' (columns {', '.join(column_letter(p) for p, _ in g)}) -> "
             + ", ".join(new for _, new in g) for n, g in groups.items()]
    return out, repeated, notes
