"""No formula injection (issue 18, part A): ids, file names and text cells a spreadsheet would run
as formulas (starting with = + - @ tab CR) are neutralised in every csv socap writes (a leading
single quote, the cell quoted) and written as text cells in tables.xlsx; numbers stay numbers;
reports/reproduce.R undoes the prefix, so R recomputes the same numbers."""

from __future__ import annotations

import csv
import io
import re
import shutil
import subprocess

import pandas as pd
import pytest

from pipeline.cli import main
from pipeline.csvtext import FORMULA_PATTERN, neutralise_text, write_csv

HOSTILE = ['=HYPERLINK("http://evil.example/?x=1","open")', "+1", "-2+3", "@SUM(A1)",
           "\tTAB", "\rCR"]


def _undo(text: str) -> str:
    """What a reader does (reproduce.R's unquote): one leading quote off ^'+[=+-@ tab CR]."""
    return re.sub(r"^'(?='*[=+\-@\t\r])", "", text)


@pytest.mark.parametrize("value", HOSTILE + ["'=already quoted", "''@two", "ok", "a=b", "'",
                                              "", "2-3", "x-1"])
def test_neutralised_text_reads_back_exactly(value):
    out = neutralise_text(value)
    if value[:1] in ("=", "+", "-", "@", "\t", "\r") or re.match(r"^'+[=+\-@\t\r]", value):
        assert out == "'" + value
    else:
        assert out == value
    assert _undo(out) == value


def test_csv_cells_are_quoted_and_prefixed_numbers_untouched(tmp_path):
    frame = pd.DataFrame({"id": HOSTILE, "x": [-0.5, 1.0, -2.0, 3.0, -1e-300, 0.1],
                          "n": [-1, 2, -3, 4, 5, 6],
                          "cat": pd.Categorical(["=a", "b", "=a", "-c", "b", "@d"])})
    write_csv(frame, tmp_path / "t.csv")
    text = (tmp_path / "t.csv").read_bytes().decode("utf-8")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[0] == ["id", "x", "n", "cat"]
    body = rows[1:]
    assert [r[0] for r in body] == ["'" + v for v in HOSTILE]
    assert [r[3] for r in body] == ["'=a", "b", "'=a", "'-c", "b", "'@d"]
    # every text cell is quoted, every number bare (and read back exactly)
    lines = text.split("\n")
    assert lines[1] == '"\'=HYPERLINK(""http://evil.example/?x=1"",""open"")",-0.5,-1,"\'=a"'
    assert lines[2] == '"\'+1",1,2,"b"' and lines[3] == '"\'-2+3",-2,-3,"\'=a"'
    back = pd.read_csv(tmp_path / "t.csv")
    assert back["x"].tolist() == frame["x"].tolist() and back["n"].tolist() == frame["n"].tolist()
    assert "-0.5," in text and "'-0.5" not in text and "-1e-300" in text


def test_the_r_reader_undoes_the_prefix_as_the_python_rule_does():
    """The R code text: the pattern reproduce.R removes is the one csvtext adds."""
    from pipeline.report.rcode import R_READ_TABLE, reproduce_r

    code = "\n".join(R_READ_TABLE)
    assert "grepl(\"^'+[-=+@\\t\\r]\", x)" in code and "substring(x[hit], 2)" in code
    assert "unquote(read.csv(" in code
    assert code in reproduce_r({})
    assert FORMULA_PATTERN == r"^('*[=+\-@\t\r])"


# --- a whole run with hostile ids, group names and file name ---------------------------------

FIRMS = {"F0001": '=HYPERLINK("http://evil.example","x")', "F0002": "+1", "F0003": "-2+3",
         "F0004": "@SUM(A1)"}
CLUSTER = {"C01": "-C01", "C02": "=C02"}
RESPONDENTS = ["=HYPERLINK(\"http://evil.example\",\"r\")", "+100", "-2+3", "@SUM(A1)"]
EXPORT = "=cmd.csv"


@pytest.fixture(scope="module")
def hostile(tmp_path_factory, example_study):
    from pipeline.ingest.tables import read_table

    folder = tmp_path_factory.mktemp("hostile") / "study"
    shutil.copytree(example_study, folder)
    export = read_table(folder / "data/raw/survey.xlsx").frame
    export["firm_id"] = export["firm_id"].replace(FIRMS)
    export["cluster"] = export["cluster"].replace(CLUSTER)
    # four respondents with hostile ids who did not finish: they are in exclusions.csv
    export.loc[:3, "ResponseId"] = RESPONDENTS
    export.loc[:3, "Finished"] = False
    (folder / "data/raw/survey.xlsx").unlink()
    export.to_csv(folder / "data/raw" / EXPORT, index=False)
    for name, cols in (("firms.csv", ["firm_id"]), ("ties.csv", ["source", "target"])):
        t = pd.read_csv(folder / "data/raw" / name, dtype=str, keep_default_na=False)
        for c in cols:
            t[c] = t[c].replace(FIRMS)
        if "cluster" in t:
            t["cluster"] = t["cluster"].replace(CLUSTER)
        t.to_csv(folder / "data/raw" / name, index=False)
    text = (folder / "study.yaml").read_text().replace("data/raw/survey.xlsx", f"'data/raw/{EXPORT}'")
    (folder / "study.yaml").write_text(text)
    assert main(["run", str(folder), "--quiet"]) == 0
    return folder


