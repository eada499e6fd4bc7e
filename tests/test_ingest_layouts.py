"""The same survey written in every platform's layout reads into the same responses.

Fixtures are written by ingest_writers.py from each platform's documented structure.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from ingest_writers import (
    base_survey,
    kobo_rows,
    qualtrics_legacy_rows,
    qualtrics_rows,
    study,
    surveymonkey_rows,
    write,
    write_dta,
    write_sav,
)

from pipeline.clean import clean_responses
from pipeline.errors import StudyError
from pipeline.ingest.survey import read_survey
from pipeline.ingest.layouts import detect_layout, parse_import_id
from pipeline.config.study import read_study


@pytest.fixture(scope="module")
def survey():
    return base_survey()


# name -> (file name, writer, id column, layout expected, personal columns expected dropped)
CASES = {
    "plain_csv": ("survey.csv", lambda p, f, i: f.to_csv(p, index=False), "ResponseId", "plain",
                  {"email"}),
    "plain_xlsx": ("survey.xlsx", lambda p, f, i: write(p, [list(f.columns)] + f.values.tolist()),
                   "ResponseId", "plain", {"email"}),
    "qualtrics_csv_text": ("q.csv", lambda p, f, i: write(p, qualtrics_rows(f, i)), "ResponseId",
                           "qualtrics", {"IPAddress", "RecipientLastName", "RecipientFirstName",
                                         "RecipientEmail", "ExternalReference",
                                         "LocationLatitude", "LocationLongitude"}),
    "qualtrics_xlsx_numeric_single_quoted": (
        "q.xlsx", lambda p, f, i: write(p, qualtrics_rows(f, i, text_values=False,
                                                          single_quoted=True, numeric_status=True)),
        "ResponseId", "qualtrics", {"IPAddress", "RecipientEmail", "LocationLatitude"}),
    "qualtrics_tsv_utf16": ("q.tsv", lambda p, f, i: write(p, qualtrics_rows(f, i),
                                                           delimiter="\t", encoding="utf-16"),
                            "ResponseId", "qualtrics", {"IPAddress"}),
    "qualtrics_legacy": ("legacy.csv", lambda p, f, i: write(p, qualtrics_legacy_rows(f, i)),
                         "ResponseID", "qualtrics", {"Name", "EmailAddress", "IPAddress",
                                                     "ExternalDataReference"}),
    "surveymonkey_xlsx": ("sm.xlsx", lambda p, f, i: write(p, surveymonkey_rows(f, i)),
                          "Respondent ID", "surveymonkey",
                          {"IP Address", "Email Address", "First Name", "Last Name",
                           "Custom Data 1"}),
    "surveymonkey_csv_cp1252": ("sm.csv", lambda p, f, i: write(p, surveymonkey_rows(f, i),
                                                                encoding="cp1252"),
                                "Respondent ID", "surveymonkey", {"Email Address"}),
    "kobo_semicolon": ("kobo.csv", lambda p, f, i: write(p, kobo_rows(f, i), delimiter=";"),
                       "_uuid", "kobo", {"deviceid", "username", "_submitted_by", "gps",
                                         "_gps_latitude", "_gps_longitude"}),
    "kobo_xlsx": ("kobo.xlsx", lambda p, f, i: write(p, kobo_rows(f, i)), "_uuid", "kobo",
                  {"_submitted_by"}),
    "odk_central": ("odk.csv", lambda p, f, i: write(p, kobo_rows(f, i, sep="-")), "KEY", "kobo",
                    {"SubmitterName", "deviceid"}),
    "spss": ("survey.sav", lambda p, f, i: write_sav(p, f, i), "ResponseId", "spss", set()),
    "stata": ("survey.dta", lambda p, f, i: write_dta(p, f, i), "ResponseId", "stata", set()),
}


def _read(tmp_path, name, survey):
    frame, inst = survey
    fname, writer, id_col, _, _ = CASES[name]
    folder = study(tmp_path / name, [fname], id_column=id_col)
    writer(folder / "data" / "raw" / fname, frame, inst)
    st = read_study(folder)
    raw = read_survey(st)
    return raw, clean_responses(raw, inst, st.config, study_file=str(st.file))


def _alpha(x: np.ndarray) -> float:
    """Cronbach's alpha, listwise complete (a small stand-in for pipeline.measure.reliability)."""
    x = x[~np.isnan(x).any(1)]
    k = x.shape[1]
    return k / (k - 1) * (1 - x.var(0, ddof=1).sum() / x.sum(1).var(ddof=1))


