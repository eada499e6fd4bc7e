"""The bundled example study at the repository root is exactly `socap simulate --seed 2026`."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from pipeline.ingest.tables import read_table
from pipeline.config.instrument import default_instrument_path
from pipeline.simulate import SimulationSpec, simulate_study, study_yaml
from tests.tolerance import assert_tree_close

ROOT = Path(__file__).resolve().parents[1]


def test_example_is_the_simulator_output():
    sim = simulate_study(SimulationSpec(seed=2026))
    raw = ROOT / "data" / "raw"
    firms = pd.read_csv(raw / "firms.csv", dtype={"firm_id": str})
    pd.testing.assert_frame_equal(firms, sim.firms, check_dtype=False)
    ties = pd.read_csv(raw / "ties.csv")
    pd.testing.assert_frame_equal(ties, sim.ties, check_dtype=False)
    survey = read_table(raw / "survey.xlsx").frame
    assert list(survey.columns) == list(sim.survey.columns)
    expected = sim.survey.astype(object).where(sim.survey.notna(), None)
    for col in survey.columns:
        a = [None if v is None else (float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v)
             for v in survey[col]]
        b = [None if v is None else (float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v)
             for v in expected[col]]
        assert a == b, col
    # truth.json holds floats computed through BLAS (a correlation): equal to 1e-12 relative,
    # not bit for bit, as the committed file was written on another CPU (OpenBLAS kernel)
    truth = json.loads((ROOT / "truth.json").read_text())
    assert_tree_close(json.loads(json.dumps(sim.truth)), truth, rtol=1e-12)
    title = sim.spec
    assert (ROOT / "study.yaml").read_text() == study_yaml(
        sim.spec, f"Simulated regional cluster study ({title.firms} firms in {title.clusters} "
        f"clusters, seed 2026)", "survey.xlsx")


def test_example_instrument_is_the_packaged_one():
    for suffix in (".yaml", ".xlsx"):
        packaged = default_instrument_path().with_suffix(suffix)
        assert (ROOT / "instruments" / packaged.name).read_bytes() == packaged.read_bytes()
