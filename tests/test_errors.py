"""Broken and hostile input: one clear message (exit 2), nothing lost, nothing leaked.

Each case starts from a study that has been run once, breaks one input, runs again and checks
the exit status, that the message names the place (file, and sheet/row/column/key where they
apply) and the fix, that no traceback is shown, and that the earlier outputs are unchanged.
"""

from __future__ import annotations

import io
import shutil
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from outputs import output_bytes
from pipeline.cli import main
from pipeline.config.instrument import read_instrument


@pytest.fixture()
def study(ran_study_copy) -> Path:
    """A copy of the study after a successful run (conftest.ran_study)."""
    return ran_study_copy


def run(folder: Path, capsys, *args) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["run", str(folder), "--quiet", *args])
    err = capsys.readouterr().err
    return code, err


def expect_error(study: Path, capsys, *fragments: str) -> str:
    before = output_bytes(study)
    code, err = run(study, capsys)
    assert code == 2, err
    assert "Traceback" not in err
    for f in fragments:
        assert f in err, f"{f!r} not in:\n{err}"
    assert output_bytes(study) == before, "a failed run changed earlier outputs"
    assert not list(study.glob(".socap-run-*"))
    return err


def survey_frame(study: Path) -> pd.DataFrame:
    from pipeline.ingest.tables import read_table

    return read_table(study / "data/raw/survey.xlsx").frame


def write_survey(study: Path, frame: pd.DataFrame, name: str = "survey.csv") -> None:
    (study / "data/raw/survey.xlsx").unlink()
    frame.to_csv(study / "data/raw" / name, index=False)
    text = (study / "study.yaml").read_text().replace("data/raw/survey.xlsx", f"data/raw/{name}")
    (study / "study.yaml").write_text(text)


# ---- files ------------------------------------------------------------------------------------


def test_empty_file(study, capsys):
    (study / "data/raw/survey.xlsx").write_bytes(b"")
    expect_error(study, capsys, "survey.xlsx", "empty")


def test_header_only(study, capsys):
    write_survey(study, survey_frame(study).iloc[:0])
    expect_error(study, capsys, "survey.csv", "no responses")


