"""The sections of the settings tree: typed, bounded, checked field by field.

`config.py` assembles them into `Settings` and finds and reads the file; a
section is what a part of the daemon is handed (`JobSettings` for the
pipeline, `WatchSettings` for the inbox rules, ...).
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Iterable
from itertools import combinations, permutations
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SecretStr, field_validator
from pydantic.functional_validators import model_validator
from pydantic_core import PydanticCustomError

from nemowatch import __version__

#: one step of a written duration: "90s", "1.5h", "500ms"; "1h30m" chains steps
DURATION_STEP = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m|h|d|w)", re.IGNORECASE)
UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def duration_in(unit: float) -> BeforeValidator:
    """Accept a duration as a number in the field's unit or as text such as "15m".

    `unit` is the field's unit in seconds (1, 60 or 86400). A bare number, or
    text that is one, stays in the field's unit: `credit_check_minutes = 10`
    still means ten minutes. The bounds are checked afterwards, on the result.
    """

    def convert(value: object) -> object:
        if not isinstance(value, str):
            return value
        text = value.strip()
        try:
            float(text)
        except ValueError:
            pass
        else:
            return text  # a number (or inf/nan, refused by the field's own check)
        steps = DURATION_STEP.findall(text)
        if not steps or DURATION_STEP.sub("", text).strip():
            raise ValueError(
                'must be a number or a duration such as "90s", "15m", "2h", "1d" or "1h30m"'
            )
        seconds = sum(float(n) * UNIT_SECONDS[u.lower()] for n, u in steps)
        return seconds / unit

    return BeforeValidator(convert)


#: durations: a number in the field's unit, or text with units ("90s", "15m", "2h", "1d")
Seconds = Annotated[float, duration_in(1)]
Minutes = Annotated[float, duration_in(60)]
Days = Annotated[float, duration_in(86400)]

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


def _clock_time(value: str) -> str:
    """ "" or "HH:MM" (24-hour, local time)."""
    if value and not _is_hhmm(value):
        raise ValueError('must be a time of day as "HH:MM" (24-hour), or ""')
    return value


def _window(value: str) -> str:
    """ "" or "HH:MM-HH:MM" (local time; a window may run across midnight)."""
    start, dash, end = value.partition("-")
    if value and not (dash and _is_hhmm(start.strip()) and _is_hhmm(end.strip())):
        raise ValueError('must be a window of local time as "22:00-07:00", or ""')
    if value and start.strip() == end.strip():
        raise ValueError("the window starts and ends at the same time")
    return value


def _is_hhmm(text: str) -> bool:
    hours, colon, minutes = text.partition(":")
    if not (colon and hours.isdigit() and minutes.isdigit() and len(minutes) == 2):
        return False
    return 0 <= int(hours) <= 23 and 0 <= int(minutes) <= 59


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
    #: results, reports and archived originals readable and writable by the group
    group_writable: bool = False

    _expand_paths = field_validator(
        "inbox", "outbox", "failed", "work", "archive", "state", mode="after"
    )(_expand)

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
    #: while a folder is full or unwritable (the condition "disk"), look again this often
    disk_check_seconds: Seconds = bounded(30, least=0.1)
    #: how often the inbox, outbox and failed folder are checked to be there
    folder_check_seconds: Seconds = bounded(5, least=0.1)
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
    credit_check_minutes: Minutes = bounded(10, above=True, most=WEEK / 60)
    retries: int = Field(4, ge=0, le=100)
    after_success: Literal["archive", "keep", "delete"] = "archive"
    write_report: bool = True
    #: a job fails for the network only once it was away this long (0: never)
    network_give_up_minutes: Minutes = bounded(0, most=WEEK / 60)
    #: one job's own 5xx/429/timeouts: keep trying this long, then fail at that safe step
    transient_give_up_minutes: Minutes = bounded(60, most=WEEK / 60)
    stop_grace_seconds: Seconds = bounded(20)
    keep_originals_days: Days = bounded(0, most=36500)
    keep_failed_days: Days = bounded(0, most=36500)
    refine_days: Days = bounded(7, most=36500)
    #: the duplicate guard's window (0: off)
    duplicate_days: Days = bounded(30, most=36500)
    turn_cost_estimate: int = Field(50, ge=0, le=1_000_000)
    #: 0: no budget
    daily_credit_budget: int = Field(0, ge=0, le=1_000_000_000)
    #: "22:00-07:00", local time; "" = any time
    work_hours: str = ""

    _hours = field_validator("work_hours")(_window)


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


#: what a notification is sent for
NotifyEvent = Literal["delivered", "failed", "held", "paused", "resumed", "credits_low", "summary"]
DEFAULT_EVENTS: list[NotifyEvent] = ["delivered", "failed", "held", "paused", "resumed"]


class HistorySettings(Section):
    keep_days: Days = bounded(365, most=36500)


class NotifySettings(Section):
    #: Apprise URLs (the optional extra `nemowatch[notify]`); masked wherever shown
    urls: list[SecretStr] = Field(default_factory=list)
    #: run for each event, the event as JSON on stdin
    command: str = ""
    events: list[NotifyEvent] = Field(default_factory=lambda: list(DEFAULT_EVENTS))
    quiet_hours: str = ""
    summary_at: str = ""
    #: how long one message (or the command) may take before it is given up
    timeout_seconds: Seconds = bounded(30, above=True, most=3600)

    _hours = field_validator("quiet_hours")(_window)
    _at = field_validator("summary_at")(_clock_time)


class WebSettings(Section):
    listen: str = "127.0.0.1:8686"
    password: SecretStr = SecretStr("")
    public_url: str = ""
    metrics_token: SecretStr = SecretStr("")


#: the archive's default name in the outbox: a preset of that name would share it
RESERVED_PRESET_NAMES = {"originals"}


def preset_problems(names: Iterable[str]) -> list[str]:
    """Why preset names cannot be folder names in the inbox (empty: they can)."""
    found: list[str] = []
    seen: dict[str, str] = {}
    for name in names:
        where = f"presets.{name}"
        if not name.strip() or name != name.strip():
            found.append(f"{where}: a preset's name is a folder name, without spaces around it")
        elif "/" in name or "\0" in name or name in {".", ".."}:
            found.append(f"{where}: a preset's name is one folder name, not a path")
        elif name.startswith("."):
            found.append(f"{where}: a preset's name may not be hidden (start with a dot)")
        elif name.casefold() in RESERVED_PRESET_NAMES:
            found.append(f"{where}: 'originals' is the archive's folder in the outbox")
        elif len(name.encode()) > 200:
            found.append(f"{where}: a preset's name is at most 200 bytes")
        key = unicodedata.normalize("NFC", name).casefold()
        if key in seen:
            found.append(f"{where}: the same folder name as presets.{seen[key]} (case aside)")
        seen.setdefault(key, name)
    return found


class PresetSettings(Section):
    """`[presets.NAME]`: a hot folder `<inbox>/NAME/` and what its jobs run with."""

    instructions: str
    quality: str | None = None
    format: str | None = None
    language: str | None = None
    after_success: Literal["archive", "keep", "delete"] | None = None

    @field_validator("instructions")
    @classmethod
    def _said(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("a preset's instructions say what to do with its videos")
        return value
