"""Commands of the ingest stage: ``vigie ingest`` and ``vigie bench ingest``."""

from __future__ import annotations

import typer


def register(app: typer.Typer, bench: typer.Typer) -> None:
    """Add the ingest commands to the ``vigie`` app and its ``bench`` group."""
