"""The one settings object. Nothing else in ClearCutout reads ``os.environ``.

Values come from ``CLEARCUTOUT_*`` environment variables (nested with ``__``), then an
optional TOML file named by ``CLEARCUTOUT_CONFIG_FILE``, then the defaults below.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from platformdirs import user_cache_dir, user_data_dir
from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


def _default_models_dir() -> Path:
    return Path(user_cache_dir("clearcutout")) / "models"


def _default_data_dir() -> Path:
    return Path(user_data_dir("clearcutout"))


class RegionSettings(BaseModel):
    """One data-residency region: its label, master key, object storage and job queue."""

    label: str
    # Base64 of 32 random bytes; when unset, generated once and kept in the secrets file
    # under ``data_dir`` (embedded default). See ``clearcutout.crypto``.
    master_key: SecretStr | None = None
    # ``file:///abs/path`` or ``s3://bucket/prefix?endpoint=…&region=…``; when unset, a
    # directory ``data_dir/storage/<region>``. Credentials never go in the URL.
    storage_url: str | None = None
    s3_access_key_id: str | None = None
    s3_secret_access_key: SecretStr | None = None
    # Queue that scale-out workers of this region consume (Celery); default: the region name.
    queue: str | None = None
    # Plans whose users may choose this region; None = every plan (README, "Data residency").
    plans: list[str] | None = None


def _default_regions() -> dict[str, RegionSettings]:
    return {
        "eu": RegionSettings(label="European Union"),
        "us": RegionSettings(label="United States"),
    }


class SmtpSettings(BaseModel):
    """Outgoing mail. Without a host, messages are written to ``data_dir/outbox``."""

    host: str | None = None
    port: int = 25
    username: str | None = None
    password: SecretStr | None = None
    starttls: bool = False
    implicit_tls: bool = False
    timeout_s: float = 10.0
    from_address: str = "ClearCutout <no-reply@localhost>"


class ThrottleSettings(BaseModel):
    """Attempts allowed per window, per account and per client IP (hashed)."""

    window_minutes: int = 15
    login_per_account: int = 5
    login_per_ip: int = 30
    reset_per_account: int = 3
    reset_per_ip: int = 10
    signup_per_ip: int = 10


class UrlFetchSettings(BaseModel):
    """Fetching ``image_url`` / ``bg_image_url`` (``service.infra.fetch``): limits, a test hook."""

    connect_timeout_s: float = Field(default=5.0, gt=0)
    read_timeout_s: float = Field(default=10.0, gt=0)
    total_timeout_s: float = Field(default=30.0, gt=0)
    max_redirects: int = Field(default=5, ge=0)
    # Test hook only: also allow loopback addresses (127.0.0.0/8, ::1) so the tests can
    # download from a local HTTP server. Every other private address stays refused.
    # Never enable it in production: it lets callers reach services on this machine.
    allow_loopback: bool = False


class RemoveBgSettings(BaseModel):
    """The remove.bg-compatible API (``/v1.0/removebg``, ``/v1.0/account``)."""

    # Requests per minute per API key (and per client IP for failed authentication).
    rate_limit_per_minute: int = Field(default=60, ge=1)
    # Credits each user may spend per calendar month (UTC); preview 0.25, larger 1.
    monthly_credits: float = Field(default=500.0, ge=0)
    # Model used for these requests; None = ``default_model``.
    model: str | None = None
    # Images processed at once by this API in one process (each holds its pixels in
    # memory); further requests wait their turn.
    max_concurrent: int = Field(default=2, ge=1)


class IntegrationSettings(BaseModel):
    """Optional third-party integrations, each off until configured (privacy policy,
    "Cookies & Tracking").

    Each one adds only its own origins to the Content-Security-Policy and is listed on the
    cookie page while enabled.
    """

    # Cookieless Umami analytics: the tracker script URL and the website id. Never loaded
    # for a request with ``DNT: 1`` or ``Sec-GPC: 1``.
    umami_script_url: str | None = None
    umami_website_id: str | None = None
    # Tawk.to support chat: property and widget id from the Tawk.to dashboard.
    tawk_property_id: str | None = None
    tawk_widget_id: str = "default"
    # Endorsely affiliate tracking: the public organisation id.
    endorsely_id: str | None = None


class EngineSettings(BaseSettings):
    """What the cutout engine needs; usable without the web service."""

    model_config = SettingsConfigDict(env_prefix="CLEARCUTOUT_", extra="ignore")

    models_dir: Path = Field(default_factory=_default_models_dir)
    # The quality preset used when a request (or the library) names none: fast, balanced
    # or best (see engine/presets.py and the README's quality table).
    default_quality: Literal["fast", "balanced", "best"] = "balanced"
    # A model that replaces the presets' model choice everywhere (the presets' passes
    # still run); None lets the presets choose.
    default_model: str | None = None
    # ONNX Runtime's execution provider: cpu, cuda (needs the clearcutout[gpu] extra)
    # or auto (CUDA when present, else the CPU).
    execution_provider: Literal["auto", "cpu", "cuda"] = "auto"
    max_megapixels: float = 50.0
    max_upload_mb: float = 22.0
    # 0 = size to the machine (physical cores); see engine.session.
    inference_threads: int = 0
    allow_model_download: bool = True
    model_fetch_timeout_s: float = 600.0
    # Keep freed image buffers for the next image (glibc); see engine.allocator.
    tune_allocator: bool = True


class Settings(EngineSettings):
    """Everything: the engine settings plus the service, web and storage settings."""

    model_config = SettingsConfigDict(
        env_prefix="CLEARCUTOUT_", env_nested_delimiter="__", extra="ignore"
    )

    data_dir: Path = Field(default_factory=_default_data_dir)

    # Web service: database, accounts, email, sessions.
    # None = SQLite file ``clearcutout.sqlite3`` under ``data_dir``; PostgreSQL by URL
    # (``postgresql+psycopg://…``).
    database_url: str | None = None
    # Public address used in emailed links.
    base_url: str = "http://127.0.0.1:8000"
    # App secret (CSRF signing, blind-index and token keys), base64 of 32 random bytes;
    # when unset, generated once and kept in ``data_dir/secrets.json`` (mode 0600).
    app_secret: SecretStr | None = None
    secrets_file: Path | None = None
    regions: dict[str, RegionSettings] = Field(default_factory=_default_regions)
    default_region: str = "eu"
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)
    throttle: ThrottleSettings = Field(default_factory=ThrottleSettings)
    integrations: IntegrationSettings = Field(default_factory=IntegrationSettings)
    url_fetch: UrlFetchSettings = Field(default_factory=UrlFetchSettings)
    removebg: RemoveBgSettings = Field(default_factory=RemoveBgSettings)
    session_idle_minutes: int = 120
    session_absolute_days: int = 14
    email_token_hours: int = 48
    password_reset_minutes: int = 60
    password_min_length: int = 10
    # argon2id cost (RFC 9106 second recommended option: 64 MiB, 3 passes).
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 65536
    minimum_age_years: int = 13
    default_language: str = "en"

    # Image jobs.
    # Originals and results are deleted this many days after upload.
    retention_days: int = Field(default=30, ge=1)
    # ``local``: jobs run in the app process from the database queue; ``none``: this
    # process only accepts jobs (another process or worker runs them).
    executor: Literal["local", "none"] = "local"
    # Jobs run at once by the local executor; 0 = size to the machine.
    worker_threads: int = Field(default=0, ge=0)
    # A claimed job is someone else's for this long unless its worker renews the lease;
    # a job whose worker died is queued again when its lease runs out.
    job_lease_seconds: float = Field(default=30.0, gt=0)
    # How often an idle worker looks for jobs queued by other processes.
    job_poll_seconds: float = Field(default=2.0, gt=0)
    # Attempts before a job that keeps failing for transient reasons is marked failed.
    job_max_attempts: int = Field(default=3, ge=1)

    # Retention, residency and data export (privacy policy, "Data Retention", "Data
    # Residency & International Transfers", "Access & Portability").
    # How often the in-process retention sweeper runs (embedded default); 0 = never (a
    # scale-out deployment runs ``clearcutout retention sweep`` or Celery beat instead).
    retention_sweep_interval_seconds: float = Field(default=300.0, ge=0)
    # Jobs expired per batch (each batch is its own transaction, so a crash loses nothing).
    retention_sweep_batch: int = Field(default=100, ge=1)
    # Install the S3 bucket lifecycle rule (second line of defence) at app start.
    s3_lifecycle_on_start: bool = True
    # A "Download my data" archive, and its emailed link, expire after this many hours.
    export_link_hours: int = Field(default=48, ge=1)

    @property
    def effective_database_url(self) -> str:
        """The configured database URL, or the embedded SQLite file under ``data_dir``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'clearcutout.sqlite3'}"

    @property
    def effective_secrets_file(self) -> Path:
        """Where generated secrets are kept."""
        return self.secrets_file or self.data_dir / "secrets.json"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get("CLEARCUTOUT_CONFIG_FILE")
        if config_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config_file))
        sources.append(file_secret_settings)
        return tuple(sources)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once; tests call ``get_settings.cache_clear()``."""
    return Settings()


def settings_with(**overrides: Any) -> Settings:
    """A copy of the current settings with some values replaced (tests, CLI flags)."""
    return get_settings().model_copy(update=overrides)
