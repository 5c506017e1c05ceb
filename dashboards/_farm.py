# Panel SQL is Grafana query text built from constants and Grafana's own placeholders ($clinic, $__timeFilter);
# Vigie never executes it with user input, so the string-built-SQL rule does not apply here.
# ruff: noqa: S608
"""The horse intake and dairy herd dashboards."""

from __future__ import annotations

from dashboards._glucose import tz_variable
from dashboards._model import Dashboard, Override, Panel, Query, Row
from dashboards._sql import (
    ANIMALS,
    CLINIC,
    DEVICES,
    TZ,
    animal_variable,
    clinic_variable,
    device_variable,
    rolled_series,
)

QUARTERS = ("lf", "rf", "lr", "rr")
CONDUCTIVITY = tuple(f"conductivity_{q}" for q in QUARTERS)
HORSES = ("horse", "pony", "donkey")
BASELINE_DAYS = 7

_DAY_FROM = f"time_bucket('1 day', $__timeFrom()::timestamptz, {TZ})"


def daily_with_baseline(metric: str) -> str:
    """CTEs ``days``, ``who``, ``daily``, ``filled``: per selected animal and local day, the day's total of
    ``metric`` (hourly rollup, 0 on a day without any) and the mean of the 7 days before it (``baseline``)."""
    return f"""WITH days AS (
  SELECT (d::date::timestamp AT TIME ZONE {TZ}) AS day
  FROM generate_series(($__timeFrom()::timestamptz AT TIME ZONE {TZ})::date - {BASELINE_DAYS},
                       ($__timeTo()::timestamptz AT TIME ZONE {TZ})::date, interval '1 day') AS d
), who AS (
  SELECT id, name FROM animals WHERE clinic_id = {CLINIC} AND id = ANY ({ANIMALS})
), daily AS (
  SELECT time_bucket('1 day', bucket, {TZ}) AS day, animal_id, sum(sum) AS total
  FROM readings_hourly
  WHERE clinic_id = {CLINIC} AND metric = '{metric}' AND animal_id = ANY ({ANIMALS}) AND device_id = ANY ({DEVICES})
    AND bucket >= $__timeFrom()::timestamptz - interval '{BASELINE_DAYS + 2} days'
    AND bucket <= $__timeTo()::timestamptz
  GROUP BY 1, 2
), filled AS (
  SELECT d.day, w.id, w.name, coalesce(x.total, 0) AS total,
         avg(coalesce(x.total, 0)) OVER (PARTITION BY w.id ORDER BY d.day
                                         ROWS BETWEEN {BASELINE_DAYS} PRECEDING AND 1 PRECEDING) AS baseline
  FROM days d CROSS JOIN who w LEFT JOIN daily x ON x.day = d.day AND x.animal_id = w.id
)"""


def _per_animal_daily(metric: str, what: str) -> str:
    return f"""{daily_with_baseline(metric)}
SELECT day AS "time", name AS metric, total AS "{what}", baseline AS "baseline"
FROM filled
WHERE day >= {_DAY_FROM}
ORDER BY 1, 2"""


def _bars_and_baseline(what: str) -> tuple[Override, ...]:
    return (
        Override(f".* {what}$", {"custom.drawStyle": "bars", "custom.fillOpacity": 60}, regex=True),
        Override(".* baseline$", {"custom.lineStyle": {"fill": "dash", "dash": [10, 10]}}, regex=True),
    )


