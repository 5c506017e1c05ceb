"""The ingest worker against a real Mosquitto and a real TimescaleDB."""

from __future__ import annotations

import json
import signal
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from tests.ingest.conftest import WorkerProcess, count, glucose_message, publish, running_worker, wait_until
from vigie import registry
from vigie.settings import Settings

pytestmark = [pytest.mark.db, pytest.mark.mqtt]


async def test_readings_are_stored_and_acknowledged(settings: Settings, fleet: list[str], now: float) -> None:
    async with running_worker(settings) as worker:
        sent = await publish(
            settings, [(f"{d}/telemetry", glucose_message(i, now - 600 + i, 100 + i)) for d in fleet for i in range(50)]
        )
        await wait_until(lambda: worker.metrics.acks_sent >= sent)
    assert count(settings.dsn, "SELECT count(*) FROM readings") == sent == 150
    assert count(settings.dsn, "SELECT count(DISTINCT (device_id, seq)) FROM readings") == 150
    assert (
        count(settings.dsn, "SELECT count(*) FROM readings WHERE clinic_id = 'clinic-a' AND animal_id LIKE 'dog-%'")
        == 150
    )
    assert count(settings.dsn, "SELECT count(*) FROM devices WHERE last_seen IS NOT NULL") == 3
    assert count(settings.dsn, "SELECT count(*) FROM rollup_dirty") >= 1


async def test_a_redelivered_message_is_stored_once(settings: Settings, fleet: list[str], now: float) -> None:
    msg = glucose_message(1, now - 5)
    async with running_worker(settings) as worker:
        await publish(settings, [("cgm-0/telemetry", msg)])
        await wait_until(lambda: worker.metrics.acks_sent >= 1)
        await publish(settings, [("cgm-0/telemetry", msg), ("cgm-0/telemetry", msg)])
        await wait_until(lambda: worker.metrics.acks_sent >= 3)
        assert worker.metrics.readings_duplicate == 2
    assert count(settings.dsn, "SELECT count(*) FROM readings") == 1


async def test_status_topic_records_availability(settings: Settings, fleet: list[str]) -> None:
    async with running_worker(settings) as worker:
        await publish(settings, [("cgm-1/status", b"online")], retain=True)
        await wait_until(lambda: worker.metrics.acks_sent >= 1)
        await publish(settings, [("cgm-1/status", b"offline")], retain=True)
        await wait_until(lambda: worker.metrics.acks_sent >= 2)
    assert count(settings.dsn, "SELECT count(*) FROM devices WHERE id = 'cgm-1' AND availability = 'offline'") == 1
    await publish(settings, [("cgm-1/status", b"")], retain=True)  # clear the retained message


async def test_a_device_registered_after_start_is_accepted(settings: Settings, fleet: list[str], now: float) -> None:
    async with running_worker(settings) as worker:
        with psycopg.connect(settings.dsn) as conn:
            registry.add_animal(conn, "late-dog", species="dog", clinic="clinic-a")
            registry.add_device(conn, "late-cgm", kind="cgm", animal="late-dog")
        await publish(settings, [("late-cgm/telemetry", glucose_message(1, now - 1))])
        await wait_until(lambda: worker.metrics.acks_sent >= 1)
    assert count(settings.dsn, "SELECT count(*) FROM readings WHERE device_id = 'late-cgm'") == 1
    assert count(settings.dsn, "SELECT count(*) FROM quarantine") == 0


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat()


