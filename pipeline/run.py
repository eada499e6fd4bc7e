"""The pipeline: every stage called in order, in one place, with atomic output.

Each stage takes what it needs as arguments and returns a frozen result; this module is the only
place that knows the order. Files are read through :mod:`pipeline.ingest` (and the study and
instrument loaders) and written at the end by :func:`write_outputs`, first into a staging folder that is swapped into
place only when everything has been written (:mod:`pipeline.atomic`: a failed or killed run
leaves the previous ``data/processed/`` and ``reports/`` as they were, a second run of the same
study waits for the first or refuses).
"""

from __future__ import annotations

import shutil
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from pipeline import __version__
from pipeline.atomic import (check_output_places, commit, environmental, hook, journalled,
                             lock_study, new_staging, output_error, recover)
from pipeline.errors import StudyError
from pipeline.config.instrument import Instrument, read_instrument
from pipeline.jsonvalues import number as _num
from pipeline.config.study import CFAConfig, Study, read_study, relative_path
# the checks a run makes before fitting, shared with `socap validate` (pipeline/checks.py)
from pipeline.checks import (check_model_columns, check_units_in_table,  # noqa: F401
                             invariance_column, model_columns,
                             prefit_checks)

Progress = Callable[[str], None]

PACKAGES = ("numpy", "scipy", "pandas", "pyarrow", "igraph", "Pillow", "openpyxl",
            "python-calamine", "pydantic", "PyYAML", "jinja2", "statsmodels")


@dataclass
class Stages:
    """Wall time per stage, shown while running and in the run record."""

    progress: Progress | None = None
    times: dict[str, float] = field(default_factory=dict)
    total: int = 8
    _n: int = 0

    def start(self, name: str) -> float:
        self._n += 1
        if self.progress:
            self.progress(f"[{self._n}/{self.total}] {name} ...")
        return time.perf_counter()

    def done(self, name: str, t0: float, detail: str = "") -> None:
        dt = time.perf_counter() - t0
        self.times[name] = round(dt, 3)
        if self.progress:
            self.progress(f"      {detail + ' ' if detail else ''}({dt:.2f} s)")


@dataclass(frozen=True)
class Inputs:
    """Everything read from disk for one run."""

    study: Study
    instrument: Instrument
    raw: object  # RawSurvey
    unit_table: pd.DataFrame | None
    ties: object | None  # TieList
    files: list[tuple[str, Path]]  # (role, path)
    hashes: object | None = None  # Future of {path: sha256}, computed while the run goes on

    def release_raw_data(self) -> None:
        """Drop the raw cells once the cleaning has coded them (the export's files, notes and
        dropped columns stay): at 10^6 responses they are the largest object of the run."""
        import dataclasses  # noqa: PLC0415

        raw = self.raw
        if hasattr(raw, "data") and dataclasses.is_dataclass(raw):
            slim = dataclasses.replace(raw, data=raw.data.iloc[:0])
            object.__setattr__(self, "raw", slim)


#: survey exports at least this large start the later stages' imports in the background
PREFETCH_BYTES = 16 << 20

_LATER_MODULES = ("scipy.special", "pipeline.measure.sem.lbfgsb", "pipeline.measure.moments", "pipeline.measure.factors",
                  "pipeline.measure.reliability", "pipeline.measure.cfa", "pipeline.measure.scores", "pipeline.levels",
                  "pipeline.network", "pipeline.models",
                  "pyarrow.parquet", "jinja2", "PIL.Image", "PIL.ImageDraw", "pipeline.report",
                  "pipeline.report.figures", "pipeline.report.html", "pipeline.report.tables",
                  "pipeline.report.xlsx")


def _prefetch_imports() -> None:
    """Import what the stages after the cleaning need, in a background thread, while a large
    export is cleaned (mostly NumPy and arrow work with the GIL released), so that the ~0.7 s
    of imports (SciPy's special functions, the report's libraries, python-igraph) costs little
    wall time. It starts after the reading: the reader's typing threads need the GIL for the
    Python strings they lay out, and starting the imports before them made the read stage
    0.3-0.5 s slower at 10^6 responses (measured, CLI runs). Small exports are cleaned in a
    blink of Python work, where a second importing thread would only compete for the GIL, so
    they do not start it. The reader's own modules are imported first, in this thread, so
    the two threads never import the same module at once."""
    import importlib  # noqa: PLC0415
    import threading  # noqa: PLC0415

    import pyarrow.compute  # noqa: F401, PLC0415
    import pyarrow.csv  # noqa: F401, PLC0415

    from pipeline.ingest import plain, tables  # noqa: F401, PLC0415

    def work() -> None:
        for name in _LATER_MODULES:
            try:
                importlib.import_module(name)
            except Exception:  # noqa: BLE001 -- the stage imports it again and reports
                return
        try:
            from pipeline.network import import_igraph  # noqa: PLC0415 -- without matplotlib
            import_igraph()
        except Exception:  # noqa: BLE001
            pass

    threading.Thread(target=work, name="socap-imports", daemon=True).start()


