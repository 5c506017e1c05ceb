"""Calving dates: ketosis cows in early lactation (domain.md §7.3), the dates the registry and the backtest get."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from simulators._dairy import DairySimulator, calving_dates
from simulators._time import DAY_S
from tests.simulators.test_cli import env_of
from vigie.settings import Settings

from .helpers import engine, scenario_raw

ROBOT = {"id": "robot", "kind": "milking", "animals": ["cow-*"]}


def _herd(anomalies: list[dict[str, object]]) -> dict[str, object]:
    return scenario_raw([{"id": "cow", "species": "cow", "count": 30}], [ROBOT], anomalies)


def test_a_ketosis_cow_is_in_early_lactation_and_the_other_cows_do_not_change() -> None:
    keto: list[dict[str, object]] = [
        {"recipe": "ketosis", "animal": "cow-003", "start": "start+1d", "duration": "6d"},
        {"recipe": "ketosis", "animal": "cow-011", "start": "start+8d", "duration": "6d"},
        {"recipe": "ketosis", "animal": "cow-027", "start": "start+13d", "duration": "6d"},
    ]
    with_keto = engine(_herd(keto), days=21, seed=5)
    without = engine(_herd([]), days=21, seed=5)
    cows = {c.animal_id: c for c in DairySimulator(with_keto.fleet).cows}
    plain = {c.animal_id: c for c in DairySimulator(without.fleet).cows}
    for a in with_keto.fleet.anomalies:
        dim_at_onset = (a.start - cows[a.animal_id].calving) / DAY_S
        assert 5 <= dim_at_onset <= 40, (a.animal_id, dim_at_onset)
        assert cows[a.animal_id].calving <= with_keto.fleet.start  # calved before the timeline: she is milked
    sick = {a.animal_id for a in with_keto.fleet.anomalies}
    late = [c for c in plain.values() if (with_keto.fleet.start - c.calving) / DAY_S > 60]
    assert late  # most cows of a herd are past 60 days in milk, so the mapping does change something
    for cow_id, cow in plain.items():
        if cow_id not in sick:
            assert cows[cow_id].calving == cow.calving
            assert cows[cow_id].a == cow.a


def test_calving_dates_are_the_simulated_cows_utc_days() -> None:
    e = engine(_herd([]), days=21, seed=5)
    dates = calving_dates(e.fleet)
    cows = DairySimulator(e.fleet).cows
    assert set(dates) == {c.animal_id for c in cows}
    for c in cows:
        assert dates[c.animal_id] == datetime.fromtimestamp(c.calving, UTC).date()
        assert 5 <= (e.fleet.start - c.calving) / DAY_S <= 300  # dim uniform 5-300 at the start


HERD = """
name = "calving"
duration = "21d"
seed = 3
[[clinics]]
id = "cv-clinic"
[[animals]]
id = "cv-cow"
species = "cow"
clinic = "cv-clinic"
count = 4
[[devices]]
id = "cv-robot"
kind = "milking"
animals = ["cv-cow-*"]
[[anomalies]]
recipe = "ketosis"
animal = "cv-cow-002"
start = "start+8d"
"""


@pytest.mark.db
def test_register_and_backtest_animals_give_the_simulated_calvings(
    run_cli: Callable[..., tuple[int, str, str]], settings: Settings, db: psycopg.Connection[Any], tmp_path: Path
) -> None:
    scenario = tmp_path / "herd.toml"
    scenario.write_text(HERD)
    end = "2026-10-01T12:00:00Z"  # past the ingest's 30-day horizon: fine for a file, and for ANIMALS.json
    env = {"VIGIE_DATABASE_URL": settings.dsn}
    code, out, err = run_cli("backtest-animals", str(scenario), "--end", end, "--seed", "4", env=env)
    assert code == 0, err
    animals = {a["animal_id"]: a for a in json.loads(out)}
    assert len(animals) == 4
    keto = datetime.fromisoformat(animals["cv-cow-002"]["calving"])
    onset = datetime(2026, 9, 10, 12, tzinfo=UTC) + timedelta(days=8)  # start = end - 21 d
    assert 5 <= (onset - keto).days <= 41  # early lactation (a UTC day: up to one day more)
    code, _, err = run_cli("simulate", str(scenario), "--out", str(tmp_path / "r.jsonl"), "--end", end, env=env)
    assert code == 0, err  # a recording that ends 2 months ago is still written
    code, out, err = run_cli("backtest-animals", str(scenario), "--end", "yesterday", env=env)
    assert code == 2
    assert "--end" in err
    assert "Traceback" not in err
    # registered with the timeline that ends now: every cow gets the calving day the simulator gives her
    code, _, err = run_cli("simulate", str(scenario), "--register", "--duration", "10m", env=env_of(settings))
    assert code == 0, err
    rows = dict(db.execute("SELECT id, calving_date FROM animals ORDER BY id").fetchall())
    assert set(rows) == set(animals)
    assert all(isinstance(d, date) for d in rows.values())
