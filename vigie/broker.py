"""Broker security: device MQTT credentials and a Mosquitto 2.0 configuration generated from the registry.

What ``vigie broker config --out DIR`` writes (see docs/RELIABILITY.md for the tests that hold it to this):

- ``mosquitto.conf`` with ``per_listener_settings true`` and two listeners, both refusing anonymous clients:

  - the **ingest listener**, loopback only, knows the ingest worker's user alone (``passwd-ingest``); it may read
    telemetry and status of every device and write nothing;
  - the **device listener** knows the devices alone (``passwd-devices``: enabled devices that hold credentials),
    replaces every client id by the username (``use_username_as_clientid``) so that no device can take over the
    worker's session, and lets a device write its own telemetry and status topics (ACL on ``%u``) and read
    nothing; optional TLS (``tlsv1.2`` at least) when certificate paths are given.

- persistence on (snapshot every ``autosave_interval`` seconds) and per-client queue limits sized as
  rate x longest outage x 1.5 (reliability.md, "Mosquitto's queue for an offline or slow subscriber").

Passwords are shown once; the registry keeps Mosquitto's own PBKDF2-SHA512 hash (``$7$``), so the password files
are regenerated from the registry at any time. Revoking or disabling a device and then regenerating the
configuration (``--reload`` sends SIGHUP to the running broker) cuts the device off.

The broker is *managed* when ``VIGIE_BROKER_DIR`` (environment or ``.env``) names a folder that ``vigie broker
config --out`` generated: ``vigie devices disable|enable|credentials`` then regenerate that folder from the plan it
holds and reload the broker by themselves (:func:`sync_managed`), so a disabled device is cut off at the broker
without a second command.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import math
import os
import secrets
import shutil
import signal
import socket
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import psycopg
from pydantic_settings import BaseSettings, SettingsConfigDict

from vigie import registry
from vigie.errors import VigieError
from vigie.settings import Settings

PBKDF2_ITERATIONS = 101  # what mosquitto_passwd 2.0 writes
SALT_BYTES = 12
HASH_BYTES = 64
MIN_QUEUED_MESSAGES = 1000
PLAN_FILE = "vigie-broker.json"  # the plan, kept to regenerate the same configuration after a revocation


class BrokerConfigError(VigieError):
    """The broker configuration cannot be generated as asked."""


def new_password() -> str:
    """A random password for a device (about 190 bits)."""
    return secrets.token_urlsafe(24)


def hash_password(password: str, *, salt: bytes | None = None, iterations: int = PBKDF2_ITERATIONS) -> str:
    """Mosquitto's ``$7$`` hash: PBKDF2-HMAC-SHA512, ``$7$<iterations>$<base64 salt>$<base64 hash>``."""
    salt = salt if salt is not None else secrets.token_bytes(SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations, HASH_BYTES)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_password(password: str, hashed: str) -> bool:
    """True when ``password`` matches a ``$7$`` hash."""
    parts = hashed.split("$")
    if len(parts) != 5 or parts[1] != "7":
        return False
    try:
        iterations, salt, digest = int(parts[2]), base64.b64decode(parts[3]), base64.b64decode(parts[4])
    except ValueError:
        return False
    mine = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations, len(digest))
    return hmac.compare_digest(mine, digest)


def issue_credentials(conn: registry.Conn, device_id: str) -> str:
    """Give ``device_id`` a new MQTT password (replacing any previous one); returns it, only a hash is kept."""
    password = new_password()
    registry.set_credentials_hash(conn, device_id, hash_password(password))
    return password


def revoke_credentials(conn: registry.Conn, device_id: str) -> None:
    """Remove the device's MQTT password: it is refused once the broker configuration is regenerated."""
    registry.set_credentials_hash(conn, device_id, None)


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """Certificate paths of the device listener."""

    cafile: Path
    certfile: Path
    keyfile: Path
    require_certificate: bool = False


