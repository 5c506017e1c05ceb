"""``vigie bench ingest``: ceilings and Vigie end to end, measured side by side in one run on local services.

Everything runs on this machine: a private Mosquitto on a free loopback port, a throw-away database on the
configured PostgreSQL server, the real ``vigie ingest`` in a subprocess, and publishers / subscribers in their
own processes (so that no measurement shares a GIL with another).

- receive ceiling: a paho subscriber that only counts (QoS 1), fed by the same publisher;
- COPY ceiling: psycopg binary COPY of pre-built rows into the ``readings`` hypertable, 5,000-row transactions;
- end to end: the publisher sends as fast as it can; the rate is messages over the time until every row is committed;
- batched: the same with 50 readings per message;
- latency: the publisher paced at half the end-to-end rate; a poller reads the newest committed ``seq`` of one
  probe device every few milliseconds, which gives publish → commit for each of its messages.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing as mp
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np
import paho.mqtt.client as paho
import psycopg
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

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


def _publisher(port: int, corpus: Corpus, rate: float | None, probe: str, out: Connection) -> None:
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


def _counter(port: int, root: str, n: int, qos: int, protocol: MQTTProtocolVersion, out: Connection) -> None:
    """The receive ceiling: a plain paho subscriber that only counts."""
    state = {"count": 0, "first": 0.0, "last": 0.0}

    def on_message(client: paho.Client, _ud: object, _msg: paho.MQTTMessage) -> None:
        if state["count"] == 0:
            state["first"] = time.perf_counter()
        state["count"] += 1
        if state["count"] >= n:
            state["last"] = time.perf_counter()
            client.disconnect()

    def on_connect(client: paho.Client, *_a: object) -> None:
        client.subscribe(f"{root}/devices/+/telemetry", qos=qos)

    client = paho.Client(
        CallbackAPIVersion.VERSION2, client_id=f"bench-count-{os.getpid()}", protocol=MQTTProtocolVersion.MQTTv5
    )
    client.on_message, client.on_connect = on_message, on_connect
    client.on_subscribe = lambda *_a: out.send("ready")
    client.connect("127.0.0.1", port)
    client.loop_forever()
    out.send((state["count"], state["last"] - state["first"]))


def _vigie_counter(port: int, root: str, n: int, out: Connection) -> None:
    """A stricter ceiling: Vigie's own receive path (MQTT v5, QoS 1, acks in runs) counting only."""
    import asyncio  # noqa: PLC0415

    from ingest._mqtt import Incoming, MqttLink  # noqa: PLC0415

    async def main() -> tuple[int, float]:
        got: list[Incoming] = []
        state = {"count": 0, "first": 0.0}
        done = asyncio.Event()

        def on_message(msg: Incoming) -> None:
            if not state["count"]:
                state["first"] = time.perf_counter()
            state["count"] += 1
            got.append(msg)
            if state["count"] >= n:
                done.set()

        link = MqttLink(
            host="127.0.0.1",
            port=port,
            client_id=f"bench-vcount-{os.getpid()}",
            username=None,
            password=None,
            topics=[f"{root}/devices/+/telemetry"],
            on_message=on_message,
            session_expiry_s=0,
            receive_maximum=20000,
        )
        await link.connect()
        out.send("ready")
        while not done.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.005):
                    await done.wait()
            link.ack(got)
            got.clear()
        seconds = time.perf_counter() - state["first"]
        await link.close()
        return int(state["count"]), seconds

    out.send(asyncio.run(main()))


def _start(target: object, *args: object) -> tuple[mp.process.BaseProcess, Connection]:
    ctx = mp.get_context("fork")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=target, args=(*args, child), daemon=True)  # type: ignore[arg-type]
    proc.start()
    return proc, parent


def _recv(conn: Connection, timeout: float, what: str) -> object:
    if not conn.poll(timeout):
        raise IngestError(f"benchmark: {what} did not finish within {timeout:.0f} s")
    return conn.recv()


