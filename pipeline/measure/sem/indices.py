"""What lavaan reports about a fitted model: fit measures, std.all solution, MIs, score tests.

Every function follows the lavaan 0.6 source it is named after; the formulas are in the
docstrings. Distribution functions come from :mod:`scipy.special` (``chdtrc``, ``chndtr``) so that
nothing here imports ``scipy.stats``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import chdtrc, chndtr

from pipeline.measure.sem.engine import (
    ALPHA,
    BETA,
    LAMBDA,
    NU,
    PSI,
    THETA,
    Entries,
    Estimate,
    ModelSpec,
    Moments,
    entry_gradient_information,
    free_entries,
    matrices,
    to_parameters,
)

LOG_2PI = float(np.log(2.0 * np.pi))


@dataclass
class Fitted:
    """A fitted model: specification, moments, estimates, covariance matrix of the estimates."""

    spec: ModelSpec
    mom: Moments
    est: Estimate
    info: np.ndarray          # unit expected information of the free parameters
    vcov: np.ndarray          # (N info)^-1, NaN if singular
    identified: bool

    @property
    def theta(self) -> np.ndarray:
        return self.est.theta

    @property
    def se(self) -> np.ndarray:
        return np.sqrt(np.clip(np.diag(self.vcov), 0.0, None)) if self.identified else \
            np.full(len(self.theta), np.nan)


def fitted(spec: ModelSpec, mom: Moments, est: Estimate) -> Fitted:
    """Attach the expected information and the covariance matrix of the estimates."""
    imp = matrices(spec, est.theta)
    try:
        _, info_e = entry_gradient_information(spec, mom, imp, free_entries(spec))
        info = to_parameters(spec, info_e)
        evals = np.linalg.eigvalsh(info)
        identified = bool(np.all(np.isfinite(evals)) and evals[0] > 1e-10 * max(evals[-1], 1e-300))
    except np.linalg.LinAlgError:
        info = np.full((spec.n_par, spec.n_par), np.nan)
        identified = False
    if identified:
        vcov = np.linalg.inv(mom.n_total * info)
    else:
        vcov = np.full_like(info, np.nan)
    return Fitted(spec, mom, est, info, vcov, identified)


# ----------------------------------------------------------------------------------------------
# fit measures


def pchisq_noncentral(x: float, df: float, ncp: float) -> float:
    return float(chndtr(x, df, ncp)) if ncp > 0 else float(1.0 - chdtrc(df, x))


def _root(fun, lo: float, hi: float, tol: float = 1e-10) -> float:
    """Bisection root of a monotone function with a sign change on [lo, hi]."""
    flo = fun(lo)
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        fm = fun(mid)
        if (fm > 0) == (flo > 0):
            lo, flo = mid, fm
        else:
            hi = mid
        if hi - lo < tol * max(1.0, hi):
            break
    return 0.5 * (lo + hi)


def rmsea_ci(x2: float, df: float, n: int, groups: int = 1, level: float = 0.90
             ) -> tuple[float, float]:
    """lavaan's ``lav_fit_rmsea_ci``: the noncentrality values where P(X2; df, ncp) = .95/.05."""
    if not (np.isfinite(x2) and np.isfinite(df)) or df < 1:
        return (0.0, 0.0) if np.isfinite(x2) else (np.nan, np.nan)
    upper_p = 1 - (1 - level) / 2
    lower_p = (1 - level) / 2
    scale = np.sqrt(groups)

    def lower_f(lam):
        return pchisq_noncentral(x2, df, lam) - upper_p

    def upper_f(lam):
        return pchisq_noncentral(x2, df, lam) - lower_p

    if lower_f(0.0) < 0:
        lo = 0.0
    else:
        lam = _root(lower_f, 0.0, x2)
        lo = np.sqrt(lam / (n * df)) * scale
    n_rmsea = max(n, x2 * 4)
    if upper_f(n_rmsea) > 0 or upper_f(0.0) < 0:
        hi = 0.0
    else:
        lam = _root(upper_f, 0.0, n_rmsea)
        hi = np.sqrt(lam / (n * df)) * scale
    return float(lo), float(hi)


