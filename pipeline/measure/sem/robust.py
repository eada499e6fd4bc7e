"""MLR: Huber-White (and cluster-robust) SEs, the Yuan-Bentler-Mplus scaled test and the robust
CFI/TLI/RMSEA, as lavaan 0.6 computes them (``estimator = "MLR"``), complete data or FIML.

Pieces, in lavaan's names (all per observation, "unit" information):

* casewise scores of the saturated moments (mu, vech Sigma) at given (mu, Sigma), pattern by
  pattern (``lav_mvnorm_missing_scores_mu_vech_sigma``); B = crossprod(scores) / N, or with
  ``cluster =`` the scores summed within clusters and scaled by sqrt(C / (C - 1));
* Delta = d(mu, vech Sigma) / d theta;
* A1 = the observed information of the saturated model at the H1 moments (complete data: the
  expected one, which equals it there; FIML: ``lav_mvnorm_missing_logl_hessian_samplestats``);
* E = the observed information of the model (Hessian, lavaan's default for MLR), B0 = Delta' B
  Delta at the model-implied moments;
* vcov = E^-1 B0 E^-1 / N; trace(U Gamma) = tr(B1 A1^-1) - tr(B0 E^-1), scaling factor
  c = trace / df, chisq_scaled = chisq / c (``lav_test_yuan_bentler_mplus_trace``);
* robust CFI/TLI/RMSEA (Brosseau-Liard & Savalei 2014; Brosseau-Liard, Savalei & Li 2012) with
  c-hat = c of the model and of the baseline model; under FIML lavaan's FIML-corrected version
  (Zhang & Savalei 2023; ``lav_fit_fiml_corrected``, V3 for MLR, V6 for ML).

Vech order is lavaan's (column-wise lower triangle); the scores are computed in row chunks, so
10^6 rows never make more than a chunk of p + p(p+1)/2 columns.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.measure.sem import engine as _eng
from pipeline.measure.sem import fiml as _fiml


def vech_index(p: int) -> tuple[np.ndarray, np.ndarray]:
    """(row, col) of lavaan's vech: column-wise lower triangle (row >= col)."""
    cols, rows = np.triu_indices(p)   # (col <= row) enumerated column-major
    return rows, cols


def _cluster_matrix(codes: np.ndarray):
    from scipy import sparse  # noqa: PLC0415 -- only with cluster

    n = len(codes)
    uniq, inv = np.unique(codes, return_inverse=True)
    return sparse.csr_matrix((np.ones(n), (inv.reshape(-1), np.arange(n))),
                             shape=(len(uniq), n)), len(uniq)


