"""Interrupted and concurrent runs: data/processed/ and reports/ are replaced together or not at
all, a second run of the same study waits or refuses, a full or read-only disk is the user's
message (exit 2), and nothing is left behind (pipeline/atomic.py).

The kill tests run `socap run` in a subprocess and end it with os._exit at named steps of the
swap (the SOCAP_TEST_HOOK hook) or with SIGKILL at random moments; then the recovery that the next
command runs first must show the old complete set or the new one, both folders from the same run.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from pipeline.atomic import JOURNAL, LOCK, STAGING_PREFIX, lock_study, recover
from pipeline.cli import main

DIRS = ("data/processed", "reports")
#: files that two runs of the same inputs write byte for byte alike (results.json, report.html
#: and reproduce.R carry the run's times; units.parquet igraph's eigenvector centralities, which
#: differ in the last digit between runs)
VARYING = {"results.json", "report.html", "reproduce.R", "units.parquet"}


def snapshot(folder: Path, rel: str) -> dict[str, bytes] | None:
    d = folder / rel
    if not d.is_dir():
        return None
    return {p.relative_to(d).as_posix(): p.read_bytes() for p in sorted(d.rglob("*"))
            if p.is_file()}


def listing(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


@pytest.fixture(scope="module")
def sets(tmp_path_factory, example_study):
    """A study run once (the old set) with its study.yaml then changed so that a new run
    writes different processed data and reports; and that new run's outputs (the reference new
    set)."""
    base = tmp_path_factory.mktemp("atomic")
    old = base / "old"
    shutil.copytree(example_study, old)
    assert main(["run", str(old), "--quiet"]) == 0
    text = (old / "study.yaml").read_text()
    assert "speeders: 0.5" in text
    (old / "study.yaml").write_text(text.replace("speeders: 0.5", "speeders: false"))
    new = base / "new"
    shutil.copytree(old, new)
    assert main(["run", str(new), "--quiet"]) == 0
    sets = {"old": {r: snapshot(old, r) for r in DIRS}, "new": {r: snapshot(new, r) for r in DIRS},
            "folder": old, "listing": listing(new)}
    for r in DIRS:  # the change shows in both folders, in files that do not vary by run
        assert any(sets["old"][r].get(k) != v for k, v in sets["new"][r].items()
                   if Path(k).name not in VARYING), r
    return sets


@pytest.fixture()
def study(sets, tmp_path) -> Path:
    target = tmp_path / "study"
    shutil.copytree(sets["folder"], target)
    return target


def which(sets, folder: Path, rel: str) -> str:
    """'old' when the folder is byte-identical to the old set; 'new' when it is the new run's
    complete set (every file present; those that do not vary by run byte-identical)."""
    now = snapshot(folder, rel)
    assert now is not None, f"{rel}/ is missing"
    if now == sets["old"][rel]:
        return "old"
    new = sets["new"][rel]
    assert sorted(now) == sorted(new), f"{rel}/ is neither the old nor the new set"
    for name, data in now.items():
        if Path(name).name in VARYING:
            assert data, name
            if name.endswith(".json"):
                assert json.loads(data)["sample"] == json.loads(new[name])["sample"]
            if name.endswith(".parquet"):
                pd.read_parquet(folder / rel / name)
            if name.endswith(".html"):
                assert data.rstrip().endswith(b"</html>")
        else:
            assert data == new[name], f"{rel}/{name} differs from the new set"
    return "new"


def state(sets, folder: Path) -> str:
    """Recover as the next command does, then the one set both folders belong to."""
    with lock_study(folder, wait=0):
        recover(folder)
    got = {rel: which(sets, folder, rel) for rel in DIRS}
    assert len(set(got.values())) == 1, f"a mix of two runs: {got}"
    assert not [p for p in folder.iterdir()
                if p.name.startswith((STAGING_PREFIX, JOURNAL, LOCK))], listing(folder)
    assert not list(folder.glob("**/.*.old-*"))
    return got["reports"]


def socap(folder: Path, *args, hook: str | None = None, wait: float | None = None,
          rename_only: bool = False, **popen) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOCAP_TEST")}
    if hook:
        env["SOCAP_TEST_HOOK"] = hook
    if rename_only:  # two renames per folder, as where renameat2's exchange is not available
        env["SOCAP_TEST_RENAME_ONLY"] = "1"
    if wait is not None:
        env["SOCAP_LOCK_WAIT"] = str(wait)
    quiet = ["--quiet"] if args[0] == "run" else []
    return subprocess.Popen([sys.executable, "-m", "pipeline", *args, str(folder), *quiet],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            **popen)


def finish(proc: subprocess.Popen, timeout: float = 300) -> tuple[int, str]:
    out, err = proc.communicate(timeout=timeout)  # a generous hang guard, not a timing test
    return proc.returncode, err


#: steps of the run and the swap, and which set a kill there leaves
STEPS = [("locked", "old"), ("write-responses", "old"), ("write-report", "old"),
         ("staged", "old"), ("journal-tmp", "old"), ("journal", "new"),
         ("placed-processed", "new"), ("placed-reports", "new"), ("committed", "new"),
         ("cleaned", "new")]
#: the steps of the two-rename swap (no renameat2 exchange: macOS, Windows, NFS)
RENAME_STEPS = [("aside-processed", "new"), ("placed-processed", "new"),
                ("aside-reports", "new"), ("placed-reports", "new")]


@pytest.mark.parametrize("step,expected", STEPS, ids=[s for s, _ in STEPS])
def test_a_kill_at_each_step_leaves_one_complete_set(sets, study, step, expected):
    code, err = finish(socap(study, "run", hook=f"{step}=exit"))
    assert code == 86, err  # the hook ended it there
    if sys.platform.startswith("linux"):
        # folders are exchanged in one step: even before recovery, each folder is a complete
        # set (the two may be of different runs until recovery)
        for rel in DIRS:
            which(sets, study, rel)
    assert state(sets, study) == expected


@pytest.mark.parametrize("step,expected", RENAME_STEPS, ids=[s for s, _ in RENAME_STEPS])
def test_a_kill_during_the_two_rename_swap_is_recovered(sets, study, step, expected):
    code, err = finish(socap(study, "run", hook=f"{step}=exit", rename_only=True))
    assert code == 86, err
    assert state(sets, study) == expected


@pytest.mark.parametrize("rename_only", [False, True], ids=["exchange", "renames"])
def test_a_kill_during_recovery_is_recovered_by_the_next_command(sets, study, rename_only):
    code, _ = finish(socap(study, "run", hook="placed-processed=exit", rename_only=rename_only))
    assert code == 86
    assert (study / JOURNAL).exists()
    assert which(sets, study, "data/processed") == "new"
    assert snapshot(study, "reports") == sets["old"]["reports"]  # the mix recovery ends
    # socap validate recovers first; killed in the middle of it
    code, err = finish(socap(study, "validate", hook="recover-placed-reports=exit",
                             rename_only=rename_only))
    assert code == 86, err
    assert (study / JOURNAL).exists()
    code, err = finish(socap(study, "validate"))
    assert code == 0, err
    assert not (study / JOURNAL).exists()
    assert state(sets, study) == "new"


def test_random_kills_then_a_run_leaves_no_debris(sets, study):
    rng = random.Random(18)
    for _ in range(5):
        shutil.rmtree(study)
        shutil.copytree(sets["folder"], study)
        proc = socap(study, "run")
        time.sleep(rng.uniform(0.2, 4.0))
        proc.send_signal(signal.SIGKILL)
        finish(proc)
        state(sets, study)  # old or new, both folders from the same run
    # the next run cleans up whatever the kill left and writes the new set
    code, _ = finish(socap(study, "run", hook="journal-tmp=exit"))
    assert code == 86
    assert list(study.glob(STAGING_PREFIX + "*"))  # debris of the killed run
    code, err = finish(socap(study, "run"))
    assert code == 0, err
    assert listing(study) == sets["listing"]
    assert {rel: which(sets, study, rel) for rel in DIRS} == {"data/processed": "new",
                                                             "reports": "new"}


# ---- two runs at once ---------------------------------------------------------------------------


def test_a_second_run_refuses_or_waits_while_one_is_running(sets, study, tmp_path):
    release = tmp_path / "release"
    first = socap(study, "run", hook=f"staged=pause:{release}")
    paused = Path(str(release) + ".paused")
    deadline = time.monotonic() + 300
    while not paused.exists() and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert paused.exists(), first.communicate()
    # refused after a short wait: exit 2, the other run's pid and start time, nothing changed
    code, err = finish(socap(study, "run", wait=0.5))
    assert code == 2, err
    assert "another socap run of this study is in progress" in err
    assert f"pid {first.pid}" in err and "started 20" in err and "UTC" in err
    assert "Traceback" not in err
    assert snapshot(study, "reports") == sets["old"]["reports"]
    assert snapshot(study, "data/processed") == sets["old"]["data/processed"]
    # socap validate meanwhile leaves the running one's staging folder alone
    staged = list(study.glob(STAGING_PREFIX + "*"))
    assert len(staged) == 1
    code, err = finish(socap(study, "validate"))
    assert code == 0, err
    assert list(study.glob(STAGING_PREFIX + "*")) == staged
    # a patient one waits, says so, and runs once the first is done
    waiter = socap(study, "run", wait=300)
    deadline = time.monotonic() + 300
    line = ""
    while "waiting" not in line and time.monotonic() < deadline:
        line = waiter.stderr.readline()
        if not line and waiter.poll() is not None:
            break
    assert "waiting up to 300 s" in line and f"pid {first.pid}" in line
    release.touch()
    assert finish(first)[0] == 0
    code, err = finish(waiter)
    assert code == 0, err
    assert listing(study) == sets["listing"]
    assert state(sets, study) == "new"


def test_a_stale_lock_of_a_dead_process_is_taken_over(sets, study, capsys):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (study / LOCK).write_text(json.dumps({"pid": dead.pid, "host": "here",
                                          "started": "2026-01-01 00:00:00 UTC"}))
    os.environ["SOCAP_LOCK_WAIT"] = "0"
    try:
        assert main(["run", str(study), "--quiet"]) == 0, capsys.readouterr().err
    finally:
        del os.environ["SOCAP_LOCK_WAIT"]
    assert not (study / LOCK).exists()
    assert which(sets, study, "reports") == "new"


def test_a_file_system_without_locks_runs_with_a_note(sets, study, capsys, monkeypatch):
    import errno
    import fcntl

    def no_locks(fd, op):
        raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))

    monkeypatch.setattr(fcntl, "flock", no_locks)
    capsys.readouterr()
    assert main(["run", str(study), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "cannot lock files (No locks available)" in err, err
    assert which(sets, study, "reports") == "new"
    assert not (study / LOCK).exists()


# ---- full disk, read-only folder ----------------------------------------------------------------


@pytest.mark.parametrize("step,code,reason", [
    ("write-responses", "ENOSPC", "No space left on device"),
    ("write-report", "ENOSPC", "No space left on device"),
    ("staged", "EROFS", "Read-only file system"),
    ("journal-tmp", "EACCES", "Permission denied"),
    ("locked", "ENOSPC", "No space left on device"),
])
def test_a_full_or_read_only_disk_is_a_message_and_changes_nothing(sets, study, capsys,
                                                                    monkeypatch, step, code,
                                                                    reason):
    if step != "locked":
        monkeypatch.setenv("SOCAP_TEST_HOOK", f"{step}={code}")
    else:  # the lock file itself cannot be written
        import pipeline.atomic as atomic

        real_open = os.open

        def full(path, *a, **k):
            if str(path).endswith(LOCK):
                raise OSError(28, os.strerror(28), str(path))
            return real_open(path, *a, **k)

        monkeypatch.setattr(atomic.os, "open", full)
    capsys.readouterr()
    assert main(["run", str(study), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"cannot write the outputs in {study}: {reason}" in err, err
    if step == "write-responses":
        assert "writing data/processed/responses.parquet" in err
    assert "internal error" not in err and "Traceback" not in err
    for rel in DIRS:
        assert snapshot(study, rel) == sets["old"][rel]
    assert not [p for p in study.iterdir() if p.name.startswith((STAGING_PREFIX, JOURNAL, LOCK))]


def test_an_os_error_that_is_a_bug_stays_an_internal_error(sets, study, capsys, monkeypatch):
    """Only the machine's state (full, read-only, forbidden ...) is the user's to fix; a missing
    file while writing is socap's bug: exit 1, and still nothing changed."""
    monkeypatch.setenv("SOCAP_TEST_HOOK", "write-report=ENOENT")
    capsys.readouterr()
    assert main(["run", str(study), "--quiet"]) == 1
    assert "internal error" in capsys.readouterr().err
    for rel in DIRS:
        now = snapshot(study, rel)
        now.pop("socap-error.log", None)  # the crash log for the bug report
        assert now == sets["old"][rel]
    assert not [p for p in study.iterdir() if p.name.startswith((STAGING_PREFIX, JOURNAL, LOCK))]


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize("output", ["data/processed/responses.parquet",
                                    "data/processed/exclusions.csv", "reports/tables.xlsx",
                                    "reports/report.html", "reports/results.json"])
