"""Exports of every platform work on first contact (issue 17).

Each file is written by tests/ingest_writers.py the way the platform writes it (sources named
in the writers' docstrings). Each case checks: the layout detected and why, exactly the
responses the platform marks incomplete or as test runs are excluded (by the rule that says
so), and every kept answer is coded as the simulated survey's code.
"""

from __future__ import annotations

import numpy as np
import pytest
from ingest_writers import (
    base_survey,
    kobo_rows,
    qualtrics_rows,
    sosci_columns,
    study,
    write,
    write_google_forms,
    write_limesurvey,
    write_ms_forms,
    write_por,
    write_redcap,
    write_sosci,
)

from pipeline.clean import clean_responses
from pipeline.config.study import read_study
from pipeline.errors import StudyError
from pipeline.ingest.layouts import detect
from pipeline.ingest.survey import read_survey


@pytest.fixture(scope="module")
def survey():
    return base_survey()


def _lime_columns(inst):
    return {f"{c}[{i}]": i for c, ids in inst.construct_items().items() for i in ids}


def _yaml_map(mapping):
    return "  columns: {" + ", ".join(f"'{k}': {v}" for k, v in mapping.items()) + "}"


# name -> (file, writer, survey.id, extra study.yaml lines, layout, words of the reason,
#          {rule: rows it must drop}, header rows, missing codes meaning "don't know")
CASES = {
    "limesurvey_codes": ("results-survey123.csv", lambda p, f, i: write_limesurvey(p, f, i),
                         "id", "", "limesurvey", ["submitdate", "lastpage"],
                         {"incomplete": 2}, 1),
    "limesurvey_full_text": ("results.csv", lambda p, f, i: write_limesurvey(
        p, f, i, separator=",", full_text=True), "Response ID", "", "limesurvey",
        ["full-text headings", "Date submitted"], {"incomplete": 2}, 1),
    "redcap": ("SocialCapital_DATA_2026-03-02.csv", lambda p, f, i: write_redcap(p, f, i),
               "record_id", "  missing: [99]", "redcap", ["record_id", "*_complete"],
               {"incomplete": 2}, 1),
    "sosci_csv": ("data_socap_2026-03-02.csv", lambda p, f, i: write_sosci(p, f, i), "CASE",
                  "sosci", "sosci", ["CASE", "QUESTNNR"], {"incomplete": 2, "previews": 1}, 1),
    "sosci_xlsx": ("data_socap_2026-03-02.xlsx", lambda p, f, i: write_sosci(p, f, i), "CASE",
                   "sosci", "sosci", ["CASE", "QUESTNNR"], {"incomplete": 2, "previews": 1}, 2),
    "google_forms": ("Survey (Responses).csv", lambda p, f, i: write_google_forms(p, f, i), None,
                     "  unit: \"Which firm do you answer for?\"", "googleforms",
                     ["Timestamp", "grid rows"], {}, 1),
    "ms_forms": ("Survey.xlsx", lambda p, f, i: write_ms_forms(p, f, i), "ID",
                 "  unit: Firm ID", "msforms", ["Start time", "Completion time"], {}, 1),
    "spss_por": ("survey.por", lambda p, f, i: write_por(p, f, i), "RESPID",
                 "  missing: [-98]\n  unit: FIRM_ID", "spss", [".por"], {}, 0),
}


def _read(tmp_path, name, survey):
    frame, inst = survey
    fname, writer, id_col, extra, *_ = CASES[name]
    if extra == "sosci":
        extra = _yaml_map(sosci_columns(inst))
    folder = study(tmp_path / name, [fname], id_column=id_col, extra=extra)
    writer(folder / "data" / "raw" / fname, frame, inst)
    st = read_study(folder)
    raw = read_survey(st)
    return st, raw, clean_responses(raw, inst, st.config)


def _expected(frame, inst):
    """The simulated answers as codes (missing codes and blanks NaN), reverse-keyed."""
    out = {}
    for i in inst.item_ids:
        v = np.array([float(x) if isinstance(x, (int, float, np.integer, np.floating))
                      and 1 <= float(x) <= 5 else np.nan for x in frame[i]])
        it = inst.item(i)
        out[i] = it.scale.reverse(v) if it.reverse else v
    return out