class _Env:
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

    def __enter__(self) -> _Env:
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


def _subscriptions_logged(env: _Env, client_id: str) -> int:
    text = env.broker_log.read_text() if env.broker_log.exists() else ""
    return text.count(f" {client_id} ")


def measure_c_ceiling(env: _Env, n: int, qos: int) -> float:
    """msg/s delivered by the broker between C clients: ``mosquitto_pub -l`` of ``n`` lines → ``mosquitto_sub -C n``."""
    pub, sub = shutil.which("mosquitto_pub"), shutil.which("mosquitto_sub")
    if pub is None or sub is None:
        raise IngestError("benchmark: mosquitto_pub / mosquitto_sub not found (Debian package mosquitto-clients)")
    corpus = make_corpus("bench/c", min(n, 2000), 1, time.time() - 86400)
    lines = env.workdir / "lines.txt"
    with lines.open("wb") as out:
        for i in range(n):
            out.write(corpus.payloads[i % len(corpus.payloads)] + b"\n")
    topic = "bench/c/devices/bench-0/telemetry"
    port = str(env.port)
    before = _subscriptions_logged(env, f"csub-{qos}")
    receiver = subprocess.Popen(
        [sub, "-h", "127.0.0.1", "-p", port, "-t", topic, "-q", str(qos), "-C", str(n), "-i", f"csub-{qos}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30  # mosquitto_sub has no "ready" signal: the broker logs the subscription
    while _subscriptions_logged(env, f"csub-{qos}") <= before:
        if time.monotonic() > deadline or receiver.poll() is not None:
            receiver.kill()
            raise IngestError("benchmark: mosquitto_sub did not subscribe within 30 s")
        time.sleep(0.02)
    t0 = time.perf_counter()
    with lines.open("rb") as stdin:
        subprocess.run(
            [pub, "-h", "127.0.0.1", "-p", port, "-t", topic, "-q", str(qos), "-M", "1000", "-l", "-i", f"cpub-{qos}"],
            stdin=stdin,
            check=True,
            timeout=300,
        )
    try:
        receiver.wait(timeout=120)
    except subprocess.TimeoutExpired as exc:
        receiver.kill()
        raise IngestError(f"benchmark: mosquitto_sub did not receive {n} messages") from exc
    return n / (time.perf_counter() - t0)


def _metric(port: int, name: str) -> float:
    import urllib.request  # noqa: PLC0415

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        for line in resp.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    return 0.0


def measure_receive_ceiling(env: _Env, n: int, qos: int, protocol: MQTTProtocolVersion | None) -> float:
    """msg/s of a subscriber that only counts (plain paho, or Vigie's reader when ``protocol`` is None),
    with the publisher running alongside."""
    corpus = make_corpus("bench/ceiling", n, 1, time.time() - 86400)
    if protocol is None:
        counter, counter_out = _start(_vigie_counter, env.port, "bench/ceiling", n)
    else:
        counter, counter_out = _start(_counter, env.port, "bench/ceiling", n, qos, protocol)
    _recv(counter_out, 30, "the counting subscriber")  # subscribed
    publisher, pub_out = _start(
        _publisher,
        env.port,
        corpus,
        None,
        "-",
    )
    reply: tuple[int, float] = _recv(counter_out, 300, "the counting subscriber")  # type: ignore[assignment]
    got, seconds = reply
    _recv(pub_out, 300, "the publisher")
    publisher.join(10)
    counter.join(10)
    if got < n:
        raise IngestError(f"benchmark: the counting subscriber received {got} of {n}")
    return n / seconds


def measure_copy_ceiling(env: _Env, rows: int, batch: int = 5000) -> float:
    """rows/s of binary COPY into the hypertable, one transaction per ``batch`` rows."""
    start = time.time() - 86400
    data = [
        (
            datetime.fromtimestamp(start + i * 0.25, UTC),
            f"bench-{i % DEVICES}",
            f"dog-{i % DEVICES}",
            "glucose",
            100.0 + i % 200,
            "bench",
            i // DEVICES,
        )
        for i in range(rows)
    ]
    env.reset()
    with psycopg.connect(env.dsn) as conn:
        t0 = time.perf_counter()
        for lo in range(0, rows, batch):
            with (
                conn.cursor() as cur,
                cur.copy(
                    "COPY readings (time, device_id, animal_id, metric, value, clinic_id, seq) FROM STDIN (FORMAT BINARY)"
                ) as copy,
            ):
                copy.set_types(["timestamptz", "text", "text", "text", "float8", "text", "int8"])
                for row in data[lo : lo + batch]:
                    copy.write_row(row)
            conn.commit()
        seconds = time.perf_counter() - t0
    env.reset()
    return rows / seconds


class _Worker:
    """``vigie ingest`` against the benchmark's broker and database."""

    def __init__(self, env: _Env, root: str, shared_group: str | None = None) -> None:
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
        return _metric(self.metrics_port, "vigie_ingest_acks_sent_total")

    def stop(self) -> None:
        self.proc.terminate()
        if self.proc.wait(timeout=60) != 0:
            raise IngestError(
                f"benchmark: the worker exited with {self.proc.returncode}: {self.log.read_text()[-500:]}"
            )


def measure_end_to_end(
    env: _Env, worker: _Worker, corpus: Corpus, rate: float | None = None
) -> tuple[float, list[float]]:
    """Seconds from the first publish until every message is committed and acknowledged; probe latencies (ms)."""
    n = len(corpus.payloads)
    env.reset()
    base = worker.acks()
    probe_seqs: list[tuple[float, int]] = []
    poll = psycopg.connect(env.dsn, autocommit=True) if rate is not None else None
    t0 = time.perf_counter()
    publisher, pub_out = _start(_publisher, env.port, corpus, rate, "/devices/bench-0/telemetry")
    deadline = time.monotonic() + 600
    while worker.acks() - base < n:
        if time.monotonic() > deadline:
            raise IngestError("benchmark: the worker did not commit everything within 600 s")
        if poll is not None:
            row = poll.execute(
                "SELECT seq FROM readings WHERE animal_id = 'dog-0' AND metric = 'glucose' ORDER BY time DESC LIMIT 1"
            ).fetchone()
            if row is not None:
                probe_seqs.append((time.time(), int(row[0])))
            time.sleep(0.003)
        else:
            time.sleep(0.01)
    seconds = time.perf_counter() - t0
    published: tuple[int, list[float]] = _recv(pub_out, 120, "the publisher")  # type: ignore[assignment]
    acked, probe_times = published
    env.publisher_cpu_s = publisher_cpu(pub_out)
    publisher.join(10)
    if poll is not None:
        poll.close()
    if acked != n:
        raise IngestError(f"benchmark: the broker acknowledged {acked} of {n} publishes")
    latencies = []
    j = 0
    for seq, published_at in enumerate(probe_times):
        while j < len(probe_seqs) and probe_seqs[j][1] < seq:
            j += 1
        if j < len(probe_seqs):
            latencies.append((probe_seqs[j][0] - published_at) * 1000.0)
    return seconds, latencies


class AlertProbe:
    """``vigie rules`` on the bench database, and a publisher of hypoglycemia episodes, one per probe animal.

    The service evaluates an animal once its rows have been quiet for ``--settle`` seconds (20 s by default, so
    that a backlog arriving in chunks gives one evaluation): publish → alert is at least that long. Each probe
    is one message of three readings at 50 mg/dL over the last 16 minutes (the pet rule: below 60 for
    15 minutes, at least two readings), published with QoS 1 while the paced load runs; publish → alert is the
    alert's ``opened_at`` minus the time the probe was published.
    """

    def __init__(self, env: _Env, root: str, interval_s: float, settle_s: float) -> None:
        self.env, self.root = env, root
        environ = {**os.environ, "VIGIE_DATABASE_URL": env.dsn, "VIGIE_LOG_LEVEL": "WARNING"}
        self.log = env.workdir / "rules.log"
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [VIGIE, "rules", "--interval", str(interval_s), "--settle", str(settle_s), "--sweep", "3600"],
                env=environ,
                stdout=out,
                stderr=out,
            )
        self.published: dict[str, float] = {}
        self.seen: dict[str, float] = {}

    def publish(self, seconds: float) -> None:
        """Publish the probes spread over ``seconds`` (blocking)."""
        client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=f"bench-probe-{os.getpid()}", protocol=MQTTProtocolVersion.MQTTv5
        )
        client.connect("127.0.0.1", self.env.port)
        client.loop_start()
        try:
            for i in range(PROBES):
                now = time.time()
                readings = [
                    {"time": now - ago, "metric": "glucose", "value": 50.0, "unit": "mg/dL"} for ago in (960, 480, 0)
                ]
                payload = json.dumps({"seq": 1, "readings": readings})
                info = client.publish(f"{self.root}/devices/probe-{i}/telemetry", payload, qos=1)
                self.published[f"probe-dog-{i}"] = now
                info.wait_for_publish(10)
                time.sleep(seconds / PROBES)
        finally:
            client.loop_stop()
            client.disconnect()

    def wait_first_cycle(self, timeout: float) -> None:
        """Wait until the service has finished its first (full) cycle: it then saves its cursor."""
        deadline = time.monotonic() + timeout
        with psycopg.connect(self.env.dsn, autocommit=True) as conn:
            while conn.execute("SELECT 1 FROM rules_cursor").fetchone() is None:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise IngestError(f"benchmark: vigie rules did not complete a cycle: {self.log.read_text()[-400:]}")
                time.sleep(0.1)

    def watch(self, timeout: float) -> None:
        """Poll the alerts every 20 ms; record when each probe animal's first alert becomes visible (committed)."""
        deadline = time.monotonic() + timeout
        with psycopg.connect(self.env.dsn, autocommit=True) as conn:
            while time.monotonic() < deadline:
                rows = conn.execute(
                    "SELECT DISTINCT animal_id FROM alerts WHERE animal_id LIKE 'probe-dog-%'"
                ).fetchall()
                now = time.time()
                for (animal,) in rows:
                    self.seen.setdefault(str(animal), now)
                if len(self.seen) >= PROBES:
                    return
                time.sleep(0.02)

    def latencies(self) -> list[float]:
        """ms from publish to the first visible alert of each probe animal."""
        return [(self.seen[a] - t) * 1000.0 for a, t in self.published.items() if a in self.seen]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