def score_crossprod(x: np.ndarray, mu: np.ndarray, sigma: np.ndarray, meanstructure: bool,
                    cluster: np.ndarray | None = None, chunk: int = 20_000,
                    columns: np.ndarray | None = None) -> np.ndarray:
    """First-order information of the saturated moments: crossprod of casewise scores / N.

    ``x`` rows with NaN = missing (rows with no answer must be removed beforehand);
    ``columns`` restricts the result to those score columns (the others are not needed).

    A row's score is ``u_i - v_k`` with ``u_i = [z, vech(z z')]`` (diagonal halved),
    ``z = K_k (y_i - mu)`` and ``v_k = [0, vech K_k]`` for its pattern k. Rows are taken in
    pattern order, so z is one BLAS product per pattern segment, and without clusters
    ``sum (u - v)(u - v)' = sum u u' - sum_k (U_k v_k' + v_k U_k' - n_k v_k v_k')`` with U_k the
    pattern's sum of u: no per-row subtraction. With clusters the scores are summed within
    clusters first (sparse indicator product) and scaled by sqrt(C / (C - 1)), as lavaan.
    """
    x = np.asarray(x, float)
    n, p = x.shape
    vr, vc = vech_index(p)
    diag = vr == vc
    q_all = len(vr) + (p if meanstructure else 0)
    cols = np.arange(q_all) if columns is None else np.asarray(columns)
    q = len(cols)
    inverse, masks = _fiml.pattern_codes(x)
    inv_all = _fiml.embedded_inverse(sigma, masks)
    if inv_all is None:
        return np.full((q, q), np.nan)
    kinv = inv_all[0]
    K = len(masks)
    v = np.zeros((K, q_all))
    kv = kinv[:, vr, vc]
    kv[:, diag] *= 0.5
    v[:, (p if meanstructure else 0):] = kv
    v = v[:, cols]
    order = np.argsort(inverse, kind="stable")
    pats_sorted = inverse[order]
    out = np.zeros((q, q))
    u_sum = np.zeros((K, q))
    counts = np.bincount(inverse, minlength=K).astype(float)
    sums = csr = None
    if cluster is not None:
        csr, n_cl = _cluster_matrix(np.asarray(cluster)[order])
        sums = np.zeros((n_cl, q))
    for lo in range(0, n, chunk):
        hi = min(n, lo + chunk)
        rows = order[lo:hi]
        pats = pats_sorted[lo:hi]
        yc = np.nan_to_num(x[rows] - mu, nan=0.0)
        z = np.empty_like(yc)
        bounds = np.flatnonzero(np.r_[True, pats[1:] != pats[:-1], True])
        for a, b in zip(bounds[:-1], bounds[1:]):
            np.matmul(yc[a:b], kinv[pats[a]], out=z[a:b])
        u = z[:, vr] * z[:, vc]
        u[:, diag] *= 0.5
        if meanstructure:
            u = np.concatenate([z, u], axis=1)
        if columns is not None:
            u = u[:, cols]
        if sums is None:
            out += u.T @ u
            np.add.at(u_sum, pats[bounds[:-1]], np.add.reduceat(u, bounds[:-1], axis=0))
        else:
            sums += csr[:, lo:hi] @ (u - v[pats])
    if sums is None:
        cross = u_sum.T @ v
        out -= cross + cross.T
        out += (v.T * counts) @ v
    else:
        sums *= np.sqrt(len(sums) / (len(sums) - 1.0)) if len(sums) > 1 else 1.0
        out = sums.T @ sums
    return out / n


def delta(spec: _eng.ModelSpec, theta: np.ndarray, meanstructure: bool) -> np.ndarray:
    """d(mu, vech Sigma)/d theta, (q, P)."""
    imp = _eng.matrices(spec, theta)
    ent = _eng.free_entries(spec)
    a, b, s, dmu = _eng.entry_vectors(spec, imp, ent, 0, np.arange(len(ent)))
    vr, vc = vech_index(spec.p)
    dsig = s[:, None] * (a[:, vr] * b[:, vc] + b[:, vr] * a[:, vc])       # (E, q_s)
    d_e = np.concatenate([dmu, dsig], axis=1) if meanstructure else dsig
    out = np.zeros((d_e.shape[1], spec.n_par))
    np.add.at(out.T, spec.par, d_e)
    return out


def _dkd(A: np.ndarray, B: np.ndarray, vr, vc) -> np.ndarray:
    """D'(A kron B)D in vech coordinates for symmetric A, B (stacked over a leading axis)."""
    c = np.where(vr == vc, 0.5, 1.0)
    i, j = vr, vc
    t = (A[..., j[:, None], j[None, :]] * B[..., i[:, None], i[None, :]]
         + A[..., j[:, None], i[None, :]] * B[..., i[:, None], j[None, :]]
         + A[..., i[:, None], j[None, :]] * B[..., j[:, None], i[None, :]]
         + A[..., i[:, None], i[None, :]] * B[..., j[:, None], j[None, :]])
    return t * c[:, None] * c[None, :]


