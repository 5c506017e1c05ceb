"""Errors of the ingest stage.

IngestError           base
├── BrokerError       the broker is unreachable or refused us
└── StoreError        the database is unreachable or refused a batch
"""

from vigie.errors import VigieError


class IngestError(VigieError):
    """Base of ingest errors."""


class BrokerError(IngestError):
    """The MQTT broker is unreachable or refused the connection or subscription."""


class StoreError(IngestError):
    """The database is unreachable or refused a batch."""
