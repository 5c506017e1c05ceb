"""The broker restarts under the worker: it reconnects, resumes its session, and nothing is lost."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import pytest
from pydantic import SecretStr

from tests.conftest import Broker, start_mosquitto
from tests.ingest.conftest import WorkerProcess, count, glucose_message, publish, wait_until
from vigie.settings import Settings

pytestmark = [pytest.mark.db, pytest.mark.mqtt, pytest.mark.slow]


async def test_broker_restart_resumes_the_session(
    settings: Settings, fleet: list[str], tmp_path: Path, worker_log: Path
) -> None:
    persist = f"persistence true\npersistence_location {tmp_path}/\nautosave_interval 1\n"
    broker: Broker = start_mosquitto(tmp_path, extra=persist)
    local = settings.model_copy(update={"mqtt_url": SecretStr(broker.url)})
    proc = WorkerProcess(local, worker_log)
    proc.start()
    now = time.time()
    try:
        first = await publish(
            local, [(f"{d}/telemetry", glucose_message(i, now - 900 + i)) for i in range(200) for d in fleet]
        )
        await wait_until(lambda: count(settings.dsn, "SELECT count(*) FROM readings") >= first)
        broker.process.send_signal(signal.SIGTERM)  # saves its persistence file, as a clean restart does
        broker.process.wait(timeout=10)
        broker = start_mosquitto(tmp_path, port=broker.port, extra=persist)
        # messages published while the worker is still reconnecting wait in its persistent session
        second = await publish(
            local, [(f"{d}/telemetry", glucose_message(i, now - 900 + i)) for i in range(200, 600) for d in fleet]
        )
        await wait_until(lambda: count(settings.dsn, "SELECT count(*) FROM readings") >= first + second, within=60)
    finally:
        code = proc.stop(signal.SIGTERM)
        broker.process.terminate()
        broker.process.wait(timeout=10)
    assert code == 0
    assert count(settings.dsn, "SELECT count(DISTINCT (device_id, seq)) FROM readings") == first + second
    assert count(settings.dsn, "SELECT count(*) FROM readings") == first + second
    log = await asyncio.to_thread(worker_log.read_text)
    assert "connected to the broker (session present: True)" in log
