"""The settings tree, where the configuration file is looked up, and overrides.

Precedence, highest first: `NEMOWATCH_<SECTION>__<KEY>` variables, the
official `NEMO_TOKEN` / `NEMO_API_URL` / `NEMO_WEB_URL` / `NEMO_CLIENT_ID`
variables, the configuration file, the built-in defaults.

Only `cli.py` calls `load()`; everything else is handed `Settings` or the
section it needs.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from nemowatch.errors import ConfigError
from nemowatch.sections import (
    IGNORED,
    ApiSettings,
    ExportSettings,
    FolderSettings,
    HistorySettings,
    JobSettings,
    LoggingSettings,
    NotifySettings,
    PresetSettings,
    WatchSettings,
    WebSettings,
    folder_problems,
)

__all__ = [
    "IGNORED",
    "ApiSettings",
    "ExportSettings",
    "FolderSettings",
    "HistorySettings",
    "JobSettings",
    "Loaded",
    "LoggingSettings",
    "NotifySettings",
    "PresetSettings",
    "Settings",
    "WatchSettings",
    "WebSettings",
    "folder_problems",
    "load",
    "merge_reload",
]


class Settings(BaseSettings):
    """The whole configuration; sections mirror the TOML file."""

    model_config = SettingsConfigDict(
        env_prefix="NEMOWATCH_", env_nested_delimiter="__", extra="forbid"
    )

    folders: FolderSettings = Field(default_factory=FolderSettings)
    watch: WatchSettings = Field(default_factory=WatchSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    jobs: JobSettings = Field(default_factory=JobSettings)
    export: ExportSettings = Field(default_factory=ExportSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    history: HistorySettings = Field(default_factory=HistorySettings)
    notify: NotifySettings = Field(default_factory=NotifySettings)
    web: WebSettings = Field(default_factory=WebSettings)
    presets: dict[str, PresetSettings] = Field(default_factory=dict)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The file's contents arrive as init arguments (see load()), so they
        # rank below both kinds of environment override.
        return (env_settings, OfficialEnvSource(settings_cls), init_settings)


#: the official variables of the NemoVideo skill, and the key each one sets
OFFICIAL_VARIABLES = {
    "NEMO_TOKEN": "token",
    "NEMO_API_URL": "base_url",
    "NEMO_WEB_URL": "web_url",
    "NEMO_CLIENT_ID": "client_id",
}


class OfficialEnvSource(PydanticBaseSettingsSource):
    """`NEMO_TOKEN` and friends, as the official NemoVideo skill names them."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ builds the whole section

    def __call__(self) -> dict[str, Any]:
        api = {
            key: os.environ[var] for var, key in OFFICIAL_VARIABLES.items() if os.environ.get(var)
        }
        return {"api": api} if api else {}


@dataclass(frozen=True)
class Loaded:
    settings: Settings
    #: the file in force, or None for the built-in defaults
    path: Path | None
    #: how that file was found ("--config", "$NEMOWATCH_CONFIG", ...)
    origin: str


def example_path() -> Path:
    """The documented example file: packaged in a wheel, in config/ in a checkout."""
    packaged = resources.files("nemowatch") / "data" / "nemowatch.toml"
    if packaged.is_file():
        return Path(str(packaged))
    return Path(__file__).resolve().parent.parent / "config" / "nemowatch.toml"


def user_config_path(environ: Mapping[str, str]) -> Path:
    base = environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config")
    return Path(base) / "nemowatch" / "nemowatch.toml"


def find_config(explicit: Path | None, environ: Mapping[str, str]) -> tuple[Path | None, str]:
    """The configuration file in force and how it was found, by the documented order."""
    if explicit is not None:
        return _must_exist(explicit, "--config"), "--config"
    if environ.get("NEMOWATCH_CONFIG"):
        return _must_exist(Path(environ["NEMOWATCH_CONFIG"]), "$NEMOWATCH_CONFIG"), (
            "$NEMOWATCH_CONFIG"
        )
    candidates = [
        (Path.cwd() / "config" / "nemowatch.toml", "./config/nemowatch.toml"),
        (user_config_path(environ), "user configuration"),
        (Path("/etc/nemowatch/nemowatch.toml"), "system configuration"),
    ]
    for path, origin in candidates:
        if path.is_file():
            return path, origin
    return None, "built-in defaults"


