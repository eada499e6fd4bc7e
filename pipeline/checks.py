"""The checks a run makes before it fits anything -- one copy, called by :func:`pipeline.run.analyse`
right after the cleaning and by ``socap validate`` (:mod:`pipeline.validate`), so that validate
refuses exactly what run would refuse (issue 17: it passed studies that run then refused).

:func:`prefit_checks` runs them all: enough respondents for the items; the EFA's items and
number of factors (``analysis.efa: false`` switches it off); every column a model names exists
at its level, a logit model's outcome is binary as written, and the columns a formula reads hold
no 'nan'/'inf' cells (named with file, row and column); the invariance column; every
node of the tie list is a unit or an institution; every survey unit is in the unit table. It
returns the caveats that are warnings, not errors (constructs of fewer than three items, tie
nodes that are neither units nor institutions).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from pipeline.config.study import Study
from pipeline.errors import ProblemList, StudyError, did_you_mean

if TYPE_CHECKING:  # pragma: no cover
    from pipeline.run import Inputs


@dataclass(frozen=True)
class PrefitReport:
    """What the checks found that is not an error: ``instrument_warnings`` (run numbers them
    with the cleaning's warnings) and ``network_notes`` (run reports them at the network
    stage; validate prints both)."""

    instrument_warnings: tuple[str, ...] = ()
    network_notes: tuple[str, ...] = field(default_factory=tuple)


def prefit_checks(inputs: "Inputs", cleaned) -> PrefitReport:
    """Every check :func:`pipeline.run.analyse` makes before fitting (module docstring).

    Raises
    ------
    StudyError
        The first failing check's problems (each check reports all of its own at once).
    """
    study = inputs.study
    cfg = study.config
    responses = cleaned.responses
    items = cleaned.items
    if len(responses) <= len(items):
        raise StudyError(
            f"only {len(responses)} respondents are kept for {len(items)} items: reliability and "
            "factor analysis need more respondents than items (ideally 5-10 per item)",
            file=", ".join(sorted({f.path for f in inputs.raw.files})), key="quality",
            fix="check that the whole export was read (sheet, layout) and how many responses the "
            "quality rules dropped (socap validate); or collect more responses")
    check_efa(study, len(items))
    check_model_columns(study, model_columns(inputs, cleaned))
    check_model_outcomes(study, inputs, cleaned)
    check_model_values(study, inputs, cleaned)
    if cfg.analysis.invariance is not False:
        invariance_column(cfg, cleaned, responses, study)
    cfa_cluster_column(cfg, cleaned, responses, study)
    units = survey_units(cleaned, cfg)
    if inputs.unit_table is not None and cleaned.unit_column:
        check_units_in_table(units, responses, cleaned.unit_column, inputs.unit_table, study)
    notes: list[str] = []
    if inputs.ties is not None:
        node_ids = (list(inputs.unit_table[cfg.units.id].astype(str))
                    if inputs.unit_table is not None else units)
        notes = check_tie_nodes(inputs.ties, node_ids, cfg, study,
                                has_unit_table=inputs.unit_table is not None)
    return PrefitReport(instrument_warnings=tuple(construct_size_warnings(inputs.instrument)),
                        network_notes=tuple(notes))


def construct_size_warnings(instrument) -> list[str]:
    """A construct of fewer than three items: its reliability and its own measurement model
    are weak (omega and a one-factor CFA need three items to be identified)."""
    out = []
    for name, c in instrument.constructs.items():
        k = len(c.items)
        if k < 3:
            out.append(f"Construct '{name}' has {k} item{'s' if k != 1 else ''}: with fewer than "
                       "three items omega is not computed, alpha rests on "
                       + ("one correlation" if k == 2 else "nothing")
                       + ", and its factor is identified only through the other constructs; "
                       "three or more items per construct are the usual minimum.")
    return out


def check_efa(study: Study, n_items: int) -> None:
    """The EFA needs at least three items and fewer factors than items; the message names
    ``analysis.efa: false`` (which skips it)."""
    e = study.config.analysis.efa
    if e is False or e is None:
        return
    if n_items < 3:
        raise StudyError(f"exploratory factor analysis needs at least 3 items; the instrument "
                         f"has {n_items}", file=study.file, key="analysis.efa",
                         fix="set analysis: efa: false to skip it (the CFA and the scores do "
                         "not need it)")
    if isinstance(e.n_factors, int) and e.n_factors >= n_items:
        raise StudyError(f"{e.n_factors} factors cannot be extracted from {n_items} items",
                         file=study.file, key="analysis.efa.n_factors",
                         fix=f"use at most {n_items - 1} factors, n_factors: auto, or "
                         "analysis: efa: false to skip the EFA")


def survey_units(cleaned, cfg) -> list[str]:
    """The units a run aggregates: survey units with at least ``units.min_respondents``."""
    if not cleaned.unit_column:
        return []
    counts = cleaned.responses[cleaned.unit_column].dropna().astype(str).value_counts()
    need = cfg.units.min_respondents if cfg.units else 1
    return sorted(counts.index[counts >= need])


def check_units_in_table(units, responses, unit_col, table, study) -> None:
    """Every survey unit the run aggregates has a row in the unit table."""
    known = set(table[study.config.units.id].astype(str))
    missing = [u for u in units if u not in known]
    if not missing:
        return
    problems = ProblemList()
    rows = responses.loc[responses[unit_col].astype(str).isin(missing[:20])]
    col = rows[unit_col].astype(str)
    for u in missing[:20]:
        r = rows.loc[col == u].iloc[0]
        problems.add(f"unit '{u}' answers the survey but has no row in the unit table "
                     f"({study.config.units.file}); {did_you_mean(u, sorted(known)[:5000])}",
                     file=r["source_file"], row=int(r["source_row"]), column=unit_col,
                     fix="add the unit to the unit table or correct the id in the export")
    if len(missing) > 20:
        problems.add(f"... and {len(missing) - 20} more units missing from the unit table")
    problems.raise_if_any("Survey units are missing from the unit table:")


def check_model_outcomes(study: Study, inputs: "Inputs", cleaned) -> None:
    """A logit model's outcome, where it is a column of the unit table or the survey: two
    values, coded 0/1 -- or written ``factor(y)``, which models the second level against the
    first as R's ``glm(factor(y) ~ ..., family = binomial)`` does. A 1/2-coded outcome is
    refused with the ``factor()`` form as the fix (R's glm refuses it too: "y values must be
    0 <= y <= 1")."""
    from pipeline.models import parse_formula  # noqa: PLC0415
    from pipeline.models.formula import FormulaSyntaxError  # noqa: PLC0415

    problems = ProblemList()
    for i, m in enumerate(study.config.analysis.models):
        if m.family != "logit":
            continue
        try:
            form = parse_formula(m.formula)
        except FormulaSyntaxError:
            continue  # check_model_columns reported it
        resp = form.response
        if resp is None or len(resp.columns) != 1:
            continue
        col = resp.columns[0]
        table = None
        if m.level == "unit" and inputs.unit_table is not None and col in inputs.unit_table:
            table = inputs.unit_table
        elif m.level == "respondent" and col in cleaned.responses:
            table = cleaned.responses
        if table is None:
            continue
        problem = logit_outcome_problem(table[col], col, resp.force_factor, m.formula)
        if problem:
            problems.add(problem[0], file=str(study.file), key=f"analysis.models[{i}].formula",
                         fix=problem[1])
    problems.raise_if_any("Model outcomes do not fit their family:")


#: cells among numbers that are not numbers a model can use: nan/inf as Python, R or a
#: spreadsheet write them, and Excel's error values (a formula that failed)
_NOT_FINITE = r"[+-]?(?:nan|inf|infinity)|#(?:div/0!|n/a|value!|ref!|name\?|num!|null!)"


def check_model_values(study: Study, inputs: "Inputs", cleaned) -> None:
    """The columns a model's formula reads from the unit table or the survey hold numbers it
    can use: a cell 'nan', 'NaN', 'inf', '-Infinity' or an Excel error ('#DIV/0!') among
    numbers (or an infinite number) is
    named with its file, row and column -- instead of the column becoming categorical ('nan' is
    text) or the fit failing. Raises StudyError listing each column's first such cell."""
    from pipeline.models import parse_formula  # noqa: PLC0415
    from pipeline.models.formula import FormulaSyntaxError  # noqa: PLC0415

    problems = ProblemList()
    for i, m in enumerate(study.config.analysis.models):
        try:
            form = parse_formula(m.formula)
        except FormulaSyntaxError:
            continue  # check_model_columns reported it
        role = {c: "outcome" for c in (form.response.columns if form.response else ())}
        for col in form.columns:
            role.setdefault(col, "predictor")
        for col, what in role.items():
            if m.level == "unit" and inputs.unit_table is not None and col in inputs.unit_table:
                table = inputs.unit_table
                source = table.attrs.get("source_file") or str(study.path(study.config.units.file))
                files = np.full(len(table), source, dtype=object)
                rows = np.asarray(table.attrs.get("source_rows", np.arange(len(table)) + 2))
            elif m.level == "respondent" and col in cleaned.responses:
                table = cleaned.responses
                if "source_file" not in table or "source_row" not in table:
                    continue
                files = table["source_file"].to_numpy(dtype=object)
                rows = table["source_row"].to_numpy()
            else:
                continue
            s = table[col]
            if pd.api.types.is_bool_dtype(s):
                continue
            if pd.api.types.is_numeric_dtype(s):
                v = s.to_numpy(dtype=float, na_value=np.nan)
                bad = np.isinf(v)
                shown = v
            else:
                text = s.astype("string").str.strip()
                filled = text.notna() & (text != "")
                token = (text.str.fullmatch(_NOT_FINITE, case=False) == True).to_numpy()  # noqa: E712
                if not token.any():
                    continue
                rest = filled.to_numpy() & ~token
                if pd.to_numeric(text[rest], errors="coerce").isna().any():
                    continue  # a column of text, not of numbers with a stray 'nan'
                bad = token
                shown = text.to_numpy(dtype=object)
            if not bad.any():
                continue
            j = int(np.flatnonzero(bad)[0])
            more = int(bad.sum()) - 1
            problems.add(
                f"'{shown[j]}' is not a number model '{m.name}' can use as its {what} "
                f"'{col}'" + (f" ({more} more such cells in the column)" if more else ""),
                file=str(files[j]), row=int(rows[j]), column=col,
                fix="leave the cell empty for a missing value, or enter the number")
    problems.raise_if_any("Model columns hold values that are not finite numbers:")


def logit_outcome_problem(values: pd.Series, col: str, as_factor: bool, formula: str):
    """(message, fix) when a logit outcome is not binary as written, else None."""
    v = values.dropna()
    distinct = pd.unique(v)
    if len(distinct) == 2 and (as_factor or not pd.api.types.is_numeric_dtype(v)
                               or set(np.asarray(distinct, float)) <= {0.0, 1.0}):
        return None
    if as_factor or not pd.api.types.is_numeric_dtype(v):
        return (f"family: logit needs an outcome of two values, but '{col}' has "
                f"{len(distinct)}", "recode the outcome to two values, or use family: gaussian")
    shown = ", ".join(f"{x:g}" for x in sorted(np.asarray(distinct, float))[:5])
    if len(distinct) == 2:
        rhs = formula.split("~", 1)[1].strip()
        lo, hi = sorted(np.asarray(distinct, float))
        return (f"family: logit needs a 0/1 outcome, but '{col}' is coded {shown}",
                f"write the formula as 'factor({col}) ~ {rhs}' to model P({col} = {hi:g}) "
                f"against {lo:g} (as R's glm(factor({col}) ~ ..., family = binomial)), or "
                f"recode {col} to 0/1")
    return (f"family: logit needs a 0/1 outcome, but '{col}' has {len(distinct)} values "
            f"({shown}{' ...' if len(distinct) > 5 else ''})",
            "recode the outcome to 0/1, or use family: gaussian, poisson or negbin")


def model_columns(inputs: "Inputs", cleaned) -> dict[str, list[str]]:
    """The names a model formula may use at each level, known before anything is fitted."""
    inst = inputs.instrument
    cfg = inputs.study.config
    scores = inst.score_names
    respondent = [c for c in cleaned.responses.columns] + scores
    unit: list[str] = []
    if cleaned.unit_column:
        unit += [cleaned.unit_column, "n_respondents"] + scores
        if cleaned.group_column:
            unit.append(cleaned.group_column)
    if inputs.unit_table is not None:
        unit += list(inputs.unit_table.columns)
    if inputs.ties is not None:
        from pipeline.ingest.ties import type_slug  # noqa: PLC0415
        from pipeline.network import MEASURES_METHOD_DIRECTED, MEASURES_METHOD_UNDIRECTED  # noqa: PLC0415

        method = MEASURES_METHOD_DIRECTED if cfg.network.directed else MEASURES_METHOD_UNDIRECTED
        unit += list(method) + [f"degree_{type_slug(t)}" for t in inputs.ties.types]
    return {"unit": list(dict.fromkeys(unit)), "respondent": list(dict.fromkeys(respondent))}


def model_names(m, formula=None) -> list[tuple[str, str]]:
    """Every column a model's settings name, with the setting that names it: its formula's
    columns, cluster, focal, moderator, random, weight, center, standardize and mediation.
    ``formula``: the parsed formula (parsed here when not given; it must be readable)."""
    if formula is None:
        from pipeline.models import parse_formula  # noqa: PLC0415

        formula = parse_formula(m.formula)
    wanted = [(c, "formula") for c in formula.columns]
    for attr in ("cluster", "focal", "moderator", "random", "weight"):
        if getattr(m, attr):
            wanted.append((getattr(m, attr), attr))
    wanted += [(c, "center") for c in m.center] + [(c, "standardize") for c in m.standardize]
    if m.mediation:
        med = m.mediation
        wanted += [(med.x, "mediation.x"), (med.y, "mediation.y")]
        wanted += [(c, "mediation.m") for c in med.m] + [(c, "mediation.covariates")
                                                         for c in med.covariates]
        if med.moderator:
            wanted.append((med.moderator, "mediation.moderator"))
    return wanted


def kept_columns(cfg, level: str) -> list[str]:
    """The columns data/processed/ and reports/ hold at ``level`` ('respondent' or 'unit')
    beyond ids, items and scores: those the models of that level name, the invariance column and
    the CFA's cluster column (respondent level) and ``survey.keep``. Everything else of the export and the unit table is
    left out (data minimisation)."""
    out: list[str] = []
    for m in cfg.analysis.models:
        if m.level == level:
            out += [c for c, _ in model_names(m)]
    inv = cfg.analysis.invariance
    if level == "respondent" and isinstance(inv, str):
        out.append(inv)
    opts = getattr(cfg.analysis, "cfa_settings", None)
    if level == "respondent" and opts is not None and opts.cluster:
        out.append(opts.cluster)  # the CFA's cluster-robust SEs (reproduce.R refits them)
    out += list(cfg.survey.keep)
    return list(dict.fromkeys(out))


def check_kept_columns(study: Study, raw, unit_table) -> tuple[str, ...]:
    """``survey.keep`` names columns of the survey export(s) or the unit table: an unknown
    name is an error naming it; a kept column that looks like personal data (by its name or
    its content) is kept, with a warning naming it (the returned sentences)."""
    from pipeline.ingest.personal import judge  # noqa: PLC0415

    keep = study.config.survey.keep
    if not keep:
        return ()
    survey_cols = [c for c in raw.data.columns if c not in ("source_row",)]
    table_cols = list(unit_table.columns) if unit_table is not None else []
    problems = ProblemList()
    warned = []
    for k, col in enumerate(keep):
        if col in raw.data.columns:
            values = raw.data[col]
        elif col in table_cols:
            values = unit_table[col]
        else:
            dropped = col in (raw.personal_data_dropped or ())
            problems.add(f"survey.keep names column '{col}', which "
                         + ("was dropped as personal data" if dropped else
                            "is not a column of the survey export(s) or the unit table")
                         + f"; {did_you_mean(str(col), survey_cols + table_cols)}",
                         file=str(study.file), key=f"survey.keep[{k}]",
                         fix="name a column of the export or the unit table, or remove it "
                             "from survey: keep:")
            continue
        found = judge(col, values)
        if found is not None:
            warned.append(f"survey.keep keeps column '{col}', which looks like personal data "
                          f"({found.reason()}); it is written to data/processed/ -- remove "
                          "it from survey: keep: unless the study needs it and may hold it.")
    problems.raise_if_any("survey.keep names columns socap cannot find:")
    return tuple(warned)


def check_model_columns(study: Study, available: dict[str, list[str]]) -> None:
    """Every column a model names exists at its level -- checked before anything is fitted, so
    that a typo in a formula costs seconds, not a whole run. Raises StudyError listing all."""
    from pipeline.models import parse_formula  # noqa: PLC0415
    from pipeline.models.formula import FormulaSyntaxError  # noqa: PLC0415

    problems = ProblemList()
    for i, m in enumerate(study.config.analysis.models):
        key = f"analysis.models[{i}]"
        names = available[m.level]
        if m.level == "unit" and not names:
            problems.add(f"model '{m.name}' is at unit level but the study has no units",
                         file=str(study.file), key=f"{key}.level",
                         fix="set survey: unit: (and units:), or level: respondent")
            continue
        try:
            formula = parse_formula(m.formula)
        except FormulaSyntaxError as exc:
            problems.add(f"the formula of model '{m.name}' cannot be read: {exc}",
                         file=str(study.file), key=f"{key}.formula",
                         fix="write it as in R, e.g. 'y ~ a * b + c'")
            continue
        wanted = model_names(m, formula)
        for col, attr in dict.fromkeys(wanted):
            if col not in names:
                problems.add(f"model '{m.name}' names '{col}', which is not a column of the "
                             f"{m.level}-level analysis table; {did_you_mean(col, names)}",
                             file=str(study.file), key=f"{key}.{attr}",
                             fix=f"use one of the {m.level}-level columns: "
                             + ", ".join(names[:40]) + (" ..." if len(names) > 40 else ""))
    problems.raise_if_any("Model settings name columns the analysis table does not have:")


def cfa_cluster_column(cfg, cleaned, responses, study) -> str | None:
    """analysis.cfa.cluster names a survey column (checked before anything is fitted)."""
    opts = cfg.analysis.cfa_settings
    cluster = opts.cluster if opts is not None else None
    if cluster and cluster not in responses.columns:
        candidates = [c for c in responses.columns if c not in cleaned.items]
        raise StudyError(f"analysis.cfa.cluster names column '{cluster}', which the survey "
                         f"export does not have; {did_you_mean(str(cluster), candidates)}",
                         file=study.file, key="analysis.cfa.cluster", column=str(cluster),
                         fix="name the survey column that holds the cluster (school, village, "
                             "interviewer...), or remove cluster:")
    return cluster


def invariance_column(cfg, cleaned, responses, study) -> str:
    """The column whose groups invariance compares: survey.group, or the column named."""
    setting = cfg.analysis.invariance
    if setting is True:
        if not cleaned.group_column:
            raise StudyError("analysis.invariance: true compares the groups of survey.group, "
                             "which is not set", file=study.file, key="analysis.invariance",
                             fix="set survey: group: <column>, name a column (invariance: "
                             "region), or set invariance: false")
        return cleaned.group_column
    if setting not in responses.columns:
        candidates = [c for c in responses.columns if c not in cleaned.items]
        raise StudyError(f"analysis.invariance names column '{setting}', which the survey "
                         f"export does not have; {did_you_mean(str(setting), candidates)}",
                         file=study.file, key="analysis.invariance",
                         fix="name a survey column that holds the region (or other group)")
    return str(setting)


def check_tie_nodes(ties, units, cfg, study, *, has_unit_table: bool) -> list[str]:
    """Every node of the tie list is a unit or an institution, else a user error.

    A node that is not a unit is an institution (a university, an agency...) when study.yaml
    lists it under ``network.institutions`` or when all its ties are of an institution type
    (a type whose name contains one of ``network.institution_types``, e.g. 'university',
    'service', 'government'). With a unit table, any other node is unknown: probably a typo in
    a firm id, reported with the tie list's row. Without one, the units are the survey's and
    other nodes are firms that did not answer: kept in the graph, with a note.
    """
    edges = ties.edges
    src, tgt = edges["source"].astype(str).to_numpy(), edges["target"].astype(str).to_numpy()
    nodes = pd.unique(np.concatenate([src, tgt]))
    known = set(map(str, units))
    unit_set = set(known)
    known.update(map(str, cfg.network.institutions))
    outside = [n for n in nodes if n not in known]
    if not outside:
        return []
    words = [w.lower() for w in cfg.network.institution_types]
    type_cols = [c for c in edges.columns if c.startswith("ties_")]
    inst_cols = [c for c in type_cols if any(w in c[5:].lower() for w in words)]
    frame = pd.DataFrame({"node": np.concatenate([src, tgt]),
                          "row": np.concatenate([edges["first_row"].to_numpy()] * 2)
                          if "first_row" in edges else 0,
                          "inst": np.concatenate([edges[inst_cols].sum(axis=1).to_numpy()] * 2)
                          if inst_cols else 0,
                          "other": np.concatenate([(edges["ties"] - edges[inst_cols].sum(axis=1)
                                                    if inst_cols else edges["ties"]).to_numpy()] * 2)})
    frame = frame[frame["node"].isin(outside)]
    per = frame.groupby("node").agg(row=("row", "min"), inst=("inst", "sum"), other=("other", "sum"))
    unknown = per[(per["other"] > 0) | (per["inst"] == 0)].sort_values("row")
    if unknown.empty:
        return []
    if not has_unit_table:
        return [f"{len(unknown)} nodes of the tie list are neither survey units nor institutions "
                "(firms that did not answer the survey?); they take part in the network measures "
                "but have no scores."]
    problems = ProblemList()
    file = study.path(cfg.network.edges)
    for node, r in unknown.head(20).iterrows():
        problems.add(f"tie list names '{node}', which is neither a unit of the unit table nor an "
                     f"institution; {did_you_mean(node, sorted(unit_set)[:5000])}",
                     file=file, row=int(r["row"]) if r["row"] else None,
                     fix="correct the id, add the unit to the unit table, or -- for a university, "
                     "agency or other institution -- give its ties a type such as 'university' "
                     "or list it under network: institutions: [...]")
    if len(unknown) > 20:
        problems.add(f"... and {len(unknown) - 20} more unknown nodes", file=file)
    problems.raise_if_any("The tie list names unknown nodes:")
    return []