def test_a_real_full_disk_through_each_writer(sets, study, capsys, monkeypatch, output):
    """A real ENOSPC from the kernel: the staged output is a link to /dev/full, so pyarrow,
    pandas, zipfile and plain writes meet a full device as they would a full disk."""
    import pipeline.run as run

    real = run.new_staging

    def staging(folder):
        path = real(folder)
        (path / output).parent.mkdir(parents=True, exist_ok=True)
        (path / output).symlink_to("/dev/full")
        return path

    monkeypatch.setattr(run, "new_staging", staging)
    capsys.readouterr()
    assert main(["run", str(study), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"cannot write the outputs in {study}: No space left on device" in err, err
    assert "internal error" not in err and "Traceback" not in err
    for rel in DIRS:
        assert snapshot(study, rel) == sets["old"][rel]
    assert not [p for p in study.iterdir() if p.name.startswith((STAGING_PREFIX, JOURNAL, LOCK))]
    assert Path("/dev/full").is_char_device()


@pytest.mark.parametrize("where", ["reports", "data/processed"])
def test_a_file_where_an_output_folder_goes_is_refused(sets, study, capsys, where):
    """A real case as root (chmod does not stop root): a file where socap needs a folder."""
    keep = {rel: snapshot(study, rel) for rel in DIRS if rel != where}
    shutil.rmtree(study / where)
    (study / where).write_text("my notes\n")
    capsys.readouterr()
    assert main(["run", str(study), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"{study / where} is a file" in err and "Fix: rename or move the file" in err, err
    assert (study / where).read_text() == "my notes\n"
    for rel, snap in keep.items():
        assert snapshot(study, rel) == snap
    assert not list(study.glob(STAGING_PREFIX + "*"))


def test_socap_powers_outputs_survive_a_run(sets, study, capsys):
    """reports/power.json, power.html and the resumable .power-cache/ are socap power's: a
    run replaces reports/ with its own files and keeps those."""
    kept = {"power.json": b'{"designs": []}\n', "power.html": b"<html></html>\n",
            ".power-cache/replications.jsonl": b'{"r": 1}\n{"r": 2}\n'}
    for name, data in kept.items():
        (study / "reports" / name).parent.mkdir(parents=True, exist_ok=True)
        (study / "reports" / name).write_bytes(data)
    (study / "reports" / "figures" / "stale.svg").write_text("<svg/>")  # not kept
    assert main(["run", str(study), "--quiet"]) == 0, capsys.readouterr().err
    for name, data in kept.items():
        assert (study / "reports" / name).read_bytes() == data, name
    assert not (study / "reports" / "figures" / "stale.svg").exists()
    snap = snapshot(study, "reports")
    for name in kept:
        del snap[name]
    assert sorted(snap) == sorted(sets["new"]["reports"])


def test_folders_set_aside_by_earlier_versions_are_put_back_or_removed(sets, study):
    """socap before this protocol renamed the old folders aside (.reports.old-PID,
    data/.processed.old-PID) and could be killed before putting them back."""
    shutil.move(study / "reports", study / ".reports.old-4242")  # killed mid-swap: no reports/
    shutil.copytree(study / "data/processed", study / "data/.processed.old-4242")  # a leftover
    with lock_study(study, wait=0):
        done = recover(study)
    assert any("restored reports/" in line for line in done), done
    assert snapshot(study, "reports") == sets["old"]["reports"]
    assert snapshot(study, "data/processed") == sets["old"]["data/processed"]
    assert not list(study.glob("**/.*.old-*"))

