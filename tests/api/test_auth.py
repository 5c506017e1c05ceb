"""Authentication: login, tokens (expiry, revocation), login rate limit, secrets kept out of logs, body limits."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import psycopg
import pytest
from fastapi.testclient import TestClient
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api._accounts import issue_token
from api._app import create_app
from tests.api.conftest import PASSWORD, World
from vigie.settings import Settings


def test_login_gives_a_token_that_authenticates(client: TestClient, world: World) -> None:
    r = client.post("/api/v1/auth/login", json={"username": "vet-a", "password": PASSWORD})
    assert r.status_code == 200, r.text
    token = r.json()["token"]
    assert token.startswith("vgt_")
    me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    assert me.json() | {"language": None} == {
        "user_id": "vet-a",
        "role": "vet",
        "clinic_id": "clinic-a",
        "owner_id": None,
        "device_id": None,
        "display_name": "Dr A",
        "language": None,
    }
    assert me.json()["language"] == "fr"  # the clinic's language


def test_wrong_password_and_unknown_user_are_the_same_401(client: TestClient, world: World) -> None:
    wrong = client.post("/api/v1/auth/login", json={"username": "vet-a", "password": "nope-nope-nope"})
    unknown = client.post("/api/v1/auth/login", json={"username": "nobody", "password": "nope-nope-nope"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()


def test_token_only_account_cannot_log_in_with_a_password(client: TestClient, world: World) -> None:
    r = client.post("/api/v1/auth/login", json={"username": "staff-a", "password": PASSWORD})
    assert r.status_code == 401


def test_login_rate_limit_per_user(client: TestClient, world: World) -> None:
    # api_settings allows 3 failures per user in the window
    for _ in range(3):
        assert client.post("/api/v1/auth/login", json={"username": "owner-a", "password": "x" * 12}).status_code == 401
    r = client.post("/api/v1/auth/login", json={"username": "owner-a", "password": PASSWORD})
    assert r.status_code == 429  # even the right password: guessing goes no faster
    assert int(r.headers["Retry-After"]) > 0
    # another user is not locked out by these failures
    assert client.post("/api/v1/auth/login", json={"username": "vet-a", "password": PASSWORD}).status_code == 200


def test_login_rate_limit_per_address(client: TestClient, world: World) -> None:
    # 4 x 3 failures from one address over many names lock that address out
    for i in range(12):
        client.post("/api/v1/auth/login", json={"username": f"guess-{i}", "password": "x" * 12})
    assert client.post("/api/v1/auth/login", json={"username": "vet-a", "password": PASSWORD}).status_code == 429


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer vgt_not-a-token"}, {"Authorization": "Basic dmV0LWE6eA=="}],
    ids=["none", "unknown", "basic"],
)
def test_requests_without_a_valid_token_get_401(client: TestClient, world: World, headers: dict[str, str]) -> None:
    r = client.get("/api/v1/auth/me", headers=headers)
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == "Bearer"


def test_expired_token_is_refused(client: TestClient, world: World, db_dsn: str) -> None:
    with psycopg.connect(db_dsn) as conn:
        token = issue_token(conn, "vet-a", ttl=timedelta(hours=1)).token
        conn.commit()
        assert client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        # time passes: the token's expiry is now in the past
        conn.execute(
            "UPDATE api_tokens SET created_at = now() - interval '2 hours', expires_at = now() - interval '1 second'"
        )
    assert client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_logout_revokes_the_token(client: TestClient, world: World) -> None:
    headers = world.auth("vet")
    assert client.post("/api/v1/auth/logout", headers=headers).status_code == 204
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 401


def test_disabled_user_is_cut_off(client: TestClient, world: World, db_dsn: str) -> None:
    with psycopg.connect(db_dsn) as conn:
        conn.execute("UPDATE users SET disabled = true WHERE id = 'vet-a'")
    assert client.get("/api/v1/auth/me", headers=world.auth("vet")).status_code == 401


def test_database_stores_no_secret(client: TestClient, world: World, db_dsn: str) -> None:
    r = client.post("/api/v1/auth/login", json={"username": "vet-a", "password": PASSWORD})
    token = r.json()["token"]
    with psycopg.connect(db_dsn) as conn:
        dump = "\n".join(
            str(row)
            for table in ("users", "api_tokens", "login_failures", "audit_log")
            for row in conn.execute(f"SELECT * FROM {table}").fetchall()
        )
    assert PASSWORD not in dump
    assert token not in dump
    assert token[4:] not in dump


def test_secrets_never_appear_in_logs(client: TestClient, world: World, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    r = client.post("/api/v1/auth/login", json={"username": "vet-a", "password": PASSWORD})
    token = r.json()["token"]
    client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    client.post("/api/v1/auth/login", json={"username": "vet-a", "password": PASSWORD + "x"})
    logged = "\n".join(f"{rec.getMessage()} {rec.args!r}" for rec in caplog.records)
    assert caplog.records, "the requests above log something (the check would otherwise be empty)"
    assert PASSWORD not in logged
    assert token not in logged


def test_body_size_limit(client: TestClient, world: World) -> None:
    big = {"username": "vet-a", "password": "x" * (1024 * 1024 + 10)}
    r = client.post("/api/v1/auth/login", json=big)
    assert r.status_code == 413


def test_validation_errors_name_the_field(client: TestClient, world: World) -> None:
    r = client.post("/api/v1/auth/login", json={"username": "vet-a"})
    assert r.status_code == 422
    assert ["body", "password"] in [e["loc"] for e in r.json()["detail"]]
    r = client.post("/api/v1/auth/login", json={"username": "vet-a", "password": "x", "admin": True})
    assert r.status_code == 422
    assert ["body", "admin"] in [e["loc"] for e in r.json()["detail"]]


def test_a_login_is_committed_before_its_answer_leaves(api_settings: Settings, world: World, db_dsn: str) -> None:
    """The request's transaction commits before the response starts (a client that logs in and at once uses its
    token must not be refused: found by the `vigie up` smoke test against a real server)."""

    def tokens() -> int:
        with psycopg.connect(db_dsn) as conn:
            row = conn.execute("SELECT count(*) FROM api_tokens").fetchone()
            return int(row[0]) if row else -1

    seen: list[int] = []

    class Probe:  # counts the committed tokens at the moment the answer starts to leave
        def __init__(self, app: ASGIApp) -> None:
            self.app = app

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            async def probe(message: Message) -> None:
                if message["type"] == "http.response.start":
                    seen.append(await asyncio.to_thread(tokens))
                await send(message)

            await self.app(scope, receive, probe)

    app = create_app(api_settings)
    app.add_middleware(Probe)
    before = tokens()
    with TestClient(app) as c:
        assert c.post("/api/v1/auth/login", json={"username": "vet-a", "password": PASSWORD}).status_code == 200
    assert seen == [before + 1]
