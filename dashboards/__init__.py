"""Grafana dashboards as code, their provisioning files and the push command (issue 8).

The dashboards are Python definitions (``_glucose``, ``_farm``, ``_ops``) rendered to ``dashboards/json/``;
``dashboards/provisioning/`` holds the data source and dashboard provider files for a Grafana server.
"""

from dashboards._errors import DashboardError, GrafanaAuthError, GrafanaError, GrafanaUnreachable
from dashboards._generate import JSON_DIR, PROVISIONING_DIR, all_dashboards, check, render, write
from dashboards._model import DATASOURCE_UID, Dashboard, Panel, Query
from dashboards._push import Pushed, push

__all__ = [
    "DATASOURCE_UID",
    "JSON_DIR",
    "PROVISIONING_DIR",
    "Dashboard",
    "DashboardError",
    "GrafanaAuthError",
    "GrafanaError",
    "GrafanaUnreachable",
    "Panel",
    "Pushed",
    "Query",
    "all_dashboards",
    "check",
    "push",
    "render",
    "write",
]
