"""Write one survey as each platform exports it, from the platforms' documented structure.

Used by tests/test_ingest*.py: the same responses (a small simulated study without injected
problem rows, with blanks, "Don't know" and -99 answers) written as a plain sheet, Qualtrics
(three header rows with ImportId JSON; the older single-quoted ImportId; legacy V1..V10),
SurveyMonkey (question text over the first column of a question, sub-questions in row 2), KoBo
(group/question names, system columns) and ODK Central (group-question), SPSS .sav (user-missing
codes with value labels) and Stata .dta (extended missing .a/.b). Nothing is copied from a real
export; every quirk is produced here from the platform's documentation.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pandas as pd

STEM = "How much do you agree with the following statements about firms in your cluster?"


def base_survey(seed: int = 11) -> tuple[pd.DataFrame, object]:
    """A small simulated export without problem rows, plus the default instrument."""
    from pipeline.config.instrument import default_instrument_path, read_instrument
    from pipeline.simulate import SimulationSpec, simulate_study

    spec = SimulationSpec(seed=seed, regions=1, clusters_per_region=2, firms_per_cluster=6,
                          respondents_per_firm=3, straightliners_share=0, speeders_share=0,
                          incomplete_share=0, missing_share=0.06)
    inst = read_instrument(default_instrument_path())
    sim = simulate_study(spec, inst)
    return sim.survey.copy(), inst


def _write_rows(path: Path, rows: list[list], *, delimiter=",", encoding="utf-8") -> None:
    with open(path, "w", newline="", encoding=encoding) as fh:
        w = csv.writer(fh, delimiter=delimiter)
        for r in rows:
            w.writerow(["" if v is None or (isinstance(v, float) and np.isnan(v)) else v for v in r])


def _write_xlsx(path: Path, rows: list[list]) -> None:
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("Sheet1")
    for r in rows:
        ws.append([None if v is None or (isinstance(v, float) and np.isnan(v)) else
                   (v.item() if isinstance(v, np.generic) else v) for v in r])
    wb.save(path)


def write(path: Path, rows: list[list], **kw) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".xlsx":
        _write_xlsx(path, rows)
    else:
        _write_rows(path, rows, **kw)
    return path


def as_labels(frame: pd.DataFrame, inst, items) -> pd.DataFrame:
    """Codes -> answer texts (choice text exports); missing texts and -99 stay as they are."""
    out = frame.copy()
    for i in items:
        labels = inst.item(i).scale.labels
        out[i] = out[i].map(lambda v: labels[float(v)] if isinstance(v, (int, float, np.integer))
                            and float(v) in labels else v)
    return out


def _cells(frame: pd.DataFrame) -> list[list]:
    return [[None if v is None or (isinstance(v, float) and np.isnan(v)) else v for v in r]
            for r in frame.itertuples(index=False, name=None)]


def _start_end(duration: pd.Series) -> tuple[list[str], list[str]]:
    t0 = pd.Timestamp("2026-03-02 09:00:00")
    starts = [t0 + pd.Timedelta(minutes=7 * i) for i in range(len(duration))]
    ends = [s + pd.Timedelta(seconds=int(d)) for s, d in zip(starts, duration)]
    return starts, ends


def qualtrics_rows(frame: pd.DataFrame, inst, *, text_values=True, single_quoted=False,
                   numeric_status=False) -> list[list]:
    """Qualtrics export: tags, question texts, ImportId JSON; items tagged Q1_1 .. Q4_5."""
    items = inst.item_ids
    f = as_labels(frame, inst, items) if text_values else frame
    starts, ends = _start_end(frame["Duration (in seconds)"])
    n = len(frame)
    fmt = (lambda d: str({"ImportId": d["ImportId"]})) if single_quoted else (lambda d: json.dumps(d))
    system = [
        ("StartDate", "Start Date", {"ImportId": "startDate", "timeZone": "Europe/Berlin"},
         [s.strftime("%Y-%m-%d %H:%M:%S") for s in starts]),
        ("EndDate", "End Date", {"ImportId": "endDate", "timeZone": "Europe/Berlin"},
         [e.strftime("%Y-%m-%d %H:%M:%S") for e in ends]),
        ("Status", "Response Type", {"ImportId": "status"},
         [0 if numeric_status else "IP Address"] * n),
        ("IPAddress", "IP Address", {"ImportId": "ipAddress"},
         [f"192.0.2.{i % 250}" for i in range(n)]),
        ("Progress", "Progress", {"ImportId": "progress"}, [100] * n),
        ("Duration (in seconds)", "Duration (in seconds)", {"ImportId": "duration"},
         list(frame["Duration (in seconds)"])),
        ("Finished", "Finished", {"ImportId": "finished"},
         [(1 if v else 0) if numeric_status else ("True" if v else "False")
          for v in frame["Finished"]]),
        ("RecordedDate", "Recorded Date", {"ImportId": "recordedDate", "timeZone": "Europe/Berlin"},
         [e.strftime("%Y-%m-%d %H:%M:%S") for e in ends]),
        ("ResponseId", "Response ID", {"ImportId": "_recordId"}, list(frame["ResponseId"])),
        ("RecipientLastName", "Recipient Last Name", {"ImportId": "recipientLastName"}, [None] * n),
        ("RecipientFirstName", "Recipient First Name", {"ImportId": "recipientFirstName"}, [None] * n),
        ("RecipientEmail", "Recipient Email", {"ImportId": "recipientEmail"}, list(frame["email"])),
        ("ExternalReference", "External Data Reference", {"ImportId": "externalDataReference"}, [None] * n),
        ("LocationLatitude", "Location Latitude", {"ImportId": "locationLatitude"}, [48.1] * n),
        ("LocationLongitude", "Location Longitude", {"ImportId": "locationLongitude"}, [11.5] * n),
        ("DistributionChannel", "Distribution Channel", {"ImportId": "distributionChannel"},
         ["anonymous"] * n),
        ("UserLanguage", "User Language", {"ImportId": "userLanguage"}, ["EN"] * n),
    ]
    cols = [(t, q, fmt(i), v) for t, q, i, v in system]
    for k, (c, ids) in enumerate(inst.construct_items().items(), start=1):
        for j, i in enumerate(ids, start=1):
            cols.append((f"Q{k}_{j}", f"{STEM} - {inst.item(i).text}",
                         fmt({"ImportId": f"QID{k}_{j}"}), list(f[i])))
    for name in ("firm_id", "cluster", "region"):
        cols.append((name, name, fmt({"ImportId": name}), list(frame[name])))
    rows = [[c[0] for c in cols], [c[1] for c in cols], [c[2] for c in cols]]
    for r in range(n):
        rows.append([c[3][r] for c in cols])
    return rows


def qualtrics_legacy_rows(frame: pd.DataFrame, inst) -> list[list]:
    """Legacy Qualtrics export (before 2017): V1..V10 over the system columns, two header rows."""
    n = len(frame)
    starts, ends = _start_end(frame["Duration (in seconds)"])
    sys_names = ["ResponseID", "ResponseSet", "Name", "ExternalDataReference", "EmailAddress",
                 "IPAddress", "Status", "StartDate", "EndDate", "Finished"]
    sys_vals = [list(frame["ResponseId"]), ["Default Response Set"] * n, ["Anonymous"] * n,
                [None] * n, list(frame["email"]), ["192.0.2.1"] * n, [0] * n,
                [s.strftime("%Y-%m-%d %H:%M:%S") for s in starts],
                [e.strftime("%Y-%m-%d %H:%M:%S") for e in ends],
                [1 if v else 0 for v in frame["Finished"]]]
    r1 = [f"V{k}" for k in range(1, 11)]
    r2 = list(sys_names)
    vals = list(sys_vals)
    for k, (c, ids) in enumerate(inst.construct_items().items(), start=1):
        for j, i in enumerate(ids, start=1):
            r1.append(f"Q{k}_{j}")
            r2.append(f"{STEM}-{inst.item(i).text}")
            vals.append(list(frame[i]))
    for name in ("firm_id", "cluster", "region"):
        r1.append(name)
        r2.append(name)
        vals.append(list(frame[name]))
    return [r1, r2] + [[v[r] for v in vals] for r in range(n)]


def surveymonkey_rows(frame: pd.DataFrame, inst) -> list[list]:
    """SurveyMonkey 'expanded' export: question text over a question's first column only."""
    items = inst.item_ids
    f = as_labels(frame, inst, items)
    n = len(frame)
    starts, ends = _start_end(frame["Duration (in seconds)"])
    r1 = ["Respondent ID", "Collector ID", "Start Date", "End Date", "IP Address",
          "Email Address", "First Name", "Last Name", "Custom Data 1"]
    r2 = [None] * len(r1)
    vals = [list(frame["ResponseId"]), [431234567] * n,
            [s.strftime("%m/%d/%Y %I:%M:%S %p") for s in starts],
            [e.strftime("%m/%d/%Y %I:%M:%S %p") for e in ends],
            ["192.0.2.7"] * n, list(frame["email"]), ["Ann"] * n, ["Example"] * n, ["x"] * n]
    # Q1: the firm (single answer), Q2..Q5: one matrix per construct
    r1.append("Which firm do you answer for?")
    r2.append("Response")
    vals.append(list(frame["firm_id"]))
    for c, ids in inst.construct_items().items():
        for j, i in enumerate(ids):
            r1.append(f"{STEM} ({c})" if j == 0 else None)
            r2.append(inst.item(i).text)
            vals.append(list(f[i]))
    for name in ("cluster", "region"):
        r1.append(f"Your {name}?")
        r2.append("Open-Ended Response")
        vals.append(list(frame[name]))
    return [r1, r2] + [[v[r] for v in vals] for r in range(n)]