# reason → (device, payload); one end-to-end test each, the stored reason checked
QUARANTINE_CASES: dict[str, tuple[str, object]] = {
    "oversize": ("cgm-0", b"[" + b" " * 300_000 + b"]"),
    "invalid_json": ("cgm-0", b'{"seq": 1, "readings": ['),
    "bad_format": ("cgm-0", {"readings": [{"time": 1, "metric": "glucose", "value": 1, "unit": "mg/dL"}]}),
    "unknown_device": ("ghost-9", [{"n": "glucose", "u": "mg/dL", "v": 100}]),
    "disabled_device": ("old-cgm", [{"n": "glucose", "u": "mg/dL", "v": 100}]),
    "non_finite": ("cgm-0", b'[{"n": "glucose", "u": "mg/dL", "v": NaN}]'),
    "wrong_type": ("cgm-0", [{"n": "glucose", "u": "mg/dL", "v": "high"}]),
    "unknown_metric": ("cgm-0", [{"n": "ketones", "u": "mmol/L", "v": 1.0}]),
    "missing_unit": ("cgm-0", [{"n": "glucose", "v": 100}]),
    "unknown_unit": ("cgm-0", [{"n": "glucose", "u": "mg/L", "v": 100}]),
    "bad_time": (
        "cgm-0",
        {"seq": 1, "readings": [{"time": "2026-11-23 08:00", "metric": "glucose", "value": 1, "unit": "mg/dL"}]},
    ),
    "time_in_future": ("cgm-0", "FUTURE"),
    "time_too_old": ("cgm-0", "OLD"),
    "out_of_range": ("cgm-0", [{"n": "glucose", "u": "mg/dL", "v": 5000}]),
    "missing_animal": ("robot-1", [{"n": "milk_yield", "u": "kg", "v": 11}]),
    "animal_not_allowed": ("robot-1", [{"n": "cow-b/milk_yield", "u": "kg", "v": 11}]),
}


@pytest.mark.parametrize("reason", sorted(QUARANTINE_CASES))
async def test_quarantine_reason_is_stored(settings: Settings, fleet: list[str], now: float, reason: str) -> None:
    device, doc = QUARANTINE_CASES[reason]
    if doc == "FUTURE":
        doc = [{"n": "glucose", "u": "mg/dL", "v": 100, "bt": now + 3600}]
    elif doc == "OLD":
        doc = [{"n": "glucose", "u": "mg/dL", "v": 100, "bt": now - 40 * 86400}]
    payload = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    good = glucose_message(5, now - 2)
    async with running_worker(settings) as worker:
        await publish(settings, [(f"{device}/telemetry", payload), ("cgm-1/telemetry", good)])
        await wait_until(lambda: worker.metrics.acks_sent >= 2)
        assert worker.metrics.quarantined[reason] == 1
    with psycopg.connect(settings.dsn) as conn:
        rows = conn.execute("SELECT reason, device_id, topic, detail, payload_size FROM quarantine").fetchall()
    assert [r[0] for r in rows] == [reason]
    assert rows[0][1] == device
    assert rows[0][2].endswith(f"/devices/{device}/telemetry")
    assert rows[0][3]  # a human-readable detail
    assert rows[0][4] <= 65536
    # the stream goes on: the good message after the bad one is stored
    assert count(settings.dsn, "SELECT count(*) FROM readings") == 1


async def test_redelivered_poison_is_quarantined_once(settings: Settings, fleet: list[str]) -> None:
    async with running_worker(settings) as worker:
        await publish(settings, [("cgm-0/telemetry", b"garbage")] * 3)
        await wait_until(lambda: worker.metrics.acks_sent >= 3)
    assert count(settings.dsn, "SELECT count(*) FROM quarantine") == 1


async def test_metrics_endpoint(settings: Settings, fleet: list[str], now: float, worker_log: Path) -> None:
    proc = WorkerProcess(settings, worker_log)
    proc.start()
    try:
        await publish(settings, [("cgm-0/telemetry", glucose_message(1, now - 1)), ("cgm-0/telemetry", b"x")])
        await wait_until(lambda: proc.metric("vigie_ingest_acks_sent_total") >= 2)
        assert proc.metric("vigie_ingest_readings_stored_total") == 1
        assert proc.metric('vigie_ingest_quarantined_total{reason="invalid_json"}') == 1
        assert proc.metric("vigie_ingest_batch_messages_count") >= 1
    finally:
        assert proc.stop(signal.SIGTERM) == 0


