"""The broker configuration `vigie broker config` generates, against a real Mosquitto and the real worker.

Refusals are checked where they matter: in the database (an MQTT 3.1.1 PUBACK does not tell a device that its
publish was dropped by the ACL), and in the worker's own log for the client-id takeover.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import signal
import socket
import ssl
import subprocess
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import aiomqtt
import psycopg
import pytest
from pydantic import SecretStr

from tests.ingest.conftest import WorkerProcess, count, glucose_message, wait_until
from tests.reliability.conftest import INGEST_USER, SecureBroker, make_secure_broker
from vigie import broker as vbroker
from vigie.settings import Settings

pytestmark = [pytest.mark.db, pytest.mark.mqtt]
Run = Callable[..., tuple[int, str, str]]


def worker_for(b: SecureBroker, settings: Settings, log: Path) -> WorkerProcess:
    local = settings.model_copy(update={"mqtt_url": SecretStr(b.ingest_url())})
    return WorkerProcess(local, log, client_id=INGEST_USER)


def tel(settings: Settings, device: str) -> str:
    return f"{settings.topic_root}/devices/{device}/telemetry"


async def refused(client: aiomqtt.Client) -> bool:
    try:
        async with client:
            return False
    except aiomqtt.MqttError:
        return True


async def test_nobody_gets_in_without_valid_credentials(secure_broker: SecureBroker) -> None:
    b = secure_broker
    ingest_port = b.plan.ingest_port
    cases = {
        "anonymous on the device listener": b.device(None),
        "anonymous on the ingest listener": aiomqtt.Client("127.0.0.1", ingest_port, timeout=5),
        "wrong password": b.device("cgm-0", "not-the-password"),
        "disabled device": b.device("old-cgm"),
        "device on the ingest listener": aiomqtt.Client(
            "127.0.0.1", ingest_port, username="cgm-0", password=b.passwords["cgm-0"], timeout=5
        ),
        "worker identity on the device listener": b.device(INGEST_USER, b.ingest_password),
    }
    outcome = {name: await refused(client) for name, client in cases.items()}
    print(f"\n[security: authentication] {outcome}")
    assert all(outcome.values()), outcome
    assert not await refused(b.device("cgm-0"))  # the control: a device with its own password gets in


async def test_a_device_cannot_publish_for_another(
    secure_broker: SecureBroker, settings: Settings, worker_log: Path
) -> None:
    b, now = secure_broker, time.time()
    proc = worker_for(b, settings, worker_log)
    proc.start()
    try:
        async with b.device("cgm-0") as dev:
            await dev.publish(tel(settings, "cgm-0"), glucose_message(1, now - 30), qos=1)
            # the foreign publishes: another device's telemetry and status, and topics outside the device tree
            await dev.publish(tel(settings, "cgm-1"), glucose_message(2, now - 20, 333.0), qos=1)
            await dev.publish(f"{settings.topic_root}/devices/cgm-1/status", b"offline", qos=1, retain=True)
            await dev.publish(tel(settings, "robot-1"), glucose_message(3, now - 15, 334.0), qos=1)
            await dev.publish(f"{settings.topic_root}/devices/cgm-0/telemetry/extra", b"x", qos=1)
            await dev.publish("$SYS/broker/uptime", b"0", qos=1)
            # the barrier: the same connection's next message, stored after everything before it was handled
            await dev.publish(tel(settings, "cgm-0"), glucose_message(4, now - 10), qos=1)
        await wait_until(lambda: count(settings.dsn, "SELECT count(*) FROM readings WHERE seq = 4") == 1)
    finally:
        assert proc.stop(signal.SIGTERM) == 0
    foreign_rows = count(settings.dsn, "SELECT count(*) FROM readings WHERE device_id <> 'cgm-0'")
    foreign_quarantine = count(settings.dsn, "SELECT count(*) FROM quarantine")
    foreign_status = count(settings.dsn, "SELECT count(*) FROM devices WHERE availability IS NOT NULL")
    own = count(settings.dsn, "SELECT count(*) FROM readings WHERE device_id = 'cgm-0'")
    print(
        f"\n[security: cross-device publish] foreign publishes=5 stored_foreign={foreign_rows} "
        f"quarantined={foreign_quarantine} status_changed={foreign_status} own_stored={own}/2"
    )
    assert (foreign_rows, foreign_quarantine, foreign_status, own) == (0, 0, 0, 2)


async def test_a_device_reads_nothing(secure_broker: SecureBroker, settings: Settings, worker_log: Path) -> None:
    b, now = secure_broker, time.time()
    proc = worker_for(b, settings, worker_log)
    proc.start()
    received: list[str] = []
    try:
        async with b.device("cgm-0") as spy, b.device("cgm-1") as other:
            filters = ["#", f"{settings.topic_root}/devices/+/telemetry", tel(settings, "cgm-1"), "$SYS/#"]
            for f in filters:
                await spy.subscribe(f, qos=1)

            async def collect() -> None:
                async for m in spy.messages:  # appended one by one: the task is cancelled, never finishes
                    received.append(str(m.topic))  # noqa: PERF401

            listener = asyncio.create_task(collect())
            await other.publish(tel(settings, "cgm-1"), glucose_message(1, now - 5), qos=1)
            await other.publish(f"{settings.topic_root}/devices/cgm-1/status", b"online", qos=1, retain=True)
            # the worker may read it: stored means the broker has already routed it to every allowed subscriber
            await wait_until(lambda: count(settings.dsn, "SELECT count(*) FROM readings WHERE device_id='cgm-1'") == 1)
            await wait_until(
                lambda: count(settings.dsn, "SELECT count(*) FROM devices WHERE availability='online'") == 1
            )
            # a round trip on the spy's own connection: anything routed to it earlier has arrived before the PUBACK
            await spy.publish(tel(settings, "cgm-0"), glucose_message(9, now - 1), qos=1)
            await wait_until(lambda: count(settings.dsn, "SELECT count(*) FROM readings WHERE device_id='cgm-0'") == 1)
            await asyncio.sleep(0)
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
    finally:
        assert proc.stop(signal.SIGTERM) == 0
    print(f"\n[security: cross-device read] filters={len(filters)} messages received by the spy={len(received)}")
    assert received == []


async def test_the_worker_client_id_cannot_be_taken_over(
    secure_broker: SecureBroker, settings: Settings, worker_log: Path
) -> None:
    b, now = secure_broker, time.time()
    proc = worker_for(b, settings, worker_log)
    proc.start()
    try:
        # a device with valid credentials claims the worker's client id (and asks for a clean start)
        async with b.device("cgm-0", identifier=INGEST_USER, clean_session=True) as thief:
            await thief.publish(tel(settings, "cgm-0"), glucose_message(1, now - 5), qos=1)
            await wait_until(lambda: count(settings.dsn, "SELECT count(*) FROM readings") == 1)
        async with b.device("cgm-1") as dev:
            await dev.publish(tel(settings, "cgm-1"), glucose_message(2, now - 4), qos=1)
        await wait_until(lambda: count(settings.dsn, "SELECT count(*) FROM readings") == 2)
        stored = proc.metric("vigie_ingest_readings_stored_total")
    finally:
        assert proc.stop(signal.SIGTERM) == 0
    log = await asyncio.to_thread(worker_log.read_text)
    broker_log = await asyncio.to_thread(b.broker_log)
    takeovers = broker_log.count(f"Client {INGEST_USER} already connected")
    print(
        f"\n[security: client-id takeover] worker connections={log.count('connected to the broker (')} "
        f"worker disconnections={log.count('disconnected from the broker:')} broker takeovers={takeovers} "
        f"stored by the worker={stored:.0f}"
    )
    assert log.count("connected to the broker (") == 1
    assert "disconnected from the broker:" not in log
    assert takeovers == 0
    assert " as cgm-0 " in broker_log  # the thief's client id was replaced by its username


async def test_a_revoked_device_is_cut_off_after_reload(
    secure_broker: SecureBroker, settings: Settings, run_cli: Run
) -> None:
    b = secure_broker
    env = {"VIGIE_DATABASE_URL": settings.dsn, "VIGIE_TOPIC_ROOT": settings.topic_root}
    async with b.device("cgm-1") as victim, b.device("cgm-2") as disabled:
        started = time.monotonic()
        code, out, err = run_cli("devices", "credentials", "cgm-1", "--revoke", "--broker-dir", str(b.out), env=env)
        assert code == 0, err
        assert "reloaded the broker" in out
        code, _, err = run_cli("devices", "disable", "cgm-2", env=env)
        assert code == 0, err
        code, out, err = run_cli("broker", "config", "--out", str(b.out), "--reload", env=env)
        assert code == 0, err
        assert "(2 devices admitted)" in out  # cgm-0 and robot-1

        async def dropped(client: aiomqtt.Client) -> float:
            with contextlib.suppress(aiomqtt.MqttError):
                async for _ in client.messages:
                    pass
            return time.monotonic() - started

        async with asyncio.timeout(15):
            cut_after = await asyncio.gather(dropped(victim), dropped(disabled))
    again = [await refused(b.device("cgm-1")), await refused(b.device("cgm-2"))]
    still_in = not await refused(b.device("cgm-0"))
    print(
        f"\n[security: revocation] cut off after {max(cut_after):.2f} s (SIGHUP reload); "
        f"reconnect refused={again}; other devices still admitted={still_in}"
    )
    assert again == [True, True]
    assert still_in


async def test_disable_alone_cuts_the_device_off_at_the_broker(
    secure_broker: SecureBroker, settings: Settings, worker_log: Path, run_cli: Run
) -> None:
    """`vigie devices disable` by itself (VIGIE_BROKER_DIR names the folder `vigie broker config` generated, no
    second command) regenerates the password file and reloads Mosquitto: the device's open session is cut, its
    reconnect refused, and nothing it sends after the command is stored (checked in the database). `vigie devices
    enable` admits it again with the same password."""
    b, now = secure_broker, time.time()
    env = {"VIGIE_DATABASE_URL": settings.dsn, "VIGIE_TOPIC_ROOT": settings.topic_root, "VIGIE_BROKER_DIR": str(b.out)}
    cgm1 = "SELECT count(*) FROM readings WHERE device_id = 'cgm-1' AND seq >= %s"
    proc = worker_for(b, settings, worker_log)
    proc.start()
    attempts = acked = 0
    try:
        async with b.device("cgm-1") as dev:
            await dev.publish(tel(settings, "cgm-1"), glucose_message(1, now - 60), qos=1)
            await wait_until(lambda: count(settings.dsn, cgm1, (1,)) == 1)  # the control: it was getting in
            started = time.monotonic()
            code, out, err = run_cli("devices", "disable", "cgm-1", env=env)
            returned = time.monotonic()
            assert code == 0, err
            assert "(3 devices admitted)" in out  # cgm-0, cgm-2, robot-1
            assert "reloaded the broker" in out
            async with asyncio.timeout(15):  # the broker closed the session: its reader sees the end
                with contextlib.suppress(aiomqtt.MqttError):
                    async for _ in dev.messages:
                        pass
            seen_cut_after = time.monotonic() - returned
            try:  # and the open session cannot publish any more
                attempts += 1
                await dev.publish(tel(settings, "cgm-1"), glucose_message(101, now - 50), qos=1)
                acked += 1
            except aiomqtt.MqttError:
                pass
        reconnect_refused = await refused(b.device("cgm-1"))
        # the barrier: another device's message, queued at the broker behind anything cgm-1 got through
        async with b.device("cgm-0") as other:
            await other.publish(tel(settings, "cgm-0"), glucose_message(1, now - 40), qos=1)
        await wait_until(lambda: count(settings.dsn, "SELECT count(*) FROM readings WHERE device_id = 'cgm-0'") == 1)
        stored_after = count(settings.dsn, cgm1, (100,))
        reached_worker = count(settings.dsn, "SELECT count(*) FROM quarantine WHERE device_id = 'cgm-1'")

        code, out, err = run_cli("devices", "enable", "cgm-1", env=env)
        assert code == 0, err
        assert "(4 devices admitted)" in out
        enabled_at = time.monotonic()
        async with asyncio.timeout(10):  # the reload is asynchronous: poll until the broker admits it
            while await refused(b.device("cgm-1")):  # noqa: ASYNC110 - polling the broker's state
                await asyncio.sleep(0.05)
        admitted_after = time.monotonic() - enabled_at
        async with b.device("cgm-1") as dev:
            await dev.publish(tel(settings, "cgm-1"), glucose_message(1000, now - 30), qos=1)
        await wait_until(lambda: count(settings.dsn, cgm1, (1000,)) == 1)
    finally:
        assert proc.stop(signal.SIGTERM) == 0
    print(
        f"\n[security: disable alone cuts off] command {returned - started:.2f} s ({out.strip().splitlines()[-1]}); "
        f"session end seen {seen_cut_after:.2f} s after it returned; publishes after it: "
        f"attempted={attempts} acknowledged={acked} stored={stored_after} quarantined={reached_worker}; "
        f"reconnect refused={reconnect_refused}; enable: admitted again after {admitted_after:.2f} s, stored 1/1"
    )
    assert reconnect_refused
    assert (acked, stored_after) == (0, 0)


def test_a_managed_broker_folder_is_checked_first_and_a_stale_pid_never_signalled(
    run_cli: Run, db_dsn: str, tmp_path: Path
) -> None:
    """A --broker-dir that `vigie broker config` did not generate is refused before the registry changes; a pid file
    whose pid is not Mosquitto (here: this very process, which SIGHUP would end) is never signalled: the files are
    regenerated for the broker's next start; without a managed folder, stderr says the broker was not updated."""
    env = {"VIGIE_DATABASE_URL": db_dsn, "VIGIE_MQTT_URL": "mqtt://vigie-ingest:pw@127.0.0.1:1884"}
    assert run_cli("clinics", "add", "vet-a", env=env)[0] == 0
    assert run_cli("animals", "add", "rex", "--species", "dog", "--clinic", "vet-a", env=env)[0] == 0
    assert run_cli("devices", "add", "cgm-rex", "--kind", "cgm", "--animal", "rex", "--credentials", env=env)[0] == 0
    stray = tmp_path / "not-generated"
    stray.mkdir()
    code, _, err = run_cli("devices", "disable", "cgm-rex", "--broker-dir", str(stray), env=env)
    assert code == 1
    assert "holds no configuration of `vigie broker config`" in err
    assert count(db_dsn, "SELECT count(*) FROM devices WHERE enabled") == 1  # unchanged

    out_dir = tmp_path / "broker"
    assert run_cli("broker", "config", "--out", str(out_dir), "--device-port", "18883", env=env)[0] == 0
    (out_dir / "mosquitto.pid").write_text(f"{os.getpid()}\n")  # a stale pid file: that pid is pytest now
    code, out, err = run_cli("devices", "disable", "cgm-rex", env={**env, "VIGIE_BROKER_DIR": str(out_dir)})
    assert code == 0, err
    assert "(0 devices admitted)" in out
    assert "the broker is not running" in out
    assert (out_dir / "passwd-devices").read_text() == ""
    assert "~vigie-reload-" not in (out_dir / "passwd-ingest").read_text()
    code, out, err = run_cli("devices", "enable", "cgm-rex", "--broker-dir", str(out_dir), env=env)
    assert code == 0, err
    assert (out_dir / "passwd-devices").read_text().startswith("cgm-rex:$7$")
    code, _, err = run_cli("devices", "disable", "cgm-rex", env={**env, "VIGIE_BROKER_DIR": ""})
    assert code == 0
    assert "broker not updated" in err
    print("\n[security: managed folder] unknown folder refused before any change; stale pid never signalled")


