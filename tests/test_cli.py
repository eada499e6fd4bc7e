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
    from pipeline.config.study import read_study

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


@pytest.mark.parametrize("user_value", [None, "2"])
def test_one_blas_thread_before_numpy_unless_the_user_chose(user_value):
    # the CLI gives BLAS one thread before NumPy loads it (socap's matrix work is small or
    # memory-bound; threads only add overhead and core-count-dependent rounding), so the
    # per-stage threadpoolctl limits have nothing to do; a value the user set is kept
    import os

    code = ("import os, sys\n"
            "from pipeline.cli import _one_blas_thread\n"
            "_one_blas_thread()\n"
            "import numpy, scipy.special\n"
            "from threadpoolctl import threadpool_info\n"
            "from pipeline.measure.moments import single_blas_thread\n"
            "print(os.environ.get('SOCAP_ONE_BLAS_THREAD'), os.environ['OPENBLAS_NUM_THREADS'],"
            " sorted({i['num_threads'] for i in threadpool_info() if i['user_api'] == 'blas'}),"
            " type(single_blas_thread()).__name__)")
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
                        "VECLIB_MAXIMUM_THREADS", "SOCAP_ONE_BLAS_THREAD", "OMP_NUM_THREADS")}
    if user_value:
        env["OPENBLAS_NUM_THREADS"] = user_value
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, check=True).stdout.split()
    if user_value is None:
        assert out == ["1", "1", "[1]", "nullcontext"]
    else:
        assert out[0] == "None" and out[1] == user_value and out[3] != "nullcontext"
