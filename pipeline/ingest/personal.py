"""Columns that identify people: dropped at ingest, only their names are reported.

Survey exports carry e-mail addresses, names, IP addresses, phone numbers, GPS coordinates and
panel "recipient" fields. socap never needs them, so they are removed as soon as a file is read;
nothing identifying reaches ``data/processed/`` or ``reports/``.
"""

from __future__ import annotations

import re

# whole-name patterns (case-insensitive, spaces/underscores/dashes ignored)
_PATTERNS = [
    r"e?mail(address)?", r".*email.*", r"recipient.*", r"(first|last|full|given|family|sur)name",
    r"name", r"respondentname", r"contactname", r"ip(address)?", r".*ipaddress.*",
    r"(phone|telephone|tel|mobile|cell)(number|no)?", r".*phone.*",
    r"(location)?(latitude|longitude)", r"lat", r"lon", r"lng", r"gps.*", r".*geolocation.*",
    r"(street|postal|home)?address", r"externalreference", r"externaldatareference",
    r"_geolocation", r"deviceid", r"imei", r"subscriberid", r"simserial", r"phonenumber",
]
_COMPILED = [re.compile(f"^{p}$") for p in _PATTERNS]


def _norm(name: str) -> str:
    return re.sub(r"[\s_\-./:()]+", "", str(name).lower())


def is_identifying(name: str) -> bool:
    """Whether a column name denotes personal identifying data."""
    n = _norm(name)
    return any(p.match(n) for p in _COMPILED)


def identifying_columns(names) -> list[str]:
    return [c for c in names if is_identifying(c)]
