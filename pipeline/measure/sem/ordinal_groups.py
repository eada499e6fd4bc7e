"""Measurement invariance of ordered (Likert) items by multi-group WLSMV, with the identification
of Wu & Estabrook (2016), as lavaan 0.6 fits the models ``semTools::measEq.syntax`` writes::

    syn <- measEq.syntax(model, data, ordered = items, group = g, ID.fac = "std.lv",
                         ID.cat = "Wu.Estabrook.2016", parameterization = "delta",
                         group.equal = <level>)
    fit <- cfa(as.character(syn), data, ordered = items, group = g, estimator = "WLSMV")
    lavTestLRT(fit_less_constrained, fit_more_constrained, method = "satorra.2000")

Levels (group 1 = reference; "free" means free in groups 2..G):

* **configural** -- thresholds and loadings group-specific; item intercepts 0, scaling factors
  1, factor means 0 and variances 1 in every group (std.lv).
* **thresholds** (``group.equal = "thresholds"``) -- thresholds equal; item intercepts and
  scaling factors free (scaling factors of binary items stay 1 until the scalar level).
* **metric** (``c("thresholds", "loadings")``) -- loadings equal too; factor variances free.
* **scalar** (``c("thresholds", "loadings", "intercepts")``) -- item intercepts equal (0);
  factor means free.

Each group's sample statistics (thresholds, polychorics and their NACOV Gamma_g) come from
:mod:`pipeline.measure.sem.ordinal`, the groups are independent (block-diagonal weight). In the
delta parameterisation the model-implied statistics of group g are

    tau*_ik = delta_i (tau_ik - nu_i - (Lambda alpha)_i)
    rho_ij  = delta_i delta_j (Lambda Psi Lambda')_ij

and DWLS minimises ``sum_g (N_g - 1) (s_g - sigma_g)' W_g (s_g - sigma_g)`` with
``W_g = diag(Gamma_g)^-1`` (lavaan: ``fx_g = (N_g - 1) / (2 N_g) F_g``, ``chisq = sum 2 N_g fx_g``).
The scaled-shifted test uses ``U = V - V D E^-1 D' V`` with ``V = bdiag(f_g W_g)``,
``Gamma = bdiag(Gamma_g / f_g)``, ``E = sum f_g D_g' W_g D_g``, f_g = N_g / N
(``lav_test_satorra_bentler_trace_original``); the difference test between two levels is
Satorra (2000) with ``A`` from the Jacobians of both models (``lav_test_diff_A(method =
"delta")``), scaled-shifted (``lav_test_diff_Satorra2000``). Multi-group RMSEA is multiplied by
sqrt(G) with N - G; SRMR is the N_g-weighted mean of the groups' correlation SRMR.

Reference: Wu, H., & Estabrook, R. (2016). Identification of confirmatory factor analysis models
of different levels of invariance for ordered categorical outcomes. Psychometrika, 81(4),
1014-1045. https://doi.org/10.1007/s11336-016-9506-0
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import chdtrc, ndtr

from pipeline.measure.sem import indices as _idx
from pipeline.measure.sem import ordinal as _ord
from pipeline.measure.sem import robust as _rob

__all__ = ["LEVELS", "OrdinalGroupStats", "fit_level", "group_stats", "lrt_satorra2000",
           "ordinal_invariance"]

LEVELS = ("configural", "thresholds", "metric", "scalar")
# measEq.syntax's group.equal for each level
GROUP_EQUAL = {"configural": (), "thresholds": ("thresholds",),
               "metric": ("thresholds", "loadings"),
               "scalar": ("thresholds", "loadings", "intercepts")}


@dataclass(frozen=True)
class OrdinalGroupStats:
    """Per-group sample statistics on common categories."""

    items: tuple[str, ...]
    groups: tuple[Any, ...]
    n: tuple[int, ...]
    K: np.ndarray                       # categories per item (common to all groups)
    stats: tuple[_ord.OrdinalStats, ...]


def group_stats(codes: np.ndarray, levels: Sequence[np.ndarray], gidx: np.ndarray,
                groups: Sequence[Any], items: Sequence[str]) -> OrdinalGroupStats:
    """Thresholds, polychorics and NACOV of each group (codes common to all groups, no
    missing; every category used in every group)."""
    sts, ns = [], []
    for g in range(len(groups)):
        c = np.asfortranarray(codes[gidx == g])
        st = _ord.stats_from_codes(c, list(levels), items)
        sts.append(st)
        ns.append(int(c.shape[0]))
    K = np.array([len(v) for v in levels])
    return OrdinalGroupStats(tuple(items), tuple(groups), tuple(ns), K, tuple(sts))


# ----------------------------------------------------------------------------------------------
# parameter layout


@dataclass
class _Layout:
    """Where each model entry of each group gets its value: index into the free parameter
    vector, or -1 (fixed at the value in ``fixed``)."""

    p: int
    m: int
    G: int
    th_item: np.ndarray                 # item of each threshold (nth,)
    pattern: np.ndarray                 # (p, m) bool loading pattern
    pairs: np.ndarray
    idx: dict[str, np.ndarray]          # kind -> (G, ...) int
    fixed: dict[str, np.ndarray]        # kind -> (G, ...) float
    labels: list[str]
    kinds: list[str]

    @property
    def k(self) -> int:
        return len(self.labels)


def _layout(level: str, items, lv, pattern, K, G) -> _Layout:
    p, m = pattern.shape
    nth_i = K - 1
    th_item = np.repeat(np.arange(p), nth_i)
    nth = int(nth_i.sum())
    eq = GROUP_EQUAL[level]
    thr_eq, load_eq, int_eq = "thresholds" in eq, "loadings" in eq, "intercepts" in eq
    labels: list[str] = []
    kinds: list[str] = []

    def new(label: str, kind: str) -> int:
        labels.append(label)
        kinds.append(kind)
        return len(labels) - 1

    idx = {"tau": np.full((G, nth), -1), "nu": np.full((G, p), -1),
           "lam": np.full((G, p, m), -1), "alpha": np.full((G, m), -1),
           "psi": np.full((G, m, m), -1), "delta": np.full((G, p), -1)}
    fixed = {"tau": np.zeros((G, nth)), "nu": np.zeros((G, p)), "lam": np.zeros((G, p, m)),
             "alpha": np.zeros((G, m)), "psi": np.zeros((G, m, m)), "delta": np.ones((G, p))}
    for j in range(m):
        fixed["psi"][:, j, j] = 1.0
    tnames = [f"{items[i]}|t{k + 1}" for i in range(p) for k in range(nth_i[i])]
    # thresholds
    for t in range(nth):
        if thr_eq:
            idx["tau"][:, t] = new(tnames[t], "tau")
        else:
            for g in range(G):
                idx["tau"][g, t] = new(f"{tnames[t]}.g{g + 1}", "tau")
    # loadings
    for j in range(m):
        for i in np.flatnonzero(pattern[:, j]):
            lab = f"{lv[j]}=~{items[i]}"
            if load_eq:
                idx["lam"][:, i, j] = new(lab, "lam")
            else:
                for g in range(G):
                    idx["lam"][g, i, j] = new(f"{lab}.g{g + 1}", "lam")
    for g in range(1, G):
        for i in range(p):
            if thr_eq and not int_eq:
                idx["nu"][g, i] = new(f"{items[i]}~1.g{g + 1}", "nu")
            # binary items: the scale stays 1 until the intercepts are equal (measEq.syntax)
            if thr_eq and (K[i] > 2 or int_eq):
                idx["delta"][g, i] = new(f"{items[i]}~*~{items[i]}.g{g + 1}", "delta")
        for j in range(m):
            if int_eq:
                idx["alpha"][g, j] = new(f"{lv[j]}~1.g{g + 1}", "alpha")
            if load_eq:
                idx["psi"][g, j, j] = new(f"{lv[j]}~~{lv[j]}.g{g + 1}", "psi")
    for g in range(G):
        for j in range(m):
            for h in range(j + 1, m):
                e = new(f"{lv[j]}~~{lv[h]}.g{g + 1}", "psi")
                idx["psi"][g, j, h] = idx["psi"][g, h, j] = e
    return _Layout(p, m, G, th_item, pattern, _ord.lavaan_pairs(p), idx, fixed, labels, kinds)


def _values(L: _Layout, x: np.ndarray) -> dict[str, np.ndarray]:
    out = {}
    for kind, ix in L.idx.items():
        v = L.fixed[kind].copy()
        free = ix >= 0
        v[free] = x[ix[free]]
        out[kind] = v
    return out


def _moments(L: _Layout, x: np.ndarray) -> list[np.ndarray]:
    """Implied (thresholds, correlations) of each group."""
    v = _values(L, x)
    out = []
    i, j = L.pairs[:, 0], L.pairs[:, 1]
    for g in range(L.G):
        lam, psi, d = v["lam"][g], v["psi"][g], v["delta"][g]
        mu = v["nu"][g] + lam @ v["alpha"][g]
        th = d[L.th_item] * (v["tau"][g] - mu[L.th_item])
        C = lam @ psi @ lam.T
        out.append(np.concatenate([th, d[i] * d[j] * C[i, j]]))
    return out


def _jacobian(L: _Layout, x: np.ndarray) -> list[np.ndarray]:
    """d (implied statistics of group g) / d x, one (q, k) matrix per group."""
    v = _values(L, x)
    i, j = L.pairs[:, 0], L.pairs[:, 1]
    nth = len(L.th_item)
    P = len(L.pairs)
    ti = L.th_item
    out = []
    for g in range(L.G):
        lam, psi, d = v["lam"][g], v["psi"][g], v["delta"][g]
        alpha, tau = v["alpha"][g], v["tau"][g]
        mu = v["nu"][g] + lam @ alpha
        C = lam @ psi @ lam.T
        PL = psi @ lam.T                          # (m, p)
        J = np.zeros((nth + P, L.k))
        dd = d[i] * d[j]
        rows_th = np.arange(nth)

        def add(rows, col_ix, vals, J=J):
            sel = col_ix >= 0
            if np.any(sel):
                np.add.at(J, (rows[sel], col_ix[sel]), vals[sel])

        add(rows_th, L.idx["tau"][g], d[ti])
        add(rows_th, L.idx["nu"][g][ti], -d[ti])
        add(rows_th, L.idx["delta"][g][ti], tau - mu[ti])
        # delta in correlations
        add(nth + np.arange(P), L.idx["delta"][g][i], d[j] * C[i, j])
        add(nth + np.arange(P), L.idx["delta"][g][j], d[i] * C[i, j])
        for f in range(L.m):
            # alpha_f in thresholds
            add(rows_th, np.full(nth, L.idx["alpha"][g][f]), -d[ti] * lam[ti, f])
            # loadings
            li = L.idx["lam"][g][:, f]
            add(rows_th, li[ti], -d[ti] * alpha[f])
            add(nth + np.arange(P), li[i], dd * PL[f, j])
            add(nth + np.arange(P), li[j], dd * PL[f, i])
            for h in range(f, L.m):
                e = L.idx["psi"][g][f, h]
                if e < 0:
                    continue
                if f == h:
                    val = dd * lam[i, f] * lam[j, f]
                else:
                    val = dd * (lam[i, f] * lam[j, h] + lam[i, h] * lam[j, f])
                J[nth:, e] += val
        out.append(J)
    return out


# ----------------------------------------------------------------------------------------------
# estimation


@dataclass
class LevelFit:
    """One invariance level fitted by multi-group DWLS."""

    name: str
    layout: _Layout
    x: np.ndarray
    converged: bool
    fit: dict[str, Any]
    D: list[np.ndarray]                 # Jacobians at the estimate
    info: np.ndarray                    # E = sum f_g D_g' W_g D_g
    se: np.ndarray
    warnings: list[str] = field(default_factory=list)

    def estimates(self, items, lv, groups) -> pd.DataFrame:
        """lhs, op, rhs, group (1-based), est, se of the model entries (lavaan's rows)."""
        L = self.layout
        v = _values(L, self.x)
        rows = []

        def se_of(e):
            return float(self.se[e]) if e >= 0 else 0.0

        nth_i = np.bincount(L.th_item, minlength=L.p)
        for g in range(L.G):
            for f in range(L.m):
                for i in np.flatnonzero(L.pattern[:, f]):
                    e = L.idx["lam"][g, i, f]
                    rows.append((lv[f], "=~", items[i], g + 1, v["lam"][g, i, f], se_of(e)))
            t = 0
            for i in range(L.p):
                for k in range(nth_i[i]):
                    e = L.idx["tau"][g, t]
                    rows.append((items[i], "|", f"t{k + 1}", g + 1, v["tau"][g, t], se_of(e)))
                    t += 1
            for i in range(L.p):
                rows.append((items[i], "~1", "", g + 1, v["nu"][g, i],
                             se_of(L.idx["nu"][g, i])))
                rows.append((items[i], "~*~", items[i], g + 1, v["delta"][g, i],
                             se_of(L.idx["delta"][g, i])))
            for f in range(L.m):
                rows.append((lv[f], "~1", "", g + 1, v["alpha"][g, f],
                             se_of(L.idx["alpha"][g, f])))
                for h in range(f, L.m):
                    rows.append((lv[f], "~~", lv[h], g + 1, v["psi"][g, f, h],
                                 se_of(L.idx["psi"][g, f, h])))
        return pd.DataFrame(rows, columns=["lhs", "op", "rhs", "group", "est", "se"])


def _start(L: _Layout, gs: OrdinalGroupStats, prev: LevelFit | None) -> np.ndarray:
    x = np.zeros(L.k)
    cnt = np.zeros(L.k)
    if prev is not None:
        pv = _values(prev.layout, prev.x)
        for kind, ix in L.idx.items():
            free = ix >= 0
            np.add.at(x, ix[free], pv[kind][free])
            np.add.at(cnt, ix[free], 1.0)
        return x / np.maximum(cnt, 1)
    # configural: sample thresholds, loadings from the within-construct polychorics
    for g, st in enumerate(gs.stats):
        tau = np.concatenate(st.thresholds)
        ix = L.idx["tau"][g]
        np.add.at(x, ix[ix >= 0], tau[ix >= 0])
        np.add.at(cnt, ix[ix >= 0], 1.0)
        R = st.cor
        lam0 = np.zeros((L.p, L.m))
        for f in range(L.m):
            its = np.flatnonzero(L.pattern[:, f])
            sub = R[np.ix_(its, its)]
            off = (sub.sum(axis=1) - 1.0) / max(len(its) - 1, 1)
            lam0[its, f] = np.sqrt(np.clip(off, 0.05, 0.95))
        for f in range(L.m):
            li = L.idx["lam"][g][:, f]
            sel = li >= 0
            np.add.at(x, li[sel], lam0[sel, f])
            np.add.at(cnt, li[sel], 1.0)
        for f in range(L.m):
            for h in range(f + 1, L.m):
                e = L.idx["psi"][g][f, h]
                if e >= 0:
                    a = np.flatnonzero(L.pattern[:, f])
                    b = np.flatnonzero(L.pattern[:, h])
                    r = R[np.ix_(a, b)].mean() / max(lam0[a, f].mean() * lam0[b, h].mean(), 1e-3)
                    x[e] += float(np.clip(r, -0.9, 0.9))
                    cnt[e] += 1
    x = x / np.maximum(cnt, 1)
    for kind in ("delta",):
        ix = L.idx[kind]
        x[ix[ix >= 0]] = 1.0
    for g in range(L.G):
        for f in range(L.m):
            e = L.idx["psi"][g][f, f]
            if e >= 0:
                x[e] = 1.0
    return x


def _dwls(L, s, w, x0, max_iter=500):
    """Gauss-Newton with Levenberg damping on the stacked residuals (w includes N_g - 1)."""
    return _ord.least_squares_gn(lambda x: (np.concatenate(_moments(L, x)), x),
                                 lambda x: np.vstack(_jacobian(L, x)), s, w, x0,
                                 max_iter=max_iter, grad_tol=1e-10, stop_tol=1e-6,
                                 drop_tol=1e-15)


def _sample(gs: OrdinalGroupStats):
    s, wts, W, Gam = [], [], [], []
    for st, n in zip(gs.stats, gs.n):
        tau = np.concatenate(st.thresholds)
        r = st.cor[st.pairs[:, 0], st.pairs[:, 1]]
        s.append(np.concatenate([tau, r]))
        w = 1.0 / np.diag(st.nacov)
        W.append(w)
        wts.append((n - 1) * w)
        Gam.append(st.nacov)
    return s, W, Gam, wts


def fit_level(level: str, gs: OrdinalGroupStats, lv: Sequence[str], pattern: np.ndarray,
              prev: LevelFit | None = None) -> LevelFit:
    """Fit one level by DWLS; fit measures as lavaan's ``fitMeasures()`` for WLSMV."""
    G = len(gs.groups)
    L = _layout(level, gs.items, lv, pattern, gs.K, G)
    s, W, Gam, wts = _sample(gs)
    s_all, w_all = np.concatenate(s), np.concatenate(wts)
    x0 = _start(L, gs, prev)
    x, converged, _ = _dwls(L, s_all, w_all, x0)
    warnings: list[str] = []
    N = int(sum(gs.n))
    ng = np.array(gs.n, dtype=float)
    fg = ng / N
    D = _jacobian(L, x)
    mom = _moments(L, x)
    E = sum(f * (Dg.T @ (w[:, None] * Dg)) for f, Dg, w in zip(fg, D, W))
    try:
        Einv = np.linalg.inv(E)
        identified = bool(np.all(np.isfinite(Einv)) and np.linalg.cond(E) < 1e14)
    except np.linalg.LinAlgError:
        Einv = np.linalg.pinv(E)
        identified = False
    if not identified:
        warnings.append(f"The {level} model's information matrix is singular (model may not be "
                        "identified); its standard errors and scaled test are unreliable.")
    T_g = np.array([(n - 1) * float(np.sum(w * (sg - mg) ** 2))
                    for n, w, sg, mg in zip(gs.n, W, s, mom)])
    T = float(T_g.sum())
    q = sum(len(v) for v in s)
    df = q - L.k
    # robust (sandwich) SEs, lavaan's robust.sem for several groups
    meat = sum(f * (Dg.T @ (w[:, None] * (Gm * w[None, :])) @ Dg)
               for f, Dg, w, Gm in zip(fg, D, W, Gam))
    vcov = Einv @ meat @ Einv / (N - G)   # lavaan: N minus the number of groups (DWLS)
    se = np.sqrt(np.clip(np.diag(vcov), 0, None))
    # scaled-shifted test: tr(U Gamma) and tr((U Gamma)^2) with U = V - V D E^-1 D' V,
    # V = bdiag(f_g W_g), Gamma = bdiag(Gamma_g / f_g), from group blocks and k x k products
    # (never the (sum q_g)^2 matrices)
    ss = _scaled_shifted_blocks(fg, W, Gam, D, Einv, T, df)
    # baseline: thresholds free per group, correlations zero
    Tb, dfb, tr1b, tr2b = 0.0, 0, 0.0, 0.0
    for st, n, w, sg, Gm in zip(gs.stats, gs.n, W, s, Gam):
        nth = st.n_thresholds
        wc = w[nth:]
        Tb += (n - 1) * float(np.sum(wc * sg[nth:] ** 2))
        dfb += len(wc)
        UG = wc[:, None] * Gm[nth:, nth:]
        tr1b += float(np.trace(UG))
        tr2b += float(np.sum(UG * UG.T))
    ab = math.sqrt(dfb / tr2b) if tr2b > 0 else np.nan
    Tb_s = Tb * ab + (dfb - ab * tr1b)
    n_rm = N - G
    fit: dict[str, Any] = {
        "chisq": T, "df": df, "pvalue": float(chdtrc(df, T)) if df > 0 else np.nan,
        "chisq_scaled": ss["stat"], "df_scaled": df,
        "pvalue_scaled": float(chdtrc(df, ss["stat"])) if df > 0 and np.isfinite(ss["stat"])
        else np.nan,
        "scaling_factor": 1.0 / ss["a"] if np.isfinite(ss["a"]) else np.nan,
        "shift_parameter": ss["shift"],
        "baseline_chisq": Tb, "baseline_df": dfb, "baseline_chisq_scaled": Tb_s,
        "cfi": _rob.cfi(T, df, Tb, dfb), "tli": _rob.tli(T, df, Tb, dfb),
        "cfi_scaled": _rob.cfi(ss["stat"], df, Tb_s, dfb),
        "tli_scaled": _rob.tli(ss["stat"], df, Tb_s, dfb),
        "rmsea": _rob.rmsea(T, df, n_rm) * math.sqrt(G),
        "rmsea_scaled": _rob.rmsea(ss["stat"], df, n_rm) * math.sqrt(G),
    }
    lo, hi = _idx.rmsea_ci(T, df, n_rm)
    fit["rmsea_ci"] = [lo * math.sqrt(G), hi * math.sqrt(G)]
    srmr = 0.0
    p = gs.K.size
    for f, st, sg, mg in zip(fg, gs.stats, s, mom):
        nth = st.n_thresholds
        srmr += f * math.sqrt(float(np.sum((sg[nth:] - mg[nth:]) ** 2)) / (p * (p + 1) / 2))
    fit["srmr"] = srmr
    # robust (Savalei 2021) indices: lavaan reports them for the configural model only (its
    # catML refit gives NA once parameters are shared across groups, and so does socap)
    fit["cfi_robust"] = fit["tli_robust"] = fit["rmsea_robust"] = None
    if level == "configural":
        cm = _catml_groups(gs, mom, D, W, Gam, fg, Einv, df)
        if cm is not None:
            fit["cfi_robust"] = _rob.cfi(cm["XX3"], df, cm["XX3_null"], dfb, cm["c3"],
                                          cm["c3_null"])
            fit["tli_robust"] = _rob.tli(cm["XX3"], df, cm["XX3_null"], dfb, cm["c3"],
                                          cm["c3_null"])
            fit["rmsea_robust"] = _rob.rmsea(cm["XX3"], df, n_rm, cm["c3"]) * math.sqrt(G)
    fit["npar"] = L.k
    fit["ntotal"] = N
    fit["aic"] = fit["bic"] = None
    if not converged:
        warnings.append(f"The {level} model did not converge; its fit is unreliable.")
    return LevelFit(level, L, x, bool(converged), fit, D, E, se, warnings)


def _catml_groups(gs, mom, D, W, Gam, fg, Einv, df):
    """lavaan's lav_fit_catml_dwls for several groups: the ML discrepancy of each group's fitted
    correlation structure, ``c3 = tr(WiU' V WiU Gamma) / df`` over the correlation rows with
    ``V = bdiag(f_g V_g)``, ``Gamma = bdiag(Gamma_g / f_g)``, ``WiU = I - D E^-1 D' W``."""
    XX3 = XX3_null = 0.0
    Dc, Wc, Vc, Gc = [], [], [], []
    for f, st, mg, Dg, w, Gm, n in zip(fg, gs.stats, mom, D, W, Gam, gs.n):
        nth = st.n_thresholds
        R = st.cor
        p = R.shape[0]
        if np.linalg.eigvalsh(R)[0] < _ord.SQRT_EPS:
            return None
        S = np.eye(p)
        i, j = st.pairs[:, 0], st.pairs[:, 1]
        S[i, j] = S[j, i] = mg[nth:]
        ld_s, ld_r = np.linalg.slogdet(S), np.linalg.slogdet(R)
        if ld_s[0] <= 0:
            return None
        K = np.linalg.inv(S)
        XX3 += n * (ld_s[1] + float(np.trace(R @ K)) - ld_r[1] - p)
        XX3_null += -n * ld_r[1]
        Vc.append(f * (K[np.ix_(i, i)] * K[np.ix_(j, j)] + K[np.ix_(i, j)] * K[np.ix_(j, i)]))
        Dc.append(Dg[nth:])
        Wc.append(f * w[nth:])
        Gc.append(Gm[nth:, nth:] / f)
    Dall = np.vstack(Dc)
    wall = np.concatenate(Wc)
    WiU = np.eye(Dall.shape[0]) - Dall @ Einv @ (Dall.T * wall[None, :])
    o, ks, kbs = 0, 0.0, 0.0
    blocks = []
    for Vg in Vc:
        blocks.append(slice(o, o + Vg.shape[0]))
        o += Vg.shape[0]
    # ks = tr(WiU' V WiU Gamma) with V and Gamma block diagonal
    VW = np.zeros_like(WiU)
    for sl, Vg, Gg in zip(blocks, Vc, Gc):
        VW[sl] = Vg @ WiU[sl]
        kbs += float(np.trace(Gg))
    M = WiU.T @ VW
    for sl, Gg in zip(blocks, Gc):
        ks += float(np.sum(M[sl, sl] * Gg.T))
    dfn = Dall.shape[0]
    return {"XX3": XX3, "c3": ks / df if df > 0 else np.nan, "XX3_null": XX3_null,
            "c3_null": kbs / dfn}


def _scaled_shifted_blocks(fg, W, Gam, D, M, T, df) -> dict[str, float]:
    """lavaan's scaled.shifted statistic (``lav_test_satorra_bentler_trace_original``) by
    blocks: with B_g = W_g Gamma_g, C_g = f_g W_g D_g, Z_g = Gamma_g W_g D_g,
    ``U Gamma = B - C M Z'``."""
    trB = trBB = 0.0
    ZC = np.zeros((M.shape[0], M.shape[0]))
    ZBC = np.zeros_like(ZC)
    for f, w, Gm, Dg in zip(fg, W, Gam, D):
        B = w[:, None] * Gm
        C = f * (w[:, None] * Dg)
        Z = Gm @ (w[:, None] * Dg)
        trB += float(np.trace(B))
        trBB += float(np.sum(B * B.T))
        ZC += Z.T @ C
        ZBC += Z.T @ B @ C
    MZC = M @ ZC
    tr1 = trB - float(np.trace(MZC))
    tr2 = trBB - 2.0 * float(np.trace(M @ ZBC)) + float(np.sum(MZC * MZC.T))
    if not (df > 0 and tr2 > 0):
        return {"stat": np.nan, "a": np.nan, "shift": np.nan, "tr1": tr1, "tr2": tr2}
    a = math.sqrt(df / tr2)
    shift = df - a * tr1
    return {"stat": T * a + shift, "a": a, "shift": shift, "tr1": tr1, "tr2": tr2}


def lrt_satorra2000(m1: LevelFit, m0: LevelFit, gs: OrdinalGroupStats) -> dict[str, float]:
    """``lavTestLRT(m1, m0, method = "satorra.2000")`` for WLSMV (scaled.shifted): m1 the less
    constrained model, m0 the more constrained. Returns chisq_diff, df_diff, p."""
    T1, r1 = m1.fit["chisq"], m1.fit["df"]
    T0, r0 = m0.fit["chisq"], m0.fit["df"]
    mdf = r0 - r1
    if mdf <= 0:
        return {"chisq_diff": T0 - T1, "df_diff": mdf, "p": np.nan}
    _, W, Gam, _ = _sample(gs)
    N = sum(gs.n)
    fg = np.array(gs.n, dtype=float) / N
    D1 = np.vstack(m1.D)
    D0 = np.vstack(m0.D)
    H = np.linalg.pinv(D1) @ D0
    # orthogonal complement of the column space of H (lav_matrix_orthogonal_complement)
    Uh, sv, _ = np.linalg.svd(H, full_matrices=True)
    rank = int(np.sum(sv > max(H.shape) * np.finfo(float).eps * (sv[0] if sv.size else 1)
                      * 1e6))
    A = Uh[:, rank:].T
    Pinv = np.linalg.pinv(m1.info)
    APA = A @ Pinv @ A.T
    PAAP = Pinv @ A.T @ np.linalg.pinv(APA) @ A @ Pinv
    # U Gamma = C PAAP Z' with C_g = W_g D_g, Z_g = f_g Gamma_g W_g D_g (V = bdiag(W_g),
    # Gamma = bdiag(f_g Gamma_g)); both traces from the k x k matrix Z'C
    ZC = np.zeros((D1.shape[1], D1.shape[1]))
    for f, w, Gm, Dg in zip(fg, W, Gam, m1.D):
        C = w[:, None] * Dg
        ZC += f * ((Gm @ C).T @ C)
    PZ = PAAP @ ZC
    tr1 = float(np.trace(PZ))
    tr2 = float(np.sum(PZ * PZ.T))
    a = math.sqrt(mdf / tr2)
    b = mdf - a * tr1
    Td = (T0 - T1) * a + b
    return {"chisq_diff": float(Td), "df_diff": int(mdf),
            "p": float(chdtrc(mdf, Td)) if Td >= 0 else 1.0}


# ----------------------------------------------------------------------------------------------
# the invariance sequence on a data frame


@dataclass(frozen=True)
class OrdinalInvarianceLevel:
    """One level: its fit (lavaan's WLSMV fit measures) and the comparison with the previous
    level (Satorra 2000 scaled-shifted difference test, changes in scaled CFI and RMSEA)."""

    name: str
    fit: Mapping[str, Any]
    converged: bool
    delta_cfi: float | None = None
    delta_rmsea: float | None = None
    chisq_diff: float | None = None
    df_diff: int | None = None
    p_diff: float | None = None
    holds: bool | None = None
    freed: tuple[str, ...] = ()

    FIT_KEYS = ("chisq", "df", "pvalue", "chisq_scaled", "df_scaled", "pvalue_scaled",
                "scaling_factor", "shift_parameter", "cfi", "tli", "rmsea", "rmsea_ci",
                "cfi_scaled", "tli_scaled", "rmsea_scaled", "cfi_robust", "tli_robust",
                "rmsea_robust", "srmr", "aic", "bic", "npar")

    def to_dict(self) -> dict[str, Any]:
        from pipeline.jsonvalues import plain  # noqa: PLC0415

        out: dict[str, Any] = {k: self.fit.get(k) for k in self.FIT_KEYS}
        out["converged"] = self.converged
        if self.name != "configural":
            out.update(delta_cfi=self.delta_cfi, delta_rmsea=self.delta_rmsea,
                       chisq_diff=self.chisq_diff, df_diff=self.df_diff, p_diff=self.p_diff,
                       difference_test="satorra.2000 (scaled-shifted)")
        out["holds"] = self.holds
        out["freed"] = list(self.freed)
        return plain(out)


def _compare(name, lf: LevelFit, prev: LevelFit, prev_level, gs, crit):
    if not lf.converged or not prev.converged:
        return OrdinalInvarianceLevel(name, lf.fit, lf.converged, holds=False)
    d_cfi = lf.fit["cfi_scaled"] - prev.fit["cfi_scaled"]
    d_rmsea = lf.fit["rmsea_scaled"] - prev.fit["rmsea_scaled"]
    try:
        t = lrt_satorra2000(prev, lf, gs)
    except (np.linalg.LinAlgError, ValueError, ZeroDivisionError):
        t = {"chisq_diff": np.nan, "df_diff": lf.fit["df"] - prev.fit["df"], "p": np.nan}
    holds = bool(d_cfi >= -crit["delta_cfi"] - 1e-12 and d_rmsea <= crit["delta_rmsea"] + 1e-12)
    if prev_level is not None and prev_level.holds is False:
        holds = False
    return OrdinalInvarianceLevel(name, lf.fit, lf.converged, float(d_cfi), float(d_rmsea),
                                  t["chisq_diff"], int(t["df_diff"]), t["p"], holds)


def _latent_empty() -> pd.DataFrame:
    return pd.DataFrame(columns=["group", "construct", "estimate", "se", "z", "pvalue",
                                 "ci_low", "ci_high"])


@dataclass(frozen=True)
class OrdinalInvarianceResult:
    """Invariance of ordered items (WLSMV, Wu & Estabrook 2016): the ``invariance`` part of
    results.json in the shape of :class:`pipeline.measure.cfa.InvarianceResult`, plus the
    threshold level, ``estimator`` and ``identification``. No partial-invariance search."""

    group: str
    groups: tuple[Any, ...]
    n: Mapping[Any, int]
    configural: OrdinalInvarianceLevel | None
    thresholds: OrdinalInvarianceLevel | None
    metric: OrdinalInvarianceLevel | None
    scalar: OrdinalInvarianceLevel | None
    level_reached: str
    latent_means: pd.DataFrame
    defensible_comparisons: str
    criteria: Mapping[str, float]
    warnings: tuple[str, ...]
    constructs: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    collapsed: Mapping[str, Any] = field(default_factory=dict)
    model: str = "first-order"
    higher_order: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    partial_level: str | None = None
    partial_metric: None = None
    partial_scalar: None = None
    second_order_scalar: None = None
    suggestions: tuple = ()
    estimator: str = "WLSMV"
    identification: str = "Wu & Estabrook 2016"

    @property
    def means_comparable(self) -> bool:
        return self.level_reached == "scalar"

    @property
    def relationships_comparable(self) -> bool:
        return self.level_reached in ("metric", "scalar")

    @property
    def fit_table(self) -> pd.DataFrame:
        rows = []
        for lv in (self.configural, self.thresholds, self.metric, self.scalar):
            if lv is None:
                continue
            f = lv.fit
            ci = f.get("rmsea_ci") or [np.nan, np.nan]
            rows.append({"model": lv.name, "chisq": f.get("chisq"), "df": f.get("df"),
                         "pvalue": f.get("pvalue"), "chisq_scaled": f.get("chisq_scaled"),
                         "pvalue_scaled": f.get("pvalue_scaled"), "cfi": f.get("cfi_scaled"),
                         "tli": f.get("tli_scaled"), "rmsea": f.get("rmsea_scaled"),
                         "rmsea_low": ci[0], "rmsea_high": ci[1], "srmr": f.get("srmr"),
                         "delta_cfi": lv.delta_cfi, "delta_rmsea": lv.delta_rmsea,
                         "chisq_diff": lv.chisq_diff, "df_diff": lv.df_diff,
                         "p_diff": lv.p_diff, "holds": lv.holds, "freed": ""})
        return pd.DataFrame(rows)

    def to_dict(self) -> dict[str, Any]:
        """As :meth:`InvarianceResult.to_dict`, plus ``estimator``, ``identification``,
        ``thresholds{...}`` (the threshold-invariance level), ``collapsed`` (categories merged
        because a group never used them) and ``partial.not_searched``."""
        from pipeline.jsonvalues import plain  # noqa: PLC0415

        lm: dict[str, dict] = {}
        for row in self.latent_means.itertuples(index=False):
            lm.setdefault(str(row.group), {})[row.construct] = {
                "estimate": row.estimate, "se": row.se, "z": row.z, "p": row.pvalue,
                "ci_low": row.ci_low, "ci_high": row.ci_high}

        def d(x):
            return x.to_dict() if x is not None else None

        return plain({
            "group": self.group, "groups": [str(g) for g in self.groups],
            "estimator": self.estimator, "identification": self.identification,
            "model": self.model,
            "constructs": {c: list(v) for c, v in self.constructs.items()},
            "higher_order": {h: list(v) for h, v in self.higher_order.items()},
            "n": {str(g): v for g, v in self.n.items()},
            "configural": d(self.configural), "thresholds": d(self.thresholds),
            "metric": d(self.metric), "scalar": d(self.scalar),
            "level_reached": self.level_reached,
            "partial": {"level_reached": None, "metric": None, "scalar": None,
                        "suggestions": [], "not_searched": True},
            "second_order_scalar": None,
            "latent_means": lm or None,
            "comparable": {"relationships": self.relationships_comparable,
                           "means": self.means_comparable},
            "defensible_comparisons": self.defensible_comparisons,
            "criteria": dict(self.criteria),
            "collapsed": {k: v for k, v in self.collapsed.items()},
            "warnings": list(self.warnings),
        })


def _collapse(codes, levels, gidx, G, items, warnings, group_labels, group):
    """Merge categories that some group never used with their neighbour (in every group), so
    that all groups share the categories the equal thresholds need. Returns new codes, levels,
    the collapsed map and the items left with fewer than two categories."""
    codes = codes.copy(order="F")
    levels = [np.asarray(v) for v in levels]
    collapsed: dict[str, Any] = {}
    for i, it in enumerate(items):
        merged = []
        while True:
            K = len(levels[i])
            if K < 2:
                break
            cnt = np.zeros((G, K), dtype=np.int64)
            for g in range(G):
                c = codes[gidx == g, i]
                cnt[g] = np.bincount(c[c >= 0], minlength=K)
            empty = np.argwhere(cnt == 0)
            if not len(empty):
                break
            g, c = empty[0]
            # merge with the neighbour that has more answers in that group's pooled data
            if c == 0:
                nb = 1
            elif c == K - 1:
                nb = K - 2
            else:
                tot = cnt.sum(axis=0)
                nb = c - 1 if tot[c - 1] <= tot[c + 1] else c + 1
            lo, hi = min(c, nb), max(c, nb)
            merged.append({"group": str(group_labels[g]), "value": float(levels[i][c]),
                           "merged_with": float(levels[i][nb])})
            col = codes[:, i]
            col = np.where(col > lo, col - 1, col)
            codes[:, i] = col
            levels[i] = np.delete(levels[i], hi)
        if merged:
            collapsed[it] = merged
            txt = "; ".join(f"value {m['value']:g} (never chosen in {group} '{m['group']}') "
                            f"merged with {m['merged_with']:g}" for m in merged)
            warnings.append(
                f"Item '{it}': {txt}. Equal thresholds across groups need the same answer "
                "categories in every group (lavaan refuses the model otherwise), so the "
                "categories were merged in all groups for the invariance models.")
    return codes, levels, collapsed


def ordinal_invariance(data: pd.DataFrame, constructs: Mapping[str, Sequence[str]], group: str,
                       *, higher_order: Mapping[str, Sequence[str]] | None = None,
                       cfi_min: float = 0.90, rmsea_max: float = 0.10, delta_cfi: float = 0.010,
                       delta_rmsea: float = 0.015) -> OrdinalInvarianceResult:
    """Configural, threshold, metric and scalar invariance of ordered items across the groups of
    column ``group`` by WLSMV with Wu & Estabrook (2016) identification (see the module
    docstring for the lavaan/semTools calls it matches).

    A level holds when the scaled CFI drops by at most ``delta_cfi`` and the scaled RMSEA rises
    by at most ``delta_rmsea`` against the previous level (Chen 2007), the previous level
    holding; the configural model must reach scaled CFI >= ``cfi_min`` and RMSEA <=
    ``rmsea_max``. The Satorra (2000) scaled-shifted difference test is reported beside them.
    No partial-invariance search (a failing level is reported as such). Second-order factors
    are not modelled: the levels are tested on the first-order model (constructs correlated).

    Bad input is a warning, never an error: a category one group never used is merged with its
    neighbour in all groups (named in the warning and in ``collapsed``); an item left with one
    category, or constant in a group, is left out; a group with fewer complete rows than twice
    the number of items is left out.
    """
    from pipeline.measure import cfa as _cfa  # noqa: PLC0415

    constructs = {str(k): tuple(v) for k, v in constructs.items()}
    higher = {str(k): tuple(v) for k, v in (higher_order or {}).items()}
    _cfa.check_model(data, constructs, higher, extra_columns=[group])
    crit = {"cfi_min": cfi_min, "rmsea_max": rmsea_max, "delta_cfi": delta_cfi,
            "delta_rmsea": delta_rmsea}
    with _cfa.one_blas_thread():
        return _run(data, constructs, group, crit, higher)


def _run(data, constructs, group, crit, higher):
    from pipeline.measure import cfa as _cfa  # noqa: PLC0415

    warnings: list[str] = []
    if higher:
        warnings.append("The ordinal (WLSMV) invariance levels are tested on the first-order "
                        "model (constructs correlated); the second-order factor(s) "
                        + ", ".join(f"'{h}'" for h in higher) + " are not part of them.")
    all_items = tuple(dict.fromkeys(i for its in constructs.values() for i in its))
    gcol = data[group]
    codes, levels = _ord.codes_from_frame(data, all_items)
    keep = (codes >= 0).all(axis=1) & gcol.notna().to_numpy()
    codes, levels = _ord.drop_rows(codes, levels, keep)
    gv = gcol.to_numpy()[keep]
    labels = list(pd.unique(gcol.dropna()))
    n_by = {g: int(np.sum(gv == g)) for g in labels}
    p0 = len(all_items)
    used = []
    for g in labels:
        if n_by[g] < max(2 * p0, 10):
            warnings.append(f"Group '{g}' has {n_by[g]} complete rows for {p0} ordered items, "
                            "too few for its thresholds, polychoric correlations and their "
                            "weight matrix; it was left out of the invariance models.")
        else:
            used.append(g)
    latent = _latent_empty()

    def empty(reason, cons=constructs, collapsed=None):
        warnings.append(reason)
        return OrdinalInvarianceResult(
            group=group, groups=tuple(used), n={g: n_by[g] for g in used}, configural=None,
            thresholds=None, metric=None, scalar=None, level_reached="none",
            latent_means=latent, defensible_comparisons=(
                "Measurement invariance could not be tested, so no comparison of constructs "
                "across groups is supported by it."), criteria=crit, warnings=tuple(warnings),
            constructs=cons, collapsed=collapsed or {})

    if len(used) < 2:
        return empty(f"Invariance needs at least two groups with enough complete rows in column "
                     f"'{group}'; found {len(used)}.")
    sel = np.isin(gv, used)
    codes, levels = _ord.drop_rows(codes, levels, sel)
    gv = gv[sel]
    gidx = np.array([used.index(g) for g in gv])
    G = len(used)
    codes, levels, collapsed = _collapse(codes, levels, gidx, G, all_items, warnings, used, group)
    bad = {it for it, lev in zip(all_items, levels) if len(lev) < 2}
    if bad:
        warnings.append("Item(s) " + ", ".join(f"'{b}'" for b in sorted(bad)) + " have a single "
                        "answer category across the groups and were left out of the invariance "
                        "models.")
    cons, _ = _cfa.prune_constructs(constructs, {}, bad, warnings)
    if not cons:
        return empty("No construct has two usable items, so invariance was not tested.", cons,
                     collapsed)
    items = tuple(dict.fromkeys(i for its in cons.values() for i in its))
    ix = [all_items.index(i) for i in items]
    codes = np.asfortranarray(codes[:, ix])
    levels = [levels[i] for i in ix]
    lv = list(cons)
    pattern = np.zeros((len(items), len(lv)), dtype=bool)
    for j, c in enumerate(lv):
        for it in cons[c]:
            pattern[items.index(it), j] = True
    gs = group_stats(codes, levels, gidx, used, items)
    for g, st in zip(used, gs.stats):
        for w in st.warnings:
            warnings.append(f"Group '{g}': {w}")
        dG = np.diag(st.nacov) if st.nacov is not None else np.array([np.nan])
        if not np.all(np.isfinite(dG)) or np.any(dG <= 0):
            return empty(f"The weight matrix of group '{g}' has zero or non-finite variances "
                         "(empty tables); invariance was not tested.", cons, collapsed)
    n_used = {g: n for g, n in zip(used, gs.n)}
    fits: dict[str, LevelFit] = {}
    prev = None
    for name in LEVELS:
        try:
            lf = fit_level(name, gs, lv, pattern, prev)
        except (np.linalg.LinAlgError, ValueError, FloatingPointError) as exc:
            warnings.append(f"The {name} model could not be fitted ({exc}); the levels above it "
                            "were not tested.")
            break
        warnings.extend(lf.warnings)
        fits[name] = lf
        prev = lf
    if "configural" not in fits:
        return empty("The configural model could not be fitted.", cons, collapsed)
    fc = fits["configural"]
    configural_ok = bool(fc.converged and fc.fit["cfi_scaled"] >= crit["cfi_min"]
                         and fc.fit["rmsea_scaled"] <= crit["rmsea_max"])
    configural = OrdinalInvarianceLevel("configural", fc.fit, fc.converged, holds=configural_ok)
    levels_out: dict[str, OrdinalInvarianceLevel | None] = {"configural": configural}
    prev_lv = configural
    for a, b in itertools.pairwise(LEVELS):
        if b not in fits:
            levels_out[b] = None
            continue
        levels_out[b] = _compare(b, fits[b], fits[a], prev_lv, gs, crit)
        prev_lv = levels_out[b]
    reached = "none"
    if configural_ok:
        reached = "configural"
        for name in LEVELS[1:]:
            lvl = levels_out.get(name)
            if lvl is None or not lvl.holds:
                break
            reached = name
    if configural_ok and fc.fit["cfi_scaled"] is not None and (
            fc.fit["cfi_scaled"] < 0.95 or fc.fit["rmsea_scaled"] > 0.08):
        warnings.append(f"The configural model fits only moderately (scaled CFI "
                        f"{fc.fit['cfi_scaled']:.3f}, RMSEA {fc.fit['rmsea_scaled']:.3f}); "
                        "invariance tests rest on a mediocre baseline.")
    failed = next((n for n in LEVELS[1:] if levels_out.get(n) is not None
                   and not levels_out[n].holds), None)
    if configural_ok and failed is not None:
        warnings.append(f"{failed.capitalize()} invariance does not hold across {group} (ordinal "
                        "WLSMV models); socap does not search for partial invariance of ordered "
                        "items, so the levels above it are not supported.")
    if reached == "scalar":
        latent = _latent_means(fits["scalar"], items, lv, used)
    sentence = _sentence(reached, group)
    return OrdinalInvarianceResult(
        group=group, groups=tuple(used), n=n_used, configural=configural,
        thresholds=levels_out.get("thresholds"), metric=levels_out.get("metric"),
        scalar=levels_out.get("scalar"), level_reached=reached, latent_means=latent,
        defensible_comparisons=sentence, criteria=crit, warnings=tuple(warnings),
        constructs=cons, collapsed=collapsed)


def _latent_means(lf: LevelFit, items, lv, groups) -> pd.DataFrame:
    L = lf.layout
    v = _values(L, lf.x)
    rows = []
    for g in range(1, L.G):
        for f, c in enumerate(lv):
            e = L.idx["alpha"][g, f]
            est = float(v["alpha"][g, f])
            se = float(lf.se[e]) if e >= 0 else np.nan
            z = est / se if se > 0 else np.nan
            pv = float(2 * ndtr(-abs(z))) if np.isfinite(z) else np.nan
            rows.append((groups[g], c, est, se, z, pv, est - 1.959963984540054 * se,
                         est + 1.959963984540054 * se))
    return pd.DataFrame(rows, columns=["group", "construct", "estimate", "se", "z", "pvalue",
                                       "ci_low", "ci_high"])


def _sentence(level: str, group: str) -> str:
    if level == "scalar":
        return (f"Scalar invariance of the ordered items holds across {group} (thresholds, "
                "loadings and intercepts equal; WLSMV, Wu & Estabrook 2016): construct means and "
                "relationships can be compared across groups; latent mean differences come from "
                "the scalar model.")
    if level == "metric":
        return (f"Threshold and metric invariance of the ordered items hold across {group} but "
                "scalar invariance does not: relationships (correlations, regression slopes) can "
                "be compared across groups, construct means cannot.")
    if level == "thresholds":
        return (f"Only threshold invariance of the ordered items holds across {group}: the "
                "loadings differ, so neither relationships nor means can be compared across "
                "groups.")
    if level == "configural":
        return (f"Only configural invariance holds across {group}: the same items measure the "
                "same constructs, but their thresholds differ, so neither relationships nor "
                "means can be compared across groups.")
    return (f"Configural invariance is not supported across {group}: the factor structure does "
            "not fit acceptably in every group, so constructs should not be compared across "
            "groups.")