@dataclass(frozen=True, slots=True)
class BrokerPlan:
    """Everything the generated configuration depends on besides the registry."""

    topic_root: str
    ingest_user: str
    ingest_password_hash: str
    ingest_client_ids: tuple[str, ...]  # client ids the worker(s) use: no device may be named like them
    ingest_port: int = 1883
    device_port: int = 8883
    device_bind: str = "0.0.0.0"  # noqa: S104 - devices connect from the network; the ingest listener stays on loopback
    tls: TlsFiles | None = None
    rate_msgs_s: float = 30.0  # aggregate rate of the fleet (300 devices x one message every 10 s)
    outage_s: float = 3600.0  # longest worker or database outage the broker's queue must absorb
    autosave_s: int = 5
    max_payload_bytes: int = 256 * 1024  # VIGIE_INGEST_MAX_PAYLOAD_BYTES
    run_as_user: str | None = None  # Mosquitto's `user` (it switches to `mosquitto` when started as root)
    log_file: Path | None = None
    sys_interval_s: int = 10

    @property
    def max_queued_messages(self) -> int:
        """Per-client queue: the aggregate rate over the longest outage, with half as much again in reserve."""
        return max(MIN_QUEUED_MESSAGES, math.ceil(self.rate_msgs_s * self.outage_s * 1.5))


@dataclass(frozen=True, slots=True)
class BrokerFiles:
    """Where the generated files are."""

    conf: Path
    devices: int  # devices admitted (enabled, with credentials)
    pid_file: Path


def device_credentials(conn: registry.Conn) -> dict[str, str]:
    """Enabled devices that hold credentials: id → ``$7$`` hash."""
    return registry.credential_hashes(conn)


def render(
    plan: BrokerPlan, devices: dict[str, str], out: Path, *, probe: tuple[str, str] | None = None
) -> dict[str, str]:
    """The generated files (name → text) for ``out``; ``probe`` (user, hash) adds a login to the ingest listener
    that tells when a reload has been applied (see :func:`sync_managed`)."""
    for device_id in devices:
        registry.check_id("device", device_id)
        # client ids are global across listeners: a device id must never be one a worker uses (or may use)
        if device_id in plan.ingest_client_ids or device_id.startswith(plan.ingest_user):
            raise BrokerConfigError(
                f"device id {device_id!r} is the ingest worker's identity: rename the device or the worker"
            )
    if any(c in plan.ingest_user for c in "+#/: \t") or not plan.ingest_user:
        raise BrokerConfigError(f"invalid ingest username {plan.ingest_user!r}")
    root = plan.topic_root
    queued = plan.max_queued_messages
    lines = [
        "# Generated by `vigie broker config` from the device registry: do not edit, run it again.",
        "per_listener_settings true",
        f"pid_file {out / 'mosquitto.pid'}",
        "persistence true",
        f"persistence_location {out / 'data'}/",
        f"autosave_interval {plan.autosave_s}",
        "persistent_client_expiration 14d",
        f"# queue per client: {plan.rate_msgs_s:g} msg/s x {plan.outage_s:g} s outage x 1.5",
        f"max_queued_messages {queued}",
        f"max_queued_bytes {queued * 2048}",
        # above ingest's own limit, so that a moderately oversized payload still reaches the `oversize` quarantine
        f"message_size_limit {max(4 * plan.max_payload_bytes, 1 << 20)}",
        "max_keepalive 120",
        f"sys_interval {plan.sys_interval_s}",
    ]
    if plan.run_as_user:
        lines.append(f"user {plan.run_as_user}")
    if plan.log_file:
        lines += [f"log_dest file {plan.log_file}", "log_type error", "log_type warning", "log_type notice"]
        lines += ["log_type information", "connection_messages true"]
    lines += [
        "",
        "# the ingest worker: loopback only, its own user alone",
        f"listener {plan.ingest_port} 127.0.0.1",
        "allow_anonymous false",
        f"password_file {out / 'passwd-ingest'}",
        f"acl_file {out / 'acl-ingest'}",
        "",
        "# devices: the username is the client id, so no device can take another client's session",
        f"listener {plan.device_port} {plan.device_bind}",
        "allow_anonymous false",
        "use_username_as_clientid true",
        f"password_file {out / 'passwd-devices'}",
        f"acl_file {out / 'acl-devices'}",
    ]
    if plan.tls:
        lines += [
            f"cafile {plan.tls.cafile}",
            f"certfile {plan.tls.certfile}",
            f"keyfile {plan.tls.keyfile}",
            "tls_version tlsv1.2",
            f"require_certificate {'true' if plan.tls.require_certificate else 'false'}",
        ]
    acl_devices = [
        "# a device writes its own topics and reads nothing (no read or subscribe rule at all)",
        f"pattern write {root}/devices/%u/telemetry",
        f"pattern write {root}/devices/%u/status",
    ]
    acl_ingest = [
        "# the ingest worker reads every device's telemetry and status and writes nothing",
        f"user {plan.ingest_user}",
        f"topic read {root}/devices/+/telemetry",
        f"topic read {root}/devices/+/status",
    ]
    return {
        "mosquitto.conf": "\n".join(lines) + "\n",
        "passwd-devices": "".join(f"{d}:{h}\n" for d, h in sorted(devices.items())),
        "passwd-ingest": f"{plan.ingest_user}:{plan.ingest_password_hash}\n"
        + (f"{probe[0]}:{probe[1]}\n" if probe else ""),
        "acl-devices": "\n".join(acl_devices) + "\n",
        "acl-ingest": "\n".join(acl_ingest) + "\n",
        PLAN_FILE: _plan_json(plan),
    }


