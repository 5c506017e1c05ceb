"""Upload the dashboards to a running Grafana through its HTTP API (``grafana-client``).

Idempotent: the folder is created only when no folder has its uid, and each dashboard is POSTed to
``/api/dashboards/db`` with ``overwrite: true``, so Grafana replaces the dashboard with the same uid.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from dashboards._errors import GrafanaAuthError, GrafanaError, GrafanaUnreachable

logger = logging.getLogger(__name__)
DEFAULT_TIMEOUT_S = 10.0
PUSH_MESSAGE = "vigie dashboards push"


@dataclass(frozen=True, slots=True)
class Pushed:
    """One dashboard as Grafana stored it."""

    uid: str
    title: str
    version: int | None
    url: str | None


def folder_uid(title: str) -> str:
    """A stable folder uid from its title ("Vigie" → "vigie")."""
    slug = re.sub(r"[^a-z0-9_-]+", "-", title.lower()).strip("-")
    if not slug:
        raise GrafanaError(f"folder name {title!r} has no letter or digit")
    return slug[:40]


def check_url(url: str) -> str:
    """``url`` if it is an http(s) URL with a host; else a one-line error."""
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise GrafanaUnreachable(f"{url!r} is not a Grafana URL (expected http://host:port or https://host)")
    try:
        parsed.port  # noqa: B018 - raises on a bad port
    except ValueError as exc:
        raise GrafanaUnreachable(f"{url!r} has a bad port") from exc
    return url.rstrip("/")


def _translate(exc: Exception, url: str) -> GrafanaError:
    """A grafana-client or transport exception as one readable line."""
    import niquests  # noqa: PLC0415 - grafana-client's HTTP library
    from grafana_client.client import (  # noqa: PLC0415
        GrafanaClientError,
        GrafanaException,
        GrafanaServerError,
        GrafanaTimeoutError,
        GrafanaUnauthorizedError,
    )

    if isinstance(exc, GrafanaUnauthorizedError):
        return GrafanaAuthError(f"Grafana at {url} refused the token (401 Unauthorized)", 401)
    if isinstance(exc, GrafanaClientError) and exc.status_code == 403:
        return GrafanaAuthError(
            f"Grafana at {url} refused the request (403 Forbidden): the token needs the Editor role", 403
        )
    if isinstance(exc, GrafanaTimeoutError):
        return GrafanaUnreachable(f"Grafana at {url} did not answer in time")
    if isinstance(exc, GrafanaServerError | GrafanaClientError):
        message = str(getattr(exc, "message", exc)).strip().rstrip(":").splitlines()[0][:200]
        return GrafanaError(f"Grafana at {url} refused the request: {message}", exc.status_code)
    if isinstance(exc, ValueError):  # a body that is not JSON (niquests' JSONDecodeError is one): not Grafana's API
        return GrafanaError(f"{url} did not answer like Grafana's HTTP API (is it the Grafana root URL?)")
    if isinstance(exc, GrafanaException | niquests.exceptions.RequestException):
        # transport errors nest the OS reason deep in their text: "[Errno 111] Connection refused"
        text = str(exc)
        reason = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", text) or re.search(r"(Failed to resolve '[^']+')", text)
        detail = reason[1].strip() if reason else type(exc).__name__
        return GrafanaUnreachable(f"cannot reach Grafana at {url}: {detail}")
    raise exc


def push(
    url: str,
    token: str,
    dashboards: list[dict[str, Any]],
    *,
    folder: str = "Vigie",
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> list[Pushed]:
    """Create ``folder`` when missing and upload every dashboard into it, replacing those with the same uid."""
    import niquests  # noqa: PLC0415
    from grafana_client.api import GrafanaApi  # noqa: PLC0415
    from grafana_client.client import GrafanaClientError, GrafanaException  # noqa: PLC0415

    base = check_url(url)
    if not token.strip():
        raise GrafanaAuthError("empty API token (create a service account token with the Editor role)")
    uid = folder_uid(folder)
    api = GrafanaApi.from_url(base, credential=token, timeout=timeout_s)
    try:
        try:
            existing = api.folder.get_folder(uid)
            logger.info("folder %s exists (%s)", uid, existing.get("title") if isinstance(existing, dict) else "?")
        except GrafanaClientError as exc:
            if exc.status_code != 404:
                raise
            api.folder.create_folder(folder, uid=uid)
            logger.info("created folder %s (%s)", folder, uid)
        out: list[Pushed] = []
        for dashboard in dashboards:
            body = {k: v for k, v in dashboard.items() if k != "id"}
            answer = api.dashboard.update_dashboard(
                {"dashboard": body, "folderUid": uid, "overwrite": True, "message": PUSH_MESSAGE}
            )
            answer = answer if isinstance(answer, dict) else {}
            version = answer.get("version")
            out.append(
                Pushed(
                    uid=str(body.get("uid")),
                    title=str(body.get("title")),
                    version=version if isinstance(version, int) else None,
                    url=str(answer["url"]) if "url" in answer else None,
                )
            )
            logger.info("pushed dashboard %s (version %s)", body.get("uid"), version)
    except (GrafanaException, niquests.exceptions.RequestException, ValueError) as exc:
        raise _translate(exc, base) from exc
    return out