def _pct(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 1) if values else float("nan")


def _measure_latency(
    env: _Env, worker: _Worker, rate: float, rules_interval_s: float, rules_settle_s: float
) -> tuple[list[float], list[float]]:
    """Ten seconds paced at ``rate`` with ``vigie rules`` running and the alert probes: publish → commit and
    publish → alert latencies (ms)."""
    import threading  # noqa: PLC0415

    paced = make_corpus("bench/e2e", int(rate * 10), 1, time.time() - 10 * 86400)
    probe = AlertProbe(env, "bench/e2e", rules_interval_s, rules_settle_s)
    try:
        probe.wait_first_cycle(timeout=180)
        probes = threading.Thread(target=probe.publish, args=(8.0,), name="bench.alert-probes")
        watcher = threading.Thread(target=probe.watch, args=(120.0,), name="bench.alert-watch")
        watcher.start()
        probes.start()
        _, latencies = measure_end_to_end(env, worker, paced, rate=rate)
        probes.join()
        watcher.join()
    finally:
        probe.stop()
    return latencies, probe.latencies()


def run_bench(
    settings: Settings,
    *,
    messages: int,
    batched: int,
    as_json: bool,
    copy_rows: int = 300_000,
    rules_interval_s: float = 0.5,
    rules_settle_s: float = 20.0,
    drop_time_index: bool = False,
) -> dict[str, Any]:
    """Run every measurement and print the table (or JSON); return the figures."""

    from rich.console import Console  # noqa: PLC0415

    console = Console(stderr=True)
    with _Env(settings, drop_time_index=drop_time_index) as env:
        with console.status("broker ceiling (mosquitto_pub -l → mosquitto_sub, QoS 0)"):
            c_ceiling = measure_c_ceiling(env, messages, 0)
        with console.status("receive ceilings (paho subscribers that only count)"):
            ceiling = measure_receive_ceiling(env, messages, 0, MQTTProtocolVersion.MQTTv311)
            ceiling_qos1 = measure_receive_ceiling(env, messages, 1, MQTTProtocolVersion.MQTTv5)
            ceiling_vigie = measure_receive_ceiling(env, messages, 1, None)
        with console.status(f"COPY ceiling (binary COPY of {copy_rows:,} rows, 5,000-row transactions)"):
            copy_ceiling = measure_copy_ceiling(env, copy_rows)
        worker = _Worker(env, "bench/e2e")
        try:
            groups = {
                "worker": [worker.proc.pid],
                "broker": [env.broker.pid] if env.broker is not None else [],
                "postgres": backend_pids(env.dsn),
            }
            one = make_corpus("bench/e2e", messages, 1, time.time() - 20 * 86400)
            with console.status(f"end to end: {messages:,} one-reading messages"):
                meter = CpuMeter(groups).start()
                seconds, _ = measure_end_to_end(env, worker, one)
                meter.stop()
            cpu_one = {**meter.per_message_us(messages), "publisher": round(env.publisher_cpu_s / messages * 1e6, 2)}
            stored, distinct = env.count()
            many = make_corpus("bench/e2e", batched, 50, time.time() - 15 * 86400)
            with console.status(f"end to end: {batched:,} messages of 50 readings"):
                meter = CpuMeter(groups).start()
                b_seconds, _ = measure_end_to_end(env, worker, many)
                meter.stop()
            cpu_batched = {  # per reading
                **meter.per_message_us(batched * 50),
                "publisher": round(env.publisher_cpu_s / (batched * 50) * 1e6, 2),
            }
            b_stored, b_distinct = env.count()
            rate = messages / seconds
            with console.status(f"latency at half the rate ({rate / 2:,.0f} msg/s), with vigie rules running"):
                latencies, alert_latencies = _measure_latency(env, worker, rate / 2, rules_interval_s, rules_settle_s)
        finally:
            worker.stop()
    lat = np.asarray(latencies) if latencies else np.asarray([float("nan")])
    result: dict[str, Any] = {
        "messages": messages,
        "readings_stored": stored,
        "lost": messages - distinct,
        "duplicates": stored - distinct,
        "msgs_per_s": round(rate, 1),
        "receive_ceiling_msgs_per_s": round(ceiling, 1),
        "receive_ceiling_qos1_v5_msgs_per_s": round(ceiling_qos1, 1),
        "receive_ceiling_vigie_reader_msgs_per_s": round(ceiling_vigie, 1),
        "ratio_to_vigie_reader": round(rate / ceiling_vigie, 3),
        "ratio_to_ceiling": round(rate / ceiling, 3),
        "copy_ceiling_rows_per_s": round(copy_ceiling, 1),
        "batched_messages": batched,
        "batched_readings_stored": b_stored,
        "batched_lost": batched * 50 - b_distinct,
        "batched_duplicates": b_stored - b_distinct,
        "readings_per_s": round(batched * 50 / b_seconds, 1),
        "latency_rate_msgs_per_s": round(rate / 2, 1),
        "latency_samples": len(latencies),
        "p50_publish_to_commit_ms": round(float(np.percentile(lat, 50)), 1),
        "p99_publish_to_commit_ms": round(float(np.percentile(lat, 99)), 1),
        "broker_ceiling_c_clients_msgs_per_s": round(c_ceiling, 1),
        "alert_probes": PROBES,
        "alert_samples": len(alert_latencies),
        "rules_interval_s": rules_interval_s,
        "rules_settle_s": rules_settle_s,
        "p50_publish_to_alert_ms": _pct(alert_latencies, 50),
        "p95_publish_to_alert_ms": _pct(alert_latencies, 95),
        "max_publish_to_alert_ms": round(max(alert_latencies), 1) if alert_latencies else float("nan"),
        "time_index": not drop_time_index,
        "cpu_us_per_message": cpu_one,
        "cpu_us_per_reading_batched": cpu_batched,
    }
    if as_json:
        print(json.dumps(result))  # noqa: T201 - the command's output
    else:
        _print_table(result)
    return result


