"""Export columns -> instrument items, file by file.

:func:`map_items_by_file` finds each item's column in each export file (waves exported from
different platforms name the same item differently): by ``survey.columns``, the item id, or the
item text in the column's question text. :func:`item_data` gathers the answers under the item
ids, each file's rows from that file's column.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.config.instrument import Instrument
from pipeline.errors import ProblemList, did_you_mean
from pipeline.clean.text import loose_key, norm
from pipeline.ids import is_arrow_text

META_COLUMNS = ("source_file", "source_row")


def find_column(columns, wanted: str) -> str | None:
    if wanted in columns:
        return wanted
    low = {norm(c): c for c in columns}
    return low.get(norm(wanted))


def question_index(meta: pd.DataFrame | None, columns) -> dict[str, list[str]]:
    """Text key -> columns whose name or question text (or its part after ' - ') it is."""
    out: dict[str, list[str]] = {}
    if meta is None or len(meta) == 0:
        return out
    cols = set(columns)
    seen = set()
    for col, q in zip(meta["column"], meta["question"]):
        if col not in cols or not isinstance(q, str) or (col, q) in seen:
            continue
        seen.add((col, q))
        keys = {loose_key(q)}
        if " - " in q:
            keys.add(loose_key(q.rsplit(" - ", 1)[1]))
        for k in keys:
            if k and col not in out.setdefault(k, []):
                out[k].append(col)
    return out


def repeated_columns(meta: pd.DataFrame | None, cols) -> dict[str, list[str]]:
    """The name a file writes over several columns (normalised) -> those columns (told apart at
    ingest as ``Q5.1``, ``Q5.2``)."""
    if meta is None or not len(meta) or "repeated" not in meta:
        return {}
    colset = set(cols)
    rep = meta.loc[meta["repeated"].astype(bool) & meta["column"].isin(colset)]
    out: dict[str, list[str]] = {}
    for _, group in rep.groupby(["file", "source_column"] if "file" in rep else ["source_column"],
                                sort=False):
        out.setdefault(norm(group["source_column"].iloc[0]), []).extend(group["column"])
    return out


def import_id_index(meta: pd.DataFrame | None, cols) -> dict[str, str]:
    """Qualtrics ImportId -> column, for ImportIds that name one column of the file."""
    if meta is None or not len(meta) or "import_id" not in meta:
        return {}
    colset = set(cols)
    found: dict[str, list[str]] = {}
    for c, i in zip(meta["column"], meta["import_id"]):
        if c in colset and isinstance(i, str) and i:
            found.setdefault(i, []).append(c)
    return {i: c[0] for i, c in found.items() if len(set(c)) == 1}


def match_items(cols, instrument: Instrument, mapping: dict[str, str],
                 meta: pd.DataFrame | None):
    """One file's matching: (item -> column, mapping keys not found, unmatched items, free cols,
    ambiguous items -> the columns of the repeated name they matched)."""
    by_item: dict[str, str] = {}
    items = set(instrument.item_ids)
    qindex = question_index(meta, cols)
    repeats = repeated_columns(meta, cols)
    ids = import_id_index(meta, cols)
    # the header as the file writes it (before group paths or array brackets were stripped)
    if meta is not None and len(meta) and "source_column" in meta:
        colset = set(cols)
        src: dict[str, list[str]] = {}
        for c, sc in zip(meta["column"], meta["source_column"]):
            if c in colset and isinstance(sc, str) and sc != c:
                src.setdefault(sc, []).append(c)
        for sc, cs in src.items():
            if len(set(cs)) == 1:
                ids.setdefault(sc, cs[0])
    ambiguous: dict[str, list[str]] = {}
    qtexts = {}
    if meta is not None and len(meta):
        colset = set(cols)
        for c, q in zip(meta["column"], meta["question"]):
            if c in colset and isinstance(q, str):
                qtexts.setdefault(c, loose_key(q))
    keys_missing = []
    for export_col, item in mapping.items():
        if item not in items:
            continue
        found = find_column(cols, export_col)
        if found is None and export_col in ids:  # a Qualtrics ImportId (QID12_1), a full path
            found = ids[export_col]
        if found is None and norm(export_col) in repeats:
            ambiguous[item] = repeats[norm(export_col)]  # the name written twice: which one?
            continue
        if found is None and len(qindex.get(loose_key(export_col), [])) == 1:
            found = qindex[loose_key(export_col)][0]
        if found is None:
            keys_missing.append(export_col)
            continue
        by_item[item] = found
    taken = set(by_item.values())
    unmatched = []
    for item in instrument.item_ids:
        if item in by_item or item in ambiguous:
            continue
        found = find_column([c for c in cols if c not in taken], item)
        if found is None and norm(item) in repeats:
            ambiguous[item] = repeats[norm(item)]
            continue
        if found is None:
            text = instrument.item(item).text
            k = loose_key(text)
            cands = [c for c in cols if c not in taken and len(k) >= 8 and loose_key(c) == k]
            if not cands and len(k) >= 8:
                cands = [c for c in qindex.get(k, []) if c not in taken]
            if not cands and len(k) >= 15:  # 'Stem - Statement', 'Stem-Statement', 'Stem: ...'
                cands = [c for c, q in qtexts.items() if c not in taken and q.endswith(k)]
            if len(cands) == 1:
                found = cands[0]
        if found is None:
            unmatched.append(item)
        else:
            by_item[item] = found
            taken.add(found)
    free = [c for c in cols if c not in taken]
    return by_item, keys_missing, unmatched, free, ambiguous


def ambiguity_fix(item_or_key: str, columns: list[str], meta: pd.DataFrame | None,
                  yaml_key: str | None = None) -> str:
    """How to name the one column meant among columns written under one name: its Qualtrics
    ImportId, or the name socap gave the repeat (``Q5.1``)."""
    ids = {}
    if meta is not None and len(meta) and "import_id" in meta:
        ids = {c: i for c, i in zip(meta["column"], meta["import_id"])
               if c in set(columns) and isinstance(i, str) and i}
    if yaml_key is None:  # an item: map it
        if len(ids) == len(columns) and len(set(ids.values())) == len(columns):
            options = " or ".join(f"{{{ids[c]}: {item_or_key}}}" for c in columns)
            return (f"map the column meant by its ImportId (the third header row): survey: "
                    f"columns: {options}")
        options = " or ".join(f"{{'{c}': {item_or_key}}}" for c in columns)
        return (f"map the column meant: survey: columns: {options} (socap numbers the repeats "
                "in file order) -- or rename it in the export")
    return (f"set survey: {yaml_key}: to the column meant, one of "
            f"{', '.join(repr(c) for c in columns)} (socap numbers the repeats in file order), "
            "or rename it in the export")


def map_items_by_file(columns, instrument: Instrument, mapping: dict[str, str], file: str,
                      meta: pd.DataFrame | None = None,
                      layouts: dict | None = None) -> dict[str | None, dict[str, str]]:
    """Instrument item -> export column, for each export file (files differ: a plain wave and a
    Qualtrics wave name the same item differently).

    Matching, in order: ``survey.columns`` (its keys name an export column, or a column's
    question text); the item id as a column name (case-insensitive); the item's text as a column
    name or as a column's question text (the whole text, its part after ``' - '`` as Qualtrics
    and SurveyMonkey write matrix rows, or the end of the question text), letters and digits
    compared, when exactly one column matches.

    A column whose name the export writes more than once (told apart at ingest as ``Q5``,
    ``Q5.1``) matches only when named unambiguously: by the repeat's name, or its Qualtrics
    ImportId (``survey.columns: {QID12_1: trust_1}``).

    Parameters
    ----------
    layouts
        File name -> (layout, why it was detected): an item no file has a column for names
        what the detection looked for when a file was read as plain.

    Returns
    -------
    dict
        File name -> (item -> column) for the items that file has (key None when ``meta`` does
        not tell the files apart).

    Raises
    ------
    StudyError
        ``survey.columns`` naming a non-item or a column no file has, items no file has a
        column for, and items matching a name written twice -- all reported at once.
    """
    cols = [c for c in columns if c not in META_COLUMNS]
    problems = ProblemList()
    items = set(instrument.item_ids)
    for export_col, item in mapping.items():
        if item not in items:
            problems.add(f"survey.columns maps '{export_col}' to '{item}', which is not an item of "
                         f"the instrument; {did_you_mean(item, instrument.item_ids)}",
                         file=file, key=f"survey.columns.{export_col}")
    if meta is not None and len(meta) and "file" in meta:
        groups = {f: (list(dict.fromkeys(c for c in m["column"] if c in set(cols))), m)
                  for f, m in meta.groupby("file", sort=False)}
    else:
        groups = {None: (cols, meta)}
    out, missing_keys, unmatched_in, free_in = {}, None, {}, {}
    for f, (fcols, fmeta) in groups.items():
        by_item, keys_missing, unmatched, free, ambiguous = match_items(fcols, instrument,
                                                                        mapping, fmeta)
        for item, amb in ambiguous.items():
            name = amb[0].rsplit(".", 1)[0]
            problems.add(f"instrument item '{item}' matches the name '{name}', which {f or file} "
                         f"writes {'twice' if len(amb) == 2 else f'{len(amb)} times'} "
                         f"(read as {', '.join(amb)})", file=f or file, column=name,
                         fix=ambiguity_fix(item, amb, fmeta))
        out[f] = by_item
        missing_keys = set(keys_missing) if missing_keys is None else missing_keys & set(keys_missing)
        unmatched_in[f], free_in[f] = unmatched, free
    for export_col in mapping:
        if export_col in (missing_keys or set()) and mapping[export_col] in items:
            problems.add(f"survey.columns names export column '{export_col}', which the export "
                         f"does not have; {did_you_mean(export_col, cols)}", file=file,
                         key=f"survey.columns.{export_col}")
    first = next(iter(groups))
    exports = ", ".join(str(f) for f in groups if f is not None) or file
    from pipeline.ingest.layouts import LOOKED_FOR  # noqa: PLC0415

    plain = [f for f, (lay, _) in (layouts or {}).items() if lay == "plain"]
    layout_note = (f" {', '.join(plain)} {'was' if len(plain) == 1 else 'were'} read as a plain "
                   "sheet: socap found none of the survey platforms' marker columns (it looked "
                   "for " + "; ".join(LOOKED_FOR) + "); if the export comes from one of them, "
                   "set survey: layout:." if plain else "")
    for item in instrument.item_ids:
        if all(item in unmatched_in[f] for f in groups):
            hint = did_you_mean(item, free_in[first])
            problems.add(f"instrument item '{item}' has no column in the survey export"
                         + (f"; {hint}" if hint else ""), file=exports, column=item,
                         fix="rename the export column to the item id, or map it in study.yaml: "
                         f"survey: columns: {{<export column>: {item}}}" + layout_note)
            layout_note = ""  # said once
    problems.raise_if_any("The survey export does not match the instrument:")
    return out


def map_items(columns, instrument: Instrument, mapping: dict[str, str], file: str,
              meta: pd.DataFrame | None = None) -> dict[str, str]:
    """Instrument item -> export column for a single export (see :func:`map_items_by_file`)."""
    by_file = map_items_by_file(columns, instrument, mapping, file,
                                None if meta is None else meta.assign(file="one"))
    return {i: next(iter(by_file.values()))[i] for i in instrument.item_ids}


def file_rows(files: pd.Series | None, n: int) -> dict[str, np.ndarray]:
    if files is None:
        return {}
    if is_arrow_text(files) and n:
        import pyarrow as pa
        import pyarrow.compute as pc

        ends = pc.min_max(pa.array(files.array))  # one file (the usual case): no hashing
        if ends["min"].is_valid and ends["min"] == ends["max"] and not files.hasnans:
            return {ends["min"].as_py(): np.ones(n, bool)}
    codes, uniques = pd.factorize(files)
    return {str(u): codes == k for k, u in enumerate(uniques)}


def item_data(data: pd.DataFrame, files: pd.Series, instrument: Instrument, file_columns: dict,
               masks=None) -> tuple[dict[str, str], pd.DataFrame, dict[str, str]]:
    """The item answers under the item ids, each file's rows taken from that file's column.

    Returns (item -> the export column it was read from, joined with ' | ' when files differ;
    the frame of answers with ``source_row``; item -> export column for the items whose answers
    are that one column unchanged)."""
    items = list(instrument.item_ids)
    maps = list(file_columns.values())
    names: dict[str, str] = {}
    cols = {}
    direct = {}
    if None in file_columns:
        masks = {}
    elif masks is None:
        masks = file_rows(files, len(files))
    for i in items:
        used = list(dict.fromkeys(m[i] for m in maps if i in m))
        names[i] = " | ".join(used)
        if len(used) == 1 and all(i in m for m in maps):
            cols[i] = data[used[0]]
            direct[i] = used[0]
            continue
        out = pd.Series([None] * len(data), index=data.index, dtype=object)
        numeric = True
        for f, m in file_columns.items():
            if i not in m:
                continue
            mask = masks.get(f, np.ones(len(data), bool))
            part = data.loc[mask, m[i]]
            numeric &= part.dtype.kind in "iuf"
            out[mask] = part.to_numpy(dtype=object)
        cols[i] = pd.to_numeric(out, errors="coerce") if numeric else out
    frame = pd.DataFrame(cols, index=data.index, copy=False)  # read only: no copy
    frame["source_row"] = data["source_row"].to_numpy()
    return names, frame, direct
