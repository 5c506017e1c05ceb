# Panel SQL is Grafana query text built from constants and Grafana's own placeholders ($clinic, $__timeFilter);
# Vigie never executes it with user input, so the string-built-SQL rule does not apply here.
# ruff: noqa: S608
"""SQL fragments shared by the dashboards: template variables, unit conversion and the rollup switch.

How Grafana's PostgreSQL data source turns a panel's SQL into a query (and how the tests reproduce it):
the browser first replaces template variables (a single value is inserted as is, with ``'`` doubled; a
multi-value or "All" selection becomes ``'a','b'``), then the server replaces ``$__interval_ms`` /
``$__interval`` and the macros (``$__timeFilter(col)`` → ``col BETWEEN '<from>' AND '<to>'``,
``$__timeGroupAlias(col, 1h)`` → ``time_bucket('3600.000s',col) AS "time"`` in TimescaleDB mode). So:

- a single-value variable is quoted in the SQL: ``clinic_id = '$clinic'``;
- a multi-value one goes into an array, which stays valid when nothing is selected:
  ``animal_id = ANY (ARRAY[$animal]::text[])``;
- macro arguments never contain parentheses (Grafana's macro pattern stops at the first ``)``).
"""

from __future__ import annotations

from typing import Literal

from dashboards._model import Query, QueryVariable

CLINIC = "'$clinic'"
ANIMALS = "ARRAY[$animal]::text[]"
DEVICES = "ARRAY[$device]::text[]"
TZ = "'$tz'"

HOUR_MS = 3_600_000
DAY_MS = 86_400_000

# glucose is stored in mg/dL (config/metrics.toml); the $unit variable picks how it is shown
GLUCOSE_FACTORS = {"mg/dL": 1.0, "mmol/L": 18.0, "g/L": 100.0}
GLUCOSE_DIVISOR = (
    "(CASE '$unit' " + " ".join(f"WHEN '{u}' THEN {f!r}" for u, f in GLUCOSE_FACTORS.items()) + " ELSE 1.0 END)"
)

Agg = Literal["avg", "sum", "min", "max", "count"]
_ROLLED: dict[Agg, tuple[str, str]] = {  # aggregate over raw values, and over rollup rows
    "avg": ("avg(value)", "sum(sum) / sum(n)"),
    "sum": ("sum(value)", "sum(sum)"),
    "min": ("min(value)", "min(min)"),
    "max": ("max(value)", "max(max)"),
    "count": ("count(*)", "sum(n)"),
}

# which relation answers a time-series query, decided by Grafana's interval ($__interval_ms):
# raw readings below one hour, the hourly rollup for whole hours, the daily rollup for whole days
RAW_WHEN = f"($__interval_ms < {HOUR_MS} OR $__interval_ms % {HOUR_MS} <> 0)"
HOURLY_WHEN = (
    f"($__interval_ms >= {HOUR_MS} AND $__interval_ms % {HOUR_MS} = 0 "
    f"AND ($__interval_ms < {DAY_MS} OR $__interval_ms % {DAY_MS} <> 0))"
)
DAILY_WHEN = f"($__interval_ms >= {DAY_MS} AND $__interval_ms % {DAY_MS} = 0)"


def rolled_series(
    *,
    metrics: tuple[str, ...],
    where: str,
    agg: Agg,
    label: str,
    value: str = "{v}",
    name: str = "value",
) -> str:
    """A time series over raw readings or a rollup, whichever fits Grafana's interval.

    ``where`` filters by clinic, animal or device (columns shared by ``readings`` and the rollups);
    ``label`` is the SQL of the series name (``metric`` column); ``value`` wraps the aggregate ``{v}``
    (unit conversion, rate). The three branches' guards are constants once Grafana has expanded
    ``$__interval_ms``, so PostgreSQL plans only the branch that runs.
    """
    metric_list = ", ".join(f"'{m}'" for m in metrics)
    raw_agg, roll_agg = _ROLLED[agg]
    branches = [
        ("readings", "time", raw_agg, RAW_WHEN),
        ("readings_hourly", "bucket", roll_agg, HOURLY_WHEN),
        ("readings_daily", "bucket", roll_agg, DAILY_WHEN),
    ]
    parts = [
        f"""SELECT $__timeGroupAlias({col}, $__interval), {label} AS metric, {value.format(v=expr)} AS "{name}"
  FROM {table}
  WHERE $__timeFilter({col}) AND clinic_id = {CLINIC} AND metric IN ({metric_list}) AND {where}
    AND {guard}
  GROUP BY 1, 2"""
        for table, col, expr, guard in branches
    ]
    return "SELECT * FROM (\n" + "\n  UNION ALL\n".join(parts) + "\n) AS s\nORDER BY 1, 2"


def clinic_variable() -> QueryVariable:
    """``$clinic``: one clinic (every query filters by it)."""
    return QueryVariable(
        "clinic",
        "Clinic",
        Query("SELECT id AS __value, name AS __text FROM clinics ORDER BY name, id", ("__value", "__text"), "table"),
    )


def animal_variable(species: tuple[str, ...], *, multi: bool, label: str = "Animal") -> QueryVariable:
    """``$animal``: animals of the clinic of some species."""
    kinds = ", ".join(f"'{s}'" for s in species)
    sql = (
        "SELECT id AS __value, name AS __text FROM animals "
        f"WHERE clinic_id = {CLINIC} AND species IN ({kinds}) ORDER BY name, id"
    )
    return QueryVariable("animal", label, Query(sql, ("__value", "__text"), "table"), multi=multi, include_all=multi)


def device_variable(kinds: tuple[str, ...], *, of_animal: Literal["one", "many"] | None = None) -> QueryVariable:
    """``$device``: devices of the clinic of some kinds, optionally only those bound to the selected animal(s)."""
    kind_list = ", ".join(f"'{k}'" for k in kinds)
    bound = {None: "", "one": " AND animal_id = '$animal'", "many": f" AND animal_id = ANY ({ANIMALS})"}[of_animal]
    sql = (
        "SELECT id AS __value, id AS __text FROM devices "
        f"WHERE clinic_id = {CLINIC} AND kind IN ({kind_list}){bound} ORDER BY id"
    )
    return QueryVariable("device", "Device", Query(sql, ("__value", "__text"), "table"), multi=True, include_all=True)


def glucose_unit_variable() -> QueryVariable:
    """``$unit``: mg/dL, mmol/L or g/L, the owner's (else the clinic's) preference first, so selected by default."""
    values = ", ".join(f"('{u}', {i})" for i, u in enumerate(GLUCOSE_FACTORS))
    sql = f"""WITH pref AS (
  SELECT coalesce(o.glucose_unit, c.glucose_unit) AS unit
  FROM clinics c
  LEFT JOIN animals a ON a.clinic_id = c.id AND a.id = '$animal'
  LEFT JOIN owners o ON o.id = a.owner_id
  WHERE c.id = {CLINIC}
)
SELECT u.unit AS __value, u.unit AS __text
FROM (VALUES {values}) AS u (unit, pos)
ORDER BY coalesce(u.unit = (SELECT unit FROM pref LIMIT 1), false) DESC, u.pos"""
    return QueryVariable("unit", "Glucose unit", Query(sql, ("__value", "__text"), "table"))
