"""Exploratory factor analysis as ``psych::fa`` does it: adequacy, number of factors, EFA.

Everything works from :class:`pipeline.measure.moments.ItemMoments` -- the pairwise-complete correlation
matrix that ``psych::fa(x)`` computes from raw data (``cor(x, use = "pairwise")``) and the ``n``
it uses (``nrow(x)``, every row passed) -- so the cost does not grow with the number of
respondents.

Why hand-written numpy rather than a library:

* ``factor_analyzer`` (0.5.1) costs ~1.6 s to import, fails on missing values in its KMO, and
  returns the factor-correlation matrix of an oblique rotation in the rotation's own order while
  its loadings are sorted, so Phi does not belong to the loadings it is printed with.
* ``statsmodels.multivariate.factor.Factor`` (which does accept a correlation matrix) extracts by
  principal axes or ML only (no minres), offers no geomin, warns that its promax differs from R's,
  and costs ~2 s to import.
* the pieces are small: psych's extraction is an L-BFGS-B fit of the uniquenesses (done here with
  SciPy's L-BFGS-B, as R's ``optim``; see :mod:`pipeline.measure.sem.lbfgsb`), and GPArotation's
  gradient-projection algorithms
  (Jennrich 2002; Bernaards & Jennrich 2005) are a few lines of linear algebra on a p x k matrix.
  They are ported line by line so that the same start gives the same rotation as R.

Conventions taken from ``psych::fac`` (psych 2.2.9, GPArotation 2022.10-2): unrotated loadings'
columns are flipped so each sums positive; after rotation the columns are flipped again the
same way (and Phi with them), then ordered by the variance they account for,
``diag(Phi %*% t(L) %*% L)``, with Phi reordered alongside -- so every factor-correlation matrix
returned here belongs to the loadings returned with it. Factors are named ``F1``..``Fk`` in that
order.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.special import chdtr, chdtrc, chndtrinc

from pipeline.errors import StudyError, did_you_mean
from pipeline.measure.moments import ItemMoments, single_blas_thread

from pipeline.jsonvalues import plain as _clean

__all__ = [
    "METHODS",
    "ROTATIONS",
    "Adequacy",
    "EFAResult",
    "FactorCount",
    "efa",
    "factor_count",
    "polychoric_moments",
    "sampling_adequacy",
]

METHODS = ("ml", "minres")
ROTATIONS = ("oblimin", "promax", "varimax", "geomin", "none")
OBLIQUE = {"oblimin", "promax", "geomin"}

_EPS = np.finfo(float).eps
#: psych's lower bound for uniquenesses in optim (Heywood cases stop there)
PSI_LOWER = 0.005


# --------------------------------------------------------------------------------------------
# small linear-algebra helpers (psych's)
# --------------------------------------------------------------------------------------------


def _pinv(x: np.ndarray) -> np.ndarray:
    """psych::Pinv: SVD pseudo-inverse dropping singular values below sqrt(eps) * d[1]."""
    u, d, vt = np.linalg.svd(x)
    keep = d > max(math.sqrt(_EPS) * d[0], 0.0)
    return (vt[keep].T / d[keep]) @ u[:, keep].T


def smc(r: np.ndarray) -> np.ndarray:
    """Squared multiple correlations, as ``psych::smc(r)`` (pseudo-inverse; clipped to [0, 1])."""
    inv = _pinv(r)
    out = 1.0 - 1.0 / np.diag(inv)
    return np.clip(out, 0.0, 1.0)


def _eigh_desc(s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    vals, vecs = np.linalg.eigh(s)
    return vals[::-1], vecs[:, ::-1]


def _cov2cor(c: np.ndarray) -> np.ndarray:
    d = 1.0 / np.sqrt(np.diag(c))
    out = c * d[:, None] * d[None, :]
    np.fill_diagonal(out, 1.0)
    return out


def cor_smooth(r: np.ndarray, eig_tol: float = 1e-12) -> tuple[np.ndarray, bool]:
    """``psych::cor.smooth``: lift eigenvalues below ``eig_tol`` to 100 ``eig_tol``, rescale them
    to sum to p and return to a correlation matrix -- when the smallest is below machine epsilon.
    Returns the matrix and whether it was smoothed."""
    vals, vecs = np.linalg.eigh(r)
    if vals.min() >= _EPS:
        return r, False
    vals = np.where(vals < eig_tol, 100 * eig_tol, vals)
    vals = vals * r.shape[0] / vals.sum()
    return _cov2cor((vecs * vals) @ vecs.T), True


# --------------------------------------------------------------------------------------------
# extraction: psych::fac's "ml" and "minres" fits of the uniquenesses
# --------------------------------------------------------------------------------------------


def _ml_value_and_gradient(psi: np.ndarray, s: np.ndarray, nf: int) -> tuple[float, np.ndarray]:
    """psych's FAfn and FAgr (the factanal criterion and its gradient) from one eigh."""
    sc = 1.0 / np.sqrt(psi)
    vals, vecs = _eigh_desc(s * sc[:, None] * sc[None, :])
    e = vals[nf:]
    value = -(float(np.sum(np.log(e) - e)) - nf + s.shape[0])
    load = vecs[:, :nf] * np.sqrt(np.maximum(vals[:nf] - 1.0, 0.0))
    load = load * np.sqrt(psi)[:, None]
    g = np.einsum("ij,ij->i", load, load) + psi - np.diag(s)
    return value, g / psi**2


def _ml_loadings(psi: np.ndarray, s: np.ndarray, nf: int) -> np.ndarray:
    sc = 1.0 / np.sqrt(psi)
    vals, vecs = _eigh_desc(s * sc[:, None] * sc[None, :])
    load = vecs[:, :nf] * np.sqrt(np.maximum(vals[:nf] - 1.0, 0.0))
    return load * np.sqrt(psi)[:, None]


def _minres_value_and_gradient(psi: np.ndarray, s: np.ndarray, nf: int) -> tuple[float, np.ndarray]:
    """psych's fit.residuals (minres) and FAgr.minres from one eigh.

    Both decompose R with 1 - Psi on the diagonal (``diag(S) <- 1 - Psi`` and ``S - diag(Psi)``
    coincide for a correlation matrix). The criterion clamps eigenvalues below machine epsilon to
    100 eps, the gradient to 0, as psych does.
    """
    p = s.shape[0]
    m = s.copy()
    m.flat[:: p + 1] -= psi
    vals, vecs = _eigh_desc(m)
    top = vecs[:, :nf]
    crit_vals = np.where(vals[:nf] < _EPS, 100 * _EPS, vals[:nf])
    load = top * np.sqrt(crit_vals)
    resid = m - load @ load.T
    # sum of squares of the strict lower triangle = (all - diagonal) / 2 (resid is symmetric)
    value = (float(np.sum(resid * resid)) - float(np.sum(np.diag(resid) ** 2))) / 2.0
    grad_load = top * np.sqrt(np.maximum(vals[:nf], 0.0))
    g = np.einsum("ij,ij->i", grad_load, grad_load) + psi - s.diagonal()
    return value, g


