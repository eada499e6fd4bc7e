"""The figures' PNG copies rasterised in a second process: the same files as in-process, and
in-process whenever the worker fails."""

from __future__ import annotations

import subprocess

import pytest

from pipeline.report import pngworker
from pipeline.report.svgplot import Canvas


def _canvas(label: str) -> Canvas:
    c = Canvas(320, 200, f"test {label}")
    c.line(10, 190, 300, 10, color="#1f77b4", width=2.0)
    c.text(40, 40, f"rasterised elsewhere: {label} é", size=14)
    return c


def _expected(tmp_path, canvases):
    out = {}
    for key, c in canvases.items():
        path = tmp_path / f"ref_{key}.png"
        c.png(path)
        out[key] = path.read_bytes()
    return out


def test_worker_writes_the_same_pngs(tmp_path):
    canvases = {k: _canvas(k) for k in ("a", "b", "c")}
    expected = _expected(tmp_path, canvases)
    worker = pngworker.PngWorker()
    for key, c in canvases.items():
        worker.submit(c, tmp_path / f"{key}.png")
    worker.finish()
    assert not worker.fallback  # the child did the work
    for key in canvases:
        assert (tmp_path / f"{key}.png").read_bytes() == expected[key]


def test_worker_that_cannot_start_rasterises_here(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("no processes here")

    monkeypatch.setattr(subprocess, "Popen", refuse)
    canvases = {"a": _canvas("a")}
    expected = _expected(tmp_path, canvases)
    worker = pngworker.PngWorker()
    worker.submit(canvases["a"], tmp_path / "a.png")
    worker.finish()
    assert worker.fallback and (tmp_path / "a.png").read_bytes() == expected["a"]


class _LocalCanvas(Canvas):
    """A canvas the child cannot unpickle (this test module is not importable there)."""


def test_worker_that_dies_is_replaced_by_this_process(tmp_path):
    good, bad = _canvas("good"), _LocalCanvas(320, 200, "local")
    bad.text(20, 20, "only the parent knows this class", size=12)
    worker = pngworker.PngWorker()
    worker.submit(good, tmp_path / "good.png")
    worker.submit(bad, tmp_path / "bad.png")
    worker.finish()
    assert worker.fallback
    assert (tmp_path / "good.png").stat().st_size > 500
    assert (tmp_path / "bad.png").stat().st_size > 500


def test_close_stops_a_worker_without_waiting(tmp_path):
    worker = pngworker.PngWorker()
    proc = worker._proc
    worker.submit(_canvas("x"), tmp_path / "x.png")
    worker.close()
    assert proc is None or proc.poll() is not None


def test_run_uses_the_worker(study_copy):
    # the pipeline starts the worker at the CFA stage and the report's PNGs come from it
    from pipeline.run import run_study

    created = []
    original = pngworker.PngWorker.__init__

    def spy(self):
        original(self)
        created.append(self)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pngworker.PngWorker, "__init__", spy)
        run_study(study_copy)
    assert len(created) == 1 and not created[0].fallback
    pngs = sorted(p.name for p in (study_copy / "reports" / "figures").glob("*.png"))
    assert pngs and all((study_copy / "reports" / "figures" / p).stat().st_size > 1000
                        for p in pngs)