def test_credentials_are_shown_once_and_stored_hashed(run_cli: Run, db_dsn: str, tmp_path: Path) -> None:
    env = {"VIGIE_DATABASE_URL": db_dsn, "VIGIE_MQTT_URL": "mqtt://vigie-ingest:s3cret-worker@127.0.0.1:1884"}
    assert run_cli("clinics", "add", "vet-lyon", env=env)[0] == 0
    assert run_cli("animals", "add", "rex", "--species", "dog", "--clinic", "vet-lyon", env=env)[0] == 0
    code, out, err = run_cli("devices", "add", "cgm-rex", "--kind", "cgm", "--animal", "rex", "--credentials", env=env)
    assert code == 0, err
    password = next(line.split(": ", 1)[1] for line in out.splitlines() if line.startswith("MQTT password: "))
    with psycopg.connect(db_dsn) as conn:
        row = conn.execute("SELECT credentials_hash FROM devices WHERE id = 'cgm-rex'").fetchone()
    assert row is not None
    stored = str(row[0])
    assert stored.startswith("$7$101$")
    assert password not in stored
    assert vbroker.verify_password(password, stored)
    # a new password replaces the old one
    code, out, _ = run_cli("devices", "credentials", "cgm-rex", env=env)
    assert code == 0
    assert password not in out
    code, out, err = run_cli("broker", "config", "--out", str(tmp_path), "--device-port", "8883", env=env)
    assert code == 0, err
    conf = (tmp_path / "mosquitto.conf").read_text()
    for line in (
        "per_listener_settings true",
        "listener 1884 127.0.0.1",
        "listener 8883 0.0.0.0",
        "use_username_as_clientid true",
        "persistence true",
    ):
        assert line in conf
    assert "allow_anonymous true" not in conf
    assert conf.count("allow_anonymous false") == 2
    assert "s3cret-worker" not in "".join(p.read_text() for p in tmp_path.iterdir() if p.is_file())
    assert (tmp_path / "passwd-devices").read_text().startswith("cgm-rex:$7$")
    assert json.loads((tmp_path / vbroker.PLAN_FILE).read_text())["ingest_user"] == "vigie-ingest"
    # TLS lines only with the three paths; half of them is a one-line error
    code, _, err = run_cli("broker", "config", "--out", str(tmp_path), "--tls-ca", "/x/ca.pem", env=env)
    assert code == 1
    assert "TLS needs" in err
    tls = ["--tls-ca", "/x/ca.pem", "--tls-cert", "/x/s.pem", "--tls-key", "/x/s.key"]
    assert run_cli("broker", "config", "--out", str(tmp_path), *tls, env=env)[0] == 0
    conf = (tmp_path / "mosquitto.conf").read_text()
    assert "tls_version tlsv1.2" in conf
    assert "certfile /x/s.pem" in conf


