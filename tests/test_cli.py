"""The `socap` command: help, exit statuses, init and simulate."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pipeline.cli import main


def test_help_imports_nothing_heavy():
    code = ("import sys; from pipeline.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('pandas', 'numpy', 'scipy', 'matplotlib', 'statsmodels', 'igraph') "
            "if m in sys.modules]\nprint('HEAVY', heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY []" in out.stdout
    assert "socap run" in out.stdout and "socap init" in out.stdout


@pytest.mark.parametrize("command", ["run", "validate", "init", "simulate"])
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    assert len(capsys.readouterr().out) > 200


def test_no_command_prints_help(capsys):
    assert main([]) == 0
    assert "usage: socap" in capsys.readouterr().out


def test_run_without_study_is_exit_2_without_traceback(tmp_path):
    out = subprocess.run([sys.executable, "-m", "pipeline", "run", str(tmp_path / "missing")],
                         capture_output=True, text=True)
    assert out.returncode == 2
    assert "no study.yaml" in out.stderr and "Traceback" not in out.stderr
    assert "socap init" in out.stderr


def test_init_scaffolds_and_refuses_non_empty(tmp_path, capsys):
    target = tmp_path / "ota"
    assert main(["init", str(target)]) == 0
    for p in ("study.yaml", "instruments/social_capital.yaml", "data/raw", "data/processed",
              "reports", "README.md"):
        assert (target / p).exists(), p
    from pipeline.study import read_study

    study = read_study(target)  # the template is a valid study.yaml
    assert study.config.instrument == "instruments/social_capital.yaml"
    text = (target / "study.yaml").read_text()
    assert text.count("#") > 20  # commented for the survey team
    before = (target / "study.yaml").read_bytes()
    assert main(["init", str(target)]) == 2
    assert "not empty" in capsys.readouterr().err
    assert (target / "study.yaml").read_bytes() == before


def test_simulate_writes_a_study_and_refuses_non_empty(tmp_path, capsys):
    target = tmp_path / "sim"
    assert main(["simulate", str(target), "--seed", "3", "--regions", "1",
                 "--clusters-per-region", "2", "--firms-per-cluster", "5", "--format", "csv"]) == 0
    assert (target / "truth.json").exists() and (target / "data/raw/survey.csv").exists()
    assert main(["simulate", str(target)]) == 2
    assert main(["simulate", str(tmp_path / "x"), "--firms-per-cluster", "0"]) == 2
