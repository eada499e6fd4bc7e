"""Logit outcomes as users write them (issue 17): ``factor(y)`` accepted, 1/2 codes refused
with a fix that works (pipeline/checks.py, pipeline/models)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.errors import StudyError
from pipeline.models import fit_model


def _table(seed=1, n=300):
    rng = np.random.default_rng(seed)
    x, m = rng.normal(size=n), rng.normal(size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(0.3 + x + 0.5 * x * m)))).astype(int)
    return pd.DataFrame({"x": x, "m": m, "y": y, "y12": y + 1,
                         "yt": np.where(y == 1, "yes", "no")})


def test_factor_outcome_is_the_second_level_against_the_first():
    """glm(factor(y12) ~ x * m, binomial) in R equals glm(y ~ x * m, binomial) with y = y12 - 1:
    the same coefficients here, to the last digit."""
    t = _table()
    a = fit_model(t, name="a", formula="y ~ x * m", family="logit").to_dict()["coefficients"]
    b = fit_model(t, name="b", formula="factor(y12) ~ x * m",
                  family="logit").to_dict()["coefficients"]
    assert list(a) == list(b)
    for term in a:
        assert b[term]["estimate"] == pytest.approx(a[term]["estimate"], rel=1e-12)
        assert b[term]["se"] == pytest.approx(a[term]["se"], rel=1e-12)


def test_one_two_coded_outcome_is_refused_with_the_factor_fix():
    t = _table()
    with pytest.raises(StudyError) as e:
        fit_model(t, name="a", formula="y12 ~ x * m", family="logit")
    msg = str(e.value)
    assert "'y12' is coded 1, 2" in msg
    fix = msg.split("write the formula as '")[1].split("'")[0]
    assert fix == "factor(y12) ~ x * m"
    fit_model(t, name="a", formula=fix, family="logit")  # the fix works


def test_more_than_two_values_get_another_fix():
    t = _table()
    t["y3"] = t["y12"] + (t["x"] > 1)
    with pytest.raises(StudyError, match="has 3 values") as e:
        fit_model(t, name="a", formula="y3 ~ x", family="logit")
    assert "factor(" not in str(e.value)


def test_construct_size_warning():
    from pipeline.checks import construct_size_warnings
    from pipeline.config.instrument import instrument_from_mapping

    inst = instrument_from_mapping({"name": "t", "scale": {"min": 1, "max": 5}, "constructs": {
        "a": {"items": {"a1": "x", "a2": "y"}}, "b": {"items": {"b1": "x", "b2": "y", "b3": "z"}}}})
    w = construct_size_warnings(inst)
    assert len(w) == 1 and w[0].startswith("Construct 'a' has 2 items")
