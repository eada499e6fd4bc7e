"""Maximum-likelihood estimation of CFA models from sample moments, as ``lavaan`` does it.

Why hand-written: factor_analyzer's CFA breaks on pandas 3 and reports no fit indices; semopy has
no SRMR, AIC/BIC that differ from lavaan's and a multi-group mode without cross-group equality
constraints; both cost 1.6-3 s to import. A CFA is a small LISREL model, so an engine that works
from the groups' covariance matrices and means is short, fast at any sample size (the data enter
once, through their moments) and can follow lavaan's conventions exactly.

Model (LISREL "all-y" notation, one set of matrices per group g)::

    y = nu + Lambda eta + eps,   eta = alpha + B eta + zeta,
    Var(zeta) = Psi,  Var(eps) = Theta (diagonal unless residual covariances are freed)
    A = (I - B)^-1,  Phi = A Psi A'               (model-implied covariance of the latents)
    Sigma = Lambda Phi Lambda' + Theta,  mu = nu + Lambda A alpha

First-order factors are columns of Lambda; a second-order factor is a latent variable with a zero
Lambda column whose "loadings" are entries of B (lavaan writes them ``F2 =~ F1``).

Discrepancy function (ML, ``likelihood = "normal"``: covariance matrices with divisor N_g)::

    F = sum_g (N_g / N) [log|Sigma_g| + tr(S_g Sigma_g^-1) - log|S_g| - p
                         + (m_g - mu_g)' Sigma_g^-1 (m_g - mu_g)]

so that chisq = N F = sum_g N_g F_g and the log-likelihood is -N/2 (F + const).

Free entries of the model matrices point to elements of one parameter vector; an equality
constraint across groups is two entries pointing at the same element. The derivative of Sigma_g
with respect to any entry is a symmetric rank-two matrix ``s (a b' + b a')``, so the gradient
``2 s a' W b`` and the expected (Fisher) information ``s_e s_f (Gaa o Gbb + Gab o Gab')`` with
``Gaa = a' Sigma^-1 a`` etc. need no p^2 x p^2 matrices. Estimation is Fisher scoring with a
backtracking line search, switching to BFGS updates seeded with the expected Hessian near the
optimum (Fisher scoring alone converges only linearly when the model misfits); lavaan uses the
quasi-Newton ``nlminb``, and both reach the same optimum. SciPy's BFGS on the analytic gradient
is the fallback if neither converges (imported only then).

References
----------
Joreskog, K. G. (1969). A general approach to confirmatory maximum likelihood factor analysis.
    Psychometrika, 34, 183-202.
Rosseel, Y. (2012). lavaan: An R package for structural equation modeling. Journal of Statistical
    Software, 48(2), 1-36.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

LAMBDA, BETA, PSI, THETA, NU, ALPHA = range(6)
KIND_NAMES = ("lambda", "beta", "psi", "theta", "nu", "alpha")
SYMMETRIC = (PSI, THETA)


# ----------------------------------------------------------------------------------------------
# sample moments


@dataclass(frozen=True)
class Moments:
    """Per-group sample moments: ``cov`` (G, p, p) with divisor N_g, ``mean`` (G, p), ``n`` (G,)."""

    cov: np.ndarray
    mean: np.ndarray
    n: np.ndarray

    @property
    def n_total(self) -> int:
        return int(self.n.sum())

    @property
    def weights(self) -> np.ndarray:
        return self.n / self.n.sum()


def complete_moments(x: np.ndarray, chunk: int = 65_536) -> tuple[np.ndarray, np.ndarray, int]:
    """Mean and N-divisor covariance of the rows of ``x`` without missing values.

    One pass over the data in row chunks: cross-products of the rows minus a provisional centre
    (the mean of the first complete rows, so that no precision is lost to cancellation), then
    ``cov = C / n - d d'`` with ``d`` the distance of the mean from that centre. Works on a
    column-major pandas block without copying it whole. Returns ``(mean, cov, n)``.
    """
    x = np.asarray(x, dtype=float)
    n_all, p = x.shape
    ok = ~np.isnan(x).any(axis=1)
    n = int(ok.sum())
    if n == 0:
        return np.full(p, np.nan), np.full((p, p), np.nan), 0
    first = np.flatnonzero(ok)[:1000]
    centre = x[first].mean(axis=0)
    total = np.zeros(p)
    cross = np.zeros((p, p))
    for start in range(0, n_all, chunk):
        block = x[start:start + chunk]
        keep = ok[start:start + chunk]
        if not keep.all():
            block = block[keep]
        block = block - centre
        total += block.sum(axis=0)
        cross += block.T @ block
    d = total / n
    cov = cross / n - np.outer(d, d)
    return centre + d, 0.5 * (cov + cov.T), n


# ----------------------------------------------------------------------------------------------
# model specification


@dataclass
class ModelSpec:
    """Structure of a (multi-group) CFA model: which matrix entries are free and which are shared.

    Attributes
    ----------
    ov, lv
        Observed and latent variable names; latent columns are first-order factors first.
    n_first
        Number of first-order factors.
    groups
        Number of groups G.
    meanstructure
        Whether intercepts and latent means are modelled (multi-group models); without it the
        intercepts are the sample means (lavaan's single-group default).
    kind, group, row, col, par
        One element per free matrix entry: matrix code (LAMBDA ... ALPHA), group, row, column
        (0 for vectors) and the index of the parameter it takes its value from.
    base
        Fixed values of every matrix, shape (G, ...) each; free entries are overwritten.
    indicators
        For each latent variable (by index) the indices of its indicators: items for first-order
        factors, lower factors for higher-order ones; the first one is the marker (fixed at 1).
    """

    ov: tuple[str, ...]
    lv: tuple[str, ...]
    n_first: int
    groups: int
    meanstructure: bool
    kind: np.ndarray
    group: np.ndarray
    row: np.ndarray
    col: np.ndarray
    par: np.ndarray
    base: dict[int, np.ndarray]
    indicators: tuple[tuple[int, ...], ...]
    exogenous: tuple[int, ...]
    _selections: dict = field(default_factory=dict, repr=False)

    @property
    def p(self) -> int:
        return len(self.ov)

    @property
    def m(self) -> int:
        return len(self.lv)

    @property
    def n_par(self) -> int:
        return int(self.par.max()) + 1 if self.par.size else 0

    def selection(self, kind: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(entry mask, group, row, col) of the free entries of one matrix kind (cached)."""
        if kind not in self._selections:
            sel = self.kind == kind
            self._selections[kind] = (sel, self.group[sel], self.row[sel], self.col[sel])
        return self._selections[kind]

    def label(self, kind: int, row: int, col: int) -> tuple[str, str, str]:
        """lavaan's (lhs, op, rhs) for a matrix entry."""
        if kind == LAMBDA:
            return self.lv[col], "=~", self.ov[row]
        if kind == BETA:
            return self.lv[col], "=~", self.lv[row]
        if kind == PSI:
            r, c = sorted((row, col))
            return self.lv[r], "~~", self.lv[c]
        if kind == THETA:
            r, c = sorted((row, col))
            return self.ov[r], "~~", self.ov[c]
        if kind == NU:
            return self.ov[row], "~1", ""
        return self.lv[row], "~1", ""

    def is_free(self, kind: int, group: int, row: int, col: int) -> bool:
        sel = (self.kind == kind) & (self.group == group)
        if kind in SYMMETRIC:
            return bool(np.any(sel & (((self.row == row) & (self.col == col))
                                      | ((self.row == col) & (self.col == row)))))
        return bool(np.any(sel & (self.row == row) & (self.col == col)))


def cfa_spec(
    items: Sequence[str],
    factors: Mapping[str, Sequence[str]],
    higher_order: Mapping[str, Sequence[str]] | None = None,
    *,
    groups: int = 1,
    meanstructure: bool = False,
    equal: Sequence[str] = (),
    partial: Sequence[tuple[int, int, int]] = (),
) -> ModelSpec:
    """The lavaan ``cfa()`` model for ``factors`` (and an optional second-order level).

    Defaults as lavaan: the first indicator of every factor is the marker (loading fixed at 1),
    residual variances free, covariances free among exogenous latent variables (first-order
    factors that are not indicators of a higher-order factor, and the higher-order factors),
    disturbance variances free for the others. With several groups and ``meanstructure``:
    intercepts free in every group, latent means fixed at 0, unless ``"intercepts"`` is in
    ``equal``, in which case the first-order factors' means (intercepts) are free in groups 2..G
    (group 1 is the reference) and second-order factors' means stay at 0 (identification).

    Parameters
    ----------
    items
        Observed variables in column order.
    factors
        First-order factor -> its items.
    higher_order
        Second-order factor -> its first-order factors.
    groups, meanstructure
        Number of groups; whether to model means.
    equal
        Parameter kinds held equal across groups: ``"loadings"`` (first- and second-order, as
        lavaan's group.equal), ``"intercepts"`` (of the items); with ``"intercepts"``,
        ``"construct_intercepts"`` also holds the intercepts of the first-order factors under a
        second-order factor at 0 in every group, freeing the second-order means.
    partial
        ``(kind, row, col)`` entries exempted from the equality constraints (lavaan's
        ``group.partial``): they get a parameter per group.
    """
    ov = tuple(items)
    higher_order = dict(higher_order or {})
    lv = tuple(factors) + tuple(higher_order)
    p, m, n_first = len(ov), len(lv), len(factors)
    item_index = {name: i for i, name in enumerate(ov)}
    lv_index = {name: j for j, name in enumerate(lv)}
    indicators: list[tuple[int, ...]] = []
    for f in factors:
        indicators.append(tuple(item_index[i] for i in factors[f]))
    endogenous: set[int] = set()
    for h in higher_order:
        lower = tuple(lv_index[f] for f in higher_order[h])
        indicators.append(lower)
        endogenous.update(lower)
    exogenous = tuple(j for j in range(m) if j not in endogenous)
    partial_set = {tuple(int(v) for v in e) for e in partial}

    base = {
        LAMBDA: np.zeros((groups, p, m)),
        BETA: np.zeros((groups, m, m)),
        PSI: np.zeros((groups, m, m)),
        THETA: np.zeros((groups, p, p)),
        NU: np.zeros((groups, p)),
        ALPHA: np.zeros((groups, m)),
    }
    entries: list[tuple[int, int, int, int]] = []
    for g in range(groups):
        for j, inds in enumerate(indicators):
            kind = LAMBDA if j < n_first else BETA
            for k, i in enumerate(inds):
                r, c = (i, j)
                if k == 0:
                    base[kind][g, r, c] = 1.0
                else:
                    entries.append((kind, g, r, c))
        for i in range(p):
            entries.append((THETA, g, i, i))
        for j in range(m):
            entries.append((PSI, g, j, j))
        for a in range(len(exogenous)):
            for b in range(a + 1, len(exogenous)):
                entries.append((PSI, g, exogenous[b], exogenous[a]))
        if meanstructure:
            for i in range(p):
                entries.append((NU, g, i, 0))
            if "intercepts" in equal and g > 0:
                # latent means free in groups 2..G -- for the first-order factors only: with a
                # second-order factor H, lavaan's group.equal = c("loadings", "intercepts") also
                # frees H's mean, which is not identified (the item means see only the sums
                # alpha_F + gamma_F alpha_H); fixing alpha_H = 0 is the identified equivalent
                # (lavaan syntax "H ~ c(0, 0)*1": the same chi-square, df one higher per group)
                # With "construct_intercepts" too (second-order scalar invariance) the
                # first-order factors under a second-order factor keep their intercepts at 0 in
                # every group and the second-order means are free instead
                # ("F ~ c(0, 0)*1; H ~ c(0, NA)*1"): only the exogenous latent means are free.
                free_means = exogenous if "construct_intercepts" in equal else range(n_first)
                for j in free_means:
                    entries.append((ALPHA, g, j, 0))

    shared_kinds = set()
    if "loadings" in equal:
        shared_kinds.update((LAMBDA, BETA))
    if "intercepts" in equal:
        shared_kinds.add(NU)
    par = np.empty(len(entries), dtype=int)
    keys: dict[tuple, int] = {}
    for e, (kind, g, r, c) in enumerate(entries):
        shared = kind in shared_kinds and (kind, r, c) not in partial_set
        key = (kind, r, c) if shared else (kind, g, r, c)
        if key not in keys:
            keys[key] = len(keys)
        par[e] = keys[key]
    arr = np.array(entries, dtype=int).reshape(-1, 4)
    return ModelSpec(
        ov=ov, lv=lv, n_first=n_first, groups=groups, meanstructure=meanstructure,
        kind=arr[:, 0].copy(), group=arr[:, 1].copy(), row=arr[:, 2].copy(),
        col=arr[:, 3].copy(), par=par, base=base, indicators=tuple(indicators),
        exogenous=exogenous,
    )


# ----------------------------------------------------------------------------------------------
# implied moments


@dataclass
class Implied:
    """Model matrices and implied moments at one parameter vector (arrays stacked over groups)."""

    lam: np.ndarray
    beta: np.ndarray
    psi: np.ndarray
    theta: np.ndarray
    nu: np.ndarray
    alpha: np.ndarray
    a_inv: np.ndarray      # A = (I - B)^-1
    phi: np.ndarray        # Var(eta) = A Psi A'
    sigma: np.ndarray
    mu: np.ndarray | None  # None without mean structure


def matrices(spec: ModelSpec, theta: np.ndarray) -> Implied:
    """Fill the model matrices from the parameter vector and compute Sigma (and mu)."""
    vals = np.asarray(theta)[spec.par]
    dtype = np.result_type(vals.dtype, float)
    mats = {k: spec.base[k].astype(dtype, copy=True) for k in spec.base}
    for kind in (LAMBDA, BETA, PSI, THETA):
        sel, g, r, c = spec.selection(kind)
        mats[kind][g, r, c] = vals[sel]
        if kind in SYMMETRIC:
            mats[kind][g, c, r] = vals[sel]
    for kind in (NU, ALPHA):
        sel, g, r, _ = spec.selection(kind)
        mats[kind][g, r] = vals[sel]
    lam, beta, psi = mats[LAMBDA], mats[BETA], mats[PSI]
    eye = np.eye(spec.m)
    if np.any(beta != 0):
        a_inv = np.linalg.inv(eye - beta)
    else:
        a_inv = np.repeat(eye[None], spec.groups, axis=0)
    phi = a_inv @ psi @ np.swapaxes(a_inv, 1, 2)
    sigma = lam @ phi @ np.swapaxes(lam, 1, 2) + mats[THETA]
    mu = None
    if spec.meanstructure:
        mu = mats[NU] + np.einsum("gpm,gm->gp", lam @ a_inv, mats[ALPHA])
    return Implied(lam, beta, psi, mats[THETA], mats[NU], mats[ALPHA], a_inv, phi, sigma, mu)


def _logdet_inv(sigma: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """log-determinants and inverses of a stack of matrices, or None if any is not PD."""
    try:
        chol = np.linalg.cholesky(sigma)
    except np.linalg.LinAlgError:
        return None
    logdet = 2.0 * np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(axis=1)
    inv = np.linalg.inv(sigma)
    return logdet, inv


def discrepancy_parts(spec: ModelSpec, mom: Moments, imp: Implied) -> np.ndarray | None:
    """F_g for every group (None if an implied covariance matrix is not positive definite)."""
    out = _logdet_inv(imp.sigma)
    if out is None:
        return None
    logdet, inv = out
    logdet_s = np.linalg.slogdet(mom.cov)[1]
    p = spec.p
    f = logdet + np.einsum("gij,gji->g", mom.cov, inv) - logdet_s - p
    if spec.meanstructure:
        d = mom.mean - imp.mu
        f = f + np.einsum("gi,gij,gj->g", d, inv, d)
    return f


def objective(spec: ModelSpec, mom: Moments, theta: np.ndarray) -> float:
    """F = sum_g w_g F_g (inf when Sigma is not positive definite)."""
    parts = discrepancy_parts(spec, mom, matrices(spec, theta))
    if parts is None or not np.all(np.isfinite(parts)):
        return np.inf
    return float(mom.weights @ parts)


# ----------------------------------------------------------------------------------------------
# derivatives


@dataclass(frozen=True)
class Entries:
    """A list of matrix entries (free or candidate) to differentiate with respect to."""

    kind: np.ndarray
    group: np.ndarray
    row: np.ndarray
    col: np.ndarray

    @classmethod
    def of(cls, rows: Sequence[tuple[int, int, int, int]]) -> Entries:
        arr = np.array(list(rows), dtype=int).reshape(-1, 4)
        return cls(arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3])

    def __len__(self) -> int:
        return len(self.kind)


def free_entries(spec: ModelSpec) -> Entries:
    return Entries(spec.kind, spec.group, spec.row, spec.col)


def entry_vectors(spec: ModelSpec, imp: Implied, ent: Entries, g: int, idx: np.ndarray):
    """For the entries ``idx`` (all in group g): dSigma = s (a b' + b a'), dmu."""
    p = spec.p
    kind, row, col = ent.kind[idx], ent.row[idx], ent.col[idx]
    e = len(idx)
    a = np.zeros((e, p))
    b = np.zeros((e, p))
    s = np.ones(e)
    dmu = np.zeros((e, p))
    la = imp.lam[g] @ imp.a_inv[g]                       # Lambda A   (p, m)
    pl = imp.phi[g] @ imp.lam[g].T                       # Phi Lambda' (m, p)
    aa = imp.a_inv[g] @ imp.alpha[g] if spec.meanstructure else np.zeros(spec.m)
    ar = np.arange(e)
    k = kind == LAMBDA
    a[ar[k], row[k]] = 1.0
    b[k] = pl[col[k]]
    dmu[ar[k], row[k]] = aa[col[k]]
    k = kind == BETA
    a[k] = la[:, row[k]].T
    b[k] = pl[col[k]]
    dmu[k] = la[:, row[k]].T * aa[col[k]][:, None]
    k = kind == PSI
    a[k] = la[:, row[k]].T
    b[k] = la[:, col[k]].T
    s[k & (row == col)] = 0.5
    k = kind == THETA
    a[ar[k], row[k]] = 1.0
    b[ar[k], col[k]] = 1.0
    s[k & (row == col)] = 0.5
    k = kind == NU
    s[k] = 0.0
    dmu[ar[k], row[k]] = 1.0
    k = kind == ALPHA
    s[k] = 0.0
    dmu[k] = la[:, row[k]].T
    return a, b, s, dmu


def entry_gradient_information(spec: ModelSpec, mom: Moments, imp: Implied, ent: Entries,
                               need_info: bool = True):
    """Gradient of F and unit expected information for each entry of ``ent``.

    Returns ``(grad, info)``: ``grad[e] = dF/d entry_e``, and ``info`` the (E, E) expected
    information per observation, ``sum_g w_g [ 1/2 tr(K dS_e K dS_f) + dmu_e' K dmu_f ]`` with
    K = Sigma^-1 (zero between entries of different groups). The expected Hessian of F is
    ``2 info``; the covariance matrix of estimates is ``(N info)^-1`` (lavaan's default
    ``information = "expected"``, ``likelihood = "normal"``).
    """
    E = len(ent)
    grad = np.zeros(E)
    info = np.zeros((E, E)) if need_info else None
    w = mom.weights
    inv = np.linalg.inv(imp.sigma)
    for g in range(spec.groups):
        idx = np.flatnonzero(ent.group == g)
        if idx.size == 0:
            continue
        K = inv[g]
        S = mom.cov[g]
        if spec.meanstructure:
            d = mom.mean[g] - imp.mu[g]
            sd = S + np.outer(d, d)
            gmu = -2.0 * K @ d
        else:
            sd = S
            gmu = np.zeros(spec.p)
        W = K - K @ sd @ K
        a, b, s, dmu = entry_vectors(spec, imp, ent, g, idx)
        grad[idx] = w[g] * (2.0 * s * np.einsum("ei,ij,ej->e", a, W, b) + dmu @ gmu)
        if need_info:
            aK = a @ K
            bK = b @ K
            gaa = aK @ a.T
            gbb = bK @ b.T
            gab = aK @ b.T
            blk = np.outer(s, s) * (gaa * gbb + gab * gab.T) + (dmu @ K) @ dmu.T
            info[np.ix_(idx, idx)] = w[g] * blk
    return grad, info


def incidence(spec: ModelSpec) -> np.ndarray:
    """(E, P) 0/1 matrix mapping free entries to parameters."""
    c = np.zeros((len(spec.par), spec.n_par))
    c[np.arange(len(spec.par)), spec.par] = 1.0
    return c


def to_parameters(spec: ModelSpec, entry_matrix: np.ndarray, axes: tuple[int, ...] = (0, 1)
                  ) -> np.ndarray:
    """Sum an entry-indexed matrix over the entries of each parameter (C' M C without the
    dense products: sorted by parameter, then ``np.add.reduceat``)."""
    if "reduce" not in spec._selections:
        order = np.argsort(spec.par, kind="stable")
        starts = np.flatnonzero(np.r_[True, np.diff(spec.par[order]) != 0])
        spec._selections["reduce"] = (order, starts)
    order, starts = spec._selections["reduce"]
    out = entry_matrix
    for ax in axes:
        out = np.add.reduceat(np.take(out, order, axis=ax), starts, axis=ax)
    return out


def gradient_information(spec: ModelSpec, mom: Moments, theta: np.ndarray, need_info=True):
    """dF/dtheta and the unit expected information of the parameters."""
    imp = matrices(spec, theta)
    g_e, i_e = entry_gradient_information(spec, mom, imp, free_entries(spec), need_info)
    grad = np.bincount(spec.par, weights=g_e, minlength=spec.n_par)
    if not need_info:
        return grad, None
    return grad, to_parameters(spec, i_e)


# ----------------------------------------------------------------------------------------------
# starting values


def _one_factor(cov: np.ndarray) -> np.ndarray:
    """Loadings (covariance metric) of one principal-axis factor of a small covariance block."""
    k = cov.shape[0]
    sd = np.sqrt(np.clip(np.diag(cov), 1e-12, None))
    r = cov / np.outer(sd, sd)
    if k == 1:
        return sd * 0.8
    if k == 2:
        rr = np.sqrt(abs(r[0, 1]))
        lam = np.array([rr, np.sign(r[0, 1]) * rr if r[0, 1] != 0 else rr])
        return lam * sd
    try:
        smc = 1.0 - 1.0 / np.diag(np.linalg.inv(r))
    except np.linalg.LinAlgError:
        smc = np.full(k, 0.5)
    red = r.copy()
    np.fill_diagonal(red, np.clip(smc, 0.05, 0.995))
    vals, vecs = np.linalg.eigh(red)
    v = vecs[:, -1] * np.sqrt(max(vals[-1], 1e-6))
    if v[0] < 0:
        v = -v
    return v * sd


def start_values(spec: ModelSpec, mom: Moments) -> np.ndarray:
    """Data-based starting values (averaged over groups for shared parameters).

    Loadings from one principal-axis factor per construct rescaled to the marker, residual
    variances half the observed variances (lavaan's default), factor covariances from the
    covariances of the indicators divided by their loadings, second-order loadings from one factor
    of that covariance matrix, intercepts from the sample means, latent means 0.
    """
    G, p, m = spec.groups, spec.p, spec.m
    values = np.zeros((G, len(spec.par)))
    for g in range(G):
        S = mom.cov[g]
        lam = np.zeros((p, m))
        phi = np.zeros((m, m))
        for j in range(spec.n_first):
            inds = list(spec.indicators[j])
            l = _one_factor(S[np.ix_(inds, inds)])
            marker = l[0] if abs(l[0]) > 1e-6 else 1e-6
            lam[inds, j] = l / marker
            phi[j, j] = marker ** 2
        for j in range(spec.n_first):
            for k in range(j):
                ij, ik = list(spec.indicators[j]), list(spec.indicators[k])
                # least squares for S_jk ~ phi_jk lambda_j lambda_k'
                outer = np.outer(lam[ij, j], lam[ik, k])
                denom = float((outer ** 2).sum())
                val = float((S[np.ix_(ij, ik)] * outer).sum() / denom) if denom > 0 else 0.0
                phi[j, k] = phi[k, j] = val
        beta = np.zeros((m, m))
        psi = np.diag(np.diag(phi)).astype(float)
        for h in range(spec.n_first, m):
            lower = list(spec.indicators[h])
            block = phi[np.ix_(lower, lower)]
            l = _one_factor(block)
            marker = l[0] if abs(l[0]) > 1e-6 else 1e-6
            beta[lower, h] = l / marker
            psi[h, h] = marker ** 2
            for i, f in enumerate(lower):
                psi[f, f] = max(phi[f, f] - l[i] ** 2, 0.1 * phi[f, f])
        for j in spec.exogenous:
            for k in spec.exogenous:
                if j < spec.n_first and k < spec.n_first and j != k:
                    psi[j, k] = phi[j, k]
        for e in np.flatnonzero(spec.group == g):
            kind, r, c = spec.kind[e], spec.row[e], spec.col[e]
            if kind == LAMBDA:
                v = lam[r, c]
            elif kind == BETA:
                v = beta[r, c]
            elif kind == PSI:
                v = psi[r, c] if r != c else max(psi[r, r], 0.05)
            elif kind == THETA:
                v = 0.5 * S[r, r] if r == c else 0.0
            elif kind == NU:
                v = mom.mean[g, r]
            else:
                v = 0.0
            values[g, e] = v
    mask = spec.group[None, :] == np.arange(G)[:, None]
    entry_vals = (values * mask).sum(axis=0)
    counts = np.bincount(spec.par, minlength=spec.n_par)
    start = np.bincount(spec.par, weights=entry_vals, minlength=spec.n_par) / counts
    # keep the start admissible: shrink covariances until Psi and Sigma are positive definite
    for _ in range(30):
        imp = matrices(spec, start)
        ok = np.all(np.linalg.eigvalsh(imp.psi)[:, 0] > 0) and \
            np.all(np.linalg.eigvalsh(imp.sigma)[:, 0] > 0)
        if ok:
            break
        off = (spec.kind == PSI) & (spec.row != spec.col)
        start[np.unique(spec.par[off])] *= 0.5
    return start


# ----------------------------------------------------------------------------------------------
# estimation


@dataclass
class Estimate:
    theta: np.ndarray
    fmin: float
    converged: bool
    iterations: int
    message: str


def estimate(spec: ModelSpec, mom: Moments, start: np.ndarray | None = None,
             max_iter: int = 100, gtol: float = 1e-7) -> Estimate:
    """Minimise F: Fisher scoring with backtracking, quasi-Newton steps near the optimum.

    Far from the optimum the step uses the expected Hessian (2 x information, positive definite
    for an identified model). Fisher scoring converges only linearly when the model misfits
    (expected and observed Hessians then differ), so once the largest gradient element is below
    1e-3 the expected Hessian seeds BFGS updates, which converge superlinearly. Converged when
    the largest gradient element is below ``gtol`` (F is O(1), so parameters are then accurate
    to about 1e-7; lavaan's ``nlminb`` stops at a relative change of F of 1e-10), or when F no
    longer changes in floating point while the gradient is below 1e-5. Not converged when the
    estimates exceed 10^4 x the largest item variance or ``max_iter`` steps are used up; when
    instead no step can decrease F before convergence, SciPy's BFGS gets a try.
    """
    theta = start_values(spec, mom) if start is None else np.asarray(start, float).copy()
    f = objective(spec, mom, theta)
    if not np.isfinite(f):
        return Estimate(theta, np.inf, False, 0, "the starting values give a non-positive-"
                        "definite implied covariance matrix")
    converged = False
    diverged = False
    bound = 1e4 * max(1.0, float(np.max(np.diagonal(mom.cov, axis1=1, axis2=2))),
                      float(np.max(np.abs(mom.mean))) if spec.meanstructure else 1.0)
    it = 0
    quasi: np.ndarray | None = None
    prev_grad = prev_step = None
    stalled = 0
    for it in range(1, max_iter + 1):
        grad, info = gradient_information(spec, mom, theta, need_info=quasi is None)
        gmax = float(np.max(np.abs(grad)))
        if not np.isfinite(gmax):
            break
        if gmax < gtol:
            converged = True
            break
        if quasi is None:
            hess = 2.0 * info
            if gmax < 1e-3:
                quasi = hess.copy()
        else:
            y = grad - prev_grad
            ys = float(y @ prev_step)
            if ys > 1e-300:
                hs = quasi @ prev_step
                quasi = quasi + np.outer(y, y) / ys - np.outer(hs, hs) / float(prev_step @ hs)
            hess = quasi
        try:
            step = -np.linalg.solve(hess, grad)
        except np.linalg.LinAlgError:
            step = -np.linalg.lstsq(hess, grad, rcond=None)[0]
        if not np.all(np.isfinite(step)):
            break
        slope = float(grad @ step)
        if slope >= 0:           # not a descent direction: steepest descent
            step = -grad
            slope = float(grad @ step)
        t = 1.0
        new_f = np.inf
        cand = theta
        while t > 1e-12:
            cand = theta + t * step
            new_f = objective(spec, mom, cand)
            if np.isfinite(new_f) and new_f <= f + 1e-4 * t * slope:
                break
            t *= 0.5
        if not (np.isfinite(new_f) and new_f <= f + 1e-4 * t * slope):
            if new_f <= f and np.isfinite(new_f):
                theta, f = cand, new_f
            # no decrease along the step: at the optimum to machine precision if flat
            converged = gmax < 1e-6
            break
        prev_grad, prev_step = grad, cand - theta
        stalled = stalled + 1 if f - new_f <= 4 * np.finfo(float).eps * max(1.0, abs(f)) else 0
        theta, f = cand, new_f
        if stalled >= 3 and gmax < 1e-5:
            converged = True
            break
        if float(np.max(np.abs(theta))) > bound:
            diverged = True      # estimates running off (e.g. a Heywood case in a tiny sample)
            break
    if diverged:
        return Estimate(theta, f, False, it, "diverged: estimates grew without bound")
    if not converged and it >= max_iter:
        # well-posed CFA models converge in a few dozen steps; still moving after max_iter
        # means a drifting (e.g. Heywood) solution, which another optimiser would not cure
        return Estimate(theta, f, False, it, f"did not converge in {max_iter} iterations")
    if not converged:
        from scipy.optimize import minimize  # optional path only

        res = minimize(lambda th: objective(spec, mom, th), theta, method="BFGS",
                       jac=lambda th: gradient_information(spec, mom, th, need_info=False)[0],
                       options={"gtol": 1e-8, "maxiter": 200})
        if np.isfinite(res.fun) and res.fun <= f + 1e-12:
            theta, f = res.x, float(res.fun)
        grad, _ = gradient_information(spec, mom, theta, need_info=False)
        converged = bool(np.all(np.isfinite(grad)) and np.max(np.abs(grad)) < 1e-5)
        return Estimate(theta, f, converged, it + int(res.nit),
                        "converged (BFGS)" if converged else "did not converge")
    return Estimate(theta, f, True, it, "converged")