def _minres_loadings(psi: np.ndarray, s: np.ndarray, nf: int) -> np.ndarray:
    m = s - np.diag(psi)
    vals, vecs = _eigh_desc(m)
    return vecs[:, :nf] * np.sqrt(np.maximum(vals[:nf], 0.0))


@dataclass(frozen=True)
class _Fit:
    loadings: np.ndarray  # unrotated, psych's column signs
    psi: np.ndarray  # the optimiser's uniquenesses
    converged: bool
    iterations: int
    objective: float
    message: str


def extract(r: np.ndarray, nf: int, method: str) -> _Fit:
    """psych::fac's fit(): L-BFGS-B on the uniquenesses from start 1 - SMC.

    R's ``optim(start, fn, gr, method = "L-BFGS-B", lower = .005, upper = max(smc, 1),
    control = list(parscale = rep(.01, p)))`` is reproduced with the same objective, the same
    (psych's) gradient, the same parameter scaling and R's defaults (``factr = 1e7`` i.e.
    ``ftol = 1e7 * eps``, ``lmm = 5``, ``maxit = 100``, ``pgtol = 0``).
    """
    from pipeline.measure.sem.lbfgsb import minimize  # SciPy's L-BFGS-B without importing scipy.optimize

    s_smc = smc(r)
    upper = max(float(s_smc.max()), 1.0)
    start = np.diag(r) - s_smc
    if method == "ml":
        fg, out = _ml_value_and_gradient, _ml_loadings
    else:
        fg, out = _minres_value_and_gradient, _minres_loadings
    scale = 0.01

    def scaled(x: np.ndarray) -> tuple[float, np.ndarray]:
        value, grad = fg(x * scale, r, nf)
        return value, grad * scale

    res = minimize(scaled, start / scale, PSI_LOWER / scale, upper / scale,
                   maxcor=5, ftol=1e7 * _EPS, gtol=0.0, maxiter=100)
    psi = np.clip(res.x * scale, PSI_LOWER, upper)
    load = out(psi, r, nf)
    # psych: flip each column so its loadings sum positive
    signs = np.sign(load.sum(axis=0))
    signs[signs == 0] = 1.0
    load = load * signs
    converged = bool(res.success)
    if not converged and res.nit < 100:
        # L-BFGS-B can end in a line-search failure at the solution when the criterion is flat
        # there (and psych's minres gradient is the diagonal residual, not the exact gradient of
        # its criterion); accept the fit when the gradient vanishes for the free uniquenesses.
        _, g = fg(psi, r, nf)
        free = (psi > PSI_LOWER * 1.0001) & (psi < upper * 0.9999)
        converged = bool(np.all(np.abs(g[free]) < 1e-4))
    return _Fit(
        loadings=load,
        psi=psi,
        converged=converged,
        iterations=int(res.nit),
        objective=float(res.fun),
        message=str(res.message),
    )


def _reduced_eigenvalues(r: np.ndarray, fit: _Fit) -> np.ndarray:
    """psych::fa()$values: eigenvalues of R with the model's communalities on the diagonal."""
    s = r.copy()
    s[np.diag_indices_from(s)] = np.einsum("ij,ij->i", fit.loadings, fit.loadings)
    return np.linalg.eigvalsh(s)[::-1]


# --------------------------------------------------------------------------------------------
# rotations: GPArotation's GPFoblq (oblimin, geominQ), stats::varimax, psych's kaiser-Promax
# --------------------------------------------------------------------------------------------


def _vgq_oblimin(lam: np.ndarray) -> tuple[float, np.ndarray]:
    """GPArotation::vgQ.oblimin with gam = 0 (quartimin)."""
    l2 = lam * lam
    k = lam.shape[1]
    x = l2 @ (np.ones((k, k)) - np.eye(k))
    return float(np.sum(l2 * x) / 4.0), lam * x


def _vgq_geomin(lam: np.ndarray, delta: float = 0.01) -> tuple[float, np.ndarray]:
    """GPArotation::vgQ.geomin."""
    k = lam.shape[1]
    l2 = lam * lam + delta
    pro = np.exp(np.log(l2).sum(axis=1) / k)
    return float(pro.sum()), (2.0 / k) * (lam / l2) * pro[:, None]


def _gpf_oblique(
    a: np.ndarray, vgq, eps: float = 1e-5, maxit: int = 1000
) -> tuple[np.ndarray, np.ndarray, bool]:
    """GPArotation::GPFoblq (normalize = FALSE, Tmat = I): returns loadings, Phi, converged."""
    k = a.shape[1]
    tmat = np.eye(k)
    al = 1.0
    lam = a @ np.linalg.inv(tmat).T
    f, gq = vgq(lam)
    g = -(lam.T @ gq @ np.linalg.inv(tmat)).T
    s = np.inf
    for _ in range(maxit + 1):
        gp = g - tmat * np.sum(tmat * g, axis=0)[None, :]
        s = math.sqrt(float(np.sum(gp * gp)))
        if s < eps:
            break
        al *= 2.0
        for _inner in range(11):
            x = tmat - al * gp
            v = 1.0 / np.sqrt(np.sum(x * x, axis=0))
            tmatt = x * v[None, :]
            inv_t = np.linalg.inv(tmatt)
            lam = a @ inv_t.T
            ft, gqt = vgq(lam)
            if f - ft > 0.5 * s * s * al:
                break
            al /= 2.0
        tmat = tmatt
        f = ft
        g = -(lam.T @ gqt @ inv_t).T
    converged = s < eps
    return lam, tmat.T @ tmat, bool(converged)


def _varimax(x: np.ndarray, normalize: bool = True, eps: float = 1e-5):
    """stats::varimax: returns loadings, rotation matrix, converged."""
    p, nc = x.shape
    sc = np.sqrt(np.sum(x * x, axis=1)) if normalize else np.ones(p)
    xn = x / sc[:, None]
    tt = np.eye(nc)
    d = 0.0
    converged = False
    for _ in range(1000):
        z = xn @ tt
        b = xn.T @ (z**3 - z * (np.sum(z * z, axis=0) / p)[None, :])
        u, sv, vt = np.linalg.svd(b)
        tt = u @ vt
        dpast = d
        d = float(np.sum(sv))
        if d < dpast * (1 + eps):
            converged = True
            break
    z = (xn @ tt) * sc[:, None]
    return z, tt, converged


