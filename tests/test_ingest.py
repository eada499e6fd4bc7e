"""Reading exports: encodings, delimiters, ids, personal data, drop-in folders, read-only raw data."""

from __future__ import annotations

import hashlib
import os

import numpy as np
import pandas as pd
import pytest
from ingest_writers import base_survey, kobo_rows, study, write

from pipeline.errors import StudyError
from pipeline.ingest.survey import read_survey, read_table, read_unit_table
from pipeline.ingest.personal import identifying_columns, is_identifying
from pipeline.ingest.plain import read_export
from pipeline.ingest.tables import read_grid, sniff_delimiter
from pipeline.config.study import read_study

TEXT = "id;name_of_firm;q1;q2\n0012;Müller & Söhne;4;Agree\n13;Café Crème;5;3\n"


@pytest.mark.parametrize("encoding,expected", [("utf-8", "utf-8"), ("utf-8-sig", "utf-8 (BOM)"),
                                               ("cp1252", "cp1252"), ("utf-16", "utf-16")])
def test_encodings_are_recorded_and_text_survives(tmp_path, encoding, expected):
    p = tmp_path / "s.csv"
    p.write_bytes(TEXT.encode(encoding))
    t = read_table(p)
    assert t.encoding == expected and t.delimiter == ";"
    assert list(t.frame["name_of_firm"]) == ["Müller & Söhne", "Café Crème"]
    assert list(t.frame["id"]) == ["0012", "13"]  # leading zeros: the id column stays text
    assert t.frame["q1"].dtype == np.int64 and list(t.rows) == [2, 3]
    exp = read_export(p)
    assert (encoding == "cp1252") == any("cp1252" in n for n in exp.notes)


def test_windows_1252_text_with_byte_pairs_that_look_like_utf8(tmp_path):
    """'ß' (0xDF) before a closing quote (0x93) is a valid UTF-8 pair: a genuine Windows-1252
    file holding it is read as Windows-1252, not refused as mixing two encodings."""
    text = "id;answer\n1;Die Straße ist „groß“\n2;« très bien »\n"
    p = tmp_path / "s.csv"
    p.write_bytes(text.encode("cp1252"))
    t = read_table(p)
    assert t.encoding == "cp1252"
    assert list(t.frame["answer"]) == ["Die Straße ist „groß“", "« très bien »"]


def test_sniffing_is_not_fooled_by_commas_and_line_breaks_in_quoted_headers():
    text = ('"Q1","How much, on a scale\nfrom 1 to 5, do you trust?";"x"\n' * 0
            + 'id;"How much, on a scale\nfrom 1, to 5?";"Another, question"\n1;2;3\n4;5;6\n')
    assert sniff_delimiter(text) == ";"
    assert sniff_delimiter("a,b,c\n1,2,3\n") == ","
    assert sniff_delimiter("a\tb\n1\t2\n") == "\t"


def test_blank_rows_ragged_rows_and_file_row_numbers(tmp_path):
    p = tmp_path / "s.csv"
    p.write_text('id,q1,q2\n\na,1,2\n"b\nc",3,4,\n,,\nd,5,6\n\n', encoding="utf-8")
    t = read_table(p)
    assert list(t.frame["id"]) == ["a", "b\nc", "d"]
    assert list(t.rows) == [3, 4, 6]  # records as a spreadsheet numbers them (header = 1)


def test_header_problems_are_reported_together(tmp_path):
    p = tmp_path / "s.csv"
    p.write_text("id,q1,q1,,q3\na,1,2,9,3\n")
    with pytest.raises(StudyError) as err:
        read_table(p)
    assert len(err.value.problems) == 2
    assert "'q1' appears twice (columns B and C)" in str(err.value)
    assert "column D has data but no name" in str(err.value)
    p.write_text("id,q1\n")
    with pytest.raises(StudyError, match="header but no responses"):
        read_export(p)
    (tmp_path / "bad.xlsx").write_bytes(b"not a zip")
    with pytest.raises(StudyError, match="not a valid .xlsx"):
        read_grid(tmp_path / "bad.xlsx")


def test_xlsx_values_and_sheet_choice(tmp_path):
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "notes"
    ws.append(["read me"])
    ws2 = wb.create_sheet("data")
    for r in (["id", "q1", "firm", "w"], ["0012", 4, " F1 ", 1.5], [13, "Agree", None, 2], [None] * 4,
              ["x", 3, "F2", None]):
        ws2.append(r)
    wb.save(tmp_path / "s.xlsx")
    t = read_table(tmp_path / "s.xlsx", sheet="data")
    assert t.sheet == "data" and list(t.rows) == [2, 3, 5]
    assert list(t.frame["q1"]) == [4, "Agree", 3] and list(t.frame["firm"]) == ["F1", None, "F2"]
    assert t.frame["w"].dtype == float and np.isnan(t.frame["w"].iloc[2])
    with pytest.raises(StudyError, match="did you mean 'data'"):
        read_table(tmp_path / "s.xlsx", sheet="dta")
    units = read_unit_table(tmp_path / "s.xlsx", id_column="id", sheet="data")
    assert list(units["id"]) == ["0012", "13", "x"]


