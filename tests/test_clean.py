"""Recoding answers and the quality rules."""

from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd
import pytest

from pipeline.clean import clean_responses
from pipeline.errors import StudyError
from pipeline.ingest.survey import read_survey
from pipeline.config.instrument import read_instrument
from pipeline.config.study import read_study

INSTRUMENT = """
scale: {min: 1, max: 5, labels: {1: Strongly disagree, 2: Disagree, 3: Neither, 4: Agree, 5: Strongly agree}}
missing: [-99, "Don't know"]
constructs:
  trust:
    items: {t1: a, t2: {text: b, reverse: true}, t3: c}
  coop:
    items: {c1: a, c2: b, c3: c}
"""


def make(tmp_path, csv_text: str, study_extra: str = ""):
    (tmp_path / "data" / "raw").mkdir(parents=True)
    (tmp_path / "inst.yaml").write_text(INSTRUMENT)
    (tmp_path / "data" / "raw" / "s.csv").write_text(textwrap.dedent(csv_text).lstrip())
    (tmp_path / "study.yaml").write_text(
        "title: t\ninstrument: inst.yaml\nsurvey:\n  id: id\n  missing: [-98]\n"
        + study_extra)
    study = read_study(tmp_path)
    inst = read_instrument(study.path("inst.yaml"))
    return clean_responses(read_survey(study), inst, study.config, study_file=str(study.file))


def test_labels_missing_codes_and_reverse_keying(tmp_path):
    res = make(tmp_path, """
        id,t1,t2,t3,c1,c2,c3,Email
        a,4, strongly AGREE ,2,Don't know,-99,-98,x@y.org
        b,Agree,1,3,3,3,4,z@y.org
        c,5,2,,1,2,4,w@y.org
        """)
    r = res.responses.set_index("respondent_id")
    assert r.loc["a", "t1"] == 4 and r.loc["b", "t1"] == 4  # label text -> code, case-insensitive
    assert r.loc["a", "t2"] == 1  # 'strongly agree' = 5, reversed: 1 + 5 - 5
    assert r.loc["b", "t2"] == 5 and r.loc["c", "t2"] == 4
    assert np.isnan(r.loc["a", "c1"]) and np.isnan(r.loc["a", "c2"]) and np.isnan(r.loc["a", "c3"])
    rec = res.recoding.set_index("item")
    assert rec.loc["c1", "missing: Don't know"] == 1 and rec.loc["c2", "missing: -99"] == 1
    assert rec.loc["c3", "missing: -98"] == 1 and rec.loc["t3", "missing: blank"] == 1
    assert rec.loc["t2", "from_text"] == 1 and bool(rec.loc["t2", "reversed"])
    assert "Email" not in res.responses.columns  # personal data never kept


def test_every_bad_answer_reported_at_once(tmp_path):
    with pytest.raises(StudyError) as err:
        make(tmp_path, """
            id,t1,t2,t3,c1,c2,c3
            a,4,Agree strongly,2,3,3,3
            b,7,1,3,3,3,3
            c,5,2,2.5,Sometimes,2,3
            """)
    problems = err.value.problems
    text = str(err.value)
    assert len(problems) == 4
    assert "row 2, column 't2'" in text and "'Agree strongly' matches no label" in text
    assert "5 = Strongly agree" in text  # the valid labels are listed
    assert "row 3, column 't1'" in text and "code 7" in text and "outside its scale 1..5" in text
    assert "row 4, column 't3'" in text and "code 2.5" in text
    assert "row 4, column 'c1'" in text and "'Sometimes'" in text


def test_unmatched_items_and_columns_mapping(tmp_path):
    with pytest.raises(StudyError) as err:
        make(tmp_path, """
            id,T1,Q2,t3,c1,c2,cc3
            a,4,2,2,3,3,3
            """)
    text = str(err.value)
    assert "item 't2' has no column" in text and "item 'c3' has no column" in text
    assert "did you mean 'cc3'?" in text
    res = make(tmp_path / "ok", """
        id,T1,Q2,t3,c1,c2,cc3
        a,4,2,2,3,3,3
        """, "  columns: {Q2: t2, cc3: c3}\n")
    assert res.item_columns == {"t1": "T1", "t2": "Q2", "t3": "t3", "c1": "c1", "c2": "c2", "c3": "cc3"}


def test_duplicate_ids_name_both_rows(tmp_path):
    with pytest.raises(StudyError) as err:
        make(tmp_path, """
            id,t1,t2,t3,c1,c2,c3
            a,4,2,2,3,3,3
            b,4,2,2,3,3,3
            a,4,2,2,3,3,3
            """)
    assert "respondent id 'a' appears more than once (s.csv row 2; s.csv row 4)" in str(err.value)


