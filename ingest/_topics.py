"""Topic building and parsing: the one place that knows the topic layout (docs/device-contract.md)."""

from __future__ import annotations

TELEMETRY = "telemetry"
STATUS = "status"


def telemetry_topic(root: str, device_id: str) -> str:
    """``{root}/devices/{device_id}/telemetry``."""
    return f"{root}/devices/{device_id}/{TELEMETRY}"


def status_topic(root: str, device_id: str) -> str:
    """``{root}/devices/{device_id}/status`` (retained ``online``; Last Will ``offline``)."""
    return f"{root}/devices/{device_id}/{STATUS}"


def subscriptions(root: str, shared_group: str | None) -> list[str]:
    """Topic filters of an ingest worker: telemetry (shared when a group is set) and status (never shared,
    because a shared subscription does not receive retained messages)."""
    telemetry = f"{root}/devices/+/{TELEMETRY}"
    if shared_group:
        telemetry = f"$share/{shared_group}/{telemetry}"
    return [telemetry, f"{root}/devices/+/{STATUS}"]


def split_topic(topic: str, root: str) -> tuple[str, str] | None:
    """(device_id, kind) of a device topic under ``root``, or None for anything else."""
    prefix = root + "/devices/"
    if not topic.startswith(prefix):
        return None
    device_id, sep, kind = topic[len(prefix) :].partition("/")
    if not sep or not device_id or kind not in (TELEMETRY, STATUS):
        return None
    return device_id, kind
