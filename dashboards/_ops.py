# Panel SQL is Grafana query text built from constants and Grafana's own placeholders ($clinic, $__timeFilter);
# Vigie never executes it with user input, so the string-built-SQL rule does not apply here.
# ruff: noqa: S608
"""The fleet (devices and ingest) and alerts dashboards."""

from __future__ import annotations

from dashboards._farm import ALERT_COLUMNS, SEVERITY_COLOURS, open_alerts_sql
from dashboards._model import Dashboard, Override, Panel, Query, Row
from dashboards._sql import (
    CLINIC,
    DEVICES,
    HOUR_MS,
    RAW_WHEN,
    animal_variable,
    clinic_variable,
    device_variable,
    rolled_series,
)

ALL_SPECIES = ("dog", "cat", "horse", "pony", "donkey", "cow")
_DEVICE = f"clinic_id = {CLINIC} AND device_id = ANY ({DEVICES})"


def _devices_table() -> Panel:
    sql = f"""SELECT d.id AS "device", d.kind AS "kind", coalesce(a.name, '(many animals)') AS "animal",
       d.enabled AS "enabled", coalesce(d.availability, 'unknown') AS "availability",
       d.last_seen AS "last seen", extract(epoch FROM now() - d.last_seen) AS "silent for",
       b.value AS "battery"
FROM devices d
LEFT JOIN animals a ON a.id = d.animal_id
LEFT JOIN LATERAL (
  SELECT r.value FROM readings r
  WHERE r.device_id = d.id AND r.clinic_id = d.clinic_id AND r.metric = 'battery'
    AND r.time > $__timeTo()::timestamptz - interval '30 days' AND r.time <= $__timeTo()::timestamptz
  ORDER BY r.time DESC LIMIT 1
) AS b ON true
WHERE d.clinic_id = {CLINIC} AND d.id = ANY ({DEVICES})
ORDER BY d.last_seen NULLS FIRST, d.id"""

    return Panel(
        "Devices, longest silent first",
        "table",
        (
            Query(
                sql,
                ("device", "kind", "animal", "enabled", "availability", "last seen", "silent for", "battery"),
                "table",
            ),
        ),
        description="Every selected device: binding, state, last telemetry received, and its latest battery level.",
        width=24,
        height=9,
        overrides=(
            Override(
                "silent for",
                {
                    "unit": "s",
                    "decimals": 0,
                    "custom.cellOptions": {"type": "color-text"},
                    "thresholds": {
                        "mode": "absolute",
                        "steps": [
                            {"color": "green", "value": None},
                            {"color": "orange", "value": 900},
                            {"color": "red", "value": 3600},
                        ],
                    },
                },
            ),
            Override(
                "battery",
                {
                    "unit": "percent",
                    "decimals": 0,
                    "custom.cellOptions": {"type": "color-text"},
                    "thresholds": {
                        "mode": "absolute",
                        "steps": [
                            {"color": "red", "value": None},
                            {"color": "orange", "value": 15},
                            {"color": "green", "value": 30},
                        ],
                    },
                },
            ),
            Override("last seen", {"unit": "dateTimeAsIso"}),
        ),
        options={"showHeader": True, "cellHeight": "sm"},
    )


def _ingest_rate() -> Panel:
    sql = f"""SELECT * FROM (
  SELECT $__timeGroupAlias(received_at, $__interval), count(*) * 1000.0 / $__interval_ms AS "readings/s"
  FROM readings
  WHERE $__timeFilter(received_at) AND {_DEVICE}
    AND time > $__timeFrom()::timestamptz - interval '1 day' AND time <= $__timeTo()::timestamptz + interval '1 hour'
    AND {RAW_WHEN}
  GROUP BY 1
  UNION ALL
  SELECT $__timeGroupAlias(bucket, $__interval), sum(n) * 1000.0 / $__interval_ms
  FROM readings_hourly
  WHERE $__timeFilter(bucket) AND {_DEVICE} AND NOT {RAW_WHEN}
  GROUP BY 1
) AS s
ORDER BY 1"""
    return Panel(
        "Ingest rate (readings/s)",
        "timeseries",
        (Query(sql, ("time", "readings/s")),),
        description=(
            "Readings stored per second. Below 1 h per point: by arrival time (received_at, readings measured up to "
            "a day earlier); whole hours and more: by measurement time, from the hourly rollup."
        ),
        width=12,
        height=8,
        unit="reqps",
        custom={"drawStyle": "line", "lineWidth": 1, "fillOpacity": 20, "showPoints": "never"},
    )


