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

``limesurvey``
    LimeSurvey "Export responses" (csv: UTF-8 with BOM, every cell quoted, ``;`` or ``,``,
    CRLF line ends and a blank line at the end; or xlsx): one header row, ``id``,
    ``submitdate`` (empty for a response never submitted), ``lastpage``, ``startlanguage``,
    ``seed``, ``startdate``, ``datestamp`` before the questions; array rows are headed
    ``question[subquestion]`` (the subquestion code is taken as the column name when it is an
    instrument item id). The "full question text" headings (``Response ID``, ``Date
    submitted``, ``Last page``, ``Start language``) are recognised too.
``redcap``
    REDCap record exports (csv "raw"): one header row of field names, the record id first,
    per instrument (form) its fields, ``<form>_timestamp`` for surveys and ``<form>_complete``
    (0 Incomplete, 1 Unverified, 2 Complete), plus ``redcap_event_name``,
    ``redcap_repeat_instrument``, ``redcap_survey_identifier`` ... where the project has them;
    the "labels" export heads them with the field labels (``Record ID``, ``Complete?`` once per
    form) and writes the choice labels.
``sosci``
    SoSci Survey (``data_<project>_<date>.csv``: tab-separated, text quoted, or xlsx with a
    second header row of variable labels): ``CASE``, ``SERIAL``, ``REF``, ``QUESTNNR``,
    ``MODE`` (interview, pretest, debug, admin), ``STARTED``, the items (``TR01_01``), then
    ``TIME001`` .., ``TIME_SUM``, ``FINISHED`` (1/0 or T/F), ``Q_VIEWER``, ``LASTPAGE``,
    ``MAXPAGE``, ``MISSING``, ``MISSREL``, ``DEG_TIME``. SoSci writes -9 for a question not
    answered and -1 for its residual option ("don't know"): both are missing codes of the
    file's columns.
``googleforms``
    Google Forms responses (the linked sheet downloaded as csv or xlsx): ``Timestamp`` first,
    then one column per question headed by its full text; a grid question's rows are headed
    ``Question [Row]``; answers are the choice texts.
``msforms``
    Microsoft Forms "Open in Excel" (xlsx): ``ID``, ``Start time``, ``Completion time``,
    ``Email``, ``Name`` (and ``Last modified time`` in newer exports), then one column per
    question (a Likert question one per statement) headed by its text; answers are choice texts.

Every layout is detected from the header rows (:func:`detect`), which says why (``socap
validate`` prints it: ``layout: redcap (REDCap record export: record id column
'record_id', *_complete columns)``); a file matching none is read as ``plain``, and the reason
lists what was looked for.

SPSS ``.sav``/``.por`` and Stata ``.dta`` files need no layout: :mod:`pipeline.ingest.spss`
reads them.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field

LAYOUTS = ("plain", "qualtrics", "surveymonkey", "kobo", "limesurvey", "redcap", "sosci",
           "googleforms", "msforms")
#: how each layout is named to a user
LAYOUT_NAMES = {"plain": "plain", "qualtrics": "Qualtrics", "surveymonkey": "SurveyMonkey",
                "kobo": "KoBoToolbox/ODK", "limesurvey": "LimeSurvey", "redcap": "REDCap",
                "sosci": "SoSci Survey", "googleforms": "Google Forms",
                "msforms": "Microsoft Forms", "spss": "SPSS", "stata": "Stata"}
#: what detection looks for, for the message of a file that matches no platform
LOOKED_FOR = ("Qualtrics: ImportId JSON in header row 3, or StartDate/ResponseId with their "
              "labels in row 2", "SurveyMonkey: Respondent ID/Collector ID and a 'Response' row 2",
              "KoBo/ODK: _uuid, _submission_time or meta/instanceID columns",
              "LimeSurvey: id, submitdate, lastpage, startlanguage",
              "REDCap: <form>_complete columns (with the record id, redcap_* or "
              "<form>_timestamp columns)",
              "SoSci Survey: CASE, QUESTNNR, MODE, STARTED",
              "Google Forms: a first column 'Timestamp'",
              "Microsoft Forms: ID, Start time, Completion time")

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
LIMESURVEY_SYSTEM = ("id", "submitdate", "lastpage", "startlanguage", "seed", "token",
                     "startdate", "datestamp", "ipaddr", "refurl", "interviewtime")
LIMESURVEY_FULL = ("Response ID", "Date submitted", "Last page", "Start language", "Seed",
                   "Date started", "Date last action", "IP address", "Referrer URL",
                   "Total time")
