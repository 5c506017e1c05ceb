# Panel SQL is Grafana query text built from constants and Grafana's own placeholders ($clinic, $__timeFilter);
# Vigie never executes it with user input, so the string-built-SQL rule does not apply here.
# ruff: noqa: S608
"""The patient glucose dashboard (dogs and cats with a CGM)."""

from __future__ import annotations

from dashboards._model import Annotation, CustomVariable, Dashboard, Override, Panel, Query, Row
from dashboards._sql import (
    CLINIC,
    DEVICES,
    GLUCOSE_DIVISOR,
    TZ,
    animal_variable,
    clinic_variable,
    device_variable,
    glucose_unit_variable,
    rolled_series,
)

# target range for time in range, mg/dL: 80-250 (shared/reference/domain.md §1.2, §1.6: nadir ≥ 80, mean < 250)
TARGET_LOW_MG_DL = 80.0
TARGET_HIGH_MG_DL = 250.0
TIMEZONES = ("Europe/Paris", "UTC", "Europe/Brussels", "Europe/Zurich", "Europe/London", "America/Toronto")

_PATIENT = f"clinic_id = {CLINIC} AND animal_id = '$animal'"
_CGM = f"{_PATIENT} AND device_id = ANY ({DEVICES})"


def tz_variable() -> CustomVariable:
    """``$tz``: the time zone that defines a farm's or an owner's day (daily totals, hour-of-day patterns)."""
    return CustomVariable("tz", "Time zone", TIMEZONES)


def _cgm_panel() -> Panel:
    series = rolled_series(
        metrics=("glucose",),
        where=f"animal_id = '$animal' AND device_id = ANY ({DEVICES})",
        agg="avg",
        label="'glucose'",
        value=f"{{v}} / {GLUCOSE_DIVISOR}",
        name="glucose",
    )
    bands = f"""SELECT $__timeFrom()::timestamptz AS "time",
       {TARGET_LOW_MG_DL} / {GLUCOSE_DIVISOR} AS "target low",
       {TARGET_HIGH_MG_DL} / {GLUCOSE_DIVISOR} AS "target high"
UNION ALL
SELECT $__timeTo()::timestamptz, {TARGET_LOW_MG_DL} / {GLUCOSE_DIVISOR}, {TARGET_HIGH_MG_DL} / {GLUCOSE_DIVISOR}
ORDER BY 1"""
    band_style = {
        "custom.lineStyle": {"fill": "dash", "dash": [10, 10]},
        "color": {"mode": "fixed", "fixedColor": "green"},
        "custom.lineWidth": 1,
    }
    return Panel(
        "Glucose ($unit)",
        "timeseries",
        (Query(series, ("time", "metric", "glucose")), Query(bands, ("time", "target low", "target high"), ref_id="B")),
        description=(
            "CGM glucose, averaged per interval (raw readings below 1 h, hourly rollup for whole hours, daily rollup "
            "for whole days), with the target range 80-250 mg/dL shaded. Insulin, meals and alerts are annotations. "
            "CGM lows are unreliable in animals: confirm with a glucometer."
        ),
        width=24,
        height=10,
        unit="none",
        decimals=1,
        custom={"drawStyle": "line", "lineWidth": 2, "spanNulls": 600000, "fillOpacity": 0, "showPoints": "never"},
        overrides=(
            Override("target high", {**band_style, "custom.fillBelowTo": "target low", "custom.fillOpacity": 12}),
            Override("target low", band_style),
        ),
        options={
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
            "tooltip": {"mode": "multi", "sort": "none"},
        },
    )


