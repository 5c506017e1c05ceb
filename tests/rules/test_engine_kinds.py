"""The rule kinds the other files do not cover, on crafted series, each with the same four checks:

- it **fires** on the condition (and a control series without it stays quiet);
- it **holds** (an evaluation in the middle of the condition has it open) and **resolves** when the series recovers;
- it **does not flap**: evaluated every 3 hours along the series, as a service would, it only ever sees one episode;
- **late data**: the rows shuffled and half of them duplicated give the same episodes.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd
import pytest

from rules._engine import evaluate
from tests.rules.helpers import T0, ctx, every, frame, only


@dataclass(frozen=True)
class Case:
    species: str
    rule: str
    build: Callable[[bool], pd.DataFrame]  # True: with the condition; False: the control
    during: datetime  # the condition holds then
    end: datetime  # the series is over (recovered) by then

    def sick(self) -> pd.DataFrame:
        return self.build(True)  # noqa: FBT003

    def control(self) -> pd.DataFrame:
        return self.build(False)  # noqa: FBT003


def _glucose_days(days: int, level: Callable[[datetime], float]) -> pd.DataFrame:
    times = every(T0, 15, days * 96)
    rng = random.Random(2)
    return frame("glucose", times, [level(t) + rng.uniform(-8, 8) for t in times], "cgm-1")


def _poor_control(on: bool) -> pd.DataFrame:
    high = (T0 + timedelta(days=1), T0 + timedelta(days=6))
    return _glucose_days(10, lambda t: 300.0 if on and high[0] <= t < high[1] else 180.0)


def _compression(on: bool) -> pd.DataFrame:
    times = every(T0, 5, 24 * 12)
    dip = T0 + timedelta(hours=3)
    values = []
    for t in times:
        k = (t - dip) / timedelta(minutes=5)
        values.append(80.0 if on and 0 <= k < 4 else 160.0)  # 160 → 80 → 160 within 25 min at night
    return frame("glucose", times, values, "cgm-1")


def _feeder(on: bool) -> pd.DataFrame:
    times = every(T0, 180, 8 * 3)
    stuck = (T0 + timedelta(days=2), T0 + timedelta(days=2, hours=15))
    feed = [0.0 if on and stuck[0] <= t < stuck[1] else 1.5 for t in times]
    return pd.concat(
        [frame("feed_intake", times, feed, "feeder-1"), frame("eating_time", times, [40.0] * len(times), "feeder-1")]
    )


def _robot(on: bool) -> pd.DataFrame:
    times = [t for t in every(T0, 8 * 60, 3 * 10) if not (on and T0 + timedelta(days=4) < t < T0 + timedelta(days=5))]
    return frame("milk_yield", times, [10.0] * len(times), "robot-1")


def _ketosis(on: bool) -> pd.DataFrame:
    times = every(T0, 8 * 60, 3 * 24)
    high = (T0 + timedelta(days=4), T0 + timedelta(days=12))
    fat = [6.0 if on and high[0] <= t < high[1] else 4.0 for t in times]
    return pd.concat(
        [frame("milk_fat", times, fat, "robot-1"), frame("milk_protein", times, [3.4] * len(times), "robot-1")]
    )


def _water(on: bool) -> pd.DataFrame:
    times = every(T0, 60, 14 * 24)
    low = (T0 + timedelta(days=9), T0 + timedelta(days=10, hours=12))
    return frame("water_intake", times, [0.5 if on and low[0] <= t < low[1] else 1.5 for t in times], "meter-1")


CASES = {
    "poor_control": Case("dog", "poor_control", _poor_control, T0 + timedelta(days=5), T0 + timedelta(days=10)),
    "compression_low": Case(
        "dog", "compression_low", _compression, T0 + timedelta(hours=3, minutes=20), T0 + timedelta(hours=24)
    ),
    "feeder_flatline": Case(
        "horse", "feeder_flatline", _feeder, T0 + timedelta(days=2, hours=12), T0 + timedelta(days=8)
    ),
    "robot_silent": Case("cow", "robot_silent", _robot, T0 + timedelta(days=4, hours=23), T0 + timedelta(days=10)),
    "ketosis_fp": Case("cow", "ketosis_fp", _ketosis, T0 + timedelta(days=11), T0 + timedelta(days=24)),
    "water_drop": Case("horse", "water_drop", _water, T0 + timedelta(days=10), T0 + timedelta(days=14)),
}


def _run(case: Case, rows: pd.DataFrame, now: datetime) -> list[tuple[str, datetime, datetime, datetime | None]]:
    eps = evaluate(rows.reset_index(drop=True), ctx(case.species), only(case.species, case.rule), now)
    return [(e.rule_id, e.onset, e.start, e.end) for e in eps]


@pytest.mark.parametrize("name", sorted(CASES))
def test_fires_on_the_condition_only(name: str) -> None:
    case = CASES[name]
    eps = _run(case, case.sick(), case.end)
    assert [e[0] for e in eps] == [case.rule]
    assert _run(case, case.control(), case.end) == []


@pytest.mark.parametrize("name", sorted(CASES))
def test_holds_during_the_condition_and_resolves_after_it(name: str) -> None:
    case = CASES[name]
    rows = case.sick()
    during = _run(case, rows, case.during)
    assert len(during) == 1
    assert during[0][3] is None  # still holding
    after = _run(case, rows, case.end)
    assert after[0][3] is not None
    assert after[0][3] <= case.end
    assert after[0][1] == during[0][1]  # the same episode: its onset did not move


@pytest.mark.parametrize("name", sorted(CASES))
def test_evaluated_every_3_hours_it_never_flaps(name: str) -> None:
    case = CASES[name]
    rows = case.sick()
    onsets = set()
    t = T0 + timedelta(hours=1)
    while t <= case.end:
        onsets |= {e[1] for e in _run(case, rows, t)}
        t += timedelta(hours=3)
    assert len(onsets) == 1


@pytest.mark.parametrize("name", sorted(CASES))
def test_late_shuffled_and_duplicated_rows_give_the_same_episodes(name: str) -> None:
    case = CASES[name]
    rows = case.sick()
    late = pd.concat([rows, rows.sample(frac=0.5, random_state=1)]).sample(frac=1.0, random_state=2)
    assert _run(case, late, case.end) == _run(case, rows, case.end)
