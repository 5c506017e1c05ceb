"""Record the live telemetry stream to a file, and replay a recording with its original timing scaled.

A recording is JSON lines: ``received`` (epoch s), ``topic``, and ``payload`` (text) or ``payload_b64`` (bytes that
are not UTF-8).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import aiomqtt
import orjson

from simulators._publish import client_for
from simulators._time import Clock, system_clock
from simulators.errors import SimulatorError
from vigie.settings import Settings


@dataclass(frozen=True, slots=True)
class Recorded:
    """One captured message."""

    received: float
    topic: str
    payload: bytes

    def to_line(self) -> bytes:
        """The JSON line of this message."""
        try:
            body = {"received": round(self.received, 6), "topic": self.topic, "payload": self.payload.decode()}
        except UnicodeDecodeError:
            body = {
                "received": round(self.received, 6),
                "topic": self.topic,
                "payload_b64": base64.b64encode(self.payload).decode(),
            }
        return orjson.dumps(body)

    @classmethod
    def from_line(cls, line: bytes, where: str) -> Recorded:
        """Parse one line of a recording."""
        try:
            obj = orjson.loads(line)
            payload = obj["payload"].encode() if "payload" in obj else base64.b64decode(obj["payload_b64"])
            return cls(float(obj["received"]), str(obj["topic"]), payload)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
            raise SimulatorError(f"{where}: not a recording line ({exc.__class__.__name__})") from None


async def record(
    settings: Settings,
    out: Path,
    *,
    duration_s: float | None = None,
    count: int | None = None,
    stop: asyncio.Event | None = None,
    ready: asyncio.Event | None = None,
    clock: Clock = system_clock,
) -> int:
    """Capture ``{root}/devices/+/telemetry`` into ``out`` until ``count`` messages, ``duration_s`` or ``stop``."""
    stop = stop or asyncio.Event()
    written = 0

    async def capture(client: aiomqtt.Client, f: BinaryIO) -> None:
        nonlocal written
        async for msg in client.messages:
            payload = msg.payload if isinstance(msg.payload, bytes) else str(msg.payload).encode()
            f.write(Recorded(clock(), str(msg.topic), payload).to_line() + b"\n")
            f.flush()
            written += 1
            if count is not None and written >= count:
                return

    try:
        async with client_for(settings, f"vigie-record-{uuid.uuid4().hex[:8]}") as client:
            await client.subscribe(f"{settings.topic_root}/devices/+/telemetry", qos=1)
            if ready is not None:
                ready.set()
            with out.open("wb") as f:
                tasks = {
                    asyncio.create_task(capture(client, f), name="record.capture"),
                    asyncio.create_task(stop.wait(), name="record.stop"),
                }
                done, pending = await asyncio.wait(tasks, timeout=duration_s, return_when=asyncio.FIRST_COMPLETED)
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
                for task in done:
                    task.result()
    except aiomqtt.MqttError as exc:
        raise SimulatorError(f"MQTT broker {settings.mqtt.host}:{settings.mqtt.port}: {exc}") from exc
    return written


def read_recording(path: Path) -> list[Recorded]:
    """All messages of a recording, in file order."""
    try:
        lines = path.read_bytes().splitlines()
    except OSError as exc:
        raise SimulatorError(f"cannot read {path}: {exc.strerror or exc}") from exc
    out = [Recorded.from_line(line, f"{path}:{i + 1}") for i, line in enumerate(lines) if line.strip()]
    if not out:
        raise SimulatorError(f"{path}: empty recording")
    return out


async def replay(
    settings: Settings,
    messages: list[Recorded],
    *,
    speed: float | None,
    stop: asyncio.Event | None = None,
    clock: Clock = system_clock,
) -> int:
    """Publish a recording again (QoS 1), keeping its gaps divided by ``speed`` (None: as fast as possible)."""
    stop = stop or asyncio.Event()
    first = messages[0].received
    n = 0
    try:
        async with client_for(settings, f"vigie-replay-{uuid.uuid4().hex[:8]}") as client:
            wall0 = clock()
            for msg in messages:
                if speed is not None:
                    delay = wall0 + (msg.received - first) / speed - clock()
                    if delay > 0:
                        with contextlib.suppress(TimeoutError):
                            async with asyncio.timeout(delay):
                                await stop.wait()
                if stop.is_set():
                    break
                await client.publish(msg.topic, msg.payload, qos=1)
                n += 1
    except aiomqtt.MqttError as exc:
        raise SimulatorError(f"MQTT broker {settings.mqtt.host}:{settings.mqtt.port}: {exc}") from exc
    return n
