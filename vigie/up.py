"""``vigie up``: the whole pipeline on local services, with simulated devices.

Starts each stage as its own process (one TaskGroup per process, as everywhere in Vigie): the ingest worker
first, the rules service, the local mail sink (when ``smtp_url`` points at this machine), the delivery worker, the
API and web page, then the device simulator with the default scenario; keeps the rollups fresh; prints what arrives
and the open alerts.

Before starting them it registers the scenario's clinics and owners (owners without an address get
``ID@example.org``, which the mail sink receives) and the demo accounts: ``demo-vet``, a vet of the clinic whose
patient has the scenario's first anomaly, and ``demo-owner``, that patient's owner. Their passwords are generated
afresh at every start and printed with the URL to open, so the printed ones always work.
Ctrl-C or SIGTERM stops everything in reverse order, the ingest worker last so that it drains what it received.
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
from vigie.net import free_port
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


@dataclass(frozen=True)
class Places:
    """Where the services of one ``vigie up`` listen and write."""

    api_port: int
    smtp_url: str  # what the delivery worker sends to
    sink_port: int | None  # the mail sink's port; None when smtp_url is another machine's server
    mail_dir: Path

    @property
    def url(self) -> str:
        """The web page's address."""
        return f"http://127.0.0.1:{self.api_port}/"


@dataclass(frozen=True)
class Demo:
    """The demo accounts of this run (passwords valid until the next ``vigie up``)."""

    clinic: str
    clinic_name: str
    owner: str
    owner_name: str
    owner_email: str
    vet_user: str
    vet_password: str
    owner_user: str
    owner_password: str


def _port_free(port: int) -> bool:
    import socket  # noqa: PLC0415

    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def places(settings: Settings) -> Places:
    """The configured ports when they are free, free ones otherwise; the mail sink only for a loopback SMTP URL."""
    from api._delivery_mail import SmtpServer  # noqa: PLC0415
    from api._mailsink import default_dir  # noqa: PLC0415

    api_port = settings.api_port if settings.api_port and _port_free(settings.api_port) else free_port()
    smtp_url = settings.smtp_url.get_secret_value()
    smtp = SmtpServer.parse(smtp_url)
    sink_port: int | None = None
    if smtp.host in ("127.0.0.1", "localhost", "::1") and smtp.security == "plain":
        sink_port = smtp.port if _port_free(smtp.port) else free_port()
        smtp_url = f"smtp://127.0.0.1:{sink_port}"
    return Places(api_port, smtp_url, sink_port, settings.mailsink_dir or default_dir())


def stages(settings: Settings, scenario: str, speed: str, where: Places | None = None) -> list[Stage]:
    """The processes to run, in start order (they stop in the reverse order)."""
    where = where or places(settings)
    run = [
        Stage("ingest", [VIGIE, "ingest", "--metrics-port", str(settings.ingest_metrics_port)]),
        Stage("rules", [VIGIE, "rules", "--interval", "5"]),
    ]
    if where.sink_port is not None:
        run.append(Stage("mailsink", [VIGIE, "mailsink", "--port", str(where.sink_port), "--dir", str(where.mail_dir)]))
    run += [
        Stage("deliver", [VIGIE, "deliver"]),
        Stage("api", [VIGIE, "api", "--port", str(where.api_port)]),
        Stage("simulate", [VIGIE, "simulate", scenario, "--register", "--speed", speed, "--follow"], required=False),
    ]
    return run


def prepare_demo(conn: psycopg.Connection[tuple[object, ...]], scenario: str) -> Demo:
    """Register the scenario's clinics and owners, and (re)create the demo accounts with fresh passwords."""
    import secrets  # noqa: PLC0415

    from api._accounts import add_user  # noqa: PLC0415
    from api._secrets import hash_password  # noqa: PLC0415
    from simulators._scenario import load_scenario  # noqa: PLC0415
    from vigie import registry  # noqa: PLC0415

    spec = load_scenario(scenario)
    pets = [o for o in spec.owners if o.kind == "owner"]
    if not pets:
        raise VigieError(f"scenario {spec.name} has no pet owner for the demo accounts")
    # the pet owner of the first anomaly's animal (the alert a newcomer sees first), else the first pet owner
    owners_of = {a.id: a.owner for a in spec.animals}
    anomaly_owners = [owners_of.get(x.animal) for x in spec.anomalies]
    owner = next((o for who in anomaly_owners for o in pets if o.id == who), pets[0])
    clinic = next(c for c in spec.clinics if c.id == owner.clinic)
    with conn.transaction():
        for c in spec.clinics:
            if conn.execute("SELECT 1 FROM clinics WHERE id = %s", (c.id,)).fetchone() is None:
                registry.add_clinic(conn, c.id, name=c.name, language=c.language)
        for o in spec.owners:
            email = f"{o.id}@example.org"
            if conn.execute("SELECT 1 FROM owners WHERE id = %s", (o.id,)).fetchone() is None:
                registry.add_owner(conn, o.id, clinic=o.clinic, name=o.name, kind=o.kind, email=email)
            else:
                conn.execute("UPDATE owners SET email = %s WHERE id = %s AND email IS NULL", (email, o.id))
        row = conn.execute("SELECT email FROM owners WHERE id = %s", (owner.id,)).fetchone()
        owner_email = str(row[0]) if row else ""
        passwords = {}
        for user, role, display in (("demo-vet", "vet", "Dr Demo"), ("demo-owner", "owner", owner.name)):
            password = secrets.token_urlsafe(12)
            passwords[user] = password
            found = conn.execute("SELECT role, clinic_id, owner_id FROM users WHERE id = %s", (user,)).fetchone()
            if found is None:
                add_user(
                    conn,
                    user,
                    role=role,  # type: ignore[arg-type]
                    clinic=clinic.id if role == "vet" else None,
                    owner=owner.id if role == "owner" else None,
                    password=password,
                    display_name=display,
                )
                continue
            if tuple(found) != (role, clinic.id, owner.id if role == "owner" else None):
                raise VigieError(f"user {user!r} exists and is not the demo {role} of {clinic.id}: remove or rename it")
            conn.execute(
                "UPDATE users SET password_hash = %s, disabled = false WHERE id = %s", (hash_password(password), user)
            )
    return Demo(
        clinic=clinic.id,
        clinic_name=clinic.name,
        owner=owner.id,
        owner_name=owner.name,
        owner_email=owner_email,
        vet_user="demo-vet",
        vet_password=passwords["demo-vet"],
        owner_user="demo-owner",
        owner_password=passwords["demo-owner"],
    )