def _heatmap() -> Panel:
    hours = ",\n       ".join(
        f'sum(sum) FILTER (WHERE extract(hour FROM bucket AT TIME ZONE {TZ}) = {h}) AS "{h:02d}"' for h in range(24)
    )
    sql = f"""SELECT time_bucket('1 day', bucket, {TZ}) AS "time",
       {hours}
FROM readings_hourly
WHERE $__timeFilter(bucket) AND clinic_id = {CLINIC} AND metric = 'eating_time' AND animal_id = ANY ({ANIMALS})
  AND device_id = ANY ({DEVICES})
GROUP BY 1
ORDER BY 1"""
    return Panel(
        "Eating pattern: minutes eating per hour of day ($tz)",
        "heatmap",
        (Query(sql, ("time", *(f"{h:02d}" for h in range(24)))),),
        description=(
            "Minutes of feeding bouts per local hour (rows) and day (columns), summed over the selected horses; "
            "a horse eats 12-16 h a day, so a pale band that grows is a horse going off feed."
        ),
        width=24,
        height=10,
        options={
            "calculate": False,
            "cellGap": 1,
            "color": {
                "mode": "scheme",
                "scheme": "Greens",
                "fill": "dark-green",
                "exponent": 0.5,
                "steps": 64,
                "reverse": False,
            },
            "yAxis": {"axisPlacement": "left", "axisLabel": "hour of day", "reverse": False},
            "rowsFrame": {"layout": "auto"},
            "cellValues": {"unit": "m", "decimals": 0},
            "legend": {"show": True},
            "tooltip": {"mode": "single", "yHistogram": False},
            "exemplars": {"color": "rgba(255,0,255,0.7)"},
            "filterValues": {"le": 1e-9},
        },
    )


def _horse_table() -> Panel:
    sql = f"""{daily_with_baseline("feed_intake")}, water AS (
  SELECT time_bucket('1 day', bucket, {TZ}) AS day, animal_id, sum(sum) AS litres
  FROM readings_hourly
  WHERE clinic_id = {CLINIC} AND metric = 'water_intake' AND animal_id = ANY ({ANIMALS}) AND device_id = ANY ({DEVICES})
    AND bucket >= $__timeTo()::timestamptz - interval '3 days' AND bucket <= $__timeTo()::timestamptz
  GROUP BY 1, 2
)
SELECT f.name AS "horse", f.day AS "day", f.total AS "forage (kg)", f.baseline AS "7-day mean (kg)",
       100.0 * f.total / nullif(f.baseline, 0) AS "% of mean", w.litres AS "water (L)"
FROM filled f
LEFT JOIN water w ON w.day = f.day AND w.animal_id = f.id
WHERE f.day = time_bucket('1 day', $__timeTo()::timestamptz, {TZ}) - interval '1 day'
ORDER BY 5 NULLS LAST"""
    return Panel(
        "Yesterday against each horse's own week ($tz)",
        "table",
        (Query(sql, ("horse", "day", "forage (kg)", "7-day mean (kg)", "% of mean", "water (L)"), "table"),),
        description=(
            "Forage eaten on the last complete day against the mean of the 7 days before. Below 70 % deserves a "
            "look, below 50 % a call (heuristics, domain.md §2)."
        ),
        width=24,
        height=8,
        decimals=1,
        overrides=(
            Override("day", {"unit": "time:YYYY-MM-DD"}),
            Override(
                "% of mean",
                {
                    "custom.cellOptions": {"type": "color-background"},
                    "thresholds": {
                        "mode": "absolute",
                        "steps": [
                            {"color": "red", "value": None},
                            {"color": "orange", "value": 50},
                            {"color": "green", "value": 70},
                        ],
                    },
                },
            ),
        ),
        options={"showHeader": True, "cellHeight": "sm"},
    )


def horse_dashboard() -> Dashboard:
    """Daily intake vs baseline, water, eating-pattern heatmap."""
    return Dashboard(
        uid="vigie-horse-intake",
        title="Vigie · Horse intake",
        description="Horses on smart feeders and drinkers: daily forage against each horse's own week, water, pattern.",
        tags=("vigie", "horse", "feeder"),
        variables=(
            clinic_variable(),
            animal_variable(HORSES, multi=True, label="Horse"),
            device_variable(("feeder",)),
            tz_variable(),
        ),
        time_from="now-30d",
        items=(
            _horse_table(),
            Panel(
                "Forage per day against the 7-day mean (kg, $tz)",
                "timeseries",
                (Query(_per_animal_daily("feed_intake", "intake"), ("time", "metric", "intake", "baseline")),),
                description="Daily forage (bars, hourly rollup summed per local day) and the mean of the 7 days before.",
                width=12,
                height=9,
                unit="masskg",
                decimals=1,
                custom={"drawStyle": "line", "lineWidth": 2, "showPoints": "never"},
                overrides=_bars_and_baseline("intake"),
            ),
            Panel(
                "Water per day against the 7-day mean (L, $tz)",
                "timeseries",
                (Query(_per_animal_daily("water_intake", "water"), ("time", "metric", "water", "baseline")),),
                description="Daily water drunk (bars) and the mean of the 7 days before.",
                width=12,
                height=9,
                unit="litre",
                decimals=1,
                custom={"drawStyle": "line", "lineWidth": 2, "showPoints": "never"},
                overrides=_bars_and_baseline("water"),
            ),
            Row("Pattern"),
            _heatmap(),
        ),
    )


