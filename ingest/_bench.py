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

import json
import os
import subprocess
import time
from typing import Any

import numpy as np
import paho.mqtt.client as paho
import psycopg
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from ingest._bench_ceilings import measure_c_ceiling, measure_copy_ceiling, measure_receive_ceiling
from ingest._bench_env import (
    PROBES,
    VIGIE,
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


def measure_end_to_end(
    env: BenchEnv, worker: BenchWorker, corpus: Corpus, rate: float | None = None
) -> tuple[float, list[float]]:
    """Seconds from the first publish until every message is committed and acknowledged; probe latencies (ms)."""
    n = len(corpus.payloads)
    env.reset()
    base = worker.acks()
    probe_seqs: list[tuple[float, int]] = []
    poll = psycopg.connect(env.dsn, autocommit=True) if rate is not None else None
    t0 = time.perf_counter()
    publisher, pub_out = spawn(run_publisher, env.port, corpus, rate, "/devices/bench-0/telemetry")
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
    published: tuple[int, list[float]] = receive(pub_out, 120, "the publisher")  # type: ignore[assignment]
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

    def __init__(self, env: BenchEnv, root: str, interval_s: float, settle_s: float) -> None:
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
    env: BenchEnv, worker: BenchWorker, rate: float, rules_interval_s: float, rules_settle_s: float
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
    with BenchEnv(settings, drop_time_index=drop_time_index) as env:
        with console.status("broker ceiling (mosquitto_pub -l → mosquitto_sub, QoS 0)"):
            c_ceiling = measure_c_ceiling(env, messages, 0)
        with console.status("receive ceilings (paho subscribers that only count)"):
            ceiling = measure_receive_ceiling(env, messages, 0, MQTTProtocolVersion.MQTTv311)
            ceiling_qos1 = measure_receive_ceiling(env, messages, 1, MQTTProtocolVersion.MQTTv5)
            ceiling_vigie = measure_receive_ceiling(env, messages, 1, None)
        with console.status(f"COPY ceiling (binary COPY of {copy_rows:,} rows, 5,000-row transactions)"):
            copy_ceiling = measure_copy_ceiling(env, copy_rows)
        worker = BenchWorker(env, "bench/e2e")
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
