"""The ``vigie`` command line: one entry point, a subcommand per job.

Errors reach the user as one line on stderr and a non-zero exit (2 for a wrong argument, 1 for a refused
operation); a traceback means a bug. Each stage package wires its own commands here; their modules import
heavy libraries inside the command functions so that ``vigie --help`` stays fast.
"""

from __future__ import annotations

import functools
import json
import logging
import sys
from dataclasses import asdict
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import pydantic
import typer

try:  # typer ≥ 0.29 vendors click; older versions use the click package
    from typer._click import exceptions as click_exc
except ImportError:  # pragma: no cover
    from click import exceptions as click_exc  # type: ignore[no-redef]

from vigie.errors import VigieError
from vigie.settings import Settings

app = typer.Typer(
    name="vigie",
    help="Vigie: remote monitoring for vets and farmers (devices → MQTT → TimescaleDB → alerts and advice).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema: migrate, status, maintenance.", no_args_is_help=True)
clinics_app = typer.Typer(help="Clinics (tenants).", no_args_is_help=True)
owners_app = typer.Typer(help="Owners of pets and farms.", no_args_is_help=True)
animals_app = typer.Typer(help="Animals followed by a clinic.", no_args_is_help=True)
devices_app = typer.Typer(help="Devices that publish telemetry.", no_args_is_help=True)
bench_app = typer.Typer(help="Benchmarks (print a table, or JSON with --json).", no_args_is_help=True)
broker_app = typer.Typer(
    help="The MQTT broker's security configuration, generated from the registry.", no_args_is_help=True
)
app.add_typer(db_app, name="db")
app.add_typer(clinics_app, name="clinics")
app.add_typer(owners_app, name="owners")
app.add_typer(animals_app, name="animals")
app.add_typer(devices_app, name="devices")
app.add_typer(bench_app, name="bench")
app.add_typer(broker_app, name="broker")


class Species(StrEnum):
    """Species Vigie knows."""

    dog = "dog"
    cat = "cat"
    horse = "horse"
    pony = "pony"
    donkey = "donkey"
    cow = "cow"


class DeviceKindOpt(StrEnum):
    """Device kinds."""

    cgm = "cgm"
    feeder = "feeder"
    milking = "milking"


class Language(StrEnum):
    """Languages of clinics and owners."""

    fr = "fr"
    en = "en"


JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON instead of a table")]


def settings_of(ctx: typer.Context) -> Settings:
    """The settings built once by the entry point."""
    root = ctx.find_root()
    if not isinstance(root.obj, Settings):
        root.obj = Settings()
    return root.obj


@app.callback()
def _root(
    ctx: typer.Context,
    log_level: Annotated[
        str, typer.Option("--log-level", help="DEBUG, INFO, WARNING or ERROR", envvar="VIGIE_LOG_LEVEL")
    ] = "INFO",
) -> None:
    level = logging.getLevelName(log_level.upper())
    if not isinstance(level, int):
        raise typer.BadParameter(f"unknown log level {log_level!r}", param_hint="--log-level")
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    ctx.obj = Settings()


# --- db -------------------------------------------------------------------------------------------


@db_app.command("migrate")
def db_migrate(
    ctx: typer.Context, quiet: Annotated[bool, typer.Option("--quiet", "-q", help="print nothing")] = False
) -> None:
    """Apply pending schema migrations (a no-op when the schema is current)."""
    from vigie.db import connect, detect_license, migrate  # noqa: PLC0415 - keep --help fast

    with connect(settings_of(ctx).dsn, autocommit=True) as conn:
        done = migrate(conn)
        lic = detect_license(conn)
    if not quiet:
        if done:
            for mig in done:
                typer.echo(f"applied {mig.version:04d}_{mig.name}")
        else:
            typer.echo("schema is up to date")
        typer.echo(f"timescaledb license: {lic}")


