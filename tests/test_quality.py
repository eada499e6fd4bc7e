"""The quality rules of pipeline.clean.quality: careless-responding indices against the R package
careless (tests/reference/careless_indices.R), attention checks, and the rule list itself."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.clean import clean_responses
from pipeline.clean import quality as ql
from pipeline.config.instrument import read_instrument
from pipeline.config.study import read_study
from pipeline.errors import StudyError
from pipeline.ingest.survey import read_survey

REF = Path(__file__).parent / "reference"
FIXTURE = json.loads((REF / "careless_indices.json").read_text())
DATA = pd.read_csv(REF / "data" / "careless_dataset.csv")
X = DATA.drop(columns="id").to_numpy(float)


def _as_float(values) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def test_fixture_shape():
    assert X.shape == (FIXTURE["n"], FIXTURE["p"]) == (200, 50)
    assert np.isnan(X).all(1).sum() == 1 and np.isnan(X).mean() > 0.05  # NA handling exercised


def test_longstring_matches_careless():
    got = ql.longest_string(X)
    assert len(got) == len(FIXTURE["longstring"])
    np.testing.assert_array_equal(got, FIXTURE["longstring"])
    assert got.max() >= 20  # the data set holds straight-liners


def test_irv_matches_careless():
    want = _as_float(FIXTURE["irv"])
    got = ql.response_variability(X)
    assert got.shape == want.shape
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got[~np.isnan(want)], want[~np.isnan(want)], rtol=1e-10)


def test_mahalanobis_matches_careless_and_its_flags():
    want = _as_float(FIXTURE["mahad"])
    got = ql.mahalanobis_d2(X)
    assert got.shape == want.shape
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got[~np.isnan(want)], want[~np.isnan(want)], rtol=1e-8)
    from scipy.special import chdtri

    cut = chdtri(X.shape[1], 1 - 0.999)
    assert cut == pytest.approx(FIXTURE["mahad_cut_999"], rel=1e-12)
    flags = [bool(v) if v is not None else False for v in FIXTURE["mahad_flag_999"]]
    with np.errstate(invalid="ignore"):
        assert list(got > cut) == flags
    assert 0 < sum(flags) < 100


def test_even_odd_matches_careless_negated():
    want = -_as_float(FIXTURE["evenodd"])  # careless reports the negative (higher = careless)
    got = ql.even_odd_consistency(X, [5] * 10)
    assert got.shape == want.shape
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got[~np.isnan(want)], want[~np.isnan(want)], rtol=1e-10)
    assert (got[~np.isnan(got)] < 0.3).sum() > 5  # careless responders are among the rows


INSTRUMENT = """
scale: {min: 1, max: 5, labels: {1: Strongly disagree, 2: Disagree, 3: Neither, 4: Agree, 5: Strongly agree}}
constructs:
  trust:
    items: {t1: a, t2: {text: b, reverse: true}, t3: c, t4: d}
  coop:
    items: {c1: e, c2: f, c3: g, c4: h}
attention_checks:
  attn: {text: "To show that you read this, please answer Agree.", pass: [Agree]}
