"""The `socap` command: run, validate, init, simulate, power (CONTRACT section 1).

Exit status: 0 done; 2 the user's input is wrong (one readable message on stderr naming the file,
and where it applies the sheet, row and column, and the fix -- no traceback); 1 an internal error
(a short message; the traceback goes to reports/socap-error.log for a bug report).

Only the standard library is imported at start-up, so ``socap --help`` answers at once; each
command imports what it needs.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from pathlib import Path

DESCRIPTION = """\
socap turns social-capital survey exports into statistical evidence a reviewer accepts:
reliability (alpha, omega), factor analysis (EFA, CFA with fit indices), scores aggregated to firms
and clusters (ICC, rwg), network measures from tie lists, and models of the catalytic
(moderating) effect of social capital on what networks do for innovation -- with a self-contained
HTML report, an xlsx workbook of every table and results.json.

Start here:
  socap run                  run the study in this folder (in the socap repository: the example)
  socap init my_region       start a new study from the template
  socap validate my_region   check a study's config and data without fitting anything
  socap simulate demo        write a synthetic study with known true parameters
  socap power my_region      how many clusters, firms, respondents the survey needs
"""

EPILOG = """\
exit status: 0 done, 2 your input needs fixing (the message says where and how), 1 internal error.
Documentation: README.md in the socap repository."""


def _parser() -> argparse.ArgumentParser:
    from pipeline import __version__

    p = argparse.ArgumentParser(
        prog="socap", description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"socap {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser(
        "run", help="run the whole pipeline and write the report",
        description="Run every stage for the study in STUDY (a folder holding study.yaml; default: "
        "the current folder) and write reports/report.html, reports/tables.xlsx, "
        "reports/results.json, reports/figures/ and data/processed/. A failed run leaves earlier "
        "outputs as they were.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("study", nargs="?", default=None, metavar="STUDY",
                     help="study folder (default: current folder)")
    run.add_argument("-q", "--quiet", action="store_true", help="print only the summary")

    val = sub.add_parser(
        "validate", help="check config, instrument and data without fitting anything",
        description="Read study.yaml, the instrument and every input file, map export columns to "
        "items and print what a run would do: files and layouts, rows, items matched, answers "
        "recoded, missing values by reason, rows the quality rules would drop, units and network "
        "size. Reports the same errors as `socap run`.")
    val.add_argument("study", nargs="?", default=None, metavar="STUDY",
                     help="study folder (default: current folder)")

    init = sub.add_parser(
        "init", help="start a new study folder from the template",
        description="Scaffold a new regional study in DIR: a commented study.yaml, the default "
        "social-capital instrument (YAML and XLSForm), data/raw/, data/processed/, reports/ and "
        "a short README for the survey team. Refuses to touch a non-empty DIR.")
    init.add_argument("dir", metavar="DIR", help="folder to create")

    sim = sub.add_parser(
        "simulate", help="write a synthetic study with known true parameters",
        description="Write a complete synthetic study (survey export, unit table, tie list, "
        "study.yaml, instrument) into DIR, drawn from a second-order factor model and a "
        "network/outcome model with a known catalytic effect, plus truth.json with every true "
        "parameter. `socap simulate DIR && socap run DIR` runs it.")
    sim.add_argument("dir", metavar="DIR", help="folder to write (must be empty or new)")
    sim.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    sim.add_argument("--regions", type=int, default=3, help="regions (default 3)")
    sim.add_argument("--clusters-per-region", type=int, default=4,
                     help="clusters per region (default 4)")
    sim.add_argument("--firms-per-cluster", type=int, default=25,
                     help="firms per cluster (default 25)")
    sim.add_argument("--respondents-per-firm", type=float, default=5.0,
                     help="mean respondents per firm, at least 1 each (default 5)")
    sim.add_argument("--format", choices=("xlsx", "csv", "parquet"), default="xlsx",
                     help="survey export format (default xlsx; csv or parquet for big studies)")
    sim.add_argument("--truth", choices=("sample", "latent"), default="sample",
                     help="what the outcome and ties depend on: 'sample' (default), the mean of "
                     "the firm's sampled respondents' latent social capital; 'latent', the firm's "
                     "latent mean, so that few respondents per firm measure it with sampling error")

    pw = sub.add_parser(
        "power", help="plan a survey: Monte Carlo power of the catalytic effect per design",
        description="Simulate studies with socap simulate's model for every design of a grid "
        "(clusters, firms per cluster, respondents per firm, effect, ICC, reliability), fit the "
        "study's catalytic model (the first of analysis.models, or power: model:) to each and "
        "report the share in which the interaction is significant. The grid comes from the "
        "power: section of study.yaml; the options below override it. Writes "
        "reports/power.json and reports/power.html; finished replications are kept in "
        "reports/.power-cache/, so an interrupted run continues where it stopped.")
    pw.add_argument("study", nargs="?", default=None, metavar="STUDY",
                    help="study folder (default: current folder)")
    grid = pw.add_argument_group("design grid (comma-separated values)")
    grid.add_argument("--clusters", metavar="N,N", help="clusters, e.g. 8,12,16")
    grid.add_argument("--firms", metavar="N,N", help="firms per cluster, e.g. 10,25")
    grid.add_argument("--respondents", metavar="M,M",
                      help="mean respondents per firm, e.g. 3,5")
    grid.add_argument("--effect", metavar="B,B",
                      help="the interaction (b_cat, per SD of degree and social capital)")
    grid.add_argument("--icc", metavar="X,X",
                      help="share of social-capital variance between firms, e.g. 0.4")
    grid.add_argument("--reliability", metavar="A,A", help="Cronbach's alpha of the items")
    pw.add_argument("--replications", type=int, metavar="R", help="simulated studies per design")
    pw.add_argument("--target", type=float, help="the power wanted (default 0.80)")
    pw.add_argument("--alpha", type=float, help="significance level (default 0.05)")
    pw.add_argument("--model", help="the model of analysis.models to plan for (default: the first)")
    pw.add_argument("-j", "--jobs", type=int, default=None, metavar="N",
                    help="local worker processes (default and 0: one per core; 1: none, all in "
                    "this process)")
    pw.add_argument("--scheduler", metavar="ADDRESS",
                    help="run on an existing Dask distributed cluster, e.g. tcp://10.0.0.5:8786 "
                    "(needs pip install \"socap[dask]\")")
    pw.add_argument("-q", "--quiet", action="store_true", help="no progress line")
    return p


def _error(message: str) -> None:
    print(f"socap: error: {message}", file=sys.stderr)


BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
                         "VECLIB_MAXIMUM_THREADS")


def _one_blas_thread() -> None:
    """One BLAS thread for the whole run, set before NumPy loads its BLAS (a variable the user
    set wins). socap's matrix work is small or memory-bound, where BLAS threads cost more than
    they save and make results depend on the core count (see
    :func:`pipeline.measure.moments.single_blas_thread`, which then has nothing left to do)."""
    import os  # noqa: PLC0415

    from pipeline import ONE_BLAS_THREAD_MARK  # noqa: PLC0415

    if "numpy" in sys.modules:  # too late to matter (socap used as a library)
        return
    for var in BLAS_THREAD_VARIABLES:
        os.environ.setdefault(var, "1")
    if all(os.environ[var] == "1" for var in BLAS_THREAD_VARIABLES):
        os.environ[ONE_BLAS_THREAD_MARK] = "1"


def main(argv: list[str] | None = None) -> int:
    _one_blas_thread()
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    from pipeline.errors import StudyError

    try:
        if args.command == "run":
            code = _run(args)
            if argv is None and code == 0:
                _exit_now(code)
            return code
        if args.command == "validate":
            return _validate(args)
        if args.command == "init":
            return _init(args)
        if args.command == "simulate":
            return _simulate(args)
        if args.command == "power":
            return _power(args)
    except StudyError as exc:
        _error(exc.format())
        return 2
    except KeyboardInterrupt:
        _error("interrupted; earlier outputs are unchanged")
        return 130
    except Exception:  # an internal error: a bug report, not the user's fault
        log = _write_crash_log(args)
        _error("internal error -- this is a bug in socap, not a problem with your data.\n"
               f"  The details are in {log}; please attach it to a bug report.")
        return 1
    return 0  # pragma: no cover


def _exit_now(code: int) -> None:
    """End the process without the interpreter's teardown.

    After a run every output is written and closed, and no thread is left; what remains is the
    interpreter freeing the run's objects one by one -- 0.5 s after a 10^6-response run (10^7
    references in object arrays), for nothing. Only for the command line (``main()`` called
    without arguments): tests and library callers get an ordinary return."""
    import os  # noqa: PLC0415

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except OSError:  # the reader went away (socap run | head): nothing left to tell it
            pass
    os._exit(code)


def _write_crash_log(args) -> Path:
    from datetime import datetime, timezone

    folder = Path(getattr(args, "study", None) or getattr(args, "dir", None) or ".")
    if folder.suffix in (".yaml", ".yml"):
        folder = folder.parent
    reports = folder / "reports"
    try:
        reports.mkdir(parents=True, exist_ok=True)
        log = reports / "socap-error.log"
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(f"--- {datetime.now(timezone.utc).isoformat()} socap {' '.join(sys.argv[1:])}\n")
            fh.write(_redacted(traceback.format_exc()))
        return log
    except OSError:
        traceback.print_exc()
        return Path("(stderr)")


def _redacted(text: str) -> str:
    """The traceback without e-mail addresses, IP addresses or phone numbers a message may
    quote from the data (reports/ never holds personal data)."""
    try:
        from pipeline.ingest.personal import redact  # noqa: PLC0415

        return redact(text)
    except Exception:  # noqa: BLE001 -- the log is written whatever happens
        return text


def _run(args) -> int:
    from pipeline.ingest import readahead

    readahead.start(args.study)  # a large csv export is parsed while pandas is imported
    from pipeline.run import run_study

    progress = None if args.quiet else (lambda msg: print(msg, flush=True))
    outcome = run_study(args.study, progress=progress)
    print()
    for line in outcome.summary:
        print(line)
    return 0


def _validate(args) -> int:
    from pipeline.validate import validate_study

    for line in validate_study(args.study):
        print(line)
    return 0


def _init(args) -> int:
    from pipeline.template import init_study

    written = init_study(args.dir)
    print(f"Created a new study in {args.dir}/:")
    for p in written:
        print(f"  {p.relative_to(args.dir).as_posix()}")
    print(f"\nNext: copy your survey export into {args.dir}/data/raw/, edit "
          f"{args.dir}/study.yaml, then run `socap validate {args.dir}`.")
    return 0


def _simulate(args) -> int:
    from pipeline.errors import StudyError
    from pipeline.simulate import SimulationSpec, simulate_study, write_study

    folder = Path(args.dir)
    if folder.exists() and any(folder.iterdir()):
        raise StudyError(f"{folder} exists and is not empty; socap simulate never overwrites files",
                         file=folder, fix="give a new folder name")
    for name in ("regions", "clusters_per_region", "firms_per_cluster"):
        if getattr(args, name) < 1:
            raise StudyError(f"--{name.replace('_', '-')} must be at least 1",
                             fix=f"e.g. --{name.replace('_', '-')} 2")
    if args.respondents_per_firm < 1:
        raise StudyError("--respondents-per-firm must be at least 1", fix="e.g. --respondents-per-firm 5")
    spec = SimulationSpec(seed=args.seed, regions=args.regions,
                          clusters_per_region=args.clusters_per_region,
                          firms_per_cluster=args.firms_per_cluster,
                          respondents_per_firm=args.respondents_per_firm,
                          survey_format=args.format, truth=args.truth)
    sim = simulate_study(spec)
    write_study(sim, folder)
    t = sim.truth["sizes"]
    print(f"Wrote a simulated study to {folder}/: {t['responses_total']} responses "
          f"({t['respondents_valid']} valid) from {t['firms']} firms in {t['clusters']} clusters "
          f"of {t['regions']} regions, {t['ties']} ties.")
    print(f"True parameters: {folder}/truth.json. Next: socap run {folder}")
    return 0


def _power(args) -> int:
    from pipeline.power import power_study, summary_lines

    overrides = {"clusters": args.clusters, "firms_per_cluster": args.firms,
                 "respondents_per_firm": args.respondents, "effect": args.effect,
                 "icc": args.icc, "reliability": args.reliability,
                 "replications": args.replications, "target": args.target, "alpha": args.alpha,
                 "model": args.model}
    if args.jobs is not None and args.jobs < 0:
        from pipeline.errors import StudyError

        raise StudyError(f"-j must be 0 (one per core) or more, not {args.jobs}", key="-j",
                         fix="e.g. -j 2")
    try:
        out = power_study(args.study, overrides, jobs=args.jobs, scheduler=args.scheduler,
                          progress=not args.quiet)
    except KeyboardInterrupt:
        _error("interrupted; the finished replications are kept in reports/.power-cache/ -- "
               "run the same command again to continue")
        return 130
    for line in summary_lines(out):
        print(line)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
