"""Shared fixtures: simulated studies written by the tests themselves."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def example_study(tmp_path_factory) -> Path:
    """A small simulated study (written once per session; copy it before modifying)."""
    from pipeline.simulate import SimulationSpec, simulate_study, write_study

    folder = tmp_path_factory.mktemp("example") / "study"
    spec = SimulationSpec(seed=7, regions=2, clusters_per_region=3, firms_per_cluster=15,
                          respondents_per_firm=4)
    write_study(simulate_study(spec), folder)
    return folder


@pytest.fixture()
def study_copy(example_study, tmp_path) -> Path:
    """A private copy of the small simulated study, safe to modify."""
    target = tmp_path / "study"
    shutil.copytree(example_study, target)
    return target


@pytest.fixture(scope="session")
def ran_study(tmp_path_factory, example_study) -> Path:
    """The small simulated study after one successful `socap run` (its outputs in place), run
    once per session; copy it (``ran_study_copy``) before modifying."""
    from pipeline.cli import main

    folder = tmp_path_factory.mktemp("ran") / "study"
    shutil.copytree(example_study, folder)
    assert main(["run", str(folder), "--quiet"]) == 0
    return folder


@pytest.fixture()
def ran_study_copy(ran_study, tmp_path) -> Path:
    """A private copy of the study with earlier outputs, for runs that must leave them intact."""
    target = tmp_path / "study"
    shutil.copytree(ran_study, target)
    return target
