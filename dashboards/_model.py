"""Typed builders for the parts of Grafana's dashboard JSON model that Vigie uses.

Each builder is a frozen dataclass with ``to_json()``; the dashboards in ``_catalog_*`` modules are made of them.
Only what Grafana 11 documents is emitted (checked in tests against ``grafana-foundation-sdk``'s models). A
:class:`Query` also carries the columns its SQL must return, which the tests check against the real database
and which never reach the JSON.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

JSON = dict[str, Any]

DATASOURCE_UID = "vigie-timescaledb"
DATASOURCE_TYPE = "grafana-postgresql-datasource"
DATASOURCE: JSON = {"type": DATASOURCE_TYPE, "uid": DATASOURCE_UID}
SCHEMA_VERSION = 39  # Grafana 11.x dashboard schema
GRID_WIDTH = 24

Format = Literal["time_series", "table"]


@dataclass(frozen=True, slots=True)
class Query:
    """A raw SQL target of a panel (or of an annotation or a variable)."""

    sql: str
    columns: tuple[str, ...]  # what the SQL returns, in order (checked by the tests, not emitted)
    format: Format = "time_series"
    ref_id: str = "A"

    def to_json(self) -> JSON:
        """The target object of Grafana's PostgreSQL data source."""
        return {
            "refId": self.ref_id,
            "datasource": dict(DATASOURCE),
            "editorMode": "code",
            "format": self.format,
            "rawQuery": True,
            "rawSql": self.sql.strip(),
        }


@dataclass(frozen=True, slots=True)
class Override:
    """Field properties applied to the fields whose name matches."""

    name: str
    properties: dict[str, Any]
    regex: bool = False

    def to_json(self) -> JSON:
        """Grafana's ``fieldConfig.overrides[]`` item."""
        matcher = {"id": "byRegexp" if self.regex else "byName", "options": self.name}
        return {"matcher": matcher, "properties": [{"id": k, "value": v} for k, v in self.properties.items()]}


@dataclass(frozen=True, slots=True)
class Panel:
    """One visualisation: its type, its queries and the options Grafana needs to draw it."""

    title: str
    type: Literal["timeseries", "table", "stat", "heatmap", "barchart", "bargauge", "text"]
    queries: tuple[Query, ...]
    description: str = ""
    width: int = 12
    height: int = 8
    unit: str | None = None
    decimals: int | None = None
    min: float | None = None
    max: float | None = None
    thresholds: tuple[tuple[float | None, str], ...] = ()  # (from, colour); the first has from = None
    custom: dict[str, Any] = field(default_factory=dict)  # fieldConfig.defaults.custom
    color: dict[str, Any] | None = None
    overrides: tuple[Override, ...] = ()
    options: dict[str, Any] = field(default_factory=dict)
    time_from: str | None = None  # relative time override of this panel ("24h")
    transformations: tuple[JSON, ...] = ()
    interval: str | None = None  # minimum interval ("1m")

    def to_json(self, panel_id: int, x: int, y: int) -> JSON:
        """The panel object, placed at (x, y) of the 24-column grid."""
        defaults: JSON = {}
        if self.unit is not None:
            defaults["unit"] = self.unit
        if self.decimals is not None:
            defaults["decimals"] = self.decimals
        if self.min is not None:
            defaults["min"] = self.min
        if self.max is not None:
            defaults["max"] = self.max
        if self.color is not None:
            defaults["color"] = self.color
        if self.thresholds:
            defaults["thresholds"] = {
                "mode": "absolute",
                "steps": [{"color": colour, "value": value} for value, colour in self.thresholds],
            }
        if self.custom:
            defaults["custom"] = self.custom
        out: JSON = {
            "id": panel_id,
            "type": self.type,
            "title": self.title,
            "description": self.description,
            "datasource": dict(DATASOURCE),
            "gridPos": {"h": self.height, "w": self.width, "x": x, "y": y},
            "fieldConfig": {"defaults": defaults, "overrides": [o.to_json() for o in self.overrides]},
            "options": self.options,
            "targets": [q.to_json() for q in self.queries],
        }
        if self.transformations:
            out["transformations"] = list(self.transformations)
        if self.time_from is not None:
            out["timeFrom"] = self.time_from
        if self.interval is not None:
            out["interval"] = self.interval
        return out


@dataclass(frozen=True, slots=True)
class Row:
    """A collapsible row header that groups the panels after it."""

    title: str

    def to_json(self, panel_id: int, y: int) -> JSON:
        """The row panel object."""
        return {
            "id": panel_id,
            "type": "row",
            "title": self.title,
            "collapsed": False,
            "gridPos": {"h": 1, "w": GRID_WIDTH, "x": 0, "y": y},
            "panels": [],
        }


