"""Export layouts: how each survey platform writes its header, and how socap reads it.

Each layout turns the first rows of a file into a :class:`Header`: how many header rows there
are, the column names socap uses, the question text of each column, the platform's own column
ids, and which columns are platform metadata rather than answers. The data rows are then typed
the same way for every layout (:func:`pipeline.ingest.tables.typed_body`).

Layouts (``survey.layout``; ``auto`` detects them with :func:`detect_layout`):

``plain``
    One header row naming the columns (a hand-made sheet, an export already tidied).
``qualtrics``
    Three header rows: export tag (``Q12_1`` or a tag set in the survey), question text
    (``Stem - Statement`` for matrix rows), and an ImportId JSON object
    (``{"ImportId":"QID12_1"}``; exports before 2019 wrote it with single quotes, both are
    parsed). Two-row exports are read too: the "legacy" format (row 1 ``V1..V10`` over the
    system columns ``ResponseID .. Finished``, whose names stand in row 2) and exports without
    the ImportId row. Values may be numeric codes or choice texts; ``Status``, ``Finished``,
    ``Progress`` and ``Duration (in seconds)`` stay columns for the quality rules of
    :mod:`pipeline.clean` (so previews and tests appear in ``exclusions.csv`` with their rule).
``surveymonkey``
    Two header rows: row 1 holds the question text, written only over the first column of a
    question (it is carried forward over the question's other columns); row 2 the sub-question
    (matrix row, choice) or ``Response`` / ``Open-Ended Response``. Columns with nothing in
    row 2 (``Respondent ID``, ``Collector ID``, ``Start Date`` ...) keep their row-1 name.
    SurveyMonkey has no export tags, so answer columns are named ``Q<k>`` (the k-th question of
    the export) or ``Q<k>_<j>`` (its j-th column), like Qualtrics tags; the question text is kept
    and instrument items are matched to columns by their text (see :func:`pipeline.clean.map_items`)
    or through ``survey.columns`` (whose keys may be a column name or its question text).
``kobo``
    KoBoToolbox and ODK Central exports: one header row whose names carry the group path
    (``group_trust/trust_1`` in KoBo, ``group_trust-trust_1`` in ODK Central). The path is
    stripped with ``survey.separator`` (detected when absent: ``/`` when a name holds one; ``-``
    for ODK Central exports, recognised by their ``KEY``/``SubmissionDate`` columns, or when the
    part after the last ``-`` is an instrument item). System columns (``_uuid``,
    ``_submission_time``, ``_index``, ``meta/instanceID``, ``start``, ``end`` ...) are kept as
    metadata columns; the identifying ones (``_submitted_by``, ``deviceid``, ``username``,
    ``phonenumber``, ``_geolocation``) are dropped by :mod:`pipeline.ingest.personal`.

SPSS ``.sav`` and Stata ``.dta`` files need no layout: :mod:`pipeline.ingest.spss` reads them.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field

LAYOUTS = ("plain", "qualtrics", "surveymonkey", "kobo")

QUALTRICS_SYSTEM = ("StartDate", "EndDate", "Status", "IPAddress", "Progress",
                    "Duration (in seconds)", "Finished", "RecordedDate", "ResponseId",
                    "RecipientLastName", "RecipientFirstName", "RecipientEmail",
                    "ExternalReference", "LocationLatitude", "LocationLongitude",
                    "DistributionChannel", "UserLanguage", "Q_RecaptchaScore", "Q_RelevantIDDuplicate")
QUALTRICS_LEGACY = ("ResponseID", "ResponseSet", "Name", "ExternalDataReference", "EmailAddress",
                    "IPAddress", "Status", "StartDate", "EndDate", "Finished")
SURVEYMONKEY_SYSTEM = ("Respondent ID", "Collector ID", "Start Date", "End Date", "IP Address",
                       "Email Address", "First Name", "Last Name", "Custom Data 1")
SURVEYMONKEY_ANSWER = ("response", "open-ended response")
KOBO_SYSTEM = ("_id", "_uuid", "_submission_time", "_validation_status", "_notes", "_status",
               "_submitted_by", "__version__", "_tags", "_index", "_parent_index",
               "_parent_table_name", "_xform_id_string", "_attachments", "_geolocation",
               "meta/instanceID", "meta/instanceName", "meta/rootUuid", "meta/deprecatedID",
               "formhub/uuid", "start", "end", "today", "deviceid", "username", "phonenumber",
               "simserial", "subscriberid", "audit", "start-geopoint")
ODK_CENTRAL_SYSTEM = ("SubmissionDate", "KEY", "SubmitterID", "SubmitterName",
                      "AttachmentsPresent", "AttachmentsExpected", "Status", "ReviewState",
                      "DeviceID", "Edits", "FormVersion", "meta-instanceID", "meta-instanceName")


@dataclass
class Header:
    """What a layout makes of a file's header rows (one entry per column of the grid)."""

    layout: str
    rows: int  # number of header rows
    names: list[str]
    sources: list[str]  # the column's header as the file writes it
    questions: list[str | None]
    import_ids: list[str | None] | None = None
    system: set[str] = field(default_factory=set)  # platform metadata columns (by name)
    notes: list[str] = field(default_factory=list)