@pytest.mark.parametrize("name", list(CASES))
def test_platform_export_reads_as_the_platform_writes_it(tmp_path, survey, name):
    frame, inst = survey
    _, _, _, _, layout, words, dropped, header_rows = CASES[name]
    st, raw, cleaned = _read(tmp_path, name, survey)
    f = raw.files[0]
    assert f.layout == layout
    for w in words:
        assert w in f.layout_reason, (w, f.layout_reason)
    by_rule = {k: v for k, v in cleaned.sample["excluded_by_rule"].items() if v}
    # the base survey holds one speeder by its duration, where the export has durations
    by_rule.pop("speeders", None)
    assert by_rule == dropped
    expected = _expected(frame, inst)
    rows = cleaned.responses["source_row"].to_numpy() - header_rows - 1
    assert len(rows) == len(frame) - sum(cleaned.sample["excluded_by_rule"].values())
    for i in inst.item_ids:
        got = cleaned.responses[i].to_numpy(float)
        np.testing.assert_array_equal(got, expected[i][rows], err_msg=i)


def test_limesurvey_bytes_as_its_csv_writer_writes_them(tmp_path, survey):
    frame, inst = survey
    path = write_limesurvey(tmp_path / "r.csv", frame, inst)
    raw = path.read_bytes()
    assert raw.startswith(b'\xef\xbb\xbf"id";"submitdate";"lastpage"')
    assert raw.endswith(b"\r\n\r\n") and b'"2";"";"1";"en"' in raw


def test_sosci_missing_codes_are_missing_with_their_reason(tmp_path, survey):
    _, _, cleaned = _read(tmp_path, "sosci_csv", survey)
    cols = [c for c in cleaned.recoding.columns if c.startswith("missing: ")]
    assert "missing: not answered (-9)" in cols
    assert "missing: residual option, e.g. don't know (-1)" in cols
    frame, inst = survey
    dk = sum(int((frame[i] == "Don't know").sum()) for i in inst.item_ids)
    assert dk > 0
    # every "don't know" of the kept rows became SoSci's -1, counted under its reason
    assert cleaned.recoding["missing: residual option, e.g. don't know (-1)"].sum() > 0


def test_redcap_form_without_items_does_not_exclude(tmp_path, survey):
    """The staff-entered 'contact' form is Incomplete for every record: only the survey form,
    which holds the items, judges completeness."""
    _, raw, cleaned = _read(tmp_path, "redcap", survey)
    assert "contact_complete" in raw.data.columns
    assert cleaned.sample["excluded_by_rule"]["incomplete"] == 2
    ex = cleaned.exclusions
    assert sorted(ex.loc[ex["rule"] == "incomplete", "detail"]) == [
        "social_capital_survey_complete = 0", "social_capital_survey_complete = 1"]


def test_unknown_layout_names_what_was_looked_for(tmp_path, survey):
    frame, inst = survey
    rows = [["respondent", "answer_a", "answer_b"]] + [[k, 1, 2] for k in range(5)]
    folder = study(tmp_path / "s", ["odd.csv"], id_column="respondent")
    write(folder / "data" / "raw" / "odd.csv", rows)
    st = read_study(folder)
    raw = read_survey(st)
    assert raw.files[0].layout == "plain"
    with pytest.raises(StudyError) as e:
        clean_responses(raw, inst, st.config)
    msg = str(e.value)
    for marker in ("ImportId", "submitdate", "_complete", "QUESTNNR", "Timestamp",
                   "Completion time", "_uuid"):
        assert marker in msg
    assert "survey: layout:" in msg


# --------------------------------------------------------------------------------------------
# repeated column names


def _qualtrics_with_repeats(frame, inst, item_repeat=False):
    rows = [list(r) for r in qualtrics_rows(frame, inst)]
    rows[0] += ["Q20", "Q20"]  # two questions given one export tag
    rows[1] += ["Age?", "Sector?"]
    rows[2] += ['{"ImportId":"QID20"}', '{"ImportId":"QID21"}']
    for r in rows[3:]:
        r += [40, "x"]
    if item_repeat:  # the tag of the first item repeated on the second
        j = rows[0].index("Q1_2")
        rows[0][j] = "Q1_1"
    return rows


