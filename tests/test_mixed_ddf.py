"""Satterthwaite and Kenward-Roger df of random-intercept lmer models (pipeline/models/mixed.py
lmer_ddf, fit_model's ddf) against lmerTest::summary(ddf = ...) and pbkrtest::vcovAdj
(tests/reference/lmer_ddf.R): df to 1e-3, estimates and SEs to 1e-4."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from pipeline.errors import StudyError
from pipeline.models import fit_model

REF = Path(__file__).parent / "reference"
DDF = json.loads((REF / "lmer_ddf.json").read_text())
DATA = {"firms": (pd.read_csv(REF / "data" / "models_firms.csv"),
                  "growth ~ degree * social_capital + log_employees", "cluster"),
        "small": (pd.read_csv(REF / "data" / "lmer_small.csv"), "y ~ x + z", "g")}


@pytest.mark.parametrize("ddf,key", [("satterthwaite", "satterthwaite"),
                                     ("kenward-roger", "kenward_roger")])
@pytest.mark.parametrize("case", DDF["cases"], ids=[c["id"] for c in DDF["cases"]])
def test_lmer_t_tests_match_lmertest(case, ddf, key):
    table, formula, group = DATA[case["id"]]
    res = fit_model(table, name="m", formula=formula, random=group, ddf=ddf).to_dict()
    assert res["test"] == "t"
    assert res["df_method"] == {"satterthwaite": "Satterthwaite", "kenward-roger": "Kenward-Roger"}[ddf]
    assert res["random"]["variance"]["intercept"] == pytest.approx(case["tau2"], rel=1e-5)
    for term, w in case[key].items():
        g = res["coefficients"][term]
        assert g["estimate"] == pytest.approx(w["estimate"], abs=1e-4 * max(1, abs(w["estimate"])))
        assert g["se"] == pytest.approx(w["se"], abs=1e-4 * max(1, w["se"]))
        assert g["df"] == pytest.approx(w["df"], abs=1e-3)
        assert g["z_or_t"] == pytest.approx(w["t"], abs=1e-4)
        assert g["p"] == pytest.approx(w["p"], rel=1e-4, abs=1e-8)
        # both methods beside each other
        other = res["ddf"]["kenward_roger" if key == "satterthwaite" else "satterthwaite"][term]
        want = case["kenward_roger" if key == "satterthwaite" else "satterthwaite"][term]
        assert other["df"] == pytest.approx(want["df"], abs=1e-3)
        assert other["se"] == pytest.approx(want["se"], abs=1e-4 * max(1, want["se"]))


def test_small_design_df_are_far_from_the_residual_df():
    """Group-level predictor with 8 groups: Satterthwaite ~5.6 df, not n - p = 35 nor z."""
    table, formula, group = DATA["small"]
    res = fit_model(table, name="m", formula=formula, random=group).to_dict()
    assert 4 < res["coefficients"]["z"]["df"] < 8
    assert res["coefficients"]["z"]["p"] > 0.05 * 0  # a probability
    z_p = fit_model(table, name="m", formula=formula, random=group).to_dict()["ddf"]
    assert z_p["method"] == "Satterthwaite"


def test_unknown_ddf_is_a_study_error():
    table, formula, group = DATA["small"]
    with pytest.raises(StudyError, match="ddf"):
        fit_model(table, name="m", formula=formula, random=group, ddf="between-within")


def test_report_shows_the_df_and_the_method():
    from pipeline.report.methods import inference_sentence
    from pipeline.report.tables import _model_tables

    table, formula, group = DATA["small"]
    res = fit_model(table, name="m", formula=formula, random=group, ddf="kenward-roger").to_dict()
    out: list = []
    _model_tables({"models": {"m": res}}, out)
    t = next(x for x in out if x.key == "model_m")
    assert "df" in t.frame.columns
    assert t.frame.set_index("term").loc["z", "df"] == pytest.approx(res["coefficients"]["z"]["df"])
    assert "Kenward-Roger" in inference_sentence(res, {})


def test_ddf_block_meets_the_schema():
    jsonschema = pytest.importorskip("jsonschema")
    from pipeline.report.schema import schema

    s = schema()
    sub = {"$defs": s["$defs"], **s["properties"]["models"]}
    table, formula, group = DATA["small"]
    res = fit_model(table, name="m", formula=formula, random=group).to_dict()
    assert list(jsonschema.Draft202012Validator(sub).iter_errors({"m": res})) == []
    res["ddf"]["method"] = "z"
    assert list(jsonschema.Draft202012Validator(sub).iter_errors({"m": res}))


SLOPES = json.loads((REF / "lmer_slopes.json").read_text())
SLOPE_DATA = {"firms": (DATA["firms"][0], "growth ~ degree * social_capital + log_employees",
                        "cluster"),
              "small": (DATA["small"][0], "y ~ x * z", "g")}


@pytest.mark.parametrize("ddf,key", [("satterthwaite", "satterthwaite"),
                                     ("kenward-roger", "kenward_roger")])
@pytest.mark.parametrize("case", SLOPES["cases"], ids=[c["id"] for c in SLOPES["cases"]])
def test_lmer_simple_slopes_and_jn_match_lmertest_contest1d(case, ddf, key):
    """Simple slopes of a random-intercept model tested as lmerTest::contest1D (t with the
    contrast's Satterthwaite or Kenward-Roger df; KR with pbkrtest's adjusted SE), and the
    Johnson-Neyman critical value at the interaction's df (tests/reference/lmer_slopes.R)."""
    table, formula, group = SLOPE_DATA[case["id"]]
    res = fit_model(table, name="m", formula=formula, random=group, ddf=ddf,
                    focal=case["focal"], moderator=case["moderator"]).to_dict()
    got = {s["at"]: s for s in res["simple_slopes"]}
    assert len(got) == len(case[key]) == 3
    for w in case[key]:
        g = got[w["at"]]
        assert g["moderator_value"] == pytest.approx(w["moderator_value"], rel=1e-10)
        assert g["slope"] == pytest.approx(w["slope"], abs=1e-4 * max(1, abs(w["slope"])))
        assert g["se"] == pytest.approx(w["se"], abs=1e-4 * max(1, w["se"]))
        assert g["df"] == pytest.approx(w["df"], abs=1e-3)
        assert g["z_or_t"] == pytest.approx(w["t"], abs=1e-4)
        assert g["p"] == pytest.approx(w["p"], rel=1e-4, abs=1e-12)
    jn = res["johnson_neyman"]
    assert jn["critical_value"] == pytest.approx(case["jn_critical"][key], abs=1e-5)
    assert jn["distribution"].startswith("t(")