@db_app.command("status")
def db_status(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Show which migrations are applied."""
    from vigie.db import connect, status  # noqa: PLC0415

    with connect(settings_of(ctx).dsn, autocommit=True) as conn:
        rows = status(conn)
    if as_json:
        typer.echo(json.dumps([asdict(r) for r in rows], default=str))
        return
    for r in rows:
        state = f"applied {r.applied_at:%Y-%m-%d %H:%M} ({r.license})" if r.applied_at else "pending"
        typer.echo(f"{r.version:04d}_{r.name:<24} {state}{'  MODIFIED' if r.modified else ''}")


@db_app.command("maintain")
def db_maintain(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Refresh the hourly and daily rollups and apply retention once."""
    from vigie.db import connect  # noqa: PLC0415

    with connect(settings_of(ctx).dsn, autocommit=True) as conn:
        row = conn.execute("SELECT * FROM vigie_maintain()").fetchone()
    hours, days, dropped = row if row else (0, 0, 0)
    out = {"hours_refreshed": hours, "days_refreshed": days, "chunks_dropped": dropped}
    typer.echo(json.dumps(out) if as_json else " ".join(f"{k}={v}" for k, v in out.items()))


# --- registry -------------------------------------------------------------------------------------


@clinics_app.command("add")
def clinics_add(
    ctx: typer.Context,
    clinic: Annotated[str, typer.Argument(help="clinic id, e.g. vet-lyon")],
    name: Annotated[str | None, typer.Option(help="display name")] = None,
    language: Annotated[Language, typer.Option(help="language of drafts")] = Language.fr,
) -> None:
    """Register a clinic."""
    from vigie import registry  # noqa: PLC0415
    from vigie.db import connect  # noqa: PLC0415

    with connect(settings_of(ctx).dsn) as conn:
        registry.add_clinic(conn, clinic, name=name, language=language.value)
    typer.echo(f"clinic {clinic} added")


@owners_app.command("add")
def owners_add(
    ctx: typer.Context,
    owner: Annotated[str, typer.Argument(help="owner id")],
    clinic: Annotated[str, typer.Option(help="clinic id")],
    name: Annotated[str | None, typer.Option(help="display name")] = None,
    farm: Annotated[bool, typer.Option("--farm", help="a farm rather than a pet owner")] = False,
    email: Annotated[str | None, typer.Option(help="where approved advice is sent")] = None,
    language: Annotated[Language | None, typer.Option(help="default: the clinic's")] = None,
) -> None:
    """Register a pet owner or a farm."""
    from vigie import registry  # noqa: PLC0415
    from vigie.db import connect  # noqa: PLC0415

    with connect(settings_of(ctx).dsn) as conn:
        registry.add_owner(
            conn,
            owner,
            clinic=clinic,
            name=name,
            kind="farm" if farm else "owner",
            email=email,
            language=language.value if language else None,
        )
    typer.echo(f"owner {owner} added")


@animals_app.command("add")
def animals_add(
    ctx: typer.Context,
    animal: Annotated[str, typer.Argument(help="animal id, e.g. rex or cow-017")],
    species: Annotated[Species, typer.Option(help="species")],
    clinic: Annotated[str, typer.Option(help="clinic id")],
    name: Annotated[str | None, typer.Option(help="display name")] = None,
    owner: Annotated[str | None, typer.Option(help="owner or farm id")] = None,
    birth_date: Annotated[str | None, typer.Option("--birth-date", help="YYYY-MM-DD")] = None,
    weight: Annotated[float | None, typer.Option(help="body weight in kg")] = None,
    calving_date: Annotated[
        str | None, typer.Option("--calving-date", help="a cow's last calving, YYYY-MM-DD (day 0 of her lactation)")
    ] = None,
) -> None:
    """Register an animal."""
    from vigie import registry  # noqa: PLC0415
    from vigie.db import connect  # noqa: PLC0415

    born = _date_option(birth_date, "--birth-date")
    calved = _date_option(calving_date, "--calving-date")
    with connect(settings_of(ctx).dsn) as conn:
        registry.add_animal(
            conn,
            animal,
            species=species.value,
            clinic=clinic,
            name=name,
            owner=owner,
            birth_date=born,
            weight_kg=weight,
            calving_date=calved,
        )
    typer.echo(f"animal {animal} added")


def _date_option(value: str | None, hint: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)", param_hint=hint) from None


@animals_app.command("calving")
def animals_calving(
    ctx: typer.Context,
    animal: Annotated[str, typer.Argument(help="the cow's id")],
    calving_date: Annotated[str | None, typer.Argument(help="her last calving, YYYY-MM-DD")] = None,
    unknown: Annotated[bool, typer.Option("--unknown", help="forget the calving date")] = False,
) -> None:
    """Record a cow's last calving: the rules forecast her yield on a Wood curve and screen ketosis by days in milk."""
    from vigie import registry  # noqa: PLC0415
    from vigie.db import connect  # noqa: PLC0415

    if (calving_date is None) != unknown:
        raise typer.BadParameter("give a date YYYY-MM-DD, or --unknown", param_hint="CALVING_DATE")
    calved = _date_option(calving_date, "CALVING_DATE")
    with connect(settings_of(ctx).dsn) as conn:
        registry.set_calving(conn, animal, calved)
    typer.echo(f"cow {animal}: calving {calved.isoformat() if calved else 'unknown'}")


BrokerDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--broker-dir",
        help="the `vigie broker config` folder to regenerate and reload (default: $VIGIE_BROKER_DIR, if set)",
    ),
]


