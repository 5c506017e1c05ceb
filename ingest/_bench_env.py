"""The benchmarks' harness: their own broker and database, the corpus, the load generator, the worker under
test and the CPU meter. Shared by ``vigie bench ingest``, ``bench peers`` and ``bench scale``."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np
import psycopg

from ingest._loadgen import publish_all
from ingest.errors import IngestError
from vigie.db import migrate
from vigie.net import free_port, wait_port
from vigie.settings import Settings

DEVICES = 100
PROBES = 20  # animals whose hypoglycemia probe gives publish → alert
VIGIE = str(Path(sys.executable).parent / "vigie")
# `log_type subscribe` only: the C-client ceiling waits for mosquitto_sub's subscription in this log. `user root`:
# started as root, Mosquitto would switch to the mosquitto user and could not write the log in the private folder
MOSQUITTO_CONF = """user root
listener {port} 127.0.0.1
allow_anonymous true
persistence false
max_queued_messages 0
max_inflight_messages 0
message_size_limit 0
log_dest file {log}
log_type subscribe
"""


@dataclass
class Corpus:
    """Topics and payloads, published in this order."""

    topics: list[str]
    payloads: list[bytes]


def make_corpus(root: str, n: int, per_message: int, start: float) -> Corpus:
    """``n`` Vigie-JSON messages of ``per_message`` glucose readings, round-robin over the devices."""
    rng = np.random.default_rng(42)
    values = np.round(rng.normal(160, 40, size=n * per_message).clip(40, 450), 1)
    topics, payloads = [], []
    for i in range(n):
        dev, seq = i % DEVICES, i // DEVICES
        base = start + seq * per_message * 60.0
        readings = [
            {
                "time": datetime.fromtimestamp(base + k * 60.0, UTC).isoformat(),
                "metric": "glucose",
                "value": float(values[i * per_message + k]),
                "unit": "mg/dL",
            }
            for k in range(per_message)
        ]
        topics.append(f"{root}/devices/bench-{dev}/telemetry")
        payloads.append(json.dumps({"seq": seq, "readings": readings}, separators=(",", ":")).encode())
    return Corpus(topics, payloads)


def run_publisher(port: int, corpus: Corpus, rate: float | None, probe: str, out: Connection) -> None:
    """Publish the corpus with QoS 1 (paced at ``rate`` msg/s when given); send back probe publish times."""
    out.send(
        publish_all(
            "127.0.0.1",
            port,
            corpus.topics,
            corpus.payloads,
            rate=rate,
            probe=probe,
            client_id=f"bench-pub-{os.getpid()}",
        )
    )
    times = os.times()
    out.send(times.user + times.system)  # the load generator's own CPU seconds


def publisher_cpu(conn: Connection) -> float:
    """The CPU seconds the publisher reports after its result (0 if it does not within 10 s)."""
    return float(conn.recv()) if conn.poll(10) else 0.0


def spawn(target: object, *args: object) -> tuple[mp.process.BaseProcess, Connection]:
    ctx = mp.get_context("fork")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=target, args=(*args, child), daemon=True)  # type: ignore[arg-type]
    proc.start()
    return proc, parent


def receive(conn: Connection, timeout: float, what: str) -> object:
    if not conn.poll(timeout):
        raise IngestError(f"benchmark: {what} did not finish within {timeout:.0f} s")
    return conn.recv()


class BenchEnv:
    """The benchmark's own broker and database, removed at the end."""

    def __init__(self, settings: Settings, *, drop_time_index: bool = False) -> None:
        self.settings = settings
        self.drop_time_index = drop_time_index
        self.db = f"vigie_bench_{uuid.uuid4().hex[:8]}"
        base = settings.dsn.rsplit("/", 1)[0]
        self.admin_dsn, self.dsn = f"{base}/postgres", f"{base}/{self.db}"
        self.workdir = Path(tempfile.mkdtemp(prefix="vigie-bench-"))
        self.port = free_port()
        self.broker: subprocess.Popen[bytes] | None = None
        self.broker_log = self.workdir / "mosquitto.log"
        self.publisher_cpu_s = 0.0  # of the last end-to-end run

    def __enter__(self) -> BenchEnv:
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        conf = self.workdir / "mosquitto.conf"
        conf.write_text(MOSQUITTO_CONF.format(port=self.port, log=self.broker_log))
        self.broker = subprocess.Popen([exe, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port)
        with psycopg.connect(self.admin_dsn, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{self.db}"')
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            migrate(conn)
            if self.drop_time_index:  # what-if: the natural key as the only index of the hypertable
                conn.execute("DROP INDEX IF EXISTS readings_time_idx")
            conn.execute("INSERT INTO clinics (id, name) VALUES ('bench', 'Benchmark clinic')")
            conn.execute(
                "INSERT INTO animals (id, clinic_id, name, species) SELECT 'dog-' || g, 'bench', 'dog ' || g, 'dog' FROM generate_series(0, %s) g",
                (DEVICES - 1,),
            )
            conn.execute(
                "INSERT INTO devices (id, kind, clinic_id, animal_id) SELECT 'bench-' || g, 'cgm', 'bench', 'dog-' || g FROM generate_series(0, %s) g",
                (DEVICES - 1,),
            )
            # alert probes: animals of their own, outside the load's devices
            conn.execute(
                "INSERT INTO animals (id, clinic_id, name, species) SELECT 'probe-dog-' || g, 'bench', 'probe ' || g,"
                " 'dog' FROM generate_series(0, %s) g",
                (PROBES - 1,),
            )
            conn.execute(
                "INSERT INTO devices (id, kind, clinic_id, animal_id) SELECT 'probe-' || g, 'cgm', 'bench',"
                " 'probe-dog-' || g FROM generate_series(0, %s) g",
                (PROBES - 1,),
            )
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.broker is not None:
            self.broker.terminate()
            self.broker.wait(timeout=10)
        with psycopg.connect(self.admin_dsn, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{self.db}" WITH (FORCE)')
        shutil.rmtree(self.workdir, ignore_errors=True)

    def reset(self) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute("TRUNCATE readings, quarantine, rollup_dirty")

    def count(self) -> tuple[int, int]:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            row = conn.execute("SELECT count(*), count(DISTINCT (device_id, seq, time)) FROM readings").fetchone()
        assert row is not None  # noqa: S101
        return int(row[0]), int(row[1])


CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (``/proc/<pid>/stat``); 0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime (fields 14 and 15 of proc(5))


def backend_pids(dsn: str) -> list[int]:
    """The server processes of every other connection to ``dsn``'s database."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    return [int(r[0]) for r in rows]


class CpuMeter:
    """CPU seconds used by named groups of processes between :meth:`start` and :meth:`stop`."""

    def __init__(self, groups: dict[str, list[int]]) -> None:
        self.groups = groups
        self._start: dict[str, float] = {}
        self.used: dict[str, float] = {}

    def _read(self) -> dict[str, float]:
        return {name: sum(cpu_seconds(p) for p in pids) for name, pids in self.groups.items()}

    def start(self) -> CpuMeter:
        self._start = self._read()
        return self

    def stop(self) -> dict[str, float]:
        now = self._read()
        self.used = {name: now[name] - self._start.get(name, 0.0) for name in now}
        return self.used

    def per_message_us(self, messages: int) -> dict[str, float]:
        """Microseconds of CPU per message for each group."""
        return {name: round(sec / messages * 1e6, 2) for name, sec in self.used.items()}


def metric_value(port: int, name: str) -> float:
    import urllib.request  # noqa: PLC0415

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        for line in resp.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    return 0.0


class BenchWorker:
    """``vigie ingest`` against the benchmark's broker and database."""

    def __init__(self, env: BenchEnv, root: str, shared_group: str | None = None) -> None:
        self.metrics_port = free_port()
        environ = {
            **os.environ,
            "VIGIE_DATABASE_URL": env.dsn,
            "VIGIE_MQTT_URL": f"mqtt://127.0.0.1:{env.port}",
            "VIGIE_TOPIC_ROOT": root,
            "VIGIE_INGEST_CLIENT_ID": f"bench-ingest-{uuid.uuid4().hex[:6]}",
            "VIGIE_INGEST_METRICS_PORT": str(self.metrics_port),
            "VIGIE_LOG_LEVEL": "WARNING",
        }
        if shared_group is not None:
            environ["VIGIE_INGEST_SHARED_GROUP"] = shared_group
        self.log = env.workdir / f"worker-{self.metrics_port}.log"
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen([VIGIE, "ingest"], env=environ, stdout=out, stderr=out)
        wait_port(self.metrics_port, timeout=30)

    def acks(self) -> float:
        return metric_value(self.metrics_port, "vigie_ingest_acks_sent_total")

    def stop(self) -> None:
        self.proc.terminate()
        if self.proc.wait(timeout=60) != 0:
            raise IngestError(
                f"benchmark: the worker exited with {self.proc.returncode}: {self.log.read_text()[-500:]}"
            )
