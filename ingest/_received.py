"""What the MQTT reader hands over: one :class:`Delivery` per socket read, or one :class:`Incoming` per message."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Incoming:
    """A message waiting for its commit: ack it with ``mid`` on connection ``generation``."""

    mid: int
    topic: str
    payload: bytes
    received_at: float
    generation: int
    qos: int


class Delivery:
    """The PUBLISH packets of one socket read, in arrival order (parallel lists: no object per message).

    ``mids`` holds the packet id of each message, 0 for QoS 0 (nothing to acknowledge; ``qos0`` counts them).
    """

    __slots__ = ("generation", "mids", "payloads", "qos0", "received_at", "topics")

    def __init__(
        self,
        topics: list[bytes],
        payloads: list[bytes],
        mids: list[int],
        qos0: int,
        received_at: float,
        generation: int,
    ) -> None:
        self.topics = topics
        self.payloads = payloads
        self.mids = mids
        self.qos0 = qos0
        self.received_at = received_at
        self.generation = generation

    def __len__(self) -> int:
        return len(self.mids)

    def ack_ids(self) -> list[int]:
        """Packet ids to acknowledge, in arrival order."""
        return [m for m in self.mids if m] if self.qos0 else self.mids

    def incoming(self) -> list[Incoming]:
        """One :class:`Incoming` per message."""
        t, g = self.received_at, self.generation
        return [
            Incoming(mid, topic.decode("utf-8", "replace"), payload, t, g, 1 if mid else 0)
            for topic, payload, mid in zip(self.topics, self.payloads, self.mids, strict=True)
        ]
