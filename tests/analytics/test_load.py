"""Loaders: a window of readings from the real database, and JSONL recordings."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import psycopg
import pytest

from analytics import cgm_summary, load_readings, read_jsonl
from analytics._errors import RecordingError
from tests.analytics.helpers import T0, record, write_jsonl
from vigie.catalog import load_catalog
from vigie.settings import DEFAULT_CONFIG_DIR

CATALOG = load_catalog(DEFAULT_CONFIG_DIR)


def _insert(db: psycopg.Connection[Any], rows: list[tuple[Any, ...]]) -> None:
    with db.cursor() as cur:
        cur.executemany(
            "INSERT INTO readings (time, device_id, animal_id, metric, value, clinic_id) VALUES (%s, %s, %s, %s, %s, %s)",
            rows,
        )


@pytest.mark.db
def test_load_readings_window_animal_and_metrics(db: psycopg.Connection[Any]) -> None:
    t0 = T0.to_pydatetime()
    rows = [(t0 + timedelta(minutes=5 * i), "cgm-1", "rex", "glucose", 100.0 + i, "vet-a") for i in range(12)]
    rows += [(t0 + timedelta(minutes=30), "cgm-1", "rex", "insulin_dose", 4.0, "vet-a")]
    rows += [(t0 + timedelta(minutes=10), "cgm-2", "felix", "glucose", 400.0, "vet-a")]  # another animal
    rows += [(t0 - timedelta(minutes=5), "cgm-1", "rex", "glucose", 999.0, "vet-a")]  # before the window
    _insert(db, rows[::-1])  # inserted out of order

    end = t0 + timedelta(hours=1)
    frame = load_readings(db, "rex", t0, end)
    assert list(frame.columns) == ["time", "device_id", "animal_id", "metric", "value"]
    assert len(frame) == 13
    assert frame["time"].is_monotonic_increasing
    assert str(frame["time"].dt.tz) == "UTC"
    assert set(frame["animal_id"]) == {"rex"}
    assert frame["time"].iloc[0] == T0

    glucose = load_readings(db, "rex", t0, end, metrics=["glucose"])
    assert len(glucose) == 12
    s = pd.Series(glucose["value"].to_numpy(), index=pd.DatetimeIndex(glucose["time"]))
    assert cgm_summary(s).mean == pytest.approx(105.5)

    # the end is exclusive; an empty window is an empty frame
    assert len(load_readings(db, "rex", t0, t0 + timedelta(minutes=5), metrics=["glucose"])) == 1
    assert load_readings(db, "nobody", t0, end).empty
    # the animal id is a parameter, never SQL text
    assert load_readings(db, "rex' OR '1'='1", t0, end).empty
    with pytest.raises(ValueError, match="timezone"):
        load_readings(db, "rex", t0.replace(tzinfo=None), end)


def test_read_jsonl_enum_and_boolean_values(tmp_path: Path) -> None:
    # as `vigie simulate --out` writes them: enum strings and booleans with "unit": null
    line = {"time": "2026-03-02T00:00:00Z", "device_id": "d", "animal_id": "a1", "unit": None}
    path = write_jsonl(
        tmp_path / "enum.jsonl",
        [
            {**line, "metric": "insulin_type", "value": "glargine"},
            {**line, "metric": "milk_blood", "value": True},
            {**line, "metric": "milking_outcome", "value": "refused"},
            {**line, "metric": "milk_yield", "value": 10.3, "unit": "L"},
        ],
    )
    frame = read_jsonl(path, catalog=CATALOG)
    values = dict(zip(frame["metric"], frame["value"], strict=True))
    assert values == {
        "insulin_type": 2.0,
        "milk_blood": 1.0,
        "milking_outcome": 3.0,
        "milk_yield": pytest.approx(10.609),
    }
    with pytest.raises(RecordingError, match="finite number"):
        read_jsonl(path)  # without the catalog an enum string has no number
    bad = write_jsonl(tmp_path / "bad.jsonl", [{**line, "metric": "insulin_type", "value": "porcine"}])
    with pytest.raises(RecordingError, match="not a value of insulin_type"):
        read_jsonl(bad, catalog=CATALOG)


def test_read_jsonl_converts_units_and_filters_the_animal(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "rec.jsonl",
        [
            record(5, "glucose", 9.0, "mmol/L"),
            record(0, "glucose", 150, "mg/dL"),
            record(0, "glucose", 300, "mg/dL", animal="other"),
            record(1, "insulin_dose", 4, "U"),
        ],
    )
    (path.parent / "blank.jsonl").write_text(path.read_text() + "\n\n")
    frame = read_jsonl(path, animal_id="a1", catalog=CATALOG)
    assert frame["metric"].tolist() == ["glucose", "insulin_dose", "glucose"]  # sorted by time
    assert frame["value"].tolist() == [150.0, 4.0, 162.0]
    assert frame["time"].iloc[0] == T0
    assert len(read_jsonl(path)) == 4  # no filter, values as they are
    assert read_jsonl(path, catalog=CATALOG)["value"].max() == 300.0
    assert len(read_jsonl(path.parent / "blank.jsonl")) == 4
    assert read_jsonl(path, animal_id="nobody").empty


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "line 2|:2: not JSON"),
        ('["a list"]', "JSON object"),
        ('{"time": "2026-03-02T00:00:00Z", "animal_id": "a1", "value": 1, "unit": "U"}', "missing metric"),
        ('{"time": "2026-03-02T00:00:00", "metric": "glucose", "value": 1, "unit": "mg/dL"}', "no UTC offset"),
        ('{"time": "yesterday at noon", "metric": "glucose", "value": 1, "unit": "mg/dL"}', "offset|bad time"),
        ('{"time": "2026-13-45T00:00:00Z", "metric": "glucose", "value": 1, "unit": "mg/dL"}', "bad time"),
        ('{"time": "2026-03-02T00:00:00Z", "metric": "glucose", "value": "high", "unit": "mg/dL"}', "finite number"),
        ('{"time": "2026-03-02T00:00:00Z", "metric": "glucose", "value": 1, "unit": "mg%"}', "not accepted"),
        ('{"time": "2026-03-02T00:00:00Z", "metric": "glucose", "value": 1}', "unit None is not accepted"),
        ('{"time": "2026-03-02T00:00:00Z", "metric": "sugar", "value": 1, "unit": "mg/dL"}', "unknown metric"),
    ],
)
def test_read_jsonl_rejects_malformed_lines(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(
        '{"time": "2026-03-02T00:00:00Z", "metric": "glucose", "value": 100, "unit": "mg/dL"}\n' + line + "\n"
    )
    with pytest.raises(RecordingError, match=message) as info:
        read_jsonl(path, catalog=CATALOG)
    assert str(path) in str(info.value)
    assert info.value.line == 2


def test_read_jsonl_missing_file(tmp_path: Path) -> None:
    with pytest.raises(RecordingError, match="cannot read"):
        read_jsonl(tmp_path / "nope.jsonl")