def write_config(
    plan: BrokerPlan, devices: dict[str, str], out: Path, *, probe: tuple[str, str] | None = None
) -> BrokerFiles:
    """Write the configuration into ``out`` (created; password files readable by their owner only)."""
    out = out.resolve()
    files = render(plan, devices, out, probe=probe)
    (out / "data").mkdir(parents=True, exist_ok=True)
    # generated as root for a broker that drops to --user: that user must read the files again on SIGHUP
    owner = plan.run_as_user if plan.run_as_user and os.geteuid() == 0 else None
    for name, text in files.items():
        path = out / name
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text)
        tmp.chmod(0o644 if name == "mosquitto.conf" else 0o600)
        if owner:
            _chown(tmp, owner)
        tmp.replace(path)  # atomic: a broker reloading meanwhile reads the old or the new file, never half
    if owner:
        _chown(out / "data", owner)
    return BrokerFiles(out / "mosquitto.conf", len(devices), out / "mosquitto.pid")


def _chown(path: Path, user: str) -> None:
    try:
        shutil.chown(path, user)
    except LookupError as exc:
        raise BrokerConfigError(f"unknown system user {user!r} (--user)") from exc


def reload_broker(pid_file: Path) -> int:
    """Send SIGHUP to the broker whose pid is in ``pid_file`` (it re-reads passwords and ACLs); returns the pid."""
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError) as exc:
        raise BrokerConfigError(f"no running broker recorded in {pid_file}") from exc
    if (why := _not_the_broker(pid)) is not None:
        raise BrokerConfigError(f"the broker of {pid_file} (pid {pid}) is not running: pid {pid} is {why}")
    try:
        os.kill(pid, signal.SIGHUP)
    except ProcessLookupError as exc:
        raise BrokerConfigError(f"the broker of {pid_file} (pid {pid}) is not running") from exc
    return pid