def test_the_worker_identity_is_never_a_device(tmp_path: Path) -> None:
    plan = vbroker.BrokerPlan(
        topic_root="vigie/v1",
        ingest_user="vigie-ingest",
        ingest_password_hash=vbroker.hash_password("x"),
        ingest_client_ids=("vigie-ingest",),
    )
    for taken in ("vigie-ingest", "vigie-ingest-1"):
        with pytest.raises(vbroker.BrokerConfigError, match="ingest worker's identity"):
            vbroker.render(plan, {taken: vbroker.hash_password("y")}, tmp_path)
    with pytest.raises(Exception, match="invalid device id"):
        vbroker.render(plan, {"a/#": vbroker.hash_password("y")}, tmp_path)
    files = vbroker.render(plan, {}, tmp_path)
    assert "pattern write vigie/v1/devices/%u/telemetry" in files["acl-devices"]  # never an empty ACL file
    assert "read" not in files["acl-devices"].split("\n", 1)[1]


def test_broker_config_needs_the_worker_credentials(run_cli: Run, db_dsn: str, tmp_path: Path) -> None:
    env = {"VIGIE_DATABASE_URL": db_dsn, "VIGIE_MQTT_URL": "mqtt://127.0.0.1:1883"}
    code, _, err = run_cli("broker", "config", "--out", str(tmp_path), env=env)
    assert code == 1
    assert "the ingest worker needs its own MQTT user" in err
    assert len(err.strip().splitlines()) == 1
    env["VIGIE_MQTT_URL"] = "mqtt://vigie-ingest:pw@127.0.0.1:8883"
    code, _, err = run_cli("broker", "config", "--out", str(tmp_path), env=env)
    assert code == 1
    assert "both use port 8883" in err
    code, _, err = run_cli("devices", "credentials", "no-such-device", env=env)
    assert code == 1
    assert "unknown device" in err


