"""Property tests: invariants of the CGM summary and the baseline on arbitrary data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics import GlucoseRange, cgm_summary, rolling_baseline
from tests.analytics.helpers import series

readings = st.lists(
    st.tuples(st.integers(min_value=0, max_value=3000), st.floats(min_value=20, max_value=600)), min_size=1, max_size=80
)


@settings(max_examples=60, deadline=None)
@given(readings, st.floats(min_value=40, max_value=150), st.floats(min_value=10, max_value=200))
def test_cgm_summary_invariants(rows: list[tuple[int, float]], low: float, width: float) -> None:
    minutes = [m for m, _ in rows]
    values = [v for _, v in rows]
    out = cgm_summary(series(minutes, values), GlucoseRange(low, low + width))
    assert abs(out.pct_in_range + out.pct_below + out.pct_above - 100.0) < 1e-9
    assert abs(out.time_in_range + out.time_below + out.time_above - 100.0) < 1e-9
    clean = pd.Series(values, index=minutes).groupby(level=0).mean()
    assert out.n == len(clean)
    assert clean.min() - 1e-9 <= out.mean <= clean.max() + 1e-9
    assert out.coverage is None or 0.0 <= out.coverage <= 100.0
    reversed_out = cgm_summary(series(minutes[::-1], values[::-1]), GlucoseRange(low, low + width))
    assert abs(reversed_out.mean - out.mean) < 1e-9
    assert reversed_out.pct_below == out.pct_below


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(min_value=0, max_value=50), min_size=1, max_size=30), st.integers(min_value=1, max_value=10))
def test_baseline_is_a_median_of_earlier_days(values: list[float], window: int) -> None:
    days = pd.date_range("2026-01-01", periods=len(values), freq="D")
    base = rolling_baseline(pd.Series(values, index=days), window=window, min_days=1)
    assert np.isnan(base.iloc[0])
    for i in range(1, len(values)):
        earlier = values[max(0, i - window) : i]
        assert base.iloc[i] == pytest.approx(np.median(earlier))
