"""Mediation (parallel mediators, Hayes PROCESS model 4) and moderated mediation (model 7).

Regressions (ordinary least squares, as PROCESS and R's ``lm``)::

    m_k ~ x [+ w + x:w] + covariates              a-paths (a1_k, a3_k)
    y   ~ x + m_1 + ... + m_K + covariates        b-paths (b_k) and the direct effect c'
    y   ~ x + covariates                          the total effect c

indirect effect of x through m_k = a1_k * b_k (model 4); with a moderator w of the a-path the
conditional indirect effect at w is (a1_k + a3_k w) b_k and the index of moderated mediation is
a3_k * b_k (Hayes, 2015).  Note that ``y ~ m`` always includes x: pingouin's mediation table
leaves x out of that row, which gives a different b.

Bootstrap (percentile and bias-corrected CIs) is vectorised: every resample is a vector of
multiplicities c (how often each row was drawn), so the cross-product matrix of all model
variables for the resample is ``c @ P`` with ``P`` the row-wise products of the (column-
standardised) variables -- one matrix product per block of draws -- and each regression is a
batched small solve.  5,000 draws at n = 2,000 take well under a second.  Draws are generated in
blocks whose size depends only on n (a power of two in [64, 1024] with block x n <= 2^21, so a
block's multiplicity matrix stays under 16 MB and each matrix product is large enough for BLAS to
run efficiently), block b from ``numpy.random.default_rng(SeedSequence(seed, spawn_key=(b,)))``:
results for a seed and data set do not depend on how blocks are batched.

Bias-corrected interval (Efron, 1982; PROCESS's default "bc"): z0 = Phi^-1(share of draws below
the estimate); the interval is the bootstrap quantiles at Phi(2 z0 -+ z_{1-alpha/2}).  Quantiles
are R's type 7 (``quantile(t, p)``).

References
----------
Hayes, A. F. (2015). An index and test of linear moderated mediation. Multivariate Behavioral
Research, 50(1), 1-22.
Preacher, K. J., & Hayes, A. F. (2008). Asymptotic and resampling strategies for assessing and
comparing indirect effects in multiple mediator models. Behavior Research Methods, 40, 879-891.
Efron, B. (1982). The jackknife, the bootstrap and other resampling plans. SIAM.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import special as sp

__all__ = ["BLOCK", "MediationResult", "mediation_effects"]

BLOCK = 64  # smallest block of draws


def block_size(n: int) -> int:
    """Draws per RNG block for n rows: a power of two in [64, 1024] with block * n <= 2**21."""
    b = 1024
    while b > BLOCK and b * n > 2 ** 21:
        b //= 2
    return b


def _ols(R: np.ndarray, y: np.ndarray, clusters: np.ndarray | None = None, kind: str = "CR1"):
    """OLS with classical SEs, or cluster-robust SEs when ``clusters`` (codes 0..G-1) are given:
    ``kind`` "CR1" (``sandwich::vcovCL(fit, cluster = ~g, type = "HC1")``, t with G - 1 df as
    the model's CR1 tests) or "CR2" (``clubSandwich::coef_test(fit, vcov = "CR2", test =
    "Satterthwaite")``: Satterthwaite df per coefficient): (coef, se, t, p, df), df an array."""
    n, p = R.shape
    Q, Rr = np.linalg.qr(R)
    coef = np.linalg.solve(Rr, Q.T @ y)
    resid = y - R @ coef
    df = np.full(p, float(n - p))
    Rinv = np.linalg.inv(Rr)
    if clusters is None:
        s2 = float(resid @ resid) / (n - p)
        se = np.sqrt(np.sum(Rinv * Rinv, axis=1) * s2)
    elif kind == "CR2":
        from pipeline.models.clustered import cr2  # noqa: PLC0415
        from pipeline.models.estimation import fit_lm  # noqa: PLC0415

        obj = cr2(fit_lm(R, y), R, clusters)
        se = np.sqrt(np.maximum(np.diag(obj.vcov), 0.0))
        df = np.asarray(obj.df(np.eye(p)), dtype=float)
    else:
        G = int(clusters.max()) + 1
        S = R * resid[:, None]
        U = np.column_stack([np.bincount(clusters, weights=S[:, j], minlength=G) for j in range(p)])
        B = Rinv @ Rinv.T
        adj = G / (G - 1.0) * (n - 1.0) / (n - p) if G > 1 else float("nan")
        se = np.sqrt(np.diag(adj * (B @ (U.T @ U) @ B)))
        df = np.full(p, float(G - 1))
    t = coef / se
    pval = 2.0 * sp.stdtr(df, -np.abs(t))
    return coef, se, t, pval, df


def _quantile7(x: np.ndarray, probs) -> list[float]:
    return [float(v) for v in np.quantile(x, probs)]


def _ci(boot: np.ndarray, est: float, level: float) -> dict:
    ok = boot[np.isfinite(boot)]
    alpha = 1.0 - level
    out = {"estimate": est, "boot_se": float(np.std(ok, ddof=1)) if len(ok) > 1 else None,
           "ci_percentile": _quantile7(ok, [alpha / 2, 1 - alpha / 2]) if len(ok) else [None, None]}
    prop = float(np.mean(ok < est)) if len(ok) else float("nan")
    if 0.0 < prop < 1.0:
        z0 = float(sp.ndtri(prop))
        zlo, zhi = sp.ndtri(alpha / 2), sp.ndtri(1 - alpha / 2)
        out["ci_bias_corrected"] = _quantile7(ok, [float(sp.ndtr(2 * z0 + zlo)), float(sp.ndtr(2 * z0 + zhi))])
    else:
        out["ci_bias_corrected"] = [None, None]
    return out


@dataclass(frozen=True)
class MediationResult:
    x: str
    y: str
    m: tuple[str, ...]
    moderator: str | None
    covariates: tuple[str, ...]
    n: int
    n_dropped: int
    n_boot: int
    n_boot_failed: int
    seed: int
    ci_level: float
    paths: dict
    total_effect: dict
    direct_effect: dict
    indirect: dict
    index_of_moderated_mediation: dict | None
    conditional_indirect: dict | None
    model: str
    resampling: str = "rows"  # rows | clusters (what the bootstrap draws with replacement)
    n_clusters: int | None = None
    path_se: str = "classical"  # classical | CR1 | CR2 (the a/b/c paths' standard errors)
    warnings: tuple[str, ...] = ()
    boot_draws: dict = field(default_factory=dict, repr=False, compare=False)

    def effects_table(self) -> pd.DataFrame:
        """Tidy bootstrap effects: effect, mediator, at, moderator_value, estimate, boot_se,
        ci_percentile_low/high, ci_bc_low/high (indirect effects; for model 7 the index of
        moderated mediation and the conditional indirect effects)."""
        rows = []

        def add(effect, m, rec, at=None, w=None):
            rows.append({"effect": effect, "mediator": m, "at": at, "moderator_value": w,
                         "estimate": rec["estimate"], "boot_se": rec["boot_se"],
                         "ci_percentile_low": rec["ci_percentile"][0], "ci_percentile_high": rec["ci_percentile"][1],
                         "ci_bc_low": rec["ci_bias_corrected"][0], "ci_bc_high": rec["ci_bias_corrected"][1]})

        for m, rec in self.indirect.items():
            add("indirect", m, rec)
        for m, rec in (self.index_of_moderated_mediation or {}).items():
            add("index of moderated mediation", m, rec)
        for m, recs in (self.conditional_indirect or {}).items():
            for rec in recs:
                add("conditional indirect", m, rec, rec["at"], rec["moderator_value"])
        return pd.DataFrame(rows)

    def to_dict(self) -> dict:
        from pipeline.jsonvalues import plain as _clean

        return _clean({
            "model": self.model, "x": self.x, "y": self.y, "m": list(self.m),
            "moderator": self.moderator, "covariates": list(self.covariates), "n": self.n,
            "n_dropped": self.n_dropped, "n_boot": self.n_boot, "n_boot_failed": self.n_boot_failed,
            "seed": self.seed, "ci_level": self.ci_level, "resampling": self.resampling,
            "clusters": self.n_clusters, "path_se": self.path_se, "paths": self.paths,
            "total_effect": self.total_effect, "direct_effect": self.direct_effect,
            "indirect": self.indirect,
            "index_of_moderated_mediation": self.index_of_moderated_mediation,
            "conditional_indirect": self.conditional_indirect,
            "warnings": list(self.warnings),
        })


def _counts_block(seed: int, block: int, n: int) -> np.ndarray:
    size = block_size(n)
    rng = np.random.default_rng(np.random.SeedSequence(entropy=seed, spawn_key=(block,)))
    dtype = np.int32 if size * n < 2 ** 31 else np.int64
    idx = rng.integers(0, n, size=(size, n), dtype=dtype)
    idx += (np.arange(size, dtype=dtype) * n)[:, None]
    return np.bincount(idx.ravel(), minlength=size * n).reshape(size, n).astype(np.float64)


def bootstrap_counts(seed: int, n: int, n_boot: int, clusters: np.ndarray | None = None) -> np.ndarray:
    """The multiplicity matrix (n_boot, n) of the bootstrap draws for ``seed`` (for tests).

    With ``clusters`` (codes 0..G-1 of the n rows) the draws resample whole clusters: G clusters
    drawn with replacement, each row repeated as often as its cluster was drawn."""
    if clusters is None:
        blocks = -(-n_boot // block_size(n))
        return np.vstack([_counts_block(seed, b, n) for b in range(blocks)])[:n_boot]
    clusters = np.asarray(clusters, dtype=np.int64)
    G = int(clusters.max()) + 1
    blocks = -(-n_boot // block_size(G))
    per_cluster = np.vstack([_counts_block(seed, b, G) for b in range(blocks)])[:n_boot]
    return per_cluster[:, clusters]


def mediation_effects(x: np.ndarray, M: np.ndarray, y: np.ndarray, *, covariates: np.ndarray | None = None,
                      w: np.ndarray | None = None, names: dict | None = None, n_boot: int = 5000,
                      seed: int = 0, ci_level: float = 0.95, n_dropped: int = 0,
                      batch_blocks: int = 8, clusters: np.ndarray | None = None,
                      cluster_se: str = "CR2") -> MediationResult:
    """Indirect effects with bootstrap CIs.

    Parameters
    ----------
    x, y
        Predictor and outcome (n,), complete cases.
    M
        Mediators (n, K).
    covariates
        Covariate design columns (n, k) without intercept, or None.
    w
        Moderator of the a-paths (PROCESS model 7), or None (model 4).
    names
        ``{"x": .., "y": .., "m": [..], "moderator": .., "covariates": [..]}`` labels.
    n_boot, seed, ci_level
        Bootstrap draws, seed, confidence level.
    batch_blocks
        RNG blocks solved together (memory/speed only; results do not depend on it).
    clusters
        Cluster codes (0..G-1) of the rows, or None. With clusters the a- and b-path (and
        total / direct effect) SEs are cluster-robust (``cluster_se``: "CR2" with Satterthwaite
        df, or "CR1" with G - 1 df -- the model's own choice) and the bootstrap resamples whole
        clusters with replacement (G per draw; Field & Welsh 2007's cluster bootstrap), so
        the indirect effects' intervals respect the clustering.

    Returns
    -------
    MediationResult

    Notes
    -----
    R equivalent (model 4, one mediator): ``a <- coef(lm(m ~ x + cov))["x"]``,
    ``b <- coef(lm(y ~ x + m + cov))["m"]``, indirect ``a * b``; the bootstrap resamples rows
    (with clusters: clusters). Path SEs with clusters: ``clubSandwich::coef_test(fit, vcov =
    "CR2", cluster = g, test = "Satterthwaite")``, or with CR1 ``lmtest::coeftest(fit, vcov =
    sandwich::vcovCL(fit, cluster = ~g, type = "HC1"), df = G - 1)``.
    """
    names = names or {}
    n = len(y)
    M = np.asarray(M, dtype=float).reshape(n, -1)
    K = M.shape[1]
    C = np.zeros((n, 0)) if covariates is None else np.asarray(covariates, dtype=float).reshape(n, -1)
    k = C.shape[1]
    moderated = w is not None
    cols = [np.ones(n), x]
    if moderated:
        cols += [w, x * w]
    cols += [C[:, j] for j in range(k)] + [M[:, j] for j in range(K)] + [y]
    V = np.column_stack(cols)
    q = V.shape[1]
    i_x = 1
    i_w, i_xw = (2, 3) if moderated else (None, None)
    off_c = 4 if moderated else 2
    i_c = list(range(off_c, off_c + k))
    i_m = list(range(off_c + k, off_c + k + K))
    i_y = q - 1
    ia = [0, i_x] + ([i_w, i_xw] if moderated else []) + i_c
    ib = [0, i_x] + i_m + i_c
    it = [0, i_x] + i_c

    # point estimates with classical OLS inference
    if clusters is not None:
        clusters = np.unique(np.asarray(clusters), return_inverse=True)[1].reshape(-1)
        n_clusters = int(clusters.max()) + 1 if n else 0
    if cluster_se not in ("CR1", "CR2"):
        raise ValueError(f"cluster_se must be CR1 or CR2, not {cluster_se!r}")
    ca, sea, ta, pa, dfa = zip(*[_ols(V[:, ia], M[:, j], clusters, cluster_se) for j in range(K)])
    cb, seb, tb, pb, dfb = _ols(V[:, ib], y, clusters, cluster_se)
    ct, sect, tt, pt, dft = _ols(V[:, it], y, clusters, cluster_se)
    a1 = np.array([c[1] for c in ca])
    a3 = np.array([c[3] for c in ca]) if moderated else None
    b = cb[2:2 + K]
    mnames = list(names.get("m") or [f"m{j + 1}" for j in range(K)])

    def rec(est, se, t, p, df):
        lo_hi = sp.stdtrit(df, 0.5 + ci_level / 2)
        out = {"estimate": float(est), "se": float(se), "t": float(t), "p": float(p),
               "ci_low": float(est - lo_hi * se), "ci_high": float(est + lo_hi * se)}
        if clusters is not None:
            out["df"] = float(df)
        return out

    paths = {"a": {}, "b": {}}
    for j, mn in enumerate(mnames):
        paths["a"][mn] = rec(ca[j][1], sea[j][1], ta[j][1], pa[j][1], dfa[j][1])
        if moderated:
            paths.setdefault("a_moderator", {})[mn] = rec(ca[j][2], sea[j][2], ta[j][2], pa[j][2], dfa[j][2])
            paths.setdefault("a_interaction", {})[mn] = rec(ca[j][3], sea[j][3], ta[j][3], pa[j][3], dfa[j][3])
        paths["b"][mn] = rec(cb[2 + j], seb[2 + j], tb[2 + j], pb[2 + j], dfb[2 + j])
    direct = rec(cb[1], seb[1], tb[1], pb[1], dfb[1])
    total = rec(ct[1], sect[1], tt[1], pt[1], dft[1])

    # bootstrap on standardised columns (conditioning); slopes are scaled back per column
    mu = V.mean(axis=0)
    sd = V.std(axis=0, ddof=1)
    mu[0], sd[0] = 0.0, 1.0
    sd[sd == 0] = 1.0
    Vs = (V - mu) / sd
    Vs[:, 0] = 1.0
    iu, ju = np.triu_indices(q)
    P = np.ascontiguousarray(Vs[:, iu] * Vs[:, ju])
    units = n
    if clusters is not None:  # a draw's moments are sums of whole clusters' moments
        P = np.column_stack([np.bincount(clusters, weights=P[:, j], minlength=n_clusters)
                             for j in range(P.shape[1])])
        units = n_clusters
    bsize = block_size(units)
    n_blocks = -(-n_boot // bsize)
    a1_b = np.empty((n_blocks * bsize, K))
    a3_b = np.empty((n_blocks * bsize, K)) if moderated else None
    b_b = np.empty((n_blocks * bsize, K))
    scale_a1 = sd[i_m] / sd[i_x]
    scale_a3 = sd[i_m] / sd[i_xw] if moderated else None
    scale_b = sd[i_y] / sd[i_m]
    batch = max(1, int(batch_blocks))
    for start in range(0, n_blocks, batch):
        blocks = range(start, min(start + batch, n_blocks))
        mom_list = []
        for bl in blocks:
            cnt = _counts_block(seed, bl, units)
            mom_list.append(cnt @ P)
        mom = np.vstack(mom_list)
        nb = mom.shape[0]
        S = np.empty((nb, q, q))
        S[:, iu, ju] = mom
        S[:, ju, iu] = mom
        Aa = S[:, ia][:, :, ia]
        ra = S[:, ia][:, :, i_m]
        Ab = S[:, ib][:, :, ib]
        rb = S[:, ib][:, :, [i_y]]
        sa = _batched_solve(Aa, ra)
        sb = _batched_solve(Ab, rb)
        rows = slice(start * bsize, start * bsize + nb)
        a1_b[rows] = sa[:, 1, :] * scale_a1
        if moderated:
            a3_b[rows] = sa[:, 3, :] * scale_a3
        b_b[rows] = sb[:, 2:2 + K, 0] * scale_b
    a1_b, b_b = a1_b[:n_boot], b_b[:n_boot]
    if moderated:
        a3_b = a3_b[:n_boot]
    failed = ~np.isfinite(b_b).all(axis=1) | ~np.isfinite(a1_b).all(axis=1)
    n_failed = int(failed.sum())
    warnings: list[str] = []
    if n_failed:
        warnings.append(f"{n_failed} of {n_boot} bootstrap resamples had a singular design (a variable "
                        "constant in the resample) and were left out of the bootstrap intervals.")
    if clusters is not None and n_clusters < 20:
        warnings.append(f"The mediation bootstrap resamples {n_clusters} clusters; with fewer than "
                        "about 20 clusters cluster-bootstrap intervals tend to be too narrow, so "
                        "read them as approximate.")

    indirect: dict = {}
    boot_draws: dict = {}
    index = None
    conditional = None
    mod_values = None
    if not moderated:
        ind_b = a1_b * b_b
        for j, mn in enumerate(mnames):
            indirect[mn] = _ci(ind_b[:, j], float(a1[j] * b[j]), ci_level)
            boot_draws[mn] = ind_b[:, j]
        if K > 1:
            indirect["total"] = _ci(ind_b.sum(axis=1), float(np.sum(a1 * b)), ci_level)
            boot_draws["total"] = ind_b.sum(axis=1)
    else:
        wm, ws = float(np.mean(w)), float(np.std(w, ddof=1))
        mod_values = [("-1 SD", wm - ws), ("mean", wm), ("+1 SD", wm + ws)]
        index = {}
        conditional = {}
        for j, mn in enumerate(mnames):
            ib_draw = a3_b[:, j] * b_b[:, j]
            index[mn] = _ci(ib_draw, float(a3[j] * b[j]), ci_level)
            boot_draws["index:" + mn] = ib_draw
            conditional[mn] = []
            for label, val in mod_values:
                d = (a1_b[:, j] + a3_b[:, j] * val) * b_b[:, j]
                rec_ = _ci(d, float((a1[j] + a3[j] * val) * b[j]), ci_level)
                conditional[mn].append({"at": label, "moderator_value": val, **rec_})
                boot_draws[f"conditional:{mn}:{label}"] = d
        if K > 1:
            conditional["total"] = []
            for label, val in mod_values:
                d = ((a1_b + a3_b * val) * b_b).sum(axis=1)
                est = float(np.sum((a1 + a3 * val) * b))
                conditional["total"].append({"at": label, "moderator_value": val, **_ci(d, est, ci_level)})
    return MediationResult(
        x=names.get("x", "x"), y=names.get("y", "y"), m=tuple(mnames), moderator=names.get("moderator"),
        covariates=tuple(names.get("covariates") or ()), n=n, n_dropped=n_dropped, n_boot=n_boot,
        n_boot_failed=n_failed, seed=seed, ci_level=ci_level, paths=paths, total_effect=total,
        direct_effect=direct, indirect=indirect, index_of_moderated_mediation=index,
        conditional_indirect=conditional, model="PROCESS model 7" if moderated else "PROCESS model 4",
        resampling="clusters" if clusters is not None else "rows",
        n_clusters=n_clusters if clusters is not None else None,
        path_se=cluster_se if clusters is not None else "classical",
        warnings=tuple(warnings), boot_draws=boot_draws)


def _batched_solve(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    try:
        return np.linalg.solve(A, B)
    except np.linalg.LinAlgError:
        out = np.full(B.shape, np.nan)
        for i in range(A.shape[0]):
            try:
                out[i] = np.linalg.solve(A[i], B[i])
            except np.linalg.LinAlgError:
                pass
        return out
