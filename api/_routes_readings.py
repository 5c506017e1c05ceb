"""``/api/v1/animals/{animal_id}/readings``: an animal's readings over a time range, raw or in buckets; CSV export.

Admins, vets and staff read the animals of their clinic, an owner their own animals; devices get 403. An animal of
another clinic (or, for an owner, of another owner) is 404.

Limits: a raw range is at most 31 days, a bucketed one at most 1100 days and 20 000 buckets; a page holds at most
the server's ``api_page_max`` rows; a CSV export at most 200 000 rows (422 beyond: narrow the range or use buckets).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import AwareDatetime

from api._accounts import Conn, Principal, Role
from api._deps import CLINIC_READERS, AppSettings, Caller, Db, clinic_filter, forbid_unless, not_found
from api._models import Out
from api._params import Page
from api._registry_shared import PathId
from api._store_readings import (
    BUCKETED_MAX_RANGE,
    CSV_MAX_ROWS,
    MAX_BUCKET,
    MAX_BUCKETS,
    MIN_BUCKET,
    RAW_MAX_RANGE,
    AnimalRef,
    bucketed_readings,
    catalog,
    count_readings,
    find_animal,
    raw_readings,
)
from vigie.catalog import MetricCatalog

router = APIRouter(prefix="/api/v1/animals", tags=["readings"])

GlucoseUnit = Literal["mg/dL", "mmol/L", "g/L"]
_BUCKET_RE = re.compile(r"^([1-9][0-9]{0,5})(s|m|h|d)$")
_STEPS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
_LATEST = datetime(2200, 1, 1, tzinfo=UTC)
READERS: frozenset[Role] = CLINIC_READERS | {"owner"}
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "no such animal for the caller"}}
_CSV: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "CSV with one header line"}
}


def _invalid(loc: tuple[str | int, ...], msg: str, value: Any) -> RequestValidationError:
    return RequestValidationError([{"type": "value_error", "loc": loc, "msg": msg, "input": value}])


def parse_bucket(text: str) -> timedelta:
    """``30s``, ``5m``, ``1h``, ``7d`` → a width between 1 minute and 366 days (ValueError otherwise)."""
    match = _BUCKET_RE.match(text)
    if match is None:
        raise ValueError("a bucket width is a number and a unit s, m, h or d, such as 15m, 1h or 1d")
    width = timedelta(seconds=int(match.group(1)) * _STEPS[match.group(2)])
    if not MIN_BUCKET <= width <= MAX_BUCKET:
        raise ValueError("a bucket width is between 1m and 366d")
    return width


@dataclass(frozen=True, slots=True)
class ReadingsQuery:
    """A validated readings request."""

    start: datetime
    end: datetime
    width: timedelta | None
    bucket: str | None
    metrics: list[str] | None
    unit: str | None


def readings_query(
    settings: AppSettings,
    start: Annotated[AwareDatetime | None, Query(description="inclusive; default: 24 hours before end")] = None,
    end: Annotated[AwareDatetime | None, Query(description="exclusive; default: now")] = None,
    metric: Annotated[
        list[str] | None, Query(max_length=30, description="only these metrics (repeat the parameter)")
    ] = None,
    bucket: Annotated[
        str | None, Query(max_length=10, description="bucket width (15m, 1h, 1d): count, avg, min, max per bucket")
    ] = None,
    unit: Annotated[GlucoseUnit | None, Query(description="glucose unit; default: the owner's, else the clinic's")] = (
        None
    ),
) -> ReadingsQuery:
    """The range, metrics, bucket width and unit of a readings request (422 naming the parameter when wrong)."""
    for name, value in (("start", start), ("end", end)):
        if value is not None and not _EARLIEST <= value < _LATEST:
            raise _invalid(("query", name), "a time between 1970 and 2200", value.isoformat())
    end_ = end or datetime.now(UTC)
    start_ = start or end_ - timedelta(hours=24)
    if start_ >= end_:
        raise _invalid(("query", "start"), "start must be before end", start_.isoformat())
    width = None
    if bucket is not None:
        try:
            width = parse_bucket(bucket)
        except ValueError as exc:
            raise _invalid(("query", "bucket"), str(exc), bucket) from None
    longest = RAW_MAX_RANGE if width is None else BUCKETED_MAX_RANGE
    if end_ - start_ > longest:
        raise _invalid(
            ("query", "start"), f"the range is at most {longest.days} days for this request", start_.isoformat()
        )
    if width is not None and (end_ - start_) / width > MAX_BUCKETS:
        raise _invalid(("query", "bucket"), f"at most {MAX_BUCKETS} buckets: use a wider bucket", bucket)
    cat = catalog(settings.config_dir)
    for i, name in enumerate(metric or []):
        if name not in cat:
            raise _invalid(("query", "metric", i), "not a metric of the catalog", name)
    return ReadingsQuery(start_, end_, width, bucket, sorted(set(metric)) if metric else None, unit)


Params = Annotated[ReadingsQuery, Depends(readings_query)]


def visible_animal(conn: Conn, caller: Principal, animal_id: str) -> AnimalRef:
    """The animal if the caller may read it (403 for a role that may not, 404 when not theirs to see)."""
    forbid_unless(caller, READERS)
    animal = find_animal(
        conn, animal_id, clinic=clinic_filter(caller), owner=caller.owner_id if caller.role == "owner" else None
    )
    if animal is None:
        raise not_found("animal", animal_id)
    return animal


class ReadingOut(Out):
    time: datetime
    metric: str
    value: float
    unit: str
    device_id: str


class BucketOut(Out):
    start: datetime
    metric: str
    count: int
    avg: float
    min: float
    max: float
    unit: str


class ReadingsOut(Out):
    animal_id: str
    start: datetime
    end: datetime
    bucket: str | None
    glucose_unit: str
    items: list[ReadingOut]
    buckets: list[BucketOut]
    limit: int
    offset: int
    next_offset: int | None


def _unit(animal: AnimalRef, q: ReadingsQuery) -> str:
    return q.unit or animal.glucose_unit


@router.get("/{animal_id}/readings", responses=_NOT_FOUND)
def get_readings(
    caller: Caller, conn: Db, settings: AppSettings, animal_id: PathId, q: Params, page: Page
) -> ReadingsOut:
    """Readings of ``start <= time < end``: raw (``items``, by time) or, with ``bucket``, per bucket and metric
    (``buckets``: count, avg, min, max). Glucose in ``unit``; other metrics in their catalog unit."""
    animal = visible_animal(conn, caller, animal_id)
    cat = catalog(settings.config_dir)
    unit = _unit(animal, q)
    common: dict[str, Any] = {"cat": cat, "metrics": q.metrics, "glucose_unit": unit, "offset": page.offset}
    items: list[ReadingOut] = []
    buckets: list[BucketOut] = []
    if q.width is None:
        rows = raw_readings(conn, animal, q.start, q.end, limit=page.limit + 1, **common)
        items = [ReadingOut.model_validate(r) for r in rows[: page.limit]]
        more = len(rows) > page.limit
    else:
        found = bucketed_readings(conn, animal, q.start, q.end, q.width, limit=page.limit + 1, **common)
        buckets = [BucketOut.model_validate(b) for b in found[: page.limit]]
        more = len(found) > page.limit
    return ReadingsOut(
        animal_id=animal.id,
        start=q.start,
        end=q.end,
        bucket=q.bucket,
        glucose_unit=unit,
        items=items,
        buckets=buckets,
        limit=page.limit,
        offset=page.offset,
        next_offset=page.offset + page.limit if more else None,
    )


def _csv(header: list[str], rows: list[list[Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def _number(value: float) -> str:
    return repr(value)


@router.get(
    "/{animal_id}/readings.csv",
    response_class=Response,
    responses=_CSV | _NOT_FOUND,
)
def get_readings_csv(caller: Caller, conn: Db, settings: AppSettings, animal_id: PathId, q: Params) -> Response:
    """The same readings as CSV (``time,metric,value,unit,device_id``; with ``bucket``:
    ``start,metric,count,avg,min,max,unit``), times in UTC ISO 8601."""
    animal = visible_animal(conn, caller, animal_id)
    cat: MetricCatalog = catalog(settings.config_dir)
    unit = _unit(animal, q)
    if q.width is None:
        if count_readings(conn, animal, q.start, q.end, metrics=q.metrics) > CSV_MAX_ROWS:
            raise _invalid(
                ("query", "start"), f"more than {CSV_MAX_ROWS} readings: narrow the range or use bucket", None
            )
        rows = raw_readings(conn, animal, q.start, q.end, cat=cat, metrics=q.metrics, glucose_unit=unit)
        body = _csv(
            ["time", "metric", "value", "unit", "device_id"],
            [[r.time.astimezone(UTC).isoformat(), r.metric, _number(r.value), r.unit, r.device_id] for r in rows],
        )
    else:
        found = bucketed_readings(conn, animal, q.start, q.end, q.width, cat=cat, metrics=q.metrics, glucose_unit=unit)
        body = _csv(
            ["start", "metric", "count", "avg", "min", "max", "unit"],
            [
                [
                    b.start.astimezone(UTC).isoformat(),
                    b.metric,
                    b.count,
                    _number(b.avg),
                    _number(b.min),
                    _number(b.max),
                    b.unit,
                ]
                for b in found
            ],
        )
    filename = f"{animal.id}-readings.csv"
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