def _promax(x: np.ndarray, m: int = 4):
    """psych's rotate = "promax": kaiser(f, rotate = "Promax") with psych::Promax (m = 4)."""
    h2 = np.sum(x * x, axis=1)
    w = x / np.sqrt(h2)[:, None]
    vx, rotmat, conv = _varimax(w)
    q = vx * np.abs(vx) ** (m - 1)
    u, *_ = np.linalg.lstsq(vx, q, rcond=None)
    d = np.diag(np.linalg.inv(u.T @ u))
    u = u * np.sqrt(d)[None, :]
    z = vx @ u
    u = rotmat @ u
    ui = np.linalg.inv(u)
    phi = ui @ ui.T
    return z * np.sqrt(h2)[:, None], phi, conv


def _rotate(load: np.ndarray, rotation: str) -> tuple[np.ndarray, np.ndarray | None, bool]:
    if load.shape[1] < 2 or rotation == "none":
        return load, None, True
    if rotation == "varimax":
        z, _, conv = _varimax(load)
        return z, None, conv
    if rotation == "promax":
        return _promax(load)
    if rotation == "oblimin":
        return _gpf_oblique(load, _vgq_oblimin)
    if rotation == "geomin":
        return _gpf_oblique(load, _vgq_geomin)
    raise ValueError(rotation)  # pragma: no cover - validated before


def _fit_statistics(
    r: np.ndarray, loadings: np.ndarray, phi: np.ndarray, n: int, k: int, conf: float = 0.90
) -> dict:
    """psych::factor.stats' chi-square, TLI, RMSEA (with its 90% interval) and BIC.

    ``objective = tr(M^-1 R) - ln|M^-1 R| - p`` with M the model L Phi L' (unit diagonal) and R the
    correlation matrix, both passed through ``cor.smooth``; ``chi2 = objective ((n - 1) -
    (2p + 5)/6 - 2k/3)`` on ``p(p-1)/2 - pk + k(k-1)/2`` df (clipped at 0 for the statistic; psych
    keeps the unclipped value for RMSEA and BIC, as here); ``TLI = (M0 - Mm) / (M0 - 1/nm)``;
    ``RMSEA = sqrt(max(chi2 / (df n) - 1/(n - 1), 0))`` with the noncentral chi-square interval;
    ``BIC = chi2 - df ln n``. R: ``psych::fa(...)$STATISTIC``, ``$dof``, ``$PVAL``, ``$TLI``,
    ``$RMSEA``, ``$BIC``.
    """
    p = r.shape[0]
    model = loadings @ phi @ loadings.T
    np.fill_diagonal(model, np.diag(r))
    model, _ = cor_smooth(model)
    rs, _ = cor_smooth(r)
    dof = p * (p - 1) / 2 - p * k + k * (k - 1) / 2
    out: dict[str, Any] = {"n": int(n), "df": dof}
    try:
        mir = np.linalg.solve(model, rs)
    except np.linalg.LinAlgError:
        return {**out, "chisq": None, "pvalue": None, "tli": None, "rmsea": None,
                "rmsea_ci": [None, None], "bic": None}
    sign, logdet = np.linalg.slogdet(mir)
    objective = float(np.trace(mir) - logdet - p) if sign > 0 else float("nan")
    nm = (n - 1) - (2 * p + 5) / 6 - (2 * k) / 3
    chisq = objective * nm
    stat = max(chisq, 0.0) if math.isfinite(chisq) else chisq
    out["chisq"] = stat
    out["pvalue"] = float(chdtrc(dof, stat)) if dof > 0 and math.isfinite(stat) else None
    s0, ld0 = np.linalg.slogdet(rs)
    f0 = float(np.trace(rs) - ld0 - p) if s0 > 0 else float("nan")
    if dof > 0:
        mm = objective / dof
        m0 = f0 * 2 / (p * (p - 1))
        out["tli"] = (m0 - mm) / (m0 - 1 / nm)
    else:
        out["tli"] = None
    if dof > 0 and math.isfinite(chisq):
        rmsea = math.sqrt(max(chisq / (dof * n) - 1 / (n - 1), 0.0))
        tail = (1 - conf) / 2
        cdf = float(chdtr(dof, stat))
        upper = lower = 0.0
        if cdf > tail:
            upper = math.sqrt(float(chndtrinc(stat, dof, tail)) / (n - 1) / dof)
        if cdf > 1 - tail:
            lower = math.sqrt(float(chndtrinc(stat, dof, 1 - tail)) / (n - 1) / dof)
        upper = upper if upper >= rmsea else None
        lower = lower if lower <= rmsea else None
        out["rmsea"] = rmsea
        out["rmsea_ci"] = [lower, upper]
        out["bic"] = chisq - dof * math.log(n)
    else:
        out["rmsea"] = None
        out["rmsea_ci"] = [None, None]
        out["bic"] = None
    return out


# --------------------------------------------------------------------------------------------
# results
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Adequacy:
    """Sampling adequacy: Kaiser-Meyer-Olkin MSA and Bartlett's test of sphericity.

    Attributes
    ----------
    items : tuple of str
    n : int
        The ``n`` of Bartlett's test (``nrow(x)``, as ``psych::fa`` uses).
    kmo : float or None
        Overall MSA (None when the correlation matrix is singular).
    kmo_items : ndarray (p,)
        Per-item MSA.
    chi2, df, p : Bartlett's statistic, degrees of freedom and p-value.
    warnings : tuple of str
    """

    items: tuple[str, ...]
    n: int
    kmo: float | None
    kmo_items: np.ndarray
    chi2: float | None
    df: int
    p: float | None
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return _clean(
            {
                "kmo": self.kmo,
                "kmo_items": dict(zip(self.items, self.kmo_items)),
                "bartlett": {"chi2": self.chi2, "df": self.df, "p": self.p, "n": self.n},
                "warnings": list(self.warnings),
            }
        )


