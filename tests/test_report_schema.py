"""results.json against its JSON Schema (pipeline/report/results.schema.json, draft 2020-12),
the naming rule of its keys, and the report's rendering of the keys the other stages add
(the agreed results.json interface): those results dicts are built by running the pipeline on
the session's small study and then adding the keys by hand, with values of the right kind --
the test checks that each is rendered and validated, not the statistics behind them."""

from __future__ import annotations

import copy
import json
import re
import shutil
from pathlib import Path

import pytest
from test_report import Page, shown, table

from pipeline.cli import main

jsonschema = pytest.importorskip("jsonschema")


@pytest.fixture(scope="module")
def ran(tmp_path_factory, example_study) -> Path:
    folder = tmp_path_factory.mktemp("schema") / "study"
    shutil.copytree(example_study, folder)
    assert main(["run", str(folder), "--quiet"]) == 0
    return folder


@pytest.fixture(scope="module")
def results(ran) -> dict:
    return json.loads((ran / "reports" / "results.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def validator(ran):
    schema = json.loads((ran / "reports" / "results.schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def errors(validator, results) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator.iter_errors(results)]


def test_results_json_names_and_meets_its_schema(ran, results, validator):
    from pipeline.report.schema import SCHEMA_PATH, SCHEMA_VERSION

    assert list(results)[:2] == ["$schema", "schema_version"]
    assert results["$schema"] == "results.schema.json"
    assert results["schema_version"] == SCHEMA_VERSION
    # the copy beside results.json is the shipped schema
    assert (ran / "reports" / "results.schema.json").read_bytes() == SCHEMA_PATH.read_bytes()
    assert errors(validator, results) == []


@pytest.mark.parametrize("mutate, where", [
    (lambda r: r["cfa"]["fit"].__setitem__("p", r["cfa"]["fit"].pop("pvalue")), "cfa/fit"),
    (lambda r: [c.__setitem__("z", c.pop("z_or_t"))
                for c in next(iter(r["models"].values()))["coefficients"].values()],
     "coefficients"),
    (lambda r: r["efa"]["bartlett"].__setitem__("chi2", "10989"), "bartlett/chi2"),
    (lambda r: r.pop("schema_version"), "schema_version"),
    (lambda r: r["reliability"][next(iter(r["reliability"]))].pop("alpha"), "alpha"),
    (lambda r: r["invariance"]["latent_means"][next(iter(r["invariance"]["latent_means"]))]
     [next(iter(next(iter(r["invariance"]["latent_means"].values()))))].__setitem__(
         "pvalue", 0.5), "latent_means"),
    (lambda r: r["warnings"].append({"number": 0, "stage": "x", "message": "y"}), "warnings"),
])
def test_schema_rejects_wrong_results(results, validator, mutate, where):
    r = copy.deepcopy(results)
    mutate(r)
    found = errors(validator, r)
    assert found, f"a broken {where} passed the schema"


def test_key_names_follow_one_rule(results):
    """chisq / p everywhere; pvalue only in fit-measure blocks (lavaan's fitMeasures names);
    chi2 only in efa.bartlett (the contract); no bare t; z only on SEM parameters."""
    seen = []

    def walk(obj, path):
        if isinstance(obj, dict):
            for k, v in obj.items():
                p = f"{path}.{k}"
                if k == "pvalue":
                    assert re.search(r"\.(fit|configural|metric|scalar|second_order_scalar)"
                                     r"\.pvalue$", p) or \
                        re.search(r"\.partial\.(metric|scalar)\.pvalue$", p), p
                    seen.append(p)
                if k == "chi2":
                    assert p == ".efa.bartlett.chi2", p
                if k in ("t", "p_value", "pval"):
                    raise AssertionError(p)
                if k == "z":
                    assert re.search(r"(latent_means|cfa\.loadings|cfa\.higher_order)"
                                     r"\.[^.]+\.[^.]+\.z$", p), p
                if k != "config":
                    walk(v, p)
        elif isinstance(obj, list):
            for i, v in enumerate(obj):
                walk(v, f"{path}[{i}]")

    walk(results, "")
    assert ".cfa.fit.pvalue" in seen and ".efa.fit.pvalue" in seen


def _with_agreed_keys(results: dict) -> dict:
    """The example's results with the keys the other stages add (agreed names), by hand."""
    r = copy.deepcopy(results)
    cfa = r["cfa"]
    cfa.update(estimator="MLR", missing="fiml", se="robust.huber.white",
               estimator_reason="MLR was chosen by estimator: auto because the items are "
                                "skewed (chosen for this test).")
    cfa["fit"].update(chisq_scaled=170.25, df_scaled=166, pvalue_scaled=0.393,
                      scaling_factor=1.074, shift_parameter=None, cfi_robust=0.9981,
                      tli_robust=0.9978, rmsea_robust=0.0061, rmsea_robust_ci=[0.0, 0.0151])
    cfa["thresholds"] = {"coord_1": [-1.5, -0.5, 0.4, 1.3], "coord_2": [-1.4, -0.6, 0.5, 1.2]}
    cfa["modification_indices"] = [{"lhs": "coord_2", "op": "~~", "rhs": "coop_2", "mi": 14.25,
                                    "epc": 0.08, "sepc_all": 0.12}]
    m = next(iter(r["models"].values()))
    m.update(se_type="CR2", df_method="Satterthwaite",
             inference_reason="CR2 with Satterthwaite df because only 6 clusters (for this test).",
             wild_bootstrap={"term": "degree:social_capital", "p": 0.0123, "ci_low": 0.031,
                             "ci_high": 0.244, "draws": 9999, "weights": "Webb", "seed": 7},
             effect_sizes={"delta_r2": 0.0421, "f2": 0.0512,
                           "lr_test": {"chisq": 12.5, "df": 1, "p": 0.000407},
                           "exp_coef": {"degree": {"estimate": 1.61, "ci_low": 1.47,
                                                   "ci_high": 1.77}},
                           "standardized_interaction": 0.141},
             corrected={"method": "holm", "p": {"degree": 1e-20, "social_capital": 0.0702}})
    for k, c in enumerate(m["coefficients"].values()):
        c["df"] = 4.5 + k
    return r


def test_agreed_keys_validate_and_are_rendered(results, validator, tmp_path):
    from pipeline.report import write_report

    r = _with_agreed_keys(results)
    assert errors(validator, r) == []
    html = write_report(r, tmp_path / "agreed").read_text(encoding="utf-8")
    page = Page()
    page.feed(html)
    text = " ".join(page.texts)
    rows = {x["index"]: x for x in table(page, "cfa_fit")}
    shown(rows["chi-square"]["robust"], 170.25, "scaled chi-square")
    shown(rows["CFI"]["robust"], 0.9981, "robust CFI")
    shown(rows["scaling correction factor"]["robust"], 1.074, "scaling factor")
    assert rows["CFI"]["verdict"] == "meets"
    assert "MLR was chosen by estimator: auto" in text
    assert "full-information ML (FIML)" in text and "robust (Huber-White sandwich)" in text
    assert "Yuan, K.-H., & Bentler" in text and "Enders, C. K." in text
    th = {x["indicator"]: x for x in table(page, "cfa_thresholds")}
    shown(th["coord_2"]["t3"], 0.5, "threshold")
    mi = table(page, "cfa_mi")
    assert mi[0]["parameter"] == "coord_2 ~~ coop_2"
    shown(mi[0]["MI"], 14.25, "MI")
    name = next(iter(r["models"]))
    key = [k[2:] for k in page.tables if k.startswith("t-model_")][0]
    coefs = {x["term"]: x for x in table(page, key)}
    assert coefs["degree"]["df"] == "5.50"  # Satterthwaite df: fractional, two decimals
    assert "cluster-robust CR2" in text and "Satterthwaite df" in text
    assert "CR2 with Satterthwaite df because only 6 clusters" in text
    assert "Pustejovsky, J. E." in text and "Satterthwaite, F. E." in text
    wild = table(page, [k[2:] for k in page.tables if k.startswith("t-wild_")][0])
    assert wild[0]["p"] == ".012" and wild[0]["draws"] == "9,999"
    eff = {x["effect size"]: x for x in table(
        page, [k[2:] for k in page.tables if k.startswith("t-effects_")][0])}
    shown(eff["Cohen's f\u00b2 of the interaction"]["value"], 0.0512, "f2")
    assert eff["\u0394R\u00b2 of the interaction"]["value"] == ".042"
    assert eff["likelihood-ratio test: p"]["value"] == "< .001"
    assert eff["likelihood-ratio test: df"]["value"] == "1"
    shown_ci = eff["rate ratio: degree"]["95% CI"]
    assert shown_ci == "[1.470, 1.770]"
    cor = {x["term"]: x for x in table(
        page, [k[2:] for k in page.tables if k.startswith("t-corrected_")][0])}
    assert cor["social_capital"]["p corrected"] == ".070"
    assert "Holm, S." in text and "Cohen, J." in text and "Webb, M. D." in text
    assert f"Model '{name}'" in text
