"""Pure parts of delivery: the retry delay, the webhook signature, the SMTP URL, the subject."""

from __future__ import annotations

import random
import time

import pytest

from api._delivery_mail import SmtpServer, message_id
from api._delivery_model import backoff, subject_for
from api._delivery_webhook import sign, verify_signature
from vigie.errors import ConfigError


def test_backoff_doubles_within_the_upper_half_and_is_capped() -> None:
    rng = random.Random(7)
    for attempt in range(1, 30):
        ceiling = min(3600.0, 30.0 * 2 ** (attempt - 1))
        for _ in range(200):
            delay = backoff(attempt, base=30.0, cap=3600.0, rng=rng)
            assert ceiling / 2 <= delay <= ceiling
    spread = {round(backoff(3, base=30.0, cap=3600.0, rng=rng), 3) for _ in range(100)}
    assert len(spread) > 50  # jitter: workers retrying together spread out


def test_signature_rejects_replays_and_tampering() -> None:
    secret, body = b"k", b'{"id":"vigie-outbox-1"}'
    now = int(time.time())
    header = sign(secret, body, now)
    assert verify_signature(secret, header, body, now=now + 299)
    assert not verify_signature(secret, header, body, now=now + 301)  # a replay, later
    assert not verify_signature(secret, sign(secret, body, now - 3600), body, now=now)
    assert not verify_signature(secret, header.replace("v1=", "v1=0"), body, now=now)
    assert not verify_signature(secret, "garbage", body, now=now)
    assert not verify_signature(secret, f"t={now}", body, now=now)


def test_smtp_urls() -> None:
    plain = SmtpServer.parse("smtp://127.0.0.1:8025")
    assert (plain.host, plain.port, plain.security, plain.username) == ("127.0.0.1", 8025, "plain", None)
    tls = SmtpServer.parse("smtps://vigie%40clinic:p%40ss@mail.example.org")
    assert (tls.port, tls.security, tls.username, tls.password) == (465, "tls", "vigie@clinic", "p@ss")
    assert SmtpServer.parse("smtp+starttls://mail.example.org").port == 587
    with pytest.raises(ConfigError, match="smtp_url must start with"):
        SmtpServer.parse("http://mail.example.org")
    assert message_id(12, "Vigie <vigie@clinique.fr>") == "<vigie-outbox-12@clinique.fr>"


def test_subjects() -> None:
    assert subject_for("en", "Park Clinic", None) == "Park Clinic: a message from your vet"
    assert subject_for("fr", "Parc", "Rex", "\n  Objet : Rex — urgent\nBonjour") == "Parc : Rex — urgent"
    assert subject_for("en", "Park", "Rex", "Subject: Rex — today\n\nHello") == "Park: Rex — today"
    assert (
        subject_for("en", "Park", "Rex", "Hello\nSubject: not the first line")
        == "Park: a message from your vet about Rex"
    )