def _print_table(result: dict[str, Any]) -> None:
    from rich.console import Console  # noqa: PLC0415
    from rich.table import Table  # noqa: PLC0415

    rate, ceiling = result["msgs_per_s"], result["receive_ceiling_msgs_per_s"]
    ceiling_qos1, ceiling_vigie = (
        result["receive_ceiling_qos1_v5_msgs_per_s"],
        result["receive_ceiling_vigie_reader_msgs_per_s"],
    )
    c_ceiling, copy_ceiling = result["broker_ceiling_c_clients_msgs_per_s"], result["copy_ceiling_rows_per_s"]
    rules_interval_s, rules_settle_s = result["rules_interval_s"], result["rules_settle_s"]
    cpu_one, cpu_batched = result["cpu_us_per_message"], result["cpu_us_per_reading_batched"]
    n_alerts = result["alert_samples"]
    table = Table(title="vigie bench ingest (QoS 1, acknowledged after commit)")
    table.add_column("measure")
    table.add_column("value", justify="right")
    rows = [
        ("broker ceiling (mosquitto_pub -l → mosquitto_sub, QoS 0)", f"{c_ceiling:,.0f} msg/s"),
        ("receive ceiling (paho counting, QoS 0, v3.1.1)", f"{ceiling:,.0f} msg/s"),
        ("receive ceiling (paho counting, QoS 1, v5)", f"{ceiling_qos1:,.0f} msg/s"),
        ("receive ceiling (Vigie's reader counting, QoS 1, v5)", f"{ceiling_vigie:,.0f} msg/s"),
        ("COPY ceiling (binary, 5k rows/txn)", f"{copy_ceiling:,.0f} rows/s"),
        ("Vigie end to end, 1 reading/msg", f"{rate:,.0f} msg/s"),
        ("  ratio to the paho receive ceiling", f"{rate / ceiling:.2f}"),
        ("  ratio to Vigie's own reader counting", f"{rate / ceiling_vigie:.2f}"),
        ("  lost / duplicates", f"{result['lost']} / {result['duplicates']}"),
        ("Vigie end to end, 50 readings/msg", f"{result['readings_per_s']:,.0f} readings/s"),
        ("  lost / duplicates", f"{result['batched_lost']} / {result['batched_duplicates']}"),
        (
            f"publish→commit at {rate / 2:,.0f} msg/s",
            f"p50 {result['p50_publish_to_commit_ms']} ms, p99 {result['p99_publish_to_commit_ms']} ms",
        ),
        (
            f"publish→alert (rules every {rules_interval_s} s, settle {rules_settle_s} s), {n_alerts}/{PROBES}",
            f"p50 {result['p50_publish_to_alert_ms']} ms, p95 {result['p95_publish_to_alert_ms']} ms",
        ),
        ("CPU µs per message, 1 reading/msg", ", ".join(f"{k} {v:,.1f}" for k, v in cpu_one.items())),
        ("CPU µs per reading, 50 readings/msg", ", ".join(f"{k} {v:,.2f}" for k, v in cpu_batched.items())),
    ]
    for name, value in rows:
        table.add_row(name, value)
    Console().print(table)
