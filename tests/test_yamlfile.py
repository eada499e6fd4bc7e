"""Hostile YAML (pipeline/config/yamlfile.py): alias bombs, deep nesting and repeated keys in
study.yaml and in an instrument are refused in bounded time with a message naming the file and
line (exit 2), and a study run before keeps its outputs byte for byte.

The 'billion laughs' case runs `socap run` in a subprocess with a generous timeout: a guard
against the hang it used to be, not a timing test."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from outputs import output_bytes
from pipeline.cli import main

BOMB = ('lol0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n'
        + "".join(f"lol{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 10)))


@pytest.fixture()
def study(ran_study_copy) -> Path:
    """A copy of the study after a successful run (conftest.ran_study)."""
    return ran_study_copy


FILES = {"study": "study.yaml", "instrument": "instruments/social_capital.yaml"}


def socap_run(study: Path) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOCAP_TEST")}
    proc = subprocess.run([sys.executable, "-m", "pipeline", "run", str(study), "--quiet"],
                          capture_output=True, text=True, env=env, timeout=300)
    return proc.returncode, proc.stderr


def line_of(text: str, fragment: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if fragment in line)


@pytest.mark.parametrize("which", FILES)
def test_a_billion_laughs_file_is_refused_without_hanging(study, which):
    path = study / FILES[which]
    text = path.read_text() + "\n" + BOMB
    assert len(BOMB) < 1024
    path.write_text(text)
    before = output_bytes(study)
    code, err = socap_run(study)
    assert code == 2, err
    assert str(path) in err and "aliases" in err and "billion laughs" in err, err
    assert "line" in err and "Traceback" not in err
    assert output_bytes(study) == before


@pytest.mark.parametrize("which", FILES)
@pytest.mark.parametrize("shape", ["flow", "block", "shallow"])
def test_deep_nesting_is_refused_with_its_line(study, capsys, which, shape):
    path = study / FILES[which]
    text = path.read_text()
    if shape == "flow":  # past libyaml's own limit of 1,000 levels: a RecursionError once
        deep = "deep: " + "[" * 5000 + "]" * 5000 + "\n"
    elif shape == "block":
        deep = "deep:\n" + "".join("  " * (i + 1) + "- \n" for i in range(3000))
    else:  # within every parser's limits, beyond socap's
        deep = "deep: " + "[" * 60 + "]" * 60 + "\n"
    path.write_text(text + "\n" + deep)
    before = output_bytes(study)
    capsys.readouterr()
    assert main(["run", str(study), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"{path}, line " in err and "more than 50 levels deep" in err, err
    line = int(err.split(f"{path}, line ")[1].split(":")[0])
    assert line >= line_of(path.read_text(), "deep:")
    assert "internal error" not in err and "Traceback" not in err
    assert output_bytes(study) == before


@pytest.mark.parametrize("which,key,value", [("study", "seed", "8"),
                                              ("instrument", "version", '"2.0"')])
def test_a_repeated_key_names_the_key_and_both_lines(study, capsys, which, key, value):
    path = study / FILES[which]
    text = path.read_text()
    first = line_of(text, f"{key}:")
    text = text.rstrip("\n") + f"\n{key}: {value}\n"
    path.write_text(text)
    second = len(text.splitlines())
    before = output_bytes(study)
    capsys.readouterr()
    assert main(["run", str(study), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"key '{key}' appears twice" in err, err
    assert f"lines {first} and {second}" in err and str(path) in err
    assert output_bytes(study) == before


def test_a_key_overriding_a_merged_one_is_not_a_repeat(tmp_path):
    from pipeline.config.yamlfile import read_yaml

    p = tmp_path / "x.yaml"
    p.write_text("base: &b {x: 1, y: 2}\nm:\n  <<: *b\n  x: 3\n")
    data, lines = read_yaml(p, "study file")
    assert data["m"] == {"x": 3, "y": 2}
    assert lines[("m", "x")] == 4


def test_aliases_of_a_modest_size_are_read(tmp_path):
    from pipeline.config.yamlfile import read_yaml

    p = tmp_path / "x.yaml"
    p.write_text("scale: &s {min: 1, max: 5}\na: {scale: *s}\nb: {scale: *s}\n")
    data, _ = read_yaml(p, "instrument")
    assert data["a"]["scale"] == data["b"]["scale"] == {"min": 1, "max": 5}
