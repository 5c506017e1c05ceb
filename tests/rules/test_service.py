"""The rules against the real database: reconciliation is idempotent (re-runs, late rows), lifecycle, overrides,
the asyncio service."""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta
from typing import Any

import psycopg

from rules._service import CycleStats, run_cycle, serve
from rules._store import set_override
from rules._vet import resolve
from tests.rules.db_helpers import NOW, alerts, glucose, hypo, seed, steps
from tests.rules.helpers import ruleset


def test_a_hypoglycaemia_opens_one_alert_and_one_draft_and_rerunning_changes_nothing(
    db: psycopg.Connection[Any],
) -> None:
    seed(db)
    hypo(db)
    rs = ruleset()
    stats = run_cycle(db, rs, NOW)
    rows = alerts(db)
    assert [(r[1], r[2], r[3], r[4]) for r in rows] == [("hypoglycemia", "hypoglycemia", "open", "urgent")]
    version = rows[0][5]
    assert db.execute("SELECT count(*) FROM rule_set_versions WHERE version = %s", (version,)).fetchone() == (1,)
    assert len(stats.drafts) == 1
    draft = db.execute("SELECT status, body, language FROM drafts").fetchall()
    assert [(d[0], d[2]) for d in draft] == [("pending", "fr")]
    assert "à confirmer au glucomètre" in draft[0][1]
    assert "2,8 mmol/L" in draft[0][1]  # 50 mg/dL in the owner's unit
    assert db.execute("SELECT count(*) FROM outbox").fetchone() == (0,)  # nothing before approval

    again = run_cycle(db, rs, NOW, full=True)
    assert again.opened == []
    assert alerts(db) == rows
    assert db.execute("SELECT count(*) FROM drafts").fetchone() == (1,)


def test_late_out_of_order_rows_update_the_open_alert_instead_of_repeating_it(db: psycopg.Connection[Any]) -> None:
    seed(db)
    hypo(db)
    rs = ruleset()
    run_cycle(db, rs, NOW)
    # a phone backlog: readings in between, older than those stored, arriving after them, one of them lower
    late = [t + timedelta(minutes=2) for t in steps(NOW - timedelta(minutes=40), 8)]
    glucose(db, late, [44.0] * 8)
    stats = run_cycle(db, rs, NOW + timedelta(minutes=1))
    assert stats.opened == []
    rows = alerts(db)
    assert len(rows) == 1
    evidence = db.execute("SELECT evidence FROM alerts").fetchone()
    assert evidence is not None
    assert evidence[0]["extreme"] == 44.0


def test_recovery_resolves_and_a_vet_resolution_is_never_reopened(db: psycopg.Connection[Any]) -> None:
    seed(db)
    hypo(db)
    rs = ruleset()
    run_cycle(db, rs, NOW)
    glucose(db, steps(NOW + timedelta(minutes=5), 16), [65.0, 80.0, 95.0, 110.0] + [110.0] * 12)
    run_cycle(db, rs, NOW + timedelta(minutes=80))
    hypos = [r for r in alerts(db) if r[1] == "hypoglycemia"]
    assert [r[3] for r in hypos] == ["resolved"]
    assert db.execute("SELECT resolved_by FROM alerts WHERE id = %s", (hypos[0][0],)).fetchone() == ("rules",)
    assert {r[2] for r in alerts(db)} == {"hypoglycemia"}

    # a second spell the next day: a new alert; the vet resolves it while glucose is still low
    later = NOW + timedelta(days=1)
    hypo(db, later)
    run_cycle(db, rs, later)
    second = [r for r in alerts(db) if r[3] == "open" and r[1] == "hypoglycemia"]
    assert len(second) == 1
    with db.transaction():
        resolve(db, int(second[0][0]), "dr.vidal", "seen, owner fed the dog")
    run_cycle(db, rs, later + timedelta(minutes=5), full=True)
    assert [r[3] for r in alerts(db) if r[1] == "hypoglycemia"] == ["resolved", "resolved"]


def test_a_vet_override_for_one_animal_fires_at_its_own_threshold_with_a_new_version(
    db: psycopg.Connection[Any],
) -> None:
    seed(db)
    hypo(db, low=66.0)
    rs = ruleset()
    run_cycle(db, rs, NOW)
    assert alerts(db) == []
    with db.transaction():
        set_override(db, "c1", "hypoglycemia", {"threshold": 70.0, "clear": 80.0}, by="dr.vidal", animal_id="rex")
    run_cycle(db, rs, NOW + timedelta(minutes=1), full=True)
    rows = alerts(db)
    assert [r[1] for r in rows] == ["hypoglycemia"]
    versions = [r[0] for r in db.execute("SELECT version FROM rule_set_versions")]
    assert len(versions) == 2
    assert rows[0][5] in versions
    assert "override.set" in [r[0] for r in db.execute("SELECT action FROM audit_log")]