def _herd_yield() -> Panel:
    sql = f"""{daily_with_baseline("milk_yield")}
SELECT day AS "time", sum(total) AS "milk yield", sum(baseline) AS "expected"
FROM filled
WHERE day >= {_DAY_FROM}
GROUP BY 1
ORDER BY 1"""
    return Panel(
        "Herd milk yield against expected (kg/day, $tz)",
        "timeseries",
        (Query(sql, ("time", "milk yield", "expected")),),
        description=(
            "Milk harvested per local day by the selected cows (hourly rollup) against what each cow gave on "
            "average over her 7 previous days, summed."
        ),
        width=12,
        height=9,
        unit="masskg",
        decimals=0,
        custom={"drawStyle": "line", "lineWidth": 2, "showPoints": "never"},
        overrides=(
            Override("milk yield", {"custom.drawStyle": "bars", "custom.fillOpacity": 60}),
            Override("expected", {"custom.lineStyle": {"fill": "dash", "dash": [10, 10]}}),
        ),
    )


def _cow_yield_table() -> Panel:
    sql = f"""{daily_with_baseline("milk_yield")}
SELECT name AS "cow", day AS "day", total AS "milk (kg)", baseline AS "expected (kg)",
       100.0 * total / nullif(baseline, 0) AS "% of expected"
FROM filled
WHERE day = time_bucket('1 day', $__timeTo()::timestamptz, {TZ}) - interval '1 day'
ORDER BY 5 NULLS LAST"""
    return Panel(
        "Yesterday per cow against her own week ($tz)",
        "table",
        (Query(sql, ("cow", "day", "milk (kg)", "expected (kg)", "% of expected"), "table"),),
        description="A sudden drop against the cow's own recent yield comes before many diseases (mastitis, ketosis, lameness).",
        width=12,
        height=9,
        decimals=1,
        overrides=(
            Override("day", {"unit": "time:YYYY-MM-DD"}),
            Override(
                "% of expected",
                {
                    "custom.cellOptions": {"type": "color-background"},
                    "thresholds": {
                        "mode": "absolute",
                        "steps": [
                            {"color": "red", "value": None},
                            {"color": "orange", "value": 80},
                            {"color": "green", "value": 90},
                        ],
                    },
                },
            ),
        ),
        options={"showHeader": True, "cellHeight": "sm"},
    )


def _conductivity_table() -> Panel:
    cols = ",\n       ".join(
        f"max(q.ec) FILTER (WHERE q.metric = 'conductivity_{q}') AS \"{q.upper()}\"" for q in QUARTERS
    )
    sql = f"""WITH q AS (
  SELECT animal_id, metric, avg(value) AS ec
  FROM readings
  WHERE clinic_id = {CLINIC} AND animal_id = ANY ({ANIMALS}) AND device_id = ANY ({DEVICES}) AND metric IN ({", ".join(f"'{m}'" for m in CONDUCTIVITY)})
    AND time > $__timeTo()::timestamptz - interval '24 hours' AND time <= $__timeTo()::timestamptz
  GROUP BY 1, 2
)
SELECT a.name AS "cow",
       {cols},
       max(q.ec) / nullif((sum(q.ec) - max(q.ec)) / nullif(count(*) - 1, 0), 0) AS "highest / others"
FROM q JOIN animals a ON a.id = q.animal_id
GROUP BY a.name
ORDER BY 6 DESC NULLS LAST"""
    return Panel(
        "Conductivity by quarter, last 24 h (mS/cm)",
        "table",
        (Query(sql, ("cow", "LF", "RF", "LR", "RR", "highest / others"), "table"),),
        description=(
            "Mean milk conductivity of each quarter over the 24 h before the end of the range, and the highest "
            "quarter against the mean of the other three: a quarter 15 % above its neighbours suggests mastitis."
        ),
        width=12,
        height=9,
        decimals=2,
        overrides=(
            Override(
                "highest / others",
                {
                    "custom.cellOptions": {"type": "color-background"},
                    "thresholds": {
                        "mode": "absolute",
                        "steps": [
                            {"color": "green", "value": None},
                            {"color": "orange", "value": 1.1},
                            {"color": "red", "value": 1.15},
                        ],
                    },
                },
            ),
        ),
        options={"showHeader": True, "cellHeight": "sm"},
    )


