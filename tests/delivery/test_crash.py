"""A worker killed after the SMTP server took the message but before the outcome was recorded: the message is sent
again after the lease (at least once), with the same Message-ID, so the receiver can recognise the repeat."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import psycopg

from tests.delivery.conftest import SmtpServer, audit_actions, outbox, running, until
from vigie.settings import Settings

VIGIE = str(Path(sys.executable).parent / "vigie")


def _start(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([VIGIE, "deliver", "--once"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def test_killed_mid_send_is_resent_with_the_same_message_id(
    dsettings: Settings,
    smtp: SmtpServer,
    seed: Callable[..., None],
    new_draft: Callable[..., int],
    approve: Callable[..., None],
    db_dsn: str,
) -> None:
    settings = dsettings
    smtp.hold = threading.Event()
    seed()
    approve(new_draft())
    env = {
        **os.environ,
        "VIGIE_DATABASE_URL": db_dsn,
        "VIGIE_SMTP_URL": settings.smtp_url.get_secret_value(),
        "VIGIE_MAIL_FROM": settings.mail_from,
        "VIGIE_DELIVERY_TIMEOUT_S": "20",  # the first worker waits for the held 250 until it is killed
    }
    first = _start(env)
    try:
        await until(lambda: smtp.messages, what="the message stored by the SMTP server")
        first.send_signal(signal.SIGKILL)
        await asyncio.to_thread(first.wait, 10)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    smtp.hold.set()
    smtp.hold = None
    row = outbox(db_dsn)[0]
    assert (row["status"], row["attempts"]) == ("sending", 1)  # the outcome never reached the database
    assert row["next_attempt_at"] > row["last_attempt_at"]  # leased (for 8 x 20 s + 5 s)
    with psycopg.connect(db_dsn, autocommit=True) as db:  # skip to the end of the lease (tested on its own elsewhere)
        db.execute("UPDATE outbox SET next_attempt_at = now() - interval '1 second'")

    async with running(settings):
        await until(lambda: outbox(db_dsn)[0]["status"] == "sent", timeout=30, what="the message sent again")
    row = outbox(db_dsn)[0]
    assert row["attempts"] == 2
    ids = [str(m.email["Message-ID"]) for m in smtp.messages]
    assert ids == [f"<vigie-outbox-{row['id']}@vigie.test>"] * 2  # a duplicate, recognisable
    assert [a for a, _ in audit_actions(db_dsn)] == ["outbox.reclaim", "outbox.send"]