def _hash_files(paths: list[Path]):
    """SHA-256 of the input files in a background thread (hashlib releases the GIL), so that
    hashing a large export overlaps the analysis."""
    from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415

    from pipeline.ingest.survey import sha256  # noqa: PLC0415

    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="socap-sha256")
    future = pool.submit(lambda: {p: sha256(p) for p in dict.fromkeys(paths)})
    pool.shutdown(wait=False)
    return future


def read_inputs(study: Study) -> Inputs:
    """Read study.yaml's instrument, the survey export(s), the unit table and the tie list."""
    from pipeline.ingest.survey import read_survey, read_unit_table, survey_files  # noqa: PLC0415

    cfg = study.config
    instrument = read_instrument(study.path(cfg.instrument))
    files = [("instrument", study.path(cfg.instrument))]
    files += [("survey", p) for p in survey_files(study)]
    large = sum(p.stat().st_size for role, p in files if role == "survey") >= PREFETCH_BYTES
    raw = read_survey(study, instrument)
    from pipeline.ingest import readahead  # noqa: PLC0415

    readahead.release()  # a file the CLI read ahead that was not a survey export
    if large:
        _prefetch_imports()
    unit_table = None
    if cfg.units:
        path = study.path(cfg.units.file)
        unit_table = read_unit_table(path, id_column=cfg.units.id, sheet=cfg.units.sheet)
        files.append(("units", path))
    ties = None
    if cfg.network:
        from pipeline.ingest.ties import read_ties  # noqa: PLC0415

        path = study.path(cfg.network.edges)
        ties = read_ties(path, directed=cfg.network.directed)
        files.append(("network", path))
    from pipeline.checks import check_kept_columns  # noqa: PLC0415

    kept_warnings = check_kept_columns(study, raw, unit_table)
    if kept_warnings:
        import dataclasses  # noqa: PLC0415

        raw = dataclasses.replace(raw, notes=tuple(raw.notes) + kept_warnings)
    return Inputs(study=study, instrument=instrument, raw=raw, unit_table=unit_table, ties=ties,
                  files=files, hashes=_hash_files([p for _, p in files]))


# --------------------------------------------------------------------------------------------
# the analysis


Warned = tuple[tuple[str, str], ...]  # (stage, sentence) pairs, numbered by analyse()


@dataclass(frozen=True)
class Cleaned:
    """The clean stage: responses coded and filtered (:class:`pipeline.clean.CleanResult`)."""

    result: object  # CleanResult
    prefit: object  # pipeline.checks.Prefit: what the checks before fitting found
    warnings: Warned


@dataclass(frozen=True)
class Measured:
    """The reliability stage: the item moments every measurement stage works from, and each
    construct's reliability (results.json's part)."""

    moments: object  # ItemMoments
    reliability: dict
    warnings: Warned


@dataclass(frozen=True)
class Scored:
    """The CFA and scores stage: the CFA (when fitted) and the construct scores used."""

    cfa: object | None  # CFAResult
    cfa_dict: dict | None
    scores: pd.DataFrame
    method: str  # 'factor' | 'mean': what the scores are (factor scoring may fall back to means)
    warnings: Warned


@dataclass(frozen=True)
class UnitLevel:
    """The units stage: one row per unit (scores, unit-table columns, network measures)."""

    units: pd.DataFrame | None
    aggregation: dict | None
    network: dict | None
    warnings: Warned


@dataclass(frozen=True)
class Modelled:
    """The models stage: each model's results.json part and its fitted object."""

    models: dict
    fitted: dict
    warnings: Warned


def _tagged(stage: str, messages) -> Warned:
    return tuple((stage, m) for m in messages)


def clean_stage(inputs: Inputs) -> Cleaned:
    """Code the answers and apply the quality rules; then every check a run makes before any
    fitting (:func:`pipeline.checks.prefit_checks`, which `socap validate` makes too)."""
    from pipeline.clean import clean_responses  # noqa: PLC0415

    study, instrument = inputs.study, inputs.instrument
    cleaned = clean_responses(inputs.raw, instrument, study.config, study_file=str(study.file))
    prefit = prefit_checks(inputs, cleaned)
    return Cleaned(result=cleaned, prefit=prefit,
                   warnings=_tagged("clean", list(inputs.raw.notes) + list(cleaned.warnings)
                                    + list(prefit.instrument_warnings)))


def reliability_stage(responses: pd.DataFrame, items: list[str],
                      instrument: Instrument) -> Measured:
    """Item moments in one pass, then alpha, omega and item statistics per construct."""
    from pipeline.measure.moments import item_moments  # noqa: PLC0415
    from pipeline.measure.reliability import scale_reliability  # noqa: PLC0415

    moments = item_moments(responses[items], items)
    reliability, warned = {}, []
    for name, construct_items in instrument.construct_items().items():
        rel = scale_reliability(moments, construct_items, name=name)
        reliability[name] = rel.to_dict()
        warned += _tagged(f"reliability: {name}", rel.warnings)
    return Measured(moments=moments, reliability=reliability, warnings=tuple(warned))