def banner(settings: Settings, where: Places, demo: Demo) -> str:
    """What ``vigie up`` prints once everything listens."""
    url = settings.api_public_url or where.url
    mail = (
        f"  Owner mail:  {where.mail_dir}  (.eml files; local SMTP sink on 127.0.0.1:{where.sink_port})"
        if where.sink_port is not None
        else f"  Owner mail:  sent to {where.smtp_url.rpartition('@')[2]}"
    )
    metrics = (
        f"  Metrics:     http://127.0.0.1:{settings.ingest_metrics_port}/metrics\n"
        if settings.ingest_metrics_port
        else ""
    )
    return (
        "\nVigie is up.\n"
        f"  Open:        {url}   (API documentation: {url.rstrip('/')}/docs)\n"
        f"  Vet login:   {demo.vet_user} / {demo.vet_password}   ({demo.clinic_name})\n"
        f"  Owner login: {demo.owner_user} / {demo.owner_password}   ({demo.owner_name}, {demo.owner_email})\n"
        f"{mail}\n"
        f"{metrics}"
        "  The simulated devices are catching up with the clock: within a minute or two an alert and a draft appear;\n"
        "  approve the draft as the vet and the owner's message lands in the mail folder.\n"
        "  Ctrl-C stops everything.\n\n"
    )


async def _report(settings: Settings) -> None:
    async with await psycopg.AsyncConnection.connect(settings.dsn, autocommit=True) as conn:
        while True:
            await asyncio.sleep(REPORT_EVERY_S)
            cur = await conn.execute(
                "SELECT (SELECT count(*) FROM readings WHERE received_at > now() - interval '10 minutes'),"
                " (SELECT count(*) FROM quarantine WHERE received_at > now() - interval '10 minutes'),"
                " (SELECT count(*) FROM devices WHERE last_seen > now() - interval '10 minutes'),"
                " (SELECT count(*) FROM alerts WHERE status <> 'resolved'),"
                " (SELECT count(*) FROM drafts WHERE status = 'pending'),"
                " (SELECT count(*) FROM outbox WHERE status = 'sent')"
            )
            row = await cur.fetchone()
            if row:
                logger.info(
                    "last 10 min: %s readings stored, %s quarantined, %s devices seen; %s open alerts,"
                    " %s drafts to review, %s messages sent to owners",
                    *row,
                )


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
    where = places(settings)
    demo = await asyncio.to_thread(_prepare_demo, settings, scenario)
    env = {
        **os.environ,
        "VIGIE_DATABASE_URL": settings.dsn,
        "VIGIE_MQTT_URL": settings.mqtt_url.get_secret_value(),
        "VIGIE_TOPIC_ROOT": settings.topic_root,
        "VIGIE_SMTP_URL": where.smtp_url,
        "VIGIE_API_PORT": str(where.api_port),
    }
    children = stages(settings, scenario, speed, where)
    failed: list[str] = []
    try:
        async with asyncio.TaskGroup() as tg:
            helpers = [
                tg.create_task(_maintain(settings), name="up.maintain"),
                tg.create_task(_report(settings), name="up.report"),
            ]
            for stage in children:
                if stop.is_set():  # Ctrl-C or a failure while starting
                    break
                stage.process = await asyncio.create_subprocess_exec(*stage.argv, env=env)
                logger.info("started %s (pid %d): %s", stage.name, stage.process.pid, " ".join(stage.argv[1:]))
                helpers.append(tg.create_task(_watch(stage, stop, failed), name=f"up.watch-{stage.name}"))
                port = {
                    "ingest": settings.ingest_metrics_port,
                    "mailsink": where.sink_port,
                    "api": where.api_port,
                }.get(stage.name)
                if port:
                    await _wait_port(port, stage, timeout=60.0)
            if not stop.is_set():
                sys.stdout.write(banner(settings, where, demo))
                sys.stdout.flush()
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


def _prepare_demo(settings: Settings, scenario: str) -> Demo:
    from vigie.db import connect  # noqa: PLC0415

    with connect(settings.dsn) as conn:
        return prepare_demo(conn, scenario)


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
