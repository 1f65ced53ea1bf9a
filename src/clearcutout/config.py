"""The one settings object. Nothing else in ClearCutout reads ``os.environ``.

Values come from ``CLEARCUTOUT_*`` environment variables (nested with ``__``), then an
optional TOML file named by ``CLEARCUTOUT_CONFIG_FILE``, then the defaults below.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from platformdirs import user_cache_dir, user_data_dir
from pydantic import Field
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


class EngineSettings(BaseSettings):
    """What the cutout engine needs; usable without the web service."""

    model_config = SettingsConfigDict(env_prefix="CLEARCUTOUT_", extra="ignore")

    models_dir: Path = Field(default_factory=_default_models_dir)
    default_model: str = "u2net"
    max_megapixels: float = 50.0
    max_upload_mb: float = 22.0
    # 0 = size to the machine (physical cores); see engine.session.
    inference_threads: int = 0
    allow_model_download: bool = True
    model_fetch_timeout_s: float = 600.0


class Settings(EngineSettings):
    """Everything: the engine settings plus the service, web and storage settings."""

    model_config = SettingsConfigDict(
        env_prefix="CLEARCUTOUT_", env_nested_delimiter="__", extra="ignore"
    )

    data_dir: Path = Field(default_factory=_default_data_dir)

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