def efa_stage(moments, cfg, responses: pd.DataFrame | None = None):
    """Sampling adequacy, the number of factors and the rotated solution (an EFAResult); None
    with ``analysis: efa: false``. With ``correlation: polychoric`` everything is computed from
    the polychoric correlations of ``responses`` (``psych::fa(cor = "poly")``)."""
    from pipeline.measure.factors import efa as fit_efa  # noqa: PLC0415

    e = cfg.analysis.efa
    if e is False:
        return None
    if getattr(e, "correlation", "pearson") == "polychoric" and responses is not None:
        from pipeline.measure.factors import polychoric_moments  # noqa: PLC0415

        import dataclasses  # noqa: PLC0415

        res = fit_efa(polychoric_moments(moments, responses), n_factors=e.n_factors,
                      method=e.method, rotation=e.rotation, seed=cfg.seed)
        return dataclasses.replace(res, correlation="polychoric",
                                   n_factors_reason=res.n_factors_reason.replace(
                                       "pairwise correlation matrix",
                                       "polychoric correlation matrix"))
    return fit_efa(moments, n_factors=e.n_factors, method=e.method, rotation=e.rotation,
                   seed=cfg.seed)


def scores_stage(responses: pd.DataFrame, items: list[str], moments, instrument: Instrument,
                 cfg) -> Scored:
    """The CFA (when asked for, or needed for factor scores) and the construct scores: factor
    scores, or item means when asked for or when the CFA gives none."""
    cfa_result = cfa = None
    warned: list[tuple[str, str]] = []
    if cfg.analysis.cfa or cfg.scoring.method == "factor":
        from pipeline.measure.cfa import fit_cfa  # noqa: PLC0415

        opts = cfg.analysis.cfa_settings or CFAConfig()  # scoring: factor with cfa: false
        cluster = opts.cluster
        if cluster and cluster not in responses.columns:
            raise StudyError(f"analysis.cfa.cluster names the column '{cluster}', which is not "
                             "in the survey data", key="analysis.cfa.cluster", column=cluster,
                             fix="name a column of the survey export (e.g. the school or "
                                 "village id), or remove cluster:")
        cols = items + ([cluster] if cluster and cluster not in items else [])
        cfa_result = fit_cfa(responses[cols], instrument.construct_items(),
                             dict(instrument.higher_order) or None, moments=moments,
                             estimator=opts.estimator, missing=opts.resolved_missing,
                             cluster=cluster)
        cfa = cfa_result.to_dict()
        warned += _tagged("cfa", cfa_result.warnings)
    method = cfg.scoring.method
    scores = None
    if method == "factor":
        from pipeline.measure.cfa import factor_scores  # noqa: PLC0415

        if cfa.get("converged") and cfa.get("estimator") != "WLSMV":
            scores = factor_scores(cfa_result, responses[items])
            scores = scores.reindex(columns=instrument.score_names)
        if cfa.get("estimator") == "WLSMV":
            method = "mean"
            warned.append(("scores", "Factor scores of an ordinal (WLSMV) CFA -- lavaan's "
                           "empirical Bayes modal scores -- are not computed by socap; construct "
                           "scores are the means of the valid items instead (scoring: mean)."))
        elif scores is None or scores.isna().all().any():
            method = "mean"
            warned.append(("scores", "Factor scores could not be computed because the CFA was "
                           "not fitted or did not converge (see the CFA warnings); construct "
                           "scores are the means of the valid items instead (scoring: mean)."))
    if method == "mean":
        from pipeline.measure.scores import mean_scores  # noqa: PLC0415

        scores = mean_scores(responses, instrument, min_valid_share=cfg.scoring.min_valid_share)
    scores.index = responses.index
    return Scored(cfa=cfa_result, cfa_dict=cfa, scores=scores, method=method,
                  warnings=tuple(warned))


def invariance_stage(responses: pd.DataFrame, scores: pd.DataFrame, cleaned, items, instrument,
                     study: Study, estimator: str | None = None) -> tuple[dict | None, Warned]:
    """Configural, metric and scalar invariance across the groups study.yaml names, and the
    groups' means (None when not asked for). With an ordinal CFA (``analysis.cfa: {estimator:
    wlsmv}``, or ``auto`` when it chose WLSMV: ``estimator`` is the CFA's ``"WLSMV"``) the
    levels are the multi-group WLSMV ones of Wu & Estabrook (2016), with a threshold level."""
    cfg = study.config
    if cfg.analysis.invariance is False:
        return None, ()
    from pipeline.measure.cfa import group_means, measurement_invariance  # noqa: PLC0415

    inv_col = invariance_column(cfg, cleaned, responses, study)
    opts = cfg.analysis.cfa_settings
    ordinal = estimator == "WLSMV" or (opts is not None and opts.estimator == "wlsmv")
    if ordinal:
        from pipeline.measure.sem.ordinal_groups import ordinal_invariance  # noqa: PLC0415

        inv = ordinal_invariance(responses[items + [inv_col]], instrument.construct_items(),
                                 inv_col, higher_order=dict(instrument.higher_order) or None)
    else:
        # the model the CFA reports: its second-order factors too
        inv = measurement_invariance(responses[items + [inv_col]], instrument.construct_items(),
                                     inv_col, higher_order=dict(instrument.higher_order) or None)
    invariance = inv.to_dict()
    invariance.setdefault("estimator", "ML")
    gm = group_means(scores, responses[inv_col], inv)
    invariance["group_means"] = gm.to_dict()
    return invariance, _tagged("invariance", list(inv.warnings) + list(gm.warnings))