async def test_the_service_runs_in_a_task_group_and_stops_on_its_event(db_dsn: str) -> None:
    with psycopg.connect(db_dsn, autocommit=True) as db:
        seed(db)
        hypo(db)
    stop = asyncio.Event()
    seen: list[CycleStats] = []

    def on_cycle(stats: CycleStats) -> None:
        seen.append(stats)
        if len(seen) == 2:
            stop.set()

    async with asyncio.timeout(60):
        # the rows were inserted before the service started, all at once: settled (test_backfill covers the wait)
        await serve(db_dsn, ruleset(), stop=stop, interval_s=0.05, settle_s=0, clock=lambda: NOW, on_cycle=on_cycle)
    assert len(seen[0].opened) == 1
    assert seen[1].opened == []
    with psycopg.connect(db_dsn, autocommit=True) as db:
        assert [r[1] for r in alerts(db)] == ["hypoglycemia"]


def test_a_condition_longer_than_the_look_back_stays_one_alert(db: psycopg.Connection[Any]) -> None:
    # 8 days above 400 mg/dL: as the 6-day window slides, the episode's visible onset moves, the alert does not
    seed(db)
    start = NOW - timedelta(days=8)
    glucose(db, steps(start, 8 * 24 * 4, minutes=15), [450.0] * (8 * 24 * 4))
    rs = ruleset()
    run_cycle(db, rs, NOW - timedelta(days=1), full=True)
    first = [r for r in alerts(db) if r[2] == "hyperglycemia_dka_risk"]
    assert [r[3] for r in first] == ["open"]
    run_cycle(db, rs, NOW, full=True)
    assert [r for r in alerts(db) if r[2] == "hyperglycemia_dka_risk"] == first
    with db.transaction():
        resolve(db, int(first[0][0]), "dr.vidal", "known, treated")
    run_cycle(db, rs, NOW + timedelta(hours=12), full=True)  # the window slid again: still not re-opened
    assert [r[3] for r in alerts(db) if r[2] == "hyperglycemia_dka_risk"] == ["resolved"]


def test_two_evaluators_at_once_raise_one_alert_and_one_draft(db: psycopg.Connection[Any], db_dsn: str) -> None:
    seed(db)
    hypo(db)
    rs = ruleset()
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def evaluator() -> None:
        try:
            with psycopg.connect(db_dsn, autocommit=True) as conn:
                barrier.wait(timeout=30)
                run_cycle(conn, rs, NOW, full=True)
        except BaseException as exc:  # reported to the test thread below  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=evaluator) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert [r[1] for r in alerts(db)] == ["hypoglycemia"]
    assert db.execute("SELECT count(*) FROM drafts").fetchone() == (1,)


def test_a_second_low_soon_after_the_first_recovered_alerts_again(db: psycopg.Connection[Any]) -> None:
    """Two hypoglycaemias 75 min apart in one evaluation (a backfill): the first alert opens and resolves, the second
    is a new alert with its draft, not taken for the first one (found by the `vigie up` smoke test)."""
    seed(db)
    values = (
        [140.0] * 12  # 1 h
        + [140.0 - 15 * k for k in range(1, 7)]  # 30-min fall to 50
        + [50.0] * 8  # 40 min low
        + [80.0, 110.0, 140.0]  # recovery
        + [140.0] * 15  # 75 min
        + [140.0 - 15 * k for k in range(1, 7)]
        + [50.0] * 9  # the second low, still going at NOW
    )
    glucose(db, steps(NOW - timedelta(minutes=5 * (len(values) - 1)), len(values)), values)
    stats = run_cycle(db, ruleset(), NOW)
    rows = [r for r in alerts(db) if r[1] == "hypoglycemia"]
    assert [r[3] for r in rows] == ["resolved", "open"]
    assert len(stats.opened) >= 2
    assert db.execute("SELECT count(*) FROM drafts").fetchone() == (1,)  # for the open one
    assert run_cycle(db, ruleset(), NOW + timedelta(minutes=1), full=True).opened == []  # and it stays one each