def test_quality_rules_in_order(tmp_path):
    res = make(tmp_path, """
        id,Status,Finished,Progress,Duration (in seconds),t1,t2,t3,c1,c2,c3
        p,Survey Preview,True,100,500,4,2,4,4,4,4
        i,IP Address,False,60,500,4,2,4,,,
        s,IP Address,True,100,100,4,2,4,4,4,4
        l,IP Address,True,100,500,3,3,3,3,3,3
        m,IP Address,True,100,500,4,,,,,3
        ok1,IP Address,True,100,500,4,2,4,4,4,4
        ok2,IP Address,True,100,520,5,1,5,4,4,4
        ok3,IP Address,True,100,480,4,2,4,4,4,4
        """)
    ex = res.exclusions.set_index("respondent_id")["rule"].to_dict()
    assert ex == {"p": "previews", "i": "incomplete", "s": "speeders", "l": "straightlining",
                  "m": "max_missing_share"}
    assert res.sample["excluded_by_rule"] == {"previews": 1, "incomplete": 1, "speeders": 1,
                                              "straightlining": 1, "max_missing_share": 1}
    assert res.sample["respondents"] == 3 and res.sample["rows_read"] == 8
    assert list(res.exclusions.columns) == ["respondent_id", "source_file", "source_row", "rule",
                                            "detail"]
    assert res.exclusions.set_index("respondent_id").loc["l", "source_row"] == 5


def test_rules_can_be_switched_off(tmp_path):
    res = make(tmp_path, """
        id,Finished,Duration (in seconds),t1,t2,t3,c1,c2,c3
        s,True,100,4,2,4,4,4,4
        l,True,500,3,3,3,3,3,3
        ok1,True,500,4,2,4,4,4,4
        ok2,True,480,4,2,4,4,4,4
        """, "quality: {speeders: false, straightlining: false}\n")
    assert res.sample["excluded"] == 0


def test_simulated_study_injected_problems_are_caught(example_study):
    import json

    study = read_study(example_study)
    inst = read_instrument(study.path(study.config.instrument))
    res = clean_responses(read_survey(study), inst, study.config)
    truth = json.loads((example_study / "truth.json").read_text())
    by_rule = res.sample["excluded_by_rule"]
    inj = truth["injected"]
    assert by_rule["incomplete"] == inj["incomplete"]
    assert by_rule["straightlining"] >= inj["straightliners"]
    assert by_rule["speeders"] >= inj["speeders"]
    kept = res.responses
    assert len(kept) >= truth["sizes"]["respondents_valid"] * 0.98
    assert kept["firm_id"].map(type).eq(str).all()


@pytest.mark.parametrize("finished", [("TRUE", "FALSE"), ("1", "0"), ("True", "False"),
                                      ("true", "false")])
def test_finished_in_every_spelling(tmp_path, finished):
    yes, no = finished
    res = make(tmp_path, f"""
        id,Finished,t1,t2,t3,c1,c2,c3
        a,{yes},4,2,4,4,4,4
        b,{no},4,2,4,4,4,4
        c,{yes},5,1,5,4,4,4
        """)
    assert res.exclusions.set_index("respondent_id")["rule"].to_dict() == {"b": "incomplete"}


def test_speeders_judged_against_the_median_of_responses_still_kept(tmp_path):
    # previews and incomplete responses are fast; with them the median would be 100 s and the
    # 'x' response (240 s) would pass. Without them the median of x, a, b, c is (590 + 600) / 2 =
    # 595 s: 240 < 297.5 is a speeder.
    res = make(tmp_path, """
        id,Status,Finished,Duration (in seconds),t1,t2,t3,c1,c2,c3
        p1,Survey Preview,True,50,4,2,4,4,4,4
        p2,Survey Test,True,60,4,2,4,4,4,4
        p3,Spam,True,70,4,2,4,4,4,4
        i1,IP Address,False,80,4,2,4,4,4,4
        i2,IP Address,False,100,4,2,4,4,4,4
        x,IP Address,True,240,4,2,4,4,4,4
        a,IP Address,True,600,4,2,4,4,4,4
        b,IP Address,True,610,5,1,5,4,4,4
        c,IP Address,True,590,4,2,4,4,4,4
        """)
    ex = res.exclusions.set_index("respondent_id")
    assert ex.loc["x", "rule"] == "speeders"
    assert ex.loc["x", "detail"] == "Duration (in seconds) under 0.5 x median (298 s of 595 s)"
    assert res.sample["excluded_by_rule"]["previews"] == 3


