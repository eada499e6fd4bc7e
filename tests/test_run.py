"""End to end: `socap run` on simulated studies writes every output of CONTRACT section 4."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from pipeline.cli import main

CONTRACT_KEYS = {
    "": ["study", "software", "inputs", "config", "sample", "reliability", "efa", "cfa",
         "aggregation", "network", "invariance", "models"],
    "software": ["socap", "python", "packages"],
    "sample": ["rows_read", "respondents", "excluded", "units", "groups"],
    "efa": ["kmo", "bartlett", "suggested", "n_factors", "method", "rotation", "loadings",
            "factor_correlations"],
    "efa.bartlett": ["chi2", "df", "p"],
    "efa.suggested": ["parallel", "kaiser"],
    "cfa": ["estimator", "n", "fit", "loadings", "composite_reliability", "ave"],
    "cfa.fit": ["chisq", "df", "pvalue", "cfi", "tli", "rmsea", "srmr"],
    "network": ["nodes", "edges", "density", "components", "groups"],
    "invariance": ["configural", "metric", "scalar", "level_reached"],
}


def get(d, path):
    for part in [p for p in path.split(".") if p]:
        d = d[part]
    return d


@pytest.fixture(scope="module")
def ran(tmp_path_factory, example_study):
    folder = tmp_path_factory.mktemp("run") / "study"
    shutil.copytree(example_study, folder)
    assert main(["run", str(folder), "--quiet"]) == 0
    return folder


def test_every_output_is_written(ran):
    for p in ("reports/report.html", "reports/tables.xlsx", "reports/results.json",
              "data/processed/responses.parquet", "data/processed/exclusions.csv",
              "data/processed/units.parquet", "reports/figures/scree.svg",
              "reports/figures/scree.png"):
        assert (ran / p).exists() and (ran / p).stat().st_size > 0, p
    assert not list(ran.glob(".socap-run-*"))  # the temporary folder is gone


def test_results_json_has_the_contract_keys(ran):
    r = json.loads((ran / "reports/results.json").read_text())
    for path, keys in CONTRACT_KEYS.items():
        node = get(r, path)
        for k in keys:
            assert k in node, f"{path}.{k}"
    assert all({"path", "sha256"} <= set(i) for i in r["inputs"])
    for c, rel in r["reliability"].items():
        assert {"n", "alpha", "alpha_ci", "omega_total", "items"} <= set(rel)
        assert len(rel["alpha_ci"]) == 2
        for item in rel["items"].values():
            assert {"r_drop", "alpha_if_deleted", "mean", "sd", "missing"} <= set(item)
    for c, items in r["cfa"]["loadings"].items():
        for v in items.values():
            assert {"estimate", "std"} <= set(v)
    for c in ("coordination", "cooperation", "reciprocity", "trust"):
        assert {"icc1", "icc2", "rwg_j_mean"} <= set(r["aggregation"][c])
    for level in ("configural", "metric", "scalar"):
        assert {"chisq", "df", "cfi", "rmsea", "srmr"} <= set(r["invariance"][level])
    m = r["models"]["catalytic"]
    assert {"level", "family", "n", "formula", "r2", "coefficients", "simple_slopes",
            "johnson_neyman"} <= set(m)
    for c in m["coefficients"].values():
        assert {"estimate", "se", "z_or_t", "p", "ci_low", "ci_high"} <= set(c)
    assert [s["at"] for s in m["simple_slopes"]] == ["-1 SD", "mean", "+1 SD"]
    assert {"bounds", "inside_significant"} <= set(m["johnson_neyman"])
    assert "degree:social_capital" in m["coefficients"]
    for g in r["network"]["groups"].values():
        assert {"participants", "ties", "density"} <= set(g)


def test_processed_data(ran):
    resp = pd.read_parquet(ran / "data/processed/responses.parquet")
    r = json.loads((ran / "reports/results.json").read_text())
    assert len(resp) == r["sample"]["respondents"]
    assert {"respondent_id", "firm_id", "cluster", "trust_1", "trust", "social_capital"} <= set(resp.columns)
    assert "email" not in resp.columns
    units = pd.read_parquet(ran / "data/processed/units.parquet")
    assert units["firm_id"].is_unique and len(units) == r["sample"]["units"]
    assert {"degree", "constraint", "effective_size", "social_capital", "new_products",
            "n_respondents"} <= set(units.columns)
    ex = pd.read_csv(ran / "data/processed/exclusions.csv")
    assert len(ex) == r["sample"]["excluded"]
    assert set(ex["rule"]) <= {"previews", "incomplete", "speeders", "straightlining",
                               "max_missing_share"}


def test_no_personal_data_anywhere(ran):
    """No e-mail or IP address of the export reaches reports/ or data/processed/ (xlsx and
    parquet are compressed, so they are read back as text)."""
    from pipeline.ingest.tables import read_table

    export = read_table(ran / "data/raw/survey.xlsx").frame
    secrets = list(export["email"].head(50)) + list(export["IPAddress"].head(50))
    assert all("@" in s for s in secrets[:50]) and all(s.count(".") == 3 for s in secrets[50:])
    for path in list((ran / "reports").rglob("*")) + list((ran / "data/processed").rglob("*")):
        if not path.is_file():
            continue
        if path.suffix == ".parquet":
            text = pd.read_parquet(path).to_csv()
        elif path.suffix == ".xlsx":
            from openpyxl import load_workbook

            wb = load_workbook(path, read_only=True)
            text = "\n".join(str(v) for ws in wb for row in ws.iter_rows(values_only=True)
                             for v in row)
        elif path.suffix == ".png":
            continue
        else:
            text = path.read_text(encoding="utf-8")
        for s in secrets:
            assert s not in text, (path, s)


def test_raw_data_is_never_written(example_study, tmp_path):
    import hashlib

    folder = tmp_path / "study"
    shutil.copytree(example_study, folder)
    digest = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in (folder / "data/raw").iterdir()}
    mtimes = {p: p.stat().st_mtime_ns for p in digest}
    assert main(["run", str(folder), "--quiet"]) == 0
    assert {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in (folder / "data/raw").iterdir()} == digest
    assert {p: p.stat().st_mtime_ns for p in digest} == mtimes


def test_same_inputs_same_results(ran, tmp_path):
    again = tmp_path / "again" / "study"  # same folder name: it is part of the record
    shutil.copytree(ran, again)
    assert main(["run", str(again), "--quiet"]) == 0
    a = json.loads((ran / "reports/results.json").read_text())
    b = json.loads((again / "reports/results.json").read_text())
    a.pop("run"), b.pop("run")
    assert a == b


def test_failed_run_leaves_outputs_untouched(ran, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(ran, broken)
    before = {p: p.read_bytes() for p in (broken / "reports").rglob("*") if p.is_file()}
    before |= {p: p.read_bytes() for p in (broken / "data/processed").rglob("*") if p.is_file()}
    ties = broken / "data/raw/ties.csv"
    ties.write_text(ties.read_text().replace(",1,supplier", ",-3,supplier", 1))
    assert main(["run", str(broken), "--quiet"]) == 2
    after = {p: p.read_bytes() for p in (broken / "reports").rglob("*") if p.is_file()}
    after |= {p: p.read_bytes() for p in (broken / "data/processed").rglob("*") if p.is_file()}
    assert before == after


def test_mean_scoring_matches_the_contract_definition(study_copy):
    text = (study_copy / "study.yaml").read_text().replace("scoring: factor", "scoring: mean")
    (study_copy / "study.yaml").write_text(text)
    assert main(["run", str(study_copy), "--quiet"]) == 0
    resp = pd.read_parquet(study_copy / "data/processed/responses.parquet")
    items = [f"trust_{i}" for i in range(1, 6)]
    expect = resp[items].mean(axis=1)
    expect[resp[items].notna().sum(axis=1) < 2.5] = np.nan
    pd.testing.assert_series_equal(resp["trust"], expect, check_names=False)
    units = pd.read_parquet(study_copy / "data/processed/units.parquet").set_index("firm_id")
    by_unit = resp.groupby("firm_id")["social_capital"].mean()
    np.testing.assert_allclose(units.loc[by_unit.index, "social_capital"], by_unit)
