"""A backlog streamed in chunks, out of order, gives the alerts of one offline evaluation, with no open-then-resolve
churn: the service waits until an animal's rows have stopped arriving (``settle``), by the database's clock."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

import psycopg

from analytics import load_readings
from rules._engine import evaluate
from rules._model import AnimalContext
from rules._service import run_cycle
from tests.rules.db_helpers import NOW, glucose, seed, steps
from tests.rules.helpers import ruleset

SETTLE = timedelta(minutes=5)


def _two_days() -> tuple[list[datetime], list[float]]:
    """Two days of a 5-min CGM: a low (50 mg/dL for 40 min) that recovers, a second one still going on at the end."""
    times = steps(NOW - timedelta(days=2), 2 * 24 * 12 + 1)
    values = []
    for t in times:
        if NOW - timedelta(hours=30) <= t < NOW - timedelta(hours=29, minutes=20):
            values.append(50.0)
        elif NOW - timedelta(minutes=40) <= t:
            values.append(52.0)
        else:
            values.append(150.0)
    return times, values


def _chunks(seed_: int) -> list[list[tuple[datetime, float]]]:
    rows = list(zip(*_two_days(), strict=True))
    random.Random(seed_).shuffle(rows)
    return [rows[i : i + 60] for i in range(0, len(rows), 60)]


def _stream(db: psycopg.Connection[Any], settle: timedelta) -> list[list[tuple[Any, ...]]]:
    """Insert the backlog chunk by chunk, one service cycle after each; the alerts seen after each cycle."""
    rs = ruleset()
    pending: set[str] = set()
    seen = []
    for chunk in _chunks(7):
        glucose(db, [t for t, _ in chunk], [v for _, v in chunk])
        run_cycle(db, rs, NOW, pending=pending, settle=settle)
        seen.append(_alerts(db))
    return seen


def _alerts(db: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    return db.execute("SELECT rule_id, onset, status, resolved_by FROM alerts ORDER BY onset, rule_id").fetchall()


def _offline(db: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    ctx = AnimalContext("rex", "dog", "c1")
    frame = load_readings(db, "rex", NOW - timedelta(days=6), NOW + timedelta(microseconds=1))
    eps = evaluate(frame, ctx, ruleset().for_animal("dog"), NOW)
    return sorted((e.rule_id, e.onset, "open" if e.end is None else "resolved") for e in eps)


def test_a_chunked_out_of_order_backlog_is_evaluated_once_settled_like_offline(db: psycopg.Connection[Any]) -> None:
    seed(db)
    seen = _stream(db, SETTLE)
    assert all(s == [] for s in seen)  # nothing opened (nor resolved) while the backlog was arriving
    # the stream has been quiet for longer than the settle time (the database's clock stamps received_at)
    db.execute("UPDATE readings SET received_at = received_at - interval '10 minutes'")
    stats = run_cycle(db, ruleset(), NOW + timedelta(seconds=10), pending={"rex"}, settle=SETTLE)
    assert stats.deferred == []
    got = sorted((r[0], r[1], r[2]) for r in _alerts(db))
    offline = _offline(db)
    hypos = [r for r in offline if r[0] == "hypoglycemia"]
    assert [r[2] for r in hypos] == ["resolved", "open"]
    assert got == offline
    # a later cycle over the same rows changes nothing: no churn afterwards either
    before = _alerts(db)
    run_cycle(db, ruleset(), NOW + timedelta(minutes=1), full=True, settle=SETTLE)
    assert _alerts(db) == before


def test_without_settling_the_same_backlog_churns(db: psycopg.Connection[Any]) -> None:
    # the control: evaluated on each partial chunk, alerts open on holes and half-seen lows, then resolve
    seed(db)
    seen = _stream(db, timedelta(0))
    offline = _offline(db)
    final = sorted((r[0], r[1], r[2]) for r in seen[-1])
    assert final != offline
    churned = [r for r in seen[-1] if r[3] == "rules" and (r[0], r[1], r[2]) not in offline]
    assert churned


def test_a_pending_animal_is_evaluated_once_quiet_even_without_new_rows(db: psycopg.Connection[Any]) -> None:
    seed(db)
    times, values = _two_days()
    glucose(db, times, values)
    pending: set[str] = set()
    first = run_cycle(db, ruleset(), NOW, pending=pending, settle=SETTLE)
    assert first.deferred == ["rex"]
    assert pending == {"rex"}
    assert _alerts(db) == []
    db.execute("UPDATE readings SET received_at = received_at - interval '10 minutes'")
    second = run_cycle(db, ruleset(), NOW + timedelta(seconds=10), pending=pending, settle=SETTLE)
    assert second.deferred == []
    assert pending == set()
    assert len(second.opened) == len(_offline(db))