@dataclass(frozen=True)
class FactorCount:
    """How many factors: Horn's parallel analysis, Kaiser's rule, Velicer's MAP.

    Attributes
    ----------
    items : tuple of str
    n : int
        Rows of each simulated data set (``nrow(x)``, as ``psych::fa.parallel``).
    eigenvalues : ndarray (p,)
        Eigenvalues of the pairwise correlation matrix (principal components).
    factor_eigenvalues : ndarray (p,)
        psych's factor eigenvalues: eigenvalues of R with one-factor minres communalities on the
        diagonal (``fa.parallel()$fa.values``).
    parallel_eigenvalues : ndarray (p,)
        The ``quantile`` (95th percentile) of the component eigenvalues of ``n_iter`` simulated
        normal data sets of the same n x p -- the threshold the observed ``eigenvalues`` are
        compared with (psych's ``pc.sim`` line is the mean; the decision uses this quantile).
    parallel_eigenvalues_mean : ndarray (p,)
        Their mean (``fa.parallel()$pc.sim``).
    parallel_factor_eigenvalues, parallel_factor_eigenvalues_mean : ndarray (p,)
        The same for the factor eigenvalues (``fa.parallel()$fa.sim`` is the mean).
    map : ndarray
        Velicer's minimum average partial for 1..``max_factors`` components (``VSS()$map``).
    suggested : dict
        ``parallel`` (components, psych's ``ncomp``), ``parallel_fa`` (factors, psych's
        ``nfact``), ``kaiser`` (eigenvalues > 1), ``map`` (argmin of MAP). None where undefined.
    seed, n_iter, quantile : the simulation settings.
    warnings : tuple of str
    """

    items: tuple[str, ...]
    n: int
    eigenvalues: np.ndarray
    factor_eigenvalues: np.ndarray
    parallel_eigenvalues: np.ndarray
    parallel_eigenvalues_mean: np.ndarray
    parallel_factor_eigenvalues: np.ndarray
    parallel_factor_eigenvalues_mean: np.ndarray
    map: np.ndarray
    suggested: dict
    seed: int
    n_iter: int
    quantile: float
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return _clean(
            {
                "suggested": dict(self.suggested),
                "eigenvalues": self.eigenvalues,
                "parallel_eigenvalues": self.parallel_eigenvalues,
                "parallel_eigenvalues_mean": self.parallel_eigenvalues_mean,
                "factor_eigenvalues": self.factor_eigenvalues,
                "parallel_factor_eigenvalues": self.parallel_factor_eigenvalues,
                "map": self.map,
                "parallel_settings": {
                    "n": self.n,
                    "n_iter": self.n_iter,
                    "quantile": self.quantile,
                    "seed": self.seed,
                },
                "warnings": list(self.warnings),
            }
        )


@dataclass(frozen=True)
class EFAResult:
    """An exploratory factor analysis (``psych::fa``) with its adequacy and factor-count checks.

    Attributes
    ----------
    items : tuple of str
        Items analysed (items without a defined correlation are left out, with a warning).
    n : int
        ``n.obs`` as psych uses it (``nrow(x)``).
    adequacy : Adequacy
    count : FactorCount
    n_factors : int
    n_factors_reason : str
    method, rotation : str
    factors : tuple of str
        ``F1``..``Fk``, in decreasing order of variance accounted for.
    loadings : ndarray (p, k)
        Rotated pattern loadings.
    factor_correlations : ndarray (k, k)
        Phi (identity for orthogonal rotations and a single factor).
    communalities, uniquenesses : ndarray (p,)
        ``psych::fa()$communality`` (diagonal of the model L L') and ``$uniquenesses``.
    ss_loadings, proportion, cumulative : ndarray (k,)
        ``psych::fa()$Vaccounted``: SS loadings (``diag(Phi L'L)`` when oblique), proportion of
        total variance and cumulative proportion.
    converged : bool
        The extraction and the rotation both converged.
    fit : dict
        ``chi2, df, p, tli, rmsea, rmsea_ci, bic, n`` as ``psych::fa`` reports them (see
        :func:`_fit_statistics`); for ``minres`` too, as psych computes them for every method.
    extraction : dict
        Optimiser details (iterations, objective, message, psi at the bound).
    warnings : tuple of str
    """

    items: tuple[str, ...]
    n: int
    adequacy: Adequacy
    count: FactorCount
    n_factors: int
    n_factors_reason: str
    method: str
    rotation: str
    factors: tuple[str, ...]
    loadings: np.ndarray
    factor_correlations: np.ndarray
    communalities: np.ndarray
    uniquenesses: np.ndarray
    ss_loadings: np.ndarray
    proportion: np.ndarray
    cumulative: np.ndarray
    converged: bool
    fit: dict = field(default_factory=dict)
    extraction: dict = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    #: "pearson" (psych::fa's default) or "polychoric" (cor = "poly", see polychoric_moments)
    correlation: str = "pearson"

    def loadings_frame(self):
        """Tidy table: one row per item, columns ``item, F1..Fk, communality, uniqueness``."""
        import pandas as pd

        df = pd.DataFrame(self.loadings, columns=list(self.factors))
        df.insert(0, "item", list(self.items))
        df["communality"] = self.communalities
        df["uniqueness"] = self.uniquenesses
        return df

    def to_dict(self) -> dict:
        f = self.factors
        adequacy = self.adequacy.to_dict()
        count = self.count.to_dict()
        out = {
            "n": self.n,
            "items": list(self.items),
            "kmo": adequacy["kmo"],
            "kmo_items": adequacy["kmo_items"],
            "bartlett": {k: adequacy["bartlett"][k] for k in ("chi2", "df", "p")},
            "suggested": count["suggested"],
            "n_factors": self.n_factors,
            "n_factors_reason": self.n_factors_reason,
            "method": self.method,
            "rotation": self.rotation,
            "loadings": {item: dict(zip(f, row)) for item, row in zip(self.items, self.loadings)},
            "communalities": dict(zip(self.items, self.communalities)),
            "uniquenesses": dict(zip(self.items, self.uniquenesses)),
            "variance": {
                name: {
                    "ss_loadings": self.ss_loadings[j],
                    "proportion": self.proportion[j],
                    "cumulative": self.cumulative[j],
                }
                for j, name in enumerate(f)
            },
            "factor_correlations": {
                a: dict(zip(f, row)) for a, row in zip(f, self.factor_correlations)
            },
            "eigenvalues": count["eigenvalues"],
            "parallel_eigenvalues": count["parallel_eigenvalues"],
            "parallel_eigenvalues_mean": count["parallel_eigenvalues_mean"],
            "factor_eigenvalues": count["factor_eigenvalues"],
            "parallel_factor_eigenvalues": count["parallel_factor_eigenvalues"],
            "map": count["map"],
            "parallel_settings": count["parallel_settings"],
            "fit": self.fit,
            "converged": self.converged,
            "warnings": list(self.warnings),
        }
        if self.correlation != "pearson":
            out["correlation"] = self.correlation
        return _clean(out)


