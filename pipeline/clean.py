"""From raw responses to analysable responses: item mapping, recoding, quality rules.

:func:`clean_responses` maps export columns to instrument items, turns answer texts into codes
through the instrument's labels, turns missing codes into missing values (counted per reason and
item), reverse-keys items (``min + max - x``), applies the quality rules of study.yaml and returns
the kept responses and every exclusion with its rule.

Every problem of the export (unknown labels, out-of-range codes, unmatched items, duplicate ids)
is reported at once, each with its file, row and column.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .errors import ProblemList, StudyError, did_you_mean
from .instrument import Instrument

RULES = ("previews", "incomplete", "speeders", "straightlining", "max_missing_share")
RULE_LABELS = {
    "previews": "preview, test or spam response",
    "incomplete": "incomplete response (not finished or progress < 100)",
    "speeders": "speeder (duration under the threshold)",
    "straightlining": "straight-lining (one answer on every item)",
    "max_missing_share": "too many items missing",
}
PREVIEW_STATUS = {"survey preview", "survey test", "spam", "preview", "test", "1", "2", "8", "17"}
DURATION_NAMES = ("duration (in seconds)", "duration", "duration_sec", "duration_seconds",
                  "duration (seconds)", "time_taken", "_duration")
FINISHED_NAMES = ("finished", "complete", "completed")
PROGRESS_NAMES = ("progress",)
STATUS_NAMES = ("status", "distributionchannel")
META_COLUMNS = ("source_file", "source_row")


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
        label text), ``missing`` and one ``missing: <reason>`` column per reason, ``reversed``.
    sample
        ``rows_read``, ``excluded`` (per rule, in the order applied), ``respondents``.
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

    @property
    def items(self) -> list[str]:
        return list(self.item_columns)


def _norm(s: Any) -> str:
    return re.sub(r"\s+", " ", str(s).strip().casefold())


def _find_column(columns, wanted: str) -> str | None:
    if wanted in columns:
        return wanted
    low = {_norm(c): c for c in columns}
    return low.get(_norm(wanted))


def map_items(columns, instrument: Instrument, mapping: dict[str, str], file: str) -> dict[str, str]:
    """Instrument item -> export column (``survey.columns`` first, then the item id itself,
    case-insensitively). Every unmatched item is reported at once."""
    cols = [c for c in columns if c not in META_COLUMNS]
    problems = ProblemList()
    by_item: dict[str, str] = {}
    items = set(instrument.item_ids)
    for export_col, item in mapping.items():
        if item not in items:
            problems.add(f"survey.columns maps '{export_col}' to '{item}', which is not an item of "
                         f"the instrument; {did_you_mean(item, instrument.item_ids)}",
                         file=file, key=f"survey.columns.{export_col}")
            continue
        found = _find_column(cols, export_col)
        if found is None:
            problems.add(f"survey.columns names export column '{export_col}', which the export "
                         f"does not have; {did_you_mean(export_col, cols)}", file=file,
                         key=f"survey.columns.{export_col}")
            continue
        by_item[item] = found
    taken = set(by_item.values())
    unmatched = []
    for item in instrument.item_ids:
        if item in by_item:
            continue
        found = _find_column([c for c in cols if c not in taken], item)
        if found is None:
            unmatched.append(item)
        else:
            by_item[item] = found
            taken.add(found)
    if unmatched:
        free = [c for c in cols if c not in taken]
        for item in unmatched:
            hint = did_you_mean(item, free)
            problems.add(f"instrument item '{item}' has no column in the survey export"
                         + (f"; {hint}" if hint else ""), file=file, column=item,
                         fix="rename the export column to the item id, or map it in study.yaml: "
                         f"survey: columns: {{<export column>: {item}}}")
    problems.raise_if_any("The survey export does not match the instrument:")
    return {i: by_item[i] for i in instrument.item_ids}


def recode_items(data: pd.DataFrame, instrument: Instrument, item_columns: dict[str, str],
                 extra_missing=(), *, files: pd.Series | None = None):
    """Codes, missing values and reverse keying for every item, vectorised per column.

    Returns
    -------
    raw_codes, coded, recoding, missing_reasons
        ``raw_codes``: codes before reversing (for straight-lining); ``coded``: reversed where
        keyed so; ``recoding``: per-item counts; ``missing_reasons``: reason counts per item.

    Raises
    ------
    StudyError
        Every answer text that matches no label and every out-of-range code, with row and column.
    """
    n = len(data)
    missing_codes = list(instrument.missing) + list(extra_missing)
    miss_num = {float(m) for m in missing_codes if _is_number(m)}
    miss_txt = {_norm(m): str(m) for m in missing_codes if not _is_number(m)}
    problems = ProblemList()
    raw = np.full((n, len(item_columns)), np.nan)
    records = []
    reasons_all: dict[str, dict[str, int]] = {}
    rows = data["source_row"].to_numpy() if "source_row" in data else np.arange(n) + 2
    for j, (item_id, col) in enumerate(item_columns.items()):
        item = instrument.item(item_id)
        s = data[col]
        labels = {_norm(v): k for k, v in item.scale.labels.items()}
        obj = s.to_numpy(dtype=object)
        isnull = pd.isna(s).to_numpy()
        num = pd.to_numeric(s, errors="coerce").to_numpy(dtype=float, copy=True)
        is_bool = np.fromiter((isinstance(v, (bool, np.bool_)) for v in obj), bool, n)
        num[is_bool] = np.nan
        text = ~isnull & np.isnan(num)
        reasons: dict[str, int] = {}
        if isnull.any():
            reasons["blank"] = int(isnull.sum())
        # numeric missing codes
        if miss_num:
            m = np.isin(num, list(miss_num))
            for code in miss_num:
                k = int((num == code).sum())
                if k:
                    reasons[_fmt(code)] = reasons.get(_fmt(code), 0) + k
            num[m] = np.nan
        from_text = 0
        if text.any():
            idx = np.flatnonzero(text)
            normed = [_norm(v) for v in obj[idx]]
            for i, t in zip(idx, normed):
                if t in miss_txt:
                    reasons[miss_txt[t]] = reasons.get(miss_txt[t], 0) + 1
                elif t in labels:
                    num[i] = labels[t]
                    from_text += 1
                else:
                    valid = "; ".join(f"{_fmt(k)} = {v}" for k, v in item.scale.labels.items())
                    problems.add(
                        f"answer '{obj[i]}' matches no label of item '{item_id}'",
                        file=None if files is None else files.iloc[i], row=int(rows[i]),
                        column=col,
                        fix=(f"valid answers: {valid or 'codes ' + _fmt(item.scale.min) + '..' + _fmt(item.scale.max)}"
                             + (f"; missing codes: {', '.join(map(str, missing_codes))}" if missing_codes else "")
                             + " -- or add the text to study.yaml survey: missing: [...]"),
                    )
        bad = ~np.isnan(num) & ((num < item.scale.min) | (num > item.scale.max)
                                | (np.abs(num - np.round(num)) > 1e-9))
        for i in np.flatnonzero(bad):
            problems.add(
                f"code {_fmt(num[i])} of item '{item_id}' lies outside its scale "
                f"{_fmt(item.scale.min)}..{_fmt(item.scale.max)}",
                file=None if files is None else files.iloc[i], row=int(rows[i]), column=col,
                fix="correct the value, or declare it a missing code in study.yaml survey: "
                "missing: [...]",
            )
        raw[:, j] = num
        reasons_all[item_id] = reasons
        records.append({"item": item_id, "column": col, "valid": int((~np.isnan(num)).sum()),
                        "from_text": from_text, "missing": int(np.isnan(num).sum()),
                        "reversed": item.reverse})
    problems.raise_if_any("The survey export has answers socap cannot code:")
    coded = raw.copy()
    for j, item_id in enumerate(item_columns):
        item = instrument.item(item_id)
        if item.reverse:
            coded[:, j] = item.scale.reverse(coded[:, j])
    recoding = pd.DataFrame(records)
    reason_names = sorted({r for d in reasons_all.values() for r in d})
    for r in reason_names:
        recoding[f"missing: {r}"] = [reasons_all[i].get(r, 0) for i in item_columns]
    return raw, coded, recoding, reasons_all


def _is_number(v) -> bool:
    if isinstance(v, bool):
        return False
    if isinstance(v, (int, float)):
        return True
    try:
        float(str(v))
        return True
    except ValueError:
        return False


def _fmt(x: float) -> str:
    x = float(x)
    return str(int(x)) if x.is_integer() else f"{x:g}"


def _truthy(s: pd.Series) -> np.ndarray:
    v = s.map(lambda x: _norm(x) if x is not None and not (isinstance(x, float) and np.isnan(x)) else "")
    return v.isin(["true", "1", "1.0", "yes", "y", "t"]).to_numpy()


def _falsy(s: pd.Series) -> np.ndarray:
    v = s.map(lambda x: _norm(x) if x is not None and not (isinstance(x, float) and np.isnan(x)) else "")
    return v.isin(["false", "0", "0.0", "no", "n", "f"]).to_numpy()


def clean_responses(raw, instrument: Instrument, config, *, study_file: str = "study.yaml") -> CleanResult:
    """Map, recode and filter the raw responses of a study.

    Parameters
    ----------
    raw
        :class:`pipeline.ingest.RawSurvey`.
    instrument
        The validated instrument.
    config
        The study's :class:`pipeline.study.StudyConfig`.

    Raises
    ------
    StudyError
        Configured columns missing from the export, unmatched items, uncodable answers,
        duplicate respondent ids -- each with file, row and column.
    """
    survey, quality = config.survey, config.quality
    data = raw.data
    files = data["source_file"]
    cols = [c for c in data.columns if c not in META_COLUMNS]
    problems = ProblemList()
    found: dict[str, str | None] = {}
    for key in ("id", "unit", "group", "weight"):
        wanted = getattr(survey, key)
        if wanted is None:
            found[key] = None
            continue
        col = _find_column(cols, wanted)
        if col is None:
            problems.add(f"survey.{key} names column '{wanted}', which the export does not have; "
                         f"{did_you_mean(wanted, cols)}", file=study_file, key=f"survey.{key}",
                         fix=f"set survey: {key}: to one of the export's columns")
        found[key] = col
    problems.raise_if_any("study.yaml and the survey export do not agree:")
    item_columns = map_items(cols, instrument, survey.columns, study_file)

    # respondent ids: text; unique within and across files
    if found["id"]:
        ids = data[found["id"]].map(_as_id)
        empty = ids.isna()
        for i in np.flatnonzero(empty.to_numpy())[:50]:
            problems.add("empty respondent id", file=files.iloc[i], row=int(data["source_row"].iloc[i]),
                         column=found["id"], fix="give every response an id, or drop survey: id: "
                         "to number responses by row")
        dup = ids[ids.duplicated(keep=False) & ~empty]
        for value, idx in list(dup.groupby(dup).groups.items())[:50]:
            places = "; ".join(f"{files.iloc[i]} row {int(data['source_row'].iloc[i])}" for i in idx)
            problems.add(f"respondent id '{value}' appears more than once ({places})",
                         column=found["id"], file=files.iloc[idx[0]],
                         fix="each response needs its own id; remove duplicate rows")
        problems.raise_if_any("Respondent ids are not unique:")
    else:
        ids = files.astype(str) + ":" + data["source_row"].astype(str)
    raw_codes, coded, recoding, _ = recode_items(data, instrument, item_columns, survey.missing,
                                                 files=files)

    n = len(data)
    rule_of = np.full(n, None, dtype=object)
    detail = np.full(n, "", dtype=object)
    lower = {_norm(c): c for c in cols}

    def column(names):
        for nm in names:
            if _norm(nm) in lower:
                return lower[_norm(nm)]
        return None

    def mark(mask, rule, text):
        sel = mask & (rule_of == None)  # noqa: E711 - elementwise on object array
        rule_of[sel] = rule
        detail[sel] = text if isinstance(text, str) else text[sel]

    notes = []
    if quality.previews:
        c = column(STATUS_NAMES)
        if c is not None:
            st = data[c].map(lambda v: _norm(v) if v is not None else "")
            mark(st.isin(PREVIEW_STATUS).to_numpy(), "previews", f"{c} = " + data[c].astype(str).to_numpy())
    if quality.incomplete:
        c = column(FINISHED_NAMES)
        if c is not None:
            mark(_falsy(data[c]), "incomplete", f"{c} = false")
        c = column(PROGRESS_NAMES)
        if c is not None:
            prog = pd.to_numeric(data[c], errors="coerce").to_numpy(float)
            mark(prog < 100, "incomplete", "progress " + pd.Series(prog).map(_fmt_or_na).to_numpy())
    if quality.speeders is not False:
        c = column(DURATION_NAMES)
        if c is not None:
            dur = pd.to_numeric(data[c], errors="coerce").to_numpy(float)
            base = dur[(rule_of == None) & ~np.isnan(dur)]  # noqa: E711
            if base.size:
                med = float(np.median(base))
                cut = quality.speeders * med
                mark(dur < cut, "speeders",
                     f"duration under {quality.speeders:g} x median ({cut:.0f} s of {med:.0f} s)")
    n_items = coded.shape[1]
    answered = (~np.isnan(raw_codes)).sum(1)
    if quality.straightlining and instrument.has_reverse_items and n_items >= 3:
        lo = np.nanmin(np.where(np.isnan(raw_codes), np.inf, raw_codes), axis=1)
        hi = np.nanmax(np.where(np.isnan(raw_codes), -np.inf, raw_codes), axis=1)
        same = (lo == hi) & (answered >= max(3, int(np.ceil(n_items / 2))))
        mark(same, "straightlining", "same answer on all " + pd.Series(answered).astype(str).to_numpy()
             + " answered items")
    elif quality.straightlining and not instrument.has_reverse_items:
        notes.append("Straight-lining was not checked: the instrument has no reverse-keyed items, "
                     "so one answer on every item can be a genuine response.")
    if quality.max_missing_share is not False:
        share = 1 - answered / max(n_items, 1)
        mark(share > quality.max_missing_share, "max_missing_share",
             "missing " + pd.Series(np.round(share * 100)).astype(int).astype(str).to_numpy()
             + "% of items")

    keep = rule_of == None  # noqa: E711
    exclusions = pd.DataFrame({
        "respondent_id": ids.to_numpy()[~keep], "source_file": files.to_numpy()[~keep],
        "source_row": data["source_row"].to_numpy()[~keep], "rule": rule_of[~keep],
        "detail": detail[~keep]})

    item_cols = set(item_columns.values())
    other = [c for c in cols if c not in item_cols and c not in (found["id"],)]
    responses = pd.DataFrame({"respondent_id": ids.to_numpy()[keep]})
    for key in ("unit", "group"):
        if found[key]:
            responses[found[key]] = data[found[key]].map(_as_id).to_numpy()[keep]
    responses["source_file"] = files.to_numpy()[keep]
    responses["source_row"] = data["source_row"].to_numpy()[keep]
    for c in other:
        if c in responses.columns:
            continue
        responses[c] = _typed(data[c].to_numpy()[keep])
    items_frame = pd.DataFrame(coded[keep], columns=list(item_columns))
    responses = pd.concat([responses, items_frame], axis=1)
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
    warnings = list(notes)
    if found["unit"]:
        no_unit = responses[found["unit"]].isna().sum()
        if no_unit:
            warnings.append(f"{no_unit} kept respondents have no unit id ({found['unit']}); they "
                            "are used at respondent level but not aggregated to units.")
    counts = {r: int((rule_of == r).sum()) for r in RULES}
    sample = {"rows_read": int(n), "excluded": int((~keep).sum()), "excluded_by_rule": counts,
              "respondents": int(keep.sum())}
    if keep.sum() == 0:
        raise StudyError("every response was excluded by the quality rules ("
                         + ", ".join(f"{k}: {v}" for k, v in counts.items() if v) + ")",
                         file=study_file, key="quality",
                         fix="check the export, or relax the rules under quality: in study.yaml")
    return CleanResult(responses=responses, exclusions=exclusions, item_columns=item_columns,
                       recoding=recoding, sample=sample, id_column=found["id"] or "respondent_id",
                       unit_column=found["unit"], group_column=found["group"],
                       weight_column=found["weight"], warnings=tuple(warnings))


def _fmt_or_na(x: float) -> str:
    return "missing" if np.isnan(x) else _fmt(x)


def _as_id(v) -> str | None:
    """Ids as text: 12.0 -> '12', ' F01 ' -> 'F01', empty -> None."""
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return None
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    s = str(v).strip()
    return s or None


def _typed(values: np.ndarray):
    """Non-item survey columns: numeric when every non-empty cell is a number, else text."""
    s = pd.Series(values, dtype=object)
    filled = s.notna()
    if filled.any():
        if s[filled].map(lambda v: isinstance(v, (bool, np.bool_))).all():
            return s.map(lambda v: None if v is None else bool(v)).astype("boolean").to_numpy()
        num = pd.to_numeric(s, errors="coerce")
        if num[filled].notna().all():
            return num.to_numpy(float)
    return s.map(lambda v: None if v is None else str(v)).to_numpy(dtype=object)
