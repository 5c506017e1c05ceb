"""What the patient page draws and tabulates: the chart's data (embedded as JSON, drawn by plotly.js in the browser),
thresholds from the animal's effective rules, and the analytics reports (glucose curve, horse intake, cow yield).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, Final, cast

import pandas as pd

from api._accounts import Conn
from api.web import _data
from api.web._i18n import DISPLAY_TZ, fmt_number, glucose_digits, local, translate
from rules._config import EffectiveRules, RuleSet, load_rules
from vigie.catalog import GLUCOSE_UNITS, convert_glucose

RANGES: Final[dict[str, timedelta]] = {
    "6h": timedelta(hours=6),
    "24h": timedelta(hours=24),
    "3d": timedelta(days=3),
    "14d": timedelta(days=14),
}
DEFAULT_RANGE: Final = "24h"
GLUCOSE_SPECIES: Final = frozenset({"dog", "cat"})
EQUINE_SPECIES: Final = frozenset({"horse", "pony", "donkey"})
MAX_POINTS: Final = 4000  # per trace; above, pairs of (min, max) per bucket keep the lows and highs visible
DEFAULT_STALE_MIN: Final = 6 * 60.0
TABLE_DAYS: Final = 14

# colours with at least 4.5:1 contrast on white for lines and text, light fills for bands
COLOURS: Final = {
    "glucose": "#1b4f8a",
    "insulin": "#6a1b9a",
    "meal": "#8a4b00",
    "forage": "#2e6b30",
    "water": "#1b4f8a",
    "milk": "#1b4f8a",
    "hypo": "rgba(200, 30, 30, 0.16)",
    "hypo_severe": "rgba(200, 30, 30, 0.30)",
    "hyper": "rgba(230, 140, 0, 0.18)",
    "target": "rgba(40, 140, 60, 0.10)",
    "alert": "rgba(230, 120, 0, 0.22)",
}


@lru_cache(maxsize=4)
def ruleset(directory: Path) -> RuleSet:
    """The rule files of ``directory`` (read once per process)."""
    return load_rules(directory)


def effective(conn: Conn, rules_dir: Path, animal: _data.AnimalRow) -> EffectiveRules:
    """The animal's rules with its clinic's and its own overrides (as the rules service evaluates them)."""
    clinic, own = _data.rule_overrides(conn, animal)
    return ruleset(rules_dir).for_animal(animal.species, clinic=clinic, animal=own)


def stale_after(rules: EffectiveRules) -> timedelta:
    """How old the last reading may be before the data are flagged stale (the species' silence rule)."""
    for rule in rules.rules:
        if rule.kind == "stale" and "streaming_max_min" in rule.params:
            return timedelta(minutes=rule.num("streaming_max_min"))
        if rule.kind == "no_event" and "max_silence_h" in rule.params:
            return timedelta(hours=rule.num("max_silence_h"))
    return timedelta(minutes=DEFAULT_STALE_MIN)


def stale_by_species(rules_dir: Path, species: str) -> timedelta:
    """:func:`stale_after` of a species' default rules (the triage list does not read every override)."""
    return stale_after(ruleset(rules_dir).for_animal(species))


def _x(t: datetime) -> str:
    """A time as plotly reads it: local wall-clock time without offset (plotly.js dates carry no time zone)."""
    return local(t).strftime("%Y-%m-%dT%H:%M:%S")


def _thin(points: list[tuple[datetime, float]]) -> list[tuple[datetime, float]]:
    if len(points) <= MAX_POINTS:
        return points
    size = math.ceil(len(points) / (MAX_POINTS // 2))
    out: list[tuple[datetime, float]] = []
    for i in range(0, len(points), size):
        chunk = points[i : i + size]
        lo = min(chunk, key=lambda p: p[1])
        hi = max(chunk, key=lambda p: p[1])
        out.extend(sorted({lo, hi}))
    return out


def _series(name: str, points: list[tuple[datetime, float]], kind: str, colour: str, **extra: Any) -> dict[str, Any]:
    pts = _thin(points)
    return {
        "name": name,
        "kind": kind,
        "color": colour,
        "x": [_x(t) for t, _ in pts],
        "y": [v for _, v in pts],
        **extra,
    }


def _layout(lang: str, start: datetime, end: datetime, y_title: str) -> dict[str, Any]:
    return {
        "x_range": [_x(start), _x(end)],
        "y_title": y_title,
        "x_title": translate(lang, "chart.time"),
        "separators": ", " if lang == "fr" else ".,",
        "tickformat": "%d/%m %H:%M" if lang == "fr" else "%b %d, %H:%M",
        "tickformat_narrow": "%d/%m<br>%H:%M" if lang == "fr" else "%b %d<br>%H:%M",
    }


def _windows(lang: str, alerts: list[_data.AlertRow], start: datetime, end: datetime) -> list[dict[str, Any]]:
    out = []
    for a in alerts:
        if a.window_end < start or a.window_start > end:
            continue
        x1 = a.window_end if a.window_end > a.window_start else a.window_start + timedelta(minutes=5)
        label = f"{translate(lang, 'chart.alert')} : " if lang == "fr" else f"{translate(lang, 'chart.alert')}: "
        out.append(
            {
                "x0": _x(max(a.window_start, start)),
                "x1": _x(min(x1, end)),
                "label": label + translate(lang, f"category.{a.category}"),
                "color": COLOURS["alert"],
            }
        )
    return out


def glucose_unit(requested: str | None, default: str) -> str:
    """The unit asked for if valid, else ``default``."""
    return requested if requested in GLUCOSE_UNITS else default


def _g(value: float, unit: str) -> float:
    return round(convert_glucose(value, unit), glucose_digits(unit) + 1)


def glucose_bands(rules: EffectiveRules, species: str, unit: str, lang: str) -> list[dict[str, Any]]:
    """Shaded thresholds of the effective rules (low, severe low, high) and the species' target range, in ``unit``."""
    from analytics import species_range  # noqa: PLC0415 - loads numpy/pandas

    digits = glucose_digits(unit)
    bands: list[dict[str, Any]] = []
    target = species_range(species)
    low_t, high_t = _g(target.low, unit), _g(target.high, unit)
    bands.append(
        {
            "y0": low_t,
            "y1": high_t,
            "color": COLOURS["target"],
            "label": translate(
                lang, "chart.target", low=fmt_number(low_t, lang, digits), high=fmt_number(high_t, lang, digits)
            ),
        }
    )
    for rule in rules.rules:
        if rule.kind != "threshold" or rule.params.get("metric") != "glucose":
            continue
        value = _g(rule.num("threshold"), unit)
        shown = fmt_number(value, lang, digits)
        if rule.params.get("op") == "below":
            bands.append(
                {"y0": 0.0, "y1": value, "color": COLOURS["hypo"], "label": translate(lang, "chart.hypo", value=shown)}
            )
            if "urgent_below" in rule.params:
                severe = _g(rule.num("urgent_below"), unit)
                bands.append(
                    {
                        "y0": 0.0,
                        "y1": severe,
                        "color": COLOURS["hypo_severe"],
                        "label": translate(lang, "chart.hypo_severe", value=fmt_number(severe, lang, digits)),
                    }
                )
        elif rule.params.get("op") == "above":
            bands.append(
                {
                    "y0": value,
                    "y1": None,
                    "color": COLOURS["hyper"],
                    "label": translate(lang, "chart.hyper", value=shown),
                }
            )
    return bands


@dataclass(frozen=True, slots=True)
class Patient:
    """Everything the patient page shows about the readings of one period."""

    chart: dict[str, Any] | None
    has_data: bool
    glucose_report: dict[str, Any] | None
    intake_days: list[dict[str, Any]] | None
    milk_days: list[dict[str, Any]] | None
    lactation: dict[str, Any] | None


def glucose_view(
    conn: Conn,
    animal: _data.AnimalRow,
    rules: EffectiveRules,
    alerts: list[_data.AlertRow],
    window: tuple[datetime, datetime],
    unit: str,
    lang: str,
) -> Patient:
    """Glucose line, insulin doses and meals, thresholds and alert windows; the glucose-curve report."""
    from analytics import NoDataError, species_range  # noqa: PLC0415
    from analytics._report import glucose_report  # noqa: PLC0415

    start, end = window
    data = _data.readings(conn, animal, ("glucose", "insulin_dose", "meal"), start, end)
    glucose = [(t, _g(v, unit)) for t, v in data["glucose"]]
    name = translate(lang, "chart.glucose", unit=unit)
    top = max([v for _, v in glucose] + [_g(300.0, unit)])
    chart = {
        **_layout(lang, start, end, name),
        "kind": "glucose",
        "filename": f"vigie-{animal.name}",
        "y_range": [0, top * 1.08],
        "traces": [
            _series(name, glucose, "line", COLOURS["glucose"]),
            _series(
                translate(lang, "chart.insulin"),
                data["insulin_dose"],
                "event",
                COLOURS["insulin"],
                row=0.96,
                symbol="triangle-down",
            ),
            _series(translate(lang, "chart.meal"), data["meal"], "event", COLOURS["meal"], row=0.88, symbol="circle"),
        ],
        "bands": glucose_bands(rules, animal.species, unit, lang),
        "windows": _windows(lang, alerts, start, end),
    }
    report = None
    if data["glucose"]:
        frame = _frame(animal, data)
        try:
            report = glucose_report(frame, species_range(animal.species), unit=unit)
            for cycle in report["cycles"]:
                cycle["injection_at"] = datetime.fromisoformat(cycle["injection"])
        except NoDataError:
            report = None
    return Patient(chart, bool(data["glucose"]), report, None, None, None)


def _frame(animal: _data.AnimalRow, data: dict[str, list[tuple[datetime, float]]]) -> pd.DataFrame:
    rows = [(t, "", animal.id, metric, v) for metric, points in data.items() for t, v in points]
    frame = pd.DataFrame(rows, columns=["time", "device_id", "animal_id", "metric", "value"])
    frame["time"] = pd.to_datetime(frame["time"], utc=True)
    frame["value"] = frame["value"].astype("float64")
    return frame.sort_values("time", kind="stable").reset_index(drop=True)


def _day_rows(table: pd.DataFrame, columns: dict[str, str]) -> list[dict[str, Any]]:
    out = []
    for day, row in table.tail(TABLE_DAYS).iloc[::-1].iterrows():
        item: dict[str, Any] = {
            "day": pd.Timestamp(cast(Any, day)).to_pydatetime(),
            "complete": bool(row.get("complete", True)),
        }
        for key, col in columns.items():
            value = row.get(col)
            item[key] = None if value is None or pd.isna(value) else float(value)
        out.append(item)
    return out


def intake_view(
    conn: Conn,
    animal: _data.AnimalRow,
    alerts: list[_data.AlertRow],
    window: tuple[datetime, datetime],
    now: datetime,
    lang: str,
) -> Patient:
    """Forage and water per feeder visit over the period; the daily intake table with the horse's baselines."""
    from analytics import NoDataError, daily_intake  # noqa: PLC0415

    start, end = window
    data = _data.readings(conn, animal, ("feed_intake", "water_intake"), start, end)
    chart = {
        **_layout(lang, start, end, translate(lang, "chart.forage")),
        "kind": "intake",
        "filename": f"vigie-{animal.name}",
        "y2_title": translate(lang, "chart.water"),
        "traces": [
            _series(translate(lang, "chart.forage"), data["feed_intake"], "bar", COLOURS["forage"]),
            _series(translate(lang, "chart.water"), data["water_intake"], "line2", COLOURS["water"]),
        ],
        "bands": [],
        "windows": _windows(lang, alerts, start, end),
    }
    span = (now - timedelta(days=TABLE_DAYS + 7), now)
    metrics = ("feed_intake", "concentrate_intake", "water_intake", "eating_time", "body_weight")
    history = _data.readings(conn, animal, metrics, *span)
    days = None
    if any(history.values()):
        try:
            table = daily_intake(
                _frame(animal, history),
                tz=str(DISPLAY_TZ),
                span=(pd.Timestamp(span[0]), pd.Timestamp(span[1])),
            )
            days = _day_rows(
                table,
                {
                    "forage": "forage_kg",
                    "forage_pct": "forage_kg_pct_baseline",
                    "water": "water_l",
                    "water_pct": "water_l_pct_baseline",
                },
            )
        except NoDataError:
            days = None
    has = bool(data["feed_intake"] or data["water_intake"])
    return Patient(chart, has, None, days, None, None)


def milk_view(
    conn: Conn,
    animal: _data.AnimalRow,
    alerts: list[_data.AlertRow],
    window: tuple[datetime, datetime],
    now: datetime,
    lang: str,
) -> Patient:
    """Milk per milking over the period; the daily yield table against the cow's baseline; a Wood fit if possible."""
    from analytics import AnalyticsError, cow_daily  # noqa: PLC0415

    start, end = window
    data = _data.readings(conn, animal, ("milk_yield",), start, end)
    chart = {
        **_layout(lang, start, end, translate(lang, "chart.milk")),
        "kind": "milk",
        "filename": f"vigie-{animal.name}",
        "traces": [_series(translate(lang, "chart.milk"), data["milk_yield"], "markers", COLOURS["milk"])],
        "bands": [],
        "windows": _windows(lang, alerts, start, end),
    }
    span = (now - timedelta(days=TABLE_DAYS + 7), now)
    history = _data.readings(conn, animal, ("milk_yield", "milking_interval", "rumination"), *span)
    days = None
    lactation = None
    if history["milk_yield"]:
        frame = _frame(animal, history)
        try:
            table = cow_daily(frame, tz=str(DISPLAY_TZ), span=(pd.Timestamp(span[0]), pd.Timestamp(span[1])))
            days = _day_rows(
                table,
                {
                    "milkings": "milkings",
                    "yield": "yield_24h",
                    "baseline": "yield_24h_baseline",
                    "pct": "yield_24h_pct_baseline",
                },
            )
        except AnalyticsError:
            days = None
    if animal.calving_date is not None:  # a Wood fit needs day 0: without it a peak day would be meaningless
        lactation = _lactation(conn, animal, animal.calving_date, now)
    return Patient(chart, bool(data["milk_yield"]), None, None, days, lactation)


def _lactation(conn: Conn, animal: _data.AnimalRow, calving: date, now: datetime) -> dict[str, Any]:
    """The Wood fit of the cow's lactation so far (at most 305 days from her calving), and her day in milk."""
    from analytics import AnalyticsError  # noqa: PLC0415
    from analytics._report import lactation_report  # noqa: PLC0415

    day0 = datetime.combine(calving, datetime.min.time(), DISPLAY_TZ)
    since = _data.readings(conn, animal, ("milk_yield", "milking_interval"), max(day0, now - timedelta(days=305)), now)
    report: dict[str, Any] = {}
    if since["milk_yield"]:
        try:
            report = lactation_report(_frame(animal, since), calving=pd.Timestamp(calving), tz=str(DISPLAY_TZ))
        except (AnalyticsError, ValueError, RuntimeError):
            report = {}
    return {**report, "calving": calving, "dim_today": (local(now).date() - calving).days}
