"""The committed JSON against Grafana's dashboard schema, and the provisioning files against the dashboards.

Two checks, because no single one covers everything:
- ``grafana-foundation-sdk`` (Grafana's generated types for 11.6): decoding a dashboard and encoding it again keeps
  every field the schema knows, so any field it drops is unknown to the schema (a typo, or a field of another
  version). The schema leaves annotation targets open (a data-source-specific query): those are checked below.
- our own pydantic model of what Grafana needs to run the panels: the data source reference, raw SQL targets,
  a grid that fits 24 columns without overlaps, unique ids, and every ``$variable`` defined before it is used.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

import pytest
import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from dashboards import DATASOURCE_UID, JSON_DIR, PROVISIONING_DIR, all_dashboards
from dashboards._model import DATASOURCE_TYPE
from dashboards._push import folder_uid

COMMITTED = sorted(JSON_DIR.glob("*.json"))
BUILTIN_VARIABLES = {"__interval", "__interval_ms", "__timeFilter", "__timeFrom", "__timeTo", "__timeGroupAlias"}


def _load(path: Any) -> dict[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _dropped(ours: Any, theirs: Any, path: str = "") -> list[str]:
    """Paths of ``ours`` that are missing or different in ``theirs``."""
    if isinstance(ours, dict):
        if not isinstance(theirs, dict):
            return [f"{path}: not an object after the round trip"]
        out = []
        for key, value in ours.items():
            if key not in theirs:
                out.append(f"{path}.{key}")
            else:
                out += _dropped(value, theirs[key], f"{path}.{key}")
        return out
    if isinstance(ours, list):
        if not isinstance(theirs, list) or len(ours) != len(theirs):
            return [f"{path}: list changed"]
        return [p for i, (a, b) in enumerate(zip(ours, theirs, strict=True)) for p in _dropped(a, b, f"{path}[{i}]")]
    return [] if ours == theirs else [f"{path}: {ours!r} became {theirs!r}"]


def test_there_is_a_committed_file_per_dashboard() -> None:
    assert [p.stem for p in COMMITTED] == sorted(d.uid for d in all_dashboards())


@pytest.mark.parametrize("path", COMMITTED, ids=lambda p: p.stem)
def test_foundation_sdk_schema_keeps_every_field(path: Any) -> None:
    from grafana_foundation_sdk.cog.encoder import JSONEncoder
    from grafana_foundation_sdk.cog.plugins import register_default_plugins
    from grafana_foundation_sdk.models.dashboard import Dashboard

    register_default_plugins()  # panel options and field config decoded by panel type
    ours = _load(path)
    theirs = json.loads(JSONEncoder().encode(Dashboard.from_json(ours)))
    dropped = [p for p in _dropped(ours, theirs) if not re.match(r"\.annotations\.list\[\d+\]\.target\.", p)]
    assert dropped == []
    assert theirs["schemaVersion"] == ours["schemaVersion"]
    assert len(theirs["panels"]) == len(ours["panels"])


def test_the_round_trip_check_catches_an_unknown_field() -> None:
    from grafana_foundation_sdk.cog.encoder import JSONEncoder
    from grafana_foundation_sdk.cog.plugins import register_default_plugins
    from grafana_foundation_sdk.models.dashboard import Dashboard

    register_default_plugins()
    ours = _load(COMMITTED[0])
    ours["panels"][1]["gridPosition"] = ours["panels"][1]["gridPos"]  # a plausible typo
    ours["refreshRate"] = "5m"
    theirs = json.loads(JSONEncoder().encode(Dashboard.from_json(ours)))
    assert set(_dropped(ours, theirs)) >= {".panels[1].gridPosition", ".refreshRate"}


class _Camel(BaseModel):
    """Grafana's camelCase keys as snake_case fields."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class _Strict(_Camel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True)


class DataSourceRef(_Strict):
    type: Literal["grafana-postgresql-datasource"]
    uid: Literal["vigie-timescaledb"]


class SqlTarget(_Strict):
    ref_id: str = Field(min_length=1)
    datasource: DataSourceRef
    editor_mode: Literal["code"]
    format: Literal["time_series", "table"]
    raw_query: Literal[True]
    raw_sql: str = Field(min_length=10)


class GridPos(_Strict):
    h: int = Field(gt=0)
    w: int = Field(gt=0, le=24)
    x: int = Field(ge=0, lt=24)
    y: int = Field(ge=0)

    @model_validator(mode="after")
    def _fits(self) -> GridPos:
        assert self.x + self.w <= 24, "panel wider than the grid"
        return self


