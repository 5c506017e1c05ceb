"""``vigie bench peers``: Vigie against what users would otherwise pick, on the same corpus, broker and database.

- **naive**: the textbook paho ``on_message`` → one ``INSERT`` per message (autocommit), written here, honestly
  naive but correct: MQTT 3.1.1 QoS 1 (paho acknowledges on receipt), the device checked against the registry in
  the same statement, ``ON CONFLICT DO NOTHING`` on the natural key so a redelivery is stored once.
- **esphome-mqtt-timescaledb-ingestor** (PyPI, 0.3.0): its own topics (``<device>/sensor/<name>/state``, a plain
  number) and its own table (``esphome_data``, created by itself), fed the same readings. It pins paho < 2 and
  typer < 0.10, so it runs from its own virtualenv under ``~/.cache/vigie/peers`` (created on first use with pip;
  that needs PyPI once), configured by writing the JSON file its interactive wizard would write.
- **Vigie**: ``vigie ingest`` on the same one-reading corpus.

Each rate is readings committed per second from the first publish until the last row is in the database; each
peer is reported as Vigie's rate divided by the peer's, with lost/duplicated readings and CPU per message.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import psycopg
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from ingest._bench import measure_end_to_end
from ingest._bench_env import (
    BenchEnv,
    BenchWorker,
    Corpus,
    CpuMeter,
    backend_pids,
    make_corpus,
    publisher_cpu,
    receive,
    run_publisher,
    spawn,
)
from ingest.errors import IngestError
from vigie.settings import Settings

PEER_PACKAGE = "esphome-mqtt-timescaledb-ingestor==0.3.0"
PEERS_DIR = Path(os.environ.get("VIGIE_CACHE_DIR", str(Path.home() / ".cache" / "vigie"))) / "peers"
NAIVE_INSERT = (
    "INSERT INTO readings (time, device_id, animal_id, metric, value, clinic_id, seq)"
    " SELECT %s, d.id, d.animal_id, %s, %s, d.clinic_id, %s FROM devices d WHERE d.id = %s AND d.enabled"
    " ON CONFLICT DO NOTHING"
)


# --- the naive baseline -----------------------------------------------------------------------------------------


def naive_subscriber(port: int, root: str, dsn: str, out: Connection) -> None:
    """paho ``on_message`` → parse → one INSERT per reading, committed per message (autocommit)."""
    conn = psycopg.connect(dsn, autocommit=True)

    def on_message(_client: paho.Client, _ud: object, msg: paho.MQTTMessage) -> None:
        device = msg.topic.split("/")[-2]
        doc = json.loads(msg.payload)
        for r in doc["readings"]:
            conn.execute(NAIVE_INSERT, (r["time"], r["metric"], float(r["value"]), doc.get("seq"), device))

    def on_connect(client: paho.Client, *_a: object) -> None:
        client.subscribe(f"{root}/devices/+/telemetry", qos=1)

    client = paho.Client(
        CallbackAPIVersion.VERSION2, client_id=f"bench-naive-{os.getpid()}", protocol=MQTTProtocolVersion.MQTTv311
    )
    client.on_message, client.on_connect = on_message, on_connect
    client.on_subscribe = lambda *_a: out.send("ready")
    client.connect("127.0.0.1", port)
    signal.signal(signal.SIGTERM, lambda *_a: client.disconnect())
    client.loop_forever()
    conn.close()


def _wait_rows(dsn: str, sql: str, n: int, timeout: float, what: str) -> float:
    """Poll until ``sql`` counts ``n`` rows; returns the perf_counter time it did."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(dsn, autocommit=True) as conn:
        while True:
            row = conn.execute(sql).fetchone()
            if row is not None and int(row[0]) >= n:
                return time.perf_counter()
            if time.monotonic() > deadline:
                raise IngestError(f"benchmark: {what} stored {row[0] if row else 0} of {n} within {timeout:.0f} s")
            time.sleep(0.02)


