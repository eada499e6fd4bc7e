"""Confirmatory factor analysis, factor scores, measurement invariance and group means.

What a reviewer asks of a multi-item instrument after the EFA: does the intended factor structure
fit (chi-square, CFI, TLI, RMSEA with its interval, SRMR), how strongly does each item load
(estimate, SE, standardised loading), are the constructs reliable and distinct (composite
reliability, AVE, HTMT), where does the model strain (modification indices), and can constructs be
compared across regions (configural / metric / scalar invariance).

Every number follows ``lavaan`` 0.6 (Rosseel, 2012) with its defaults, and ``semTools`` 0.5 for
CR, AVE and HTMT:

* ``fit_cfa`` = ``lavaan::cfa(model, data)``: listwise-complete rows, ML with the N-divisor
  covariance matrix, the first loading of each factor fixed at 1, correlated first-order factors,
  expected information for the SEs, ``standardizedSolution()`` (std.all, delta-method SEs),
  ``fitMeasures()``, ``modindices()``; a second-order factor as ``F =~ F1 + F2 + ...``.
* ``factor_scores`` = ``lavPredict(fit, method = "regression")``.
* ``measurement_invariance`` = ``cfa(model, data, group = g, group.equal = ...)`` with
  ``lavTestScore()`` for the partial-invariance search.

Why not a library: factor_analyzer's CFA breaks on pandas 3 and has no fit indices; semopy has no
SRMR, lavaan-inconsistent AIC/BIC and no cross-group equality constraints, and both take 1.6-3 s to
import. The estimation engine (:mod:`pipeline.measure.sem`) works from the sample moments, so the data are
touched once (one cross-product pass) whatever the number of respondents.

References
----------
Rosseel, Y. (2012). lavaan: An R package for structural equation modeling. Journal of Statistical
    Software, 48(2), 1-36.
Jorgensen, T. D., Pornprasertmanit, S., Schoemann, A. M., & Rosseel, Y. (2022). semTools: Useful
    tools for structural equation modeling. R package version 0.5-6.
Fornell, C., & Larcker, D. F. (1981). Evaluating structural equation models with unobservable
    variables and measurement error. Journal of Marketing Research, 18, 39-50.
Henseler, J., Ringle, C. M., & Sarstedt, M. (2015). A new criterion for assessing discriminant
    validity in variance-based SEM. Journal of the Academy of Marketing Science, 43, 115-135.
Roemer, E., Schuberth, F., & Henseler, J. (2021). HTMT2 - an improved criterion for assessing
    discriminant validity in structural equation modeling. Industrial Management & Data Systems,
    121, 2637-2650.
Chen, F. F., Sousa, K. H., & West, S. G. (2005). Testing measurement invariance of second-order
    factor models. Structural Equation Modeling, 12, 471-492.
Chen, F. F. (2007). Sensitivity of goodness of fit indexes to lack of measurement invariance.
    Structural Equation Modeling, 14, 464-504.
Byrne, B. M., Shavelson, R. J., & Muthen, B. (1989). Testing for the equivalence of factor
    covariance and mean structures: The issue of partial measurement invariance. Psychological
    Bulletin, 105, 456-466.
Saris, W. E., Satorra, A., & Sorbom, D. (1987). The detection and correction of specification
    errors in structural equation models. Sociological Methodology, 17, 105-129.
"""

from __future__ import annotations

import math
import warnings as warnings_module
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import chdtrc, ndtr, ndtri, stdtrit

from pipeline.errors import ProblemList, StudyError, did_you_mean
from pipeline.measure.sem import engine as _eng
from pipeline.measure.sem import indices as _idx

from pipeline.jsonvalues import plain as _num

__all__ = [
    "CFAResult",
    "GroupMeansResult",
    "InvarianceLevel",
    "InvarianceResult",
    "factor_scores",
    "fit_cfa",
    "group_means",
    "measurement_invariance",
]

#: Modification hints: at most this many, each with mi >= the 5% critical value of chi2(1).
MAX_HINTS = 10
MI_MIN = 3.841458820694124


# ----------------------------------------------------------------------------------------------
# small helpers


def _one_blas_thread():
    """Single-threaded BLAS for everything in this module.

    The engine's matrices have at most a few hundred rows and the data pass is a product of a
    tall, thin matrix (n x p, p ~ 20), which one thread does at memory speed (10^6 x 20 in
    ~0.1 s). OpenBLAS threads only add overhead here, and on a busy two-core machine their
    spin-waiting made a 200 x 200 solve ~20x and the 10^6-row pass ~40x slower (measured).
    threadpoolctl ships with scikit-learn; without it this is a no-op.
    """
    from pipeline.measure.moments import single_blas_thread  # noqa: PLC0415 -- one cached controller

    return single_blas_thread()


def _fmt(x: float, digits: int = 3) -> str:
    return "NA" if x is None or not np.isfinite(x) else f"{x:.{digits}f}"


def _check_model(data: pd.DataFrame, constructs: Mapping[str, Sequence[str]],
                 higher_order: Mapping[str, Sequence[str]] | None,
                 extra_columns: Sequence[str] = ()) -> None:
    """StudyError listing every construct item / higher-order member that does not exist."""
    problems = ProblemList()
    if not constructs:
        problems.add("no constructs were given to the CFA", key="constructs",
                     fix="define at least one construct with two or more items in the instrument")
    columns = [str(c) for c in data.columns]
    for name, items in constructs.items():
        if len(items) == 0:
            problems.add(f"construct '{name}' has no items", key=f"constructs.{name}",
                         fix="list the construct's items in the instrument")
        for item in items:
            if item not in data.columns:
                problems.add(f"item '{item}' of construct '{name}' is not a column of the data; "
                             + did_you_mean(item, columns), key=f"constructs.{name}",
                             column=str(item),
                             fix="map the export column to the item id (survey.columns) or fix "
                                 "the instrument")
    for col in extra_columns:
        if col not in data.columns:
            problems.add(f"column '{col}' is not in the data; " + did_you_mean(col, columns),
                         column=str(col), key="survey.group",
                         fix="name an existing column of the survey export as survey.group")
    for name, members in (higher_order or {}).items():
        if name in constructs:
            problems.add(f"higher-order factor '{name}' has the name of a construct",
                         key=f"higher_order.{name}",
                         fix="give the higher-order factor its own name")
        for m in members:
            if m not in constructs:
                problems.add(f"'{m}' under higher-order factor '{name}' is not a construct; "
                             + did_you_mean(m, list(constructs)), key=f"higher_order.{name}",
                             fix="list construct names under higher_order")
    problems.raise_if_any("The CFA model does not match the data:")


def _item_matrix(data: pd.DataFrame, items: Sequence[str]) -> np.ndarray:
    """Items as a float matrix (NaN = missing); StudyError naming a non-numeric item column."""
    try:
        return data.loc[:, list(items)].to_numpy(dtype=float, na_value=np.nan)
    except (TypeError, ValueError):
        for item in items:
            try:
                data[item].to_numpy(dtype=float, na_value=np.nan)
            except (TypeError, ValueError):
                bad = next((v for v in data[item].dropna()
                            if not isinstance(v, (int, float, np.number))), None)
                raise StudyError(
                    f"item '{item}' holds non-numeric values such as {bad!r}",
                    column=str(item),
                    fix="recode answer labels to codes (instrument scale labels) before the CFA, "
                        "or declare such codes as missing",
                ) from None
        raise


def _prune(constructs: Mapping[str, Sequence[str]], higher: Mapping[str, Sequence[str]],
           dropped_items: set[str], warnings: list[str]
           ) -> tuple[dict[str, tuple[str, ...]], dict[str, tuple[str, ...]]]:
    """Remove dropped items; constructs left with < 2 items and higher factors with < 2 members."""
    cons: dict[str, tuple[str, ...]] = {}
    for name, items in constructs.items():
        kept = tuple(dict.fromkeys(i for i in items if i not in dropped_items))
        if len(kept) >= 2:
            cons[name] = kept
        else:
            warnings.append(
                f"Construct '{name}' has {len(kept)} usable item(s); a factor needs at least two "
                "indicators to be identified, so it was left out of the CFA.")
    hig: dict[str, tuple[str, ...]] = {}
    for name, members in higher.items():
        kept = tuple(m for m in members if m in cons)
        if len(kept) >= 2:
            hig[name] = kept
        else:
            warnings.append(
                f"Higher-order factor '{name}' has {len(kept)} usable construct(s); it needs at "
                "least two, so it was left out of the CFA.")
    return cons, hig


def _candidate_entries(spec: _eng.ModelSpec) -> _eng.Entries:
    """lavaan's modindices() candidates: cross-loadings, residual covariances of items and
    disturbance covariances of first-order factors that are not yet free."""
    rows = []
    G = spec.groups
    for g in range(G):
        for j in range(spec.m):
            present = set(spec.indicators[j]) if j < spec.n_first else set()
            for i in range(spec.p):
                if i not in present:
                    rows.append((_eng.LAMBDA, g, i, j))
        free_theta = {(int(r), int(c)) for k, gg, r, c in zip(spec.kind, spec.group, spec.row,
                                                               spec.col)
                      if k == _eng.THETA and gg == g}
        for i in range(spec.p):
            for k in range(i):
                if (i, k) not in free_theta and (k, i) not in free_theta:
                    rows.append((_eng.THETA, g, i, k))
        for j in range(spec.n_first):
            for k in range(j):
                if not spec.is_free(_eng.PSI, g, j, k):
                    rows.append((_eng.PSI, g, j, k))
    return _eng.Entries.of(rows)


# ----------------------------------------------------------------------------------------------
# CFA


