"""What Grafana does to a panel's SQL before PostgreSQL sees it, reproduced for the tests.

1. The browser interpolates template variables (public/app/plugins/datasource/grafana-postgresql-datasource,
   ``SqlDatasource.interpolateVariable``): a single value is inserted as is with ``'`` doubled; a value of a
   multi-value or include-All variable is quoted (``'a'``), and a list of values becomes ``'a','b'``.
   Only names that are variables are replaced (``$animal_id`` is left alone when there is no ``animal_id``).
2. The server (pkg/tsdb/sqleng ``Interpolate``) replaces ``$__interval_ms``, ``$__interval`` (gtime.FormatInterval:
   ``1m``, ``1h``, ``1d``), ``$__unixEpochFrom()`` and ``$__unixEpochTo()``.
3. The PostgreSQL macro engine (pkg/tsdb/grafana-postgresql-datasource/macros.go) replaces every
   ``$name(args)`` (args up to the first ``)``, split on ``,``): ``$__timeFilter(c)`` → ``c BETWEEN '<from>' AND
   '<to>'`` (RFC 3339, UTC, nanosecond precision trimmed), ``$__timeFrom()``/``$__timeTo()`` → the quoted instant,
   ``$__timeGroup(c, 1h)`` → ``time_bucket('3600.000s',c)`` in TimescaleDB mode, ``$__timeGroupAlias`` → the same
   plus ``AS "time"``, ``$__unixEpochFilter(c)`` → ``c >= <from s> AND c <= <to s>``; an unknown macro is an error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

_VARIABLE = re.compile(r"\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^\}]+))?(?::([^\}]+))?\}")
_MACRO = re.compile(r"\$([_a-zA-Z0-9]+)\(([^\)]*)\)")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


class MacroError(ValueError):
    """Grafana would refuse the query (unknown macro, bad interval)."""


def rfc3339nano(t: datetime) -> str:
    """Go's ``time.RFC3339Nano`` of a UTC instant (trailing zeros of the fraction dropped, ``Z``)."""
    t = t.astimezone(UTC)
    base = t.strftime("%Y-%m-%dT%H:%M:%S")
    frac = f"{t.microsecond:06d}".rstrip("0")
    return f"{base}.{frac}Z" if frac else f"{base}Z"


def format_interval(d: timedelta) -> str:
    """gtime.FormatInterval."""
    ms = int(d / timedelta(milliseconds=1))
    for unit, size_ms in (("y", 31536000000), ("d", 86400000), ("h", 3600000), ("m", 60000), ("s", 1000)):
        if ms >= size_ms:
            return f"{ms // size_ms}{unit}"
    return f"{max(ms, 1)}ms"


def parse_interval(text: str) -> timedelta:
    """gtime.ParseInterval for the units Grafana produces."""
    m = re.fullmatch(r"(\d+)(ms|s|m|h|d|w|y)", text.strip().strip("'"))
    if not m:
        raise MacroError(f"error parsing interval {text}")
    return timedelta(seconds=int(m[1]) * _UNITS[m[2]])


@dataclass
class Grafana:
    """A time range, an interval and variable values: everything a panel's SQL is expanded with."""

    time_from: datetime
    time_to: datetime
    interval: timedelta
    variables: dict[str, str | list[str]] = field(default_factory=dict)
    multi: set[str] = field(default_factory=set)  # variables with multi or includeAll on
    timescaledb: bool = True

    def interpolate_variables(self, sql: str) -> str:
        """Step 1: the browser's template variable replacement."""

        def value_of(name: str) -> str | None:
            if name not in self.variables:
                return None
            value = self.variables[name]
            if isinstance(value, list):
                return ",".join("'" + v.replace("'", "''") + "'" for v in value)
            if name in self.multi:
                return "'" + value.replace("'", "''") + "'"
            return value.replace("'", "''")

        def replace(m: re.Match[str]) -> str:
            name = m[1] or m[2] or m[4]
            out = value_of(name)
            return m[0] if out is None else out

        return _VARIABLE.sub(replace, sql)

    def interpolate_server(self, sql: str) -> str:
        """Step 2: sqleng's global substitutions."""
        sql = sql.replace("$__interval_ms", str(int(self.interval / timedelta(milliseconds=1))))
        sql = sql.replace("$__interval", format_interval(self.interval))
        sql = sql.replace("$__unixEpochFrom()", str(int(self.time_from.timestamp())))
        return sql.replace("$__unixEpochTo()", str(int(self.time_to.timestamp())))

    def _macro(self, name: str, args: list[str]) -> str:
        f, t = rfc3339nano(self.time_from), rfc3339nano(self.time_to)
        if name == "__time":
            return f'{args[0]} AS "time"'
        if name == "__timeEpoch":
            return f'extract(epoch from {args[0]}) as "time"'
        if name == "__timeFilter":
            return f"{args[0]} BETWEEN '{f}' AND '{t}'"
        if name == "__timeFrom":
            return f"'{f}'"
        if name == "__timeTo":
            return f"'{t}'"
        if name in ("__timeGroup", "__timeGroupAlias"):
            if len(args) < 2:
                raise MacroError(f"macro {name} needs time column and interval")
            seconds = parse_interval(args[1]).total_seconds()
            group = (
                f"time_bucket('{seconds:.3f}s',{args[0]})"
                if self.timescaledb
                else f"floor(extract(epoch from {args[0]})/{seconds:g})*{seconds:g}"
            )
            return group + (' AS "time"' if name == "__timeGroupAlias" else "")
        if name == "__unixEpochFilter":
            lo, hi = int(self.time_from.timestamp()), int(self.time_to.timestamp())
            return f"{args[0]} >= {lo} AND {args[0]} <= {hi}"
        raise MacroError(f"unknown macro {name!r}")

    def interpolate_macros(self, sql: str) -> str:
        """Step 3: the PostgreSQL macro engine."""

        def replace(m: re.Match[str]) -> str:
            name = m[1]
            if name == "__timeGroup":  # pre-5.3 compatibility: followed by ',' means the alias form
                end = sql.find(m[0]) + len(m[0])
                if end < len(sql) and sql[end] == ",":
                    name = "__timeGroupAlias"
            return self._macro(name, [a.strip() for a in m[2].split(",")])

        return _MACRO.sub(replace, sql)

    def expand(self, sql: str) -> str:
        """The SQL PostgreSQL receives."""
        return self.interpolate_macros(self.interpolate_server(self.interpolate_variables(sql)))