REDCAP_SYSTEM = ("redcap_event_name", "redcap_repeat_instrument", "redcap_repeat_instance",
                 "redcap_survey_identifier", "redcap_data_access_group")
SOSCI_SYSTEM = ("CASE", "SERIAL", "REF", "QUESTNNR", "MODE", "STARTED", "LANGUAGE", "TIME_SUM",
                "MAILSENT", "LASTDATA", "FINISHED", "Q_VIEWER", "LASTPAGE", "MAXPAGE",
                "MISSING", "MISSREL", "TIME_RSI", "DEG_MISS", "DEG_TIME", "DEGRADE")
SOSCI_MISSING = {-9.0: "not answered", -1.0: "residual option, e.g. don't know"}
GOOGLE_TIMESTAMP = ("timestamp", "marca temporal", "zeitstempel", "horodateur",
                    "carimbo de data/hora", "informazioni cronologiche", "tijdstempel",
                    "sygnatura czasowa", "tidsstempel", "tidstämpel", "aikaleima",
                    "タイムスタンプ", "时间戳记", "時間戳記")
MSFORMS_SYSTEM = ("ID", "Start time", "Completion time", "Email", "Name", "Last modified time")
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
    # platform missing codes of answer columns: code -> reason (SoSci -9 / -1)
    missing_codes: dict | None = None


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
    """The layout of an export from its first three rows (see :func:`detect`)."""
    return detect(rows, known_names)[0]


def _listed(names, limit: int = 4) -> str:
    names = list(dict.fromkeys(names))
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def detect(rows: list[list], known_names=()) -> tuple[str, str]:
    """The layout of an export from its first three rows, and why (see the module docstring).

    Parameters
    ----------
    rows
        The first (up to) three rows of the file, blanks as None.
    known_names
        Instrument item ids, used to recognise ODK's ``-`` group separator.

    Returns
    -------
    layout, reason
        One of :data:`LAYOUTS`, and the platform's markers found in the header -- or, for
        ``plain``, what was looked for.
    """
    if not rows:
        return "plain", "empty header"
    width = max(len(r) for r in rows)
    r1 = _row(rows, 0, width)
    r2 = _row(rows, 1, width)
    r3 = _row(rows, 2, width)
    if _import_id_row(r3):
        return "qualtrics", "Qualtrics export: ImportId JSON in header row 3, question texts in row 2"
    n1 = {_norm(v) for v in r1 if v}
    if _qualtrics_two_rows(r1, r2):
        if sum(bool(re.fullmatch(r"V\d+", v)) for v in r1[:12]) >= 5:
            return "qualtrics", "legacy Qualtrics export: V1..V10 over ResponseID .. Finished in row 2"
        return "qualtrics", ("Qualtrics export without the ImportId row: "
                             + _listed(t for t in ("StartDate", "EndDate", "ResponseId", "Finished",
                                                   "Progress") if t in r1)
                             + " with their labels in row 2")
    n2 = [_norm(v) for v in r2]
    answers_in_r2 = sum(v in SURVEYMONKEY_ANSWER for v in n2)
    sm_found = [v for v in SURVEYMONKEY_SYSTEM[:4] if _norm(v) in n1]
    sm_system = len(sm_found)
    carried = any(not a and b for a, b in zip(r1, r2))  # row 1 blank over a sub-question
    if (sm_system >= 2 and (answers_in_r2 or carried)) or ((answers_in_r2 or sm_system) and carried):
        return "surveymonkey", ("SurveyMonkey export: "
                                + (_listed(sm_found) + " columns, " if sm_found else "")
                                + ("'Response' sub-headers in row 2" if answers_in_r2
                                   else "question texts carried over sub-questions in row 2"))
    sosci = [v for v in r1 if v in SOSCI_SYSTEM]
    if "CASE" in r1 and len(sosci) >= 3:
        return "sosci", "SoSci Survey export: " + _listed(sosci) + " columns"
    lime = [v for v in r1 if v in LIMESURVEY_SYSTEM]
    lime_full = [v for v in r1 if v in LIMESURVEY_FULL]
    if "submitdate" in r1 and ("lastpage" in r1 or "startlanguage" in r1):
        return "limesurvey", "LimeSurvey export: " + _listed(lime, 5) + " columns"
    if "Date submitted" in r1 and ("Last page" in r1 or "Start language" in r1):
        return "limesurvey", ("LimeSurvey export with full-text headings: "
                              + _listed(lime_full, 5) + " columns")
    redcap = _redcap_markers(r1)
    if redcap:
        return "redcap", redcap
    kobo = {_norm(v) for v in KOBO_SYSTEM if v.startswith("_") or "/" in v}
    odk = {_norm(v) for v in ODK_CENTRAL_SYSTEM}
    kobo_found = [v for v in r1 if _norm(v) in kobo]
    odk_found = [v for v in r1 if _norm(v) in odk]
    if kobo_found:
        return "kobo", "KoBoToolbox export: " + _listed(kobo_found) + " columns"
    if len(odk_found) >= 3:
        return "kobo", "ODK Central export: " + _listed(odk_found) + " columns"
    sep_names = [v for v in r1 if v and any(c in v for c in "/.:") and not v.startswith("_")]
    meta = n1 & {"start", "end", "today", "deviceid"}
    if meta and any("/" in v for v in sep_names):
        return "kobo", ("KoBo/ODK export: " + _listed(sorted(meta)) + " columns and group paths "
                        "such as " + next(v for v in sep_names if "/" in v))
    ms = [v for v in MSFORMS_SYSTEM if v in r1]
    if r1 and r1[0] == "ID" and "Start time" in r1 and "Completion time" in r1:
        return "msforms", "Microsoft Forms export: " + _listed(ms, 5) + " columns"
    if r1 and _norm(r1[0]) in GOOGLE_TIMESTAMP:
        grid = [v for v in r1 if re.search(r"\[[^\]]+\]\s*$", v)]
        return "googleforms", (f"Google Forms responses: first column '{r1[0]}', question texts "
                               "as headers" + (f" ({len(grid)} grid rows 'Question [Row]')"
                                              if grid else ""))
    return "plain", "one header row of column names; no survey platform's marker columns"


