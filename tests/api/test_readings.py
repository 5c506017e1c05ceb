"""Readings: raw and bucketed (against the raw rows, and from the rollups where they serve), units, CSV, limits."""

from __future__ import annotations

import csv
import io
import itertools
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from api._store_readings import HOUR, Segment, plan
from tests.api.conftest import World

URL = "/api/v1/animals/{}/readings"


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat()


def _all(client: TestClient, world: World, animal: str, **params: Any) -> list[dict[str, Any]]:
    """Every row of a readings request, page by page."""
    out: list[dict[str, Any]] = []
    offset = 0
    while True:
        r = client.get(URL.format(animal), headers=world.auth("vet"), params={**params, "offset": offset, "limit": 500})
        assert r.status_code == 200, r.text
        page = r.json()
        out += page["buckets"] if "bucket" in params else page["items"]
        if page["next_offset"] is None:
            return out
        offset = page["next_offset"]


def test_raw_readings_of_an_animal(client: TestClient, world: World) -> None:
    r = client.get(URL.format("cat-a"), headers=world.auth("staff"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["glucose_unit"] == "mg/dL"  # the clinic's unit
    items = body["items"]
    assert len(items) == 48
    assert body["buckets"] == []
    assert [i["time"] for i in items] == sorted(i["time"] for i in items)
    assert {(i["metric"], i["unit"], i["device_id"]) for i in items} == {("glucose", "mg/dL", "cgm-a")}
    newest = items[-1]
    assert datetime.fromisoformat(newest["time"]) == world.now
    assert newest["value"] == 150.0
    assert items[0]["value"] == 150.0 - 47


@pytest.mark.parametrize(("unit", "divisor"), [("mg/dL", 1.0), ("mmol/L", 18.0), ("g/L", 100.0)])
def test_glucose_units(client: TestClient, world: World, unit: str, divisor: float) -> None:
    r = client.get(URL.format("cat-a"), headers=world.auth("vet"), params={"unit": unit})
    items = r.json()["items"]
    assert {i["unit"] for i in items} == {unit}
    assert items[-1]["value"] == pytest.approx(150.0 / divisor, rel=1e-12)
    # buckets are converted too
    r = client.get(URL.format("cat-a"), headers=world.auth("vet"), params={"unit": unit, "bucket": "1h"})
    buckets = r.json()["buckets"]
    assert max(b["max"] for b in buckets) == pytest.approx(150.0 / divisor, rel=1e-12)
    assert min(b["min"] for b in buckets) == pytest.approx(103.0 / divisor, rel=1e-12)
    assert {b["unit"] for b in buckets} == {unit}


def test_the_owners_unit_is_the_default_and_other_metrics_keep_theirs(
    client: TestClient, world: World, db_dsn: str
) -> None:
    with psycopg.connect(db_dsn) as conn:
        conn.execute("UPDATE owners SET glucose_unit = 'mmol/L' WHERE id = 'owner-a'")
        conn.execute("UPDATE clinics SET glucose_unit = 'g/L' WHERE id = 'clinic-a'")
    cat = client.get(URL.format("cat-a"), headers=world.auth("owner")).json()
    assert cat["glucose_unit"] == "mmol/L"
    assert cat["items"][-1]["value"] == pytest.approx(150.0 / 18.0)
    cow = client.get(
        URL.format("cow-a"), headers=world.auth("vet"), params={"start": _iso(world.now - timedelta(days=3))}
    )
    assert cow.json()["glucose_unit"] == "g/L"  # the farm has no preference: the clinic's
    assert {(i["metric"], i["unit"], i["value"]) for i in cow.json()["items"]} == {("milk_yield", "kg", 14.0)}
    assert len(cow.json()["items"]) == 6


def _insert(db_dsn: str, animal: str, device: str, rows: list[tuple[datetime, str, float]]) -> None:
    with (
        psycopg.connect(db_dsn) as conn,
        conn.cursor() as cur,
        cur.copy("COPY readings (time, animal_id, metric, device_id, value, clinic_id) FROM STDIN") as copy,
    ):
        for t, metric, value in rows:
            copy.write_row((t, animal, metric, device, value, "clinic-a"))


def _expected_buckets(
    rows: list[tuple[datetime, str, float]], start: datetime, end: datetime, width: timedelta
) -> list[tuple[str, str, int, float, float, float]]:
    """The aggregation computed here, from the rows themselves (buckets from 2000-01-03, TimescaleDB's origin)."""
    origin = datetime(2000, 1, 3, tzinfo=UTC)
    groups: dict[tuple[datetime, str], list[float]] = defaultdict(list)
    for t, metric, value in rows:
        if start <= t < end:
            groups[(origin + ((t - origin) // width) * width, metric)].append(value)
    return [(_iso(b), m, len(v), sum(v) / len(v), min(v), max(v)) for (b, m), v in sorted(groups.items())]


def _got(buckets: list[dict[str, Any]]) -> list[tuple[str, str, int, float, float, float]]:
    return [
        (_iso(datetime.fromisoformat(b["start"])), b["metric"], b["count"], b["avg"], b["min"], b["max"])
        for b in buckets
    ]


def _series(start: datetime, days: int, step_min: int) -> list[tuple[datetime, str, float]]:
    rows = []
    for i in range(days * 24 * 60 // step_min):
        t = start + timedelta(minutes=step_min * i)
        rows.append((t, "glucose", 80.0 + (i * 37) % 150))
        if i % 6 == 0:
            rows.append((t, "body_weight", 4.0 + (i % 11) / 10))
    return rows


@pytest.mark.parametrize("bucket", ["7m", "1h", "6h", "1d"])
def test_buckets_equal_the_aggregation_of_the_raw_rows(
    client: TestClient, world: World, db_dsn: str, bucket: str
) -> None:
    first = world.now - timedelta(days=5, minutes=3)
    rows = _series(first, 4, 10)
    _insert(db_dsn, "cat-a", "cgm-a", rows)
    start, end = first + timedelta(minutes=17), first + timedelta(days=3, hours=5, minutes=41)
    got = _all(client, world, "cat-a", start=_iso(start), end=_iso(end), bucket=bucket)
    width = {"7m": timedelta(minutes=7), "1h": HOUR, "6h": 6 * HOUR, "1d": timedelta(days=1)}[bucket]
    want = _expected_buckets(rows, start, end, width)
    assert [g[:3] for g in _got(got)] == [w[:3] for w in want]
    for g, w in zip(_got(got), want, strict=True):
        assert g[3:] == pytest.approx(w[3:], rel=1e-9)


def _maintain(db_dsn: str) -> None:
    with psycopg.connect(db_dsn) as conn:
        conn.execute(
            "INSERT INTO rollup_dirty SELECT DISTINCT time_bucket('1 hour', time) FROM readings ON CONFLICT DO NOTHING"
        )
        conn.execute("SELECT vigie_maintain()")


def test_rollups_serve_whole_hours_and_stale_hours_are_read_raw(client: TestClient, world: World, db_dsn: str) -> None:
    first = world.now - timedelta(days=6, minutes=3)
    rows = _series(first, 5, 10)
    _insert(db_dsn, "cat-a", "cgm-a", rows)
    _maintain(db_dsn)
    start, end = first + timedelta(minutes=17), first + timedelta(days=4, hours=5, minutes=41)
    params = {"start": _iso(start), "end": _iso(end), "bucket": "2h", "metric": "glucose"}
    want = _expected_buckets([r for r in rows if r[1] == "glucose"], start, end, 2 * HOUR)
    assert [g[:3] for g in _got(_all(client, world, "cat-a", **params))] == [w[:3] for w in want]
    # change raw rows of one whole hour in the middle behind the rollup's back: the answer still comes from the rollup
    hour = (first + timedelta(days=2)).replace(minute=0, second=0)
    with psycopg.connect(db_dsn) as conn:
        conn.execute(
            "UPDATE readings SET value = value + 1000 WHERE animal_id = 'cat-a' AND metric = 'glucose'"
            " AND time >= %s AND time < %s",
            (hour, hour + HOUR),
        )
    served = _got(_all(client, world, "cat-a", **params))
    assert max(b[5] for b in served) < 1000  # the rollup's figures, not the changed rows
    # once the hour is marked stale (as ingest does when it writes), it is read raw
    with psycopg.connect(db_dsn) as conn:
        conn.execute("INSERT INTO rollup_dirty VALUES (%s)", (hour,))
    stale = _got(_all(client, world, "cat-a", **params))
    assert max(b[5] for b in stale) > 1000
    changed = [(t, m, v + 1000 if hour <= t < hour + HOUR and m == "glucose" else v) for t, m, v in rows]
    want = _expected_buckets([r for r in changed if r[1] == "glucose"], start, end, 2 * HOUR)
    assert [g[:3] for g in stale] == [w[:3] for w in want]
    for g, w in zip(stale, want, strict=True):
        assert g[3:] == pytest.approx(w[3:], rel=1e-9)
    # short ranges are read raw: the changed hour shows without being marked
    with psycopg.connect(db_dsn) as conn:
        conn.execute("DELETE FROM rollup_dirty")
    short = client.get(
        URL.format("cat-a"),
        headers=world.auth("vet"),
        params={"start": _iso(hour - HOUR), "end": _iso(hour + 2 * HOUR), "bucket": "1h", "metric": "glucose"},
    ).json()["buckets"]
    assert max(b["max"] for b in short) > 1000


def test_the_daily_rollup_serves_long_ranges(client: TestClient, world: World, db_dsn: str) -> None:
    first = world.now - timedelta(days=75, minutes=3)
    rows = _series(first, 70, 60)
    _insert(db_dsn, "cat-a", "cgm-a", rows)
    _maintain(db_dsn)
    start, end = first + timedelta(hours=5), first + timedelta(days=69, hours=3)
    params = {"start": _iso(start), "end": _iso(end), "bucket": "1d", "metric": "glucose"}
    want = _expected_buckets([r for r in rows if r[1] == "glucose"], start, end, timedelta(days=1))
    got = _got(_all(client, world, "cat-a", **params))
    assert [g[:3] for g in got] == [w[:3] for w in want]
    for g, w in zip(got, want, strict=True):
        assert g[3:] == pytest.approx(w[3:], rel=1e-9)
    # the daily rows are what answers for whole days: neither the hourly rows nor the raw values of those days matter
    with psycopg.connect(db_dsn) as conn:
        conn.execute(
            "DELETE FROM readings_hourly WHERE bucket >= %s AND bucket < %s",
            (start + timedelta(days=2), end - timedelta(days=2)),
        )
        conn.execute(
            "UPDATE readings SET value = value + 1000 WHERE time >= %s AND time < %s",
            (start + timedelta(days=3), end - timedelta(days=3)),
        )
    assert _got(_all(client, world, "cat-a", **params)) == got


def test_plan_splits_the_range_by_source() -> None:
    t0 = datetime(2026, 3, 1, 0, 20, tzinfo=UTC)
    day = timedelta(days=1)
    assert plan(t0, t0 + timedelta(hours=5), HOUR) == [Segment("raw", t0, t0 + timedelta(hours=5))]  # too short
    segs = plan(t0, t0 + 3 * day, HOUR)
    assert segs == [
        Segment("raw", t0, t0.replace(minute=0) + HOUR),
        Segment("hourly", t0.replace(minute=0) + HOUR, t0.replace(minute=0) + 3 * day),
        Segment("raw", t0.replace(minute=0) + 3 * day, t0 + 3 * day),
    ]
    stale = t0.replace(minute=0) + 10 * HOUR
    segs = plan(t0, t0 + 3 * day, 2 * HOUR, stale_hours=[stale + timedelta(minutes=5)])
    assert Segment("raw", stale, stale + HOUR) in segs
    assert [s.source for s in segs] == ["raw", "hourly", "raw", "hourly", "raw"]
    segs = plan(t0, t0 + 90 * day + 5 * HOUR, day)
    assert [s.source for s in segs] == ["raw", "hourly", "daily", "hourly", "raw"]
    assert [s.source for s in plan(t0, t0 + 90 * day, day)] == ["raw", "hourly", "daily", "raw"]
    assert segs[2].start == datetime(2026, 3, 2, tzinfo=UTC)
    assert [s.source for s in plan(t0, t0 + 90 * day, 3 * HOUR)] == ["raw", "hourly", "raw"]  # 3 h buckets: no days
    # the Timescale edition: nothing from the rollups after the watermark
    mark = datetime(2026, 3, 2, 6, 30, tzinfo=UTC)
    segs = plan(t0, t0 + 3 * day, HOUR, fresh_until=mark)
    assert segs[1] == Segment("hourly", t0.replace(minute=0) + HOUR, mark.replace(minute=0))
    assert segs[-1].source == "raw"
    # the segments always cover the range exactly
    for s in (plan(t0, t0 + 90 * day, day, stale_hours=[t0 + 40 * day]),):
        assert s[0].start == t0
        assert s[-1].end == t0 + 90 * day
        assert all(a.end == b.start for a, b in itertools.pairwise(s))


def test_csv_export(client: TestClient, world: World) -> None:
    r = client.get(URL.format("cat-a") + ".csv", headers=world.auth("owner"), params={"unit": "mmol/L"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert len(rows) == 48
    assert list(rows[0]) == ["time", "metric", "value", "unit", "device_id"]
    json_items = client.get(URL.format("cat-a"), headers=world.auth("owner"), params={"unit": "mmol/L"}).json()["items"]
    assert [(datetime.fromisoformat(c["time"]), float(c["value"])) for c in rows] == [
        (datetime.fromisoformat(i["time"]), i["value"]) for i in json_items
    ]
    assert {c["unit"] for c in rows} == {"mmol/L"}
    bucketed = client.get(URL.format("cat-a") + ".csv", headers=world.auth("vet"), params={"bucket": "1h"})
    brows = list(csv.DictReader(io.StringIO(bucketed.text)))
    assert list(brows[0]) == ["start", "metric", "count", "avg", "min", "max", "unit"]
    assert sum(int(b["count"]) for b in brows) == 48


@pytest.mark.parametrize(
    ("params", "loc"),
    [
        ({"start": "2026-01-01T00:00:00"}, ["query", "start"]),  # no time zone
        ({"start": "2026-01-02T00:00:00Z", "end": "2026-01-01T00:00:00Z"}, ["query", "start"]),
        ({"start": "2026-01-01T00:00:00Z", "end": "2026-03-01T00:00:00Z"}, ["query", "start"]),  # > 31 days raw
        ({"bucket": "5x"}, ["query", "bucket"]),
        ({"bucket": "10s"}, ["query", "bucket"]),
        ({"start": "2024-01-01T00:00:00Z", "end": "2026-01-01T00:00:00Z", "bucket": "1m"}, ["query", "bucket"]),
        ({"metric": ["glucose", "nope"]}, ["query", "metric", 1]),
        ({"unit": "mg"}, ["query", "unit"]),
        ({"limit": 100_000}, ["query", "limit"]),
        ({"start": "0001-01-01T00:00:00Z"}, ["query", "start"]),
    ],
    ids=[
        "naive",
        "reversed",
        "too-long",
        "bad-bucket",
        "tiny-bucket",
        "too-many-buckets",
        "metric",
        "unit",
        "limit",
        "year-1",
    ],
)
def test_bad_requests_get_422_naming_the_parameter(
    client: TestClient, world: World, params: dict[str, Any], loc: list[Any]
) -> None:
    r = client.get(URL.format("cat-a"), headers=world.auth("vet"), params=params)
    assert r.status_code == 422, r.text
    assert loc in [e["loc"] for e in r.json()["detail"]], r.json()


def test_a_long_bucketed_range_is_allowed(client: TestClient, world: World) -> None:
    r = client.get(
        URL.format("cat-a"),
        headers=world.auth("vet"),
        params={
            "start": _iso(world.now - timedelta(days=365)),
            "end": _iso(world.now + timedelta(minutes=1)),
            "bucket": "1d",
        },
    )
    assert r.status_code == 200, r.text
    assert sum(b["count"] for b in r.json()["buckets"]) == 48


def test_who_may_read(client: TestClient, world: World) -> None:
    assert client.get(URL.format("cat-b"), headers=world.auth("vet")).status_code == 404
    assert client.get(URL.format("cat-b") + ".csv", headers=world.auth("vet")).status_code == 404
    assert client.get(URL.format("cow-a"), headers=world.auth("owner")).status_code == 404
    assert client.get(URL.format("cat-a"), headers=world.auth("device")).status_code == 403
    assert client.get(URL.format("cat-a")).status_code == 401
    assert client.get(URL.format("cat-b"), headers=world.auth("admin")).status_code == 200


def test_pagination_and_metric_filter(client: TestClient, world: World) -> None:
    first = client.get(URL.format("cat-a"), headers=world.auth("vet"), params={"limit": 20}).json()
    assert len(first["items"]) == 20
    assert first["next_offset"] == 20
    everything = _all(client, world, "cat-a")
    assert everything[:20] == first["items"]
    assert len(everything) == 48
    none = client.get(URL.format("cat-a"), headers=world.auth("vet"), params={"metric": "milk_yield"}).json()
    assert none["items"] == []
    assert none["next_offset"] is None


def test_rows_written_without_marking_their_hour_are_not_missed(client: TestClient, world: World, db_dsn: str) -> None:
    first = world.now - timedelta(days=6, minutes=3)
    rows = _series(first, 5, 10)
    _insert(db_dsn, "cat-a", "cgm-a", rows)
    _maintain(db_dsn)
    # a bulk load that bypasses ingest (no rollup_dirty): the rollups no longer hold every row
    extra = [(first + timedelta(days=2, minutes=1), "glucose", 999.0)]
    _insert(db_dsn, "cat-a", "cgm-a", extra)
    start, end = first, first + timedelta(days=5)
    got = _got(_all(client, world, "cat-a", start=_iso(start), end=_iso(end), bucket="1h", metric="glucose"))
    want = _expected_buckets([r for r in rows + extra if r[1] == "glucose"], start, end, HOUR)
    assert [g[:3] for g in got] == [w[:3] for w in want]
    assert max(g[5] for g in got) == 999.0
