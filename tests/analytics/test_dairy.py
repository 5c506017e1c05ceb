"""Dairy: daily yield from milking intervals, visits and rumination baselines, udder health, fat:protein."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analytics import (
    change_vs_history,
    cow_daily,
    daily_milk,
    fat_protein_ratio,
    fit_wood,
    interquarter_ratio,
    lactation_points,
    milking_table,
    quarter_conductivity,
    wood,
)
from analytics._errors import NoDataError
from tests.analytics.helpers import T0, frame

H = 60


def milkings() -> pd.DataFrame:
    return frame(
        [
            (2 * H, "milk_yield", 9.0),  # first milking: no interval known
            (10 * H, "milk_yield", 8.0),
            (10 * H, "milking_interval", 8.0),
            (22 * H, "milk_yield", 15.0),  # interval not reported: 12 h since the previous milking
            (32 * H, "milk_yield", 10.0),
            (32 * H, "milking_interval", 10.0),
        ]
    )


def test_milking_table_and_daily_yield() -> None:
    table = milking_table(milkings())
    assert table["interval_h"].tolist()[1:] == [8.0, 12.0, 10.0]
    assert np.isnan(table["interval_h"].iloc[0])
    daily = daily_milk(table)
    assert daily["milkings"].tolist() == [3.0, 1.0]
    assert daily["yield_kg"].tolist() == [32.0, 10.0]
    # 24-h equivalent over milkings with a known interval: (8 + 15) kg / (8 + 12) h * 24; then 10 kg / 10 h * 24
    assert daily["yield_24h"].tolist() == pytest.approx([27.6, 24.0])


def test_duplicated_and_unsorted_milkings() -> None:
    data = milkings()
    messy = pd.concat([data.iloc[::-1], data.iloc[:2]], ignore_index=True)
    pd.testing.assert_frame_equal(daily_milk(milking_table(messy)), daily_milk(milking_table(data)))


def test_single_milking_and_no_milking() -> None:
    daily = daily_milk(milking_table(frame([(60, "milk_yield", 12.0)])))
    assert daily["yield_kg"].tolist() == [12.0]
    assert np.isnan(daily["yield_24h"].iloc[0])
    with pytest.raises(NoDataError):
        milking_table(frame([(60, "rumination", 40.0)]))


def cow(days: int = 10, lame_from: int = 9) -> pd.DataFrame:
    rows = []
    for day in range(days):
        visits = [0, 8, 16] if day < lame_from else [4]
        for h in visits:
            interval = 8.0 if day < lame_from else 20.0
            rows += [
                (day * 24 * H + h * H, "milk_yield", interval * 1.25),
                (day * 24 * H + h * H, "milking_interval", interval),
            ]
        per_2h = 40.0 if day < lame_from else 25.0
        rows += [(day * 24 * H + h * H, "rumination", per_2h) for h in range(0, 24, 2)]
    return frame(rows)


def test_cow_daily_visits_and_rumination_baselines() -> None:
    out = cow_daily(cow(), span=(T0, T0 + pd.Timedelta(days=10)))
    assert out["milkings"].tolist() == [3.0] * 9 + [1.0]
    assert out["yield_24h"].tolist() == pytest.approx([30.0] * 10)  # 1.25 kg/h whatever the interval
    assert out["rumination_min"].tolist() == [480.0] * 9 + [300.0]
    last = out.iloc[9]
    assert last["milkings_baseline"] == 3.0
    assert last["milkings_pct_baseline"] == pytest.approx(100 / 3)
    assert last["rumination_min_baseline"] == 480.0
    assert last["rumination_min_pct_baseline"] == pytest.approx(62.5)
    assert out["yield_24h_pct_baseline"].iloc[3:].tolist() == pytest.approx([100.0] * 7)


def test_lactation_points_from_calving() -> None:
    daily = daily_milk(milking_table(milkings()))
    dim, milk = lactation_points(daily, T0.tz_localize(None) - pd.Timedelta(days=10))
    assert dim.tolist() == [10.0, 11.0]
    assert milk.tolist() == pytest.approx([27.6, 24.0])
    dim, _ = lactation_points(daily, T0.tz_localize(None))  # the calving day itself is DIM 0, left out
    assert dim.tolist() == [1.0]


def test_fit_from_milkings_recovers_the_curve() -> None:
    # 2 milkings a day at 12-h intervals, each half the Wood daily yield: the pipeline recovers a, b, c
    rows = []
    for day in range(1, 200):
        y = float(wood(np.array([float(day)]), 22.3, 0.2, 0.004)[0])
        for h in (6, 18):
            rows += [(day * 24 * H + h * H, "milk_yield", y / 2), (day * 24 * H + h * H, "milking_interval", 12.0)]
    daily = daily_milk(milking_table(frame(rows)))
    fit = fit_wood(*lactation_points(daily, T0.tz_localize(None)))
    assert (fit.a, fit.b, fit.c) == pytest.approx((22.3, 0.2, 0.004), rel=1e-6)


def quarters(rows: list[tuple[float, float, float, float]]) -> pd.DataFrame:
    out = []
    for i, values in enumerate(rows):
        for q, v in zip(("lf", "rf", "lr", "rr"), values, strict=True):
            if not np.isnan(v):
                out.append((i * 8 * H, f"conductivity_{q}", v))
    return frame(out)


def test_interquarter_ratio_hand_checked() -> None:
    nan = float("nan")
    ec = quarter_conductivity(quarters([(5.0, 5.2, 5.4, 7.0), (5.0, 5.2, 5.4, nan), (5.0, nan, nan, nan)]))
    ratio = interquarter_ratio(ec)
    # reference = mean of the two lowest = (5.0 + 5.2) / 2 = 5.1
    assert ratio.iloc[0].tolist() == pytest.approx([5.0 / 5.1, 5.2 / 5.1, 5.4 / 5.1, 7.0 / 5.1])
    assert ratio.iloc[1, :3].tolist() == pytest.approx([5.0 / 5.1, 5.2 / 5.1, 5.4 / 5.1])
    assert np.isnan(ratio.iloc[1, 3])
    assert ratio.iloc[2].isna().all()  # one quarter only: no reference
    equal = interquarter_ratio(quarter_conductivity(quarters([(5.5, 5.5, 5.5, 5.5)])))
    assert equal.iloc[0].tolist() == [1.0] * 4
    with pytest.raises(NoDataError):
        quarter_conductivity(frame([(0, "milk_yield", 10.0)]))


def test_change_versus_the_last_14_milkings() -> None:
    rows = [(5.0, 5.0, 5.0, 5.0)] * 15 + [(5.0, 5.0, 5.0, 6.0)]
    change = change_vs_history(quarter_conductivity(quarters(rows)))
    assert change["rr"].iloc[15] == pytest.approx(20.0)  # 6.0 vs mean 5.0 of milkings 2-15
    assert change["lf"].iloc[15] == pytest.approx(0.0)
    assert change["rr"].iloc[:5].isna().all()  # fewer than 5 earlier milkings
    assert change["rr"].iloc[5] == pytest.approx(0.0)
    # the window is the last 14: an old high value drops out
    rows = [(5.0, 5.0, 5.0, 19.0)] + [(5.0, 5.0, 5.0, 5.0)] * 14 + [(5.0, 5.0, 5.0, 5.0)]
    change = change_vs_history(quarter_conductivity(quarters(rows)))
    assert change["rr"].iloc[14] == pytest.approx(100 * (5.0 / (19.0 + 13 * 5.0) * 14 - 1))
    assert change["rr"].iloc[15] == pytest.approx(0.0)


def test_fat_protein_ratio_trend() -> None:
    rows = [
        (6 * H, "milk_fat", 4.0),
        (6 * H, "milk_protein", 3.2),  # 1.25
        (18 * H, "milk_fat", 3.6),
        (18 * H, "milk_protein", 3.0),  # 1.20
        (30 * H, "milk_fat", 4.2),
        (30 * H, "milk_protein", 3.0),  # 1.40
        (54 * H, "milk_fat", 4.5),
        (54 * H, "milk_protein", 3.0),  # 1.50
        (60 * H, "milk_fat", 4.5),  # no protein at this milking: ignored
    ]
    out = fat_protein_ratio(frame(rows))
    assert out["fp"].tolist() == pytest.approx([1.225, 1.4, 1.5])
    assert out["fp_mean"].tolist() == pytest.approx([1.225, 1.3125, 1.375])
    assert np.isnan(out["fp_slope"].iloc[0])
    assert out["fp_slope"].iloc[2] == pytest.approx(0.1375)  # least squares over days 0, 1, 2
    with pytest.raises(NoDataError):
        fat_protein_ratio(frame([(0, "milk_fat", 4.0)]))


def test_cow_daily_partial_last_day() -> None:
    out = cow_daily(cow())  # data end at 22:00 on the last day (last rumination report)
    assert out["complete"].tolist() == [True] * 9 + [False]
    assert out["hours"].iloc[9] == pytest.approx(22.0, abs=1e-6)
    last = out.iloc[9]
    assert np.isnan(last["milkings_pct_baseline"])  # a day in progress is not a drop in visits
    assert np.isnan(last["rumination_min_pct_baseline"])
    assert last["yield_24h_pct_baseline"] == pytest.approx(100.0)  # a rate stays comparable
