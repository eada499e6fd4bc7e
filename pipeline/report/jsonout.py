"""results.json: every number of the report, machine-readable and deterministic.

Floats are written with Python's shortest round-trip repr; NaN and infinities become null; numpy
scalars and arrays become plain numbers and lists. Two runs with the same inputs and seed give
the same file apart from ``run`` (date and stage times).
"""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.jsonvalues import plain


def write_results(results: dict, path: Path) -> None:
    text = json.dumps(plain(results), indent=2, ensure_ascii=False, allow_nan=False)
    Path(path).write_text(text + "\n", encoding="utf-8")
