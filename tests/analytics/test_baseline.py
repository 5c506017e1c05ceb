"""The animal's own rolling baseline."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analytics import rolling_baseline

DAYS = pd.date_range("2026-01-01", periods=8, freq="D")


def test_median_of_previous_days_excluding_flagged() -> None:
    s = pd.Series([10, 12, 11, 13, 100, 12, 14, 15], index=DAYS, dtype="float64")
    flagged = pd.Series([False] * 4 + [True] + [False] * 3, index=DAYS)
    base = rolling_baseline(s, window=3, min_days=2, flagged=flagged)
    # day 3: median(10, 12); day 5: median(12, 11, 13); day 6 skips the flagged 100: median(12, 11, 13) again;
    # day 8: median(13, 12, 14)
    expected = [np.nan, np.nan, 11.0, 11.0, 12.0, 12.0, 12.0, 13.0]
    assert base.to_numpy() == pytest.approx(expected, nan_ok=True)
    unflagged = rolling_baseline(s, window=3, min_days=2)
    assert unflagged.iloc[6] == 13.0  # median(13, 100, 12) when day 5 counts


def test_default_seven_days_unsorted_and_all_equal() -> None:
    days = pd.date_range("2026-01-01", periods=10, freq="D")
    s = pd.Series(np.arange(1.0, 11.0), index=days)
    base = rolling_baseline(s.iloc[::-1])  # unsorted input
    assert base.index.is_monotonic_increasing
    assert base.iloc[:3].isna().all()
    assert base.iloc[3] == 2.0  # median(1, 2, 3)
    assert base.iloc[9] == 6.0  # median(3..9)
    same = rolling_baseline(pd.Series(5.0, index=days))
    assert (same.iloc[3:] == 5.0).all()


def test_single_day_and_missing_values() -> None:
    one = rolling_baseline(pd.Series([3.0], index=DAYS[:1]))
    assert one.isna().all()
    s = pd.Series([1.0, np.nan, 3.0, 5.0, 7.0], index=DAYS[:5])
    base = rolling_baseline(s, window=3, min_days=2)
    assert base.iloc[3] == 2.0  # median(1, 3): the NaN day does not count
    assert base.iloc[4] == 3.0
    with pytest.raises(ValueError, match="window"):
        rolling_baseline(s, window=3, min_days=4)
