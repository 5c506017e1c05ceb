"""Typed settings: environment prefix, secrets, validation."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from vigie.settings import Settings


def test_defaults_point_at_local_services(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("VIGIE_DATABASE_URL", "VIGIE_MQTT_URL", "VIGIE_TOPIC_ROOT"):
        monkeypatch.delenv(var, raising=False)
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert s.dsn == "postgresql://postgres@127.0.0.1:5432/vigie"
    assert (s.mqtt.host, s.mqtt.port) == ("127.0.0.1", 1883)
    assert s.topic_root == "vigie/v1"


def test_environment_prefix_and_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIE_DATABASE_URL", "postgresql://vigie:s3cret@db:5432/vigie")
    monkeypatch.setenv("VIGIE_MQTT_URL", "mqtt://ingest:hunter2@broker:8883")
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert "s3cret" not in repr(s)
    assert "hunter2" not in str(s.model_dump())
    assert s.mqtt.username == "ingest"
    assert s.mqtt.password == "hunter2"  # noqa: S105 - the test's own value
    assert s.mqtt.port == 8883


@pytest.mark.parametrize(
    ("var", "value"),
    [("VIGIE_MQTT_URL", "http://x"), ("VIGIE_TOPIC_ROOT", "a/#"), ("VIGIE_INGEST_RECEIVE_MAXIMUM", "70000")],
)
def test_bad_values_are_refused(monkeypatch: pytest.MonkeyPatch, var: str, value: str) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(ValidationError):
        Settings(_env_file=None)  # type: ignore[call-arg]