def open_alerts_sql(species: tuple[str, ...] | None) -> str:
    """Open and acknowledged alerts of the clinic (optionally only animals of some species)."""
    kinds = "" if species is None else f" AND an.species IN ({', '.join(repr(s) for s in species)})"
    return f"""SELECT a.opened_at AS "opened", a.severity AS "severity", a.category AS "category",
       coalesce(an.name, a.animal_id, '-') AS "animal", coalesce(a.device_id, '-') AS "device",
       a.status AS "status", a.explanation AS "explanation"
FROM alerts a
LEFT JOIN animals an ON an.id = a.animal_id
WHERE a.clinic_id = {CLINIC} AND a.status <> 'resolved'
  AND (a.animal_id = ANY ({ANIMALS}) OR a.animal_id IS NULL){kinds}
ORDER BY CASE a.severity WHEN 'urgent' THEN 0 WHEN 'review' THEN 1 ELSE 2 END, a.opened_at DESC"""


ALERT_COLUMNS = ("opened", "severity", "category", "animal", "device", "status", "explanation")
SEVERITY_COLOURS = Override(
    "severity",
    {
        "custom.cellOptions": {"type": "color-text"},
        "mappings": [
            {
                "type": "value",
                "options": {
                    "urgent": {"color": "red", "index": 0},
                    "review": {"color": "orange", "index": 1},
                    "info": {"color": "blue", "index": 2},
                },
            }
        ],
    },
)


def herd_dashboard() -> Dashboard:
    """Milk yield vs expected, conductivity by quarter, cows with open alerts."""
    return Dashboard(
        uid="vigie-herd",
        title="Vigie · Dairy herd",
        description="Cows milked by a robot: yield against expected, conductivity per quarter, open alerts.",
        tags=("vigie", "dairy", "herd"),
        variables=(
            clinic_variable(),
            animal_variable(("cow",), multi=True, label="Cow"),
            device_variable(("milking",)),
            tz_variable(),
        ),
        time_from="now-30d",
        items=(
            Panel(
                "Cows with open alerts",
                "table",
                (Query(open_alerts_sql(("cow",)), ALERT_COLUMNS, "table"),),
                description="Alerts not yet resolved for the selected cows, most severe first.",
                width=24,
                height=7,
                overrides=(SEVERITY_COLOURS,),
                options={"showHeader": True, "cellHeight": "sm"},
            ),
            _herd_yield(),
            _cow_yield_table(),
            Row("Udder health"),
            Panel(
                "Conductivity by quarter (mS/cm)",
                "timeseries",
                (
                    Query(
                        rolled_series(
                            metrics=CONDUCTIVITY,
                            where=f"animal_id = ANY ({ANIMALS}) AND device_id = ANY ({DEVICES})",
                            agg="avg",
                            label="upper(right(metric, 2))",
                            name="conductivity",
                        ),
                        ("time", "metric", "conductivity"),
                    ),
                ),
                description=(
                    "Mean milk conductivity per quarter (LF, RF, LR, RR) of the selected cows; select one cow to "
                    "follow her quarters. Raw readings below 1 h, hourly and daily rollups above."
                ),
                width=12,
                height=9,
                decimals=2,
                custom={"drawStyle": "line", "lineWidth": 1, "showPoints": "auto", "spanNulls": True},
            ),
            _conductivity_table(),
        ),
    )
