"""Least squares, GLMs by IRLS, negative binomial with ML theta, and sandwich covariances.

Hand-written in NumPy: the default run path may not import statsmodels (~2 s), and
statsmodels' GLM ``NegativeBinomial`` family fixes the dispersion (alpha = 1) instead of
estimating theta as ``MASS::glm.nb`` does.  Each fit follows R's algorithm:

* ``lm``: QR of the weighted design (rank checked as R's ``dqrdc2`` does, tolerance 1e-7);
* ``glm``: iteratively reweighted least squares from R's starting values (``mustart``), stopping
  when ``|dev - dev_old| / (|dev| + 0.1) < 1e-10`` (R uses 1e-8);
* ``glm.nb``: Poisson start, then alternating IRLS at fixed theta and Newton steps for theta on
  the profile score (``MASS::theta.ml``) until the log-likelihood and theta settle.

Sandwich covariances are those of R's ``sandwich`` package: ``vcovHC(type = "HC3")`` and
``vcovCL(cluster = ~g, type = "HC1")`` (CR1: ``G/(G-1) * (n-1)/(n-p)``), with score
contributions ``x_i * w_i * (y_i - mu_i) * mu'(eta_i) / V(mu_i)`` (``estfun``) and the bread
``(X'WX)^-1``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import special as sp

__all__ = ["FAMILIES", "Fit", "RankDeficient", "fit_glm", "fit_lm", "fit_negbin", "sandwich"]

FAMILIES = ("gaussian", "poisson", "negbin", "logit")
_EPS = np.finfo(float).eps


class RankDeficient(ValueError):
    """The design has columns that are linear combinations of earlier ones."""

    def __init__(self, columns: list[int]):
        super().__init__(f"aliased columns {columns}")
        self.columns = columns


@dataclass
class Fit:
    """A fitted linear or generalised linear model (arrays over the model's rows)."""

    family: str
    coef: np.ndarray
    cov_unscaled: np.ndarray       # (X'WX)^-1 with W the working weights at convergence
    dispersion: float              # sigma^2 for gaussian, 1 otherwise
    eta: np.ndarray
    mu: np.ndarray
    y: np.ndarray
    prior_weights: np.ndarray
    working_weights: np.ndarray
    n: int
    p: int
    df_residual: int
    deviance: float
    null_deviance: float
    loglik: float
    n_params: int                  # for AIC/BIC (coefficients + sigma or theta)
    iterations: int = 0
    converged: bool = True
    theta: float | None = None
    theta_se: float | None = None
    theta_iterations: int = 0
    theta_converged: bool = True
    extra: dict = field(default_factory=dict)

    @property
    def aic(self) -> float:
        return -2.0 * self.loglik + 2.0 * self.n_params

    @property
    def bic(self) -> float:
        return -2.0 * self.loglik + math.log(self.n) * self.n_params

    @property
    def vcov(self) -> np.ndarray:
        return self.cov_unscaled * self.dispersion

    def score_residuals(self) -> np.ndarray:
        """r_i with estfun_i = r_i x_i (sandwich::estfun): w (y - mu) mu'(eta) / V(mu)."""
        if self.family == "gaussian":
            return self.prior_weights * (self.y - self.mu)
        return self.working_weights * (self.y - self.mu) / mu_eta(self.family, self.eta)


# ----------------------------------------------------------------------------------------------
# Family pieces (R's family objects)
# ----------------------------------------------------------------------------------------------


def _linkinv(family: str, eta: np.ndarray) -> np.ndarray:
    if family == "logit":
        e = np.clip(eta, -30.0, 30.0)
        mu = 1.0 / (1.0 + np.exp(-e))
        return np.clip(mu, _EPS, 1 - _EPS)
    if family in ("poisson", "negbin"):
        return np.maximum(np.exp(eta), _EPS)
    return eta


def mu_eta(family: str, eta: np.ndarray) -> np.ndarray:
    if family == "logit":
        ex = np.exp(-np.abs(eta))
        out = ex / (1.0 + ex) ** 2
        return np.where(np.abs(eta) > 30, _EPS, np.maximum(out, _EPS))
    if family in ("poisson", "negbin"):
        return np.maximum(np.exp(eta), _EPS)
    return np.ones_like(eta)


def family_variance(family: str, mu: np.ndarray, theta: float | None) -> np.ndarray:
    if family == "logit":
        return mu * (1.0 - mu)
    if family == "poisson":
        return mu
    if family == "negbin":
        return mu + mu * mu / theta
    return np.ones_like(mu)


def _link(family: str, mu: np.ndarray) -> np.ndarray:
    if family == "logit":
        return np.log(mu / (1.0 - mu))
    if family in ("poisson", "negbin"):
        return np.log(mu)
    return mu


def _ylogy(y: np.ndarray, mu: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(y > 0, y * np.log(np.where(y > 0, y, 1.0) / mu), 0.0)


def _deviance(family: str, y, mu, w, theta=None) -> float:
    if family == "poisson":
        return float(2.0 * np.sum(w * (_ylogy(y, mu) - (y - mu))))
    if family == "logit":
        return float(2.0 * np.sum(w * (_ylogy(y, mu) + _ylogy(1.0 - y, 1.0 - mu))))
    if family == "negbin":
        t = theta
        with np.errstate(divide="ignore", invalid="ignore"):
            term = _ylogy(y, mu) - (y + t) * np.log((y + t) / (mu + t))
        return float(2.0 * np.sum(w * term))
    return float(np.sum(w * (y - mu) ** 2))


def _loglik(family: str, y, mu, w, theta=None) -> float:
    if family == "poisson":
        with np.errstate(divide="ignore"):
            ylm = np.where(y > 0, y * np.log(mu), 0.0)
        return float(np.sum(w * (ylm - mu - sp.gammaln(y + 1.0))))
    if family == "logit":
        return float(np.sum(w * (y * np.log(mu) + (1.0 - y) * np.log1p(-mu))))
    if family == "negbin":
        t = theta
        with np.errstate(divide="ignore"):
            ylm = np.where(y > 0, y * np.log(mu), 0.0)
        return float(np.sum(w * (sp.gammaln(t + y) - sp.gammaln(t) - sp.gammaln(y + 1.0)
                                 + t * math.log(t) + ylm - (t + y) * np.log(t + mu))))
    raise ValueError(family)  # pragma: no cover


# ----------------------------------------------------------------------------------------------
# Weighted least squares through QR
# ----------------------------------------------------------------------------------------------


def _wls(X: np.ndarray, z: np.ndarray, W: np.ndarray, check_rank: bool = True):
    """Solve min sum W (z - X b)^2 by QR; returns (coef, R, Q) with Q of sqrt(W) X."""
    sw = np.sqrt(W)
    A = X * sw[:, None]
    Q, R = np.linalg.qr(A, mode="reduced")
    if check_rank:
        norms = np.sqrt(np.einsum("ij,ij->j", A, A))
        diag = np.abs(np.diag(R))
        bad = [j for j in range(A.shape[1]) if norms[j] == 0 or diag[j] < 1e-7 * norms[j]]
        if bad:
            raise RankDeficient(bad)
    coef = _tri_solve(R, Q.T @ (z * sw))
    return coef, R, Q


def _tri_solve(R: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Solve R x = b for the small (p x p) triangular R.

    np.linalg.solve rather than scipy.linalg.solve_triangular: on this OpenBLAS build the
    latter costs ~10 ms per call for tiny matrices (thread start-up), which dominated small fits.
    """
    return np.linalg.solve(R, b)


def _inv_from_r(R: np.ndarray) -> np.ndarray:
    Rinv = _tri_solve(R, np.eye(R.shape[0]))
    return Rinv @ Rinv.T


def hat_values(Q: np.ndarray) -> np.ndarray:
    """Leverages of the weighted fit: squared row norms of Q from the QR of sqrt(W) X."""
    return np.einsum("ij,ij->i", Q, Q)


# ----------------------------------------------------------------------------------------------
# Fits
# ----------------------------------------------------------------------------------------------


def fit_lm(X: np.ndarray, y: np.ndarray, w: np.ndarray | None = None,
           offset: np.ndarray | None = None) -> Fit:
    """Ordinary / weighted least squares as R's ``lm(y ~ ..., weights = w)``.

    Weights are R's precision ("analytic") weights: the fit minimises ``sum w e^2`` and the
    residual variance is ``sum w e^2 / (n - p)``; the residual df counts rows, not weight sums.
    """
    n, p = X.shape
    w = np.ones(n) if w is None else w
    off = np.zeros(n) if offset is None else offset
    coef, R, Q = _wls(X, y - off, w)
    eta = X @ coef + off
    resid = y - eta
    rss = float(np.sum(w * resid**2))
    df = n - p
    sigma2 = rss / df if df > 0 else float("nan")
    # R's logLik.lm with weights
    # a perfect fit (a constant outcome) has rss 0 and an infinite likelihood, as R's logLik
    log_rss = math.log(rss) if rss > 0 else -math.inf
    loglik = 0.5 * (float(np.sum(np.log(w))) - n * (math.log(2 * math.pi) + 1.0 - math.log(n) + log_rss))
    fit = Fit("gaussian", coef, _inv_from_r(R), sigma2, eta, eta, y, w, w, n, p, df, rss,
              float("nan"), loglik, p + 1)
    fit.extra["Q"] = Q
    return fit


def _start_mu(family: str, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    if family == "logit":
        return (w * y + 0.5) / (w + 1.0)
    if family == "poisson":
        return y + 0.1
    if family == "negbin":
        return y + (y == 0) / 6.0
    return y.copy()


def _chol_wls(X, z, W):
    """Weighted normal equations solved by Cholesky with column equilibration (fast IRLS steps)."""
    A = X * W[:, None]
    M = A.T @ X
    d = np.sqrt(np.diag(M))
    d[d == 0] = 1.0
    Ms = M / np.outer(d, d)
    try:
        L = np.linalg.cholesky(Ms)
        return np.linalg.solve(L.T, np.linalg.solve(L, (A.T @ z) / d)) / d
    except (np.linalg.LinAlgError, ValueError):
        return _wls(X, z, W, check_rank=False)[0]


def _irls(X, y, w, off, family, theta, eta0=None, tol=1e-10, maxit=100, check_rank=True, final_qr=True):
    """IRLS: a QR step first (with R's rank check), Cholesky steps while converging, and a final
    QR step at the converged weights (accurate estimates and the R factor for the covariance)."""
    if eta0 is None:
        eta = _link(family, _start_mu(family, y, w))
    else:
        eta = eta0
    mu = _linkinv(family, eta)
    dev_old = _deviance(family, y, mu, w, theta)
    coef = None
    converged = False
    it = 0
    for it in range(1, maxit + 1):
        d = mu_eta(family, eta)
        var = family_variance(family, mu, theta)
        z = eta - off + (y - mu) / d
        W = w * d * d / var
        if it == 1 and check_rank:
            coef_new = _wls(X, z, W, check_rank=True)[0]
        else:
            coef_new = _chol_wls(X, z, W)
        eta_new = X @ coef_new + off
        mu_new = _linkinv(family, eta_new)
        dev = _deviance(family, y, mu_new, w, theta)
        # step halving (R does this for a non-finite deviance; also guard against divergence)
        halvings = 0
        while (not np.isfinite(dev) or (coef is not None and dev > dev_old + 1e-7 * abs(dev_old) + 1e-9)) and halvings < 30:
            coef_new = (coef_new + coef) / 2 if coef is not None else coef_new / 2
            eta_new = X @ coef_new + off
            mu_new = _linkinv(family, eta_new)
            dev = _deviance(family, y, mu_new, w, theta)
            halvings += 1
        coef, eta, mu = coef_new, eta_new, mu_new
        if abs(dev - dev_old) / (abs(dev) + 0.1) < tol:
            converged = True
            dev_old = dev
            break
        dev_old = dev
    d = mu_eta(family, eta)
    W = w * d * d / family_variance(family, mu, theta)
    if not final_qr:
        return coef, eta, mu, W, None, None, dev_old, it, converged
    # polishing step by QR at the converged weights; R and Q give the covariance and leverages
    z = eta - off + (y - mu) / d
    coef_q, R, Q = _wls(X, z, W, check_rank=False)
    eta_q = X @ coef_q + off
    mu_q = _linkinv(family, eta_q)
    dev_q = _deviance(family, y, mu_q, w, theta)
    if np.isfinite(dev_q) and dev_q <= dev_old + 1e-9 * (abs(dev_old) + 1.0):
        # R and Q are those of the weights of this last step, as R's glm.fit reports them
        coef, eta, mu, dev_old = coef_q, eta_q, mu_q, dev_q
    return coef, eta, mu, W, R, Q, dev_old, it, converged


def _null_deviance(X, y, w, off, family, theta, intercept: bool) -> float:
    if intercept:
        if not np.any(off):
            mu0 = np.full_like(y, np.sum(w * y) / np.sum(w))
        else:
            one = np.ones((len(y), 1))
            _, _, mu0, *_ = _irls(one, y, w, off, family, theta, check_rank=False, final_qr=False)
    else:
        mu0 = _linkinv(family, off)
    return _deviance(family, y, mu0, w, theta)


def fit_glm(X: np.ndarray, y: np.ndarray, family: str, w: np.ndarray | None = None,
            offset: np.ndarray | None = None, intercept: bool = True, theta: float | None = None,
            eta0: np.ndarray | None = None) -> Fit:
    """A GLM by IRLS as R's ``glm(y ~ ..., family, weights = w)``.

    ``family``: "poisson" (log link), "logit" (binomial, logit link) or "negbin" with a fixed
    ``theta`` (``MASS::negative.binomial(theta)``).  Prior weights as R's ``weights=``.
    """
    n, p = X.shape
    w = np.ones(n) if w is None else w
    off = np.zeros(n) if offset is None else offset
    coef, eta, mu, W, R, Q, dev, it, conv = _irls(X, y, w, off, family, theta, eta0=eta0)
    loglik = _loglik(family, y, mu, w, theta)
    fit = Fit(family, coef, _inv_from_r(R), 1.0, eta, mu, y, w, W, n, p, n - p, dev,
              _null_deviance(X, y, w, off, family, theta, intercept), loglik,
              p + (1 if family == "negbin" else 0), iterations=it, converged=conv, theta=theta)
    fit.extra["Q"] = Q
    return fit


def _theta_ml(y, mu, w, t0=None, limit=100, tol=1e-10, groups=None):
    """MASS::theta.ml: Newton steps on the profile score of theta; returns (theta, se, it, ok).

    The digamma/trigamma terms depend on y only, so they are summed over the distinct counts
    (``groups`` = (distinct y, summed weights)); only cheap arithmetic runs over all rows.
    """
    n = float(np.sum(w))
    if groups is None:
        uy, inv = np.unique(y, return_inverse=True)
        groups = (uy, np.bincount(inv.ravel(), weights=w))
    uy, wy = groups
    if t0 is None:
        t0 = n / float(np.sum(w * (y / mu - 1.0) ** 2))

    def score_info(t):
        a = mu + t
        score = (float(wy @ sp.digamma(t + uy)) - n * sp.digamma(t) + n * (math.log(t) + 1.0)
                 - float(np.sum(w * (np.log(a) + (y + t) / a))))
        info = (-float(wy @ sp.polygamma(1, t + uy)) + n * sp.polygamma(1, t) - n / t
                + float(np.sum(w * (2.0 / a - (y + t) / (a * a)))))
        return score, info

    it, ok = 0, True
    while True:
        it += 1
        t0 = abs(t0)
        score, info = score_info(t0)
        delta = score / info
        t0 = t0 + delta
        if abs(delta) <= tol * max(1.0, abs(t0)) or it >= limit or not np.isfinite(t0):
            ok = abs(delta) <= tol * max(1.0, abs(t0)) and np.isfinite(t0)
            break
    if t0 < 0:
        t0, ok = 0.0, False
    info = score_info(t0)[1] if t0 > 0 else float("nan")
    se = math.sqrt(1.0 / info) if info > 0 else float("nan")
    return t0, se, it, ok


def fit_negbin(X: np.ndarray, y: np.ndarray, w: np.ndarray | None = None,
               offset: np.ndarray | None = None, intercept: bool = True, maxit: int = 100) -> Fit:
    """Negative binomial (NB2, log link) with theta by ML, as R's ``MASS::glm.nb``.

    Notes
    -----
    Var(y) = mu + mu^2 / theta.  Alternates IRLS at fixed theta with ``theta.ml`` until both the
    log-likelihood (relative change < 1e-12) and theta (relative change < 1e-9) settle; the
    reported ``(X'WX)^-1`` is at the final theta.  AIC counts theta as a parameter, as glm.nb.
    """
    n, p = X.shape
    w = np.ones(n) if w is None else w
    off = np.zeros(n) if offset is None else offset
    pois = fit_glm(X, y, "poisson", w, off, intercept)
    uy, inv = np.unique(y, return_inverse=True)
    groups = (uy, np.bincount(inv.ravel(), weights=w))
    theta, se, tit, tok = _theta_ml(y, pois.mu, w, groups=groups)
    eta = pois.eta
    ll_old = -np.inf
    it = 0
    converged = False
    for it in range(1, maxit + 1):
        coef, eta, mu, W, R, Q, dev, _, _ = _irls(X, y, w, off, "negbin", theta, eta0=eta,
                                                  check_rank=False, final_qr=False)
        t_old = theta
        theta, se, tit, tok = _theta_ml(y, mu, w, t0=theta, groups=groups)
        if not np.isfinite(theta) or theta <= 0:
            break
        ll = _loglik("negbin", y, mu, w, theta)
        if abs(ll - ll_old) <= 1e-12 * (abs(ll) + 1.0) and abs(theta - t_old) <= 1e-9 * max(1.0, theta):
            converged = True
            break
        ll_old = ll
    if not np.isfinite(theta) or theta <= 0:
        # theta.ml diverges when the data show no overdispersion at all (a constant outcome):
        # the negative binomial's limit theta -> inf is the Poisson model, which glm.nb's
        # estimates approach too ("iteration limit reached"); NaN estimates would follow instead
        pois.family = "negbin"
        pois.theta, pois.theta_se = math.inf, None
        pois.theta_iterations, pois.theta_converged = it, False
        pois.n_params = pois.n_params + 1
        return pois
    fit = fit_glm(X, y, "negbin", w, off, intercept, theta=theta, eta0=eta)
    fit.theta_se = se
    fit.theta_iterations = it
    fit.theta_converged = converged and tok
    return fit


# ----------------------------------------------------------------------------------------------
# Sandwich covariances
# ----------------------------------------------------------------------------------------------


def sandwich(fit: Fit, X: np.ndarray, kind: str, cluster_codes: np.ndarray | None = None):
    """HC3 or CR1 (HC1-adjusted cluster) covariance, as R's sandwich package.

    Returns
    -------
    (vcov, info) with info holding leverages' maximum (HC3) or the number of clusters (CR1).

    Notes
    -----
    ``vcovHC(fit, type = "HC3")``:  B (sum x_i x_i' r_i^2 / (1 - h_i)^2) B, with
    B = (X'WX)^-1 and h_i the leverages of the weighted fit.

    ``vcovCL(fit, cluster = ~g, type = "HC1")``: B (sum_g u_g u_g') B * G/(G-1) * (n-1)/(n-p),
    u_g = sum over cluster g of r_i x_i.
    """
    B = fit.cov_unscaled
    r = fit.score_residuals()
    n, p = X.shape
    if kind == "hc3":
        h = hat_values(fit.extra["Q"])
        with np.errstate(divide="ignore", invalid="ignore"):
            om = r / (1.0 - h)
        S = X * om[:, None]
        meat = S.T @ S
        return B @ meat @ B, {"max_leverage": float(np.max(h)) if len(h) else float("nan")}
    if kind == "cluster":
        G = int(cluster_codes.max()) + 1
        S = X * r[:, None]
        U = np.empty((G, p))
        for j in range(p):
            U[:, j] = np.bincount(cluster_codes, weights=S[:, j], minlength=G)
        adj = G / (G - 1.0) * (n - 1.0) / (n - p) if G > 1 else float("nan")
        return adj * (B @ (U.T @ U) @ B), {"clusters": G}
    raise ValueError(kind)  # pragma: no cover
