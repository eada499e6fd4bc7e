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

import warnings
from dataclasses import dataclass

import numpy as np

from pipeline.measure.sem import engine as _eng
from pipeline.measure.sem.indices import mi_from_information

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
    # a provisional centre (means of the answered cells of the first rows) against cancellation
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        centre = np.nanmean(x[:4096], axis=0) if n_all else np.zeros(p)
    centre = np.where(np.isfinite(centre), centre, 0.0)
    order = np.argsort(inverse, kind="stable")
    bounds = np.r_[0, np.cumsum(counts)]
    K = len(masks)
    sums = np.zeros((K, p))
    cross = np.zeros((K, p, p))
    # the centred rows in pattern order, missing cells 0: a pattern is a contiguous block whose
    # full p x p cross-product is zero outside its observed items
    xs_all = np.empty((n_all, p))
    col = np.empty(n_all)
    for j in range(p):  # column by column: x is often column-major (pandas)
        np.take(x[:, j], order, out=col)
        col -= centre[j]
        col[np.isnan(col)] = 0.0
        xs_all[:, j] = col
    big = np.flatnonzero((counts >= small) & ~empty)
    for k in big:
        block = xs_all[bounds[k]:bounds[k + 1]]
        sums[k] = block.sum(axis=0)
        cross[k] = block.T @ block
    rest_all = np.flatnonzero((counts < small) & ~empty & (counts > 0))
    iu, ju = np.triu_indices(p)
    # the small patterns in batches of about 32,768 rows (a rows x p(p+1)/2 product each)
    batch = np.cumsum(counts[rest_all]) // 32_768
    for b in np.unique(batch):
        rest = rest_all[batch == b]
        sel = np.concatenate([np.arange(bounds[k], bounds[k + 1]) for k in rest])
        starts = np.r_[0, np.cumsum(counts[rest])[:-1]]
        xs = xs_all[sel]
        sums[rest] = np.add.reduceat(xs, starts, axis=0)
        prod = np.add.reduceat(xs[:, iu] * xs[:, ju], starts, axis=0)
        cross[rest[:, None], iu[None, :], ju[None, :]] = prod
        cross[rest[:, None], ju[None, :], iu[None, :]] = prod
    del xs_all
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


_GROUPS: dict = {}


def _missing_groups(mask: np.ndarray):
    """Patterns grouped by their number of missing items: [(pattern indices, (K_g, nm) missing
    item indices)] (cached for the mask array in use)."""
    key = (id(mask), mask.shape)
    hit = _GROUPS.get(key)
    if hit is not None and hit[0] is mask:
        return hit[1]
    nm = (~mask).sum(axis=1)
    groups = []
    for m in np.unique(nm):
        ks = np.flatnonzero(nm == m)
        idx = np.nonzero(~mask[ks])[1].reshape(len(ks), m) if m else np.zeros((len(ks), 0), int)
        groups.append((ks, idx))
    _GROUPS.clear()
    _GROUPS[key] = (mask, groups)
    return groups


def embedded_inverse(sigma: np.ndarray, mask: np.ndarray):
    """(K_k, logdet_k) for every pattern: Sigma_oo^-1 embedded in p x p zeros, log|Sigma_oo|.

    From P = Sigma^-1 by the Schur complement, as lavaan's
    ``lav_matrix_symmetric_inverse_update``: ``Sigma_oo^-1 = P_oo - P_om P_mm^-1 P_mo`` and
    ``log|Sigma_oo| = log|Sigma| + log|P_mm|``, batched over the patterns with the same number
    of missing items (small m x m inverses instead of one p x p inverse per pattern). None when
    Sigma is not positive definite."""
    p = sigma.shape[0]
    try:
        chol = np.linalg.cholesky(sigma)
    except np.linalg.LinAlgError:
        return None
    logdet_full = 2.0 * float(np.log(np.diag(chol)).sum())
    eye = np.eye(p)
    pinv = np.linalg.solve(chol.T, np.linalg.solve(chol, eye))
    pinv = 0.5 * (pinv + pinv.T)
    K = len(mask)
    inv = np.empty((K, p, p))
    logdet = np.empty(K)
    for ks, idx in _missing_groups(mask):
        m = idx.shape[1]
        if m == 0:
            inv[ks] = pinv
            logdet[ks] = logdet_full
            continue
        pmm = pinv[idx[:, :, None], idx[:, None, :]]               # (Kg, m, m)
        pcm = pinv[:, idx].transpose(1, 0, 2)                       # (Kg, p, m)
        try:
            cm = np.linalg.cholesky(pmm)
        except np.linalg.LinAlgError:
            return None
        logdet[ks] = logdet_full + 2.0 * np.log(np.diagonal(cm, axis1=1, axis2=2)).sum(axis=1)
        sol = np.linalg.solve(pmm, np.swapaxes(pcm, 1, 2))          # (Kg, m, p)
        inv[ks] = pinv - pcm @ sol
    inv *= mask[:, :, None] & mask[:, None, :]
    return inv, logdet