def _redcap_markers(r1: list[str]) -> str | None:
    """Why a header is a REDCap record export, or None."""
    complete = [v for v in r1 if re.fullmatch(r"[a-z][a-z0-9_]*_complete", v)]
    if complete:
        forms = {v[: -len("_complete")] for v in complete}
        stamps = [v for v in r1 if v.endswith("_timestamp") and v[: -len("_timestamp")] in forms]
        system = [v for v in r1 if v in REDCAP_SYSTEM]
        first = r1[0] if r1 else ""
        if system or stamps or first == "record_id" or len(complete) >= 2 or (
                first and re.fullmatch(r"[a-z][a-z0-9_]*", first)):
            parts = [f"record id column '{first}'"] if first else []
            parts += [_listed(system) + " columns"] if system else []
            parts += ["*_complete columns (" + _listed(complete, 3) + ")"]
            return "REDCap record export: " + ", ".join(parts)
    labels = [v for v in r1 if v == "Complete?"]
    if labels and r1 and r1[0] in ("Record ID", "Participant ID", "Study ID"):
        return (f"REDCap record export with labels: '{r1[0]}' column, {len(labels)} "
                "'Complete?' column(s)")
    return None


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
    answer_names = [n for n in names if n and n not in KOBO_SYSTEM and n not in ODK_CENTRAL_SYSTEM
                    and not n.startswith("_")]
    if any("/" in n for n in answer_names):
        return "/"
    if sum(n in ODK_CENTRAL_SYSTEM for n in names) >= 3:
        return "-"
    known = set(known_names)
    # KoBo's export settings let the group separator be any text ('.' and ':' are common):
    # the separator after which instrument item ids stand, else the one that splits names
    # into groups (a prefix shared by several names)
    for sep in (":", ".", "-"):
        if known and any(sep in n and n.rsplit(sep, 1)[1] in known for n in answer_names):
            return sep
    for sep in (":", "."):
        prefixes = [n.rsplit(sep, 1)[0] for n in answer_names if sep in n]
        if prefixes and max(prefixes.count(p) for p in set(prefixes)) >= 2 and not all(
                re.fullmatch(r"[\d.]+", n) for n in answer_names if sep in n):
            return sep
    return None


def kobo_header(rows: list[list], width: int, separator: str | None = None,
                known_names=()) -> Header:
    r1 = _row(rows, 0, width)
    sep = kobo_separator(r1, separator, known_names)
    # system columns, whatever the separator (meta.instanceID, meta:instanceID)
    slashed = {n: (n.replace(sep, "/") if sep and sep != "/" else n) for n in r1}
    system = {n for n in r1 if n in KOBO_SYSTEM or n in ODK_CENTRAL_SYSTEM or n.startswith("_")
              or slashed[n] in KOBO_SYSTEM}
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


