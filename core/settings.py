"""Every setting of Whistle, read from the environment (``WHISTLE_*``) once per entry point."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import platformdirs
from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.broker import BrokerAddress, BrokerURLError, parse_broker_url

REPO_MARKER = "pyproject.toml"
MIN_ADMIN_TOKEN = 32


def default_data_dir() -> Path:
    """./var when run from a Whistle checkout, else the user's data directory."""
    cwd = Path.cwd()
    marker = cwd / REPO_MARKER
    if marker.is_file() and 'name = "whistle"' in marker.read_text(errors="replace"):
        return cwd / "var"
    return Path(platformdirs.user_data_dir("whistle"))


class Settings(BaseSettings):
    """Whistle's configuration; CONTRACT section 4 plus documented extensions."""

    model_config = SettingsConfigDict(env_prefix="WHISTLE_", extra="ignore", frozen=True)

    # --- the contract -------------------------------------------------------------------
    database_url: str | None = Field(
        default=None, description="PostgreSQL URL; unset starts an embedded server")
    mqtt_url: str | None = Field(
        default=None, description=(
            "mqtt://[user:password@]host:port or mqtts://… (TLS); unset starts an embedded "
            "broker"))
    api_port: int = Field(default=8000, ge=0, le=65535)
    admin_token: str | None = Field(
        default=None, description="first admin token; unset generates one kept in the data dir")

    # --- extensions ---------------------------------------------------------------------
    data_dir: Path = Field(default_factory=default_data_dir)
    api_host: str = "127.0.0.1"
    metrics_port: int | None = Field(
        default=None, description="serve /metrics on this port from `whistle ingest`/`rules`")
    api_statement_timeout_s: float = Field(
        default=10.0, gt=0, le=3600,
        description="longest statement of an API request; beyond it the request answers 503")
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["console", "json"] = "console"

    mqtt_protocol: Literal["5", "3.1.1", "auto"] = Field(
        default="auto", description="auto tries MQTT 5 and falls back to 3.1.1 when refused")
    mqtt_topic_prefix: str = Field(
        default="", description="prepended to every topic (lets tests share one broker)")
    mqtt_client_id: str = Field(default="whistle-ingest", description="fixed: persistent session")
    mqtt_share_group: str = Field(
        default="", description=(
            "MQTT 5 shared subscription group for running several ingesters (each with its "
            "own client id); empty: one ingester, plain subscription. Off by default because "
            "Mosquitto 2.0 forgets shared subscriptions of offline sessions when it restarts"))
    mqtt_session_expiry_s: int = Field(default=7 * 24 * 3600, ge=0)
    mqtt_receive_maximum: int = Field(
        default=4096, ge=1, le=65535, description="unacknowledged messages the broker may send")
    mqtt_keepalive_s: int = Field(default=30, ge=5)
    mqtt_ca_file: Path | None = Field(
        default=None, description="CA certificate (PEM) of an mqtts:// broker with a private CA")
    mqtt_client_cert: Path | None = Field(
        default=None, description="client certificate (PEM) for an mqtts:// broker")
    mqtt_client_key: Path | None = Field(default=None, description="its private key (PEM)")
    mqtt_device_auth: Literal["off", "on"] = Field(
        default="off", description=(
            "on: devices log in with their own credentials (POST /elevators/{id}/credentials) "
            "and may publish only their own topics; the embedded Mosquitto enforces it with "
            "its dynamic-security plugin, an external one is kept in step over "
            "$CONTROL/dynamic-security/v1 (the service's account must administer it)"))
    mqtt_device_reconcile_s: float = Field(
        default=300.0, gt=0, description=(
            "how often a running ingester brings the broker's device logins in step with "
            "the database (also at start), with WHISTLE_MQTT_DEVICE_AUTH=on"))
    broker_hook_secret: str | None = Field(
        default=None, min_length=32, description=(
            "bearer secret of POST /api/v1/broker/auth and /broker/acl, the HTTP "
            "authentication and authorization hook for EMQX, VerneMQ or HiveMQ; unset: off"))

    ingest_batch_samples: int = Field(default=10000, ge=1, description="flush at this size")
    ingest_writers: int = Field(
        default=2, ge=1, le=8, description=(
            "batches written at once, each on its own database connection (acknowledged "
            "in the order they arrived)"))
    ingest_linger_ms: int = Field(
        default=20, ge=0, le=100,
        description="let a small batch fill this long while messages keep arriving")
    ingest_max_pending_bytes: int = Field(
        default=64 * 1024 * 1024, ge=1024 * 1024, description="memory bound while the db is down")
    ingest_future_tolerance_s: float = 300.0
    ingest_max_message_bytes: int = 256 * 1024
    ingest_max_samples: int = 1000

    webhook_allow_private: bool = Field(
        default=False, description=(
            "let webhooks use http:// and addresses that are loopback, private, link-local, "
            "multicast or reserved (tests, a receiver on the LAN); off: https to public "
            "addresses only"))

    smtp_host: str | None = Field(default=None, description=(
        "SMTP server for e-mail notifications to people; unset: e-mail channels fail over "
        "to the next channel"))
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_starttls: bool = Field(default=True, description="STARTTLS before logging in")
    smtp_ca_file: Path | None = Field(
        default=None, description="CA certificate (PEM) of an SMTP server with a private CA")
    smtp_user: str | None = Field(default=None, description="SMTP login (unset: no login)")
    smtp_password: str | None = Field(default=None, repr=False,
                                      description="SMTP password (never logged)")
    smtp_from: str = Field(default="whistle@localhost", description="From: of e-mails")
    smtp_timeout_s: float = Field(default=10.0, gt=0, le=300)

    rules_file: Path | None = Field(
        default=None, description="rules TOML: thresholds, profiles, overrides, [escalation]")
    offline_after_s: float = Field(default=90.0, gt=0)
    rules_lease_s: float = Field(
        default=15.0, ge=1, le=3600, description=(
            "a `whistle rules` process that dies hands its partitions of elevators to the "
            "others within this long (leases last 2/3 of it and are renewed every third)"))
    session_hours: float = Field(default=12.0, gt=0, le=24 * 30,
                                 description="a person's sign-in lasts this long")
    telemetry_retention_days: int = Field(
        default=365, ge=1, description="telemetry kept this long (samples around alerts stay)")
    rollup_retention_days: int = Field(
        default=3650, ge=1, description="per-minute telemetry aggregates kept this long")
    log_retention_days: int = Field(
        default=90, ge=1,
        description="rejected messages, connection events, finished webhook deliveries")
    housekeeping_every_s: float = Field(
        default=3600.0, gt=0, description="how often the running service applies retention")

    default_lang: Literal["zh-CN", "en"] = Field(
        default="zh-CN", description=(
            "language of the pages when neither ?lang=, the whistle_lang cookie nor "
            "Accept-Language chooses one; also the language of `whistle demo`'s fleet"))
    timezone: str = Field(
        default="Asia/Shanghai", description="IANA time zone every time on a page is shown in")

    public_url: str | None = Field(
        default=None, description=(
            "base URL printed on the elevators' signs (https://whistle.example.org); unset: "
            "the base URL of the request that asks for the sign"))
    trusted_proxies: str = Field(
        default="", description=(
            "comma-separated IPs or CIDRs of reverse proxies; only when the direct peer is "
            "one of them is the client address taken from X-Forwarded-For (the right-most "
            "hop that is not a trusted proxy)"))

    @field_validator("public_url")
    @classmethod
    def _check_public_url(cls, v: str | None) -> str | None:
        if v is None or v.strip() == "":
            return None
        parts = urlsplit(v.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
            raise ValueError(f"WHISTLE_PUBLIC_URL: {v!r} is not an http(s)://host[/path] URL")
        return v.strip().rstrip("/")

    @field_validator("trusted_proxies")
    @classmethod
    def _check_trusted_proxies(cls, v: str) -> str:
        for item in (x.strip() for x in v.split(",")):
            if item:
                try:
                    ipaddress.ip_network(item, strict=False)
                except ValueError:
                    raise ValueError(f"WHISTLE_TRUSTED_PROXIES: {item!r} is not an IP "
                                     "address or CIDR such as 10.0.0.0/8") from None
        return v

    @property
    def trusted_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        """The networks of WHISTLE_TRUSTED_PROXIES."""
        return tuple(ipaddress.ip_network(x.strip(), strict=False)
                     for x in self.trusted_proxies.split(",") if x.strip())

    @field_validator("mqtt_url")
    @classmethod
    def _check_mqtt_url(cls, v: str | None) -> str | None:
        if v is None or v == "":
            return None
        try:
            parse_broker_url(v)
        except BrokerURLError as exc:
            raise ValueError(f"WHISTLE_MQTT_URL: {exc}") from None
        return v

    @model_validator(mode="after")
    def _check_tls_files(self) -> Settings:
        if self.mqtt_url is not None:
            try:
                self.broker  # noqa: B018 - parsing is the check
            except BrokerURLError as exc:
                raise ValueError(str(exc)) from None
        return self

    @field_validator("default_lang", mode="before")
    @classmethod
    def _check_default_lang(cls, v: object) -> object:
        if isinstance(v, str) and v.strip().lower().replace("_", "-") in ("zh-cn", "zh"):
            return "zh-CN"
        if isinstance(v, str) and v.strip().lower().startswith("en"):
            return "en"
        return v

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"WHISTLE_TIMEZONE: {v!r} is not an IANA time zone such as "
                             "Asia/Shanghai or UTC") from None
        return v

    @field_validator("admin_token")
    @classmethod
    def _check_admin_token(cls, v: str | None) -> str | None:
        if v is None or v == "":
            return None
        if len(v) < MIN_ADMIN_TOKEN:
            raise ValueError(
                f"WHISTLE_ADMIN_TOKEN is {len(v)} characters; at least {MIN_ADMIN_TOKEN} are "
                "needed (it opens everything): generate one with `python -c \"import secrets; "
                "print(secrets.token_urlsafe(32))\"`, or leave it unset and Whistle keeps a "
                "generated one in the data folder")
        return v

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, v: str | None) -> str | None:
        if v is None or v == "":
            return None
        if urlsplit(v).scheme not in ("postgresql", "postgres"):
            raise ValueError("WHISTLE_DATABASE_URL must be a postgresql:// URL")
        return v

    @property
    def broker(self) -> BrokerAddress:
        """The broker of WHISTLE_MQTT_URL with its credentials and TLS files."""
        if self.mqtt_url is None:
            raise RuntimeError("no MQTT URL: the embedded broker has not been started")
        return parse_broker_url(self.mqtt_url, ca_file=self.mqtt_ca_file,
                                client_cert=self.mqtt_client_cert,
                                client_key=self.mqtt_client_key)

    @property
    def mqtt_host_port(self) -> tuple[str, int]:
        """(host, port) of WHISTLE_MQTT_URL."""
        broker = self.broker
        return broker.host, broker.port

    def topic(self, suffix: str) -> str:
        """A topic under the configured prefix, e.g. topic('lift/+/telemetry')."""
        return f"{self.mqtt_topic_prefix}{suffix}"
