"""``vigie bench queries``: read latency of the patient page and the dashboards on a year of data.

A dedicated database (``vigie_bench_q`` by default, never the dev database) is filled once with ``--rows`` readings
(50 million by default: a 100-animal clinic whose CGMs cover a year, plus a dairy herd's milkings), generated in
SQL with ``generate_series`` while the table's indexes are dropped, then indexed, rolled up and analysed. A later
run with the same row count reuses it (``--rebuild`` forces a new one).

Measured, each query ``--repeat`` times on a random animal (after one warm-up), p50 / p95 / max in ms:

- the patient page, 14-day view of one animal: raw readings (the SQL of ``analytics.load_readings``), hourly buckets
  from the rollup, and the same buckets computed from raw readings (without rollups);
- every panel query of every dashboard (``dashboards.all_dashboards()``), expanded as Grafana does over its
  range, at the interval that selects the hourly rollup and with the raw branch forced (without rollups);
- the rules service's "animals changed since the cursor" query (imported from ``rules._service``), the cursor at
  the newest row;
- with ``--no-time-index`` also the raw queries with the hypertable's time index dropped (inside a transaction
  that is rolled back): the evidence for or against keeping that index, which costs ingest speed.
"""

from __future__ import annotations

import itertools
import json
import random
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import psycopg

from vigie.db import migrate
from vigie.errors import VigieError
from vigie.settings import Settings

Conn = psycopg.Connection[tuple[object, ...]]
DEFAULT_ROWS = 50_000_000
PETS = 100
HERD_AT_DEFAULT = 200  # cows at 50 M rows; scaled with --rows
MILKINGS_PER_DAY = 3
MILK_METRICS = ("milk_yield", "milk_fat", "conductivity_lf", "conductivity_rf", "conductivity_lr", "conductivity_rr")
DAYS = 365
PATIENT_DAYS = 14
PET_CLINIC, FARM_CLINIC = "q-clinic", "q-farm"

_VARIABLE = re.compile(r"\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^\}]+))?(?::([^\}]+))?\}")
_MACRO = re.compile(r"\$([_a-zA-Z0-9]+)\(([^\)]*)\)")

PATIENT_RAW = (  # analytics.load_readings
    "SELECT time, device_id, animal_id, metric, value FROM readings"
    " WHERE animal_id = %(animal)s AND time >= %(start)s AND time < %(end)s ORDER BY time, metric"
)
PATIENT_HOURLY_ROLLUP = (
    "SELECT bucket, metric, sum(sum) / sum(n) AS mean, min(min) AS min, max(max) AS max FROM readings_hourly"
    " WHERE animal_id = %(animal)s AND bucket >= %(start)s AND bucket < %(end)s GROUP BY 1, 2 ORDER BY 1, 2"
)
PATIENT_HOURLY_RAW = (
    "SELECT time_bucket(INTERVAL '1 hour', time) AS bucket, metric, avg(value), min(value), max(value) FROM readings"
    " WHERE animal_id = %(animal)s AND time >= %(start)s AND time < %(end)s GROUP BY 1, 2 ORDER BY 1, 2"
)


@dataclass
class Timing:
    """Latencies of one query, in ms."""

    name: str
    variant: str
    samples: list[float] = field(default_factory=list)
    rows: int = 0

    def summary(self) -> dict[str, Any]:
        arr = np.asarray(self.samples)
        return {
            "query": self.name,
            "variant": self.variant,
            "runs": len(self.samples),
            "rows": self.rows,
            "p50_ms": round(float(np.percentile(arr, 50)), 2),
            "p95_ms": round(float(np.percentile(arr, 95)), 2),
            "max_ms": round(float(arr.max()), 2),
        }


# --- the bench database -----------------------------------------------------------------------------------------


