"""``/api/v1/animals/{animal_id}/analytics/...``: what a vet reads about one animal, from the ``analytics`` package.

- ``glucose``: the CGM summary (mean, SD, CV, time in / below / above range, coverage) and the curve of each insulin
  cycle (pre-insulin, nadir, time to nadir, duration, flags), glucose in the unit asked for;
- ``intake``: a horse's daily intake (forage, concentrate, water, eating time and rate, % of body weight) against
  its own baseline;
- ``lactation``: a cow's daily yields (24-h equivalent) and the Wood curve fitted to them.

Same access as the readings: admins, vets and staff of the clinic, an owner for their own animals; devices 403; an
animal that is not the caller's to see is 404. A window without the data an analysis needs is a 200 whose
``reason`` says what is missing (and whose figures are null or empty).
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd
from fastapi import APIRouter, Query
from fastapi.exceptions import RequestValidationError
from pydantic import AwareDatetime

from analytics import AnalyticsError, GlucoseRange, daily_intake, load_readings, species_range
from analytics._report import glucose_report, lactation_report
from api._deps import Caller, Db
from api._models import Out
from api._registry_shared import PathId
from api._routes_readings import visible_animal
from vigie.catalog import convert_glucose

router = APIRouter(prefix="/api/v1/animals", tags=["analytics"])

GlucoseUnit = Literal["mg/dL", "mmol/L", "g/L"]
_FACTOR = {"mg/dL": 1.0, "mmol/L": 18.0, "g/L": 100.0}
_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
_LATEST = datetime(2200, 1, 1, tzinfo=UTC)
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "no such animal for the caller"}}
INTAKE_METRICS = ["feed_intake", "concentrate_intake", "water_intake", "eating_time", "body_weight"]


def _invalid(loc: tuple[str | int, ...], msg: str, value: Any) -> RequestValidationError:
    return RequestValidationError([{"type": "value_error", "loc": loc, "msg": msg, "input": value}])


def _window(
    start: datetime | None, end: datetime | None, default: timedelta, longest: timedelta
) -> tuple[datetime, datetime]:
    for name, value in (("start", start), ("end", end)):
        if value is not None and not _EARLIEST <= value < _LATEST:
            raise _invalid(("query", name), "a time between 1970 and 2200", value.isoformat())
    end_ = end or datetime.now(UTC)
    start_ = start or end_ - default
    if start_ >= end_:
        raise _invalid(("query", "start"), "start must be before end", start_.isoformat())
    if end_ - start_ > longest:
        raise _invalid(("query", "start"), f"the window is at most {longest.days} days", start_.isoformat())
    return start_, end_


def _tz(tz: str) -> str:
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise _invalid(("query", "tz"), "not a time zone name (such as Europe/Paris)", tz) from None
    return tz


def clean(value: Any) -> Any:
    """JSON-able values: NaN and infinities become null, numpy scalars and timestamps plain values."""
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if hasattr(value, "item") and not isinstance(value, str):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class GlucoseSummaryOut(Out):
    n: int
    start: datetime
    end: datetime
    interval_min: float | None
    low: float
    high: float
    mean: float
    sd: float | None
    cv: float | None
    pct_in_range: float
    pct_below: float
    pct_above: float
    time_in_range: float
    time_below: float
    time_above: float
    coverage: float | None


class GlucoseReportOut(Out):
    animal_id: str
    start: datetime
    end: datetime
    unit: str
    low: float
    high: float
    summary: GlucoseSummaryOut | None
    cycles: list[dict[str, Any]]
    reason: str | None


@router.get("/{animal_id}/analytics/glucose", responses=_NOT_FOUND)
def get_glucose(
    caller: Caller,
    conn: Db,
    animal_id: PathId,
    start: Annotated[AwareDatetime | None, Query(description="default: 14 days before end")] = None,
    end: Annotated[AwareDatetime | None, Query(description="default: now")] = None,
    unit: Annotated[GlucoseUnit | None, Query(description="default: the owner's, else the clinic's")] = None,
    low: Annotated[float | None, Query(gt=0, lt=100_000, allow_inf_nan=False, description="in unit")] = None,
    high: Annotated[float | None, Query(gt=0, lt=100_000, allow_inf_nan=False, description="in unit")] = None,
    interval_min: Annotated[
        float | None, Query(ge=0.5, le=240, allow_inf_nan=False, description="sensor sampling interval, minutes")
    ] = None,
) -> GlucoseReportOut:
    """CGM summary and insulin-cycle curves over ``[start, end)`` (at most 92 days). ``low``/``high`` (in ``unit``)
    set the target range; default: the species' (dog and cat 80-250 mg/dL)."""
    animal = visible_animal(conn, caller, animal_id)
    start_, end_ = _window(start, end, timedelta(days=14), timedelta(days=92))
    unit_ = unit or animal.glucose_unit
    default = species_range(animal.species)
    lo = default.low if low is None else low * _FACTOR[unit_]
    hi = default.high if high is None else high * _FACTOR[unit_]
    if lo >= hi:
        raise _invalid(("query", "low"), "low must be below high", low)
    frame = load_readings(conn, animal.id, start_, end_, metrics=["glucose", "insulin_dose"])
    summary: GlucoseSummaryOut | None = None
    cycles: list[dict[str, Any]] = []
    reason = None
    try:
        report = clean(glucose_report(frame, GlucoseRange(lo, hi), unit=unit_, interval_min=interval_min))
    except AnalyticsError as exc:
        reason = str(exc)
    else:
        cycles = report.pop("cycles")
        report.pop("unit")
        summary = GlucoseSummaryOut.model_validate(report)
    return GlucoseReportOut(
        animal_id=animal.id,
        start=start_,
        end=end_,
        unit=unit_,
        low=convert_glucose(lo, unit_),
        high=convert_glucose(hi, unit_),
        summary=summary,
        cycles=cycles,
        reason=reason,
    )