def kobo_rows(frame: pd.DataFrame, inst, sep: str = "/") -> list[list]:
    """KoBoToolbox export ('XML values'): group paths in the names, system columns around."""
    n = len(frame)
    starts, ends = _start_end(frame["Duration (in seconds)"])
    names = ["start", "end", "today", "deviceid", "username", "firm_id", "cluster", "region"]
    vals = [[s.isoformat() + ".000+01:00" for s in starts], [e.isoformat() + ".000+01:00" for e in ends],
            ["2026-03-02"] * n, [f"collect:{i:04d}" for i in range(n)], ["enumerator1"] * n,
            list(frame["firm_id"]), list(frame["cluster"]), list(frame["region"])]
    for c, ids in inst.construct_items().items():
        for i in ids:
            names.append(f"grp_{c}{sep}{i}")
            vals.append([("dont_know" if v == "Don't know" else v) for v in frame[i]])
    names += ["gps", "_gps_latitude", "_gps_longitude", "_gps_altitude", "_gps_precision",
              "meta/instanceID" if sep == "/" else "meta-instanceID", "_id", "_uuid",
              "_submission_time", "_validation_status", "_notes", "_status", "_submitted_by",
              "__version__", "_tags", "_index"]
    vals += [["48.1 11.5 520 5"] * n, [48.1] * n, [11.5] * n, [520] * n, [5] * n,
             [f"uuid:{r}" for r in frame["ResponseId"]], list(range(1000, 1000 + n)),
             list(frame["ResponseId"]), [e.isoformat() for e in ends], [None] * n, [None] * n,
             ["submitted_via_web"] * n, ["enumerator1"] * n, ["vABC"] * n, [None] * n,
             list(range(1, n + 1))]
    if sep == "-":  # ODK Central names its system columns differently
        names = [("SubmissionDate" if x == "_submission_time" else "KEY" if x == "_uuid"
                  else "SubmitterName" if x == "_submitted_by" else "ReviewState" if x == "_status"
                  else x) for x in names]
    return [names] + [[v[r] for v in vals] for r in range(n)]


