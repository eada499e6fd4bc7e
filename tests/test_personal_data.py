"""Personal data never leaks (issue 18, part A): identifying columns are found by name in several
languages and by content, dropped before anything is written and reported with the reason only;
data/processed/ and reports/ hold only ids, items, scores, the models' columns and what
``survey: keep:`` lists."""

from __future__ import annotations

import json
import re
import shutil
import zipfile

import numpy as np
import pandas as pd
import pytest
from ingest_writers import base_survey, kobo_rows, study, write

from pipeline.cli import main
from pipeline.ingest.personal import content_kind, find_personal, is_identifying, name_kind


# --- by name ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name, kind", [
    ("Telefon", "phone number"), ("Teléfono", "phone number"), ("Téléphone", "phone number"),
    ("電話番号", "phone number"), ("Handynummer", "phone number"),
    ("Número de teléfono", "phone number"), ("手机号码", "phone number"),
    ("Nombre", "person's name"), ("Vorname", "person's name"), ("Nachname", "person's name"),
    ("氏名", "person's name"), ("名前", "person's name"), ("Prénom", "person's name"),
    ("Apellidos", "person's name"), ("Cognome", "person's name"), ("이름", "person's name"),
    ("RespondentFirstName", "person's name"), ("RecipientFirstName", "person's name"),
    ("Respondent Last Name", "person's name"),
    ("E-Mail", "e-mail address"), ("correo", "e-mail address"),
    ("Correo electrónico", "e-mail address"), ("courriel", "e-mail address"),
    ("メールアドレス", "e-mail address"),
    ("Adresse", "postal address"), ("Dirección", "postal address"), ("Straße", "postal address"),
    ("住所", "postal address"), ("PLZ", "postal address"),
    ("IPAddress", "IP address or device id"), ("IP-Adresse", "IP address or device id"),
    ("LocationLatitude", "location"), ("Breitengrad", "location"), ("緯度", "location"),
])
def test_personal_data_names_in_several_languages(name, kind):
    assert name_kind(name) == kind
    assert is_identifying(name)


@pytest.mark.parametrize("name", [
    "trust_1", "Q1_1", "firm_id", "year", "employees", "department", "comments", "region",
    "firm_name", "company_name", "Nombre de empleados", "StartDate", "Duration (in seconds)",
    "UserLanguage", "telework", "mobility", "names_count", "tel_1", "new_products",
])
def test_look_alike_names_are_not_personal_data(name):
    assert name_kind(name) is None


# --- by content ------------------------------------------------------------------------------

def _text(*values):
    return pd.Series(list(values), dtype=object)


@pytest.mark.parametrize("values, kind", [
    (_text("great survey", "write to me at jo.doe@example.org please", None), "e-mail addresses"),
    (_text("call me on +49 30 1234 5678", "no thanks"), "phone numbers"),
    (_text("03-1234-5678", "-"), "phone numbers"),
    (_text("(555) 123-4567",), "phone numbers"),
    (_text("Tokyo office +81 3-1234-5678",), "phone numbers"),
    (_text("030 1234 5678",), "phone numbers"),
    (_text("portable 06.12.34.56.78",), "phone numbers"),
    (_text("sent from 192.168.10.21 at work",), "IP addresses"),
    (_text("2001:db8:85a3::8a2e:370:7334",), "IP addresses"),
    (_text("35.6812 139.7671 40.0 5.0", "35.6813 139.7672 41 4.5"), "coordinates"),  # geopoints
    (_text("35.6812 139.7671 40 5;35.6815 139.7675 41 5"), "coordinates"),  # a geotrace
    (_text("35.6812, 139.7671", "48.1351, 11.5820"), "coordinates"),  # lat/long pairs
    (pd.Series(["a@b.org", "x", "x"], dtype="category"), "e-mail addresses"),
])
def test_personal_data_by_content(values, kind):
    assert content_kind(values) == kind


