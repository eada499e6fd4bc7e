"""APA 7 presentation of the report: numbers (leading zeros, p-values, df, digits that never
contradict a flag), italic symbols, numbered tables and figures with notes, a reference for
every citation, the estimator / SE / df statements, xlsx number formats, and reproduce.R
(run with Rscript where R is installed)."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from test_report import (  # noqa: F401  (fixtures of the hostile study's run)
    HEADER_NAMES,
    html,
    page,
    ran,
    results,
    table,
)

from pipeline.report.apa import fmt_df, fmt_number, fmt_p, header_html, side_decimals, text_html

# ---- numbers ---------------------------------------------------------------------------------


@pytest.mark.parametrize("value, expected", [
    (0.0349, ".035"), (0.0005, "< .001"), (0.0, "< .001"), (1e-300, "< .001"), (1.0, "1.000"),
    (0.001, ".001"), (0.0009999, "< .001"), (None, ""),
])
def test_p_values_as_apa_prints_them(value, expected):
    assert fmt_p(value) == expected


def test_bounded_statistics_have_no_leading_zero_and_others_keep_it():
    assert fmt_number(0.7906, 3, bounded=True) == ".791"
    assert fmt_number(-0.4, 2, bounded=True) == "-.40"
    assert fmt_number(0.4779, 3) == "0.478"
    assert fmt_number(1.0, 3, bounded=True) == "1.000"
    assert fmt_number(-0.0001, 3) == "0.000"
    assert fmt_df(166) == "166" and fmt_df(166.0) == "166" and fmt_df(12.3456) == "12.35"


@pytest.mark.parametrize("value, decimals, cut, above, expected", [
    (0.69990, 3, 0.70, False, ".6999"), (0.69949, 3, 0.70, False, ".699"),
    (0.7000001, 3, 0.70, False, ".700"), (0.70049, 3, 0.70, False, ".700"),
    (0.6999999, 3, 0.70, False, ".6999999"), (0.295, 2, 0.30, False, ".29"), (0.2999, 2, 0.30, False, ".2999"),
    (0.0600004, 3, 0.06, True, ".0600004"), (0.0600004, 3, 0.06, False, ".060"),
    (0.8500001, 2, 0.85, True, ".8500001"), (0.849, 2, 0.85, True, ".85"),
])
def test_digits_keep_a_flagged_value_off_its_cut(value, decimals, cut, above, expected):
    """A flagged value never reads as the cut-off; an unflagged one may (.700 is not < .70,
    which agrees with its flag)."""
    text = fmt_number(value, decimals, bounded=True, cut=cut, above=above)
    assert text == expected
    flagged = value > cut if above else value < cut
    if flagged:
        assert (float(text) > cut) if above else (float(text) < cut)
    assert side_decimals(0.5, 2, 0.5) == 2  # exactly on the cut-off: not flagged


def test_symbols_are_italic_and_user_text_escaped():
    assert header_html("p") == "<i>p</i>" and header_html("SE") == "<i>SE</i>"
    assert header_html("std SE") == "std <i>SE</i>" and header_html("95% CI") == "95% CI"
    assert header_html("mean") == "<i>M</i>" and header_html("sd") == "<i>SD</i>"
    assert header_html("df1") == "<i>df</i><sub>1</sub>"
    assert header_html("<b>x</b>") == "&lt;b&gt;x&lt;/b&gt;"
    out = text_html("n = 1,006 and p < .001; F(299, 1241) = 2.31; <script>; trust_n = 3")
    assert "<i>n</i> = 1,006" in out and "<i>p</i> &lt; .001" in out
    assert "<i>F</i>(299, 1241)" in out and "&lt;script&gt;" in out and "trust_n = 3" in out


# ---- the report ------------------------------------------------------------------------------


def test_tables_and_figures_are_numbered_with_titles_and_notes(page, html):
    numbers = [int(n) for n in re.findall(r'<p class="table-number"[^>]*><strong>Table (\d+)<',
                                          html)]
    assert numbers == list(range(1, len(numbers) + 1)) and len(numbers) == len(page.tables)
    figs = [int(n) for n in re.findall(r'<p class="figure-number"[^>]*><strong>Figure (\d+)<',
                                       html)]
    assert figs == list(range(1, len(figs) + 1)) and len(figs) >= 5
    assert html.count('<p class="figure-title"><em>') == len(figs)
    assert html.count('<p class="table-title"') == len(numbers)
    notes = html.count('<p class="note"><em>Note.</em>')
    assert notes >= len(numbers) - 6  # flow, files, a few plain lists have no note
    # each figure has a note (its caption)
    assert html.count("<figcaption><em>Note.</em>") == len(figs)


def test_headers_use_apa_symbols(html):
    assert '<th scope="col"><i>p</i></th>' in html
    assert '<th scope="col"><i>SE</i></th>' in html
    assert '<th scope="col"><i>M</i></th>' in html and '<th scope="col">\u03b1</th>' in html


def test_no_bounded_statistic_has_a_leading_zero(page, results):
    rel = table(page, "reliability")
    for r in rel:
        assert r["alpha"].startswith("."), r["alpha"]
    fit = {r["index"]: r["value"] for r in table(page, "cfa_fit")}
    for k in ("CFI", "TLI", "RMSEA", "SRMR", "p"):
        assert not fit[k].startswith("0."), (k, fit[k])
    assert re.fullmatch(r"\d+", fit["df"])
    for r in table(page, "aggregation"):
        assert not r["ICC(2)"].startswith("0.") and re.fullmatch(r"[\d,]+", r["df2"])
    coefs = table(page, [k[2:] for k in page.tables if k.startswith("t-model_")][0])
    assert any(c["B"].startswith(("0.", "-0.")) for c in coefs)  # unbounded: zero kept


def test_shown_values_never_contradict_their_flags(page, results):
    """Every flagged or cut-off-compared value reads on the side of the cut its flag says."""
    checked = 0
    for r in table(page, "aggregation"):
        icc2 = float(r["ICC(2)"])
        assert ("ICC(2) < .70" in r["flag"]) == (icc2 < 0.70), r
        checked += 1
    for r in table(page, "reliability"):
        assert ("alpha < .70" in r["flag"]) == (float(r["alpha"]) < 0.70)
        checked += 1
    for r in table(page, "cfa_loadings"):
        assert ("< .50" in r["flag"]) == (abs(float(r["beta"])) < 0.50)
        checked += 1
    assert checked > 20


def test_an_icc_just_below_its_cut_off_is_never_printed_on_it():
    from pipeline.levels import _below

    assert _below(0.6998952662685409, 0.70) == "0.6999"
    assert _below(0.5679, 0.70) == "0.568"


def test_fixed_loadings_show_no_se_or_test(page, results):
    rows = table(page, "cfa_loadings")
    first = [r for r in rows if r["B"] == "1.000"]
    assert len(first) == len(results["cfa"]["loadings"]) + len(results["cfa"]["higher_order"])
    for r in first:
        assert r["SE"] == r["z"] == r["p"] == r["95% CI"] == "\u2014"
    free = [r for r in rows if r["B"] != "1.000"]
    assert all(r["p"] and r["z"] and r["95% CI"].startswith("[") for r in free)
    assert "0.000" not in [r["SE"] for r in rows]


_CITATION = re.compile(r"([A-Z][A-Za-z\u00e9\u00fc-]+)(?:,? (?:(?:van |von |de )?[A-Z][A-Za-z\u00e9\u00fc-]+|&|and|et al\.))*"
                       r",? \(?((?:19|20)\d\d)(?![.\d-])")


def test_every_citation_has_a_reference(page):
    refs = [t for t in page.texts if re.match(r"^[A-Z][A-Za-z\u00e9\u00fc-]+, [A-Z]\.", t)]
    text = " ".join(t for t in page.texts if t not in refs)
    cited = {(m.group(1), m.group(2)) for m in _CITATION.finditer(text)}
    assert len(cited) > 20
    missing = [(a, y) for a, y in cited if a not in ("Table", "Figure", "Note", "R", "Page")
               and not any(r.startswith(a) and f"({y})" in r for r in refs)]
    assert missing == []
    for author in ("Cameron, A. C., Gelbach", "Friedrich, R. J.", "Belsley, D. A.",
                   "Koenker, R.", "Breusch, T. S."):
        assert any(r.startswith(author) for r in refs), author


def test_socap_computed_lavaan_checked(page, results):
    text = "".join(page.texts)
    assert "socap's own structural-equation engine" in text
    assert "checked against lavaan 0.6.14 in socap's test suite (lavaan did not run here" in text
    assert "no R code ran" in text
    assert "lavaan::cfa(model, data, estimator = \"ML\", missing = \"listwise\")" in text


def test_lavaan_version_is_that_of_the_fixtures():
    import json
    from pathlib import Path

    from pipeline.report.methods import REFERENCE_VERSIONS

    ref = json.loads((Path(__file__).parent / "reference" / "report_cfa.json").read_text())
    assert REFERENCE_VERSIONS["lavaan"] == ref["lavaan"]


def test_estimator_missing_se_and_df_are_stated_where_used(page, results):
    text = "".join(page.texts)
    n = results["cfa"]["n"]
    assert (f"Estimator: maximum likelihood (ML); missing data: listwise deletion (n = {n:,} "
            "complete rows") in text
    assert "SEs: standard (inverse expected information)" in text
    assert "model test: likelihood-ratio chi-square test" in text
    m = next(iter(results["models"].values()))
    # fewer than 50 clusters: se: cluster chose CR2 with Satterthwaite df, and says why
    assert m["se_type"] == "CR2" and m["test"] == "t" and m["df_method"] == "Satterthwaite"
    assert "Standard errors are cluster-robust CR2 (bias-reduced linearisation) over cluster" in text
    assert "coefficients are tested with t tests with Satterthwaite df" in text
    assert f"because there are only {m['wild_bootstrap']['clusters']} clusters" in text
    assert "Wild Cluster Bootstrap of Model" in text
    assert "F test of between-unit differences with df1 = units - 1" in text
    assert "Feldt 95% confidence interval from the F distribution with n - 1" in text


def test_cfa_residuals_syntax_and_diagram(page, html, results, ran):
    rows = {r["indicator"]: r for r in table(page, "cfa_residuals")}
    for item, v in results["cfa"]["residual_variances"].items():
        assert float(rows[item]["R\u00b2"]) == pytest.approx(1 - v["std"], abs=0.0006)
    res = results["cfa"]["residual_correlations"]
    assert set(res) == set(rows)
    syntax = re.search(r'<pre class="syntax">(.*?)</pre>', html, re.S).group(1)
    for c, items in results["cfa"]["loadings"].items():
        assert f"{c} =~ {' + '.join(items)}" in syntax
    assert "social_capital =~ coordination + cooperation + reciprocity + trust" in syntax
    svg = (ran / "reports" / "figures" / "cfa_path.svg").read_text(encoding="utf-8")
    assert svg[svg.index("<svg"):] in html and "social_capital" in svg
    for items in results["cfa"]["loadings"].values():
        for item in items:
            assert f">{item}<" in svg


# ---- tables.xlsx -----------------------------------------------------------------------------


def test_xlsx_formats_p_values_df_and_bounded_statistics(ran, results):
    from openpyxl import load_workbook

    wb = load_workbook(ran / "reports" / "tables.xlsx")
    ws = next(w for w in wb.worksheets if w.title.startswith("model_"))
    header = [c.value for c in ws[1]]
    p = [r[header.index("p")] for r in ws.iter_rows(min_row=2) if r[0].value]
    assert all(c.data_type == "n" and c.number_format == '[<0.001]"< .001";.000' for c in p)
    coefs = next(iter(results["models"].values()))["coefficients"]
    assert [c.value for c in p] == [v["p"] for v in coefs.values()]  # exact, not rounded
    ws = wb["efa_adequacy"]
    rows = {r[0].value: r[1] for r in ws.iter_rows(min_row=2)}
    assert rows["Bartlett's test: df"].number_format == "General"
    assert isinstance(rows["Bartlett's test: df"].value, int)
    assert rows["Bartlett's test: p"].number_format == '[<0.001]"< .001";.000'
    assert rows["KMO measure of sampling adequacy (overall)"].number_format == ".000"
    ws = wb["reliability"]
    header = [c.value for c in ws[1]]
    assert all(r[header.index("alpha")].number_format == ".000"
               for r in ws.iter_rows(min_row=2))


# ---- reproduce.R -----------------------------------------------------------------------------


def test_reproduce_r_is_written_with_the_lavaan_syntax(ran, results):
    text = (ran / "reports" / "reproduce.R").read_text(encoding="utf-8")
    assert "lavaan::cfa(model, data = responses[, c(cfa_items)], estimator = \"ML\", " \
           "missing = \"listwise\")" in text
    assert "clubSandwich::vcovCR(fit, cluster = d[[\"cluster\"]], type = 'CR2')" in text
    m = next(iter(results["models"].values()))
    # the Satterthwaite df are checked in R too (clubSandwich::coef_test), one per coefficient
    assert "clubSandwich::coef_test(fit, vcov = V, test = 'Satterthwaite')" in text
    assert text.count("Satterthwaite df\", cs[") == len(m["coefficients"])
    assert "multilevel::ICC2" in text and "psych::alpha" in text and "psych::fa" in text
    import pandas as pd

    resp = pd.read_csv(ran / "reports" / "reproduce" / "responses.csv")
    assert "respondent_id" not in resp.columns and len(resp) == results["sample"]["respondents"]
    units = pd.read_csv(ran / "reports" / "reproduce" / "units.csv")
    assert {"new_products", "degree", "social_capital", "log_employees", "cluster"} <= set(units)


@pytest.mark.skipif(shutil.which("Rscript") is None, reason="R is not installed (CI has no R)")
def test_reproduce_r_recomputes_the_report_in_r(ran):
    need = "for (p in c('psych','lavaan','multilevel','sandwich','lmtest')) " \
           "if (!requireNamespace(p, quietly = TRUE)) quit(status = 3)"
    if subprocess.run(["Rscript", "-e", need], capture_output=True).returncode != 0:
        pytest.skip("R lacks psych, lavaan, multilevel, sandwich or lmtest")
    out = subprocess.run(["Rscript", "reports/reproduce.R"], cwd=ran, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    m = re.search(r"(\d+) of (\d+) numbers within tolerance", out.stdout)
    assert m, out.stdout
    assert m.group(1) == m.group(2) and int(m.group(2)) >= 30, out.stdout
    assert " differs" not in out.stdout


def test_large_tables_get_no_csv_copy_and_reproduce_r_reads_the_parquet(tmp_path, monkeypatch):
    """Above COMPANION_MAX_ROWS rows a table is not copied to csv (it would cost seconds and
    hundreds of MB at 10^6 respondents); reproduce.R then reads data/processed/*.parquet."""
    import pandas as pd

    from pipeline.report import rcode

    resp = pd.DataFrame({"firm_id": ["a", "b", "c"], "trust_1": [1.0, 2.0, None],
                         "trust": [0.1, -0.2, 0.3]})
    results = {"items": {"trust_1": {}}, "scores": {"columns": ["trust"]},
               "config": {"survey": {"unit": "firm_id"}}}
    paths = rcode.write_companions(results, {"responses": resp}, tmp_path / "a")
    assert [p.name for p in paths] == ["responses.csv"]
    back = pd.read_csv(paths[0])
    assert list(back.columns) == ["firm_id", "trust_1", "trust"]
    assert back["trust_1"].isna().tolist() == [False, False, True]
    assert back["trust"].tolist() == [0.1, -0.2, 0.3]  # shortest round-trip decimals
    monkeypatch.setattr(rcode, "COMPANION_MAX_ROWS", 2)
    assert rcode.write_companions(results, {"responses": resp}, tmp_path / "b") == []
    code = rcode.reproduce_r(results)
    assert "arrow::read_parquet(file.path('data', 'processed'" in code
    assert "responses <- read_table('responses')" in code


def test_methods_paragraphs_print_no_raw_floats(html):
    """Every number in the Methods prose is formatted (a raw float such as 0.8804393056424048,
    the calibration's mean reliability, was printed once)."""
    section = html[html.index('<section id="methods">'):html.index('<section id="sample">')]
    text = re.sub(r"<[^>]+>", " ", section)
    assert "regression-calibrated" in text  # the study has a score-corrected model
    assert re.findall(r"\d\.\d{5,}", text) == []


def test_effect_size_note_names_only_what_the_table_shows(html):
    """A GLM's effect-size table has no Delta R2, so its note does not explain one (it did)."""
    from pipeline.report.tables import _effects_note

    glm = {"lr_test": {"chisq": 11.9, "df": 1, "p": 0.001}, "exp_coef": {"degree": {}},
           "standardized_interaction": {"estimate": 0.14}}
    assert "\u0394R" not in _effects_note(glm) and "likelihood-ratio" in _effects_note(glm)
    assert "\u0394R" in _effects_note({"delta_r2": 0.02, "f2": 0.03})
    start = html.index("Effect Sizes of Model")
    note = html[start:html.index("</figure>", start)] if "</figure>" in html[start:] else html[start:start + 3000]
    assert "likelihood-ratio" in note and "\u0394R" not in note
