"""Helpers for ingest tests: a registered fleet, an in-process or subprocess worker, a publisher."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from pathlib import Path

import aiomqtt
import psycopg
import pytest

from ingest import IngestWorker
from tests.conftest import PrivatePostgres, free_port, wait_port
from vigie import registry
from vigie.catalog import load_catalog
from vigie.db import migrate
from vigie.settings import Settings

VIGIE = str(Path(sys.executable).parent / "vigie")


def cgm_ids(n_cgm: int = 3) -> list[str]:
    """The CGM device ids :func:`register_fleet` registers."""
    return [f"cgm-{i}" for i in range(n_cgm)]


def register_fleet(dsn: str, n_cgm: int = 3) -> list[str]:
    """A clinic with n dogs wearing CGMs, a herd robot with two cows; returns the CGM device ids."""
    with psycopg.connect(dsn) as conn:
        registry.add_clinic(conn, "clinic-a")
        registry.add_clinic(conn, "clinic-b")
        for i in range(n_cgm):
            registry.add_animal(conn, f"dog-{i}", species="dog", clinic="clinic-a")
            registry.add_device(conn, f"cgm-{i}", kind="cgm", animal=f"dog-{i}")
        registry.add_animal(conn, "cow-1", species="cow", clinic="clinic-a")
        registry.add_animal(conn, "cow-2", species="cow", clinic="clinic-a")
        registry.add_animal(conn, "cow-b", species="cow", clinic="clinic-b")
        registry.add_device(conn, "robot-1", kind="milking", clinic="clinic-a")
        registry.add_animal(conn, "old-dog", species="dog", clinic="clinic-a")
        registry.add_device(conn, "old-cgm", kind="cgm", animal="old-dog")
        registry.set_device_enabled(conn, "old-cgm", enabled=False)
    return cgm_ids(n_cgm)


def glucose_message(seq: int, t: float, value: float = 120.0) -> bytes:
    return json.dumps(
        {"seq": seq, "readings": [{"time": t, "metric": "glucose", "value": value, "unit": "mg/dL"}]}
    ).encode()


@contextlib.asynccontextmanager
async def running_worker(settings: Settings) -> AsyncIterator[IngestWorker]:
    """An in-process worker; stopped (drained) on exit."""
    worker = IngestWorker(settings, load_catalog(settings.config_dir))
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop), name="test.ingest")
    try:
        async with asyncio.timeout(15):
            while not worker.ready.is_set():
                if task.done():
                    task.result()
                await asyncio.sleep(0.01)
        yield worker
    finally:
        stop.set()
        async with asyncio.timeout(30):
            await task


async def publish(settings: Settings, items: Iterable[tuple[str, bytes]], *, retain: bool = False) -> int:
    """Publish (topic suffix, payload) pairs with QoS 1; returns how many were acknowledged by the broker."""
    mqtt = settings.mqtt
    n = 0
    async with aiomqtt.Client(mqtt.host, mqtt.port, max_inflight_messages=1000) as client:
        for suffix, payload in items:
            await client.publish(f"{settings.topic_root}/devices/{suffix}", payload, qos=1, retain=retain)
            n += 1
    return n


async def wait_until(predicate: Callable[[], bool], within: float = 30.0) -> None:
    """Poll ``predicate`` until true (short steps, bounded): the state lives in another process or the database."""
    async with asyncio.timeout(within):
        while not predicate():  # noqa: ASYNC110 - polling a state no event can signal
            await asyncio.sleep(0.02)


def count(dsn: str, sql: str, params: tuple[object, ...] = ()) -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(sql, params or None).fetchone()
    return int(row[0]) if row and row[0] is not None else 0  # type: ignore[arg-type]


class WorkerProcess:
    """``vigie ingest`` in a subprocess (for SIGKILL / SIGTERM tests)."""

    def __init__(
        self, settings: Settings, log: Path, *, client_id: str | None = None, shared_group: str | None = None
    ) -> None:
        self.port = free_port()
        self.env = {
            **os.environ,
            "VIGIE_DATABASE_URL": settings.dsn,
            "VIGIE_MQTT_URL": settings.mqtt_url.get_secret_value(),
            "VIGIE_TOPIC_ROOT": settings.topic_root,
            "VIGIE_INGEST_CLIENT_ID": client_id or settings.ingest_client_id,
            "VIGIE_INGEST_METRICS_PORT": str(self.port),
        }
        if shared_group:
            self.env["VIGIE_INGEST_SHARED_GROUP"] = shared_group
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen([VIGIE, "ingest"], env=self.env, stdout=out, stderr=out)
        wait_port(self.port, timeout=20)

    def metric(self, name: str) -> float:
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as resp:
            for line in resp.read().decode().splitlines():
                if line.startswith(name + " "):
                    return float(line.split()[1])
        raise KeyError(name)

    def stop(self, sig: int) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=60)


@pytest.fixture
def worker_log(tmp_path: Path) -> Iterator[Path]:
    log = tmp_path / "worker.log"
    yield log
    if log.exists():
        sys.stderr.write(log.read_text()[-4000:])


@pytest.fixture
def fleet(settings: Settings) -> list[str]:
    return register_fleet(settings.dsn)


@pytest.fixture
def now() -> float:
    return time.time()


def private_database(pg: PrivatePostgres) -> str:
    """A fresh, migrated database on the private server, with the test fleet; returns its DSN."""
    name = f"priv_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg.dsn(), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    dsn = pg.dsn(name)
    with psycopg.connect(dsn, autocommit=True) as conn:
        migrate(conn)
    register_fleet(dsn)
    return dsn
