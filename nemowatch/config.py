"""The settings tree, where the configuration file is looked up, and overrides.

Precedence, highest first: `NEMOWATCH_<SECTION>__<KEY>` variables, the
official `NEMO_TOKEN` / `NEMO_API_URL` / `NEMO_WEB_URL` / `NEMO_CLIENT_ID`
variables, the configuration file, the built-in defaults.

Only `cli.py` calls `load()`; everything else is handed `Settings` or the
section it needs.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_core import PydanticCustomError
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
    preset_problems,
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
    "MissingConfigError",
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

    @field_validator("presets")
    @classmethod
    def _preset_names(cls, value: dict[str, PresetSettings]) -> dict[str, PresetSettings]:
        found = preset_problems(value)
        if found:  # one error; _problems() splits it into its lines again
            raise PydanticCustomError("presets", "{text}", {"text": "\n".join(found)})
        return value

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


class MissingConfigError(ConfigError):
    """The file named by `--config` or `$NEMOWATCH_CONFIG` is not there: missing, not invalid."""

    def __init__(self, path: Path, origin: str) -> None:
        super().__init__(str(path), [f"the file named by {origin} does not exist"])
        self.sentence = (
            f"the configuration file {path} (named by {origin}) does not exist; "
            f"create it with `nemowatch config init --path {path}`, or name another file"
        )

    def __str__(self) -> str:
        return self.sentence


def _must_exist(path: Path, origin: str) -> Path:
    path = Path(os.path.expanduser(path))
    if path.is_dir():
        raise ConfigError(str(path), [f"named by {origin}, it is a folder, not a file"])
    if not path.is_file():
        raise MissingConfigError(path, origin)
    return path


def load(explicit: Path | None = None, environ: Mapping[str, str] | None = None) -> Loaded:
    """Find, read and validate the configuration; every problem becomes a ConfigError.

    `environ` is only used to say which variable a wrong override came from
    (the overrides themselves are read by pydantic-settings, from `os.environ`).
    """
    environ = os.environ if environ is None else environ
    path, origin = find_config(explicit, environ)
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
        problems, from_env, from_file = _problems(exc, environ)
        places = [source] if from_file or not from_env else []
        raise ConfigError(" and ".join(places + ["the environment"] * from_env), problems) from exc
    folders = settings.folders
    folders.work, folders.archive = folders.work_dir, folders.archive_dir
    return Loaded(settings, path, origin)


def _problems(exc: ValidationError, environ: Mapping[str, str]) -> tuple[list[str], bool, bool]:
    """Every problem as a line, and whether any came from the environment, from the file."""
    problems: list[str] = []
    from_env = from_file = False
    for err in exc.errors():
        loc = tuple(str(part) for part in err["loc"])
        where = ".".join(loc) or "(top level)"
        if err["type"] == "presets":  # preset_problems(): each one names its preset
            problems += str(err["ctx"]["text"]).split("\n")
            from_file = True
            continue
        if err["type"] == "folders":  # folder_problems(): each one names its keys
            problems += str(err["ctx"]["text"]).split("\n")
            from_env |= any(name.upper().startswith("NEMOWATCH_FOLDERS") for name in environ)
            from_file = True
            continue
        variable = override_of(loc, environ)
        from_env |= variable is not None
        from_file |= variable is None
        if variable is not None:
            where = f"{variable} (sets {where})"
        if err["type"] == "extra_forbidden":
            problems.append(f"{where}: unknown key (check its spelling and section)")
            continue
        got = err.get("input")
        shown = "" if isinstance(got, dict | SecretStr) or "token" in where else f" (got {got!r})"
        message = err["msg"].removeprefix("Value error, ")
        problems.append(f"{where}: {message}{shown}")
    return problems, from_env, from_file


def override_of(loc: tuple[str, ...], environ: Mapping[str, str]) -> str | None:
    """The environment variable that set the key at `loc`, if one did.

    By the precedence of the sources: `NEMOWATCH_<SECTION>__<KEY>` (matched
    without regard to case, as pydantic-settings does), or a whole section as
    JSON in `NEMOWATCH_<SECTION>` that holds the key; then the official
    `NEMO_*` variable of an `[api]` key.
    """
    names = {name.upper(): name for name in environ}
    for depth in range(len(loc), 0, -1):
        name = names.get("NEMOWATCH_" + "__".join(loc[:depth]).upper())
        if name is not None and (depth == len(loc) or _holds(environ[name], loc[depth:])):
            return name
    if len(loc) == 2 and loc[0] == "api":
        for variable, key in OFFICIAL_VARIABLES.items():
            if key == loc[1] and environ.get(variable):
                return variable
    return None


def _holds(text: str, path: tuple[str, ...]) -> bool:
    """Whether `text`, a JSON object, has a value at `path`."""
    try:
        value: Any = json.loads(text)
    except ValueError:
        return False
    for part in path:
        if not isinstance(value, dict) or part not in value:
            return False
        value = value[part]
    return True


def masked_dump(settings: Settings) -> dict[str, Any]:
    """The effective configuration as plain TOML-able data, secrets masked."""
    data = settings.model_dump(mode="json")
    token = settings.api.token.get_secret_value()
    data["api"]["token"] = mask_secret(token)
    from nemowatch.notify.urls import masked_urls  # Apprise is imported only when present

    data["notify"]["urls"] = masked_urls(settings.notify)
    for key in ("password", "metrics_token"):
        data["web"][key] = mask_secret(getattr(settings.web, key).get_secret_value())
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