def units_stage(inputs: Inputs, responses: pd.DataFrame, cleaned, scores: pd.DataFrame,
                network_notes=()) -> UnitLevel:
    """Respondents aggregated to units (ICC, rwg), the unit table joined, network measures."""
    study, instrument = inputs.study, inputs.instrument
    cfg = study.config
    warned: list[tuple[str, str]] = []

    def warn(stage: str, messages) -> None:
        warned.extend(_tagged(stage, messages))

    aggregation = network = units = None
    unit_col, group_col = cleaned.unit_column, cleaned.group_column
    if unit_col:
        from pipeline.levels import aggregate  # noqa: PLC0415

        lev = aggregate(responses, unit=unit_col, scores=list(scores.columns),
                        construct_items=instrument.construct_items(),
                        scales=instrument.construct_scales(), group=group_col,
                        min_respondents=cfg.units.min_respondents if cfg.units else 1,
                        null_variances=instrument.null_variances())
        aggregation = lev.to_dict()
        warn("aggregation", lev.warnings)
        units = lev.units.copy()
        units.index = units.index.astype(str)
        units.index.name = unit_col
    if inputs.unit_table is not None:
        units = _join_unit_table(units, inputs.unit_table, cfg.units.id, unit_col, study,
                                 responses, warn)
    if inputs.ties is not None:
        from pipeline.network import network_measures  # noqa: PLC0415

        node_ids = list(units.index) if units is not None else []
        groups = None
        if units is not None and group_col and group_col in units.columns:
            groups = units[group_col].dropna().to_dict()
        warn("network", network_notes)  # the tie nodes were checked before fitting
        net = network_measures(inputs.ties, directed=cfg.network.directed, units=node_ids,
                               unit_groups=groups,
                               exact_max_nodes=cfg.network.exact_betweenness_max_nodes,
                               seed=cfg.seed)
        network = net.to_dict()
        warn("network", list(getattr(inputs.ties, "notes", ())) + list(net.warnings))
        measures = net.unit_measures
        measures.index = measures.index.astype(str)
        units = measures if units is None else units.join(measures, how="left")
    return UnitLevel(units=units, aggregation=aggregation, network=network,
                     warnings=tuple(warned))


def models_stage(study: Study, units: pd.DataFrame | None, responses: pd.DataFrame, *,
                 unit: str | None = None, scores: Sequence[str] = (),
                 score_reliability: dict | None = None) -> Modelled:
    """Every model of analysis.models on its level's table; unit-level models that use
    aggregated scores also refitted on regression-calibrated unit scores (``score_correction``,
    :mod:`pipeline.models.calibration`) -- ``scores`` the aggregated respondent scores,
    ``unit`` the respondents' unit column, ``score_reliability`` the CFA's reliabilities of the
    respondent scores (:func:`pipeline.measure.cfa.score_reliability`)."""
    from pipeline.models import fit_model  # noqa: PLC0415

    cfg = study.config
    models, fitted, warned = {}, {}, []
    for i, m in enumerate(cfg.analysis.models):
        table = units.reset_index() if m.level == "unit" else responses
        if table is None:
            raise StudyError(f"model '{m.name}' is at unit level but the study has no units",
                             file=study.file, key=f"analysis.models[{i}].level",
                             fix="set survey: unit: (and units:), or level: respondent")
        kwargs = dict(name=m.name, formula=m.formula, family=m.family, se=m.se,
                      cluster=m.cluster, focal=m.focal, moderator=m.moderator, random=m.random,
                      center=m.center, standardize=m.standardize, weight=m.weight,
                      mediation=m.mediation.model_dump() if m.mediation else None,
                      level=m.level, seed=cfg.seed,
                      n_boot=m.mediation.n_boot if m.mediation else 5000,
                      config_key=f"analysis.models[{i}]", ddf=m.ddf)
        res = fit_model(table, **kwargs)
        out = res.to_dict()
        warned += _tagged(f"model: {m.name}", res.warnings)
        sc = m.score_correction
        if sc and m.level == "unit" and unit and scores:
            from pipeline.models.calibration import corrected_model  # noqa: PLC0415

            try:
                out, res, cal_warnings = corrected_model(
                    table, responses, res, kwargs, unit=unit, scores=scores, method=sc.method,
                    headline=sc.headline, reliabilities=score_reliability,
                    small_sample=sc.small_sample)
            except (np.linalg.LinAlgError, FloatingPointError, ValueError, StudyError) as exc:
                # the model itself was fitted: a corrected refit that fails is a caveat
                why = exc.problems[0].message if isinstance(exc, StudyError) else str(exc)
                cal_warnings = [f"The model on calibrated unit scores (score_correction) could "
                                f"not be fitted ({why}); only the uncorrected model is reported."]
            warned += _tagged(f"model: {m.name}", cal_warnings)
        models[m.name] = out
        fitted[m.name] = res
    return Modelled(models=models, fitted=fitted, warnings=tuple(warned))


