"""``vigie deliver`` processes: two workers at once send each message once; SIGTERM stops them with exit 0."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from tests.delivery.conftest import SECRET, Receiver, SmtpServer, audit_actions, outbox, until
from vigie.settings import Settings

VIGIE = str(Path(sys.executable).parent / "vigie")
N = 60


def _worker(settings: Settings, batch: int, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "VIGIE_DATABASE_URL": settings.dsn,
        "VIGIE_SMTP_URL": settings.smtp_url.get_secret_value(),
        "VIGIE_MAIL_FROM": settings.mail_from,
        "VIGIE_DELIVERY_WEBHOOK_SECRET": SECRET,
        "VIGIE_WEBHOOK_ALLOW_PRIVATE": "true",  # the receiver is on 127.0.0.1
        "VIGIE_DELIVERY_BATCH": str(batch),
        "VIGIE_DELIVERY_BACKOFF_BASE_S": "0.1",
        "VIGIE_DELIVERY_BACKOFF_MAX_S": "0.4",
    }
    with log.open("wb") as out:
        return subprocess.Popen([VIGIE, "deliver", "--interval", "0.2"], env=env, stdout=out, stderr=subprocess.STDOUT)


def _logs(folder: Path) -> str:
    return "\n".join(p.read_text() for p in sorted(folder.glob("worker-*.log")))


async def test_two_workers_send_each_message_once(
    dsettings: Settings,
    smtp: SmtpServer,
    receiver: Receiver,
    seed: Callable[..., None],
    new_draft: Callable[..., int],
    approve: Callable[..., None],
    db_dsn: str,
    tmp_path: Path,
) -> None:
    seed(webhook=receiver.url)
    workers = [_worker(dsettings, 4, tmp_path / f"worker-{i}.log") for i in range(2)]
    try:
        for i in range(N):  # approved while both workers run: each approval wakes both (NOTIFY)
            approve(new_draft(f"conseil n° {i}"))
        await until(lambda: all(r["status"] == "sent" for r in outbox(db_dsn)), timeout=60, what=f"{N} messages sent")
        for w in workers:
            w.send_signal(signal.SIGTERM)
        codes = [w.wait(timeout=30) for w in workers]
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
                w.wait()
    logs = _logs(tmp_path)
    assert codes == [0, 0], logs
    by_id = smtp.by_message_id()
    assert len(by_id) == N
    assert set(by_id.values()) == {1}
    keys = Counter(r.headers["idempotency-key"] for r in receiver.requests)
    assert len(keys) == N
    assert set(keys.values()) == {1}
    sends = [d for a, d in audit_actions(db_dsn) if a == "outbox.send"]
    assert len(sends) == 2 * N
    split = Counter(d["worker"] for d in sends)
    print(f"messages sent per worker (email + webhook): {dict(split)}")
    assert all(r["attempts"] == 1 for r in outbox(db_dsn))
    assert "delivery worker stopped" in logs
