"""Ids as text: 12, 12.0 and ' 12 ' are all '12', '0012' stays '0012' -- one rule for every id.

Respondent, unit and group ids, the unit table's ids and the tie list's node ids are compared as
text, so that a unit table that stores 12 as a number and a tie list that writes "12" agree.

:func:`id_text`          the rule, for one id (missing or blank -> None)
:func:`ids_as_text`      the rule over a column, vectorised (missing -> None)
:func:`node_ids`         the same for tie lists: missing -> "", arrow-backed text stays in arrow
:func:`arrow_text_ids`   the same for an arrow-backed text column, in arrow (pyarrow array out)
:func:`all_distinct`     whether the ids of a pyarrow string array are all distinct
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def id_text(value: Any) -> str | None:
    """The text form of one id: strings stripped, whole numbers without ``.0``, missing or
    blank -> None.

    >>> id_text(" 0012 "), id_text(12), id_text(12.0), id_text(12.5), id_text(None), id_text(" ")
    ('0012', '12', '12', '12.5', None, None)
    """
    if value is None or value is pd.NA:
        return None
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if np.isnan(v):
            return None
        return str(int(v)) if v.is_integer() and abs(v) < 2**53 else repr(v)
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return str(value).strip() or None


def ids_as_text(values: Any, codes: tuple | None = None) -> pd.Series:
    """:func:`id_text` of every cell, vectorised: 12 and 12.0 -> '12', ' F01 ' -> 'F01', empty
    -> None (object Series).

    ``values``: a Series, Index, array or list. ``codes``: the column's ``(codes, uniques)``
    when known (a reader's Categorical), so that only the distinct values are looked at."""
    s = (values if isinstance(values, pd.Series)
         else pd.Series(values if isinstance(values, (pd.Index, np.ndarray)) else list(values),
                        dtype=None if isinstance(values, (pd.Index, np.ndarray)) else object))
    if codes is None and isinstance(s.dtype, pd.CategoricalDtype):
        codes = (np.asarray(s.cat.codes), np.asarray(s.cat.categories, dtype=object))
    if codes is None and s.dtype.kind in "iu" and not s.hasnans:
        return pd.Series(s.astype("int64").astype(str).to_numpy(dtype=object), index=s.index,
                         dtype=object)
    if codes is None and s.dtype.kind == "f":
        x = s.to_numpy(float)
        whole = np.isfinite(x) & (x == np.round(x)) & (np.abs(x) < 2**53)
        out = np.where(whole, pd.Series(np.where(whole, x, 0).astype(np.int64)).astype(str),
                       s.astype(str).to_numpy(object)).astype(object)
        out[np.isnan(x)] = None
        return pd.Series(out, index=s.index, dtype=object)
    if codes is None and (s.dtype == object or isinstance(s.dtype, pd.StringDtype)):
        values = s.to_numpy(dtype=object, na_value=None) if s.dtype != object else s.to_numpy()
        if pd.api.types.infer_dtype(values, skipna=True) == "string":
            # all text (ids read from csv): trimmed in arrow, no factorization of 10^6 ids
            return pd.Series(_text_ids(values), index=s.index, dtype=object)
    codes, uniques = codes if codes is not None else pd.factorize(s.astype(object),
                                                                  use_na_sentinel=True)
    uniques = np.asarray(uniques, dtype=object)
    if pd.api.types.infer_dtype(uniques, skipna=True) == "string":
        mapped = list(_text_ids(uniques)) + [None]
    else:
        mapped = [id_text(v) for v in uniques] + [None]
    return pd.Series(np.array(mapped, dtype=object)[codes], index=s.index, dtype=object)


def node_ids(values: Any) -> pd.Series:
    """:func:`ids_as_text` for tie lists and node sets: missing -> ``""``; an arrow-backed text
    column stays arrow-backed (millions of tie ends never become Python strings)."""
    s = values if isinstance(values, pd.Series) else None
    if s is not None and is_arrow_text(s):
        arr = arrow_text_ids(s)
        import pyarrow.compute as pc  # noqa: PLC0415

        return pd.Series(pd.arrays.ArrowStringArray(
            pc.fill_null(arr, ""), dtype=pd.StringDtype("pyarrow", na_value=np.nan)),
            index=s.index)
    out = ids_as_text(values)
    if s is None:
        out = out.reset_index(drop=True)
    return out.where(out.notna(), "") if out.hasnans else out


_SPACE_CHARS = "".join(chr(c) for c in range(0x3001) if chr(c).isspace())  # what str.strip() strips
_SPACE_CLASS = "[" + "".join(f"\\x{{{ord(c):x}}}" for c in _SPACE_CHARS) + "]"
_EDGE_SPACE = f"^{_SPACE_CLASS}|{_SPACE_CLASS}$"


def is_arrow_text(values: pd.Series) -> bool:
    """Whether a column is pandas' arrow-backed text (the "str" dtype of pandas 3)."""
    return isinstance(values.dtype, pd.StringDtype) and values.dtype.storage == "pyarrow"


def arrow_text_ids(values: pd.Series):
    """:func:`ids_as_text` of an arrow-backed text column (a csv reader's column of mostly
    distinct values, a parquet export's text) done in arrow: a ``large_string`` pyarrow Array,
    cells stripped as ``str.strip()`` strips them, empty -> null; None for any other column (the
    caller uses :func:`ids_as_text`). No Python string per cell: ~0.05 s instead of ~0.5 s for
    10^6 ids through Python objects and back."""
    if not is_arrow_text(values):
        return None
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = pa.array(values.array)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)
    arr = pc.utf8_trim(arr, characters=_SPACE_CHARS)
    arr = pc.if_else(pc.equal(arr, ""), pa.scalar(None, arr.type), arr)
    return arr.cast(pa.large_string())