def write_sav(path: Path, frame: pd.DataFrame, inst) -> Path:
    """SPSS: items numeric; 'Don't know' = -98 and refused = -99, both user-missing, labelled."""
    import pyreadstat

    items = inst.item_ids
    out = frame[["ResponseId", "firm_id", "cluster", "region", "Finished",
                 "Duration (in seconds)"]].copy()
    out["Finished"] = out["Finished"].astype(float)
    out = out.rename(columns={"Duration (in seconds)": "Duration"})
    for i in items:
        out[i] = frame[i].map(lambda v: -98.0 if v == "Don't know" else
                              (np.nan if v is None else float(v))).astype(float)
    labels = {i: {float(k): v for k, v in inst.item(i).scale.labels.items()}
              | {-98.0: "Don't know", -99.0: "Refused"} for i in items}
    pyreadstat.write_sav(out, str(path), column_labels={i: inst.item(i).text for i in items},
                         variable_value_labels=labels,
                         missing_ranges={i: [-98, -99] for i in items})
    return path


def write_dta(path: Path, frame: pd.DataFrame, inst) -> Path:
    """Stata: extended missing .a = Don't know, .b = refused (-99), labelled."""
    import pyreadstat

    items = inst.item_ids
    out = frame[["ResponseId", "firm_id", "cluster", "region"]].copy()
    out["Finished"] = frame["Finished"].astype(float)
    out["Duration"] = frame["Duration (in seconds)"].astype(float)
    for i in items:
        out[i] = frame[i].map(lambda v: "a" if v == "Don't know" else "b" if v == -99 else
                              (np.nan if v is None else float(v))).astype(object)
    labels = {i: {int(k): v for k, v in inst.item(i).scale.labels.items()}
              | {"a": "Don't know", "b": "Refused"} for i in items}
    pyreadstat.write_dta(out, str(path), column_labels={i: inst.item(i).text[:80] for i in items},
                         variable_value_labels=labels,
                         missing_user_values={i: ["a", "b"] for i in items})
    return path