def measure_naive(env: BenchEnv, corpus: Corpus, per_message: int = 1) -> dict[str, Any]:
    """The naive subscriber on ``corpus``: rate, lost, duplicates, CPU per message."""
    n = len(corpus.payloads)
    readings = n * per_message
    env.reset()
    proc, ready = spawn(naive_subscriber, env.port, "bench/naive", env.dsn)
    receive(ready, 30, "the naive subscriber")
    meter = CpuMeter({"naive": [proc.pid or 0], "postgres": backend_pids(env.dsn)}).start()
    t0 = time.perf_counter()
    publisher, pub_out = spawn(run_publisher, env.port, corpus, None, "-")
    done = _wait_rows(env.dsn, "SELECT count(*) FROM readings", readings, 600, "the naive subscriber")
    meter.stop()
    receive(pub_out, 120, "the publisher")
    pub_cpu = publisher_cpu(pub_out)
    publisher.join(10)
    proc.terminate()
    proc.join(10)
    stored, distinct = env.count()
    return {
        "messages": n,
        "readings_per_s": round(readings / (done - t0), 1),
        "lost": readings - distinct,
        "duplicates": stored - distinct,
        "cpu_us_per_message": {**meter.per_message_us(n), "publisher": round(pub_cpu / n * 1e6, 2)},
    }


# --- esphome-mqtt-timescaledb-ingestor ----------------------------------------------------------------------------


def peer_venv(say: Any = None) -> Path:
    """The peer's own virtualenv (created with pip on first use); returns its ``mqtt-ingestor`` executable."""
    venv = PEERS_DIR / "esphome-ingestor"
    exe = venv / "bin" / "mqtt-ingestor"
    if exe.exists():
        return exe
    if say is not None:
        say(f"installing {PEER_PACKAGE} into {venv} (once)")
    PEERS_DIR.mkdir(parents=True, exist_ok=True)
    python = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else sys.executable
    subprocess.run([python, "-m", "venv", str(venv)], check=True, timeout=300)
    subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", PEER_PACKAGE], check=True, timeout=600, capture_output=True
    )
    return exe


def peer_corpus(corpus: Corpus) -> Corpus:
    """The same readings on the peer's topics: ``<device>/sensor/glucose/state`` with the value as text (signed)."""
    topics, payloads = [], []
    for topic, payload in zip(corpus.topics, corpus.payloads, strict=True):
        device = topic.split("/")[-2]
        value = json.loads(payload)["readings"][0]["value"]
        topics.append(f"{device}/sensor/glucose/state")
        # "+" in front: a plain number is valid JSON, and this peer then fails on it ('float' object does not
        # support item assignment) and drops the message; "+123.4" is not JSON, so it takes its number path
        payloads.append(b"+" + repr(float(value)).encode())
    return Corpus(topics, payloads)