@dataclass(frozen=True)
class CFAResult:
    """A fitted confirmatory factor model (``lavaan::cfa`` defaults).

    Attributes
    ----------
    constructs, higher_order
        The model actually fitted (constructs left with fewer than two usable items are dropped,
        with a warning).
    n, n_dropped_listwise
        Complete rows used; rows dropped for a missing item.
    converged
        Whether the optimiser reached a stationary point.
    fit
        Fit measures (see :meth:`to_dict`).
    parameters
        Tidy table, one row per model parameter as lavaan's ``parameterEstimates()`` joined with
        ``standardizedSolution()``: ``lhs, op, rhs, estimate, se, z, pvalue, std, std_se``.
    factor_correlations
        Model-implied correlations of all latent variables (``lavInspect(fit, "cor.lv")``).
    composite_reliability, ave
        ``semTools::compRelSEM(fit)`` (with ``higher =`` the higher-order factors) and
        ``semTools::AVE(fit)``.
    htmt
        ``semTools::htmt(model, data)`` (HTMT2, absolute correlations, listwise rows).
    modification_hints
        The largest modification indices (``mi >= 3.84``, at most 10), as
        ``{lhs, op, rhs, mi, epc, sepc_all}``.
    modification_indices
        The ten largest modification indices whatever their size (``modindices(fit, sort. =
        TRUE)``, first ten rows), same keys: the report's local-fit table, which also shows that
        nothing large is left.
    warnings
        Statistical caveats, one sentence each.
    """

    constructs: Mapping[str, tuple[str, ...]]
    higher_order: Mapping[str, tuple[str, ...]]
    n: int
    n_dropped_listwise: int
    converged: bool
    fit: Mapping[str, Any]
    parameters: pd.DataFrame
    factor_correlations: pd.DataFrame
    composite_reliability: Mapping[str, float]
    ave: Mapping[str, float]
    htmt: pd.DataFrame
    modification_hints: tuple[Mapping[str, Any], ...]
    warnings: tuple[str, ...]
    estimator: str = "ML"
    missing: str = "listwise"
    estimator_reason: str | None = None
    se: str = "standard"
    #: ordinal (WLSMV) fits: item -> its thresholds (lavaan's ``|`` parameters); else empty
    thresholds: Mapping[str, tuple[float, ...]] = field(default_factory=dict)
    _model: Any = field(default=None, repr=False, compare=False)
    modification_indices: tuple[Mapping[str, Any], ...] = ()

    # -- views ---------------------------------------------------------------------------------
    def _rows(self, op: str) -> pd.DataFrame:
        return self.parameters[self.parameters["op"] == op]

    @property
    def loadings(self) -> pd.DataFrame:
        """First-order loadings: ``construct, item, estimate, se, z, pvalue, std, std_se``."""
        t = self._rows("=~")
        t = t[t["lhs"].isin(list(self.constructs)) & ~t["rhs"].isin(list(self.constructs))]
        return t.rename(columns={"lhs": "construct", "rhs": "item"}).drop(columns="op") \
            .reset_index(drop=True)

    def to_dict(self) -> dict[str, Any]:
        """The ``cfa`` part of results.json.

        Keys: ``estimator, n, n_dropped_listwise, converged, fit{chisq, df, pvalue, cfi, tli,
        rmsea, rmsea_ci[2], rmsea_pvalue, srmr, aic, bic, bic2, loglik, unrestricted_loglik, npar,
        ntotal, baseline_chisq, baseline_df, baseline_pvalue}, loadings{<construct>{<item>
        {estimate, se, std, std_se}}}, higher_order{<factor>{<construct>{...}}},
        residual_variances{<item>{estimate, se, std}}, factor_correlations{<f1>{<f2>: r}},
        composite_reliability{<factor>}, ave{<construct>}, htmt{<c1>{<c2>: v}},
        modification_hints[{lhs, op, rhs, mi, epc, sepc_all}], modification_indices[{...}],
        warnings[]``.
        """
        p = self.parameters
        loadings: dict[str, dict] = {c: {} for c in self.constructs}
        higher: dict[str, dict] = {h: {} for h in self.higher_order}
        resid: dict[str, dict] = {}
        for row in p.itertuples(index=False):
            cell = {"estimate": row.estimate, "se": row.se, "std": row.std, "std_se": row.std_se}
            if row.op == "=~" and row.lhs in loadings:
                loadings[row.lhs][row.rhs] = cell
            elif row.op == "=~" and row.lhs in higher:
                higher[row.lhs][row.rhs] = cell
            elif row.op == "~~" and row.lhs == row.rhs and row.lhs not in self.factor_correlations:
                resid[row.lhs] = {"estimate": row.estimate, "se": row.se, "std": row.std}
        out = {
            "estimator": self.estimator,
            "missing": self.missing,
            "estimator_reason": self.estimator_reason,
            "se": self.se,
            "n": self.n,
            "n_dropped_listwise": self.n_dropped_listwise,
            "converged": self.converged,
            "fit": dict(self.fit),
            "loadings": loadings,
            "residual_variances": resid,
            "factor_correlations": {r: dict(self.factor_correlations.loc[r])
                                    for r in self.factor_correlations.index},
            "composite_reliability": dict(self.composite_reliability),
            "ave": dict(self.ave),
            "htmt": {r: dict(self.htmt.loc[r]) for r in self.htmt.index},
            "modification_hints": [dict(h) for h in self.modification_hints],
            "modification_indices": [dict(h) for h in self.modification_indices],
            "warnings": list(self.warnings),
        }
        if self.higher_order:
            out["higher_order"] = higher
        if self.thresholds:
            out["thresholds"] = {k: list(v) for k, v in self.thresholds.items()}
        return _num(out)

    def summary(self) -> str:
        """A short text summary in the order a reviewer reads."""
        f = self.fit
        lines = [
            (f"CFA ({self.estimator}, lavaan defaults): n = {self.n} complete rows "
             f"({self.n_dropped_listwise} dropped listwise); converged: {self.converged}"),
            (f"chi2({f.get('df')}) = {_fmt(f.get('chisq'), 2)}, p = {_fmt(f.get('pvalue'), 4)}; "
             f"CFI = {_fmt(f.get('cfi'))}, TLI = {_fmt(f.get('tli'))}, RMSEA = "
             f"{_fmt(f.get('rmsea'))} [{_fmt((f.get('rmsea_ci') or [np.nan])[0])}, "
             f"{_fmt((f.get('rmsea_ci') or [np.nan, np.nan])[1])}], "
             f"SRMR = {_fmt(f.get('srmr'))}"),
        ]
        for row in self.parameters[self.parameters["op"] == "=~"].itertuples(index=False):
            lines.append(f"  {row.lhs} =~ {row.rhs}: {_fmt(row.estimate)} "
                         f"(SE {_fmt(row.se)}), std {_fmt(row.std)}")
        for c, v in self.composite_reliability.items():
            lines.append(f"  CR({c}) = {_fmt(v)}" + (f", AVE = {_fmt(self.ave[c])}"
                                                      if c in self.ave else ""))
        lines.extend(f"[{i}] {w}" for i, w in enumerate(self.warnings, 1))
        return "\n".join(lines)


@dataclass
class _CFAModel:
    """What factor_scores needs from a fitted single-group CFA (and the fitted engine state)."""

    items: tuple[str, ...]
    latents: tuple[str, ...]
    lam: np.ndarray         # (p, m)
    phi: np.ndarray         # (m, m) implied latent covariance
    sigma: np.ndarray       # (p, p)
    intercepts: np.ndarray  # (p,) = sample means of the complete rows
    latent_items: tuple[tuple[int, ...], ...]   # item indices behind each latent
    fitted: Any = None


FIT_KEYS = ("chisq", "df", "pvalue", "cfi", "tli", "rmsea", "rmsea_ci", "rmsea_pvalue", "srmr",
            "aic", "bic", "bic2", "loglik", "unrestricted_loglik", "npar", "ntotal",
            "baseline_chisq", "baseline_df", "baseline_pvalue")


def _blank_fit() -> dict[str, Any]:
    out: dict[str, Any] = dict.fromkeys(FIT_KEYS)
    out["rmsea_ci"] = [None, None]
    return out


def _empty_result(constructs, higher, n, n_dropped, warnings) -> CFAResult:
    names = list(constructs) + list(higher)
    return CFAResult(
        constructs=constructs, higher_order=higher, n=n, n_dropped_listwise=n_dropped,
        converged=False, fit=_blank_fit(),
        parameters=pd.DataFrame(columns=["lhs", "op", "rhs", "estimate", "se", "z", "pvalue",
                                         "std", "std_se"]),
        factor_correlations=pd.DataFrame(np.nan, index=names, columns=names),
        composite_reliability={}, ave={},
        htmt=pd.DataFrame(np.nan, index=list(constructs), columns=list(constructs)),
        modification_hints=(), warnings=tuple(warnings), _model=None,
    )


def fit_cfa(data: pd.DataFrame, constructs: Mapping[str, Sequence[str]],
            higher_order: Mapping[str, Sequence[str]] | None = None, *,
            moments=None, estimator: str = "ml", missing: str | None = None,
            cluster: str | None = None) -> CFAResult:
    """Fit a confirmatory factor model by maximum likelihood, as ``lavaan::cfa(model, data)``.

    ``estimator`` / ``missing`` / ``cluster`` as study.yaml's ``analysis.cfa`` (lavaan's
    ``estimator =``, ``missing =``, ``cluster =``): the default ``"ml"`` with listwise deletion
    is lavaan's default; ``"mlr"`` adds Huber-White (with ``cluster``: cluster-robust) SEs, the
    Yuan-Bentler-Mplus scaled test and robust CFI/TLI/RMSEA; ``missing="fiml"`` uses every
    row with an answer (:mod:`pipeline.measure.sem.fiml`); ``"auto"`` chooses by
    :func:`choose_estimator`; ``"wlsmv"`` goes to :mod:`pipeline.measure.sem.ordinal`.

    Parameters
    ----------
    data
        One row per respondent; item columns already recoded and reverse-keyed (NaN = missing).
        Other columns are ignored.
    constructs
        Construct -> its items. The first item of each construct is its marker (loading 1).
    higher_order
        Optional second-order factors -> the constructs they load on (e.g.
        ``{"social_capital": ["coordination", "cooperation", "reciprocity", "trust"]}``).
    moments
        The :class:`pipeline.measure.moments.ItemMoments` of ``data`` when already computed (the
        reliability stage's): their listwise-complete mean and covariance are used instead of a
        second pass over the rows, when their items are exactly the model's.

    Returns
    -------
    CFAResult

    Raises
    ------
    StudyError
        An item is not a column of ``data``, an item column is not numeric, or a higher-order
        factor names something that is not a construct.

    Notes
    -----
    Rows with any missing item are dropped (lavaan's default ``missing = "listwise"``). With S
    the covariance matrix of the n complete rows (divisor n), ML minimises
    ``F = log|Sigma| + tr(S Sigma^-1) - log|S| - p`` and ``chisq = n F``. SEs come from the
    expected information; ``std`` is lavaan's std.all with delta-method SEs. Matching R::

        fit <- lavaan::cfa("trust =~ t1 + t2 + t3 ...; social_capital =~ trust + ...", data)
        fitMeasures(fit); standardizedSolution(fit); modindices(fit)
        semTools::compRelSEM(fit, higher = "social_capital"); semTools::AVE(fit)
        semTools::htmt(first_order_model, data)

    Composite reliability is ``compRelSEM``'s default (``obs.var = TRUE``): for construct c,
    ``(sum_i lambda_i)^2 Var(eta_c) / 1' S_cc 1`` -- the share of the observed variance of the
    unweighted item sum that the factor explains (Raykov's omega with the observed denominator);
    for a higher-order factor the numerator is the variance due to that factor alone.
    AVE is ``semTools::AVE``: ``sum_i lambda_i^2 Var(eta_c) / sum_i s_ii``. HTMT is
    ``semTools::htmt``'s default HTMT2: the geometric mean of the absolute between-construct item
    correlations over the geometric mean of the within-construct ones, from the same complete
    rows. Constant items are dropped with a warning; so are constructs left with fewer than two
    items. Heywood cases, non-convergence, a non-positive-definite latent covariance matrix,
    fewer complete rows than parameters and a singular information matrix (under-identification)
    are reported in ``warnings``, never raised.
    """
    higher_order = {str(k): tuple(v) for k, v in (higher_order or {}).items()}
    constructs = {str(k): tuple(v) for k, v in constructs.items()}
    _check_model(data, constructs, higher_order)
    if cluster and cluster not in data.columns:
        raise StudyError(f"the cluster column '{cluster}' is not in the data; "
                         + did_you_mean(str(cluster), [str(c) for c in data.columns]),
                         key="analysis.cfa.cluster", column=str(cluster),
                         fix="name the survey column that holds the clusters (school, village, "
                             "interviewer...) as analysis.cfa.cluster, or remove cluster:")
    estimator = (estimator or "ml").lower()
    reason = None
    if estimator == "auto":
        estimator, auto_missing, reason = choose_estimator(data, constructs, cluster)
        missing = missing or auto_missing
    missing = missing or "listwise"
    if cluster and estimator != "mlr":
        raise StudyError(f"cluster: {cluster} needs estimator: mlr", key="analysis.cfa.cluster",
                         fix="write analysis: {cfa: {estimator: mlr, cluster: ...}}")
    if estimator == "wlsmv":
        if missing == "fiml":
            raise StudyError("missing: fiml cannot go with estimator: wlsmv",
                             key="analysis.cfa.missing",
                             fix="use estimator: mlr with missing: fiml, or missing: listwise")
        from pipeline.measure.sem import ordinal  # noqa: PLC0415

        result = _replace_result(ordinal.fit_ordinal_cfa(data, constructs, higher_order),
                                 missing="listwise", se="robust.sem")
        if reason:
            result = _replace_result(result, estimator_reason=reason)
        return result
    with _one_blas_thread():
        if estimator == "ml" and missing == "listwise":
            return _fit_cfa(data, constructs, higher_order, moments)
        result = _fit_ml_family(data, constructs, higher_order, estimator, missing, cluster)
    if reason:
        result = _replace_result(result, estimator_reason=reason)
    return result


#: auto: items with at most this many distinct answers are treated as ordinal (WLSMV)
ORDINAL_MAX_CATEGORIES = 7


