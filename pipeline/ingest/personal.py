"""Columns that identify people: dropped at ingest, only their names are reported.

Survey exports carry e-mail addresses, names, IP addresses, phone numbers, GPS coordinates and
panel "recipient" fields. socap never needs them, so they are removed as soon as a file is read;
nothing identifying reaches ``data/processed/`` or ``reports/``.

What is dropped (names compared case-insensitively, ignoring spaces, ``_ - . / : ( )``):

* Qualtrics: ``IPAddress``, ``RecipientLastName``, ``RecipientFirstName``, ``RecipientEmail``,
  ``ExternalReference`` (legacy ``ExternalDataReference``, ``Name``, ``EmailAddress``),
  ``LocationLatitude``, ``LocationLongitude``;
* SurveyMonkey: ``IP Address``, ``Email Address``, ``First Name``, ``Last Name``,
  ``Custom Data 1`` (and 2, 3 ...: panel fields that usually hold names or e-mails);
* KoBoToolbox/ODK: ``_geolocation``, ``*_latitude``, ``*_longitude``, ``*_altitude``,
  ``*_precision`` (geopoint parts), ``_submitted_by``, ``deviceid``, ``phonenumber``,
  ``username``, ``simserial``, ``subscriberid``, ``imei``; ODK Central ``SubmitterName``,
  ``DeviceID``;
* generic: e-mail, (first/last/full/...) name, phone/mobile number, street/postal address, GPS;
* any text column most of whose filled cells are e-mail addresses, whatever its name.

Decisions on look-alikes (documented for reviewers): ``firm_name``, ``company_name``,
``region``, ``location``, ``cluster`` are kept -- they name firms and places the analysis
aggregates to, not people; ``Status`` (whose Qualtrics value is "IP Address") is kept. Columns
that are instrument items or that study.yaml names (``survey.unit``, ``group``, ``weight``,
``columns`` keys) are never dropped; a ``survey.id`` that looks like personal data is an error
(:func:`check_respondent_id`), because ids are written to ``data/processed/``.
"""

from __future__ import annotations

import re

import pandas as pd

from pipeline.errors import StudyError

_PATTERNS = [
    # e-mail
    r".*e?mail(address)?", r".*email.*",
    # people's names
    r"recipient.*", r"(first|last|full|given|family|sur|middle|maiden|nick)name",
    r"name", r"(respondent|contact|person|participant|your|interviewee|submitter)(full)?name",
    r"names?(first|last)",
    # network and device ids
    r"ip", r"ip(address|addr)", r".*ipaddress.*", r"deviceid", r"imei", r"subscriberid",
    r"simserial", r"macaddress", r"submittedby", r"username", r"submittername",
    # phone
    r"(phone|telephone|tel|mobile|cell|cellphone|mobilephone|contactphone)(number|no|nr|num)?",
    r".*phonenumber.*", r"phone.*",
    # location
    r"(location)?(latitude|longitude)", r".*(latitude|longitude|altitude)", r"lat", r"lon", r"lng",
    r"long", r"gps.*", r".*geolocation.*", r"geopoint", r"coordinates?", r".*precision",
    r"(street|postal|home|mailing|residential|private)address", r"address(line)?\d*",
    r"postcode", r"zipcode", r"zip",
    # panel references
    r"externalreference", r"externaldatareference", r"externalref", r"customdata\d*",
]
_COMPILED = re.compile("^(?:" + "|".join(_PATTERNS) + ")$")
_EMAIL = r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$"


def _norm(name: str) -> str:
    return re.sub(r"[\s_\-./:()]+", "", str(name).lower())


def is_identifying(name: str) -> bool:
    """Whether a column name denotes personal identifying data."""
    return bool(_COMPILED.match(_norm(name)))


def looks_like_emails(values: pd.Series, share: float = 0.5) -> bool:
    """Whether most filled cells of a column are e-mail addresses."""
    if values.dtype.kind in "biufcmM":
        return False
    if isinstance(values.dtype, pd.CategoricalDtype):  # a column of few distinct values
        values = pd.Series(values.cat.categories.to_numpy(dtype=object))
    filled = values.iloc[:10_000].dropna()  # the sample below, without scanning 10^6 rows
    if len(filled) < 2000 and len(values) > 10_000:
        filled = values.dropna()
    if len(filled) == 0:
        return False
    sample = filled.iloc[:2000]
    text = sample[sample.map(lambda v: isinstance(v, str))]
    if len(text) == 0:
        return False
    return bool(text.str.match(_EMAIL).mean() > share) and len(text) >= share * len(sample)


def identifying_names(names, keep=()) -> set[str]:
    """The columns :func:`identifying_columns` drops by their name alone (before reading them)."""
    keep_norm = {_norm(k) for k in keep}
    return {c for c in names if c not in ("source_row", "source_file")
            and _norm(c) not in keep_norm and is_identifying(c)}


def identifying_columns(names, frame: pd.DataFrame | None = None, keep=()) -> list[str]:
    """Columns to drop: by name (see the module docstring) or, given the data, by content."""
    keep_norm = {_norm(k) for k in keep}
    out = []
    for c in names:
        if _norm(c) in keep_norm or c in ("source_row", "source_file"):
            continue
        if is_identifying(c) or (frame is not None and looks_like_emails(frame[c])):
            out.append(c)
    return out


def check_respondent_id(id_column: str | None, frame: pd.DataFrame | None = None, *,
                        study_file=None, file=None) -> None:
    """``survey.id`` must be pseudonymous: not an e-mail, name, phone or IP column.

    Raises
    ------
    StudyError
        The configured id column looks like personal data (by its name or its values).
    """
    if id_column is None:
        return
    by_name = is_identifying(id_column)
    by_content = (frame is not None and id_column in frame.columns
                  and looks_like_emails(frame[id_column]))
    if by_name or by_content:
        what = "its values are e-mail addresses" if by_content else "its name says so"
        raise StudyError(
            f"survey.id is '{id_column}', which looks like personal data ({what}); socap writes "
            "respondent ids to data/processed/ and reports, so they must not identify people",
            file=study_file if by_name or file is None else file, key="survey.id",
            column=id_column if by_content else None,
            fix="use a pseudonymous id (Qualtrics ResponseId, SurveyMonkey Respondent ID, KoBo "
                "_uuid, or a code you assign), or remove survey: id: to number responses by row",
        )
