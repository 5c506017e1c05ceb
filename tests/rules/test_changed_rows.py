"""The service's changed-rows query is bounded by measurement time (the ingest's past horizon), so TimescaleDB
skips the old chunks, and it still finds late rows measured within the horizon."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import psycopg

from rules._service import (
    CHANGED_ROWS,
    HORIZON,
    HORIZON_MARGIN,
    changed_animals,
    changed_rows_params,
    save_cursor,
)
from tests.rules.db_helpers import seed

DAYS = 45  # more than the 30-day horizon: one chunk per day


def _db_now(db: psycopg.Connection[Any]) -> datetime:
    row = db.execute("SELECT now()").fetchone()
    assert row is not None
    return row[0]  # type: ignore[no-any-return]


def _weeks_of_data(db: psycopg.Connection[Any], now: datetime) -> None:
    """A reading every 2 hours for ``DAYS`` days, received long ago (before the cursor)."""
    times = [now - timedelta(hours=2 * i) for i in range(1, DAYS * 12)]
    with db.cursor() as cur:
        cur.executemany(
            "INSERT INTO readings (time, device_id, animal_id, metric, value, clinic_id, received_at)"
            " VALUES (%s, 'cgm-rex', 'rex', 'glucose', 150, 'c1', %s)",
            [(t, now - timedelta(days=1)) for t in times],
        )


def _chunks_scanned(db: psycopg.Connection[Any], sql: str, params: dict[str, datetime]) -> set[str]:
    plan = "\n".join(str(r[0]) for r in db.execute("EXPLAIN " + sql, params).fetchall())
    return set(re.findall(r"_hyper_\d+_\d+_chunk", plan))


def test_the_query_skips_chunks_older_than_the_horizon(db: psycopg.Connection[Any]) -> None:
    seed(db)
    now = _db_now(db)
    _weeks_of_data(db, now)
    db.execute("ANALYZE readings")
    params = changed_rows_params(now - timedelta(minutes=1))
    bounded = _chunks_scanned(db, CHANGED_ROWS, params)
    unbounded = _chunks_scanned(db, CHANGED_ROWS.replace("AND time > %(oldest)s ", ""), params)
    print(f"changed-rows query: {len(bounded)} chunks scanned with the time bound, {len(unbounded)} without")
    assert len(unbounded) >= DAYS  # the query of before: every chunk, each cycle
    days = (HORIZON + HORIZON_MARGIN).days
    assert days - 1 <= len(bounded) <= days + 2  # the horizon, its margin, and the day in progress
    assert bounded < unbounded


def test_late_rows_within_the_horizon_are_found(db: psycopg.Connection[Any]) -> None:
    seed(db)
    now = _db_now(db)
    _weeks_of_data(db, now)
    save_cursor(db, now - timedelta(minutes=1))
    assert changed_animals(db) == ([], None)  # everything was received before the cursor
    # a phone's backlog, uploaded now, of readings measured 29 days ago (the ingest accepts up to 30)
    late = now - HORIZON + timedelta(days=1, minutes=7)
    db.execute(
        "INSERT INTO readings (time, device_id, animal_id, metric, value, clinic_id)"
        " VALUES (%s, 'cgm-rex', 'rex', 'glucose', 55, 'c1')",
        (late,),
    )
    ids, newest = changed_animals(db)
    assert ids == ["rex"]
    assert newest is not None
    assert newest >= now
    # beyond the horizon and its margin a row could not have been ingested; the query does not look there
    assert changed_rows_params(now)["oldest"] < late
