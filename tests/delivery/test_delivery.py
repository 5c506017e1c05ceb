"""The delivery worker against a real SMTP server, a real HTTP receiver and a fresh database."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import Callable

import psycopg
import pytest
from pydantic import SecretStr

from api._delivery import DeliveryWorker, run_delivery
from api._delivery_store import delivery_status
from api._delivery_webhook import verify_signature
from tests.delivery.conftest import SECRET, Receiver, SmtpServer, audit_actions, final_body, outbox, running, until
from vigie.errors import ConfigError
from vigie.settings import Settings


async def test_approved_draft_is_one_email(
    dsettings: Settings,
    smtp: SmtpServer,
    seed: Callable[..., None],
    new_draft: Callable[..., int],
    approve: Callable[..., None],
    db_dsn: str,
) -> None:
    seed()
    draft = new_draft()
    approve(draft, body="Rex a fait une hypoglycémie à 3 h : donnez du miel et appelez-nous.")
    async with running(dsettings):
        await until(lambda: outbox(db_dsn)[0]["status"] == "sent", what="status sent")
    # another pass finds nothing to do
    stats = await run_delivery(dsettings, stop=asyncio.Event(), once=True)
    assert stats.sent == 0

    assert len(smtp.messages) == 1
    got = smtp.messages[0]
    row = outbox(db_dsn)[0]
    assert got.rcpt_tos == ["claire@example.org"]
    email = got.email
    assert email["To"] == "claire@example.org"
    assert email["From"] == "Vigie <vigie@vigie.test>"
    assert email["Subject"] == "Clinique du Parc : un message de votre vétérinaire au sujet de Rex"
    assert email["Message-ID"] == f"<vigie-outbox-{row['id']}@vigie.test>"
    assert email["Content-Language"] == "fr"
    assert email.get_content_charset() == "utf-8"
    text = email.get_content()
    assert text.rstrip("\n") == final_body(db_dsn, draft)
    assert "Validé par : Dr Lefèvre" in text

    assert row["attempts"] == 1
    assert row["channels"] == ["email"]
    assert row["sent_at"] is not None
    assert row["email_sent_at"] is not None
    assert row["last_error"] is None
    assert row["claimed_by"] is None
    sends = [d for a, d in audit_actions(db_dsn) if a == "outbox.send"]
    assert len(sends) == 1
    assert sends[0]["channel"] == "email"
    assert sends[0]["to"] == "claire@example.org"
    assert sends[0]["message_id"] == email["Message-ID"]
    with psycopg.connect(db_dsn) as conn:
        [status] = delivery_status(conn, clinic_id="c1")
        assert delivery_status(conn, clinic_id="other") == []
    assert status.status == "sent"
    assert status.draft_id == draft
    assert status.next_attempt_at is None


async def test_english_owner_gets_english_subject(
    dsettings: Settings,
    smtp: SmtpServer,
    seed: Callable[..., None],
    new_draft: Callable[..., int],
    approve: Callable[..., None],
) -> None:
    seed(language="en")
    approve(new_draft("Rex had a low overnight.", language="en"))
    stats = await run_delivery(dsettings, stop=asyncio.Event(), once=True)
    assert stats.sent == 1
    [got] = smtp.messages
    assert got.email["Subject"] == "Clinique du Parc: a message from your vet about Rex"
    assert got.email.get_content().startswith("Rex had a low overnight.\nApproved by: Dr Lefèvre")


async def test_the_drafts_subject_line_is_the_emails_subject(
    dsettings: Settings,
    smtp: SmtpServer,
    seed: Callable[..., None],
    new_draft: Callable[..., int],
    approve: Callable[..., None],
    db_dsn: str,
) -> None:
    seed()
    draft = new_draft("Objet : Rex — À traiter aujourd'hui\n\nBonjour Claire Martin,\n\nRex a fait une hypoglycémie.")
    approve(draft)
    await run_delivery(dsettings, stop=asyncio.Event(), once=True)
    [got] = smtp.messages
    assert got.email["Subject"] == "Clinique du Parc : Rex — À traiter aujourd'hui"
    assert got.email.get_content().rstrip("\n") == final_body(db_dsn, draft)  # the body keeps its first line


async def test_webhook_signed_with_idempotency_key(
    dsettings: Settings,
    smtp: SmtpServer,
    receiver: Receiver,
    seed: Callable[..., None],
    new_draft: Callable[..., int],
    approve: Callable[..., None],
    db_dsn: str,
) -> None:
    seed(webhook=receiver.url)
    draft = new_draft()
    approve(draft)
    async with running(dsettings):
        await until(lambda: outbox(db_dsn)[0]["status"] == "sent", what="status sent")
    row = outbox(db_dsn)[0]
    assert row["channels"] == ["email", "webhook"]
    assert len(smtp.messages) == 1
    [req] = receiver.requests
    assert req.path == "/hooks/vigie"
    assert req.headers["idempotency-key"] == f"vigie-outbox-{row['id']}"
    assert req.headers["content-type"].startswith("application/json")
    assert verify_signature(SECRET.encode(), req.headers["vigie-signature"], req.body)
    # the scheme, computed independently of Vigie's code
    fields = dict(p.split("=", 1) for p in req.headers["vigie-signature"].split(","))
    expected = hmac.new(SECRET.encode(), fields["t"].encode() + b"." + req.body, hashlib.sha256).hexdigest()
    assert fields["v1"] == expected
    assert not verify_signature(b"another secret", req.headers["vigie-signature"], req.body)
    assert not verify_signature(SECRET.encode(), req.headers["vigie-signature"], req.body + b" ")
    doc = json.loads(req.body)
    assert doc["id"] == f"vigie-outbox-{row['id']}"
    assert doc["draft_id"] == draft
    assert doc["body"] == final_body(db_dsn, draft)
    assert doc["animal"] == {"id": "rex", "name": "Rex"}
    assert doc["approved_by"] == "Dr Lefèvre"
    assert sorted(d["channel"] for a, d in audit_actions(db_dsn) if a == "outbox.send") == ["email", "webhook"]


async def test_a_clinic_secret_overrides_the_global_one(
    dsettings: Settings,
    receiver: Receiver,
    seed: Callable[..., None],
    new_draft: Callable[..., int],
    approve: Callable[..., None],
) -> None:
    settings = dsettings.model_copy(
        update={"delivery_webhook_secrets": {"c1": SecretStr("clinic-one-key"), "c2": SecretStr("other")}}
    )
    seed(email=None, webhook=receiver.url)
    approve(new_draft())
    assert (await run_delivery(settings, stop=asyncio.Event(), once=True)).sent == 1
    [req] = receiver.requests
    assert verify_signature(b"clinic-one-key", req.headers["vigie-signature"], req.body)
    assert not verify_signature(SECRET.encode(), req.headers["vigie-signature"], req.body)


def test_per_clinic_secrets_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIE_DELIVERY_WEBHOOK_SECRETS", '{"vet-parc": "k1"}')
    secrets = Settings().delivery_webhook_secrets
    assert {c: k.get_secret_value() for c, k in secrets.items()} == {"vet-parc": "k1"}
    assert "k1" not in repr(secrets)


async def test_smtp_down_is_retried_with_backoff_then_sent_once(
    dsettings: Settings,
    smtp_down: SmtpServer,
    seed: Callable[..., None],
    new_draft: Callable[..., int],
    approve: Callable[..., None],
    db_dsn: str,
) -> None:
    settings = dsettings.model_copy(update={"delivery_max_attempts": 50})
    seed()
    approve(new_draft())
    async with running(settings):
        await until(lambda: outbox(db_dsn)[0]["attempts"] >= 3, what="three failed attempts")
        row = outbox(db_dsn)[0]
        assert row["status"] in ("queued", "sending")
        assert "email:" in (row["last_error"] or "")
        smtp_down.start()
        await until(lambda: outbox(db_dsn)[0]["status"] == "sent", what="status sent")
    assert len(smtp_down.messages) == 1
    actions = audit_actions(db_dsn)
    retries = [d for a, d in actions if a == "outbox.retry"]
    assert len(retries) >= 2
    assert [a for a, _ in actions].count("outbox.send") == 1
    # capped exponential backoff with jitter: each delay in the upper half of its ceiling (0.1, 0.2, 0.4, 0.4 … s),
    # so growing until the cap
    uncapped = [d["retry_in_s"] for d in retries if d["attempt"] <= 3]
    assert uncapped == sorted(uncapped)
    for d in retries:
        ceiling = min(0.4, 0.1 * 2 ** (d["attempt"] - 1))
        assert ceiling / 2 - 0.001 <= d["retry_in_s"] <= ceiling + 0.001
    assert outbox(db_dsn)[0]["attempts"] == len(retries) + 1


async def test_webhook_500_then_200_is_one_success(
    dsettings: Settings,
    receiver: Receiver,
    seed: Callable[..., None],
    new_draft: Callable[..., int],
    approve: Callable[..., None],
    db_dsn: str,
) -> None:
    seed(email=None, webhook=receiver.url)
    receiver.replies.append(500)
    approve(new_draft())
    async with running(dsettings):
        await until(lambda: outbox(db_dsn)[0]["status"] == "sent", what="status sent")
    row = outbox(db_dsn)[0]
    assert row["channels"] == ["webhook"]
    assert row["attempts"] == 2
    assert [r.status for r in receiver.requests] == [500, 200]
    assert {r.headers["idempotency-key"] for r in receiver.requests} == {f"vigie-outbox-{row['id']}"}
    assert [r.headers["vigie-attempt"] for r in receiver.requests] == ["1", "2"]
    actions = [a for a, _ in audit_actions(db_dsn)]
    assert actions == ["outbox.retry", "outbox.send"]


async def test_email_sent_is_not_repeated_when_the_webhook_is_retried(
    dsettings: Settings,
    smtp: SmtpServer,
    receiver: Receiver,
    seed: Callable[..., None],
    new_draft: Callable[..., int],
    approve: Callable[..., None],
    db_dsn: str,
) -> None:
    seed(webhook=receiver.url)
    receiver.replies.extend([503, 503])
    approve(new_draft())
    async with running(dsettings):
        await until(lambda: outbox(db_dsn)[0]["status"] == "sent", what="status sent")
    assert len(smtp.messages) == 1
    assert len(receiver.requests) == 3
    assert outbox(db_dsn)[0]["attempts"] == 3


async def test_failed_after_max_attempts_with_last_error(
    dsettings: Settings,
    receiver: Receiver,
    seed: Callable[..., None],
    new_draft: Callable[..., int],
    approve: Callable[..., None],
    db_dsn: str,
) -> None:
    seed(email=None, webhook=receiver.url)
    receiver.replies.extend([503] * 10)
    approve(new_draft())
    async with running(dsettings):
        await until(lambda: outbox(db_dsn)[0]["status"] == "failed", what="status failed")
    row = outbox(db_dsn)[0]
    assert row["attempts"] == dsettings.delivery_max_attempts == 4
    assert row["last_error"] == "webhook: webhook answered 503 Service Unavailable"
    assert row["sent_at"] is None
    assert len(receiver.requests) == 4
    actions = [a for a, _ in audit_actions(db_dsn)]
    assert actions == ["outbox.retry"] * 3 + ["outbox.fail"]


async def test_permanent_errors_fail_at_once(
    dsettings: Settings,
    smtp: SmtpServer,
    receiver: Receiver,
    seed: Callable[..., None],
    new_draft: Callable[..., int],
    approve: Callable[..., None],
    db_dsn: str,
) -> None:
    seed(email="nobody@example.org", webhook=receiver.url)
    smtp.unknown.add("nobody@example.org")
    receiver.replies.append(410)
    approve(new_draft())
    stats = await run_delivery(dsettings, stop=asyncio.Event(), once=True)
    assert stats.failed == 1
    row = outbox(db_dsn)[0]
    assert row["status"] == "failed"
    assert row["attempts"] == 1
    assert "550" in row["last_error"]
    assert "410" in row["last_error"]
    assert smtp.messages == []
    [(action, detail)] = audit_actions(db_dsn)
    assert action == "outbox.fail"
    assert detail["permanent"] is True


async def test_bad_address_fails_at_once_without_reaching_the_server(
    dsettings: Settings,
    smtp: SmtpServer,
    seed: Callable[..., None],
    new_draft: Callable[..., int],
    approve: Callable[..., None],
    db_dsn: str,
) -> None:
    seed(email="claire@example.org, eve@example.org")
    approve(new_draft())
    await run_delivery(dsettings, stop=asyncio.Event(), once=True)
    row = outbox(db_dsn)[0]
    assert (row["status"], row["attempts"]) == ("failed", 1)
    assert "one address expected" in row["last_error"]
    assert smtp.messages == []


def test_a_bad_sender_setting_stops_the_worker_at_start(dsettings: Settings) -> None:
    with pytest.raises(ConfigError, match="VIGIE_MAIL_FROM"):
        DeliveryWorker(dsettings.model_copy(update={"mail_from": "a@x.org, b@y.org"}))


async def test_owner_without_email_or_webhook_fails(
    dsettings: Settings,
    seed: Callable[..., None],
    new_draft: Callable[..., int],
    approve: Callable[..., None],
    db_dsn: str,
) -> None:
    seed(email=None)
    approve(new_draft())
    await run_delivery(dsettings, stop=asyncio.Event(), once=True)
    row = outbox(db_dsn)[0]
    assert (row["status"], row["attempts"], row["channels"]) == ("failed", 1, [])
    assert "neither an email address nor a webhook" in row["last_error"]


async def test_pending_and_rejected_drafts_are_never_sent(
    dsettings: Settings,
    smtp: SmtpServer,
    seed: Callable[..., None],
    new_draft: Callable[..., int],
    approve: Callable[..., None],
    db_dsn: str,
) -> None:
    from rules._vet import reject

    seed()
    new_draft("pending one")
    rejected = new_draft("rejected one")
    approved = new_draft("approved one")
    with psycopg.connect(db_dsn) as conn:
        reject(conn, rejected, "Dr Lefèvre", "not needed")
    approve(approved)
    async with running(dsettings):
        await until(lambda: smtp.messages, what="one email")
        await until(lambda: outbox(db_dsn)[0]["status"] == "sent", what="status sent")
    await run_delivery(dsettings, stop=asyncio.Event(), once=True)
    assert len(smtp.messages) == 1
    assert smtp.messages[0].email.get_content().startswith("approved one\n")
    assert [r["draft_id"] for r in outbox(db_dsn)] == [approved]


async def test_expired_lease_is_claimed_again_with_the_same_message_id(
    dsettings: Settings,
    smtp: SmtpServer,
    seed: Callable[..., None],
    new_draft: Callable[..., int],
    approve: Callable[..., None],
    db_dsn: str,
) -> None:
    from api import _delivery_store as store

    seed()
    approve(new_draft())
    # a worker claims the message, then dies before sending or recording anything
    async with await psycopg.AsyncConnection.connect(db_dsn) as conn:
        [dead] = await store.claim(conn, worker="dead-worker", limit=5, lease_s=0.3, max_attempts=4)
    assert outbox(db_dsn)[0]["status"] == "sending"
    # a live worker leaves it alone during the lease, then claims it again
    stats = await run_delivery(dsettings.model_copy(update={"delivery_lease_s": 0.3}), stop=asyncio.Event(), once=True)
    row = outbox(db_dsn)[0]
    if row["status"] == "sending":  # the lease had not ended yet when the pass ran
        assert stats.sent == 0
        await until(lambda: outbox(db_dsn)[0]["next_attempt_at"] is not None, what="lease")
        async with running(dsettings):
            await until(lambda: outbox(db_dsn)[0]["status"] == "sent", what="status sent")
    row = outbox(db_dsn)[0]
    assert row["status"] == "sent"
    assert row["attempts"] == 2
    [got] = smtp.messages
    assert got.email["Message-ID"] == f"<vigie-outbox-{dead.outbox_id}@vigie.test>"
    actions = [a for a, _ in audit_actions(db_dsn)]
    assert actions == ["outbox.reclaim", "outbox.send"]
    # the dead worker's late outcome is refused: the row is no longer its own
    async with await psycopg.AsyncConnection.connect(db_dsn) as conn:
        kept = await store.record(
            conn,
            dead,
            store.Outcome(sent={}, errors={"email": "late"}, permanent=False, retry_in=1.0),
            worker="dead-worker",
        )
    assert kept is False
    assert outbox(db_dsn)[0]["status"] == "sent"


async def test_last_attempt_lease_ending_fails_the_message(
    dsettings: Settings,
    smtp: SmtpServer,
    seed: Callable[..., None],
    new_draft: Callable[..., int],
    approve: Callable[..., None],
    db_dsn: str,
) -> None:
    seed()
    approve(new_draft())
    with psycopg.connect(db_dsn, autocommit=True) as db:
        db.execute("UPDATE outbox SET status = 'sending', attempts = 4, next_attempt_at = now() - interval '1 s'")
    stats = await run_delivery(dsettings, stop=asyncio.Event(), once=True)
    assert stats.failed == 1
    row = outbox(db_dsn)[0]
    assert row["status"] == "failed"
    assert "may have been sent" in row["last_error"]
    assert smtp.messages == []
