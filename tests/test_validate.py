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
    assert lines[i + 1].strip() == ("layout: plain (one header row of column names; no survey "
                                    "platform's marker columns)")
    assert lines[i + 2].strip() == "items matched: 20 of 20"
    assert lines[i + 3].strip().startswith("answers recoded from label text: 0")
    n_dk = int((a[inst.item_ids] == "Don't know").to_numpy().sum())
    n_blank = int(a[inst.item_ids].isna().to_numpy().sum())
    assert f"Don't know: {n_dk}" in lines[i + 4] and f"blank: {n_blank}" in lines[i + 4]
    j = next(k for k, l in enumerate(lines) if "data/raw/b_qualtrics.xlsx" in l)
    assert f"layout qualtrics, {len(b)} rows" in lines[j] and "3 header rows" in lines[j]
    assert lines[j + 1].strip() == ("layout: Qualtrics (Qualtrics export: ImportId JSON in "
                                    "header row 3, question texts in row 2)")
    codes = b[inst.item_ids].apply(pd.to_numeric, errors="coerce").to_numpy()
    labelled = int((~np.isnan(codes) & (codes != -99)).sum())  # written as label texts
    assert lines[j + 3].strip().startswith(f"answers recoded from label text: {labelled}")
    assert "incomplete 1" in lines[j + 5] and "previews 1" in lines[j + 5]
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


# --------------------------------------------------------------------------------------------
# parity with run (issue 17): validate makes every check run makes before fitting


def _example(tmp_path):
    """The bundled example study, copied (the repository root is a study)."""
    import shutil
    from pathlib import Path

    root = Path(__file__).parent.parent
    folder = tmp_path / "ex"
    folder.mkdir()
    shutil.copytree(root / "data" / "raw", folder / "data" / "raw")
    shutil.copytree(root / "instruments", folder / "instruments")
    shutil.copy(root / "study.yaml", folder / "study.yaml")
    return folder


def _edit(folder, old, new):
    p = folder / "study.yaml"
    text = p.read_text()
    assert old in text
    p.write_text(text.replace(old, new))


@pytest.mark.parametrize("case", ["unit_missing_from_table", "tie_node_unknown",
                                  "invariance_column", "logit_1_2", "efa_factors"])
def test_validate_refuses_what_run_refuses(tmp_path, case):
    """Each case passed validate before and was refused by run after reading; both now refuse
    it with the same message, before anything is fitted."""
    from pipeline.run import run_study

    folder = _example(tmp_path)
    if case == "unit_missing_from_table":
        firms = (folder / "data/raw/firms.csv").read_text().splitlines()
        (folder / "data/raw/firms.csv").write_text("\n".join(
            [firms[0]] + [r for r in firms[1:] if not r.startswith("F0009,")]) + "\n")
        want = "unit 'F0009' answers the survey but has no row in the unit table"
    elif case == "tie_node_unknown":
        ties = folder / "data/raw/ties.csv"
        lines = ties.read_text().splitlines()
        cols = lines[0].split(",")
        row = lines[1].split(",")
        row[cols.index("target")] = "F9999"
        ties.write_text("\n".join(lines + [",".join(row)]) + "\n")
        want = "tie list names 'F9999', which is neither a unit"
    elif case == "invariance_column":
        _edit(folder, "  invariance: region", "  invariance: regoin")
        want = "analysis.invariance names column 'regoin'"
    elif case == "logit_1_2":
        firms = pd.read_csv(folder / "data/raw/firms.csv")
        firms["innovator"] = np.where(firms["new_products"] > 0, 2, 1)
        firms.to_csv(folder / "data/raw/firms.csv", index=False)
        _edit(folder, "formula: \"new_products ~", "formula: \"innovator ~")
        _edit(folder, "family: poisson", "family: logit")
        want = "family: logit needs a 0/1 outcome, but 'innovator' is coded 1, 2"
    else:
        _edit(folder, "n_factors: auto", "n_factors: 20")
        want = "20 factors cannot be extracted from 20 items"
    with pytest.raises(StudyError) as v:
        validate_study(folder)
    assert want in str(v.value)
    with pytest.raises(StudyError) as r:
        run_study(folder)
    assert want in str(r.value)
    assert not (folder / "reports" / "results.json").exists()
    if case == "logit_1_2":  # the fix the message gives works
        fix = str(v.value).split("write the formula as '")[1].split("'")[0]
        _edit(folder, "formula: \"innovator ~ degree * social_capital + log_employees\"",
              f"formula: \"{fix}\"")
        validate_study(folder)


def test_efa_false_and_small_constructs(tmp_path):
    """analysis: efa: false skips the EFA (results.json efa null); a construct of two items
    warns, in validate and in run."""
    import json

    from pipeline.run import run_study

    folder = _example(tmp_path)
    _edit(folder, "  efa: {n_factors: auto, method: ml, rotation: oblimin}", "  efa: false")
    inst = folder / "instruments/social_capital.yaml"
    text = inst.read_text()
    for item in ("trust_3", "trust_4", "trust_5"):
        start = text.index(f"      {item}:")
        end = text.index("\n", start)
        text = text[:start] + text[end + 1:]
    inst.write_text(text)
    lines = validate_study(folder)
    assert "EFA: skipped (analysis: efa: false)" in lines
    assert any("Construct 'trust' has 2 items" in x for x in lines)
    run_study(folder)
    res = json.loads((folder / "reports/results.json").read_text())
    assert res["efa"] is None and res["config"]["analysis"]["efa"] is False
    assert any("Construct 'trust' has 2 items" in w["message"] for w in res["warnings"])


def test_validate_names_wlsmv_and_polychoric_efa(tmp_path):
    folder = _example(tmp_path)
    _edit(folder, "  efa: {n_factors: auto, method: ml, rotation: oblimin}",
          "  efa: {n_factors: auto, method: ml, rotation: oblimin, correlation: polychoric}")
    _edit(folder, "  cfa: true", "  cfa: {estimator: wlsmv}")
    lines = validate_study(folder)
    assert any(x.startswith("CFA: WLSMV") for x in lines)
    assert "EFA: on polychoric correlations (analysis: efa: correlation: polychoric)" in lines