def analyse(inputs: Inputs, stages: Stages, outputs: "Outputs | None" = None) -> tuple[dict, dict]:
    """Run every statistical stage, in order. Returns (results, artefacts) where artefacts holds
    the frames written to data/processed/ and the data the report draws from. With ``outputs``
    the exclusions and responses are handed to its writer as soon as they are final."""
    study, instrument = inputs.study, inputs.instrument
    cfg = study.config

    t0 = stages.start("Coding answers and applying quality rules")
    clean = clean_stage(inputs)
    cleaned = clean.result
    inputs.release_raw_data()
    if outputs is not None:  # final: written while the moments are computed (BLAS, no GIL)
        outputs.write_exclusions(cleaned.exclusions)
    stages.done("clean", t0, f"{cleaned.sample['respondents']} of {cleaned.sample['rows_read']} "
                f"responses kept")
    responses, items = cleaned.responses, cleaned.items

    t0 = stages.start("Reliability of each construct")
    measured = reliability_stage(responses, items, instrument)
    stages.done("reliability", t0, ", ".join(
        f"{c} alpha {_fmt(r.get('alpha'))}" for c, r in measured.reliability.items()))

    t0 = stages.start("Exploratory factor analysis")
    efa_result = efa_stage(measured.moments, cfg, responses[items])
    efa = efa_result.to_dict() if efa_result is not None else None
    stages.done("efa", t0, f"{efa.get('n_factors')} factors ({efa.get('n_factors_reason', '')})"
                if efa else "skipped (analysis: efa: false)")

    t0 = stages.start("Confirmatory factor analysis and scores")
    if outputs is not None:  # the figures' rasteriser starts now, ready by the report
        outputs.start_png_worker()
    scored = scores_stage(responses, items, measured.moments, instrument, cfg)
    responses = pd.concat([responses, scored.scores], axis=1)
    if outputs is not None:  # final from here on: written while the analysis goes on
        outputs.write_responses(processed_responses(responses, cleaned, scored.scores.columns,
                                                    cfg), cleaned.exclusions)
    cfa = scored.cfa_dict
    fit = (cfa or {}).get("fit", {})
    rob = "_robust" if (cfa or {}).get("estimator") == "WLSMV" else ""
    stages.done("cfa", t0, f"{(cfa or {}).get('estimator', 'ML')}: "
                f"CFI{' (robust)' if rob else ''} {_fmt(fit.get('cfi' + rob))}, "
                f"RMSEA {_fmt(fit.get('rmsea' + rob))}, "
                f"SRMR {_fmt(fit.get('srmr'))}; {scored.method} scores" if cfa
                else f"{scored.method} scores")

    invariance, inv_warned = invariance_stage(responses, scored.scores, cleaned, items,
                                              instrument, study,
                                              estimator=(cfa or {}).get("estimator"))

    t0 = stages.start("Units: aggregation and network measures")
    level = units_stage(inputs, responses, cleaned, scored.scores, clean.prefit.network_notes)
    units, network = level.units, level.network
    stages.done("levels", t0, (f"{len(units)} units" if units is not None else "no units")
                + (f", network of {network.get('nodes')} nodes" if network else ""))

    t0 = stages.start("Models of the catalytic effect")
    reliab = None
    if scored.cfa is not None and any(m.score_correction and m.score_correction.method == "measurement"
                                      for m in cfg.analysis.models):
        from pipeline.measure.cfa import score_reliability  # noqa: PLC0415

        reliab = score_reliability(scored.cfa, scored.method)
    modelled = models_stage(study, units, responses, unit=cleaned.unit_column,
                            scores=list(scored.scores.columns) if level.aggregation else (),
                            score_reliability=reliab)
    stages.done("models", t0, "; ".join(_catalytic_line(n, r, cfg)
                                        for n, r in modelled.models.items()))

    warnings = (clean.warnings + measured.warnings
                + _tagged("efa", efa_result.warnings if efa_result is not None else ())
                + scored.warnings + inv_warned + level.warnings + modelled.warnings)
    group_col = cleaned.group_column
    sample = dict(cleaned.sample)
    sample["units"] = int(len(units)) if units is not None else None
    sample["groups"] = (int(responses[group_col].nunique()) if group_col else None)
    sample["files"] = [f.__dict__ | {"path": relative_path(Path(f.path), study.folder)}
                       for f in inputs.raw.files]
    sample["personal_data_dropped"] = list(inputs.raw.personal_data_dropped)
    reasons = getattr(inputs.raw, "personal_data_reasons", None) or {}
    sample["personal_data_reasons"] = {c: dict(reasons[c]) for c in sample["personal_data_dropped"]
                                       if c in reasons}
    results = {
        "sample": sample,
        "items": _item_table(measured.moments, instrument, items, cleaned),
        "reliability": measured.reliability,
        "efa": efa,
        "cfa": cfa,
        "scores": {"method": scored.method, "requested": cfg.scoring.method,
                   "columns": list(scored.scores.columns),
                   "min_valid_share": cfg.scoring.min_valid_share},
        "aggregation": level.aggregation,
        "network": network,
        "invariance": invariance,
        "models": modelled.models,
        "warnings": [{"number": k + 1, "stage": s, "message": msg}
                     for k, (s, msg) in enumerate(warnings)],
    }
    artefacts = {"responses": responses, "exclusions": cleaned.exclusions, "units": units,
                 "processed_responses": processed_responses(responses, cleaned,
                                                            scored.scores.columns, cfg),
                 "processed_units": processed_units(units, inputs, cleaned,
                                                    scored.scores.columns, cfg),
                 "cleaned": cleaned, "ties": inputs.ties, "models": modelled.fitted,
                 "efa": efa_result, "cfa": scored.cfa}
    return results, artefacts