def test_truncated_xlsx(study, capsys):
    data = (study / "data/raw/survey.xlsx").read_bytes()
    (study / "data/raw/survey.xlsx").write_bytes(data[: len(data) // 2])
    expect_error(study, capsys, "survey.xlsx", "xlsx", "save it again")


def test_corrupt_xlsx_member(study, capsys):
    path = study / "data/raw/survey.xlsx"
    buf = io.BytesIO()
    with zipfile.ZipFile(path) as zin, zipfile.ZipFile(buf, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename.startswith("xl/worksheets/"):
                data = data[: len(data) // 3]  # cut the sheet's XML
            zout.writestr(info, data)
    path.write_bytes(buf.getvalue())
    expect_error(study, capsys, "survey.xlsx")


def test_sheet_that_is_not_there(study, capsys):
    text = (study / "study.yaml").read_text().replace("  id: ResponseId", "  id: ResponseId\n  sheet: Answers")
    (study / "study.yaml").write_text(text)
    expect_error(study, capsys, "survey.xlsx", "no sheet 'Answers'", "Responses")


def test_wrong_file_type_behind_extension(study, capsys):
    shutil.copy(study / "data/raw/firms.csv", study / "data/raw/survey.xlsx")  # csv named .xlsx
    expect_error(study, capsys, "survey.xlsx", "not a valid .xlsx")


def test_binary_file_named_csv(study, capsys):
    frame = survey_frame(study)
    write_survey(study, frame)
    shutil.copy(study / "data/raw/../../instruments/social_capital.xlsx", study / "data/raw/survey.csv")
    expect_error(study, capsys, "survey.csv")


def test_duplicate_column_names(study, capsys):
    frame = survey_frame(study)
    cols = list(frame.columns)
    cols[cols.index("trust_2")] = "trust_1"
    frame.columns = cols
    write_survey(study, frame)
    expect_error(study, capsys, "survey.csv", "trust_1", "twice")


def test_item_columns_missing(study, capsys):
    frame = survey_frame(study).drop(columns=["coop_3", "trust_5"])
    write_survey(study, frame)
    expect_error(study, capsys, "survey.csv", "'coop_3'", "'trust_5'", "survey: columns")


def test_text_that_matches_no_label(study, capsys):
    frame = survey_frame(study).astype(object)
    frame.loc[4, "trust_1"] = "Totally agree"
    frame.loc[9, "coop_2"] = "meh"
    write_survey(study, frame)
    expect_error(study, capsys, "survey.csv", "row 6, column 'trust_1'", "'Totally agree'",
                 "row 11, column 'coop_2'", "Strongly agree")


def test_out_of_range_codes(study, capsys):
    frame = survey_frame(study).astype(object)
    frame.loc[2, "recip_1"] = 9
    frame.loc[3, "recip_2"] = 0
    write_survey(study, frame)
    expect_error(study, capsys, "row 4, column 'recip_1'", "code 9", "row 5, column 'recip_2'",
                 "code 0", "1..5")


def test_item_with_no_valid_answer(study, capsys):
    frame = survey_frame(study)
    frame["coord_3"] = None
    write_survey(study, frame)
    expect_error(study, capsys, "survey.csv", "coord_3", "no valid answer")


def test_fewer_respondents_than_items(study, capsys):
    write_survey(study, survey_frame(study).iloc[:12])
    n_items = len(read_instrument(study / "instruments/social_capital.yaml").item_ids)
    expect_error(study, capsys, "respondents", f"{n_items} items")


def test_unit_missing_from_unit_table(study, capsys):
    firms = pd.read_csv(study / "data/raw/firms.csv", dtype=str)
    gone = firms["firm_id"].iloc[3]
    firms.drop(index=3).to_csv(study / "data/raw/firms.csv", index=False)
    expect_error(study, capsys, f"unit '{gone}'", "no row in the unit table", "firm_id", "row ")


def test_ties_naming_unknown_nodes(study, capsys):
    ties = pd.read_csv(study / "data/raw/ties.csv", dtype=str)
    ties.loc[5, "target"] = "F9999"
    ties.to_csv(study / "data/raw/ties.csv", index=False)
    expect_error(study, capsys, "ties.csv", "F9999", "row 7")


def test_negative_weights(study, capsys):
    ties = pd.read_csv(study / "data/raw/ties.csv", dtype=str)
    ties.loc[2, "weight"] = "-3"
    ties.loc[8, "weight"] = "often"
    ties.to_csv(study / "data/raw/ties.csv", index=False)
    expect_error(study, capsys, "ties.csv", "row 4", "row 10", "weight")


def test_formula_naming_unknown_column(study, capsys):
    text = (study / "study.yaml").read_text().replace("degree * social_capital",
                                                      "degre * social_capital")
    (study / "study.yaml").write_text(text)
    expect_error(study, capsys, "analysis.models[0].formula", "degre", "degree")


def test_validate_catches_formula_typos_before_fitting(study, capsys):
    text = (study / "study.yaml").read_text().replace("degree * social_capital",
                                                      "degree * social_captial")
    text = text.replace("moderator: social_capital", "moderator: social_captial")
    (study / "study.yaml").write_text(text)
    capsys.readouterr()
    assert main(["validate", str(study)]) == 2
    err = capsys.readouterr().err
    assert "analysis.models[0].formula" in err and "social_captial" in err
    assert "did you mean 'social_capital'?" in err and "analysis.models[0].moderator" in err


def test_invalid_yaml(study, capsys):
    (study / "study.yaml").write_text("title: x\ninstrument: [oops\n")
    expect_error(study, capsys, "study.yaml", "line", "not valid YAML")


def test_yaml_with_language_tags(study, capsys):
    marker = study / "pwned"
    text = (study / "study.yaml").read_text().replace(
        'title: "', f'title: !!python/object/apply:os.system ["touch {marker}"]\n# "', 1)
    (study / "study.yaml").write_text(text)
    expect_error(study, capsys, "study.yaml", "tag")
    assert not marker.exists()


def test_instrument_with_language_tags(study, capsys):
    inst = study / "instruments/social_capital.yaml"
    inst.write_text(inst.read_text().replace("name: Social capital core instrument",
                                             "name: !!python/name:os.system"))
    expect_error(study, capsys, "social_capital.yaml", "tag")


def test_study_path_that_does_not_exist(tmp_path, capsys):
    code = main(["run", str(tmp_path / "nope")])
    err = capsys.readouterr().err
    assert code == 2 and "no study.yaml" in err and "Traceback" not in err


def test_zip_bomb_xlsx_is_refused(study, capsys):
    path = study / "data/raw/survey.xlsx"
    with zipfile.ZipFile(path) as zin:
        members = {i.filename: zin.read(i.filename) for i in zin.infolist()}
    sheet = next(n for n in members if n.startswith("xl/worksheets/"))
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zout:
        for name, data in members.items():
            if name == sheet:
                # a sheet that inflates to > 4 GiB from a few MB: written in chunks, never in memory
                info = zipfile.ZipInfo(name)
                info.compress_type = zipfile.ZIP_DEFLATED
                with zout.open(info, "w", force_zip64=True) as fh:
                    block = b" " * (1 << 24)
                    for _ in range(260):
                        fh.write(block)
            else:
                zout.writestr(name, data)
    assert path.stat().st_size < 50 << 20
    expect_error(study, capsys, "survey.xlsx", "refuses")


def test_mixed_encodings(study, capsys):
    frame = survey_frame(study)
    write_survey(study, frame)
    path = study / "data/raw/survey.csv"
    lines = path.read_bytes().split(b"\n")
    lines[3] = lines[3].replace(b"R_", "Ré_".encode("cp1252"), 1)  # one cp1252 line
    lines[5] = lines[5].replace(b"R_", "Rü_".encode("utf-8"), 1)  # one utf-8 line
    path.write_bytes(b"\n".join(lines))
    expect_error(study, capsys, "survey.csv", "encoding", "row 4")


# ---- statistical edge cases degrade with a warning ------------------------------------------


def warnings_of(study: Path) -> list[str]:
    import json

    return [w["message"] for w in json.loads((study / "reports/results.json").read_text())["warnings"]]


def test_constant_item_is_a_warning(study, capsys):
    frame = survey_frame(study)
    frame["coop_4"] = 4
    write_survey(study, frame)
    code, err = run(study, capsys)
    assert code == 0, err
    assert any("coop_4" in w and ("constant" in w or "no variance" in w) for w in warnings_of(study))


def test_identical_items_are_a_warning(study, capsys):
    frame = survey_frame(study)
    frame["trust_3"] = frame["trust_1"]
    write_survey(study, frame)
    code, err = run(study, capsys)
    assert code == 0, err
    found = warnings_of(study)  # nothing crashed; the dependence is named where it matters
    assert any("trust_1, trust_3" in w and "Heywood" in w for w in found)
    assert any("singular" in w and "no CFA was fitted" in w for w in found)
    assert any("means of the valid items" in w for w in found)  # scores fell back to means


def test_unit_with_one_respondent_is_a_warning(study, capsys):
    frame = survey_frame(study)
    frame.loc[0, "firm_id"] = "F9000"
    firms = pd.read_csv(study / "data/raw/firms.csv", dtype={"firm_id": str})
    extra = firms.iloc[[0]].assign(firm_id="F9000")
    pd.concat([firms, extra]).to_csv(study / "data/raw/firms.csv", index=False)
    write_survey(study, frame)
    code, err = run(study, capsys)
    assert code == 0, err
    assert any("fewer than 3 respondents" in w for w in warnings_of(study))


def test_perfect_separation_is_a_warning(study, capsys):
    firms = pd.read_csv(study / "data/raw/firms.csv", dtype={"firm_id": str})
    firms["innovator"] = (firms["employees"] > firms["employees"].median()).astype(int)
    firms.to_csv(study / "data/raw/firms.csv", index=False)
    text = (study / "study.yaml").read_text().replace(
        "  models:\n", "  models:\n    - name: separated\n      formula: \"innovator ~ employees + "
        "social_capital\"\n      family: logit\n", 1)
    (study / "study.yaml").write_text(text)
    code, err = run(study, capsys)
    assert code == 0, err
    assert any("separation" in w for w in warnings_of(study))


# ---- internal errors ----------------------------------------------------------------------------


def test_internal_error_is_exit_1_with_a_log(study, capsys, monkeypatch):
    import pipeline.run

    def boom(*a, **k):
        raise ZeroDivisionError("simulated bug")

    monkeypatch.setattr(pipeline.run, "analyse", boom)
    before = output_bytes(study)
    code, err = run(study, capsys)
    assert code == 1
    assert "bug" in err and "socap-error.log" in err and "Traceback" not in err
    log = (study / "reports" / "socap-error.log").read_text()
    assert "ZeroDivisionError: simulated bug" in log
    after = output_bytes(study)
    after.pop("reports/socap-error.log")
    assert after == before  # only the log was added


def test_internal_error_log_quotes_no_personal_data(study, capsys, monkeypatch):
    import pipeline.run

    def boom(*a, **k):
        raise ValueError("could not convert 'jo.doe@example.org' (from 192.0.2.17, "
                         "tel +49 30 1234 5678) to float at row 12")

    monkeypatch.setattr(pipeline.run, "analyse", boom)
    code, err = run(study, capsys)
    assert code == 1
    log = (study / "reports" / "socap-error.log").read_text()
    assert "ValueError: could not convert '<e-mail>' (from <IP address>, tel <phone>) to float " \
           "at row 12" in log
    for secret in ("jo.doe", "example.org", "192.0.2.17", "1234 5678"):
        assert secret not in log and secret not in err
