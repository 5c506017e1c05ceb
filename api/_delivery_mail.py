"""The email channel: one well-formed UTF-8 message per outbox row, sent over SMTP (stdlib ``smtplib``).

``smtplib`` is blocking: each send runs in a worker thread, bounded by ``delivery_timeout_s`` per socket operation.
The Message-ID is derived from the outbox id, so a message sent again after a crash is recognisable as the same one.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses, parseaddr
from urllib.parse import unquote, urlsplit

from api._delivery_model import Message, SendError
from vigie.errors import ConfigError


@dataclass(frozen=True, slots=True)
class SmtpServer:
    """Where and how to send: parsed from ``smtp_url``."""

    host: str
    port: int
    security: str  # "plain", "starttls" or "tls"
    username: str | None
    password: str | None

    @classmethod
    def parse(cls, url: str) -> SmtpServer:
        """``smtp://[user:pass@]host[:port]`` (plain), ``smtp+starttls://`` or ``smtps://`` (implicit TLS)."""
        parts = urlsplit(url)
        modes = {"smtp": ("plain", 25), "smtp+starttls": ("starttls", 587), "smtps": ("tls", 465)}
        if parts.scheme not in modes:
            raise ConfigError(f"smtp_url must start with smtp://, smtp+starttls:// or smtps:// (got {parts.scheme!r})")
        security, default_port = modes[parts.scheme]
        try:
            port = parts.port or default_port
        except ValueError:
            raise ConfigError("smtp_url has a bad port") from None
        return cls(
            host=parts.hostname or "127.0.0.1",
            port=port,
            security=security,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )


def message_id(outbox_id: int, mail_from: str) -> str:
    """``<vigie-outbox-ID@domain>``: the same for every attempt of one outbox row."""
    _, addr = parseaddr(mail_from)
    domain = addr.rpartition("@")[2] or "localhost"
    return f"<vigie-outbox-{outbox_id}@{domain}>"


def check_sender(mail_from: str) -> None:
    """ConfigError unless ``mail_from`` is one well-formed address."""
    probe = EmailMessage()
    try:
        probe["From"] = mail_from
        ok = len(probe["From"].addresses) == 1
    except (ValueError, IndexError, HeaderParseError):
        ok = False
    if not ok:
        raise ConfigError(f"VIGIE_MAIL_FROM is not one email address: {mail_from!r}")


def build_email(msg: Message, *, mail_from: str, now: datetime | None = None) -> EmailMessage:
    """The email of ``msg``: plain text UTF-8 (quoted-printable), subject in the owner's language."""
    if not msg.recipient:
        raise SendError("the owner has no email address", permanent=True)
    pairs = getaddresses([msg.recipient])
    if len(pairs) != 1 or "@" not in pairs[0][1]:
        raise SendError(f"bad recipient address {msg.recipient!r}: one address expected", permanent=True)
    email = EmailMessage()
    email["From"] = mail_from  # checked when the worker starts (check_sender)
    try:
        email["To"] = Address(display_name=pairs[0][0], addr_spec=pairs[0][1])
        email["Subject"] = " ".join(msg.subject.split())  # one line, whatever the names contain
    except (ValueError, IndexError, HeaderParseError) as exc:  # what email's header parser raises
        raise SendError(f"bad recipient address {msg.recipient!r}: {exc}", permanent=True) from None
    email["Date"] = format_datetime(now or datetime.now(UTC))
    email["Message-ID"] = message_id(msg.outbox_id, mail_from)
    email["Auto-Submitted"] = "auto-generated"
    email["X-Vigie-Outbox-Id"] = str(msg.outbox_id)
    email["X-Vigie-Draft-Id"] = str(msg.draft_id)
    email.set_content(msg.body, charset="utf-8", cte="quoted-printable")
    email["Content-Language"] = msg.language  # after set_content, which replaces every Content-* header
    return email


def _send_blocking(server: SmtpServer, email: EmailMessage, timeout: float) -> None:
    client: smtplib.SMTP
    if server.security == "tls":
        client = smtplib.SMTP_SSL(server.host, server.port, timeout=timeout, context=ssl.create_default_context())
    else:
        client = smtplib.SMTP(server.host, server.port, timeout=timeout)
    with client:
        if server.security == "starttls":
            client.starttls(context=ssl.create_default_context())
        if server.username:
            client.login(server.username, server.password or "")
        client.send_message(email)


def _classify(exc: Exception) -> SendError:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        detail = "; ".join(
            f"{rcpt}: {code} {text.decode(errors='replace')}" for rcpt, (code, text) in exc.recipients.items()
        )
        return SendError(f"recipient refused: {detail}", permanent=all(c >= 500 for c in codes))
    if isinstance(exc, smtplib.SMTPResponseException):
        raw = exc.smtp_error
        text = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
        if isinstance(exc, smtplib.SMTPDataError):
            return SendError(f"message refused: {exc.smtp_code} {text}", permanent=exc.smtp_code >= 500)
        # sender refused, authentication failed: the configuration's fault, which may be fixed: retried
        return SendError(f"SMTP {exc.smtp_code} {text}")
    if isinstance(exc, TimeoutError):
        return SendError("SMTP server did not answer in time")
    if isinstance(exc, OSError | smtplib.SMTPException):
        return SendError(f"SMTP: {type(exc).__name__}: {exc}")
    return SendError(f"SMTP: unexpected {type(exc).__name__}: {exc}")


async def send_email(msg: Message, *, server: SmtpServer, mail_from: str, time_limit: float) -> str:
    """Send ``msg`` by email; its Message-ID on success, :class:`SendError` otherwise."""
    email = build_email(msg, mail_from=mail_from)
    try:
        # the thread cannot be cancelled: the socket timeout bounds it, the outer timeout bounds our wait
        async with asyncio.timeout(time_limit * 4):
            await asyncio.to_thread(_send_blocking, server, email, time_limit)
    except (OSError, smtplib.SMTPException, ValueError) as exc:
        raise _classify(exc) from exc
    return str(email["Message-ID"])
