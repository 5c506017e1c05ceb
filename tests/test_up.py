"""``vigie up`` end to end, as a newcomer runs it: the printed URL answers, the printed demo logins work, and a
draft the vet approves arrives in the local mail sink; SIGTERM then stops every process with exit 0.

A small scenario (one dog with the default scenario's hypoglycaemia) keeps it quick on two cores.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from rules._vet import approve
from tests.conftest import Broker
from vigie.net import free_port

VIGIE = str(Path(sys.executable).parent / "vigie")
SCENARIO = """
name = "up-smoke"
description = "one diabetic dog with a hypoglycaemia right now"
duration = "6h"
seed = 7

[[clinics]]
id = "vet-parc"
name = "Clinique vétérinaire du Parc"
language = "fr"

[[owners]]
id = "martin"
clinic = "vet-parc"
name = "Claire Martin"

[[animals]]
id = "rex"
name = "Rex"
species = "dog"
clinic = "vet-parc"
owner = "martin"
weight = 24.0
insulin = "lente"
dose = 0.5
control = "controlled"

[[devices]]
id = "cgm-rex"
kind = "cgm"
animal = "rex"
interval_min = 5
sensor_start = "end-3d"
outages_per_day = 0

[[anomalies]]
recipe = "hypoglycaemia"
animal = "rex"
start = "end-2h"  # the fall (at most 4 mg/dL/min) takes up to ~1 h: the low is on record when the history is
duration = "3h"   # published, as in the default scenario
parameters = { nadir = 45 }
"""


def poll(check: Callable[[], Any], *, timeout: float, what: str, proc: subprocess.Popen[bytes], log: Path) -> Any:
    """Call ``check`` every 0.2 s until it returns something truthy; fail (with the log) on timeout or exit."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if proc.poll() is not None:
            pytest.fail(f"vigie up exited with {proc.returncode} while waiting for {what}:\n{log.read_text()[-4000:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}:\n{log.read_text()[-4000:]}")
        time.sleep(0.2)


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_up_serves_the_page_logs_in_the_demo_users_and_delivers_mail(
    db_dsn: str, broker: Broker, tmp_path: Path
) -> None:
    scenario = tmp_path / "up-smoke.toml"
    scenario.write_text(SCENARIO)
    mail_dir = tmp_path / "mail"
    out, log = tmp_path / "up.out", tmp_path / "up.log"
    env = {
        **os.environ,
        "VIGIE_DATABASE_URL": db_dsn,
        "VIGIE_MQTT_URL": broker.url,
        "VIGIE_TOPIC_ROOT": f"t/{uuid.uuid4().hex[:10]}/vigie/v1",
        "VIGIE_INGEST_CLIENT_ID": f"ingest-{uuid.uuid4().hex[:8]}",
        "VIGIE_INGEST_METRICS_PORT": str(free_port()),
        "VIGIE_API_PORT": str(free_port()),
        "VIGIE_SMTP_URL": f"smtp://127.0.0.1:{free_port()}",
        "VIGIE_MAILSINK_DIR": str(mail_dir),
        "VIGIE_DELIVERY_POLL_S": "1",
    }
    with out.open("wb") as stdout, log.open("wb") as stderr:
        proc = subprocess.Popen(
            [VIGIE, "up", "--scenario", str(scenario)], env=env, stdout=stdout, stderr=stderr, start_new_session=True
        )
    try:
        banner = poll(
            lambda: "Ctrl-C stops everything" in out.read_text() and out.read_text(),
            timeout=120,
            what="the banner",
            proc=proc,
            log=log,
        )
        url = re.search(r"Open:\s+(\S+)", banner)
        vet = re.search(r"Vet login:\s+(\S+) / (\S+)", banner)
        owner = re.search(r"Owner login:\s+(\S+) / (\S+)", banner)
        assert url, banner
        assert vet, banner
        assert owner, banner
        assert str(mail_dir) in banner
        base = url[1].rstrip("/")
        with httpx.Client(base_url=base, timeout=10) as http:
            assert http.get("/openapi.json").status_code == 200
            for (user, password), role in (((vet[1], vet[2]), "vet"), ((owner[1], owner[2]), "owner")):
                res = http.post("/api/v1/auth/login", json={"username": user, "password": password})
                assert res.status_code == 200, res.text
                me = http.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {res.json()['token']}"})
                assert me.status_code == 200
                assert me.json()["role"] == role
                assert me.json()["clinic_id"] == "vet-parc"
            assert http.post("/api/v1/auth/login", json={"username": vet[1], "password": "wrong"}).status_code == 401

        def pending_draft() -> int | None:
            with psycopg.connect(db_dsn, autocommit=True) as db:
                row = db.execute(
                    "SELECT id FROM drafts WHERE status = 'pending' AND animal_id = 'rex' LIMIT 1"
                ).fetchone()
            return None if row is None else int(row[0])

        draft = poll(pending_draft, timeout=180, what="a draft for rex", proc=proc, log=log)
        with psycopg.connect(db_dsn) as conn:
            approve(conn, draft, "Dr Demo")
        [eml] = poll(lambda: sorted(mail_dir.glob("*.eml")), timeout=60, what="the owner's mail", proc=proc, log=log)
        mail = message_from_bytes(eml.read_bytes(), policy=policy.default)
        assert mail["Delivered-To"] == "martin@example.org"
        assert "Rex" in str(mail["Subject"])
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=90) == 0, log.read_text()[-4000:]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    # every child stopped with it
    leftovers = subprocess.run(["pgrep", "-s", str(proc.pid)], capture_output=True, text=True, check=False).stdout
    assert leftovers.strip() == ""


def test_demo_accounts_are_idempotent_and_get_fresh_passwords(db_dsn: str) -> None:
    from api._accounts import add_user
    from api._secrets import verify_password
    from vigie.errors import VigieError
    from vigie.up import prepare_demo

    def hashes() -> dict[str, str]:
        with psycopg.connect(db_dsn, autocommit=True) as db:
            return {str(u): str(h) for u, h in db.execute("SELECT id, password_hash FROM users ORDER BY id")}

    with psycopg.connect(db_dsn) as conn:
        first = prepare_demo(conn, "default")
    assert (first.clinic, first.owner, first.owner_email) == ("vet-parc", "martin", "martin@example.org")
    before = hashes()
    assert verify_password(first.vet_password, before["demo-vet"])
    assert verify_password(first.owner_password, before["demo-owner"])
    with psycopg.connect(db_dsn) as conn:
        second = prepare_demo(conn, "default")
    after = hashes()
    assert sorted(after) == ["demo-owner", "demo-vet"]
    assert verify_password(second.vet_password, after["demo-vet"])
    assert not verify_password(first.vet_password, after["demo-vet"])
    with psycopg.connect(db_dsn, autocommit=True) as db:
        owners = db.execute("SELECT count(*), count(email) FROM owners").fetchone()
        db.execute("DELETE FROM users WHERE id = 'demo-vet'")
    assert owners is not None
    assert owners[0] == owners[1] > 0  # every owner of the scenario has an address the mail sink receives
    with psycopg.connect(db_dsn) as conn:
        add_user(conn, "demo-vet", role="staff", clinic="vet-rural")
        conn.commit()
        with pytest.raises(VigieError, match="is not the demo vet"):
            prepare_demo(conn, "default")
