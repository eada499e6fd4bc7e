"""SPSS ``.sav``/``.zsav``/``.por`` and Stata ``.dta`` files, read with pyreadstat (ReadStat, C).

User-defined missing values are read as the codes they are (``user_missing=True``), not turned
into blanks, so that :mod:`pipeline.clean` can count every missing answer by its reason
("Refused (-99)", "Don't know (.a)"). Per column the reader keeps:

* ``question``: the variable label (the question text);
* ``value_labels``: code -> label, so answers coded differently from the instrument can be
  recoded through their labels, and missing codes named;
* ``missing_codes``: SPSS discrete missing values and ranges (``[(lo, hi), ...]``) or Stata
  extended missing values (``.a`` .. ``.z``, kept as the letters ``'a'`` .. ``'z'``).

Rows are numbered by case (the first case is row 1), as SPSS' and Stata's data editors show them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.errors import StudyError
from pipeline.ingest.tables import typed_column


def read_stats_file(path: Path, what: str = "survey export"):
    """Read a .sav/.zsav/.por/.dta file.

    Returns
    -------
    frame, meta, layout, encoding
        ``frame`` typed like the text readers' output; ``meta`` one dict per column with
        ``question``, ``value_labels`` and ``missing_codes``; ``layout`` 'spss' or 'stata'.

    Raises
    ------
    StudyError
        The file cannot be read (corrupt, or another format with this suffix).
    """
    import pyreadstat

    path = Path(path)
    stata = path.suffix.lower() == ".dta"
    portable = path.suffix.lower() == ".por"
    try:
        if stata:
            df, meta = pyreadstat.read_dta(str(path), user_missing=True)
        elif portable:
            # SPSS portable files (old SPSS, PSPP, some agencies' archives): ReadStat reads
            # their values, labels and value labels; user-missing values arrive as blanks
            df, meta = pyreadstat.read_por(str(path))
        else:
            df, meta = pyreadstat.read_sav(str(path), user_missing=True)
    except Exception as exc:  # pyreadstat raises ReadstatError and others
        kind = "Stata .dta" if stata else "SPSS .por" if portable else "SPSS .sav"
        raise StudyError(f"the {what} cannot be read as a {kind} file ({exc})", file=path,
                         fix=f"export it again from {'Stata' if stata else 'SPSS'}, or as .csv/.xlsx") from None
    labels = meta.column_names_to_labels or {}
    value_labels = meta.variable_value_labels or {}
    ranges = getattr(meta, "missing_ranges", None) or {}
    user_values = getattr(meta, "missing_user_values", None) or {}
    columns = {}
    info = []
    for col in df.columns:
        s = df[col]
        miss: list = []
        if col in ranges:
            for r in ranges[col]:
                try:
                    miss.append((float(r["lo"]), float(r["hi"])))
                except (TypeError, ValueError):  # string variable: discrete text codes
                    miss.extend(str(v) for v in {r["lo"], r["hi"]})
        elif col in user_values:
            miss = [str(v) for v in user_values[col]]
        columns[col] = typed_column(s)
        info.append({"question": labels.get(col) or None,
                     "value_labels": {_key(k): str(v) for k, v in value_labels.get(col, {}).items()} or None,
                     "missing_codes": miss or None})
    frame = pd.DataFrame(columns, index=pd.RangeIndex(len(df)))
    return frame, info, "stata" if stata else "spss", getattr(meta, "file_encoding", None)


def _key(k):
    if isinstance(k, (int, float, np.integer, np.floating)) and not isinstance(k, bool):
        return float(k)
    return str(k)
