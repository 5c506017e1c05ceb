"""Typed settings, read from the environment (prefix ``VIGIE_``) and an optional ``.env`` file.

Build one :class:`Settings` in the entry point and pass it down; nothing reads the environment at import time.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG_DIR = REPO_ROOT / "config"


class MqttAddress:
    """Host, port and optional credentials parsed from an ``mqtt://user:pass@host:port`` URL."""

    __slots__ = ("host", "password", "port", "username")

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in {"mqtt", "tcp"}:
            raise ValueError(f"MQTT URL must start with mqtt:// (got {parts.scheme!r})")
        self.host: str = parts.hostname or "127.0.0.1"
        self.port: int = parts.port or 1883
        self.username: str | None = parts.username
        self.password: str | None = parts.password


class Settings(BaseSettings):
    """Every tunable of Vigie. Environment variables are ``VIGIE_<FIELD>`` in upper case."""

    model_config = SettingsConfigDict(env_prefix="VIGIE_", env_file=".env", extra="ignore")

    database_url: SecretStr = Field(
        default=SecretStr("postgresql://postgres@127.0.0.1:5432/vigie"),
        description="libpq URL of the TimescaleDB database",
    )
    mqtt_url: SecretStr = Field(
        default=SecretStr("mqtt://127.0.0.1:1883"), description="broker URL, mqtt://user:password@host:port"
    )
    topic_root: str = Field(default="vigie/v1", description="topic prefix: {root}/devices/{device_id}/telemetry")
    config_dir: Path = Field(default=DEFAULT_CONFIG_DIR, description="folder with metrics.toml, rules, scenarios")

    # ingest worker
    ingest_client_id: str = "vigie-ingest"
    ingest_shared_group: str | None = Field(
        default=None, description="MQTT v5 shared-subscription group; set it to run several workers"
    )
    ingest_session_expiry_s: int = Field(default=7 * 24 * 3600, ge=60)
    ingest_receive_maximum: int = Field(default=20000, ge=1, le=65535)
    ingest_batch_max_rows: int = Field(default=5000, ge=1)
    ingest_flush_interval_s: float = Field(default=0.1, gt=0, description="longest a message waits for its batch")
    ingest_linger_s: float = Field(
        default=0.005, ge=0, description="wait this long for more messages once the database is free (group commit)"
    )
    ingest_max_payload_bytes: int = Field(default=256 * 1024, ge=64)
    ingest_future_tolerance_s: float = Field(default=300.0, ge=0)
    ingest_past_horizon_days: float = Field(default=30.0, gt=0)
    ingest_metrics_port: int = Field(default=9108, ge=0, le=65535, description="0 disables /metrics")
    ingest_db_timeout_s: float = Field(default=15.0, gt=0)
    ingest_retry_max_s: float = Field(default=5.0, gt=0)

    # API and web page (issue 7)
    api_host: str = Field(default="127.0.0.1", description="address `vigie api` listens on")
    api_port: int = Field(default=8000, ge=0, le=65535)
    api_public_url: str = Field(default="", description="URL printed and used in links; empty: http://host:port")
    api_session_ttl_s: int = Field(default=12 * 3600, ge=60, description="lifetime of a web/login session token")
    api_token_ttl_days: int = Field(default=90, ge=1, le=3650, description="default lifetime of an API token")
    api_max_body_bytes: int = Field(default=1024 * 1024, ge=1024, description="larger request bodies get 413")
    api_page_max: int = Field(default=500, ge=1, description="largest page a list endpoint returns")
    api_login_max_failures: int = Field(
        default=5, ge=1, description="failed logins per user (or per address x4) in the window before 429"
    )
    api_login_window_s: int = Field(default=900, ge=1)
    api_pool_max: int = Field(default=10, ge=1, description="database connections of one API process")

    # delivery of approved drafts (outbox)
    smtp_url: SecretStr = Field(
        default=SecretStr("smtp://127.0.0.1:8025"),
        description="smtp://user:password@host:port; smtps:// for TLS, smtp+starttls:// for STARTTLS",
    )
    mail_from: str = Field(default="Vigie <vigie@localhost>")
    delivery_max_attempts: int = Field(default=8, ge=1, description="attempts before a message is 'failed'")
    delivery_timeout_s: float = Field(default=10.0, gt=0, description="bound of one SMTP or webhook send")
    delivery_backoff_base_s: float = Field(
        default=30.0, gt=0, description="first retry delay; doubles per attempt (with jitter) up to the cap"
    )
    delivery_backoff_max_s: float = Field(default=3600.0, gt=0, description="cap of the retry delay")
    delivery_lease_s: float = Field(
        default=120.0, gt=0, description="a claimed message is claimed again after this long if its worker died"
    )
    delivery_batch: int = Field(default=16, ge=1, le=1000, description="messages a worker claims and sends at once")
    delivery_poll_s: float = Field(default=5.0, gt=0, description="`vigie deliver` polls this often (besides NOTIFY)")
    delivery_webhook_secret: SecretStr | None = Field(
        default=None, description="HMAC-SHA256 key of the Vigie-Signature header; webhooks are not sent without it"
    )
    delivery_webhook_secrets: dict[str, SecretStr] = Field(
        default_factory=dict,
        description='per-clinic keys overriding delivery_webhook_secret, JSON: {"vet-parc": "..."}',
    )
    webhook_allow_private: bool = Field(
        default=False,
        description="let webhooks go to loopback, private and link-local addresses (on-premises receivers, tests)",
    )
    mailsink_dir: Path | None = Field(
        default=None, description="where `vigie mailsink` writes .eml files (default ~/.local/state/vigie/mail)"
    )

    @field_validator("mqtt_url")
    @classmethod
    def _check_mqtt_url(cls, value: SecretStr) -> SecretStr:
        MqttAddress(value.get_secret_value())
        return value

    @field_validator("topic_root")
    @classmethod
    def _check_topic_root(cls, value: str) -> str:
        if not value or any(c in value for c in "+#") or value.startswith("/") or value.endswith("/"):
            raise ValueError("topic_root must be a plain topic prefix such as vigie/v1")
        return value

    @property
    def mqtt(self) -> MqttAddress:
        """The broker address parsed from :attr:`mqtt_url`."""
        return MqttAddress(self.mqtt_url.get_secret_value())

    @property
    def dsn(self) -> str:
        """The database URL as a plain string, for the driver only (never log it)."""
        return self.database_url.get_secret_value()
