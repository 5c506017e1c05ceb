"""Loading readings: a window from the database (psycopg 3, parameterised SQL) or a JSONL recording.

Both return a *readings frame*: columns ``time`` (tz-aware UTC), ``device_id``, ``animal_id``, ``metric``, ``value``
(canonical unit of config/metrics.toml), sorted by time. The analytics functions take such frames and do no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import pandas as pd
import psycopg

from analytics._errors import NoDataError, RecordingError

if TYPE_CHECKING:
    from vigie.catalog import MetricCatalog

COLUMNS = ["time", "device_id", "animal_id", "metric", "value"]

_SELECT = (
    "SELECT time, device_id, animal_id, metric, value FROM readings"
    " WHERE animal_id = %(animal)s AND time >= %(start)s AND time < %(end)s"
)


def _frame(rows: list[tuple[Any, ...]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame["time"] = pd.to_datetime(frame["time"], utc=True)
    frame["value"] = frame["value"].astype("float64")
    return frame.sort_values("time", kind="stable").reset_index(drop=True)


def load_readings(
    conn: psycopg.Connection[Any],
    animal_id: str,
    start: datetime,
    end: datetime,
    metrics: Iterable[str] | None = None,
) -> pd.DataFrame:
    """The readings of one animal with ``start ≤ time < end`` (tz-aware datetimes), optionally of some metrics only."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be timezone-aware")
    params: dict[str, Any] = {"animal": animal_id, "start": start, "end": end}
    query = _SELECT
    if metrics is not None:
        params["metrics"] = list(metrics)
        query += " AND metric = ANY(%(metrics)s)"
    with conn.cursor() as cur:
        cur.execute(query + " ORDER BY time, metric", params)
        rows = cur.fetchall()
    return _frame([tuple(r) for r in rows])


def read_jsonl(
    path: Path,
    *,
    animal_id: str | None = None,
    catalog: MetricCatalog | None = None,
) -> pd.DataFrame:
    """The readings of a recording written by ``vigie simulate --out`` (one JSON object per line: ``time`` RFC 3339,
    ``device_id``, ``animal_id``, ``metric``, ``value``, ``unit``).

    Only ``animal_id``'s readings are kept when given. With the metric ``catalog``, values are stored as ingest stores
    them: numbers converted to the canonical unit (a unit the catalog does not accept, or an unknown metric, is an
    error: units are never guessed), booleans as 1/0 and enum strings as their index in the catalog's list. Without a
    catalog, numbers are taken as they are, booleans as 1/0, and enum strings are an error. Blank lines are skipped;
    a malformed line is an error naming the file and line.
    """
    name = str(path)
    rows: list[tuple[Any, ...]] = []
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise RecordingError(f"cannot read: {exc.strerror or exc}", path=name) from exc
    with handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                obj = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                raise RecordingError(f"not JSON ({exc})", path=name, line=number) from exc
            if not isinstance(obj, dict):
                raise RecordingError("a line must be a JSON object", path=name, line=number)
            if animal_id is not None and obj.get("animal_id") != animal_id:
                continue
            rows.append(_row(obj, catalog, name, number))
    if not rows:
        return pd.DataFrame({c: pd.Series(dtype="float64" if c == "value" else "object") for c in COLUMNS})
    lines = [r[-1] for r in rows]
    frame = pd.DataFrame([r[:-1] for r in rows], columns=COLUMNS)
    times = pd.to_datetime(frame["time"], utc=True, format="ISO8601", errors="coerce")
    bad = times.isna().to_numpy()
    if bad.any():
        first = int(bad.argmax())
        raise RecordingError(f"bad time {frame['time'].iloc[first]!r}", path=name, line=lines[first])
    frame["time"] = times
    frame["value"] = frame["value"].astype("float64")
    return frame.sort_values("time", kind="stable").reset_index(drop=True)


def _has_offset(text: str) -> bool:
    """RFC 3339 times end with Z or a ±hh:mm offset."""
    return len(text) > 6 and (text[-1] in "Zz" or (text[-6] in "+-" and text[-3] == ":"))


def _row(obj: dict[str, Any], catalog: MetricCatalog | None, name: str, number: int) -> tuple[Any, ...]:
    metric, value, unit, time = obj.get("metric"), obj.get("value"), obj.get("unit"), obj.get("time")
    if not isinstance(metric, str) or not metric:
        raise RecordingError("missing metric", path=name, line=number)
    if not isinstance(time, str):
        raise RecordingError("missing time", path=name, line=number)
    if not _has_offset(time):
        raise RecordingError(f"time {time!r} has no UTC offset (RFC 3339 needs one)", path=name, line=number)
    return (
        time,
        obj.get("device_id"),
        obj.get("animal_id"),
        metric,
        _value(metric, value, unit, catalog, name, number),
        number,
    )


def _value(metric: str, value: Any, unit: Any, catalog: MetricCatalog | None, name: str, number: int) -> float:
    spec = catalog.get(metric) if catalog is not None else None
    if catalog is not None and spec is None:
        raise RecordingError(f"unknown metric {metric!r}", path=name, line=number)
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, str) and spec is not None and spec.kind == "enum":
        if value not in spec.values:
            raise RecordingError(f"{value!r} is not a value of {metric}", path=name, line=number)
        return float(spec.values.index(value))
    if not isinstance(value, int | float) or not math.isfinite(value):
        raise RecordingError(f"value of {metric} is not a finite number", path=name, line=number)
    if spec is None or spec.kind != "number":
        return float(value)
    factor = catalog.factor(metric, str(unit)) if catalog is not None else None
    if factor is None:
        raise RecordingError(f"unit {unit!r} is not accepted for {metric}", path=name, line=number)
    return float(value) * factor


def require_animal(frame: pd.DataFrame, animal_id: str, source: str) -> pd.DataFrame:
    """``frame`` itself, or :class:`NoDataError` when it holds no reading of ``animal_id``."""
    if frame.empty:
        raise NoDataError(f"no reading of animal {animal_id!r} in {source}")
    return frame
