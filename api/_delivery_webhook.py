"""The webhook channel: ``POST`` the approved message as JSON to the owner's ``webhook_url``, signed.

Headers of every request:

- ``Idempotency-Key: vigie-outbox-ID``: the same on every attempt of one message; a receiver that stores the keys
  it has processed drops a repeat (delivery is at least once).
- ``Vigie-Signature: t=UNIX,v1=HEX``: HMAC-SHA256 with ``delivery_webhook_secret`` over ``"{t}." + body``;
  :func:`verify_signature` is what a receiver runs (reject when the timestamp is older than a few minutes).
- ``Vigie-Attempt: N``, ``Content-Type: application/json``, ``User-Agent: vigie/VERSION``.

A 2xx answer is success. 408, 425, 429 and 5xx answers, timeouts and connection errors are retried (``Retry-After``
is honoured as a lower bound); any other answer, redirects included (they are not followed), is permanent.

The target is checked twice (``api/_webhook_target.py``): the URL itself here (http/https, no credentials, no
non-public IP literal: a URL stored before the check existed is caught too), and each connection's resolved
addresses by the client's transport. Either refusal is permanent: the message is ``failed`` with the reason.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from api._delivery_model import Message, SendError
from api._webhook_target import BlockedAddress, url_problem
from vigie import __version__

SIGNATURE_HEADER = "Vigie-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
RETRYABLE = frozenset({408, 425, 429})


def payload(msg: Message) -> dict[str, Any]:
    """The JSON document of ``msg`` (``id`` is the idempotency key)."""
    return {
        "id": msg.key,
        "type": "recommendation.approved",
        "outbox_id": msg.outbox_id,
        "draft_id": msg.draft_id,
        "clinic": {"id": msg.clinic_id, "name": msg.clinic_name},
        "owner_id": msg.owner_id,
        "animal": None if msg.animal_id is None else {"id": msg.animal_id, "name": msg.animal_name},
        "language": msg.language,
        "subject": msg.subject,
        "body": msg.body,
        "approved_by": msg.approved_by,
        "approved_at": None if msg.approved_at is None else msg.approved_at.isoformat(),
    }


def sign(secret: bytes, body: bytes, timestamp: int) -> str:
    """The ``Vigie-Signature`` header value of ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify_signature(
    secret: bytes, header: str, body: bytes, *, tolerance_s: float = 300.0, now: float | None = None
) -> bool:
    """True if ``header`` signs ``body`` with ``secret`` and its timestamp is within ``tolerance_s`` of now."""
    fields = dict(part.partition("=")[::2] for part in header.split(","))
    try:
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance_s:
        return False
    expected = sign(secret, body, timestamp).partition(",v1=")[2]
    return hmac.compare_digest(expected, fields.get("v1", ""))


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError):
        return None


async def send_webhook(
    msg: Message, *, client: httpx.AsyncClient, secret: bytes | None, time_limit: float, allow_private: bool = False
) -> int:
    """POST ``msg`` to its webhook; the HTTP status on success, :class:`SendError` otherwise.

    ``client`` must be :func:`api._webhook_target.guarded_client` (what the worker uses): it refuses connections to
    non-public addresses unless ``allow_private``.
    """
    if not msg.webhook_url:
        raise SendError("the owner has no webhook", permanent=True)
    problem = url_problem(msg.webhook_url, allow_private=allow_private)
    if problem is not None:
        raise SendError(f"webhook refused: {problem}", permanent=True)
    if not secret:
        raise SendError("VIGIE_DELIVERY_WEBHOOK_SECRET is not set: webhooks are not sent unsigned")
    body = json.dumps(payload(msg), ensure_ascii=False, separators=(",", ":")).encode()
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": f"vigie/{__version__}",
        IDEMPOTENCY_HEADER: msg.key,
        SIGNATURE_HEADER: sign(secret, body, int(time.time())),
        "Vigie-Attempt": str(msg.attempt),
    }
    try:
        async with asyncio.timeout(time_limit * 4):  # httpx's timeout bounds each phase; this bounds the whole
            response = await client.post(msg.webhook_url, content=body, headers=headers, timeout=time_limit)
    except BlockedAddress as exc:
        raise SendError(str(exc), permanent=True) from None
    except (httpx.TimeoutException, TimeoutError):
        raise SendError(f"webhook did not answer in {time_limit:g} s") from None
    except httpx.HTTPError as exc:
        raise SendError(f"webhook: {type(exc).__name__}: {exc}") from None
    code = response.status_code
    if 200 <= code < 300:
        return code
    reason = f"webhook answered {code} {response.reason_phrase}".strip()
    if code in RETRYABLE or code >= 500:
        raise SendError(reason, retry_after=_retry_after(response.headers.get("retry-after")))
    raise SendError(reason, permanent=True)
