"""Answers -> codes: labels to codes, missing codes by reason, reverse keying.

:func:`recode_items` turns every item cell into a code (text answers through the instrument's
labels or XLSForm choice names, SPSS/Stata codes through their value labels), a missing value
with its reason (blank, a missing code, an SPSS/Stata user-missing code), or a problem (an
unknown label, a code outside the scale) -- all problems reported at once, with file, row and
column. Reverse keying (``min + max - x``) is applied when the kept rows are taken
(:meth:`Recoded.coded_rows`). Everything works over the distinct values of a column, so 10^6
responses cost a few hash passes, not a Python loop per cell.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.config.instrument import Instrument, scale_labels
from pipeline.errors import ProblemList
from pipeline.clean.mapping import file_rows
from pipeline.clean.text import fmt, is_number, loose_key, norm


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
    n = len(data)
    p = len(item_columns)
    study_codes, per_item = split_missing(extra_missing)
    missing_sets: dict[tuple, tuple] = {}

    def item_missing(item_id: str):
        """(codes, numeric codes, text codes) meaning missing for one item: the instrument's,
        the study's, the item's construct's and its own (instrument and study.yaml)."""
        it = instrument.item(item_id)
        codes_ = tuple(list(instrument.missing) + study_codes + list(it.missing)
                       + per_item.get(it.construct, []) + per_item.get(item_id, []))
        if codes_ not in missing_sets:
            num = sorted({float(m) for m in codes_ if is_number(m)})
            txt: dict[str, str] = {}
            for m in codes_:
                if not is_number(m):
                    txt.setdefault(norm(m), str(m))
                    txt.setdefault(loose_key(m), str(m))
            missing_sets[codes_] = (list(dict.fromkeys(codes_)), num, txt)
        return missing_sets[codes_]
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
    file_mask = file_rows(files, n) if file_masks is None else file_masks

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
        missing_codes, miss_num, miss_txt = item_missing(item_id)
        labels = scale_labels(sc, language)
        lookup: dict[str, float] = {}
        for code, text in labels.items():
            lookup.setdefault(norm(text), float(code))
        for code, text in labels.items():
            lookup.setdefault(loose_key(text), float(code))
        for code, name in sc.names.items():
            lookup.setdefault(norm(name), float(code))
            lookup.setdefault(loose_key(name), float(code))
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
                def bad_text(i, s=s, item_id=item_id, col=col, labels=labels, sc=sc,
                             missing_codes=missing_codes):
                    problems.add(f"answer '{s.iloc[i]}' matches no label of item '{item_id}'",
                                 fix=label_fix(labels, sc, missing_codes, item_id, s.iloc[i],
                                               study_codes),
                                 **where(i, item_id, col))

                def outside_scale(i, v, item_id=item_id, col=col, sc=sc):
                    problems.add(outside_message(v, item_id, sc),
                                 fix=outside_fix(v, item_id, study_codes),
                                 **where(i, item_id, col))

                records.append(recode_by_value(
                    ucodes, uniq, uval, out_col, cell_reason[:, j], from_text_m[:, j],
                    reason=reason, miss_num=miss_num, miss_txt=miss_txt, lookup=lookup,
                    scale=sc, item_id=item_id, reverse=item.reverse, col=col,
                    bad_text=bad_text, outside_scale=outside_scale, labels=labels))
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
                        name = f"{lab} ({fmt(code)})" if lab else fmt(code)
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
                    target = lookup.get(norm(lab), lookup.get(loose_key(lab)))
                    if target is None:
                        if norm(lab) in miss_txt or loose_key(lab) in miss_txt:
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
                                         f"{fmt(c)} -> {fmt(t)}" for c, t in changed.items())
                                     + ").")
                elif remap and unmatched:
                    notes.append(f"{fname}: value labels of column '{col}' only partly match the "
                                 f"instrument's labels ({', '.join(map(repr, unmatched[:5]))} do "
                                 "not); its codes were used as they are.")
        # numeric missing codes of the instrument and study
        for code in miss_num:
            sel = ~handled & (num == code)
            if sel.any():
                cr[sel] = reason(fmt(code))
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
                nu, ku = norm(u), loose_key(u)
                if nu == "":
                    kind_u[k], val_u[k] = "missing", "blank"
                elif nu in miss_txt or (ku and ku in miss_txt):
                    kind_u[k], val_u[k] = "missing", miss_txt.get(nu, miss_txt.get(ku))
                elif nu in lookup or (ku and ku in lookup):
                    kind_u[k], val_u[k] = "code", lookup.get(nu, lookup.get(ku))
                elif (c := labelled_code(u, labels, sc)) is not None:
                    kind_u[k], val_u[k] = "code", c
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
                    fix=label_fix(labels, sc, missing_codes, item_id, s.iloc[i], study_codes),
                    **where(i, item_id, col))
        labelled = any((isinstance(m.get("value_labels"), dict) and m.get("value_labels"))
                       or (isinstance(m.get("missing_codes"), list) and m.get("missing_codes"))
                       for _, m in col_meta)
        if ucodes is not None and not labelled:
            # the column's codes are its distinct numbers (missing ones made NaN) or label codes
            # of text rows: tested per distinct value and on those rows -- the same cells
            bad = off_scale(uval, sc)[ucodes] & ~np.isnan(num)
            bad[text_rows] = off_scale(num[text_rows], sc)
        else:
            bad = off_scale(num, sc)
        for i in np.flatnonzero(bad):
            problems.add(outside_message(num[i], item_id, sc),
                         fix=outside_fix(num[i], item_id, study_codes),
                         **where(i, item_id, col))
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