@pytest.mark.parametrize("values", [
    pd.Series([1, 2, 3, 4, 5, 3, 2]),  # a 1-5 item
    pd.Series([1.0, np.nan, 5.0]),
    _text("1", "2", "5", "3"),  # Likert codes as text
    _text("Strongly agree", "Agree", "Don't know"),
    _text("0012", "0013", "0100"),  # ids with leading zeros
    _text("F0001", "F0002", "000123456789"),  # firm ids
    pd.Series([2019, 2020, 2021]), _text("2019", "2020"),  # years
    _text("2026-03-02 09:00:00", "2026-03-02T09:07:00.000+01:00", "02/03/2026 09:00"),
    _text("uuid:123e4567-1234-1234-1234-123456789012", "3f2a9c1e-1234-5678-9012-123456789012"),
    _text("1 2 3 4", "2 3"),  # a KoBo select_multiple of numbered choices
    _text("1.5, 2.5", "2.5 3.5"),  # not coordinates: too few decimals
    _text("Sales", "R&D", "turnover 12 500 000 EUR", "1,234,567"),
    _text("in 2019 2020 2021 we grew", "scores 5 10 15 20 25 30", "ISO 9001:2015 and 14001"),
])
def test_items_codes_ids_and_years_are_never_flagged(values):
    assert content_kind(values) is None


def test_items_and_configured_columns_are_never_judged():
    frame = pd.DataFrame({"trust_1": ["a@b.org", "c@d.org"], "firm_id": ["0012", "0013"],
                          "year": [2020, 2021], "note": ["call +49 30 1234 5678", "x"],
                          "Nombre": ["Ana", "Luis"]})
    found = find_personal(frame.columns, frame, keep={"trust_1", "firm_id"})
    assert [(f.column, f.by, f.what) for f in found] == [
        ("note", "content", "phone numbers"), ("Nombre", "name", "person's name")]


def test_kobo_geopoint_question_is_dropped_by_content(tmp_path):
    frame, inst = base_survey()
    rows = kobo_rows(frame, inst)
    rows[0].append("farm_site")  # a geopoint question whose name says nothing
    for k, r in enumerate(rows[1:]):
        r.append(f"35.{6812 + k} 139.{7671 + k} 40.0 5.0")
    folder = study(tmp_path / "s", ["kobo.csv"], id_column="_uuid")
    write(folder / "data/raw/kobo.csv", rows)
    from pipeline.config.study import read_study
    from pipeline.ingest.survey import read_survey

    raw = read_survey(read_study(folder))
    assert "farm_site" in raw.personal_data_dropped and "farm_site" not in raw.data.columns
    assert raw.personal_data_reasons["farm_site"] == {"by": "content", "what": "coordinates"}
    # the platform's time stamps and UUIDs are not phone numbers, items never personal data
    assert not {"start", "end", "_uuid", "_submission_time"} & set(raw.personal_data_dropped)
    assert not set(inst.item_ids) & set(raw.personal_data_dropped)


def test_qualtrics_export_in_spanish_and_german_loses_its_personal_columns(tmp_path):
    from ingest_writers import qualtrics_rows

    from pipeline.config.study import read_study
    from pipeline.ingest.survey import read_survey

    frame, inst = base_survey()
    rows = qualtrics_rows(frame, inst)
    extra = {"Teléfono": lambda i: f"+34 91 123 45{i:02d}", "Nachname": lambda i: f"Muster{i}",
             "Comentarios": lambda i: f"escribir a ana{i}@correo.example" if i == 2 else "nada",
             "Abteilung": lambda i: "Vertrieb", "Jahr": lambda i: 2020 + i % 3}
    for name, make in extra.items():
        rows[0].append(name)
        rows[1].append(name)
        rows[2].append(json.dumps({"ImportId": name}))
        for k, r in enumerate(rows[3:]):
            r.append(make(k))
    folder = study(tmp_path / "q", ["q.csv"])
    write(folder / "data/raw/q.csv", rows)
    raw = read_survey(read_study(folder))
    why = raw.personal_data_reasons
    assert why["Teléfono"] == {"by": "name", "what": "phone number"}
    assert why["Nachname"] == {"by": "name", "what": "person's name"}
    assert why["Comentarios"] == {"by": "content", "what": "e-mail addresses"}
    assert why["RecipientFirstName"] == {"by": "name", "what": "person's name"}
    assert why["LocationLatitude"] == {"by": "name", "what": "location"}
    assert {"Abteilung", "Jahr", "StartDate", "EndDate", "RecordedDate", "Status"} <= set(raw.data)
    assert not set(why) & {"Abteilung", "Jahr", *inst.item_ids}


