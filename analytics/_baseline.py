"""The animal's own baseline: the median of its last N usable days, flagged days excluded (domain.md §6)."""

from __future__ import annotations

import pandas as pd


def rolling_baseline(
    daily: pd.Series[float],
    *,
    window: int = 7,
    min_days: int = 3,
    flagged: pd.Series[bool] | None = None,
) -> pd.Series[float]:
    """For each day, the median of the ``window`` most recent earlier days that are not flagged.

    ``daily`` is one value per day (index sorted or not). A day never counts in its own baseline; a flagged day (ill,
    diet change, device fault) is left out of every later baseline but still gets a baseline of its own. NaN when
    fewer than ``min_days`` usable days precede it. Days missing from ``daily`` are simply absent: pass zeros for days
    with no intake.
    """
    if window < 1 or not 1 <= min_days <= window:
        raise ValueError("need window ≥ 1 and 1 ≤ min_days ≤ window")
    values = daily.sort_index().astype("float64")
    usable = values.notna()
    if flagged is not None:
        usable &= ~flagged.reindex(values.index, fill_value=False).astype(bool)
    medians = values[usable].rolling(window, min_periods=min_days).median()
    return medians.reindex(values.index).shift(1).ffill()
