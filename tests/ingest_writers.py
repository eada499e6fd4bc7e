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
