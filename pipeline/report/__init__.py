"""Writing what reviewers read: results.json, report.html, tables.xlsx and figures.

Every table of the report is built once, from the results dictionary, by :mod:`.tables`; the
HTML report and the xlsx workbook both render those same tables, so a number in the report is
the number in results.json. Figures are drawn by :mod:`.figures` on the small SVG/PNG canvas of
:mod:`.svgplot` (no matplotlib on the run path: see that module for the measurements), the
methods section and its references by :mod:`.methods`.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.jsonvalues import plain
from pipeline.report.jsonout import write_results, write_schema


def write_reproduce(results: dict, artefacts: dict, folder: Path):
    """reports/reproduce.R now, and the csv companions it reads (reports/reproduce/) in a
    background thread (arrow's csv writer releases the GIL: at 10^6 respondents the ~1 s of
    formatting overlaps the workbook and the HTML). Returns the thread's Future; its
    ``result()`` re-raises a failure."""
    from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415

    from pipeline.report.rcode import reproduce_r, write_companions  # noqa: PLC0415

    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="socap-reproduce")
    future = pool.submit(write_companions, results, artefacts, folder / "reproduce")
    pool.shutdown(wait=False)
    (folder / "reproduce.R").write_text(reproduce_r(results), encoding="utf-8")
    return future


def write_report(results: dict, folder: Path, *, artefacts: dict | None = None,
                 instrument=None, png=None) -> Path:
    """Write results.json (with results.schema.json beside it), tables.xlsx, figures/,
    reproduce.R (with the csv companions it reads, in reproduce/) and report.html into
    ``folder``.

    Parameters
    ----------
    results
        The run's results dictionary (written as results.json; every table comes from it).
    folder
        The reports folder (created if needed).
    artefacts
        Objects of the run the figures draw from: ``ties`` (TieList), ``units`` (one row per
        unit), ``cleaned`` (for the group column), ``models`` (fitted ModelResult objects).
        Without them the report has the tables and the scree plot only.
    instrument
        The study's instrument (unused: item wording travels in ``results['items']``).
    png
        A started :class:`pipeline.report.pngworker.PngWorker` to rasterise the figures' PNG
        copies in a second process; without it they are rasterised in a thread of this one.

    Returns
    -------
    Path
        The path of report.html.
    """
    from pipeline.report.figures import make_figures  # noqa: PLC0415
    from pipeline.report.html import write_html  # noqa: PLC0415
    from pipeline.report.tables import report_tables  # noqa: PLC0415
    from pipeline.report.xlsx import write_xlsx  # noqa: PLC0415

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    # one conversion for every writer: NaN/inf -> None, numpy -> Python (a NaN reaching the
    # HTML's highlights would print as 'nan')
    results = plain(results)
    # numbers the report shows that the stage dicts may lack (filled only where absent) and
    # the schema reference, before results.json is written
    from pipeline.report.derived import complete_results  # noqa: PLC0415
    from pipeline.report.schema import stamp  # noqa: PLC0415

    results = stamp(complete_results(results, artefacts or {}))
    # the figures' PNG copies (~0.2 s of Python and Pillow work holding the GIL) are
    # rasterised by a second process while results.json, the workbook and the HTML are
    # written; without one, by a thread (zlib and resampling release the GIL)
    own = png is None
    if own:
        from pipeline.report.pngworker import PngThread  # noqa: PLC0415

        png = PngThread()
    try:
        figures = make_figures(results, folder / "figures", artefacts=artefacts or {},
                               submit=png.submit)
        write_results(results, folder / "results.json")
        write_schema(folder)
        companions = write_reproduce(results, artefacts or {}, folder)
        tables = report_tables(results)
        write_xlsx(tables, folder / "tables.xlsx")
        html = write_html(results, tables, figures, folder / "report.html")
        companions.result()
    except BaseException:
        if own:
            png.close()
        raise
    png.finish()  # waits for every PNG (rasterised here if a worker process failed)
    return html
