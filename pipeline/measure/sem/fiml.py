"""Full-information maximum likelihood (lavaan's ``missing = "ml"``) from missing-data patterns.

The rows enter once: they are grouped by their pattern of answered items and each pattern keeps
its size, mean and (N-divisor) cross-product matrix of the answered items -- the sufficient
statistics of the normal likelihood of incomplete data. Everything after that (EM for the
saturated model, the ML fit, gradients, the observed information) costs per pattern, not per
row, so 10^6 respondents cost one pass plus a few thousand small matrix operations.

For a pattern k with n_k rows, observed items o, pattern mean m_k and cross-product S_k, the
log-likelihood is ``-n_k/2 [p_o log 2 pi + log|Sigma_oo| + tr(Sigma_oo^-1 (S_k + d d'))]`` with
``d = m_k - mu_o``. socap minimises ``F = -2 logL / N`` without the constant; its gradient with
respect to the entries of Sigma and mu has the same form as the complete-data ML gradient with
``W = sum_k w_k (K_k - K_k Sd_k K_k)`` and ``g_mu = -2 sum_k w_k K_k d_k`` (``w_k = n_k / N``,
``K_k`` = Sigma_oo^-1 embedded in a p x p matrix of zeros), so the engine's entry derivatives
serve unchanged.

lavaan 0.6 defaults reproduced: the saturated (H1) moments by EM (``lav_mvnorm_missing_h1_
estimate_moments``, run here to a tighter tolerance), chisq = 2 (logL_H1 - logL_H0), the
baseline (independence) model by FIML -- per item its available-case mean and variance --,
SRMR from the H1 (EM) moments including the mean residuals, SEs from the observed information
(``information = "observed"``, ``observed.information = "hessian"``: lavaan differentiates the
analytic gradient numerically with a 4-point rule, h = 1e-6, as here), rows with every item
missing dropped with a warning.

References
----------
Arbuckle, J. L. (1996). Full information estimation in the presence of incomplete data. In
    G. A. Marcoulides & R. E. Schumacker (Eds.), Advanced structural equation modeling.
Enders, C. K. (2010). Applied missing data analysis. Guilford Press.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.measure.sem import engine as _eng

LOG_2PI = float(np.log(2.0 * np.pi))


@dataclass
class Patterns:
    """Sufficient statistics of incomplete data, one entry per missing-data pattern.

    ``mask`` (K, p) observed items; ``n`` (K,) rows; ``mean`` (K, p) pattern means (0 where
    unobserved); ``cov`` (K, p, p) N-divisor covariance of the observed items about the pattern
    mean (0 outside the observed block); ``row_pattern`` (N_all,) pattern index of every row,
    -1 for a row with no answer; ``n_empty`` rows with no answer.
    """

    mask: np.ndarray
    n: np.ndarray
    mean: np.ndarray
    cov: np.ndarray
    row_pattern: np.ndarray
    n_empty: int

    @property
    def n_total(self) -> int:
        return int(self.n.sum())

    @property
    def p(self) -> int:
        return self.mask.shape[1]

    @property
    def weights(self) -> np.ndarray:
        return self.n / self.n.sum()

    @property
    def complete(self) -> bool:
        return bool(self.mask.all())


def pattern_codes(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(pattern index per row, (K, p) observed masks), patterns sorted by code."""
    n, p = x.shape
    if p <= 62:
        codes = np.zeros(n, dtype=np.int64)
        for j in range(p):  # column by column: x is often column-major
            codes |= (~np.isnan(x[:, j])).astype(np.int64) << j
        ucodes, inverse = np.unique(codes, return_inverse=True)
        masks = ((ucodes[:, None] >> np.arange(p, dtype=np.int64)) & 1).astype(bool)
    else:
        masks, inverse = np.unique(~np.isnan(x), axis=0, return_inverse=True)
    return inverse.reshape(-1), masks


