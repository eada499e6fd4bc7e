"""The figures' PNG copies rasterised in a second process, on the machine's other core.

Rasterising is Python and Pillow work that holds the GIL (about 0.2 s for a study's four figures):
a thread cannot run it beside the report's HTML and workbook, a process can. :class:`PngWorker`
starts ``python -m pipeline.report.pngworker`` early in the run (it imports Pillow and NumPy while
the analysis goes on), sends it each :class:`~pipeline.report.svgplot.Canvas` with the path of its
PNG as it is drawn, and :meth:`PngWorker.finish` waits for the files. Any failure -- the process
cannot start, dies, reports an error or does not finish within :data:`TIMEOUT` -- makes
:meth:`~PngWorker.finish` rasterise every PNG of the run in this process instead, so the files are
always the ones :meth:`Canvas.png` writes (the same function runs on both sides).

The protocol on the pipes is pickle, between socap and the child it started.
"""

from __future__ import annotations

import os
import pickle
import queue
import subprocess
import sys
import threading
from pathlib import Path

TIMEOUT = 120.0  # seconds to wait for the worker once every figure is sent


class PngWorker:
    """A child process rasterising canvases; use :meth:`submit` then :meth:`finish` once."""

    def __init__(self) -> None:
        self._jobs: list[tuple[object, Path]] = []
        self.fallback = False  # True once finish() had to rasterise in this process
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._proc = None
        self._writer = None
        try:
            package_root = str(Path(__file__).resolve().parents[2])
            env = dict(os.environ)
            env["PYTHONPATH"] = os.pathsep.join(
                [package_root] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "pipeline.report.pngworker"], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
        except (OSError, ValueError):
            self._proc = None
            return
        # jobs are written by a thread: a large canvas must not block the report while the
        # child is still importing (the pipe holds 64 KB)
        self._writer = threading.Thread(target=self._write, name="socap-png-writer",
                                        daemon=True)
        self._writer.start()

    def submit(self, canvas, path: Path) -> None:
        """Rasterise ``canvas`` into ``path`` (now or in :meth:`finish`)."""
        self._jobs.append((canvas, Path(path)))
        if self._proc is not None:
            self._queue.put((canvas, str(path)))

    def finish(self) -> None:
        """Wait for every submitted PNG; rasterise them here if the worker failed."""
        ok = False
        if self._proc is not None:
            self._queue.put(None)
            self._writer.join(TIMEOUT)  # the writer closes the child's stdin when done
            if not self._writer.is_alive():
                self._proc.stdin = None  # closed by the writer: communicate() only reads
                try:
                    out, _ = self._proc.communicate(timeout=TIMEOUT)
                    ok = (self._proc.returncode == 0
                          and _results(out) == [None] * len(self._jobs))
                except (subprocess.TimeoutExpired, OSError, ValueError, pickle.PickleError,
                        EOFError):
                    ok = False
            self._stop()
        if not ok and self._jobs:
            self.fallback = True
            for canvas, path in self._jobs:
                canvas.png(path)
        self._jobs = []

    def close(self) -> None:
        """Stop the worker without waiting for results (a failed run)."""
        if self._proc is not None:
            self._queue.put(None)
            self._stop()

    def _stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pipe in (proc.stdout,):
            try:
                if pipe is not None:
                    pipe.close()
            except OSError:
                pass

    def _write(self) -> None:
        stdin = self._proc.stdin
        try:
            while True:
                job = self._queue.get()
                if job is None:
                    break
                pickle.dump(job, stdin, protocol=pickle.HIGHEST_PROTOCOL)
                stdin.flush()
        except (OSError, ValueError):  # the worker died: finish() rasterises here
            pass
        finally:
            try:
                stdin.close()
            except OSError:
                pass


class PngThread:
    """:class:`PngWorker`'s interface on a thread of this process (library use of
    :func:`pipeline.report.write_report`, where no worker was started)."""

    def __init__(self) -> None:
        from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415

        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="socap-png")
        self._jobs: list = []

    def submit(self, canvas, path: Path) -> None:
        self._jobs.append(self._pool.submit(canvas.png, Path(path)))

    def finish(self) -> None:
        """Wait for every PNG; raise the first error."""
        self.close()
        for job in self._jobs:
            if job.exception() is not None:
                raise job.exception()

    def close(self) -> None:
        """Wait for the PNGs under way, raising nothing (the caller has an error to report)."""
        self._pool.shutdown(wait=True)


def _results(out: bytes) -> list:
    import io  # noqa: PLC0415

    buf, results = io.BytesIO(out), []
    while buf.tell() < len(out):
        results.append(pickle.load(buf))
    return results


def main() -> int:
    """The worker: rasterise each ``(canvas, path)`` read from stdin; one result per job on
    stdout (None, or the error's text)."""
    # imported before the first job arrives, while the parent is still analysing
    from PIL import Image, ImageDraw, ImageFont  # noqa: F401

    from pipeline.report import svgplot  # noqa: F401

    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while True:
        try:
            job = pickle.load(stdin)
        except EOFError:
            break
        canvas, path = job
        try:
            canvas.png(Path(path))
            result = None
        except Exception as exc:  # noqa: BLE001 -- reported to the parent, which redoes it
            result = f"{type(exc).__name__}: {exc}"
        pickle.dump(result, stdout, protocol=pickle.HIGHEST_PROTOCOL)
        stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