def test_a_column_found_personal_in_one_export_is_dropped_from_every_export(tmp_path):
    from pipeline.config.study import read_study
    from pipeline.ingest.survey import read_survey

    frame, inst = base_survey()
    a, b = frame.iloc[:15].copy(), frame.iloc[15:].copy()
    a["remarks"] = ["call me: 030 1234 5678" if i == 3 else "fine" for i in range(len(a))]
    b["remarks"] = "nothing to add"
    folder = study(tmp_path / "s", ["a.csv", "b.csv"])
    a.to_csv(folder / "data/raw/a.csv", index=False)
    b.to_csv(folder / "data/raw/b.csv", index=False)
    raw = read_survey(read_study(folder))
    assert raw.personal_data_reasons["remarks"] == {"by": "content", "what": "phone numbers"}
    assert "remarks" not in raw.data.columns and "remarks" not in set(raw.columns["column"])
    assert len(raw.data) == len(frame)


# --- a whole run: nothing but the minimum is written -----------------------------------------

#: (column, values by row): extra columns of the export, each with values found nowhere else
EXTRA = {
    "comments": lambda i: (f"zqxv remark {i}: call me on +49 30 1234 {5600 + i}" if i % 7 == 0
                           else f"zqxv remark {i}"),
    "Nombre": lambda i: f"Zebulon Quagmire{i}",
    "contact": lambda i: f"ask zq{i}@mail.example.net",  # e-mails inside text, neutral name
    "department": lambda i: f"Dept-Xylo{i % 5}",
    "site": lambda i: f"12.3456{i:04d} 98.7654{i:04d} 40.0 5.0",
}
SECRETS = ("zqxv", "Zebulon", "Quagmire", "mail.example.net", "Dept-Xylo", "98.7654", "+49 30",
           "Ignatius", "pemberton.example", "Zx-Notes")
FIRM_EXTRA = {"contact_person": lambda i: f"Ignatius Pemberton{i}",
              "ceo_email": lambda i: f"ceo{i}@pemberton.example",
              "firm_notes": lambda i: f"Zx-Notes {i}"}


def _extra_study(folder, keep=None):
    from pipeline.ingest.tables import read_table

    export = read_table(folder / "data/raw/survey.xlsx").frame
    for col, make in EXTRA.items():
        export[col] = [make(i) for i in range(len(export))]
    (folder / "data/raw/survey.xlsx").unlink()
    export.to_csv(folder / "data/raw/survey.csv", index=False)
    firms = pd.read_csv(folder / "data/raw/firms.csv")
    for col, make in FIRM_EXTRA.items():
        firms[col] = [make(i) for i in range(len(firms))]
    firms.to_csv(folder / "data/raw/firms.csv", index=False)
    text = (folder / "study.yaml").read_text().replace("data/raw/survey.xlsx", "data/raw/survey.csv")
    if keep is not None:
        text = text.replace("  unit: firm_id\n", f"  unit: firm_id\n  keep: {keep}\n")
    (folder / "study.yaml").write_text(text)
    return export


