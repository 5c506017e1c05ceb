"""Ingest: MQTT → TimescaleDB, at least once, stored once (see docs/device-contract.md)."""
