"""Commands of the API stage: ``vigie api``, ``vigie users add``, ``vigie tokens create|revoke``, and delivery to
owners: ``vigie deliver`` (the outbox worker), ``vigie outbox list|retry``, ``vigie mailsink`` (a local SMTP sink)."""

from __future__ import annotations

import asyncio
import getpass
import json
import secrets
import signal
import sys
from dataclasses import asdict
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from vigie.errors import ConfigError
from vigie.settings import Settings


class RoleOpt(StrEnum):
    admin = "admin"
    vet = "vet"
    staff = "staff"
    owner = "owner"
    device = "device"


def serve(settings: Settings) -> None:
    """Run the API and web page with uvicorn until SIGTERM / Ctrl-C (graceful: in-flight requests finish)."""
    import uvicorn  # noqa: PLC0415

    from api._app import create_app  # noqa: PLC0415

    config = uvicorn.Config(
        create_app(settings),
        host=settings.api_host,
        port=settings.api_port,
        log_level="info",
        access_log=False,
        timeout_graceful_shutdown=10,
        proxy_headers=False,
    )
    uvicorn.Server(config).run()


def _read_password(path: Path | None, generate: bool) -> tuple[str | None, bool]:
    if path is not None and generate:
        raise ConfigError("give --password-file or --generate-password, not both")
    if generate:
        return secrets.token_urlsafe(12), True
    if path is None:
        return None, False
    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    return text.rstrip("\r\n"), False


def register(app: typer.Typer, bench: typer.Typer) -> None:
    """Add the API commands to the ``vigie`` app (and ``vigie bench delivery``)."""
    users_app = typer.Typer(help="People and programs that use the API and web page.", no_args_is_help=True)
    tokens_app = typer.Typer(help="API tokens (shown once, stored hashed).", no_args_is_help=True)
    app.add_typer(users_app, name="users")
    app.add_typer(tokens_app, name="tokens")
    _register_accounts(users_app, tokens_app)
    outbox_app = typer.Typer(help="Approved messages on their way to owners (email, webhook).", no_args_is_help=True)
    app.add_typer(outbox_app, name="outbox")
    _register_delivery(app)
    _register_bench(bench)
    _register_outbox(outbox_app)

    @app.command("api")
    def api(
        ctx: typer.Context,
        host: Annotated[str | None, typer.Option(help="listen address (default VIGIE_API_HOST)")] = None,
        port: Annotated[int | None, typer.Option(help="port (default VIGIE_API_PORT)", min=0, max=65535)] = None,
    ) -> None:
        """Serve the API (OpenAPI at /docs) and the vets' web page. Stops on SIGTERM."""
        from vigie.cli import settings_of  # noqa: PLC0415

        settings = settings_of(ctx)
        updates: dict[str, object] = {}
        if host is not None:
            updates["api_host"] = host
        if port is not None:
            updates["api_port"] = port
        serve(settings.model_copy(update=updates))