def missing_patterns(x: np.ndarray, small: int = 48) -> Patterns:
    """Group the rows of ``x`` (NaN = missing) by pattern: sizes, means, cross-products.

    Rows are sorted by pattern once; a pattern with many rows gets one BLAS cross-product of its
    (centred) block, the many small patterns together one ``reduceat`` per item pair, so the cost
    is one pass over the data whatever the number of patterns.
    """
    x = np.asarray(x, dtype=float)
    n_all, p = x.shape
    inverse, masks = pattern_codes(x)
    empty = ~masks.any(axis=1)
    counts = np.bincount(inverse, minlength=len(masks))
    # a provisional centre (column means of the answered cells) against cancellation
    with np.errstate(invalid="ignore"):
        centre = np.nanmean(x, axis=0) if n_all else np.zeros(p)
    centre = np.where(np.isfinite(centre), centre, 0.0)
    order = np.argsort(inverse, kind="stable")
    bounds = np.r_[0, np.cumsum(counts)]
    K = len(masks)
    sums = np.zeros((K, p))
    cross = np.zeros((K, p, p))
    big = np.flatnonzero((counts >= small) & ~empty)
    for k in big:
        rows = order[bounds[k]:bounds[k + 1]]
        obs = np.flatnonzero(masks[k])
        block = x[np.ix_(rows, obs)] - centre[obs]
        sums[k, obs] = block.sum(axis=0)
        cross[k][np.ix_(obs, obs)] = block.T @ block
    rest = np.flatnonzero((counts < small) & ~empty & (counts > 0))
    if rest.size:
        sel = np.concatenate([order[bounds[k]:bounds[k + 1]] for k in rest])
        starts = np.r_[0, np.cumsum(counts[rest])[:-1]]
        xs = np.nan_to_num(x[sel] - centre, nan=0.0)
        sums[rest] = np.add.reduceat(xs, starts, axis=0)
        iu, ju = np.triu_indices(p)
        prod = np.add.reduceat(xs[:, iu] * xs[:, ju], starts, axis=0)
        cross[rest[:, None], iu[None, :], ju[None, :]] = prod
        cross[rest[:, None], ju[None, :], iu[None, :]] = prod
    n_safe = np.maximum(counts, 1)[:, None]
    dev = sums / n_safe                                  # pattern mean - centre
    cov = cross / n_safe[:, :, None] - dev[:, :, None] * dev[:, None, :]
    both = masks[:, :, None] & masks[:, None, :]
    cov = np.where(both, 0.5 * (cov + np.swapaxes(cov, 1, 2)), 0.0)
    mean = np.where(masks, dev + centre, 0.0)
    keep = ~empty
    remap = np.full(K, -1, dtype=np.int64)
    remap[keep] = np.arange(int(keep.sum()))
    return Patterns(mask=masks[keep], n=counts[keep].astype(float), mean=mean[keep],
                    cov=cov[keep], row_pattern=remap[inverse], n_empty=int(counts[empty].sum()))


# ----------------------------------------------------------------------------------------------
# per-pattern inverses and the likelihood


def _embedded_inverse(sigma: np.ndarray, mask: np.ndarray):
    """(K_k, logdet_k) for every pattern: Sigma_oo^-1 embedded in p x p zeros, log|Sigma_oo|.

    None when some Sigma_oo is not positive definite."""
    p = sigma.shape[0]
    both = mask[:, :, None] & mask[:, None, :]
    a = np.where(both, sigma, 0.0) + np.eye(p) * ~mask[:, None, :]
    try:
        chol = np.linalg.cholesky(a)
    except np.linalg.LinAlgError:
        return None
    logdet = 2.0 * np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(axis=1)
    inv = np.linalg.inv(a) * both
    return inv, logdet


def minus2_loglik(pat: Patterns, mu: np.ndarray, sigma: np.ndarray,
                  with_constant: bool = True) -> float:
    """-2 log L of the patterns at (mu, Sigma); inf if some Sigma_oo is not PD."""
    out = _embedded_inverse(sigma, pat.mask)
    if out is None:
        return np.inf
    inv, logdet = out
    d = np.where(pat.mask, pat.mean - mu, 0.0)
    quad = np.einsum("kij,kji->k", inv, pat.cov) + np.einsum("ki,kij,kj->k", d, inv, d)
    val = float(pat.n @ (logdet + quad))
    if with_constant:
        val += float(pat.n @ pat.mask.sum(axis=1)) * LOG_2PI
    return val


def _w_gmu(pat: Patterns, mu: np.ndarray, sigma: np.ndarray):
    """F = -2 logL / N (no constant), and its derivatives: W (dF/dSigma, symmetric-entry form)
    and g_mu (dF/dmu). None if some Sigma_oo is not PD."""
    out = _embedded_inverse(sigma, pat.mask)
    if out is None:
        return None
    inv, logdet = out
    w = pat.weights
    d = np.where(pat.mask, pat.mean - mu, 0.0)
    kd = np.einsum("kij,kj->ki", inv, d)
    sd = pat.cov + d[:, :, None] * d[:, None, :]
    ksk = inv @ sd @ inv
    f = float(w @ (logdet + np.einsum("kij,kji->k", inv, sd)))
    W = np.einsum("k,kij->ij", w, inv - ksk)
    gmu = -2.0 * (w @ kd)
    return f, W, gmu


# ----------------------------------------------------------------------------------------------
# the saturated model by EM


@dataclass
class H1:
    mean: np.ndarray
    cov: np.ndarray
    minus2ll: float
    iterations: int
    converged: bool


