"""From raw responses to analysable responses: the cleaning stage.

:func:`clean_responses` maps export columns to instrument items (:mod:`.mapping`), turns answers
into codes, missing values by reason and reverse-keyed codes (:mod:`.coding`), applies the quality
rules of study.yaml (:mod:`.quality`) and returns the kept responses and every exclusion with its
rule. Every problem of the export (unknown labels, out-of-range codes, unmatched items, duplicate
ids) is reported at once, each with its file, row and column.

Columns the reader dictionary-encoded (answers, codes, labels: few distinct values) arrive as
pandas Categoricals: their codes and categories are used directly (:func:`column_codes`), so
10^6 responses cost a few hash passes, not a Python loop per cell.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.clean.coding import Recoded, recode_items
from pipeline.clean.mapping import (META_COLUMNS, file_rows, find_column, item_data,
                                    map_items_by_file)
from pipeline.clean.quality import QualityData, apply_rules
from pipeline.config.instrument import Instrument
from pipeline.errors import ProblemList, StudyError, did_you_mean
from pipeline.ids import all_distinct, arrow_text_ids, ids_as_text, is_arrow_text


@dataclass(frozen=True)
class CleanResult:
    """Responses ready for analysis.

    Attributes
    ----------
    responses
        One row per kept respondent: ``respondent_id`` (text), the unit and group columns (text)
        when configured, ``source_file``, ``source_row``, other non-item survey columns, and the
        instrument items (coded, missing as NaN, reverse-keyed items reversed).
    exclusions
        Every dropped row: ``respondent_id``, ``source_file``, ``source_row``, ``rule``, ``detail``.
    item_columns
        Instrument item -> export column it was read from.
    recoding
        One row per item: ``item``, ``column``, ``valid``, ``from_text`` (answers recoded from
        label text or choice names), ``from_labels`` (SPSS/Stata codes recoded through their
        value labels), ``missing`` and one ``missing: <reason>`` column per reason, ``reversed``.
    sample
        ``rows_read``, ``excluded``, ``excluded_by_rule`` (per rule, in the order applied),
        ``respondents``, and ``by_file``: one dict per export (see :attr:`by_file`).
    by_file
        One row per export file: ``file``, ``layout``, ``rows``, ``items_matched``,
        ``items_unmatched`` (list), ``from_text``, ``from_labels``, ``missing`` (dict reason ->
        count), ``excluded`` (dict rule -> count), ``kept``.
    """

    responses: pd.DataFrame
    exclusions: pd.DataFrame
    item_columns: dict[str, str]
    recoding: pd.DataFrame
    sample: dict
    id_column: str
    unit_column: str | None
    group_column: str | None
    weight_column: str | None
    warnings: tuple[str, ...] = ()
    by_file: tuple[dict, ...] = ()

    @property
    def items(self) -> list[str]:
        return list(self.item_columns)




def column_codes(s: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """``(codes, distinct values)`` of a column exactly as ``pandas.factorize(s.astype(object))``
    gives them (codes -1 for missing cells, values in order of first appearance): a reader's
    Categorical (its categories are the values in that order) gives its own codes, with no hash
    pass; arrow-backed text is factorized in arrow."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        return np.asarray(s.cat.codes), np.asarray(s.cat.categories, dtype=object)
    codes, uniques = pd.factorize(s if s.dtype != object else s.to_numpy(), use_na_sentinel=True)
    return codes, np.asarray(uniques, dtype=object)


def text_codes(s: pd.Series) -> tuple[np.ndarray, np.ndarray] | None:
    """:func:`column_codes` of a text column whose codes are at hand (a reader's Categorical, or
    arrow-backed text); None for other columns."""
    if isinstance(s.dtype, (pd.CategoricalDtype, pd.StringDtype)):
        return column_codes(s)
    return None


