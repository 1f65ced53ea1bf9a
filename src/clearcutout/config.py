"""The one settings object. Nothing else in ClearCutout reads ``os.environ``.

Values come from ``CLEARCUTOUT_*`` environment variables (nested with ``__``), then an
optional TOML file named by ``CLEARCUTOUT_CONFIG_FILE``, then the defaults below.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from platformdirs import user_cache_dir, user_data_dir
from pydantic import BaseModel, BeforeValidator, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from clearcutout.errors import ConfigurationError

# The bounds most settings share, named once: a duration or size that must be above
# zero, a count of at least one, and a wait or amount where 0 means none.
Positive = Annotated[float, Field(gt=0)]
AtLeastOne = Annotated[int, Field(ge=1)]
NotNegative = Annotated[float, Field(ge=0)]


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
    # Failed logins per client IP *and* account before backoff starts: then the next
    # attempt from that IP for that account waits login_backoff_base_seconds, doubling
    # after each further failure (at most window_minutes). Logins from other IPs are not
    # held back, so an attacker cannot lock the owner out.
    login_per_account: int = 5
    login_backoff_base_seconds: Positive = 60.0
    # Failed logins per client IP across all accounts.
    login_per_ip: int = 30
    reset_per_account: int = 3
    reset_per_ip: int = 10
    signup_per_ip: int = 10
    # Wrong API keys per client IP on the JSON API (``/api/v1/*``); valid keys are never
    # counted.
    api_key_failures_per_ip: int = 20


def _split_hosts(value: object) -> object:
    """``allowed_hosts`` from the environment: comma- or space-separated (or a JSON list)."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return json.loads(text)
        return [part for part in re.split(r"[\s,]+", text) if part]
    return value


def _check_hosts(values: list[str]) -> list[str]:
    """Each entry a host name, an IP address or a CIDR network; lower-cased."""
    checked = []
    for entry in values:
        entry = entry.strip().lower().rstrip(".")
        if not entry:
            continue
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            if not re.fullmatch(r"(\*\.)?[a-z0-9_]([a-z0-9_-]{0,62})(\.[a-z0-9_-]{1,63})*", entry):
                raise ValueError(f"not a host name, address or CIDR network: {entry!r}") from None
        checked.append(entry)
    return checked


class UrlFetchSettings(BaseModel):
    """Fetching ``image_url`` / ``bg_image_url`` (``service.infra.fetch``): limits, a test hook."""

    connect_timeout_s: Positive = 5.0
    read_timeout_s: Positive = 10.0
    total_timeout_s: Positive = 30.0
    max_redirects: int = Field(default=5, ge=0)
    # Downloads at once per process; more are refused with 429 at once, so slow servers
    # cannot hold every thread of the web app.
    max_concurrent: AtLeastOne = 8
    # Test hook only: also allow loopback addresses (127.0.0.0/8, ::1) so the tests can
    # download from a local HTTP server. Every other private address stays refused.
    # Never enable it in production: it lets callers reach services on this machine.
    allow_loopback: bool = False
    # Internal hosts operators let ``image_url`` reach (self-hosters keeping images on
    # their own network): host names (``images.internal``, or ``*.corp.example`` for any
    # name under it), IP addresses and CIDR networks (``10.20.0.0/16``), comma-separated in
    # ``CLEARCUTOUT_URL_FETCH__ALLOWED_HOSTS``. Empty by default; every private address not
    # listed stays refused.
    allowed_hosts: Annotated[list[str], NoDecode, BeforeValidator(_split_hosts)] = Field(
        default_factory=list
    )

    @field_validator("allowed_hosts")
    @classmethod
    def _valid_hosts(cls, values: list[str]) -> list[str]:
        return _check_hosts(values)


class RemoveBgSettings(BaseModel):
    """The remove.bg-compatible API (``/v1.0/removebg``, ``/v1.0/account``)."""

    # Requests per minute per API key (and per client IP for failed authentication).
    rate_limit_per_minute: AtLeastOne = 60
    # Model used for these requests; None = ``default_model``.
    model: str | None = None
    # Images processed at once by the synchronous paths together (this API and
    # ``store=false`` jobs) in one process; each holds its pixels in memory (README,
    # "Limits"). Further requests wait up to ``sync_slot_wait_seconds``, then get 503.
    max_concurrent: AtLeastOne = 2


class PlanSettings(BaseModel):
    """One billing plan (README, "Billing"): credits, limits and its Stripe price."""

    label: str
    # Subscription credits granted at each renewal (calendar month for a plan without a
    # Stripe price; each paid invoice otherwise). Unused ones do not roll over.
    monthly_credits: NotNegative = 0.0
    # Image requests per minute per account, the UI and both APIs together.
    rate_limit_per_minute: AtLeastOne = 60
    # Regions a user on this plan may choose; None = every region.
    regions: list[str] | None = None
    # Largest image accepted for this plan, in megapixels; None = ``max_megapixels``.
    max_megapixels: float | None = Field(default=None, gt=0)
    # The Stripe price id of the subscription (None: a plan nobody pays for).
    stripe_price_id: str | None = None


