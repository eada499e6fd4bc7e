"""Respondents -> units (firms) -> groups (clusters, regions): unit scores, ICC(1), ICC(2), rwg(j).

A construct measured on respondents can be used as a property of a firm only when firms differ on
it (ICC(1)), when the firm means are reliable (ICC(2)) and when the respondents of one firm agree
(rwg(j)). This module computes the three, the way R's ``multilevel`` package does, together with
the unit table of mean scores.

Why hand-written NumPy rather than a library: pingouin's ``intraclass_corr`` needs balanced
groups and long-format ratings, statsmodels' ANOVA is slow to import and fits a full model, and
neither has rwg(j). Everything here comes from per-unit sums (``numpy.bincount`` over integer unit
codes), so 10^6 respondents in 10^4 units cost a few passes over the data and no Python loop over
units.

Choices a reviewer may ask about (all match ``multilevel`` 2.7):

* ICC(1) uses the *simple mean* group size ``N / k`` (``multilevel::ICC1`` computes
  ``GSIZE <- (df_within + df_between + 1) / (df_between + 1)``), not the adjusted ``n0`` of the
  unbalanced one-way ANOVA.
* The ANOVA uses the respondents whose score is not missing (``aov`` drops them); a unit whose
  respondents all lack the score does not count in ``k``.
* rwg(j) drops every respondent with any missing item of the construct (``na.exclude`` on the item
  columns), caps the mean item variance at the null variance (so rwg(j) lies in [0, 1]) and is
  missing for units with fewer than two complete respondents.
* Higher-order scores (e.g. ``social_capital``) get ICC(1) and ICC(2) only; their rwg(j) is
  ``None`` unless ``construct_items`` lists items for them (e.g. the pooled items of their
  constructs when these share one scale) -- then it is computed from those items like any other.
* Unit ids are compared and returned as text by the tie list's rule
  (:func:`pipeline.ids.id_text`: ``"0012"`` stays ``"0012"``, the number ``12.0`` becomes
  ``"12"``), so that the unit table joins the network measures; respondents with an empty id are
  left out.
* Group level (``group`` given): ICC(1)/ICC(2) treat *respondents* as nested in groups
  (``aov(score ~ as.factor(group))`` over respondents), which is what a reviewer expects for
  "does the cluster matter"; rwg(j) is computed with the group as ``grpid``. Units whose group is
  missing are left out of the group level (with a warning).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from pipeline.errors import ProblemList, StudyError
from pipeline.ids import node_ids
from pipeline.jsonvalues import number as _num

__all__ = ["AggregationStats", "LevelsResult", "aggregate", "one_way_icc", "rwg_j"]

#: Keys of ``LevelsResult.to_dict()`` that are not constructs; a score may not use these names.
RESERVED_KEYS = frozenset({"group_level", "units", "respondents_per_unit", "warnings"})

ICC1_NEAR_ZERO = 0.01
ICC2_MIN = 0.70
RWG_MIN = 0.70


@dataclass(frozen=True)
class AggregationStats:
    """Aggregation statistics of one score at one level (units or groups).

    Attributes
    ----------
    icc1, icc2
        ICC(1) and ICC(2) from the one-way ANOVA of the score on the unit (NaN when undefined).
    rwg_j_mean, rwg_j_median, rwg_j_share_70
        Mean, median and share >= .70 of rwg(j) over the units that have one (NaN when the score
        has no items, e.g. a higher-order score, or no unit has two complete respondents).
    n_units
        Units (or groups) in the ANOVA: those with at least one non-missing score.
    n_rwg_units
        Units with an rwg(j) value.
    mean_group_size
        ``N / k``: respondents with a score per unit, as ``multilevel::ICC1`` uses it.
    f, df1, df2, p
        The ANOVA F test of between-unit differences.
    """

    icc1: float
    icc2: float
    rwg_j_mean: float
    rwg_j_median: float
    rwg_j_share_70: float
    n_units: int
    n_rwg_units: int
    mean_group_size: float
    f: float
    df1: int
    df2: int
    p: float

    def to_dict(self, units_key: str = "n_units") -> dict[str, Any]:
        return {
            "icc1": _num(self.icc1),
            "icc2": _num(self.icc2),
            "rwg_j_mean": _num(self.rwg_j_mean),
            "rwg_j_median": _num(self.rwg_j_median),
            "rwg_j_share_70": _num(self.rwg_j_share_70),
            units_key: int(self.n_units),
            "mean_group_size": _num(self.mean_group_size),
            "f": _num(self.f),
            "df1": int(self.df1),
            "df2": int(self.df2),
            "p": _num(self.p),
        }


@dataclass(frozen=True)
class LevelsResult:
    """Respondents aggregated to units (and groups).

    Attributes
    ----------
    units
        One row per unit, index = unit id (sorted, named after the unit column): the mean of each
        score over the unit's respondents (same column names as the scores), ``n_respondents``
        (respondent rows of the unit) and, when a group was given, the group column.
    constructs
        Per score, its :class:`AggregationStats` at unit level.
    rwg_j
        rwg(j) per unit (rows, same index as ``units``) and score (columns); NaN for units with
        fewer than two complete respondents and for scores without items.
    group_level
        Per score, its :class:`AggregationStats` with respondents nested in groups (None without
        ``group``).
    group_rwg_j
        rwg(j) per group and score (None without ``group``).
    respondents_per_unit
        ``{"min", "median", "max"}`` of ``units.n_respondents``.
    warnings
        Statistical caveats, one sentence each.
    """

    units: pd.DataFrame
    constructs: Mapping[str, AggregationStats]
    rwg_j: pd.DataFrame
    respondents_per_unit: Mapping[str, float]
    group_level: Mapping[str, AggregationStats] | None = None
    group_rwg_j: pd.DataFrame | None = None
    group_column: str | None = None
    units_per_group: Mapping[str, float] | None = None
    respondents_per_group: Mapping[str, float] | None = None
    warnings: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        """The ``aggregation`` part of results.json.

        ``{<score>: {icc1, icc2, rwg_j_mean, rwg_j_median, rwg_j_share_70, n_units,
        mean_group_size, f, df1, df2, p}, ..., "group_level": {<score>: {... with n_groups in
        place of n_units}, "groups", "units_per_group", "respondents_per_group"} (only with a
        group), "units": n, "respondents_per_unit": {min, median, max}, "warnings": [...]}``.
        """
        out: dict[str, Any] = {name: s.to_dict() for name, s in self.constructs.items()}
        if self.group_level is not None:
            gl: dict[str, Any] = {
                name: s.to_dict(units_key="n_groups") for name, s in self.group_level.items()
            }
            gl["groups"] = int(self.group_rwg_j.shape[0]) if self.group_rwg_j is not None else 0
            gl["units_per_group"] = {k: _num(v) for k, v in (self.units_per_group or {}).items()}
            gl["respondents_per_group"] = {
                k: _num(v) for k, v in (self.respondents_per_group or {}).items()
            }
            out["group_level"] = gl
        out["units"] = int(self.units.shape[0])
        out["respondents_per_unit"] = {k: _num(v) for k, v in self.respondents_per_unit.items()}
        out["warnings"] = list(self.warnings)
        return out


# --------------------------------------------------------------------------------------------
# The two statistics, from integer group codes
# --------------------------------------------------------------------------------------------


def one_way_icc(values: np.ndarray, codes: np.ndarray, n_codes: int) -> dict[str, float]:
    """ICC(1), ICC(2) and the F test of a one-way random-effects ANOVA, from group codes.

    Parameters
    ----------
    values
        The score of each respondent (NaN = missing; such respondents are left out).
    codes
        Integer group code of each respondent, ``0 <= code < n_codes`` (negative = no group, left
        out).
    n_codes
        Number of possible codes.

    Returns
    -------
    dict
        ``icc1, icc2, f, df1, df2, p, k, n, mean_group_size`` (NaN where undefined: fewer than two
        groups, no within-group degrees of freedom, or no between-group variance).

    Notes
    -----
    With ``k`` groups holding ``N`` respondents, ``MSB = sum_j n_j (ybar_j - ybar)^2 / (k - 1)``
    and ``MSW = sum_ij (y_ij - ybar_j)^2 / (N - k)``:

    ``ICC(1) = (MSB - MSW) / (MSB + (N/k - 1) MSW)`` and ``ICC(2) = (MSB - MSW) / MSB``,
    ``F = MSB / MSW`` on ``(k - 1, N - k)`` degrees of freedom.

    Matches R ``multilevel::ICC1(aov(y ~ as.factor(g)))`` and ``multilevel::ICC2(...)``, which use
    the simple mean group size ``N/k`` also for unbalanced groups.

    References
    ----------
    Bliese, P. D. (2000). Within-group agreement, non-independence, and reliability: Implications
    for data aggregation and analysis. In K. J. Klein & S. W. J. Kozlowski (Eds.), *Multilevel
    theory, research, and methods in organizations* (pp. 349-381). Jossey-Bass.
    """
    y = np.asarray(values, dtype=float)
    codes = np.asarray(codes)
    ok = np.isfinite(y) & (codes >= 0)
    # rows left out go to an extra last bin, dropped from every sum: no compacted copies
    c = codes if ok.all() else np.where(ok, codes, n_codes)
    return _icc_from_bins(*_bins(y, c, n_codes))


def _bins(col: np.ndarray, c: np.ndarray, nb: int, buf: np.ndarray | None = None,
          n: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Count, mean and within sum of squares (two-pass) of ``col`` in bins ``0..nb-1``.

    ``c`` holds ``nb`` for the rows left out (an extra bin, dropped); ``buf`` is scratch space of
    ``len(col)``; ``n`` the counts when known. Empty bins get mean 0 and sum of squares 0."""
    if n is None:
        n = np.bincount(c, minlength=nb + 1)[:nb].astype(float)
    sums = np.bincount(c, weights=col, minlength=nb + 1)
    mean = np.append(sums[:nb] / np.where(n > 0, n, 1.0), 0.0)
    if buf is None:
        buf = np.empty(c.size)
    np.take(mean, c, out=buf, mode="clip")  # mode "raise" would buffer out
    np.subtract(col, buf, out=buf)
    np.multiply(buf, buf, out=buf)
    ss = np.bincount(c, weights=buf, minlength=nb + 1)[:nb]
    return n, mean[:nb], ss