@devices_app.command("add")
def devices_add(
    ctx: typer.Context,
    device: Annotated[str, typer.Argument(help="device id (appears in its MQTT topic)")],
    kind: Annotated[DeviceKindOpt, typer.Option(help="what the device is")],
    animal: Annotated[str | None, typer.Option(help="the animal it is bound to")] = None,
    clinic: Annotated[str | None, typer.Option(help="for a device that serves many animals")] = None,
    credentials: Annotated[bool, typer.Option("--credentials", help="issue its MQTT password (shown once)")] = False,
    broker_dir: BrokerDirOpt = None,
) -> None:
    """Register a device, bound to one animal (--animal) or serving many (--clinic)."""
    from vigie import broker, registry  # noqa: PLC0415
    from vigie.db import connect  # noqa: PLC0415

    managed = broker.managed_dir(broker_dir) if credentials else None
    with connect(settings_of(ctx).dsn) as conn:
        clinic_id = registry.add_device(conn, device, kind=kind.value, animal=animal, clinic=clinic)
        password = broker.issue_credentials(conn, device) if credentials else None
    typer.echo(f"device {device} added to clinic {clinic_id}")
    if password is not None:
        _show_password(device, password, managed=managed is not None)
        _sync_broker(ctx, managed)


def _show_password(device: str, password: str, *, managed: bool) -> None:
    typer.echo(f"MQTT username: {device}\nMQTT password: {password}")
    then = "" if managed else "; run `vigie broker config` to let the device in"
    typer.echo(f"(shown once: only its hash is kept{then})")


def _sync_broker(ctx: typer.Context, managed: Path | None) -> None:
    """Bring the managed broker in line with the registry (regenerate its files, SIGHUP), or say it was not."""
    from vigie import broker  # noqa: PLC0415
    from vigie.db import connect  # noqa: PLC0415

    if managed is None:
        typer.echo(
            "broker not updated (no --broker-dir, VIGIE_BROKER_DIR unset): run "
            "`vigie broker config --out DIR --reload` to apply this at the broker",
            err=True,
        )
        return
    with connect(settings_of(ctx).dsn) as conn:
        done = broker.sync_managed(conn, managed)
    typer.echo(f"wrote {done.files.conf} ({done.files.devices} devices admitted)")
    if done.reloaded_pid is None:
        typer.echo("the broker is not running: it reads the new files when it starts")
    else:
        typer.echo(f"reloaded the broker (pid {done.reloaded_pid}), applied after {done.applied_after_s or 0:.2f} s")


