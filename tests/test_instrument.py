"""Instrument loading (CONTRACT section 3) and the default instrument."""

from __future__ import annotations

import textwrap

import pytest

from pipeline.errors import StudyError
from pipeline.config.instrument import default_instrument_path, read_instrument


def write(tmp_path, text: str):
    path = tmp_path / "inst.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_default_instrument_is_complete():
    inst = read_instrument(default_instrument_path())
    assert list(inst.constructs) == ["coordination", "cooperation", "reciprocity", "trust"]
    for c in inst.constructs.values():
        assert 4 <= len(c.items) <= 6
        assert any(i.reverse for i in c.items), f"{c.name} has no reverse-keyed item"
        assert all(i.text for i in c.items)
    assert inst.higher_order == {"social_capital": ("coordination", "cooperation", "reciprocity",
                                                    "trust")}
    assert (inst.scale.min, inst.scale.max, inst.scale.points) == (1, 5, 5)
    assert inst.scale.labels[5] == "Strongly agree"
    text = default_instrument_path().read_text()
    assert "SC-IQ" in text and "OECD" in text  # sources named


def test_contract_example_with_overrides(tmp_path):
    inst = read_instrument(write(tmp_path, """
        name: Social capital core instrument
        version: "1.0"
        scale: {min: 1, max: 5, labels: {1: Strongly disagree, 2: Disagree, 3: Neither, 4: Agree, 5: Strongly agree}}
        missing: [-99, "Don't know"]
        constructs:
          trust:
            label: Trust
            items:
              trust_1: "Most firms in this cluster can be trusted to keep their word."
              trust_2: {text: "One has to be careful in dealing with other firms here.", reverse: true}
          hostility:
            scale: {min: 0, max: 4}
            items:
              host_1: "a"
              host_2: {text: "b", scale: {min: 1, max: 7}}
        higher_order:
          social_capital: [trust, hostility]
        """))
    assert inst.item("trust_2").reverse and not inst.item("trust_1").reverse
    assert inst.item("trust_2").scale.reverse(5) == 1
    assert (inst.item("host_1").scale.min, inst.item("host_1").scale.max) == (0, 4)
    assert inst.item("host_1").scale.labels == {}  # labels belong to the 1..5 scale only
    assert (inst.item("host_2").scale.min, inst.item("host_2").scale.max) == (1, 7)
    assert inst.construct_scales()["social_capital"] == (1, 5)
    assert inst.missing == (-99, "Don't know")
    assert inst.score_names == ["trust", "hostility", "social_capital"]


def test_every_problem_reported_with_key_and_line(tmp_path):
    with pytest.raises(StudyError) as err:
        read_instrument(write(tmp_path, """
            name: x
            scael: {min: 1, max: 5}
            constructs:
              trust:
                items:
                  trust_1: {text: a, revrse: true}
                  trust-2: b
              bad:
                scale: {min: 5, max: 1}
                items: {b1: x}
            higher_order:
              sc: [trust, trsut]
            """))
    text = str(err.value)
    problems = err.value.problems
    assert len(problems) >= 5
    assert "unknown key 'scael'" in text and "did you mean 'scale'?" in text
    assert "no 'scale'" in text
    assert "constructs.trust.items.trust_1.revrse" in text and "'reverse'" in text
    assert "'trust-2'" in text  # invalid item id
    assert "min (5.0) must be below its max (1.0)" in text or "min (5) must be below its max (1)" in text
    assert "unknown construct 'trsut'" in text and "did you mean 'trust'?" in text
    assert any(p.line is not None for p in problems)


def test_duplicate_items_and_name_clashes(tmp_path):
    with pytest.raises(StudyError) as err:
        read_instrument(write(tmp_path, """
            scale: {min: 1, max: 5}
            constructs:
              a: {items: {x1: t, x2: t}}
              b: {items: {x1: t, x3: t}}
            higher_order:
              a: [a, b]
            """))
    text = str(err.value)
    assert "'x1' appears in both 'a' and 'b'" in text
    assert "'a' is already a construct or item name" in text


def test_wrong_file_type_and_label_outside_scale(tmp_path):
    p = tmp_path / "inst.json"
    p.write_text("{}")
    with pytest.raises(StudyError, match="YAML file"):
        read_instrument(p)
    with pytest.raises(StudyError, match="outside the scale"):
        read_instrument(write(tmp_path, """
            scale: {min: 1, max: 5, labels: {0: Never, 1: Sometimes}}
            constructs: {a: {items: {x1: t}}}
            """))


def test_reserved_construct_names(tmp_path):
    with pytest.raises(StudyError) as err:
        read_instrument(write(tmp_path, """
            scale: {min: 1, max: 5}
            constructs:
              degree: {items: {x1: t, x2: t}}
              units: {items: {x3: t, x4: t}}
            higher_order:
              constraint: [degree, units]
            """))
    text = str(err.value)
    assert "'degree' is taken" in text and "'units' is taken" in text and "'constraint' is taken" in text


def test_reserved_names_cover_every_computed_column():
    """The reserved names follow what the pipeline computes: every network measure (both
    directions), every key aggregate() writes beside the scores, and the responses' own columns."""
    from pipeline.config.instrument import RESERVED
    from pipeline.levels import RESERVED_KEYS
    from pipeline.network import MEASURES_METHOD_DIRECTED, MEASURES_METHOD_UNDIRECTED

    measures = {m for m in (*MEASURES_METHOD_DIRECTED, *MEASURES_METHOD_UNDIRECTED)
                if "<" not in m}  # degree_<type>: refused by its prefix
    assert measures <= RESERVED
    assert RESERVED_KEYS <= RESERVED
    assert {"respondent_id", "source_file", "source_row", "n_respondents"} <= RESERVED