@dataclass(frozen=True, slots=True)
class QueryVariable:
    """A template variable filled by SQL returning ``__value`` and ``__text``."""

    name: str
    label: str
    query: Query
    multi: bool = False
    include_all: bool = False

    def to_json(self) -> JSON:
        """Grafana's ``templating.list[]`` item."""
        sql = self.query.sql.strip()
        return {
            "type": "query",
            "name": self.name,
            "label": self.label,
            "datasource": dict(DATASOURCE),
            "query": sql,
            "refresh": 1,  # on dashboard load
            "multi": self.multi,
            "includeAll": self.include_all,
            "sort": 0,  # the SQL's order
            "hide": 0,
            "regex": "",
            "current": {},
            "options": [],
            "skipUrlSync": False,
        }


@dataclass(frozen=True, slots=True)
class CustomVariable:
    """A template variable with a fixed list of values, the first one selected by default."""

    name: str
    label: str
    values: tuple[str, ...]

    def to_json(self) -> JSON:
        """Grafana's ``templating.list[]`` item."""
        first = self.values[0]
        return {
            "type": "custom",
            "name": self.name,
            "label": self.label,
            "query": ",".join(self.values),
            "multi": False,
            "includeAll": False,
            "hide": 0,
            "current": {"selected": True, "text": first, "value": first},
            "options": [{"selected": v == first, "text": v, "value": v} for v in self.values],
            "skipUrlSync": False,
        }


Variable = QueryVariable | CustomVariable


@dataclass(frozen=True, slots=True)
class Annotation:
    """Events drawn on every time series of the dashboard, from SQL returning time, text and tags."""

    name: str
    colour: str
    query: Query

    def to_json(self) -> JSON:
        """Grafana's ``annotations.list[]`` item."""
        return {
            "name": self.name,
            "datasource": dict(DATASOURCE),
            "enable": True,
            "hide": False,
            "iconColor": self.colour,
            "target": self.query.to_json(),
        }


class NamedQuery(NamedTuple):
    """A query of a dashboard with where it comes from and the panel's relative time override."""

    name: str
    query: Query
    time_from: str | None = None


BUILTIN_ANNOTATION: JSON = {
    "builtIn": 1,
    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
    "enable": True,
    "hide": True,
    "iconColor": "rgba(0, 211, 255, 1)",
    "name": "Annotations & Alerts",
    "type": "dashboard",
}


@dataclass(frozen=True, slots=True)
class Dashboard:
    """A whole dashboard: variables, annotations and a flow of rows and panels laid out left to right."""

    uid: str
    title: str
    description: str
    tags: tuple[str, ...]
    variables: tuple[Variable, ...]
    items: tuple[Panel | Row, ...]
    annotations: tuple[Annotation, ...] = ()
    time_from: str = "now-7d"
    refresh: str = "5m"

    def panels(self) -> list[Panel]:
        """The panels (rows left out)."""
        return [p for p in self.items if isinstance(p, Panel)]

    def queries(self) -> list[NamedQuery]:
        """Every SQL of the dashboard, named: panels, annotations and query variables."""
        out = [NamedQuery(f"panel {p.title!r} {q.ref_id}", q, p.time_from) for p in self.panels() for q in p.queries]
        out += [NamedQuery(f"annotation {a.name!r}", a.query) for a in self.annotations]
        out += [NamedQuery(f"variable ${v.name}", v.query) for v in self.variables if isinstance(v, QueryVariable)]
        return out

    def to_json(self) -> JSON:
        """The dashboard model as Grafana stores it (without the instance-specific ``id``)."""
        panels: list[JSON] = []
        x = y = row_height = 0
        for n, item in enumerate(self.items, start=1):
            if isinstance(item, Row):
                if x:
                    y, x, row_height = y + row_height, 0, 0
                panels.append(item.to_json(n, y))
                y += 1
                continue
            if x + item.width > GRID_WIDTH:
                y, x, row_height = y + row_height, 0, 0
            panels.append(item.to_json(n, x, y))
            x += item.width
            row_height = max(row_height, item.height)
        return {
            "uid": self.uid,
            "title": self.title,
            "description": self.description,
            "tags": list(self.tags),
            "timezone": "browser",
            "editable": True,
            "graphTooltip": 1,
            "fiscalYearStartMonth": 0,
            "liveNow": False,
            "refresh": self.refresh,
            "schemaVersion": SCHEMA_VERSION,
            "version": 1,
            "time": {"from": self.time_from, "to": "now"},
            "timepicker": {},
            "links": [],
            "annotations": {"list": [BUILTIN_ANNOTATION, *(a.to_json() for a in self.annotations)]},
            "templating": {"list": [v.to_json() for v in self.variables]},
            "panels": panels,
        }


def uniq(items: Sequence[str]) -> tuple[str, ...]:
    """``items`` without repeats, in order."""
    return tuple(dict.fromkeys(items))
