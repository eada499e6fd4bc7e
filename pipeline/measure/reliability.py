"""Scale reliability: Cronbach's alpha with Feldt's interval, item statistics and omega total.

Every number matches ``psych::alpha(x)`` / ``psych::omega(x, nfactors = 1)`` (psych 2.2.9) on
pairwise-complete data, computed from :class:`pipeline.measure.moments.ItemMoments` so the cost is
independent of the number of respondents.

Why not ``pingouin.cronbach_alpha``: it matches psych's alpha, but it costs ~3 s to import, gives
no item statistics, rounds its interval to three decimals, keeps constant items in ``k`` (psych
drops them), and after ``nan_policy="listwise"`` its interval still counts every row; and it has
no omega. The formulas are a few lines on the covariance matrix, written out here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import fdtri

from pipeline.errors import StudyError
from pipeline.jsonvalues import plain as _clean
from pipeline.measure.factors import extract, single_blas_thread, smc
from pipeline.measure.moments import ItemMoments

__all__ = ["ItemReliability", "Reliability", "construct_reliability", "scale_reliability"]

#: conventional lower bound for an acceptable alpha (Nunnally, 1978)
ALPHA_THRESHOLD = 0.70


@dataclass(frozen=True)
class ItemReliability:
    """Statistics of one item of a scale (``psych::alpha()$item.stats`` and ``$alpha.drop``).

    Attributes
    ----------
    item : str
    n : int
        Answers to the item (``item.stats$n``).
    missing : float
        Share of rows missing the item.
    mean, sd : float
        Available-case mean and SD (``item.stats$mean``, ``$sd``).
    r_drop : float or None
        Item-rest correlation: the item with the sum of the other items (``item.stats$r.drop``).
    r_cor : float or None
        Item-total correlation corrected for overlap and unreliability (``item.stats$r.cor``).
    std_r : float or None
        Item-total correlation of standardised items (``item.stats$std.r``).
    alpha_if_deleted : float or None
        Raw alpha of the other items (``alpha.drop$raw_alpha``); None for a two-item scale.
    used : bool
        False for an item left out of alpha (no variance).
    """

    item: str
    n: int
    missing: float
    mean: float
    sd: float
    r_drop: float | None
    r_cor: float | None
    std_r: float | None
    alpha_if_deleted: float | None
    used: bool = True

    def to_dict(self) -> dict:
        return _clean(
            {
                "n": self.n,
                "r_drop": self.r_drop,
                "alpha_if_deleted": self.alpha_if_deleted,
                "mean": self.mean,
                "sd": self.sd,
                "missing": self.missing,
                "r_cor": self.r_cor,
                "std_r": self.std_r,
            }
        )


@dataclass(frozen=True)
class Reliability:
    """Reliability of one construct's scale.

    Attributes
    ----------
    name : str
        The construct.
    n : int
        Rows of the data (``nrow(x)``): the ``n`` of Feldt's interval, as psych uses it.
    n_items : int
        Items alpha was computed on (items without variance are left out, as psych does).
    alpha, std_alpha, average_r : float or None
        ``psych::alpha()$total``: ``raw_alpha``, ``std.alpha``, ``average_r``.
    alpha_ci : tuple (lower, upper) or None
        Feldt's 95% interval (``psych::alpha()$feldt``).
    omega_total : float or None
        McDonald's omega total of a one-factor model (``psych::omega(x, nfactors = 1)$omega.tot``).
    items : tuple of ItemReliability
    warnings : tuple of str
    """

    name: str
    n: int
    n_items: int
    alpha: float | None
    alpha_ci: tuple[float, float] | None
    std_alpha: float | None
    average_r: float | None
    omega_total: float | None
    items: tuple[ItemReliability, ...]
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return _clean(
            {
                "n": self.n,
                "alpha": self.alpha,
                "alpha_ci": list(self.alpha_ci) if self.alpha_ci is not None else [None, None],
                "std_alpha": self.std_alpha,
                "average_r": self.average_r,
                "omega_total": self.omega_total,
                "n_items": self.n_items,
                "items": {it.item: it.to_dict() for it in self.items},
                "warnings": list(self.warnings),
            }
        )

    def item_frame(self):
        """Tidy item table: ``item, n, missing, mean, sd, r_drop, r_cor, std_r,
        alpha_if_deleted, used``."""
        import pandas as pd

        return pd.DataFrame([it.__dict__ for it in self.items])


def _alpha_raw(c: np.ndarray) -> float:
    k = c.shape[0]
    return float((1.0 - np.trace(c) / c.sum()) * (k / (k - 1)))


def feldt_interval(alpha: float, n: int, k: int, level: float = 0.95) -> tuple[float, float]:
    """Feldt's confidence interval for alpha, as ``psych::alpha.ci(alpha, n.obs = n, n.var = k)``.

    ``1 - (1 - alpha) F_{1-p/2}`` to ``1 - (1 - alpha) F_{p/2}``, F on ``n - 1`` and
    ``(n - 1)(k - 1)`` degrees of freedom (Feldt, Woodruff & Salih, 1987).
    """
    p = 1.0 - level
    df1 = n - 1
    df2 = (n - 1) * (k - 1)
    lo = 1.0 - (1.0 - alpha) * float(fdtri(df1, df2, 1.0 - p / 2))
    hi = 1.0 - (1.0 - alpha) * float(fdtri(df1, df2, p / 2))
    return lo, hi


def _omega_total(r: np.ndarray) -> tuple[float | None, list[str]]:
    """psych::omega(x, nfactors = 1)$omega.tot from the pairwise correlation matrix."""
    with single_blas_thread():
        fit = extract(r, 1, "minres")
    lam = fit.loadings[:, 0]
    u2 = 1.0 - lam * lam
    key = np.sign(lam)
    key[key == 0] = 1.0
    flipped = r * key[:, None] * key[None, :]  # psych's flip = TRUE
    vt = float(flipped.sum())
    warns = []
    if not fit.converged:
        warns.append("the one-factor model behind omega did not converge")
    return (vt - float(u2.sum())) / vt, warns


def scale_reliability(moments: ItemMoments, items: Sequence[str], *, name: str = "") -> Reliability:
    """Cronbach's alpha, Feldt interval, item statistics and omega total of one scale.

    Parameters
    ----------
    moments : ItemMoments
        Moments of the (recoded, reverse-keyed) item data.
    items : sequence of str
        The scale's items.
    name : str
        The construct's name, used in warnings.

    Returns
    -------
    Reliability

    Raises
    ------
    StudyError
        An item is not among ``moments.items``.

    Notes
    -----
    With ``C`` the pairwise-complete covariance matrix of the k items that vary (psych drops
    items without variance and warns), ``alpha = k/(k-1) (1 - tr C / sum C)``; with
    ``R = cov2cor(C)``, ``std_alpha = k/(k-1) (1 - k / sum R)`` and ``average_r`` the mean
    off-diagonal ``R``. ``r_drop_i = (sum_j C_ij - C_ii) / sqrt(C_ii sum C_{-i,-i})``;
    ``r_cor`` uses R with squared multiple correlations on the diagonal; ``alpha_if_deleted``
    is the raw alpha of ``C_{-i,-i}``.

    Feldt's interval uses ``n = nrow(x)``: psych's ``alpha()`` passes ``nsub = dim(x)[1]`` to
    ``alpha.ci``, i.e. every row given to it -- including rows missing some or all of the scale's
    items -- not the pairwise or listwise counts. socap does the same so that its interval is the
    one ``psych::alpha(df[, items])`` prints for the same data (``pingouin.cronbach_alpha`` also
    uses the number of rows, but keeps it after its listwise deletion and rounds to 3 decimals).
    With heavy missingness this interval is too narrow; the item ``missing`` shares show how much.

    ``omega_total`` is ``psych::omega(x, nfactors = 1)$omega.tot``, McDonald's omega of a one-factor
    minres model on the pairwise correlation matrix R: ``(sum R - sum u2) / sum R`` with ``u2`` the
    uniquenesses. As ``psych::omega`` (``flip = TRUE``), items loading negatively are reversed
    before summing R, so an item left unreversed lowers alpha but not omega; the negative
    item-rest correlation warning flags it. Two-item scales get alpha but no omega (a one-factor
    model of two items is not identified); one-item scales get neither.

    R: ``psych::alpha(x)`` (``$total``, ``$item.stats``, ``$alpha.drop``, ``$feldt``) and
    ``psych::omega(x, nfactors = 1)$omega.tot``.

    References
    ----------
    Cronbach, L. J. (1951). Coefficient alpha and the internal structure of tests. Psychometrika,
    16, 297-334.
    Feldt, L. S., Woodruff, D. J., & Salih, F. A. (1987). Statistical inference for coefficient
    alpha. Applied Psychological Measurement, 11, 93-103.
    McDonald, R. P. (1999). Test theory: A unified treatment. Erlbaum.
    Revelle, W., & Zinbarg, R. E. (2009). Coefficients alpha, beta, omega, and the glb.
    Psychometrika, 74, 145-154.
    """
    items = [items] if isinstance(items, str) else [str(i) for i in items]
    if not items:
        raise StudyError(f"construct '{name}' has no items", fix="list its items in the instrument")
    label = f"'{name}'" if name else "the scale"
    m = moments.subset(items)
    warns: list[str] = []
    n = int(m.n_rows)
    var = np.diag(m.cov_pairwise)
    ok = np.isfinite(var) & (var > 0)
    for it, good, nv in zip(m.items, ok, m.n_valid):
        if not good:
            why = (
                "was never answered"
                if nv == 0
                else (
                    "has a single answer"
                    if nv == 1
                    else "has no variance (every answer is the same)"
                )
            )
            warns.append(f"Item {it} of {label} {why}; it was left out of the reliability.")
    use = np.nonzero(ok)[0]
    k = len(use)
    c = m.cov_pairwise[np.ix_(use, use)]
    missing = m.missing_share

    alpha = std_alpha = average_r = omega = None
    ci = None
    r_drop = np.full(len(items), np.nan)
    r_cor = np.full(len(items), np.nan)
    std_r = np.full(len(items), np.nan)
    a_del = np.full(len(items), np.nan)

    if k >= 2 and np.isfinite(c).all():
        r = c / np.sqrt(np.outer(np.diag(c), np.diag(c)))
        np.fill_diagonal(r, 1.0)
        alpha = _alpha_raw(c)
        sum_r = float(r.sum())
        std_alpha = (1.0 - k / sum_r) * (k / (k - 1))
        average_r = (sum_r - k) / (k * (k - 1))
        if n >= 2:
            ci = feldt_interval(alpha, n, k)
        total_c = c.sum()
        colsum_c = c.sum(axis=0)
        diag_c = np.diag(c)
        rd = (colsum_c - diag_c) / np.sqrt(diag_c * (total_c - 2 * colsum_c + diag_c))
        rc = r.copy()
        np.fill_diagonal(rc, smc(r))
        # weakly or negatively correlated items can make these sums negative: psych::alpha
        # then takes sqrt() of a negative number and reports NaN ("NaNs produced"); so here
        sum_rc = float(rc.sum())
        with np.errstate(invalid="ignore"):
            rcor = rc.sum(axis=0) / np.sqrt(sum_rc)
            sr = r.sum(axis=0) / np.sqrt(sum_r)
            if sum_rc <= 0 or sum_r <= 0:
                warns.append(
                    f"The items of {label} correlate so weakly or negatively that the corrected "
                    "item-total correlations (r_cor"
                    + (", std_r" if sum_r <= 0 else "")
                    + ") are undefined, as psych::alpha reports them (NaN): check the "
                    "reverse keying of its items."
                )
        r_drop[use] = rd
        r_cor[use] = rcor
        std_r[use] = sr
        if k > 2:
            for pos, j in enumerate(use):
                keep = np.delete(np.arange(k), pos)
                a_del[j] = _alpha_raw(c[np.ix_(keep, keep)])
        if alpha < ALPHA_THRESHOLD:
            shown = math.floor(alpha * 1000) / 1000  # truncated: .6998 must not read ".700"
            warns.append(
                f"Cronbach's alpha of {label} is {shown:.3f}, below the conventional "
                f"{ALPHA_THRESHOLD:.2f}."
            )
        # psych::alpha's check: items loading negatively on the first principal component
        # (signed so the loadings sum positive) run against the scale -- likely reverse-keyed.
        r_pc = m.cor_pairwise[np.ix_(use, use)]
        against = set()
        if np.isfinite(r_pc).all():
            vals, vecs = np.linalg.eigh(r_pc)
            v1 = vecs[:, -1] * np.sqrt(max(vals[-1], 0.0))
            if v1.sum() < 0:
                v1 = -v1
            against = {int(use[i]) for i in np.nonzero(v1 < 0)[0]}
        for j in use:
            if j in against:
                warns.append(
                    f"Item {items[j]} runs against the rest of {label} (negative loading on its "
                    f"first principal component, r_drop = {r_drop[j]:.2f}): is item {items[j]} "
                    "reverse-keyed?"
                )
            elif r_drop[j] < 0:
                warns.append(
                    f"Item {items[j]} correlates negatively with the rest of {label} "
                    f"(r_drop = {r_drop[j]:.2f})."
                )
        if k >= 3:
            r_om = m.cor_pairwise[np.ix_(use, use)]
            if np.isfinite(r_om).all():
                omega, om_warn = _omega_total(r_om)
                warns.extend(f"For {label}, {w}." for w in om_warn)
            else:
                warns.append(
                    f"Omega of {label} is undefined: some item pairs were never answered together."
                )
        else:
            warns.append(
                f"{label[0].upper() + label[1:]} has two items: alpha is reported, but omega needs "
                "at least three items (a one-factor model of two items is not identified)."
            )
    elif k >= 2:
        warns.append(
            f"Reliability of {label} is undefined: some of its item pairs were never answered "
            "together."
        )
    else:
        warns.append(
            f"{label[0].upper() + label[1:]} has {'one item' if k == 1 else 'no usable item'}: "
            "reliability (alpha, omega) needs at least two items."
        )

    stats = tuple(
        ItemReliability(
            item=items[j],
            n=int(m.n_valid[j]),
            missing=float(missing[j]),
            mean=float(m.means[j]),
            sd=float(m.sds[j]),
            r_drop=_opt(r_drop[j]),
            r_cor=_opt(r_cor[j]),
            std_r=_opt(std_r[j]),
            alpha_if_deleted=_opt(a_del[j]),
            used=bool(ok[j]),
        )
        for j in range(len(items))
    )
    return Reliability(
        name=name,
        n=n,
        n_items=k,
        alpha=alpha,
        alpha_ci=ci,
        std_alpha=std_alpha,
        average_r=average_r,
        omega_total=omega,
        items=stats,
        warnings=tuple(warns),
    )


def _opt(v: float) -> float | None:
    return float(v) if np.isfinite(v) else None


def construct_reliability(
    moments: ItemMoments, constructs: Mapping[str, Sequence[str]]
) -> dict[str, Reliability]:
    """:func:`scale_reliability` for every construct of an instrument (``{name: items}``)."""
    return {
        name: scale_reliability(moments, items, name=name) for name, items in constructs.items()
    }