def _s(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v).strip()


def _norm(v) -> str:
    return re.sub(r"\s+", " ", _s(v).casefold())


def _row(rows: list[list], i: int, width: int) -> list[str]:
    r = rows[i] if i < len(rows) else []
    return [_s(v) for v in r] + [""] * (width - len(r))


# --------------------------------------------------------------------------------------------
# detection


def detect_layout(rows: list[list], known_names=()) -> str:
    """The layout of an export from its first three rows (see the module docstring).

    Parameters
    ----------
    rows
        The first (up to) three rows of the file, blanks as None.
    known_names
        Instrument item ids, used to recognise ODK's ``-`` group separator.
    """
    if not rows:
        return "plain"
    width = max(len(r) for r in rows)
    r1 = _row(rows, 0, width)
    r2 = _row(rows, 1, width)
    r3 = _row(rows, 2, width)
    if _import_id_row(r3):
        return "qualtrics"
    n1 = {_norm(v) for v in r1 if v}
    if _qualtrics_two_rows(r1, r2):
        return "qualtrics"
    n2 = [_norm(v) for v in r2]
    answers_in_r2 = sum(v in SURVEYMONKEY_ANSWER for v in n2)
    sm_system = sum(_norm(v) in n1 for v in SURVEYMONKEY_SYSTEM[:4])
    carried = any(not a and b for a, b in zip(r1, r2))  # row 1 blank over a sub-question
    if (sm_system >= 2 and (answers_in_r2 or carried)) or ((answers_in_r2 or sm_system) and carried):
        return "surveymonkey"
    kobo = {_norm(v) for v in KOBO_SYSTEM if v.startswith("_") or "/" in v}
    odk = {_norm(v) for v in ODK_CENTRAL_SYSTEM}
    if len(n1 & kobo) >= 1 or len(n1 & odk) >= 3:
        return "kobo"
    if any("/" in v for v in r1 if v) and n1 & {"start", "end", "today", "deviceid"}:
        return "kobo"
    return "plain"