def measure_pypi_peer(env: BenchEnv, corpus: Corpus, say: Any = None) -> dict[str, Any]:
    """The PyPI ingestor on the same readings: rate, lost, CPU per message."""
    exe = peer_venv(say)
    n = len(corpus.payloads)
    home = env.workdir / "peer-home"
    config = home / ".esphome-ingestor" / "ingestor_config.json"  # typer.get_app_dir(..., force_posix=True)
    config.parent.mkdir(parents=True, exist_ok=True)
    base, db = env.dsn.rsplit("/", 1)
    user_host = base.split("://", 1)[1]
    user, _, host_port = user_host.rpartition("@")
    host, _, port = host_port.partition(":")
    config.write_text(
        json.dumps(
            {
                "database": {
                    "host": host,
                    "port": int(port or 5432),
                    "dbname": db,
                    "user": user.split(":")[0] or "postgres",
                    "password": user.split(":")[1] if ":" in user else "",
                },
                "mqtt": {"host": "127.0.0.1", "port": env.port, "username": "", "password": ""},
            }
        )
    )
    log = env.workdir / "peer.log"
    with psycopg.connect(env.dsn, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS esphome_data")
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(exe), "start"], env={**os.environ, "HOME": str(home)}, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 30
        while b"subscribed" not in log.read_bytes() or b"tables are ready" not in log.read_bytes():
            if time.monotonic() > deadline or proc.poll() is not None:
                raise IngestError(f"benchmark: the PyPI peer did not start: {log.read_text()[-400:]}")
            time.sleep(0.05)
        meter = CpuMeter({"peer": [proc.pid], "postgres": backend_pids(env.dsn)}).start()
        t0 = time.perf_counter()
        publisher, pub_out = spawn(run_publisher, env.port, corpus, None, "-")
        # it writes at most 100 rows per second (a 100-row batch, then a 1 s sleep): allow for that and more
        done = _wait_rows(env.dsn, "SELECT count(*) FROM esphome_data", n, n / 50 + 60, "the PyPI peer")
        meter.stop()
        receive(pub_out, 120, "the publisher")
        pub_cpu = publisher_cpu(pub_out)
        publisher.join(10)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    with psycopg.connect(env.dsn, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM esphome_data").fetchone()
    stored = int(row[0]) if row else 0
    return {
        "messages": n,
        "readings_per_s": round(n / (done - t0), 1),
        "lost": max(n - stored, 0),
        "duplicates": max(stored - n, 0),
        "cpu_us_per_message": {**meter.per_message_us(n), "publisher": round(pub_cpu / n * 1e6, 2)},
    }


# --- Vigie and the command ------------------------------------------------------------------------------------------


def measure_vigie(env: BenchEnv, corpus: Corpus, per_message: int = 1) -> dict[str, Any]:
    """``vigie ingest`` on ``corpus``."""
    n = len(corpus.payloads)
    readings = n * per_message
    worker = BenchWorker(env, "bench/vigie")
    try:
        meter = CpuMeter({"vigie": [worker.proc.pid], "postgres": backend_pids(env.dsn)}).start()
        seconds, _ = measure_end_to_end(env, worker, corpus)
        meter.stop()
    finally:
        worker.stop()
    stored, distinct = env.count()
    return {
        "messages": n,
        "readings_per_s": round(readings / seconds, 1),
        "lost": readings - distinct,
        "duplicates": stored - distinct,
        "cpu_us_per_message": {**meter.per_message_us(n), "publisher": round(env.publisher_cpu_s / n * 1e6, 2)},
    }


def run_peers_bench(
    settings: Settings,
    *,
    messages: int,
    naive_messages: int,
    peer_messages: int,
    pypi: bool,
    as_json: bool,
    per_message: int = 1,
) -> dict[str, Any]:
    """Vigie, the naive baseline and (with ``pypi``) the PyPI peer, in one run; print the table or JSON.

    With ``per_message`` > 1, Vigie and the naive baseline get messages of that many readings (the naive one then
    inserts and commits each reading); the PyPI peer takes one value per message by design and keeps one."""
    from rich.console import Console  # noqa: PLC0415
    from rich.table import Table  # noqa: PLC0415

    console = Console(stderr=True)
    start = time.time() - 5 * 86400
    with BenchEnv(settings) as env:
        with console.status(f"Vigie: {messages:,} messages of {per_message} reading(s)"):
            vigie = measure_vigie(env, make_corpus("bench/vigie", messages, per_message, start), per_message)
        with console.status(f"naive paho → INSERT: {naive_messages:,} messages"):
            naive = measure_naive(
                env, make_corpus("bench/naive", naive_messages, per_message, start - 86400), per_message
            )
        peer = None
        if pypi:
            with console.status(f"{PEER_PACKAGE}: {peer_messages:,} messages"):
                peer = measure_pypi_peer(
                    env, peer_corpus(make_corpus("bench/peer", peer_messages, 1, start)), console.log
                )
    rate = float(vigie["readings_per_s"])
    result: dict[str, Any] = {
        "readings_per_message": per_message,
        "vigie": vigie,
        "naive": {**naive, "vigie_ratio": round(rate / float(naive["readings_per_s"]), 2)},
    }
    if peer is not None:
        result["pypi_peer"] = {**peer, "package": PEER_PACKAGE, "vigie_ratio": round(rate / peer["readings_per_s"], 1)}
    if as_json:
        print(json.dumps(result))  # noqa: T201 - the command's output
        return result
    table = Table(title=f"vigie bench peers (same corpus, broker and database; {per_message} reading(s) per message)")
    for col in (
        "ingestor",
        "messages",
        "readings/s",
        "Vigie ratio",
        "lost / dup",
        "CPU µs/msg (process, postgres, publisher)",
    ):
        table.add_column(col, justify="left" if col == "ingestor" else "right")
    rows: list[tuple[str, dict[str, Any]]] = [("Vigie (QoS 1, ack after commit)", vigie)]
    rows.append(("naive paho on_message → INSERT", result["naive"]))
    if peer is not None:
        rows.append((PEER_PACKAGE, result["pypi_peer"]))
    for name, r in rows:
        cpu = r["cpu_us_per_message"]
        table.add_row(
            name,
            f"{r['messages']:,}",
            f"{r['readings_per_s']:,.0f}",
            str(r.get("vigie_ratio", "1")),
            f"{r['lost']} / {r['duplicates']}",
            " / ".join(f"{v:,.0f}" for v in cpu.values()),
        )
    Console().print(table)
    return result
