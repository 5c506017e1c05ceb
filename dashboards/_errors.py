"""Errors of the dashboards stage.

VigieError (vigie.errors)
└── DashboardError          the committed dashboards or the generator are not in order
    └── GrafanaError        Grafana refused, or could not be reached
        ├── GrafanaAuthError      the token was refused (401 or 403)
        └── GrafanaUnreachable    bad URL, connection refused, timeout
"""

from __future__ import annotations

from vigie.errors import VigieError


class DashboardError(VigieError):
    """The dashboards on disk disagree with the generator, or cannot be written."""


class GrafanaError(DashboardError):
    """Grafana's HTTP API refused a request; ``status`` is the HTTP status when there was one."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class GrafanaAuthError(GrafanaError):
    """The API token was refused."""


class GrafanaUnreachable(GrafanaError):  # noqa: N818 - reads as the condition the user meets
    """No Grafana answered at the URL given."""
