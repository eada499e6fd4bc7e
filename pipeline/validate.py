"""`socap validate`: what a run would do, without fitting anything.

Reads study.yaml, the instrument and every input file through the same functions as
:func:`pipeline.run.run_study` (so it raises the same errors), maps columns to items, applies the
coding and quality rules, makes every check a run makes before fitting
(:func:`pipeline.checks.prefit_checks`, the same function run calls), and describes the result
per file -- with the platform layout detected and why.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.checks import prefit_checks
from pipeline.config.study import relative_path
from pipeline.config.study import read_study
from pipeline.run import read_inputs


def validate_study(folder: Path | str | None = None) -> list[str]:
    """What a run would do, without fitting anything (``socap validate``).

    Raises
    ------
    StudyError
        The same errors as :func:`run_study` raises before fitting.
    """
    from pipeline.clean import RULE_LABELS, clean_responses
    from pipeline.ingest.layouts import LAYOUT_NAMES

    study = read_study(folder)
    recovered = recover_outputs(study.folder)
    inputs = read_inputs(study)
    cfg = study.config
    inst = inputs.instrument
    cleaned = clean_responses(inputs.raw, inst, cfg, study_file=str(study.file))
    report = prefit_checks(inputs, cleaned)
    out = [f"Outputs: {line}." for line in recovered]
    out += [f"Study: {cfg.title}  ({relative_path(study.file, Path.cwd())})",
           f"Instrument: {inst.name} {inst.version} -- {len(inst.constructs)} constructs, "
           f"{len(inst.item_ids)} items ({sum(i.reverse for i in inst.items)} reverse-keyed)"
           + (f", higher-order: {', '.join(inst.higher_order)}" if inst.higher_order else "")]
    if cfg.survey.files:
        out.append("Survey exports (survey.files):")
    else:
        out.append("Survey exports (survey.files not set: every export in data/raw/ other than the "
                   "unit table and tie list was taken):")
    by_file = {f["file"]: f for f in cleaned.by_file}
    for f in inputs.raw.files:
        name = Path(f.path).name
        extra = ", ".join(x for x in (
            f"sheet '{f.sheet}'" if f.sheet else "",
            f"encoding {f.encoding}" if f.encoding else "",
            f"delimiter {_delim(f.delimiter)}" if f.delimiter else "",
            f"{f.header_rows} header rows" if f.header_rows not in (0, 1) else "") if x)
        out.append(f"  {relative_path(Path(f.path), study.folder)}: layout {f.layout}, {f.rows} rows, "
                   f"{f.columns} columns" + (f" ({extra})" if extra else ""))
        out.append(f"    layout: {LAYOUT_NAMES.get(f.layout, f.layout)}"
                   + (f" ({f.layout_reason})" if getattr(f, "layout_reason", "") else ""))
        b = by_file.get(name)
        if b is None:
            continue
        renamed = [f"{c} -> {i}" for i, c in b.get("columns", {}).items()]
        out.append(f"    items matched: {b['items_matched']} of {len(inst.item_ids)}"
                   + (f" ({', '.join(renamed[:4])}"
                      + (f", ... {len(renamed) - 4} more" if len(renamed) > 4 else "") + ")"
                      if renamed else "")
                   + (f"; no column for: {', '.join(b['items_unmatched'])}"
                      if b["items_unmatched"] else ""))
        out.append(f"    answers recoded from label text: {b['from_text']}"
                   + (f"; through SPSS/Stata value labels: {b['from_labels']}"
                      if b["from_labels"] else ""))
        out.append("    missing answers: " + (", ".join(f"{k}: {v}" for k, v in b["missing"].items())
                                              or "none"))
        dropped = sum(b["excluded"].values())
        out.append(f"    quality rules would drop {dropped} of {b['rows']} rows"
                   + (": " + ", ".join(f"{k} {v}" for k, v in b["excluded"].items() if v)
                      if dropped else "") + f"; {b['kept']} kept")
    if inputs.raw.personal_data_dropped:
        why = getattr(inputs.raw, "personal_data_reasons", None) or {}
        out.append("  personal data columns dropped at ingest (contents never kept): "
                   + ", ".join(f"{c} (by {why[c]['by']}: {why[c]['what']})" if c in why else c
                               for c in inputs.raw.personal_data_dropped))
    renamed = {i: c for i, c in cleaned.item_columns.items() if i != c}
    out.append(f"Items matched: {len(cleaned.item_columns)} of {len(inst.item_ids)}"
               + (" (" + ", ".join(f"{c} -> {i}" for i, c in renamed.items()) + ")"
                  if renamed and len(inputs.raw.files) == 1 else ""))
    rec = cleaned.recoding
    out.append(f"Answers recoded from label text: {int(rec['from_text'].sum())}"
               + (f", through value labels: {int(rec['from_labels'].sum())}"
                  if "from_labels" in rec and rec["from_labels"].sum() else "") + "; "
               f"reverse-keyed items reversed: {int(rec['reversed'].sum())}")
    reasons = {c.removeprefix("missing: "): int(rec[c].sum()) for c in rec.columns
               if c.startswith("missing: ")}
    total_cells = len(inputs.raw.data) * len(cleaned.item_columns)
    out.append("Missing answers: " + (", ".join(f"{k}: {v}" for k, v in reasons.items()) or "none")
               + (f" ({sum(reasons.values()) / total_cells:.1%} of item answers)" if total_cells else ""))
    s = cleaned.sample
    out.append(f"Quality rules would drop {s['excluded']} of {s['rows_read']} responses:")
    for rule, n in s["excluded_by_rule"].items():
        out.append(f"  {RULE_LABELS[rule]}: {n}" + ("" if getattr(cfg.quality, rule) is not False else " (switched off)"))
    out.append(f"Respondents kept: {s['respondents']}")
    if cleaned.unit_column:
        r = cleaned.responses
        n_units = r[cleaned.unit_column].nunique()
        out.append(f"Units ({cleaned.unit_column}): {n_units}"
                   + (f" in {r[cleaned.group_column].nunique()} groups ({cleaned.group_column})"
                      if cleaned.group_column else ""))
        if inputs.unit_table is not None:
            known = set(inputs.unit_table[cfg.units.id].astype(str))
            absent = sorted(set(r[cleaned.unit_column].dropna()) - known)
            out.append(f"Unit table: {len(inputs.unit_table)} rows, columns "
                       + ", ".join(c for c in inputs.unit_table.columns if c != cfg.units.id)
                       + (f"; {len(absent)} survey units missing from it: {', '.join(absent[:10])}"
                          if absent else "; every survey unit is in it"))
    if inputs.ties is not None:
        edges = inputs.ties.edges
        nodes = set(edges["source"]) | set(edges["target"])
        out.append(f"Network: {len(edges)} ties among {len(nodes)} nodes "
                   f"({'directed' if cfg.network.directed else 'undirected'})")
        for note in getattr(inputs.ties, "notes", ()):
            out.append(f"  {note}")
    for note in report.network_notes:
        out.append(f"  {note}")
    if cfg.analysis.efa is False:
        out.append("EFA: skipped (analysis: efa: false)")
    elif getattr(cfg.analysis.efa, "correlation", "pearson") == "polychoric":
        out.append("EFA: on polychoric correlations (analysis: efa: correlation: polychoric)")
    if cfg.analysis.cfa is False and cfg.scoring.method != "factor":
        out.append("CFA: skipped (analysis: cfa: false)")
    elif getattr(cfg.analysis.cfa, "estimator", "ml") == "wlsmv":
        out.append("CFA: WLSMV on the ordered items (polychorics, DWLS, scaled-shifted test; "
                   "lavaan's estimator = \"WLSMV\")")
    else:
        line = _cfa_line(cfg, inst, cleaned)
        if line:
            out.append(line)
    for m in cfg.analysis.models:
        out.append(f"Model '{m.name}' ({m.level} level, {m.family}): {m.formula} -- every column "
                   "found")
    for note in list(inputs.raw.notes) + list(cleaned.warnings) + list(
            report.instrument_warnings):
        out.append(f"Note: {note}")
    if cfg.power is not None:
        pw = cfg.power
        n = 1
        for values in (pw.clusters, pw.firms_per_cluster, pw.respondents_per_firm, pw.effect,
                       pw.icc, pw.reliability):
            n *= len(values)
        model = pw.model or (cfg.analysis.models[0].name if cfg.analysis.models else "(none)")
        out.append(f"Power plan (socap power): {n} design{'s' if n != 1 else ''} x "
                   f"{pw.replications} replications of model '{model}', target {pw.target:g}, "
                   f"alpha {pw.alpha:g}")
    out.append("No problems found: `socap run` can proceed.")
    return out


def _cfa_line(cfg, inst, cleaned) -> str | None:
    """What analysis.cfa asks for, when it is not the default ML + listwise (for auto: the
    estimator it will choose on these data, and why)."""
    opts = cfg.analysis.cfa_settings
    if opts is None:
        return None
    estimator, missing, reason = opts.estimator, opts.resolved_missing, None
    if estimator == "auto":
        from pipeline.measure.cfa import choose_estimator  # noqa: PLC0415

        cons = {c: [i for i in its if i in cleaned.responses.columns]
                for c, its in inst.construct_items().items()}
        estimator, auto_missing, reason = choose_estimator(cleaned.responses, cons, opts.cluster)
        missing = missing or auto_missing
    if estimator == "ml" and missing == "listwise":
        return None
    name = {"ml": "ML", "mlr": "MLR (Huber-White SEs, Yuan-Bentler scaled test, robust "
            "CFI/TLI/RMSEA)", "wlsmv": "WLSMV"}[estimator]
    text = f"CFA: {name}; missing data: " + ("FIML (lavaan's missing = \"ml\")"
                                             if missing == "fiml" else "listwise")
    if opts.cluster:
        text += f"; cluster-robust SEs over '{opts.cluster}'"
    return text + (f". {reason}" if reason else "")


def _delim(d: str) -> str:
    return {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}.get(d, repr(d))


def recover_outputs(folder: Path) -> list[str]:
    """Complete or roll back what an interrupted run left in the study folder (see
    :func:`pipeline.atomic.recover`), when no run holds the study's lock; nothing when one does
    (that run owns its staging folder) or the folder is read-only."""
    from pipeline.atomic import lock_study, recover
    from pipeline.errors import StudyError

    try:
        lock = lock_study(folder, wait=0)
    except (StudyError, OSError):
        return []
    try:
        return recover(folder)
    except OSError:
        return []
    finally:
        lock.release()
