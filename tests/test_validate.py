"""`socap validate`: per file, what a run would do."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from ingest_writers import base_survey, qualtrics_rows, study, surveymonkey_rows, write

from pipeline.errors import StudyError
from pipeline.validate import validate_study


@pytest.fixture(scope="module")
def survey():
    return base_survey(seed=5)


def test_validate_reports_each_file(tmp_path, survey):
    frame, inst = survey
    a, b = frame.iloc[:12].copy(), frame.iloc[12:].copy()
    b.iloc[0, b.columns.get_loc("Finished")] = False
    rows = qualtrics_rows(b, inst)
    rows[3 + 1][rows[0].index("Status")] = "Survey Preview"
    folder = study(tmp_path / "s", None, extra="  columns: {}")
    a.to_csv(folder / "data/raw/a_plain.csv", index=False)
    write(folder / "data/raw/b_qualtrics.xlsx", rows)
    (folder / "data/raw/notes.md").write_text("not an export")
    lines = validate_study(folder)
    text = "\n".join(lines)
    assert "survey.files not set: every export in data/raw/" in text
    i = next(k for k, l in enumerate(lines) if "data/raw/a_plain.csv" in l)
    assert f"layout plain, {len(a)} rows" in lines[i] and "encoding utf-8" in lines[i]
    assert lines[i + 1].strip() == "items matched: 20 of 20"
    assert lines[i + 2].strip().startswith("answers recoded from label text: 0")
    n_dk = int((a[inst.item_ids] == "Don't know").to_numpy().sum())
    n_blank = int(a[inst.item_ids].isna().to_numpy().sum())
    assert f"Don't know: {n_dk}" in lines[i + 3] and f"blank: {n_blank}" in lines[i + 3]
    j = next(k for k, l in enumerate(lines) if "data/raw/b_qualtrics.xlsx" in l)
    assert f"layout qualtrics, {len(b)} rows" in lines[j] and "3 header rows" in lines[j]
    codes = b[inst.item_ids].apply(pd.to_numeric, errors="coerce").to_numpy()
    labelled = int((~np.isnan(codes) & (codes != -99)).sum())  # written as label texts
    assert lines[j + 2].strip().startswith(f"answers recoded from label text: {labelled}")
    assert "incomplete 1" in lines[j + 4] and "previews 1" in lines[j + 4]
    assert "RecipientEmail" in text and "notes.md" not in text
    assert "No problems found" in lines[-1]


def test_validate_reports_every_problem_of_an_export_at_once(tmp_path, survey):
    frame, inst = survey
    rows = surveymonkey_rows(frame, inst)
    # three unknown answer texts and two out-of-range codes, in different rows and columns
    rows[2][10] = "Agree a lot"
    rows[5][12] = "Totally"
    rows[7][20] = "Nope"
    rows[3][11] = 9
    rows[9][25] = 0
    folder = study(tmp_path / "sm", ["sm.xlsx"], id_column="Respondent ID")
    write(folder / "data/raw/sm.xlsx", rows)
    with pytest.raises(StudyError) as err:
        validate_study(folder)
    probs = err.value.problems
    assert len(probs) == 5
    places = {(p.row, p.column) for p in probs}
    # columns A..I are SurveyMonkey system columns, J is Q1 (the firm), K..O Q2_1..Q2_5, ...
    assert places == {(3, "Q2_1"), (6, "Q2_3"), (8, "Q4_1"), (4, "Q2_2"), (10, "Q5_1")}
    text = str(err.value)
    assert "'Agree a lot' matches no label" in text and "code 9 of item" in text
    assert "code 0 of item" in text and "5 = Strongly agree" in text