def _register_accounts(users_app: typer.Typer, tokens_app: typer.Typer) -> None:
    @users_app.command("add")
    def users_add(
        ctx: typer.Context,
        user: Annotated[str, typer.Argument(help="login name, e.g. dr-martin")],
        role: Annotated[RoleOpt, typer.Option(help="what the account may do")],
        clinic: Annotated[str | None, typer.Option(help="clinic id (vet, staff; implied for owner and device)")] = None,
        owner: Annotated[str | None, typer.Option(help="owner or farm id (role owner)")] = None,
        device: Annotated[str | None, typer.Option(help="device id (role device)")] = None,
        name: Annotated[str, typer.Option(help="display name, shown in drafts and the audit log")] = "",
        language: Annotated[str | None, typer.Option(help="fr or en (default: the clinic's)")] = None,
        password_file: Annotated[
            Path | None, typer.Option(help="file holding the password ('-': stdin); none: token-only account")
        ] = None,
        generate_password: Annotated[bool, typer.Option(help="generate a password and print it once")] = False,
    ) -> None:
        """Create a user who can log in to the web page and the API."""
        from api._accounts import add_user  # noqa: PLC0415
        from vigie.cli import settings_of  # noqa: PLC0415
        from vigie.db import connect  # noqa: PLC0415

        password, generated = _read_password(password_file, generate_password)
        with connect(settings_of(ctx).dsn) as conn:
            add_user(
                conn,
                user,
                role=role.value,
                clinic=clinic,
                owner=owner,
                device=device,
                password=password,
                display_name=name,
                language=language,
            )
        typer.echo(f"user {user} added ({role.value})")
        if generated:
            typer.echo(f"password (shown once): {password}")

    @tokens_app.command("create")
    def tokens_create(
        ctx: typer.Context,
        user: Annotated[str, typer.Argument(help="login name")],
        days: Annotated[
            int | None, typer.Option(help="lifetime in days (default VIGIE_API_TOKEN_TTL_DAYS)", min=1)
        ] = None,
        name: Annotated[str, typer.Option(help="what the token is for")] = "",
        as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    ) -> None:
        """Create an API token for a user; it is printed once and only its hash is stored."""
        from api._accounts import issue_token  # noqa: PLC0415
        from vigie.cli import settings_of  # noqa: PLC0415
        from vigie.db import connect  # noqa: PLC0415

        settings = settings_of(ctx)
        with connect(settings.dsn) as conn:
            issued = issue_token(conn, user, ttl=timedelta(days=days or settings.api_token_ttl_days), name=name)
        if as_json:
            out = {
                "token": issued.token,
                "user": user,
                "role": issued.role,
                "expires_at": issued.expires_at.isoformat(),
            }
            typer.echo(json.dumps(out))
        else:
            typer.echo(issued.token)
            typer.echo(f"for {user} ({issued.role}), expires {issued.expires_at:%Y-%m-%d %H:%M} UTC", err=True)

    @tokens_app.command("revoke")
    def tokens_revoke(
        ctx: typer.Context,
        token_file: Annotated[Path, typer.Argument(help="file holding the token ('-': stdin)")],
    ) -> None:
        """Revoke a token (read from a file or stdin, so that it stays out of the shell history)."""
        from api._accounts import revoke_token  # noqa: PLC0415
        from vigie.cli import settings_of  # noqa: PLC0415
        from vigie.db import connect  # noqa: PLC0415

        token, _ = _read_password(token_file, generate=False)
        with connect(settings_of(ctx).dsn) as conn:
            if not revoke_token(conn, token or ""):
                raise ConfigError("unknown or already revoked token")
        typer.echo("token revoked")


def _with_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)


def _register_delivery(app: typer.Typer) -> None:
    @app.command("deliver")
    def deliver(
        ctx: typer.Context,
        once: Annotated[bool, typer.Option("--once", help="deliver what is due now, then exit")] = False,
        interval: Annotated[
            float | None,
            typer.Option(
                help="poll every S seconds besides database notifications (default VIGIE_DELIVERY_POLL_S)", min=0.01
            ),
        ] = None,
    ) -> None:
        """Send approved drafts to owners (email over SMTP, signed webhooks), with retries. Stops on SIGTERM."""
        from api._delivery import run_delivery  # noqa: PLC0415
        from vigie.cli import settings_of  # noqa: PLC0415

        settings = settings_of(ctx)

        async def main() -> None:
            stop = asyncio.Event()
            _with_signals(stop)
            stats = await run_delivery(settings, stop=stop, once=once, interval=interval)
            if once:
                typer.echo(f"{stats.sent} sent, {stats.retried} to retry, {stats.failed} failed")

        asyncio.run(main())

    @app.command("mailsink")
    def mailsink(
        ctx: typer.Context,
        port: Annotated[
            int | None, typer.Option(help="port (default: the port of VIGIE_SMTP_URL, 8025)", min=0, max=65535)
        ] = None,
        host: Annotated[str, typer.Option(help="listen address (loopback: the sink relays nothing)")] = "127.0.0.1",
        directory: Annotated[
            Path | None,
            typer.Option("--dir", help="where .eml files go (default VIGIE_MAILSINK_DIR or ~/.local/state/vigie/mail)"),
        ] = None,
    ) -> None:
        """A local SMTP server that stores each message it receives as an .eml file (the demo's mailbox)."""
        from api._delivery_mail import SmtpServer  # noqa: PLC0415
        from api._mailsink import default_dir, run_mailsink  # noqa: PLC0415
        from vigie.cli import settings_of  # noqa: PLC0415

        settings = settings_of(ctx)
        if port is None:
            port = SmtpServer.parse(settings.smtp_url.get_secret_value()).port
        folder = directory or settings.mailsink_dir or default_dir()

        async def main() -> None:
            stop = asyncio.Event()
            _with_signals(stop)
            try:
                await run_mailsink(host, port, folder, stop=stop)
            except OSError as exc:
                raise ConfigError(
                    f"mail sink cannot listen on {host}:{port} or write {folder}: {exc.strerror or exc}"
                ) from None

        asyncio.run(main())


