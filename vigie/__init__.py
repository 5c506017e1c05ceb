"""Vigie: remote monitoring for vets and farmers.

This package holds what every stage shares: typed settings, the metric catalog, the database schema
(migrations) and device registry, and the `vigie` command line. Each stage of the flow has its own
top-level package: ``simulators`` → MQTT → ``ingest`` → TimescaleDB → ``rules`` / ``analytics`` →
``api`` / ``dashboards``.
"""

from vigie.errors import VigieError

__all__ = ["VigieError"]
__version__ = "0.1.0"
