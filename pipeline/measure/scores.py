"""Construct scores by the mean of valid items (``scoring: mean``).

Factor scores (``scoring: factor``) come from the CFA (:func:`pipeline.measure.cfa.factor_scores`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.config.instrument import Instrument


def mean_scores(responses: pd.DataFrame, instrument: Instrument, *,
                min_valid_share: float = 0.5) -> pd.DataFrame:
    """Mean of each construct's valid items, and of each higher-order construct's scores.

    Parameters
    ----------
    responses
        Item columns, recoded and reverse-keyed (NaN = missing).
    instrument
        Gives the constructs' items and the higher-order constructs.
    min_valid_share
        A score is computed only when at least this share of the construct's items (or of the
        higher-order construct's constructs) is valid; otherwise it is missing (the respondent
        is kept).

    Returns
    -------
    DataFrame
        One column per construct and higher-order construct, aligned with ``responses``.

    Notes
    -----
    As CONTRACT defines ``scoring: mean``; in R, ``rowMeans(items, na.rm = TRUE)`` with scores set
    to NA where ``rowMeans(!is.na(items)) < min_valid_share``.
    """
    out = {}
    for name, items in instrument.construct_items().items():
        x = responses[items].to_numpy(float)
        valid = ~np.isnan(x)
        k = valid.sum(1)
        with np.errstate(invalid="ignore", divide="ignore"):
            score = np.where(valid, x, 0).sum(1) / k
        score[k < min_valid_share * len(items)] = np.nan
        score[k == 0] = np.nan
        out[name] = score
    for name, parts in instrument.higher_order.items():
        x = np.column_stack([out[p] for p in parts])
        valid = ~np.isnan(x)
        k = valid.sum(1)
        with np.errstate(invalid="ignore", divide="ignore"):
            score = np.where(valid, x, 0).sum(1) / k
        score[(k < min_valid_share * len(parts)) | (k == 0)] = np.nan
        out[name] = score
    return pd.DataFrame(out, index=responses.index)