@devices_app.command("credentials")
def devices_credentials(
    ctx: typer.Context,
    device: Annotated[str, typer.Argument(help="device id (its MQTT username)")],
    revoke: Annotated[bool, typer.Option("--revoke", help="remove its password instead of issuing one")] = False,
    broker_dir: BrokerDirOpt = None,
) -> None:
    """Issue (or re-issue) a device's MQTT password, shown once; --revoke cuts the device off."""
    from vigie import broker  # noqa: PLC0415
    from vigie.db import connect  # noqa: PLC0415

    managed = broker.managed_dir(broker_dir)
    with connect(settings_of(ctx).dsn) as conn:
        if revoke:
            broker.revoke_credentials(conn, device)
            password = None
        else:
            password = broker.issue_credentials(conn, device)
    if password is None:
        typer.echo(f"device {device}: MQTT credentials revoked")
    else:
        _show_password(device, password, managed=managed is not None)
    _sync_broker(ctx, managed)


def _set_enabled(ctx: typer.Context, device: str, broker_dir: Path | None, *, enabled: bool) -> None:
    from vigie import broker, registry  # noqa: PLC0415
    from vigie.db import connect  # noqa: PLC0415

    managed = broker.managed_dir(broker_dir)  # checked before the registry changes
    with connect(settings_of(ctx).dsn) as conn:
        registry.set_device_enabled(conn, device, enabled=enabled)
    typer.echo(f"device {device} {'enabled' if enabled else 'disabled'}")
    _sync_broker(ctx, managed)


@devices_app.command("disable")
def devices_disable(
    ctx: typer.Context,
    device: Annotated[str, typer.Argument(help="device id")],
    broker_dir: BrokerDirOpt = None,
) -> None:
    """Disable a device: its telemetry is quarantined from now on, and a managed broker (--broker-dir or
    VIGIE_BROKER_DIR) is regenerated and reloaded, which disconnects the device and refuses it."""
    _set_enabled(ctx, device, broker_dir, enabled=False)


@devices_app.command("enable")
def devices_enable(
    ctx: typer.Context,
    device: Annotated[str, typer.Argument(help="device id")],
    broker_dir: BrokerDirOpt = None,
) -> None:
    """Enable a disabled device again (a managed broker admits it again)."""
    _set_enabled(ctx, device, broker_dir, enabled=True)


