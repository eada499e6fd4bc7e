"""Workbooks socap cannot read and model columns it cannot fit (issue 18): a workbook without
sheets, a password-protected one, a corrupt one, an Excel 97-2003 file named .xlsx; 'nan' and
'inf' in a model's outcome; a constant outcome. Each is one clear message (exit 2) naming the
file -- and row and column where there is one -- with the earlier outputs unchanged, or for the
constant outcome a warning in a finished run."""

from __future__ import annotations

import io
import json
import re
import shutil
import zipfile
from pathlib import Path

import pytest

from outputs import output_bytes
from pipeline.cli import main

ENCRYPTED = Path(__file__).parent / "reference" / "data" / "encrypted.xlsx"


@pytest.fixture()
def study(ran_study_copy) -> Path:
    """A copy of the study after a successful run (conftest.ran_study)."""
    return ran_study_copy


def expect_error(study: Path, capsys, *fragments: str) -> str:
    before = output_bytes(study)
    capsys.readouterr()
    code = main(["run", str(study), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err and "internal error" not in err, err
    for f in fragments:
        assert f in err, f"{f!r} not in:\n{err}"
    assert output_bytes(study) == before, "a failed run changed earlier outputs"
    return err


def rewrite_zip(path: Path, change) -> None:
    """Rewrite an xlsx member by member: change(name, data) returns new data or None to drop."""
    with zipfile.ZipFile(path) as zin:
        members = [(i.filename, zin.read(i.filename)) for i in zin.infolist()]
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for name, data in members:
            data = change(name, data)
            if data is not None:
                zout.writestr(name, data)
    path.write_bytes(out.getvalue())


# ---- workbooks ----------------------------------------------------------------------------------


def test_a_workbook_without_sheets(study, capsys):
    survey = study / "data/raw/survey.xlsx"

    def no_sheets(name, data):
        if name == "xl/workbook.xml":
            return re.sub(rb"<sheets>.*</sheets>", b"<sheets/>", data, flags=re.S)
        if name == "xl/_rels/workbook.xml.rels":
            return re.sub(rb"<Relationship[^>]*worksheet[^>]*/>", b"", data)
        if name == "[Content_Types].xml":
            return re.sub(rb"<Override[^>]*sheet1[^>]*/>", b"", data)
        return None if name.startswith("xl/worksheets/") else data

    rewrite_zip(survey, no_sheets)
    expect_error(study, capsys, str(survey), "a workbook without any sheet", "Fix:")


def test_a_password_protected_workbook(study, capsys):
    survey = study / "data/raw/survey.xlsx"
    shutil.copyfile(ENCRYPTED, survey)
    expect_error(study, capsys, f"{survey}: the survey export is password-protected: save it "
                 "without a password", "Encrypt with Password")


def test_a_password_protected_tie_list_and_instrument(study, capsys):
    ties = study / "data/raw/ties.xlsx"
    shutil.copyfile(ENCRYPTED, ties)
    text = (study / "study.yaml").read_text()
    (study / "study.yaml").write_text(text.replace("data/raw/ties.csv", "data/raw/ties.xlsx"))
    expect_error(study, capsys, f"{ties}: the tie list is password-protected")
    (study / "study.yaml").write_text(text.replace("instruments/social_capital.yaml",
                                                   "instruments/social_capital.xlsx"))
    shutil.copyfile(ENCRYPTED, study / "instruments/social_capital.xlsx")
    expect_error(study, capsys, "social_capital.xlsx: the instrument workbook is "
                 "password-protected")


def test_an_excel_97_workbook_named_xlsx(study, capsys):
    survey = study / "data/raw/survey.xlsx"
    raw = ENCRYPTED.read_bytes()
    for name, other in (("EncryptionInfo", "WorkbookInfoX"), ("EncryptedPackage", "WorkbookPackage")):
        raw = raw.replace(name.encode("utf-16-le"), other.ljust(len(name)).encode("utf-16-le"))
    survey.write_bytes(raw)
    expect_error(study, capsys, str(survey), "Excel 97-2003 workbook", "save it as .xlsx")


@pytest.mark.parametrize("damage", ["truncated", "bad-xml", "flipped-bytes", "no-workbook"])
def test_a_corrupt_workbook(study, capsys, damage):
    survey = study / "data/raw/survey.xlsx"
    if damage == "truncated":
        survey.write_bytes(survey.read_bytes()[: survey.stat().st_size // 2])
    elif damage == "bad-xml":
        rewrite_zip(survey, lambda n, d: d[: len(d) // 3] if n == "xl/worksheets/sheet1.xml" else d)
    elif damage == "flipped-bytes":
        with zipfile.ZipFile(survey) as zf:
            info = zf.getinfo("xl/worksheets/sheet1.xml")
        raw = bytearray(survey.read_bytes())
        start = info.header_offset + 30 + len(info.filename) + len(info.extra) + 100
        raw[start:start + 64] = bytes(255 - b for b in raw[start:start + 64])
        survey.write_bytes(bytes(raw))
    else:
        rewrite_zip(survey, lambda n, d: None if n == "xl/workbook.xml" else d)
    err = expect_error(study, capsys, str(survey), "Fix:")
    assert re.search(r"not a valid \.xlsx file|cannot be read", err), err


# ---- model columns ------------------------------------------------------------------------------


def set_outcome(study: Path, rows: dict[int, str] | None = None, every: str | None = None) -> None:
    """Set cells of firms.csv's new_products: {spreadsheet row: text}, or every row."""
    path = study / "data/raw/firms.csv"
    lines = path.read_text().rstrip("\n").split("\n")
    col = lines[0].split(",").index("new_products")
    for n in range(2, len(lines) + 1):
        if every is not None or n in (rows or {}):
            cells = lines[n - 1].split(",")
            cells[col] = every if every is not None else rows[n]
            lines[n - 1] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf", "#DIV/0!"])
def test_a_non_finite_outcome_names_file_row_and_column(study, capsys, value):
    set_outcome(study, {7: value, 12: value})
    err = expect_error(study, capsys, f"{study / 'data/raw/firms.csv'}, row 7, column "
                       f"'new_products': '{value}' is not a number model 'catalytic' can use "
                       "as its outcome", "1 more such cells", "leave the cell empty")
    assert "categorical" not in err


@pytest.mark.parametrize("family,value", [("poisson", "0"), ("gaussian", "0"), ("negbin", "3")])
def test_a_constant_outcome_is_a_warning(study, capsys, family, value):
    set_outcome(study, every=value)
    text = (study / "study.yaml").read_text()
    (study / "study.yaml").write_text(text.replace("family: poisson", f"family: {family}"))
    capsys.readouterr()
    code = main(["run", str(study), "--quiet"])
    err = capsys.readouterr().err
    assert code == 0, err
    results = json.loads((study / "reports/results.json").read_text())
    model = results["models"]["catalytic"]
    assert model["family"] == family
    sentence = (f"The outcome new_products has the same value ({value}) in all {model['n']} rows "
                "of the model")
    assert any(sentence in w for w in model["warnings"]), model["warnings"]
    assert any(sentence in w["message"] if isinstance(w, dict) else sentence in w
               for w in results["warnings"])
    assert sentence in (study / "reports/report.html").read_text()