def _lift(n: np.ndarray, mean: np.ndarray, ss: np.ndarray, parent: np.ndarray,
          n_parent: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bins of respondents grouped one level up (each bin's parent code; -1 = none): counts and
    means pooled, ``SS_g = sum_u SS_u + sum_u n_u (mean_u - mean_g)^2`` -- the same numbers as
    binning the respondents by their parent directly, without another pass over them."""
    keep = parent >= 0
    p, n_k, m_k, ss_k = parent[keep], n[keep], mean[keep], ss[keep]
    big_n = np.bincount(p, weights=n_k, minlength=n_parent)
    big_m = np.bincount(p, weights=n_k * m_k, minlength=n_parent) / np.where(big_n > 0, big_n, 1)
    between = n_k * (m_k - big_m[p]) ** 2
    big_ss = np.bincount(p, weights=ss_k + between, minlength=n_parent)
    return big_n, big_m, big_ss


def _icc_from_bins(n_j: np.ndarray, mean_j: np.ndarray, ss_j: np.ndarray) -> dict[str, float]:
    """:func:`one_way_icc` from the bins' counts, means and within sums of squares."""
    present = n_j > 0
    k = int(present.sum())
    n = int(n_j.sum())
    nan = float("nan")
    res = {"icc1": nan, "icc2": nan, "f": nan, "df1": max(k - 1, 0), "df2": max(n - k, 0),
           "p": nan, "k": k, "n": n, "mean_group_size": n / k if k else nan}
    if k == 0:
        return res
    grand = float(np.sum(n_j * mean_j)) / n
    ssw = float(ss_j.sum())
    ssb = float(np.sum(n_j[present] * (mean_j[present] - grand) ** 2))
    df1, df2 = k - 1, n - k
    if df1 < 1 or df2 < 1:
        return res
    msb = ssb / df1
    msw = ssw / df2
    gsize = n / k
    denom = msb + (gsize - 1.0) * msw
    res["icc1"] = (msb - msw) / denom if denom > 0 else nan
    res["icc2"] = (msb - msw) / msb if msb > 0 else nan
    if msw > 0:
        res["f"] = msb / msw
        res["p"] = float(special.fdtrc(df1, df2, res["f"]))
    return res


def _rwg_from_bins(n_j: np.ndarray, ss_items: Sequence[np.ndarray], ranvar: float) -> np.ndarray:
    """:func:`rwg_j` from the bins' counts of complete rows and each item's within SS."""
    n_items = len(ss_items)
    var_sum = np.zeros(n_j.size)
    with np.errstate(invalid="ignore", divide="ignore"):
        for ss in ss_items:
            var_sum += ss / (n_j - 1.0)
    out = np.full(n_j.size, np.nan)
    has = n_j > 1
    s2 = np.minimum(var_sum[has] / n_items, ranvar)
    ratio = s2 / ranvar
    num = n_items * (1.0 - ratio)
    out[has] = num / (num + ratio)
    return out


def rwg_j(items: np.ndarray, codes: np.ndarray, n_codes: int, ranvar: float) -> np.ndarray:
    """rwg(j) of every group, vectorised over groups.

    Parameters
    ----------
    items
        ``(N, J)`` item responses (NaN = missing; respondents with any missing item are dropped,
        as R's ``na.exclude`` in ``rwg.j`` does).
    codes
        Integer group code per respondent (negative = no group, dropped).
    n_codes
        Number of possible codes.
    ranvar
        Variance of the null (no agreement) distribution, ``(A^2 - 1) / 12`` for the uniform null
        on ``A`` scale points.

    Returns
    -------
    numpy.ndarray
        rwg(j) per code; NaN for groups with fewer than two complete respondents.

    Notes
    -----
    ``s2 = mean_j var(x_j)`` over the ``J`` items within the group (sample variances, ``n - 1``),
    capped at ``ranvar``; ``rwg(j) = J (1 - s2/ranvar) / (J (1 - s2/ranvar) + s2/ranvar)``.
    Matches R ``multilevel::rwg.j(items, grpid, ranvar)``; with one item it equals
    ``multilevel::rwg``.

    References
    ----------
    James, L. R., Demaree, R. G., & Wolf, G. (1984). Estimating within-group interrater reliability
    with and without response bias. *Journal of Applied Psychology*, 69(1), 85-98.
    """
    c, n_j, cols = _complete_rows(items, codes, n_codes)
    buf = np.empty(c.size)
    ss = [_bins(col, c, n_codes, buf, n_j)[2] for col in cols]  # never a loop over groups
    return _rwg_from_bins(n_j, ss, ranvar)


def _complete_rows(items, codes: np.ndarray, n_codes: int):
    """Bin codes of the rows with a group and every item answered (others -> ``n_codes``), their
    counts per bin, and the item columns (``items``: an (N, J) array or a list of columns)."""
    if isinstance(items, (list, tuple)):
        cols = [np.asarray(col, dtype=float) for col in items]
    else:
        x = np.asarray(items, dtype=float)
        cols = [x] if x.ndim == 1 else [x[:, j] for j in range(x.shape[1])]
    codes = np.asarray(codes)
    ok = codes >= 0
    for col in cols:
        ok &= np.isfinite(col)
    c = codes if ok.all() else np.where(ok, codes, n_codes)
    n_j = np.bincount(c, minlength=n_codes + 1)[:n_codes].astype(float)
    return c, n_j, cols


# --------------------------------------------------------------------------------------------
# aggregate()
# --------------------------------------------------------------------------------------------


def _codes(ids: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """Sorted integer codes of ids (missing ids get -1)."""
    try:
        codes, uniques = pd.factorize(ids, sort=True)
    except TypeError:  # mixed types: compare as text
        codes, uniques = pd.factorize(ids.astype("string"), sort=True)
    return np.asarray(codes), pd.Index(uniques)


def _unit_codes(ids: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """Sorted codes of unit ids as text (the tie list's rule), empty ids -> -1.

    The ids are factorized as they are and only the distinct values are turned into text (two
    raw values with one text, e.g. 12 and 12.0, become one unit): 10^6 respondents cost one hash
    pass, not 10^6 Python strings."""
    s = ids if isinstance(ids, pd.Series) else pd.Series(ids)
    try:
        raw, uniq = pd.factorize(s, use_na_sentinel=True)
    except TypeError:  # unhashable or mixed cells: compare as objects
        raw, uniq = pd.factorize(s.astype(object), use_na_sentinel=True)
    raw = np.asarray(raw)
    text = node_ids(pd.Series(uniq)).to_numpy(dtype=object)
    if text.size == 0:
        return np.full(raw.size, -1, dtype=np.int64), pd.Index([], dtype=object)
    tcodes, uniques = pd.factorize(text, sort=True)
    tcodes = np.asarray(tcodes, dtype=np.int64)
    uniques = np.asarray(uniques, dtype=object)
    if (uniques == "").any():  # empty id sorts first
        blank = int(np.flatnonzero(uniques == "")[0])
        tcodes = np.where(tcodes == blank, -1, tcodes - (tcodes > blank))
        uniques = np.delete(uniques, blank)
    codes = np.where(raw >= 0, tcodes[np.maximum(raw, 0)], -1)
    return codes, pd.Index(uniques, dtype=object)


def _float_column(responses: pd.DataFrame, col: str) -> np.ndarray:
    """A column as float64 (no copy when it is one already); text that is not a number -> NaN."""
    s = responses[col]
    if s.dtype.kind in "fiub":
        return s.to_numpy(dtype=float)
    return pd.to_numeric(s, errors="coerce").to_numpy(dtype=float)


def _summary(values: np.ndarray) -> dict[str, float]:
    if values.size == 0:
        return {"min": float("nan"), "median": float("nan"), "max": float("nan")}
    return {"min": float(np.min(values)), "median": float(np.median(values)),
            "max": float(np.max(values))}


def _stats(icc: dict[str, float], r: np.ndarray) -> AggregationStats:
    have = r[np.isfinite(r)]
    nan = float("nan")
    return AggregationStats(
        icc1=icc["icc1"], icc2=icc["icc2"],
        rwg_j_mean=float(have.mean()) if have.size else nan,
        rwg_j_median=float(np.median(have)) if have.size else nan,
        rwg_j_share_70=float(np.mean(have >= RWG_MIN)) if have.size else nan,
        n_units=icc["k"], n_rwg_units=int(have.size), mean_group_size=icc["mean_group_size"],
        f=icc["f"], df1=int(icc["df1"]), df2=int(icc["df2"]), p=icc["p"],
    )


def _caveats(name: str, s: AggregationStats, level: str, has_items: bool) -> list[str]:
    """Plain-language warnings for one score at one level ('units' or 'groups')."""
    out = []
    what = "unit" if level == "units" else "group"
    if not np.isfinite(s.icc1):
        out.append(
            f"ICC(1) of '{name}' across {level} could not be computed "
            f"({s.n_units} {level} with a score, {s.df2} within-{what} degrees of freedom)."
        )
    elif s.icc1 < ICC1_NEAR_ZERO:
        out.append(
            f"ICC(1) of '{name}' across {level} is {s.icc1:.3f} (near zero or negative; "
            f"F({s.df1}, {s.df2}) = {s.f:.2f}, p = {s.p:.3g}): {level} barely differ on it, so "
            f"treating it as a {what}-level property needs another justification."
        )
    if np.isfinite(s.icc2) and s.icc2 < ICC2_MIN:
        out.append(
            f"ICC(2) of '{name}' across {level} is {_below(s.icc2, ICC2_MIN)} (< .70): {what} means are "
            f"unreliable with {s.mean_group_size:.1f} respondents per {what} on average."
        )
    if has_items and np.isfinite(s.rwg_j_mean) and s.rwg_j_mean < RWG_MIN:
        out.append(
            f"Mean rwg(j) of '{name}' across {level} is {_below(s.rwg_j_mean, RWG_MIN)} (< .70): respondents of "
            f"the same {what} do not agree enough to justify using the {what} mean "
            f"({s.rwg_j_share_70:.0%} of {s.n_rwg_units} {level} reach .70)."
        )
    return out


def _below(value: float, cut: float) -> str:
    """``value`` (below ``cut``) with three decimals, or as many more as it takes not to read
    as the cut-off: an ICC(2) of 0.69990 is '0.6999', never '0.700 (< .70)'."""
    d = 3
    while d < 6 and round(value, d) >= cut:
        d += 1
    return f"{value:.{d}f}"


def aggregate(
    responses: pd.DataFrame,
    *,
    unit: str,
    scores: Sequence[str],
    construct_items: Mapping[str, Sequence[str]],
    scales: Mapping[str, tuple[float, float]],
    group: str | None = None,
    min_respondents: int = 1,
    null_variances: Mapping[str, float] | None = None,
) -> LevelsResult:
    """Aggregate respondents' scores to units and test whether that is justified.

    Parameters
    ----------
    responses
        One row per respondent: the unit id column, optionally the group column, the score columns
        and the (recoded, reverse-keyed) item columns of each construct.
    unit
        Name of the unit (firm) id column. Respondents without a unit id are left out (warning).
    scores
        Score columns to aggregate (constructs and higher-order scores such as
        ``social_capital``).
    construct_items
        Items of each construct, for rwg(j). Scores without an entry (higher-order scores) get
        ICC only.
    scales
        ``(min, max)`` of the response scale of each construct in ``construct_items``; the uniform
        null distribution has ``A = max - min + 1`` points and variance ``(A^2 - 1)/12``.
    group
        Optional higher-level column (cluster, region). A unit must belong to one group.
    min_respondents
        Units with fewer respondent rows are dropped (warning naming how many).
    null_variances
        rwg's null variance per construct where it is not ``(A^2 - 1)/12``: a continuous scale
        (a 0-100 slider, a scale score) has the uniform distribution on [min, max], variance
        ``(max - min)^2 / 12`` (:attr:`pipeline.config.instrument.Scale.null_variance`).

    Returns
    -------
    LevelsResult

    Raises
    ------
    StudyError
        The unit or group column is missing, a unit appears in two groups, or a score has a
        reserved name.

    Notes
    -----
    Unit score = mean of the non-missing scores of the unit's respondents. ICC(1), ICC(2):
    ``multilevel::ICC1(aov(score ~ as.factor(unit)))`` / ``ICC2`` (see :func:`one_way_icc`);
    rwg(j): ``multilevel::rwg.j(items, unit, ranvar = (A^2 - 1)/12)`` (see :func:`rwg_j`), mean,
    median and share >= .70 over units with two or more complete respondents. Statistics use the
    respondents of the units kept after ``min_respondents``. At group level respondents are nested
    in groups: ``ICC1(aov(score ~ as.factor(group)))`` and ``rwg.j(items, group, ...)``.

    References
    ----------
    Bliese, P. D. (2000), see :func:`one_way_icc`. James, Demaree & Wolf (1984), see
    :func:`rwg_j`. LeBreton, J. M., & Senter, J. L. (2008). Answers to 20 questions about
    interrater reliability and interrater agreement. *Organizational Research Methods*, 11(4),
    815-852.
    """
    scores = list(dict.fromkeys(scores))
    if unit not in responses.columns:
        raise StudyError(
            f"the unit column '{unit}' is not in the survey data",
            key="survey.unit",
            fix="set survey.unit to the column that holds each respondent's firm (unit) id",
        )
    if group is not None and group not in responses.columns:
        raise StudyError(
            f"the group column '{group}' is not in the survey data",
            key="survey.group",
            fix="set survey.group to the column that holds each respondent's cluster or region",
        )
    bad = [s for s in scores if s in RESERVED_KEYS]
    if bad:
        raise StudyError(
            f"a construct or score is named '{bad[0]}', a name results.json uses for another key",
            key="constructs",
            fix=f"rename '{bad[0]}' in the instrument",
        )
    missing_cols = [s for s in scores if s not in responses.columns]
    for c, items in construct_items.items():
        if c in scores:
            missing_cols += [i for i in items if i not in responses.columns]
            if c not in scales:
                raise ValueError(f"no scale given for construct '{c}'")
    if missing_cols:
        raise ValueError(f"columns not in responses: {missing_cols}")
    if min_respondents < 1:
        raise ValueError("min_respondents must be at least 1")

    warn: list[str] = []
    codes, uniques = _unit_codes(responses[unit])
    no_unit = int((codes < 0).sum())
    if no_unit:
        warn.append(
            f"{no_unit} respondent(s) have no unit id in '{unit}' and are left out of the "
            "aggregation to units."
        )
    n_all = uniques.size
    n_resp = np.bincount(codes[codes >= 0], minlength=n_all)

    # Group of each unit, checked for consistency (vectorised).
    unit_group: pd.Series | None = None
    if group is not None:
        # (unit, group) pairs counted on integer codes: groups are sorted values, as a groupby
        # would sort them, without grouping 10^6 rows of text
        gcode, guniq = _codes(responses[group])
        gcode = gcode.astype(np.int64, copy=False)
        ng = max(len(guniq), 1)
        both = (codes >= 0) & (gcode >= 0)
        key = codes[both] * ng + gcode[both]
        if n_all * ng <= 4 * codes.size + 1_000_000:
            counts = np.bincount(key, minlength=n_all * ng)
            keys = np.flatnonzero(counts)
            counts = counts[keys]
        else:
            keys, counts = np.unique(key, return_counts=True)
        pair_u = keys // ng
        pair_g = np.asarray(guniq, dtype=object)[keys % ng]
        pairs = pd.Series(counts,
                          index=pd.MultiIndex.from_arrays([pair_u, pair_g], names=["u", "g"]))
        multi = pd.Index(pair_u).duplicated(keep=False)
        if multi.any():
            problems = ProblemList()
            clash = pairs[multi]
            for u, sub in clash.groupby(level=0, sort=True):
                desc = " and ".join(
                    f"'{g}' ({n} respondent{'s' if n != 1 else ''})"
                    for (_, g), n in sub.items()
                )
                problems.add(
                    f"unit '{uniques[u]}' is in more than one group: {desc}",
                    column=group,
                    fix=f"give every respondent of unit '{uniques[u]}' the same {group}, "
                        "or correct the unit id of those in the wrong group",
                )
            problems.raise_if_any(f"Each unit must belong to one {group}:")
        first = ~pd.Index(pair_u).duplicated(keep="first")
        unit_group = pd.Series(pair_g[first], index=pair_u[first])

    keep_unit = n_resp >= min_respondents
    dropped = int((~keep_unit).sum())
    if dropped:
        warn.append(
            f"{dropped} unit(s) with fewer than {min_respondents} respondents were dropped "
            f"({int(n_resp[~keep_unit].sum())} respondents)."
        )
    # Recode kept units to 0..k-1 (sorted order preserved); others -> -1.
    new_code = np.full(n_all, -1, dtype=np.int64)
    new_code[keep_unit] = np.arange(int(keep_unit.sum()))
    ucodes = np.where(codes >= 0, new_code[np.maximum(codes, 0)], -1)
    n_units = int(keep_unit.sum())
    kept_ids = uniques[keep_unit]
    kept_n = n_resp[keep_unit]
    few = int((kept_n < 3).sum())
    if few:
        warn.append(
            f"{few} of {n_units} units have fewer than 3 respondents; their means and agreement "
            "rest on very few answers."
        )

    index = pd.Index(kept_ids, name=unit)
    unit_cols: dict[str, np.ndarray] = {}
    constructs: dict[str, AggregationStats] = {}
    rwg_cols: dict[str, np.ndarray] = {}
    valid_u = ucodes >= 0
    # One pass over the respondents per score and per item, at unit level: counts, means and
    # within sums of squares per unit. The group level is computed from those (_lift), exactly,
    # without a second pass over 10^6 rows.
    unit_bins: dict[str, tuple] = {}
    buf = np.empty(ucodes.size)  # scratch space of every pass
    for s in scores:
        y = _float_column(responses, s)
        ok = np.isfinite(y) & valid_u
        c = ucodes if ok.all() else np.where(ok, ucodes, n_units)
        yb = _bins(y, c, n_units, buf)
        unit_cols[s] = np.where(yb[0] > 0, yb[1], np.nan)
        item_bins = ranvar = None
        if s in construct_items and len(construct_items[s]) > 0:
            lo, hi = scales[s]
            a = float(hi) - float(lo) + 1.0
            ranvar = (a * a - 1.0) / 12.0
            if null_variances and s in null_variances:
                ranvar = float(null_variances[s])
            ci, n_ci, cols = _complete_rows(
                [_float_column(responses, i) for i in construct_items[s]], ucodes, n_units)
            item_bins = [_bins(col, ci, n_units, buf, n_ci) for col in cols]
            r = _rwg_from_bins(n_ci, [b[2] for b in item_bins], ranvar)
        else:
            r = np.full(n_units, np.nan)
        unit_bins[s] = (yb, item_bins, ranvar)
        stats = _stats(_icc_from_bins(*yb), r)
        constructs[s] = stats
        rwg_cols[s] = r
        warn += _caveats(s, stats, "units", item_bins is not None)

    units_df = pd.DataFrame(unit_cols, index=index)
    units_df["n_respondents"] = kept_n.astype(np.int64)
    rwg_df = pd.DataFrame(rwg_cols, index=index.copy())

    group_level = group_rwg = upg = rpg = None
    if group is not None and unit_group is not None:
        ug_kept = unit_group.reindex(np.flatnonzero(keep_unit))
        units_df[group] = ug_kept.to_numpy()
        no_group = int(ug_kept.isna().sum())
        if no_group:
            warn.append(
                f"{no_group} unit(s) have no {group} and are left out of the {group}-level "
                "statistics."
            )
        # Respondents nested in groups, through their unit's group.
        gcodes_u, guniques = _codes(pd.Series(ug_kept.to_numpy()))
        n_groups = guniques.size
        group_level = {}
        grwg_cols = {}
        for s in scores:
            yb, item_bins, ranvar = unit_bins[s]
            icc = _icc_from_bins(*_lift(*yb, gcodes_u, n_groups))
            if item_bins is not None:
                lifted = [_lift(*b, gcodes_u, n_groups) for b in item_bins]
                r = _rwg_from_bins(lifted[0][0], [b[2] for b in lifted], ranvar)
            else:
                r = np.full(n_groups, np.nan)
            stats = _stats(icc, r)
            group_level[s] = stats
            grwg_cols[s] = r
            warn += _caveats(s, stats, "groups", item_bins is not None)
        group_rwg = pd.DataFrame(grwg_cols, index=pd.Index(guniques, name=group))
        upg = _summary(np.bincount(gcodes_u[gcodes_u >= 0], minlength=n_groups))
        has_g = gcodes_u >= 0
        rpg = _summary(np.bincount(gcodes_u[has_g], weights=kept_n[has_g],
                                   minlength=n_groups).astype(np.int64))

    return LevelsResult(
        units=units_df,
        constructs=constructs,
        rwg_j=rwg_df,
        respondents_per_unit=_summary(kept_n),
        group_level=group_level,
        group_rwg_j=group_rwg,
        group_column=group,
        units_per_group=upg,
        respondents_per_group=rpg,
        warnings=tuple(warn),
    )