def processed_responses(responses: pd.DataFrame, cleaned, score_columns, cfg) -> pd.DataFrame:
    """The columns of responses.parquet (data minimisation): the respondent id, unit, group and
    weight, ``source_file``/``source_row``, the items, the scores, the columns a respondent-level
    model or the invariance comparison names, and ``survey.keep``. Other export columns
    (platform metadata, free text, anything unrecognised) stay out of data/processed/."""
    from pipeline.checks import kept_columns  # noqa: PLC0415

    wanted = (["respondent_id", cleaned.unit_column, cleaned.group_column, cleaned.weight_column,
               "source_file", "source_row"] + list(cleaned.items) + list(score_columns)
              + kept_columns(cfg, "respondent"))
    cols = [c for c in dict.fromkeys(w for w in wanted if w) if c in responses.columns]
    return responses if len(cols) == responses.shape[1] else responses[cols]


def processed_units(units: pd.DataFrame | None, inputs: Inputs, cleaned, score_columns,
                    cfg) -> pd.DataFrame | None:
    """The columns of units.parquet: the unit id (the index), group, scores, ``n_respondents``,
    network measures, and of the unit table's columns only those a unit-level model names or
    ``survey.keep`` lists."""
    if units is None or inputs.unit_table is None:
        return units
    from pipeline.checks import kept_columns  # noqa: PLC0415

    needed = set(kept_columns(cfg, "unit")) | set(score_columns) | {
        cleaned.group_column, "n_respondents"}
    table_cols = set(inputs.unit_table.columns) - {cfg.units.id}
    drop = [c for c in units.columns if c in table_cols and c not in needed]
    return units.drop(columns=drop) if drop else units


def _join_unit_table(units, table, table_id, unit_col, study, responses, warn):
    """Unit scores + unit-table columns; every survey unit must be in the unit table."""
    t = table.set_index(table_id)
    t.index = t.index.astype(str)
    if units is None:
        return t
    check_units_in_table(list(units.index), responses, unit_col, table, study)
    overlap = [c for c in t.columns if c in units.columns]
    for c in overlap:
        a = units[c].reindex(t.index)
        b = t[c]
        differ = a.notna() & b.notna() & (a.astype(str) != b.astype(str))
        if differ.any():
            warn("units", [f"column '{c}' differs between the survey and the unit table for "
                           f"{int(differ.sum())} units; the unit table's values are used."])
    joined = t.join(units.drop(columns=overlap), how="left")
    joined["n_respondents"] = joined["n_respondents"].fillna(0).astype(int) \
        if "n_respondents" in joined else 0
    joined.index.name = unit_col
    return joined


def _item_table(moments, instrument, items, cleaned) -> dict:
    """Per item: wording, source column, n, mean, SD (available cases, n - 1: the moments of
    the reliability stage, so no second pass over the responses), missing counts by reason."""
    out = {}
    rec = cleaned.recoding.set_index("item")
    pos = {name: k for k, name in enumerate(moments.items)}
    for item in items:
        k = pos[item]
        n = int(moments.n_valid[k])
        it = instrument.item(item)
        entry = {
            "construct": it.construct, "text": it.text, "reverse": it.reverse,
            "column": rec.loc[item, "column"], "n": n,
            "mean": _num(moments.means[k]) if n else None,
            "sd": _num(moments.sds[k]) if n > 1 else None,
            "missing": int(moments.n_rows - n),
            "from_text": int(rec.loc[item, "from_text"]),
            "missing_by_reason": {c.removeprefix("missing: "): int(rec.loc[item, c])
                                  for c in rec.columns if c.startswith("missing: ")},
        }
        out[item] = entry
    return out


def _fmt(v) -> str:
    return "n/a" if v is None else f"{v:.3f}"


def _catalytic_line(name: str, res: dict, cfg) -> str:
    spec = next(m for m in cfg.analysis.models if m.name == name)
    if not (spec.focal and spec.moderator):
        return f"{name}: n = {res.get('n')}"
    term = _interaction_term(res.get("coefficients", {}), spec.focal, spec.moderator)
    if term is None:
        return f"{name}: n = {res.get('n')}"
    c = res["coefficients"][term]
    p = "n/a" if c.get("p") is None else f"{c['p']:.3g}"  # undefined: e.g. a constant outcome
    return (f"{name}: {term} = {_fmt(c.get('estimate'))} [95% CI {_fmt(c.get('ci_low'))}, "
            f"{_fmt(c.get('ci_high'))}], p = {p}")