def _register_outbox(outbox_app: typer.Typer) -> None:
    @outbox_app.command("list")
    def outbox_list(
        ctx: typer.Context,
        clinic: Annotated[str | None, typer.Option(help="only this clinic")] = None,
        status: Annotated[str | None, typer.Option(help="queued, sending, sent or failed")] = None,
        limit: Annotated[int, typer.Option(help="newest N", min=1, max=10000)] = 50,
        as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    ) -> None:
        """The delivery status of approved drafts, newest first."""
        from api._delivery_store import delivery_status  # noqa: PLC0415
        from vigie.cli import settings_of  # noqa: PLC0415
        from vigie.db import connect  # noqa: PLC0415

        if status not in (None, "queued", "sending", "sent", "failed"):
            raise typer.BadParameter("one of queued, sending, sent, failed", param_hint="--status")
        with connect(settings_of(ctx).dsn) as conn:
            rows = delivery_status(conn, clinic_id=clinic, status=status, limit=limit)
        if as_json:
            typer.echo(json.dumps([asdict(r) for r in rows], default=str))
            return
        for r in rows:
            when = r.sent_at or r.next_attempt_at or r.last_attempt_at or r.queued_at
            typer.echo(
                f"{r.outbox_id:>6} draft {r.draft_id:<6} {r.clinic_id:<14} {r.status:<8} "
                f"{'+'.join(r.channels or []) or '-':<14} attempts {r.attempts:<2} {when:%Y-%m-%d %H:%M:%S}"
                + (f"  {r.last_error}" if r.last_error and r.status != "sent" else "")
            )

    @outbox_app.command("retry")
    def outbox_retry(
        ctx: typer.Context,
        outbox_id: Annotated[int, typer.Argument(help="the outbox id of a failed message (vigie outbox list)")],
    ) -> None:
        """Queue a failed message again (its attempts start over)."""
        from api._delivery_store import requeue  # noqa: PLC0415
        from vigie.cli import settings_of  # noqa: PLC0415
        from vigie.db import connect  # noqa: PLC0415

        with connect(settings_of(ctx).dsn) as conn:
            if not requeue(conn, outbox_id, actor=f"cli:{getpass.getuser()}"):
                raise ConfigError(f"outbox {outbox_id} is not a failed message")
        typer.echo(f"outbox {outbox_id} queued again")


def _register_bench(bench: typer.Typer) -> None:
    @bench.command("delivery")
    def bench_delivery(
        ctx: typer.Context,
        messages: Annotated[int, typer.Option(help="drafts approved at once (the backlog)", min=10)] = 2000,
        singles: Annotated[int, typer.Option(help="drafts approved one at a time (latency)", min=5)] = 100,
        workers: Annotated[str, typer.Option(help="worker counts to compare, e.g. 1,2,4")] = "1,2",
        webhook: Annotated[bool, typer.Option("--webhook", help="owners also have a webhook")] = False,
        as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    ) -> None:
        """Throughput (a backlog) and latency (approval to sent) of `vigie deliver`, in a throwaway database."""
        from api._delivery_bench import run_delivery_bench  # noqa: PLC0415
        from vigie.cli import settings_of  # noqa: PLC0415

        try:
            counts = [int(w) for w in workers.split(",")]
        except ValueError:
            raise typer.BadParameter("a comma-separated list of worker counts", param_hint="--workers") from None
        if not counts or min(counts) < 1:
            raise typer.BadParameter("worker counts are at least 1", param_hint="--workers")
        run_delivery_bench(
            settings_of(ctx), messages=messages, singles=singles, workers=counts, webhook=webhook, as_json=as_json
        )