def plan(rows: int) -> dict[str, float | int]:
    """How ``rows`` readings are split: a herd scaled with the total, the CGMs' hourly battery level, the rest CGM
    glucose of the pets."""
    cows = max(1, round(HERD_AT_DEFAULT * rows / DEFAULT_ROWS))
    herd_rows = cows * MILKINGS_PER_DAY * len(MILK_METRICS) * DAYS
    battery_rows = min(PETS * DAYS * 24, rows // 50)  # hourly at 50 M rows
    pet_rows = max(rows - herd_rows - battery_rows, PETS * DAYS)
    interval_s = DAYS * 86400.0 * PETS / pet_rows
    return {
        "cows": cows,
        "herd_rows": herd_rows,
        "battery_rows": battery_rows,
        "pet_rows": pet_rows,
        "cgm_interval_s": round(interval_s, 3),
        "battery_interval_s": round(DAYS * 86400.0 * PETS / battery_rows, 3),
    }


def _admin_dsn(settings: Settings, database: str) -> tuple[str, str]:
    base = settings.dsn.rsplit("/", 1)[0]
    return f"{base}/postgres", f"{base}/{database}"


def _built_rows(dsn: str) -> int | None:
    try:
        with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
            row = conn.execute("SELECT rows FROM bench_meta").fetchone()
    except psycopg.Error:
        return None
    return int(row[0]) if row else None


def _register(conn: Conn, cows: int) -> None:
    conn.execute(
        "INSERT INTO clinics (id, name) VALUES (%s, 'Bench clinic'), (%s, 'Bench farm')", (PET_CLINIC, FARM_CLINIC)
    )
    conn.execute(
        "INSERT INTO animals (id, clinic_id, name, species) SELECT 'pet-' || g, %s, 'pet ' || g,"
        " CASE WHEN g %% 2 = 0 THEN 'dog' ELSE 'cat' END FROM generate_series(0, %s) g",
        (PET_CLINIC, PETS - 1),
    )
    conn.execute(
        "INSERT INTO devices (id, kind, clinic_id, animal_id) SELECT 'cgm-' || g, 'cgm', %s, 'pet-' || g"
        " FROM generate_series(0, %s) g",
        (PET_CLINIC, PETS - 1),
    )
    conn.execute(
        "INSERT INTO animals (id, clinic_id, name, species) SELECT 'cow-' || g, %s, 'cow ' || g, 'cow'"
        " FROM generate_series(0, %s) g",
        (FARM_CLINIC, cows - 1),
    )
    conn.execute("INSERT INTO devices (id, kind, clinic_id) VALUES ('robot-1', 'milking', %s)", (FARM_CLINIC,))


def _fill_pets(dsn: str, start: datetime, end: datetime, interval_s: float) -> None:
    """CGM glucose of every pet from ``start`` to ``end``: a daily insulin cycle plus noise, in time order."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO readings (time, device_id, animal_id, metric, value, clinic_id, seq, received_at)"
            " SELECT t, 'cgm-' || a, 'pet-' || a, 'glucose',"
            "   round((180 + 70 * sin(extract(epoch FROM t) / 43200.0 * pi() + a) + 25 * random())::numeric, 1),"
            "   %(clinic)s, NULL, t + INTERVAL '2 seconds'"
            " FROM generate_series(%(start)s::timestamptz, %(end)s::timestamptz - INTERVAL '1 microsecond',"
            "                      make_interval(secs => %(step)s)) t, generate_series(0, %(pets)s) a",
            {"clinic": PET_CLINIC, "start": start, "end": end, "step": interval_s, "pets": PETS - 1},
        )


def _fill_battery(dsn: str, start: datetime, end: datetime, interval_s: float) -> None:
    """Every CGM's battery level (a device-level metric: no animal), hourly at the default size."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO readings (time, device_id, animal_id, metric, value, clinic_id, seq, received_at)"
            " SELECT t, 'cgm-' || a, NULL, 'battery', 100 - extract(epoch FROM t - %(start)s) / 86400 %% 14 * 7,"
            "   %(clinic)s, NULL, t + INTERVAL '2 seconds'"
            " FROM generate_series(%(start)s::timestamptz, %(end)s::timestamptz - INTERVAL '1 microsecond',"
            "                      make_interval(secs => %(step)s)) t, generate_series(0, %(pets)s) a",
            {"clinic": PET_CLINIC, "start": start, "end": end, "pets": PETS - 1, "step": interval_s},
        )