# --------------------------------------------------------------------------------------------
# public functions
# --------------------------------------------------------------------------------------------


def _usable(moments: ItemMoments, items: Sequence[str] | None) -> tuple[ItemMoments, list[str]]:
    """Subset to items with a fully defined correlation matrix; warnings for the dropped ones.

    psych::fa stops when the correlation matrix has NAs (a constant item, or two items never
    answered together); here the offending items are left out one at a time, the item with most
    undefined correlations first, and each is named in a warning.
    """
    if items is not None:
        moments = moments.subset([items] if isinstance(items, str) else list(items))
    warns: list[str] = []
    keep = list(moments.items)
    r = moments.cor_pairwise
    idx = list(range(len(keep)))
    while idx:
        sub = r[np.ix_(idx, idx)]
        bad = np.isnan(sub).sum(axis=0)
        if not bad.any():
            break
        worst = int(np.argmax(bad))
        name = moments.items[idx[worst]]
        if np.isnan(sub[worst, worst]):
            why = "it has no variance (every answer is the same) or fewer than two answers"
        else:
            why = "it was never answered together with some other items"
        warns.append(f"Item {name} was left out of the factor analysis: {why}.")
        idx.pop(worst)
    if len(idx) != len(keep):
        moments = moments.subset([moments.items[i] for i in idx])
    return moments, warns


def polychoric_moments(moments: ItemMoments, data) -> ItemMoments:
    """``moments`` with its pairwise correlation matrix replaced by the polychoric one of the same
    items in ``data`` (pairwise-complete tables, thresholds from each item's answers; lavaan's
    two-step ML estimates, which are ``psych::polychoric(x)$rho`` up to psych's ``optimize``
    tolerance). Every EFA function then works on polychorics, as ``psych::fa(x, cor = "poly")``
    and ``psych::fa.parallel(x, cor = "poly")`` (observed polychoric eigenvalues against those
    of simulated normal data, psych's default ``sim = TRUE``). A constant item keeps its NaN
    row, as in the Pearson matrix, and is left out by the usual check."""
    import dataclasses  # noqa: PLC0415

    from pipeline.measure.sem.ordinal import codes_from_frame, ordinal_stats_from_codes  # noqa: PLC0415

    items = list(moments.items)
    codes, levels = codes_from_frame(data, items)
    ok = [i for i, lev in enumerate(levels) if len(lev) >= 2]
    r = np.full((len(items), len(items)), np.nan)
    if len(ok) >= 2:
        st = ordinal_stats_from_codes(np.asfortranarray(codes[:, ok]), [levels[i] for i in ok],
                                      [items[i] for i in ok], nacov=False)
        sub = st.cor.copy()
        for (a, b), tab in zip(st.pairs, st.tables):
            if tab.sum() == 0:          # never answered together: undefined, as in Pearson
                sub[a, b] = sub[b, a] = np.nan
        r[np.ix_(ok, ok)] = sub
    return dataclasses.replace(moments, cor_pairwise=r)


def _check_size(moments: ItemMoments, need: int = 3) -> None:
    if moments.n_items < need:
        raise StudyError(
            f"factor analysis needs at least {need} items with answers that vary; "
            f"{moments.n_items} are left ({', '.join(moments.items) or 'none'})",
            key="analysis.efa",
            fix="add the instrument's items to the analysis, or set analysis: efa: false to skip it",
        )


def _adequacy(r: np.ndarray, n: int, items: tuple[str, ...]) -> Adequacy:
    p = r.shape[0]
    warns: list[str] = []
    df = p * (p - 1) // 2
    try:
        q = np.linalg.inv(r)
        cond_ok = np.isfinite(q).all() and np.linalg.cond(r) < 1e12
    except np.linalg.LinAlgError:
        cond_ok = False
    if cond_ok and not np.all(np.diag(q) > 0):
        # an indefinite pairwise matrix: the anti-image has no correlation form (psych: NaN)
        cond_ok = False
        kmo_reason = "is not positive definite"
    else:
        kmo_reason = "is singular (some items are exact linear combinations of others)"
    if cond_ok:
        img = _cov2cor(q)
        np.fill_diagonal(img, 0.0)
        r0 = r.copy()
        np.fill_diagonal(r0, 0.0)
        r2 = r0 * r0
        q2 = img * img
        kmo = float(r2.sum() / (r2.sum() + q2.sum()))
        kmo_items = r2.sum(axis=0) / (r2.sum(axis=0) + q2.sum(axis=0))
    else:
        kmo = None
        kmo_items = np.full(p, np.nan)
        warns.append(
            f"The correlation matrix {kmo_reason}, so the KMO measure of sampling adequacy "
            "cannot be computed."
        )
    sign, logdet = np.linalg.slogdet(r)
    if sign > 0 and n > 1:
        chi2 = float(-logdet * (n - 1 - (2 * p + 5) / 6))
        pval = float(chdtrc(df, chi2))
    else:
        chi2 = pval = None
        warns.append(
            "The pairwise correlation matrix is not positive definite, so Bartlett's test of "
            "sphericity is undefined; with much missing data, pairwise correlations can be "
            "mutually inconsistent."
        )
    if kmo is not None:
        if kmo < 0.6:
            warns.append(
                f"The overall KMO measure of sampling adequacy is {kmo:.2f}, below .60: the "
                "items share too little common variance for a trustworthy factor analysis "
                "(Kaiser, 1974)."
            )
        low = [f"{it} ({v:.2f})" for it, v in zip(items, kmo_items) if v < 0.5]
        if low:
            warns.append(
                "Items with a KMO measure of sampling adequacy below .50, candidates for "
                "removal: " + ", ".join(low) + "."
            )
    if pval is not None and pval > 0.05:
        warns.append(
            f"Bartlett's test of sphericity is not significant (p = {pval:.3f}): the "
            "correlations may be too weak for factor analysis."
        )
    return Adequacy(
        items=items,
        n=int(n),
        kmo=kmo,
        kmo_items=np.asarray(kmo_items, dtype=float),
        chi2=chi2,
        df=df,
        p=pval,
        warnings=tuple(warns),
    )


