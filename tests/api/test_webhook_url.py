"""An owner's ``webhook_url`` cannot point the delivery worker at the server's own networks (SSRF).

Set time (these tests): http/https only, no credentials, no IP literal of a non-public range, 422 on
``["body", "webhook_url"]``. A host *name* is accepted here and checked at each delivery, where it is resolved
(``tests/delivery/test_webhook_target.py``).
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from fastapi.testclient import TestClient

from api._app import create_app
from tests.api.conftest import World
from vigie.settings import Settings

REFUSED = [
    ("http://127.0.0.1:8080/hook", "loopback"),
    ("http://127.1.2.3/hook", "loopback"),
    ("http://10.0.0.7/hook", "private"),
    ("https://192.168.1.10/hook", "private"),
    ("http://172.16.5.4/hook", "private"),
    ("http://169.254.169.254/latest/meta-data/", "link-local"),
    ("http://100.64.0.1/hook", "shared"),
    ("http://0.0.0.0:8000/hook", "unspecified"),
    ("http://[::1]:8000/hook", "loopback"),
    ("http://[fd00::1]/hook", "unique-local"),
    ("http://[fd12:3456:789a::1]/hook", "unique-local"),
    ("http://[fe80::1]/hook", "link-local"),
    ("http://[::ffff:127.0.0.1]/hook", "loopback"),
    ("file:///etc/passwd", "only http:// and https://"),
    ("ftp://example.org/hook", "only http:// and https://"),
    ("gopher://example.org/hook", "only http:// and https://"),
    ("http://user:pass@example.org/hook", "credentials"),
    ("https://token@example.org/hook", "credentials"),
    ("http:///hook", "no host"),
]


@pytest.fixture
def strict(api_settings: Settings) -> Iterator[TestClient]:
    """The app with the default ``webhook_allow_private`` (false), whatever the environment says."""
    with TestClient(create_app(api_settings.model_copy(update={"webhook_allow_private": False}))) as c:
        yield c


def _webhook(dsn: str, owner: str) -> str | None:
    with psycopg.connect(dsn, autocommit=True) as db:
        row = db.execute("SELECT webhook_url FROM owners WHERE id = %s", (owner,)).fetchone()
    assert row is not None
    return None if row[0] is None else str(row[0])


def test_create_and_patch_refuse_internal_and_odd_webhooks(strict: TestClient, world: World, db_dsn: str) -> None:
    headers = world.auth("vet")
    r = strict.patch("/api/v1/owners/owner-a", headers=headers, json={"webhook_url": "https://hooks.example.org/v"})
    assert r.status_code == 200, r.text
    wrong: list[tuple[str, str, int, object]] = []
    for url, fragment in REFUSED:
        created = strict.post(
            "/api/v1/owners", headers=headers, json={"id": "o-new", "name": "New", "webhook_url": url}
        )
        patched = strict.patch("/api/v1/owners/owner-a", headers=headers, json={"webhook_url": url})
        for what, r in (("create", created), ("patch", patched)):
            detail = r.json().get("detail")
            if r.status_code != 422 or detail[0]["loc"] != ["body", "webhook_url"] or fragment not in detail[0]["msg"]:
                wrong.append((what, url, r.status_code, detail))
    assert wrong == []
    with psycopg.connect(db_dsn, autocommit=True) as db:
        assert db.execute("SELECT count(*) FROM owners WHERE id = 'o-new'").fetchone() == (0,)
    assert _webhook(db_dsn, "owner-a") == "https://hooks.example.org/v"


def test_the_refusal_says_why_and_how_to_allow_it(strict: TestClient, world: World) -> None:
    r = strict.patch("/api/v1/owners/owner-a", headers=world.auth("admin"), json={"webhook_url": "http://10.1.2.3/"})
    assert r.status_code == 422
    msg = r.json()["detail"][0]["msg"]
    assert msg == (
        "the host 10.1.2.3 is a private address, not a public one "
        "(VIGIE_WEBHOOK_ALLOW_PRIVATE allows it on an on-premises install)"
    )


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.org/vigie",
        "https://8.8.8.8/hook",
        "https://[2606:4700:4700::1111]/hook",
        "http://localhost:8080/hook",  # a name: resolved and refused at delivery, not here
    ],
)
def test_public_addresses_and_names_are_accepted(strict: TestClient, world: World, db_dsn: str, url: str) -> None:
    r = strict.post(
        "/api/v1/owners", headers=world.auth("vet"), json={"id": "o-new", "name": "New", "webhook_url": url}
    )
    assert r.status_code == 201, r.text
    assert _webhook(db_dsn, "o-new") == url


def test_null_clears_the_webhook(strict: TestClient, world: World, db_dsn: str) -> None:
    headers = world.auth("vet")
    r = strict.patch("/api/v1/owners/owner-a", headers=headers, json={"webhook_url": "https://h.example.org/"})
    assert r.status_code == 200, r.text
    r = strict.patch("/api/v1/owners/owner-a", headers=headers, json={"webhook_url": None})
    assert r.status_code == 200, r.text
    assert _webhook(db_dsn, "owner-a") is None


def test_allow_private_accepts_addresses_of_the_clinic_network(api_settings: Settings, world: World) -> None:
    on_premises = api_settings.model_copy(update={"webhook_allow_private": True})
    with TestClient(create_app(on_premises)) as client:
        headers = world.auth("vet")
        for url in ("http://127.0.0.1:8080/hook", "http://10.0.0.7/hook", "http://[fd00::1]/hook"):
            r = client.patch("/api/v1/owners/owner-a", headers=headers, json={"webhook_url": url})
            assert r.status_code == 200, r.text
            assert r.json()["webhook_url"] == url
        # the scheme and credentials rules hold regardless
        r = client.patch("/api/v1/owners/owner-a", headers=headers, json={"webhook_url": "http://u:p@10.0.0.7/"})
        assert r.status_code == 422
        r = client.patch("/api/v1/owners/owner-a", headers=headers, json={"webhook_url": "ftp://10.0.0.7/"})
        assert r.status_code == 422


def test_staff_get_403_before_any_webhook_check(strict: TestClient, world: World) -> None:
    r = strict.patch("/api/v1/owners/owner-a", headers=world.auth("staff"), json={"webhook_url": "http://10.0.0.1/"})
    assert r.status_code == 403