def _every_text(folder) -> dict:
    """Each output file as text: parquet (column names and every value), xlsx (sheet names and
    every cell, through openpyxl), the rest (json, html, csv, R, svg) as decoded bytes; PNGs as
    raw bytes too."""
    from openpyxl import load_workbook

    out = {}
    for path in sorted(list((folder / "reports").rglob("*")) + list((folder / "data/processed").rglob("*"))):
        if not path.is_file():
            continue
        raw = path.read_bytes()
        if path.suffix == ".parquet":
            frame = pd.read_parquet(path)
            text = " ".join(map(str, frame.columns)) + "\n" + frame.to_csv()
        elif path.suffix == ".xlsx":
            wb = load_workbook(path)
            text = "\n".join([ws.title for ws in wb] + [str(c.value) for ws in wb
                                                        for row in ws.iter_rows() for c in row])
            with zipfile.ZipFile(path) as z:  # the XML parts as well
                text += "\n".join(z.read(n).decode("utf-8", "replace") for n in z.namelist())
        else:
            text = raw.decode("utf-8", "replace")
        out[path.relative_to(folder).as_posix()] = text
    return out


@pytest.fixture(scope="module")
def minimal_run(tmp_path_factory, example_study):
    folder = tmp_path_factory.mktemp("minimal") / "study"
    shutil.copytree(example_study, folder)
    export = _extra_study(folder)
    assert main(["run", str(folder), "--quiet"]) == 0
    return folder, export


def test_no_extra_column_reaches_processed_data_or_reports(minimal_run):
    folder, _ = minimal_run
    texts = _every_text(folder)
    assert any(p.endswith("responses.parquet") for p in texts)
    assert any(p.startswith("reports/reproduce/") for p in texts)
    for path, text in texts.items():
        for s in SECRETS:
            assert s not in text, (path, s)
    # the processed files' columns are the minimum: ids, items, scores, model/invariance columns
    resp = pd.read_parquet(folder / "data/processed/responses.parquet")
    items = [f"{c}_{k}" for c in ("coord", "coop", "recip", "trust") for k in range(1, 6)]
    assert list(resp.columns) == (["respondent_id", "firm_id", "cluster", "source_file",
                                   "source_row"] + items + ["coordination", "cooperation",
                                   "reciprocity", "trust", "social_capital", "region"])
    units = pd.read_parquet(folder / "data/processed/units.parquet")
    # unit-table columns no model names (employees, firm_age, the contacts) are left out
    assert not {"employees", "firm_age", "region", *FIRM_EXTRA} & set(units.columns)
    assert {"firm_id", "new_products", "log_employees", "degree", "social_capital"} <= set(units)
    ex = pd.read_csv(folder / "data/processed/exclusions.csv")
    assert list(ex.columns) == ["respondent_id", "source_file", "source_row", "rule", "detail"]


def test_dropped_columns_are_reported_with_the_reason_only(minimal_run):
    folder, export = minimal_run
    r = json.loads((folder / "reports/results.json").read_text())
    reasons = r["sample"]["personal_data_reasons"]
    assert reasons["Nombre"] == {"by": "name", "what": "person's name"}
    assert reasons["comments"] == {"by": "content", "what": "phone numbers"}
    assert reasons["contact"] == {"by": "content", "what": "e-mail addresses"}
    assert reasons["site"] == {"by": "content", "what": "coordinates"}
    assert reasons["email"] == {"by": "name", "what": "e-mail address"}
    assert "department" not in reasons  # not personal: left out of the outputs, not "dropped"
    assert set(reasons) == set(r["sample"]["personal_data_dropped"])
    html = (folder / "reports/report.html").read_text(encoding="utf-8")
    assert "comments (by content: phone numbers)" in html
    assert "Nombre (by name: person&#39;s name)" in html or "Nombre (by name: person's name)" in html


def test_validate_and_run_name_dropped_columns_and_why_without_values(minimal_run, capsys):
    folder, _ = minimal_run
    for command, marker in (("validate", "personal data columns dropped"),
                            ("run", "Personal data dropped at ingest")):
        assert main([command, str(folder)]) == 0
        out = capsys.readouterr()
        text = out.out + out.err
        line = next(l for l in text.splitlines() if marker in l)
        for part in ("Nombre (by name: person's name)", "comments (by content: phone numbers)",
                     "contact (by content: e-mail addresses)", "site (by content: coordinates)",
                     "IPAddress (by name: IP address or device id)"):
            assert part in line, (command, part)
        for s in SECRETS:
            assert s not in text, (command, s)


