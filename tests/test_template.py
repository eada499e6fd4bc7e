"""A survey team's first hour: `socap init`, drop in an export, edit study.yaml, validate, run."""

from __future__ import annotations

import json
import shutil

from pipeline.cli import main
from pipeline.ingest.xlsform import read_xlsform
from pipeline.config.instrument import default_instrument_path, read_instrument


def test_init_writes_both_instrument_forms_from_one_source(tmp_path):
    assert main(["init", str(tmp_path / "s")]) == 0
    yaml_inst = read_instrument(tmp_path / "s/instruments/social_capital.yaml")
    xls_inst = read_xlsform(tmp_path / "s/instruments/social_capital.xlsx")
    assert yaml_inst.construct_items() == xls_inst.construct_items()
    assert yaml_inst.higher_order == xls_inst.higher_order
    assert [i.reverse for i in yaml_inst.items] == [i.reverse for i in xls_inst.items]
    for suffix in (".yaml", ".xlsx"):
        assert (tmp_path / f"s/instruments/social_capital{suffix}").read_bytes() == \
            default_instrument_path().with_suffix(suffix).read_bytes()
    readme = (tmp_path / "s/README.md").read_text()
    assert "socap validate" in readme and "socap run" in readme


def test_from_an_empty_folder_to_a_report(tmp_path, example_study, capsys):
    study = tmp_path / "new_region"
    assert main(["init", str(study)]) == 0
    # the team drops in its export, firm table and tie list
    for name in ("survey.xlsx", "firms.csv", "ties.csv"):
        shutil.copy(example_study / "data/raw" / name, study / "data/raw" / name)
    # ... and edits study.yaml: units, clusters, the unit table, the network and a model
    text = (study / "study.yaml").read_text()
    text = text.replace('title: "My regional cluster survey"', 'title: "Second region, 2026 wave"')
    text = text.replace("  # unit: firm_id", "  unit: firm_id").replace("  # group: cluster", "  group: cluster")
    text = text.replace("# units:", "units:").replace("#   file: data/raw/firms.csv", "  file: data/raw/firms.csv")
    text = text.replace("#   id: firm_id", "  id: firm_id")
    text = text.replace("# network:", "network:").replace("#   edges: data/raw/ties.csv", "  edges: data/raw/ties.csv")
    text = text.replace("#   directed: false", "  directed: false")
    text = text.replace("  models: []", "  models:\n    - name: catalytic\n      formula: "
                        "\"new_products ~ degree * social_capital + log_employees\"\n"
                        "      family: poisson\n      focal: degree\n      moderator: social_capital")
    (study / "study.yaml").write_text(text)
    # drop in: no survey.files, the export is found in data/raw/ beside the unit table and ties
    capsys.readouterr()
    assert main(["validate", str(study)]) == 0
    out = capsys.readouterr().out
    assert "survey.xlsx" in out and "firms.csv" not in out.split("Survey exports")[1].split("\n")[1]
    assert main(["run", str(study), "--quiet"]) == 0
    results = json.loads((study / "reports/results.json").read_text())
    assert results["study"]["title"] == "Second region, 2026 wave"
    assert "degree:social_capital" in results["models"]["catalytic"]["coefficients"]
    assert (study / "reports/report.html").exists()
    assert (study / "data/processed/units.parquet").exists()
