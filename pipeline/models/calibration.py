"""Unit scores measured with error: regression calibration of aggregated construct scores.

A firm's social capital enters the unit-level model as the mean of its respondents' scores. That
mean is the firm's construct plus error, so its coefficient is attenuated (and, through the
correlation with the other predictors, the other coefficients are biased too). The corrected
estimator replaces each unit's observed mean by its best linear prediction of the true unit
value given everything observed about the unit -- regression calibration (Carroll et al. 2006,
ch. 4) -- as Croon & van Veldhoven (2007) propose for group-level predictors measured by
aggregated individual scores, and refits the same model on the calibrated scores.

For unit j with observed means ``x_j`` (the corrected scores) and error-free unit-level
predictors ``z_j`` (the formula's other predictors: network measures, unit-table columns),

    E[T_j | x_j, z_j] = mu_x + [V_T, S_xz] M_j^-1 (x_j - mu_x, z_j - mu_z)',
    M_j = [[V_T + D_j, S_xz], [S_zx, S_zz]],     V_T = S_xx - mean_j(D_j),

with ``S`` the covariance matrix of (x, z) over the model's units and ``D_j`` the error
covariance of unit j's means. When a score interacts with a continuous predictor (the catalytic
model's ``degree * social_capital``), z also holds that partner's centred square: the refit
multiplies the calibrated score by its partner, so a curvature of ``E[T | z]`` in the partner
that a linear prediction misses would load onto the interaction (a firm's degree is a count
whose rate grows exponentially with its social capital, so ``E[T | degree]`` is curved);
benchmarks/recovery_adjustment.py measures what the square changes.

What counts as error is what the unit's construct is taken to be:

``latent`` (default; Luedtke et al. 2008's latent aggregation, Croon & van Veldhoven 2007)
    The unit's construct is the mean over all its potential respondents, so the error of the
    mean of n_j respondents is everything that varies within units: ``D_j = W / n_j`` with W
    the pooled within-unit covariance of the respondent scores (the one-way ANOVA's mean square
    within). ``V_T / (V_T + W / n_j)`` is then the reliability of unit j's mean, the unit-level
    ICC(2) when all units have n_j respondents.
``measurement``
    The unit's construct is the mean of its respondents' true scores (a composition model), so
    the only error is the items' measurement error: ``D_j = diag(v) / n_j`` with v the error
    variance of a respondent's score under the CFA
    (:func:`pipeline.measure.cfa.score_reliability`).

Small samples of units (``small_sample``, default on): ``V_T`` enters the calibration as the
denominator of a reliability, and an estimated denominator biases a ratio upwards -- by the
second-order Taylor expansion of ``C / (S - D)`` in the sampling errors of the moments (normal
data: ``Var(S) = 2 S^2 / df``, ``Cov(C, S) = 2 C S / df``) the corrected slope's relative bias is
``(2 / df) (S / V) (S / V - 1)``, with ``S`` the variance of the observed unit means given the
model's other predictors, ``V = S - Dbar`` their true part and ``df = k - d`` (k units, d
unit-level predictors). At 2 respondents per firm (reliability given the network measures
~.33) and 300 firms that is about +5% (mean 6.6%, median 4.3% over 100 simulated studies);
with 5 respondents (~.55) about 1%. Adding ``a = 2 S Dbar
/ (df V)`` to each score's ``V_T`` (in the calibration and in the z-scoring) cancels that term
(compare the modified estimators of Fuller 1987, which move the estimated true variance by a
term of order 1/n for finite moments and smaller bias). The
adjustment and the unadjusted ``V_T`` are reported (``small_sample_adjustment``,
``var_true_unadjusted``); ``benchmarks/recovery_adjustment.py`` measures its effect.

A standardised score is z-scored with the estimated SD of the true unit values, ``sqrt(V_T)``
(not with the smaller SD of the calibrated predictions), so that its coefficient is per SD of
the construct, as the uncorrected model's is per SD of the observed means. The corrected model's
standard errors treat the calibrated scores as known (as R's naive two-step regression
calibration does); the uncertainty of ``V_T`` is not propagated.

References
----------
Carroll, R. J., Ruppert, D., Stefanski, L. A., & Crainiceanu, C. M. (2006). *Measurement error
in nonlinear models* (2nd ed.). Chapman & Hall/CRC.
Croon, M. A., & van Veldhoven, M. J. P. M. (2007). Predicting group-level outcome variables from
variables measured at the individual level: A latent variable multilevel model. *Psychological
Methods*, 12(1), 45-57.
Fuller, W. A. (1987). *Measurement error models*. Wiley.
Luedtke, O., Marsh, H. W., Robitzsch, A., Trautwein, U., Asparouhov, T., & Muthen, B. (2008).
The multilevel latent covariate model. *Psychological Methods*, 13(3), 203-229.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pipeline.models import formula as fm

METHODS = ("latent", "measurement")
REFERENCES = {
    "latent": "Croon & van Veldhoven (2007); Luedtke et al. (2008): unit means shrunk by their "
              "ICC(2)-type reliability, given the model's other unit-level predictors",
    "measurement": "Croon & van Veldhoven (2007); Carroll et al. (2006): unit means corrected "
                   "for the respondent scores' measurement error under the CFA",
}


@dataclass(frozen=True)
class Calibration:
    """Calibrated unit scores for one model.

    Attributes
    ----------
    table
        The model's table with each corrected score column replaced by its calibrated value
        (z-scored with ``sqrt(V_T)`` when the model standardises it) on the model's rows.
    scores
        Per corrected column: ``n_units``, ``respondents_mean``, ``var_true`` (V_T),
        ``error_variance_mean`` (mean of D_j's diagonal), ``reliability_mean/min/max`` (of the
        unit means, ``V_T / (V_T + D_jj)``), ``within_variance`` (latent: W's diagonal) or
        ``respondent_reliability`` (measurement).
    covariates
        The error-free predictors conditioned on (atom labels; dummies as ``name[level]``).
    standardize
        The model's ``standardize`` list without the corrected columns (z-scored here).
    warnings
        Why a column could not be corrected, one sentence each.
    """

    method: str
    table: pd.DataFrame | None
    scores: Mapping[str, Mapping[str, float]]
    covariates: tuple[str, ...]
    standardize: tuple[str, ...]
    warnings: tuple[str, ...] = field(default=())


def _small_sample_adjustment(S: np.ndarray, dbar: np.ndarray, p: int, k: int
                             ) -> np.ndarray | None:
    """Per corrected score the adjustment ``a = 2 S_x|z Dbar / ((k - d) (S_x|z - Dbar))`` to its
    estimated true variance (module docstring), or None when some ``S_x|z <= Dbar``.

    ``S``: covariance of (scores, covariates) over the k model units (d columns); ``dbar``: the
    scores' mean error covariance (p x p)."""
    d = S.shape[0]
    sxx = S[:p, :p]
    if d > p:
        sxz = S[:p, p:]
        sxx = sxx - sxz @ np.linalg.solve(S[p:, p:], sxz.T)
    s_cond = np.diag(sxx)
    e = np.diag(dbar)
    v_cond = s_cond - e
    if np.any(v_cond <= 0) or k - d <= 0:
        return None
    return 2.0 * s_cond * e / ((k - d) * v_cond)


def _model_rows(form: fm.Formula, table: pd.DataFrame, extra: Sequence[str]) -> np.ndarray:
    ok = np.ones(len(table), dtype=bool)
    for col in list(form.columns) + [c for c in extra if c]:
        ok &= table[col].notna().to_numpy()
    vals = fm.atom_values(form, table)
    for v in vals.values():
        if isinstance(v, tuple):
            ok &= v[0] >= 0
        else:
            ok &= np.isfinite(v)
    y = fm.evaluate_atom(form.response, table)
    ok &= (y[0] >= 0) if isinstance(y, tuple) else np.isfinite(y)
    return ok


def _within(responses: pd.DataFrame, unit: str, cols: Sequence[str], units: pd.Index
            ) -> tuple[np.ndarray, np.ndarray]:
    """Per model unit the respondents with each score (k, p), and the pooled within-unit
    covariance (p, p) of the respondents' scores (deviations from their unit's mean)."""
    from pipeline.ids import node_ids  # noqa: PLC0415

    codes = pd.Index(units).get_indexer(node_ids(responses[unit]).to_numpy(dtype=object))
    keep = codes >= 0
    codes = codes[keep]
    x = responses.loc[keep, list(cols)].to_numpy(dtype=float)
    k, p = len(units), len(cols)
    valid = np.isfinite(x)
    n = np.zeros((k, p))
    sums = np.zeros((k, p))
    for a in range(p):
        n[:, a] = np.bincount(codes[valid[:, a]], minlength=k)
        sums[:, a] = np.bincount(codes[valid[:, a]], weights=x[valid[:, a], a], minlength=k)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = sums / n
    dev = np.where(valid, x - means[codes], 0.0)
    w = np.full((p, p), np.nan)
    for a in range(p):
        for b in range(a, p):
            both = valid[:, a] & valid[:, b]
            units_b = np.unique(codes[both]).size
            df = both.sum() - units_b
            if df > 0:
                w[a, b] = w[b, a] = float((dev[both, a] * dev[both, b]).sum() / df)
    return n, w


def calibrate_unit_scores(table: pd.DataFrame, responses: pd.DataFrame, *, unit: str,
                          scores: Sequence[str], formula: str, method: str = "latent",
                          reliabilities: Mapping[str, Mapping[str, float]] | None = None,
                          standardize: Sequence[str] = (), extra_columns: Sequence[str] = (),
                          small_sample: bool = True, partner_squares: bool = True) -> Calibration:
    """Regression-calibrated unit scores for a unit-level model (see the module docstring).

    Parameters
    ----------
    table
        The unit-level analysis table (one row per unit; column ``unit`` holds the unit id).
    responses
        Respondent rows with the ``unit`` column and the score columns.
    unit
        The unit id column (in both tables).
    scores
        Columns that are respondent scores aggregated to units; those the formula uses as plain
        predictors are corrected.
    formula
        The model's formula.
    method
        ``latent`` or ``measurement``.
    reliabilities
        For ``measurement``: ``{score: {"error_variance": v, "reliability": r}}`` of respondent
        scores (:func:`pipeline.measure.cfa.score_reliability`).
    standardize
        The model's standardised predictors.
    extra_columns
        Further columns whose missing values drop a row from the model (cluster, weight).
    small_sample
        Add the second-order bias adjustment ``a`` to ``V_T`` (module docstring).
    partner_squares
        Condition also on the centred squares of the scores' continuous interaction partners
        (module docstring; off only to measure what they change, benchmarks/recovery_adjustment.py).

    Returns
    -------
    Calibration
        ``table`` is None when nothing could be corrected (``warnings`` say why, or the formula
        uses no aggregated score).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, not {method!r}")
    form = fm.parse_formula(formula)
    score_set = set(scores)
    targets = [i for i, a in enumerate(form.atoms)
               if a.label in score_set and a.columns == (a.label,) and not a.force_factor]
    warnings: list[str] = []
    for a in form.atoms:
        if a.label not in score_set and any(c in score_set for c in a.columns):
            warnings.append(f"'{a.label}' transforms an aggregated score; only scores entered "
                            "as they are can be calibrated, so it is left uncorrected.")
    if not targets:
        return Calibration(method, None, {}, (), tuple(standardize), tuple(warnings))
    cols = [form.atoms[i].label for i in targets]
    rows = _model_rows(form, table, extra_columns)
    sub = table.loc[rows]
    k = len(sub)
    p = len(cols)
    # error-free unit-level predictors: the formula's other atoms (dummies for categorical ones)
    zs, znames = [], []
    vals = fm.atom_values(form, sub)
    for i, v in vals.items():
        if i in targets:
            continue
        if isinstance(v, tuple):
            codes, levels = fm.drop_unused_levels(v[0], v[1])
            for lev in range(1, len(levels)):
                zs.append((codes == lev).astype(float))
                znames.append(f"{form.atoms[i].label}[{levels[lev]}]")
        else:
            zs.append(np.asarray(v, float))
            znames.append(form.atoms[i].label)
    # the squares of the scores' continuous interaction partners (module docstring)
    partners = sorted({i for t in form.terms if len(t) > 1 and any(j in targets for j in t)
                       for i in t if i not in targets}) if partner_squares else []
    for i in partners:
        v = vals[i]
        if isinstance(v, tuple):
            continue
        v = np.asarray(v, float)
        if np.unique(v).size > 2:
            zs.append((v - v.mean()) ** 2)
            znames.append(f"{form.atoms[i].label}^2")
    xbar = sub[cols].to_numpy(dtype=float)
    X = np.column_stack([xbar] + zs) if zs else xbar
    d = X.shape[1]
    from pipeline.ids import node_ids  # noqa: PLC0415

    units = pd.Index(node_ids(sub[unit]).to_numpy(dtype=object))
    n, w = _within(responses, unit, cols, units)
    if k <= d + 1 or (n < 1).any():
        warnings.append(f"Score correction needs more units than predictors and a respondent "
                        f"behind every unit score ({k} units, {d} unit-level predictors).")
        return Calibration(method, None, {}, tuple(znames), tuple(standardize), tuple(warnings))
    if method == "latent":
        if not np.all(np.isfinite(w)):
            warnings.append("Score correction (latent) needs units with two or more respondents "
                            "to estimate the within-unit variance; none has, so the scores are "
                            "left uncorrected.")
            return Calibration(method, None, {}, tuple(znames), tuple(standardize), tuple(warnings))
        root = np.sqrt(n)
        delta = w[None] / (root[:, :, None] * root[:, None, :])          # (k, p, p)
    else:
        rel = reliabilities or {}
        miss = [c for c in cols if c not in rel]
        if miss:
            warnings.append("Score correction (measurement) needs the CFA's reliability of "
                            f"{', '.join(miss)}, which the run has not got (no converged CFA of "
                            "that construct); the scores are left uncorrected.")
            return Calibration(method, None, {}, tuple(znames), tuple(standardize), tuple(warnings))
        v = np.array([rel[c]["error_variance"] for c in cols], float)
        delta = np.zeros((k, p, p))
        delta[:, np.arange(p), np.arange(p)] = v[None] / n
    mu = X.mean(axis=0)
    S = np.atleast_2d(np.cov(X, rowvar=False))
    var_t = S[:p, :p] - delta.mean(axis=0)
    if np.any(np.linalg.eigvalsh(var_t) <= 0):
        bad = [c for a, c in enumerate(cols) if var_t[a, a] <= 0] or cols
        warnings.append(
            f"Score correction ({method}): the unit means of {', '.join(bad)} vary no more than "
            "their error variance (the ICC(1) is near zero or negative), so no true between-unit "
            "variance is left to predict; the scores are left uncorrected.")
        return Calibration(method, None, {}, tuple(znames), tuple(standardize), tuple(warnings))
    adjustment = np.zeros(p)
    if small_sample:
        adjustment = _small_sample_adjustment(S, delta.mean(axis=0), p, k)
        if adjustment is None:
            warnings.append(
                f"Score correction ({method}): given the model's other predictors "
                f"({', '.join(znames)}), the unit means of {', '.join(cols)} vary no more than "
                "their error variance, so no true between-unit variance is left to predict; the "
                "scores are left uncorrected.")
            return Calibration(method, None, {}, tuple(znames), tuple(standardize), tuple(warnings))
        var_t = var_t + np.diag(adjustment)
    M = np.broadcast_to(S, (k, d, d)).copy()
    M[:, :p, :p] = var_t[None] + delta
    C = S[:p, :].copy()
    C[:, :p] = var_t
    sol = np.linalg.solve(M, (X - mu)[:, :, None])[:, :, 0]              # (k, d)
    cal = mu[:p] + sol @ C.T                                             # (k, p)
    out = table.copy()
    std = [s for s in standardize if s not in cols]
    stats = {}
    for a, c in enumerate(cols):
        values = cal[:, a]
        if c in standardize:
            values = (values - values.mean()) / np.sqrt(var_t[a, a])
        column = out[c].to_numpy(dtype=float, copy=True)
        column[rows] = values
        out[c] = column
        err = delta[:, a, a]
        relj = var_t[a, a] / (var_t[a, a] + err)
        st = {"n_units": int(k), "respondents_mean": float(n[:, a].mean()),
              "var_observed": float(S[a, a]), "var_true": float(var_t[a, a]),
              "var_true_unadjusted": float(var_t[a, a] - adjustment[a]),
              "small_sample_adjustment": float(adjustment[a]),
              "error_variance_mean": float(err.mean()),
              "reliability_mean": float(relj.mean()), "reliability_min": float(relj.min()),
              "reliability_max": float(relj.max()), "standardized": c in standardize}
        if method == "latent":
            st["within_variance"] = float(w[a, a])
            st["icc1"] = float(var_t[a, a] / (var_t[a, a] + w[a, a]))
        else:
            st["respondent_reliability"] = float(reliabilities[c]["reliability"])
        stats[c] = st
    return Calibration(method, out, stats, tuple(znames), tuple(std), tuple(warnings))


COEF_KEYS = ("estimate", "se", "z_or_t", "p", "ci_low", "ci_high", "df", "se_fit")


def _coefs(d: dict) -> dict:
    return {t: {k: v[k] for k in COEF_KEYS if k in v} for t, v in (d.get("coefficients") or {}).items()}


def corrected_model(table: pd.DataFrame, responses: pd.DataFrame, uncorrected, fit_kwargs: dict,
                    *, unit: str, scores: Sequence[str], method: str = "latent",
                    headline: bool = False,
                    reliabilities: Mapping[str, Mapping[str, float]] | None = None,
                    small_sample: bool = True):
    """The model refitted on calibrated unit scores, and its ``score_correction`` results.

    Parameters
    ----------
    table, responses, unit, scores, method, reliabilities, small_sample
        As :func:`calibrate_unit_scores`.
    uncorrected
        The uncorrected :class:`~pipeline.models.fit.ModelResult`.
    fit_kwargs
        The keyword arguments ``uncorrected`` was fitted with (``fit_model(table, **fit_kwargs)``).
    headline
        Whether the corrected fit becomes the model's result.

    Returns
    -------
    tuple
        ``(results_dict, fitted, warnings)``: the model's results.json part -- the uncorrected
        (or, with ``headline``, the corrected) fit's ``to_dict()`` with a ``score_correction``
        block ``{method, headline, reference, scores{col: {...}}, covariates, coefficients
        (corrected), uncorrected (coefficients), note}`` -- the ModelResult it came from, and
        the calibration's warnings. Without a corrected fit the block is absent and the
        uncorrected fit is returned.
    """
    from pipeline.errors import StudyError  # noqa: PLC0415
    from pipeline.models.fit import fit_model  # noqa: PLC0415

    base = uncorrected.to_dict()
    extra = [fit_kwargs.get("cluster") if fit_kwargs.get("se") != "classical" else None,
             fit_kwargs.get("weight"), fit_kwargs.get("random")]
    cal = calibrate_unit_scores(table, responses, unit=unit, scores=scores,
                                formula=fit_kwargs["formula"], method=method,
                                reliabilities=reliabilities,
                                standardize=fit_kwargs.get("standardize") or (),
                                extra_columns=[c for c in extra if c], small_sample=small_sample)
    warnings = list(cal.warnings)
    if cal.table is None:
        return base, uncorrected, warnings
    kw = dict(fit_kwargs)
    kw.update(standardize=list(cal.standardize), mediation=None)
    try:
        fitted = fit_model(cal.table, **kw)
    except StudyError as exc:
        warnings.append(f"The score-corrected model could not be fitted: {exc}")
        return base, uncorrected, warnings
    corrected = fitted.to_dict()
    jack = _cluster_jackknife(table, responses, corrected, fit_kwargs, kw, unit=unit,
                              scores=scores, method=method, reliabilities=reliabilities,
                              extra_columns=[c for c in extra if c], small_sample=small_sample)
    if jack is not None:
        for term, j in jack["coefficients"].items():
            c = corrected["coefficients"].get(term)
            if c is not None:
                c["se_fit"] = c.get("se")
                c.update(j)
    zs = [c for c, st in cal.scores.items() if st["standardized"]]
    note = (f"Unit scores {', '.join(cal.scores)} replaced by their regression-calibrated "
            f"values ({method}: {REFERENCES[method]}), conditioning on "
            + (", ".join(cal.covariates) if cal.covariates else "no other predictor")
            + (f"; {', '.join(zs)} z-scored with the SD of the true unit values "
               "(sqrt(var_true))" if zs else "")
            + ("; the true variance includes the small-sample bias adjustment "
               "(small_sample_adjustment, Fuller 1987)" if small_sample else "")
            + (f". Standard errors, df and CIs of the corrected coefficients are the cluster "
               f"jackknife of the whole two-step estimator (calibration and fit repeated "
               f"without each of the {jack['clusters']} clusters; t with G - 1 df), so the "
               "uncertainty of the calibration is included; se_fit is the fit's own SE."
               if jack is not None else
               ". Standard errors treat the calibrated scores as known."))
    block = {"method": method, "headline": bool(headline), "reference": REFERENCES[method],
             "small_sample": bool(small_sample),
             "scores": {c: dict(v) for c, v in cal.scores.items()},
             "covariates": list(cal.covariates),
             "coefficients": _coefs(corrected), "uncorrected": _coefs(base), "note": note,
             "se_type": corrected.get("se_type"), "df_method": corrected.get("df_method"),
             "wild_bootstrap": corrected.get("wild_bootstrap"),
             "wild_bootstrap_note": ("the corrected fit's wild cluster bootstrap treats the "
                                     "calibrated scores as known (it under-covers at few "
                                     "respondents per unit, benchmarks/recovery_scores.py); the "
                                     "corrected coefficients' reported inference is the jackknife"
                                     if jack is not None and corrected.get("wild_bootstrap")
                                     else None),
             "inference": ("cluster jackknife of the two-step estimator, t(G - 1)"
                           if jack is not None else "the corrected fit's own (calibrated scores "
                           "treated as known)"),
             "jackknife_clusters": jack["clusters"] if jack is not None else None}
    if headline:
        corrected["score_correction"] = block
        corrected.setdefault("notes", [])
        return corrected, fitted, warnings
    base["score_correction"] = block
    return base, uncorrected, warnings


JACKKNIFE_MAX_CLUSTERS = 50  # few clusters: where the calibration's own uncertainty matters


def _cluster_jackknife(table, responses, corrected: dict, fit_kwargs: dict, kw: dict, *, unit,
                       scores, method, reliabilities, extra_columns, small_sample=True
                       ) -> dict | None:
    """Delete-one-cluster jackknife of the two-step estimator (calibration + fit), for models
    clustered by at most ``JACKKNIFE_MAX_CLUSTERS`` clusters: ``V = (G - 1) / G sum_g (b_(g) -
    b_bar)^2``, tested with t(G - 1) (Carroll et al. 2006, sec. 4.6 recommend resampling for
    regression-calibration SEs). None when the model is not clustered or has more clusters."""
    from scipy import special as sp  # noqa: PLC0415

    from pipeline.errors import StudyError  # noqa: PLC0415
    from pipeline.models.fit import CLUSTER_SE, fit_model  # noqa: PLC0415

    cl = fit_kwargs.get("cluster") if fit_kwargs.get("se") in CLUSTER_SE else fit_kwargs.get("random")
    if not cl or cl not in table.columns:
        return None
    groups = pd.unique(table[cl].dropna())
    G = len(groups)
    if G < 3 or G > JACKKNIFE_MAX_CLUSTERS:
        return None
    light = dict(kw)
    light.update(se="classical", cluster=None, focal=None, moderator=None, mediation=None)
    if light.get("random") is None:
        light.pop("ddf", None)
    terms = list(corrected["coefficients"])
    est = np.full((G, len(terms)), np.nan)
    for g, name in enumerate(groups):
        keep = (table[cl] != name).to_numpy()
        sub = table.loc[keep]
        if light.get("random") is not None:
            light["random"] = None if light["random"] == cl else light["random"]
        cal = calibrate_unit_scores(sub, responses, unit=unit, scores=scores,
                                    formula=fit_kwargs["formula"], method=method,
                                    reliabilities=reliabilities,
                                    standardize=fit_kwargs.get("standardize") or (),
                                    extra_columns=extra_columns, small_sample=small_sample)
        if cal.table is None:
            return None
        try:
            res = fit_model(cal.table, **light)
        except StudyError:
            return None
        est[g] = [res.coefficients.get(t, {}).get("estimate", np.nan) for t in terms]
    if not np.isfinite(est).all():
        return None
    var = (G - 1) / G * ((est - est.mean(axis=0)) ** 2).sum(axis=0)
    df = G - 1
    q = float(sp.stdtrit(df, 0.975))
    out = {}
    for k, t in enumerate(terms):
        b = float(corrected["coefficients"][t]["estimate"])
        se = float(np.sqrt(var[k]))
        stat = b / se if se > 0 else float("nan")
        out[t] = {"se": se, "df": float(df), "z_or_t": stat,
                  "p": float(2 * sp.stdtr(df, -abs(stat))) if se > 0 else None,
                  "ci_low": b - q * se, "ci_high": b + q * se}
    return {"clusters": G, "coefficients": out}