@pytest.mark.parametrize("name", list(CASES))
def test_every_layout_gives_the_same_responses(tmp_path, survey, name):
    frame, inst = survey
    raw, res = _read(tmp_path, name, survey)
    _, _, _, layout, pii = CASES[name]
    assert raw.files[0].layout == layout
    assert pii <= set(raw.personal_data_dropped)
    for col in raw.personal_data_dropped:
        assert col not in res.responses.columns
    # the reference: codes from the simulated frame, missing codes -> NaN, reversed items
    ref = frame.set_index("ResponseId")[inst.item_ids].map(
        lambda v: np.nan if v is None or v in ("Don't know", -99) else float(v))
    for i in inst.item_ids:
        if inst.item(i).reverse:
            ref[i] = 6 - ref[i]
    got = res.responses.set_index("respondent_id")[inst.item_ids]
    kept = got.index
    assert len(kept) >= len(frame) - 2  # the simulated durations give at most a speeder or two
    np.testing.assert_array_equal(got.to_numpy(), ref.loc[kept].to_numpy())
    # missing answers counted by reason; totals agree with the simulated frame
    rec = res.recoding
    n_dk = int((frame[inst.item_ids] == "Don't know").to_numpy().sum())
    dk_cols = [c for c in rec.columns if c.startswith("missing: Don't know")]
    assert len(dk_cols) == 1 and int(rec[dk_cols[0]].sum()) == n_dk
    for construct, items in inst.construct_items().items():
        assert _alpha(got[items].to_numpy()) == pytest.approx(
            _alpha(ref.loc[kept, items].to_numpy()), abs=1e-12)


def test_layouts_agree_with_each_other_and_keep_metadata(tmp_path, survey):
    mats = {}
    for name in ("plain_csv", "qualtrics_csv_text", "surveymonkey_xlsx", "kobo_semicolon", "spss"):
        raw, res = _read(tmp_path, name, survey)
        mats[name] = res.responses.set_index("respondent_id")[res.items].sort_index()
        if name == "kobo_semicolon":
            assert "_submission_time" in raw.metadata_columns and "instanceID" in raw.data.columns
            assert raw.files[0].delimiter == ";"
        if name == "qualtrics_csv_text":
            meta = raw.columns.set_index("column")
            assert meta.loc["Q1_1", "import_id"] == "QID1_1"
            assert meta.loc["ResponseId", "import_id"] == "_recordId"
            assert meta.loc["Q4_1", "question"].endswith("Most firms in this cluster keep their word.")
            assert {"Status", "Finished", "Progress", "Duration (in seconds)"} <= set(res.responses.columns)
        if name == "surveymonkey_xlsx":
            assert res.item_columns["coord_1"] == "Q2_1" and res.item_columns["trust_5"] == "Q5_5"
            assert "Q1" in raw.data.columns  # the single-answer question (the firm)
    first = next(iter(mats.values()))
    for name, m in mats.items():
        pd.testing.assert_frame_equal(m, first, check_dtype=False, obj=name)


def test_import_id_forms():
    assert parse_import_id('{"ImportId":"QID12_1"}') == "QID12_1"
    assert parse_import_id("{'ImportId': 'QID12_1'}") == "QID12_1"
    assert parse_import_id('{"ImportId":"startDate","timeZone":"America/Denver"}') == "startDate"
    assert parse_import_id("") is None


def test_detection_from_header_rows():
    assert detect_layout([["a", "b"], [1, 2]]) == "plain"
    assert detect_layout([["StartDate", "ResponseId", "Q1"], ["Start Date", "Response ID", "Trust?"],
                          [1, 2, 3]]) == "qualtrics"  # two-row Qualtrics without ImportIds
    assert detect_layout([["start", "grp/q1", "_uuid"], ["x", 1, "u"]]) == "kobo"
    assert detect_layout([["Respondent ID", "Q?", None], [None, "a", "b"], [1, 2, 3]]) == "surveymonkey"


def test_layout_can_be_forced_and_wrong_forcing_is_reported(tmp_path, survey):
    frame, inst = survey
    folder = study(tmp_path / "forced", ["q.csv"], extra="  layout: plain")
    write(folder / "data/raw/q.csv", qualtrics_rows(frame, inst))
    st = read_study(folder)
    raw = read_survey(st)
    assert raw.files[0].layout == "plain"  # header rows 2 and 3 are then data rows
    assert raw.data["source_row"].iloc[0] == 2
    folder = study(tmp_path / "forced2", ["q.csv"], extra="  layout: spss")
    write(folder / "data/raw/q.csv", qualtrics_rows(frame, inst))
    with pytest.raises(StudyError, match="survey.layout is 'spss'"):
        read_survey(read_study(folder))