def _not_the_broker(pid: int) -> str | None:
    """Why ``pid`` cannot be the broker (no such process, or another program: a stale pid file whose pid was
    reused), or None when it may be (without /proc to ask, the pid file is trusted)."""
    if not Path("/proc/self").exists():
        return None
    try:
        name = Path(f"/proc/{pid}/comm").read_text().strip()
    except FileNotFoundError:
        return "no process"
    except OSError:
        return None
    return None if name == "mosquitto" else f"another program ({name})"


class _ManagedBroker(BaseSettings):
    """Where the broker configuration Vigie manages lives (``VIGIE_BROKER_DIR``, environment or ``.env``)."""

    model_config = SettingsConfigDict(env_prefix="VIGIE_", env_file=".env", extra="ignore", env_ignore_empty=True)
    broker_dir: Path | None = None  # empty: not managed


def managed_dir(explicit: Path | None = None) -> Path | None:
    """The managed broker folder: ``explicit`` (``--broker-dir``), else ``VIGIE_BROKER_DIR``; None when unset.

    A folder that holds no plan of ``vigie broker config`` is an error, raised before anything changes."""
    out = explicit if explicit is not None else _ManagedBroker().broker_dir
    if out is None:
        return None
    load_plan(out)  # fails with a one-line error when the folder was not generated by `vigie broker config`
    return out


@dataclass(frozen=True, slots=True)
class SyncResult:
    """What :func:`sync_managed` did."""

    files: BrokerFiles
    reloaded_pid: int | None  # None: the broker is not running (it reads the new files when it starts)
    applied_after_s: float | None = None  # from SIGHUP until the broker was seen using the new files


PROBE_PREFIX = "~vigie-reload-"  # `~` is in no device id (registry.ID_RE) and in no worker user name
APPLY_TIMEOUT_S = 10.0


def sync_managed(
    conn: psycopg.Connection[tuple[object, ...]], out: Path, *, timeout_s: float = APPLY_TIMEOUT_S
) -> SyncResult:
    """Regenerate the managed folder ``out`` from the registry with the plan saved in it, reload its broker and
    return once the broker has applied the new files.

    Mosquitto 2.0 re-reads the password and ACL files on SIGHUP and, in the same step, disconnects every client
    whose credentials no longer hold; but SIGHUP is asynchronous, and a message a disabled device sends before the
    broker gets to it is still delivered. So the first generation adds a one-off login (a random user and password)
    to the ingest listener's password file: once the broker accepts that login, the reload, and the disconnection
    of the revoked clients with it, is done. A second generation without the login follows (its reload needs no
    wait: the probe's password is known to nobody)."""
    plan = load_plan(out)
    devices = device_credentials(conn)
    pid_file = out.resolve() / "mosquitto.pid"
    pid = _running_broker(pid_file)
    if pid is None:
        return SyncResult(write_config(plan, devices, out), None)
    user, password = PROBE_PREFIX + secrets.token_hex(6), new_password()
    write_config(plan, devices, out, probe=(user, hash_password(password)))
    try:
        os.kill(pid, signal.SIGHUP)
    except ProcessLookupError:  # it stopped meanwhile: it reads the files (without the probe) when it starts
        return SyncResult(write_config(plan, devices, out), None)
    sent = time.monotonic()
    deadline = sent + timeout_s
    while not _login_accepted(plan.ingest_port, user, password, timeout_s=max(0.1, deadline - time.monotonic())):
        if time.monotonic() >= deadline:
            write_config(plan, devices, out)  # no one-off login left behind
            raise BrokerConfigError(
                f"the broker of {pid_file} (pid {pid}) did not apply the new configuration within {timeout_s:g} s"
            )
        time.sleep(0.02)  # polling the broker: nothing signals the end of a reload
    applied = time.monotonic() - sent
    files = write_config(plan, devices, out)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGHUP)
    return SyncResult(files, pid, applied)


def _running_broker(pid_file: Path) -> int | None:
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if _not_the_broker(pid) is None else None


