"""Readings of one animal over a time range: raw, or aggregated into buckets, in the unit the reader asks for.

Plain functions over a sync psycopg connection, used by the API routes and the web page (``api.web``). Every query
is parameterised and limited to one animal (and its clinic).

Bucketed aggregation (``bucketed_readings``) gives, per bucket and metric, the count, mean, minimum and maximum of
the readings with ``start <= time < end``. Buckets are ``time_bucket(width, time)`` (UTC, TimescaleDB's origin).
Where they serve the request, whole hours and whole days come from the rollups (``readings_hourly``,
``readings_daily``, migration 0004) rather than from the raw rows (see :func:`plan`): the width must be a whole
number of hours (days), the range long enough for the rollup to pay (:data:`ROLLUP_MIN_RANGE`), and the hour (day)
up to date. In the Apache edition an hour is up to date unless it is in ``rollup_dirty`` (ingest marks the hours it
writes in the same transaction; ``vigie db maintain`` rolls them up); in the Timescale edition, before the
continuous aggregate's watermark. The partial hours and days at both ends, and stale ones, are read raw, so the
result equals the raw aggregation of the same rows. As a guard against rows written without marking their hour (a
bulk load that bypassed ingest), the rollups are used only when they count as many readings as the raw rows they
stand for (an index-only count); otherwise the whole request is answered from the raw rows.

Glucose is stored in mg/dL; ``unit`` converts it (mmol/L = mg/dL / 18, g/L = mg/dL / 100). Other metrics are in
their canonical unit of config/metrics.toml.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from api._accounts import Conn
from vigie.catalog import GLUCOSE_UNITS, MetricCatalog, convert_glucose, load_catalog

Source = Literal["raw", "hourly", "daily"]
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
# below these ranges the raw rows are read (a few thousand rows at most: cheaper than merging rollups)
ROLLUP_MIN_RANGE: dict[Source, timedelta] = {"hourly": timedelta(days=2), "daily": timedelta(days=60)}
RAW_MAX_RANGE = timedelta(days=31)
BUCKETED_MAX_RANGE = timedelta(days=1100)
MAX_BUCKETS = 20_000
MIN_BUCKET = timedelta(minutes=1)
MAX_BUCKET = timedelta(days=366)
CSV_MAX_ROWS = 200_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TABLES: dict[Source, str] = {"hourly": "readings_hourly", "daily": "readings_daily"}


@dataclass(frozen=True, slots=True)
class AnimalRef:
    """The animal a request is about, with the glucose unit its readers prefer (the owner's, else the clinic's)."""

    id: str
    clinic_id: str
    owner_id: str | None
    species: str
    name: str
    glucose_unit: str
    calving_date: date | None = None  # a cow's last calving, when known


@dataclass(frozen=True, slots=True)
class Reading:
    """One stored reading, its value in ``unit``."""

    time: datetime
    metric: str
    value: float
    unit: str
    device_id: str


@dataclass(frozen=True, slots=True)
class Bucket:
    """The readings of one metric in ``[start, start + width)``, figures in ``unit``."""

    start: datetime
    metric: str
    count: int
    avg: float
    min: float
    max: float
    unit: str


@dataclass(frozen=True, slots=True)
class Segment:
    """A part of the requested range and where its rows are read from."""

    source: Source
    start: datetime
    end: datetime


def find_animal(conn: Conn, animal_id: str, *, clinic: str | None, owner: str | None = None) -> AnimalRef | None:
    """The animal if it is visible: of ``clinic`` (None: any clinic) and, when ``owner`` is given, theirs."""
    row = conn.execute(
        "SELECT a.id, a.clinic_id, a.owner_id, a.species, a.name, coalesce(o.glucose_unit, c.glucose_unit),"
        " a.calving_date"
        " FROM animals a JOIN clinics c ON c.id = a.clinic_id LEFT JOIN owners o ON o.id = a.owner_id"
        " WHERE a.id = %(id)s AND (%(clinic)s::text IS NULL OR a.clinic_id = %(clinic)s)"
        " AND (%(owner)s::text IS NULL OR a.owner_id = %(owner)s)",
        {"id": animal_id, "clinic": clinic, "owner": owner},
    ).fetchone()
    if row is None:
        return None
    return AnimalRef(str(row[0]), str(row[1]), row[2], str(row[3]), str(row[4]), str(row[5]), row[6])


@functools.lru_cache(maxsize=4)
def catalog(config_dir: Path) -> MetricCatalog:
    """The metric catalog of a config folder (read once)."""
    return load_catalog(config_dir)


def unit_of(cat: MetricCatalog, metric: str, glucose_unit: str) -> str:
    """The unit ``metric`` is reported in: ``glucose_unit`` for glucose, else its canonical unit ('' if unknown)."""
    if metric == "glucose":
        return glucose_unit
    spec = cat.get(metric)
    return spec.unit if spec is not None else ""


def _convert(metric: str, value: float, glucose_unit: str) -> float:
    return convert_glucose(value, glucose_unit) if metric == "glucose" else value


def raw_readings(
    conn: Conn,
    animal: AnimalRef,
    start: datetime,
    end: datetime,
    *,
    cat: MetricCatalog,
    metrics: Sequence[str] | None = None,
    glucose_unit: str | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[Reading]:
    """The readings of ``animal`` with ``start <= time < end``, by time then metric then device."""
    unit = _glucose_unit(animal, glucose_unit)
    params: dict[str, Any] = {
        "animal": animal.id,
        "clinic": animal.clinic_id,
        "start": start,
        "end": end,
        "metrics": list(metrics) if metrics is not None else None,
        "limit": limit,
        "offset": offset,
    }
    rows = conn.execute(
        "SELECT time, metric, value, device_id FROM readings"
        " WHERE animal_id = %(animal)s AND clinic_id = %(clinic)s AND time >= %(start)s AND time < %(end)s"
        " AND (%(metrics)s::text[] IS NULL OR metric = ANY(%(metrics)s::text[]))"
        " ORDER BY time, metric, device_id LIMIT %(limit)s OFFSET %(offset)s",
        params,
    ).fetchall()
    return [
        Reading(t, str(m), _convert(str(m), float(v), unit), unit_of(cat, str(m), unit), str(d)) for t, m, v, d in rows
    ]


def _glucose_unit(animal: AnimalRef, asked: str | None) -> str:
    unit = asked or animal.glucose_unit
    if unit not in GLUCOSE_UNITS:
        raise ValueError(f"unknown glucose unit {unit!r}")
    return unit


def _floor(t: datetime, step: timedelta) -> datetime:
    return t - (t - _EPOCH) % step


def _ceil(t: datetime, step: timedelta) -> datetime:
    floor = _floor(t, step)
    return floor if floor == t else floor + step


def plan(
    start: datetime,
    end: datetime,
    width: timedelta,
    *,
    stale_hours: Sequence[datetime] = (),
    fresh_until: datetime | None = None,
) -> list[Segment]:
    """Where each part of ``[start, end)`` is read from for buckets of ``width``.

    Daily rows serve whole UTC days when ``width`` is a whole number of days, hourly rows whole hours when it is a
    whole number of hours, each only when the range is at least :data:`ROLLUP_MIN_RANGE`; an hour in
    ``stale_hours``, a day holding one, and anything from ``fresh_until`` on (when given) are read raw.
    """
    stale = {_floor(h, HOUR) for h in stale_hours}
    stale_days = {_floor(h, DAY) for h in stale}
    segments = [Segment("raw", start, end)]
    levels: tuple[tuple[Source, timedelta], ...] = (("daily", DAY), ("hourly", HOUR))
    for source, step in levels:
        if width % step or end - start < ROLLUP_MIN_RANGE[source]:
            continue
        bad = stale_days if source == "daily" else stale
        out: list[Segment] = []
        for seg in segments:
            if seg.source != "raw":
                out.append(seg)
                continue
            a, b = _ceil(seg.start, step), _floor(seg.end, step)
            if fresh_until is not None:
                b = min(b, _floor(fresh_until, step))
            if b <= a:
                out.append(seg)
                continue
            if seg.start < a:
                out.append(Segment("raw", seg.start, a))
            unit = a
            while unit < b:  # whole units: runs of fresh ones from the rollup, stale ones raw
                run_start, kind = unit, _source_of(unit, bad, source)
                while unit < b and _source_of(unit, bad, source) == kind:
                    unit += step
                out.append(Segment(kind, run_start, unit))
            if b < seg.end:
                out.append(Segment("raw", b, seg.end))
        segments = out
    return _merge(segments)


def _source_of(unit: datetime, stale: set[datetime], source: Source) -> Source:
    return "raw" if unit in stale else source


def _merge(segments: list[Segment]) -> list[Segment]:
    merged: list[Segment] = []
    for seg in segments:
        if merged and merged[-1].source == seg.source and merged[-1].end == seg.start:
            merged[-1] = Segment(seg.source, merged[-1].start, seg.end)
        else:
            merged.append(seg)
    return merged


def rollup_freshness(conn: Conn, start: datetime, end: datetime) -> tuple[list[datetime], datetime | None] | None:
    """``(stale hours in the range, fresh_until)`` of the rollups, or None when there are none to use.

    Apache edition: the hours in ``rollup_dirty``. Timescale edition: everything from the hourly continuous
    aggregate's watermark on (the daily one is built from it, so its own watermark is older still).
    """
    if conn.execute("SELECT to_regclass('rollup_dirty') IS NOT NULL").fetchone() == (True,):
        rows = conn.execute(
            "SELECT hour FROM rollup_dirty WHERE hour >= %s AND hour < %s", (_floor(start, HOUR), end)
        ).fetchall()
        return [r[0] for r in rows], None
    row = conn.execute(
        "SELECT min(_timescaledb_functions.to_timestamp(_timescaledb_functions.cagg_watermark(mat_hypertable_id)))"
        " FROM _timescaledb_catalog.continuous_agg WHERE user_view_name IN ('readings_hourly', 'readings_daily')"
    ).fetchone()
    if row is None or row[0] is None:
        return None
    return [], row[0]


def _rollups_complete(conn: Conn, animal: AnimalRef, segments: list[Segment], metrics: Sequence[str] | None) -> bool:
    """True when the rollup rows of ``segments`` count as many readings as the raw rows they stand for.

    Readings are immutable, so equal counts mean the rollups hold every row; a row written without marking its
    hour (a bulk load that bypassed ingest) makes them differ, and the request is then answered from the raw rows.
    The count reads the primary index only, a fraction of what aggregating the raw rows costs.
    """
    params: dict[str, Any] = {
        "animal": animal.id,
        "clinic": animal.clinic_id,
        "metrics": list(metrics) if metrics is not None else None,
    }
    for source in ("hourly", "daily"):
        mine = [s for s in segments if s.source == source]
        params[f"{source}_a"] = [s.start for s in mine]
        params[f"{source}_b"] = [s.end for s in mine]
    row = conn.execute(
        "SELECT (SELECT count(*) FROM unnest(%(hourly_a)s::timestamptz[] || %(daily_a)s::timestamptz[],"
        "                                    %(hourly_b)s::timestamptz[] || %(daily_b)s::timestamptz[]) AS g (a, b)"
        "        JOIN readings r ON r.time >= g.a AND r.time < g.b"
        "        WHERE r.animal_id = %(animal)s AND r.clinic_id = %(clinic)s"
        "        AND (%(metrics)s::text[] IS NULL OR r.metric = ANY(%(metrics)s::text[]))),"
        "       (SELECT coalesce(sum(h.n), 0) FROM unnest(%(hourly_a)s::timestamptz[], %(hourly_b)s::timestamptz[]) AS g (a, b)"
        "        JOIN readings_hourly h ON h.bucket >= g.a AND h.bucket < g.b"
        "        WHERE h.animal_id = %(animal)s AND h.clinic_id = %(clinic)s"
        "        AND (%(metrics)s::text[] IS NULL OR h.metric = ANY(%(metrics)s::text[])))"
        "     + (SELECT coalesce(sum(d.n), 0) FROM unnest(%(daily_a)s::timestamptz[], %(daily_b)s::timestamptz[]) AS g (a, b)"
        "        JOIN readings_daily d ON d.bucket >= g.a AND d.bucket < g.b"
        "        WHERE d.animal_id = %(animal)s AND d.clinic_id = %(clinic)s"
        "        AND (%(metrics)s::text[] IS NULL OR d.metric = ANY(%(metrics)s::text[])))",
        params,
    ).fetchone()
    return row is not None and int(row[0]) == int(row[1])


def bucketed_readings(
    conn: Conn,
    animal: AnimalRef,
    start: datetime,
    end: datetime,
    width: timedelta,
    *,
    cat: MetricCatalog,
    metrics: Sequence[str] | None = None,
    glucose_unit: str | None = None,
    limit: int | None = None,
    offset: int = 0,
    use_rollups: bool = True,
) -> list[Bucket]:
    """Count, mean, min and max per bucket of ``width`` and metric, by bucket then metric (see the module doc)."""
    unit = _glucose_unit(animal, glucose_unit)
    segments = [Segment("raw", start, end)]
    if use_rollups and (width % HOUR == timedelta(0)) and end - start >= min(ROLLUP_MIN_RANGE.values()):
        freshness = rollup_freshness(conn, start, end)
        if freshness is not None:
            segments = plan(start, end, width, stale_hours=freshness[0], fresh_until=freshness[1])
            if not _rollups_complete(conn, animal, segments, metrics):
                segments = [Segment("raw", start, end)]
    params: dict[str, Any] = {
        "animal": animal.id,
        "clinic": animal.clinic_id,
        "metrics": list(metrics) if metrics is not None else None,
        "width": width,
        "limit": limit,
        "offset": offset,
    }
    parts: list[str] = []
    sources: tuple[Source, ...] = ("raw", "hourly", "daily")
    for source in sources:
        mine = [s for s in segments if s.source == source]
        if not mine:
            continue
        params[f"{source}_a"] = [s.start for s in mine]
        params[f"{source}_b"] = [s.end for s in mine]
        if source == "raw":
            parts.append(
                "SELECT r.time AS t, r.metric, 1::bigint AS n, r.value AS s, r.value AS lo, r.value AS hi"
                " FROM unnest(%(raw_a)s::timestamptz[], %(raw_b)s::timestamptz[]) AS g (a, b)"
                " JOIN readings r ON r.time >= g.a AND r.time < g.b"
                " WHERE r.animal_id = %(animal)s AND r.clinic_id = %(clinic)s"
                " AND (%(metrics)s::text[] IS NULL OR r.metric = ANY(%(metrics)s::text[]))"
            )
        else:
            table = _TABLES[source]
            parts.append(
                f"SELECT h.bucket AS t, h.metric, h.n, h.sum AS s, h.min AS lo, h.max AS hi"  # noqa: S608 - constant names
                f" FROM unnest(%({source}_a)s::timestamptz[], %({source}_b)s::timestamptz[]) AS g (a, b)"
                f" JOIN {table} h ON h.bucket >= g.a AND h.bucket < g.b"
                " WHERE h.animal_id = %(animal)s AND h.clinic_id = %(clinic)s"
                " AND (%(metrics)s::text[] IS NULL OR h.metric = ANY(%(metrics)s::text[]))"
            )
    union = " UNION ALL ".join(parts)
    select = "SELECT time_bucket(%(width)s::interval, u.t) AS bucket, u.metric, sum(u.n)::bigint, sum(u.s), min(u.lo)"
    tail = " GROUP BY 1, 2 ORDER BY 1, 2 LIMIT %(limit)s OFFSET %(offset)s"
    query = f"{select}, max(u.hi) FROM ({union}) AS u{tail}"
    rows = conn.execute(query, params).fetchall()
    out: list[Bucket] = []
    for bucket, metric, n, total, lo, hi in rows:
        m = str(metric)
        out.append(
            Bucket(
                bucket,
                m,
                int(n),
                _convert(m, float(total) / int(n), unit),
                _convert(m, float(lo), unit),
                _convert(m, float(hi), unit),
                unit_of(cat, m, unit),
            )
        )
    return out


def count_readings(
    conn: Conn, animal: AnimalRef, start: datetime, end: datetime, *, metrics: Sequence[str] | None = None
) -> int:
    """How many readings of ``animal`` lie in ``[start, end)``."""
    row = conn.execute(
        "SELECT count(*) FROM readings"
        " WHERE animal_id = %(animal)s AND clinic_id = %(clinic)s AND time >= %(start)s AND time < %(end)s"
        " AND (%(metrics)s::text[] IS NULL OR metric = ANY(%(metrics)s::text[]))",
        {
            "animal": animal.id,
            "clinic": animal.clinic_id,
            "start": start,
            "end": end,
            "metrics": list(metrics) if metrics is not None else None,
        },
    ).fetchone()
    return int(row[0]) if row is not None else 0