def make_certificates(d: Path) -> vbroker.TlsFiles:
    """A throw-away CA and a server certificate for 127.0.0.1 (openssl, EC keys: a fraction of a second)."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run = functools.partial(subprocess.run, check=True, capture_output=True, timeout=30, cwd=d)
    run(
        [
            "openssl",
            "req",
            "-x509",
            *ec,
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "1",
            "-subj",
            "/CN=vigie-test-ca",
        ]
    )
    run(["openssl", "req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1"])
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    sign = ["openssl", "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial"]
    run([*sign, "-out", "server.pem", "-days", "1", "-extfile", "san.ext"])
    return vbroker.TlsFiles(d / "ca.pem", d / "server.pem", d / "server.key")


def tls11_refusal(port: int, cafile: Path) -> str:
    """Offer TLS 1.1 only: who refuses it (the broker, with a protocol-version alert, or this OpenSSL already)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx = ssl.create_default_context(cafile=str(cafile))
        ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
            ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
        ):
            return f"accepted {tls.version()}"
    except ssl.SSLError as exc:
        if "NO_PROTOCOLS_AVAILABLE" in str(exc) or "NO_SUITABLE" in str(exc).upper():
            return "client cannot offer TLS 1.1"
        return "server refused TLS 1.1" if "VERSION" in str(exc).upper() else f"refused: {exc}"


