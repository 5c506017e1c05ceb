"""Every ``vigie bench`` command run tiny against the real services: the JSON shape and its invariants (nothing lost,
nothing duplicated, counts consistent), never timings.

The PyPI peer of ``vigie bench peers`` needs PyPI to build its virtualenv, so the suite runs that command with
``--no-pypi`` (Vigie and the naive baseline); the peer itself runs in the bench command only.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from typing import Any

import psycopg
import pytest

from tests.conftest import ADMIN_DSN
from tests.ingest.conftest import VIGIE

pytestmark = [pytest.mark.slow, pytest.mark.db, pytest.mark.mqtt]


def bench(db_dsn: str, *args: str, timeout: float = 280) -> dict[str, Any]:
    """``vigie bench ARGS --json`` in a subprocess (it starts its own broker, database and processes)."""
    env = {**os.environ, "VIGIE_DATABASE_URL": db_dsn, "VIGIE_LOG_LEVEL": "WARNING"}
    proc = subprocess.run(
        [VIGIE, "bench", *args, "--json"], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def test_bench_ingest_stores_everything_once_and_reports_every_figure(db_dsn: str) -> None:
    r = bench(
        db_dsn,
        "ingest",
        *("--messages", "1000", "--batched", "100", "--copy-rows", "5000"),
        *("--rules-interval", "0.2", "--rules-settle", "0"),
    )
    assert (r["messages"], r["readings_stored"], r["lost"], r["duplicates"]) == (1000, 1000, 0, 0)
    assert (r["batched_readings_stored"], r["batched_lost"], r["batched_duplicates"]) == (5000, 0, 0)
    for key in (
        "msgs_per_s",
        "readings_per_s",
        "receive_ceiling_msgs_per_s",
        "receive_ceiling_vigie_reader_msgs_per_s",
        "broker_ceiling_c_clients_msgs_per_s",
        "copy_ceiling_rows_per_s",
    ):
        assert r[key] > 0, key
    assert r["ratio_to_ceiling"] == pytest.approx(r["msgs_per_s"] / r["receive_ceiling_msgs_per_s"], rel=0.01)
    assert r["latency_samples"] > 0
    assert 0 < r["p50_publish_to_commit_ms"] <= r["p99_publish_to_commit_ms"]
    assert r["alert_samples"] == r["alert_probes"] == 20  # every hypoglycemia probe raised its alert
    assert 0 < r["p50_publish_to_alert_ms"] <= r["p95_publish_to_alert_ms"] <= r["max_publish_to_alert_ms"]
    assert set(r["cpu_us_per_message"]) == {"worker", "broker", "postgres", "publisher"}
    assert r["cpu_us_per_message"]["worker"] > 0


def test_bench_peers_naive_baseline_is_correct_and_slower(db_dsn: str) -> None:
    # enough naive messages for its CPU time to show in /proc's 10-ms ticks (about 50 µs each: 2000 -> ~10 ticks)
    r = bench(db_dsn, "peers", "--messages", "2000", "--naive-messages", "2000", "--no-pypi")
    assert "pypi_peer" not in r
    vigie, naive = r["vigie"], r["naive"]
    assert (vigie["messages"], vigie["lost"], vigie["duplicates"]) == (2000, 0, 0)
    assert (naive["messages"], naive["lost"], naive["duplicates"]) == (2000, 0, 0)
    assert naive["vigie_ratio"] == pytest.approx(vigie["readings_per_s"] / naive["readings_per_s"], rel=0.01)
    assert naive["cpu_us_per_message"]["naive"] > 0


def test_bench_peers_with_batched_messages_counts_readings(db_dsn: str) -> None:
    r = bench(
        db_dsn, "peers", "--messages", "200", "--naive-messages", "100", "--readings-per-message", "5", "--no-pypi"
    )
    assert r["readings_per_message"] == 5
    assert (r["vigie"]["lost"], r["vigie"]["duplicates"], r["naive"]["lost"], r["naive"]["duplicates"]) == (0, 0, 0, 0)


def test_bench_scale_workers_share_the_stream_exactly_once(db_dsn: str) -> None:
    r = bench(db_dsn, "scale", "--workers", "1,2", "--messages", "3000", "--repeat", "1")
    assert [s["workers"] for s in r["summary"]] == [1, 2]
    assert len(r["runs"]) == 2
    for run in r["runs"]:
        assert (run["readings_stored"], run["lost"], run["duplicates"]) == (3000, 0, 0)
        assert len(run["share"]) == run["workers"]
        assert sum(run["share"]) == pytest.approx(1.0, abs=0.002)  # acknowledgements add up to the published set
        assert {f"worker-{i + 1}" for i in range(run["workers"])} | {"broker", "postgres", "publisher"} == set(
            run["cpu_us_per_message"]
        )
    one = next(run for run in r["runs"] if run["workers"] == 1)
    assert one["reordered_pairs"] == 0  # one worker commits each device's readings in order
    assert r["summary"][0]["speedup"] == 1.0


def test_bench_queries_builds_a_small_year_and_times_every_query(db_dsn: str) -> None:
    database = f"vigie_bench_qt_{uuid.uuid4().hex[:8]}"
    try:
        r = bench(db_dsn, "queries", "--rows", "60000", "--database", database, "--repeat", "2", "--no-time-index")
        assert r["database"] == database
        assert r["readings_stored"] == pytest.approx(60000, rel=0.05)
        plan = r["plan"]
        assert plan["herd_rows"] + plan["battery_rows"] + plan["pet_rows"] == pytest.approx(60000, rel=0.05)
        queries = r["queries"]
        variants = {q["variant"] for q in queries}
        assert {"raw", "rollup", "raw, no time index"} <= variants
        patient = {(q["query"], q["variant"]): q for q in queries if q["query"].startswith("patient 14 d")}
        assert patient["patient 14 d: raw readings", "raw"]["rows"] > 0
        assert patient["patient 14 d: hourly buckets", "rollup"]["rows"] > 0
        # the rollup and the raw readings give the same number of hourly buckets
        hourly = patient["patient 14 d: hourly buckets", "rollup"]["rows"]
        assert patient["patient 14 d: hourly buckets", "raw"]["rows"] == pytest.approx(hourly, abs=2)
        assert any(q["query"].startswith("vigie-glucose") for q in queries)
        assert all(q["rows"] >= 0 and q["runs"] >= 2 and q["p95_ms"] >= q["p50_ms"] for q in queries)
        assert r["patient_14d_worst_p95_ms"] > 0
        # a second run with the same row count reuses the database
        again = bench(db_dsn, "queries", "--rows", "60000", "--database", database, "--repeat", "2")
        assert again["build"] == {}
    finally:
        with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def test_bench_queries_refuses_the_configured_database(db_dsn: str) -> None:
    env = {**os.environ, "VIGIE_DATABASE_URL": db_dsn}
    name = db_dsn.rsplit("/", 1)[1]
    proc = subprocess.run(
        [VIGIE, "bench", "queries", "--rows", "60000", "--database", name],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode != 0
    assert "must not be the configured database" in proc.stderr