def test_repeated_names_of_non_items_are_read(tmp_path, survey):
    """Qualtrics repeats export tags across questions; neither is an item: the export reads."""
    frame, inst = survey
    folder = study(tmp_path / "s", ["q.csv"])
    write(folder / "data" / "raw" / "q.csv", _qualtrics_with_repeats(frame, inst))
    st = read_study(folder)
    raw = read_survey(st)
    cleaned = clean_responses(raw, inst, st.config)
    assert cleaned.responses["Q20.1"].tolist()[:2] == [40, 40]
    assert cleaned.responses["Q20.2"].tolist()[:2] == ["x", "x"]
    assert any("'Q20' (columns" in n and "Q20.1, Q20.2" in n for n in raw.notes)


def test_repeated_item_name_is_refused_with_a_fix_that_works(tmp_path, survey):
    frame, inst = survey
    folder = study(tmp_path / "s", ["q.csv"], extra="  columns: {Q1_1: coord_1}")
    write(folder / "data" / "raw" / "q.csv", _qualtrics_with_repeats(frame, inst, True))
    st = read_study(folder)
    with pytest.raises(StudyError) as e:
        clean_responses(read_survey(st), inst, st.config)
    msg = str(e.value)
    assert "'coord_1' matches the name 'Q1_1', which q.csv writes twice" in msg
    assert "{QID1_1: coord_1}" in msg
    # the fix: map the ImportId
    (folder / "study.yaml").write_text((folder / "study.yaml").read_text().replace(
        "{Q1_1: coord_1}", "{QID1_1: coord_1}"))
    st = read_study(folder)
    cleaned = clean_responses(read_survey(st), inst, st.config)
    assert cleaned.item_columns["coord_1"] == "Q1_1.1"
    assert cleaned.item_columns["coord_2"] == "Q1_1.2"  # by its question text


def test_repeated_id_column_is_refused_with_a_fix_that_works(tmp_path, survey):
    frame, inst = survey
    rows = [["ResponseId"] + list(frame.columns)] + [
        [f"x{k}"] + list(r) for k, r in enumerate(frame.itertuples(index=False))]
    folder = study(tmp_path / "s", ["plain.csv"])
    write(folder / "data" / "raw" / "plain.csv", rows)
    st = read_study(folder)
    with pytest.raises(StudyError) as e:
        clean_responses(read_survey(st), inst, st.config)
    assert "survey.id names 'ResponseId', which the export writes as the name of 2 columns" \
        in str(e.value)
    assert "'ResponseId.1', 'ResponseId.2'" in str(e.value)
    (folder / "study.yaml").write_text((folder / "study.yaml").read_text().replace(
        "id: ResponseId", "id: ResponseId.2"))
    st = read_study(folder)
    cleaned = clean_responses(read_survey(st), inst, st.config)
    assert cleaned.responses["respondent_id"].iloc[0] == frame["ResponseId"].iloc[0]


# --------------------------------------------------------------------------------------------
# KoBo group separators


@pytest.mark.parametrize("sep", ["/", ".", ":"])
def test_kobo_group_separators_detected(tmp_path, survey, sep):
    frame, inst = survey
    rows = kobo_rows(frame, inst, sep="/")
    rows[0] = [n.replace("/", sep) if n.startswith(("grp_", "meta")) else n for n in rows[0]]
    folder = study(tmp_path / "s", ["kobo.csv"], id_column="_uuid")
    write(folder / "data" / "raw" / "kobo.csv", rows, delimiter=";")
    st = read_study(folder)
    raw = read_survey(st)
    assert raw.files[0].layout == "kobo"
    cleaned = clean_responses(raw, inst, st.config)
    assert cleaned.item_columns["trust_1"] == "trust_1"
    assert any(f"stripped at '{sep}'" in n for n in raw.notes)


def test_detect_reasons():
    assert detect([["CASE", "SERIAL", "REF", "QUESTNNR", "MODE"]])[0] == "sosci"
    lay, why = detect([["record_id", "a", "b", "survey_complete"]])
    assert lay == "redcap" and "record id column 'record_id'" in why
    assert detect([["Record ID", "Q", "Complete?", "R", "Complete?"]])[0] == "redcap"
    assert detect([["ID", "Start time", "Completion time", "Email", "Name", "Q1"]])[0] == "msforms"
    assert detect([["Marca temporal", "¿Pregunta?"]])[0] == "googleforms"
    assert detect([["id", "submitdate", "lastpage", "startlanguage"]])[0] == "limesurvey"
    lay, why = detect([["a", "b"]])
    assert lay == "plain" and "no survey platform's marker columns" in why