def _overlay_panel() -> Panel:
    sql = f"""SELECT time_bucket('5 minutes', r.time) + d.days * interval '1 day' AS "time",
       CASE WHEN d.days = 0 THEN 'last 24 h' ELSE d.days || ' d earlier' END AS metric,
       avg(r.value) / {GLUCOSE_DIVISOR} AS glucose
FROM readings r
CROSS JOIN LATERAL (
  SELECT floor(extract(epoch FROM $__timeTo()::timestamptz - r.time) / 86400)::int AS days
) AS d
WHERE r.clinic_id = {CLINIC} AND r.animal_id = '$animal' AND r.device_id = ANY ({DEVICES}) AND r.metric = 'glucose'
  AND r.time > $__timeTo()::timestamptz - $overlay_days * interval '1 day' AND r.time <= $__timeTo()::timestamptz
GROUP BY 1, 2
ORDER BY 1, 2"""
    return Panel(
        "Daily curves overlaid ($overlay_days days, $unit)",
        "timeseries",
        (Query(sql, ("time", "metric", "glucose")),),
        description=(
            "Each earlier day shifted by whole days onto the last 24 hours (5-minute means), to compare the daily "
            "curve around injections and meals. The panel always shows the last 24 h (its own relative time), whatever the dashboard range."
        ),
        width=16,
        height=10,
        unit="none",
        decimals=1,
        time_from="24h",
        custom={"drawStyle": "line", "lineWidth": 1, "spanNulls": 900000, "showPoints": "never"},
        overrides=(Override("last 24 h", {"custom.lineWidth": 3, "color": {"mode": "fixed", "fixedColor": "red"}}),),
        options={
            "legend": {"displayMode": "list", "placement": "right", "showLegend": True},
            "tooltip": {"mode": "single", "sort": "none"},
        },
    )


def _tir_panel() -> Panel:
    lo, hi = TARGET_LOW_MG_DL, TARGET_HIGH_MG_DL
    sql = f"""SELECT 100.0 * count(*) FILTER (WHERE value < {lo}) / nullif(count(*), 0) AS "below range",
       100.0 * count(*) FILTER (WHERE value >= {lo} AND value <= {hi}) / nullif(count(*), 0) AS "in range",
       100.0 * count(*) FILTER (WHERE value > {hi}) / nullif(count(*), 0) AS "above range"
FROM readings
WHERE {_CGM} AND metric = 'glucose' AND $__timeFilter(time)"""
    return Panel(
        "Time in range (80-250 mg/dL)",
        "bargauge",
        (Query(sql, ("below range", "in range", "above range"), "table"),),
        description="Share of CGM readings below, in and above 80-250 mg/dL (4.4-13.9 mmol/L) over the time range.",
        width=8,
        height=10,
        unit="percent",
        decimals=0,
        min=0,
        max=100,
        overrides=(
            Override("below range", {"color": {"mode": "fixed", "fixedColor": "red"}}),
            Override("in range", {"color": {"mode": "fixed", "fixedColor": "green"}}),
            Override("above range", {"color": {"mode": "fixed", "fixedColor": "orange"}}),
        ),
        options={
            "orientation": "horizontal",
            "displayMode": "basic",
            "showUnfilled": True,
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        },
    )


def _stats_panel() -> Panel:
    sql = f"""SELECT (SELECT r.value / {GLUCOSE_DIVISOR} FROM readings r
        WHERE r.clinic_id = {CLINIC} AND r.animal_id = '$animal' AND r.device_id = ANY ({DEVICES})
          AND r.metric = 'glucose' AND $__timeFilter(r.time)
        ORDER BY r.time DESC LIMIT 1) AS "latest",
       sum(h.sum) / nullif(sum(h.n), 0) / {GLUCOSE_DIVISOR} AS "mean",
       min(h.min) / {GLUCOSE_DIVISOR} AS "lowest",
       max(h.max) / {GLUCOSE_DIVISOR} AS "highest",
       sum(h.n) AS "readings"
FROM readings_hourly h
WHERE h.clinic_id = {CLINIC} AND h.animal_id = '$animal' AND h.device_id = ANY ({DEVICES})
  AND h.metric = 'glucose' AND $__timeFilter(h.bucket)"""
    return Panel(
        "Summary ($unit)",
        "stat",
        (Query(sql, ("latest", "mean", "lowest", "highest", "readings"), "table"),),
        description="Latest reading (raw) and the mean, lowest and highest over the range (hourly rollup).",
        width=24,
        height=4,
        decimals=1,
        overrides=(Override("readings", {"decimals": 0}),),
        options={
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "none",
            "graphMode": "none",
            "textMode": "value_and_name",
            "orientation": "horizontal",
        },
    )