def off_scale(v: np.ndarray, sc) -> np.ndarray:
    """Codes outside the scale's range or, on a scale of whole codes, not whole (NaN: not
    outside). A continuous scale (``type: continuous``) takes any value from min to max."""
    outside = (v < sc.min) | (v > sc.max)
    if not getattr(sc, "continuous", False):
        outside |= np.abs(v - np.round(v)) > 1e-9
    return ~np.isnan(v) & outside


def split_missing(extra) -> tuple[list, dict[str, list]]:
    """study.yaml's ``survey: missing:``: a list (codes missing for every item) or a mapping
    ``{item or construct: [codes]}`` whose key ``"*"`` holds the study-wide codes."""
    if isinstance(extra, dict):
        per = {str(k): list(v) if isinstance(v, (list, tuple)) else [v] for k, v in extra.items()}
        return per.pop("*", []), per
    return list(extra or ()), {}


def _yaml_value(v) -> str:
    if is_number(v):
        return fmt(float(v))
    text = str(v).replace('"', '\\"')
    return f'"{text}"'


def item_missing_form(item_id: str, value, study_codes) -> str:
    """study.yaml's item-level missing codes naming one item (the study-wide ones kept)."""
    wide = (f'"*": [{", ".join(_yaml_value(c) for c in study_codes)}], '
            if study_codes else "")
    return f"survey: missing: {{{wide}{item_id}: [{_yaml_value(value)}]}}"


def outside_message(v, item_id: str, sc) -> str:
    kind = "continuous scale" if getattr(sc, "continuous", False) else "scale"
    whole = "" if getattr(sc, "continuous", False) or float(v).is_integer() or not (
        sc.min <= v <= sc.max) else " (not a whole code; declare type: continuous for sliders)"
    return (f"code {fmt(v)} of item '{item_id}' lies outside its {kind} "
            f"{fmt(sc.min)}..{fmt(sc.max)}{whole}")


def outside_fix(v, item_id: str, study_codes) -> str:
    """Advice for an out-of-range code: the item-level missing code (a study-wide one would
    also blank that code where it is a valid answer of another item)."""
    return (f"correct the value, or declare it a missing code of this item only: study.yaml "
            f"{item_missing_form(item_id, v, study_codes)} (or missing: [{fmt(v)}] under the "
            "item in the instrument)")


def label_fix(labels, sc, missing_codes, item_id: str | None = None, text=None,
              study_codes=()) -> str:
    valid_txt = "; ".join(f"{fmt(k)} = {v}" for k, v in labels.items())
    form = (item_missing_form(item_id, text, study_codes) if item_id is not None
            else "survey: missing: [...]")
    return (f"valid answers: {valid_txt or 'codes ' + fmt(sc.min) + '..' + fmt(sc.max)}"
            + (f"; missing codes: {', '.join(map(str, missing_codes))}" if missing_codes else "")
            + f" -- or, if it means missing, declare it in study.yaml: {form}")


_CODE_LABEL = re.compile(r"^\s*([+-]?\d+(?:\.\d+)?)\s*(?:[=:.)\-\u2013\u2014]\s*)?(\S.*?)\s*$", re.S)
_LABEL_CODE = re.compile(r"^\s*(\S.*?)\s*\(\s*([+-]?\d+(?:\.\d+)?)\s*\)\s*$", re.S)


def labelled_code(text: str, labels, sc) -> float | None:
    """The code of an answer written as a code and its label -- Qualtrics writes labelled
    scale points as ``"7\\n strongly agree\\n"`` (and middle points as bare digits); ``1 =
    Strongly disagree``, ``Strongly agree (5)`` -- when the label is the instrument's label of
    that code (compared as labels are), else None (the answer is not trusted)."""
    m = _CODE_LABEL.match(text)
    if m:
        code, rest = float(m.group(1)), m.group(2)
    else:
        m = _LABEL_CODE.match(text)
        if not m:
            return None
        rest, code = m.group(1), float(m.group(2))
    label = labels.get(code)
    if label is None or not sc.min <= code <= sc.max:
        return None
    if norm(label) == norm(rest) or (loose_key(label) and loose_key(label) == loose_key(rest)):
        return code
    return None


def recode_by_value(ucodes, uniq, uval, out_col, cr, from_text, *, reason, miss_num, miss_txt,
                     lookup, scale, item_id, reverse, col, bad_text, outside_scale,
                     labels=None) -> dict:
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
            reason_u[sel] = reason(fmt(code))
            handled |= sel
            num_u[sel] = np.nan
    text_u = present & ~handled & np.isnan(num_u)
    from_text_u = np.zeros(k_all + 1, bool)
    bad_u = np.zeros(k_all + 1, bool)
    if text_u.any():
        missing_reason = {}
        for k in np.flatnonzero(text_u):
            u = str(uniq[k])
            nu, ku = norm(u), loose_key(u)
            if nu == "":
                missing_reason[k] = "blank"
            elif nu in miss_txt or (ku and ku in miss_txt):
                missing_reason[k] = miss_txt.get(nu, miss_txt.get(ku))
            elif nu in lookup or (ku and ku in lookup):
                num_u[k] = float(lookup.get(nu, lookup.get(ku)))
                from_text_u[k] = True
            elif labels and (c := labelled_code(u, labels, scale)) is not None:
                num_u[k] = c
                from_text_u[k] = True
            else:
                bad_u[k] = True
        # reasons in order of first appearance (the distinct values are in that order)
        for k, r in missing_reason.items():
            reason_u[k] = reason(r)

    outside_u = np.where(from_text_u, off_scale(num_u, scale),
                         off_scale(uval, scale) & ~np.isnan(num_u))
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