def choose_estimator(data: pd.DataFrame, constructs: Mapping[str, Sequence[str]],
                     cluster: str | None = None) -> tuple[str, str, str]:
    """``analysis.cfa: {estimator: auto}``: (estimator, missing, reason).

    WLSMV when every item has at most 7 distinct answers (Likert-type items are ordinal and
    ML on them biases loadings and fit with few categories; Rhemtulla, Brosseau-Liard & Savalei,
    2012, find ML/MLR acceptable from about 5-7 categories, so 7 is the conservative cut), else
    MLR with FIML (robust to non-normality and keeps every respondent with an answer). With
    ``cluster`` MLR is used whatever the items (cluster-robust SEs are MLR's here).
    """
    items = list(dict.fromkeys(i for its in constructs.values() for i in its))
    counts = {i: int(pd.Series(data[i]).nunique(dropna=True)) for i in items}
    most = max(counts.values()) if counts else 0
    if cluster:
        return ("mlr", "fiml", f"Estimator chosen automatically: MLR with FIML, because "
                f"cluster-robust standard errors over '{cluster}' were asked for.")
    if most <= ORDINAL_MAX_CATEGORIES:
        return ("wlsmv", "listwise",
                f"Estimator chosen automatically: WLSMV on polychoric correlations, because "
                f"every item has at most {most} answer categories (ordinal; the cut is "
                f"{ORDINAL_MAX_CATEGORIES}).")
    wide = [i for i, c in counts.items() if c > ORDINAL_MAX_CATEGORIES]
    return ("mlr", "fiml",
            f"Estimator chosen automatically: MLR with FIML, because {len(wide)} item(s) "
            f"have more than {ORDINAL_MAX_CATEGORIES} answer categories (e.g. '{wide[0]}'), "
            "so the items are treated as continuous; robust SEs and test guard against "
            "non-normality and FIML keeps every respondent with an answer.")


def _replace_result(result: CFAResult, **changes) -> CFAResult:
    import dataclasses  # noqa: PLC0415

    return dataclasses.replace(result, **changes)


def _complete_from_moments(moments, items):
    """(mean, N-divisor covariance, n) of the complete rows from ItemMoments over the same item
    set (the same complete rows), else None."""
    if (moments is None or set(moments.items) != set(items) or moments.cov_complete is None
            or moments.n_complete < 2):
        return None
    idx = [moments.items.index(i) for i in items]
    n = int(moments.n_complete)
    cov = np.asarray(moments.cov_complete)[np.ix_(idx, idx)] * ((n - 1) / n)
    return np.asarray(moments.mean_complete)[idx], cov, n


def _fit_cfa(data, constructs, higher_order, moments=None) -> CFAResult:
    warnings: list[str] = []
    all_items = tuple(dict.fromkeys(i for its in constructs.values() for i in its))
    n_rows = len(data)
    known = _complete_from_moments(moments, all_items)
    if known is not None and moments.n_rows == n_rows:
        mean, cov, n = known
    else:
        mean, cov, n = _eng.complete_moments(_item_matrix(data, all_items))
    dropped: set[str] = set()
    if n >= 2:
        const = [it for it, v in zip(all_items, np.diag(cov)) if not v > 1e-12 * max(1.0, abs(
            mean[all_items.index(it)]) ** 2)]
        if const:
            dropped.update(const)
            warnings.append("Item(s) " + ", ".join(f"'{c}'" for c in const) + " have no variance "
                            "in the complete rows and were left out of the CFA.")
    cons, hig = _prune(constructs, higher_order, dropped, warnings)
    items = tuple(dict.fromkeys(i for its in cons.values() for i in its))
    if not cons:
        warnings.append("No construct has two usable items, so no CFA was fitted.")
        return _empty_result(cons, hig, n, n_rows - n, warnings)
    if items != all_items:
        mean, cov, n = _eng.complete_moments(_item_matrix(data, items))
    n_dropped = n_rows - n
    if n_rows and n_dropped / n_rows >= 0.2:
        warnings.append(f"Listwise deletion dropped {n_dropped} of {n_rows} respondents "
                        f"({100 * n_dropped / n_rows:.0f}%) with a missing item; the CFA rests on "
                        "complete rows only.")
    p = len(items)
    if n <= p or np.linalg.eigvalsh(cov)[0] <= 1e-10 * np.max(np.diag(cov)):
        warnings.append(f"The covariance matrix of the {n} complete rows is singular (n = {n} for "
                        f"{p} items, or items are linearly dependent), so no CFA was fitted.")
        return _empty_result(cons, hig, n, n_dropped, warnings)

    return _fit_model(items, cons, hig, mean, cov, n, n_dropped, warnings)


def _fit_model(items, cons, hig, mean, cov, n, n_dropped, warnings) -> CFAResult:
    """The ML fit and everything computed from it, given the complete-row moments."""
    p = len(items)
    spec = _eng.cfa_spec(items, cons, hig)
    if spec.n_par > p * (p + 1) // 2:
        warnings.append(f"The model has {spec.n_par} free parameters but the {p} items give only "
                        f"{p * (p + 1) // 2} variances and covariances, so it is not identified "
                        "(e.g. a single construct with two items); no CFA was fitted.")
        return _empty_result(cons, hig, n, n_dropped, warnings)
    mom = _eng.Moments(cov[None], mean[None], np.array([n]))
    est = _eng.estimate(spec, mom)
    fit = _idx.fitted(spec, mom, est)
    if spec.n_par > n:
        warnings.append(f"Only {n} complete rows for {spec.n_par} free parameters; the estimates "
                        "are unstable and the chi-square test is not trustworthy.")
    if not est.converged:
        warnings.append("The CFA did not converge; its estimates and fit indices are unreliable.")
    if not fit.identified:
        warnings.append("The information matrix is singular, so standard errors were not "
                        "computed: the model may not be identified (e.g. a higher-order factor "
                        "with only two constructs) or the estimates have run off to a boundary.")
    # like lavaan, no fit measures for a model that did not converge
    fm = _idx.fit_measures(fit) if est.converged else _blank_fit()
    return _finish(spec, fit, est, fm, items, cons, hig, mean, cov, n, n_dropped, warnings)


def _finish(spec, fit, est, fm, items, cons, hig, mean, cov, n, n_dropped, warnings, *,
            intercepts=None, hints=True, mi_fit=None, mi_of=None, **extra) -> CFAResult:
    """Everything computed from a fitted model: parameter table, factor correlations, Heywood
    checks, CR/AVE/HTMT from ``cov`` (sample or EM moments), modification hints, the scoring
    state."""
    p = len(items)
    params = _parameter_table(fit)
    imp = _eng.matrices(spec, est.theta)
    lv = spec.lv
    phi = imp.phi[0]
    with np.errstate(invalid="ignore", divide="ignore"):
        sd = np.sqrt(np.diag(phi))
        cor = phi / np.outer(sd, sd)
    factor_cor = pd.DataFrame(cor, index=list(lv), columns=list(lv))
    warnings.extend(_heywood(spec, imp, params))

    # reliability and validity (semTools)
    lam = imp.lam[0]
    cr: dict[str, float] = {}
    ave: dict[str, float] = {}
    for j, c in enumerate(cons):
        idx = list(spec.indicators[j])
        s_sum = cov[np.ix_(idx, idx)].sum()
        cr[c] = float(lam[idx, j].sum() ** 2 * phi[j, j] / s_sum)
        ave[c] = float((lam[idx, j] ** 2).sum() * phi[j, j] / np.diag(cov)[idx].sum())
    for h_off, h in enumerate(hig):
        hj = spec.n_first + h_off
        v = np.zeros(p)
        idx_all: list[int] = []
        for f in spec.indicators[hj]:
            idx = list(spec.indicators[f])
            v[idx] += lam[idx, f] * imp.beta[0, f, hj]
            idx_all.extend(idx)
        idx_all = sorted(set(idx_all))
        cr[h] = float(v[idx_all].sum() ** 2 * imp.psi[0, hj, hj]
                      / cov[np.ix_(idx_all, idx_all)].sum())
    htmt = _htmt(cov, items, cons)

    mis = (_modification_indices(mi_fit or fit, mi_of=mi_of) if hints else ())
    hints = _modification_hints(mis)
    model = _CFAModel(
        items=items, latents=lv, lam=lam.copy(), phi=phi.copy(), sigma=imp.sigma[0].copy(),
        intercepts=(mean if intercepts is None else intercepts).copy(),
        latent_items=tuple(_latent_items(spec, j) for j in range(spec.m)), fitted=fit,
    )
    return CFAResult(
        constructs=cons, higher_order=hig, n=n, n_dropped_listwise=n_dropped,
        converged=bool(est.converged), fit=fm, parameters=params,
        factor_correlations=factor_cor, composite_reliability=cr, ave=ave, htmt=htmt,
        modification_hints=hints, warnings=tuple(warnings), _model=model,
        modification_indices=mis, **extra,
    )


def _latent_items(spec: _eng.ModelSpec, j: int) -> tuple[int, ...]:
    if j < spec.n_first:
        return tuple(spec.indicators[j])
    return tuple(sorted({i for f in spec.indicators[j] for i in _latent_items(spec, f)}))


def _parameter_table(fit: _idx.Fitted, group: int = 0) -> pd.DataFrame:
    """parameterEstimates() + standardizedSolution() for one group, lavaan's row order."""
    spec = fit.spec
    rows: list[tuple[int, int, int, int, int]] = []   # kind, g, r, c, free entry index or -1
    free_index = {(int(k), int(g), int(r), int(c)): e for e, (k, g, r, c) in
                  enumerate(zip(spec.kind, spec.group, spec.row, spec.col))}
    g = group
    for j, inds in enumerate(spec.indicators):
        kind = _eng.LAMBDA if j < spec.n_first else _eng.BETA
        for i in inds:
            rows.append((kind, g, i, j, free_index.get((kind, g, i, j), -1)))
    for kind in (_eng.THETA, _eng.PSI, _eng.NU, _eng.ALPHA):
        for e in np.flatnonzero((spec.kind == kind) & (spec.group == g)):
            rows.append((kind, g, int(spec.row[e]), int(spec.col[e]), int(e)))
    ent = _eng.Entries.of([r[:4] for r in rows])
    std, std_se = _idx.standardized_with_se(fit, ent)
    imp = _eng.matrices(spec, fit.theta)
    se_par = fit.se
    out = []
    for (kind, g_, r, c, e), s, sse in zip(rows, std, std_se):
        lhs, op, rhs = spec.label(kind, r, c)
        mat = {_eng.LAMBDA: imp.lam, _eng.BETA: imp.beta, _eng.PSI: imp.psi,
               _eng.THETA: imp.theta}.get(kind)
        if mat is not None:
            value = float(mat[g_, r, c])
        else:
            value = float((imp.nu if kind == _eng.NU else imp.alpha)[g_, r])
        if e >= 0:
            se = float(se_par[spec.par[e]])
            z = value / se if se > 0 else np.nan
            pv = float(2.0 * ndtr(-abs(z))) if np.isfinite(z) else np.nan
        else:
            se, z, pv = 0.0, np.nan, np.nan
        out.append((lhs, op, rhs, value, se, z, pv, float(s), float(sse)))
    return pd.DataFrame(out, columns=["lhs", "op", "rhs", "estimate", "se", "z", "pvalue",
                                      "std", "std_se"])


def _heywood(spec: _eng.ModelSpec, imp: _eng.Implied, params: pd.DataFrame) -> list[str]:
    out: list[str] = []
    th = np.diag(imp.theta[0])
    for i in np.flatnonzero(th < 0):
        out.append(f"Heywood case: item '{spec.ov[i]}' has a negative residual variance "
                   f"({th[i]:.3f}); the model is misspecified or the sample too small for it.")
    ps = np.diag(imp.psi[0])
    for j in np.flatnonzero(ps < 0):
        what = "variance" if j in spec.exogenous else "disturbance variance"
        out.append(f"Heywood case: factor '{spec.lv[j]}' has a negative {what} ({ps[j]:.3f}).")
    lo = params[(params["op"] == "=~") & (params["std"].abs() > 1)]
    for row in lo.itertuples(index=False):
        out.append(f"Heywood case: the standardised loading of '{row.rhs}' on '{row.lhs}' is "
                   f"{row.std:.3f}, above 1 in absolute value.")
    evals = np.linalg.eigvalsh(imp.phi[0])
    if evals[0] < 0:
        out.append("The covariance matrix of the latent variables is not positive definite "
                   f"(smallest eigenvalue {evals[0]:.3g}): some constructs are not empirically "
                   "distinct or the model is misspecified.")
    return out


