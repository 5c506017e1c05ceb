"""Analytics summaries: the API gives what the analytics package computes on the same readings, in the unit asked."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import psycopg
import pytest
from fastapi.testclient import TestClient

from analytics import GlucoseRange, daily_intake, load_readings
from analytics._report import glucose_report, lactation_report
from tests.api.conftest import World
from vigie import registry

URL = "/api/v1/animals/{}/analytics/{}"


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat()


def test_glucose_report_is_the_analytics_packages(client: TestClient, world: World, db_dsn: str) -> None:
    start, end = world.now - timedelta(days=1), world.now + timedelta(minutes=1)
    r = client.get(
        URL.format("cat-a", "glucose"),
        headers=world.auth("owner"),
        params={"start": _iso(start), "end": _iso(end), "unit": "mmol/L"},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["reason"] is None
    assert body["unit"] == "mmol/L"
    assert body["low"] == pytest.approx(80 / 18)
    assert body["high"] == pytest.approx(250 / 18)
    with psycopg.connect(db_dsn) as conn:
        frame = load_readings(conn, "cat-a", start, end, metrics=["glucose", "insulin_dose"])
    oracle = glucose_report(frame, GlucoseRange(80.0, 250.0), unit="mmol/L")
    summary = body["summary"]
    for key in ("n", "mean", "sd", "cv", "pct_in_range", "pct_below", "pct_above", "time_in_range", "coverage"):
        assert summary[key] == pytest.approx(oracle[key]), key
    # the figures themselves: 48 readings 103..150 mg/dL, mean 126.5 mg/dL = 7.03 mmol/L, all in range
    assert summary["n"] == 48
    assert summary["mean"] == pytest.approx(126.5 / 18, abs=0.005)
    assert summary["pct_in_range"] == 100.0
    assert body["cycles"] == []  # no insulin recorded


def test_glucose_target_in_the_unit_asked(client: TestClient, world: World) -> None:
    # 7 mmol/L = 126 mg/dL: the 23 readings 103..125 mg/dL are below
    r = client.get(
        URL.format("cat-a", "glucose"), headers=world.auth("vet"), params={"unit": "mmol/L", "low": 7, "high": 12}
    )
    summary = r.json()["summary"]
    assert summary["low"] == 7.0
    assert summary["pct_below"] == pytest.approx(100 * 23 / 48)
    r = client.get(URL.format("cat-a", "glucose"), headers=world.auth("vet"), params={"unit": "g/L"})
    assert r.json()["summary"]["mean"] == pytest.approx(1.265, abs=0.0005)
    bad = client.get(URL.format("cat-a", "glucose"), headers=world.auth("vet"), params={"low": 200, "high": 100})
    assert bad.status_code == 422
    assert ["query", "low"] in [e["loc"] for e in bad.json()["detail"]]
    nan = client.get(URL.format("cat-a", "glucose"), headers=world.auth("vet"), params={"low": "nan"})
    assert nan.status_code == 422
    assert ["query", "low"] in [e["loc"] for e in nan.json()["detail"]]


def test_no_data_is_a_reason_not_an_error(client: TestClient, world: World) -> None:
    r = client.get(URL.format("cow-a", "glucose"), headers=world.auth("vet"))
    assert r.status_code == 200, r.text
    assert r.json()["summary"] is None
    assert "glucose" in r.json()["reason"]
    r = client.get(URL.format("cat-a", "lactation"), headers=world.auth("vet"))
    assert r.status_code == 200
    assert r.json()["fit"] is None
    assert "milk_yield" in r.json()["reason"]
    r = client.get(URL.format("cat-a", "intake"), headers=world.auth("vet"))
    assert r.json()["days"] == []
    assert "intake" in r.json()["reason"]


def _horse(db_dsn: str, now: datetime) -> tuple[datetime, datetime]:
    first = (now - timedelta(days=10)).replace(hour=0, minute=0, second=0)
    with psycopg.connect(db_dsn) as conn:
        registry.add_animal(conn, "horse-a", species="horse", clinic="clinic-a", owner="farm-a", weight_kg=500)
        registry.add_device(conn, "feeder-a", kind="feeder", clinic="clinic-a")
        with (
            conn.cursor() as cur,
            cur.copy("COPY readings (time, animal_id, metric, device_id, value, clinic_id) FROM STDIN") as copy,
        ):
            for day in range(9):
                for visit in range(4):
                    t = first + timedelta(days=day, hours=6 + 4 * visit)
                    copy.write_row((t, "horse-a", "feed_intake", "feeder-a", 2.0 + day * 0.1, "clinic-a"))
                    copy.write_row((t, "horse-a", "eating_time", "feeder-a", 30.0, "clinic-a"))
                    copy.write_row((t, "horse-a", "water_intake", "feeder-a", 6.0, "clinic-a"))
            copy.write_row((first, "horse-a", "body_weight", "feeder-a", 500.0, "clinic-a"))
    return first, first + timedelta(days=9)


def test_intake_per_day_against_the_horses_baseline(client: TestClient, world: World, db_dsn: str) -> None:
    start, end = _horse(db_dsn, world.now)
    r = client.get(
        URL.format("horse-a", "intake"),
        headers=world.auth("vet"),
        params={"start": _iso(start), "end": _iso(end), "tz": "UTC"},
    )
    assert r.status_code == 200, r.text
    days = r.json()["days"]
    assert len(days) == 9
    assert [d["forage_kg"] for d in days] == pytest.approx([4 * (2.0 + i * 0.1) for i in range(9)])
    assert all(d["complete"] for d in days)
    assert days[0]["forage_kg_baseline"] is None  # no earlier day
    assert days[-1]["intake_pct_bw"] == pytest.approx(100 * 4 * 2.8 / 500)
    with psycopg.connect(db_dsn) as conn:
        frame = load_readings(conn, "horse-a", start, end)
    oracle = daily_intake(frame, tz="UTC", span=(pd.Timestamp(start), pd.Timestamp(end)))
    for got, (_, want) in zip(days, oracle.iterrows(), strict=True):
        for key in ("forage_kg", "water_l", "eating_rate_kg_h", "forage_kg_baseline", "forage_kg_pct_baseline"):
            expected = None if math.isnan(want[key]) else float(want[key])
            assert got[key] == pytest.approx(expected), key
    bad = client.get(URL.format("horse-a", "intake"), headers=world.auth("vet"), params={"tz": "Mars/Olympus"})
    assert bad.status_code == 422
    assert ["query", "tz"] in [e["loc"] for e in bad.json()["detail"]]


def _cow(db_dsn: str, now: datetime) -> tuple[datetime, datetime]:
    first = (now - timedelta(days=40)).replace(hour=5, minute=0, second=0)
    with (
        psycopg.connect(db_dsn) as conn,
        conn.cursor() as cur,
        cur.copy("COPY readings (time, animal_id, metric, device_id, value, clinic_id) FROM STDIN") as copy,
    ):
        for day in range(35):
            dim = day + 10
            daily = 20.0 * dim**0.2 * math.exp(-0.004 * dim)
            for hour in (5, 17):
                t = first + timedelta(days=day, hours=hour - 5)
                copy.write_row((t, "cow-a", "milk_yield", "robot-a", daily / 2, "clinic-a"))
                copy.write_row((t, "cow-a", "milking_interval", "robot-a", 12.0, "clinic-a"))
    return first, first + timedelta(days=35)


def test_lactation_curve_is_the_analytics_packages(client: TestClient, world: World, db_dsn: str) -> None:
    start, end = _cow(db_dsn, world.now)
    calving = (start - timedelta(days=10)).date()
    r = client.get(
        URL.format("cow-a", "lactation"),
        headers=world.auth("staff"),
        params={"start": _iso(start), "end": _iso(end), "calving": calving.isoformat()},
    )
    assert r.status_code == 200, r.text
    fit: dict[str, Any] = r.json()["fit"]
    assert fit is not None
    with psycopg.connect(db_dsn) as conn:
        frame = load_readings(conn, "cow-a", start, end, metrics=["milk_yield", "milking_interval"])
    oracle = lactation_report(frame, calving=pd.Timestamp(calving))
    for key in ("a", "b", "c", "n", "peak_day", "peak_yield", "days", "first_dim", "last_dim"):
        assert fit[key] == pytest.approx(oracle[key]), key
    assert fit["calving"] == calving.isoformat()
    assert fit["calving_assumed"] is False
    assert fit["peak_day"] == pytest.approx(0.2 / 0.004, rel=0.05)  # the curve the readings were drawn from
    # the registry's calving date is the default, so the vet need not give it again
    assert (
        client.patch(
            "/api/v1/animals/cow-a", headers=world.auth("vet"), json={"calving_date": calving.isoformat()}
        ).status_code
        == 200
    )
    default = client.get(
        URL.format("cow-a", "lactation"), headers=world.auth("staff"), params={"start": _iso(start), "end": _iso(end)}
    )
    assert default.json()["fit"] == fit
    future = client.get(URL.format("cow-a", "lactation"), headers=world.auth("vet"), params={"calving": "2999-01-01"})
    assert future.status_code == 422
    assert ["query", "calving"] in [e["loc"] for e in future.json()["detail"]]


@pytest.mark.parametrize("what", ["glucose", "intake", "lactation"])
def test_who_may_read_analytics(client: TestClient, world: World, what: str) -> None:
    assert client.get(URL.format("cat-b", what), headers=world.auth("vet")).status_code == 404
    assert client.get(URL.format("cow-a", what), headers=world.auth("owner")).status_code == 404
    assert client.get(URL.format("cat-a", what), headers=world.auth("device")).status_code == 403
    assert client.get(URL.format("cat-a", what), headers=world.auth("owner")).status_code == 200
    long = client.get(
        URL.format("cat-a", what),
        headers=world.auth("vet"),
        params={"start": "2020-01-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"},
    )
    assert long.status_code == 422
    assert ["query", "start"] in [e["loc"] for e in long.json()["detail"]]