class PanelModel(_Camel):
    id: int
    type: Literal["timeseries", "table", "stat", "heatmap", "barchart", "bargauge", "text", "row"]
    title: str = Field(min_length=1)
    grid_pos: GridPos
    datasource: DataSourceRef | None = None
    targets: list[SqlTarget] = []

    @model_validator(mode="after")
    def _queries(self) -> PanelModel:
        if self.type != "row":
            assert self.targets, "a panel without a query"
            assert self.datasource is not None
            refs = [t.ref_id for t in self.targets]
            assert len(refs) == len(set(refs)), "two targets with one refId"
        return self


class VariableModel(_Camel):
    type: Literal["query", "custom"]
    name: str = Field(pattern=r"^[a-z_]+$")
    label: str
    query: str = Field(min_length=1)
    datasource: DataSourceRef | None = None
    multi: bool
    include_all: bool


class AnnotationModel(_Camel):
    name: str
    enable: bool
    built_in: int | None = None
    datasource: dict[str, str]
    target: SqlTarget | None = None


class DashboardModel(_Camel):
    uid: str = Field(pattern=r"^[a-zA-Z0-9_-]{1,40}$")
    title: str
    schema_version: int = Field(ge=36)
    time: dict[Literal["from", "to"], str]
    panels: list[PanelModel]
    templating: dict[Literal["list"], list[VariableModel]]
    annotations: dict[Literal["list"], list[AnnotationModel]]


@pytest.mark.parametrize("path", COMMITTED, ids=lambda p: p.stem)
def test_dashboard_structure(path: Any) -> None:
    raw = _load(path)
    model = DashboardModel.model_validate(raw)
    ids = [p.id for p in model.panels]
    assert len(ids) == len(set(ids))
    cells: set[tuple[int, int]] = set()
    for p in model.panels:
        g = p.grid_pos
        mine = {(x, y) for x in range(g.x, g.x + g.w) for y in range(g.y, g.y + g.h)}
        assert not cells & mine, f"panel {p.title!r} overlaps another"
        cells |= mine
    for a in model.annotations["list"]:
        assert a.built_in == 1 or a.target is not None
    # every $variable is defined, and a variable uses only those before it (Grafana resolves them in that order)
    defined: list[str] = []
    for var in model.templating["list"]:
        for used in re.findall(r"\$\{?(\w+)", var.query):
            assert used in defined or used in BUILTIN_VARIABLES, f"${used} used by ${var.name} before it is defined"
        defined.append(var.name)
    texts = [p.title for p in model.panels] + [t.raw_sql for p in model.panels for t in p.targets]
    texts += [a.target.raw_sql for a in model.annotations["list"] if a.target is not None]
    for text in texts:
        for used in re.findall(r"\$\{?(\w+)", text):
            assert used in defined or used in BUILTIN_VARIABLES, f"${used} is not a variable of {path.stem}"


def test_structure_check_rejects_a_broken_dashboard() -> None:
    raw = _load(COMMITTED[0])
    raw["panels"][1]["targets"][0]["datasource"]["uid"] = "some-other-db"
    with pytest.raises(ValueError, match="vigie-timescaledb"):
        DashboardModel.model_validate(raw)


def test_datasource_provisioning_matches_the_dashboards() -> None:
    conf = yaml.safe_load((PROVISIONING_DIR / "datasources" / "vigie.yaml").read_text(encoding="utf-8"))
    assert conf["apiVersion"] == 1
    (ds,) = conf["datasources"]
    assert ds["uid"] == DATASOURCE_UID
    assert ds["type"] == DATASOURCE_TYPE
    assert ds["jsonData"]["timescaledb"] is True
    assert ds["jsonData"]["database"] == "${VIGIE_GRAFANA_DB_NAME}"
    assert ds["secureJsonData"]["password"] == "${VIGIE_GRAFANA_DB_PASSWORD}"  # noqa: S105 - an env reference: never a literal secret


def test_dashboard_provider_points_at_a_folder_of_json() -> None:
    conf = yaml.safe_load((PROVISIONING_DIR / "dashboards" / "vigie.yaml").read_text(encoding="utf-8"))
    (provider,) = conf["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"].startswith("/")
    assert provider["folderUid"] == folder_uid(provider["folder"])  # the same folder as `vigie dashboards push`