class IntakeDayOut(Out):
    day: date
    hours: float
    complete: bool
    forage_kg: float
    concentrate_kg: float
    water_l: float
    eating_min: float
    eating_rate_kg_h: float | None
    body_weight_kg: float | None
    intake_pct_bw: float | None
    forage_kg_baseline: float | None
    forage_kg_pct_baseline: float | None
    concentrate_kg_baseline: float | None
    concentrate_kg_pct_baseline: float | None
    water_l_baseline: float | None
    water_l_pct_baseline: float | None
    eating_rate_kg_h_baseline: float | None
    eating_rate_kg_h_pct_baseline: float | None


class IntakeOut(Out):
    animal_id: str
    start: datetime
    end: datetime
    tz: str
    days: list[IntakeDayOut]
    reason: str | None


@router.get("/{animal_id}/analytics/intake", responses=_NOT_FOUND)
def get_intake(
    caller: Caller,
    conn: Db,
    animal_id: PathId,
    start: Annotated[AwareDatetime | None, Query(description="default: 30 days before end")] = None,
    end: Annotated[AwareDatetime | None, Query(description="default: now")] = None,
    tz: Annotated[str, Query(max_length=64, description="time zone of the days")] = "UTC",
) -> IntakeOut:
    """Daily intake over ``[start, end)`` (at most 400 days) with the animal's own 7-day baseline; partial days
    (the first and the last) never enter a baseline."""
    animal = visible_animal(conn, caller, animal_id)
    start_, end_ = _window(start, end, timedelta(days=30), timedelta(days=400))
    tz_ = _tz(tz)
    frame = load_readings(conn, animal.id, start_, end_, metrics=INTAKE_METRICS)
    days: list[IntakeDayOut] = []
    reason = None
    try:
        table = daily_intake(frame, tz=tz_, span=(pd.Timestamp(start_), pd.Timestamp(end_)))
    except AnalyticsError as exc:
        reason = str(exc)
    else:
        for day, row in table.iterrows():
            values = clean({k: row[k] for k in IntakeDayOut.model_fields if k != "day"})
            stamp = pd.Timestamp(str(day))
            days.append(IntakeDayOut.model_validate({"day": stamp.date(), **values}))
    return IntakeOut(animal_id=animal.id, start=start_, end=end_, tz=tz_, days=days, reason=reason)


class WoodFitOut(Out):
    a: float
    b: float
    c: float
    n: int
    rmse: float | None
    peak_day: float | None
    peak_yield: float | None
    calving: date
    calving_assumed: bool
    days: int
    first_dim: int
    last_dim: int


class LactationOut(Out):
    animal_id: str
    start: datetime
    end: datetime
    tz: str
    fit: WoodFitOut | None
    reason: str | None


@router.get("/{animal_id}/analytics/lactation", responses=_NOT_FOUND)
def get_lactation(
    caller: Caller,
    conn: Db,
    animal_id: PathId,
    start: Annotated[AwareDatetime | None, Query(description="default: 305 days before end")] = None,
    end: Annotated[AwareDatetime | None, Query(description="default: now")] = None,
    calving: Annotated[
        date | None,
        Query(description="calving date; default: the cow's in the registry, else the day before the first milking"),
    ] = None,
    tz: Annotated[str, Query(max_length=64, description="time zone of the farm's days")] = "UTC",
) -> LactationOut:
    """Wood lactation curve (a, b, c, peak day and yield) fitted to the cow's 24-h-equivalent daily yields of
    ``[start, end)`` (at most 400 days)."""
    animal = visible_animal(conn, caller, animal_id)
    start_, end_ = _window(start, end, timedelta(days=305), timedelta(days=400))
    tz_ = _tz(tz)
    if calving is not None and not date(1970, 1, 1) <= calving <= end_.date():
        raise _invalid(
            ("query", "calving"), "a calving date between 1970 and the end of the window", calving.isoformat()
        )
    calving = calving if calving is not None else animal.calving_date
    frame = load_readings(conn, animal.id, start_, end_, metrics=["milk_yield", "milking_interval"])
    fit = None
    reason = None
    try:
        report = clean(lactation_report(frame, calving=None if calving is None else pd.Timestamp(calving), tz=tz_))
    except AnalyticsError as exc:
        reason = str(exc)
    else:
        if all(report.get(k) is not None for k in ("a", "b", "c")):
            fit = WoodFitOut.model_validate(report)
        else:
            reason = "the Wood fit did not converge"
    return LactationOut(animal_id=animal.id, start=start_, end=end_, tz=tz_, fit=fit, reason=reason)