def _interaction_term(coefficients: dict, focal: str, moderator: str) -> str | None:
    for term in (f"{focal}:{moderator}", f"{moderator}:{focal}"):
        if term in coefficients:
            return term
    return None


# --------------------------------------------------------------------------------------------
# results record and outputs


def provenance(inputs: Inputs, started: datetime, times: dict) -> dict:
    from importlib import metadata  # noqa: PLC0415

    from pipeline.ingest.survey import sha256  # noqa: PLC0415

    packages = {}
    for name in PACKAGES:
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    study = inputs.study
    hashes = inputs.hashes.result() if inputs.hashes is not None else {}
    return {
        "study": {"title": study.config.title, "folder": study.folder.name,
                  "seed": study.config.seed},
        "software": {"socap": __version__, "python": sys.version.split()[0], "packages": packages},
        "inputs": [{"role": role, "path": relative_path(p, study.folder),
                    "sha256": hashes[p] if p in hashes else sha256(p)}
                   for role, p in inputs.files],
        # the power: grid is socap power's, not the analysis': recorded only when written
        "config": study.config.model_dump(mode="json",
                                          exclude={"power"} if study.config.power is None else None),
        "run": {"started": started.isoformat(timespec="seconds"),
                "seconds": times},
    }


class Outputs:
    """A run's temporary output folder (moved into place only at the end) and the background
    thread that writes the processed files into it.

    The processed files are written while the analysis and the report go on: exclusions.csv as
    soon as the responses are cleaned, responses.parquet as soon as the scores are known
    (pyarrow releases the GIL for most of its work -- at 10^6 responses it takes over a second,
    as long as the aggregation and the report together), units.parquet once the units are. The
    writer only gets its own shallow copies of the frames (no pandas object is used from two
    threads)."""

    def __init__(self, folder: Path) -> None:
        from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415

        self.folder = Path(folder)
        self.tmp = new_staging(self.folder)
        self.processed = self.tmp / "data" / "processed"
        self.reports = self.tmp / "reports"
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="socap-processed")
        self._jobs: list = []
        self.responses_written = False
        self.exclusions_written = False
        self.png_worker = None

    def start_png_worker(self) -> None:
        """Start the process that will rasterise the figures' PNG copies (it imports Pillow
        while the analysis goes on; see :mod:`pipeline.report.pngworker`)."""
        if self.png_worker is None:
            from pipeline.report.pngworker import PngWorker  # noqa: PLC0415

            self.png_worker = PngWorker()

    def write_exclusions(self, exclusions: pd.DataFrame) -> None:
        """exclusions.csv, final once the responses are cleaned: written during the analysis."""
        self._jobs.append(self._pool.submit(_write_exclusions, self.processed,
                                            exclusions.copy(deep=False)))
        self.exclusions_written = True

    def write_responses(self, responses: pd.DataFrame, exclusions: pd.DataFrame) -> None:
        if not self.exclusions_written:
            self.write_exclusions(exclusions)
        self._jobs.append(self._pool.submit(_write_responses, self.processed,
                                            responses.copy(deep=False)))
        self.responses_written = True

    def write_units(self, units: pd.DataFrame | None) -> None:
        if units is not None:
            self._jobs.append(self._pool.submit(_write_units, self.processed,
                                                units.reset_index()))

    def wait(self) -> None:
        """Wait for every write; raise the first error."""
        errors = [job.exception() for job in self._jobs]
        for error in errors:
            if error is not None:
                raise error

    def close(self) -> None:
        """Wait for the writer and remove the temporary folder (moved away on success)."""
        if self.png_worker is not None:
            self.png_worker.close()
        self._pool.shutdown(wait=True)
        if not journalled(self.folder, self.tmp):  # a journalled swap is recover()'s to finish
            shutil.rmtree(self.tmp, ignore_errors=True)


def write_outputs(study: Study, results: dict, artefacts: dict, instrument: Instrument,
                  outputs: Outputs | None = None) -> Path:
    """Write data/processed/ and reports/ atomically; returns the report path.

    ``outputs``: the run's :class:`Outputs` (the processed files may be written already);
    default a new one."""
    from pipeline.report import write_report  # noqa: PLC0415

    own = outputs is None
    if own:
        outputs = Outputs(study.folder)
    try:
        if not outputs.responses_written:
            outputs.write_responses(artefacts.get("processed_responses", artefacts["responses"]),
                                    artefacts["exclusions"])
        outputs.write_units(artefacts.get("processed_units", artefacts.get("units")))
        try:
            hook("write-report", outputs.reports)
            write_report(results, outputs.reports, artefacts=artefacts, instrument=instrument,
                         png=outputs.png_worker)
        finally:
            outputs.wait()  # always wait for the writer before leaving
        commit(outputs.tmp, study.folder)
    except OSError as exc:  # a full disk, a read-only folder: the user's to fix (exit 2)
        if not environmental(exc):
            raise
        raise output_error(exc, study.folder) from None
    finally:
        if own:
            outputs.close()
    return study.reports_dir / "report.html"