def _text_column(codes: np.ndarray, uniques, index) -> pd.Series:
    """A text column from codes into distinct values (None missing), as the 'str' column pandas
    makes of the same strings -- built in arrow, without a Python string per row."""
    import pyarrow as pa

    uniques = np.asarray(uniques, dtype=object)
    present = np.zeros(len(uniques) + 1, bool)
    present[codes] = True
    if (pd.api.types.infer_dtype(uniques[present[:-1]], skipna=True) != "string"
            or not any(u is not None for u in uniques[present[:-1]])):
        values = np.append(uniques, None)[codes]
        return pd.Series(values, index=index)  # pandas decides, as before
    dictionary = pa.array(uniques, type=pa.large_string(), from_pandas=True)
    arr = dictionary.take(pa.array(codes, mask=codes < 0))
    return pd.Series(pd.arrays.ArrowStringArray(arr, dtype=pd.StringDtype("pyarrow",
                                                                            na_value=np.nan)),
                     index=index)


def _arrow_text(ids: pd.Series):
    """Text ids as an arrow large_string array (None when some id is not text)."""
    import pyarrow as pa

    values = ids.to_numpy(dtype=object)
    if pd.api.types.infer_dtype(values, skipna=True) != "string":
        return None
    try:
        return pa.array(values, type=pa.large_string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None


def clean_responses(raw, instrument: Instrument, config, *, study_file: str = "study.yaml") -> CleanResult:
    """Map, recode and filter the raw responses of a study.

    Parameters
    ----------
    raw
        :class:`pipeline.ingest.survey.RawSurvey`.
    instrument
        The validated instrument.
    config
        The study's :class:`pipeline.config.study.StudyConfig`.

    Returns
    -------
    CleanResult

    Raises
    ------
    StudyError
        Configured columns missing from the export, unmatched items, uncodable answers,
        duplicate respondent ids (within or across files, naming both places), an unknown
        ``survey.language`` -- each with file, row and column.

    Notes
    -----
    The quality rules (:data:`pipeline.clean.quality.RULES`) are applied in order, each to the
    rows no earlier rule dropped; each is switched and tuned under ``quality:`` in study.yaml.
    """
    survey = config.survey
    data = raw.data
    files = data["source_file"]
    meta = getattr(raw, "columns", None)
    cols = [c for c in data.columns if c not in META_COLUMNS]
    found, language = _configured_columns(cols, survey, instrument, study_file, meta)
    layouts = {Path(f.path).name: (f.layout, getattr(f, "layout_reason", ""))
               for f in getattr(raw, "files", ())}
    file_columns = map_items_by_file(cols, instrument, survey.columns, study_file, meta, layouts)
    masks = file_rows(files, len(files))  # each file's rows, found once
    item_columns, items, direct = item_data(data, files, instrument, file_columns, masks)
    ids, ids_arrow = _respondent_ids(data, files, found["id"])
    item_codes = {i: codes for i, col in direct.items()
                  if (codes := text_codes(data[col])) is not None}
    rec = recode_items(items, instrument, {i: i for i in item_columns}, survey.missing,
                       files=files, meta=meta, language=language, file_columns=file_columns,
                       codes=item_codes, file_masks=masks)
    rec.recoding["column"] = [item_columns[i] for i in rec.recoding["item"]]
    checks = _attention_answers(data, files, cols, instrument, survey, study_file, meta,
                                language, masks)
    q = QualityData(data=data, columns=cols, codes=rec.raw,
                    coded=partial(rec.coded_rows, None), instrument=instrument,
                    factorize=lambda c: column_codes(data[c]), checks=checks,
                    layouts=_column_layouts(meta),
                    item_columns=[c for fm in file_columns.values() for c in fm.values()])
    excl = apply_rules(q, config.quality)
    del q
    keep = excl.kept
    n = len(data)
    rule_names = np.array([r.name for r in excl.rules] + [None], dtype=object)
    exclusions = pd.DataFrame({
        "respondent_id": ids[~keep].to_numpy(dtype=object), "source_file": files[~keep].to_numpy(),
        "source_row": data["source_row"].to_numpy()[~keep], "rule": rule_names[excl.rule_of[~keep]],
        "detail": excl.detail[~keep]})
    by_file = _by_file(raw, files, file_columns, instrument, rec, excl, masks)
    recoding = rec.recoding
    # kept rows, reverse-keyed, column-major: pandas stores them without a copy; then the
    # n x p work matrices are let go before the other columns are built (peak memory)
    items_frame = pd.DataFrame(rec.coded_rows(keep, in_place=True), columns=list(item_columns),
                               copy=False)
    notes = list(rec.notes) + list(excl.notes)
    del rec
    item_cols = {c for fm in file_columns.values() for c in fm.values()}
    responses = _responses_frame(data, files, ids, ids_arrow, keep, found, items_frame,
                                 [c for c in cols if c not in item_cols and c != found["id"]])
    warnings = notes
    if found["unit"]:
        no_unit = responses[found["unit"]].isna().sum()
        if no_unit:
            warnings.append(f"{no_unit} kept respondents have no unit id ({found['unit']}); they "
                            "are used at respondent level but not aggregated to units.")
    for f in by_file:
        if f["items_unmatched"] and len(by_file) > 1:
            warnings.append(f"{f['file']} has no column for {len(f['items_unmatched'])} instrument "
                            f"item(s) ({', '.join(f['items_unmatched'][:8])}); their answers are "
                            f"missing for its {f['rows']} responses.")
    counts = excl.counts()
    sample = {"rows_read": int(n), "excluded": int((~keep).sum()), "excluded_by_rule": counts,
              "respondents": int(keep.sum()), "by_file": [dict(f) for f in by_file]}
    if keep.sum() == 0:
        raise StudyError("every response was excluded by the quality rules ("
                         + ", ".join(f"{k}: {v}" for k, v in counts.items() if v) + ")",
                         file=study_file, key="quality",
                         fix="check the export, or relax the rules under quality: in study.yaml")
    return CleanResult(responses=responses, exclusions=exclusions, item_columns=item_columns,
                       recoding=recoding, sample=sample, id_column=found["id"] or "respondent_id",
                       unit_column=found["unit"], group_column=found["group"],
                       weight_column=found["weight"], warnings=tuple(warnings),
                       by_file=tuple(by_file))


def _column_layouts(meta) -> dict[str, str]:
    """Column -> the layout of the export that wrote it (the first, when several did)."""
    if meta is None or not len(meta) or "layout" not in meta:
        return {}
    out: dict[str, str] = {}
    for c, lay in zip(meta["column"], meta["layout"]):
        out.setdefault(c, lay)
    return out


def _configured_columns(cols, survey, instrument: Instrument, study_file: str, meta=None):
    """The export columns study.yaml names (id, unit, group, weight) and the answer language;
    every problem at once. A name the export writes twice must be named unambiguously."""
    from pipeline.clean.mapping import ambiguity_fix, repeated_columns
    from pipeline.clean.text import norm

    problems = ProblemList()
    found: dict[str, str | None] = {}
    repeats = repeated_columns(meta, cols)
    for key in ("id", "unit", "group", "weight"):
        wanted = getattr(survey, key)
        if wanted is None:
            found[key] = None
            continue
        col = find_column(cols, wanted)
        if col is None and norm(wanted) in repeats:
            amb = repeats[norm(wanted)]
            problems.add(f"survey.{key} names '{wanted}', which the export writes as the name of "
                         f"{len(amb)} columns", file=study_file, key=f"survey.{key}",
                         fix=ambiguity_fix(wanted, amb, meta, yaml_key=key))
        elif col is None:
            problems.add(f"survey.{key} names column '{wanted}', which the export does not have; "
                         f"{did_you_mean(wanted, cols)}", file=study_file, key=f"survey.{key}",
                         fix=f"set survey: {key}: to one of the export's columns")
        found[key] = col
    if isinstance(survey.missing, dict):  # {item or construct: [codes]}
        names = list(instrument.item_ids) + list(instrument.constructs)
        checks = instrument.checks_instrument()
        names += list(checks.item_ids) if checks is not None else []
        for k in survey.missing:
            if k != "*" and k not in names:
                problems.add(f"survey.missing names '{k}', which is neither an item nor a "
                             f"construct of the instrument; {did_you_mean(k, names)}",
                             file=study_file, key=f"survey.missing.{k}",
                             fix='key the codes by an item id or construct name, or by "*" '
                             "for every item")
    language = None
    if getattr(survey, "language", None):
        try:
            language = instrument.resolve_language(survey.language)
        except KeyError:
            langs = instrument.languages
            problems.add(f"survey.language is '{survey.language}', but the instrument has answer "
                         f"labels in {', '.join(repr(x) for x in langs) or 'one unnamed language only'}",
                         file=study_file, key="survey.language",
                         fix="use one of those languages, or remove survey: language:")
    problems.raise_if_any("study.yaml and the survey export do not agree:")
    return found, language


def _respondent_ids(data: pd.DataFrame, files: pd.Series, id_col: str | None):
    """Respondent ids as text (and as an arrow array when they are text), checked to be filled
    and unique within and across files; without ``survey.id``, ``<file>:<row>``."""
    if not id_col:
        return files.astype(str) + ":" + data["source_row"].astype(str), None
    problems = ProblemList()
    id_codes = (column_codes(data[id_col]) if isinstance(data[id_col].dtype, pd.CategoricalDtype)
                else None)
    ids_arrow = arrow_text_ids(data[id_col]) if id_codes is None else None
    if ids_arrow is not None:  # mostly distinct text ids (csv, parquet): kept in arrow
        ids = pd.Series(pd.arrays.ArrowStringArray(
            ids_arrow, dtype=pd.StringDtype("pyarrow", na_value=np.nan)), index=data.index)
    else:
        ids = ids_as_text(data[id_col], codes=id_codes)
        ids_arrow = _arrow_text(ids)
    empty = ids.isna()
    for i in np.flatnonzero(empty.to_numpy())[:50]:
        problems.add("empty respondent id", file=files.iloc[i], row=int(data["source_row"].iloc[i]),
                     column=id_col, fix="give every response an id, or drop survey: id: "
                     "to number responses by row")
    # the usual case, no duplicate, costs one pass (ids of one length: 0.08 s at 10^6;
    # else a hash table, 0.3 s); only then are the duplicates and their places looked up
    if ids_arrow is not None:
        unique = all_distinct(ids_arrow)
    else:
        filled = ids[~empty] if empty.any() else ids
        unique = len(pd.unique(filled)) == len(filled)
    dup = ids.iloc[:0] if unique else ids[ids.duplicated(keep=False) & ~empty]
    for value, idx in list(dup.groupby(dup).groups.items())[:50]:
        places = "; ".join(f"{files.iloc[i]} row {int(data['source_row'].iloc[i])}" for i in idx)
        problems.add(f"respondent id '{value}' appears more than once ({places})",
                     column=id_col, file=files.iloc[idx[0]],
                     fix="each response needs its own id; remove duplicate rows")
    problems.raise_if_any("Respondent ids are not unique:")
    return ids, ids_arrow


def _attention_answers(data, files, cols, instrument: Instrument, survey, study_file, meta,
                       language, masks) -> dict[str, np.ndarray]:
    """The coded answers of the instrument's attention checks (matched to columns and coded as
    items are); {} when the instrument declares none."""
    checks = instrument.checks_instrument()
    if checks is None:
        return {}
    file_columns = map_items_by_file(cols, checks, survey.columns, study_file, meta)
    names, frame, direct = item_data(data, files, checks, file_columns, masks)
    codes = {i: c for i, col in direct.items() if (c := text_codes(data[col])) is not None}
    rec = recode_items(frame, checks, {i: i for i in names}, survey.missing, files=files,
                       meta=meta, language=language, file_columns=file_columns, codes=codes,
                       file_masks=masks)
    return {cid: rec.raw[:, j] for j, cid in enumerate(names)}


def _responses_frame(data, files, ids, ids_arrow, keep, found, items_frame, other) -> pd.DataFrame:
    """The kept rows: respondent id, unit and group ids (text), source file and row, the other
    survey columns (typed), then the coded items."""
    if ids_arrow is not None and ids_arrow.null_count == 0:  # text ids: already in arrow
        import pyarrow as pa

        responses = pd.DataFrame({"respondent_id": pd.arrays.ArrowStringArray(
            ids_arrow.filter(pa.array(keep)), dtype=pd.StringDtype("pyarrow", na_value=np.nan))})
    else:
        responses = pd.DataFrame({"respondent_id": ids.to_numpy(dtype=object)[keep]})
    for key in ("unit", "group"):
        if found[key]:
            codes = text_codes(data[found[key]])
            if codes is not None:  # text ids: each distinct id converted once
                mapped = ids_as_text(pd.Series(codes[1], dtype=object)).to_numpy(dtype=object)
                responses[found[key]] = _text_column(codes[0][keep], mapped, responses.index)
            else:
                responses[found[key]] = ids_as_text(data[found[key]]).to_numpy(
                    dtype=object)[keep]
    responses["source_file"] = (files.array[keep] if isinstance(files.dtype, pd.StringDtype)
                                else files.to_numpy()[keep])
    responses["source_row"] = data["source_row"].to_numpy()[keep]
    extra = {}
    for c in other:
        if c in responses.columns:
            continue
        s = data[c]
        if is_arrow_text(s):
            # mostly distinct text (free text, other ids): the kept cells, in arrow
            extra[c] = pd.Series(s.array[keep], index=responses.index)
            continue
        codes = text_codes(s)
        if codes is not None and pd.api.types.infer_dtype(codes[1], skipna=True) == "string":
            extra[c] = _text_column(codes[0][keep], codes[1], responses.index)
        else:
            extra[c] = _typed(s.to_numpy()[keep])
    responses = pd.concat([responses, pd.DataFrame(extra, index=responses.index), items_frame],
                          axis=1)
    if found["weight"]:
        w = pd.to_numeric(responses[found["weight"]], errors="coerce")
        bad = w.isna() | (w < 0)
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise StudyError(f"survey weight is missing or negative for {int(bad.sum())} kept "
                             "responses", file=responses["source_file"].iloc[i],
                             row=int(responses["source_row"].iloc[i]), column=found["weight"],
                             fix="give every kept response a non-negative weight")
        responses[found["weight"]] = w.astype(float)
    return responses


def _by_file(raw, files, file_columns, instrument, rec: Recoded, excl, masks=None) -> list[dict]:
    """Per export file: layout, rows, items matched, codes recoded, missing by reason, drops."""
    layouts = {Path(f.path).name: f.layout for f in getattr(raw, "files", ())}
    out = []
    items = list(instrument.item_ids)
    masks = file_rows(files, len(files)) if masks is None else masks
    for fname, mask in masks.items():
        fmap = file_columns.get(fname, file_columns.get(None, {}))
        matched = [i for i in items if i in fmap]
        unmatched = [i for i in items if i not in fmap]
        have = [j for j, i in enumerate(items) if i in fmap]
        if bool(mask.all()) and len(have) == len(items):
            # one file: its counts are the item table's column sums
            reasons = {r: int(rec.recoding[f"missing: {r}"].sum()) for r in rec.reasons}
            from_text = int(rec.recoding["from_text"].sum())
            from_labels = int(rec.recoding["from_labels"].sum())
        else:
            cr = rec.cell_reason[np.ix_(mask, have)]
            reasons = {r: int((cr == k).sum()) for k, r in enumerate(rec.reasons)}
            from_text = int(rec.from_text[mask].sum())
            from_labels = int(rec.from_labels[mask].sum())
        out.append({
            "file": fname, "layout": layouts.get(fname), "rows": int(mask.sum()),
            "items_matched": len(matched), "items_unmatched": unmatched,
            "columns": {i: fmap[i] for i in matched if fmap[i] != i},
            "from_text": from_text,
            "from_labels": from_labels,
            "missing": {r: v for r, v in reasons.items() if v},
            "excluded": {r.name: int(((excl.rule_of == k) & mask).sum())
                         for k, r in enumerate(excl.rules)
                         if r.reported_when_off or r.name in excl.applied},
            "kept": int((excl.kept & mask).sum()),
        })
    return out


def _typed(values: np.ndarray):
    """Non-item survey columns: numeric when every non-empty cell is a number, else text."""
    s = pd.Series(values)
    if s.dtype.kind in "iufb":
        return s.to_numpy()
    if s.dtype.kind == "M":
        return s.to_numpy()
    s = s.astype(object)
    filled = s.notna()
    if filled.any():
        kind = pd.api.types.infer_dtype(s[filled], skipna=True)
        if kind == "boolean":
            return s.map(lambda v: None if v is None else bool(v)).astype("boolean").to_numpy()
        if kind in ("datetime", "datetime64", "date"):
            return s.to_numpy()
        if kind == "string":  # the reader left it text (words, or numbers with leading zeros)
            return s.where(filled, None).to_numpy(dtype=object)
        num = pd.to_numeric(s, errors="coerce")
        if num[filled].notna().all():
            return num.to_numpy(float)
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    return np.array([str(u) for u in uniques] + [None], dtype=object)[codes]