class CreditPackSettings(BaseModel):
    """A one-off purchase of pay-as-you-go credits (they never expire)."""

    label: str
    credits: float = Field(gt=0)
    stripe_price_id: str


def _default_plans() -> dict[str, PlanSettings]:
    return {
        "free": PlanSettings(label="Free", monthly_credits=50, rate_limit_per_minute=20),
        "pro": PlanSettings(
            label="Pro", monthly_credits=500, rate_limit_per_minute=120, max_megapixels=50
        ),
        "business": PlanSettings(label="Business", monthly_credits=5000, rate_limit_per_minute=500),
    }


class BillingSettings(BaseModel):
    """Plans, credits and Stripe (README, "Billing"). Off by default: every account may
    process images without limit and no billing page exists."""

    enabled: bool = False
    plans: dict[str, PlanSettings] = Field(default_factory=_default_plans)
    # The plan of a new account, and of one whose subscription ended.
    default_plan: str = "free"
    credit_packs: dict[str, CreditPackSettings] = Field(default_factory=dict)
    # Stripe: the secret API key, the webhook endpoint's signing secret, and (tests, a
    # Stripe-compatible server) another API base URL.
    stripe_secret_key: SecretStr | None = None
    stripe_webhook_secret: SecretStr | None = None
    stripe_api_base: str | None = None
    # Where the per-plan rate-limit windows are counted: the database (default) or Redis
    # (``redis_url``), so that several API processes agree either way.
    rate_limit_backend: Literal["database", "redis"] = "database"
    redis_url: str | None = None


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


