"""From raw responses to analysable responses: item mapping, recoding, quality rules.

:func:`clean_responses` maps export columns to instrument items, turns answer texts into codes
through the instrument's labels, turns missing codes into missing values (counted per reason and
item), reverse-keys items (``min + max - x``), applies the quality rules of study.yaml and returns
the kept responses and every exclusion with its rule.

Every problem of the export (unknown labels, out-of-range codes, unmatched items, duplicate ids)
is reported at once, each with its file, row and column.

Items are matched to columns per export file (waves exported from different platforms name the
same item differently), by ``survey.columns``, the item id, or the item text in the column's
question text. Text answers are recoded through the instrument's labels in ``survey.language``
(XLSForm ``label::<language>``) or XLSForm choice names; SPSS/Stata user-missing codes are
counted by their labelled reason, and SPSS/Stata codes are recoded through their value labels
when those are the instrument's labels. All of it works over the distinct values of a column
(``pandas.factorize``), so 10^5-10^6 responses cost a few hash passes, not a Python loop per cell.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.errors import ProblemList, StudyError, did_you_mean
from pipeline.ingest.ids import all_distinct, arrow_text_ids, ids_as_text, is_arrow_text
from pipeline.config.instrument import Instrument

RULES = ("previews", "incomplete", "speeders", "straightlining", "max_missing_share")
RULE_LABELS = {
    "previews": "preview, test or spam response",
    "incomplete": "incomplete response (not finished or progress < 100)",
    "speeders": "speeder (duration under the threshold)",
    "straightlining": "straight-lining (one answer on every item)",
    "max_missing_share": "too many items missing",
}
# Qualtrics "Status" (Response Type): 0 IP Address, 1 Survey Preview, 2 Survey Test, 4 Imported,
# 8 Spam, 9 Survey Preview Spam, 12 Imported Spam, 16 Offline, 17 Offline Survey Preview, 32 EX,
# 40 EX Spam, 48 EX Offline, 256 Synthetic. Previews, tests, spam and synthetic responses are
# dropped; IP Address, Imported, Offline and EX responses are real ones. Legacy exports: 1 = preview.
PREVIEW_STATUS = {"survey preview", "survey test", "spam", "survey preview spam", "imported spam",
                  "offline survey preview", "ex spam", "synthetic", "preview", "test",
                  "1", "2", "8", "9", "12", "17", "40", "256"}
PREVIEW_CHANNELS = {"preview", "test"}  # Qualtrics DistributionChannel
DURATION_NAMES = ("duration (in seconds)", "duration", "duration_sec", "duration_seconds",
                  "duration (seconds)", "time_taken", "_duration", "duration in seconds")
START_END_NAMES = (("startdate", "enddate"), ("start date", "end date"), ("start", "end"),
                   ("starttime", "endtime"), ("start_time", "end_time"))
FINISHED_NAMES = ("finished", "complete", "completed")
PROGRESS_NAMES = ("progress",)
STATUS_NAMES = ("status",)
CHANNEL_NAMES = ("distributionchannel",)
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


def _norm(s: Any) -> str:
    return re.sub(r"\s+", " ", str(s).strip().casefold())


def _key(s: Any) -> str:
    """Looser key: letters and digits only ('Don't know' ~ 'dont_know' ~ 'DON'T KNOW')."""
    return "".join(ch for ch in str(s).casefold() if ch.isalnum())


def _norm_value(v: Any) -> str:
    """A cell as comparable text: numbers without '.0', text normalised, blanks ''."""
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return ""
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if isinstance(v, (int, float, np.integer, np.floating)):
        f = float(v)
        return str(int(f)) if f.is_integer() else repr(f)
    return _norm(v)


def _find_column(columns, wanted: str) -> str | None:
    if wanted in columns:
        return wanted
    low = {_norm(c): c for c in columns}
    return low.get(_norm(wanted))


def _question_index(meta: pd.DataFrame | None, columns) -> dict[str, list[str]]:
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
        keys = {_key(q)}
        if " - " in q:
            keys.add(_key(q.rsplit(" - ", 1)[1]))
        for k in keys:
            if k and col not in out.setdefault(k, []):
                out[k].append(col)
    return out


def _match_items(cols, instrument: Instrument, mapping: dict[str, str],
                 meta: pd.DataFrame | None):
    """One file's matching: (item -> column, mapping keys not found, unmatched items, free cols)."""
    by_item: dict[str, str] = {}
    items = set(instrument.item_ids)
    qindex = _question_index(meta, cols)
    qtexts = {}
    if meta is not None and len(meta):
        colset = set(cols)
        for c, q in zip(meta["column"], meta["question"]):
            if c in colset and isinstance(q, str):
                qtexts.setdefault(c, _key(q))
    keys_missing = []
    for export_col, item in mapping.items():
        if item not in items:
            continue
        found = _find_column(cols, export_col)
        if found is None and len(qindex.get(_key(export_col), [])) == 1:
            found = qindex[_key(export_col)][0]
        if found is None:
            keys_missing.append(export_col)
            continue
        by_item[item] = found
    taken = set(by_item.values())
    unmatched = []
    for item in instrument.item_ids:
        if item in by_item:
            continue
        found = _find_column([c for c in cols if c not in taken], item)
        if found is None:
            text = instrument.item(item).text
            k = _key(text)
            cands = [c for c in cols if c not in taken and len(k) >= 8 and _key(c) == k]
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
    return by_item, keys_missing, unmatched, free


