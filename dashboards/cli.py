"""Commands of the dashboards stage (wired into `vigie` by vigie/cli.py).

``vigie dashboards generate [--check]`` writes (or checks) ``dashboards/json/*.json`` from the Python
definitions; ``vigie dashboards push --url URL --token TOKEN [--folder Vigie]`` uploads them to Grafana.
"""

from __future__ import annotations

from typing import Annotated

import typer

dashboards_app = typer.Typer(help="Grafana dashboards: generate the JSON, push it to a Grafana.", no_args_is_help=True)


@dashboards_app.command("generate")
def generate(
    check: Annotated[
        bool, typer.Option("--check", help="change nothing; fail when the JSON is not up to date")
    ] = False,
) -> None:
    """Write dashboards/json/*.json from the dashboard definitions (or check them with --check)."""
    from dashboards import _generate  # noqa: PLC0415
    from dashboards._errors import DashboardError  # noqa: PLC0415 - keep `vigie --help` fast

    directory = _generate.JSON_DIR

    if check:
        bad = [s for s in _generate.check(directory) if s.state != "same"]
        if bad:
            names = ", ".join(f"{s.path.name} ({s.state})" for s in bad)
            raise DashboardError(f"dashboards are not up to date: {names}; run 'vigie dashboards generate'")
        typer.echo(f"dashboards are up to date in {directory}")
        return
    changes = _generate.write(directory)
    for s in changes:
        typer.echo(f"{'removed' if s.state == 'stale' else 'wrote'} {s.path}")
    if not changes:
        typer.echo(f"dashboards are up to date in {directory}")


@dashboards_app.command("push")
def push(
    url: Annotated[
        str, typer.Option("--url", help="Grafana root URL, e.g. http://localhost:3000", envvar="VIGIE_GRAFANA_URL")
    ],
    token: Annotated[
        str, typer.Option("--token", help="service account token (Editor role)", envvar="VIGIE_GRAFANA_TOKEN")
    ],
    folder: Annotated[str, typer.Option("--folder", help="folder the dashboards go into")] = "Vigie",
    timeout: Annotated[float, typer.Option("--timeout", help="seconds to wait for each request", min=0.1)] = 10.0,
) -> None:
    """Upload the committed dashboards into a Grafana folder (idempotent: replaces them by uid)."""
    from dashboards._generate import JSON_DIR, load_committed  # noqa: PLC0415
    from dashboards._push import push as push_all  # noqa: PLC0415

    pushed = push_all(url, token, load_committed(JSON_DIR), folder=folder, timeout_s=timeout)
    for p in pushed:
        typer.echo(f"pushed {p.uid} ({p.title}) version {p.version if p.version is not None else '?'}")
    typer.echo(f"{len(pushed)} dashboards in folder {folder!r} at {url}")


def register(app: typer.Typer, bench: typer.Typer) -> None:
    """Add this stage's commands to the ``vigie`` app and its ``bench`` group."""
    del bench  # no benchmark in this stage
    app.add_typer(dashboards_app, name="dashboards")