def em_h1(pat: Patterns, max_iter: int = 5000, tol: float = 1e-10) -> H1:
    """ML mean and covariance of incomplete normal data by EM (lavaan's saturated model).

    Starts as lavaan does (available-case means, a diagonal covariance of available-case
    variances); each E-step is one batched operation over the patterns: the missing items'
    conditional expectation ``mu_m + B (y_o - mu_o)``, ``B = Sigma_mo Sigma_oo^-1``, is linear in
    y_o, so the expected sums and cross-products follow from the pattern's own. Stops when the
    largest change of a mean or covariance is below ``tol`` (lavaan: 1e-5, 500 steps; the
    tighter tolerance here changes logL by less than its rounding).
    """
    p = pat.p
    n = pat.n
    N = n.sum()
    mask = pat.mask
    obs_n = (n[:, None] * mask).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mu = (n[:, None] * pat.mean).sum(axis=0) / obs_n
        var = ((n[:, None] * (np.diagonal(pat.cov, axis1=1, axis2=2)
                              + np.where(mask, pat.mean - mu, 0.0) ** 2)).sum(axis=0) / obs_n)
    var = np.where(np.isfinite(var) & (var > 0), var, 1.0)
    mu = np.where(np.isfinite(mu), mu, 0.0)
    sigma = np.diag(var)
    eye = np.eye(p)
    miss = ~mask
    converged = False
    it = 0
    for it in range(1, max_iter + 1):
        out = _embedded_inverse(sigma, mask)
        if out is None:
            break
        inv = out[0]
        # y_full = a + M y_o with M = [I_o; B] (p x p, zero columns for missing items)
        bmat = sigma @ inv                                # rows m: Sigma_mo Sigma_oo^-1
        M = np.where(miss[:, :, None], bmat, eye * mask[:, None, :])
        # a = mu_m - B mu_o on the missing items, 0 on the observed ones
        a = np.where(miss, mu - np.einsum("kij,kj->ki", M, np.where(mask, mu, 0.0)), 0.0)
        ey = a + np.einsum("kij,kj->ki", M, pat.mean)      # E[y] of the pattern mean
        # conditional covariance of the missing items: Sigma_mm - B Sigma_om
        cc = np.where(miss[:, :, None] & miss[:, None, :], sigma - bmat @ sigma, 0.0)
        t1 = n @ ey
        t2 = np.einsum("k,kij->ij", n, M @ pat.cov @ np.swapaxes(M, 1, 2) + cc
                       + ey[:, :, None] * ey[:, None, :])
        new_mu = t1 / N
        new_sigma = t2 / N - np.outer(new_mu, new_mu)
        new_sigma = 0.5 * (new_sigma + new_sigma.T)
        delta = max(float(np.max(np.abs(new_mu - mu))), float(np.max(np.abs(new_sigma - sigma))))
        mu, sigma = new_mu, new_sigma
        if delta < tol:
            converged = True
            break
    return H1(mu, sigma, minus2_loglik(pat, mu, sigma), it, converged)


# ----------------------------------------------------------------------------------------------
# the structured model


def _param_gradient(spec: _eng.ModelSpec, imp: _eng.Implied, W: np.ndarray, gmu: np.ndarray
                    ) -> np.ndarray:
    ent = _eng.free_entries(spec)
    idx = np.arange(len(ent))
    a, b, s, dmu = _eng._entry_vectors(spec, imp, ent, 0, idx)
    g_e = 2.0 * s * np.einsum("ei,ij,ej->e", a, W, b) + dmu @ gmu
    return np.bincount(spec.par, weights=g_e, minlength=spec.n_par)


class Objective:
    """F(theta) = -2 logL(theta) / N - (-2 logL_H1 / N) and its gradient, for one group."""

    def __init__(self, spec: _eng.ModelSpec, pat: Patterns, h1: H1):
        if spec.groups != 1 or not spec.meanstructure:
            raise ValueError("FIML needs a single-group model with a mean structure")
        self.spec, self.pat, self.h1 = spec, pat, h1
        self.const = h1.minus2ll / pat.n_total - float(pat.weights @ pat.mask.sum(axis=1)) \
            * LOG_2PI

    def value(self, theta: np.ndarray) -> float:
        imp = _eng.matrices(self.spec, theta)
        v = minus2_loglik(self.pat, imp.mu[0], imp.sigma[0], with_constant=False)
        return v / self.pat.n_total - self.const if np.isfinite(v) else np.inf

    def gradient(self, theta: np.ndarray) -> np.ndarray:
        imp = _eng.matrices(self.spec, theta)
        out = _w_gmu(self.pat, imp.mu[0], imp.sigma[0])
        if out is None:
            return np.full(len(theta), np.nan)
        _, W, gmu = out
        return _param_gradient(self.spec, imp, W, gmu)

    def approx_hessian(self, theta: np.ndarray) -> np.ndarray:
        """2 x the complete-data expected information at theta (a positive-definite stand-in
        for the FIML Hessian that seeds the quasi-Newton updates)."""
        h1 = self.h1
        mom = _eng.Moments(h1.cov[None], h1.mean[None], np.array([self.pat.n_total]))
        _, info = _eng.gradient_information(self.spec, mom, theta)
        return 2.0 * info