def map_items_by_file(columns, instrument: Instrument, mapping: dict[str, str], file: str,
                      meta: pd.DataFrame | None = None) -> dict[str | None, dict[str, str]]:
    """Instrument item -> export column, for each export file (files differ: a plain wave and a
    Qualtrics wave name the same item differently).

    Matching, in order: ``survey.columns`` (its keys name an export column, or a column's
    question text); the item id as a column name (case-insensitive); the item's text as a column
    name or as a column's question text (the whole text, its part after ``' - '`` as Qualtrics
    and SurveyMonkey write matrix rows, or the end of the question text), letters and digits
    compared, when exactly one column matches.

    Returns
    -------
    dict
        File name -> (item -> column) for the items that file has (key None when ``meta`` does
        not tell the files apart).

    Raises
    ------
    StudyError
        ``survey.columns`` naming a non-item or a column no file has, and items no file has a
        column for -- all reported at once.
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
        by_item, keys_missing, unmatched, free = _match_items(fcols, instrument, mapping, fmeta)
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
    for item in instrument.item_ids:
        if all(item in unmatched_in[f] for f in groups):
            hint = did_you_mean(item, free_in[first])
            problems.add(f"instrument item '{item}' has no column in the survey export"
                         + (f"; {hint}" if hint else ""), file=exports, column=item,
                         fix="rename the export column to the item id, or map it in study.yaml: "
                         f"survey: columns: {{<export column>: {item}}}")
    problems.raise_if_any("The survey export does not match the instrument:")
    return out


def map_items(columns, instrument: Instrument, mapping: dict[str, str], file: str,
              meta: pd.DataFrame | None = None) -> dict[str, str]:
    """Instrument item -> export column for a single export (see :func:`map_items_by_file`)."""
    by_file = map_items_by_file(columns, instrument, mapping, file,
                                None if meta is None else meta.assign(file="one"))
    return {i: next(iter(by_file.values()))[i] for i in instrument.item_ids}


@dataclass(frozen=True)
class Recoded:
    """What :func:`recode_items` did to every item cell."""

    raw: np.ndarray  # codes before reverse keying (n x p, column-major), NaN missing
    recoding: pd.DataFrame  # per item (see CleanResult.recoding)
    reasons: tuple[str, ...]  # missing reasons, in order of first appearance
    cell_reason: np.ndarray  # n x p int16: index into reasons, -1 where not missing
    from_text: np.ndarray  # n x p bool: coded from label text / choice name
    from_labels: np.ndarray  # n x p bool: SPSS/Stata code changed through its value label
    notes: tuple[str, ...] = ()
    reverse: tuple = ()  # (column, scale) of each reverse-keyed item

    def coded_rows(self, rows: np.ndarray | None, *, in_place: bool = False) -> np.ndarray:
        """The codes of :attr:`raw`, reverse-keyed where the item is, of the selected rows
        (boolean mask; None: all), column-major -- built without a full n x p copy besides the
        result.

        ``in_place``: the kept rows are moved to the top of :attr:`raw` itself (which is then no
        longer the raw codes) and a view of them is returned -- no second n x p matrix (at
        10^6 rows a fresh 160 MB costs as much to fault in as to fill)."""
        n, p = self.raw.shape
        k = n if rows is None else int(np.count_nonzero(rows))
        out = self.raw[:k] if in_place else np.empty((k, p), order="F")
        for j in range(p):  # contiguous column by column
            if rows is not None:
                out[:, j] = self.raw[:, j][rows]
            elif not in_place:
                out[:, j] = self.raw[:, j]
        for j, scale in self.reverse:
            out[:, j] = scale.reverse(out[:, j])
        return out


# recode_items decides text columns without SPSS/Stata metadata per distinct value (tests
# switch it off to compare with the row-wise path, which every other column takes)
RECODE_BY_VALUE = True


def _file_masks(files: pd.Series | None, n: int) -> dict[str, np.ndarray]:
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


def recode_items(data: pd.DataFrame, instrument: Instrument, item_columns: dict[str, str],
                 extra_missing=(), *, files: pd.Series | None = None,
                 meta: pd.DataFrame | None = None, language: str | None = None,
                 file_columns: dict | None = None, codes: dict | None = None,
                 file_masks: dict | None = None) -> Recoded:
    """Codes, missing values and reverse keying for every item, vectorised per column.

    Per cell, in order: blank -> missing ("blank"); an SPSS/Stata user-missing code -> missing
    (reason: its value label and code, e.g. "Refused (-99)"); an SPSS/Stata code whose value
    label is an instrument label -> that label's code; a numeric missing code of the instrument
    or study -> missing (reason: the code); a text -> missing when it is a missing text, else the
    code of the label (in ``language``) or XLSForm choice name it matches, compared
    case-insensitively with spaces collapsed, then on letters and digits alone; then codes
    outside the item's scale or not whole are problems.

    Parameters
    ----------
    language
        A language name from :meth:`Instrument.resolve_language` (None: the instrument's own).
    file_columns
        File -> (item -> export column), when ``data`` holds the answers under the item ids
        (several files): messages then name each file's own column.
    codes
        Item -> ``(codes, uniques)`` of its text column as ``pandas.factorize`` gives them,
        where the reader has them (:meth:`pipeline.ingest.survey.RawSurvey.factorize`).

    Raises
    ------
    StudyError
        Every answer text that matches no label and every out-of-range code, with file, row and
        column, reported together.
    """
    from pipeline.config.instrument import scale_labels

    n = len(data)
    p = len(item_columns)
    missing_codes = list(instrument.missing) + list(extra_missing)
    miss_num = sorted({float(m) for m in missing_codes if _is_number(m)})
    miss_txt: dict[str, str] = {}
    for m in missing_codes:
        if not _is_number(m):
            miss_txt.setdefault(_norm(m), str(m))
            miss_txt.setdefault(_key(m), str(m))
    problems = ProblemList()
    # column-major: every step below works on one item's column (10x faster at 10^6 rows)
    raw = np.empty((n, p), order="F")  # every column is written below
    cell_reason = np.full((n, p), -1, dtype=np.int16, order="F")
    from_text_m = np.zeros((n, p), bool, order="F")
    from_labels_m = np.zeros((n, p), bool, order="F")
    reasons: dict[str, int] = {}
    notes: list[str] = []
    records = []
    rows = data["source_row"].to_numpy() if "source_row" in data else np.arange(n) + 2
    file_mask = _file_masks(files, n) if file_masks is None else file_masks

    def reason(name: str) -> int:
        if name not in reasons:
            reasons[name] = len(reasons)
        return reasons[name]

    def where(i, item_id, col):
        f = None if files is None else files.iloc[i]
        if file_columns:
            col = file_columns.get(f, file_columns.get(None, {})).get(item_id, col)
        return {"file": f, "row": int(rows[i]), "column": col}

    # the metadata rows of each column (and file), looked up once rather than per item
    by_column: dict = {}
    by_file_column: dict = {}
    if meta is not None and len(meta):
        for _, r in meta.iterrows():
            by_column.setdefault(r["column"], []).append((str(r["file"]), r))
            by_file_column.setdefault((r["file"], r["column"]), []).append((str(r["file"]), r))

    def per_file_meta(item_id, col):
        if not file_columns:
            return list(by_column.get(col, []))
        out = []
        for f, fmap in file_columns.items():
            if item_id in fmap and meta is not None and len(meta):
                out.extend(by_file_column.get((f, fmap[item_id]), []))
        return out

    for j, (item_id, col) in enumerate(item_columns.items()):
        item = instrument.item(item_id)
        sc = item.scale
        labels = scale_labels(sc, language)
        lookup: dict[str, float] = {}
        for code, text in labels.items():
            lookup.setdefault(_norm(text), float(code))
        for code, text in labels.items():
            lookup.setdefault(_key(text), float(code))
        for code, name in sc.names.items():
            lookup.setdefault(_norm(name), float(code))
            lookup.setdefault(_key(name), float(code))
        s = data[col]
        numeric_col = s.dtype.kind in "iuf"
        out_col = raw[:, j]  # contiguous: the column's codes are built in place
        if numeric_col:
            num = out_col
            np.copyto(num, s.to_numpy(dtype=float))
            isnull = np.isnan(num)
            ucodes = uniq = None
        else:
            # every distinct cell is looked at once (factorize is a C hash table)
            if codes and item_id in codes:
                ucodes, uniq = codes[item_id]
            else:
                # arrow-backed text (parquet exports) is factorized in arrow: the same codes and
                # uniques as of its Python strings, without 10^6 of them (1 s at 10^6 x 20)
                ucodes, uniq = pd.factorize(
                    s if isinstance(s.dtype, pd.StringDtype) else s.astype(object),
                    use_na_sentinel=True)
                uniq = np.asarray(uniq, dtype=object)
            uval = np.full(len(uniq) + 1, np.nan)
            for k, u in enumerate(uniq):
                if isinstance(u, (bool, np.bool_)):
                    continue
                if isinstance(u, (int, float, np.integer, np.floating)):
                    uval[k] = float(u)
                elif isinstance(u, str):
                    try:
                        uval[k] = float(u.strip())
                    except ValueError:
                        pass
            col_meta = per_file_meta(item_id, col)
            has_metadata = any(
                (isinstance(m.get("value_labels"), dict) and m.get("value_labels"))
                or (isinstance(m.get("missing_codes"), list) and m.get("missing_codes"))
                for _, m in col_meta)
            if RECODE_BY_VALUE and not has_metadata:
                # no SPSS/Stata metadata: every cell's fate follows from its distinct value
                def bad_text(i, s=s, item_id=item_id, col=col, labels=labels, sc=sc):
                    problems.add(f"answer '{s.iloc[i]}' matches no label of item '{item_id}'",
                                 fix=_label_fix(labels, sc, missing_codes),
                                 **where(i, item_id, col))

                def outside_scale(i, v, item_id=item_id, col=col, sc=sc):
                    problems.add(f"code {_fmt(v)} of item '{item_id}' lies outside its scale "
                                 f"{_fmt(sc.min)}..{_fmt(sc.max)}",
                                 fix="correct the value, or declare it a missing code in "
                                 "study.yaml survey: missing: [...]", **where(i, item_id, col))

                records.append(_recode_by_value(
                    ucodes, uniq, uval, out_col, cell_reason[:, j], from_text_m[:, j],
                    reason=reason, miss_num=miss_num, miss_txt=miss_txt, lookup=lookup,
                    scale=sc, item_id=item_id, reverse=item.reverse, col=col,
                    bad_text=bad_text, outside_scale=outside_scale))
                continue
            num = out_col
            np.take(uval, ucodes, out=num)
            isnull = ucodes == -1
        handled = isnull.copy()
        cr = cell_reason[:, j]
        cr[isnull] = reason("blank")
        # SPSS / Stata metadata of this column, file by file
        col_meta = per_file_meta(item_id, col)
        for fname, m in col_meta:
            fm = file_mask.get(fname, np.ones(n, bool)) if file_mask else np.ones(n, bool)
            vlab = m.get("value_labels") if isinstance(m.get("value_labels"), dict) else {}
            mcodes = m.get("missing_codes") if isinstance(m.get("missing_codes"), list) else []
            for spec in mcodes:
                if isinstance(spec, tuple):
                    lo, hi = spec
                    hit = fm & ~handled & (num >= lo) & (num <= hi)
                    for code in np.unique(num[hit]):
                        lab = vlab.get(float(code))
                        name = f"{lab} ({_fmt(code)})" if lab else _fmt(code)
                        sel = hit & (num == code)
                        cr[sel] = reason(name)
                        handled |= sel
                elif ucodes is not None:
                    hits = [k for k, u in enumerate(uniq) if isinstance(u, str) and u == spec]
                    sel = fm & ~handled & np.isin(ucodes, hits)
                    if sel.any():
                        lab = vlab.get(spec)
                        code = f".{spec}" if len(spec) == 1 and spec.isalpha() else spec  # Stata .a
                        cr[sel] = reason(f"{lab} ({code})" if lab else code)
                        handled |= sel
            num[handled] = np.nan
            if vlab:
                remap, unmatched = {}, []
                for code, lab in vlab.items():
                    if not isinstance(code, float) or any(
                            isinstance(sp, tuple) and sp[0] <= code <= sp[1] for sp in mcodes):
                        continue
                    target = lookup.get(_norm(lab), lookup.get(_key(lab)))
                    if target is None:
                        if _norm(lab) in miss_txt or _key(lab) in miss_txt:
                            continue
                        unmatched.append(lab)
                    else:
                        remap[code] = target
                if remap and not unmatched:
                    changed = {c: t for c, t in remap.items() if c != t}
                    if changed:
                        sel_all = np.zeros(n, bool)
                        new = num.copy()
                        for c, t in changed.items():
                            sel = fm & (num == c)
                            new[sel] = t
                            sel_all |= sel
                        num = new
                        from_labels_m[sel_all, j] = True
                        notes.append(f"{fname}: column '{col}' recoded through its value labels "
                                     "to the instrument's codes (" + ", ".join(
                                         f"{_fmt(c)} -> {_fmt(t)}" for c, t in changed.items())
                                     + ").")
                elif remap and unmatched:
                    notes.append(f"{fname}: value labels of column '{col}' only partly match the "
                                 f"instrument's labels ({', '.join(map(repr, unmatched[:5]))} do "
                                 "not); its codes were used as they are.")
        # numeric missing codes of the instrument and study
        for code in miss_num:
            sel = ~handled & (num == code)
            if sel.any():
                cr[sel] = reason(_fmt(code))
                handled |= sel
                num[sel] = np.nan
        # texts
        text = ~handled & np.isnan(num)
        text_rows = np.zeros(0, dtype=np.intp)
        if ucodes is not None and text.any():
            idx = np.flatnonzero(text)
            ku_rows = ucodes[idx]
            kind_u = np.full(len(uniq), "", dtype=object)
            val_u = np.full(len(uniq), None, dtype=object)
            for k in np.unique(ku_rows):
                u = str(uniq[k])
                nu, ku = _norm(u), _key(u)
                if nu == "":
                    kind_u[k], val_u[k] = "missing", "blank"
                elif nu in miss_txt or (ku and ku in miss_txt):
                    kind_u[k], val_u[k] = "missing", miss_txt.get(nu, miss_txt.get(ku))
                elif nu in lookup or (ku and ku in lookup):
                    kind_u[k], val_u[k] = "code", lookup.get(nu, lookup.get(ku))
                else:
                    kind_u[k] = "bad"
            kinds = kind_u[ku_rows]
            values = val_u[ku_rows]
            # reasons in order of first appearance (a set's order varies between runs)
            for r in dict.fromkeys(val_u[k] for k in np.unique(ku_rows)
                                   if kind_u[k] == "missing"):
                sel = idx[(kinds == "missing") & (values == r)]
                cr[sel] = reason(r)
            coded_sel = kinds == "code"
            text_rows = idx[coded_sel]
            num[text_rows] = values[coded_sel].astype(float)
            from_text_m[text_rows, j] = True
            for i in idx[kinds == "bad"]:
                problems.add(
                    f"answer '{s.iloc[i]}' matches no label of item '{item_id}'",
                    fix=_label_fix(labels, sc, missing_codes), **where(i, item_id, col))
        labelled = any((isinstance(m.get("value_labels"), dict) and m.get("value_labels"))
                       or (isinstance(m.get("missing_codes"), list) and m.get("missing_codes"))
                       for _, m in col_meta)
        if ucodes is not None and not labelled:
            # the column's codes are its distinct numbers (missing ones made NaN) or label codes
            # of text rows: tested per distinct value and on those rows -- the same cells
            bad = _outside_scale(uval, sc)[ucodes] & ~np.isnan(num)
            bad[text_rows] = _outside_scale(num[text_rows], sc)
        else:
            bad = _outside_scale(num, sc)
        for i in np.flatnonzero(bad):
            problems.add(
                f"code {_fmt(num[i])} of item '{item_id}' lies outside its scale "
                f"{_fmt(sc.min)}..{_fmt(sc.max)}",
                fix="correct the value, or declare it a missing code in study.yaml survey: "
                "missing: [...]", **where(i, item_id, col))
        if num is not out_col:
            out_col[...] = num
        records.append({"item": item_id, "column": col, "valid": int((~np.isnan(num)).sum()),
                        "from_text": int(from_text_m[:, j].sum()),
                        "from_labels": int(from_labels_m[:, j].sum()),
                        "missing": int(np.isnan(num).sum()), "reversed": item.reverse})
    for j, (item_id, col) in enumerate(item_columns.items()):
        if n and np.isnan(raw[:, j]).all():
            names = sorted(map(str, pd.unique(files))) if files is not None else []
            problems.add(f"item '{item_id}' has no valid answer: every cell of its column is "
                         "empty or a missing code", file=", ".join(names) or None, column=col,
                         fix="check that the right export column is mapped to it (survey: "
                         "columns:), or remove the item from the instrument")
    problems.raise_if_any("The survey export has answers socap cannot code:")
    reverse = tuple((j, instrument.item(item_id).scale) for j, item_id in enumerate(item_columns)
                    if instrument.item(item_id).reverse)
    names = tuple(reasons)
    for j, rec in enumerate(records):
        # cells per missing reason: counted per distinct value where the column was coded so,
        # else one pass over the column
        by_reason = rec.pop("_reasons", None)
        if by_reason is None:
            by_reason = np.bincount(cell_reason[:, j].astype(np.intp) + 1,
                                    minlength=len(names) + 1)[1:]
        for k, r in enumerate(names):
            rec[f"missing: {r}"] = int(by_reason[k]) if k < len(by_reason) else 0
    recoding = pd.DataFrame(records)
    return Recoded(raw=raw, recoding=recoding, reasons=names,
                   cell_reason=cell_reason, from_text=from_text_m, from_labels=from_labels_m,
                   notes=tuple(dict.fromkeys(notes)), reverse=reverse)


def _outside_scale(v: np.ndarray, sc) -> np.ndarray:
    """Codes outside the scale's range or not whole (NaN: not outside)."""
    return ~np.isnan(v) & ((v < sc.min) | (v > sc.max) | (np.abs(v - np.round(v)) > 1e-9))


def _label_fix(labels, sc, missing_codes) -> str:
    valid_txt = "; ".join(f"{_fmt(k)} = {v}" for k, v in labels.items())
    return (f"valid answers: {valid_txt or 'codes ' + _fmt(sc.min) + '..' + _fmt(sc.max)}"
            + (f"; missing codes: {', '.join(map(str, missing_codes))}" if missing_codes else "")
            + " -- or add the text to study.yaml survey: missing: [...]")


def _recode_by_value(ucodes, uniq, uval, out_col, cr, from_text, *, reason, miss_num, miss_txt,
                     lookup, scale, item_id, reverse, col, bad_text, outside_scale) -> dict:
    """:func:`recode_items` for one factorized column without SPSS/Stata metadata, decided once
    per distinct value and spread to the rows by three lookups (the row-wise path makes ~15
    passes over 10^6 cells per item). The same codes, reasons (registered in the same order),
    flags and problems (in row order) as the row-wise path."""
    k_all = len(uniq)
    ucodes_i = ucodes.astype(np.intp, copy=False)
    counts = np.bincount(ucodes_i + 1, minlength=k_all + 1)
    counts = np.append(counts[1:], counts[0])  # per distinct value, then the missing cells
    present = counts > 0
    present[k_all] = False
    num_u = uval.copy()  # k_all + 1 values, the last (missing cells) NaN
    reason_u = np.full(k_all + 1, -1, dtype=np.int16)
    reason_u[k_all] = reason("blank")
    handled = np.zeros(k_all + 1, bool)
    handled[k_all] = True
    for code in miss_num:
        sel = present & ~handled & (num_u == code)
        if sel.any():
            reason_u[sel] = reason(_fmt(code))
            handled |= sel
            num_u[sel] = np.nan
    text_u = present & ~handled & np.isnan(num_u)
    from_text_u = np.zeros(k_all + 1, bool)
    bad_u = np.zeros(k_all + 1, bool)
    if text_u.any():
        missing_reason = {}
        for k in np.flatnonzero(text_u):
            u = str(uniq[k])
            nu, ku = _norm(u), _key(u)
            if nu == "":
                missing_reason[k] = "blank"
            elif nu in miss_txt or (ku and ku in miss_txt):
                missing_reason[k] = miss_txt.get(nu, miss_txt.get(ku))
            elif nu in lookup or (ku and ku in lookup):
                num_u[k] = float(lookup.get(nu, lookup.get(ku)))
                from_text_u[k] = True
            else:
                bad_u[k] = True
        # reasons in order of first appearance (the distinct values are in that order)
        for k, r in missing_reason.items():
            reason_u[k] = reason(r)

    outside_u = np.where(from_text_u, _outside_scale(num_u, scale),
                         _outside_scale(uval, scale) & ~np.isnan(num_u))
    np.take(num_u, ucodes_i, out=out_col, mode="wrap")  # code -1 (missing) -> the last entry
    np.take(reason_u, ucodes_i, out=cr, mode="wrap")
    if from_text_u.any():
        np.take(from_text_u, ucodes_i, out=from_text, mode="wrap")
    if bad_u.any():
        for i in np.flatnonzero(bad_u[ucodes_i]):
            bad_text(int(i))
    if outside_u.any():
        for i in np.flatnonzero(outside_u[ucodes_i]):
            outside_scale(int(i), out_col[i])
    valid = int(counts[~np.isnan(num_u)].sum())
    n_reasons = int(reason_u.max()) + 1
    by_reason = np.zeros(max(n_reasons, 0), dtype=np.int64)
    has = reason_u >= 0
    np.add.at(by_reason, reason_u[has].astype(np.intp), counts[has])
    return {"item": item_id, "column": col, "valid": valid,
            "from_text": int(counts[from_text_u].sum()), "from_labels": 0,
            "missing": int(counts.sum()) - valid, "reversed": reverse, "_reasons": by_reason}


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


def _display(s: pd.Series) -> np.ndarray:
    """Cells as a user reads them (1 not 1.0, blank ''), vectorised over the distinct values."""
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    shown = [(_fmt(u) if isinstance(u, (int, float, np.integer, np.floating))
              and not isinstance(u, (bool, np.bool_)) else str(u)) for u in uniques]
    return np.array(shown + [""], dtype=object)[codes]


FALSY = frozenset({"false", "0", "no", "n", "f"})


def _display_values(uniques) -> list[str]:
    """:func:`_display` of each distinct value."""
    return [(_fmt(u) if isinstance(u, (int, float, np.integer, np.floating))
             and not isinstance(u, (bool, np.bool_)) else str(u)) for u in uniques]


def _factorizer(raw):
    """``column -> (codes, uniques)`` of the raw data, from the reader's encoding when it has
    one (:meth:`pipeline.ingest.survey.RawSurvey.factorize`), else ``pandas.factorize``."""
    if hasattr(raw, "factorize"):
        return raw.factorize

    def factorize(column):
        codes, uniques = pd.factorize(raw.data[column], use_na_sentinel=True)
        return codes, np.asarray(uniques, dtype=object)
    return factorize


def _object_codes(raw, column):
    """``(codes, uniques)`` of a text column: the reader's dictionary codes, or for an
    arrow-backed text column (parquet exports) pandas' factorization of it, which works in
    arrow; None for other columns."""
    codes = getattr(raw, "codes", None) or {}
    if column in codes:
        return codes[column]
    data = getattr(raw, "data", None)
    if data is not None and column in data.columns and isinstance(data[column].dtype,
                                                                  pd.StringDtype):
        c, u = pd.factorize(data[column], use_na_sentinel=True)
        return c, np.asarray(u, dtype=object)
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


def _duration_from_dates(data: pd.DataFrame, start: str, end: str) -> np.ndarray | None:
    """Seconds between a start and an end column (SurveyMonkey, KoBo), or None if unparseable."""
    def parse(col):
        s = data[col]
        if s.dtype.kind == "M":
            return s
        try:
            return pd.to_datetime(s, errors="coerce", utc=True)
        except (ValueError, TypeError):
            return pd.to_datetime(s, errors="coerce", utc=True, format="mixed")
    a, b = parse(start), parse(end)
    if a.isna().mean() > 0.5 or b.isna().mean() > 0.5:
        return None
    secs = (b - a).dt.total_seconds().to_numpy(float)
    return secs


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
    Quality rules, applied in this order, each to the rows no earlier rule dropped (switches
    under ``quality:`` in study.yaml):

    ``previews``
        Qualtrics ``Status`` preview, test, spam or synthetic (text or numeric code, see
        ``PREVIEW_STATUS``) or ``DistributionChannel`` preview/test.
    ``incomplete``
        ``Finished`` false (FALSE/False/0/no) or ``Progress`` below 100, where present.
    ``speeders``
        Duration (``Duration (in seconds)``, or end minus start time when only those are given)
        under ``speeders`` x the median duration of the responses still kept.
    ``straightlining``
        The same answer on every answered instrument item (at least half of them and three
        answered), checked only when some items are reverse-keyed: without reversed items one
        answer everywhere can be genuine.
    ``max_missing_share``
        More than this share of the instrument's items missing. (Too few valid items for one
        construct only makes that construct's score missing; see :mod:`pipeline.measure.scores`.)
    """
    survey, quality = config.survey, config.quality
    data = raw.data
    files = data["source_file"]
    meta = getattr(raw, "columns", None)
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
    file_columns = map_items_by_file(cols, instrument, survey.columns, study_file, meta)
    masks = _file_masks(files, len(files))  # each file's rows, found once
    item_columns, item_data, direct = _item_data(data, files, instrument, file_columns, masks)
    factorize = _factorizer(raw)

    # respondent ids: text; unique within and across files
    if found["id"]:
        id_codes = (getattr(raw, "codes", None) or {}).get(found["id"])
        ids_arrow = arrow_text_ids(data[found["id"]]) if id_codes is None else None
        if ids_arrow is not None:  # mostly distinct text ids (csv, parquet): kept in arrow
            ids = pd.Series(pd.arrays.ArrowStringArray(
                ids_arrow, dtype=pd.StringDtype("pyarrow", na_value=np.nan)), index=data.index)
        else:
            ids = ids_as_text(data[found["id"]], codes=id_codes)
            ids_arrow = _arrow_text(ids)
        empty = ids.isna()
        for i in np.flatnonzero(empty.to_numpy())[:50]:
            problems.add("empty respondent id", file=files.iloc[i], row=int(data["source_row"].iloc[i]),
                         column=found["id"], fix="give every response an id, or drop survey: id: "
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
                         column=found["id"], file=files.iloc[idx[0]],
                         fix="each response needs its own id; remove duplicate rows")
        problems.raise_if_any("Respondent ids are not unique:")
    else:
        ids = files.astype(str) + ":" + data["source_row"].astype(str)
        ids_arrow = None
    item_codes = {i: codes for i, col in direct.items()
                  if (codes := _object_codes(raw, col)) is not None}
    rec = recode_items(item_data, instrument, {i: i for i in item_columns}, survey.missing,
                       files=files, meta=meta, language=language, file_columns=file_columns,
                       codes=item_codes, file_masks=masks)
    rec.recoding["column"] = [item_columns[i] for i in rec.recoding["item"]]
    raw_codes = rec.raw

    n = len(data)
    # the rule that dropped each row (index into RULES, -1 kept) and its detail, written only
    # for the rows a rule drops (texts are built for those rows alone)
    rule_of = np.full(n, -1, dtype=np.int8)
    detail = np.full(n, "", dtype=object)
    lower = {_norm(c): c for c in cols}

    def column(names):
        for nm in names:
            if _norm(nm) in lower:
                return lower[_norm(nm)]
        return None

    def mark(mask, rule, text):
        sel = mask & (rule_of < 0)
        rule_of[sel] = RULES.index(rule)
        if isinstance(text, str):
            detail[sel] = text
        elif callable(text):
            if sel.any():
                detail[sel] = text(sel)
        else:
            detail[sel] = text[sel]

    def per_value(col, test):
        """(mask of rows whose cell passes ``test`` on its normalised text, displayed cells
        of the selected rows), computed once per distinct value."""
        codes, uniques = factorize(col)
        norm = [_norm_value(u) for u in uniques] + [""]
        hit = np.array([test(v) for v in norm], dtype=bool)
        display = np.array(_display_values(uniques) + [""], dtype=object)
        return hit[codes], (lambda sel: f"{col} = " + display[codes[sel]])

    notes = list(rec.notes)
    if quality.previews:
        c = column(STATUS_NAMES)
        if c is not None:
            hit, shown = per_value(c, PREVIEW_STATUS.__contains__)
            mark(hit, "previews", shown)
        c = column(CHANNEL_NAMES)
        if c is not None:
            hit, shown = per_value(c, PREVIEW_CHANNELS.__contains__)
            mark(hit, "previews", shown)
    if quality.incomplete:
        c = column(FINISHED_NAMES)
        if c is not None:
            hit, _ = per_value(c, FALSY.__contains__)
            mark(hit, "incomplete", f"{c} = false")
        c = column(PROGRESS_NAMES)
        if c is not None:
            prog = pd.to_numeric(data[c], errors="coerce").to_numpy(float)
            mark(prog < 100, "incomplete",
                 "progress " + np.where(np.isnan(prog), "missing", _display(pd.Series(prog))))
    if quality.speeders is not False:
        c = column(DURATION_NAMES)
        dur, what = None, ""
        if c is not None:
            dur = pd.to_numeric(data[c], errors="coerce").to_numpy(float)
            what = c
        else:
            for a, b in START_END_NAMES:
                ca, cb = column((a,)), column((b,))
                if ca is not None and cb is not None:
                    dur = _duration_from_dates(data, ca, cb)
                    what = f"{cb} - {ca}"
                    if dur is not None:
                        notes.append(f"Speeders were judged on the time between '{ca}' and "
                                     f"'{cb}' (the export has no duration column).")
                    break
        if dur is not None:
            base = dur[(rule_of < 0) & ~np.isnan(dur)]
            if base.size:
                med = float(np.median(base))
                cut = quality.speeders * med
                mark(dur < cut, "speeders",
                     f"{what} under {quality.speeders:g} x median ({cut:.0f} s of {med:.0f} s)")
    n_items = raw_codes.shape[1]
    answered = (~np.isnan(raw_codes)).sum(1)
    if quality.straightlining and instrument.has_reverse_items and n_items >= 3:
        lo = np.fmin.reduce(raw_codes, axis=1)  # fmin/fmax skip NaN (all-NaN rows: NaN)
        hi = np.fmax.reduce(raw_codes, axis=1)
        same = (lo == hi) & (answered >= max(3, int(np.ceil(n_items / 2))))
        mark(same, "straightlining", lambda sel: "same answer on all "
             + pd.Series(answered[sel]).astype(str).to_numpy(dtype=object) + " answered items")
    elif quality.straightlining and not instrument.has_reverse_items:
        notes.append("Straight-lining was not checked: the instrument has no reverse-keyed items, "
                     "so one answer on every item can be a genuine response.")
    if quality.max_missing_share is not False:
        share = 1 - answered / max(n_items, 1)
        mark(share > quality.max_missing_share, "max_missing_share", lambda sel: "missing "
             + pd.Series(np.round(share[sel] * 100)).astype(int).astype(str).to_numpy(dtype=object)
             + "% of items")

    keep = rule_of < 0
    rule_names = np.array(RULES + (None,), dtype=object)
    exclusions = pd.DataFrame({
        "respondent_id": ids[~keep].to_numpy(dtype=object), "source_file": files[~keep].to_numpy(),
        "source_row": data["source_row"].to_numpy()[~keep], "rule": rule_names[rule_of[~keep]],
        "detail": detail[~keep]})
    by_file = _by_file(raw, files, file_columns, instrument, rec, rule_of, keep, masks)
    recoding = rec.recoding
    # kept rows, reverse-keyed, column-major: pandas stores them without a copy; then the
    # n x p work matrices are let go before the other columns are built (peak memory)
    items_frame = pd.DataFrame(rec.coded_rows(keep, in_place=True), columns=list(item_columns),
                               copy=False)
    del rec, raw_codes

    item_cols = {c for fm in file_columns.values() for c in fm.values()}
    other = [c for c in cols if c not in item_cols and c not in (found["id"],)]
    if ids_arrow is not None and ids_arrow.null_count == 0:  # text ids: already in arrow
        import pyarrow as pa

        responses = pd.DataFrame({"respondent_id": pd.arrays.ArrowStringArray(
            ids_arrow.filter(pa.array(keep)), dtype=pd.StringDtype("pyarrow", na_value=np.nan))})
    else:
        responses = pd.DataFrame({"respondent_id": ids.to_numpy(dtype=object)[keep]})
    for key in ("unit", "group"):
        if found[key]:
            codes = _object_codes(raw, found[key])
            if codes is not None:  # text ids: each distinct id converted once
                mapped = ids_as_text(pd.Series(codes[1], dtype=object)).to_numpy(dtype=object)
                responses[found[key]] = _text_column(codes[0][keep], mapped,
                                                     responses.index)
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
        if c not in (getattr(raw, "codes", None) or {}) and is_arrow_text(data[c]):
            # mostly distinct text (free text, other ids): the kept cells, in arrow
            extra[c] = pd.Series(data[c].array[keep], index=responses.index)
            continue
        codes = _object_codes(raw, c)
        if codes is not None and pd.api.types.infer_dtype(codes[1], skipna=True) == "string":
            extra[c] = _text_column(codes[0][keep], codes[1], responses.index)
        else:
            extra[c] = _typed(data[c].to_numpy()[keep])
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
    warnings = list(notes)
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
    counts = {r: int((rule_of == k).sum()) for k, r in enumerate(RULES)}
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


def _by_file(raw, files, file_columns, instrument, rec: Recoded, rule_of, keep,
             masks=None) -> list[dict]:
    """Per export file: layout, rows, items matched, codes recoded, missing by reason, drops."""
    layouts = {Path(f.path).name: f.layout for f in getattr(raw, "files", ())}
    out = []
    items = list(instrument.item_ids)
    masks = _file_masks(files, len(files)) if masks is None else masks
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
            "excluded": {r: int(((rule_of == k) & mask).sum()) for k, r in enumerate(RULES)},
            "kept": int((keep & mask).sum()),
        })
    return out


def _item_data(data: pd.DataFrame, files: pd.Series, instrument: Instrument, file_columns: dict,
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
        masks = _file_masks(files, len(files))
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
