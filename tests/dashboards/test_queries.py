"""Every SQL of every dashboard, expanded as Grafana's PostgreSQL data source would, run on a real TimescaleDB
filled with a dog's CGM, two horses on a feeder and three cows on a robot (conftest.py)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from dashboards import all_dashboards
from dashboards._model import CustomVariable, Dashboard, NamedQuery
from tests.dashboards.conftest import CLINIC
from tests.dashboards.grafana import Grafana, parse_interval

pytestmark = pytest.mark.db

Conn = psycopg.Connection[tuple[object, ...]]
DASHBOARDS = {d.uid: d for d in all_dashboards()}
INTERVALS = {"1m": timedelta(minutes=1), "1h": timedelta(hours=1), "1d": timedelta(days=1)}
RANGE = timedelta(days=14)


def resolve(conn: Conn, dashboard: Dashboard, g: Grafana) -> Grafana:
    """Fill ``g``'s variables as Grafana does on load: in order, each query run with those before it;
    a single-value variable takes its first option, a multi-value one with All takes every option."""
    for var in dashboard.variables:
        if isinstance(var, CustomVariable):
            g.variables[var.name] = var.values[0]
            continue
        rows = conn.execute(g.expand(var.query.sql).encode()).fetchall()
        values = [str(r[0]) for r in rows]
        if var.multi or var.include_all:
            g.multi.add(var.name)
            g.variables[var.name] = values
        else:
            assert values, f"variable ${var.name} of {dashboard.uid} has no option"
            g.variables[var.name] = values[0]
    return g


def grafana_for(conn: Conn, dashboard: Dashboard, interval: timedelta, nq: NamedQuery | None = None) -> Grafana:
    """The expansion context of a query: the dashboard's range (or the panel's override) and variables."""
    now = conn.execute("SELECT now()").fetchone()
    assert now is not None
    to = now[0]
    assert isinstance(to, datetime)
    frm = to - (parse_interval(nq.time_from) if nq and nq.time_from else RANGE)
    g = Grafana(frm.astimezone(UTC), to.astimezone(UTC), interval)
    g.variables["clinic"] = CLINIC
    return resolve(conn, dashboard, g)


CASES = [
    pytest.param(uid, nq.name, iv, id=f"{uid}:{nq.name}:{iv}")
    for uid, d in DASHBOARDS.items()
    for nq in d.queries()
    for iv in INTERVALS
]


def _named(uid: str, name: str) -> NamedQuery:
    return next(nq for nq in DASHBOARDS[uid].queries() if nq.name == name)


def run(conn: Conn, uid: str, name: str, interval: str = "1m") -> tuple[list[str], list[tuple[object, ...]]]:
    nq = _named(uid, name)
    g = grafana_for(conn, DASHBOARDS[uid], INTERVALS[interval], nq)
    sql = g.expand(nq.query.sql)
    cur = conn.execute(sql.encode())
    assert cur.description is not None
    return [c.name for c in cur.description], cur.fetchall()


@pytest.mark.parametrize(("uid", "name", "interval"), CASES)
def test_query_returns_its_columns_and_data(farm: Conn, uid: str, name: str, interval: str) -> None:
    nq = _named(uid, name)
    g = grafana_for(farm, DASHBOARDS[uid], INTERVALS[interval], nq)
    sql = g.expand(nq.query.sql)
    assert not re.search(r"\$\w", sql), f"something was not expanded: {sql}"
    cur = farm.execute(sql.encode())
    assert cur.description is not None
    columns = [c.name for c in cur.description]
    rows = cur.fetchall()
    assert tuple(columns) == nq.query.columns
    assert rows, "no rows although the database has data for it"
    for i, col in enumerate(columns):
        assert any(r[i] is not None for r in rows), f"column {col!r} is NULL in every row"
    if nq.query.format == "time_series":  # Grafana needs the time column first and sorted
        assert columns[0] == "time"
        times = [r[0] for r in rows]
        assert all(isinstance(t, datetime) for t in times)
        assert times == sorted(times)  # type: ignore[type-var]
    # the other clinic's dog, device and alert never show in vet-lyon's dashboards
    text = repr(rows)
    assert "bobo" not in text.lower()
    assert "other clinic" not in text


READS_DATA = re.compile(r"\b(?:FROM|JOIN)\s+(?:readings\w*|alerts|devices|animals|owners|quarantine)\b", re.I)


def test_every_query_that_reads_data_filters_by_clinic() -> None:
    checked = 0
    for d in DASHBOARDS.values():
        for nq in d.queries():
            if READS_DATA.search(nq.query.sql):  # the target band reads nothing; $clinic lists the clinics
                assert "= '$clinic'" in nq.query.sql, f"{d.uid}: {nq.name} does not filter by $clinic"
                checked += 1
    assert checked >= 30


def _relations(conn: Conn, sql: str) -> set[str]:
    """Hypertables (or plain tables) a query's plan actually scans."""
    plan = conn.execute(f"EXPLAIN (FORMAT JSON) {sql}".encode()).fetchone()
    assert plan is not None
    names: set[str] = set()

    def walk(node: dict[str, object]) -> None:
        if "Relation Name" in node:
            names.add(str(node["Relation Name"]))
        for child in node.get("Plans", []):  # type: ignore[attr-defined]
            walk(child)

    walk(plan[0][0]["Plan"])  # type: ignore[index]
    chunks = dict(conn.execute("SELECT chunk_name, hypertable_name FROM timescaledb_information.chunks").fetchall())
    return {str(chunks.get(n, n)) for n in names}


