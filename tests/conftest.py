"""Fixtures against the real services: PostgreSQL + TimescaleDB and Mosquitto.

- ``db_dsn``: a fresh database per test, cloned from a migrated template (about 0.2 s).
- ``broker``: a private Mosquitto on a free loopback port for the test session (its own config).
- ``topic_root``: a unique topic prefix per test, so tests never see each other's messages.
- ``settings``: :class:`vigie.settings.Settings` pointing at all of the above.
- ``run_cli``: runs ``vigie`` in-process and returns (exit code, stdout, stderr).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from vigie.db import migrate
from vigie.net import free_port, wait_port
from vigie.settings import Settings

ADMIN_DSN = os.environ.get("VIGIE_TEST_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


def dsn_for(dbname: str) -> str:
    """The admin DSN with another database name."""
    base, _, _ = ADMIN_DSN.rpartition("/")
    return f"{base}/{dbname}"


@pytest.fixture(scope="session")
def template_db() -> Iterator[str]:
    """A migrated database used as the template of every test database."""
    name = f"vigie_tpl_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    with psycopg.connect(dsn_for(name), autocommit=True) as conn:
        migrate(conn)
    with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
        # TimescaleDB's scheduler connects to every database with the extension, and a template must have no
        # connection while it is copied: forbid new ones and end those already there
        admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false IS_TEMPLATE true')
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
    yield name
    with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" WITH IS_TEMPLATE false')
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def db_dsn(template_db: str) -> Iterator[str]:
    """A fresh, migrated database of this test alone."""
    name = f"vigie_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
        for attempt in range(50):
            try:
                admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"')
                break
            except psycopg.errors.ObjectInUse:  # a backend is still leaving the template
                if attempt == 49:
                    raise
                admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (template_db,)
                )
                time.sleep(0.1)
    yield dsn_for(name)
    with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def db(db_dsn: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """An autocommit connection to the test's database."""
    with psycopg.connect(db_dsn, autocommit=True) as conn:
        yield conn


@dataclass
class Broker:
    """A Mosquitto process started by the tests."""

    host: str
    port: int
    conf: Path
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"


# `user root`: started as root, Mosquitto would switch to the mosquitto user and could not write its log and
# persistence file in pytest's temporary folders
MOSQUITTO_CONF = """\
user root
listener {port} 127.0.0.1
allow_anonymous true
persistence false
max_queued_messages 1000000
max_inflight_messages 0
max_packet_size 1048576
message_size_limit 0
sys_interval 1
log_dest file {log}
log_type error
log_type warning
log_type notice
"""


def start_mosquitto(workdir: Path, port: int | None = None, extra: str = "") -> Broker:
    """Start a private Mosquitto on a free loopback port (its log next to its config)."""
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    port = port or free_port()
    conf = workdir / f"mosquitto-{port}.conf"
    conf.write_text(MOSQUITTO_CONF.format(port=port, log=workdir / f"mosquitto-{port}.log") + extra)
    proc = subprocess.Popen([exe, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)
    return Broker("127.0.0.1", port, conf, proc)


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """A private Mosquitto for the whole test session."""
    b = start_mosquitto(tmp_path_factory.mktemp("mosquitto"))
    yield b
    b.process.terminate()
    b.process.wait(timeout=10)


@pytest.fixture
def topic_root() -> str:
    """A topic prefix unique to this test."""
    return f"t/{uuid.uuid4().hex[:10]}/vigie/v1"


@pytest.fixture
def settings(db_dsn: str, broker: Broker, topic_root: str) -> Settings:
    """Settings pointing at this test's database, the session broker and a unique topic root."""
    return Settings(
        database_url=db_dsn,  # type: ignore[arg-type]
        mqtt_url=broker.url,  # type: ignore[arg-type]
        topic_root=topic_root,
        ingest_client_id=f"ingest-{uuid.uuid4().hex[:8]}",
        ingest_metrics_port=0,
    )


@pytest.fixture
def run_cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """Run ``vigie ARGS`` in-process; environment from ``env``; returns (exit code, stdout, stderr)."""
    from vigie.cli import main

    def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
        for key, value in (env or {}).items():
            monkeypatch.setenv(key, value)
        capsys.readouterr()
        try:
            main(list(args))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        else:  # pragma: no cover - main always exits
            code = 0
        out, err = capsys.readouterr()
        return code, out, err

    return run


class PrivatePostgres:
    """A PostgreSQL 15 + TimescaleDB server of the tests' own (initdb in a temporary folder), to stop and start."""

    BIN = Path("/usr/lib/postgresql/15/bin")

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "data"
        self.port = free_port()
        self.log = root / "postgres.log"

    def _pg(self, *args: str) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", *args], check=True, capture_output=True, timeout=120)

    def init(self) -> None:
        self._pg(str(self.BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")

    def start(self) -> None:
        opts = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c shared_preload_libraries=timescaledb"
            " -c timescaledb.telemetry_level=off"
        )
        self._pg(str(self.BIN / "pg_ctl"), "-D", str(self.data), "-o", opts, "-l", str(self.log), "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        self._pg(str(self.BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def dsn(self, db: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{db}"


@pytest.fixture(scope="module")
def private_pg() -> Iterator[PrivatePostgres]:
    """A private PostgreSQL + TimescaleDB server for a test module (to stop, crash and restart)."""
    root = Path(tempfile.mkdtemp(prefix="vigie-pg-"))
    root.chmod(0o755)
    shutil.chown(root, "postgres")
    pg = PrivatePostgres(root)
    pg.init()
    pg.start()
    yield pg
    with contextlib.suppress(subprocess.CalledProcessError):
        pg.stop("immediate")
    shutil.rmtree(root, ignore_errors=True)