def _cells(path):
    return list(csv.reader(io.StringIO(path.read_bytes().decode("utf-8"), newline="")))


def test_exclusions_csv_neutralises_ids_and_file_names(hostile):
    rows = _cells(hostile / "data/processed/exclusions.csv")
    ids = [r[0] for r in rows[1:]]
    for rid in RESPONDENTS:
        assert "'" + rid in ids
    assert all(r[1] == "'" + EXPORT for r in rows[1:])
    raw = (hostile / "data/processed/exclusions.csv").read_text(encoding="utf-8")
    assert '"\'=cmd.csv"' in raw and '"\'@SUM(A1)"' in raw
    # no cell of any csv starts with a formula character unless it is a number
    for path in [hostile / "data/processed/exclusions.csv",
                 *sorted((hostile / "reports/reproduce").glob("*.csv"))]:
        for row in _cells(path)[1:]:
            for cell in row:
                if cell[:1] in ("=", "+", "-", "@", "\t", "\r"):
                    float(cell)  # a negative number, never text


def test_companions_neutralise_unit_and_group_ids_and_keep_negative_numbers(hostile):
    units = _cells(hostile / "reports/reproduce/units.csv")
    head = units[0]
    ids = {r[head.index("firm_id")] for r in units[1:]}
    assert {"'" + v for v in FIRMS.values()} <= ids
    clusters = {r[head.index("cluster")] for r in units[1:]}
    assert {"'-C01", "'=C02"} <= clusters
    resp = pd.read_csv(hostile / "reports/reproduce/responses.csv")
    parquet = pd.read_parquet(hostile / "data/processed/responses.parquet")
    # scores are numbers, negative ones included, exactly those of responses.parquet
    assert resp["social_capital"].dtype == float and (resp["social_capital"] < 0).any()
    pd.testing.assert_series_equal(resp["social_capital"].reset_index(drop=True),
                                   parquet["social_capital"].reset_index(drop=True))
    # parquet holds the values themselves (not a text format: nothing to neutralise)
    assert set(FIRMS.values()) <= set(parquet["firm_id"])


def test_xlsx_writes_hostile_text_as_text_never_formulas(hostile):
    from openpyxl import load_workbook

    wb = load_workbook(hostile / "reports/tables.xlsx")
    cells = [c for ws in wb for row in ws.iter_rows() for c in row if c.value is not None]
    assert cells and not [c.coordinate for c in cells if c.data_type == "f"]
    texts = [c.value for c in cells if isinstance(c.value, str)]
    assert "'" + EXPORT in texts  # the file table
    assert not [t for t in texts if t[:1] in ("=", "+", "@", "\t", "\r")]
    assert [t for t in texts if t.startswith("-")] == []
    # negative numbers stay numbers
    assert any(isinstance(c.value, float) and c.value < 0 for c in cells)


R = shutil.which("Rscript")


@pytest.mark.skipif(R is None, reason="R is not installed")
def test_reproduce_r_reads_the_ids_back_and_recomputes_the_numbers(hostile):
    from pipeline.report.rcode import R_READ_TABLE

    code = "\n".join(["here <- function(...) file.path('reports', 'reproduce', ...)",
                      *R_READ_TABLE,
                      "u <- read_table('units'); r <- read_table('responses')",
                      "writeLines(sort(unique(c(u$firm_id, r$firm_id))), 'ids.txt')",
                      "writeLines(sort(unique(r$cluster)), 'clusters.txt')",
                      "cat(class(r$social_capital), '\\n')"])
    out = subprocess.run([R, "-e", code], cwd=hostile, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert "numeric" in out.stdout
    parquet = pd.read_parquet(hostile / "data/processed/responses.parquet")
    ids = (hostile / "ids.txt").read_text(encoding="utf-8").splitlines()
    assert set(FIRMS.values()) <= set(ids)
    assert set(parquet["firm_id"]) <= set(ids) and not [i for i in ids if i.startswith("'")]
    clusters = (hostile / "clusters.txt").read_text(encoding="utf-8").splitlines()
    assert sorted(clusters) == sorted(set(parquet["cluster"]))
    run = subprocess.run([R, "reports/reproduce.R"], cwd=hostile, capture_output=True,
                         text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    m = re.search(r"(\d+) of (\d+) numbers within tolerance", run.stdout)
    assert m and m.group(1) == m.group(2) and int(m.group(2)) > 20, run.stdout[-3000:]
