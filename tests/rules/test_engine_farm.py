"""Horse and cow rule kinds on crafted series."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd

from rules._engine import evaluate
from tests.rules.helpers import T0, ctx, every, frame, only


def _hay(days: int, drop_from_h: float | None, level: float) -> pd.DataFrame:
    times = every(T0, 60, days * 24)
    values = []
    for i, t in enumerate(times):
        h = t.hour
        eating = 0.0 if 1 <= h < 4 else 0.6
        if drop_from_h is not None and i >= drop_from_h:
            eating *= level
        values.append(eating)
    return frame("feed_intake", times, values, "feeder-1")


def test_colic_like_intake_drop_is_urgent_and_a_normal_week_is_quiet() -> None:
    rules = only("horse", "intake_drop", "no_intake")
    quiet = evaluate(_hay(10, None, 1.0), ctx("horse"), rules, T0 + timedelta(days=10))
    assert quiet == []
    drop = evaluate(_hay(10, 8 * 24 + 6, 0.0), ctx("horse"), rules, T0 + timedelta(days=10))
    cats = {(e.rule_id, e.severity) for e in drop}
    assert ("intake_drop", "urgent") in cats
    assert ("no_intake", "urgent") in cats
    first = min(e.start for e in drop)
    assert first - (T0 + timedelta(days=8, hours=6)) <= timedelta(hours=8)


def test_pony_rule_only_applies_to_ponies_and_donkeys() -> None:
    from tests.rules.helpers import ruleset

    assert "intake_drop_small_equid" in {r.id for r in ruleset().for_animal("pony").rules}
    assert "intake_drop_small_equid" not in {r.id for r in ruleset().for_animal("horse").rules}


def _milkings(days: int, sick_from: int | None, ec_factor: float) -> pd.DataFrame:
    rows = []
    rng = np.random.default_rng(3)
    for i in range(days * 2):
        t = T0 + timedelta(hours=12 * i)
        sick = sick_from is not None and i >= sick_from
        base = {"lf": 5.0, "rf": 5.1, "lr": 4.9, "rr": 5.05}
        for q, v in base.items():
            value = v * (1 + rng.normal(0, 0.01)) * (ec_factor if sick and q == "rr" else 1.0)
            rows.append((t, f"conductivity_{q}", value))
            rows.append((t, f"milk_yield_{q}", 3.0 * (0.6 if sick and q == "rr" else 1.0)))
        rows.append((t, "milk_yield", 12.0 - (1.2 if sick else 0.0)))
        rows.append((t, "milking_interval", 12.0))
    df = pd.DataFrame(rows, columns=["time", "metric", "value"])
    df["time"] = pd.to_datetime(df["time"], utc=True)
    df["device_id"] = "robot-1"
    df["animal_id"] = "a1"
    return df


def test_mastitis_needs_two_consecutive_milkings_and_resolves_after_four_calm_ones() -> None:
    rules = only("cow", "mastitis_ec")
    assert evaluate(_milkings(10, None, 1.0), ctx("cow"), rules, T0 + timedelta(days=10)) == []
    eps = evaluate(_milkings(10, 12, 1.3), ctx("cow"), rules, T0 + timedelta(days=10))
    assert len(eps) == 1
    assert eps[0].category == "mastitis"
    assert eps[0].severity == "urgent"
    assert eps[0].evidence["quarter"] == "rr"
    assert eps[0].start == T0 + timedelta(hours=12 * 13)
    frame_one = _milkings(10, 12, 1.3)
    one_milking = frame_one[frame_one["time"] != T0 + timedelta(hours=12 * 13)]
    healed = one_milking[
        ~(
            (one_milking["time"] > T0 + timedelta(hours=12 * 13))
            & one_milking["metric"].str.startswith("conductivity_rr")
        )
    ]
    assert evaluate(healed, ctx("cow"), rules, T0 + timedelta(days=10)) == []


def test_yield_drop_against_the_cow_s_own_baseline() -> None:
    times = every(T0, 12 * 60, 28)
    yields = [15.0] * 20 + [11.0] * 8
    df = pd.concat(
        [frame("milk_yield", times, yields, "robot-1"), frame("milking_interval", times, [12.0] * 28, "robot-1")],
        ignore_index=True,
    )
    eps = evaluate(df, ctx("cow"), only("cow", "yield_drop"), T0 + timedelta(days=14))
    assert [e.category for e in eps] == ["milk_yield_drop"]
    assert eps[0].start >= T0 + timedelta(days=10)
    assert eps[0].evidence["pct_of_expected"] < 85


def test_estrus_from_activity_twice_the_usual_hour() -> None:
    times = every(T0, 60, 24 * 10)
    values = [100.0] * len(times)
    for i in range(24 * 9 + 8, 24 * 9 + 16):
        values[i] = 280.0
    eps = evaluate(
        frame("activity", times, values, "robot-1"), ctx("cow"), only("cow", "estrus_activity"), T0 + timedelta(days=10)
    )
    assert [(e.category, e.severity) for e in eps] == [("estrus", "info")]
    assert eps[0].end is not None