def all_distinct(arr) -> bool:
    """Whether the non-null cells of a pyarrow string array are all distinct.

    Ids of one length (Qualtrics' ``R_`` + 15 characters, KoBo's uuids, numbered codes) are
    compared as fixed-width bytes: hashed to one 64-bit word per id, sorted, neighbours compared
    (~0.08 s at 10^6 ids). Distinct words prove distinct ids; equal words (a duplicate, or by
    chance two ids with one hash) are settled by arrow's exact hash table (~0.35 s at 10^6, as
    is ``pandas.unique``), which also takes ids of mixed lengths."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if arr.null_count:
        arr = pc.drop_null(arr)
    n = len(arr)
    if n < 2:
        return True
    if pa.types.is_large_string(arr.type) or pa.types.is_string(arr.type):
        ends = pc.min_max(pc.binary_length(arr))
        width = ends["min"].as_py()
        if width == ends["max"].as_py() and 0 < width <= 64:
            off_type = np.int64 if pa.types.is_large_string(arr.type) else np.int32
            offsets = np.frombuffer(arr.buffers()[1], dtype=off_type, count=n + 1,
                                    offset=arr.offset * np.dtype(off_type).itemsize)
            cells = np.frombuffer(arr.buffers()[2], dtype=np.uint8, count=n * width,
                                  offset=int(offsets[0])).reshape(n, width)
            words = -(-width // 8)
            padded = np.zeros((n, words * 8), np.uint8)
            padded[:, :width] = cells
            packed = padded.view(np.uint64)
            if words == 1:  # the id itself: exact
                h = np.sort(packed[:, 0])
                return not bool(np.any(h[1:] == h[:-1]))
            h = np.zeros(n, np.uint64)
            for k in range(words):  # FNV-style mixing of the words, then a final avalanche
                h ^= packed[:, k]
                h *= np.uint64(0x100000001B3)
                h ^= h >> np.uint64(29)
            h.sort()
            if not np.any(h[1:] == h[:-1]):
                return True
    return len(pc.unique(arr)) == n


def _text_ids(values: np.ndarray) -> np.ndarray:
    """Text cells (None/NaN missing) stripped, empty -> None; the same objects where a cell
    needs no change."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = pa.array(values, type=pa.string(), from_pandas=True)
    # cells str.strip() would change: empty, or starting or ending with a character Python
    # counts as white space (the regex's class lists exactly those)
    changed = pc.or_kleene(pc.equal(pc.binary_length(arr), 0),
                           pc.match_substring_regex(arr, _EDGE_SPACE))
    out = np.asarray(values, dtype=object).copy()
    if arr.null_count:
        out[np.asarray(pc.is_null(arr).to_numpy(zero_copy_only=False), bool)] = None
    if pc.any(changed).as_py():
        fix = np.flatnonzero(np.asarray(pc.fill_null(changed, False).to_numpy(
            zero_copy_only=False), bool))
        out[fix] = [v.strip() or None for v in out[fix]]
    return out
