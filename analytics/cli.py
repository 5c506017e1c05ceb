"""Commands of the analytics stage (wired into `vigie` by vigie/cli.py)."""

from __future__ import annotations

import typer


def register(app: typer.Typer, bench: typer.Typer) -> None:
    """Add this stage's commands to the ``vigie`` app and its ``bench`` group."""