# --------------------------------------------------------------------------------------------
# a REDCap data dictionary as the instrument


def test_redcap_dictionary_is_the_instrument(tmp_path, survey):
    """The dictionary REDCap downloads (annotated with @SOCAP-CONSTRUCT / @SOCAP-REVERSE /
    @SOCAP-MISSING) gives the same instrument and the same coded responses as the YAML one
    with "Don't know" = 99 declared missing."""
    from ingest_writers import write_redcap_dictionary

    from pipeline.config.instrument import read_instrument

    frame, inst = survey
    folder = study(tmp_path / "rc", ["data.csv"], id_column="record_id",
                   instrument="instruments/SocialCapital_DataDictionary.csv")
    dpath = write_redcap_dictionary(folder / "instruments" / "SocialCapital_DataDictionary.csv",
                                    inst)
    assert dpath.read_text().splitlines()[0].count("Identifier?,") == 1  # REDCap leaves it bare
    write_redcap(folder / "data" / "raw" / "data.csv", frame, inst)
    rc = read_instrument(dpath)
    assert rc.item_ids == inst.item_ids and list(rc.constructs) == list(inst.constructs)
    assert [i.id for i in rc.items if i.reverse] == [i.id for i in inst.items if i.reverse]
    assert rc.scale.labels == inst.scale.labels and (rc.scale.min, rc.scale.max) == (1, 5)
    assert rc.item("trust_1").missing == (99, "Don't know")
    assert rc.item("trust_1").text == inst.item("trust_1").text
    st = read_study(folder)
    cleaned = clean_responses(read_survey(st, rc), rc, st.config)
    _, _, reference = _read(tmp_path, "redcap", survey)
    for i in inst.item_ids:
        np.testing.assert_array_equal(cleaned.responses[i].to_numpy(float),
                                      reference.responses[i].to_numpy(float), err_msg=i)


def test_redcap_dictionary_without_annotations_falls_back(tmp_path, survey):
    """Without @SOCAP tags the matrix groups are the constructs; without matrices, the section
    headers (as names); "Don't know" choices are missing codes, not scale points."""
    from ingest_writers import write_redcap_dictionary

    from pipeline.config.instrument import read_instrument

    _, inst = survey
    path = write_redcap_dictionary(tmp_path / "d.csv", inst, annotate=False)
    rc = read_instrument(path)
    assert list(rc.constructs) == list(inst.constructs)
    assert (rc.scale.min, rc.scale.max) == (1, 5)
    assert rc.item("coord_1").missing == (99, "Don't know")  # the code, and its label
    import csv
    import io

    rows = list(csv.reader(io.StringIO(path.read_text())))
    for r in rows[1:]:
        r[15] = ""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    path2 = tmp_path / "d2.csv"
    path2.write_text(buf.getvalue())
    rc2 = read_instrument(path2)
    assert list(rc2.constructs) == [c.label.lower() for c in inst.constructs.values()]
    with pytest.raises(StudyError, match="REDCap data dictionary"):
        (tmp_path / "x.csv").write_text("a,b\n1,2\n")
        read_instrument(tmp_path / "x.csv")


def test_xlsform_saved_as_xls_reads_as_the_xlsx(tmp_path):
    """KoBoToolbox and older XLSForm templates come as .xls (BIFF): read the same."""
    import python_calamine
    import xlwt

    from pipeline.config.instrument import default_instrument_path, read_instrument

    xlsx = default_instrument_path().with_suffix(".xlsx")
    wb = python_calamine.CalamineWorkbook.from_path(str(xlsx))
    book = xlwt.Workbook()
    for name in wb.sheet_names:
        sheet = book.add_sheet(name)
        for i, row in enumerate(wb.get_sheet_by_name(name).to_python()):
            for j, v in enumerate(row):
                if v != "":
                    sheet.write(i, j, v)
    book.save(str(tmp_path / "form.xls"))
    a, b = read_instrument(tmp_path / "form.xls"), read_instrument(xlsx)
    assert a.item_ids == b.item_ids and a.missing == b.missing
    assert all(a.item(i).scale == b.item(i).scale and a.item(i).reverse == b.item(i).reverse
               for i in a.item_ids)
    assert a.higher_order == b.higher_order