def _fill_herd(dsn: str, start: datetime, end: datetime, cows: int) -> None:
    """Three milkings a day per cow, each with the robot's six measures."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO readings (time, device_id, animal_id, metric, value, clinic_id, seq, received_at)"
            " SELECT t + make_interval(secs => c * 60), 'robot-1', 'cow-' || c, m,"
            "   CASE m WHEN 'milk_yield' THEN 9 + 4 * random() WHEN 'milk_fat' THEN 3.5 + random()"
            "   ELSE 4.5 + random() END, %(clinic)s, NULL, t + make_interval(secs => c * 60 + 5)"
            " FROM generate_series(%(start)s::timestamptz, %(end)s::timestamptz - INTERVAL '1 microsecond',"
            "                      INTERVAL '8 hours') t, generate_series(0, %(cows)s) c, unnest(%(metrics)s::text[]) m",
            {"clinic": FARM_CLINIC, "start": start, "end": end, "cows": cows - 1, "metrics": list(MILK_METRICS)},
        )


def build(admin_dsn: str, dsn: str, database: str, rows: int, say: Callable[[str], None]) -> dict[str, float]:
    """Create and fill the bench database; returns the seconds of each step."""
    p = plan(rows)
    steps: dict[str, float] = {}
    with psycopg.connect(admin_dsn, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{database}"')
    with psycopg.connect(dsn, autocommit=True) as conn:
        migrate(conn)
        _register(conn, int(p["cows"]))
        # index definitions as the migrations left them: dropped for the load, built again after it
        indexes = [
            (str(r[0]), str(r[1]))
            for r in conn.execute(
                "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename = 'readings'"
            ).fetchall()
        ]
        for name, _ in indexes:
            conn.execute(f'DROP INDEX "{name}"')
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    start = end - timedelta(days=DAYS)
    months = [start + timedelta(days=d) for d in range(0, DAYS, 30)] + [end]
    t0 = time.perf_counter()
    say(f"generating {rows:,} readings (CGM every {p['cgm_interval_s']} s for {PETS} pets, {p['cows']} cows)")
    with ThreadPoolExecutor(max_workers=2) as pool:  # two backends: the server has two cores
        futures = [
            pool.submit(_fill_pets, dsn, lo, hi, float(p["cgm_interval_s"])) for lo, hi in itertools.pairwise(months)
        ]
        futures.append(pool.submit(_fill_herd, dsn, start, end, int(p["cows"])))
        futures.append(pool.submit(_fill_battery, dsn, start, end, float(p["battery_interval_s"])))
        for f in futures:
            f.result()
    steps["generate_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    say("building the indexes")
    with ThreadPoolExecutor(max_workers=2) as pool:

        def create(indexdef: str) -> None:
            with psycopg.connect(dsn, autocommit=True) as c:
                c.execute("SET maintenance_work_mem = '512MB'")
                c.execute(indexdef)

        for f in [pool.submit(create, d) for _, d in indexes]:
            f.result()
    steps["index_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    say("rolling up (hourly, daily) and analysing")
    with psycopg.connect(dsn, autocommit=True) as conn:
        if conn.execute("SELECT to_regclass('rollup_dirty') IS NOT NULL").fetchone() == (True,):
            conn.execute(
                "INSERT INTO readings_hourly (bucket, clinic_id, device_id, animal_id, metric, n, sum, min, max)"
                " SELECT time_bucket(INTERVAL '1 hour', time), clinic_id, device_id, animal_id, metric,"
                " count(*), sum(value), min(value), max(value) FROM readings GROUP BY 1, 2, 3, 4, 5"
            )
            conn.execute(
                "INSERT INTO readings_daily (bucket, clinic_id, device_id, animal_id, metric, n, sum, min, max)"
                " SELECT time_bucket(INTERVAL '1 day', bucket), clinic_id, device_id, animal_id, metric,"
                " sum(n), sum(sum), min(min), max(max) FROM readings_hourly GROUP BY 1, 2, 3, 4, 5"
            )
            conn.execute("TRUNCATE rollup_dirty")
        else:  # Timescale edition: continuous aggregates
            conn.execute("CALL refresh_continuous_aggregate('readings_hourly', NULL, NULL)")
            conn.execute("CALL refresh_continuous_aggregate('readings_daily', NULL, NULL)")
        conn.execute("VACUUM ANALYZE readings")
        conn.execute("ANALYZE readings_hourly")
        conn.execute("ANALYZE readings_daily")
        stored = conn.execute("SELECT count(*) FROM readings").fetchone()
        conn.execute("CREATE TABLE bench_meta (rows bigint NOT NULL, built_at timestamptz NOT NULL DEFAULT now())")
        conn.execute("INSERT INTO bench_meta (rows) VALUES (%s)", (rows,))
    steps["rollup_analyze_s"] = time.perf_counter() - t0
    steps["stored_rows"] = float(stored[0]) if stored else 0.0
    return steps


# --- Grafana expansion (the parts the dashboards use) -----------------------------------------------------------


def _rfc3339(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class Expansion:
    """A dashboard's range, interval and variables: what Grafana substitutes into a panel's SQL."""

    time_from: datetime
    time_to: datetime
    interval_s: int
    variables: dict[str, str | list[str]] = field(default_factory=dict)
    multi: set[str] = field(default_factory=set)

    def expand(self, sql: str) -> str:
        def var(m: re.Match[str]) -> str:
            name = m[1] or m[2] or m[4]
            if name not in self.variables:
                return m[0]
            value = self.variables[name]
            if isinstance(value, list):
                return ",".join("'" + v.replace("'", "''") + "'" for v in value)
            return "'" + value.replace("'", "''") + "'" if name in self.multi else value.replace("'", "''")

        sql = _VARIABLE.sub(var, sql)
        sql = sql.replace("$__interval_ms", str(self.interval_s * 1000))
        sql = sql.replace("$__interval", f"{self.interval_s}s")
        f, t = _rfc3339(self.time_from), _rfc3339(self.time_to)

        def macro(m: re.Match[str]) -> str:
            name, args = m[1], [a.strip() for a in m[2].split(",")]
            if name == "__timeFilter":
                return f"{args[0]} BETWEEN '{f}' AND '{t}'"
            if name in ("__timeGroup", "__timeGroupAlias"):
                seconds = _seconds(args[1])
                alias = ' AS "time"' if name == "__timeGroupAlias" else ""
                return f"time_bucket('{seconds:.3f}s',{args[0]}){alias}"
            if name == "__timeFrom":
                return f"'{f}'"
            if name == "__timeTo":
                return f"'{t}'"
            if name == "__time":
                return f'{args[0]} AS "time"'
            raise VigieError(f"benchmark: unknown Grafana macro {name}")

        return _MACRO.sub(macro, sql)


def _seconds(text: str) -> float:
    m = re.fullmatch(r"(\d+)(ms|s|m|h|d|w|y)", text.strip().strip("'"))
    if not m:
        raise VigieError(f"benchmark: cannot parse interval {text}")
    unit = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}[m[2]]
    return int(m[1]) * unit


def _range(spec: str | None, default: str, now: datetime) -> datetime:
    m = re.fullmatch(r"now-(\d+)([mhdw])", (spec or default).strip())
    if not m:
        return now - timedelta(days=7)
    return now - timedelta(seconds=int(m[1]) * {"m": 60, "h": 3600, "d": 86400, "w": 604800}[m[2]])


def dashboard_cases(conn: Conn) -> list[tuple[str, str, str]]:
    """(name, SQL with the hourly rollup, SQL with the raw branch forced) of every dashboard panel query."""
    from dashboards import all_dashboards  # noqa: PLC0415
    from dashboards._model import CustomVariable  # noqa: PLC0415
    from dashboards._sql import DAILY_WHEN, HOURLY_WHEN, RAW_WHEN  # noqa: PLC0415

    now = datetime.now(UTC)
    cases = []
    for dash in all_dashboards():
        clinic = FARM_CLINIC if "herd" in dash.uid or "horse" in dash.uid else PET_CLINIC
        for nq in dash.queries():
            if not nq.name.startswith("panel"):
                continue
            exp = Expansion(_range(nq.time_from, dash.time_from, now), now, 3600, {"clinic": clinic})
            for v in dash.variables:  # as Grafana on load: single → first option, multi → all
                if v.name == "clinic":  # the clinic this dashboard is about, not the first by name
                    continue
                if isinstance(v, CustomVariable):
                    exp.variables[v.name] = v.values[0]
                    continue
                values = [str(r[0]) for r in conn.execute(exp.expand(v.query.sql).encode()).fetchall()]
                if v.multi or v.include_all:
                    exp.multi.add(v.name)
                    exp.variables[v.name] = values
                else:
                    exp.variables[v.name] = values[0] if values else ""
            rolled = exp.expand(nq.query.sql)
            forced = nq.query.sql.replace(RAW_WHEN, "true").replace(HOURLY_WHEN, "false").replace(DAILY_WHEN, "false")
            raw = exp.expand(forced)
            cases.append((f"{dash.uid}: {nq.name}", rolled, raw))
    return cases


# --- measuring --------------------------------------------------------------------------------------------------


def _time(conn: Conn, sql: str | bytes, params: dict[str, Any] | None) -> tuple[float, int]:
    t0 = time.perf_counter()
    try:
        with conn.transaction():  # a savepoint inside the no-time-index transaction: a timeout does not end it
            rows = conn.execute(sql, params).fetchall()
    except psycopg.errors.QueryCanceled:
        return (time.perf_counter() - t0) * 1000.0, -1
    return (time.perf_counter() - t0) * 1000.0, len(rows)


def _measure(
    conn: Conn, name: str, variant: str, sql: str | bytes, params: Callable[[], dict[str, Any] | None], repeat: int
) -> Timing:
    """``repeat`` runs after a warm-up; a query slower than 2 s runs 3 times only (rows -1: statement timeout)."""
    timing = Timing(name, variant)
    first, _ = _time(conn, sql, params())  # warm-up (plan, cache)
    for _ in range(repeat if first < 2000 else min(repeat, 3)):
        ms, n = _time(conn, sql, params())
        timing.samples.append(ms)
        timing.rows = n
    return timing


def measure_all(dsn: str, repeat: int, *, no_time_index: bool) -> list[Timing]:
    """Every query of the patient page, the dashboards and the rules service."""
    rng = random.Random(7)  # noqa: S311 - which animal, not security
    out: list[Timing] = []
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET statement_timeout = '60s'")
        now_row = conn.execute("SELECT max(time) FROM readings").fetchone()
        end = now_row[0] if now_row and isinstance(now_row[0], datetime) else datetime.now(UTC)
        start = end - timedelta(days=PATIENT_DAYS)

        def patient() -> dict[str, Any]:
            return {"animal": f"pet-{rng.randrange(PETS)}", "start": start, "end": end}

        patient_queries = [
            ("patient 14 d: raw readings", PATIENT_RAW),
            ("patient 14 d: hourly buckets", PATIENT_HOURLY_ROLLUP),
        ]
        out += [_measure(conn, n, "rollup" if "hourly" in n else "raw", q, patient, repeat) for n, q in patient_queries]
        out.append(_measure(conn, "patient 14 d: hourly buckets", "raw", PATIENT_HOURLY_RAW, patient, repeat))
        cases = dashboard_cases(conn)
        for name, rolled, raw in cases:
            if rolled != raw:
                out.append(_measure(conn, name, "rollup", rolled.encode(), lambda: None, repeat))
            out.append(_measure(conn, name, "raw", raw.encode(), lambda: None, repeat))
        from rules._service import CHANGED_ROWS, changed_rows_params  # noqa: PLC0415 - the service's own query

        newest = conn.execute("SELECT max(received_at) FROM readings").fetchone()
        cursor = newest[0] if newest and isinstance(newest[0], datetime) else datetime.now(UTC)
        rules_params = dict(changed_rows_params(cursor))  # steady state: the cursor at the newest row
        out.append(
            _measure(conn, "rules: animals changed since the cursor", "raw", CHANGED_ROWS, lambda: rules_params, repeat)
        )
        if no_time_index:
            index = conn.execute(
                "SELECT indexname FROM pg_indexes WHERE tablename = 'readings' AND indexname = 'readings_time_idx'"
            ).fetchone()
            if index is not None:
                with conn.transaction(force_rollback=True):
                    conn.execute("DROP INDEX readings_time_idx")
                    out.append(
                        _measure(conn, "patient 14 d: raw readings", "raw, no time index", PATIENT_RAW, patient, repeat)
                    )
                    out.append(
                        _measure(
                            conn,
                            "patient 14 d: hourly buckets",
                            "raw, no time index",
                            PATIENT_HOURLY_RAW,
                            patient,
                            repeat,
                        )
                    )
                    for name, _, raw in cases:
                        out.append(_measure(conn, name, "raw, no time index", raw.encode(), lambda: None, repeat))
    return out


def run_queries_bench(
    settings: Settings, *, rows: int, database: str, repeat: int, rebuild: bool, no_time_index: bool, as_json: bool
) -> dict[str, Any]:
    """Build (or reuse) the bench database, measure every query, print the table (or JSON); return the figures."""
    from rich.console import Console  # noqa: PLC0415
    from rich.table import Table  # noqa: PLC0415

    if database == settings.dsn.rsplit("/", 1)[1]:
        raise VigieError("benchmark: --database must not be the configured database (it is dropped and rebuilt)")
    console = Console(stderr=True)
    admin_dsn, dsn = _admin_dsn(settings, database)
    build_steps: dict[str, float] = {}
    if rebuild or _built_rows(dsn) != rows:
        with console.status(f"building {database}"):
            build_steps = build(admin_dsn, dsn, database, rows, console.log)
    with console.status("measuring"):
        timings = measure_all(dsn, repeat, no_time_index=no_time_index)
    with psycopg.connect(dsn, autocommit=True) as conn:
        size = conn.execute("SELECT hypertable_size('readings')").fetchone()
        stored = conn.execute("SELECT count(*) FROM readings").fetchone()
    patient = [t for t in timings if t.name.startswith("patient 14 d") and t.variant in ("raw", "rollup")]
    worst_patient = max(float(np.percentile(t.samples, 95)) for t in patient)
    result: dict[str, Any] = {
        "database": database,
        "rows": rows,
        "readings_stored": int(stored[0]) if stored else 0,
        "readings_bytes": int(size[0]) if size and size[0] is not None else 0,
        "plan": plan(rows),
        "build": {k: round(v, 1) for k, v in build_steps.items()},
        "repeat": repeat,
        "patient_14d_worst_p95_ms": round(worst_patient, 2),
        "queries": [t.summary() for t in timings],
    }
    if as_json:
        print(json.dumps(result))  # noqa: T201 - the command's output
    else:
        table = Table(title=f"vigie bench queries: {result['readings_stored']:,} readings in {database}, p95 ms")
        variants = list(dict.fromkeys(s["variant"] for s in result["queries"]))
        table.add_column("query")
        table.add_column("rows", justify="right")
        for v in variants:
            table.add_column(v, justify="right")
        by_name: dict[str, dict[str, Any]] = {}
        for s in result["queries"]:
            by_name.setdefault(s["query"], {})[s["variant"]] = s
        for name, row in by_name.items():
            cells = [f"{row[v]['p95_ms']:,.1f}" if v in row else "" for v in variants]
            table.add_row(name, f"{max(r['rows'] for r in row.values()):,}", *cells)
        Console().print(table)
    return result
