"""``vigie up``: the whole pipeline on local services, with simulated devices.

Starts each stage as its own process (one TaskGroup per process, as everywhere in Vigie): the ingest worker
first, the rules service, then the device simulator with the default scenario; keeps the rollups fresh; prints
what arrives and the open alerts.
Ctrl-C or SIGTERM stops everything, the ingest worker last so that it drains what it received.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from vigie.errors import VigieError
from vigie.settings import Settings

logger = logging.getLogger(__name__)
VIGIE = str(Path(sys.executable).parent / "vigie")
MAINTAIN_EVERY_S = 30.0
REPORT_EVERY_S = 10.0
STOP_TIMEOUT_S = 30.0


@dataclass
class Stage:
    """A child process of ``vigie up``."""

    name: str
    argv: list[str]
    required: bool = True  # when it ends, everything stops
    process: asyncio.subprocess.Process | None = field(default=None, repr=False)


def stages(settings: Settings, scenario: str, speed: str) -> list[Stage]:
    """The processes to run, in start order."""
    return [
        Stage("ingest", [VIGIE, "ingest", "--metrics-port", str(settings.ingest_metrics_port)]),
        Stage("rules", [VIGIE, "rules", "--interval", "5"]),
        Stage("simulate", [VIGIE, "simulate", scenario, "--register", "--speed", speed, "--follow"], required=False),
    ]


async def _report(settings: Settings) -> None:
    async with await psycopg.AsyncConnection.connect(settings.dsn, autocommit=True) as conn:
        while True:
            await asyncio.sleep(REPORT_EVERY_S)
            cur = await conn.execute(
                "SELECT (SELECT count(*) FROM readings WHERE received_at > now() - interval '10 minutes'),"
                " (SELECT count(*) FROM quarantine WHERE received_at > now() - interval '10 minutes'),"
                " (SELECT count(*) FROM devices WHERE last_seen > now() - interval '10 minutes'),"
                " (SELECT count(*) FROM alerts WHERE status <> 'resolved')"
            )
            row = await cur.fetchone()
            if row:
                logger.info("last 10 min: %s readings stored, %s quarantined, %s devices seen; %s open alerts", *row)


async def _maintain(settings: Settings) -> None:
    async with await psycopg.AsyncConnection.connect(settings.dsn, autocommit=True) as conn:
        while True:
            cur = await conn.execute("SELECT * FROM vigie_maintain()")
            row = await cur.fetchone()
            logger.debug("maintenance: %s", row)
            await asyncio.sleep(MAINTAIN_EVERY_S)


async def _watch(stage: Stage, stop: asyncio.Event, failed: list[str]) -> None:
    assert stage.process is not None  # noqa: S101
    code = await stage.process.wait()
    if stop.is_set():
        return
    if stage.required or code != 0:
        logger.error("%s exited with code %s", stage.name, code)
        failed.append(stage.name)
        stop.set()
    else:
        logger.info("%s finished", stage.name)


async def _terminate(stage: Stage) -> None:
    proc = stage.process
    if proc is None or proc.returncode is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        async with asyncio.timeout(STOP_TIMEOUT_S):
            await proc.wait()
    except TimeoutError:
        logger.warning("%s did not stop in %.0f s: killing it", stage.name, STOP_TIMEOUT_S)
        proc.kill()
        await proc.wait()


async def run_up(settings: Settings, scenario: str, speed: str) -> int:
    """Run until a signal (exit 0) or a required stage fails (exit 1)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    env = {
        **os.environ,
        "VIGIE_DATABASE_URL": settings.dsn,
        "VIGIE_MQTT_URL": settings.mqtt_url.get_secret_value(),
        "VIGIE_TOPIC_ROOT": settings.topic_root,
    }
    children = stages(settings, scenario, speed)
    failed: list[str] = []
    try:
        async with asyncio.TaskGroup() as tg:
            helpers = [
                tg.create_task(_maintain(settings), name="up.maintain"),
                tg.create_task(_report(settings), name="up.report"),
            ]
            for stage in children:
                stage.process = await asyncio.create_subprocess_exec(*stage.argv, env=env)
                logger.info("started %s (pid %d): %s", stage.name, stage.process.pid, " ".join(stage.argv[1:]))
                helpers.append(tg.create_task(_watch(stage, stop, failed), name=f"up.watch-{stage.name}"))
                if stage.name == "ingest":
                    await _wait_port(settings.ingest_metrics_port, stage)
            logger.info(
                "Vigie is up: metrics on http://127.0.0.1:%d/metrics; `vigie devices list` shows the simulated"
                " fleet. Ctrl-C stops.",
                settings.ingest_metrics_port,
            )
            await stop.wait()
            for stage in reversed(children):  # the simulator first, the ingest worker last (it drains)
                await _terminate(stage)
            for task in helpers:
                task.cancel()
    finally:
        for stage in children:
            if stage.process is not None and stage.process.returncode is None:
                stage.process.kill()
    return 1 if failed else 0


async def _wait_port(port: int, stage: Stage, timeout: float = 30.0) -> None:  # noqa: ASYNC109 - a startup bound
    async with asyncio.timeout(timeout):
        while True:
            if stage.process is not None and stage.process.returncode is not None:
                raise VigieError(f"{stage.name} exited with code {stage.process.returncode} at start")
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                return
            await asyncio.sleep(0.1)