def sampling_adequacy(moments: ItemMoments, items: Sequence[str] | None = None) -> Adequacy:
    """Kaiser-Meyer-Olkin MSA (overall and per item) and Bartlett's test of sphericity.

    Parameters
    ----------
    moments : ItemMoments
    items : sequence of str, optional
        Items to analyse (default: all). Items whose correlations are undefined are left out.

    Returns
    -------
    Adequacy

    Notes
    -----
    With ``R`` the pairwise correlation matrix and ``Q = R^-1`` scaled to a correlation matrix
    (the anti-image), ``MSA = sum r_ij^2 / (sum r_ij^2 + sum q_ij^2)`` over i != j, and per item
    over its column. Bartlett: ``chi2 = -ln|R| (n - 1 - (2p + 5) / 6)`` on ``p(p-1)/2`` df, with
    ``n = nrow(x)`` as ``psych::fa`` uses. R: ``psych::KMO(cor(x, use = "pairwise"))``,
    ``psych::cortest.bartlett(cor(x, use = "pairwise"), n = nrow(x))``.

    References
    ----------
    Kaiser, H. F. (1970). A second generation little jiffy. Psychometrika, 35, 401-415.
    Bartlett, M. S. (1951). The effect of standardization on a chi square approximation in
    factor analysis. Biometrika, 38, 337-344.
    """
    m, warns = _usable(moments, items)
    _check_size(m, 2)
    with single_blas_thread():
        ad = _adequacy(m.cor_pairwise, m.n_rows, m.items)
    if warns:
        ad = Adequacy(**{**ad.__dict__, "warnings": tuple(warns) + ad.warnings})
    return ad


def _simulated_correlations(rng: np.random.Generator, n: int, p: int, n_iter: int) -> np.ndarray:
    """Correlation matrices of ``n_iter`` samples of n x p independent standard normals.

    The centred cross-product matrix of n i.i.d. N(0, I_p) rows is Wishart(n - 1, I_p); by
    Bartlett's decomposition it is T T' with T lower triangular, T_ii^2 ~ chi2(n - 1 - i + 1)
    (i = 1..p) and T_ij ~ N(0, 1) below the diagonal. Its correlation matrix has exactly the
    distribution of ``cor(matrix(rnorm(n * p), n))`` -- at O(p^2) cost instead of O(n p^2).
    """
    t = np.tril(rng.standard_normal((n_iter, p, p)), -1)
    diag = np.sqrt(rng.chisquare(n - 1 - np.arange(p), size=(n_iter, p)))
    t[:, np.arange(p), np.arange(p)] = diag
    w = t @ np.transpose(t, (0, 2, 1))
    d = 1.0 / np.sqrt(np.einsum("kii->ki", w))
    r = w * d[:, :, None] * d[:, None, :]
    r[:, np.arange(p), np.arange(p)] = 1.0
    return r


def _map(r: np.ndarray, max_factors: int) -> np.ndarray:
    """psych's map() inside VSS: Velicer's minimum average partial for 1..n components."""
    p = r.shape[0]
    n = min(max_factors, p)
    n1 = p - 1 if n >= p else n
    vals, vecs = _eigh_desc(r)
    comp = vecs * np.sqrt(np.maximum(vals, 0.0))
    out = np.full(n, np.nan)
    for i in range(1, n1 + 1):
        c = r - comp[:, :i] @ comp[:, :i].T
        with np.errstate(invalid="ignore", divide="ignore"):
            d = 1.0 / np.sqrt(np.diag(c))
            rs = c * d[:, None] * d[None, :]
        np.fill_diagonal(rs, 0.0)
        out[i - 1] = np.sum(rs * rs) / (p * (p - 1))
    return out


def _leading_above(observed: np.ndarray, threshold: np.ndarray) -> int:
    """psych: which(!(observed > threshold))[1] - 1 (all above -> p)."""
    fails = np.nonzero(~(observed > threshold))[0]
    return int(fails[0]) if len(fails) else len(observed)


def factor_count(
    moments: ItemMoments,
    *,
    seed: int,
    n_iter: int = 20,
    items: Sequence[str] | None = None,
    quantile: float = 0.95,
    max_factors: int = 8,
) -> FactorCount:
    """Suggested numbers of factors: parallel analysis, Kaiser's rule and Velicer's MAP.

    Parameters
    ----------
    moments : ItemMoments
    seed : int
        Seed of the simulated data sets (``numpy.random.default_rng(seed)``).
    n_iter : int
        Simulated data sets (psych's default 20).
    items : sequence of str, optional
        Items to analyse (default: all usable).
    quantile : float
        Quantile of the simulated eigenvalues an observed eigenvalue must exceed (psych: 0.95).
    max_factors : int
        Largest number of components for MAP (``psych::VSS(n = 8)``).

    Returns
    -------
    FactorCount
        ``suggested["parallel"]`` is the component-based count used for ``n_factors = "auto"``.

    Notes
    -----
    Parallel analysis (Horn, 1965) as ``psych::fa.parallel(x)`` (psych 2.2.9): the observed
    eigenvalues of the pairwise correlation matrix are compared, in order, with the 95th
    percentile of the eigenvalues of correlation matrices of normal data of the same n
    (``nrow(x)``) and p; the suggestion is the number of leading observed eigenvalues above
    it. psych prints two counts: "components" (eigenvalues of R, its ``ncomp``) and "factors"
    (eigenvalues of R with one-factor minres communalities on the diagonal, its ``nfact``). socap
    uses the **component** count for ``suggested["parallel"]``: the factor-eigenvalue version is
    known to over-extract (Crawford et al., 2010; Timmerman & Lorenzo-Seva, 2011), notably with
    large samples, where the simulated factor eigenvalues shrink towards zero and minor factors
    pass; the factor count is reported as ``suggested["parallel_fa"]``. psych also resamples the
    observed data; those draws do not enter its suggestion and are skipped here. The simulated
    correlation matrices are drawn through Bartlett's decomposition of the Wishart distribution
    (exactly the distribution of ``cor()`` of n x p normal data) so the cost does not grow with n;
    random draws differ from R's, so the suggestions agree with R's when the structure is clear,
    not necessarily at a knife edge.

    Kaiser's rule counts eigenvalues of R above 1. MAP (Velicer, 1976) is the number of principal
    components after whose removal the average squared partial correlation is smallest,
    ``psych::VSS(x, n = max_factors)$map``.

    R: ``psych::fa.parallel(x, fa = "both", n.iter = 20)$ncomp`` (and ``$nfact``),
    ``sum(eigen(cor(x, use = "pairwise"))$values > 1)``, ``which.min(psych::VSS(x)$map)``.

    References
    ----------
    Horn, J. L. (1965). A rationale and test for the number of factors in factor analysis.
    Psychometrika, 30, 179-185.
    Velicer, W. F. (1976). Determining the number of components from the matrix of partial
    correlations. Psychometrika, 41, 321-327.
    Crawford, A. V., Green, S. B., Levy, R., et al. (2010). Evaluation of parallel analysis
    methods for determining the number of factors. Educational and Psychological Measurement, 70,
    885-901.
    Timmerman, M. E., & Lorenzo-Seva, U. (2011). Dimensionality assessment of ordered polytomous
    items with parallel analysis. Psychological Methods, 16, 209-220.
    """
    with single_blas_thread():
        return _factor_count(moments, seed, n_iter, items, quantile, max_factors)