def _treatment_table() -> Panel:
    sql = f"""SELECT time_bucket('1 day', bucket, {TZ}) AS "day",
       sum(sum) FILTER (WHERE metric = 'insulin_dose') AS "insulin (U)",
       sum(n) FILTER (WHERE metric = 'insulin_dose') AS "injections",
       sum(sum) FILTER (WHERE metric = 'meal') AS "food (g)",
       sum(n) FILTER (WHERE metric = 'meal') AS "meals"
FROM readings_hourly
WHERE clinic_id = {CLINIC} AND animal_id = '$animal' AND metric IN ('insulin_dose', 'meal') AND $__timeFilter(bucket)
GROUP BY 1
ORDER BY 1 DESC"""
    return Panel(
        "Insulin and meals per day ($tz)",
        "table",
        (Query(sql, ("day", "insulin (U)", "injections", "food (g)", "meals"), "table"),),
        description="Daily totals from the hourly rollup, days in the selected time zone.",
        width=24,
        height=8,
        overrides=(Override("day", {"unit": "time:YYYY-MM-DD"}),),
        options={"showHeader": True, "cellHeight": "sm"},
    )


def _annotations() -> tuple[Annotation, ...]:
    insulin = f"""SELECT time AS "time", 'Insulin ' || round(value::numeric, 1) || ' U' AS text, 'insulin' AS tags
FROM readings
WHERE {_PATIENT} AND metric = 'insulin_dose' AND $__timeFilter(time)
ORDER BY 1"""
    meals = f"""SELECT time AS "time", 'Meal ' || round(value::numeric) || ' g' AS text, 'meal' AS tags
FROM readings
WHERE {_PATIENT} AND metric = 'meal' AND $__timeFilter(time)
ORDER BY 1"""
    alerts = f"""SELECT window_start AS "time", window_end AS timeend,
       severity || ': ' || category || ' (' || status || ') ' || explanation AS text, category AS tags
FROM alerts
WHERE clinic_id = {CLINIC} AND animal_id = '$animal' AND window_end >= $__timeFrom()::timestamptz
  AND window_start <= $__timeTo()::timestamptz
ORDER BY 1"""
    return (
        Annotation("Insulin", "blue", Query(insulin, ("time", "text", "tags"), "table", "Insulin")),
        Annotation("Meals", "yellow", Query(meals, ("time", "text", "tags"), "table", "Meals")),
        Annotation("Alerts", "red", Query(alerts, ("time", "timeend", "text", "tags"), "table", "Alerts")),
    )


def glucose_dashboard() -> Dashboard:
    """CGM with target bands, insulin and meal annotations, daily curves overlaid, time in range."""
    return Dashboard(
        uid="vigie-glucose",
        title="Vigie · Patient glucose",
        description="One diabetic dog or cat: CGM glucose, treatment, daily pattern and time in range.",
        tags=("vigie", "glucose", "cgm"),
        variables=(
            clinic_variable(),
            animal_variable(("dog", "cat"), multi=False, label="Patient"),
            device_variable(("cgm",), of_animal="one"),
            glucose_unit_variable(),
            CustomVariable("overlay_days", "Days overlaid", ("14", "7", "28")),
            tz_variable(),
        ),
        annotations=_annotations(),
        time_from="now-14d",
        items=(
            _stats_panel(),
            _cgm_panel(),
            _overlay_panel(),
            _tir_panel(),
            Row("Treatment"),
            _treatment_table(),
        ),
    )
