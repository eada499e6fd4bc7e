"""study.yaml loading and validation messages (CONTRACT section 2)."""

from __future__ import annotations

import textwrap

import pytest

from pipeline.errors import StudyError
from pipeline.config.study import read_study


def write(tmp_path, text: str):
    (tmp_path / "study.yaml").write_text(textwrap.dedent(text), encoding="utf-8")
    return tmp_path


def test_contract_example_loads(tmp_path):
    study = read_study(write(tmp_path, """
        title: "Ota ward manufacturing survey 2026"
        instrument: instruments/social_capital.yaml
        survey:
          files: [data/raw/survey.xlsx]
          id: ResponseId
          unit: firm_id
          group: cluster
          columns: {Q12_1: trust_1}
          missing: [-99, "Don't know"]
          weight: w
        quality:
          previews: true
          incomplete: true
          speeders: 0.5
          straightlining: true
          max_missing_share: 0.5
        scoring: factor
        units:
          file: data/raw/firms.csv
          id: firm_id
        network:
          edges: data/raw/ties.csv
          directed: false
        analysis:
          efa: {n_factors: auto, method: ml, rotation: oblimin}
          cfa: true
          invariance: false
          models:
            - name: catalytic
              level: unit
              formula: "new_products ~ degree * social_capital + log_employees"
              family: poisson
              se: cluster
              cluster: cluster
              focal: degree
              moderator: social_capital
              random: cluster
              center: [degree]
              standardize: [social_capital]
              weight: w
              mediation: {x: social_capital, m: [degree], y: new_products}
        """))
    cfg = study.config
    assert cfg.survey.columns == {"Q12_1": "trust_1"}
    assert cfg.survey.missing == [-99, "Don't know"]
    assert cfg.scoring.method == "factor"
    assert cfg.analysis.models[0].mediation.m == ["degree"]
    assert study.path(cfg.units.file) == tmp_path.resolve() / "data/raw/firms.csv"


def test_defaults_and_single_values(tmp_path):
    cfg = read_study(write(tmp_path, """
        title: t
        instrument: i.yaml
        survey: {files: one.csv, missing: -99}
        scoring: mean
        """)).config
    assert cfg.survey.files == ["one.csv"] and cfg.survey.missing == [-99]
    assert cfg.quality.speeders == 0.5 and cfg.quality.straightlining is True
    assert cfg.analysis.efa.n_factors == "auto" and cfg.analysis.cfa is True
    assert cfg.scoring.method == "mean" and cfg.scoring.min_valid_share == 0.5
    assert cfg.analysis.models == []


def test_switching_a_quality_rule_off(tmp_path):
    cfg = read_study(write(tmp_path, """
        title: t
        instrument: i.yaml
        quality: {speeders: false, max_missing_share: false, previews: false}
        """)).config
    assert cfg.quality.speeders is False and cfg.quality.max_missing_share is False


def test_unknown_keys_suggest_the_closest_and_name_line(tmp_path):
    with pytest.raises(StudyError) as err:
        read_study(write(tmp_path, """
            title: t
            instrument: i.yaml
            survey:
              idd: ResponseId
            analysis:
              models:
                - name: m
                  formula: "y ~ x"
                  famly: poisson
            """))
    text = str(err.value)
    assert "key 'survey.idd', line 5" in text and "Did you mean 'id'?" in text
    assert "analysis.models[0].famly" in text and "Did you mean 'family'?" in text
    assert str(tmp_path / "study.yaml") in text
    assert len(err.value.problems) == 2  # every problem at once


def test_bad_values_are_named(tmp_path):
    with pytest.raises(StudyError) as err:
        read_study(write(tmp_path, """
            title: t
            instrument: i.yaml
            quality: {speeders: 2}
            scoring: means
            analysis:
              efa: {method: mle, n_factors: 0}
              models:
                - {name: m, formula: "y ~ x", family: binomial}
            """))
    text = str(err.value)
    assert "quality.speeders" in text and "between 0 and 1" in text
    assert "key 'scoring'" in text and "'factor' or 'mean'" in text
    assert "analysis.efa.method" in text and "'ml' or 'minres'" in text
    assert "analysis.efa.n_factors" in text
    assert "analysis.models[0].family" in text and "'logit'" in text


def test_cfa_estimator_wlsmv_and_false(tmp_path):
    base = "title: t\ninstrument: i.yaml\nanalysis:\n  cfa: {}\n"
    cfg = read_study(write(tmp_path, base.format("{estimator: wlsmv}"))).config
    assert cfg.analysis.cfa.estimator == "wlsmv"
    assert read_study(write(tmp_path, base.format("false"))).config.analysis.cfa is False
    assert read_study(write(tmp_path, base.format("true"))).config.analysis.cfa is True
    with pytest.raises(StudyError) as err:
        read_study(write(tmp_path, base.format("{estimator: wls}")))
    assert "analysis.cfa.estimator" in str(err.value) and "'wlsmv'" in str(err.value)


