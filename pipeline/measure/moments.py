"""Item moments: the sufficient statistics of reliability, EFA and CFA in one vectorised pass.

Every later measurement stage (Cronbach's alpha, omega, KMO, parallel analysis, EFA, CFA) needs
only a handful of summaries of the respondent x item matrix: per-item counts, means and SDs, the
pairwise-complete covariance and correlation matrices (R's ``use = "pairwise"``) and the
listwise-complete mean and covariance (lavaan's default sample). This module computes all of them
from masked matrix products, so 10^6 respondents x 25 items cost a few BLAS calls instead of a
Python loop over item pairs.

Why hand-written numpy rather than ``pandas.DataFrame.cov``: pandas computes pairwise covariances
with a compiled double loop over column pairs and rows (single-threaded scalar work, no BLAS;
``benchmarks/bench_measurement.py`` measures the difference) and gives neither the pairwise counts
nor the listwise statistics in the same pass. Here, with ``M`` the 0/1 matrix of observed cells
and ``X0`` the data centred by the available-case means with missing cells set to 0, every
pairwise statistic is a block of two matrix products::

    N   = M'M            pairwise-complete counts n_ij
    S   = X0'M           S_ij = sum of (x_i - c_i) over rows where i and j are observed
    Q   = X0'X0          sum of (x_i - c_i)(x_j - c_j) over rows where both are observed
    SS  = (X0*X0)'M      sum of (x_i - c_i)^2 over rows where i and j are observed

and R's pairwise covariance of items i and j, which uses that pair's own means and n_ij - 1, is
``(Q_ij - S_ij S_ji / n_ij) / (n_ij - 1)``. Centring first (the shift ``c``) keeps the
subtraction well conditioned: 10^6 rows of 1-5 Likert data agree with R's two-pass algorithm to
1e-10 relative (``tests/test_moments.py``). Rows are processed in blocks so memory stays bounded
whatever ``n``; :class:`MomentsAccumulator` exposes the same pass for data streamed in chunks.

The listwise statistics depend on the item set: rows complete on a subset of items are a superset
of the rows complete on all items. :class:`ItemMoments` therefore also stores the table of
distinct missingness patterns with their counts (cheap: one bit per item per pattern), so that
:meth:`ItemMoments.subset` knows the exact listwise-complete count of any subset and keeps the
listwise mean and covariance only when they are exact for the subset (when no extra row becomes
complete); otherwise it sets them to ``None`` and the caller must recompute from the data with
``item_moments(data, items=subset)``.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from pipeline import ONE_BLAS_THREAD_MARK
from pipeline.errors import ProblemList, StudyError, did_you_mean

__all__ = ["ItemMoments", "MomentsAccumulator", "item_moments", "single_blas_thread"]

#: rows per block of the vectorised pass (bounded memory: 2^16 rows x 25 items ~ 13 MB per temp)
BLOCK_ROWS = 1 << 16


_CONTROLLERS: dict[bool, Any] = {}


def single_blas_thread():
    """Context limiting BLAS/LAPACK (numpy's and scipy's OpenBLAS) to one thread.

    The measurement stage's matrix work is small (p x p) or blocked (16,384 rows at a time), and
    OpenBLAS' threads cost more than they save there: on a 2-core machine an L-BFGS-B step of
    ``scipy.optimize`` takes ~15 ms with two threads against ~0.2 ms with one, and when other
    processes compete for the cores, threaded products of the moments pass ran 5-20x slower than
    single-threaded ones (spin-waiting threads). One thread also makes the results independent of
    the machine's core count. ``threadpoolctl`` (a scikit-learn dependency) applies the limit to
    every loaded BLAS; without it the work runs unchanged. The ``socap`` command sets the BLAS
    libraries' thread variables to 1 before NumPy loads (see :func:`pipeline.cli.main`): then
    there is nothing to limit, and nothing is asked of threadpoolctl (which inspects every loaded
    library, 0.01-0.25 s a run).
    """
    if os.environ.get(ONE_BLAS_THREAD_MARK) == "1":
        return contextlib.nullcontext()
    key = "scipy.special" in sys.modules or "scipy.linalg" in sys.modules
    try:
        ctl = _CONTROLLERS.get(key)
        if ctl is None:
            from threadpoolctl import ThreadpoolController

            ctl = _CONTROLLERS[key] = ThreadpoolController()
        return ctl.limit(limits=1, user_api="blas")
    except (ImportError, OSError, RuntimeError, ValueError, AttributeError):  # pragma: no cover
        # threadpoolctl missing or unable to inspect this platform's BLAS: run unlimited
        return contextlib.nullcontext()


@dataclass(frozen=True, eq=False)
class ItemMoments:
    """Sufficient statistics of an item matrix (n respondents x p items, NaN = missing).

    Attributes
    ----------
    items : tuple of str
        Item names, in column order of every array below.
    n_rows : int
        Rows in the data (respondents), including rows missing every item. This is the ``n`` that
        ``psych::alpha`` and ``psych::fa`` use (``nrow(x)``).
    n_valid : ndarray (p,)
        Non-missing values per item.
    n_pairwise : ndarray (p, p)
        Pairwise-complete counts (``psych::pairwiseCount``); the diagonal is ``n_valid``.
    means, sds : ndarray (p,)
        Available-case means and standard deviations (divisor n - 1), as R's
        ``colMeans(x, na.rm = TRUE)`` and ``apply(x, 2, sd, na.rm = TRUE)``.
    cov_pairwise : ndarray (p, p)
        ``cov(x, use = "pairwise")``: each pair's covariance over the rows where both items are
        observed, with that pair's own means and divisor ``n_ij - 1``. NaN where ``n_ij < 2``.
    cor_pairwise : ndarray (p, p)
        ``cor(x, use = "pairwise")``: each pair's Pearson correlation over its complete rows (pair-
        specific means and SDs). NaN where undefined (fewer than 2 rows, or a constant item; as in
        R, a constant item's whole row and column, diagonal included, are NaN).
    n_complete : int
        Rows complete on every item of ``items``.
    mean_complete, cov_complete : ndarray or None
        Mean and covariance (divisor n - 1) of the listwise-complete rows (lavaan's default sample:
        ``cov(na.omit(x))``). ``None`` after :meth:`subset` when the subset's complete rows differ
        from the parent's (recompute from data), or when fewer than 2 rows are complete (mean is
        kept with 1 complete row).
    patterns : ndarray (g, p) of bool
        The distinct missingness patterns (True = observed), one row per pattern.
    pattern_counts : ndarray (g,) of int
        Rows with each pattern.
    """

    items: tuple[str, ...]
    n_rows: int
    n_valid: np.ndarray
    n_pairwise: np.ndarray
    means: np.ndarray
    sds: np.ndarray
    cov_pairwise: np.ndarray
    cor_pairwise: np.ndarray
    n_complete: int
    mean_complete: np.ndarray | None
    cov_complete: np.ndarray | None
    patterns: np.ndarray = field(repr=False)
    pattern_counts: np.ndarray = field(repr=False)

    @property
    def n_items(self) -> int:
        return len(self.items)

    @property
    def missing_share(self) -> np.ndarray:
        """Share of rows missing each item (0 when there are no rows)."""
        if self.n_rows == 0:
            return np.zeros(len(self.items))
        return 1.0 - self.n_valid / self.n_rows

    def index(self, items: Sequence[str]) -> np.ndarray:
        """Column positions of ``items``; raises :class:`StudyError` naming unknown items."""
        if isinstance(items, str):
            items = [items]
        pos = {name: i for i, name in enumerate(self.items)}
        problems = ProblemList()
        idx = []
        for name in items:
            if name not in pos:
                problems.add(
                    f"item '{name}' is not among the measured items",
                    column=str(name),
                    fix=did_you_mean(str(name), self.items),
                )
            else:
                idx.append(pos[name])
        problems.raise_if_any("Unknown items were requested:")
        if len(set(idx)) != len(idx):
            dup = sorted({n for n in items if list(items).count(n) > 1})
            raise StudyError(
                f"items listed twice: {', '.join(dup)}",
                fix="list each item once per construct",
            )
        return np.asarray(idx, dtype=np.intp)

    def subset(self, items: Sequence[str]) -> ItemMoments:
        """The moments of a subset of items (in the order given).

        Pairwise statistics are exact for any subset (each pair only involves its own rows). The
        listwise-complete statistics of a subset are those of the rows complete on the *subset*,
        a superset of the rows complete on all items; the pattern table gives their exact count,
        and the parent's listwise mean and covariance are kept only when the two row sets are the
        same. Otherwise ``mean_complete`` and ``cov_complete`` are ``None``: recompute them with
        ``item_moments(data, items=...)``.
        """
        idx = self.index([items] if isinstance(items, str) else items)
        ix = np.ix_(idx, idx)
        pat = self.patterns[:, idx]
        counts = self.pattern_counts
        # merge patterns that coincide on the subset
        if len(pat):
            codes, inverse, new_counts = _unique_rows(_pattern_codes(pat), counts)
            first = np.zeros(len(codes), dtype=np.intp)
            first[inverse[::-1]] = np.arange(len(inverse))[::-1]
            new_pat = pat[first]
        else:
            new_pat, new_counts = pat, counts
        n_complete = int(new_counts[new_pat.all(axis=1)].sum()) if len(new_pat) else 0
        if n_complete == self.n_complete:
            mean_c = None if self.mean_complete is None else self.mean_complete[idx].copy()
            cov_c = None if self.cov_complete is None else self.cov_complete[ix].copy()
        else:
            mean_c = cov_c = None
        return ItemMoments(
            items=tuple(self.items[i] for i in idx),
            n_rows=self.n_rows,
            n_valid=self.n_valid[idx].copy(),
            n_pairwise=self.n_pairwise[ix].copy(),
            means=self.means[idx].copy(),
            sds=self.sds[idx].copy(),
            cov_pairwise=self.cov_pairwise[ix].copy(),
            cor_pairwise=self.cor_pairwise[ix].copy(),
            n_complete=n_complete,
            mean_complete=mean_c,
            cov_complete=cov_c,
            patterns=new_pat,
            pattern_counts=new_counts,
        )

    def to_frame(self) -> pd.DataFrame:
        """Per-item table: columns ``item, n_valid, missing, mean, sd``."""
        return pd.DataFrame(
            {
                "item": list(self.items),
                "n_valid": self.n_valid.astype(int),
                "missing": self.missing_share,
                "mean": self.means,
                "sd": self.sds,
            }
        )


def _pattern_codes(mask: np.ndarray) -> np.ndarray:
    """Pack boolean rows (n, p) into (n, w) uint64 codes, one bit per item."""
    packed = np.packbits(mask, axis=1, bitorder="little")
    width = -(-packed.shape[1] // 8) * 8
    if width != packed.shape[1]:
        packed = np.pad(packed, ((0, 0), (0, width - packed.shape[1])))
    return np.ascontiguousarray(packed).view(np.uint64)


def _unique_rows(codes: np.ndarray, counts: np.ndarray | None = None):
    """Distinct rows of a (n, w) uint64 code matrix with their (weighted) counts and inverse."""
    if codes.shape[1] == 1:
        uniq, inverse = np.unique(codes[:, 0], return_inverse=True)
        uniq = uniq[:, None]
    else:
        uniq, inverse = np.unique(codes, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    weights = None if counts is None else counts
    summed = np.bincount(inverse, weights=weights, minlength=len(uniq)).astype(np.int64)
    return uniq, inverse, summed


def _unpack_codes(codes: np.ndarray, p: int) -> np.ndarray:
    bits = np.unpackbits(np.ascontiguousarray(codes).view(np.uint8), axis=1, bitorder="little")
    return bits[:, :p].astype(bool)


class MomentsAccumulator:
    """Accumulates :class:`ItemMoments` over row chunks (for data streamed from large files).

    Parameters
    ----------
    items : sequence of str
        Item names (columns of every chunk, in this order).
    shift : array-like of float, optional
        A value close to each item's mean, subtracted before forming products (numerical
        conditioning only; results do not depend on it beyond rounding). Default: the available-case
        means of the first chunk that observes each item. Scale midpoints work well for Likert data.

    Notes
    -----
    Accumulated per chunk, with ``x0 = x - shift`` and missing cells set to 0:
    ``N = M'M``, ``S = x0'M``, ``Q = x0'x0``, ``SS = (x0^2)'M``, plus the count, sum and cross-
    products of the listwise-complete rows and the counts of each missingness pattern. All are
    plain sums, so chunks may come in any order; :meth:`moments` turns them into R's statistics.
    An item's shift is fixed the first time it is observed: before that every sum involving its
    values is zero, so setting it late is exact.

    Examples
    --------
    >>> acc = MomentsAccumulator(["a", "b"])
    >>> acc.add(np.array([[1.0, 2.0], [2.0, np.nan]]))
    >>> acc.add(np.array([[3.0, 5.0]]))
    >>> m = acc.moments()
    >>> m.n_valid.tolist(), round(float(m.cov_pairwise[0, 1]), 6)
    ([3, 2], 3.0)
    """

    def __init__(self, items: Sequence[str], shift: Iterable[float] | None = None) -> None:
        self.items = tuple(str(i) for i in items)
        p = len(self.items)
        self._p = p
        self.shift = (
            np.full(p, np.nan) if shift is None else np.asarray(list(shift), dtype=float).copy()
        )
        if self.shift.shape != (p,):
            raise ValueError(f"shift must have {p} values, got {self.shift.shape}")
        self.n_rows = 0
        self._N = np.zeros((p, p))
        self._S = np.zeros((p, p))
        self._Q = np.zeros((p, p))
        self._SS = np.zeros((p, p))
        self._nc = 0
        self._sc = np.zeros(p)
        self._Qc = np.zeros((p, p))
        self._codes: list[np.ndarray] = []
        self._code_counts: list[np.ndarray] = []

    def add(self, chunk: np.ndarray) -> None:
        """Add rows (an (n, p) float array, NaN = missing) to the running sums."""
        x = np.asarray(chunk, dtype=float)
        if x.ndim != 2 or x.shape[1] != self._p:
            raise ValueError(f"chunk must be (n, {self._p}), got {x.shape}")
        with single_blas_thread():
            for start in range(0, x.shape[0], BLOCK_ROWS):
                self._add_block(x[start : start + BLOCK_ROWS])

    def _add_block(self, x: np.ndarray) -> None:
        p = self._p
        if x.shape[0] == 0:
            return
        obs = ~np.isnan(x)
        unset = np.isnan(self.shift)
        if unset.any():
            cnt = obs[:, unset].sum(axis=0)
            with np.errstate(invalid="ignore", divide="ignore"):
                first = np.where(obs[:, unset], x[:, unset], 0.0).sum(axis=0) / cnt
            sh = self.shift[unset]
            sh[cnt > 0] = first[cnt > 0]
            self.shift[unset] = sh
        # the block's layout is kept (column-major input stays so: contiguous columns), and the
        # products are taken separately rather than as one [M X0]'[M X0] (no concatenated copy,
        # and the redundant M'X0 quarter is not computed)
        x0 = x - np.where(np.isnan(self.shift), 0.0, self.shift)
        complete = obs.all(axis=1)
        nc = int(complete.sum())
        self.n_rows += x.shape[0]
        # complete rows (most rows of a survey) have M = 1: their share of N, S and SS is a
        # count and column sums, and of Q their own cross-products (needed for the listwise
        # covariance anyway) -- one product over them instead of four
        if nc:
            xc = x0 if nc == x.shape[0] else x0[complete]
            qc = xc.T @ xc
            sc = xc.sum(axis=0)
            self._N += nc
            self._S += sc[:, None]
            self._SS += np.einsum("ij,ij->j", xc, xc)[:, None]
            self._Q += qc
            self._nc += nc
            self._sc += sc
            self._Qc += qc
        if nc < x.shape[0]:
            inc = obs[~complete]
            xi = x0[~complete]
            np.copyto(xi, 0.0, where=~inc)
            m = inc.astype(float)
            self._N += m.T @ m
            self._S += xi.T @ m
            self._Q += xi.T @ xi
            self._SS += (xi * xi).T @ m
            codes, _, counts = _unique_rows(_pattern_codes(inc))
            self._codes.append(codes)
            self._code_counts.append(counts)

    def moments(self) -> ItemMoments:
        """The :class:`ItemMoments` of all rows added so far."""
        p = self._p
        N, S, Q, SS = self._N, self._S, self._Q, self._SS
        shift = np.where(np.isnan(self.shift), 0.0, self.shift)
        with np.errstate(invalid="ignore", divide="ignore"):
            cross = Q - S * S.T / N  # centred cross-products over each pair's rows
            cov = cross / (N - 1)
            cov[N < 2] = np.nan
            var_i = SS - S * S / N  # sum of squares of x_i about its mean, rows where j observed
            # an item constant over a pair's rows has no variance there (R: NA correlation);
            # the subtraction leaves rounding noise of ~1e-16 SS, not an exact 0
            var_i = np.where(var_i <= 1e-12 * SS, 0.0, var_i)
            var_j = var_i.T
            denom = np.sqrt(var_i * var_j)
            cor = cross / denom
            cor[(N < 2) | ~(denom > 0)] = np.nan
            n_valid = np.diag(N).copy()
            means = shift + np.diag(S) / n_valid
            means[n_valid == 0] = np.nan
            var = np.diag(cov).copy()
        # numerical symmetry: both triangles come from the same sums, but rounding may differ
        cov = (cov + cov.T) / 2
        cor = (cor + cor.T) / 2
        diag_ok = ~np.isnan(np.diag(cor))
        cor[np.diag_indices(p)] = np.where(diag_ok, 1.0, np.nan)
        var = np.where(var < 0, 0.0, var)
        sds = np.sqrt(var)

        nc = self._nc
        if nc >= 1:
            mean_c = shift + self._sc / nc
            if nc >= 2:
                cov_c = (self._Qc - np.outer(self._sc, self._sc) / nc) / (nc - 1)
                cov_c = (cov_c + cov_c.T) / 2
            else:
                cov_c = None
        else:
            mean_c = cov_c = None

        patterns, counts = self._pattern_table()
        return ItemMoments(
            items=self.items,
            n_rows=int(self.n_rows),
            n_valid=n_valid.astype(np.int64),
            n_pairwise=np.rint(N).astype(np.int64),
            means=means,
            sds=sds,
            cov_pairwise=cov,
            cor_pairwise=cor,
            n_complete=int(nc),
            mean_complete=mean_c,
            cov_complete=cov_c,
            patterns=patterns,
            pattern_counts=counts,
        )

    def _pattern_table(self) -> tuple[np.ndarray, np.ndarray]:
        p = self._p
        pats = []
        cnts = []
        if self._nc:
            pats.append(np.ones((1, p), dtype=bool))
            cnts.append(np.array([self._nc], dtype=np.int64))
        if self._codes:
            codes = np.concatenate(self._codes, axis=0)
            counts = np.concatenate(self._code_counts)
            uniq, _, summed = _unique_rows(codes, counts)
            pats.append(_unpack_codes(uniq, p))
            cnts.append(summed)
        if not pats:
            return np.zeros((0, p), dtype=bool), np.zeros(0, dtype=np.int64)
        return np.concatenate(pats, axis=0), np.concatenate(cnts)


def _as_matrix(
    data: pd.DataFrame | np.ndarray, items: Sequence[str] | None
) -> tuple[np.ndarray, tuple[str, ...]]:
    if isinstance(data, pd.DataFrame):
        names = [str(c) for c in data.columns] if items is None else [str(i) for i in items]
        colmap = {str(c): c for c in data.columns}
        problems = ProblemList()
        for name in names:
            if name not in colmap:
                problems.add(
                    f"item '{name}' is not a column of the data",
                    column=name,
                    fix=did_you_mean(name, colmap),
                )
        problems.raise_if_any("Items are missing from the data:")
        cols = []
        for name in names:
            col = data[colmap[name]]
            if col.dtype == bool or str(col.dtype) == "boolean":
                col = col.astype("Float64")
            if not (pd.api.types.is_numeric_dtype(col)):
                bad = pd.to_numeric(col, errors="coerce").isna() & col.notna()
                first = bad.to_numpy().nonzero()[0]
                row = int(first[0]) + 2 if len(first) else None
                value = col.iloc[first[0]] if len(first) else None
                problems.add(
                    f"item '{name}' holds non-numeric values (e.g. {value!r}); "
                    "items must be numeric codes",
                    column=name,
                    row=row,
                    fix="recode text answers to numbers through the instrument's labels "
                    "or declare them as missing codes",
                )
                continue
            cols.append(col.to_numpy(dtype=float, na_value=np.nan))
        problems.raise_if_any("Items must be numeric:")
        # column-major: the blocked pass below reads contiguous column segments. A frame whose
        # items are one float block already is that matrix (pandas stores columns as rows of
        # the block): no copy. Otherwise each column is one contiguous copy (a row-major stack
        # of 10^6 x 20 writes every column with a stride, ~10x slower).
        frame = data[[colmap[name] for name in names]]
        if cols and all(dt == np.float64 for dt in frame.dtypes):
            x = frame.to_numpy(dtype=float)
            if x.strides[0] != x.itemsize:  # columns not contiguous
                x = np.asfortranarray(x)
        else:
            x = np.empty((len(data), len(cols)), order="F")
            for j, c in enumerate(cols):
                x[:, j] = c
    else:
        x = np.asarray(data, dtype=float)
        if x.ndim != 2:
            raise StudyError(f"the item matrix must be 2-dimensional, got shape {x.shape}")
        if items is None:
            names = [f"V{i + 1}" for i in range(x.shape[1])]
        else:
            names = [str(i) for i in items]
            if len(names) != x.shape[1]:
                raise StudyError(
                    f"{len(names)} item names were given for a matrix of {x.shape[1]} columns"
                )
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise StudyError(f"items listed twice: {', '.join(dup)}", fix="list each item once")
    bad = np.isinf(x)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise StudyError(
            f"item '{names[c]}' holds an infinite value",
            column=names[c],
            row=int(r) + 2,
            fix="infinite values are not valid answers; set them to missing",
        )
    return x, tuple(names)


def item_moments(
    data: pd.DataFrame | np.ndarray, items: Sequence[str] | None = None
) -> ItemMoments:
    """Item moments of a respondent x item matrix in one vectorised pass.

    Parameters
    ----------
    data : DataFrame or ndarray (n, p)
        Item responses, NaN (or ``pd.NA``) for missing. A DataFrame's item columns must be numeric.
    items : sequence of str, optional
        Item columns to use (DataFrame) or names of the array's columns (ndarray). Default: every
        column (named ``V1``..``Vp`` for an array, as R names unnamed columns).

    Returns
    -------
    ItemMoments

    Raises
    ------
    StudyError
        An item is not a column, a column is not numeric, or a value is infinite.

    Notes
    -----
    Centring: each item is shifted by its mean in the first block of rows observing it, then the
    masked products of the module docstring are accumulated block by block on the shifted
    data. Matches R's ``cov(x, use = "pairwise")``, ``cor(x, use = "pairwise")``,
    ``psych::pairwiseCount(x)``, ``colMeans(x, na.rm = TRUE)``, ``apply(x, 2, sd, na.rm = TRUE)``
    and ``cov(na.omit(x))``.
    """
    x, names = _as_matrix(data, items)
    # one pass: the centring shift is each item's mean in the first block that observes it
    # (MomentsAccumulator's default) -- close enough to the mean for the conditioning, and the
    # sums are exact algebra whatever it is; a separate pass for the overall means cost 0.17 s
    # at 10^6 rows
    acc = MomentsAccumulator(names)
    acc.add(x)
    return acc.moments()
