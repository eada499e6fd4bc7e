"""Plain Python values for results.json: the one conversion every stage's ``to_dict()`` uses.

numpy scalars become ``float``/``int``/``bool``, arrays and tuples become lists, dict keys become
strings, paths become text with forward slashes, and NaN or infinite numbers become ``None`` (JSON has no NaN; results.json writes
``null`` where a statistic is undefined).
"""

from __future__ import annotations

import math
from pathlib import PurePath
from typing import Any

import numpy as np


def plain(value: Any) -> Any:
    """``value`` as plain, JSON-able Python, recursively (see the module docstring)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return [plain(v) for v in value.tolist()]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return v if math.isfinite(v) else None
    if isinstance(value, PurePath):
        return value.as_posix()
    return value


def number(x: Any) -> float | None:
    """One number as a plain float; None, NaN and infinities as None."""
    if x is None:
        return None
    v = float(x)
    return v if math.isfinite(v) else None