def test_qualtrics_rules_previews_numeric_status_progress_finished(tmp_path, survey):
    frame, inst = survey
    rows = qualtrics_rows(frame, inst, text_values=False, numeric_status=True)
    h = rows[0]
    st, fin, prog, chan = (h.index(c) for c in ("Status", "Finished", "Progress", "DistributionChannel"))
    data = rows[3:]
    data[0][st] = 1      # Survey Preview
    data[1][st] = 8      # Spam
    data[2][st] = 4      # Imported: a real response, kept
    data[3][fin] = 0
    data[3][prog] = 40
    data[4][chan] = "preview"
    data[5][prog] = 99   # progress below 100: incomplete even if marked finished
    folder = study(tmp_path / "q", ["q.csv"])
    write(folder / "data/raw/q.csv", rows)
    s = read_study(folder)
    res = clean_responses(read_survey(s), inst, s.config)
    ex = res.exclusions.set_index("source_row")["rule"]
    assert ex[4] == "previews" and ex[5] == "previews" and 6 not in ex.index
    assert ex[7] == "incomplete" and ex[8] == "previews" and ex[9] == "incomplete"
    assert res.exclusions.set_index("source_row").loc[4, "detail"] == "Status = 1"


def test_spss_value_labels_recode_reversed_coding(tmp_path, survey):
    """An SPSS file coded 1 = Strongly agree .. 5 = Strongly disagree is recoded by its labels."""
    import pyreadstat

    frame, inst = survey
    items = inst.item_ids
    out = frame[["ResponseId"]].copy()
    for i in items:
        out[i] = frame[i].map(lambda v: np.nan if v in (None, "Don't know") or v == -99
                              else 6.0 - float(v)).astype(float)
    labels = {float(6 - k): v for k, v in inst.scale.labels.items()}
    folder = study(tmp_path / "sav", ["s.sav"])
    pyreadstat.write_sav(out, str(folder / "data/raw/s.sav"),
                         variable_value_labels={i: labels for i in items})
    s = read_study(folder)
    res = clean_responses(read_survey(s), inst, s.config)
    ref = frame.set_index("ResponseId")[items].map(
        lambda v: np.nan if v in (None, "Don't know") or v == -99 else float(v))
    got = res.responses.set_index("respondent_id")
    raw_t2 = 6 - got["trust_2"]  # reverse-keyed item: undo the reversal to compare codes
    np.testing.assert_array_equal(got["trust_1"].to_numpy(), ref.loc[got.index, "trust_1"].to_numpy())
    np.testing.assert_array_equal(raw_t2.to_numpy(), ref.loc[got.index, "trust_2"].to_numpy())
    assert res.recoding["from_labels"].sum() > 0
    assert any("recoded through its value labels" in w for w in res.warnings)


def test_surveymonkey_columns_mapped_by_question_text_in_config(tmp_path, survey):
    frame, inst = survey
    rows = surveymonkey_rows(frame, inst)
    rows[1][rows[0].index("Which firm do you answer for?")] = "Response"
    # a sub-question whose text differs from the item: mapped by its text under survey.columns
    j = rows[1].index(inst.item("coop_4").text)
    rows[1][j] = "We cooperate with a university"
    folder = study(tmp_path / "sm", ["sm.xlsx"], id_column="Respondent ID",
                   extra='  unit: Q1\n  columns: {"We cooperate with a university": coop_4}')
    write(folder / "data/raw/sm.xlsx", rows)
    s = read_study(folder)
    res = clean_responses(read_survey(s), inst, s.config)
    assert res.item_columns["coop_4"] == "Q3_4"
    assert res.unit_column == "Q1" and res.responses["Q1"].str.startswith("F").all()


def test_stacked_files_with_source_file_and_duplicates_across_files(tmp_path, survey):
    frame, inst = survey
    a, b = frame.iloc[:15], frame.iloc[15:]
    folder = study(tmp_path / "waves", ["wave1.csv", "wave2.xlsx"])
    a.to_csv(folder / "data/raw/wave1.csv", index=False)
    write(folder / "data/raw/wave2.xlsx", qualtrics_rows(b, inst))
    s = read_study(folder)
    raw = read_survey(s)
    assert [f.layout for f in raw.files] == ["plain", "qualtrics"]
    assert raw.data["source_file"].value_counts().to_dict() == {"wave2.xlsx": len(b), "wave1.csv": len(a)}
    res = clean_responses(raw, inst, s.config)
    assert set(res.responses["source_file"]) | set(res.exclusions["source_file"]) == {"wave1.csv", "wave2.xlsx"}
    assert [f["file"] for f in res.sample["by_file"]] == ["wave1.csv", "wave2.xlsx"]
    json.dumps(res.sample)  # results.json-ready
    # the same respondent in both waves: an error naming both places
    dup = b.copy()
    dup.iloc[2, dup.columns.get_loc("ResponseId")] = a["ResponseId"].iloc[4]
    write(folder / "data/raw/wave2.xlsx", qualtrics_rows(dup, inst))
    with pytest.raises(StudyError) as err:
        clean_responses(read_survey(s), inst, s.config)
    assert (f"respondent id '{a['ResponseId'].iloc[4]}' appears more than once "
            "(wave1.csv row 6; wave2.xlsx row 6)") in str(err.value)