def _import_id_row(r3: list[str]) -> bool:
    filled = [v for v in r3 if v]
    if not filled:
        return False
    hits = sum(v.startswith("{") and "importid" in v.casefold() for v in filled)
    return hits >= max(1, len(filled) // 2)


def _qualtrics_two_rows(r1: list[str], r2: list[str]) -> bool:
    if sum(bool(re.fullmatch(r"V\d+", v)) for v in r1[:12]) >= 5 and "ResponseID" in r2:
        return True  # legacy export
    pos = {v: i for i, v in enumerate(r1)}
    tags = [t for t in ("StartDate", "EndDate", "ResponseId", "Finished", "Progress") if t in pos]
    if len(tags) < 2:
        return False
    human = {"StartDate": "start date", "EndDate": "end date", "ResponseId": "response id",
             "Finished": "finished", "Progress": "progress"}
    return all(_norm(r2[pos[t]]) == human[t] for t in tags)


# --------------------------------------------------------------------------------------------
# headers


def plain_header(rows: list[list], width: int) -> Header:
    names = _row(rows, 0, width)
    return Header(layout="plain", rows=1, names=names, sources=list(names),
                  questions=[None] * width)


def parse_import_id(cell: str) -> str | None:
    """The ImportId of a Qualtrics third header row: JSON, or the older single-quoted form."""
    cell = _s(cell)
    if not cell:
        return None
    for parse in (json.loads, ast.literal_eval):
        try:
            obj = parse(cell)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            continue
        if isinstance(obj, dict):
            v = obj.get("ImportId", obj.get("importId"))
            return None if v is None else str(v)
    m = re.search(r"ImportId['\"]?\s*:\s*['\"]([^'\"]+)", cell, re.IGNORECASE)
    return m.group(1) if m else None


def qualtrics_header(rows: list[list], width: int) -> Header:
    r1, r2, r3 = (_row(rows, i, width) for i in range(3))
    notes: list[str] = []
    if _import_id_row(r3):
        ids = [parse_import_id(v) for v in r3]
        bad = sum(1 for v, i in zip(r3, ids) if v and i is None)
        if bad:
            notes.append(f"{bad} ImportId cells of the third header row could not be parsed.")
        return Header(layout="qualtrics", rows=3, names=r1, sources=list(r1),
                      questions=[v or None for v in r2], import_ids=ids,
                      system=set(QUALTRICS_SYSTEM) & set(r1), notes=notes)
    legacy = sum(bool(re.fullmatch(r"V\d+", v)) for v in r1[:12]) >= 5
    if legacy:
        names, questions = [], []
        for a, b in zip(r1, r2):
            if re.fullmatch(r"V\d+", a) and b:
                names.append(b)
                questions.append(None)
            else:
                names.append(a)
                questions.append(b or None)
        notes.append("read as a legacy Qualtrics export (two header rows, V1..V10 system columns).")
        return Header(layout="qualtrics", rows=2, names=names, sources=list(r1),
                      questions=questions, system=set(QUALTRICS_LEGACY) & set(names), notes=notes)
    return Header(layout="qualtrics", rows=2, names=r1, sources=list(r1),
                  questions=[v or None for v in r2], system=set(QUALTRICS_SYSTEM) & set(r1),
                  notes=notes)


def surveymonkey_header(rows: list[list], width: int) -> Header:
    r1, r2 = _row(rows, 0, width), _row(rows, 1, width)
    # spans: a question starts at a filled row-1 cell whose row-2 cell is filled too
    names: list[str] = [""] * width
    questions: list[str | None] = [None] * width
    sources: list[str] = [""] * width
    system: set[str] = set()
    spans: list[list[int]] = []
    current: list[int] | None = None
    stem = ""
    for j in range(width):
        a, b = r1[j], r2[j]
        if a and not b:  # metadata column (Respondent ID, Start Date, ...)
            names[j], sources[j] = a, a
            system.add(a)
            current = None
            continue
        if a:
            stem = a
            current = [j]
            spans.append(current)
        elif b and current is not None:
            current.append(j)
        elif not b:
            continue  # empty column
        else:  # sub-question before any question: give it its own span
            stem = ""
            current = [j]
            spans.append(current)
        sub = b
        if _norm(sub) in SURVEYMONKEY_ANSWER:
            questions[j] = stem or None
        else:
            questions[j] = f"{stem} - {sub}" if stem else sub
        sources[j] = f"{stem} | {sub}" if stem else sub
    for k, span in enumerate(spans, start=1):
        if len(span) == 1:
            names[span[0]] = f"Q{k}"
        else:
            for i, j in enumerate(span, start=1):
                names[j] = f"Q{k}_{i}"
    return Header(layout="surveymonkey", rows=2, names=names, sources=sources,
                  questions=questions, system=system,
                  notes=[(f"SurveyMonkey answer columns named Q1..Q{len(spans)} in export order "
                          "(question texts kept).")] if spans else [])


def kobo_separator(names: list[str], configured: str | None, known_names=()) -> str | None:
    """The group separator of a KoBo/ODK export (see the module docstring)."""
    if configured:
        return configured
    answer_names = [n for n in names if n and n not in KOBO_SYSTEM and n not in ODK_CENTRAL_SYSTEM]
    if any("/" in n for n in answer_names):
        return "/"
    if sum(n in ODK_CENTRAL_SYSTEM for n in names) >= 3:
        return "-"
    known = set(known_names)
    if known and any("-" in n and n.rsplit("-", 1)[1] in known for n in answer_names):
        return "-"
    return None


def kobo_header(rows: list[list], width: int, separator: str | None = None,
                known_names=()) -> Header:
    r1 = _row(rows, 0, width)
    sep = kobo_separator(r1, separator, known_names)
    system = {n for n in r1 if n in KOBO_SYSTEM or n in ODK_CENTRAL_SYSTEM or n.startswith("_")}
    names = []
    for n in r1:
        if sep and sep in n and not n.startswith("_"):
            names.append(n.rsplit(sep, 1)[1])
        else:
            names.append(n)
    # two groups asking a question of the same name: keep their full paths
    counts: dict[str, int] = {}
    for n in names:
        counts[n] = counts.get(n, 0) + 1
    clashes = sorted(n for n, c in counts.items() if c > 1 and n)
    names = [full if counts.get(short, 0) > 1 else short for short, full in zip(names, r1)]
    system |= {short for short, full in zip(names, r1) if full in system}
    notes = []
    if sep:
        notes.append(f"group prefixes stripped at '{sep}' (e.g. "
                     f"{next((f for f in r1 if sep in f and not f.startswith('_')), '')!s}).")
    if clashes:
        notes.append("questions of the same name in several groups keep their full path: "
                     + ", ".join(clashes))
    return Header(layout="kobo", rows=1, names=names, sources=list(r1),
                  questions=[None] * width, system=system, notes=notes)


def header_for(layout: str, rows: list[list], width: int, *, separator: str | None = None,
               known_names=()) -> Header:
    """The :class:`Header` of ``layout`` for these first rows."""
    if layout == "qualtrics":
        return qualtrics_header(rows, width)
    if layout == "surveymonkey":
        return surveymonkey_header(rows, width)
    if layout == "kobo":
        return kobo_header(rows, width, separator, known_names)
    return plain_header(rows, width)