def study(folder: Path, files: list[str] | None, *, id_column="ResponseId", extra="",
          instrument: str | None = None) -> Path:
    """A study folder with the default instrument and the given survey files (in data/raw/)."""
    from pipeline.config.instrument import default_instrument_path

    folder = Path(folder)
    (folder / "data" / "raw").mkdir(parents=True, exist_ok=True)
    (folder / "instruments").mkdir(exist_ok=True)
    inst_path = instrument or "instruments/social_capital.yaml"
    if instrument is None:
        (folder / "instruments" / "social_capital.yaml").write_bytes(
            default_instrument_path().read_bytes())
    lines = ["title: layouts", f"instrument: {inst_path}", "survey:"]
    if files is not None:
        lines.append("  files: [" + ", ".join(f"data/raw/{f}" for f in files) + "]")
    if id_column:
        lines.append(f"  id: {id_column}")
    lines.append(extra.rstrip())
    (folder / "study.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


# ---------------------------------------------------------------------------------------------
# platforms added for issue 17: each writer reproduces how the platform writes its export, from
# genuine public exports and the platforms' own writers (named in each docstring). Two responses
# of each file carry the platform's marker of an incomplete response and one its marker of a
# test run, where the platform has them; the tests check exactly those are excluded.


def _codes(frame: pd.DataFrame, inst, *, missing_text="Don't know", refused=-99, blank=None):
    """Item answers with the platform's spelling of "don't know", -99 and blanks."""
    out = frame.copy()
    for i in inst.item_ids:
        out[i] = [missing_text if v == "Don't know" else refused if v == -99 else
                  blank if v is None or (isinstance(v, float) and np.isnan(v)) else
                  v if isinstance(v, str) else int(v)
                  for v in frame[i]]
    return out


def _stamp(i: int) -> pd.Timestamp:
    return pd.Timestamp("2026-03-02 09:00:00") + pd.Timedelta(minutes=7 * i)


def write_limesurvey(path: Path, frame: pd.DataFrame, inst, *, separator=";",
                     full_text=False) -> Path:
    """LimeSurvey "Export responses" as csv, byte for byte as its CsvWriter writes it
    (LimeSurvey/LimeSurvey, application/helpers/admin/export/CsvWriter.php): a UTF-8 BOM, every
    header and value quoted (quotes doubled), ``;`` between cells by default, CRLF after every
    record and one more CRLF at the end. Columns as in genuine exports found in public analysis
    scripts: id, submitdate, lastpage, startlanguage, seed, startdate, datestamp, then the
    questions; array questions headed ``code[subquestion code]`` ("Question code" headings) or
    ``Question text [Subquestion text]`` ("Full question text"); interviewtime when timings are
    on. Responses 1 and 2 were never submitted (submitdate empty, lastpage 1)."""
    f = _codes(as_labels(frame, inst, inst.item_ids) if full_text else frame, inst,
               missing_text="Don't know" if full_text else "", refused="" if full_text else "")
    head = ["id", "submitdate", "lastpage", "startlanguage", "seed", "startdate", "datestamp",
            "firm_id", "cluster", "region"]
    if full_text:
        head = ["Response ID", "Date submitted", "Last page", "Start language", "Seed",
                "Date started", "Date last action", "firm_id", "cluster", "region"]
    cols = list(head)
    for c, ids in inst.construct_items().items():
        for i in ids:
            cols.append(f"{STEM} [{inst.item(i).text}]" if full_text else f"{c}[{i}]")
    cols.append("Total time" if full_text else "interviewtime")
    lines = []
    for r, row in enumerate(f.itertuples(index=False)):
        d = dict(zip(f.columns, row))
        submitted = r not in (1, 2)
        vals = [r + 1, _stamp(r).strftime("%Y-%m-%d %H:%M:%S") if submitted else "",
                3 if submitted else 1, "en", 1000 + r, _stamp(r).strftime("%Y-%m-%d %H:%M:%S"),
                _stamp(r).strftime("%Y-%m-%d %H:%M:%S"), d["firm_id"], d["cluster"], d["region"]]
        vals += [d[i] for ids in inst.construct_items().values() for i in ids]
        vals.append(d["Duration (in seconds)"])
        lines.append(vals)

    def q(v):
        v = "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)
        return '"' + v.replace('"', '""') + '"'
    text = separator.join(q(c) for c in cols) + "\r\n"
    text += "".join(separator.join(q(v) for v in vals) + "\r\n" for vals in lines)
    text += "\r\n"
    Path(path).write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    return path


REDCAP_FORM = "social_capital_survey"


def write_redcap(path: Path, frame: pd.DataFrame, inst, *, dk_code=99) -> Path:
    """A REDCap record export ("CSV / Microsoft Excel (raw data)"), as in REDCapR's test data
    (OuhscBbmc/REDCapR, inst/test-data/project-survey/survey-data.csv): field names unquoted in
    the header, the record id first, ``redcap_survey_identifier``, ``<form>_timestamp`` quoted
    ("[not completed]" for a survey never completed), the form's fields, ``<form>_complete``
    (0 Incomplete, 1 Unverified, 2 Complete); LF line ends, cells quoted only where needed.
    A second form (``contact``, staff-entered, no items) follows with its own completion
    column, left Incomplete for every record (it must not exclude anyone). "Don't know" is the
    radio choice ``dk_code``; refused answers are left blank (REDCap has no -99 in a radio
    field). Records 2 and 3 are Incomplete (0) and Unverified (1)."""
    f = _codes(frame, inst, missing_text=dk_code, refused=None)
    items = [i for ids in inst.construct_items().values() for i in ids]
    head = (["record_id", "redcap_survey_identifier", f"{REDCAP_FORM}_timestamp", "firm_id",
             "cluster", "region"] + items + [f"{REDCAP_FORM}_complete", "contact_note",
                                             "contact_complete"])
    records = []
    for r in range(len(f)):
        complete = {1: 0, 2: 1}.get(r, 2)
        stamp = (_stamp(r).strftime("%Y-%m-%d %H:%M:%S") if complete == 2 else "[not completed]")
        records.append([r + 1, "", stamp, f["firm_id"].iloc[r], f["cluster"].iloc[r],
                        f["region"].iloc[r]] + [f[i].iloc[r] for i in items]
                       + [complete, "", 0])
    buf = [",".join(head)]
    for vals in records:
        cells = []
        for k, v in enumerate(vals):
            v = "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)
            cells.append(f'"{v}"' if k == 2 and v else v)
        buf.append(",".join(cells))
    Path(path).write_text("\n".join(buf) + "\n", encoding="utf-8", newline="")
    return path


REDCAP_DICT_HEAD = ['"Variable / Field Name"', '"Form Name"', '"Section Header"', '"Field Type"',
                    '"Field Label"', '"Choices, Calculations, OR Slider Labels"', '"Field Note"',
                    '"Text Validation Type OR Show Slider Number"', '"Text Validation Min"',
                    '"Text Validation Max"', "Identifier?",
                    '"Branching Logic (Show field only if...)"', '"Required Field?"',
                    '"Custom Alignment"', '"Question Number (surveys only)"',
                    '"Matrix Group Name"', '"Matrix Ranking?"', '"Field Annotation"']


def write_redcap_dictionary(path: Path, inst, *, annotate=True, dk_code=99) -> Path:
    """The REDCap data dictionary of :func:`write_redcap`, as REDCap downloads it (REDCapR's
    test data, inst/test-data/project-survey/survey-data-dictionary.csv): 18 columns, the
    header quoted except ``Identifier?``, labels and choices quoted, choices written
    ``"1, Strongly disagree | 2, Disagree | ..."``. Each construct is a matrix of radio fields
    (``Matrix Group Name``) under a ``Section Header``; with ``annotate`` the items carry
    ``@SOCAP-CONSTRUCT=<construct>`` (and ``@SOCAP-REVERSE``, ``@SOCAP-MISSING=<dk_code>``) in
    the Field Annotation, else socap falls back to the matrix groups and section headers."""
    def q(v):
        return f'"{v}"' if v else ""
    lines = [",".join(REDCAP_DICT_HEAD)]
    blank = [""] * 18

    def row(name, ftype, label, choices="", section="", matrix="", note="", ident=""):
        r = list(blank)
        r[0], r[1], r[2], r[3], r[4], r[5] = name, REDCAP_FORM, q(section), ftype, q(label), q(choices)
        r[10], r[15], r[17] = ident, matrix, q(note)
        return ",".join(r)
    lines.append(row("record_id", "text", "Record ID"))
    for name in ("firm_id", "cluster", "region"):
        lines.append(row(name, "text", name.replace("_", " ").title()))
    for c, construct in inst.constructs.items():
        for k, item in enumerate(construct.items):
            sc = item.scale
            choices = " | ".join(f"{int(code)}, {sc.labels.get(float(code), int(code))}"
                                 for code in range(int(sc.min), int(sc.max) + 1))
            choices += f" | {dk_code}, Don't know"
            note = ""
            if annotate:
                note = f"@SOCAP-CONSTRUCT={c} @SOCAP-MISSING={dk_code}" + (
                    " @SOCAP-REVERSE" if item.reverse else "")
            lines.append(row(item.id, "radio", item.text, choices,
                             section=construct.label if k == 0 else "", matrix=c, note=note))
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8", newline="")
    return path


SOSCI_LABELS = {"CASE": "Interview number (ongoing)", "SERIAL": "Serial number (if provided)",
                "REF": "Reference (if provided in link)",
                "QUESTNNR": "Questionnaire that has been used in the interview",
                "MODE": "Interview mode", "STARTED": "Time the interview has started (Europe/Berlin)",
                "TIME_SUM": "Time spent overall (except outliers)",
                "FINISHED": "Has the interview been finished (reached last page)?",
                "Q_VIEWER": "Did the respondent only view the questionnaire, omitting mandatory "
                            "questions?",
                "LASTPAGE": "Last page that the participant has handled in the questionnaire",
                "MAXPAGE": "Hindmost page handled by the participant",
                "MISSING": "Missing answers in percent",
                "MISSREL": "Missing answers (weighted by relevance)",
                "DEG_TIME": "Degradation points for being very fast"}


def sosci_table(frame: pd.DataFrame, inst) -> tuple[list[str], list[list]]:
    """SoSci Survey's data columns and rows (see :func:`write_sosci`)."""
    f = _codes(frame, inst, missing_text=-1, refused=-9, blank=-9)
    items = [i for ids in inst.construct_items().values() for i in ids]
    names = ["CASE", "SERIAL", "REF", "QUESTNNR", "MODE", "STARTED", "firm_id", "cluster",
             "region"] + [f"SC{k:02d}_{j:02d}" for k, ids in enumerate(
                 inst.construct_items().values(), start=1) for j in range(1, len(ids) + 1)]
    names += ["TIME_SUM", "FINISHED", "Q_VIEWER", "LASTPAGE", "MAXPAGE", "MISSING", "MISSREL",
              "DEG_TIME"]
    rows = []
    for r in range(len(f)):
        finished = 0 if r in (1, 2) else 1
        rows.append([20 + r, None, None, "base", "pretest" if r == 3 else "interview",
                     _stamp(r).strftime("%Y-%m-%d %H:%M:%S"), f["firm_id"].iloc[r],
                     f["cluster"].iloc[r], f["region"].iloc[r]]
                    + [f[i].iloc[r] for i in items]
                    + [int(f["Duration (in seconds)"].iloc[r]), finished, 0,
                       5 if finished else 2, 5 if finished else 2, 0, 0, 3])
    return names, rows


def sosci_columns(inst) -> dict[str, str]:
    """``survey.columns`` for a SoSci export: SoSci names items by question (SC01_01)."""
    return {f"SC{k:02d}_{j:02d}": i for k, ids in enumerate(inst.construct_items().values(),
                                                             start=1)
            for j, i in enumerate(ids, start=1)}


def write_sosci(path: Path, frame: pd.DataFrame, inst) -> Path:
    """SoSci Survey's ``data_<project>_<date>.csv`` as in genuine exports published with
    analyses (chrisharrisUU/hups, Data/HUPS3_data.csv): tab between cells, header names and
    text values quoted, numbers and empty cells bare, LF line ends; FINISHED 1/0, -9 for "not
    answered" and -1 for the residual option ("don't know"). Responses 1 and 2 did not finish
    (FINISHED 0); response 3 is a pretest run (MODE pretest). xlsx: SoSci's Excel export adds
    a second header row of variable labels."""
    names, rows = sosci_table(frame, inst)
    if Path(path).suffix == ".xlsx":
        labels = [SOSCI_LABELS.get(n, n) for n in names]
        return write(path, [names, labels] + rows)

    def cell(v):
        if v is None:
            return ""
        if isinstance(v, (int, float, np.integer, np.floating)):
            return str(v)
        return '"' + str(v).replace('"', '""') + '"'
    text = "\t".join(f'"{n}"' for n in names) + "\n"
    text += "".join("\t".join(cell(v) for v in r) + "\n" for r in rows)
    Path(path).write_text(text, encoding="utf-8", newline="")
    return path


def write_google_forms(path: Path, frame: pd.DataFrame, inst) -> Path:
    """Google Forms' responses sheet downloaded as csv, as in genuine files quoted in public
    code: ``Timestamp`` first (``2026/03/02 9:00:00 AM GMT+1``), ``Email Address`` when the form
    collects it, then each question's full text; a multiple-choice grid writes one column per
    row headed ``Question [Row]``; answers are choice texts; cells quoted only where needed.
    Google Forms keeps submitted responses only: no completion marker."""
    f = as_labels(frame, inst, inst.item_ids)
    head = ["Timestamp", "Email Address", "Which firm do you answer for?", "Your cluster?",
            "Your region?"]
    head += [f"{STEM} [{inst.item(i).text}]" for i in inst.item_ids]
    rows = [head]
    for r in range(len(f)):
        t = _stamp(r)
        rows.append([t.strftime("%Y/%m/%d %-I:%M:%S %p GMT+1"), f["email"].iloc[r],
                     f["firm_id"].iloc[r], f["cluster"].iloc[r], f["region"].iloc[r]]
                    + [None if f[i].iloc[r] == -99 else f[i].iloc[r] for i in inst.item_ids])
    return write(path, rows)


def write_ms_forms(path: Path, frame: pd.DataFrame, inst) -> Path:
    """Microsoft Forms "Open in Excel" (xlsx): ``ID``, ``Start time``, ``Completion time``,
    ``Email``, ``Name``, then one column per question -- a Likert question one per statement,
    headed by the statement; answers are choice texts, times as Excel dates. Forms keeps
    completed responses only; the duration is completion minus start time."""
    f = as_labels(frame, inst, inst.item_ids)
    head = ["ID", "Start time", "Completion time", "Email", "Name", "Firm ID", "Cluster",
            "Region"] + [inst.item(i).text for i in inst.item_ids]
    rows = [head]
    for r in range(len(f)):
        t0 = _stamp(r).to_pydatetime()
        t1 = t0 + pd.Timedelta(seconds=int(f["Duration (in seconds)"].iloc[r])).to_pytimedelta()
        rows.append([r + 1, t0, t1, "anonymous", None, f["firm_id"].iloc[r], f["cluster"].iloc[r],
                     f["region"].iloc[r]]
                    + [None if f[i].iloc[r] == -99 else f[i].iloc[r] for i in inst.item_ids])
    return write(path, rows)


def write_por(path: Path, frame: pd.DataFrame, inst) -> Path:
    """SPSS portable (.por), written by ReadStat (pyreadstat.write_por): variable names of at
    most 8 characters, upper case, as the portable format stores them (RESPID, FIRM_ID,
    COORD_1); "Don't know" as -98 (portable files written by ReadStat keep no user-missing
    declaration, so the study declares it)."""
    import pyreadstat

    out = frame[["ResponseId", "firm_id", "cluster", "region"]].copy()
    out = out.rename(columns={"ResponseId": "respid"})
    out["Finished"] = frame["Finished"].astype(float)
    for i in inst.item_ids:
        out[i] = frame[i].map(lambda v: -98.0 if v == "Don't know" else
                              (np.nan if v is None else float(v))).astype(float)
    out.columns = [c.upper() for c in out.columns]
    pyreadstat.write_por(out, str(path))
    return path