def srmr(spec: ModelSpec, mom: Moments, theta: np.ndarray) -> float:
    """lavaan's ``srmr`` (= ``srmr_bentler``): residuals scaled by the sample SDs.

    Per group, ``sqrt(mean(r^2))`` over the p(p+1)/2 covariance residuals
    ``(s_ij - sigma_ij) / sqrt(s_ii s_jj)`` and, with a mean structure, the p mean residuals
    ``(m_i - mu_i) / sqrt(s_ii)``; groups are averaged with weights N_g / N.
    """
    imp = matrices(spec, theta)
    out = 0.0
    rows, cols = np.tril_indices(spec.p)
    for g in range(spec.groups):
        sd = np.sqrt(np.diag(mom.cov[g]))
        res = (mom.cov[g] - imp.sigma[g]) / np.outer(sd, sd)
        vals = [res[rows, cols]]
        if spec.meanstructure:
            vals.append((mom.mean[g] - imp.mu[g]) / sd)
        v = np.concatenate(vals)
        out += mom.weights[g] * np.sqrt(np.mean(v ** 2))
    return float(out)


def fit_measures(fit: Fitted) -> dict[str, float | list[float]]:
    """The fitMeasures() values socap reports, under lavaan's definitions.

    Notes
    -----
    ``chisq = sum_g N_g F_g``; ``df`` = moments minus free parameters; baseline = independence
    model (diagonal covariance, free means) with ``chisq_b = sum_g N_g (sum log s_ii - log|S|)``;
    ``cfi = 1 - max(X2 - df, 0) / max(X2 - df, X2_b - df_b, 0)``;
    ``tli = 1 - ((X2 - df) df_b) / ((X2_b - df_b) df)``;
    ``rmsea = sqrt(max(X2 / N / df - 1 / N, 0)) sqrt(G)`` with its 90% interval and the p-value
    of close fit (H0: rmsea <= .05); ``loglik = -1/2 sum_g N_g (p log 2 pi + log|Sigma| +
    tr(S Sigma^-1) + d' Sigma^-1 d)``, ``aic = -2 loglik + 2 npar``, ``bic = -2 loglik +
    npar log N``, ``bic2`` with log((N + 2) / 24).
    """
    spec, mom = fit.spec, fit.mom
    G, p = spec.groups, spec.p
    N = mom.n_total
    npar = spec.n_par
    fmin = fit.est.fmin
    x2 = max(float(N * fmin), 0.0)      # F >= 0; a perfect fit can round to -1e-12
    moments = G * (p * (p + 1) // 2 + (p if spec.meanstructure else 0))
    df = moments - npar
    pvalue = float(chdtrc(df, x2)) if df > 0 else np.nan
    logdet_s = np.linalg.slogdet(mom.cov)[1]
    base_parts = np.log(np.diagonal(mom.cov, axis1=1, axis2=2)).sum(axis=1) - logdet_s
    x2_b = float(mom.n @ base_parts)
    df_b = G * p * (p - 1) // 2
    t1 = max(x2 - df, 0.0)
    t2 = max(x2 - df, x2_b - df_b, 0.0)
    cfi = 1.0 if (np.isclose(t1, 0.0, atol=1.5e-8) and np.isclose(t2, 0.0, atol=1.5e-8)) \
        else 1.0 - t1 / t2
    tt1 = (x2 - df) * df_b
    tt2 = (x2_b - df_b) * df
    tli = 1.0 - tt1 / tt2 if (df > 0 and abs(tt2) > 0) else 1.0
    rmsea = float(np.sqrt(max(x2 / N / df - 1.0 / N, 0.0)) * np.sqrt(G)) if df > 0 else 0.0
    lo, hi = rmsea_ci(x2, df, N, G)
    rmsea_p = float(1.0 - pchisq_noncentral(x2, df, N * df * 0.05 ** 2 / G)) if df > 0 else np.nan
    h1 = -0.5 * float(mom.n @ (p * LOG_2PI + logdet_s + p))
    loglik = h1 - 0.5 * x2
    aic = -2.0 * loglik + 2.0 * npar
    bic = -2.0 * loglik + npar * np.log(N)
    bic2 = -2.0 * loglik + npar * np.log((N + 2.0) / 24.0)
    return {
        "chisq": x2, "df": int(df), "pvalue": pvalue,
        "cfi": float(cfi), "tli": float(tli),
        "rmsea": rmsea, "rmsea_ci": [lo, hi], "rmsea_pvalue": rmsea_p,
        "srmr": srmr(spec, mom, fit.theta),
        "aic": float(aic), "bic": float(bic), "bic2": float(bic2),
        "loglik": float(loglik), "unrestricted_loglik": float(h1),
        "npar": int(npar), "ntotal": int(N),
        "baseline_chisq": x2_b, "baseline_df": int(df_b),
        "baseline_pvalue": float(chdtrc(df_b, x2_b)) if df_b > 0 else np.nan,
    }


# ----------------------------------------------------------------------------------------------
# standardised solution


def standardized(spec: ModelSpec, theta: np.ndarray, ent: Entries) -> np.ndarray:
    """lavaan's ``std.all`` value of each matrix entry in ``ent`` at ``theta``.

    Loadings lambda_ij sd(eta_j) / sd(y_i); second-order loadings beta_jh sd(eta_h) / sd(eta_j);
    (co)variances of latents psi_jk / (sd(eta_j) sd(eta_k)); residual (co)variances
    theta_ik / (sd(y_i) sd(y_k)); intercepts nu_i / sd(y_i); latent means alpha_j / sd(eta_j);
    with model-implied SDs.
    """
    imp = matrices(spec, theta)
    k, g, r, c = ent.kind, ent.group, ent.row, ent.col
    with np.errstate(invalid="ignore", divide="ignore"):
        sd_y = np.sqrt(np.diagonal(imp.sigma, axis1=1, axis2=2))
        sd_e = np.sqrt(np.diagonal(imp.phi, axis1=1, axis2=2))
        out = np.full(len(ent), np.nan, dtype=np.result_type(imp.sigma.dtype, float))
        m = k == LAMBDA
        out[m] = imp.lam[g[m], r[m], c[m]] * sd_e[g[m], c[m]] / sd_y[g[m], r[m]]
        m = k == BETA
        out[m] = imp.beta[g[m], r[m], c[m]] * sd_e[g[m], c[m]] / sd_e[g[m], r[m]]
        m = k == PSI
        out[m] = imp.psi[g[m], r[m], c[m]] / (sd_e[g[m], r[m]] * sd_e[g[m], c[m]])
        m = k == THETA
        out[m] = imp.theta[g[m], r[m], c[m]] / (sd_y[g[m], r[m]] * sd_y[g[m], c[m]])
        m = k == NU
        out[m] = imp.nu[g[m], r[m]] / sd_y[g[m], r[m]]
        m = k == ALPHA
        out[m] = imp.alpha[g[m], r[m]] / sd_e[g[m], r[m]]
    return out


def standardized_with_se(fit: Fitted, ent: Entries) -> tuple[np.ndarray, np.ndarray]:
    """std.all values and their delta-method SEs (``standardizedSolution()``).

    The Jacobian of the standardised values with respect to the free parameters is taken by
    central differences (lavaan differentiates numerically too); ``se = sqrt(diag(J V J'))``.
    """
    theta = fit.theta
    values = standardized(fit.spec, theta, ent)
    if not fit.identified:
        return values, np.full(len(values), np.nan)
    k = len(theta)
    jac = np.empty((len(ent), k))
    for j in range(k):
        h = 1e-6 * max(1.0, abs(theta[j]))
        up = theta.copy()
        up[j] += h
        dn = theta.copy()
        dn[j] -= h
        jac[:, j] = (standardized(fit.spec, up, ent) - standardized(fit.spec, dn, ent)) / (2 * h)
    var = np.einsum("ij,jk,ik->i", jac, fit.vcov, jac)
    return values, np.sqrt(np.clip(var, 0.0, None))


# ----------------------------------------------------------------------------------------------
# score tests: modification indices and released equality constraints


def _extended_information(fit: Fitted, extra: Entries):
    """Gradient of F and unit information for the free entries followed by ``extra`` entries."""
    spec = fit.spec
    free = free_entries(spec)
    allent = Entries(
        np.concatenate([free.kind, extra.kind]), np.concatenate([free.group, extra.group]),
        np.concatenate([free.row, extra.row]), np.concatenate([free.col, extra.col]),
    )
    imp = matrices(spec, fit.theta)
    grad, info = entry_gradient_information(spec, fit.mom, imp, allent)
    return grad, info, len(free)


def modification_indices(fit: Fitted, candidates: Entries) -> tuple[np.ndarray, np.ndarray]:
    """lavaan's ``modindices()``: score test (1 df) and expected parameter change per entry.

    Notes
    -----
    With s the per-observation score of the log-likelihood for the fixed entry (-1/2 dF/dx),
    I the unit expected information of the model extended by that entry, and
    ``V = I_xx - I_x,free I_free^-1 I_free,x``: ``mi = N s^2 / V`` and ``epc = s / V``
    (Saris, Satorra & Sorbom, 1987).
    """
    spec = fit.spec
    if len(candidates) == 0:
        return np.zeros(0), np.zeros(0)
    grad, info, nf = _extended_information(fit, candidates)
    return mi_from_information(fit.info, to_parameters(spec, info[nf:, :nf], axes=(1,)),
                               np.diag(info[nf:, nf:]), -0.5 * grad[nf:], fit.mom.n_total)


def mi_from_information(i_pp: np.ndarray, i_xp: np.ndarray, i_xx: np.ndarray,
                        score: np.ndarray, n_total: float) -> tuple[np.ndarray, np.ndarray]:
    """Modification indices and expected parameter changes of candidate parameters, as
    lavaan's ``modindices()``: from the (unit) information of the free parameters ``i_pp``, its
    cross block with the candidates ``i_xp`` and their own diagonal ``i_xx``, and the
    candidates' score; an information left below eps^(1/3) gives NaN."""
    try:
        solved = np.linalg.solve(i_pp, i_xp.T)
    except np.linalg.LinAlgError:
        solved = np.linalg.pinv(i_pp) @ i_xp.T
    v = i_xx - np.einsum("xp,px->x", i_xp, solved)
    with np.errstate(invalid="ignore", divide="ignore"):
        v = np.where(v < np.finfo(float).eps ** (1 / 3), np.nan, v)
        mi = n_total * score ** 2 / v
        epc = score / v
    return mi, epc


def release_score_test(fit: Fitted, entry_sets: list[np.ndarray]) -> list[tuple[float, int]]:
    """Score tests for giving each set of free entries its own parameter(s).

    Each element of ``entry_sets`` lists indices of free entries (of the model specification)
    that currently share a parameter with other entries; the test is of adding one parameter per
    listed entry (lavaan's ``lavTestScore`` releases one equality constraint ``.pG1. == .pGk.``
    in the same way; for one entry the two statistics coincide). Returns (X2, df) per set.
    """
    spec = fit.spec
    free = free_entries(spec)
    imp = matrices(spec, fit.theta)
    grad, info = entry_gradient_information(spec, fit.mom, imp, free)
    i_pp = fit.info
    try:
        i_pp_inv = np.linalg.inv(i_pp)
    except np.linalg.LinAlgError:
        i_pp_inv = np.linalg.pinv(i_pp)
    out = []
    N = fit.mom.n_total
    for idx in entry_sets:
        idx = np.asarray(idx, dtype=int)
        i_xp = to_parameters(spec, info[idx], axes=(1,))
        i_xx = info[np.ix_(idx, idx)]
        v = i_xx - i_xp @ i_pp_inv @ i_xp.T
        s = -0.5 * grad[idx]
        try:
            x2 = float(N * s @ np.linalg.solve(v, s))
        except np.linalg.LinAlgError:
            x2 = float(N * s @ np.linalg.pinv(v) @ s)
        out.append((x2, len(idx)))
    return out
