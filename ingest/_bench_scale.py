"""``vigie bench scale``: 1, 2, 3 … ingest workers on one MQTT v5 shared subscription.

For each worker count: start the workers (``--shared-group``, one persistent session each), publish the same
one-reading corpus as fast as the load generator can, and wait until the workers together have acknowledged every
message. Then check storage against what was published: every (device, seq, time) stored exactly once (lost 0,
duplicates 0), and how the stream was split. Order: per device, the rows sorted by ``seq`` should have
non-decreasing commit times with one worker; with several, consecutive readings of a device may commit out of
order (by design: rows are keyed by device time), and the count of such pairs is reported. CPU seconds per
message are read from ``/proc`` for the workers, the broker, the publisher and the PostgreSQL backends.
"""

from __future__ import annotations

import json
import statistics
import time
from typing import Any

import psycopg

from ingest._bench_env import (
    BenchEnv,
    BenchWorker,
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

_REORDERED = """
SELECT count(*) FROM (
    SELECT received_at < lag(received_at) OVER (PARTITION BY device_id ORDER BY seq) AS back FROM readings
) s WHERE back
"""


def measure_workers(env: BenchEnv, k: int, n: int, run: int) -> dict[str, Any]:
    """One run with ``k`` workers and ``n`` messages."""
    root = f"bench/scale{k}r{run}"
    corpus = make_corpus(root, n, 1, time.time() - 3 * 86400 - run * 3600 - k * 7200)
    env.reset()
    workers = [BenchWorker(env, root, shared_group=f"scale{k}r{run}") for _ in range(k)]
    try:
        time.sleep(0.3)  # every worker subscribed before the first publish (the metrics port opens after connect)
        base = [w.acks() for w in workers]
        groups = {f"worker-{i + 1}": [w.proc.pid] for i, w in enumerate(workers)}
        groups["broker"] = [env.broker.pid] if env.broker is not None else []
        groups["postgres"] = backend_pids(env.dsn)
        meter = CpuMeter(groups).start()
        t0 = time.perf_counter()
        publisher, pub_out = spawn(run_publisher, env.port, corpus, None, "-")
        deadline = time.monotonic() + 600
        while sum(w.acks() for w in workers) - sum(base) < n:
            if time.monotonic() > deadline:
                raise IngestError(f"benchmark: {k} workers did not commit everything within 600 s")
            time.sleep(0.01)
        seconds = time.perf_counter() - t0
        meter.stop()
        published: tuple[int, list[float]] = receive(pub_out, 120, "the publisher")  # type: ignore[assignment]
        acked = published[0]
        meter.used["publisher"] = publisher_cpu(pub_out)
        publisher.join(10)
        shares = [w.acks() - b for w, b in zip(workers, base, strict=True)]
    finally:
        for w in workers:
            w.stop()
    stored, distinct = env.count()
    with psycopg.connect(env.dsn, autocommit=True) as conn:
        row = conn.execute(_REORDERED).fetchone()
    reordered = int(row[0]) if row else 0
    if acked != n:
        raise IngestError(f"benchmark: the broker acknowledged {acked} of {n} publishes")
    return {
        "workers": k,
        "run": run,
        "messages": n,
        "msgs_per_s": round(n / seconds, 1),
        "readings_stored": stored,
        "lost": n - distinct,
        "duplicates": stored - distinct,
        "share": [round(s / n, 3) for s in shares],
        "reordered_pairs": reordered,
        "cpu_s": {name: round(sec, 3) for name, sec in meter.used.items()},
        "cpu_us_per_message": meter.per_message_us(n),
    }


def run_scale_bench(
    settings: Settings, *, workers: list[int], messages: int, repeat: int, as_json: bool
) -> dict[str, Any]:
    """Every worker count ``repeat`` times, interleaved (1, 2, 3, 1, 2, 3 …) so that load changes hit them alike."""
    from rich.console import Console  # noqa: PLC0415
    from rich.table import Table  # noqa: PLC0415

    console = Console(stderr=True)
    runs: list[dict[str, Any]] = []
    with BenchEnv(settings) as env:
        for run in range(repeat):
            for k in workers:
                with console.status(f"{k} worker(s), run {run + 1}/{repeat}: {messages:,} messages"):
                    runs.append(measure_workers(env, k, messages, run))
    summary = []
    one = statistics.median(r["msgs_per_s"] for r in runs if r["workers"] == workers[0])
    for k in workers:
        mine = [r for r in runs if r["workers"] == k]
        rate = statistics.median(r["msgs_per_s"] for r in mine)
        summary.append(
            {
                "workers": k,
                "median_msgs_per_s": round(rate, 1),
                "speedup": round(rate / one, 2),
                "lost": sum(r["lost"] for r in mine),
                "duplicates": sum(r["duplicates"] for r in mine),
                "reordered_pairs": max(r["reordered_pairs"] for r in mine),
            }
        )
    result: dict[str, Any] = {"messages": messages, "repeat": repeat, "summary": summary, "runs": runs}
    if as_json:
        print(json.dumps(result))  # noqa: T201 - the command's output
        return result
    table = Table(title=f"vigie bench scale: workers on one shared subscription ({messages:,} messages per run)")
    for col in ("workers", "msg/s (runs)", "speedup", "lost / dup", "reordered", "CPU µs/msg"):
        table.add_column(col, justify="right")
    for s in summary:
        mine = [r for r in runs if r["workers"] == s["workers"]]
        cpu = mine[-1]["cpu_us_per_message"]
        table.add_row(
            str(s["workers"]),
            " / ".join(f"{r['msgs_per_s']:,.0f}" for r in mine),
            f"{s['speedup']:.2f}",
            f"{s['lost']} / {s['duplicates']}",
            str(s["reordered_pairs"]),
            ", ".join(f"{name} {v:,.1f}" for name, v in cpu.items()),
        )
    Console().print(table)
    return result