def test_personal_data_names_of_each_platform():
    for name in ("IPAddress", "RecipientLastName", "RecipientFirstName", "RecipientEmail",
                 "ExternalReference", "LocationLatitude", "LocationLongitude", "IP Address",
                 "Email Address", "First Name", "Last Name", "Custom Data 1", "_geolocation",
                 "_gps_latitude", "gps_longitude", "_submitted_by", "deviceid", "phonenumber",
                 "username", "SubmitterName", "email", "Phone number", "respondent_name"):
        assert is_identifying(name), name
    for name in ("region", "firm_name", "company_name", "cluster", "location", "Status",
                 "firm_id", "ResponseId", "_uuid", "trust_1", "Respondent ID", "employees"):
        assert not is_identifying(name), name


def test_personal_data_by_content_and_never_items_or_configured_columns():
    frame = pd.DataFrame({"contact": ["a@b.org", "c@d.com", None], "note": ["x", "y@", "z"],
                          "phone": [1, 2, 3], "ip": [1, 2, 3], "smartphone_use": [1, 2, 2]})
    assert identifying_columns(frame.columns, frame) == ["contact", "phone", "ip"]
    # an instrument item or a configured column is never dropped
    assert identifying_columns(frame.columns, frame, keep={"ip", "phone"}) == ["contact"]


def test_personal_respondent_id_is_an_error(tmp_path):
    frame, inst = base_survey()
    folder = study(tmp_path / "a", ["s.csv"], id_column="email")
    frame.to_csv(folder / "data/raw/s.csv", index=False)
    with pytest.raises(StudyError) as err:
        read_survey(read_study(folder))
    assert "survey.id is 'email', which looks like personal data" in str(err.value)
    assert "pseudonymous" in str(err.value)
    f2 = frame.rename(columns={"email": "respondent"})
    folder = study(tmp_path / "b", ["s.csv"], id_column="respondent")
    f2.to_csv(folder / "data/raw/s.csv", index=False)
    with pytest.raises(StudyError, match="its values are e-mail addresses"):
        read_survey(read_study(folder))


def test_drop_in_reads_every_export_but_the_unit_table_and_ties(tmp_path):
    frame, inst = base_survey()
    folder = study(tmp_path / "s", None, extra="units:\n  file: data/raw/firms.csv\n  id: firm_id")
    raw = folder / "data/raw"
    frame.iloc[:10].to_csv(raw / "a.csv", index=False)
    frame.iloc[10:].to_csv(raw / "b.csv", index=False)
    pd.DataFrame({"firm_id": sorted(set(frame["firm_id"]))}).to_csv(raw / "firms.csv", index=False)
    (raw / "~$a.xlsx").write_bytes(b"lock")
    (raw / "README.txt.bak").write_text("x")
    got = read_survey(read_study(folder))
    assert [os.path.basename(f.path) for f in got.files] == ["a.csv", "b.csv"]
    assert len(got.data) == len(frame)


def test_raw_data_are_never_written(tmp_path):
    """Every file of data/raw/ is byte-identical after reading, and nothing is added there."""
    frame, inst = base_survey()
    folder = study(tmp_path / "s", None)
    raw = folder / "data/raw"
    frame.to_csv(raw / "a.csv", index=False)
    write(raw / "k.xlsx", kobo_rows(frame, inst))
    from ingest_writers import write_sav

    write_sav(raw / "c.sav", frame.assign(ResponseId="x" + frame["ResponseId"]), inst)
    for p in raw.iterdir():
        p.chmod(0o444)

    def snapshot():
        return {p.name: (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns,
                         p.stat().st_mode) for p in raw.iterdir()}

    before = snapshot()

    st = read_study(folder)
    got = read_survey(st)
    assert {f.layout for f in got.files} == {"plain", "kobo", "spss"}
    assert snapshot() == before


def test_kobo_dash_separator_recognised_through_item_names(tmp_path):
    frame, inst = base_survey()
    rows = kobo_rows(frame, inst, sep="-")
    # a KoBo (not ODK Central) export written with the '-' group separator option
    rows[0] = [{"SubmissionDate": "_submission_time", "KEY": "_uuid", "SubmitterName": "_submitted_by",
                "ReviewState": "_status"}.get(c, c) for c in rows[0]]
    p = tmp_path / "k.csv"
    write(p, rows)
    exp = read_export(p, known_names=inst.item_ids)
    assert exp.file.layout == "kobo" and "coord_1" in exp.data.columns
    assert any("stripped at '-'" in n for n in exp.notes)
    exp = read_export(p, separator="/", known_names=inst.item_ids)  # configured: taken as given
    assert "grp_coordination-coord_1" in exp.data.columns


def test_windows_line_ends_quoted_breaks_and_number_like_text(tmp_path):
    p = tmp_path / "s.csv"
    p.write_bytes(b'id,q,code,note,x\r\n1,"two\r\nlines",007,nan,1e2\r\n2,plain,8,inf,+3\r\n')
    t = read_table(p)
    assert list(t.rows) == [2, 3] and list(t.frame["id"]) == [1, 2]
    assert t.frame["q"].iloc[0] == "two\r\nlines" or t.frame["q"].iloc[0] == "two\nlines"
    assert list(t.frame["code"]) == ["007", "8"]  # leading zeros: text
    assert list(t.frame["note"]) == ["nan", "inf"]  # words, not numbers
    assert t.frame["x"].tolist() == [100, 3]
