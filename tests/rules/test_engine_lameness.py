"""The lameness screen on crafted robot and collar series: fires, holds, resolves, does not flap, gaps, late data."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import pandas as pd

from rules._engine import evaluate
from tests.rules.helpers import T0, ctx, only

RULES = only("cow", "lameness_visits")
DAYS = 24
LAME = (T0 + timedelta(days=10), T0 + timedelta(days=16))


def _herd_cow(
    *,
    activity_drop: float = 0.3,
    visits: tuple[int, int] = (3, 2),
    hole: tuple[datetime, datetime] | None = None,
) -> pd.DataFrame:
    """Hourly activity (100, wobbling ± 3 %), 3 milkings a day of 10 kg and 7 min; during ``LAME`` activity drops by
    ``activity_drop`` and visits go from ``visits[0]`` to ``visits[1]`` a day (the yield of a visit stays the same)."""
    rng = random.Random(4)
    rows: list[tuple[datetime, str, float]] = []
    for h in range(DAYS * 24):
        t = T0 + timedelta(hours=h, minutes=30)
        lame = LAME[0] <= t < LAME[1]
        rows.append((t, "activity", 100.0 * (1 - (activity_drop if lame else 0.0)) * rng.uniform(0.97, 1.03)))
    for d in range(DAYS):
        day = T0 + timedelta(days=d)
        n = visits[1] if LAME[0] <= day < LAME[1] else visits[0]
        for k in range(n):
            t = day + timedelta(hours=2 + k * 24 / n)
            rows += [(t, "milk_yield", 10.0), (t, "milking_duration", 7.0)]
    if hole is not None:
        rows = [r for r in rows if not hole[0] <= r[0] < hole[1]]
    return pd.DataFrame(
        {
            "time": pd.to_datetime([r[0] for r in rows], utc=True),
            "device_id": "robot-1",
            "animal_id": "a1",
            "metric": [r[1] for r in rows],
            "value": [r[2] for r in rows],
        }
    )


def test_less_activity_with_fewer_visits_fires_once_holds_and_resolves() -> None:
    eps = evaluate(_herd_cow(), ctx("cow"), RULES, T0 + timedelta(days=DAYS))
    assert [(e.category, e.severity) for e in eps] == [("lameness", "review")]
    ep = eps[0]
    assert LAME[0] < ep.start <= LAME[0] + timedelta(days=4)  # a 3-day mean, then 2 days in a row
    assert ep.end is not None
    assert LAME[1] < ep.end <= LAME[1] + timedelta(days=4)
    assert ep.evidence["pct_of_baseline"]["activity_pct"] <= 85.0
    assert ep.evidence["pct_of_baseline"]["visits_pct"] <= 85.0
    assert "boiterie possible" in ep.explanation_fr
    assert "possible lameness" in ep.explanation_en
    assert "visits" in ep.explanation_en


def test_while_the_cow_is_still_lame_the_episode_stays_open() -> None:
    eps = evaluate(_herd_cow(), ctx("cow"), RULES, LAME[1] - timedelta(hours=1))
    assert len(eps) == 1
    assert eps[0].open


def test_one_sign_alone_is_not_lameness() -> None:
    # activity down but the robot sees nothing (a collar problem, a cold day); visits down but she moves as usual
    assert evaluate(_herd_cow(visits=(3, 3)), ctx("cow"), RULES, T0 + timedelta(days=DAYS)) == []
    assert evaluate(_herd_cow(activity_drop=0.0), ctx("cow"), RULES, T0 + timedelta(days=DAYS)) == []


def test_a_quiet_cow_never_flaps() -> None:
    quiet = _herd_cow(activity_drop=0.0, visits=(3, 3))
    for day in range(8, DAYS + 1):
        assert evaluate(quiet, ctx("cow"), RULES, T0 + timedelta(days=day)) == []


def test_a_day_without_collar_data_neither_breaks_nor_fakes_an_episode() -> None:
    # the collar relays nothing for a day during the lameness: still one episode; a hole alone is no alert
    hole = (LAME[0] + timedelta(days=3), LAME[0] + timedelta(days=4))
    eps = evaluate(_herd_cow(hole=hole), ctx("cow"), RULES, T0 + timedelta(days=DAYS))
    assert len(eps) == 1
    quiet_hole = (T0 + timedelta(days=12), T0 + timedelta(days=13))
    assert (
        evaluate(
            _herd_cow(activity_drop=0.0, visits=(3, 3), hole=quiet_hole), ctx("cow"), RULES, T0 + timedelta(days=DAYS)
        )
        == []
    )


def test_late_shuffled_rows_give_the_same_episode() -> None:
    rows = _herd_cow()
    shuffled = rows.sample(frac=1.0, random_state=3).reset_index(drop=True)
    now = T0 + timedelta(days=DAYS)
    assert evaluate(shuffled, ctx("cow"), RULES, now) == evaluate(rows, ctx("cow"), RULES, now)
