"""Cluster-robust covariances for few clusters: CR2 with Satterthwaite df (clubSandwich), CR1.

``cr2(fit, X, codes)`` reproduces ``clubSandwich::vcovCR(fit, cluster, type = "CR2")`` and the
Satterthwaite degrees of freedom of ``clubSandwich::coef_test(fit, vcov, test = "Satterthwaite")``
(and of ``linear_contrast`` for any contrast, used for simple slopes) for ``lm`` (with or
without weights) and for ``glm`` / ``MASS::glm.nb`` fits, following clubSandwich 0.5.x's code:

* ``lm`` without weights ("inverse variance" working model): ``A_j = (I - H_jj)^(-1/2)``, the
  symmetric inverse square root, eigenvalues <= 1e-12 set to 0 (clubSandwich's
  ``matrix_power``), ``H_jj = X_j (X'X)^-1 X_j'``.
* ``lm`` with weights (the working model is not inverse-variance: target ``Phi = I``, weights
  ``W = w / mean(w)``): ``A_j = B_j^(-1/2)``, ``B_j = I - H_jj - H_jj' + X_j Omega X_j'``,
  ``H_jj = X_j M X_j' W_j``, ``M = (X'WX)^-1``, ``Omega = M (X'W^2 X) M``.
* ``glm``: clubSandwich works on ``X~ = mu'(eta) X`` with ``W = w / V(mu)`` and target
  ``Theta = W^-1`` (inverse variance): ``A_j = S_j B_j^(-1/2) S_j``, ``S_j = Theta_j^(1/2)``,
  ``B_j = S_j^2 (I - H_jj) S_j^2`` with ``H_jj = Z_j M Z_j'``, ``Z = sqrt(W_working) X``; the
  residuals are response residuals ``y - mu``.

In every case ``V = M (sum_j u_j u_j') M`` with ``u_j = X~_j' W_j A_j e_j``.

Computation.  For ``lm``, ``B_j - I`` has rank <= p (2p with weights), so ``B_j^(-1/2)`` is
``I`` plus a low-rank term found from p x p (2p x 2p) per-cluster Gram matrices: one batched
eigendecomposition over clusters, nothing of size n_j x n_j, O(n p^2) in all.  For GLMs the
diagonal ``S_j^2`` does not commute with ``H_jj``; clusters of up to ``DENSE_MAX`` rows are
decomposed densely (exact, as clubSandwich), larger ones through a rational approximation of
the inverse square root (Hale, Higham & Trefethen, 2008, method 3: quadrature on a conformal
map with Jacobi elliptic functions) in which each shifted solve ``(B_j + c I)^-1`` is a Woodbury
update of a diagonal matrix, O(n_j p^2) per node; the number of nodes is chosen for 1e-12
relative accuracy from the spectrum bounds.

Satterthwaite df for a contrast ``c`` (clubSandwich's ``get_GH`` / ``get_P_array`` /
``Satterthwaite``): ``df = (tr P)^2 / ||P||_F^2`` with the J x J matrix ``P = diag(g) - H'H``
(inverse-variance models) or ``diag(g) + H3'H3 - H1'H2 - H2'H1`` (weighted lm), where
``g_j = ||c' M E_j Theta_j^(1/2)'||^2`` and the columns of ``H`` are ``c' M E_j U_j L`` etc.;
the traces and norms are formed from u x u Gram matrices, never J x J.

References
----------
Bell, R. M., & McCaffrey, D. F. (2002). Bias reduction in standard errors for linear regression
with multi-stage samples. Survey Methodology, 28(2), 169-181.
Pustejovsky, J. E., & Tipton, E. (2018). Small-sample methods for cluster-robust variance
estimation and hypothesis testing in fixed effects models. Journal of Business & Economic
Statistics, 36(4), 672-683.
Hale, N., Higham, N. J., & Trefethen, L. N. (2008). Computing A^alpha, log(A), and related
matrix functions by contour integrals. SIAM Journal on Numerical Analysis, 46(5), 2505-2523.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import special as sp

from pipeline.models.estimation import Fit, mu_eta, family_variance

__all__ = ["CR2", "DENSE_MAX", "cr1", "cr2"]

DENSE_MAX = 300           # GLM clusters up to this size: dense eigendecomposition (larger: rational,
#                           ~10x faster at 500 rows and O(n_j p^2) instead of O(n_j^3))
_TOL = 1e-12              # clubSandwich::matrix_power's eigenvalue threshold


def _pair_sums(codes: np.ndarray, J: int, A: np.ndarray, B: np.ndarray, w: np.ndarray | None = None):
    """Per-cluster sums of A_i B_i' (weighted by w): a (J, a, b) array, by bincount."""
    out = np.empty((J, A.shape[1], B.shape[1]))
    sym = A is B
    for a in range(A.shape[1]):
        for b in range(a if sym else 0, B.shape[1]):
            v = A[:, a] * B[:, b]
            if w is not None:
                v = v * w
            out[:, a, b] = np.bincount(codes, weights=v, minlength=J)
            if sym:
                out[:, b, a] = out[:, a, b]
    return out