def _lag() -> Panel:
    sql = f"""SELECT $__timeGroupAlias(received_at, $__interval),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM received_at - time)) AS "p50",
       percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM received_at - time)) AS "p95",
       max(extract(epoch FROM received_at - time)) AS "max"
FROM readings
WHERE $__timeFilter(received_at) AND {_DEVICE}
  AND time > $__timeFrom()::timestamptz - interval '1 day' AND time <= $__timeTo()::timestamptz + interval '1 hour'
GROUP BY 1
ORDER BY 1"""
    return Panel(
        "Ingest lag: received_at - time (s)",
        "timeseries",
        (Query(sql, ("time", "p50", "p95", "max")),),
        description=(
            "How late readings reach the database after the device measured them: buffering on the device, the "
            "broker and ingest batching. Readings more than a day late are left out."
        ),
        width=12,
        height=8,
        unit="s",
        custom={"drawStyle": "line", "lineWidth": 1, "showPoints": "never"},
        options={
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
            "tooltip": {"mode": "multi", "sort": "none"},
        },
    )


def _quarantine_rate() -> Panel:
    sql = f"""SELECT $__timeGroupAlias(received_at, $__interval), reason AS metric,
       count(*) * {HOUR_MS}.0 / $__interval_ms AS "per hour"
FROM quarantine
WHERE $__timeFilter(received_at) AND {_DEVICE}
GROUP BY 1, 2
ORDER BY 1, 2"""
    return Panel(
        "Quarantined messages per hour, by reason",
        "timeseries",
        (Query(sql, ("time", "metric", "per hour")),),
        description=(
            "Messages ingest refused to store, by reason code (docs/device-contract.md). Messages from unknown "
            "devices belong to no clinic and are not shown here."
        ),
        width=12,
        height=8,
        custom={"drawStyle": "bars", "stacking": {"mode": "normal", "group": "A"}, "fillOpacity": 70},
    )


def _quarantine_share() -> Panel:
    sql = f"""WITH q AS (
  SELECT reason, count(*) AS n FROM quarantine
  WHERE $__timeFilter(received_at) AND {_DEVICE}
  GROUP BY 1
), stored AS (
  SELECT coalesce(sum(n), 0) AS n FROM readings_hourly WHERE $__timeFilter(bucket) AND {_DEVICE}
)
SELECT q.reason AS "reason", q.n AS "messages",
       100.0 * q.n / nullif((SELECT sum(n) FROM q) + (SELECT n FROM stored), 0) AS "% of all"
FROM q
ORDER BY 2 DESC"""
    return Panel(
        "Quarantine by reason over the range",
        "table",
        (Query(sql, ("reason", "messages", "% of all"), "table"),),
        description="Quarantined messages per reason, as a share of everything received (stored readings from the hourly rollup).",
        width=12,
        height=8,
        decimals=2,
        options={"showHeader": True, "cellHeight": "sm"},
    )


def fleet_dashboard() -> Dashboard:
    """Devices last seen, battery, quarantine rates by reason, ingest rate and lag."""
    return Dashboard(
        uid="vigie-fleet",
        title="Vigie · Device fleet and ingest",
        description="Are the clinic's devices talking, charged, and is their telemetry stored promptly?",
        tags=("vigie", "fleet", "ingest"),
        variables=(clinic_variable(), device_variable(("cgm", "feeder", "milking"))),
        time_from="now-24h",
        refresh="1m",
        items=(
            _devices_table(),
            Panel(
                "Battery (%)",
                "timeseries",
                (
                    Query(
                        rolled_series(
                            metrics=("battery",),
                            where=f"device_id = ANY ({DEVICES})",
                            agg="min",
                            label="device_id",
                            name="battery",
                        ),
                        ("time", "metric", "battery"),
                    ),
                ),
                description="Lowest battery level per device and interval.",
                width=24,
                height=8,
                unit="percent",
                min=0,
                max=100,
                custom={"drawStyle": "line", "lineWidth": 1, "showPoints": "never", "spanNulls": True},
            ),
            Row("Ingest"),
            _ingest_rate(),
            _lag(),
            _quarantine_rate(),
            _quarantine_share(),
        ),
    )