@pytest.mark.parametrize(
    ("interval", "relation"),
    [
        ("1m", "readings"),
        ("5m", "readings"),
        ("1h", "readings_hourly"),
        ("3h", "readings_hourly"),
        ("1d", "readings_daily"),
        ("7d", "readings_daily"),
    ],
)
def test_long_ranges_read_the_rollups(farm: Conn, interval: str, relation: str) -> None:
    d = DASHBOARDS["vigie-glucose"]
    nq = _named("vigie-glucose", "panel 'Glucose ($unit)' A")
    g = grafana_for(farm, d, parse_interval(interval), nq)
    assert _relations(farm, g.expand(nq.query.sql)) == {relation}


@pytest.mark.parametrize("interval", ["1h", "1d"])
def test_rollups_give_the_same_means_as_raw_readings(farm: Conn, interval: str) -> None:
    d = DASHBOARDS["vigie-glucose"]
    nq = _named("vigie-glucose", "panel 'Glucose ($unit)' A")
    g = grafana_for(farm, d, INTERVALS[interval], nq)
    g.variables["unit"] = "mg/dL"
    got = {r[0]: r[2] for r in farm.execute(g.expand(nq.query.sql).encode()).fetchall()}
    step = int(INTERVALS[interval].total_seconds())
    raw = farm.execute(
        f"SELECT time_bucket('{step} s', time), avg(value) FROM readings WHERE animal_id = 'rex' AND metric = 'glucose'"
        " AND time BETWEEN %s AND %s GROUP BY 1",
        (g.time_from, g.time_to),
    ).fetchall()
    expected = dict(raw)
    # the rollups hold whole hours/days: the buckets cut by the range's edges differ, all the others agree
    inner = sorted(expected)[1:-1]
    assert len(inner) >= 10
    for t in inner:
        assert got[t] == pytest.approx(expected[t], rel=1e-9), t


def test_glucose_unit_follows_the_owner_preference_and_converts(farm: Conn) -> None:
    d = DASHBOARDS["vigie-glucose"]
    nq = _named("vigie-glucose", "panel 'Summary ($unit)' A")
    g = grafana_for(farm, d, INTERVALS["1h"], nq)
    assert g.variables["animal"] == "rex"
    assert g.variables["unit"] == "mmol/L"  # Rex's owner reads mmol/L; the clinic's default is mg/dL
    values = {}
    for unit in ("mg/dL", "mmol/L", "g/L"):
        g.variables["unit"] = unit
        row = farm.execute(g.expand(nq.query.sql).encode()).fetchone()
        assert row is not None
        values[unit] = row
    mean_mg = values["mg/dL"][1]
    assert isinstance(mean_mg, float)
    assert 150 < mean_mg < 190
    assert values["mmol/L"][1] == pytest.approx(mean_mg / 18.0)
    assert values["g/L"][1] == pytest.approx(mean_mg / 100.0)
    assert values["mmol/L"][4] == values["mg/dL"][4]  # the reading count does not depend on the unit


def test_time_in_range_adds_up_and_sees_lows_and_highs(farm: Conn) -> None:
    _, rows = run(farm, "vigie-glucose", "panel 'Time in range (80-250 mg/dL)' A")
    below, inside, above = (float(v) for v in rows[0])  # type: ignore[arg-type]
    assert below + inside + above == pytest.approx(100.0)
    assert below > 1
    assert above > 1
    assert inside > 50


def test_overlay_folds_earlier_days_onto_the_last_24_hours(farm: Conn) -> None:
    nq = _named("vigie-glucose", "panel 'Daily curves overlaid ($overlay_days days, $unit)' A")
    g = grafana_for(farm, DASHBOARDS["vigie-glucose"], INTERVALS["1m"], nq)
    rows = farm.execute(g.expand(nq.query.sql).encode()).fetchall()
    series = {r[1] for r in rows}
    assert "last 24 h" in series
    assert len(series) == 14  # $overlay_days defaults to 14
    slack = timedelta(minutes=5)  # a 5-minute bucket may start just before the window
    assert all(g.time_from - slack <= r[0] <= g.time_to for r in rows)  # type: ignore[operator]


