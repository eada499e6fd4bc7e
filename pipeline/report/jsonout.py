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


def write_schema(folder: Path) -> Path:
    """Copy results.schema.json (the schema results.json names in ``$schema``) into
    ``folder``."""
    from pipeline.report.schema import SCHEMA_NAME, SCHEMA_PATH  # noqa: PLC0415

    target = Path(folder) / SCHEMA_NAME
    target.write_bytes(SCHEMA_PATH.read_bytes())
    return target