def _login_accepted(port: int, user: str, password: str, *, timeout_s: float) -> bool:
    """True when the broker on 127.0.0.1:``port`` accepts an MQTT 3.1.1 CONNECT with these credentials."""

    def field(value: str) -> bytes:
        raw = value.encode()
        return len(raw).to_bytes(2, "big") + raw

    body = field("MQTT") + bytes([4, 0xC2]) + (10).to_bytes(2, "big")  # 3.1.1, user+password+clean, keepalive 10
    body += field(PROBE_PREFIX + secrets.token_hex(4)) + field(user) + field(password)
    packet = bytes([0x10]) + _varint_bytes(len(body)) + body
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=min(timeout_s, 2.0)) as sock:
            sock.sendall(packet)
            connack = b""
            while len(connack) < 4:
                chunk = sock.recv(4 - len(connack))
                if not chunk:
                    return False  # refused and closed
                connack += chunk
            accepted = connack[0] == 0x20 and connack[3] == 0
            if accepted:
                sock.sendall(b"\xe0\x00")  # DISCONNECT
            return accepted
    except OSError:
        return False


def _varint_bytes(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def generate(conn: psycopg.Connection[tuple[object, ...]], plan: BrokerPlan, out: Path) -> BrokerFiles:
    """Read the registry and write the configuration."""
    return write_config(plan, device_credentials(conn), out)


def plan_from_settings(
    settings: Settings,
    *,
    device_port: int = 8883,
    device_bind: str = "0.0.0.0",  # noqa: S104 - devices connect from the network
    tls: tuple[Path | None, Path | None, Path | None] | None = None,
    rate: float = 30.0,
    outage: float = 3600.0,
    user: str | None = None,
) -> BrokerPlan:
    """The plan for this deployment: the ingest worker's user, password and port come from ``VIGIE_MQTT_URL``."""
    mqtt = settings.mqtt
    if not mqtt.username or not mqtt.password:
        raise BrokerConfigError(
            "the ingest worker needs its own MQTT user: set VIGIE_MQTT_URL=mqtt://USER:PASSWORD@127.0.0.1:PORT"
        )
    if mqtt.port == device_port:
        raise BrokerConfigError(f"the device listener and the ingest listener both use port {device_port}")
    ca, cert, key = tls or (None, None, None)
    if tls and not (ca and cert and key):
        raise BrokerConfigError("TLS needs --tls-ca, --tls-cert and --tls-key together")
    return BrokerPlan(
        topic_root=settings.topic_root,
        ingest_user=mqtt.username,
        ingest_password_hash=hash_password(mqtt.password),
        ingest_client_ids=(settings.ingest_client_id,),
        ingest_port=mqtt.port,
        device_port=device_port,
        device_bind=device_bind,
        tls=TlsFiles(ca.resolve(), cert.resolve(), key.resolve()) if ca and cert and key else None,
        rate_msgs_s=rate,
        outage_s=outage,
        max_payload_bytes=settings.ingest_max_payload_bytes,
        run_as_user=user,
    )


def load_plan(out: Path) -> BrokerPlan:
    """The plan a previous ``vigie broker config`` saved in ``out`` (to regenerate after a revocation)."""
    try:
        raw = json.loads((out / PLAN_FILE).read_text())
    except (OSError, ValueError) as exc:
        raise BrokerConfigError(f"{out} holds no configuration of `vigie broker config`") from exc
    tls = raw.pop("tls")
    log_file = raw.pop("log_file")
    return BrokerPlan(
        **{**raw, "ingest_client_ids": tuple(raw["ingest_client_ids"])},
        tls=TlsFiles(Path(tls["cafile"]), Path(tls["certfile"]), Path(tls["keyfile"]), bool(tls["require_certificate"]))
        if tls
        else None,
        log_file=Path(log_file) if log_file else None,
    )


def _plan_json(plan: BrokerPlan) -> str:
    raw = asdict(plan)
    return json.dumps(raw, default=str, indent=1)
