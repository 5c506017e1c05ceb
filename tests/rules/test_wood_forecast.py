"""The yield-drop rule's Wood forecast and the ketosis screen's days in milk, when the cow's calving date is known."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd

from analytics import wood
from rules._engine import evaluate
from rules._model import AnimalContext
from tests.rules.helpers import T0, ctx, every, frame, only

A, B, C = 22.3, 0.20, 0.0040  # domain.md §7.3, multiparous


def _herd_cow(days: int, calving_dim_at_t0: float, drop_from_day: int | None, drop: float) -> pd.DataFrame:
    """Two milkings a day on Wood's curve (±1 % noise), each half of the day's yield; ``drop`` from a day on."""
    times = every(T0, 12 * 60, days * 2)
    rng = np.random.default_rng(11)
    yields = []
    for i in range(days * 2):
        dim = calving_dim_at_t0 + i / 2
        factor = 1 - drop if drop_from_day is not None and i >= drop_from_day * 2 else 1.0
        yields.append(float(wood(np.array([dim]), A, B, C)[0]) / 2 * factor * (1 + rng.normal(0, 0.01)))
    return pd.concat(
        [
            frame("milk_yield", times, yields, "robot-1"),
            frame("milking_interval", times, [12.0] * len(times), "robot-1"),
        ],
        ignore_index=True,
    )


def _cow_calved(dim_at_t0: float) -> AnimalContext:
    return AnimalContext("a1", "cow", "c1", calving=T0 - timedelta(days=dim_at_t0))


def test_a_healthy_cow_on_her_curve_raises_nothing_with_the_forecast() -> None:
    df = _herd_cow(28, 12, None, 0.0)  # early lactation: the yield still rises towards the peak
    assert evaluate(df, _cow_calved(12), only("cow", "yield_drop"), T0 + timedelta(days=28)) == []


def test_a_drop_is_measured_against_the_wood_forecast() -> None:
    df = _herd_cow(28, 12, 20, 0.25)
    eps = evaluate(df, _cow_calved(12), only("cow", "yield_drop"), T0 + timedelta(days=28))
    assert [e.category for e in eps] == ["milk_yield_drop"]
    ev = eps[0].evidence
    assert ev["model"] == "wood"
    assert eps[0].start >= T0 + timedelta(days=19)
    # the forecast follows the curve: the expected yield is Wood's at that day in milk (within 3 %), not a median
    day = pd.Timestamp(ev["day"])
    dim = (day - pd.Timestamp(T0.date())).days + 12
    assert abs(ev["expected"] - float(wood(np.array([dim]), A, B, C)[0])) / ev["expected"] < 0.03
    assert ev["pct_of_expected"] < 85


def test_a_short_stretch_far_from_calving_falls_back_to_the_median_without_error() -> None:
    df = _herd_cow(6, 240, None, 0.0)  # 6 days at DIM 240: too few days for a curve
    assert evaluate(df, _cow_calved(240), only("cow", "yield_drop"), T0 + timedelta(days=6)) == []


def _fp(days: int, ratio: float) -> pd.DataFrame:
    times = every(T0, 12 * 60, days * 2)
    return pd.concat(
        [
            frame("milk_fat", times, [4.0 * ratio] * len(times), "robot-1"),
            frame("milk_protein", times, [4.0] * len(times), "robot-1"),
        ],
        ignore_index=True,
    )


def test_the_ketosis_screen_counts_days_in_milk_when_the_calving_is_known() -> None:
    rules = only("cow", "ketosis_fp")
    df = _fp(10, 1.6)
    assert [e.category for e in evaluate(df, _cow_calved(20), rules, T0 + timedelta(days=10))] == ["ketosis"]
    assert evaluate(df, _cow_calved(200), rules, T0 + timedelta(days=10)) == []  # late lactation: not ketosis
    assert [e.category for e in evaluate(df, ctx("cow"), rules, T0 + timedelta(days=10))] == ["ketosis"]  # unknown