def minus2_loglik(pat: Patterns, mu: np.ndarray, sigma: np.ndarray,
                  with_constant: bool = True) -> float:
    """-2 log L of the patterns at (mu, Sigma); inf if some Sigma_oo is not PD."""
    out = _pattern_terms(pat, mu, sigma, need_grad=False)
    if out is None:
        return np.inf
    val = out[0] * pat.n_total
    if with_constant:
        val += float(pat.n @ pat.mask.sum(axis=1)) * LOG_2PI
    return val


def _w_gmu(pat: Patterns, mu: np.ndarray, sigma: np.ndarray):
    """F = -2 logL / N (no constant), and its derivatives: W (dF/dSigma, symmetric-entry form)
    and g_mu (dF/dmu). None if some Sigma_oo is not PD."""
    return _pattern_terms(pat, mu, sigma, need_grad=True)


def _pattern_terms(pat: Patterns, mu: np.ndarray, sigma: np.ndarray, need_grad: bool):
    """F = sum_k w_k [log|Sigma_oo| + tr(Sigma_oo^-1 Sd_k)] and (with ``need_grad``)
    ``W = sum_k w_k (K_k - K_k Sd_k K_k)``, ``g_mu = -2 sum_k w_k K_k d_k``, without forming
    K_k: with P = Sigma^-1, U_k = P[:, m_k] and C_k = P_mm^-1 (m_k the missing items),
    ``K_k = P - U_k C_k U_k'``, ``log|Sigma_oo| = log|Sigma| + log|P_mm|``, so every pattern
    costs O(p^2 m) and the parts that only involve P are summed over the patterns first
    (``sum_k w_k S_k`` is the same at every call). None if Sigma or some P_mm is not PD."""
    p = pat.p
    try:
        chol = np.linalg.cholesky(sigma)
    except np.linalg.LinAlgError:
        return None
    logdet_full = 2.0 * float(np.log(np.diag(chol)).sum())
    P = np.linalg.solve(chol.T, np.linalg.solve(chol, np.eye(p)))
    P = 0.5 * (P + P.T)
    w = pat.weights
    if "sbar" not in pat.__dict__:
        pat.__dict__["sbar"] = np.einsum("k,kij->ij", w, pat.cov)
    sbar = pat.__dict__["sbar"]
    d = np.where(pat.mask, pat.mean - mu, 0.0)
    pd_ = d @ P                                                       # (K, p): P d_k
    f = logdet_full * float(w.sum()) + float(np.sum(P * sbar)) + float(w @ np.einsum(
        "ki,ki->k", pd_, d))
    kd = pd_.copy()                                                   # K_k d_k
    a1 = np.zeros((p, p))     # sum w U C U'
    a2 = np.zeros((p, p))     # sum w S U C U'  (R = S U)
    a3 = np.zeros((p, p))     # sum w U C (U' S U) C U'
    for ks, midx in _missing_groups(pat.mask):
        m = midx.shape[1]
        if m == 0:
            continue
        wk = w[ks]
        pmm = P[midx[:, :, None], midx[:, None, :]]                  # (Kg, m, m)
        try:
            cm = np.linalg.cholesky(pmm)
        except np.linalg.LinAlgError:
            return None
        f += float(wk @ (2.0 * np.log(np.diagonal(cm, axis1=1, axis2=2)).sum(axis=1)))
        u = P[:, midx].transpose(1, 0, 2)                             # (Kg, p, m)
        c = np.linalg.inv(pmm)
        r = pat.cov[ks] @ u                                           # (Kg, p, m)
        utr = np.swapaxes(u, 1, 2) @ r                                # U'SU (Kg, m, m)
        ud = pd_[ks[:, None], midx]                                   # U'd = (P d)_m (Kg, m)
        cud = np.einsum("kab,kb->ka", c, ud)
        f -= float(wk @ (np.einsum("kab,kba->k", c, utr) + np.einsum("ka,ka->k", ud, cud)))
        if not need_grad:
            continue
        kd[ks] -= np.einsum("kpm,km->kp", u, cud)
        uc = u @ c                                                    # (Kg, p, m)
        ucw = uc * wk[:, None, None]
        flat = lambda z: z.transpose(1, 0, 2).reshape(p, -1)          # noqa: E731
        a1 += flat(ucw) @ flat(u).T
        a2 += flat(r) @ flat(ucw).T
        ctc = c @ utr @ c                                             # (Kg, m, m)
        a3 += flat(u @ ctc * wk[:, None, None]) @ flat(u).T
    if not need_grad:
        return f, None, None
    ksk = P @ sbar @ P - P @ a2 - a2.T @ P + a3 + (kd.T * w) @ kd
    W = float(w.sum()) * P - a1 - ksk
    W = 0.5 * (W + W.T)
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


