"""The JSON Schema of results.json (``results.schema.json``, shipped with the package) and the
version stamp every results.json carries.

``schema_version`` follows semantic versioning: a renamed or removed key is a major step, a new
key a minor one. results.json names the schema with ``"$schema": "results.schema.json"``, a
copy of which socap writes beside it in reports/, so that a validator finds it offline::

    python -m jsonschema -i reports/results.json reports/results.schema.json   # or check-jsonschema

The schema is JSON Schema draft 2020-12. It requires the keys of the public contract and
describes the agreed keys of every stage, allowing more; it also rejects the spellings that
socap no longer writes (``pvalue`` outside fit-measure blocks, ``chi2`` outside
``efa.bartlett``, ``z``/``t`` for a model's test statistic), see the README's migration notes.
"""

from __future__ import annotations

from pathlib import Path

SCHEMA_VERSION = "2.1.0"  # 2.1.0: new keys only (CFA estimators, local fit, invariance model, CR2/wild bootstrap/effect sizes, score_correction, ddf); 2.0.0: socap 0.2.0 (renamed keys, see README); 1.x: unversioned
SCHEMA_PATH = Path(__file__).with_name("results.schema.json")
SCHEMA_NAME = "results.schema.json"


def stamp(results: dict) -> dict:
    """``results`` with ``$schema`` and ``schema_version`` as its first keys."""
    rest = {k: v for k, v in results.items() if k not in ("$schema", "schema_version")}
    return {"$schema": SCHEMA_NAME, "schema_version": SCHEMA_VERSION, **rest}


def schema() -> dict:
    """The schema as a dictionary."""
    import json  # noqa: PLC0415

    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