def test_speeders_from_start_and_end_times_when_no_duration(tmp_path):
    res = make(tmp_path, """
        id,Start Date,End Date,t1,t2,t3,c1,c2,c3
        a,03/02/2026 09:00:00 AM,03/02/2026 09:10:00 AM,4,2,4,4,4,4
        b,03/02/2026 10:00:00 AM,03/02/2026 10:01:00 AM,4,2,4,4,4,4
        c,03/02/2026 11:00:00 AM,03/02/2026 11:09:00 AM,5,1,5,4,4,4
        d,03/02/2026 11:00:00 AM,03/02/2026 11:11:00 AM,4,2,4,4,4,4
        """)
    assert res.exclusions.set_index("respondent_id")["rule"].to_dict() == {"b": "speeders"}
    assert any("'Start Date' and 'End Date'" in w for w in res.warnings)


def test_straightlining_only_with_reverse_keyed_items(tmp_path):
    (tmp_path / "a").mkdir()
    res = make(tmp_path / "a", """
        id,t1,t2,t3,c1,c2,c3
        l,3,3,3,3,3,3
        ok,4,2,4,4,4,4
        """)
    assert list(res.exclusions["rule"]) == ["straightlining"]
    # the same answers with an instrument without reverse-keyed items: kept, with a note
    from pipeline import clean
    study_dir = tmp_path / "b"
    (study_dir / "data" / "raw").mkdir(parents=True)
    (study_dir / "inst.yaml").write_text(INSTRUMENT.replace("{text: b, reverse: true}", "b"))
    (study_dir / "data" / "raw" / "s.csv").write_text("id,t1,t2,t3,c1,c2,c3\nl,3,3,3,3,3,3\nok,4,2,4,4,4,4\n")
    (study_dir / "study.yaml").write_text("title: t\ninstrument: inst.yaml\nsurvey:\n  id: id\n")
    study = read_study(study_dir)
    inst = read_instrument(study.path("inst.yaml"))
    res = clean.clean_responses(read_survey(study), inst, study.config)
    assert res.sample["excluded"] == 0
    assert any("no reverse-keyed items" in w for w in res.warnings)


def test_missing_text_matched_loosely_and_missing_codes_counted_per_item(tmp_path):
    res = make(tmp_path, """
        id,t1,t2,t3,c1,c2,c3
        a,DON'T KNOW,dont_know,  don't   know ,-99,-98,4
        b,4,2,4,4,4,4
        c,5,1,5,4,4,4
        """)
    rec = res.recoding.set_index("item")
    assert list(rec["missing: Don't know"]) == [1, 1, 1, 0, 0, 0]
    assert rec.loc["c1", "missing: -99"] == 1 and rec.loc["c2", "missing: -98"] == 1


def _recode_both_ways(monkeypatch, data, instrument, missing=()):
    """recode_items by distinct value and row by row: (result or problems) of each."""
    import pipeline.clean.coding as clean

    out = []
    for by_value in (True, False):
        monkeypatch.setattr(clean, "RECODE_BY_VALUE", by_value)
        try:
            out.append(clean.recode_items(data, instrument, {c: c for c in data.columns
                                                             if c != "source_row"},
                                          missing, files=pd.Series(["s.csv"] * len(data))))
        except StudyError as exc:
            out.append([str(p) for p in exc.problems])
    return out


@pytest.mark.parametrize("seed", range(6))
def test_recoding_by_distinct_value_equals_row_by_row(tmp_path, monkeypatch, seed):
    # answers as an export has them: codes as text, labels in any case, missing codes and
    # texts, blanks, spaces; the per-value path must give every cell, count, reason (in the
    # same order), flag and problem of the row-wise path
    (tmp_path / "inst.yaml").write_text(INSTRUMENT)
    inst = read_instrument(tmp_path / "inst.yaml")
    rng = np.random.default_rng(seed)
    n = 400
    good = ["1", "2", "3", "4", "5", " 4 ", "agree", "Strongly Disagree", "-99", "-98",
            "Don't know", "don't  KNOW", "Refused", "N/A", "n/a", None, "", "  "]
    bad = ["7", "2.5", "Sometimes", "0"]
    cols = {}
    for item in inst.item_ids:
        pool = good + (bad if seed % 2 else [])
        p = rng.dirichlet(np.ones(len(pool)))
        cols[item] = pd.Series(rng.choice(np.array(pool, dtype=object), n, p=p), dtype=object)
    data = pd.DataFrame(cols)
    data.insert(0, "source_row", np.arange(2, n + 2))
    by_value, by_row = _recode_both_ways(monkeypatch, data, inst, missing=[-98, "n/a", "Refused"])
    if seed % 2:
        assert isinstance(by_value, list) and by_value == by_row and len(by_row) > 0
        return
    np.testing.assert_array_equal(by_value.raw, by_row.raw)
    np.testing.assert_array_equal(by_value.cell_reason, by_row.cell_reason)
    np.testing.assert_array_equal(by_value.from_text, by_row.from_text)
    assert by_value.reasons == by_row.reasons and len(by_row.reasons) >= 5
    pd.testing.assert_frame_equal(by_value.recoding, by_row.recoding)
    assert by_row.from_text.any() and np.isnan(by_row.raw).any()
