"""Webhooks never reach the delivery host's own networks (SSRF), with the default ``webhook_allow_private=False``.

A name is resolved by the worker's own network backend at each connection; any non-public address refuses it, the
connection goes to the address checked, and the refusal is a permanent failure recorded in the outbox and the audit
log. The real worker, database and HTTP receiver on 127.0.0.1: nothing may reach the receiver.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
from collections.abc import Callable

import httpx
import psycopg
import pytest

from api._delivery import run_delivery
from api._webhook_target import Address, BlockedAddress, GuardedBackend, guarded_client, non_public, url_problem
from tests.delivery.conftest import Receiver, SmtpServer, audit_actions, outbox
from vigie.settings import Settings


@pytest.fixture
def strict(dsettings: Settings) -> Settings:
    """The delivery settings with the default: no private webhook targets."""
    return dsettings.model_copy(update={"webhook_allow_private": False})


async def test_a_name_resolving_to_loopback_is_refused_at_delivery(
    strict: Settings,
    receiver: Receiver,
    seed: Callable[..., None],
    new_draft: Callable[..., int],
    approve: Callable[..., None],
    db_dsn: str,
) -> None:
    # accepted when it was set (a name: tests/api/test_webhook_url.py), refused when it is resolved
    seed(email=None, webhook=f"http://localhost:{receiver.port}/hooks/vigie")
    approve(new_draft())
    stats = await run_delivery(strict, stop=asyncio.Event(), once=True)
    assert stats.failed == 1
    assert receiver.requests == []
    row = outbox(db_dsn)[0]
    assert row["status"] == "failed"
    assert row["attempts"] == 1  # permanent: not retried
    assert re.fullmatch(
        r"webhook: webhook refused: localhost resolves to (127\.0\.0\.1|::1), a loopback address, not a public one"
        r" \(VIGIE_WEBHOOK_ALLOW_PRIVATE allows it on an on-premises install\)",
        row["last_error"],
    ), row["last_error"]
    [(action, detail)] = audit_actions(db_dsn)
    assert action == "outbox.fail"
    assert detail["permanent"] is True
    assert detail["errors"]["webhook"] == row["last_error"].removeprefix("webhook: ")
    # another pass leaves it alone
    again = await run_delivery(strict, stop=asyncio.Event(), once=True)
    assert (again.sent, again.failed, again.retried) == (0, 0, 0)
    assert receiver.requests == []


async def test_the_email_goes_and_the_refused_webhook_fails_the_message(
    strict: Settings,
    smtp: SmtpServer,
    receiver: Receiver,
    seed: Callable[..., None],
    new_draft: Callable[..., int],
    approve: Callable[..., None],
    db_dsn: str,
) -> None:
    seed(webhook=f"http://localhost:{receiver.port}/hooks/vigie")
    approve(new_draft())
    await run_delivery(strict, stop=asyncio.Event(), once=True)
    row = outbox(db_dsn)[0]
    assert (row["status"], row["attempts"]) == ("failed", 1)
    assert row["email_sent_at"] is not None
    assert row["webhook_sent_at"] is None
    assert "localhost resolves to" in row["last_error"]
    assert receiver.requests == []


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1:{port}/hooks/vigie", "the host 127.0.0.1 is a loopback address"),
        ("http://[::ffff:127.0.0.1]:{port}/hooks/vigie", "the host ::ffff:127.0.0.1 is a loopback address"),
        ("http://169.254.169.254/latest/meta-data/", "the host 169.254.169.254 is a link-local address"),
        ("http://user:secret@localhost:{port}/hooks/vigie", "may not carry credentials"),
    ],
    ids=["loopback", "mapped-loopback", "metadata", "credentials"],
)
async def test_a_url_stored_before_the_check_is_refused_at_delivery(
    strict: Settings,
    receiver: Receiver,
    seed: Callable[..., None],
    new_draft: Callable[..., int],
    approve: Callable[..., None],
    db_dsn: str,
    url: str,
    reason: str,
) -> None:
    seed(email=None, webhook=url.format(port=receiver.port))  # written straight into the table, as before the check
    approve(new_draft())
    await run_delivery(strict, stop=asyncio.Event(), once=True)
    row = outbox(db_dsn)[0]
    assert (row["status"], row["attempts"]) == ("failed", 1)
    assert row["last_error"].startswith("webhook: webhook refused: "), row["last_error"]
    assert reason in row["last_error"]
    assert receiver.requests == []


async def test_allow_private_delivers_to_the_same_local_receiver(
    dsettings: Settings,
    receiver: Receiver,
    seed: Callable[..., None],
    new_draft: Callable[..., int],
    approve: Callable[..., None],
    db_dsn: str,
) -> None:
    assert dsettings.webhook_allow_private is True
    seed(email=None, webhook=f"http://localhost:{receiver.port}/hooks/vigie")
    approve(new_draft())
    stats = await run_delivery(dsettings, stop=asyncio.Event(), once=True)
    assert stats.sent == 1
    assert len(receiver.ok()) == 1
    assert outbox(db_dsn)[0]["status"] == "sent"
    with psycopg.connect(db_dsn, autocommit=True) as db:
        assert db.execute("SELECT count(*) FROM audit_log WHERE action = 'outbox.fail'").fetchone() == (0,)


# --- the network backend, with a resolver of our own (the seam: GuardedBackend.resolve) ----------------------------


class Resolver(GuardedBackend):
    """A backend whose names resolve to fixed addresses (each resolution counted)."""

    def __init__(self, table: dict[str, list[str]], *, allow_private: bool) -> None:
        super().__init__(allow_private=allow_private)
        self.table = table
        self.calls: list[str] = []

    async def resolve(self, host: str, port: int) -> list[Address]:
        del port
        self.calls.append(host)
        return [ipaddress.ip_address(a) for a in self.table[host]]


async def test_the_connection_goes_to_the_address_the_backend_resolved(receiver: Receiver) -> None:
    # hooks.vigie.test resolves nowhere but in the backend: a request that arrives went to the address it chose
    backend = Resolver({"hooks.vigie.test": ["127.0.0.1"]}, allow_private=True)
    async with guarded_client(allow_private=True, timeout=2, backend=backend) as client:
        r = await client.post(f"http://hooks.vigie.test:{receiver.port}/hooks/vigie", content=b"{}")
    assert r.status_code == 200
    assert backend.calls == ["hooks.vigie.test"]
    [request] = receiver.requests
    assert request.headers["host"] == f"hooks.vigie.test:{receiver.port}"


@pytest.mark.parametrize(
    "addresses",
    [["127.0.0.1"], ["93.184.215.14", "127.0.0.1"], ["2606:4700::6810:85e5", "::1"], ["93.184.215.14", "10.0.0.1"]],
    ids=["loopback", "public-then-loopback", "v6-public-then-loopback", "public-then-private"],
)
async def test_one_non_public_address_refuses_the_host_before_any_connection(
    receiver: Receiver, addresses: list[str]
) -> None:
    backend = Resolver({"rebind.vigie.test": addresses}, allow_private=False)
    async with guarded_client(allow_private=False, timeout=2, backend=backend) as client:
        with pytest.raises(BlockedAddress, match=r"rebind\.vigie\.test resolves to .*, a (loopback|private) address"):
            await client.post(f"http://rebind.vigie.test:{receiver.port}/hooks/vigie", content=b"{}")
    assert receiver.requests == []


async def test_an_unresolvable_name_is_a_connection_error_retried_not_a_refusal() -> None:
    async with guarded_client(allow_private=False, timeout=2) as client:
        with pytest.raises(httpx.ConnectError, match="cannot resolve"):
            await client.post("http://no-such-host.invalid/hook")


async def test_the_client_follows_no_redirect_and_reads_no_proxy_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://10.0.0.1:3128")
    monkeypatch.setenv("ALL_PROXY", "http://10.0.0.1:3128")
    async with guarded_client(allow_private=False, timeout=2) as client:
        assert client.follow_redirects is False
        assert client.trust_env is False


# --- the address classes ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.0.9", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.0.1", "private"),
        ("169.254.169.254", "link-local"),
        ("100.64.0.1", "shared (carrier-grade NAT)"),
        ("0.0.0.0", "unspecified"),  # noqa: S104 - an address under test, nothing binds to it
        ("224.0.0.1", "multicast"),
        ("255.255.255.255", "private"),
        ("192.0.2.1", "private"),
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fd00::1", "unique-local"),
        ("fc00::1", "unique-local"),
        ("fe80::1", "link-local"),
        ("ff02::1", "multicast"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:10.0.0.1", "private"),
        ("2002:7f00:1::", "loopback"),  # 6to4 of 127.0.0.1
        ("2002:a9fe:a9fe::", "link-local"),  # 6to4 of 169.254.169.254
        ("64:ff9b::a00:1", "private"),  # NAT64 of 10.0.0.1
        ("8.8.8.8", None),
        ("93.184.215.14", None),
        ("2606:4700:4700::1111", None),
        ("64:ff9b::808:808", None),  # NAT64 of 8.8.8.8
    ],
)
def test_address_classes(address: str, kind: str | None) -> None:
    assert non_public(ipaddress.ip_address(address)) == kind


def test_url_shapes() -> None:
    assert url_problem("https://hooks.example.org/v1?x=1", allow_private=False) is None
    assert url_problem("http://127.0.0.1/", allow_private=True) is None
    assert url_problem("http://127.0.0.1/", allow_private=False) is not None
    assert url_problem("HTTPS://example.org/", allow_private=False) is None
    assert "only http" in (url_problem("javascript:alert(1)", allow_private=True) or "")
    assert "credentials" in (url_problem("https://:pw@example.org/", allow_private=True) or "")
    assert "not a valid URL" in (url_problem("http://[::1/", allow_private=True) or "")
    assert "not a valid URL" in (url_problem("http://example.org:70000/", allow_private=True) or "")