def test_horse_table_flags_the_horse_off_feed(farm: Conn) -> None:
    cols, rows = run(farm, "vigie-horse-intake", 'panel "Yesterday against each horse\'s own week ($tz)" A')
    by_horse = {r[0]: dict(zip(cols, r, strict=True)) for r in rows}
    assert set(by_horse) == {"Eclair", "Tornade"}
    assert by_horse["Tornade"]["% of mean"] < 50  # type: ignore[operator]
    assert 95 < by_horse["Eclair"]["% of mean"] < 105  # type: ignore[operator]
    assert rows[0][0] == "Tornade"  # the worst first
    assert by_horse["Eclair"]["water (L)"] == pytest.approx(36.0)  # 4 drinks of 9 L


def test_eating_heatmap_has_24_hours_of_minutes(farm: Conn) -> None:
    cols, rows = run(farm, "vigie-horse-intake", "panel 'Eating pattern: minutes eating per hour of day ($tz)' A")
    assert cols[1:] == [f"{h:02d}" for h in range(24)]
    full_day = rows[len(rows) // 2]
    assert all(v in (30.0, 70.0) for v in full_day[1:])  # 2 horses x 15 min at night, x 35 min by day


def test_herd_tables_point_at_the_sick_cow(farm: Conn) -> None:
    cols, rows = run(farm, "vigie-herd", "panel 'Conductivity by quarter, last 24 h (mS/cm)' A")
    assert rows[0][0] == "Noisette"
    assert rows[0][cols.index("highest / others")] > 1.15  # type: ignore[operator]
    assert all(r[cols.index("highest / others")] < 1.1 for r in rows[1:])  # type: ignore[operator]
    cols, rows = run(farm, "vigie-herd", "panel 'Yesterday per cow against her own week ($tz)' A")
    assert rows[0][0] == "Noisette"
    _, rows = run(farm, "vigie-herd", "panel 'Cows with open alerts' A")
    assert [r[2] for r in rows] == ["mastitis"]  # the device fault has no cow, the resolved alert is gone


def test_fleet_devices_table(farm: Conn) -> None:
    cols, rows = run(farm, "vigie-fleet", "panel 'Devices, longest silent first' A")
    assert [r[0] for r in rows] == ["robot-1", "feeder-1", "cgm-rex"]
    robot = dict(zip(cols, rows[0], strict=True))
    assert robot["availability"] == "offline"
    assert robot["animal"] == "(many animals)"
    assert 3 * 3600 - 60 < robot["silent for"] < 3 * 3600 + 600  # type: ignore[operator]
    assert robot["battery"] == pytest.approx(100.0)


def test_lag_and_quarantine(farm: Conn) -> None:
    _, rows = run(farm, "vigie-fleet", "panel 'Ingest lag: received_at - time (s)' A")
    assert all(1 <= r[1] <= r[2] <= r[3] <= 41 for r in rows)  # type: ignore[operator]
    _, rows = run(farm, "vigie-fleet", "panel 'Quarantine by reason over the range' A")
    assert {r[0] for r in rows} == {"unknown_unit", "out_of_range", "bad_time"}
    assert sum(int(r[1]) for r in rows) == 120  # type: ignore[call-overload]  # 60 per device, bobo's not counted


def test_alert_counts(farm: Conn) -> None:
    _, rows = run(farm, "vigie-alerts", "panel 'Open alerts' A")
    assert rows == [(1, 2, 0, 1)]  # urgent, to review (mastitis, device fault), info, acknowledged


@pytest.mark.parametrize("uid", list(DASHBOARDS))
def test_an_empty_selection_is_valid_sql(farm: Conn, uid: str) -> None:
    """A multi-value variable with nothing to list (a clinic without cows) gives ARRAY[]::text[], not a syntax error,
    and the queries that use it show nothing."""
    checked = 0
    for nq in DASHBOARDS[uid].queries():
        g = grafana_for(farm, DASHBOARDS[uid], INTERVALS["1h"], nq)
        for name in g.multi:
            g.variables[name] = []
        rows = farm.execute(g.expand(nq.query.sql).encode()).fetchall()
        if not any(re.search(rf"\${name}\b", nq.query.sql) for name in g.multi):
            continue
        checked += 1
        if "animal_id IS NULL" in nq.query.sql:  # alerts of a device (no animal) show whatever animals are selected
            for animal_only in ("hypoglycemia", "mastitis", "feed_intake_drop", "milk_yield_drop", "Rex", "Noisette"):
                assert animal_only not in repr(rows)
            continue
        for row in rows:  # aggregates over nothing return one row of NULLs or zeros, never data
            assert all(v is None or v == 0 or isinstance(v, str) for v in row if not isinstance(v, datetime)), row
    assert checked >= 2
