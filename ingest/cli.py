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
        copy_rows: Annotated[int, typer.Option(help="rows of the COPY ceiling", min=5000)] = 300_000,
        rules_interval: Annotated[
            float, typer.Option(help="seconds between the rules service's cycles (publish → alert)", min=0.1)
        ] = 0.5,
        rules_settle: Annotated[
            float, typer.Option(help="seconds an animal's rows must be quiet before the rules evaluate it", min=0)
        ] = 20.0,
        drop_time_index: Annotated[
            bool,
            typer.Option("--drop-time-index", help="what-if: drop the hypertable's time index in the bench database"),
        ] = False,
        as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    ) -> None:
        """Ceilings (broker with C clients, Python receive, COPY) and Vigie end to end, side by side, on local services."""
        from ingest._bench import run_bench  # noqa: PLC0415
        from vigie.cli import settings_of  # noqa: PLC0415

        run_bench(
            settings_of(ctx),
            messages=messages,
            batched=batched,
            as_json=as_json,
            copy_rows=copy_rows,
            rules_interval_s=rules_interval,
            rules_settle_s=rules_settle,
            drop_time_index=drop_time_index,
        )

    @bench.command("queries")
    def bench_queries(
        ctx: typer.Context,
        rows: Annotated[
            int, typer.Option(help="readings in the bench database (a year of data)", min=50_000)
        ] = 50_000_000,
        database: Annotated[
            str, typer.Option(help="the bench database (dropped and rebuilt when needed)")
        ] = "vigie_bench_q",
        repeat: Annotated[int, typer.Option(help="runs of each query (after a warm-up)", min=2)] = 20,
        rebuild: Annotated[bool, typer.Option("--rebuild", help="rebuild even if the database has --rows")] = False,
        no_time_index: Annotated[
            bool, typer.Option("--no-time-index", help="also time the raw queries without the time index")
        ] = False,
        as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    ) -> None:
        """p50/p95 of the patient page's and the dashboards' queries on a year of readings, with and without rollups."""
        from vigie._bench_queries import run_queries_bench  # noqa: PLC0415
        from vigie.cli import settings_of  # noqa: PLC0415

        if not database.replace("_", "").isalnum():
            raise typer.BadParameter("letters, digits and _ only", param_hint="--database")
        run_queries_bench(
            settings_of(ctx),
            rows=rows,
            database=database,
            repeat=repeat,
            rebuild=rebuild,
            no_time_index=no_time_index,
            as_json=as_json,
        )

    @bench.command("peers")
    def bench_peers(
        ctx: typer.Context,
        messages: Annotated[int, typer.Option(help="one-reading messages for Vigie", min=100)] = 200_000,
        naive_messages: Annotated[int, typer.Option(help="messages for the naive baseline", min=100)] = 20_000,
        peer_messages: Annotated[
            int, typer.Option(help="messages for the PyPI peer (it writes ≤ 100/s)", min=10)
        ] = 2_000,
        pypi: Annotated[
            bool, typer.Option("--pypi/--no-pypi", help="run the PyPI peer (its virtualenv needs PyPI once)")
        ] = True,
        per_message: Annotated[
            int, typer.Option("--readings-per-message", help="readings per message for Vigie and naive", min=1, max=500)
        ] = 1,
        as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    ) -> None:
        """Vigie against the naive paho → INSERT baseline and the PyPI esphome-mqtt-timescaledb-ingestor."""
        from ingest._bench_peers import run_peers_bench  # noqa: PLC0415
        from vigie.cli import settings_of  # noqa: PLC0415

        run_peers_bench(
            settings_of(ctx),
            messages=messages,
            naive_messages=naive_messages,
            peer_messages=peer_messages,
            pypi=pypi,
            as_json=as_json,
            per_message=per_message,
        )

    @bench.command("scale")
    def bench_scale(
        ctx: typer.Context,
        workers: Annotated[str, typer.Option(help="worker counts, comma-separated")] = "1,2,3",
        messages: Annotated[int, typer.Option(help="one-reading messages per run", min=100)] = 200_000,
        repeat: Annotated[int, typer.Option(help="runs of each worker count", min=1)] = 2,
        as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    ) -> None:
        """Throughput of 1, 2, 3 ingest workers on a shared subscription, with exactly-once storage checked."""
        from ingest._bench_scale import run_scale_bench  # noqa: PLC0415
        from vigie.cli import settings_of  # noqa: PLC0415

        try:
            counts = [int(w) for w in workers.split(",")]
        except ValueError:
            raise typer.BadParameter("comma-separated numbers, e.g. 1,2,3", param_hint="--workers") from None
        if not counts or any(not 1 <= c <= 16 for c in counts):
            raise typer.BadParameter("each between 1 and 16", param_hint="--workers")
        run_scale_bench(settings_of(ctx), workers=counts, messages=messages, repeat=repeat, as_json=as_json)