def _write_responses(folder: Path, responses: pd.DataFrame) -> None:
    # no column statistics: the file is one row group (10^6 rows), where a min/max per column
    # filters nothing, and computing them was a quarter of the writer's CPU (0.3 s at 10^6
    # responses, on a core the analysis needs meanwhile)
    hook("write-responses", folder / "responses.parquet")
    frame = _parquet_safe(responses)
    frame.to_parquet(folder / "responses.parquet", index=False,
                     use_dictionary=_dictionary_columns(frame), write_statistics=False)


def _write_exclusions(folder: Path, exclusions: pd.DataFrame) -> None:
    # text quoted, ids and file names a spreadsheet would run as formulas neutralised
    from pipeline.csvtext import write_csv  # noqa: PLC0415

    write_csv(exclusions, folder / "exclusions.csv")


def _write_units(folder: Path, units_table: pd.DataFrame) -> None:
    _parquet_safe(units_table).to_parquet(folder / "units.parquet", index=False)


def _dictionary_columns(frame: pd.DataFrame) -> list[str]:
    """Columns worth parquet's dictionary encoding: few distinct values (answer codes, unit and
    group ids, text flags). Scores, row numbers, durations and respondent ids have about one
    value per row, where arrow builds a dictionary, overflows it and starts again without one
    (0.1 s per 10^6-row column for nothing). Which columns are dense is read off the first
    10,000 rows; the file's values are the same either way."""
    head = frame.iloc[:10_000]
    limit = max(len(head) // 10, 50)
    out = []
    for c in frame.columns:
        try:
            distinct = head[c].nunique(dropna=True)
        except TypeError:  # unhashable cells: leave them to arrow's default
            distinct = 0
        if distinct <= limit:
            out.append(str(c))
    return out


def _parquet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    objects = [c for c in frame.columns if frame[c].dtype == object]
    if not objects:
        return frame  # nothing to convert: no copy of a 10^6-row frame
    out = frame.copy()
    for c in objects:
        out[c] = out[c].map(lambda v: None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v))
    return out


@dataclass(frozen=True)
class RunOutcome:
    results: dict
    report: Path
    summary: list[str]


def run_study(folder: Path | str | None = None, *, progress: Progress | None = None) -> RunOutcome:
    """Run the whole pipeline for a study folder and write every output.

    Raises
    ------
    StudyError
        The user's input is wrong; nothing has been written.
    """
    started = datetime.now(timezone.utc).replace(microsecond=0)
    stages = Stages(progress=progress)
    t0 = stages.start("Reading study.yaml, instrument and data")
    study = read_study(folder)
    check_output_places(study.folder)
    try:
        lock = lock_study(study.folder, note=lambda msg: print(msg, file=sys.stderr, flush=True))
    except OSError as exc:
        if not environmental(exc):
            raise
        raise output_error(exc, study.folder) from None
    try:
        try:
            recover(study.folder, note=progress)
        except OSError as exc:
            if not environmental(exc):
                raise
            raise output_error(exc, study.folder) from None
        hook("locked", study.folder)
        inputs = read_inputs(study)
        stages.done("read", t0, f"{len(inputs.raw.data)} responses from "
                    f"{len(inputs.raw.files)} file(s)")
        try:
            outputs = Outputs(study.folder)
        except OSError as exc:
            if not environmental(exc):
                raise
            raise output_error(exc, study.folder) from None
        try:
            analysis, artefacts = analyse(inputs, stages, outputs=outputs)
            t0 = stages.start("Writing report, tables and processed data")
            results = provenance(inputs, started, stages.times) | analysis
            report = write_outputs(study, results, artefacts, inputs.instrument, outputs=outputs)
            stages.done("report", t0)
        finally:
            outputs.close()
    finally:
        lock.release()
    return RunOutcome(results=results, report=report, summary=summary_lines(results, study))


def summary_lines(results: dict, study: Study) -> list[str]:
    s = results["sample"]
    lines = [f"Sample: {s['respondents']} respondents kept of {s['rows_read']} responses "
             f"({s['excluded']} excluded)"
             + (f", {s['units']} units" if s.get("units") else "")
             + (f", {s['groups']} groups" if s.get("groups") else "") + "."]
    if s.get("personal_data_dropped"):
        why = s.get("personal_data_reasons") or {}
        lines.append("Personal data dropped at ingest (never written): " + ", ".join(
            f"{c} (by {why[c]['by']}: {why[c]['what']})" if c in why else c
            for c in s["personal_data_dropped"]) + ".")
    flags = [f"{c} (alpha {r['alpha']:.2f})" for c, r in results["reliability"].items()
             if r.get("alpha") is not None and r["alpha"] < 0.70]
    lines.append("Reliability: " + ("all constructs alpha >= .70." if not flags else
                                    "below .70: " + ", ".join(flags) + "."))
    for name, res in results["models"].items():
        lines.append("Model " + _catalytic_line(name, res, study.config))
    if results["warnings"]:
        lines.append(f"{len(results['warnings'])} warnings -- listed at the end of the report.")
    lines.append(f"Report: {relative_path(study.reports_dir / 'report.html', Path.cwd())}")
    return lines
