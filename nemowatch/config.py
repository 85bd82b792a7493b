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
from itertools import combinations, permutations
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic.functional_validators import model_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from nemowatch import __version__
from nemowatch.errors import ConfigError

Seconds = float

#: the longest duration a setting may hold: longer is a typo, and some would not
#: even fit a timer (`rescan_seconds = 1e12` overflows the scheduler)
WEEK = 7 * 24 * 3600.0
#: (inner, outer): the only folders that may lie inside another, as the defaults do
MAY_NEST = {("work", "inbox"), ("archive", "outbox"), ("failed", "outbox"), ("state", "outbox")}


def bounded(default: float, *, least: float = 0.0, above: bool = False, most: float = WEEK) -> Any:
    """A number field that must be finite, from `least` (excluded when `above`) to `most`."""
    if above:
        return Field(default, allow_inf_nan=False, gt=least, le=most)
    return Field(default, allow_inf_nan=False, ge=least, le=most)


class Section(BaseModel):
    """A section of the file: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", validate_default=True)


def _expand(value: Path | None) -> Path | None:
    return None if value is None else Path(os.path.expanduser(value))


class FolderSettings(Section):
    inbox: Path = Path("~/NemoInbox")
    outbox: Path = Path("~/NemoOutbox")
    failed: Path = Path("~/NemoFailed")
    #: claimed jobs; default `<inbox>/.nemowatch` (must share the inbox's filesystem)
    work: Path | None = None
    #: originals after success; default `<outbox>/originals`
    archive: Path | None = None
    #: token cache, status file, history; default `$XDG_STATE_HOME/nemowatch`
    state: Path | None = None

    _expand_paths = field_validator("*", mode="after")(_expand)

    @property
    def work_dir(self) -> Path:
        return self.work or self.inbox / ".nemowatch"

    @property
    def archive_dir(self) -> Path:
        return self.archive or self.outbox / "originals"

    @property
    def state_dir(self) -> Path:
        if self.state is None:  # filled in by load(); a bare Settings() falls back here
            return Path(os.path.expanduser("~/.local/state/nemowatch"))
        return self.state

    @model_validator(mode="after")
    def _apart(self) -> FolderSettings:
        problems = folder_problems(self)
        if problems:  # one error; _problems() splits it into its lines again
            raise PydanticCustomError("folders", "{text}", {"text": "\n".join(problems)})
        return self


def folder_problems(folders: FolderSettings) -> list[str]:
    """Folders that would lose files or loop: the same folder twice, one inside another
    (but as `MAY_NEST` allows), the root or the home folder itself (which the watcher,
    or pruning the failed and archive folders, would take for their own)."""
    paths = {"inbox": folders.inbox, "work": folders.work_dir, "outbox": folders.outbox}
    paths |= {"failed": folders.failed, "archive": folders.archive_dir, "state": folders.state_dir}
    real = {key: Path(os.path.realpath(path)) for key, path in paths.items()}
    off_limits = {Path("/"): "the root folder", Path.home().resolve(): "your home folder itself"}
    default = {key: ", its default" if getattr(folders, key) is None else "" for key in paths}
    named = {key: f"folders.{key} ({path}{default[key]})" for key, path in paths.items()}
    problems = [f"{named[k]} is {off_limits[p]}" for k, p in real.items() if p in off_limits]
    for one, other in combinations(paths, 2):
        if real[one] == real[other]:
            problems.append(f"{named[one]} and {named[other]} are the same folder")
    for inner, outer in permutations(paths, 2):
        if real[outer] in real[inner].parents and real[outer] not in off_limits:
            if (inner, outer) not in MAY_NEST:
                why = INSIDE_INBOX if outer == "inbox" else INSIDE
                problems.append(f"{named[inner]} is inside {named[outer]}: {why}")
    return problems


#: why a folder may not lie inside another
INSIDE_INBOX = "whatever lands there would be taken for new work"
INSIDE = "only the work folder may be in the inbox, and archive, failed, state in the outbox"

#: names never picked up: hidden files, downloads and copies in progress, and
#: what file managers and NAS boxes leave in every folder
IGNORED: tuple[str, ...] = (".*", "*.part", "*.crdownload", "*.tmp", "*.download", "~$*")
IGNORED += ("Thumbs.db", "desktop.ini", ".DS_Store", "@eaDir", "$RECYCLE.BIN", "#recycle")


class WatchSettings(Section):
    settle_seconds: Seconds = bounded(2.0, least=0.1)
    rescan_seconds: Seconds = bounded(60, least=0.1)
    polling: bool = False
    pair_wait_seconds: Seconds = bounded(10)
    default_instructions: str = ""
    ignore_patterns: list[str] = Field(default_factory=lambda: list(IGNORED))


class ApiSettings(Section):
    base_url: str = "https://mega-api-prod.nemovideo.ai"
    web_url: str = "https://nemovideo.com"
    token: SecretStr = SecretStr("")
    language: str = "en"
    sse_idle_timeout_seconds: Seconds = bounded(600, above=True)
    recovery_first_wait_seconds: Seconds = bounded(30)
    recovery_wait_seconds: Seconds = bounded(60)
    recovery_max_checks: int = Field(5, ge=1, le=1000)
    client_id: str = ""
    client_id_file: Path = Path("~/.config/nemovideo/client_id")
    skill_source: str = "nemowatch"
    skill_version: str = __version__
    skill_platform: str = "nemowatch-linux"
    connect_timeout_seconds: Seconds = bounded(10, above=True)
    read_timeout_seconds: Seconds = bounded(60, above=True)
    retry_base_seconds: Seconds = bounded(1.0)
    retry_max_seconds: Seconds = bounded(60)
    rate_limit_seconds: Seconds = bounded(30)

    _expand_paths = field_validator("client_id_file", mode="after")(_expand)

    @field_validator("base_url", "web_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")


class JobSettings(Section):
    max_parallel: int = Field(2, ge=1, le=64)
    max_parallel_uploads: int = Field(1, ge=1, le=64)
    max_file_mb: float = bounded(500, above=True, most=1024 * 1024)
    min_credits: int = Field(50, ge=0)
    credit_check_minutes: float = bounded(10, above=True, most=WEEK / 60)
    retries: int = Field(4, ge=0, le=100)
    after_success: Literal["archive", "keep", "delete"] = "archive"
    write_report: bool = True
    #: a job fails for the network only once it was away this long (0: never)
    network_give_up_minutes: float = bounded(0, most=WEEK / 60)
    #: one job's own 5xx/429/timeouts: keep trying this long, then fail at that safe step
    transient_give_up_minutes: float = bounded(60, most=WEEK / 60)
    stop_grace_seconds: Seconds = bounded(20)
    keep_originals_days: float = bounded(0, most=36500)
    keep_failed_days: float = bounded(0, most=36500)


class ExportSettings(Section):
    format: str = "mp4"
    quality: str = "high"
    poll_first_seconds: Seconds = bounded(2.0, above=True)
    poll_max_seconds: Seconds = bounded(30.0, above=True)
    state_settle_seconds: Seconds = bounded(5.0)
    timeout_seconds: Seconds = bounded(900, above=True)


class LoggingSettings(Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value


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
