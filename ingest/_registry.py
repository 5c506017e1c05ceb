"""The worker's copy of the device registry, refreshed periodically and when a message names an unknown id."""

from __future__ import annotations

import time

import psycopg

from ingest._parse import DeviceInfo, RegistryView

REFRESH_EVERY_S = 2.0  # a device disabled in the registry is refused by ingest within this delay


class RegistryCache:
    """Devices and animal clinics, loaded from the database on the writer's connection."""

    def __init__(self) -> None:
        self.view = RegistryView({}, {})
        self._loaded_at = float("-inf")
        self.loaded_wall = float("-inf")  # wall-clock time of the last load

    def stale(self, now: float | None = None) -> bool:
        """True when the periodic refresh is due."""
        return (now or time.monotonic()) - self._loaded_at >= REFRESH_EVERY_S

    def predates(self, received_at: float) -> bool:
        """True when the registry was read before a message received at ``received_at`` (wall clock): a fresher
        read may know its device or animal, so its rejection is not final yet."""
        return self.loaded_wall < received_at

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
        self.loaded_wall = time.time()
