"""Instruments as XLSForm workbooks: read, write, the packaged template, translations."""

from __future__ import annotations

import dataclasses
import textwrap

import numpy as np
import pytest

from pipeline.errors import StudyError
from pipeline.ingest.xlsform import read_xlsform, write_xlsform
from pipeline.config.instrument import default_instrument_path, instrument_from_mapping, read_instrument


def same(a, b) -> bool:
    return dataclasses.replace(a, source="") == dataclasses.replace(b, source="")


def _workbook(path, sheets: dict[str, list[list]]):
    from openpyxl import Workbook

    wb = Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for r in rows:
            ws.append(r)
    wb.save(path)
    return path


def test_packaged_template_is_the_yaml_instrument():
    """One source: the XLSForm template reads back into exactly the YAML instrument."""
    yaml_inst = read_instrument(default_instrument_path())
    xlsx = default_instrument_path().with_suffix(".xlsx")
    assert xlsx.exists()
    xls_inst = read_instrument(xlsx)  # dispatches on the suffix
    assert same(xls_inst, yaml_inst)
    assert xls_inst.higher_order == {"social_capital": ("coordination", "cooperation",
                                                        "reciprocity", "trust")}
    assert [i.id for i in xls_inst.items if i.reverse] == ["coord_4", "coop_5", "recip_3", "trust_2"]


def test_template_converts_to_an_xform():
    """KoBoToolbox/ODK readiness: pyxform (the converter KoBo and ODK use) accepts it."""
    pyxform = pytest.importorskip("pyxform.xls2xform")
    res = pyxform.convert(xlsform=str(default_instrument_path().with_suffix(".xlsx")),
                          validate=False)
    assert "<select1" in res.xform and "/coordination/coord_1" in res.xform
    assert not [w for w in res.warnings if "error" in w.lower()]


TRANSLATED = {
    "name": "Bilingual", "version": "2", "language": "English (en)",
    "scale": {"min": 1, "max": 4,
              "labels": {1: "Disagree strongly", 2: "Disagree", 3: "Agree", 4: "Agree strongly"},
              "translations": {"Français (fr)": {1: "Pas du tout d'accord", 2: "Pas d'accord",
                                                 3: "D'accord", 4: "Tout à fait d'accord"}}},
    "missing": [-99, "Don't know"],
    "constructs": {
        "trust": {"label": "Trust", "items": {
            "t1": {"text": "Firms keep their word.", "texts": {"Français (fr)": "Les entreprises tiennent parole."}},
            "t2": {"text": "One must be careful.", "reverse": True,
                   "texts": {"Français (fr)": "Il faut être prudent."}},
            "t3": {"text": "Handshakes suffice.", "texts": {"Français (fr)": "Une poignée de main suffit."}}}},
        "hostility": {"scale": {"min": 0, "max": 2, "labels": {0: "Never", 1: "Sometimes", 2: "Often"}},
                      "items": {"h1": "Firms sue each other.", "h2": "Firms poach staff.",
                                "h3": {"text": "Firms copy designs.",
                                       "scale": {"min": 1, "max": 3}}}},
        "coop": {"items": {"c1": "We share machines.", "c2": "We bid jointly."}},
    },
    "higher_order": {"climate": ["trust", "coop"]},
}


def test_round_trip_with_translations_overrides_and_higher_order(tmp_path):
    inst = instrument_from_mapping(TRANSLATED, source="x")
    path = write_xlsform(inst, tmp_path / "form.xlsx")
    back = read_xlsform(path)
    assert same(back, inst)
    assert back.language == "English (en)" and back.languages == ["English (en)", "Français (fr)"]
    assert back.resolve_language("fr") == "Français (fr)" and back.resolve_language("english") is None
    assert back.item("h3").scale.labels == {}  # item-level override kept
    assert back.constructs["hostility"].scale.min == 0