@devices_app.command("list")
def devices_list(
    ctx: typer.Context,
    clinic: Annotated[str | None, typer.Option(help="only this clinic")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List devices with their binding, state and last-seen time."""
    from vigie import registry  # noqa: PLC0415
    from vigie.db import connect  # noqa: PLC0415

    with connect(settings_of(ctx).dsn) as conn:
        devices = registry.list_devices(conn, clinic=clinic)
    if as_json:
        typer.echo(json.dumps([asdict(d) for d in devices], default=str))
        return
    typer.echo(f"{'device':<20} {'kind':<8} {'clinic':<16} {'animal':<16} {'enabled':<8} {'state':<8} last seen")
    for d in devices:
        seen = f"{d.last_seen:%Y-%m-%d %H:%M:%S}" if d.last_seen else "never"
        typer.echo(
            f"{d.id:<20} {d.kind:<8} {d.clinic_id:<16} {d.animal_id or '(many)':<16} "
            f"{'yes' if d.enabled else 'no':<8} {d.availability or '-':<8} {seen}"
        )


@broker_app.command("config")
def broker_config(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", help="folder for mosquitto.conf, password files and ACLs")],
    device_port: Annotated[int | None, typer.Option(help="port of the device listener [default: 8883]")] = None,
    device_bind: Annotated[str | None, typer.Option(help="address of the device listener [default: all]")] = None,
    tls_ca: Annotated[Path | None, typer.Option(help="CA file: enables TLS on the device listener")] = None,
    tls_cert: Annotated[Path | None, typer.Option(help="server certificate (with --tls-ca)")] = None,
    tls_key: Annotated[Path | None, typer.Option(help="server key (with --tls-ca)")] = None,
    rate: Annotated[float | None, typer.Option(help="fleet's messages/s, to size queues [default: 30]", min=0)] = None,
    outage: Annotated[float | None, typer.Option(help="ingest outage to absorb, s [default: 3600]", min=0)] = None,
    user: Annotated[str | None, typer.Option(help="system user Mosquitto runs as")] = None,
    reload: Annotated[bool, typer.Option("--reload", help="send SIGHUP to the broker running this folder")] = False,
) -> None:
    """Generate a Mosquitto 2.0 configuration from the registry: no anonymous access, per-device ACLs.

    Without options, a folder generated before is regenerated with the options it was generated with.
    """
    opts = {
        "device_port": device_port,
        "device_bind": device_bind,
        "tls": (tls_ca, tls_cert, tls_key) if tls_ca or tls_cert or tls_key else None,
        "rate": rate,
        "outage": outage,
        "user": user,
    }
    _broker_config(ctx, out, reload=reload, **{k: v for k, v in opts.items() if v is not None})


def _broker_config(ctx: typer.Context, out: Path, *, reload: bool, **opts: Any) -> None:
    from vigie import broker  # noqa: PLC0415
    from vigie.db import connect  # noqa: PLC0415

    settings = settings_of(ctx)
    if not opts and (out / broker.PLAN_FILE).exists():
        plan = broker.load_plan(out)
    else:
        plan = broker.plan_from_settings(settings, **opts)
    with connect(settings.dsn) as conn:
        files = broker.generate(conn, plan, out)
    typer.echo(f"wrote {files.conf} ({files.devices} devices admitted)")
    if reload:
        typer.echo(f"reloaded the broker (pid {broker.reload_broker(files.pid_file)})")


@app.command("up")
def up(
    ctx: typer.Context,
    scenario: Annotated[
        str, typer.Option(help="simulated fleet (a name in simulators/scenarios/ or a file)")
    ] = "default",
    speed: Annotated[
        str, typer.Option(help="speed of the backfill before real time: a factor such as 60, or max")
    ] = "max",
) -> None:
    """Run the whole pipeline on local services with simulated devices (Ctrl-C stops it)."""
    import asyncio  # noqa: PLC0415

    from vigie.up import run_up  # noqa: PLC0415

    raise typer.Exit(asyncio.run(run_up(settings_of(ctx), scenario, speed)))


@functools.cache
def _wire_stages() -> None:
    """Each stage package contributes its commands, once (imported here so that vigie stays one entry point)."""
    from analytics import cli as analytics_cli  # noqa: PLC0415
    from api import cli as api_cli  # noqa: PLC0415
    from dashboards import cli as dashboards_cli  # noqa: PLC0415
    from ingest import cli as ingest_cli  # noqa: PLC0415
    from rules import cli as rules_cli  # noqa: PLC0415
    from simulators import cli as simulators_cli  # noqa: PLC0415

    for stage in (simulators_cli, ingest_cli, analytics_cli, dashboards_cli, rules_cli, api_cli):
        stage.register(app, bench_app)


def _fail(message: str, code: int) -> NoReturn:
    sys.stderr.write(f"vigie: {message}\n")
    raise SystemExit(code)


def main(argv: list[str] | None = None) -> None:
    """Console entry point."""
    _wire_stages()
    command = typer.main.get_command(app)
    try:
        rv = command.main(args=argv, prog_name="vigie", standalone_mode=False)
    except click_exc.NoArgsIsHelpError:  # the help text is already printed
        raise SystemExit(0) from None
    except click_exc.UsageError as exc:
        where = f" (see '{exc.ctx.command_path} --help')" if exc.ctx else ""
        _fail(f"error: {exc.format_message()}{where}", 2)
    except typer.Abort:
        _fail("aborted", 130)
    except click_exc.ClickException as exc:
        _fail(f"error: {exc.format_message()}", exc.exit_code or 1)
    except pydantic.ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        _fail(f"error: invalid setting VIGIE_{field.upper()}: {err['msg']}", 2)
    except VigieError as exc:
        _fail(f"error: {exc}", 1)
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    raise SystemExit(rv if isinstance(rv, int) else 0)
