"""``vigie deliver --once``, ``vigie outbox list|retry`` and the commands' argument errors, in-process."""

from __future__ import annotations

import json
from collections.abc import Callable

import psycopg

from tests.delivery.conftest import SmtpServer, audit_actions, outbox
from vigie.settings import Settings

Run = Callable[..., tuple[int, str, str]]


def _env(settings: Settings) -> dict[str, str]:
    return {
        "VIGIE_DATABASE_URL": settings.dsn,
        "VIGIE_SMTP_URL": settings.smtp_url.get_secret_value(),
        "VIGIE_MAIL_FROM": settings.mail_from,
    }


def test_failed_message_is_listed_retried_and_sent(
    run_cli: Run,
    dsettings: Settings,
    smtp: SmtpServer,
    seed: Callable[..., None],
    new_draft: Callable[..., int],
    approve: Callable[..., None],
    db_dsn: str,
) -> None:
    env = _env(dsettings)
    seed(email=None)
    draft = new_draft()
    approve(draft)
    code, out, _ = run_cli("deliver", "--once", env=env)
    assert (code, out.strip()) == (0, "0 sent, 0 to retry, 1 failed")
    code, out, _ = run_cli("outbox", "list", "--status", "failed", "--json", env=env)
    assert code == 0
    [row] = json.loads(out)
    assert (row["draft_id"], row["status"], row["attempts"]) == (draft, "failed", 1)
    assert "neither an email address nor a webhook" in row["last_error"]
    code, out, _ = run_cli("outbox", "list", env=env)
    assert "failed" in out
    assert "neither an email address" in out

    # the clinic adds the owner's address, then retries the message
    with psycopg.connect(db_dsn, autocommit=True) as db:
        db.execute("UPDATE owners SET email = 'claire@example.org' WHERE id = 'o1'")
    code, out, _ = run_cli("outbox", "retry", str(row["outbox_id"]), env=env)
    assert (code, out.strip()) == (0, f"outbox {row['outbox_id']} queued again")
    code, _, err = run_cli("outbox", "retry", str(row["outbox_id"]), env=env)
    assert code == 1
    assert "is not a failed message" in err
    code, out, _ = run_cli("deliver", "--once", env=env)
    assert (code, out.strip()) == (0, "1 sent, 0 to retry, 0 failed")
    assert [m.rcpt_tos for m in smtp.messages] == [["claire@example.org"]]
    assert outbox(db_dsn)[0]["status"] == "sent"
    assert [a for a, _ in audit_actions(db_dsn, actor="vigie-deliver")] == ["outbox.fail", "outbox.send"]
    with psycopg.connect(db_dsn, autocommit=True) as db:
        requeued = db.execute("SELECT count(*) FROM audit_log WHERE action = 'outbox.requeue'").fetchone()
    assert requeued == (1,)


def test_wrong_arguments_get_one_line_and_exit_2(run_cli: Run, dsettings: Settings) -> None:
    env = _env(dsettings)
    for args in (
        ("outbox", "list", "--status", "lost"),
        ("deliver", "--interval", "0"),
        ("mailsink", "--port", "70000"),
        ("bench", "delivery", "--workers", "two"),
    ):
        code, _, err = run_cli(*args, env=env)
        assert code == 2, args
        assert "Traceback" not in err
    code, out, _ = run_cli("deliver", "--help", env=env)
    assert code == 0
    assert "--once" in out