def _htmt(cov: np.ndarray, items: Sequence[str], cons: Mapping[str, Sequence[str]]
          ) -> pd.DataFrame:
    """semTools::htmt(htmt2 = TRUE, absolute = TRUE): geometric-mean HTMT from |correlations|."""
    sd = np.sqrt(np.diag(cov))
    r = np.abs(cov / np.outer(sd, sd))
    pos = {it: i for i, it in enumerate(items)}
    names = list(cons)
    idx = [[pos[i] for i in cons[c]] for c in names]
    with np.errstate(divide="ignore"):
        logr = np.log(r)

    def gmean_within(ix):
        sub = logr[np.ix_(ix, ix)]
        off = sub[~np.eye(len(ix), dtype=bool)]
        return float(np.exp(off.mean())) if off.size else np.nan

    within = [gmean_within(ix) for ix in idx]
    out = np.full((len(names), len(names)), np.nan)
    for a in range(len(names)):
        for b in range(len(names)):
            between = float(np.exp(logr[np.ix_(idx[a], idx[b])].mean())) if a != b else within[a]
            denom = within[a] * within[b]
            # a zero within-construct correlation (log 0 = -inf) leaves HTMT undefined
            out[a, b] = between / math.sqrt(denom) if denom > 0 else np.nan
    return pd.DataFrame(out, index=names, columns=names)


def _modification_indices(fit: _idx.Fitted, top: int = MAX_HINTS, mi_of=None
                          ) -> tuple[dict[str, Any], ...]:
    """The ``top`` largest modification indices, as ``modindices(fit, sort. = TRUE)``:
    ``{lhs, op, rhs, mi, epc, sepc_all}`` (``sepc.all``: the EPC completely standardised with the
    model-implied SDs -- of the item and the factor for a cross-loading, of the two residuals
    for a residual covariance)."""
    spec = fit.spec
    if not (fit.identified and np.isfinite(fit.est.fmin)):
        return ()
    cand = _candidate_entries(spec)
    mi, epc = (mi_of or _idx.modification_indices)(fit, cand)
    imp = _eng.matrices(spec, fit.theta)
    order = [int(i) for i in np.argsort(-np.nan_to_num(mi, nan=-1.0), kind="stable")
             if np.isfinite(mi[i])][:top]
    out = []
    sd_y = np.sqrt(np.diag(imp.sigma[0]))
    sd_e = np.sqrt(np.clip(np.diag(imp.phi[0]), 0, None))
    for i in order:
        k, r, c = int(cand.kind[i]), int(cand.row[i]), int(cand.col[i])
        lhs, op, rhs = spec.label(k, r, c)
        with np.errstate(invalid="ignore", divide="ignore"):
            if k == _eng.LAMBDA:
                sepc = epc[i] * sd_e[c] / sd_y[r]
            elif k == _eng.THETA:
                sepc = epc[i] / math.sqrt(imp.theta[0, r, r] * imp.theta[0, c, c]) \
                    if imp.theta[0, r, r] > 0 and imp.theta[0, c, c] > 0 else np.nan
            else:
                sepc = epc[i] / math.sqrt(imp.psi[0, r, r] * imp.psi[0, c, c]) \
                    if imp.psi[0, r, r] > 0 and imp.psi[0, c, c] > 0 else np.nan
        out.append({"lhs": lhs, "op": op, "rhs": rhs, "mi": float(mi[i]), "epc": float(epc[i]),
                    "sepc_all": float(sepc)})
    return tuple(out)


def _modification_hints(mis: Sequence[Mapping[str, Any]]) -> tuple[dict[str, Any], ...]:
    """The modification indices worth a look: mi >= 3.84 (p < .05 with 1 df), at most 10."""
    return tuple(dict(h) for h in mis if h["mi"] >= MI_MIN)[:MAX_HINTS]


# ----------------------------------------------------------------------------------------------
# factor scores