def test_user_xlsform_with_text_choice_names_and_defaults(tmp_path):
    """A form as a survey team writes it: text choice names, no socap sheets."""
    path = _workbook(tmp_path / "team.xlsx", {
        "survey": [["type", "name", "label", "construct", "reverse"],
                   ["start", "start", "", "", ""],
                   ["text", "firm_id", "Your firm id", "", ""],
                   ["begin_group", "g1", "Trust", "", ""],
                   ["select_one agree", "t1", "Firms keep their word.", "trust", ""],
                   ["select_one agree", "t2", "Be careful.", "trust", "yes"],
                   ["select_one agree", "t3", "Handshakes.", "trust", "no"],
                   ["end_group", "", "", "", ""]],
        "choices": [["list_name", "name", "label", "missing"],
                    ["agree", "disagree", "Disagree", ""],
                    ["agree", "neutral", "Neutral", ""],
                    ["agree", "agree", "Agree", ""],
                    ["agree", "dk", "Don't know", "yes"]],
        "settings": [["form_title", "version"], ["Team form", "3"]],
    })
    inst = read_xlsform(path)
    assert inst.name == "Team form" and inst.version == "3"
    assert inst.item_ids == ["t1", "t2", "t3"] and inst.item("t2").reverse
    sc = inst.item("t1").scale
    assert (sc.min, sc.max) == (1, 3) and sc.labels == {1: "Disagree", 2: "Neutral", 3: "Agree"}
    assert sc.names == {1: "disagree", 2: "neutral", 3: "agree"}
    # the choice flagged missing by its label and by its name: KoBo's "XML values" export
    # holds the name (dk), its label export the label
    assert inst.missing == ("Don't know", "dk")
    assert inst.constructs["trust"].label == "trust" and not inst.higher_order


def test_every_problem_of_a_form_reported_with_sheet_and_row(tmp_path):
    path = _workbook(tmp_path / "bad.xlsx", {
        "survey": [["type", "name", "label", "construct", "reverse"],
                   ["integer", "t1", "a", "trust", ""],
                   ["select_one nolist", "t2", "b", "trust", ""],
                   ["select_one agree", "t3", "c", "trust", "maybe"]],
        "choices": [["list_name", "name", "label"], ["agree", "1", "No"], ["agree", "2", "Yes"]],
    })
    with pytest.raises(StudyError) as err:
        read_xlsform(path)
    text = str(err.value)
    assert len(err.value.problems) == 3
    assert "sheet 'survey', row 2, column 'type'" in text and "select_one LIST" in text
    assert "row 3" in text and "'nolist'" in text
    assert "row 4, column 'reverse'" in text and "'maybe'" in text
    path = _workbook(tmp_path / "noconstruct.xlsx", {
        "survey": [["type", "name", "label"], ["select_one a", "t1", "x"]],
        "choices": [["list_name", "name", "label"], ["a", "1", "x"]]})
    with pytest.raises(StudyError, match="no 'construct' column"):
        read_xlsform(path)


def test_survey_language_picks_the_labels_used_for_recoding(tmp_path):
    from pipeline.clean import clean_responses
    from pipeline.ingest.survey import read_survey
    from pipeline.config.study import read_study

    inst = instrument_from_mapping(TRANSLATED, source="x")
    (tmp_path / "data" / "raw").mkdir(parents=True)
    write_xlsform(inst, tmp_path / "form.xlsx")
    (tmp_path / "data/raw/s.csv").write_text(textwrap.dedent("""\
        id,t1,t2,t3,h1,h2,h3,c1,c2
        a,D'accord,Pas d'accord,tout à fait  d'accord,Never,Often,2,3,Don't know
        b,Pas du tout d'accord,3,4,Sometimes,Never,1,dont_know,2
        """), encoding="utf-8")
    (tmp_path / "study.yaml").write_text(
        "title: t\ninstrument: form.xlsx\nsurvey:\n  id: id\n  language: fr\n", encoding="utf-8")
    study = read_study(tmp_path)
    back = read_instrument(study.path("form.xlsx"))
    res = clean_responses(read_survey(study), back, study.config)
    r = res.responses.set_index("respondent_id")
    assert r.loc["a", "t1"] == 3 and r.loc["a", "t3"] == 4 and r.loc["b", "t1"] == 1
    assert r.loc["a", "t2"] == 1 + 4 - 2  # reverse-keyed: 'Pas d'accord' = 2 -> 3
    assert np.isnan(r.loc["a", "c2"]) and np.isnan(r.loc["b", "c1"])  # choice name 'dont_know'
    # English labels are not French ones: reported, with the French labels listed
    (tmp_path / "data/raw/s.csv").write_text("id,t1,t2,t3,h1,h2,h3,c1,c2\na,Agree,1,1,0,0,1,1,1\n")
    with pytest.raises(StudyError) as err:
        clean_responses(read_survey(study), back, study.config)
    assert "'Agree' matches no label of item 't1'" in str(err.value)
    assert "3 = D'accord" in str(err.value)
    # an unknown language names the ones there are
    (tmp_path / "study.yaml").write_text(
        "title: t\ninstrument: form.xlsx\nsurvey:\n  id: id\n  language: de\n", encoding="utf-8")
    study = read_study(tmp_path)
    with pytest.raises(StudyError, match="'English \\(en\\)', 'Français \\(fr\\)'"):
        clean_responses(read_survey(study), back, study.config)
