"""Text forms shared by the cleaning steps: normalised keys for matching, cells as a user reads them."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd


def norm(s: Any) -> str:
    """Text compared case-insensitively with white space collapsed."""
    return re.sub(r"\s+", " ", str(s).strip().casefold())


def loose_key(s: Any) -> str:
    """Looser key: letters and digits only ('Don't know' ~ 'dont_know' ~ 'DON'T KNOW')."""
    return "".join(ch for ch in str(s).casefold() if ch.isalnum())


def cell_text(v: Any) -> str:
    """A cell as comparable text: numbers without '.0', text normalised, blanks ''."""
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return ""
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if isinstance(v, (int, float, np.integer, np.floating)):
        f = float(v)
        return str(int(f)) if f.is_integer() else repr(f)
    return norm(v)


def is_number(v) -> bool:
    """Whether a missing code (or cell) is a number: 99, -99.0, '-99' (not True)."""
    if isinstance(v, bool):
        return False
    if isinstance(v, (int, float)):
        return True
    try:
        float(str(v))
        return True
    except ValueError:
        return False


def fmt(x: float) -> str:
    """A code as a user writes it: 3 not 3.0, 2.5 as 2.5."""
    x = float(x)
    return str(int(x)) if x.is_integer() else f"{x:g}"


def display_values(uniques) -> list[str]:
    """Distinct cells as a user reads them (1 not 1.0)."""
    return [(fmt(u) if isinstance(u, (int, float, np.integer, np.floating))
             and not isinstance(u, (bool, np.bool_)) else str(u)) for u in uniques]


def display(s: pd.Series) -> np.ndarray:
    """Cells as a user reads them (1 not 1.0, blank ''), vectorised over the distinct values."""
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    return np.array(display_values(uniques) + [""], dtype=object)[codes]
