"""``vigie mailsink``: a real SMTP server process that stores each message as an .eml file and logs one line."""

from __future__ import annotations

import asyncio
import os
import signal
import smtplib
import subprocess
import sys
from collections.abc import Callable, Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from api._delivery import run_delivery
from tests.delivery.conftest import final_body, outbox, until
from vigie.net import free_port, wait_port
from vigie.settings import Settings

VIGIE = str(Path(sys.executable).parent / "vigie")


class Sink:
    """A running ``vigie mailsink`` process."""

    def __init__(self, port: int, folder: Path, log: Path, process: subprocess.Popen[bytes]) -> None:
        self.port = port
        self.folder = folder
        self.log = log
        self.process = process

    def files(self) -> list[Path]:
        return sorted(self.folder.glob("*.eml"))

    def read(self, path: Path) -> EmailMessage:
        parsed = message_from_bytes(path.read_bytes().replace(b"\r\n", b"\n"), policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[Sink]:
    port = free_port()
    folder = tmp_path / "mail"
    log = tmp_path / "mailsink.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [VIGIE, "mailsink", "--port", str(port), "--dir", str(folder)],
            env={**os.environ, "VIGIE_LOG_LEVEL": "INFO"},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_port(port, timeout=20)
        yield Sink(port, folder, log, proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_mailsink_stores_each_message_and_logs_it(sink: Sink) -> None:
    for n in (1, 2):
        msg = EmailMessage()
        msg["From"] = "Vigie <vigie@localhost>"
        msg["To"] = "claire@example.org"
        msg["Subject"] = f"Clinique du Parc : message n° {n}"
        msg["Message-ID"] = f"<m{n}@localhost>"
        msg.set_content(f"Glycémie basse à 3 h. Message {n}.", charset="utf-8")
        with smtplib.SMTP("127.0.0.1", sink.port, timeout=10) as client:
            client.send_message(msg, to_addrs=["claire@example.org", "copy@example.org"])
    assert len(sink.files()) == 2  # stored before the server answered 250
    first = sink.read(sink.files()[0])
    assert first["Subject"] == "Clinique du Parc : message n° 1"
    assert first.get_all("Delivered-To") == ["claire@example.org", "copy@example.org"]
    assert first["Return-Path"] == "<vigie@localhost>"
    assert first.get_content().startswith("Glycémie basse à 3 h. Message 1.")
    assert not list(sink.folder.glob("*.tmp"))
    sink.process.send_signal(signal.SIGTERM)
    assert sink.process.wait(timeout=20) == 0
    log = sink.log.read_text()
    lines = [line for line in log.splitlines() if " mail " in line and " from " in line]
    assert len(lines) == 2, log
    assert "'Clinique du Parc : message n° 2'" in lines[1]
    assert "stopped: 2 message(s) stored" in log


async def test_approved_draft_arrives_in_the_mailsink(
    dsettings: Settings,
    sink: Sink,
    seed: Callable[..., None],
    new_draft: Callable[..., int],
    approve: Callable[..., None],
    db_dsn: str,
) -> None:
    seed()
    draft = new_draft()
    approve(draft)
    settings = dsettings.model_copy(update={"smtp_url": dsettings.smtp_url.__class__(f"smtp://127.0.0.1:{sink.port}")})
    stats = await run_delivery(settings, stop=asyncio.Event(), once=True)
    assert stats.sent == 1
    [path] = sink.files()
    mail = sink.read(path)
    assert mail["Delivered-To"] == "claire@example.org"
    assert mail["Message-ID"] == f"<vigie-outbox-{outbox(db_dsn)[0]['id']}@vigie.test>"
    assert mail.get_content().rstrip("\n") == final_body(db_dsn, draft)
    await until(lambda: "mail 1 from" in sink.log.read_text(), what="the sink's log line")