def _factor_count(moments, seed, n_iter, items, quantile, max_factors) -> FactorCount:
    m, warns = _usable(moments, items)
    _check_size(m, 3)
    r = m.cor_pairwise
    p = m.n_items
    n = m.n_rows
    vals = np.linalg.eigvalsh(r)[::-1]
    fa_vals = _reduced_eigenvalues(r, extract(r, 1, "minres"))
    map_vals = _map(r, max_factors)
    kaiser = int(np.sum(vals > 1.0))
    map_best = int(np.nanargmin(map_vals)) + 1 if np.isfinite(map_vals).any() else None

    if n_iter < 1:
        raise StudyError("parallel analysis needs at least one simulated data set", key="n_iter")
    nanp = np.full(p, np.nan)
    if n > p + 1:
        rng = np.random.default_rng(seed)
        sims = _simulated_correlations(rng, n, p, n_iter)
        sim_vals = np.linalg.eigvalsh(sims)[:, ::-1]
        sim_fa = np.stack([_reduced_eigenvalues(s, extract(s, 1, "minres")) for s in sims])
        pc_q = np.quantile(sim_vals, quantile, axis=0)
        fa_q = np.quantile(sim_fa, quantile, axis=0)
        pc_mean = sim_vals.mean(axis=0)
        fa_mean = sim_fa.mean(axis=0)
        parallel = _leading_above(vals, pc_q)
        parallel_fa = _leading_above(fa_vals, fa_q)
    else:
        pc_q = fa_q = pc_mean = fa_mean = nanp
        parallel = parallel_fa = None
        warns.append(
            f"Parallel analysis needs more respondents ({n}) than items ({p}); it was skipped."
        )
    if map_best is not None and map_best == min(max_factors, p - 1) and p - 1 > max_factors:
        warns.append(
            f"Velicer's MAP reached its minimum at the largest number of components examined "
            f"({map_best}); more factors may be indicated."
        )
    suggested = {
        "parallel": parallel,
        "parallel_fa": parallel_fa,
        "kaiser": kaiser,
        "map": map_best,
    }
    return FactorCount(
        items=m.items,
        n=int(n),
        eigenvalues=vals,
        factor_eigenvalues=fa_vals,
        parallel_eigenvalues=pc_q,
        parallel_eigenvalues_mean=pc_mean,
        parallel_factor_eigenvalues=fa_q,
        parallel_factor_eigenvalues_mean=fa_mean,
        map=map_vals,
        suggested=suggested,
        seed=int(seed),
        n_iter=int(n_iter),
        quantile=float(quantile),
        warnings=tuple(warns),
    )


def _validate_choice(value: Any, options: Sequence[str], key: str) -> str:
    text = str(value).strip().lower()
    aliases = {"mle": "ml", "geominq": "geomin", "uls": "minres"}
    text = aliases.get(text, text)
    if text not in options:
        raise StudyError(
            f"'{value}' is not a valid {key.rsplit('.', 1)[-1]}",
            key=key,
            fix=did_you_mean(str(value), options) + " (valid: " + ", ".join(options) + ")",
        )
    return text


def efa(
    moments: ItemMoments,
    *,
    n_factors: int | str = "auto",
    method: str = "ml",
    rotation: str = "oblimin",
    seed: int = 0,
    items: Sequence[str] | None = None,
    n_iter: int = 20,
    adequacy: Adequacy | None = None,
    count: FactorCount | None = None,
) -> EFAResult:
    """Exploratory factor analysis on the pairwise correlation matrix, as ``psych::fa``.

    Parameters
    ----------
    moments : ItemMoments
    n_factors : int or "auto"
        Factors to extract; ``"auto"`` takes parallel analysis' suggestion (at least 1).
    method : {"ml", "minres"}
        Maximum likelihood or minimum residual (unweighted least squares) extraction.
    rotation : {"oblimin", "promax", "varimax", "geomin", "none"}
        ``oblimin`` is GPArotation's quartimin (gamma = 0), ``geomin`` its oblique ``geominQ``
        (delta = .01, as Mplus), ``promax`` psych's Kaiser-normalised promax (m = 4),
        ``varimax`` ``stats::varimax`` (Kaiser-normalised).
    seed : int
        Seed of parallel analysis.
    items : sequence of str, optional
        Items to analyse (default: all usable ones).
    n_iter : int
        Simulated data sets of parallel analysis.
    adequacy, count : optional
        Results of :func:`sampling_adequacy` and :func:`factor_count` for the same items, when
        already computed.

    Returns
    -------
    EFAResult

    Raises
    ------
    StudyError
        Unknown method or rotation, or an impossible number of factors (config key
        ``analysis.efa``).

    Notes
    -----
    Extraction (``psych::fac``): the uniquenesses Psi are found by L-BFGS-B from 1 - SMC within
    [.005, 1]. ``ml`` minimises ``-sum_{j>k}(ln e_j - e_j) - k + p`` over the eigenvalues e of
    Psi^-1/2 R Psi^-1/2 (the ``factanal`` criterion); ``minres`` minimises the sum of squared
    off-diagonal residuals of R - L L'. Loadings are the leading eigenvectors scaled as in psych.
    A pairwise correlation matrix that is not positive definite (``psych::fa(fm = "ml")`` stops on
    it) is smoothed for ``ml`` as ``psych::cor.smooth`` does, with a warning; ``minres`` fits it as
    it is, as psych does.
    Communality is the diagonal of L L' (``$communality``), uniqueness ``1 - communality``. SS
    loadings of a rotated oblique solution are ``diag(Phi L'L)``; proportions divide by p.
    A Heywood case is flagged when a communality reaches 1 or a uniqueness stops at the lower
    bound .005. R: ``psych::fa(x, nfactors = k, fm = "ml", rotate = "oblimin")`` with
    ``x`` the raw item data (pairwise correlations, ``n.obs = nrow(x)``).

    References
    ----------
    Revelle, W. (2022). psych: Procedures for Psychological, Psychometric, and Personality
    Research (2.2.9). Northwestern University.
    Bernaards, C. A., & Jennrich, R. I. (2005). Gradient projection algorithms and software for
    arbitrary rotation criteria in factor analysis. Educational and Psychological Measurement,
    65, 676-696.
    Jennrich, R. I. (2002). A simple general method for oblique rotation. Psychometrika, 67, 7-19.
    Hendrickson, A. E., & White, P. O. (1964). Promax: a quick method for rotation to oblique
    simple structure. British Journal of Statistical Psychology, 17, 65-70.
    """
    method = _validate_choice(method, METHODS, "analysis.efa.method")
    rotation = _validate_choice(rotation, ROTATIONS, "analysis.efa.rotation")
    with single_blas_thread():
        return _efa(moments, n_factors, method, rotation, seed, items, n_iter, adequacy, count)


