"""Commands of the ingest stage: ``vigie ingest`` and ``vigie bench ingest``."""

from __future__ import annotations

import asyncio
import signal
from typing import Annotated

import typer

from vigie.settings import Settings


def _run_worker(settings: Settings) -> None:
    from ingest._worker import IngestWorker  # noqa: PLC0415 - keep `vigie --help` fast
    from vigie.catalog import load_catalog  # noqa: PLC0415

    catalog = load_catalog(settings.config_dir)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await IngestWorker(settings, catalog).run(stop)

    asyncio.run(main())


def register(app: typer.Typer, bench: typer.Typer) -> None:
    """Add the ingest commands to the ``vigie`` app and its ``bench`` group."""

    @app.command("ingest")
    def ingest(
        ctx: typer.Context,
        client_id: Annotated[
            str | None, typer.Option("--client-id", help="MQTT client id (stable per worker: it names the session)")
        ] = None,
        shared_group: Annotated[
            str | None, typer.Option("--shared-group", help="share the stream with other workers of this group")
        ] = None,
        metrics_port: Annotated[int | None, typer.Option("--metrics-port", help="port of /metrics (0: off)")] = None,
    ) -> None:
        """Run the ingest worker: MQTT telemetry → TimescaleDB, acknowledged after commit. Stops on SIGTERM."""
        from vigie.cli import settings_of  # noqa: PLC0415

        settings = settings_of(ctx)
        updates: dict[str, object] = {}
        if client_id is not None:
            updates["ingest_client_id"] = client_id
        if shared_group is not None:
            updates["ingest_shared_group"] = shared_group
        if metrics_port is not None:
            if not 0 <= metrics_port <= 65535:
                raise typer.BadParameter("must be between 0 and 65535", param_hint="--metrics-port")
            updates["ingest_metrics_port"] = metrics_port
        _run_worker(settings.model_copy(update=updates))

    @bench.command("ingest")
    def bench_ingest(
        ctx: typer.Context,
        messages: Annotated[int, typer.Option(help="one-reading messages for the rate runs", min=1000)] = 200_000,
        batched: Annotated[int, typer.Option(help="messages of 50 readings for the batched run", min=100)] = 6_000,
        as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    ) -> None:
        """Measure the receive ceiling, the COPY ceiling and Vigie end to end, side by side, on local services."""
        from ingest._bench import run_bench  # noqa: PLC0415
        from vigie.cli import settings_of  # noqa: PLC0415

        run_bench(settings_of(ctx), messages=messages, batched=batched, as_json=as_json)
