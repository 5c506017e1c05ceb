"""Ingest: MQTT → TimescaleDB, at least once, stored once (contract: docs/device-contract.md).

Public surface: :class:`IngestWorker` (run it with an :class:`asyncio.Event` that stops it), :func:`parse_message`
(the pure validator), and the topic helpers.
"""

from ingest._metrics import IngestMetrics
from ingest._parse import DeviceInfo, Limits, Parsed, RegistryView, Rejection, parse_message
from ingest._topics import status_topic, subscriptions, telemetry_topic
from ingest._worker import IngestWorker
from ingest.errors import BrokerError, IngestError, StoreError

__all__ = [
    "BrokerError",
    "DeviceInfo",
    "IngestError",
    "IngestMetrics",
    "IngestWorker",
    "Limits",
    "Parsed",
    "RegistryView",
    "Rejection",
    "StoreError",
    "parse_message",
    "status_topic",
    "subscriptions",
    "telemetry_topic",
]