def _efa(moments, n_factors, method, rotation, seed, items, n_iter, adequacy, count) -> EFAResult:
    m, drop_warns = _usable(moments, items)
    _check_size(m, 3)
    if adequacy is None or adequacy.items != m.items:
        adequacy = _adequacy(m.cor_pairwise, m.n_rows, m.items)
    if count is None or count.items != m.items:
        count = factor_count(m, seed=seed, n_iter=n_iter)
    p = m.n_items
    warns = list(drop_warns) + list(adequacy.warnings) + list(count.warnings)

    if isinstance(n_factors, str):
        if n_factors.strip().lower() != "auto":
            raise StudyError(
                f"n_factors must be a whole number or 'auto', not '{n_factors}'",
                key="analysis.efa.n_factors",
                fix="write e.g. n_factors: 3, or n_factors: auto for parallel analysis",
            )
        sug = count.suggested.get("parallel")
        if sug is None:
            k = max(1, int(count.suggested.get("kaiser") or 1))
            reason = (
                "parallel analysis was not possible; Kaiser's rule (eigenvalues above 1) "
                f"suggested {count.suggested.get('kaiser')}"
            )
        else:
            k = max(1, int(sug))
            reason = (
                f"parallel analysis suggested {sug} (observed eigenvalues of the pairwise "
                f"correlation matrix above the {count.quantile * 100:.0f}th percentile of "
                f"{count.n_iter} simulated normal data sets of {count.n} x {p}, seed {count.seed})"
            )
            if sug < 1:
                reason += "; at least one factor is extracted"
        if k > p - 1:
            k = p - 1
            reason += f"; capped at {k} (one less than the {p} items)"
    else:
        if isinstance(n_factors, bool) or int(n_factors) != n_factors or n_factors < 1:
            raise StudyError(
                f"n_factors must be a whole number of at least 1 or 'auto', not {n_factors!r}",
                key="analysis.efa.n_factors",
            )
        k = int(n_factors)
        if k >= p:
            raise StudyError(
                f"{k} factors cannot be extracted from {p} items",
                key="analysis.efa.n_factors",
                fix=f"use at most {p - 1} factors, or n_factors: auto",
            )
        reason = "set in the configuration (analysis.efa.n_factors)"

    dof = ((p - k) ** 2 - (p + k)) / 2
    if dof < 0:
        warns.append(
            f"{k} factors on {p} items leave negative degrees of freedom ({dof:g}): the model is "
            "not identified and its loadings are arbitrary; use fewer factors."
        )

    r = m.cor_pairwise
    if method == "ml":
        r, smoothed = cor_smooth(r)
        if smoothed:
            warns.append(
                "The pairwise correlation matrix is not positive definite (pairwise deletion with "
                "much missing data can make correlations mutually inconsistent), which maximum "
                "likelihood cannot fit; it was smoothed first, as psych::cor.smooth does. "
                "Consider method minres, which fits the matrix as it is."
            )
    fit = extract(r, k, method)
    load = fit.loadings.copy()
    load[load == 0] = 1e-15
    rotated, phi, rot_conv = _rotate(load, rotation)
    signs = np.sign(rotated.sum(axis=0))
    signs[signs == 0] = 1.0
    rotated = rotated * signs
    if phi is not None:
        phi = phi * signs[:, None] * signs[None, :]
    if k > 1:
        ev = np.diag(phi @ rotated.T @ rotated) if phi is not None else np.sum(rotated**2, axis=0)
        order = np.argsort(-ev, kind="stable")
        rotated = rotated[:, order]
        if phi is not None:
            phi = phi[np.ix_(order, order)]
    if phi is None:
        phi = np.eye(k)
        ss = np.sum(rotated**2, axis=0)
    else:
        ss = np.diag(phi @ rotated.T @ rotated)
    communality = np.einsum("ij,ij->i", fit.loadings, fit.loadings)
    uniqueness = 1.0 - communality
    proportion = ss / p
    cumulative = np.cumsum(proportion)

    if not fit.converged:
        warns.append(
            f"The {method} extraction of {k} factors did not converge ({fit.message}); treat "
            "the loadings with caution."
        )
    if not rot_conv:
        warns.append(
            f"The {rotation} rotation did not converge; the loadings may not be a simple-structure "
            "solution."
        )
    heywood = [
        it
        for it, h, ps in zip(m.items, communality, fit.psi)
        if h >= 1.0 or ps <= PSI_LOWER * (1 + 1e-6)
    ]
    if heywood:
        warns.append(
            "Heywood case: the communality of "
            + ", ".join(heywood)
            + " reached 1 (uniqueness at its lower bound); the solution is improper -- too many "
            "factors, too few items per factor or a too small sample are the usual causes."
        )
    factors = tuple(f"F{j + 1}" for j in range(k))
    fit_stats = _fit_statistics(r, rotated, phi, m.n_rows, k)
    return EFAResult(
        items=m.items,
        n=int(m.n_rows),
        adequacy=adequacy,
        count=count,
        n_factors=k,
        n_factors_reason=reason,
        method=method,
        rotation=rotation,
        factors=factors,
        loadings=rotated,
        factor_correlations=phi,
        communalities=communality,
        uniquenesses=uniqueness,
        ss_loadings=ss,
        proportion=proportion,
        cumulative=cumulative,
        converged=bool(fit.converged and rot_conv),
        fit=fit_stats,
        extraction={
            "iterations": fit.iterations,
            "objective": fit.objective,
            "message": fit.message,
            "psi": fit.psi,
        },
        warnings=tuple(warns),
    )
