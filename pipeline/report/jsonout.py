"""results.json: every number of the report, machine-readable and deterministic.

Floats are written with Python's shortest round-trip repr; NaN and infinities become null; numpy
scalars and arrays become plain numbers and lists. Two runs with the same inputs and seed give
the same file apart from ``run`` (date and stage times).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np


def plain(obj):
    """A JSON-ready copy of ``obj`` (numpy -> Python, NaN/inf -> None, tuples -> lists)."""
    if isinstance(obj, dict):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [plain(v) for v in obj.tolist()]
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        return f if math.isfinite(f) else None
    if isinstance(obj, Path):
        return obj.as_posix()
    return obj


def write_results(results: dict, path: Path) -> None:
    text = json.dumps(plain(results), indent=2, ensure_ascii=False, allow_nan=False)
    Path(path).write_text(text + "\n", encoding="utf-8")