def alerts_dashboard() -> Dashboard:
    """Open alerts, their flow over time and how fast they are acknowledged."""
    opened = f"""SELECT $__timeGroupAlias(opened_at, $__interval), category AS metric, count(*) AS "alerts"
FROM alerts
WHERE $__timeFilter(opened_at) AND clinic_id = {CLINIC}
  AND (animal_id = ANY (ARRAY[$animal]::text[]) OR animal_id IS NULL)
GROUP BY 1, 2
ORDER BY 1, 2"""
    counts = f"""SELECT count(*) FILTER (WHERE status = 'open' AND severity = 'urgent') AS "urgent",
       count(*) FILTER (WHERE status = 'open' AND severity = 'review') AS "to review",
       count(*) FILTER (WHERE status = 'open' AND severity = 'info') AS "info",
       count(*) FILTER (WHERE status = 'acknowledged') AS "acknowledged"
FROM alerts
WHERE clinic_id = {CLINIC} AND status <> 'resolved'
  AND (animal_id = ANY (ARRAY[$animal]::text[]) OR animal_id IS NULL)"""
    response = f"""SELECT category AS "category", count(*) AS "opened",
       count(acknowledged_at) AS "acknowledged",
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM acknowledged_at - opened_at))
         FILTER (WHERE acknowledged_at IS NOT NULL) AS "median time to acknowledge",
       count(resolved_at) AS "resolved"
FROM alerts
WHERE $__timeFilter(opened_at) AND clinic_id = {CLINIC}
  AND (animal_id = ANY (ARRAY[$animal]::text[]) OR animal_id IS NULL)
GROUP BY 1
ORDER BY 2 DESC"""

    return Dashboard(
        uid="vigie-alerts",
        title="Vigie · Alerts",
        description="What the rules raised: open alerts, their flow and how fast the clinic responds.",
        tags=("vigie", "alerts"),
        variables=(clinic_variable(), animal_variable(ALL_SPECIES, multi=True)),
        time_from="now-30d",
        refresh="1m",
        items=(
            Panel(
                "Open alerts",
                "stat",
                (Query(counts, ("urgent", "to review", "info", "acknowledged"), "table"),),
                description="Alerts not resolved, whatever the time range (device-level alerts included).",
                width=24,
                height=4,
                decimals=0,
                overrides=(
                    Override("urgent", {"color": {"mode": "fixed", "fixedColor": "red"}}),
                    Override("to review", {"color": {"mode": "fixed", "fixedColor": "orange"}}),
                    Override("info", {"color": {"mode": "fixed", "fixedColor": "blue"}}),
                    Override("acknowledged", {"color": {"mode": "fixed", "fixedColor": "text"}}),
                ),
                options={
                    "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                    "colorMode": "value",
                    "graphMode": "none",
                    "textMode": "value_and_name",
                },
            ),
            Panel(
                "Open and acknowledged alerts",
                "table",
                (Query(open_alerts_sql(None), ALERT_COLUMNS, "table"),),
                description="Most severe first, then newest.",
                width=24,
                height=9,
                overrides=(SEVERITY_COLOURS, Override("opened", {"unit": "dateTimeAsIso"})),
                options={"showHeader": True, "cellHeight": "sm"},
            ),
            Row("Flow"),
            Panel(
                "Alerts opened, by category",
                "timeseries",
                (Query(opened, ("time", "metric", "alerts")),),
                description="Alerts opened per interval over the range.",
                width=12,
                height=8,
                decimals=0,
                custom={"drawStyle": "bars", "stacking": {"mode": "normal", "group": "A"}, "fillOpacity": 70},
            ),
            Panel(
                "Response by category",
                "table",
                (
                    Query(
                        response,
                        ("category", "opened", "acknowledged", "median time to acknowledge", "resolved"),
                        "table",
                    ),
                ),
                description="Alerts opened in the range, how many were acknowledged and resolved, and how fast.",
                width=12,
                height=8,
                overrides=(Override("median time to acknowledge", {"unit": "s", "decimals": 0}),),
                options={"showHeader": True, "cellHeight": "sm"},
            ),
        ),
    )