def test_missing_required_keys(tmp_path):
    with pytest.raises(StudyError) as err:
        read_study(write(tmp_path, "survey: {id: x}\n"))
    text = str(err.value)
    assert "'title' is missing" in text and "'instrument' is missing" in text
    assert "instruments/social_capital.yaml" in text  # the fix says what to write


def test_model_consistency(tmp_path):
    with pytest.raises(StudyError) as err:
        read_study(write(tmp_path, """
            title: t
            instrument: i.yaml
            analysis:
              models:
                - {name: m, formula: "y ~ x * z", se: cluster, focal: x}
            """))
    text = str(err.value)
    assert "analysis.models[0]" in text and "cluster:" in text
    with pytest.raises(StudyError, match="needs an outcome"):
        read_study(write(tmp_path, """
            title: t
            instrument: i.yaml
            analysis: {models: [{name: m, formula: "x + z"}]}
            """))
    with pytest.raises(StudyError, match="unique; repeated: m"):
        read_study(write(tmp_path, """
            title: t
            instrument: i.yaml
            analysis: {models: [{name: m, formula: "y ~ x"}, {name: m, formula: "y ~ z"}]}
            """))


def test_invalid_yaml_names_the_line(tmp_path):
    with pytest.raises(StudyError) as err:
        read_study(write(tmp_path, "title: t\ninstrument: [unclosed\nsurvey: {}\n"))
    p = err.value.problems[0]
    assert p.file.endswith("study.yaml") and p.line is not None and "not valid YAML" in p.message


def test_language_specific_tags_are_refused(tmp_path):
    marker = tmp_path / "pwned"
    with pytest.raises(StudyError) as err:
        read_study(write(tmp_path, f"""
            title: !!python/object/apply:os.system ["touch {marker}"]
            instrument: i.yaml
            """))
    assert "tag" in str(err.value) and not marker.exists()


def test_missing_study_file_and_not_a_mapping(tmp_path):
    with pytest.raises(StudyError) as err:
        read_study(tmp_path / "nowhere")
    assert "no study.yaml" in str(err.value) and "socap init" in str(err.value)
    with pytest.raises(StudyError, match="must be a mapping"):
        read_study(write(tmp_path, "- just\n- a list\n"))


def test_non_utf8_study_file(tmp_path):
    (tmp_path / "study.yaml").write_bytes("title: caf\xe9\ninstrument: i.yaml\n".encode("cp1252"))
    with pytest.raises(StudyError, match="not UTF-8"):
        read_study(tmp_path)


def test_cfa_options_default_and_mapping(tmp_path):
    """analysis.cfa: true keeps lavaan::cfa's default (ML, listwise); a mapping sets the
    estimator, the missing-data treatment (lavaan's missing = "ml" spelling accepted) and the
    cluster column."""
    cfg = read_study(write(tmp_path, "title: t\ninstrument: i.yaml\n")).config
    assert cfg.analysis.cfa is True
    opts = cfg.analysis.cfa_settings
    assert (opts.estimator, opts.resolved_missing, opts.cluster) == ("ml", "listwise", None)
    cfg = read_study(write(tmp_path, "title: t\ninstrument: i.yaml\nanalysis: {cfa: false}\n")
                     ).config
    assert cfg.analysis.cfa_settings is None
    cfg = read_study(write(tmp_path, """
        title: t
        instrument: i.yaml
        analysis:
          cfa: {estimator: MLR, missing: ml, cluster: school}
        """)).config
    opts = cfg.analysis.cfa_settings
    assert (opts.estimator, opts.resolved_missing, opts.cluster) == ("mlr", "fiml", "school")
    cfg = read_study(write(tmp_path, "title: t\ninstrument: i.yaml\n"
                                     "analysis: {cfa: {estimator: auto}}\n")).config
    assert cfg.analysis.cfa_settings.resolved_missing is None  # auto decides


@pytest.mark.parametrize("body, words", [
    ("cfa: {estimator: wlsmv, missing: fiml}", ["analysis.cfa", "line 4", "cannot go with",
                                                "Fix: write estimator: mlr"]),
    ("cfa: {estimator: ml, cluster: school}", ["analysis.cfa", "line 4", "needs estimator: mlr",
                                               "Fix:"]),
    ("cfa: {estimator: mle}", ["analysis.cfa.estimator", "'mle' is not a valid value", "'mlr'"]),
    ("cfa: {estimtor: ml}", ["analysis.cfa.estimtor", "Did you mean 'estimator'?"]),
    ("cfa: {missing: pairwise}", ["analysis.cfa.missing", "'listwise' or 'fiml'"]),
    ("cfa: mlr", ["analysis.cfa", "cfa: {estimator: mlr}"]),
    ("cfa: 3", ["analysis.cfa", "cfa: true", "cfa: false"]),
])
def test_cfa_option_errors_name_key_line_and_fix(tmp_path, body, words):
    with pytest.raises(StudyError) as err:
        read_study(write(tmp_path, f"title: t\ninstrument: i.yaml\nanalysis:\n  {body}\n"))
    text = str(err.value)
    for w in words:
        assert w in text, (w, text)
    assert "function-after" not in text and "bool" not in text
    assert len(err.value.problems) == 1
