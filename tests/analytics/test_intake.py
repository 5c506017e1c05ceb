"""Horses: daily intake, share of body weight, eating rate, baselines and meal pattern."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analytics import daily_intake, hourly_profile, meal_pattern
from analytics._errors import NoDataError
from tests.analytics.helpers import T0, frame

H = 60  # minutes per hour
D = 24 * H


def usual_day(day: int, forage: float = 3.0) -> list[tuple[float, str, float]]:
    base = day * D
    return [
        (base + 6 * H, "feed_intake", forage),
        (base + 18 * H, "feed_intake", forage),
        (base + 7 * H, "concentrate_intake", 1.0),
        (base + 8 * H, "water_intake", 10.0),
        (base + 20 * H, "water_intake", 15.0),
        (base + 6 * H, "eating_time", 120.0),
        (base + 18 * H, "eating_time", 120.0),
    ]


def horse(colic_days: tuple[int, ...] = (8, 9), days: int = 11) -> pd.DataFrame:
    rows: list[tuple[float, str, float]] = []
    for day in range(days):
        if day in colic_days:
            rows += [(day * D + 6 * H, "feed_intake", 1.0), (day * D + 6 * H, "eating_time", 60.0)]
        else:
            rows += usual_day(day)
    rows += [(2 * D + 10 * H, "body_weight", 500.0), (5 * D + 10 * H, "body_weight", 510.0)]
    return frame(rows)


def test_daily_sums_rate_and_share_of_body_weight() -> None:
    out = daily_intake(horse())
    assert len(out) == 11
    day0 = out.iloc[0]
    assert (day0["forage_kg"], day0["concentrate_kg"], day0["water_l"], day0["eating_min"]) == (6.0, 1.0, 25.0, 240.0)
    assert day0["eating_rate_kg_h"] == pytest.approx(1.5)  # 6 kg in 4 h
    assert day0["body_weight_kg"] == 500.0  # weighed on day 2: the first weighing stands for earlier days
    assert day0["intake_pct_bw"] == pytest.approx(100 * 7 / 500)
    assert out.iloc[4]["body_weight_kg"] == 500.0
    assert out.iloc[6]["intake_pct_bw"] == pytest.approx(100 * 7 / 510)
    colic = out.iloc[8]
    assert (colic["forage_kg"], colic["concentrate_kg"], colic["water_l"]) == (1.0, 0.0, 0.0)
    assert colic["eating_rate_kg_h"] == pytest.approx(1.0)
    assert colic["forage_kg_baseline"] == 6.0
    assert colic["forage_kg_pct_baseline"] == pytest.approx(100 / 6)
    assert colic["water_l_pct_baseline"] == 0.0


def test_flagged_days_stay_out_of_the_baseline() -> None:
    data = horse()
    plain = daily_intake(data, window=3, min_days=2)
    assert plain.iloc[10]["forage_kg_baseline"] == 1.0  # median(6, 1, 1)
    days = plain.index
    flagged = pd.Series(days.isin(days[[8, 9]]), index=days)
    out = daily_intake(data, window=3, min_days=2, flagged=flagged)
    assert out.iloc[10]["forage_kg_baseline"] == 6.0
    assert out.iloc[9]["forage_kg_baseline"] == 6.0  # a flagged day still gets a baseline
    assert np.isnan(out.iloc[0]["forage_kg_baseline"])


def test_day_without_visit_is_zero_and_unsorted_duplicated_input() -> None:
    rows = usual_day(0) + usual_day(2)  # day 1 has no visit at all
    out = daily_intake(frame(rows))
    assert len(out) == 3
    assert out.iloc[1]["forage_kg"] == 0.0
    assert np.isnan(out.iloc[1]["eating_rate_kg_h"])
    assert np.isnan(out.iloc[1]["intake_pct_bw"])  # never weighed
    # the same visit sent twice counts once; order does not matter
    again = frame(rows[::-1] + rows[:1])
    pd.testing.assert_frame_equal(daily_intake(again), out)


def test_single_reading_and_no_reading() -> None:
    out = daily_intake(frame([(30, "water_intake", 12.0)]))
    assert len(out) == 1
    assert out.iloc[0]["water_l"] == 12.0
    assert out.iloc[0]["forage_kg"] == 0.0
    with pytest.raises(NoDataError):
        daily_intake(frame([(0, "body_weight", 500.0)]))


def test_local_days() -> None:
    late = frame([(23 * H + 30, "feed_intake", 2.0)])  # 23:30 UTC = 00:30 in Paris the next day
    assert daily_intake(late).index[0] == T0.tz_localize(None)
    assert daily_intake(late, tz="Europe/Paris").index[0] == (T0 + pd.Timedelta(days=1)).tz_localize(None)


def ad_lib(days: int, colic_day: int) -> pd.DataFrame:
    rows = []
    for day in range(days):
        hours = range(6, 10) if day == colic_day else range(6, 22)
        rows += [(day * D + h * H + 15, "feed_intake", 1.0) for h in hours]
    return frame(rows)


def test_hourly_profile_and_meal_pattern() -> None:
    profile = hourly_profile(ad_lib(9, colic_day=8))
    assert profile.shape == (9, 24)
    assert profile.iloc[0, 6] == 1.0
    assert profile.iloc[0, 5] == 0.0
    assert profile.iloc[8].sum() == 4.0
    pattern = meal_pattern(profile)
    assert pattern.iloc[:3].isna().all().all()  # fewer than 3 earlier days
    usual = pattern.iloc[7]
    assert (usual["pattern_distance"], usual["pct_in_usual_hours"], usual["longest_fast_usual_h"]) == (0.0, 100.0, 0.0)
    colic = pattern.iloc[8]
    # usual: 1/16 at each of 16 hours; today: 1/4 at 4 of them → ½ (4·(1/4 - 1/16) + 12·1/16) = 0.75
    assert colic["pattern_distance"] == pytest.approx(0.75)
    assert colic["pct_in_usual_hours"] == 100.0
    assert colic["longest_fast_usual_h"] == 12.0  # 10:00-21:59 without eating


def test_meal_pattern_when_eating_at_unusual_hours_or_not_at_all() -> None:
    profile = hourly_profile(ad_lib(5, colic_day=-1))
    night = profile.copy()
    night.iloc[4] = 0.0
    night.iloc[4, 2] = 5.0  # everything eaten at 02:00
    out = meal_pattern(night)
    assert out.iloc[4]["pattern_distance"] == pytest.approx(1.0)
    assert out.iloc[4]["pct_in_usual_hours"] == 0.0
    night.iloc[4] = 0.0
    out = meal_pattern(night)
    assert out.iloc[4]["pattern_distance"] == 1.0
    assert out.iloc[4]["longest_fast_usual_h"] == 16.0
    with pytest.raises(NoDataError):
        hourly_profile(frame([(0, "water_intake", 1.0)]))


def test_partial_days_at_the_edges() -> None:
    data = horse(colic_days=())
    out = daily_intake(data)
    # the data run from day 0 06:00 to day 10 20:00 (the last water visit)
    assert out["hours"].iloc[0] == pytest.approx(18.0)
    assert out["hours"].iloc[10] == pytest.approx(20.0, abs=1e-6)
    assert out["complete"].tolist() == [False] + [True] * 9 + [False]
    assert np.isnan(out["forage_kg_pct_baseline"].iloc[10])  # a day in progress is not a fall in intake
    assert out["forage_kg_pct_baseline"].iloc[9] == 100.0
    # with the loaded window given, full days are complete even if the horse ate late
    span = (T0, T0 + pd.Timedelta(days=11))
    full = daily_intake(data, span=span)
    assert full["complete"].all()
    # a window running into a day without any visit adds that day, with zero intake
    longer = daily_intake(data, span=(T0, T0 + pd.Timedelta(days=12)))
    assert len(longer) == 12
    assert longer["forage_kg"].iloc[11] == 0.0
    assert longer["forage_kg_pct_baseline"].iloc[11] == 0.0


def test_partial_day_does_not_enter_the_baseline() -> None:
    # two full days at 6 kg, then a partial day at 1 kg (the recording stops at 07:00), then full days again
    rows = usual_day(0) + usual_day(1) + [(2 * D + 6 * H, "feed_intake", 1.0)]
    out = daily_intake(frame(rows), window=3, min_days=1, span=(T0, T0 + pd.Timedelta(days=2, hours=7)))
    assert out["complete"].tolist() == [True, True, False]
    assert out["hours"].iloc[2] == pytest.approx(7.0)
    assert out["forage_kg_baseline"].iloc[2] == 6.0
    assert np.isnan(out["forage_kg_pct_baseline"].iloc[2])


def test_daylight_saving_day_is_23_hours() -> None:
    paris_day = pd.Timestamp("2026-03-29T00:00:00", tz="Europe/Paris")  # clocks go forward at 02:00
    start = paris_day.tz_convert("UTC")
    rows = pd.DataFrame(
        {"time": [start + pd.Timedelta(hours=h) for h in (1, 12)], "metric": "feed_intake", "value": [2.0, 3.0]}
    )
    out = daily_intake(rows, tz="Europe/Paris", span=(start, start + pd.Timedelta(hours=23)))
    assert len(out) == 1
    assert out["hours"].iloc[0] == pytest.approx(23.0)
    assert bool(out["complete"].iloc[0])