"""


def _study(tmp_path, csv: str, quality: str = "", instrument: str = INSTRUMENT):
    (tmp_path / "data" / "raw").mkdir(parents=True, exist_ok=True)
    (tmp_path / "inst.yaml").write_text(instrument)
    (tmp_path / "data" / "raw" / "s.csv").write_text(textwrap.dedent(csv).lstrip())
    (tmp_path / "study.yaml").write_text(
        "title: t\ninstrument: inst.yaml\nsurvey:\n  id: id\nquality:\n  max_missing_share: 0.9\n"
        + quality)
    study = read_study(tmp_path)
    inst = read_instrument(study.path("inst.yaml"))
    return clean_responses(read_survey(study), inst, study.config, study_file=str(study.file))


CSV = """
    id,t1,t2,t3,t4,c1,c2,c3,c4,Attention
    ok,4,2,4,5,4,4,3,4,Agree
    lazy,3,3,3,3,3,3,3,2,4
    miss,4,2,4,4,4,4,4,4,Disagree
    blank,5,1,5,4,4,2,4,4,
    zig,1,1,1,5,5,1,5,1,Agree
    """


def test_attention_check_matched_by_text_coded_by_label_and_failures_dropped(tmp_path):
    (tmp_path / "a").mkdir()
    csv = CSV.replace("Attention", '"To show that you read this, please answer Agree."')
    res = _study(tmp_path / "a", csv)
    ex = res.exclusions.set_index("respondent_id")
    assert sorted(ex.index) == ["blank", "miss"]  # an unanswered check fails too
    assert set(ex["rule"]) == {"attention_checks"}
    assert ex.loc["miss", "detail"] == "failed attention check attn"
    assert res.sample["excluded_by_rule"]["attention_checks"] == 2
    # the check is not an item: not scored, not in the recoding table
    assert "attn" not in res.items and list(res.recoding["item"]) == res.items


def test_attention_checks_switch_off_and_unknown_pass_value_is_an_error(tmp_path):
    (tmp_path / "a").mkdir()
    res = _study(tmp_path / "a", CSV.replace("Attention", "attn"), "  attention_checks: false\n")
    assert res.sample["excluded"] == 0
    assert "attention_checks" not in res.sample["excluded_by_rule"]
    (tmp_path / "b").mkdir()
    with pytest.raises(StudyError, match="passing answer 'Agreed'"):
        _study(tmp_path / "b", CSV, instrument=INSTRUMENT.replace("pass: [Agree]", "pass: [Agreed]"))


def test_careless_rules_drop_by_their_thresholds_in_order(tmp_path):
    res = _study(tmp_path, CSV.replace("Attention", "attn"),
                 "  attention_checks: false\n  straightlining: false\n  longstring: 7\n"
                 "  irv: 0.5\n  even_odd: 0.0\n")
    ex = res.exclusions.set_index("respondent_id")
    # lazy: seven 3s in a row -> longstring (the first rule that fires), not irv
    assert ex.loc["lazy", "rule"] == "longstring"
    assert ex.loc["lazy", "detail"] == "longest string of identical answers: 7 items"
    # zig: even items agree where odd ones disagree (t2 reverse-keyed): consistency -1
    assert ex.loc["zig", "rule"] == "even_odd"
    assert "ok" not in ex.index
    counts = res.sample["excluded_by_rule"]
    assert counts["longstring"] == 1 and counts["even_odd"] == 1 and counts["irv"] == 0
    assert "mahalanobis" not in counts  # switched off: not reported


def test_irv_rule_uses_the_sd_of_raw_answers(tmp_path):
    res = _study(tmp_path, CSV.replace("Attention", "attn"),
                 "  attention_checks: false\n  straightlining: false\n  irv: 0.4\n")
    ex = res.exclusions.set_index("respondent_id")
    sd_lazy = np.std([3, 3, 3, 3, 3, 3, 3, 2], ddof=1)
    assert sd_lazy < 0.4 and list(ex.index) == ["lazy"]
    assert ex.loc["lazy", "detail"] == f"intra-individual response variability {sd_lazy:.3f}"


@pytest.mark.parametrize("setting", ["  longstring: 1\n", "  irv: true\n", "  mahalanobis: 2\n",
                                     "  even_odd: 1.5\n"])
def test_bad_thresholds_are_errors_naming_the_key(tmp_path, setting):
    with pytest.raises(StudyError) as err:
        _study(tmp_path, CSV, setting)
    assert "quality." + setting.strip().split(":")[0] in str(err.value)


def test_a_new_rule_is_a_function_and_a_list_entry():
    def odd_rows(q, setting, kept):
        return ql.Flag(np.arange(len(q.data)) % 2 == 1, "odd row")

    data = pd.DataFrame({"x": range(6)})
    codes = np.ones((6, 3))
    codes[0] = [1, 2, 3]
    q = ql.QualityData(data=data, columns=["x"], codes=codes, coded=lambda: codes,
                       instrument=read_instrument(_write(INSTRUMENT)), factorize=None)
    rules = (ql.Rule("odd", "odd rows", odd_rows),) + ql.RULES
    out = ql.apply_rules(q, {"odd": True, "straightlining": True}, rules)
    assert list(out.rule_of) == [-1, 0, 5, 0, 5, 0]  # odd first; then straight-lining (index 5)
    assert out.counts() == {"odd": 3, "previews": 0, "incomplete": 0, "speeders": 0,
                            "straightlining": 2, "max_missing_share": 0}
    assert list(out.detail) == ["", "odd row", "same answer on all 3 answered items",
                                "odd row", "same answer on all 3 answered items", "odd row"]


def _write(text: str) -> Path:
    import tempfile

    path = Path(tempfile.mkdtemp()) / "inst.yaml"
    path.write_text(text)
    return path
