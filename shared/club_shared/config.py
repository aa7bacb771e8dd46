"""Configuration from environment variables.

Every variable is documented in the README's configuration table; `Settings.from_env` is the only
place that reads the environment, so a service's whole configuration is visible here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

SERVICES = ("membership", "booking", "billing", "integrations", "notifications")


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw not in (None, "") else default


def _ints(name: str, default: tuple[int, ...]) -> tuple[int, ...]:
    raw = os.environ.get(name)
    if not raw:
        return default
    return tuple(int(part) for part in raw.split(",") if part.strip())


@dataclass(frozen=True)
class Settings:
    service: str
    env: str = "production"
    database_url: str | None = None
    database_prefix: str = "club_"
    db_pool_size: int = 10
    schedulers_enabled: bool = True
    amqp_url: str | None = None
    bus_namespace: str = "club"
    bus_max_deliveries: int = 5
    bus_retry_delays_ms: tuple[int, ...] = (1_000, 5_000, 30_000, 120_000)
    bus_prefetch: int = 100
    relay_poll_ms: int = 500
    club_timezone: str = "America/Los_Angeles"
    jwt_public_key: str | None = None
    jwt_private_key: str | None = None
    jwt_issuer: str = "clubhouse"
    # membership: the key of the hashes stored for sign-in codes, links and refresh secrets; kept
    # apart from the signing key so that rotating that key signs nobody out
    signin_hash_key: str | None = None
    access_token_ttl_s: int = 900
    max_body_bytes: int = 1_048_576
    data_dir: Path = field(default_factory=lambda: Path("var"))
    log_level: str = "INFO"
    # observability: the worker's own /metrics port (off when unset), OpenTelemetry (off when unset)
    worker_metrics_port: int | None = None
    otel_exporter_otlp_endpoint: str | None = None
    # notifications: e-mail through the provider (Resend's API), web push with VAPID
    email_api_base: str = "https://api.resend.com"
    email_api_key: str | None = None
    email_from: str | None = None
    email_webhook_secret: str | None = None
    vapid_private_key: str | None = None
    vapid_public_key: str | None = None
    vapid_subject: str | None = None
    app_base_url: str = "http://localhost:8080"
    notification_retention_days: int = 30
    # integrations: TrackMan, HubSpot, Google Calendar, Eventbrite (each off without credentials)
    trackman_webhook_secret: str | None = None
    trackman_bay_resources: str = "1:1,2:2,3:3,4:4"
    hubspot_api_base: str = "https://api.hubapi.com"
    hubspot_access_token: str | None = None
    hubspot_webhook_secret: str | None = None
    hubspot_portal_id: str | None = None
    hubspot_writes: str | None = None
    hubspot_requests_per_10s: int = 100
    google_calendar_api_base: str = "https://www.googleapis.com/calendar/v3"
    google_calendar_access_token: str | None = None
    google_calendar_ids: str | None = None
    eventbrite_api_base: str = "https://www.eventbriteapi.com/v3"
    eventbrite_token: str | None = None
    eventbrite_organization_id: str | None = None
    # billing: Stripe through the official client, at a configurable base URL (a fake in tests)
    stripe_api_base: str = "https://api.stripe.com"
    stripe_secret_key: str | None = None
    stripe_webhook_secret: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def is_development(self) -> bool:
        return self.env == "development"

    @property
    def service_database_url(self) -> str:
        """This service's own database: `<SERVICE>_DATABASE_URL`, else DATABASE_URL's server
        with the database `<prefix><service>`."""
        explicit = os.environ.get(f"{self.service.upper()}_DATABASE_URL")
        if explicit:
            return normalise_url(explicit)
        if not self.database_url:
            raise RuntimeError("DATABASE_URL is not set")
        return with_database(self.database_url, f"{self.database_prefix}{self.service}")

    @classmethod
    def from_env(cls, service: str, **overrides) -> Settings:
        env = os.environ
        settings = cls(
            service=service,
            env=env.get("CLUB_ENV", "production"),
            database_url=env.get("DATABASE_URL") or None,
            database_prefix=env.get("CLUB_DATABASE_PREFIX", "club_"),
            db_pool_size=_int("DB_POOL_SIZE", 10),
            schedulers_enabled=env.get("SCHEDULERS_ENABLED", "true").lower()
            not in ("false", "0", "no", "off"),
            amqp_url=env.get("AMQP_URL") or None,
            bus_namespace=env.get("BUS_NAMESPACE", "club"),
            bus_max_deliveries=_int("BUS_MAX_DELIVERIES", 5),
            bus_retry_delays_ms=_ints("BUS_RETRY_DELAYS_MS", (1_000, 5_000, 30_000, 120_000)),
            bus_prefetch=_int("BUS_PREFETCH", 100),
            relay_poll_ms=_int("RELAY_POLL_MS", 500),
            club_timezone=env.get("CLUB_TIMEZONE", "America/Los_Angeles"),
            jwt_public_key=_read_key("JWT_PUBLIC_KEY"),
            jwt_private_key=_read_key("JWT_PRIVATE_KEY"),
            jwt_issuer=env.get("JWT_ISSUER", "clubhouse"),
            signin_hash_key=_read_key("SIGNIN_HASH_KEY"),
            access_token_ttl_s=_int("ACCESS_TOKEN_TTL_S", 900),
            max_body_bytes=_int("MAX_BODY_BYTES", 1_048_576),
            data_dir=Path(env.get("CLUB_DATA_DIR", "var")),
            log_level=env.get("LOG_LEVEL", "INFO"),
            worker_metrics_port=_int("WORKER_METRICS_PORT", 0) or None,
            otel_exporter_otlp_endpoint=env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
            or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            or None,
            email_api_base=env.get("EMAIL_API_BASE") or "https://api.resend.com",
            email_api_key=env.get("EMAIL_API_KEY") or None,
            email_from=env.get("EMAIL_FROM") or None,
            email_webhook_secret=env.get("EMAIL_WEBHOOK_SECRET") or None,
            vapid_private_key=_read_key("VAPID_PRIVATE_KEY"),
            vapid_public_key=env.get("VAPID_PUBLIC_KEY") or None,
            vapid_subject=env.get("VAPID_SUBJECT") or None,
            app_base_url=env.get("APP_BASE_URL") or "http://localhost:8080",
            notification_retention_days=_int("NOTIFICATION_RETENTION_DAYS", 30),
            trackman_webhook_secret=env.get("TRACKMAN_WEBHOOK_SECRET") or None,
            trackman_bay_resources=env.get("TRACKMAN_BAY_RESOURCES") or "1:1,2:2,3:3,4:4",
            hubspot_api_base=env.get("HUBSPOT_API_BASE") or "https://api.hubapi.com",
            hubspot_access_token=env.get("HUBSPOT_ACCESS_TOKEN") or None,
            hubspot_webhook_secret=env.get("HUBSPOT_WEBHOOK_SECRET") or None,
            hubspot_portal_id=env.get("HUBSPOT_PORTAL_ID") or None,
            hubspot_writes=env.get("HUBSPOT_WRITES") or None,
            hubspot_requests_per_10s=_int("HUBSPOT_REQUESTS_PER_10S", 100),
            google_calendar_api_base=env.get("GOOGLE_CALENDAR_API_BASE")
            or "https://www.googleapis.com/calendar/v3",
            google_calendar_access_token=env.get("GOOGLE_CALENDAR_ACCESS_TOKEN") or None,
            google_calendar_ids=env.get("GOOGLE_CALENDAR_IDS") or None,
            eventbrite_api_base=env.get("EVENTBRITE_API_BASE") or "https://www.eventbriteapi.com/v3",
            eventbrite_token=env.get("EVENTBRITE_TOKEN") or None,
            eventbrite_organization_id=env.get("EVENTBRITE_ORGANIZATION_ID") or None,
            stripe_api_base=env.get("STRIPE_API_BASE") or "https://api.stripe.com",
            stripe_secret_key=env.get("STRIPE_SECRET_KEY") or None,
            stripe_webhook_secret=env.get("STRIPE_WEBHOOK_SECRET") or None,
        )
        return replace(settings, **overrides)


def _read_key(name: str) -> str | None:
    """A key (PEM or secret) from `<NAME>` itself or from the file named by `<NAME>_FILE`."""
    if os.environ.get(name):
        return os.environ[name]
    path = os.environ.get(f"{name}_FILE")
    return Path(path).read_text() if path else None


def normalise_url(url: str) -> str:
    """SQLAlchemy URL with the psycopg 3 driver, whatever spelling the caller used."""
    for prefix in ("postgres://", "postgresql://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def with_database(server_url: str, database: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(normalise_url(server_url)).set(database=database).render_as_string(hide_password=False)