def em_h1(pat: Patterns, max_iter: int = 2000, tol: float = 1e-8) -> H1:
    """ML mean and covariance of incomplete normal data by EM (lavaan's saturated model).

    Starts as lavaan does (available-case means, a diagonal covariance of available-case
    variances). The E-step works per group of patterns with the same number m of missing items,
    from P = Sigma^-1 alone: the regression of the missing on the observed items is
    ``B = Sigma_mo Sigma_oo^-1 = -P_mm^-1 P_mo`` and their residual covariance ``P_mm^-1``, so
    a pattern costs O(m p^2), not O(p^3); the observed-observed cross-products do not change
    between steps and are summed once. Stops when the largest change of a mean or covariance is
    below ``tol`` (lavaan: 1e-5, 500 steps; the tighter tolerance here; the error of logL is of
    the order N tol^2).
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
    # constant parts: sums of the observed items and their raw cross-products
    t1_obs = n @ pat.mean
    t2_obs = np.einsum("k,kij->ij", n, pat.cov + pat.mean[:, :, None] * pat.mean[:, None, :])
    groups = []
    for ks, midx in _missing_groups(mask):
        m = midx.shape[1]
        if m == 0:
            continue
        oidx = np.nonzero(mask[ks])[1].reshape(len(ks), p - m)
        mo = np.take_along_axis(pat.mean[ks], oidx, axis=1)                  # (Kg, po)
        soo = pat.cov[ks][np.arange(len(ks))[:, None, None], oidx[:, :, None], oidx[:, None, :]]
        groups.append((n[ks], midx, oidx, mo, soo))
    with np.errstate(all="ignore"):
        return _em_loop(pat, mu, sigma, t1_obs, t2_obs, groups, N, max_iter, tol)


def _em_loop(pat, mu, sigma, t1_obs, t2_obs, groups, N, max_iter, tol) -> H1:
    p = pat.p
    converged = False
    it = 0
    for it in range(1, max_iter + 1):
        try:
            prec = np.linalg.inv(sigma)
        except np.linalg.LinAlgError:
            break
        t1 = t1_obs.copy()
        t2 = t2_obs.copy()
        for nk, midx, oidx, mo, soo in groups:
            pmm = prec[midx[:, :, None], midx[:, None, :]]                   # (Kg, m, m)
            pmo = prec[midx[:, :, None], oidx[:, None, :]]                   # (Kg, m, po)
            try:
                cmm = np.linalg.inv(pmm)                                     # Var(y_m | y_o)
            except np.linalg.LinAlgError:
                return H1(mu, sigma, np.inf, it, False)
            b = -cmm @ pmo                                                   # (Kg, m, po)
            ey = mu[midx] + np.einsum("kmo,ko->km", b, mo - mu[oidx])        # E[y_m] at m_o
            bs = b @ soo                                                     # (Kg, m, po)
            e_mo = ey[:, :, None] * mo[:, None, :] + bs
            e_mm = ey[:, :, None] * ey[:, None, :] + bs @ np.swapaxes(b, 1, 2) + cmm
            np.add.at(t1, midx, nk[:, None] * ey)
            w_mo = nk[:, None, None] * e_mo
            np.add.at(t2, (midx[:, :, None], oidx[:, None, :]), w_mo)
            np.add.at(t2, (oidx[:, None, :], midx[:, :, None]), w_mo)
            np.add.at(t2, (midx[:, :, None], midx[:, None, :]), nk[:, None, None] * e_mm)
        new_mu = t1 / N
        new_sigma = t2 / N - np.outer(new_mu, new_mu)
        new_sigma = 0.5 * (new_sigma + new_sigma.T)
        if not (np.all(np.isfinite(new_sigma)) and np.all(np.isfinite(new_mu))):
            break
        if np.linalg.eigvalsh(new_sigma)[0] < 1e-6:   # as lavaan: a tiny ridge
            new_sigma[np.diag_indices(p)] += float(np.max(np.diag(new_sigma))) * 1e-8
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
    a, b, s, dmu = _eng.entry_vectors(spec, imp, ent, 0, idx)
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
    """Unit observed information: the Hessian of lavaan's objective (F / 2), analytically.

    With K_k, d_k, M_k = K_k Sd_k K_k per pattern and dSigma_e, dmu_e the derivatives of the
    implied moments, the Hessian of F is ``sum_k w_k [-tr(K dS_e K dS_f) + 2 tr(dS_e M dS_f K)
    + 2 d'K dS_f K dmu_e + 2 d'K dS_e K dmu_f + 2 dmu_e' K dmu_f] + tr(W d2Sigma_ef)``. The
    pattern sums are taken once, as p^2 x p^2 matrices ``sum_k w_k K_k (x) K_k`` and
    ``sum_k w_k M_k (x) K_k`` (one BLAS product each over the patterns), then contracted with
    the entry vectors; the last term (second derivatives of Sigma, nonzero for loading pairs and
    loading-variance pairs) is the numerical derivative of the gradient at W held fixed, which
    costs no pattern work. lavaan differentiates its whole gradient numerically (4-point rule,
    h = 1e-6); the two agree to about 1e-8.
    """
    spec, pat = obj.spec, obj.pat
    imp = _eng.matrices(spec, theta)
    mu, sigma = imp.mu[0], imp.sigma[0]
    out = embedded_inverse(sigma, pat.mask)
    if out is None:
        return _numeric_observed_information(obj, theta, h)
    inv, _ = out
    p = spec.p
    w = pat.weights
    d = np.where(pat.mask, pat.mean - mu, 0.0)
    sd = pat.cov + d[:, :, None] * d[:, None, :]
    msd = inv @ sd @ inv
    W = np.einsum("k,kij->ij", w, inv - msd)
    gmu = -2.0 * (w @ np.einsum("kij,kj->ki", inv, d))
    kf = inv.reshape(len(w), p * p)
    t_kk = (kf.T * w) @ kf                       # [ij, lm] = sum w K_ij K_lm
    t_mk = (msd.reshape(len(w), p * p).T * w) @ kf
    kd = np.einsum("kij,kj->ki", inv, d)
    v = (kd.T * w) @ kf                          # [i, lm] = sum w (K d)_i K_lm
    kbar = np.einsum("k,kij->ij", w, inv)
    t_kk = t_kk.reshape(p, p, p, p)
    t_mk = t_mk.reshape(p, p, p, p)
    v = v.reshape(p, p, p)
    ent = _eng.free_entries(spec)
    a, b, s, dmu = _eng.entry_vectors(spec, imp, ent, 0, np.arange(len(ent)))
    p2 = p * p

    def es(x_e, y_f, t, z_f, u_e):
        """einsum("ei,fj,ijlm,fl,em->ef") through two BLAS products."""
        pf = (y_f @ t.transpose(1, 0, 2, 3).reshape(p, p * p2)).reshape(-1, p, p, p)  # f,i,l,m
        q = np.einsum("film,fl->fim", pf, z_f)
        xu = (x_e[:, :, None] * u_e[:, None, :]).reshape(-1, p2)
        return xu @ q.reshape(-1, p2).T

    # tr(K dS_e K dS_f) = 2 s_e s_f [(a_e'K a_f)(b_f'K b_e) + (a_e'K b_f)(a_f'K b_e)]
    tr_kk = 2.0 * (es(a, a, t_kk, b, b) + es(a, b, t_kk, a, b))
    # tr(dS_e M dS_f K) with M first: (b_e'M a_f)(b_f'K a_e) + (b_e'M b_f)(a_f'K a_e)
    #                                 + (a_e'M a_f)(b_f'K b_e) + (a_e'M b_f)(a_f'K b_e)
    tr_mk = (es(b, a, t_mk, b, a) + es(b, b, t_mk, a, a) + es(a, a, t_mk, b, b)
             + es(a, b, t_mk, a, b))
    ss = np.outer(s, s)
    # d'K dS_f K dmu_e = s_f [(d'K a_f)(b_f'K dmu_e) + (d'K b_f)(a_f'K dmu_e)]
    v2 = v.reshape(p2, p)
    ab = (a[:, :, None] * b[:, None, :]).reshape(-1, p2)
    ba = (b[:, :, None] * a[:, None, :]).reshape(-1, p2)
    cross = (dmu @ ((ab + ba) @ v2).T) * s[None, :]        # [e, f]
    h_e = (-ss * tr_kk + 2.0 * ss * tr_mk + 2.0 * cross + 2.0 * cross.T
           + 2.0 * dmu @ kbar @ dmu.T)
    c = _eng.incidence(spec)
    hess = c.T @ h_e @ c
    # tr(W d2Sigma) (+ gmu' d2mu): derivative of the fixed-W gradient
    def fixed(th):
        return _param_gradient(spec, _eng.matrices(spec, th), W, gmu)

    k = len(theta)
    second = np.empty((k, k))
    for j in range(k):
        g = []
        for st in (-2.0, -1.0, 1.0, 2.0):
            x = theta.copy()
            x[j] += st * h
            g.append(fixed(x))
        second[:, j] = (g[0] - 8 * g[1] + 8 * g[2] - g[3]) / (12 * h)
    hess = hess + 0.5 * (second + second.T)
    return 0.5 * (0.5 * (hess + hess.T))


def modification_indices(obj: Objective, theta: np.ndarray, candidates: _eng.Entries
                         ) -> tuple[np.ndarray, np.ndarray]:
    """lavaan's ``modindices()`` under FIML: score tests from the FIML gradient and the FIML
    *expected* information (lavaan's modindices always uses the expected information):
    ``I_ef = sum_k w_k [1/2 tr(K_k dS_e K_k dS_f) + dmu_e' K_k dmu_f]``; then as
    :func:`pipeline.measure.sem.indices.modification_indices`."""
    spec, pat = obj.spec, obj.pat
    if len(candidates) == 0:
        return np.zeros(0), np.zeros(0)
    imp = _eng.matrices(spec, theta)
    out = _pattern_terms(pat, imp.mu[0], imp.sigma[0], need_grad=True)
    emb = embedded_inverse(imp.sigma[0], pat.mask)
    if out is None or emb is None:
        n = len(candidates)
        return np.full(n, np.nan), np.full(n, np.nan)
    _, W, gmu = out
    inv = emb[0]
    p = spec.p
    p2 = p * p
    w = pat.weights
    kf = inv.reshape(len(w), p2)
    t_kk = ((kf.T * w) @ kf).reshape(p, p, p, p)
    kbar = np.einsum("k,kij->ij", w, inv)
    free = _eng.free_entries(spec)
    allent = _eng.Entries(np.concatenate([free.kind, candidates.kind]),
                          np.concatenate([free.group, candidates.group]),
                          np.concatenate([free.row, candidates.row]),
                          np.concatenate([free.col, candidates.col]))
    a, b, s, dmu = _eng.entry_vectors(spec, imp, allent, 0, np.arange(len(allent)))
    grad = 2.0 * s * np.einsum("ei,ij,ej->e", a, W, b) + dmu @ gmu

    def es(x_e, y_f, t, z_f, u_e):
        pf = (y_f @ t.transpose(1, 0, 2, 3).reshape(p, p * p2)).reshape(-1, p, p, p)
        q = np.einsum("film,fl->fim", pf, z_f)
        xu = (x_e[:, :, None] * u_e[:, None, :]).reshape(-1, p2)
        return xu @ q.reshape(-1, p2).T

    tr_kk = 2.0 * (es(a, a, t_kk, b, b) + es(a, b, t_kk, a, b))
    info = 0.5 * np.outer(s, s) * tr_kk + dmu @ kbar @ dmu.T
    nf = len(free)
    return mi_from_information(_eng.to_parameters(spec, info[:nf, :nf]),
                               _eng.to_parameters(spec, info[nf:, :nf], axes=(1,)),
                               np.diag(info[nf:, nf:]), -0.5 * grad[nf:], pat.n_total)


def _numeric_observed_information(obj: Objective, theta: np.ndarray, h: float = 1e-6
                                  ) -> np.ndarray:
    """lavaan's way: 4-point differences of the analytic gradient, symmetrised, halved."""
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
