"""Read-ahead of a study's large csv exports while the interpreter is still importing pandas.

A `socap run` spends its first ~0.8 s importing pandas, SciPy and pydantic, all Python work
holding the GIL, before it reads study.yaml. Parsing a large csv export (0.7 s at 10^6
responses) is C++ work in pyarrow that releases the GIL: :func:`start`, called by the CLI before
those imports, guesses the exports from study.yaml (``survey.files``, else the csv/tsv/txt files
in data/raw/ that are not the unit table or the tie list -- what
:func:`pipeline.ingest.survey.survey_files` will choose) and parses those of at least
:data:`MIN_BYTES` in a background thread, with the same function the reader calls
(:func:`pipeline.ingest.arrowcsv.utf8_arrow_cells`). The reader then asks :func:`take` for a
file's result: it is used only when the file has the same size and modification time as when it
was read; any other file, or any failure here, is simply read as usual. Nothing here reports
errors: a study.yaml this cannot read is left to :func:`pipeline.config.study.read_study`.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

MIN_BYTES = 16 << 20  # below this the parse takes < 0.1 s: not worth a thread
SUFFIXES = (".csv", ".tsv", ".txt")

_lock = threading.Lock()
_pending: dict[str, threading.Event] = {}
_results: dict[str, tuple] = {}  # path -> ((size, mtime_ns), raw bytes, utf8_arrow_cells result)
_released = False  # release() was called: results still arriving are dropped


def start(folder: str | Path | None) -> None:
    """Parse the large csv exports of the study in ``folder`` in a background thread."""
    try:
        paths = _guess_exports(folder)
    except Exception:  # noqa: BLE001 -- read_study reports whatever is wrong
        return
    if not paths:
        return
    global _released
    with _lock:
        _released = False
        for p in paths:
            _pending[p] = threading.Event()
    threading.Thread(target=_work, args=(paths,), name="socap-readahead", daemon=True).start()


def take(path: Path) -> tuple[bytes, object] | None:
    """``(raw bytes, utf8_arrow_cells result)`` of a file read ahead and unchanged since, else
    None. Waits for the parse when it is still running; each result is handed out once."""
    key = _key(path)
    with _lock:
        event = _pending.get(key)
    if event is None:
        return None
    event.wait()
    with _lock:
        _pending.pop(key, None)
        found = _results.pop(key, None)
    if found is None:
        return None
    stamp, raw, result = found
    try:
        st = os.stat(key)
    except OSError:
        return None
    if (st.st_size, st.st_mtime_ns) != stamp:
        return None
    return raw, result


def release() -> None:
    """Drop whatever was read ahead and not taken (a guess that missed): its bytes and cells are
    not held for the rest of the run. A parse still running finishes and is dropped."""
    global _released
    with _lock:
        _released = True
        _results.clear()
        _pending.clear()


def _key(path) -> str:
    return os.path.realpath(path)


def _work(paths: list[str]) -> None:
    for p in paths:
        try:
            st = os.stat(p)
            with open(p, "rb") as fh:
                raw = fh.read()
            from pipeline.ingest.arrowcsv import utf8_arrow_cells  # noqa: PLC0415

            result = utf8_arrow_cells(raw, p.lower().endswith(".tsv"))
            with _lock:
                if not _released:
                    _results[p] = ((st.st_size, st.st_mtime_ns), raw, result)
        except Exception:  # noqa: BLE001 -- the reader reads it again and reports
            pass
        finally:
            with _lock:
                event = _pending.get(p)
            if event is not None:
                event.set()


def _guess_exports(folder) -> list[str]:
    """The csv exports of at least MIN_BYTES that survey_files() will most likely return."""
    target = Path(folder) if folder is not None else Path.cwd()
    file = target if target.is_file() or target.suffix.lower() in (".yaml", ".yml") \
        else target / "study.yaml"
    base = file.parent
    import yaml  # noqa: PLC0415 -- PyYAML's C loader when present

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with open(file, encoding="utf-8") as fh:
        config = yaml.load(fh, Loader=loader)  # noqa: S506 -- a safe loader
    if not isinstance(config, dict):
        return []

    def section(name):
        value = config.get(name)
        return value if isinstance(value, dict) else {}

    def resolve(rel) -> Path:
        q = Path(str(rel)).expanduser()
        return q if q.is_absolute() else base / q

    listed = section("survey").get("files")
    if isinstance(listed, str):
        listed = [listed]
    if listed:
        candidates = [resolve(f) for f in listed]
    else:
        taken = {_key(resolve(v)) for v in (section("units").get("file"),
                                              section("network").get("edges")) if v}
        raw_dir = base / "data" / "raw"
        candidates = [q for q in sorted(raw_dir.glob("*")) if _key(q) not in taken
                      and not q.name.startswith((".", "~$"))] if raw_dir.is_dir() else []
    out = []
    for q in candidates:
        if q.suffix.lower() in SUFFIXES and q.is_file() and q.stat().st_size >= MIN_BYTES:
            out.append(_key(q))
    return out
