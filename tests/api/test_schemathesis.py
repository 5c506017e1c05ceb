"""Schemathesis against the OpenAPI document, once per role with a token: no 5xx, responses conform to the schema.

The app runs in-process (ASGI) on a database seeded with the authorization matrix's world (two clinics, an account
of each role). Every operation gets ``MAX_EXAMPLES`` (12; ``VIGIE_SCHEMATHESIS_EXAMPLES`` to change) generated requests per role (Hypothesis, derandomized, so the
run is repeatable), from three strategies: valid data on the world's own objects (path parameters fixed to the
role's clinic), valid data anywhere, and data the schema forbids. Checks: no server error, the response's body,
content type and headers conform to the document, and forbidden data is rejected. A logout is made with a token of
its own, so the role keeps its token for the next requests.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import psycopg
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
)

from api._accounts import issue_token
from api._app import create_app
from tests.api.test_authz_matrix import MatrixWorld, seed
from tests.conftest import ADMIN_DSN, Broker, dsn_for
from vigie.settings import Settings

MAX_EXAMPLES = int(os.environ.get("VIGIE_SCHEMATHESIS_EXAMPLES", "12"))  # more for a deeper (nightly) run
ROLES = ("admin", "vet", "staff", "owner", "device")
USERS = {
    "admin": "mx-admin",
    "vet": "mx-vet-a",
    "staff": "mx-staff-a",
    "owner": "mx-owneruser-a",
    "device": "mx-device-a",
}
KINDS = {
    "clinic_id": "clinic",
    "owner_id": "owner",
    "animal_id": "animal",
    "device_id": "device",
    "alert_id": "alert",
    "draft_id": "draft",
    "message_id": "message",
}
CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    content_type_conformance,
    response_headers_conformance,
    negative_data_rejection,
]
# the operations parametrize the tests: the document of an app built with default settings (nothing connects)
SCHEMA = schemathesis.openapi.from_dict(create_app(Settings()).openapi())
OPERATIONS = sorted((r.ok().method.upper(), r.ok().path) for r in SCHEMA.get_all_operations() if isinstance(r, Ok))
assert len(OPERATIONS) == len(list(SCHEMA.get_all_operations())), "every operation of the document is valid"


@dataclass
class Api:
    """The app on the run's database, and its world."""

    dsn: str
    world: MatrixWorld
    client: TestClient


@pytest.fixture(scope="module")
def api(template_db: str, broker: Broker) -> Iterator[Api]:
    name = f"vigie_st_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"')
    with psycopg.connect(dsn_for(name)) as conn:
        world = seed(conn)
    settings = Settings(
        database_url=dsn_for(name),  # type: ignore[arg-type]
        mqtt_url=broker.url,  # type: ignore[arg-type]
        api_pool_max=4,
        ingest_metrics_port=0,
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield Api(dsn_for(name), world, client)
    with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def send(client: TestClient, case: Any, token: str) -> Any:
    """The case's request, made with the app's test client (schemathesis's own ASGI client needs urllib3 1.x/2.x
    internals that urllib3-future, installed here, lacks)."""
    kwargs = case.as_transport_kwargs(base_url="http://testserver")
    headers = dict(kwargs.get("headers", {}))
    components = case.meta.components.items() if case.meta is not None else ()
    if not any(loc.value == "header" and info.mode == GenerationMode.NEGATIVE for loc, info in components):
        # valid headers: the role's token instead of a generated one (a case about the header is sent as generated)
        headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
        headers["Authorization"] = f"Bearer {token}"
    content = kwargs.get("data")
    if isinstance(content, str):
        content = content.encode()
    return client.request(
        kwargs["method"],
        kwargs["url"],
        headers=headers,
        params=kwargs.get("params"),
        cookies=kwargs.get("cookies") or None,
        json=kwargs.get("json"),
        content=content,
        files=kwargs.get("files"),
    )


def _strategy(method: str, path: str, world: MatrixWorld) -> st.SearchStrategy[Any]:
    op = SCHEMA[path][method]
    own = {name: world.objects["own"][kind] for name, kind in KINDS.items() if "{" + name + "}" in path}
    if "{rule_id}" in path:
        own["rule_id"] = "hypoglycemia"
    return st.one_of(
        op.as_strategy(GenerationMode.POSITIVE, path_parameters=own),
        op.as_strategy(GenerationMode.POSITIVE),
        op.as_strategy(GenerationMode.NEGATIVE),
    )


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_api_conforms(api: Api, role: str, method: str, path: str) -> None:
    @given(case=_strategy(method, path, api.world))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
    )
    def check(case: Any) -> None:
        token = api.world.tokens[role]
        if path == "/api/v1/auth/logout":
            with psycopg.connect(api.dsn) as conn:
                token = issue_token(conn, USERS[role], ttl=timedelta(minutes=10)).token
        response = send(api.client, case, token)
        case.validate_response(response, checks=CHECKS)

    check()


# the requests schemathesis found answered with a 500, kept as plain examples (each is a 422 now)
FOUND: list[tuple[str, str, dict[str, Any] | None]] = [
    ("POST", "/api/v1/auth/login", {"username": "n\u0000x", "password": "whatever-password"}),
    ("POST", "/api/v1/clinics", {"name": "n\u0000{0/+", "id": "YYwabA"}),
    (
        "POST",
        "/api/v1/owners",
        {"clinic_id": None, "name": "n\u0000", "webhook_url": "https://\u00c9\u0085", "id": "VWbA"},
    ),
    ("GET", "/api/v1/animals/mx-cat-a/analytics/glucose?interval_min=2.2250738585e-313", None),
    ("GET", "/api/v1/animals/a%00b", None),
]


@pytest.mark.parametrize(("method", "url", "body"), FOUND, ids=[f"{m} {u.split('?')[0]}" for m, u, _ in FOUND])
def test_what_schemathesis_found_stays_fixed(api: Api, method: str, url: str, body: dict[str, Any] | None) -> None:
    r = api.client.request(method, url, json=body, headers={"Authorization": f"Bearer {api.world.tokens['admin']}"})
    assert r.status_code == 422, r.text