def _regression_scores(x: np.ndarray, intercepts: np.ndarray, lam: np.ndarray, phi: np.ndarray,
                       sigma: np.ndarray, latent_items: Sequence[Sequence[int]],
                       latent_means: np.ndarray | None = None) -> np.ndarray:
    """Regression (Thurstone) scores, per missing-data pattern.

    For a row with observed items o: ``eta_hat = alpha + Phi Lambda_o' Sigma_oo^-1 (y_o - mu_o)``
    with ``mu = intercepts + Lambda alpha`` -- the conditional expectation of the latents given the
    observed items. A latent gets NaN when none of the items behind it is observed.
    """
    p = x.shape[1]
    m = lam.shape[1]
    alpha = np.zeros(m) if latent_means is None else np.asarray(latent_means, float)
    mu = intercepts + lam @ alpha
    cov_eta_y = phi @ lam.T                      # (m, p)
    defined_by = np.zeros((m, p), dtype=bool)
    for j, its in enumerate(latent_items):
        defined_by[j, list(its)] = True
    # complete rows (usually most of them): one product over the whole matrix; rows with a gap
    # come out NaN here and are filled pattern by pattern below
    # x W - (mu W - alpha): no centred copy of a 10^6-row matrix (fresh memory costs more than
    # the product here); a row with a gap has NaN in every score, so the gaps are read off the
    # first score column instead of testing every cell
    w_full = np.linalg.solve(sigma, cov_eta_y.T)                      # (p, m)
    out = x @ w_full
    out -= mu @ w_full - alpha
    gaps = np.flatnonzero(np.isnan(out[:, 0])) if m else np.zeros(0, dtype=np.int64)
    if gaps.size == 0:
        return out
    # the missing-data pattern of each gap row: one integer code per row when p <= 62 (read
    # column by column: x is usually column-major)
    if p <= 62:
        codes = np.zeros(gaps.size, dtype=np.int64)
        for j in range(p):
            codes |= (~np.isnan(x[gaps, j])).astype(np.int64) << j
        ucodes, inverse = np.unique(codes, return_inverse=True)
        patterns = ((ucodes[:, None] >> np.arange(p, dtype=np.int64)) & 1).astype(bool)
    else:
        patterns, inverse = np.unique(~np.isnan(x[gaps]), axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    # all patterns' weights in one batched solve: unobserved items get an identity block and a
    # zero right-hand side, so their weights are 0 and the observed block is Sigma_oo^-1 C_o
    both = patterns[:, :, None] & patterns[:, None, :]
    a_mat = np.where(both, sigma, 0.0) + np.eye(p) * ~patterns[:, None, :]
    b_mat = np.where(patterns[:, :, None], cov_eta_y.T[None], 0.0)
    weights = np.linalg.solve(a_mat, b_mat)                           # (patterns, p, m)
    defined = (defined_by[None] & patterns[:, None, :]).any(axis=2)    # (patterns, m)
    # rows sorted by pattern: one (rows x p) @ (p x m) product per pattern, on contiguous
    # slices of the centred gap rows (missing cells 0), gathered column by column in that order
    order = np.argsort(inverse, kind="stable")
    inv_sorted = inverse[order]
    rows = gaps[order]
    xs = np.empty((rows.size, p), order="F")
    tmp = np.empty(rows.size)
    for j in range(p):  # read in row order, then reordered within the (smaller) gap column
        np.take(x[:, j], gaps, out=tmp, mode="clip")  # mode "raise" would buffer out
        tmp -= mu[j]
        tmp[np.isnan(tmp)] = 0.0
        np.take(tmp, order, out=xs[:, j], mode="clip")
    bounds = np.searchsorted(inv_sorted, np.arange(len(patterns) + 1))
    filled = np.empty((rows.size, m))
    for k in range(len(patterns)):
        lo, hi = bounds[k], bounds[k + 1]
        np.matmul(xs[lo:hi], weights[k], out=filled[lo:hi])
    filled += alpha
    filled[~defined[inv_sorted]] = np.nan
    out[rows] = filled
    return out


def factor_scores(result: CFAResult, data: pd.DataFrame) -> pd.DataFrame:
    """Regression factor scores, as ``lavPredict(fit, method = "regression")``.

    Parameters
    ----------
    result
        A fitted :class:`CFAResult`.
    data
        Rows to score (the fitting data or new respondents), with the model's item columns.

    Returns
    -------
    pandas.DataFrame
        Same index as ``data``; one column per construct and per higher-order factor.

    Raises
    ------
    StudyError
        An item of the model is not a column of ``data``.

    Notes
    -----
    ``eta_hat = Phi Lambda' Sigma^-1 (y - ybar)`` with the fitted Lambda, the model-implied
    covariances Phi (latents) and Sigma (items), and ybar the means of the complete rows (the
    intercepts of lavaan's single-group model), so complete rows reproduce
    ``lavPredict(fit)``. A respondent with some missing items gets the conditional expectation
    given the items answered, ``Phi Lambda_o' Sigma_oo^-1 (y_o - ybar_o)`` -- the formula lavaan
    uses for incomplete rows under ``missing = "ml"``, here with the listwise estimates reported
    in the CFA. A construct's score is missing only when none of its own items was answered (for
    a higher-order factor: none of the items of its constructs). The second-order factor's score
    is its regression prediction from all items, as lavPredict gives it.
    """
    model: _CFAModel | None = result._model
    names = list(result.constructs) + list(result.higher_order)
    if not isinstance(model, _CFAModel):   # not fitted, or an ordinal (WLSMV) fit
        return pd.DataFrame(np.nan, index=data.index, columns=names)
    missing = [i for i in model.items if i not in data.columns]
    if missing:
        raise StudyError("items of the CFA model are not columns of the data to score: "
                         + ", ".join(missing), column=missing[0],
                         fix="score data that hold the same item columns as the fitted data")
    x = _item_matrix(data, model.items)
    with _one_blas_thread():
        scores = _regression_scores(x, model.intercepts, model.lam, model.phi, model.sigma,
                                    model.latent_items)
    return pd.DataFrame(scores, index=data.index, columns=list(model.latents))


def score_reliability(result: CFAResult, scoring: str = "factor") -> dict[str, dict[str, float]]:
    """Reliability and error variance of each respondent-level construct score, under the CFA.

    Parameters
    ----------
    result
        A fitted :class:`CFAResult`.
    scoring
        ``"factor"`` (regression factor scores, :func:`factor_scores`) or ``"mean"`` (item means;
        a higher-order score the mean of its constructs' means, :func:`pipeline.measure.scores.mean_scores`).

    Returns
    -------
    dict
        ``{latent: {"reliability": r, "error_variance": v, "score_variance": s}}``: for a score
        ``a'y`` (item weights ``a``) of latent j, ``r = (a' Lambda Phi e_j)^2 / (a' Sigma a
        Phi_jj)`` -- the squared correlation of score and latent -- ``s = a' Sigma a`` and the
        error variance ``v = (1 - r) s``, all model-implied, in the score's units. Empty when the
        CFA has no model.

    Notes
    -----
    For regression scores ``a = Sigma^-1 Lambda Phi e_j`` and r is the factor determinacy
    squared (``lavaan::lavPredict(fit, rel = TRUE)``'s reliability of the predicted scores).
    Written as ``score = b eta_j + error``, the error is independent of eta_j and between
    respondents, so a unit mean over n respondents carries error variance ``v / n`` -- what
    regression calibration of unit scores needs (:mod:`pipeline.models.calibration`).

    References
    ----------
    Grice, J. W. (2001). Computing and evaluating factor scores. *Psychological Methods*, 6(4),
    430-450.
    """
    model: _CFAModel | None = result._model
    if not isinstance(model, _CFAModel):  # no fit, or an ordinal (WLSMV) fit: no linear scores
        return {}
    lam, phi, sigma = model.lam, model.phi, model.sigma
    p, m = lam.shape
    index = {it: k for k, it in enumerate(model.items)}
    weights = np.zeros((p, m))
    if scoring == "factor":
        weights = np.linalg.solve(sigma, lam @ phi)
    else:
        latents = list(model.latents)
        for j, name in enumerate(latents):
            if name in result.constructs:
                its = [index[i] for i in result.constructs[name] if i in index]
                weights[its, j] = 1.0 / len(its)
        for j, name in enumerate(latents):
            parts = [latents.index(c) for c in result.higher_order.get(name, ()) if c in latents]
            if parts:
                weights[:, j] = weights[:, parts].mean(axis=1)
    out = {}
    for j, name in enumerate(model.latents):
        a = weights[:, j]
        s = float(a @ sigma @ a)
        cov = float(a @ lam @ phi[:, j])
        if s <= 0 or phi[j, j] <= 0:
            continue
        r = cov**2 / (s * phi[j, j])
        out[name] = {"reliability": r, "error_variance": (1 - r) * s, "score_variance": s}
    return out


# ----------------------------------------------------------------------------------------------
# measurement invariance


@dataclass(frozen=True)
class InvarianceLevel:
    """One invariance model (configural, metric, scalar or a partial version)."""

    name: str
    fit: Mapping[str, Any]
    converged: bool
    freed: tuple[str, ...] = ()
    delta_cfi: float | None = None
    delta_rmsea: float | None = None
    chisq_diff: float | None = None
    df_diff: int | None = None
    p_diff: float | None = None
    holds: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        keys = ("chisq", "df", "pvalue", "cfi", "tli", "rmsea", "rmsea_ci", "srmr", "aic", "bic")
        out: dict[str, Any] = {k: self.fit.get(k) for k in keys}
        out["converged"] = self.converged
        if self.name != "configural":
            out.update(delta_cfi=self.delta_cfi, delta_rmsea=self.delta_rmsea,
                       chisq_diff=self.chisq_diff, df_diff=self.df_diff, p_diff=self.p_diff)
        out["holds"] = self.holds
        out["freed"] = list(self.freed)
        return _num(out)


@dataclass(frozen=True)
class InvarianceResult:
    """Configural, metric and scalar invariance across groups, with a partial-invariance search.

    Attributes
    ----------
    group, groups, n
        Grouping column, group labels (group 1 = reference, order of first appearance) and
        complete rows per group.
    configural, metric, scalar
        The three nested models (None when they could not be fitted).
    level_reached
        ``"none" | "configural" | "metric" | "scalar"`` -- full invariance.
    partial_level
        ``"partial metric" | "partial scalar" | None`` when freeing parameters reached a level
        that full invariance did not.
    partial_metric, partial_scalar
        The partial models (with the parameters freed), when searched.
    suggestions
        Largest univariate score tests (``lavTestScore``) of the equality constraints of the
        first level that failed: ``{parameter, group, chisq, df, p}``.
    latent_means
        Latent mean differences from the reference group in the (partial) scalar model:
        ``group, construct, estimate, se, z, pvalue, ci_low, ci_high`` (empty below scalar).
    defensible_comparisons
        One sentence for the report.
    constructs
        The constructs and items of the invariance models (after dropping items constant in a
        group).
    model, higher_order
        The model the levels were fitted on: ``"second-order"`` (the CFA's model with its
        second-order factors, ``higher_order``: factor -> constructs) or ``"first-order"``
        (correlated constructs; ``higher_order`` empty).
    second_order_scalar
        Second-order model only, once (partial) scalar invariance holds: the model that also
        holds the constructs' intercepts equal (at 0) and frees the second-order means,
        compared with the (partial) scalar model -- what comparing the second-order factor's
        means needs (Chen, Sousa & West, 2005). When it holds, its second-order latent means
        are added to ``latent_means``.
    """

    group: str
    groups: tuple[Any, ...]
    n: Mapping[Any, int]
    configural: InvarianceLevel | None
    metric: InvarianceLevel | None
    scalar: InvarianceLevel | None
    level_reached: str
    partial_level: str | None
    partial_metric: InvarianceLevel | None
    partial_scalar: InvarianceLevel | None
    suggestions: tuple[Mapping[str, Any], ...]
    latent_means: pd.DataFrame
    defensible_comparisons: str
    criteria: Mapping[str, float]
    warnings: tuple[str, ...]
    model: str = "first-order"
    higher_order: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    second_order_scalar: InvarianceLevel | None = None
    constructs: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def fit_table(self) -> pd.DataFrame:
        """One row per fitted model (configural, metric, scalar, partial ones): ``model, chisq,
        df, pvalue, cfi, tli, rmsea, rmsea_low, rmsea_high, srmr, delta_cfi, delta_rmsea,
        chisq_diff, df_diff, p_diff, holds, freed``."""
        rows = []
        for lv in (self.configural, self.metric, self.scalar, self.partial_metric,
                   self.partial_scalar, self.second_order_scalar):
            if lv is None:
                continue
            f = lv.fit
            ci = f.get("rmsea_ci") or [np.nan, np.nan]
            rows.append({"model": lv.name, "chisq": f.get("chisq"), "df": f.get("df"),
                         "pvalue": f.get("pvalue"), "cfi": f.get("cfi"), "tli": f.get("tli"),
                         "rmsea": f.get("rmsea"), "rmsea_low": ci[0], "rmsea_high": ci[1],
                         "srmr": f.get("srmr"), "delta_cfi": lv.delta_cfi,
                         "delta_rmsea": lv.delta_rmsea, "chisq_diff": lv.chisq_diff,
                         "df_diff": lv.df_diff, "p_diff": lv.p_diff, "holds": lv.holds,
                         "freed": ", ".join(lv.freed)})
        return pd.DataFrame(rows)

    @property
    def means_comparable(self) -> bool:
        return self.level_reached == "scalar" or self.partial_level == "partial scalar"

    @property
    def relationships_comparable(self) -> bool:
        return self.level_reached in ("metric", "scalar") or self.partial_level is not None

    def to_dict(self) -> dict[str, Any]:
        """The ``invariance`` part of results.json.

        Keys: ``group, groups[], n{<group>}, model, constructs{<construct>: [items]},
        higher_order{<factor>: [constructs]},
        configural{chisq, df, pvalue, cfi, tli, rmsea,
        rmsea_ci, srmr, aic, bic, converged, holds}, metric{... delta_cfi, delta_rmsea,
        chisq_diff, df_diff, p_diff}, scalar{...}, level_reached, partial{level_reached, metric,
        scalar, suggestions[]}, second_order_scalar{...} | null,
        latent_means{<group>{<construct>{estimate, se, z, p, ci_low, ci_high}}},
        comparable{relationships, means}, defensible_comparisons, criteria{}, warnings[]``.
        """
        lm: dict[str, dict] = {}
        for row in self.latent_means.itertuples(index=False):
            lm.setdefault(str(row.group), {})[row.construct] = {
                "estimate": row.estimate, "se": row.se, "z": row.z, "p": row.pvalue,
                "ci_low": row.ci_low, "ci_high": row.ci_high}
        out = {
            "group": self.group,
            "groups": [str(g) for g in self.groups],
            "model": self.model,
            "constructs": {c: list(v) for c, v in self.constructs.items()},
            "higher_order": {h: list(v) for h, v in self.higher_order.items()},
            "n": {str(g): v for g, v in self.n.items()},
            "configural": self.configural.to_dict() if self.configural else None,
            "metric": self.metric.to_dict() if self.metric else None,
            "scalar": self.scalar.to_dict() if self.scalar else None,
            "level_reached": self.level_reached,
            "partial": {
                "level_reached": self.partial_level,
                "metric": self.partial_metric.to_dict() if self.partial_metric else None,
                "scalar": self.partial_scalar.to_dict() if self.partial_scalar else None,
                "suggestions": [dict(s) for s in self.suggestions],
            },
            "second_order_scalar": (self.second_order_scalar.to_dict()
                                    if self.second_order_scalar else None),
            "latent_means": lm or None,
            "comparable": {"relationships": self.relationships_comparable,
                           "means": self.means_comparable},
            "defensible_comparisons": self.defensible_comparisons,
            "criteria": dict(self.criteria),
            "warnings": list(self.warnings),
        }
        return _num(out)


def _fit_groups(items, cons, mom, equal=(), partial=(), higher=None):
    spec = _eng.cfa_spec(items, cons, higher or None, groups=mom.n.size, meanstructure=True,
                         equal=equal, partial=partial)
    est = _eng.estimate(spec, mom)
    fit = _idx.fitted(spec, mom, est)
    fm = _idx.fit_measures(fit) if np.isfinite(est.fmin) else {}
    return fit, fm


def _compare(name: str, fit, fm, base_fm, crit, freed=()) -> InvarianceLevel:
    if not fm or not base_fm:
        return InvarianceLevel(name, fm, bool(fit.est.converged), tuple(freed), holds=False)
    d_cfi = fm["cfi"] - base_fm["cfi"]
    d_rmsea = fm["rmsea"] - base_fm["rmsea"]
    d_x2 = fm["chisq"] - base_fm["chisq"]
    d_df = fm["df"] - base_fm["df"]
    p = float(chdtrc(d_df, d_x2)) if d_df > 0 and d_x2 >= 0 else (1.0 if d_df > 0 else np.nan)
    holds = bool(fit.est.converged and d_cfi >= -crit["delta_cfi"] - 1e-12
                 and d_rmsea <= crit["delta_rmsea"] + 1e-12)
    return InvarianceLevel(name, fm, bool(fit.est.converged), tuple(freed), d_cfi, d_rmsea,
                           d_x2, int(d_df), p, holds)


def _constraint_tests(fit: _idx.Fitted, kind: int | Sequence[int]) -> list[dict[str, Any]]:
    """Univariate score tests of releasing each cross-group equality of the parameter kind(s)
    (``lavTestScore(fit)$uni``: one test per constraint ``.p(group 1). == .p(group g).``),
    largest first."""
    spec = fit.spec
    kinds = [kind] if isinstance(kind, (int, np.integer)) else list(kind)
    sets, meta = [], []
    for par in np.unique(spec.par[np.isin(spec.kind, kinds)]):
        ents = np.flatnonzero(spec.par == par)
        if len(ents) < 2:
            continue
        for e in ents:
            if spec.group[e] == 0:
                continue
            sets.append(np.array([e]))
            meta.append((int(spec.kind[e]), int(spec.row[e]), int(spec.col[e]),
                         int(spec.group[e])))
    results = _idx.release_score_test(fit, sets)
    out = []
    for (k, r, c, g), (x2, df) in zip(meta, results):
        lhs, op, rhs = spec.label(k, r, c)
        out.append({"parameter": f"{lhs}{op}{rhs}", "kind": k, "row": r, "col": c, "group": g,
                    "chisq": x2, "df": df, "p": float(chdtrc(df, x2)) if np.isfinite(x2)
                    else np.nan})
    out.sort(key=lambda d: -d["chisq"] if np.isfinite(d["chisq"]) else np.inf)
    return out


def _freeable(kind: int, row: int, col: int, spec: _eng.ModelSpec,
              partial: set[tuple[int, int, int]]) -> bool:
    """Keep at least two invariant indicators per construct (Byrne et al., 1989)."""
    if kind in (_eng.LAMBDA, _eng.BETA):
        inds = spec.indicators[col]
        still_equal = [i for i in inds[1:] if (kind, i, col) not in partial and i != row]
        return len(still_equal) >= 1          # + the marker = two invariant loadings
    for j in range(spec.n_first):
        inds = spec.indicators[j]
        if row in inds:
            still_equal = [i for i in inds if (kind, i, 0) not in partial and i != row]
            return len(still_equal) >= 2
    return False


def _partial_search(items, cons, mom, equal, kind, start_partial, base_fm, crit, name,
                    higher=None):
    """Free the constraint with the largest score test until the level holds (or no more can).

    ``kind``: the matrix kind(s) whose equalities may be released (loadings: LAMBDA and, in a
    second-order model, BETA; intercepts: NU)."""
    partial = set(start_partial)
    lv = list(cons) + list(higher or {})
    freed: list[str] = [_partial_label(items, lv, e) for e in sorted(partial)]
    first_tests: list[dict[str, Any]] | None = None
    level = None
    max_steps = sum(len(v) for v in cons.values())
    for _ in range(max_steps):
        fit, fm = _fit_groups(items, cons, mom, equal, sorted(partial), higher)
        level = _compare(name, fit, fm, base_fm, crit, freed)
        if level.holds or not fit.identified:
            break
        tests = _constraint_tests(fit, kind)
        if first_tests is None:
            first_tests = tests
        choice = next((t for t in tests if np.isfinite(t["chisq"]) and t["p"] < 0.05
                       and _freeable(t["kind"], t["row"], t["col"], fit.spec, partial)), None)
        if choice is None:
            break
        partial.add((choice["kind"], choice["row"], choice["col"]))
        freed.append(choice["parameter"])
    return level, partial, first_tests or []


def _partial_label(items, lv, entry) -> str:
    kind, row, col = entry
    if kind == _eng.LAMBDA:
        return f"{lv[col]}=~{items[row]}"
    if kind == _eng.BETA:
        return f"{lv[col]}=~{lv[row]}"
    return f"{items[row]}~1"


def _latent_means(fit: _idx.Fitted, groups: Sequence[Any], constructs: Sequence[str],
                  level: float = 0.95) -> pd.DataFrame:
    """Latent mean differences from group 1 (``constructs``: the names of all latent variables,
    first-order first)."""
    spec = fit.spec
    imp = _eng.matrices(spec, fit.theta)
    se = fit.se
    zcrit = float(ndtri(1 - (1 - level) / 2))
    rows = []
    for e in np.flatnonzero(spec.kind == _eng.ALPHA):
        g, j = int(spec.group[e]), int(spec.row[e])
        est = float(imp.alpha[g, j])
        s = float(se[spec.par[e]])
        z = est / s if s > 0 else np.nan
        rows.append((groups[g], constructs[j], est, s, z,
                     float(2 * ndtr(-abs(z))) if np.isfinite(z) else np.nan,
                     est - zcrit * s, est + zcrit * s))
    return pd.DataFrame(rows, columns=["group", "construct", "estimate", "se", "z", "pvalue",
                                       "ci_low", "ci_high"])


def measurement_invariance(
    data: pd.DataFrame, constructs: Mapping[str, Sequence[str]], group: str, *,
    higher_order: Mapping[str, Sequence[str]] | None = None,
    cfi_min: float = 0.90, rmsea_max: float = 0.10,
    delta_cfi: float = 0.01, delta_rmsea: float = 0.015, partial: bool = True,
) -> InvarianceResult:
    """Configural, metric and scalar invariance of the constructs across ``group``.

    Parameters
    ----------
    data
        Respondents with the item columns (recoded, reverse-keyed; NaN = missing) and ``group``.
    constructs
        Construct -> items (first item = marker).
    group
        Column holding the group (region, cluster) of each respondent.
    higher_order
        Second-order factors -> their constructs, as given to :func:`fit_cfa`: the invariance
        levels are then tested on the second-order model the CFA reports (a second-order factor
        needs at least three usable constructs to be identified in every group; with fewer it
        is left out and the levels are those of the first-order model, with a warning).
    cfi_min, rmsea_max
        The configural model must fit at least this well (defaults CFI >= .90, RMSEA <= .10:
        "acceptable"/"mediocre" fit; a warning notes when the fit is below CFI .95 / RMSEA .08).
    delta_cfi, delta_rmsea
        A more constrained level holds when CFI drops by at most ``delta_cfi`` and RMSEA rises by
        at most ``delta_rmsea`` (Chen, 2007: .010 and .015).
    partial
        Search for partial invariance when a level fails (default). With False the score tests
        are still reported as suggestions, but nothing is freed.

    Returns
    -------
    InvarianceResult

    Raises
    ------
    StudyError
        ``group`` or an item is not a column of ``data``.

    Notes
    -----
    One joint multi-group ML fit per level, with mean structure, as lavaan::

        cfa(model, data, group = "region")                                       # configural
        cfa(model, data, group = "region", group.equal = "loadings")             # metric
        cfa(model, data, group = "region", group.equal = c("loadings", "intercepts"))  # scalar

    With a second-order factor H the levels are those of lavaan's ``group.equal`` on the
    second-order model: "loadings" constrains the first-order AND the second-order loadings
    (``H =~ F``, lavaan labels both levels' ``=~`` alike), "intercepts" the item intercepts, and
    in the scalar model the first-order factors' intercepts are free in groups 2..G while H's
    mean is fixed at 0. lavaan's own scalar model also frees H's mean, which is not identified
    (lavaan warns that vcov is not positive definite and its df is one too low per group);
    fixing it is the identified equivalent, with the same chi-square::

        cfa("...; H =~ F1 + F2 + F3; H ~ c(0, 0)*1", data, group = "region",
            group.equal = c("loadings", "intercepts"))

    ``chisq = sum_g N_g F_g``; SRMR is the N_g-weighted mean of the groups' SRMR (mean residuals
    included); RMSEA is multiplied by sqrt(G) (lavaan's multi-group convention). The chi-square
    difference test is reported beside the CFI/RMSEA changes but does not decide (with
    thousands of respondents it rejects trivial differences).

    Partial invariance: when metric (or scalar) invariance fails, the equality constraint with
    the largest univariate score test (``lavTestScore(fit)$uni``, 1 df per released constraint;
    first- and second-order loadings for metric, item intercepts for scalar) is released --
    the parameter becomes group-specific in all groups, as lavaan's ``group.partial`` -- and
    the model refitted, until the level holds against the previous one or no significant
    (p < .05) constraint can be released while keeping at least two invariant indicators per
    factor (Byrne, Shavelson & Muthen, 1989). Latent means (group 1 fixed at 0) come from the
    full or partial scalar model. With a second-order model, once (partial) scalar invariance
    holds, the second-order scalar model (the constructs' intercepts held at 0 in every group,
    the second-order means free: ``F ~ c(0, 0)*1; H ~ c(0, NA)*1``) is compared with it by the
    same criteria (Chen, Sousa & West, 2005); when it holds, the second-order latent means are
    added from it.

    Rows with a missing item or group are dropped (listwise); groups with no more complete rows
    than items are left out with a warning.
    """
    constructs = {str(k): tuple(v) for k, v in constructs.items()}
    higher_order = {str(k): tuple(v) for k, v in (higher_order or {}).items()}
    _check_model(data, constructs, higher_order, extra_columns=[group])
    crit = {"cfi_min": cfi_min, "rmsea_max": rmsea_max, "delta_cfi": delta_cfi,
            "delta_rmsea": delta_rmsea}
    with _one_blas_thread():
        return _measurement_invariance(data, constructs, group, crit, partial, higher_order)


def _invariance_higher(cons, higher, warnings) -> dict[str, tuple[str, ...]]:
    """The second-order factors the invariance models can carry: those with >= 3 constructs."""
    hig = {}
    for h, members in higher.items():
        kept = tuple(m for m in members if m in cons)
        if len(kept) >= 3:
            hig[h] = kept
        else:
            warnings.append(
                f"Second-order factor '{h}' has {len(kept)} usable construct(s); with fewer than "
                "three it is not identified in a multi-group model, so the invariance levels "
                f"were tested on the first-order model (its constructs correlated) instead of "
                "the CFA's second-order model.")
    return hig


def _measurement_invariance(data, constructs, group, crit, partial, higher=None
                            ) -> InvarianceResult:
    warnings: list[str] = []
    all_items = tuple(dict.fromkeys(i for its in constructs.values() for i in its))
    x = _item_matrix(data, all_items)
    gcol = data[group]
    labels = list(pd.unique(gcol.dropna()))
    gvals = gcol.to_numpy()
    keep_rows = ~np.isnan(x).any(axis=1) & gcol.notna().to_numpy()
    n_by = {g: int(np.sum(keep_rows & (gvals == g))) for g in labels}

    # items constant within a group cannot be modelled there: drop them everywhere
    const: set[str] = set()
    for g in labels:
        rows = keep_rows & (gvals == g)
        if rows.sum() >= 2:
            sd = x[rows].std(axis=0)
            const.update(it for it, s in zip(all_items, sd) if not s > 0)
    if const:
        warnings.append("Item(s) " + ", ".join(f"'{c}'" for c in sorted(const)) + " have no "
                        "variance in at least one group and were left out of the invariance "
                        "models.")
    cons, _ = _prune(constructs, {}, const, warnings)
    hig = _invariance_higher(cons, higher or {}, warnings)
    items = tuple(dict.fromkeys(i for its in cons.values() for i in its))
    p = len(items)
    used = []
    for g in labels:
        if n_by[g] <= p:
            warnings.append(f"Group '{g}' has {n_by[g]} complete rows for {p} items, too few for "
                            "its covariance matrix; it was left out of the invariance models.")
        else:
            used.append(g)

    def _empty(reason: str) -> InvarianceResult:
        warnings.append(reason)
        return InvarianceResult(
            group=group, groups=tuple(used), n={g: n_by[g] for g in used}, configural=None,
            metric=None, scalar=None, level_reached="none", partial_level=None,
            partial_metric=None, partial_scalar=None, suggestions=(),
            latent_means=_latent_means_empty(), defensible_comparisons=(
                "Measurement invariance could not be tested, so no comparison of constructs "
                "across groups is supported by it."), criteria=crit, warnings=tuple(warnings),
            model="second-order" if hig else "first-order", higher_order=hig,
            constructs=cons)

    if not cons:
        return _empty("No construct has two usable items, so invariance was not tested.")
    if len(used) < 2:
        return _empty(f"Invariance needs at least two groups with enough complete rows in column "
                      f"'{group}'; found {len(used)}.")
    xi = _item_matrix(data, items)
    covs, means, ns = [], [], []
    for g in used:
        rows = ~np.isnan(xi).any(axis=1) & (gvals == g) & gcol.notna().to_numpy()
        mu, cv, n = _eng.complete_moments(xi[rows])
        covs.append(cv)
        means.append(mu)
        ns.append(n)
        n_by[g] = n
    mom = _eng.Moments(np.array(covs), np.array(means), np.array(ns))
    bad = [g for g, cv in zip(used, covs) if np.linalg.eigvalsh(cv)[0] <= 1e-10 * cv.max()]
    if bad:
        return _empty("The item covariance matrix is singular in group(s) "
                      + ", ".join(f"'{b}'" for b in bad) + "; invariance was not tested.")

    return _invariance_models(items, cons, mom, used, n_by, group, crit, partial, warnings, hig)


def _invariance_models(items, cons, mom, used, n_by, group, crit, partial, warnings, hig=None
                       ) -> InvarianceResult:
    """Fit the configural, metric and scalar models and search for partial invariance."""
    cfi_min, rmsea_max = crit["cfi_min"], crit["rmsea_max"]
    hig = dict(hig or {})
    LOAD, INT = ("loadings",), ("loadings", "intercepts")
    LOADINGS = (_eng.LAMBDA, _eng.BETA)
    fit_c, fm_c = _fit_groups(items, cons, mom, (), (), hig)
    fit_m, fm_m = _fit_groups(items, cons, mom, LOAD, (), hig)
    fit_s, fm_s = _fit_groups(items, cons, mom, INT, (), hig)
    configural_ok = bool(fit_c.est.converged and fm_c and fm_c["cfi"] >= cfi_min
                         and fm_c["rmsea"] <= rmsea_max)
    configural = InvarianceLevel("configural", fm_c, bool(fit_c.est.converged),
                                 holds=configural_ok)
    metric = _compare("metric", fit_m, fm_m, fm_c, crit)
    scalar = _compare("scalar", fit_s, fm_s, fm_m, crit)
    for name, fit in (("configural", fit_c), ("metric", fit_m), ("scalar", fit_s)):
        if not fit.est.converged:
            warnings.append(f"The {name} model did not converge; its fit is unreliable.")
        if not fit.identified:
            warnings.append(f"The {name} model's information matrix is singular (model may not "
                            "be identified); standard errors were not computed.")
        imp = _eng.matrices(fit.spec, fit.theta)
        th = np.diagonal(imp.theta, axis1=1, axis2=2)
        if np.any(th < 0):
            g, i = np.argwhere(th < 0)[0]
            warnings.append(f"Heywood case in the {name} model: item '{items[i]}' has a negative "
                            f"residual variance in group '{used[g]}'.")
        ps_ = np.diagonal(imp.psi, axis1=1, axis2=2)
        if np.any(ps_ < 0):
            g, j = np.argwhere(ps_ < 0)[0]
            warnings.append(f"Heywood case in the {name} model: factor '{fit.spec.lv[j]}' has a "
                            f"negative (disturbance) variance in group '{used[g]}'.")
    if fm_c and configural_ok and (fm_c["cfi"] < 0.95 or fm_c["rmsea"] > 0.08):
        warnings.append(f"The configural model fits only moderately (CFI {fm_c['cfi']:.3f}, "
                        f"RMSEA {fm_c['rmsea']:.3f}); invariance tests rest on a mediocre "
                        "baseline.")

    if not configural_ok:
        level = "none"
    elif not metric.holds:
        level = "configural"
    elif not scalar.holds:
        level = "metric"
    else:
        level = "scalar"

    partial_level = None
    partial_metric = partial_scalar = None
    ps_set: set = set()
    suggestions: list[dict[str, Any]] = []
    means_fit = fit_s if level == "scalar" else None
    if not partial and level in ("configural", "metric"):
        failing = fit_m if level == "configural" else fit_s
        suggestions = _constraint_tests(failing, LOADINGS if level == "configural"
                                        else _eng.NU)
    elif level == "configural":
        partial_metric, pm_set, tests = _partial_search(
            items, cons, mom, LOAD, LOADINGS, (), fm_c, crit, "partial metric", hig)
        suggestions = tests
        if partial_metric is not None and partial_metric.holds and partial_metric.freed:
            partial_level = "partial metric"
            _, pm_fm = _fit_groups(items, cons, mom, LOAD, sorted(pm_set), hig)
            partial_scalar, ps_set, _ = _partial_search(
                items, cons, mom, INT, _eng.NU, pm_set, pm_fm, crit, "partial scalar", hig)
            if partial_scalar is not None and partial_scalar.holds:
                partial_level = "partial scalar"
                means_fit = _fit_groups(items, cons, mom, INT, sorted(ps_set), hig)[0]
        else:
            partial_metric = partial_metric if (partial_metric and partial_metric.freed) else None
    elif level == "metric":
        partial_scalar, ps_set, tests = _partial_search(
            items, cons, mom, INT, _eng.NU, (), fm_m, crit, "partial scalar", hig)
        suggestions = tests
        if partial_scalar is not None and partial_scalar.holds and partial_scalar.freed:
            partial_level = "partial scalar"
            means_fit = _fit_groups(items, cons, mom, INT, sorted(ps_set), hig)[0]
        elif partial_scalar is not None and not partial_scalar.freed:
            partial_scalar = None

    lv = list(cons) + list(hig)
    latent = _latent_means(means_fit, used, lv) if means_fit is not None \
        else _latent_means_empty()
    second = None
    if hig and means_fit is not None:
        # second-order scalar: the constructs' intercepts equal too (held at 0), the
        # second-order means free -- what comparing the second-order factor's means needs
        base = scalar if level == "scalar" else partial_scalar
        keep = sorted(ps_set) if level != "scalar" else []
        fit_h, fm_h = _fit_groups(items, cons, mom, INT + ("construct_intercepts",), keep, hig)
        second = _compare("second-order scalar", fit_h, fm_h, base.fit, crit,
                          base.freed if level != "scalar" else ())
        if not fit_h.est.converged:
            warnings.append("The second-order scalar model did not converge; its fit is "
                            "unreliable.")
        if second.holds:
            h_means = _latent_means(fit_h, used, lv)
            latent = pd.concat([latent, h_means[h_means["construct"].isin(list(hig))]],
                               ignore_index=True)
    sugg = tuple({"parameter": t["parameter"], "group": str(used[t["group"]]),
                  "chisq": t["chisq"], "df": t["df"], "p": t["p"]} for t in suggestions[:5])
    sentence = _defensible_sentence(level, partial_level, partial_metric, partial_scalar, group)
    if second is not None:
        names = ", ".join(f"'{h}'" for h in hig)
        sentence += (f" The second-order factor {names} can be compared too: its constructs' "
                     "intercepts are invariant (second-order scalar invariance)."
                     if second.holds else
                     f" The means of the second-order factor {names} cannot be compared: its "
                     "constructs' intercepts differ across groups (second-order scalar "
                     "invariance fails); compare the constructs' means instead.")
    return InvarianceResult(
        group=group, groups=tuple(used), n={g: n_by[g] for g in used},
        configural=configural, metric=metric, scalar=scalar, level_reached=level,
        partial_level=partial_level, partial_metric=partial_metric,
        partial_scalar=partial_scalar, suggestions=sugg, latent_means=latent,
        defensible_comparisons=sentence, criteria=crit, warnings=tuple(warnings),
        model="second-order" if hig else "first-order", higher_order=hig,
        second_order_scalar=second, constructs=cons)


def _latent_means_empty() -> pd.DataFrame:
    return pd.DataFrame(columns=["group", "construct", "estimate", "se", "z", "pvalue",
                                 "ci_low", "ci_high"])


def _defensible_sentence(level, partial_level, pm, ps, group) -> str:
    freed: tuple[str, ...] = ()
    if ps is not None and ps.holds:
        freed = ps.freed
    elif pm is not None and pm.holds:
        freed = pm.freed
    freed_txt = (" after freeing " + ", ".join(freed)) if freed else ""
    if level == "scalar":
        return (f"Scalar invariance holds across {group}: construct means and relationships "
                "(correlations, regression slopes) can be compared across groups; latent mean "
                "differences come from the scalar model.")
    if partial_level == "partial scalar":
        return (f"Partial scalar invariance holds across {group}{freed_txt}: relationships and "
                "latent means can be compared (latent means from the partial scalar model); "
                "observed scale means still include the non-invariant items.")
    if level == "metric":
        return (f"Metric invariance holds across {group} but scalar invariance does not: "
                "relationships (correlations, regression slopes) can be compared across groups, "
                "construct means cannot.")
    if partial_level == "partial metric":
        return (f"Partial metric invariance holds across {group}{freed_txt}: relationships can be "
                "compared across groups, construct means cannot.")
    if level == "configural":
        return (f"Only configural invariance holds across {group}: the same items measure the "
                "same constructs, but loadings differ, so neither relationships nor means can be "
                "compared across groups.")
    return (f"Configural invariance is not supported across {group}: the factor structure does "
            "not fit acceptably in every group, so constructs should not be compared across "
            "groups.")


# ----------------------------------------------------------------------------------------------
# group means


@dataclass(frozen=True)
class GroupMeansResult:
    """Per-group means of construct scores and, where invariance allows, latent mean differences.

    Attributes
    ----------
    table
        ``group, construct, n, mean, sd, se, ci_low, ci_high`` (t-based CI of the mean score).
    latent_means
        Latent mean differences from the reference group (empty unless scalar or partial
        scalar invariance was reached).
    reference_group, basis
        The group whose latent means are fixed at 0 and the invariance level the latent means rest
        on (``"scalar"``, ``"partial scalar"`` or None).
    means_comparable, defensible_comparisons, warnings
        Whether group differences in these means measure construct differences, in a sentence.
    """

    table: pd.DataFrame
    latent_means: pd.DataFrame
    reference_group: Any
    basis: str | None
    means_comparable: bool
    defensible_comparisons: str
    level: float
    warnings: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """``{groups{<group>{<construct>{n, mean, sd, se, ci_low, ci_high}}}, latent_means{...},
        reference_group, basis, means_comparable, defensible_comparisons, level, warnings[]}``."""
        groups: dict[str, dict] = {}
        for r in self.table.itertuples(index=False):
            groups.setdefault(str(r.group), {})[r.construct] = {
                "n": r.n, "mean": r.mean, "sd": r.sd, "se": r.se, "ci_low": r.ci_low,
                "ci_high": r.ci_high}
        lm: dict[str, dict] = {}
        for r in self.latent_means.itertuples(index=False):
            lm.setdefault(str(r.group), {})[r.construct] = {
                "estimate": r.estimate, "se": r.se, "z": r.z, "p": r.pvalue,
                "ci_low": r.ci_low, "ci_high": r.ci_high}
        return _num({
            "groups": groups, "latent_means": lm or None,
            "reference_group": None if self.reference_group is None else str(self.reference_group),
            "basis": self.basis, "means_comparable": self.means_comparable,
            "defensible_comparisons": self.defensible_comparisons, "level": self.level,
            "warnings": list(self.warnings),
        })


def group_means(scores: pd.DataFrame, groups: pd.Series | Sequence[Any],
                invariance: InvarianceResult | None = None, *, level: float = 0.95
                ) -> GroupMeansResult:
    """Mean construct score per group with CIs, and latent mean differences where defensible.

    Parameters
    ----------
    scores
        Construct scores, one column per construct (factor or mean scores), one row per
        respondent (NaN = no score).
    groups
        Group of each row of ``scores`` (aligned by position).
    invariance
        The :func:`measurement_invariance` result for these groups. Latent mean differences are
        given only at scalar or partial scalar invariance; without it the means are given with a
        warning that they are not known to be comparable.
    level
        Confidence level.

    Returns
    -------
    GroupMeansResult

    Notes
    -----
    Observed: ``mean +/- t_{n-1, (1+level)/2} sd / sqrt(n)`` per group and construct (R:
    ``t.test(x)$conf.int``). Latent: the scalar model's latent means (group 1 fixed at 0, so each
    is a difference from the reference group) with Wald CIs, as ``parameterEstimates()`` of
    ``cfa(model, data, group = g, group.equal = c("loadings", "intercepts"))``.
    """
    if len(groups) != len(scores):
        raise StudyError("the group column and the scores have different lengths",
                         fix="pass one group value per respondent")
    groups = pd.Series(np.asarray(groups, dtype=object), index=scores.index)
    order = list(invariance.groups) if invariance is not None else []
    order += [g for g in pd.unique(groups.dropna()) if g not in order]
    tcrit_p = 1 - (1 - level) / 2
    rows = []
    for g in order:
        sel = (groups == g).to_numpy()
        for c in scores.columns:
            v = scores.loc[sel, c].to_numpy(dtype=float, na_value=np.nan)
            v = v[~np.isnan(v)]
            n = v.size
            mean = float(v.mean()) if n else np.nan
            sd = float(v.std(ddof=1)) if n > 1 else np.nan
            se = sd / math.sqrt(n) if n > 1 else np.nan
            half = float(stdtrit(n - 1, tcrit_p)) * se if n > 1 else np.nan
            rows.append((g, str(c), n, mean, sd, se, mean - half, mean + half))
    table = pd.DataFrame(rows, columns=["group", "construct", "n", "mean", "sd", "se", "ci_low",
                                        "ci_high"])
    warnings: list[str] = []
    if invariance is None:
        basis = None
        comparable = False
        latent = _latent_means_empty()
        sentence = ("Measurement invariance was not tested, so differences between these group "
                    "means may reflect how the items work in each group rather than the "
                    "constructs.")
        warnings.append(sentence)
    else:
        comparable = invariance.means_comparable
        basis = ("scalar" if invariance.level_reached == "scalar" else
                 invariance.partial_level if comparable else None)
        latent = invariance.latent_means if comparable else _latent_means_empty()
        sentence = invariance.defensible_comparisons
        if not comparable:
            warnings.append("Scalar invariance was not reached, so differences between these "
                            "group means cannot be read as differences in the constructs.")
        elif invariance.second_order_scalar is not None and \
                not invariance.second_order_scalar.holds:
            names = ", ".join(f"'{h}'" for h in invariance.higher_order)
            warnings.append(f"Second-order scalar invariance does not hold, so differences "
                            f"between the group means of {names} cannot be read as differences "
                            "in that factor; its constructs' means can be compared.")
    ref = order[0] if order else None
    return GroupMeansResult(table=table, latent_means=latent, reference_group=ref, basis=basis,
                            means_comparable=comparable, defensible_comparisons=sentence,
                            level=level, warnings=tuple(warnings))


# ----------------------------------------------------------------------------------------------
# MLR and FIML (analysis.cfa: {estimator: mlr, missing: fiml, cluster: ...})


ROBUST_KEYS = ("chisq_scaled", "df_scaled", "pvalue_scaled", "scaling_factor",
               "baseline_chisq_scaled", "baseline_scaling_factor", "cfi_robust", "tli_robust",
               "rmsea_robust", "rmsea_robust_ci")


def _fit_ml_family(data, constructs, higher_order, estimator: str, missing: str,
                   cluster: str | None) -> CFAResult:
    """ML/MLR with listwise deletion or FIML, as ``lavaan::cfa(..., estimator, missing,
    cluster)``; see :mod:`pipeline.measure.sem.fiml` and :mod:`pipeline.measure.sem.robust`."""
    from pipeline.measure.sem import fiml as _fiml  # noqa: PLC0415
    from pipeline.measure.sem import robust as _rob  # noqa: PLC0415

    warnings: list[str] = []
    robust = estimator == "mlr"
    est_name = "MLR" if robust else "ML"
    se_name = (f"cluster:{cluster}" if cluster else "robust.huber.white") if robust \
        else "standard"
    all_items = tuple(dict.fromkeys(i for its in constructs.values() for i in its))
    x_all = _item_matrix(data, all_items)
    n_rows = len(data)
    cl_all = data[cluster].to_numpy() if cluster else None
    if missing == "fiml":
        keep = ~np.isnan(x_all).all(axis=1)
        if cl_all is not None:
            keep &= ~pd.isna(cl_all)
    else:
        keep = ~np.isnan(x_all).any(axis=1)
        if cl_all is not None:
            keep &= ~pd.isna(cl_all)
    with np.errstate(invalid="ignore"), warnings_module.catch_warnings():
        warnings_module.simplefilter("ignore", RuntimeWarning)
        used = x_all[keep] if not keep.all() else x_all
        hi = np.nanmax(used, axis=0) if len(used) else np.full(len(all_items), np.nan)
        lo = np.nanmin(used, axis=0) if len(used) else hi
    # constant (or never answered) in the rows used
    const = [it for it, a, b in zip(all_items, lo, hi)
             if not (b - a > 1e-12 * max(1.0, abs(a) if np.isfinite(a) else 1.0))]
    if const:
        warnings.append("Item(s) " + ", ".join(f"'{c}'" for c in const) + " have no variance "
                        "in the rows used and were left out of the CFA.")
    cons, hig = _prune(constructs, higher_order, set(const), warnings)
    items = tuple(dict.fromkeys(i for its in cons.values() for i in its))
    extra = {"estimator": est_name, "missing": missing, "se": se_name}
    idx = [all_items.index(i) for i in items]
    x = x_all[:, idx]
    if missing == "fiml":
        keep = ~np.isnan(x).all(axis=1) & (~pd.isna(cl_all) if cl_all is not None else True)
    x = x[keep]
    cl = cl_all[keep] if cl_all is not None else None
    n = int(keep.sum())
    n_dropped = n_rows - n

    def empty(msg):
        warnings.append(msg)
        r = _empty_result(cons, hig, n, n_dropped, warnings)
        return _replace_result(r, **extra)

    if not cons:
        return empty("No construct has two usable items, so no CFA was fitted.")
    if missing == "fiml" and n_dropped:
        warnings.append(f"{n_dropped} respondent(s) answered none of the CFA items"
                        + (f" or have no '{cluster}'" if cluster else "")
                        + " and were left out (FIML needs at least one answer).")
    elif missing == "listwise" and n_rows and n_dropped / n_rows >= 0.2:
        warnings.append(f"Listwise deletion dropped {n_dropped} of {n_rows} respondents "
                        f"({100 * n_dropped / n_rows:.0f}%) with a missing item; the CFA rests "
                        "on complete rows only (missing: fiml would use every answer).")
    p = len(items)
    meanstructure = missing == "fiml" or cluster is not None
    spec = _eng.cfa_spec(items, cons, hig, meanstructure=meanstructure)
    n_moments = p * (p + 1) // 2 + (p if meanstructure else 0)
    if spec.n_par > n_moments:
        return empty(f"The model has {spec.n_par} free parameters but the {p} items give only "
                     f"{n_moments} moments, so it is not identified; no CFA was fitted.")
    if cl is not None:
        n_cl = len(pd.unique(cl))
        if n_cl < 2:
            return empty(f"cluster: '{cluster}' has fewer than two clusters among the rows "
                         "used, so no cluster-robust CFA was fitted.")
        if n_cl <= spec.n_par:
            warnings.append(f"Only {n_cl} clusters of '{cluster}' for {spec.n_par} free "
                            "parameters: the cluster-robust covariance matrix of the estimates "
                            "is singular and its SEs and scaled test are unreliable.")
    if missing == "fiml":
        pat = _fiml.missing_patterns(x)
        h1 = _fiml.em_h1(pat)
        if not h1.converged:
            warnings.append(f"The EM estimate of the saturated model did not converge in "
                            f"{h1.iterations} iterations; the chi-square is approximate.")
        if not np.all(np.isfinite(h1.cov)) or np.linalg.eigvalsh(h1.cov)[0] <= 1e-7 * max(
                float(np.max(np.diag(h1.cov))), 1e-300):
            return empty("The EM covariance matrix of the items is singular (too few answers "
                         "or linearly dependent items), so no CFA was fitted.")
        mean_h1, cov_h1 = h1.mean, h1.cov
        obj = _fiml.Objective(spec, pat, h1)
        est = _fiml.minimise(obj, _fiml.start_values(spec, h1, n))

        def info_of(theta):
            return _fiml.observed_information(obj, theta)
    else:
        pat = None
        mean_h1, cov_h1, n = _eng.complete_moments(x)
        if n <= p or np.linalg.eigvalsh(cov_h1)[0] <= 1e-10 * np.max(np.diag(cov_h1)):
            return empty(f"The covariance matrix of the {n} complete rows is singular, so no "
                         "CFA was fitted.")
        mom = _eng.Moments(cov_h1[None], mean_h1[None], np.array([n]))
        est = _eng.estimate(spec, mom)

        def info_of(theta):
            return _rob.numeric_information(
                lambda t: _eng.gradient_information(spec, mom, t, need_info=False)[0], theta)
    mom_h1 = _eng.Moments(cov_h1[None], mean_h1[None], np.array([n]))
    if not est.converged:
        warnings.append("The CFA did not converge; its estimates and fit indices are "
                        "unreliable.")
    try:
        info = info_of(est.theta) if np.all(np.isfinite(est.theta)) else None
        evals = np.linalg.eigvalsh(info) if info is not None else np.array([np.nan])
        identified = bool(np.all(np.isfinite(evals)) and evals[0] > 1e-10 * max(evals[-1],
                                                                                1e-300))
    except (np.linalg.LinAlgError, ValueError):
        info, identified = None, False
    if info is None:
        info = np.full((spec.n_par, spec.n_par), np.nan)
    vcov = np.linalg.inv(n * info) if identified else np.full_like(info, np.nan)
    # fit measures
    df = n_moments - spec.n_par
    if missing == "fiml":
        chisq = max(float(n * est.fmin), 0.0)
        b2, base_mean, base_var = _fiml.baseline_minus2ll(pat)
        x2_b = float(b2 - h1.minus2ll)
        h1_ll = -0.5 * h1.minus2ll
    else:
        chisq = max(float(n * est.fmin), 0.0)
        logdet = np.linalg.slogdet(cov_h1)[1]
        x2_b = float(n * (np.log(np.diag(cov_h1)).sum() - logdet))
        h1_ll = -0.5 * n * (p * _idx.LOG_2PI + logdet + p)
        base_mean, base_var = mean_h1, np.diag(cov_h1)
    df_b = p * (p - 1) // 2
    rb = None
    if robust and identified and est.converged:
        rb = _rob.mlr(spec, est.theta, info, x, n, chisq, df, h1_mean=mean_h1, h1_cov=cov_h1,
                      pat=pat, meanstructure=meanstructure, cluster=cl)
        vcov = rb.vcov
    fit = _idx.Fitted(spec, mom_h1, est, info, vcov, identified)
    if not identified:
        warnings.append("The information matrix is singular, so standard errors were not "
                        "computed: the model may not be identified or the estimates have run "
                        "off to a boundary.")
    if est.converged:
        fm = _ml_family_fit(spec, est, n, chisq, df, x2_b, df_b, h1_ll, mom_h1, rb, robust,
                            pat, x, base_mean, base_var, cl)
    else:
        fm = _blank_fit()
    intercepts = _eng.matrices(spec, est.theta).mu[0] if meanstructure else mean_h1
    # modification indices as lavaan's modindices(): from the expected information whatever
    # the SEs (complete data: the ML one; FIML: the FIML expected information)
    if missing == "fiml":
        mi_fit, mi_of = fit, (lambda f, cand: _fiml.modification_indices(obj, f.theta, cand))
    else:
        mi_fit, mi_of = (_idx.fitted(spec, mom, est) if identified else None), None
    return _finish(spec, fit, est, fm, items, cons, hig, mean_h1, cov_h1, n, n_dropped,
                   warnings, intercepts=intercepts, hints=identified and est.converged,
                   mi_fit=mi_fit, mi_of=mi_of, **extra)


def _ml_family_fit(spec, est, n, chisq, df, x2_b, df_b, h1_ll, mom_h1, rb, robust, pat, x,
                   base_mean, base_var, cl) -> dict[str, Any]:
    from pipeline.measure.sem import robust as _rob  # noqa: PLC0415

    npar = spec.n_par
    pvalue = float(chdtrc(df, chisq)) if df > 0 else np.nan
    lo, hi = _idx.rmsea_ci(chisq, df, n)
    loglik = h1_ll - 0.5 * chisq
    fm: dict[str, Any] = {
        "chisq": chisq, "df": int(df), "pvalue": pvalue,
        "cfi": _rob.cfi(chisq, df, x2_b, df_b), "tli": _rob.tli(chisq, df, x2_b, df_b),
        "rmsea": _rob.rmsea(chisq, df, n), "rmsea_ci": [lo, hi],
        "rmsea_pvalue": float(1.0 - _idx.pchisq_noncentral(chisq, df, n * df * 0.05 ** 2))
        if df > 0 else np.nan,
        "srmr": _idx.srmr(spec, mom_h1, est.theta),
        "aic": float(-2 * loglik + 2 * npar), "bic": float(-2 * loglik + npar * np.log(n)),
        "bic2": float(-2 * loglik + npar * np.log((n + 2.0) / 24.0)),
        "loglik": float(loglik), "unrestricted_loglik": float(h1_ll),
        "npar": int(npar), "ntotal": int(n),
        "baseline_chisq": x2_b, "baseline_df": int(df_b),
        "baseline_pvalue": float(chdtrc(df_b, x2_b)) if df_b > 0 else np.nan,
    }
    if robust:
        fm.update(dict.fromkeys(ROBUST_KEYS))
        fm["rmsea_robust_ci"] = [None, None]
    if rb is None and not (pat is not None):
        return fm
    c_b = None
    if rb is not None:
        c = rb.scaling_factor
        fm.update(chisq_scaled=rb.chisq_scaled, df_scaled=int(df), pvalue_scaled=rb.pvalue_scaled,
                  scaling_factor=c)
    if pat is None and rb is not None:
        c_b = rb.c_null
        fm.update(baseline_chisq_scaled=x2_b / c_b if c_b else None, baseline_scaling_factor=c_b,
                  cfi_robust=_rob.cfi(chisq, df, x2_b, df_b, c, c_b),
                  tli_robust=_rob.tli(chisq, df, x2_b, df_b, c, c_b),
                  rmsea_robust=_rob.rmsea(chisq, df, n, c),
                  rmsea_robust_ci=_rob.rmsea_ci(rb.chisq_scaled, df, n, c))
    elif pat is not None and robust and rb is not None:
        c_b = rb.c_null
        fm.update(baseline_chisq_scaled=x2_b / c_b if c_b else None, baseline_scaling_factor=c_b)
        fc = _rob.fiml_corrected(spec, est.theta, pat, x, mom_h1.mean[0], mom_h1.cov[0], n, df,
                                 df_b, True, base_mean, base_var, cl, jm=rb.b1)
        fm.update(cfi_robust=_rob.cfi(fc["XX3"], df, fc["XX3_null"], df_b, fc["c3"],
                                      fc["c3_null"]),
                  tli_robust=_rob.tli(fc["XX3"], df, fc["XX3_null"], df_b, fc["c3"],
                                      fc["c3_null"]),
                  rmsea_robust=_rob.rmsea(fc["XX3"], df, n, fc["c3"]),
                  rmsea_robust_ci=_rob.rmsea_ci(fc["XX3_scaled"], df, n, fc["c3"]))
    return fm
# public names of the helpers the ordinal (WLSMV) CFA in pipeline.measure.sem.ordinal shares
check_model = _check_model
item_matrix = _item_matrix
prune_constructs = _prune
empty_result = _empty_result
htmt_from_cov = _htmt
one_blas_thread = _one_blas_thread
