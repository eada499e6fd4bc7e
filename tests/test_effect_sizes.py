"""Effect sizes of the focal interaction against R (tests/reference/effect_sizes.R): Delta R^2,
f^2 and anova's F of nested lm fits, lmtest::lrtest, exp(B) with CIs from CR2/Satterthwaite
(clubSandwich::conf_int) and from confint.default.  Tolerances 1e-6 relative (1e-4 for
quantities built on CR2)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.models import fit_model

REF = Path(__file__).parent / "reference"
ES = json.loads((REF / "effect_sizes.json").read_text())


def _fit(case, se):
    d = pd.read_csv(REF / "data" / "cr2_units.csv")
    d["any"] = (d["new_products"] > 0).astype(float)
    d["wt"] = 1 + (np.arange(1, len(d) + 1) % 4) / 2
    y = "any" if case["family"] == "logit" else "new_products"
    return fit_model(d, name=case["id"], formula=f"{y} ~ degree * social_capital + log_employees",
                     family=case["family"], se=se, cluster="cluster" if se != "classical" else None,
                     focal="degree", moderator="social_capital", standardize=["degree", "social_capital"],
                     weight=case["weight"] or None).to_dict()


@pytest.mark.parametrize("case", ES["cases"], ids=[c["id"] for c in ES["cases"]])
def test_effect_sizes_match_r(case):
    res = _fit(case, "cluster")
    es = res["effect_sizes"]
    for k in ("chisq", "df", "p"):
        np.testing.assert_allclose(es["lr_test"][k], case["lr_test"][k], rtol=1e-6, err_msg=f"lr {k}")
    if case["family"] == "gaussian":
        for k in ("delta_r2", "f2", "r2_without"):
            np.testing.assert_allclose(es[k], case[k], rtol=1e-6, err_msg=k)
        for k in ("f", "df1", "df2", "p"):
            np.testing.assert_allclose(es["f_test"][k], case["f_test"][k], rtol=1e-6, err_msg=f"F {k}")
        assert "exp_coef" not in es
    else:
        assert res["se_type"] == "CR2"
        for term, want in case["exp_coef_cluster"].items():
            for k in ("estimate", "ci_low", "ci_high"):
                np.testing.assert_allclose(es["exp_coef"][term][k], want[k], rtol=1e-4, err_msg=f"{term} {k}")
        cl = _fit(case, "classical")["effect_sizes"]["exp_coef"]
        for term, want in case["exp_coef_classical"].items():
            for k in ("estimate", "ci_low", "ci_high"):
                np.testing.assert_allclose(cl[term][k], want[k], rtol=1e-5, err_msg=f"{term} {k} classical")
    si = es["standardized_interaction"]
    c = res["coefficients"]["degree:social_capital"]
    assert si["estimate"] == pytest.approx(c["beta"])
    # the interaction of z-scores is the raw interaction rescaled: its CI is the rescaled CI
    assert si["ci_low"] / si["estimate"] == pytest.approx(c["ci_low"] / c["estimate"], rel=1e-9)
