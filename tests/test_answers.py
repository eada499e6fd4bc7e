"""Answers as exports write them (issue 17): Qualtrics' "code + label" scale points, missing
codes per item or construct (instrument and study.yaml) and the advice that names that form,
continuous indicators (sliders 0-100, scale scores with decimals)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from ingest_writers import base_survey, qualtrics_rows, study, write

from pipeline.clean import clean_responses
from pipeline.config.instrument import instrument_from_mapping, read_instrument
from pipeline.config.study import read_study
from pipeline.errors import StudyError
from pipeline.ingest.survey import read_survey


@pytest.fixture(scope="module")
def survey():
    return base_survey()


def _clean(folder, inst=None):
    st = read_study(folder)
    inst = inst or read_instrument(st.path(st.config.instrument))
    return clean_responses(read_survey(st, inst), inst, st.config)


# --------------------------------------------------------------------------------------------
# Qualtrics: labelled scale points written as "7\n strongly agree\n"


def _qualtrics_labelled(frame, inst, bad=None):
    """A Qualtrics export whose scale shows labels only at its ends: the csv cell of a labelled
    point is its code, a line break, a space, the label in the case the survey shows it, and a
    line break ("5\\n strongly agree\\n"); middle points are bare digits ("3")."""
    rows = qualtrics_rows(frame, inst, text_values=False)
    items = set(rows[0][k] for k in range(len(rows[0])) if re.fullmatch(r"Q\d+_\d+", rows[0][k]))
    cols = [k for k, tag in enumerate(rows[0]) if tag in items]
    labels = inst.scale.labels
    for r in rows[3:]:
        for k in cols:
            v = r[k]
            if isinstance(v, (int, float, np.integer, np.floating)) and not np.isnan(v) \
                    and float(v) in (inst.scale.min, inst.scale.max):
                r[k] = f"{int(v)}\n {labels[float(v)].lower()}\n"
            elif isinstance(v, (int, float, np.integer, np.floating)) and not np.isnan(v):
                r[k] = str(int(v))
    if bad is not None:
        rows[3 + bad[0]][cols[0]] = bad[1]
    return rows


def test_qualtrics_code_and_label_answers_are_coded(tmp_path, survey):
    frame, inst = survey
    folder = study(tmp_path / "s", ["q.csv"])
    rows = _qualtrics_labelled(frame, inst)
    write(folder / "data" / "raw" / "q.csv", rows)
    assert any(isinstance(v, str) and "\n strongly agree\n" in v for r in rows[3:] for v in r)
    cleaned = _clean(folder, inst)
    plain = study(tmp_path / "p", ["q.csv"])
    write(plain / "data" / "raw" / "q.csv", qualtrics_rows(frame, inst, text_values=False))
    reference = _clean(plain, inst)
    for i in inst.item_ids:
        np.testing.assert_array_equal(cleaned.responses[i].to_numpy(float),
                                      reference.responses[i].to_numpy(float), err_msg=i)
    assert cleaned.recoding["from_text"].sum() > 0


def test_code_with_another_codes_label_is_refused(tmp_path, survey):
    frame, inst = survey
    folder = study(tmp_path / "s", ["q.csv"])
    write(folder / "data" / "raw" / "q.csv",
          _qualtrics_labelled(frame, inst, bad=(0, "1\n strongly agree\n")))
    with pytest.raises(StudyError, match="matches no label of item 'coord_1'"):
        _clean(folder, inst)


# --------------------------------------------------------------------------------------------
# missing codes per item and construct


INSTRUMENT = {
    "name": "t", "scale": {"min": 1, "max": 5}, "missing": [-99],
    "constructs": {
        "climate": {"items": {"a_1": "A one", "a_2": "A two", "a_3": "A three"}},
        "count": {"scale": {"min": 0, "max": 10},
                  "items": {"b_1": "B one", "b_2": "B two", "b_3": "B three"}},
    },
}


def _folder(tmp_path, inst_map, missing_line):
    import yaml

    folder = study(tmp_path, ["s.csv"], id_column="rid", instrument="instruments/t.yaml",
                   extra=missing_line)
    (folder / "instruments" / "t.yaml").write_text(yaml.safe_dump(inst_map), encoding="utf-8")
    rng = np.random.default_rng(5)
    n = 40
    frame = pd.DataFrame({"rid": [f"r{k}" for k in range(n)]})
    for i in ("a_1", "a_2", "a_3"):
        frame[i] = rng.integers(1, 6, n)
    for i in ("b_1", "b_2", "b_3"):
        frame[i] = rng.integers(0, 11, n)
    frame.loc[[3, 7, 11], "a_2"] = 8  # a_2: 8 = "not applicable"
    frame.loc[[4, 5], "b_1"] = 8  # b_1: 8 is a valid count
    frame.loc[[6], "a_1"] = -99
    frame.to_csv(folder / "data" / "raw" / "s.csv", index=False)
    return folder, frame


def _check_item_level(cleaned, frame):
    r = cleaned.responses.set_index("respondent_id")
    assert r.loc[["r3", "r7", "r11"], "a_2"].isna().all()
    assert (r.loc[["r4", "r5"], "b_1"] == 8).all()  # not blanked by a_2's code
    assert np.isnan(r.loc["r6", "a_1"])
    rec = cleaned.recoding.set_index("item")
    assert rec.loc["a_2", "missing: 8"] == 3 and rec.loc["b_1", "missing: 8"] == 0


@pytest.mark.parametrize("where", ["item", "construct", "study_item", "study_construct"])
def test_missing_codes_per_item_or_construct(tmp_path, where):
    inst_map = {**INSTRUMENT, "constructs": {k: dict(v) for k, v in INSTRUMENT["constructs"].items()}}
    line = ""
    if where == "item":
        inst_map["constructs"]["climate"]["items"] = {
            "a_1": "A one", "a_2": {"text": "A two", "missing": [8]}, "a_3": "A three"}
    elif where == "construct":
        inst_map["constructs"]["climate"]["missing"] = [8]
    elif where == "study_item":
        line = "  missing: {a_2: [8]}"
    else:
        line = '  missing: {"*": ["Don\'t know"], climate: 8}'
    folder, frame = _folder(tmp_path, inst_map, line)
    _check_item_level(_clean(folder), frame)


def test_out_of_range_advice_names_the_item_form_and_works(tmp_path):
    """Without a declaration, 8 is out of a_2's range; the advice names the item-level form
    with a_2's id (a study-wide 8 would blank b_1's valid 8s) and, applied as written, works."""
    folder, frame = _folder(tmp_path, INSTRUMENT, '  missing: [-98, "Refused"]')
    with pytest.raises(StudyError) as e:
        _clean(folder)
    msg = str(e.value)
    assert "code 8 of item 'a_2' lies outside its scale 1..5" in msg
    advice = re.search(r"study\.yaml (survey: missing: \{.*?\]\})", msg).group(1)
    assert advice == 'survey: missing: {"*": [-98, "Refused"], a_2: [8]}'
    text = (folder / "study.yaml").read_text().replace('  missing: [-98, "Refused"]',
                                                       "  " + advice.split("survey: ")[1])
    (folder / "study.yaml").write_text(text)
    _check_item_level(_clean(folder), frame)


def test_unknown_key_of_missing_mapping(tmp_path):
    folder, _ = _folder(tmp_path, INSTRUMENT, "  missing: {a_9: [8]}")
    with pytest.raises(StudyError, match="survey.missing names 'a_9'"):
        _clean(folder)


# --------------------------------------------------------------------------------------------
# continuous indicators


def test_continuous_items_take_decimals_and_their_null_variance(tmp_path):
    inst_map = {"name": "t", "scale": {"min": 1, "max": 5},
                "constructs": {
                    "slider": {"type": "continuous", "scale": {"min": 0, "max": 100},
                               "items": {"s_1": "S1", "s_2": "S2", "s_3": {"text": "S3",
                                                                          "reverse": True}}},
                    "rating": {"items": {"r_1": "R1", "r_2": "R2", "r_3": "R3"}}}}
    inst = instrument_from_mapping(inst_map)
    assert inst.item("s_1").scale.continuous and not inst.item("r_1").scale.continuous
    assert inst.null_variances()["slider"] == pytest.approx(100 ** 2 / 12)
    assert inst.null_variances()["rating"] == pytest.approx((5 ** 2 - 1) / 12)
    same = instrument_from_mapping({**inst_map, "constructs": {
        **inst_map["constructs"], "slider": {"scale": {"min": 0, "max": 100, "continuous": True},
                                             "items": inst_map["constructs"]["slider"]["items"]}}})
    assert same.item("s_2").scale.continuous
    import yaml

    folder = study(tmp_path, ["s.csv"], id_column="rid", instrument="instruments/t.yaml")
    (folder / "instruments" / "t.yaml").write_text(yaml.safe_dump(inst_map), encoding="utf-8")
    rng = np.random.default_rng(3)
    n = 30
    frame = pd.DataFrame({"rid": [f"r{k}" for k in range(n)],
                          "s_1": np.round(rng.uniform(0, 100, n), 1),
                          "s_2": np.round(rng.uniform(0, 100, n), 1),
                          "s_3": np.round(rng.uniform(0, 100, n), 1),
                          "r_1": rng.integers(1, 6, n), "r_2": rng.integers(1, 6, n),
                          "r_3": rng.integers(1, 6, n)})
    # respondent 0 gives 3 on every rating item (and varied slider positions): straight-lining
    frame.loc[0, ["r_1", "r_2", "r_3"]] = 3
    frame.to_csv(folder / "data" / "raw" / "s.csv", index=False)
    cleaned = _clean(folder, inst)
    r = cleaned.responses.set_index("respondent_id")
    assert r.loc["r1", "s_1"] == frame.loc[1, "s_1"]
    assert r.loc["r1", "s_3"] == pytest.approx(100 - frame.loc[1, "s_3"])  # min + max - x
    ex = cleaned.exclusions
    flagged = list(ex.loc[ex["rule"] == "straightlining", "respondent_id"])
    assert "r0" in flagged  # judged on the rating items only (its sliders vary)
    ids = frame.set_index("rid")
    assert all(ids.loc[f, "r_1"] == ids.loc[f, "r_2"] == ids.loc[f, "r_3"] for f in flagged)
    same = frame[["r_1", "r_2", "r_3"]].nunique(axis=1) == 1
    assert sorted(flagged) == sorted(frame.loc[same, "rid"])
    assert any("continuous items were left out" in w for w in cleaned.warnings)
    # a decimal on a rating item is refused, with the advice to declare it continuous
    frame["r_2"] = frame["r_2"].astype(float)
    frame.loc[2, "r_2"] = 2.5
    frame.to_csv(folder / "data" / "raw" / "s.csv", index=False)
    with pytest.raises(StudyError, match="not a whole code; declare type: continuous"):
        _clean(folder, inst)


def test_rwg_of_a_continuous_scale_uses_the_uniform_variance():
    """rwg(j) with the continuous uniform null, (max - min)^2 / 12, against the closed form
    (James, Demaree & Wolf 1984: rwg(j) = J(1 - s2/v) / (J(1 - s2/v) + s2/v))."""
    from pipeline.levels import aggregate

    rng = np.random.default_rng(9)
    units = np.repeat([f"u{k}" for k in range(6)], 5)
    x = rng.uniform(20, 80, (30, 3))
    resp = pd.DataFrame(x, columns=["s_1", "s_2", "s_3"])
    resp["unit"] = units
    resp["slider"] = x.mean(1)
    lev = aggregate(resp, unit="unit", scores=["slider"], construct_items={"slider": [
        "s_1", "s_2", "s_3"]}, scales={"slider": (0, 100)},
        null_variances={"slider": 100 ** 2 / 12})
    v = 100 ** 2 / 12
    for k, u in enumerate(sorted(set(units))):
        block = x[units == u]
        s2 = min(block.var(axis=0, ddof=1).mean(), v)
        want = 3 * (1 - s2 / v) / (3 * (1 - s2 / v) + s2 / v)
        assert lev.rwg_j.loc[u, "slider"] == pytest.approx(want, abs=1e-12)
