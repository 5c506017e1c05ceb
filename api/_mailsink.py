"""``vigie mailsink``: a local SMTP server that keeps every message it receives as an ``.eml`` file.

The demo's owner mailbox: ``vigie up`` points the delivery worker at it, and each approved draft shows up as one file
(``YYYYmmddTHHMMSS.ffffffZ-N.eml``, written to a temporary name and renamed, so a reader never sees half a file)
and one log line. ``Return-Path`` and ``Delivered-To`` headers record the SMTP envelope. It accepts any sender and
recipient and relays nothing: listen on loopback only.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path

from aiosmtpd.smtp import SMTP, Envelope, Session

log = logging.getLogger(__name__)


def default_dir() -> Path:
    """``~/.local/state/vigie/mail``."""
    return Path.home() / ".local" / "state" / "vigie" / "mail"


class MailDirHandler:
    """aiosmtpd handler: each message to one file in ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.count = 0
        self._seq = itertools.count(1)

    def store(self, envelope: Envelope) -> Path:
        """Write the message of ``envelope`` with its envelope headers; the file's path."""
        raw = envelope.original_content or b""
        trace = f"Return-Path: <{envelope.mail_from or ''}>\r\n" + "".join(
            f"Delivered-To: {rcpt}\r\n" for rcpt in envelope.rcpt_tos
        )
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        path = self.directory / f"{stamp}-{os.getpid()}-{next(self._seq)}.eml"
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(trace.encode("utf-8") + raw)
        tmp.replace(path)
        return path

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802 - aiosmtpd's hook name
        """Store the message, log one line, answer 250."""
        del server, session
        try:
            path = await asyncio.to_thread(self.store, envelope)
        except OSError:
            log.exception("cannot store a message")
            return "451 Requested action aborted: local error in processing"
        self.count += 1
        parsed = message_from_bytes(envelope.original_content or b"", policy=policy.default)
        log.info(
            "mail %d from %s to %s: %r (%d bytes) -> %s",
            self.count,
            envelope.mail_from,
            ", ".join(envelope.rcpt_tos),
            str(parsed.get("Subject", "")),
            len(envelope.original_content or b""),
            path,
        )
        return "250 Message accepted for delivery"


def _smtp_factory(handler: MailDirHandler, hostname: str) -> SMTP:
    return SMTP(handler, hostname=hostname, enable_SMTPUTF8=True, decode_data=False, data_size_limit=10 * 1024 * 1024)


async def run_mailsink(host: str, port: int, directory: Path, *, stop: asyncio.Event) -> int:
    """Serve until ``stop`` is set; the number of messages stored."""
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every SMTP command at INFO
    await asyncio.to_thread(directory.mkdir, parents=True, exist_ok=True)
    handler = MailDirHandler(directory)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _smtp_factory(handler, "vigie-mailsink"), host=host, port=port)
    bound = server.sockets[0].getsockname()[1]
    log.info("mail sink listening on %s:%d, writing to %s", host, bound, directory)
    async with server:  # closes the listener on the way out
        await stop.wait()
    log.info("mail sink stopped: %d message(s) stored in %s", handler.count, directory)
    return handler.count