def minimise(obj: Objective, theta: np.ndarray, max_iter: int = 200, gtol: float = 1e-7
             ) -> _eng.Estimate:
    """BFGS with backtracking, seeded with the complete-data expected Hessian (re-seeded when
    an update fails); converged when the largest gradient element is below ``gtol``."""
    theta = np.asarray(theta, float).copy()
    f = obj.value(theta)
    if not np.isfinite(f):
        return _eng.Estimate(theta, np.inf, False, 0, "the starting values give a non-positive-"
                             "definite implied covariance matrix for some missing-data pattern")
    hess = obj.approx_hessian(theta)
    grad = obj.gradient(theta)
    converged = False
    it = 0
    stalled = 0
    for it in range(1, max_iter + 1):
        gmax = float(np.max(np.abs(grad))) if grad.size else 0.0
        if not np.isfinite(gmax):
            break
        if gmax < gtol:
            converged = True
            break
        try:
            step = -np.linalg.solve(hess, grad)
        except np.linalg.LinAlgError:
            step = -grad
        slope = float(grad @ step)
        if not np.isfinite(slope) or slope >= 0:
            hess = obj.approx_hessian(theta)
            step = -np.linalg.lstsq(hess, grad, rcond=None)[0]
            slope = float(grad @ step)
            if slope >= 0:
                step, slope = -grad, -float(grad @ grad)
        t = 1.0
        new_f = np.inf
        while t > 1e-12:
            cand = theta + t * step
            new_f = obj.value(cand)
            if np.isfinite(new_f) and new_f <= f + 1e-4 * t * slope:
                break
            t *= 0.5
        if not (np.isfinite(new_f) and new_f <= f + 1e-4 * t * slope):
            converged = gmax < 1e-5
            break
        new_grad = obj.gradient(cand)
        s_vec = cand - theta
        y = new_grad - grad
        ys = float(y @ s_vec)
        if ys > 1e-300:
            hs = hess @ s_vec
            hess = hess + np.outer(y, y) / ys - np.outer(hs, hs) / float(s_vec @ hs)
        stalled = stalled + 1 if f - new_f <= 4 * np.finfo(float).eps * max(1.0, abs(f)) else 0
        theta, f, grad = cand, new_f, new_grad
        if stalled >= 3 and gmax < 1e-5:
            converged = True
            break
    msg = "converged" if converged else f"did not converge in {it} iterations"
    return _eng.Estimate(theta, f, converged, it, msg)


def observed_information(obj: Objective, theta: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """Unit observed information: the Hessian of lavaan's objective (F / 2) by lavaan's
    4-point differences of the analytic gradient, symmetrised."""
    k = len(theta)
    hess = np.empty((k, k))
    for j in range(k):
        pts = []
        for step in (-2.0, -1.0, 1.0, 2.0):
            x = theta.copy()
            x[j] += step * h
            pts.append(obj.gradient(x))
        hess[:, j] = (pts[0] - 8 * pts[1] + 8 * pts[2] - pts[3]) / (12 * h)
    hess = 0.5 * (hess + hess.T)
    return 0.5 * hess


def baseline_minus2ll(pat: Patterns) -> tuple[float, np.ndarray, np.ndarray]:
    """-2 logL of the independence model under FIML (each item: available-case ML mean and
    variance), with those means and variances."""
    n = pat.n
    mask = pat.mask
    obs_n = (n[:, None] * mask).sum(axis=0)
    mu = (n[:, None] * pat.mean).sum(axis=0) / obs_n
    var = (n[:, None] * (np.diagonal(pat.cov, axis1=1, axis2=2)
                         + np.where(mask, pat.mean - mu, 0.0) ** 2)).sum(axis=0) / obs_n
    val = float((obs_n * (LOG_2PI + np.log(var) + 1.0)).sum())
    return val, mu, var


def start_values(spec: _eng.ModelSpec, h1: H1, n: int) -> np.ndarray:
    """Complete-data ML estimates from the EM moments: close to the FIML optimum."""
    mom = _eng.Moments(h1.cov[None], h1.mean[None], np.array([n]))
    est = _eng.estimate(spec, mom)
    if np.isfinite(est.fmin):
        return est.theta
    return _eng.start_values(spec, mom)