def _vec_sums(codes, J, A, e):
    out = np.empty((J, A.shape[1]))
    for a in range(A.shape[1]):
        out[:, a] = np.bincount(codes, weights=A[:, a] * e, minlength=J)
    return out


def _phi_half(x):
    """x^(-1/2) with eigenvalues <= 1e-12 set to 0 (clubSandwich::matrix_power)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(x > _TOL, 1.0 / np.sqrt(np.where(x > _TOL, x, 1.0)), 0.0)


def _phi_inv(x):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(x > _TOL, 1.0 / np.where(x > _TOL, x, 1.0), 0.0)


def _lowrank(Cz: np.ndarray, Bm: np.ndarray):
    """For B_j = I + Z_j Bm Z_j' (per cluster j, Gram Cz_j = Z_j'Z_j): matrices R_j and
    coefficient vectors d_half, d_inv such that, for vectors a, b,
    a' phi(B_j) b = a'b + (Z_j'a)' R_j diag(d) R_j' (Z_j'b), phi = x^(-1/2) or the pseudo-inverse."""
    s2, Vc = np.linalg.eigh(Cz)                                   # (J, k), (J, k, k)
    top = np.max(s2, axis=1, keepdims=True)
    keep = s2 > 1e-13 * np.maximum(top, 1e-300)
    with np.errstate(divide="ignore", invalid="ignore"):
        inv_s = np.where(keep, 1.0 / np.sqrt(np.where(keep, s2, 1.0)), 0.0)
    s = np.where(keep, np.sqrt(np.maximum(s2, 0.0)), 0.0)
    # T = diag(s) Vc' Bm Vc diag(s)
    T = np.einsum("jak,ab,jbl->jkl", Vc, Bm, Vc) * s[:, :, None] * s[:, None, :]
    T = 0.5 * (T + np.swapaxes(T, 1, 2))
    lam, P = np.linalg.eigh(T)
    R = (Vc * inv_s[:, None, :]) @ P
    ev = 1.0 + lam
    return R, _phi_half(ev) - 1.0, _phi_inv(ev) - 1.0


def _quad(Ca, R, d, Cb):
    """Ca' R diag(d) R' Cb per cluster: (J, k, a), (J, k, k), (J, k), (J, k, b) -> (J, a, b)."""
    left = np.einsum("jka,jkl->jal", Ca, R) * d[:, None, :]
    right = np.einsum("jkl,jkb->jlb", R, Cb)
    return left @ right


# ----------------------------------------------------------------------------------------------
# The inverse square root of S^2 (I - H) S^2 for large GLM clusters
# ----------------------------------------------------------------------------------------------


def _hht_nodes(m: float, M: float, tol: float = 1e-13):
    """Nodes c_k and weights a_k with x^(-1/2) ~= sum_k a_k / (x + c_k) on [m, M]
    (Hale, Higham & Trefethen 2008, method 3; imaginary-argument Jacobi functions turned real)."""
    kappa = max(M / m, 1.0 + 1e-12)
    N = int(math.ceil((math.log(kappa) + 3.0) * (-math.log(tol)) / (2 * math.pi ** 2))) + 2
    k2c = 1.0 - 1.0 / kappa                 # complementary parameter k'^2 = 1 - m/M
    Kp = float(sp.ellipk(k2c))
    u = Kp * (np.arange(N) + 0.5) / N
    sn, cn, dn, _ = sp.ellipj(u, k2c)
    sc = sn / cn
    c = m * sc * sc
    a = (2.0 * Kp * math.sqrt(m) / (math.pi * N)) * dn / (cn * cn)
    return c, a


def _glm_block_psi_rational(s2: np.ndarray, Z: np.ndarray, Mu: np.ndarray, lam_max_h: float):
    """Psi = S^2 B^(-1/2) Z for B = S^2 (I - Z Mu Z') S^2 (diagonal S^2 = s2), without forming B."""
    D = s2 * s2
    hi = float(D.max())
    lo = float(D.min()) * max(1.0 - lam_max_h, 1e-14)
    c, a = _hht_nodes(lo * (1 - 1e-9), hi * (1 + 1e-9))
    Y = Z * s2[:, None]                       # B = D - Y Mu Y'
    out = np.zeros_like(Z)
    for ck, ak in zip(c, a):
        dinv = 1.0 / (D + ck)
        DY = Y * dinv[:, None]
        inner = np.linalg.inv(Mu) - Y.T @ DY      # Mu^-1 - Y' D_c^-1 Y
        rhs = Z * dinv[:, None]                   # D_c^-1 Z
        sol = rhs + DY @ np.linalg.solve(inner, Y.T @ rhs)
        out += ak * sol
    return out * s2[:, None]


# ----------------------------------------------------------------------------------------------
# CR2
# ----------------------------------------------------------------------------------------------


@dataclass
class CR2:
    """A CR2 covariance with the per-cluster pieces its Satterthwaite df need (scaled design)."""

    vcov: np.ndarray          # of the original coefficients
    d: np.ndarray             # column scaling: X_scaled = X / d
    Mu: np.ndarray            # M_U of the scaled design
    PsiPsi: np.ndarray        # (J, p, p)
    T1: np.ndarray            # (J, p, p): Psi' U
    T2: np.ndarray | None     # (J, p, p): Psi' W U (weighted lm only)
    Omega: np.ndarray | None  # weighted lm only
    clusters: int
    method: str               # "low-rank", "dense", "rational"

    def df(self, C: np.ndarray) -> np.ndarray:
        """Satterthwaite df of the contrasts in the rows of C (clubSandwich, for coefficients
        ``coef_test(test = "Satterthwaite")``, for other contrasts ``linear_contrast``)."""
        C = np.atleast_2d(np.asarray(C, dtype=float)) / self.d[None, :]
        A = C @ self.Mu                                          # rows c' M
        L = np.linalg.cholesky(self.Mu)
        g = np.einsum("ra,jab,rb->rj", A, self.PsiPsi, A)        # (r, J)
        H1 = np.einsum("ra,jab,bc->rjc", A, self.T1, L)          # (r, J, u)
        if self.T2 is None:
            Hs = H1
            q = -np.ones(H1.shape[2])
            Qm = None
        else:
            Oc = np.linalg.cholesky(self.Omega)
            H2 = np.einsum("ra,jab,bc->rjc", A, self.T2, L)
            H3 = np.einsum("ra,jab,bc->rjc", A, self.T1, Oc)
            Hs = np.concatenate([H1, H2, H3], axis=2)
            u = H1.shape[2]
            Qm = np.zeros((3 * u, 3 * u))
            Qm[:u, u:2 * u] = -np.eye(u)
            Qm[u:2 * u, :u] = -np.eye(u)
            Qm[2 * u:, 2 * u:] = np.eye(u)
        out = np.empty(C.shape[0])
        for r in range(C.shape[0]):
            Hr = Hs[r]                                           # (J, k)
            if Qm is None:
                diag_off = (Hr * Hr) @ q
                Gm = Hr.T @ Hr
                fro_off = float(np.sum(Gm * Gm))
            else:
                diag_off = np.einsum("jk,kl,jl->j", Hr, Qm, Hr)
                Gm = Hr.T @ Hr
                QG = Qm @ Gm
                fro_off = float(np.sum(QG * QG.T))
            tr = float(np.sum(g[r]) + np.sum(diag_off))
            fro = float(np.sum(g[r] ** 2) + 2.0 * np.sum(g[r] * diag_off) + fro_off)
            out[r] = tr * tr / fro if fro > 0 else float("nan")
        return out


def cr2(fit: Fit, X: np.ndarray, codes: np.ndarray) -> CR2:
    """CR2 covariance (one BLAS thread: see :func:`pipeline.measure.moments.single_blas_thread`;
    on a busy 2-core machine a threaded 500 x 500 eigh ran 20x slower)."""
    from pipeline.measure.moments import single_blas_thread  # noqa: PLC0415

    with single_blas_thread():
        return _cr2(fit, X, codes)


def _cr2(fit: Fit, X: np.ndarray, codes: np.ndarray) -> CR2:
    """CR2 covariance of a fitted lm / glm / glm.nb (clubSandwich::vcovCR(type = "CR2")).

    Parameters
    ----------
    fit
        The fit (``fit_lm``, ``fit_glm`` or ``fit_negbin``).
    X
        Its design matrix.
    codes
        Cluster codes 0..J-1 per row.
    """
    n, p = X.shape
    J = int(codes.max()) + 1
    d = np.sqrt(np.einsum("ij,ij->j", X, X))
    d[d == 0] = 1.0
    Xs = X / d
    e = fit.y - fit.mu
    if fit.family == "gaussian":
        w = fit.prior_weights
        weighted = not np.all(w == w[0]) if n else False
        if not weighted:
            C = _pair_sums(codes, J, Xs, Xs)
            Mu = np.linalg.inv(C.sum(axis=0))
            Mu = 0.5 * (Mu + Mu.T)
            R, dh, di = _lowrank(C, -Mu)
            Xe = _vec_sums(codes, J, Xs, e)
            u = Xe + _quad(C, R, dh, Xe[:, :, None])[:, :, 0]
            T1 = C + _quad(C, R, dh, C)
            PsiPsi = C + _quad(C, R, di, C)
            T2 = Omega = None
        else:
            wn = w / np.mean(w)
            C0 = _pair_sums(codes, J, Xs, Xs)
            C1 = _pair_sums(codes, J, Xs, Xs, wn)
            C2 = _pair_sums(codes, J, Xs, Xs, wn * wn)
            Mu = np.linalg.inv(C1.sum(axis=0))
            Mu = 0.5 * (Mu + Mu.T)
            Omega = Mu @ C2.sum(axis=0) @ Mu
            Omega = 0.5 * (Omega + Omega.T)
            Bm = np.block([[Omega, -Mu], [-Mu, np.zeros((p, p))]])
            Cz = np.block([[C0, C1], [C1, C2]])
            R, dh, di = _lowrank(Cz, Bm)
            Xe = _vec_sums(codes, J, Xs, e)
            XWe = _vec_sums(codes, J, Xs, e * wn)
            Cw = np.concatenate([C1, C2], axis=1)                 # Z'(WX)
            ze = np.concatenate([Xe, XWe], axis=1)[:, :, None]
            u = XWe + _quad(Cw, R, dh, ze)[:, :, 0]
            T1 = C1 + _quad(Cw, R, dh, np.concatenate([C0, C1], axis=1))
            T2 = C2 + _quad(Cw, R, dh, Cw)
            PsiPsi = C2 + _quad(Cw, R, di, Cw)
        V = Mu @ (u.T @ u) @ Mu
        method = "low-rank"
    else:
        w = fit.prior_weights
        mu = fit.mu
        s2 = family_variance(fit.family, mu, fit.theta) / w          # Theta = V / w
        Ww = fit.working_weights
        Z = Xs * np.sqrt(Ww)[:, None]
        Mu = np.linalg.inv(Z.T @ Z)
        Mu = 0.5 * (Mu + Mu.T)
        order = np.argsort(codes, kind="stable")
        bounds = np.searchsorted(codes[order], np.arange(J + 1))
        u = np.empty((J, p))
        T1 = np.empty((J, p, p))
        PsiPsi = np.empty((J, p, p))
        L = np.linalg.cholesky(Mu)
        big = False
        for j in range(J):
            idx = order[bounds[j]:bounds[j + 1]]
            Zj, sj = Z[idx], s2[idx]
            lam = None
            if len(idx) > DENSE_MAX:
                K = L.T @ (Zj.T @ Zj) @ L
                lam = float(np.linalg.eigvalsh(0.5 * (K + K.T))[-1])
            # a cluster that alone determines a direction (leverage 1) needs the pseudo-inverse
            # square root that only the dense eigendecomposition gives
            if lam is None or lam > 1.0 - 1e-9:
                Hj = Zj @ Mu @ Zj.T
                Bj = sj[:, None] * (np.eye(len(idx)) - Hj) * sj[None, :]
                ev, Q = np.linalg.eigh(0.5 * (Bj + Bj.T))
                Psi = sj[:, None] * (Q @ (_phi_half(ev)[:, None] * (Q.T @ Zj)))
            else:
                big = True
                Psi = _glm_block_psi_rational(sj, Zj, Mu, lam)
            u[j] = Psi.T @ (e[idx] / np.sqrt(sj))
            T1[j] = Psi.T @ Zj
            PsiPsi[j] = Psi.T @ Psi
        V = Mu @ (u.T @ u) @ Mu
        T2 = Omega = None
        method = "rational" if big else "dense"
    V = V / np.outer(d, d)
    return CR2(vcov=0.5 * (V + V.T), d=d, Mu=Mu, PsiPsi=PsiPsi, T1=T1, T2=T2, Omega=Omega,
               clusters=J, method=method)


def cr1(fit: Fit, X: np.ndarray, codes: np.ndarray, small_sample: str = "stata") -> np.ndarray:
    """CR1: ``sandwich::vcovCL(type = "HC1")`` (G/(G-1) x (n-1)/(n-p), Stata's) or, with
    ``small_sample="clubSandwich"``, ``clubSandwich::vcovCR(type = "CR1")`` (G/(G-1) only)."""
    from pipeline.models.estimation import sandwich  # noqa: PLC0415

    V, info = sandwich(fit, X, "cluster", codes)
    if small_sample == "clubSandwich":
        n, p = X.shape
        V = V / ((n - 1.0) / (n - p))
    return V