def _must_exist(path: Path, origin: str) -> Path:
    path = Path(os.path.expanduser(path))
    if not path.is_file():
        raise ConfigError(str(path), [f"the file named by {origin} does not exist"])
    return path


def load(explicit: Path | None = None) -> Loaded:
    """Find, read and validate the configuration; every problem becomes a ConfigError."""
    path, origin = find_config(explicit, os.environ)
    source = str(path) if path else "the built-in defaults"
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = TomlConfigSettingsSource(Settings, toml_file=path)()
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(source, [f"not valid TOML: {exc}"]) from exc
        except OSError as exc:
            raise ConfigError(source, [f"cannot be read: {exc.strerror}"]) from exc
    folders_data = data.setdefault("folders", {})
    if isinstance(folders_data, dict) and folders_data.get("state") is None:
        # the default, filled in before the folders are checked against each other
        state_home = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
        folders_data["state"] = str(Path(state_home) / "nemowatch")
    try:
        settings = Settings(**data)
    except ValidationError as exc:
        raise ConfigError(source + " (or an environment override)", _problems(exc)) from exc
    folders = settings.folders
    folders.work, folders.archive = folders.work_dir, folders.archive_dir
    return Loaded(settings, path, origin)


def _problems(exc: ValidationError) -> list[str]:
    problems = []
    for err in exc.errors():
        where = ".".join(str(part) for part in err["loc"]) or "(top level)"
        if err["type"] == "extra_forbidden":
            problems.append(f"{where}: unknown key (check its spelling and section)")
            continue
        if err["type"] == "folders":  # folder_problems(): each one names its keys
            problems += str(err["ctx"]["text"]).split("\n")
            continue
        got = err.get("input")
        shown = "" if isinstance(got, dict | SecretStr) or "token" in where else f" (got {got!r})"
        problems.append(f"{where}: {err['msg']}{shown}")
    return problems


def masked_dump(settings: Settings) -> dict[str, Any]:
    """The effective configuration as plain TOML-able data, secrets masked."""
    data = settings.model_dump(mode="json")
    token = settings.api.token.get_secret_value()
    data["api"]["token"] = mask_secret(token)
    return _drop_none(data)


def mask_secret(value: str) -> str:
    if not value:
        return ""
    return value[:4] + "…(masked)" if len(value) > 12 else "…(masked)"


def _drop_none(data: dict[str, Any]) -> dict[str, Any]:
    return {
        k: _drop_none(v) if isinstance(v, dict) else v for k, v in data.items() if v is not None
    }


#: settings a reload cannot change: they shape what was built at start-up
RESTART_ONLY: tuple[tuple[str, str | None], ...] = (
    ("folders", None),
    ("api", "base_url"),
    ("api", "client_id"),
    ("api", "client_id_file"),
    ("watch", "polling"),
)


def merge_reload(old: Settings, new: Settings) -> tuple[Settings, list[str]]:
    """The settings a reload puts in force, and the changed keys that need a restart.

    The restart-only keys (`RESTART_ONLY`) keep their old values; everything
    else comes from `new`.
    """
    data = new.model_dump()
    kept = []
    for section, key in RESTART_ONLY:
        before, after = _part(old, section, key), _part(new, section, key)
        if before == after:
            continue
        kept.append(f"{section}.{key}" if key else section)
        if key:
            data[section][key] = before
        else:
            data[section] = old.model_dump()[section]
    return Settings.model_validate(data), kept


def _part(settings: Settings, section: str, key: str | None) -> object:
    part = getattr(settings, section)
    return part if key is None else getattr(part, key)
