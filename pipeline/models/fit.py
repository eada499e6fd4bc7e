"""``fit_model``: one configured model of ``analysis.models`` -> a frozen :class:`ModelResult`."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import special as sp

from pipeline.errors import StudyError, did_you_mean
from pipeline.jsonvalues import plain as _clean
from pipeline.models import formula as fm
from pipeline.models.estimation import FAMILIES, Fit, RankDeficient, fit_glm, fit_lm, fit_negbin, sandwich
from pipeline.models.mediation import MediationResult, mediation_effects
from pipeline.models.moderation import average_marginal_effects, johnson_neyman, slope_gradient

__all__ = ["ModelResult", "fit_model"]

SE_TYPES = ("classical", "hc3", "cluster", "cr1", "cr2", "wild")
CLUSTER_SE = ("cluster", "cr1", "cr2", "wild")
#: below this many clusters, se: cluster uses CR2 + Satterthwaite df and the wild bootstrap
FEW_CLUSTERS = 50
LEVELS = ("unit", "respondent")
MEDIATION_KEYS = ("x", "m", "y", "moderator", "covariates", "n_boot", "seed", "ci_level")


# ----------------------------------------------------------------------------------------------
# Plain-data conversion
# ----------------------------------------------------------------------------------------------


def _fmt_p(p: float) -> str:
    if p is None or not np.isfinite(p):
        return "p = NA"
    return "p < .001" if p < 0.001 else f"p = {p:.3f}".replace("0.", ".", 1)


# ----------------------------------------------------------------------------------------------
# The result
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelResult:
    """A fitted model with its coefficients, moderation probes, mediation and diagnostics.

    ``to_dict()`` gives ``results.json``'s ``models.<name>`` (CONTRACT.md section 4, plus extras).
    """

    name: str
    level: str
    family: str
    formula: str
    n: int
    n_dropped: int
    r2: float | None
    r2_type: str
    adj_r2: float | None
    aic: float
    bic: float
    loglik: float
    deviance: float | None
    null_deviance: float | None
    df_residual: int | None
    theta: float | None
    theta_se: float | None
    se_type: str
    test: str
    df_method: str | None
    inference_reason: str | None
    coefficients: dict
    focal: str | None
    moderator: str | None
    simple_slopes: tuple
    johnson_neyman: dict | None
    marginal_effects: tuple
    mediation: MediationResult | None
    random: dict | None
    diagnostics: dict
    notes: tuple[str, ...]
    warnings: tuple[str, ...]
    extras: dict = field(default_factory=dict)
    _probe: dict = field(default_factory=dict, repr=False, compare=False)

    def to_dict(self) -> dict:
        d = {
            "name": self.name, "level": self.level, "family": self.family, "formula": self.formula,
            "n": self.n, "n_dropped": self.n_dropped, "r2": self.r2, "r2_type": self.r2_type,
            "adj_r2": self.adj_r2, "aic": self.aic, "bic": self.bic, "loglik": self.loglik,
            "deviance": self.deviance, "null_deviance": self.null_deviance,
            "df_residual": self.df_residual, "theta": self.theta, "theta_se": self.theta_se,
            "se_type": self.se_type, "test": self.test, "ci_level": 0.95, "ci_method": "Wald",
            "df_method": self.df_method, "inference_reason": self.inference_reason,
            "coefficients": self.coefficients, "focal": self.focal, "moderator": self.moderator,
            "simple_slopes": list(self.simple_slopes), "johnson_neyman": self.johnson_neyman,
            "marginal_effects": list(self.marginal_effects),
            "mediation": self.mediation.to_dict() if self.mediation is not None else None,
            "random": self.random, "diagnostics": self.diagnostics, "notes": list(self.notes),
            "warnings": list(self.warnings),
        }
        d.update(self.extras)
        return _clean(d)

    def coefficient_table(self) -> pd.DataFrame:
        """Tidy coefficients: term, estimate, se, z_or_t, p, ci_low, ci_high, beta."""
        rows = [{"term": t, **v} for t, v in self.coefficients.items()]
        return pd.DataFrame(rows, columns=["term", "estimate", "se", "z_or_t", "p", "ci_low", "ci_high", "beta"])

    def simple_slopes_table(self) -> pd.DataFrame:
        """Tidy simple slopes: at, moderator_value, slope, se, z_or_t, p, ci_low, ci_high."""
        return pd.DataFrame(list(self.simple_slopes),
                            columns=["at", "moderator_value", "slope", "se", "z_or_t", "p", "ci_low", "ci_high"])

    def interaction_plot_data(self, points: int = 50) -> pd.DataFrame:
        """Predicted values over the focal predictor's range at the three moderator values.

        Columns: ``at`` ("-1 SD", "mean", "+1 SD"), ``moderator_value``, ``focal`` (model
        scale), ``linear_predictor``, ``se`` (of the linear predictor, from the model's
        covariance), ``lp_low``/``lp_high`` (95% Wald band), ``response``, ``response_low``,
        ``response_high`` (the band through the inverse link).  Other variables are held at
        their means over the model's rows (dummies at their proportions; offsets at their mean).
        """
        pr = self._probe
        if not pr:
            return pd.DataFrame(columns=["at", "moderator_value", "focal", "linear_predictor", "se",
                                         "lp_low", "lp_high", "response", "response_low", "response_high"])
        grid = np.linspace(pr["focal_range"][0], pr["focal_range"][1], points)
        frames = []
        for label, wv in pr["mod_values"]:
            vals = {a: np.repeat(v[None, ...] if np.ndim(v) else np.array([v]), points, axis=0)
                    for a, v in pr["means"].items()}
            vals[pr["focal"]] = grid
            vals[pr["moderator"]] = np.full(points, wv)
            X = fm.build_matrix(pr["columns"], vals, points)
            lp = X @ pr["coef"] + pr["offset_mean"]
            se = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", X, pr["vcov"], X), 0.0))
            z = pr["q"]
            inv = _inverse_link(self.family)
            frames.append(pd.DataFrame({
                "at": label, "moderator_value": wv, "focal": grid, "linear_predictor": lp, "se": se,
                "lp_low": lp - z * se, "lp_high": lp + z * se, "response": inv(lp),
                "response_low": inv(lp - z * se), "response_high": inv(lp + z * se)}))
        return pd.concat(frames, ignore_index=True)

    def johnson_neyman_plot_data(self, points: int = 100) -> pd.DataFrame:
        """Conditional slope of the focal predictor with its CI band over the moderator's range.

        Columns: ``moderator_value``, ``slope``, ``se``, ``ci_low``, ``ci_high`` (using the same
        critical value as the Johnson-Neyman bounds), ``significant``.
        """
        pr = self._probe
        if not pr:
            return pd.DataFrame(columns=["moderator_value", "slope", "se", "ci_low", "ci_high", "significant"])
        lo, hi = pr["mod_range"]
        w = np.linspace(lo, hi, points)
        g0, g1, b, V, q = pr["g0"], pr["g1"], pr["coef"], pr["vcov"], pr["q"]
        G = g0[None, :] + w[:, None] * g1[None, :]
        slope = G @ b
        se = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", G, V, G), 0.0))
        return pd.DataFrame({"moderator_value": w, "slope": slope, "se": se, "ci_low": slope - q * se,
                             "ci_high": slope + q * se, "significant": np.abs(slope) > q * se})


def _cluster_choice(se: str, G: int, cluster: str) -> tuple[str, bool, str]:
    """(covariance "CR1" | "CR2", whether to run the wild cluster bootstrap, the reason)."""
    if se == "cr1":
        return "CR1", False, f"CR1 with t(G - 1) df as requested (se: cr1; {G} clusters ({cluster}))."
    if se == "cr2":
        return "CR2", False, f"CR2 with Satterthwaite df as requested (se: cr2; {G} clusters ({cluster}))."
    if se == "wild":
        return "CR2", True, (f"CR2 with Satterthwaite df and a restricted wild cluster bootstrap of the focal "
                             f"interaction as requested (se: wild; {G} clusters ({cluster})).")
    if G < FEW_CLUSTERS:
        return "CR2", True, (
            f"CR2 with Satterthwaite df, and a restricted wild cluster bootstrap of the focal interaction, "
            f"because there are only {G} clusters ({cluster}) (fewer than {FEW_CLUSTERS}): with few clusters "
            "CR1 standard errors are biased downward and t(G - 1) or normal critical values over-reject "
            "(Cameron, Gelbach & Miller 2008; Cameron & Miller 2015; Pustejovsky & Tipton 2018).")
    return "CR1", False, (f"CR1 with t(G - 1) df because there are {G} clusters ({cluster}) ({FEW_CLUSTERS} or "
                          "more), enough for the cluster-robust variance to be nearly unbiased (Cameron & Miller 2015).")


def _inverse_link(family: str):
    if family in ("poisson", "negbin"):
        return np.exp
    if family == "logit":
        return lambda e: 1.0 / (1.0 + np.exp(-e))
    return lambda e: e


# ----------------------------------------------------------------------------------------------
# fit_model
# ----------------------------------------------------------------------------------------------


def _atom_by_name(formula: fm.Formula, name: str) -> int | None:
    for i, a in enumerate(formula.atoms):
        if a.label == name:
            return i
    for i, a in enumerate(formula.atoms):
        if a.columns == (name,) and not a.force_factor:
            return i
    return None


def _names_list(value, key: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    try:
        return [str(v) for v in value]
    except TypeError:
        raise StudyError(f"'{key}' must be a list of column names", key=key,
                         fix=f"write {key.rsplit('.', 1)[-1]}: [name1, name2]") from None


def fit_model(table: pd.DataFrame, *, name: str, formula: str, family: str = "gaussian",
              se: str = "classical", cluster: str | None = None, focal: str | None = None,
              moderator: str | None = None, random: str | None = None,
              center: Sequence[str] = (), standardize: Sequence[str] = (), weight: str | None = None,
              mediation: Mapping | None = None, level: str = "unit", seed: int = 0,
              n_boot: int = 5000, wild_draws: int = 9999,
              config_key: str = "analysis.models[0]", ddf: str = "satterthwaite") -> ModelResult:
    """Fit one model of the analysis (OLS, Poisson, negative binomial, logit or random intercept).

    Parameters
    ----------
    table
        The analysis table at the model's level (one row per unit or respondent).
    name
        The model's name (key under ``results.json``'s ``models``).
    formula
        R formula over the table's columns, e.g. ``"new_products ~ degree * social_capital +
        log(employees)"`` (see :mod:`pipeline.models.formula` for the syntax).
    family
        ``gaussian`` (``lm``), ``poisson`` / ``logit`` (``glm``, log / logit link) or ``negbin``
        (``MASS::glm.nb``: NB2 with theta estimated by ML).
    se
        ``classical``, ``hc3`` (``sandwich::vcovHC(type = "HC3")``), ``cluster`` (chosen by the
        number of clusters G: below 50, CR2 -- ``clubSandwich::vcovCR(type = "CR2")`` -- with
        Satterthwaite df per coefficient and a restricted wild cluster bootstrap of the focal
        interaction; from 50 on, CR1 -- ``sandwich::vcovCL(type = "HC1")`` -- with t(G - 1)),
        or explicitly ``cr1``, ``cr2`` or ``wild`` (CR2 + Satterthwaite + the wild bootstrap).
    cluster
        Column holding the clusters for ``se="cluster"``.
    focal, moderator
        Predictors whose interaction is the catalytic effect: simple slopes of ``focal`` at the
        moderator's mean - 1 SD, mean, mean + 1 SD, Johnson-Neyman bounds and (count/logit) AMEs.
    random
        Column for a random intercept: ``lme4::lmer(y ~ ... + (1 | random), REML = TRUE)``
        (gaussian only).
    center, standardize
        Predictors mean-centred / z-scored over the model's rows before interactions are formed.
    weight
        Column of weights: R's ``weights=`` -- precision ("analytic") weights for gaussian (the
        residual df counts rows), prior weights for GLMs (for Poisson/negbin they act as
        frequency weights).  Rows with weight 0 are left out.
    mediation
        ``{x, m, y[, moderator, covariates, n_boot, seed, ci_level]}``: indirect effects with
        bootstrap CIs (PROCESS model 4, or model 7 when a moderator of the a-path is named).
        ``covariates`` default to the formula's other predictors.
    level
        ``unit`` or ``respondent`` (recorded).
    seed, n_boot
        Bootstrap seed and draws for mediation; ``seed`` also seeds the wild cluster bootstrap.
    wild_draws
        Draws of the wild cluster bootstrap when there are more than 12 clusters (with 12 or
        fewer, all 2^G Rademacher sign vectors are enumerated); 0: no wild bootstrap.
    config_key
        Where this model sits in study.yaml, for error messages.
    ddf
        Denominator df of a gaussian random-intercept model's t tests: ``satterthwaite``
        (``lmerTest::summary(fit)``'s default) or ``kenward-roger`` (``summary(fit, ddf =
        "Kenward-Roger")``: pbkrtest's adjusted covariance and df); the other is reported
        beside it (``ddf``).

    Returns
    -------
    ModelResult

    Raises
    ------
    StudyError
        Unknown columns (naming the closest valid one), a formula socap cannot read, settings
        that contradict each other, an outcome the family cannot model, perfectly collinear
        terms, or too few complete rows.

    Notes
    -----
    Coefficient tests use t with the residual df for gaussian ``lm`` fits (also with HC3, as
    ``lmtest::coeftest(fit, vcov = ...)``), t with Satterthwaite or Kenward-Roger df for gaussian
    random-intercept models (``ddf``; lmerTest), and z for GLMs and GLMMs; with cluster-robust
    SEs every family is tested with t: CR2 on each coefficient's Satterthwaite df
    (``clubSandwich::coef_test``), CR1 on G - 1 df.  Fewer than 50 clusters count as few
    (Cameron & Miller 2015: "fewer than 20-50"; with the example's 12 clusters, CR1 CIs covered
    the true interaction in 80-89% of simulated studies instead of 95%);
    95% CIs are Wald intervals ``estimate +- critical value x SE`` (R's ``confint.default``;
    ``confint(glm)`` would profile the likelihood instead).  ``beta`` is the coefficient of the
    same model refitted on z-scored numeric variables (outcome too for gaussian models; over the
    model's rows, sample SD), products formed from the z-scores (Friedrich, 1982) -- R:
    ``lm(scale(y) ~ scale(x) * scale(w) + ...)``; dummy columns stay 0/1.  Pseudo-R^2 for GLMs
    is deviance-based, ``1 - deviance / null deviance`` (R: ``1 - fit$deviance /
    fit$null.deviance``; McFadden's R^2 for binary logit); for mixed models Nakagawa &
    Schielzeth's marginal R^2.

    References
    ----------
    Friedrich, R. J. (1982). In defense of multiplicative terms in multiple regression
    equations. American Journal of Political Science, 26(4), 797-833.
    Cameron, A. C., Gelbach, J. B., & Miller, D. L. (2008). Bootstrap-based improvements for
    inference with clustered errors. Review of Economics and Statistics, 90(3), 414-427.
    Cameron, A. C., & Miller, D. L. (2015). A practitioner's guide to cluster-robust inference.
    Journal of Human Resources, 50(2), 317-372.
    Pustejovsky, J. E., & Tipton, E. (2018). Small-sample methods for cluster-robust variance
    estimation and hypothesis testing in fixed effects models. Journal of Business & Economic
    Statistics, 36(4), 672-683.
    Nakagawa, S., & Schielzeth, H. (2013). A general and simple method for obtaining R2 from
    generalized linear mixed-effects models. Methods in Ecology and Evolution, 4(2), 133-142.
    """
    key = config_key
    warnings: list[str] = []
    notes: list[str] = []

    # ---- settings --------------------------------------------------------------------------
    if family not in FAMILIES:
        raise StudyError(f"unknown family '{family}'; {did_you_mean(family, FAMILIES)}",
                         key=f"{key}.family", fix="use one of: " + ", ".join(FAMILIES))
    if se not in SE_TYPES:
        raise StudyError(f"unknown standard-error type '{se}'; {did_you_mean(se, SE_TYPES)}",
                         key=f"{key}.se", fix="use one of: " + ", ".join(SE_TYPES))
    if level not in LEVELS:
        raise StudyError(f"unknown level '{level}'; {did_you_mean(level, LEVELS)}",
                         key=f"{key}.level", fix="use 'unit' or 'respondent'")
    if se in CLUSTER_SE and not cluster:
        raise StudyError(f"se: {se} needs the column that holds the clusters", key=f"{key}.cluster",
                         fix="add `cluster: <column>` to the model (e.g. cluster: cluster)")
    if random is not None and se != "classical":
        raise StudyError(f"se: {se} cannot be combined with a random intercept (the random intercept "
                         "already models the clustering)", key=f"{key}.se",
                         fix=f"set se: classical, or drop `random: {random}` and keep se: {se}")
    if random is not None and family == "negbin":
        raise StudyError("random intercepts are supported for gaussian, poisson and logit models; a negative "
                         "binomial mixed model (lme4::glmer.nb) is not implemented in socap", key=f"{key}.random",
                         fix=f"use family: poisson with random: {random}, or drop random and use se: cluster "
                             f"with cluster: {random} (cluster-robust SEs for the negbin model)")
    if (focal is None) != (moderator is None):
        missing = "moderator" if moderator is None else "focal"
        raise StudyError(f"simple slopes need both `focal` and `moderator`; `{missing}` is missing",
                         key=f"{key}.{missing}", fix=f"add `{missing}: <predictor>` or remove the other")
    if cluster and se not in CLUSTER_SE:
        warnings.append(f"A cluster column ('{cluster}') is set but se is '{se}', so it is not used; "
                        "set se: cluster for cluster-robust standard errors.")
    if n_boot < 1 or int(n_boot) != n_boot:
        raise StudyError(f"n_boot must be a positive whole number, not {n_boot}", key=f"{key}.n_boot",
                         fix="use e.g. n_boot: 5000")
    center = _names_list(center, f"{key}.center")
    standardize = _names_list(standardize, f"{key}.standardize")

    # ---- formula and columns ---------------------------------------------------------------
    try:
        form = fm.parse_formula(formula)
    except fm.FormulaSyntaxError as exc:
        raise StudyError(f"cannot read the formula '{formula}': {exc}", key=f"{key}.formula",
                         fix="write it in R syntax, e.g. 'new_products ~ degree * social_capital + log_employees'") from None
    if form.response is None:
        raise StudyError(f"the formula '{formula}' has no outcome", key=f"{key}.formula",
                         fix="put the outcome column on the left of '~'")
    fm.check_columns(form, table, f"{key}.formula")
    valid = [str(c) for c in table.columns]
    for opt, col in (("cluster", cluster if se in CLUSTER_SE else None), ("weight", weight), ("random", random)):
        if col is not None and col not in table.columns:
            best = fm.suggest_column(col, valid)
            raise StudyError(f"{opt}: '{col}' is not a column of the analysis table"
                             + (f"; the closest is '{best}'" if best else ""), key=f"{key}.{opt}",
                             fix=f"write {opt}: {best}" if best else f"name one of: {', '.join(valid[:20])}")

    atom_names = [a.label for a in form.atoms]
    focal_i = mod_i = None
    if focal is not None:
        for opt, nm in (("focal", focal), ("moderator", moderator)):
            if _atom_by_name(form, nm) is None:
                raise StudyError(f"{opt}: '{nm}' is not a predictor of the formula '{formula}'; "
                                 + did_you_mean(nm, atom_names), key=f"{key}.{opt}",
                                 fix=f"name one of the formula's predictors: {', '.join(atom_names)}")
        focal_i, mod_i = _atom_by_name(form, focal), _atom_by_name(form, moderator)
        if focal_i == mod_i:
            raise StudyError("focal and moderator are the same variable", key=f"{key}.moderator",
                             fix="name two different predictors")
        if not any(focal_i in t and mod_i in t for t in form.terms):
            raise StudyError(f"the formula '{formula}' has no interaction of {focal} and {moderator}, "
                             "so there are no simple slopes to probe", key=f"{key}.formula",
                             fix=f"write '{form.atoms[focal_i].label} * {form.atoms[mod_i].label}' in the formula")
    shift_idx = {}
    for opt, names in (("center", center), ("standardize", standardize)):
        for nm in names:
            i = _atom_by_name(form, nm)
            if i is None:
                if form.response is not None and nm in (form.response.label,) + form.response.columns:
                    raise StudyError(f"{opt}: '{nm}' is the outcome; only predictors can be listed",
                                     key=f"{key}.{opt}", fix=f"remove '{nm}' (the `beta` column gives standardised coefficients)")
                raise StudyError(f"{opt}: '{nm}' is not a predictor of the formula; "
                                 + did_you_mean(nm, atom_names), key=f"{key}.{opt}",
                                 fix=f"name one of: {', '.join(atom_names)}")
            if i in shift_idx and shift_idx[i] != opt:
                raise StudyError(f"'{nm}' is listed under both center and standardize", key=f"{key}.{opt}",
                                 fix="list it once (standardize also centres)")
            shift_idx[i] = opt

    # ---- evaluate, listwise deletion -------------------------------------------------------
    try:
        values = fm.atom_values(form, table)
        yraw = fm.evaluate_atom(form.response, table)
        offs = [fm.evaluate_atom(o, table) for o in form.offsets]
    except fm.FormulaSyntaxError as exc:
        raise StudyError(f"in the formula '{formula}': {exc}", key=f"{key}.formula",
                         fix="recode the column as numbers in the unit table, or use it as a plain (categorical) term") from None
    n_all = len(table)
    raw_missing = np.zeros(n_all, dtype=bool)
    for col in form.columns:
        raw_missing |= table[col].isna().to_numpy()
    for extra in (cluster if se in CLUSTER_SE else None, weight, random):
        if extra is not None:
            raw_missing |= table[extra].isna().to_numpy()
    ok = ~raw_missing
    for atom, v in [(form.response, yraw)] + [(form.atoms[i], values[i]) for i in values] + list(zip(form.offsets, offs)):
        if isinstance(v, tuple):
            ok &= v[0] >= 0
            continue
        bad = ~np.isfinite(v) & ~raw_missing
        if bad.any():
            first = int(np.nonzero(bad)[0][0])
            raise StudyError(f"{atom.label} is undefined (not a finite number) for {int(bad.sum())} rows "
                             f"with observed {', '.join(atom.columns)}, first at table row {first + 2}",
                             key=f"{key}.formula",
                             fix=(f"use log1p({atom.columns[0]}) or drop rows with {atom.columns[0]} <= 0"
                                  if atom.label.startswith("log") else "check the column's values"))
        ok &= np.isfinite(v)
    wts = None
    if weight is not None:
        wcol = pd.to_numeric(table[weight], errors="coerce").to_numpy(dtype=float)
        if np.any(wcol[ok] < 0) or np.any(~np.isfinite(wcol[ok])):
            raise StudyError(f"weight column '{weight}' has negative or non-numeric values",
                             key=f"{key}.weight", fix="weights must be numbers >= 0")
        zero = ok & (wcol == 0)
        if zero.any():
            notes.append(f"{int(zero.sum())} rows with weight 0 were left out (they carry no information).")
            ok &= wcol != 0
    rows = np.nonzero(ok)[0]
    n = len(rows)
    n_dropped = n_all - n
    if isinstance(yraw, tuple):
        codes, levs = yraw
        codes = codes[rows]
        codes, levs = fm.drop_unused_levels(codes, levs)
        if family != "logit" or len(levs) != 2:
            raise StudyError(f"the outcome '{form.response.label}' is categorical ({len(levs)} levels)",
                             key=f"{key}.formula",
                             fix="use a numeric outcome, or family: logit with a two-level outcome")
        y = codes.astype(float)
        notes.append(f"The outcome {form.response.label} is modelled as P({form.response.label} = {levs[1]}) "
                     f"against '{levs[0]}' (R's factor coding).")
    else:
        y = yraw[rows]
    vals: dict[int, np.ndarray] = {}
    levels: dict[int, list[str] | None] = {}
    for i, v in values.items():
        if isinstance(v, tuple):
            c, lv = fm.drop_unused_levels(v[0][rows], v[1])
            vals[i] = fm.one_hot(c, len(lv))
            levels[i] = lv
        else:
            vals[i] = v[rows]
            levels[i] = None
    offset = np.sum([o[rows] for o in offs], axis=0) if offs else None
    wts = None if weight is None else pd.to_numeric(table[weight], errors="coerce").to_numpy(dtype=float)[rows]

    # outcome checks
    if family in ("poisson", "negbin"):
        if np.any(y < 0) or np.any(y != np.round(y)):
            raise StudyError(f"family: {family} needs a count outcome (whole numbers >= 0), but "
                             f"'{form.response.label}' has negative or fractional values",
                             key=f"{key}.family", fix="use family: gaussian, or a count column as the outcome")
    constant = bool(len(y) and np.all(y == y[0]))
    if constant:
        warnings.append(f"The outcome {form.response.label} has the same value ({y[0]:g}) in all "
                        f"{len(y)} rows of the model: there is nothing to explain, so its "
                        "coefficients, standard errors and tests are meaningless.")
    if family == "logit" and not np.all((y == 0) | (y == 1)):
        from pipeline.checks import logit_outcome_problem  # noqa: PLC0415

        col = form.response.columns[0] if len(form.response.columns) == 1 else form.response.label
        msg, fix = logit_outcome_problem(pd.Series(y), col, False, formula)
        raise StudyError(msg, key=f"{key}.formula", fix=fix)

    # centring / standardising
    shift: dict[int, float] = {}
    scale: dict[int, float] = {}
    for i, opt in shift_idx.items():
        if levels[i] is not None:
            raise StudyError(f"{opt}: '{form.atoms[i].label}' is categorical and cannot be {opt}ed",
                             key=f"{key}.{opt}", fix="list numeric predictors only")
        m = float(np.mean(vals[i]))
        s = float(np.std(vals[i], ddof=1)) if opt == "standardize" else 1.0
        if s == 0 or not np.isfinite(s):
            raise StudyError(f"'{form.atoms[i].label}' is constant over the model's rows and cannot be standardized",
                             key=f"{key}.{opt}", fix="remove it from standardize")
        vals[i] = (vals[i] - m) / s
        shift[i], scale[i] = m, s
    if shift_idx:
        desc = []
        for i, opt in shift_idx.items():
            desc.append(f"{form.atoms[i].label} {'z-scored' if opt == 'standardize' else 'mean-centred'} "
                        f"(mean {shift[i]:.4g}" + (f", SD {scale[i]:.4g})" if opt == "standardize" else ")"))
        notes.append("Before forming interactions: " + "; ".join(desc) + ", over the model's rows.")

    for opt, i in (("focal", focal_i), ("moderator", mod_i)):
        if i is not None and levels[i] is not None:
            raise StudyError(f"{opt}: '{form.atoms[i].label}' is categorical; simple slopes and Johnson-Neyman "
                             "bounds need a numeric focal predictor and moderator", key=f"{key}.{opt}",
                             fix="name numeric predictors (code a binary variable as 0/1)")
    columns = fm.columns_for(form, levels)
    X = fm.build_matrix(columns, vals, n)
    p = X.shape[1]
    names = [c.name for c in columns]
    if n <= p:
        raise StudyError(f"only {n} complete rows for {p} coefficients", key=f"{key}.formula",
                         fix="use fewer predictors, or fill in the missing values")

    # ---- fit --------------------------------------------------------------------------------
    mixed = None
    groups = None
    if random is not None:
        if weight is not None:
            raise StudyError("weights are not supported with a random intercept", key=f"{key}.weight",
                             fix="drop `weight:` or the random intercept")
        groups, guniq = pd.factorize(table[random].to_numpy()[rows], sort=True)
    try:
        if random is not None and family == "gaussian":
            from pipeline.models.mixed import fit_lmer

            fit = fit_lm(X, y, None, offset)  # rank check (and the OLS fit for comparison)
            mixed = fit_lmer(X, y - (0 if offset is None else offset), groups)
        elif random is not None:
            from pipeline.models.mixed import fit_glmer

            fit = fit_glm(X, y, family, None, offset, intercept=form.intercept)  # rank check, start values
            mixed = fit_glmer(X, y, groups, family, offset)
        elif family == "gaussian":
            fit = fit_lm(X, y, wts, offset)
        elif family == "negbin":
            fit = fit_negbin(X, y, wts, offset, intercept=form.intercept)
        else:
            fit = fit_glm(X, y, family, wts, offset, intercept=form.intercept)
    except RankDeficient as exc:
        bad = [names[j] for j in exc.columns]
        raise StudyError(f"the model's columns {', '.join(bad)} are perfectly collinear with earlier "
                         "terms (R would report NA for them)", key=f"{key}.formula",
                         fix=f"drop {bad[0]} (or a term it duplicates) from the formula") from None

    # ---- covariance --------------------------------------------------------------------------
    df_coef = None
    df_method = None
    cr2obj = None
    cluster_info: dict = {}
    se_type_out = se
    if mixed is not None:
        coef, V = mixed.coef, mixed.vcov
        dfres = None
        se_desc = ("model-based (REML) standard errors of lme4::lmer" if family == "gaussian" else
                   "model-based standard errors of lme4::glmer (Laplace approximation; inverse Hessian of the "
                   "deviance in theta and the fixed effects)")
    else:
        coef = fit.coef
        dfres = fit.df_residual if family == "gaussian" else None
        if se == "classical":
            V = fit.vcov
            se_desc = "classical (model-based) standard errors"
        elif se == "hc3":
            V, info = sandwich(fit, X, "hc3")
            se_desc = 'heteroskedasticity-consistent HC3 standard errors (sandwich::vcovHC, type = "HC3")'
            if not np.isfinite(V).all():
                warnings.append("Some rows have leverage 1, so HC3 standard errors are undefined; use se: classical or cluster.")
        else:
            ccodes, cuniq = pd.factorize(table[cluster].to_numpy()[rows], sort=True)
            G = len(cuniq)
            if G < 2:
                raise StudyError(f"se: {se} needs at least 2 clusters, but '{cluster}' has {G} over the model's rows",
                                 key=f"{key}.cluster", fix="use se: hc3, or a cluster column with several clusters")
            kind, wild_wanted, reason = _cluster_choice(se, G, cluster)
            if kind == "CR2":
                from pipeline.models.clustered import cr2  # noqa: PLC0415

                try:
                    cr2obj = cr2(fit, X, ccodes)
                except (np.linalg.LinAlgError, ValueError) as exc:  # a degenerate fit
                    warnings.append(f"CR2 standard errors could not be computed ({exc}; the fit is "
                                    "degenerate, e.g. a constant outcome), so CR1 with G - 1 df is "
                                    "shown instead.")
                    kind = "CR1"
            if kind == "CR2":
                V = cr2obj.vcov
                df_coef = cr2obj.df(np.eye(p))
                df_method = "Satterthwaite"
                se_desc = (f'cluster-robust CR2 (bias-reduced linearisation) standard errors over {G} clusters of '
                           f'{cluster} (clubSandwich::vcovCR, type = "CR2"), with Satterthwaite df per coefficient '
                           '(clubSandwich::coef_test, test = "Satterthwaite")')
            else:
                V, info = sandwich(fit, X, "cluster", ccodes)
                df_coef = np.full(p, float(G - 1))
                df_method = "G-1"
                se_desc = (f'cluster-robust CR1 standard errors over {G} clusters ({cluster}) '
                           '(sandwich::vcovCL, type = "HC1": G/(G-1) x (n-1)/(n-p)), t tests with G - 1 = '
                           f'{G - 1} df')
            se_type_out = kind
            cluster_info = {"codes": ccodes, "G": G, "wild": wild_wanted, "reason": reason}
            if G < 12 and kind == "CR2":
                warnings.append(f"Only {G} clusters ({cluster}): even CR2 with Satterthwaite df can be unreliable "
                                "with so few clusters, notably when they differ in size or one cluster drives a "
                                "coefficient (small Satterthwaite df flag this); read the wild cluster bootstrap "
                                "beside it.")
            elif kind == "CR1" and G < FEW_CLUSTERS:
                warnings.append(f"CR1 standard errors rest on only {G} clusters ({cluster}); with fewer than about "
                                f"{FEW_CLUSTERS} clusters they are biased downward and tests over-reject "
                                "(Cameron & Miller, 2015): se: cluster would use CR2 with Satterthwaite df.")
    ses = np.sqrt(np.maximum(np.diag(V), 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = coef / ses
    if df_coef is not None:
        use_t = True
        dfs = np.asarray(df_coef, dtype=float)
        pvals = 2.0 * sp.stdtr(dfs, -np.abs(stat))
        crits = sp.stdtrit(dfs, 0.975)
        crit = float(np.max(crits)) if len(crits) else float("nan")
    else:
        use_t = mixed is None and family == "gaussian"
        if use_t:
            pvals = 2.0 * sp.stdtr(dfres, -np.abs(stat))
            crit = float(sp.stdtrit(dfres, 0.975))
            df_method = "residual"
            dfs = np.full(p, float(dfres))
        else:
            pvals = 2.0 * sp.ndtr(-np.abs(stat))
            crit = float(sp.ndtri(0.975))
            df_method = "normal"
            dfs = np.full(p, np.inf)
        crits = np.full(p, crit)
    test = "t" if use_t else "z"
    if df_method == "Satterthwaite":
        test_txt = (f"t with Satterthwaite df ({', '.join(f'{nm} {d:.1f}' for nm, d in zip(names, dfs))}); 95% CIs "
                    "are estimate +- t(0.975, df) x SE per coefficient")
    elif df_method == "G-1":
        test_txt = f"t with G - 1 = {int(dfs[0])} df; 95% CIs are estimate +- {crit:.4f} x SE"
    else:
        test_txt = ((f"t with {dfres} residual df" if use_t else "the normal distribution (z)")
                    + f"; 95% CIs are Wald intervals (estimate +- {crit:.4f} x SE)")
    notes.append(f"Standard errors: {se_desc}. Tests use {test_txt}."
                 + (f" {cluster_info['reason']}" if cluster_info else ""))
    if n_dropped:
        miss_cols = [c for c in form.columns + [x for x in (cluster if se in CLUSTER_SE else None, weight, random) if x]
                     if table[c].isna().any()]
        notes.append(f"Listwise deletion: {n_dropped} of {n_all} rows were left out"
                     + (f" (missing values in {', '.join(miss_cols)})" if miss_cols else "") + f"; n = {n}.")

    # ---- standardised coefficients --------------------------------------------------------
    betas = _standardised(form, columns, vals, levels, X, y, coef, family, mixed is not None, wts, offset,
                          groups, fit)
    coefs = {}
    for j, nm in enumerate(names):
        coefs[nm] = {"estimate": coef[j], "se": ses[j], "z_or_t": stat[j], "p": pvals[j],
                     "ci_low": coef[j] - crits[j] * ses[j], "ci_high": coef[j] + crits[j] * ses[j],
                     "beta": None if nm == "(Intercept)" else betas[j]}
        if df_coef is not None:
            coefs[nm]["df"] = float(dfs[j])
    lmer_extras: dict = {}
    lmer_dd = None  # the lmer's df machinery, for the contrasts of the simple slopes
    if mixed is not None and family == "gaussian":
        if ddf not in DDF_METHODS:
            raise StudyError(f"unknown ddf '{ddf}'; {did_you_mean(ddf, tuple(DDF_METHODS))}",
                             key=f"{key}.ddf", fix="use ddf: satterthwaite or ddf: kenward-roger")
        test = "t"
        lmer_extras, lmer_dd = _lmer_tests(coefs, names, X, y - (0 if offset is None else offset),
                                           groups, mixed, ddf, notes, warnings)
    notes.append("beta: coefficients of the model refitted on z-scored numeric variables (over the model's "
                 "rows, sample SD; " + ("outcome included" if family == "gaussian" else "outcome not scaled")
                 + "), interaction products formed from the z-scores (Friedrich, 1982); dummy columns stay 0/1.")

    # ---- fit statistics ----------------------------------------------------------------------
    extras: dict[str, Any] = {"link": {"gaussian": "identity", "poisson": "log", "negbin": "log", "logit": "logit"}[family]}
    extras.update({k: v for k, v in lmer_extras.items() if k != "df_method"})
    random_info = None
    if mixed is not None and family == "gaussian":
        var_f = float(np.var(mixed.fitted_fixed, ddof=1))
        tot = var_f + mixed.tau2 + mixed.sigma2
        r2, r2_type, adj = var_f / tot, "marginal (Nakagawa & Schielzeth)", None
        extras["r2_conditional"] = (var_f + mixed.tau2) / tot
        aic, bic, ll, dev, ndev = mixed.aic, mixed.bic, mixed.loglik, None, None
        random_info = {"group": random, "n_groups": mixed.n_groups, "estimation": "REML",
                       "variance": {"intercept": mixed.tau2, "residual": mixed.sigma2},
                       "sd": {"intercept": math.sqrt(mixed.tau2), "residual": math.sqrt(mixed.sigma2)},
                       "icc": mixed.icc, "reml_criterion": mixed.reml_criterion,
                       "singular": mixed.singular, "converged": mixed.converged}
        notes.append(f"Random intercept for {random} ({mixed.n_groups} groups), REML as lme4::lmer: between-group "
                     f"variance {mixed.tau2:.4g}, residual variance {mixed.sigma2:.4g}, ICC {mixed.icc:.3f}. "
                     "R^2 is Nakagawa & Schielzeth's marginal R^2 (fixed effects' share of the total variance).")
    elif mixed is not None:
        var_f = float(np.var(mixed.fitted_fixed, ddof=1))
        if family == "logit":
            dist_var = math.pi ** 2 / 3.0
            dist_txt = "pi^2/3 (logistic distribution)"
        else:
            lam = math.exp(float(np.mean(mixed.fitted_fixed)) + mixed.tau2 / 2.0)
            dist_var = math.log1p(1.0 / lam)
            dist_txt = "log(1 + 1/lambda), lambda = exp(mean(X b) + tau^2/2) (lognormal approximation)"
        tot = var_f + mixed.tau2 + dist_var
        r2, r2_type, adj = var_f / tot, "marginal, latent scale (Nakagawa, Johnson & Schielzeth 2017)", None
        extras["r2_conditional"] = (var_f + mixed.tau2) / tot
        aic, bic, ll, dev, ndev = mixed.aic, mixed.bic, mixed.loglik, mixed.deviance, None
        icc = mixed.tau2 / (mixed.tau2 + dist_var)
        random_info = {"group": random, "n_groups": mixed.n_groups, "estimation": "Laplace (ML)",
                       "variance": {"intercept": mixed.tau2, "distribution": dist_var},
                       "sd": {"intercept": math.sqrt(mixed.tau2)}, "icc": icc, "icc_scale": "latent",
                       "deviance": mixed.deviance, "singular": mixed.singular, "converged": mixed.converged}
        notes.append(f"Random intercept for {random} ({mixed.n_groups} groups), Laplace approximation as lme4::glmer "
                     f"(nAGQ = 1): intercept variance {mixed.tau2:.4g} on the linear-predictor scale; latent-scale ICC "
                     f"{icc:.3f} with distribution-specific variance {dist_txt}. Coefficients are conditional on "
                     "the random intercept (cluster-specific), not population-averaged.")
    if mixed is not None:
        if mixed.singular:
            warnings.append(f"The random-intercept variance of {random} is estimated at (or near) zero: a singular fit "
                            "(lme4::isSingular). The clusters add no variance beyond the fixed effects; the model "
                            "reduces to the model without the random intercept.")
        if not mixed.converged:
            warnings.append("The mixed model's optimisation did not converge; estimates may be unreliable.")
    elif family == "gaussian":
        wv = np.ones(n) if wts is None else wts
        e = y - fit.mu
        rss = float(np.sum(wv * e * e))
        if form.intercept:
            ym = float(np.sum(wv * y) / np.sum(wv))
            tss = float(np.sum(wv * (y - ym) ** 2))
        else:
            tss = float(np.sum(wv * y * y))
        r2 = 1.0 - rss / tss if tss > 0 else None
        adj = (1.0 - (1.0 - r2) * (n - int(form.intercept)) / dfres) if r2 is not None else None
        r2_type = "R^2"
        aic, bic, ll, dev, ndev = fit.aic, fit.bic, fit.loglik, fit.deviance, None
    else:
        r2 = 1.0 - fit.deviance / fit.null_deviance if fit.null_deviance > 0 else None
        r2_type = "deviance-based pseudo-R^2: 1 - deviance / null deviance" + (" (= McFadden's)" if family == "logit" else "")
        adj = None
        aic, bic, ll, dev, ndev = fit.aic, fit.bic, fit.loglik, fit.deviance, fit.null_deviance

    # ---- diagnostics -------------------------------------------------------------------------
    diagnostics = _diagnostics(form, columns, X, y, fit, mixed, family, wts, warnings, notes, names, V, se)

    # ---- moderation --------------------------------------------------------------------------
    slopes: list[dict] = []
    jn = None
    ames: list[dict] = []
    probe: dict = {}
    if focal_i is not None:
        means = {}
        for i, v in vals.items():
            means[i] = v.mean(axis=0)
        wvals = vals[mod_i]
        wm, ws = float(np.mean(wvals)), float(np.std(wvals, ddof=1))
        mod_values = [("-1 SD", wm - ws), ("mean", wm), ("+1 SD", wm + ws)]

        def at_means(wv: float) -> dict:
            d = {a: (np.array([m]) if np.ndim(m) == 0 else m[None, :]) for a, m in means.items()}
            d[mod_i] = np.array([wv])
            return d

        g0 = slope_gradient(columns, at_means(0.0), focal_i, 1)[0]
        g1 = slope_gradient(columns, at_means(1.0), focal_i, 1)[0] - g0
        V_probe = (lmer_dd.vcov_kr if lmer_dd is not None and ddf == "kenward-roger" else V)

        def contrast_df(gv: np.ndarray) -> float:
            """The df of a contrast g'b: Satterthwaite's for CR2 (clubSandwich::linear_contrast),
            G - 1 for CR1, the residual df for lm, lmerTest::contest1D's (Satterthwaite or
            Kenward-Roger) for lmer, infinite (z) otherwise."""
            if lmer_dd is not None:
                dfl = lmer_dd.contrast(gv, ddf)[1]
                return dfl if np.isfinite(dfl) and dfl > 0 else math.inf
            if df_method == "Satterthwaite":
                return float(cr2obj.df(gv)[0])
            if df_method == "G-1":
                return float(cluster_info["G"] - 1)
            if df_method == "residual":
                return float(dfres)
            return math.inf

        # Johnson-Neyman needs one critical value: that of the interaction contrast's df
        df_inter = contrast_df(g1)
        qcrit = float(sp.stdtrit(df_inter, 0.975)) if math.isfinite(df_inter) else float(sp.ndtri(0.975))
        for label, wv in mod_values:
            g = g0 + wv * g1
            s = float(g @ coef)
            sse = float(math.sqrt(max(g @ V_probe @ g, 0.0)))
            t = s / sse if sse > 0 else float("nan")
            dfg = contrast_df(g)
            fin = math.isfinite(dfg)
            pv = float(2.0 * (sp.stdtr(dfg, -abs(t)) if fin else sp.ndtr(-abs(t))))
            qg = float(sp.stdtrit(dfg, 0.975)) if fin else float(sp.ndtri(0.975))
            row = {"at": label, "moderator_value": wv, "slope": s, "se": sse, "z_or_t": t, "p": pv,
                   "ci_low": s - qg * sse, "ci_high": s + qg * sse}
            if fin and df_method != "residual":
                row["df"] = dfg
            if mod_i in shift:
                row["moderator_value_raw"] = wv * scale[mod_i] + shift[mod_i]
            slopes.append(row)
        lo, hi = float(np.min(wvals)), float(np.max(wvals))
        a, c = float(g0 @ coef), float(g1 @ coef)
        res = johnson_neyman(a, c, float(g0 @ V_probe @ g0), float(g0 @ V_probe @ g1),
                             float(g1 @ V_probe @ g1), qcrit, lo, hi)
        jn = {"bounds": res["bounds"], "inside_significant": res["inside_significant"], "alpha": 0.05,
              "critical_value": qcrit,
              "distribution": (("t(%s)" % (f"{df_inter:.1f}" if df_method == "Satterthwaite" or lmer_dd is not None
                                            else int(df_inter)))
                               if math.isfinite(df_inter) else "normal"),
              "range": [lo, hi], "significant_regions": res["significant_regions"],
              "bounds_in_range": [b for b in res["bounds"] if lo <= b <= hi], "summary": res["summary"]}
        if mod_i in shift:
            jn["bounds_raw"] = [b * scale[mod_i] + shift[mod_i] for b in res["bounds"]]
        # a standardised moderator's mean is 0 up to rounding (1e-17): printed as 0, not -2.4e-17
        shown = [0.0 if abs(v) <= 1e-12 * max(ws, 1.0) else v for v in (wm - ws, wm, wm + ws)]
        notes.append(f"Simple slopes of {form.atoms[focal_i].label} at {form.atoms[mod_i].label} = mean - 1 SD, mean, "
                     f"mean + 1 SD ({shown[0]:.4g}, {shown[1]:.4g}, {shown[2]:.4g}; sample SD over the model's rows) on the "
                     "linear-predictor scale, other predictors at their means; Johnson-Neyman: "
                     + res["summary"] + ".")
        if family in ("poisson", "negbin", "logit") and mixed is None:
            at = np.array([v for _, v in mod_values])
            res_ame = average_marginal_effects(columns, vals, focal_i, mod_i, at, coef, V, family, offset, wts, n)
            zc = float(sp.ndtri(0.975))
            for (label, wv), (ame, sse) in zip(mod_values, res_ame):
                z = ame / sse if sse > 0 else float("nan")
                ames.append({"at": label, "moderator_value": wv, "ame": ame, "se": sse, "z_or_t": z,
                             "p": float(2 * sp.ndtr(-abs(z))), "ci_low": ame - zc * sse, "ci_high": ame + zc * sse})
            notes.append(f"Marginal effects: average over the model's rows of d E[y] / d {form.atoms[focal_i].label} with "
                         f"{form.atoms[mod_i].label} set to each value (counterfactual AME, response scale); "
                         "delta-method SEs from the model's covariance matrix, z tests.")
        fv = vals[focal_i]
        probe = {"columns": columns, "means": means, "coef": coef, "vcov": V, "focal": focal_i,
                 "moderator": mod_i, "mod_values": mod_values, "focal_range": (float(fv.min()), float(fv.max())),
                 "mod_range": (lo, hi), "g0": g0, "g1": g1, "q": qcrit,
                 "offset_mean": float(np.mean(offset)) if offset is not None else 0.0}

    # ---- effect sizes of the focal interaction ------------------------------------------------
    inter_k = None
    if focal_i is not None:
        nz = np.nonzero(np.abs(g1) > 0)[0]
        if len(nz) == 1 and abs(float(g1[nz[0]]) - 1.0) < 1e-12:
            inter_k = int(nz[0])
    if mixed is None:
        es = _effect_sizes(X, y, fit, family, wts, offset, form, names, coefs, inter_k, r2, warnings)
        if es:
            extras["effect_sizes"] = es
            if es.get("lr_test"):
                lr = es["lr_test"]
                txt = (f"Effect size of {names[inter_k]}: likelihood-ratio test against the model without it "
                       f"(lmtest::lrtest) chi2({lr['df']}) = {lr['chisq']:.2f}, {_fmt_p(lr['p'])}")
                if es.get("delta_r2") is not None:
                    txt += (f"; Delta R^2 = {es['delta_r2']:.4f}, Cohen's f^2 = Delta R^2 / (1 - R^2) = {es['f2']:.4f}"
                            f" (F({es['f_test']['df1']}, {es['f_test']['df2']}) = {es['f_test']['f']:.2f}, "
                            f"{_fmt_p(es['f_test']['p'])}, anova of the nested lm fits)")
                notes.append(txt + ".")
            if es.get("exp_coef"):
                notes.append(("Rate ratios" if family in ("poisson", "negbin") else "Odds ratios")
                             + " exp(B) with 95% CIs exp(CI bounds of B), from the model's covariance and df.")

    # ---- wild cluster bootstrap of the focal interaction -------------------------------------
    if cluster_info.get("wild") and wild_draws:  # wild_draws=0: not wanted (socap power)
        if inter_k is not None:
            from pipeline.models.wild import wild_cluster_bootstrap  # noqa: PLC0415

            kk = inter_k
            try:
                wb = wild_cluster_bootstrap(X, y, cluster_info["codes"], kk, family=family, w=wts, offset=offset,
                                            theta=fit.theta if family == "negbin" else None, draws=wild_draws,
                                            seed=seed, estimate=float(coef[kk]), se=float(ses[kk]),
                                            eta0=None if family == "gaussian" else fit.eta)
            except (np.linalg.LinAlgError, FloatingPointError, ValueError) as exc:
                warnings.append(f"The wild cluster bootstrap of {names[kk]} failed ({exc}); only the CR2 test is reported.")
            else:
                wb = {"term": names[kk], **wb,
                      "method": ("restricted wild cluster bootstrap (WCR), null imposed" if family == "gaussian" else
                                 "restricted score wild cluster bootstrap (Kline & Santos 2012), null imposed"),
                      "studentisation": "cluster-robust (CR1) variance of each bootstrap sample",
                      "ci_method": "test inversion (bisection on the bootstrap p-value)"}
                extras["wild_bootstrap"] = wb
                if wb["min_p"] >= 0.05:
                    warnings.append(f"With {wb['clusters']} clusters the wild cluster bootstrap cannot give a p-value "
                                    f"below {wb['min_p']:.3f} (all {wb['draws']} sign vectors), so it cannot reject at "
                                    "the 5% level and its CI is unbounded; report the CR2 test and say that there are "
                                    "too few clusters for a bootstrap test.")
                how = (f"all {wb['draws']:,} Rademacher sign vectors of the {wb['clusters']} clusters (exact)"
                       if wb["enumerated"] else f"{wb['draws']:,} draws of Webb's six-point weights (seed {seed})")
                lo_s = "-inf" if wb["ci_low"] is None or not math.isfinite(wb["ci_low"]) else f"{wb['ci_low']:.4g}"
                hi_s = "inf" if wb["ci_high"] is None or not math.isfinite(wb["ci_high"]) else f"{wb['ci_high']:.4g}"
                notes.append(f"Wild cluster bootstrap of {names[kk]} = 0: {wb['method']} "
                             "(Cameron, Gelbach & Miller, 2008), " + how + f"; {_fmt_p(wb['p'])}, 95% CI by test "
                             f"inversion [{lo_s}, {hi_s}]"
                             + ("; negative binomial theta held at its estimate" if family == "negbin" else "") + ".")
        else:
            warnings.append("A wild cluster bootstrap was asked for but the model has no single focal x moderator "
                            "product column to test; only the cluster-robust tests are reported.")

    # ---- mediation ---------------------------------------------------------------------------
    med = None
    if mediation is not None:
        # the model's clustering (se: cluster, or a random intercept's groups) carries over:
        # cluster-robust path SEs and a bootstrap of whole clusters
        med_cluster = cluster if (cluster and se not in ("classical", "hc3")) else random
        # the paths' cluster-robust SEs as the model's own (CR2 + Satterthwaite below
        # FEW_CLUSTERS clusters); a random intercept's groups by the same rule
        med_kind = (se_type_out if se_type_out in ("CR1", "CR2") else
                    ("CR2" if random and table[random].nunique() < FEW_CLUSTERS else "CR1"))
        med = _mediation(table, mediation, form, key, seed, n_boot, cluster=med_cluster,
                         cluster_se=med_kind)
        warnings.extend(med.warnings)
        if weight is not None:
            warnings.append(f"The mediation regressions are unweighted (the model's weight '{weight}' is not applied "
                            "to the bootstrap of indirect effects).")
        if family != "gaussian":
            warnings.append(f"Mediation is estimated with linear (OLS) regressions for the mediator and the outcome "
                            f"although this model's family is {family}; the product-of-coefficients indirect effect "
                            "is on the outcome's raw scale.")
        notes.append(f"Mediation ({med.model}): a-paths from {', '.join(med.m)} ~ {med.x}"
                     + (f" * {med.moderator}" if med.moderator else "")
                     + (" + " + " + ".join(med.covariates) if med.covariates else "")
                     + f"; b-paths from {med.y} ~ {med.x} + {' + '.join(med.m)}"
                     + (" + " + " + ".join(med.covariates) if med.covariates else "")
                     + f" (n = {med.n}); {med.n_boot} bootstrap resamples (seed {med.seed}"
                     + (f"; whole {med_cluster} clusters drawn with replacement, {med.n_clusters} per "
                        f"resample; path SEs cluster-robust CR1" if med.resampling == "clusters" else "")
                     + "), percentile and bias-corrected 95% CIs.")

    numbered = tuple(f"[{i}] {t}" for i, t in enumerate(notes, 1))
    return ModelResult(
        name=name, level=level, family=family, formula=form.text, n=n, n_dropped=n_dropped,
        r2=r2, r2_type=r2_type, adj_r2=adj, aic=aic, bic=bic, loglik=ll, deviance=dev, null_deviance=ndev,
        df_residual=dfres, theta=fit.theta if family == "negbin" else None,
        theta_se=fit.theta_se if family == "negbin" else None, se_type=se_type_out, test=test,
        df_method=lmer_extras.get("df_method", df_method), inference_reason=cluster_info.get("reason"), coefficients=coefs,
        focal=form.atoms[focal_i].label if focal_i is not None else None,
        moderator=form.atoms[mod_i].label if mod_i is not None else None,
        simple_slopes=tuple(slopes), johnson_neyman=jn, marginal_effects=tuple(ames), mediation=med,
        random=random_info, diagnostics=diagnostics, notes=numbered, warnings=tuple(warnings),
        extras=extras, _probe=probe)


# ----------------------------------------------------------------------------------------------
# Pieces of fit_model
# ----------------------------------------------------------------------------------------------


DDF_METHODS = {"satterthwaite": "Satterthwaite", "kenward-roger": "Kenward-Roger"}


def _lmer_tests(coefs: dict, names, X, y, groups, mixed, ddf: str, notes: list, warnings: list):
    """t tests of a gaussian random-intercept model's coefficients with Satterthwaite or
    Kenward-Roger df (``coefs`` updated in place: df, z_or_t, p, CI; Kenward-Roger also the
    adjusted SE); returns ({``df_method``, the ``ddf`` block with both methods}, the
    :class:`~pipeline.models.mixed.LmerDdf` for further contrasts)."""
    from pipeline.models.mixed import lmer_ddf  # noqa: PLC0415

    dd = lmer_ddf(X, y, groups, mixed)
    se_plain = np.sqrt(np.maximum(np.diag(mixed.vcov), 0.0))
    se_kr = np.sqrt(np.maximum(np.diag(dd.vcov_kr), 0.0))
    both = {}
    for method, df, se in (("satterthwaite", dd.satterthwaite, se_plain),
                           ("kenward-roger", dd.kenward_roger, se_kr)):
        rows = {}
        for j, nm in enumerate(names):
            b = float(mixed.coef[j])
            t = b / se[j] if se[j] > 0 else float("nan")
            ok = np.isfinite(df[j]) and df[j] > 0
            q = float(sp.stdtrit(df[j], 0.975)) if ok else float("nan")
            rows[nm] = {"estimate": b, "se": float(se[j]), "df": float(df[j]), "z_or_t": t,
                        "p": float(2.0 * sp.stdtr(df[j], -abs(t))) if ok else None,
                        "ci_low": b - q * se[j], "ci_high": b + q * se[j]}
        both[method] = rows
    chosen = both[ddf]
    bad = [nm for nm, r in chosen.items() if r["p"] is None]
    if bad:
        warnings.append(f"{DDF_METHODS[ddf]} degrees of freedom could not be computed for "
                        f"{', '.join(bad)} (a singular or boundary fit); their tests use z.")
    for nm, r in chosen.items():
        if r["p"] is None:
            continue
        coefs[nm].update({k: r[k] for k in ("se", "df", "z_or_t", "p", "ci_low", "ci_high")})
    other = "kenward-roger" if ddf == "satterthwaite" else "satterthwaite"
    notes.append(f"Coefficients of the mixed model are tested with t and {DDF_METHODS[ddf]} "
                 f"denominator df as lmerTest::summary(fit, ddf = \"{DDF_METHODS[ddf]}\") "
                 + ("(Kenward-Roger: pbkrtest's adjusted covariance for the SEs)" if ddf == "kenward-roger"
                    else "(model-based SEs)")
                 + f"; the {DDF_METHODS[other]} tests are reported beside them (ddf). Simple slopes "
                 f"are tested the same way (lmerTest::contest1D, ddf = \"{DDF_METHODS[ddf]}\") and the "
                 "Johnson-Neyman bounds use the t critical value at the interaction's df.")
    return {"df_method": DDF_METHODS[ddf],
            "ddf": {"method": DDF_METHODS[ddf], "satterthwaite": both["satterthwaite"],
                    "kenward_roger": both["kenward-roger"]}}, dd


def _standardised(form, columns, vals, levels, X, y, coef, family, is_mixed, wts, offset, groups, fit):
    """Coefficients after z-scoring numeric atoms (and y for gaussian); products from z-scores."""
    n = X.shape[0]
    zvals = {}
    for i, v in vals.items():
        if levels[i] is None:
            s = float(np.std(v, ddof=1))
            zvals[i] = (v - v.mean()) / s if s > 0 else v * 0.0
        else:
            zvals[i] = v
    ysd = float(np.std(y, ddof=1)) if family == "gaussian" else 1.0
    # When the term hierarchy is respected, X_z = X T for a p x p matrix T, and the fit is
    # equivariant under that reparameterisation: b_z = T^-1 b.  The identity is algebraic, so
    # T is found (and checked) on a spread subset of rows; otherwise the model is refitted.
    sub = np.unique(np.linspace(0, n - 1, min(n, 4000)).astype(np.int64))
    Xs = X[sub]
    Xzs = fm.build_matrix(columns, {i: v[sub] for i, v in zvals.items()}, len(sub))
    Q, R = np.linalg.qr(Xs)
    d = np.abs(np.diag(R))
    if d.min() > 1e-9 * d.max():
        T = np.linalg.solve(R, Q.T @ Xzs)
        resid = Xzs - Xs @ T
        scale = np.maximum(np.abs(Xzs).max(axis=0), 1.0)
        if np.all(np.abs(resid).max(axis=0) <= 1e-8 * scale):
            try:
                return np.linalg.solve(T, coef) / ysd
            except np.linalg.LinAlgError:
                pass
    Xz = fm.build_matrix(columns, zvals, n)
    if is_mixed and family == "gaussian":
        from pipeline.models.mixed import fit_lmer

        return fit_lmer(Xz, (y - y.mean()) / ysd, groups).coef
    if is_mixed:
        from pipeline.models.mixed import fit_glmer

        return fit_glmer(Xz, y, groups, family, offset).coef
    if family == "gaussian":
        return fit_lm(Xz, (y - y.mean()) / ysd, wts, offset).coef
    if family == "negbin":
        return fit_negbin(Xz, y, wts, offset).coef
    return fit_glm(Xz, y, family, wts, offset).coef


def _effect_sizes(X, y, fit, family, wts, offset, form, names, coefs, k, r2, warnings) -> dict:
    """Effect sizes of the focal interaction (column k) and exp(B) of count / logit models.

    * gaussian: Delta R^2 = R^2 - R^2 without the interaction, Cohen's f^2 = Delta R^2 /
      (1 - R^2), and the nested-model F test (R: ``anova(reduced, full)``);
    * every family: likelihood-ratio test ``2 (logLik(full) - logLik(reduced))`` on 1 df
      (``lmtest::lrtest(reduced, full)``; glm.nb refits theta in the reduced model);
    * poisson / negbin / logit: ``exp(B)`` with ``exp`` of the CI bounds of B (same vcov and df
      as the coefficient table);
    * the standardised interaction: its ``beta`` (the product of z-scores) with the CI bounds
      scaled by ``beta / B`` (the highest-order term is only rescaled by standardising).
    """
    out: dict[str, Any] = {}
    if family in ("poisson", "negbin", "logit"):
        out["exp_coef"] = {nm: {"estimate": math.exp(c["estimate"]) if c["estimate"] < 700 else math.inf,
                                "ci_low": math.exp(min(c["ci_low"], 700.0)), "ci_high": math.exp(min(c["ci_high"], 700.0))}
                           for nm, c in coefs.items()}
    if k is None:
        return out
    Xr = np.delete(X, k, axis=1)
    try:
        if family == "gaussian":
            red = fit_lm(Xr, y, wts, offset)
        elif family == "negbin":
            red = fit_negbin(Xr, y, wts, offset, intercept=form.intercept)
        else:
            red = fit_glm(Xr, y, family, wts, offset, intercept=form.intercept)
    except (RankDeficient, np.linalg.LinAlgError) as exc:
        warnings.append(f"The model without {names[k]} could not be fitted ({exc}); no likelihood-ratio test.")
        return out
    chisq = max(2.0 * (fit.loglik - red.loglik), 0.0)
    out["lr_test"] = {"chisq": chisq, "df": 1, "p": float(sp.chdtrc(1, chisq)),
                      "method": "likelihood ratio against the model without the interaction (lmtest::lrtest)"}
    if family == "gaussian" and r2 is not None:
        wv = np.ones(len(y)) if wts is None else wts
        if form.intercept:
            ym = float(np.sum(wv * y) / np.sum(wv))
            tss = float(np.sum(wv * (y - ym) ** 2))
        else:
            tss = float(np.sum(wv * y * y))
        r2_red = 1.0 - red.deviance / tss
        d = r2 - r2_red
        out["delta_r2"] = d
        out["f2"] = d / (1.0 - r2) if r2 < 1 else None
        df2 = fit.df_residual
        f = (red.deviance - fit.deviance) / (fit.deviance / df2) if fit.deviance > 0 else float("nan")
        out["f_test"] = {"f": f, "df1": 1, "df2": df2, "p": float(sp.fdtrc(1, df2, f)) if np.isfinite(f) else None}
        out["r2_without"] = r2_red
    c = coefs[names[k]]
    beta = c.get("beta")
    if beta is not None and c["estimate"] not in (0, None) and np.isfinite(beta):
        sc = beta / c["estimate"]
        lo, hi = sorted((c["ci_low"] * sc, c["ci_high"] * sc))
        out["standardized_interaction"] = {"term": names[k], "estimate": beta, "ci_low": lo, "ci_high": hi}
    return out


def _gvif(cov: np.ndarray, columns, names, form) -> dict:
    """Generalised VIFs per term from the coefficients' correlation matrix, as car::vif."""
    idx = [j for j, c in enumerate(columns) if c.term >= 0]
    if len(set(columns[j].term for j in idx)) < 2:
        return {}
    V = cov[np.ix_(idx, idx)]
    d = np.sqrt(np.diag(V))
    R = V / np.outer(d, d)
    detR = np.linalg.det(R)
    out = {}
    for ti, term in enumerate(form.terms):
        subs = [k for k, j in enumerate(idx) if columns[j].term == ti]
        rest = [k for k in range(len(idx)) if k not in subs]
        g = np.linalg.det(R[np.ix_(subs, subs)]) * np.linalg.det(R[np.ix_(rest, rest)]) / detR
        out[form.term_label(term)] = {"gvif": float(g), "df": len(subs), "gvif_adj": float(g ** (1.0 / (2 * len(subs))))}
    return out


def _diagnostics(form, columns, X, y, fit: Fit, mixed, family, wts, warnings, notes, names, V, se) -> dict:
    diag: dict[str, Any] = {}
    # VIF (car::vif on the classical covariance)
    cov = mixed.vcov if mixed is not None else fit.vcov
    gv = _gvif(cov, columns, names, form)
    diag["vif"] = {k: v["gvif"] for k, v in gv.items()}
    if any(v["df"] > 1 for v in gv.values()):
        diag["gvif"] = gv
    inter_atoms = {a for t in form.terms if len(t) > 1 for a in t}
    high = [k for k, ti in zip(gv, form.terms) if gv[k]["gvif_adj"] ** 2 > 10 and not (set(ti) & inter_atoms)]
    if high:
        warnings.append(f"High collinearity: VIF above 10 for {', '.join(high)}; their estimates are imprecise.")
    if gv:
        notes.append("VIF per term: generalised VIF from the coefficients' correlation matrix (car::vif); "
                     + ", ".join(f"{k} {v['gvif']:.2f}" for k, v in gv.items())
                     + (". VIFs of product terms and their components are large by construction and do not "
                        "affect the interaction's estimate or test" if inter_atoms else "") + ".")
    # condition number: columns scaled to unit length, not centred (Belsley, Kuh & Welsch, 1980)
    norms = np.sqrt(np.einsum("ij,ij->j", X, X))
    Xs = X / np.where(norms > 0, norms, 1.0)
    sv = np.linalg.svd(Xs.T @ Xs, compute_uv=False)
    cn = float(math.sqrt(sv[0] / sv[-1])) if sv[-1] > 0 else float("inf")
    diag["condition_number"] = cn
    diag["condition_number_method"] = "design matrix with columns scaled to unit length (not centred), Belsley-Kuh-Welsch"
    notes.append(f"Condition number {cn:.1f} (design columns scaled to unit length, not centred; Belsley, Kuh & "
                 "Welsch, 1980; above 30 signals collinearity, which for uncentred interaction terms is mostly "
                 "non-essential).")
    if cn > 1000:
        warnings.append(f"The condition number of the design is {cn:.0f}: predictors are nearly collinear; "
                        "consider centring predictors (center: [...]) or dropping redundant terms.")
    if mixed is not None and family != "gaussian":
        pass  # GLMM: the GLM dispersion / separation checks do not apply to the conditional model
    elif family == "gaussian":
        e = y - (mixed.fitted_fixed if mixed is not None else fit.mu)
        ec = e - e.mean()
        m2 = float(np.mean(ec ** 2))
        skew = float(np.mean(ec ** 3) / m2 ** 1.5) if m2 > 0 else float("nan")
        kurt = float(np.mean(ec ** 4) / m2 ** 2 - 3.0) if m2 > 0 else float("nan")
        diag["residuals"] = {"skewness": skew, "excess_kurtosis": kurt,
                             "method": "moment estimators g1 = m3/m2^1.5, g2 = m4/m2^2 - 3 of the residuals"
                             + (" (marginal: y - X b)" if mixed is not None else "")}
        txt = f"Residuals: skewness {skew:.2f}, excess kurtosis {kurt:.2f}"
        if mixed is None and wts is None and X.shape[1] > 1:
            bp = _breusch_pagan(fit.extra["Q"], e)
            diag["breusch_pagan"] = bp
            txt += (f"; Breusch-Pagan (studentised, Koenker; lmtest::bptest) chi2({bp['df']}) = "
                    f"{bp['statistic']:.2f}, {_fmt_p(bp['p'])}")
            if bp["p"] < 0.05 and se == "classical":
                warnings.append("The Breusch-Pagan test indicates heteroskedastic residuals "
                                f"({_fmt_p(bp['p'])}); classical standard errors may be wrong: consider se: hc3.")
        notes.append(txt + ".")
        if abs(skew) > 2 or kurt > 7:
            warnings.append(f"The residuals are far from normal (skewness {skew:.2f}, excess kurtosis {kurt:.2f}); "
                            "with small samples, tests may be inaccurate; consider transforming the outcome or a count model.")
    else:
        mu = fit.mu
        pw = fit.prior_weights
        from pipeline.models.estimation import family_variance

        pear = float(np.sum(pw * (y - mu) ** 2 / family_variance(family, mu, fit.theta)))
        dfres = fit.df_residual
        ratio = pear / dfres if dfres > 0 else float("nan")
        diag["dispersion"] = {"pearson_chisq": pear, "df": dfres, "ratio": ratio,
                              "p": float(sp.chdtrc(dfres, pear)) if dfres > 0 else None}
        notes.append(f"Dispersion: Pearson chi2 / df = {ratio:.3f} (df {dfres}).")
        if family == "poisson" and ratio > 1.25 and diag["dispersion"]["p"] is not None and diag["dispersion"]["p"] < 0.05:
            if se == "classical":
                warnings.append(f"The Poisson model is overdispersed (Pearson chi2/df = {ratio:.2f}): its classical "
                                "standard errors are too small; use family: negbin (or se: hc3 / cluster).")
            else:
                warnings.append(f"The Poisson model is overdispersed (Pearson chi2/df = {ratio:.2f}); the {se} standard "
                                "errors allow for it, but family: negbin would describe the counts better and "
                                "estimate more efficiently.")
        if not fit.converged:
            warnings.append(f"The IRLS fit did not converge within {fit.iterations} iterations; estimates may be unreliable.")
        diag["convergence"] = {"iterations": fit.iterations, "converged": fit.converged}
        if family == "negbin":
            diag["convergence"].update({"theta_iterations": fit.theta_iterations, "theta_converged": fit.theta_converged})
            if not fit.theta_converged:
                warnings.append("The negative binomial theta did not converge (the iteration limit was reached); "
                                "the data may be no more dispersed than Poisson.")
            if fit.theta is not None and fit.theta > 1e4:
                warnings.append(f"The negative binomial theta is very large ({fit.theta:.3g}): there is no "
                                "overdispersion, and a Poisson model fits as well.")
        if family == "logit":
            eps = 10 * np.finfo(float).eps
            n01 = int(np.sum((mu < eps) | (mu > 1 - eps)))
            big = [nm for nm, b, s in zip(names, fit.coef, np.sqrt(np.diag(fit.vcov))) if abs(b) > 10 or s > 100]
            diag["separation"] = {"fitted_0_or_1": n01, "large_coefficients": big}
            if n01 or big:
                warnings.append("Signs of (quasi-)complete separation: "
                                + (f"{n01} fitted probabilities are numerically 0 or 1" if n01 else "")
                                + ("; " if n01 and big else "")
                                + (f"huge estimates or standard errors for {', '.join(big)}" if big else "")
                                + ". Maximum-likelihood estimates are unreliable; consider fewer predictors or "
                                "a penalised (Firth) logit.")
    if mixed is not None:
        diag["convergence"] = {"converged": mixed.converged, "singular": mixed.singular}
        if hasattr(mixed, "iterations"):
            diag["convergence"]["evaluations"] = mixed.iterations
    return diag


def _breusch_pagan(Q: np.ndarray, e: np.ndarray) -> dict:
    """Koenker's studentised Breusch-Pagan test, as lmtest::bptest(fit) (its default).

    ``u = e^2 - mean(e^2)`` regressed on the model's design ``X``: statistic ``n * sum(fitted^2) /
    sum(u^2)`` (= n R^2 when X has an intercept), chi-square with ``p - 1`` df.
    """
    n, p = Q.shape
    u = e * e
    u = u - u.mean()
    f = Q @ (Q.T @ u)            # Q: orthonormal basis of the design (from the fit's QR)
    uu = float(np.sum(u * u))
    # equal squared residuals (a perfect fit of a constant outcome): undefined, NaN as in R
    stat = n * float(np.sum(f * f)) / uu if uu > 0 else math.nan
    df = p - 1
    return {"statistic": stat, "df": df, "p": float(sp.chdtrc(df, stat))}


def _mediation(table: pd.DataFrame, spec: Mapping, form: fm.Formula, key: str, seed: int,
               n_boot: int, cluster: str | None = None, cluster_se: str = "CR2") -> MediationResult:
    mkey = f"{key}.mediation"
    if not isinstance(spec, Mapping):
        raise StudyError("mediation must be a mapping such as {x: social_capital, m: [participation], y: new_products}",
                         key=mkey, fix="write mediation: {x: .., m: [..], y: ..}")
    for k in spec:
        if k not in MEDIATION_KEYS:
            raise StudyError(f"unknown mediation setting '{k}'; {did_you_mean(str(k), MEDIATION_KEYS)}",
                             key=f"{mkey}.{k}", fix="use: " + ", ".join(MEDIATION_KEYS))
    for k in ("x", "m", "y"):
        if k not in spec or spec[k] in (None, "", []):
            raise StudyError(f"mediation needs '{k}'", key=mkey, fix=f"add {k}: <column> to mediation")
    x, y = str(spec["x"]), str(spec["y"])
    ms = _names_list(spec["m"], f"{mkey}.m")
    w = spec.get("moderator")
    w = None if w is None else str(w)
    if "covariates" in spec:
        covs = _names_list(spec["covariates"], f"{mkey}.covariates")
    else:
        used = {x, y, *ms} | ({w} if w else set())
        covs = [a.label for a in form.atoms if a.label not in used and not set(a.columns) & used]
    roles = {x: "x", y: "y", **{m: "m" for m in ms}, **({w: "moderator"} if w else {})}
    if len(roles) < 2 + len(ms) + (1 if w else 0):
        raise StudyError("mediation names the same column in two roles (x, m, y, moderator)", key=mkey,
                         fix="give x, each mediator, y and the moderator different columns")
    for c in covs:
        if c in roles:
            raise StudyError(f"mediation covariate '{c}' is also the mediation's {roles[c]}", key=f"{mkey}.covariates",
                             fix=f"remove '{c}' from covariates")
    try:
        n_boot = int(spec.get("n_boot", n_boot))
        seed = int(spec.get("seed", seed))
        level = float(spec.get("ci_level", 0.95))
    except (TypeError, ValueError):
        raise StudyError("mediation n_boot and seed must be whole numbers and ci_level a number", key=mkey,
                         fix="e.g. n_boot: 5000, seed: 1, ci_level: 0.95") from None
    if n_boot < 2 or not 0 < level < 1:
        raise StudyError(f"mediation needs n_boot >= 2 and 0 < ci_level < 1 (got {n_boot}, {level})", key=mkey,
                         fix="e.g. n_boot: 5000, ci_level: 0.95")
    valid = [str(c) for c in table.columns]
    for k, cols in (("x", [x]), ("y", [y]), ("m", ms), ("moderator", [w] if w else [])):
        for c in cols:
            if c not in table.columns:
                best = fm.suggest_column(c, valid)
                raise StudyError(f"mediation {k}: '{c}' is not a column of the analysis table"
                                 + (f"; the closest is '{best}'" if best else ""), key=f"{mkey}.{k}",
                                 fix=f"write {k}: {best}" if best else "name a column of the analysis table")
            if fm.is_categorical_column(table[c]):
                raise StudyError(f"mediation {k}: '{c}' is categorical; mediation needs numeric variables",
                                 key=f"{mkey}.{k}", fix="use a numeric column")
    cov_form = None
    if covs:
        text = "`" + x + "` ~ " + " + ".join(covs)
        try:
            cov_form = fm.parse_formula(text)
        except fm.FormulaSyntaxError as exc:
            raise StudyError(f"cannot read the mediation covariates {covs}: {exc}", key=f"{mkey}.covariates",
                             fix="list column names (or log(column))") from None
        fm.check_columns(cov_form, table, f"{mkey}.covariates")
    cols = ([x, y, *ms] + ([w] if w else []) + (cov_form.columns if cov_form else [])
            + ([cluster] if cluster else []))
    ok = ~table[list(dict.fromkeys(cols))].isna().any(axis=1).to_numpy()
    cov_vals = {}
    if cov_form:
        cov_vals = fm.atom_values(cov_form, table)
        for v in cov_vals.values():
            ok &= (v[0] >= 0) if isinstance(v, tuple) else np.isfinite(v)
    rows = np.nonzero(ok)[0]
    n = len(rows)

    def num(c):
        return table[c].to_numpy(dtype=float, na_value=np.nan)[rows]

    C = None
    if cov_form:
        vals, levels = {}, {}
        for i, v in cov_vals.items():
            if isinstance(v, tuple):
                c, lv = fm.drop_unused_levels(v[0][rows], v[1])
                vals[i], levels[i] = fm.one_hot(c, len(lv)), lv
            else:
                vals[i], levels[i] = v[rows], None
        columns = fm.columns_for(cov_form, levels)
        C = fm.build_matrix(columns, vals, n)[:, 1:]
    k = 0 if C is None else C.shape[1]
    if n <= 4 + len(ms) + k:
        raise StudyError(f"only {n} complete rows for the mediation model", key=mkey,
                         fix="use fewer covariates, or fill in the missing values")
    return mediation_effects(num(x), np.column_stack([num(m) for m in ms]), num(y), covariates=C,
                             w=num(w) if w else None,
                             names={"x": x, "y": y, "m": ms, "moderator": w, "covariates": covs},
                             n_boot=n_boot, seed=seed, ci_level=level, n_dropped=len(table) - n,
                             clusters=(pd.factorize(table[cluster].to_numpy()[rows])[0]
                                       if cluster else None), cluster_se=cluster_se)