@pytest.mark.slow
async def test_sigkill_mid_stream_loses_nothing_and_duplicates_nothing(
    settings: Settings, fleet: list[str], now: float, worker_log: Path
) -> None:
    """Kill -9 the worker while messages flow, restart it: every published (device, seq) is stored once."""
    proc = WorkerProcess(settings, worker_log)
    proc.start()
    n_per_device = 3000
    items = [
        (f"{d}/telemetry", glucose_message(i, now - 3600 + i * 0.5, 80 + i % 200))
        for i in range(n_per_device)
        for d in fleet
    ]
    published = await publish(settings, items[: len(items) // 3])
    await wait_until(lambda: proc.metric("vigie_ingest_readings_stored_total") > 100)
    assert proc.stop(signal.SIGKILL) == -signal.SIGKILL
    published += await publish(settings, items[len(items) // 3 :])  # the broker queues them for the session
    proc.start()
    await wait_until(lambda: count(settings.dsn, "SELECT count(*) FROM readings") >= published, within=60)
    assert proc.stop(signal.SIGTERM) == 0
    stored = count(settings.dsn, "SELECT count(*) FROM readings")
    distinct = count(settings.dsn, "SELECT count(DISTINCT (device_id, seq)) FROM readings")
    print(
        f"\nSIGKILL: published={published} stored={stored} distinct={distinct} lost={published - distinct} dup={stored - distinct}"
    )
    assert published == len(items)
    assert stored == distinct == published


@pytest.mark.slow
async def test_sigterm_drains_commits_and_exits_zero(
    settings: Settings, fleet: list[str], now: float, worker_log: Path
) -> None:
    proc = WorkerProcess(settings, worker_log)
    proc.start()
    items = [(f"{d}/telemetry", glucose_message(i, now - 3600 + i, 120)) for i in range(2000) for d in fleet]
    published = await publish(settings, items)
    await wait_until(lambda: proc.metric("vigie_ingest_messages_received_total") > 0)
    assert proc.stop(signal.SIGTERM) == 0
    received_before_stop = count(settings.dsn, "SELECT count(*) FROM readings")
    # whatever the worker had not taken is still queued for its session: a restart stores the rest
    proc.start()
    await wait_until(lambda: count(settings.dsn, "SELECT count(*) FROM readings") >= published, within=60)
    assert proc.stop(signal.SIGTERM) == 0
    assert received_before_stop > 0
    assert count(settings.dsn, "SELECT count(DISTINCT (device_id, seq)) FROM readings") == published


@pytest.mark.slow
async def test_two_workers_on_a_shared_subscription_store_exactly_the_published_set(
    settings: Settings, fleet: list[str], now: float, worker_log: Path
) -> None:
    group = "g" + settings.ingest_client_id[-6:]
    workers = [
        WorkerProcess(settings, worker_log, client_id=f"{settings.ingest_client_id}-{k}", shared_group=group)
        for k in range(2)
    ]
    for w in workers:
        w.start()
    try:
        items = [(f"{d}/telemetry", glucose_message(i, now - 3600 + i, 100)) for i in range(2000) for d in fleet]
        published = await publish(settings, items)
        await wait_until(lambda: count(settings.dsn, "SELECT count(*) FROM readings") >= published, within=60)
        shares = [w.metric("vigie_ingest_messages_received_total") for w in workers]
    finally:
        codes = [w.stop(signal.SIGTERM) for w in workers]
    assert codes == [0, 0]
    assert all(s > 0 for s in shares), shares  # both took part
    assert sum(shares) == published
    assert count(settings.dsn, "SELECT count(*) FROM readings") == published
    assert count(settings.dsn, "SELECT count(DISTINCT (device_id, seq)) FROM readings") == published


def test_worker_fails_fast_on_a_bad_database(run_cli, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    bad = settings.dsn.rsplit("/", 1)[0] + "/no_such_database_here"
    code, _, err = run_cli(
        "ingest", env={"VIGIE_DATABASE_URL": bad, "VIGIE_MQTT_URL": settings.mqtt_url.get_secret_value()}
    )
    assert code == 1
    assert err.startswith("vigie: error: cannot connect to the database")
    assert "Traceback" not in err


def test_worker_fails_fast_on_an_unreachable_broker(run_cli, settings: Settings, fleet: list[str]) -> None:  # type: ignore[no-untyped-def]
    code, _, err = run_cli("ingest", env={"VIGIE_DATABASE_URL": settings.dsn, "VIGIE_MQTT_URL": "mqtt://127.0.0.1:1"})
    assert code == 1
    assert "cannot reach the broker" in err