def expected_h1(sigma: np.ndarray, meanstructure: bool) -> np.ndarray:
    """Unit expected information of the saturated normal model at Sigma."""
    p = sigma.shape[0]
    vr, vc = vech_index(p)
    k = np.linalg.inv(sigma)
    a22 = 0.5 * _dkd(k, k, vr, vc)
    if not meanstructure:
        return a22
    q = p + len(vr)
    out = np.zeros((q, q))
    out[:p, :p] = k
    out[p:, p:] = a22
    return out


def observed_h1_missing(pat: _fiml.Patterns, mu: np.ndarray, sigma: np.ndarray
                        ) -> np.ndarray:
    """Unit observed information of the saturated model under FIML (with mean structure),
    lavaan's ``lav_mvnorm_missing_logl_hessian_samplestats`` / N.

    Per pattern: ``H11 = K``, ``H21 = D'(K d (x) K)``, ``H22 = 1/2 D'(K (x) K (2 W - Sigma_oo)
    K) D``; the sum over patterns of the Kronecker products is one BLAS product of the
    flattened per-pattern matrices, then D' . D is a gather."""
    p = pat.p
    vr, vc = vech_index(p)
    qs = len(vr)
    kinv, _ = _fiml.embedded_inverse(sigma, pat.mask)
    d = np.where(pat.mask, pat.mean - mu, 0.0)
    t21 = np.einsum("kij,kj->ki", kinv, d)
    wt = pat.cov + d[:, :, None] * d[:, None, :]
    sig_o = np.where(pat.mask[:, :, None] & pat.mask[:, None, :], sigma, 0.0)
    t22 = kinv @ (2.0 * wt - sig_o) @ kinv
    f = pat.n
    K = len(f)
    h11 = np.einsum("k,kij->ij", f, kinv)
    c = np.where(vr == vc, 0.5, 1.0)
    # sum_k f_k t21_k[c] K_k[r, col] -> (p, p, p): [c, r, col]
    s21 = ((t21.T * f) @ kinv.reshape(K, p * p)).reshape(p, p, p)
    h21 = (s21[vc, vr, :] + s21[vr, vc, :]) * c[:, None]
    # sum_k f_k K_k[c, c'] T22_k[r, r'] -> [c, c', r, r']
    s22 = ((kinv.reshape(K, p * p).T * f) @ t22.reshape(K, p * p)).reshape(p, p, p, p)
    i, j = vr, vc
    I, J = i[:, None], j[:, None]
    k_, l_ = i[None, :], j[None, :]
    h22 = (s22[J, l_, I, k_] + s22[J, k_, I, l_] + s22[I, l_, J, k_] + s22[I, k_, J, l_]) \
        * (c[:, None] * c[None, :]) * 0.5
    out = np.zeros((p + qs, p + qs))
    out[:p, :p] = h11
    out[p:, :p] = h21
    out[:p, p:] = h21.T
    out[p:, p:] = h22
    return out / pat.n_total


