"""The live path of `vigie up`: a CGM publishes over MQTT, the real ingest worker stores its readings, the rules
service (with the production interval and settle time) opens an alert and a pending draft within a minute."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta

import psycopg

from rules._service import SETTLE, serve
from tests.ingest.conftest import count, publish, running_worker, wait_until
from tests.rules.db_helpers import seed
from tests.rules.helpers import ruleset
from vigie.settings import Settings

INTERVAL_S = 5.0  # `vigie up` runs `vigie rules --interval 5` (vigie/up.py)


def _readings(now: datetime) -> list[tuple[str, bytes]]:
    """The last 2 hours of a 1-min CGM: 140 mg/dL, then a 20-minute fall to 45 that lasts until now."""
    out = []
    for i, minute in enumerate(range(-120, 1)):
        t = now + timedelta(minutes=minute)
        value = 140.0 if minute < -25 else max(45.0, 140.0 - (minute + 25) * 5.0)
        body = {
            "seq": i + 1,
            "readings": [{"time": t.timestamp(), "metric": "glucose", "value": value, "unit": "mg/dL"}],
        }
        out.append(("cgm-rex/telemetry", json.dumps(body).encode()))
    return out


async def test_an_injected_hypoglycaemia_gives_an_alert_and_a_draft_within_a_minute(settings: Settings) -> None:
    with psycopg.connect(settings.dsn, autocommit=True) as db:
        seed(db)
    stop = asyncio.Event()
    async with running_worker(settings) as worker:
        service = asyncio.create_task(
            serve(settings.dsn, ruleset(), stop=stop, interval_s=INTERVAL_S, settle_s=SETTLE.total_seconds()),
            name="test.rules",
        )
        try:
            messages = _readings(datetime.now(UTC))
            injected = time.monotonic()
            await publish(settings, messages)
            await wait_until(lambda: worker.metrics.acks_sent >= len(messages), within=30)
            await wait_until(
                lambda: count(settings.dsn, "SELECT count(*) FROM drafts WHERE status = 'pending'") == 1, within=60
            )
            elapsed = time.monotonic() - injected
        finally:
            stop.set()
            async with asyncio.timeout(30):
                await service
    assert elapsed < 60
    with psycopg.connect(settings.dsn, autocommit=True) as db:
        alerts = db.execute("SELECT category, status, severity FROM alerts").fetchall()
        body = db.execute("SELECT body FROM drafts").fetchone()
    assert alerts == [("hypoglycemia", "open", "urgent")]
    assert body is not None
    assert "à confirmer au glucomètre" in body[0]