def test_survey_keep_writes_the_column_and_warns_for_personal_data(example_study, tmp_path):
    folder = tmp_path / "study"
    shutil.copytree(example_study, folder)
    _extra_study(folder, keep="[department, Nombre, firm_notes]")
    assert main(["run", str(folder), "--quiet"]) == 0
    resp = pd.read_parquet(folder / "data/processed/responses.parquet")
    assert resp["department"].str.startswith("Dept-Xylo").all()
    assert resp["Nombre"].str.startswith("Zebulon Quagmire").all()
    units = pd.read_parquet(folder / "data/processed/units.parquet")
    assert units["firm_notes"].str.startswith("Zx-Notes").all()
    assert "contact_person" not in units.columns
    r = json.loads((folder / "reports/results.json").read_text())
    assert r["config"]["survey"]["keep"] == ["department", "Nombre", "firm_notes"]
    html = (folder / "reports/report.html").read_text(encoding="utf-8")
    assert re.search(r"keep:\s*- department\s*- Nombre\s*- firm_notes", html)  # the config echo
    warned = [w["message"] for w in r["warnings"]]
    assert any("survey.keep keeps column 'Nombre', which looks like personal data "
               "(by name: person's name)" in w for w in warned)
    assert not any("'department'" in w for w in warned)
    assert "Nombre" not in r["sample"]["personal_data_dropped"]
    # what is not kept still stays out
    texts = _every_text(folder)
    for path, text in texts.items():
        for s in ("zqxv", "mail.example.net", "Ignatius"):
            assert s not in text, (path, s)


def test_survey_keep_unknown_column_is_an_error(example_study, tmp_path, capsys):
    folder = tmp_path / "study"
    shutil.copytree(example_study, folder)
    _extra_study(folder, keep="[departmnt]")
    assert main(["run", str(folder), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "survey.keep names column 'departmnt'" in err
    assert "did you mean 'department'" in err
    assert "study.yaml" in err and "Traceback" not in err
    assert not (folder / "reports/results.json").exists()


def test_survey_keep_takes_one_name_or_a_list(tmp_path):
    from pipeline.config.study import read_study

    folder = study(tmp_path / "s", ["s.csv"], extra="  keep: department")
    assert read_study(folder).config.survey.keep == ["department"]
    folder = study(tmp_path / "t", ["s.csv"], extra="  kep: [department]")
    from pipeline.errors import StudyError

    with pytest.raises(StudyError, match=re.escape("keep")):
        read_study(folder)


def test_kept_columns_are_those_the_analysis_names(example_study, tmp_path):
    from pipeline.checks import kept_columns
    from pipeline.config.study import read_study

    folder = tmp_path / "study"
    shutil.copytree(example_study, folder)
    text = (folder / "study.yaml").read_text()
    text = text.replace("  unit: firm_id\n", "  unit: firm_id\n  keep: [sector]\n")
    text = text.replace("  cfa: true\n", "  cfa: {estimator: mlr, cluster: school}\n")
    text = re.sub(r"  invariance: \S+\n", "  invariance: region\n", text)
    text = text.replace("  models:\n", "  models:\n    - name: resp\n      level: respondent\n"
                        "      formula: \"trust ~ tenure + log(age)\"\n      weight: w\n"
                        "      se: cluster\n      cluster: firm_id\n")
    (folder / "study.yaml").write_text(text)
    cfg = read_study(folder).config
    assert kept_columns(cfg, "respondent") == ["trust", "tenure", "age", "firm_id", "w",
                                               "region", "school", "sector"]
    unit = kept_columns(cfg, "unit")
    assert {"new_products", "degree", "social_capital", "log_employees", "cluster"} <= set(unit)
    assert not {"tenure", "age", "region", "school"} & set(unit) and unit[-1] == "sector"