def numeric_information(grad, theta: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """0.5 x the Hessian of F from its analytic gradient (lavaan's 4-point rule)."""
    k = len(theta)
    hess = np.empty((k, k))
    for j in range(k):
        g = []
        for st in (-2.0, -1.0, 1.0, 2.0):
            x = theta.copy()
            x[j] += st * h
            g.append(grad(x))
        hess[:, j] = (g[0] - 8 * g[1] + 8 * g[2] - g[3]) / (12 * h)
    return 0.25 * (hess + hess.T)


@dataclass
class Robust:
    vcov: np.ndarray
    b1: np.ndarray
    trace: float
    scaling_factor: float
    chisq_scaled: float
    pvalue_scaled: float
    c_null: float
    fimlc: dict | None


def _safe_inv(m):
    try:
        return np.linalg.inv(m)
    except np.linalg.LinAlgError:
        return np.linalg.pinv(m)


def mlr(spec, theta, info_obs, x, n, chisq, df, *, h1_mean, h1_cov, pat=None,
        meanstructure: bool, cluster=None, x2_null=None) -> Robust:
    """The MLR pieces for a fitted single-group model.

    ``info_obs`` the model's unit observed information; ``x`` the rows used (NaN allowed under
    FIML); ``h1_mean, h1_cov`` the saturated moments (sample or EM); ``pat`` the patterns under
    FIML (None for complete data)."""
    from scipy.special import chdtrc  # noqa: PLC0415

    imp = _eng.matrices(spec, theta)
    mu_model = imp.mu[0] if spec.meanstructure else h1_mean
    dl = delta(spec, theta, meanstructure)
    b_model = score_crossprod(x, mu_model, imp.sigma[0], meanstructure, cluster)
    b0 = dl.T @ b_model @ dl
    e_inv = _safe_inv(info_obs)
    vcov = e_inv @ b0 @ e_inv / n
    b1 = score_crossprod(x, h1_mean, h1_cov, meanstructure, cluster)
    a1 = observed_h1_missing(pat, h1_mean, h1_cov) if pat is not None else \
        expected_h1(h1_cov, meanstructure)
    a1_inv = _safe_inv(a1)
    trace = float(np.sum(b1 * a1_inv.T) - np.sum(b0 * e_inv.T))
    c = trace / df if df > 0 else np.nan
    if not c > 0:
        c = np.nan
    x2s = chisq / c if np.isfinite(c) else np.nan
    pv = float(chdtrc(df, x2s)) if np.isfinite(x2s) and df > 0 else np.nan
    # baseline (independence) model: diagonal Sigma (+ free means)
    p = spec.p
    vr, vc = vech_index(p)
    v = np.diag(h1_cov) if pat is None else None
    c_null = np.nan
    if pat is None:
        mu_b = h1_mean
        sig_b = np.diag(v)
        d_b = _baseline_delta(p, meanstructure)
        e_b = d_b.T @ expected_h1(sig_b, meanstructure) @ d_b
    else:
        # the independence model under FIML: available-case means and variances; its observed
        # information is diagonal at that optimum (n_j / (N v_j), n_j / (2 N v_j^2))
        nj = (pat.n[:, None] * pat.mask).sum(axis=0)
        mu_b = (pat.n[:, None] * pat.mean).sum(axis=0) / nj
        v = (pat.n[:, None] * (np.diagonal(pat.cov, axis1=1, axis2=2)
                               + np.where(pat.mask, pat.mean - mu_b, 0.0) ** 2)).sum(axis=0) / nj
        sig_b = np.diag(v)
        d_b = _baseline_delta(p, True)
        e_b = np.diag(np.r_[nj / (n * v), nj / (2.0 * n * v ** 2)])
    used = np.flatnonzero(np.any(d_b != 0, axis=1))     # the means and variances
    b_null = score_crossprod(x, mu_b, sig_b, meanstructure, cluster, columns=used)
    b0_b = d_b[used].T @ b_null @ d_b[used]
    df_b = p * (p - 1) // 2
    tr_b = float(np.sum(b1 * a1_inv.T) - np.sum(b0_b * _safe_inv(e_b).T))
    c_null = tr_b / df_b if df_b > 0 else np.nan
    return Robust(vcov, b1, trace, c, x2s, pv, c_null, None)


def _baseline_delta(p: int, meanstructure: bool) -> np.ndarray:
    vr, vc = vech_index(p)
    qs = len(vr)
    diag_pos = np.flatnonzero(vr == vc)
    if meanstructure:
        d = np.zeros((p + qs, 2 * p))
        d[np.arange(p), np.arange(p)] = 1.0
        d[p + diag_pos, p + np.arange(p)] = 1.0
    else:
        d = np.zeros((qs, p))
        d[diag_pos, np.arange(p)] = 1.0
    return d


def fiml_corrected(spec, theta, pat: _fiml.Patterns, x, h1_mean, h1_cov, n, df, df_b,
                   scaled: bool, base_mean, base_var, cluster=None, jm=None) -> dict:
    """lavaan's ``lav_fit_fiml_corrected`` (V3 when ``scaled``, else V6): the complete-data
    chi-squares of the model and the baseline at their FIML estimates against the EM moments,
    and their FIML-corrected c-hat values."""
    imp = _eng.matrices(spec, theta)
    p = spec.p
    wm = observed_h1_missing(pat, h1_mean, h1_cov)
    wmi = _safe_inv(wm)
    wc = expected_h1(h1_cov, True)
    dl = delta(spec, theta, True)
    e_inv = _safe_inv(dl.T @ wm @ dl)

    def x2_at(sigma, mu):
        k = np.linalg.inv(sigma)
        d = h1_mean - mu
        return n * float(np.linalg.slogdet(sigma)[1] + np.trace(h1_cov @ k)
                         - np.linalg.slogdet(h1_cov)[1] - p + d @ k @ d)

    xx3 = x2_at(imp.sigma[0], imp.mu[0])
    if scaled:
        if jm is None:
            jm = score_crossprod(x, h1_mean, h1_cov, True, cluster)
        gamma = wmi @ jm @ wmi

    def k_of(d_, e_inv_):
        u = wm - wm @ d_ @ e_inv_ @ d_.T @ wm
        if scaled:
            return float(np.trace(u @ wmi @ wc @ wmi @ u @ gamma))
        return float(np.trace(wc @ wmi @ u @ wmi))

    c3 = k_of(dl, e_inv) / df if df > 0 else np.nan
    d_b = _baseline_delta(p, True)
    e_inv_b = _safe_inv(d_b.T @ wm @ d_b)
    xx3_null = x2_at(np.diag(base_var), base_mean)
    c3_null = k_of(d_b, e_inv_b) / df_b if df_b > 0 else np.nan
    return {"XX3": xx3, "c3": c3, "XX3_null": xx3_null, "c3_null": c3_null,
            "XX3_scaled": xx3 / c3 if c3 and np.isfinite(c3) else np.nan}


def cfi(x2, df, x2_b, df_b, c=1.0, c_b=1.0) -> float:
    if not np.all(np.isfinite([x2, df, x2_b, df_b, c, c_b])):
        return np.nan
    if df > 0 and c != 1 and c_b != 1:
        t1 = max(x2 - c * df, 0.0)
        t2 = max(x2 - c * df, x2_b - c_b * df_b, 0.0)
    else:
        t1 = max(x2 - df, 0.0)
        t2 = max(x2 - df, x2_b - df_b, 0.0)
    if np.isclose(t1, 0.0, atol=1.5e-8) and np.isclose(t2, 0.0, atol=1.5e-8):
        return 1.0
    return float(1.0 - t1 / t2)


def tli(x2, df, x2_b, df_b, c=1.0, c_b=1.0) -> float:
    if not np.all(np.isfinite([x2, df, x2_b, df_b, c, c_b])):
        return np.nan
    if df > 0 and c != 1 and c_b != 1:
        t1 = (x2 - c * df) * df_b
        t2 = (x2_b - c_b * df_b) * df
    else:
        t1 = (x2 - df) * df_b
        t2 = (x2_b - df_b) * df
    return float(1.0 - t1 / t2) if df > 0 and abs(t2) > 0 else 1.0


def rmsea(x2, df, n, c=1.0) -> float:
    if not np.all(np.isfinite([x2, df, c])):
        return np.nan
    return float(np.sqrt(max(x2 / n / df - c / n, 0.0))) if df > 0 else 0.0


def rmsea_ci(x2, df, n, c=1.0, level=0.90) -> list[float]:
    """lavaan's lav_fit_rmsea_ci with c-hat."""
    from pipeline.measure.sem.indices import rmsea_ci as _ci  # noqa: PLC0415

    if not np.all(np.isfinite([x2, df, c])):
        return [np.nan, np.nan]
    lo, hi = _ci(x2, df, n, 1, level)
    # _ci returns sqrt(lambda / (n df)); lavaan multiplies lambda by c-hat
    return [float(lo * np.sqrt(c)), float(hi * np.sqrt(c))]