def limesurvey_header(rows: list[list], width: int, known_names=()) -> Header:
    """LimeSurvey: one header row; ``question[subquestion]`` named by the subquestion code when
    that is an instrument item id; system columns by name."""
    r1 = _row(rows, 0, width)
    known = {k.casefold(): k for k in known_names}
    names, questions, renamed = [], [], []
    for n in r1:
        m = re.fullmatch(r"(.+?)\s*\[([^\]]+)\]", n)
        if m and m.group(2).casefold() in known:
            names.append(m.group(2))
            renamed.append(n)
            questions.append(None)
        elif m and " " in m.group(1):  # full-text heading "Question text [Subquestion text]"
            names.append(n)
            questions.append(f"{m.group(1).strip()} - {m.group(2).strip()}")
        else:
            names.append(n)
            questions.append(None)
    notes = ([f"array columns named by their subquestion codes ({_listed(renamed, 3)})"]
             if renamed else [])
    system = set(LIMESURVEY_SYSTEM + LIMESURVEY_FULL) & set(r1)
    system |= {n for n in r1 if n.endswith("Time") and (n.startswith("groupTime") or n[:-4] in r1)}
    return Header(layout="limesurvey", rows=1, names=names, sources=list(r1),
                  questions=questions, system=system, notes=notes)


def redcap_header(rows: list[list], width: int) -> Header:
    r1 = _row(rows, 0, width)
    system = {n for n in r1 if n in REDCAP_SYSTEM or re.fullmatch(r"[a-z][a-z0-9_]*_(complete|timestamp)", n)
              or n == "Complete?" or n == "Survey Timestamp"}
    return Header(layout="redcap", rows=1, names=list(r1), sources=list(r1),
                  questions=[None] * width, system=system)


def sosci_header(rows: list[list], width: int) -> Header:
    """SoSci Survey: variable names in row 1; the xlsx (and "csv for Excel") exports add their
    labels in row 2 (under ``CASE``: "Interview number (ongoing)" -- a text where data rows hold
    the case number)."""
    r1, r2 = _row(rows, 0, width), _row(rows, 1, width)
    j = r1.index("CASE") if "CASE" in r1 else 0
    labels = bool(r2[j]) and not re.fullmatch(r"\d+", r2[j])
    system = {n for n in r1 if n in SOSCI_SYSTEM or re.fullmatch(r"TIME\d{3}", n)}
    return Header(layout="sosci", rows=2 if labels else 1, names=list(r1), sources=list(r1),
                  questions=[v or None for v in r2] if labels else [None] * width,
                  system=system, missing_codes=dict(SOSCI_MISSING),
                  notes=["SoSci Survey codes -9 (not answered) and -1 (residual option) read "
                         "as missing answers."])


def text_header(layout: str, rows: list[list], width: int, system_names) -> Header:
    """Google Forms / Microsoft Forms: one header row of question texts; a grid row
    ``Question [Row]`` has the question text ``Question - Row``."""
    r1 = _row(rows, 0, width)
    questions: list[str | None] = []
    for n in r1:
        m = re.fullmatch(r"(.+?)\s*\[([^\]]+)\]\s*", n)
        questions.append(f"{m.group(1).strip()} - {m.group(2).strip()}" if m else (n or None))
    system = set(system_names) & set(r1)
    if layout == "googleforms" and r1:
        system.add(r1[0])
    return Header(layout=layout, rows=1, names=list(r1), sources=list(r1), questions=questions,
                  system=system)


def header_for(layout: str, rows: list[list], width: int, *, separator: str | None = None,
               known_names=()) -> Header:
    """The :class:`Header` of ``layout`` for these first rows."""
    if layout == "qualtrics":
        return qualtrics_header(rows, width)
    if layout == "surveymonkey":
        return surveymonkey_header(rows, width)
    if layout == "kobo":
        return kobo_header(rows, width, separator, known_names)
    if layout == "limesurvey":
        return limesurvey_header(rows, width, known_names)
    if layout == "redcap":
        return redcap_header(rows, width)
    if layout == "sosci":
        return sosci_header(rows, width)
    if layout == "googleforms":
        return text_header(layout, rows, width, ())
    if layout == "msforms":
        return text_header(layout, rows, width, MSFORMS_SYSTEM)
    return plain_header(rows, width)