class StaffSettings(BaseModel):
    """Staff accountability (privacy policy, "Access Controls", "Data Breach"):
    monitoring rules and the breach-notice deadline."""

    # "Many images viewed quickly": more than ``image_views_max`` different people's
    # images viewed by one staff account within ``image_views_window_minutes``.
    image_views_max: AtLeastOne = 10
    image_views_window_minutes: AtLeastOne = 10
    # Working hours (UTC, [start, end) hours) and days (0 = Monday); staff access outside
    # them raises an alert.
    working_hours_start: int = Field(default=7, ge=0, le=23)
    working_hours_end: int = Field(default=19, ge=1, le=24)
    working_days: list[int] = Field(default_factory=lambda: [0, 1, 2, 3, 4])
    # Hours between detecting a breach and the deadline for telling those affected.
    breach_notice_hours: AtLeastOne = 72
    # How often the periodic tasks verify the access log's hash chain (0 = never).
    audit_verify_interval_seconds: NotNegative = 86400.0
    # The name the authenticator app shows for staff TOTP entries.
    totp_issuer: str = "ClearCutout"


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
    # Longest side ÷ shortest side; thinner images are refused from their header. A
    # 360° panorama is 2-12:1; a 1×1,000,000 strip is no photo.
    max_aspect_ratio: float = Field(default=100.0, ge=1.0)
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
    # SQLite: how long a write waits for another writer's lock (retrying) before the
    # request answers 503 with Retry-After.
    database_lock_timeout_s: Positive = 10.0
    # ``clearcutout serve`` / ``make run``: the address and port to listen on (the
    # command's --host/--port, or make's HOST=/PORT=, win).
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    # Origins whose pages may call the JSON APIs from a browser (CORS), e.g.
    # ``https://shop.example``; comma-separated in the environment. Empty: none.
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Public address used in emailed links. Unset, ``clearcutout serve`` uses the address
    # it really listens on; other processes (CLI, workers) use this default.
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
    staff: StaffSettings = Field(default_factory=StaffSettings)
    billing: BillingSettings = Field(default_factory=BillingSettings)
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
    retention_days: AtLeastOne = 30
    # ``local``: jobs run in the app process from the database queue; ``none``: this
    # process only accepts jobs (another process or worker runs them); ``celery``: jobs,
    # remove.bg requests and ``store=false`` cutouts run on ``clearcutout worker``
    # processes, one queue per region, through ``broker_url`` (docs/scale-out.md).
    executor: Literal["local", "none", "celery"] = "local"
    # Jobs run at once by the local executor; 0 = size to the machine.
    worker_threads: int = Field(default=0, ge=0)
    # A claimed job is someone else's for this long unless its worker renews the lease;
    # a job whose worker died is queued again when its lease runs out.
    job_lease_seconds: Positive = 30.0
    # How often an idle worker looks for jobs queued by other processes.
    job_poll_seconds: Positive = 2.0
    # Attempts before a job that keeps failing for an unexpected reason (a crash, a bug)
    # is marked failed.
    job_max_attempts: AtLeastOne = 3
    # Attempts before a job that keeps meeting a transient fault (storage or database
    # unavailable) is marked failed. With the back-off below the default spans ~40 min.
    job_transient_attempts: AtLeastOne = 10
    # Back-off before a job that failed is tried again: the n-th retry waits a random
    # time between half and all of ``base * 2**(n-1)`` seconds, at most ``max``.
    job_retry_base_seconds: NotNegative = 15.0
    job_retry_max_seconds: NotNegative = 600.0
    # How long an ``Idempotency-Key`` on an upload is remembered (same key, same answer).
    idempotency_key_hours: AtLeastOne = 24

    # Object storage calls (S3): give up connecting / waiting for an answer after this
    # many seconds, so a hung server answers 503 instead of holding the request.
    storage_connect_timeout_s: Positive = 3.0
    storage_read_timeout_s: Positive = 15.0

    # Scale-out (executor = "celery"; docs/scale-out.md).
    # ``redis://host:6379/0`` or ``amqp://user:password@host:5672//``.
    broker_url: str | None = None
    # Where synchronous cutouts (remove.bg API, store=false) come back from the workers,
    # sealed; None = the broker itself for Redis, Celery's ``rpc://`` for RabbitMQ.
    result_backend_url: str | None = None
    # A task not acknowledged this long is handed to another worker (Redis broker): it
    # must exceed the slowest job. RabbitMQ hands it over when the worker's connection drops.
    broker_visibility_timeout_seconds: Positive = 3600.0
    # The queue of the periodic tasks, which every worker also consumes.
    periodic_queue: str = "clearcutout.periodic"
    # How often ``clearcutout beat`` hands queued jobs to the broker again (lost messages,
    # jobs queued again for a retry, jobs whose worker died) …
    dispatch_interval_seconds: Positive = 10.0
    # … when they were last handed over at least this long ago.
    redispatch_after_seconds: Positive = 60.0
    # A worker writes its heartbeat this often; a region with no heartbeat for three
    # periods has no worker alive (``/readyz``, metrics, the job's status detail).
    worker_heartbeat_seconds: Positive = 5.0
    # How long an API process waits for a worker's synchronous cutout before answering 503.
    sync_wait_seconds: Positive = 120.0
    # How long a synchronous request waits for a free processing slot (``removebg.
    # max_concurrent`` per process) before it is refused with 503 and ``Retry-After``.
    sync_slot_wait_seconds: NotNegative = 10.0
    # At shutdown, how long to wait for image work in flight before stopping anyway
    # (jobs cut short are queued again when their lease runs out).
    shutdown_grace_seconds: NotNegative = 30.0
    # Prometheus ``/metrics``: off, on the app's port, or (``metrics_port`` set) only on
    # that internal port of ``metrics_host``, never on the public one.
    metrics_enabled: bool = True
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    metrics_host: str = "127.0.0.1"

    # Retention, residency and data export (privacy policy, "Data Retention", "Data
    # Residency & International Transfers", "Access & Portability").
    # How often the in-process retention sweeper runs (embedded default); 0 = never (a
    # scale-out deployment runs ``clearcutout retention sweep`` or Celery beat instead).
    retention_sweep_interval_seconds: NotNegative = 300.0
    # Jobs expired per batch (each batch is its own transaction, so a crash loses nothing).
    retention_sweep_batch: AtLeastOne = 100
    # Install the S3 bucket lifecycle rule (second line of defence) at app start.
    s3_lifecycle_on_start: bool = True
    # A "Download my data" archive, and its emailed link, expire after this many hours.
    export_link_hours: AtLeastOne = 48

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        """``a, b`` as well as a list; an origin has no path (``/`` at its end dropped)."""
        if isinstance(value, str):
            value = [part for part in value.replace(" ", ",").split(",") if part]
        if isinstance(value, list):
            return [str(origin).rstrip("/") for origin in value]
        return value

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


def describe_settings_error(error: ValidationError) -> str:
    """One line for a settings error: each bad setting by its environment name, the
    value given and the rule it breaks (never a traceback, never a secret's value)."""
    parts = []
    for problem in error.errors():
        name = "CLEARCUTOUT_" + "__".join(str(part) for part in problem["loc"]).upper()
        value = problem.get("input")
        shown = "(hidden)" if any(w in name for w in _SECRET_WORDS) else repr(value)
        if problem["type"] == "missing":
            shown = "(missing)"
        elif isinstance(value, dict | list):
            shown = "(a table)" if isinstance(value, dict) else "(a list)"
        parts.append(f"{name}={shown}: {problem['msg'].lower()}")
    return "invalid setting " + "; ".join(parts)


_SECRET_WORDS = ("KEY", "SECRET", "PASSWORD")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once; tests call ``get_settings.cache_clear()``.

    A setting that breaks its rule raises :class:`ConfigurationError` with one line
    naming it (``describe_settings_error``), for the CLI and ``serve`` to print.
    """
    try:
        return Settings()
    except ValidationError as exc:
        raise ConfigurationError(describe_settings_error(exc)) from None


def settings_with(**overrides: Any) -> Settings:
    """A copy of the current settings with some values replaced (tests, CLI flags)."""
    return get_settings().model_copy(update=overrides)
