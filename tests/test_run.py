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


def test_outputs_hold_the_numbers_recomputed_from_the_processed_data(ran):
    """The files are not merely there: results.json's numbers are those the library computes
    from data/processed/, the report and the workbook show them, the figures are images."""
    import xml.etree.ElementTree as ET

    from openpyxl import load_workbook
    from PIL import Image

    from pipeline.config.instrument import read_instrument
    from pipeline.config.study import read_study
    from pipeline.measure.moments import item_moments
    from pipeline.measure.reliability import scale_reliability
    from pipeline.models import fit_model

    r = json.loads((ran / "reports/results.json").read_text())
    study = read_study(ran)
    inst = read_instrument(study.path(study.config.instrument))
    resp = pd.read_parquet(ran / "data/processed/responses.parquet")
    items = inst.item_ids
    moments = item_moments(resp[items], items)
    for name, construct_items in inst.construct_items().items():
        rel = scale_reliability(moments, construct_items, name=name)
        assert r["reliability"][name]["alpha"] == pytest.approx(rel.alpha, rel=1e-12), name
        assert r["reliability"][name]["n"] == rel.n == len(resp)
    units = pd.read_parquet(ran / "data/processed/units.parquet")
    cfg = study.config.analysis.models[0]
    model = fit_model(units, name=cfg.name, formula=cfg.formula, family=cfg.family, se=cfg.se,
                      cluster=cfg.cluster, focal=cfg.focal, moderator=cfg.moderator,
                      center=cfg.center, standardize=cfg.standardize, seed=study.config.seed)
    want = r["models"][cfg.name]["coefficients"]
    got = model.to_dict()["coefficients"]
    assert list(got) == list(want)
    for term, w in want.items():
        for key in ("estimate", "se", "p"):
            assert got[term][key] == pytest.approx(w[key], rel=1e-9, abs=1e-15), (term, key)
    ex = pd.read_csv(ran / "data/processed/exclusions.csv")
    counts = ex["rule"].value_counts().to_dict()
    assert {k: v for k, v in r["sample"]["excluded_by_rule"].items() if v} == counts
    assert r["sample"]["rows_read"] == r["sample"]["respondents"] + len(ex)
    # the report and the workbook show those numbers
    html = (ran / "reports/report.html").read_text(encoding="utf-8")
    term = "degree:social_capital"
    assert f"{want[term]['estimate']:.3f}" in html
    wb = load_workbook(ran / "reports/tables.xlsx", read_only=True)
    cells = [v for ws in wb for row in ws.iter_rows(values_only=True) for v in row
             if isinstance(v, float)]
    trust_alpha = r["reliability"]["trust"]["alpha"]
    assert any(abs(v - trust_alpha) < 5e-4 for v in cells)
    # the figures are images: SVG parses as XML with drawn shapes, PNG decodes at its size
    svg = ET.parse(ran / "reports/figures/scree.svg").getroot()
    assert svg.tag.endswith("svg") and len(list(svg.iter())) > 20
    with Image.open(ran / "reports/figures/scree.png") as png:
        png.load()
        assert png.size[0] > 200 and png.size[1] > 100


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
