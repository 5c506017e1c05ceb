"""CGM summary: hand-checked values, edge cases, and agreement with iglu-python."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analytics import GlucoseRange, cgm_summary, species_range
from analytics._errors import AnalyticsError, NoDataError
from tests.analytics.helpers import T0, series

RANGE = GlucoseRange(80.0, 250.0)


def test_hand_checked_regular_readings() -> None:
    # 50 below, 80 and 250 inside (limits inclusive), 100 inside, 300 above
    s = series([0, 5, 10, 15, 20], [50, 80, 100, 250, 300])
    out = cgm_summary(s, RANGE)
    assert out.n == 5
    assert out.mean == pytest.approx(156.0)
    # sample SD: deviations -106, -76, -56, 94, 144 → squares 11236 + 5776 + 3136 + 8836 + 20736 = 49,720; / 4
    assert out.sd == pytest.approx(np.sqrt(12430.0))
    assert out.cv == pytest.approx(100.0 * np.sqrt(12430.0) / 156.0)
    assert (out.pct_below, out.pct_in_range, out.pct_above) == pytest.approx((20.0, 60.0, 20.0))
    assert (out.time_below, out.time_in_range, out.time_above) == pytest.approx((20.0, 60.0, 20.0))
    assert out.interval_min == pytest.approx(5.0)
    assert out.coverage == pytest.approx(100.0)


def test_time_weighting_caps_gaps_at_the_nominal_interval() -> None:
    # interval 15: weights min(10,15)=10, min(5,15)=5, min(15,15)=15, last = 15 → total 45
    s = series([0, 10, 15, 30], [50, 100, 100, 300])
    out = cgm_summary(s, RANGE, interval_min=15.0)
    assert (out.pct_below, out.pct_in_range, out.pct_above) == pytest.approx((25.0, 50.0, 25.0))
    assert out.time_below == pytest.approx(100 * 10 / 45)
    assert out.time_in_range == pytest.approx(100 * 20 / 45)
    assert out.time_above == pytest.approx(100 * 15 / 45)


def test_gap_lowers_coverage_not_time_shares() -> None:
    # 5-min sensor, 12 readings then a 1-hour hole (11 slots missing) then 12 more: 24 of 35 slots
    minutes = list(range(0, 60, 5)) + list(range(115, 175, 5))
    s = series(minutes, [100.0] * 12 + [300.0] * 12)
    out = cgm_summary(s, RANGE)
    assert out.interval_min == pytest.approx(5.0)
    assert out.coverage == pytest.approx(100.0 * 24 / 35)
    assert out.time_in_range == pytest.approx(50.0)  # the hole weighs nothing


def test_coverage_is_robust_to_clock_jitter_and_oversampling() -> None:
    # a 5-min sensor whose clock jitters by ±1 s: still 100 %
    minutes = [5 * i + (1 / 60 if i % 2 else -1 / 60) for i in range(1, 100)]
    assert cgm_summary(series(minutes, [120.0] * 99), RANGE).coverage == pytest.approx(100.0)
    # 1-min streaming over a 15-min nominal interval: capped at 100 %
    assert cgm_summary(series(range(60), [120.0] * 60), RANGE, interval_min=15.0).coverage == 100.0
    # 15-min stored history with one 8-h scan gap (31 readings missing out of 96 + 1 expected)
    stored = [15 * i for i in range(97) if not 20 <= i <= 50]
    out = cgm_summary(series(stored, [120.0] * len(stored)), RANGE)
    assert out.interval_min == 15.0
    assert out.coverage == pytest.approx(100.0 * (97 - 31) / 97)


def test_window_counts_coverage_over_the_whole_window() -> None:
    s = series(range(0, 60, 5), [120.0] * 12)  # one hour of data
    window = (T0, T0 + pd.Timedelta(hours=4))
    out = cgm_summary(s, RANGE, window=window)
    assert out.coverage == pytest.approx(25.0)
    assert out.start == T0
    assert out.end == T0 + pd.Timedelta(hours=4)
    # readings outside the window are ignored
    later = series([300], [400.0])
    both = pd.concat([s, later])
    assert cgm_summary(both, RANGE, window=(T0, T0 + pd.Timedelta(hours=1))).mean == pytest.approx(120.0)


def test_single_reading() -> None:
    out = cgm_summary(series([0], [42.0]), RANGE)
    assert out.n == 1
    assert out.mean == 42.0
    assert out.sd is None
    assert out.cv is None
    assert out.pct_below == 100.0
    assert out.time_below == 100.0
    assert out.interval_min is None
    assert out.coverage is None
    with_interval = cgm_summary(series([0], [42.0]), RANGE, interval_min=15.0)
    assert with_interval.coverage == 100.0


def test_all_equal_values() -> None:
    out = cgm_summary(series(range(0, 50, 5), [180.0] * 10), RANGE)
    assert out.mean == 180.0
    assert out.sd == 0.0
    assert out.cv == 0.0
    assert out.pct_in_range == 100.0


def test_unsorted_input_gives_the_sorted_answer() -> None:
    minutes = [0, 5, 10, 15, 20, 40]
    values = [60.0, 90.0, 200.0, 260.0, 150.0, 70.0]
    ordered = cgm_summary(series(minutes, values), RANGE)
    order = [3, 0, 5, 1, 4, 2]
    shuffled = cgm_summary(series([minutes[i] for i in order], [values[i] for i in order]), RANGE)
    assert shuffled == ordered


def test_duplicated_timestamps_are_averaged() -> None:
    s = series([0, 5, 5, 10], [100.0, 60.0, 100.0, 100.0])
    out = cgm_summary(s, RANGE)
    assert out.n == 3
    assert out.mean == pytest.approx(280.0 / 3)
    assert out.pct_below == 0.0  # the duplicate pair averages to 80, inside the range
    assert out.coverage == pytest.approx(100.0)


def test_nan_values_are_dropped() -> None:
    out = cgm_summary(series([0, 5, 10], [100.0, float("nan"), 200.0]), RANGE)
    assert out.n == 2
    assert out.mean == 150.0


def test_empty_and_bad_arguments() -> None:
    with pytest.raises(NoDataError):
        cgm_summary(series([], []), RANGE)
    with pytest.raises(NoDataError):
        cgm_summary(series([0], [100.0]), RANGE, window=(T0 + pd.Timedelta(hours=1), T0 + pd.Timedelta(hours=2)))
    with pytest.raises(AnalyticsError):
        GlucoseRange(250.0, 80.0)
    with pytest.raises(AnalyticsError):
        cgm_summary(series([0], [100.0]), RANGE, interval_min=0.0)


def test_species_defaults() -> None:
    assert species_range("cat") == GlucoseRange(80.0, 250.0)
    assert species_range("Dog") == GlucoseRange(80.0, 250.0)
    assert species_range(None) == species_range("dog")


def test_to_dict_converts_units() -> None:
    out = cgm_summary(series([0, 5], [90.0, 270.0]), RANGE)
    mmol = out.to_dict("mmol/L")
    assert mmol["mean"] == pytest.approx(10.0)
    assert mmol["low"] == pytest.approx(80 / 18, abs=0.005)
    assert out.to_dict("g/L")["mean"] == pytest.approx(1.8)
    assert out.to_dict()["pct_in_range"] == 50.0


# --- agreement with iglu-python ---------------------------------------------------------------------------------


def _dog_trace(seed: int, days: int = 5, step: int = 5) -> pd.Series[float]:
    """A noisy diabetic-dog-like trace with q12h dips, a few gaps and a few duplicated and shuffled readings."""
    rng = np.random.default_rng(seed)
    n = days * 24 * 60 // step
    hours = np.arange(n) * step / 60.0
    since = hours % 12.0
    values = 320.0 - 230.0 * (since / 5.0) * np.exp(1.0 - since / 5.0) + rng.normal(0, 25, n)
    values = np.clip(values, 40, 600)
    keep = rng.random(n) > 0.05  # 5 % dropped readings
    keep[300:360] = False  # a 5-hour hole
    return pd.Series(values[keep], index=T0 + pd.to_timedelta(hours[keep], unit="h"))


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize(("low", "high"), [(80.0, 250.0), (70.0, 180.0), (100.0, 150.0)])
def test_agrees_with_iglu_python(seed: int, low: float, high: float) -> None:
    import iglu_python as iglu

    s = _dog_trace(seed)
    data = pd.DataFrame({"id": "dog", "time": s.index, "gl": s.to_numpy()})
    ours = cgm_summary(s, GlucoseRange(low, high))

    mean = float(iglu.mean_glu(data)["mean"].iloc[0])
    sd = float(iglu.sd_glu(data)["SD"].iloc[0])
    cv = float(iglu.cv_glu(data)["CV"].iloc[0])
    in_range = float(iglu.in_range_percent(data, target_ranges=[[low, high]]).iloc[0, 1])
    below = float(iglu.below_percent(data, targets_below=[low]).iloc[0, 1])
    above = float(iglu.above_percent(data, targets_above=[high]).iloc[0, 1])
    active = float(iglu.active_percent(data, dt0=5)["active_percent"].iloc[0])

    assert ours.mean == pytest.approx(mean, rel=0.005)
    assert ours.sd == pytest.approx(sd, rel=0.005)
    assert ours.cv == pytest.approx(cv, rel=0.005)
    assert ours.pct_in_range == pytest.approx(in_range, abs=1.0)
    assert ours.pct_below == pytest.approx(below, abs=1.0)
    assert ours.pct_above == pytest.approx(above, abs=1.0)
    assert ours.coverage == pytest.approx(active, abs=1.0)
    # the test data are not trivial: every class is populated
    assert min(ours.pct_below, ours.pct_in_range, ours.pct_above) > 1.0
