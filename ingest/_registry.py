"""The worker's copy of the device registry, refreshed periodically and when a message names an unknown id."""

from __future__ import annotations

import time

import psycopg

from ingest._parse import DeviceInfo, RegistryView

REFRESH_EVERY_S = 2.0  # a device disabled in the registry is refused by ingest within this delay
MIN_FORCED_REFRESH_S = 0.5  # unknown ids trigger a refresh at most this often


class RegistryCache:
    """Devices and animal clinics, loaded from the database on the writer's connection."""

    def __init__(self) -> None:
        self.view = RegistryView({}, {})
        self._loaded_at = float("-inf")

    def stale(self, now: float | None = None) -> bool:
        """True when the periodic refresh is due."""
        return (now or time.monotonic()) - self._loaded_at >= REFRESH_EVERY_S

    def may_force(self, now: float | None = None) -> bool:
        """True when a refresh triggered by an unknown id is allowed now."""
        return (now or time.monotonic()) - self._loaded_at >= MIN_FORCED_REFRESH_S

    async def load(self, conn: psycopg.AsyncConnection[tuple[object, ...]]) -> None:
        """Read the registry (one short read-only transaction)."""
        async with conn.transaction():
            cur = await conn.execute("SELECT id, clinic_id, animal_id, enabled FROM devices")
            devices = {
                str(i): DeviceInfo(str(c), None if a is None else str(a), bool(e))
                for i, c, a, e in await cur.fetchall()
            }
            cur = await conn.execute("SELECT id, clinic_id FROM animals")
            animals = {str(i): str(c) for i, c in await cur.fetchall()}
        self.view = RegistryView(devices, animals)
        self._loaded_at = time.monotonic()