async def test_tls_device_listener(settings: Settings, tmp_path: Path) -> None:
    tls = make_certificates(tmp_path)
    b = make_secure_broker(settings, tmp_path, tls=tls)
    try:
        conf = (b.out / "mosquitto.conf").read_text()
        assert "tls_version tlsv1.2" in conf
        trusted = aiomqtt.TLSParameters(ca_certs=str(tls.cafile))
        ok = not await refused(b.device("cgm-0", tls_params=trusted))
        plaintext = await refused(b.device("cgm-0"))
        tls11 = await asyncio.to_thread(tls11_refusal, b.plan.device_port, tls.cafile)
        wrong_password = await refused(b.device("cgm-0", "nope", tls_params=trusted))
    finally:
        b.stop()
    print(f"\n[security: TLS] tls1.2+ with the CA ok={ok}; plaintext refused={plaintext}; TLS 1.1 refused={tls11}")
    assert (ok, plaintext, wrong_password) == (True, True, True)
    assert tls11 in ("server refused TLS 1.1", "client cannot offer TLS 1.1"), tls11


async def test_two_workers_share_the_stream_under_the_acl(
    secure_broker: SecureBroker, settings: Settings, worker_log: Path
) -> None:
    """Scaling out with a shared subscription (`$share/GROUP/...`) works with the generated ACL."""
    b, now = secure_broker, time.time()
    local = settings.model_copy(update={"mqtt_url": SecretStr(b.ingest_url())})
    procs = [WorkerProcess(local, worker_log, client_id=f"{INGEST_USER}-{i}", shared_group="ingest") for i in (1, 2)]
    for p in procs:
        p.start()
    try:
        async with b.device("cgm-0") as dev:
            for i in range(200):
                await dev.publish(tel(settings, "cgm-0"), glucose_message(i, now - 300 + i), qos=1)
        await wait_until(lambda: count(settings.dsn, "SELECT count(*) FROM readings") == 200)
        shares = [int(p.metric("vigie_ingest_messages_received_total")) for p in procs]
    finally:
        codes = [p.stop(signal.SIGTERM) for p in procs]
    print(f"\n[security: shared subscription under the ACL] stored=200/200 per worker={shares}")
    assert codes == [0, 0]
    assert count(settings.dsn, "SELECT count(DISTINCT seq) FROM readings") == 200
