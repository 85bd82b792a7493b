"""`nemowatch service install / uninstall`: a systemd unit for this installation.

The checked-in units (`systemd/` in a checkout, `nemowatch/data/systemd/` in a
wheel) are the templates, commented line by line. Installing one rewrites
three lines for the machine at hand: `ExecStart=` runs the Python that runs
this command (a virtualenv, a pipx environment or a system Python alike), with
`--config` when a file is in force; `ReadWritePaths=` lists the configured
folders, created now because the sandbox leaves the home read-only;
`TimeoutStopSec=` follows `jobs.stop_grace_seconds`.
"""

from __future__ import annotations

import argparse
import math
import os
import pwd
import subprocess
import sys
from collections.abc import Callable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any, NamedTuple

from nemowatch import config
from nemowatch.config import Settings
from nemowatch.errors import ExitCode, ServiceError
from nemowatch.fsutil import write_atomic

USER_UNIT, SYSTEM_UNIT = "nemowatch.service", "nemowatch@.service"
SYSTEM_UNIT_DIR = Path("/etc/systemd/system")
#: what TimeoutStopSec= adds to jobs.stop_grace_seconds (journals, exit)
STOP_MARGIN_SECONDS = 10

Runner = Callable[..., subprocess.CompletedProcess[Any]]


def template(name: str) -> str:
    """A checked-in unit's text: packaged in a wheel, in `systemd/` in a checkout."""
    packaged = resources.files("nemowatch") / "data" / "systemd" / name
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    return (Path(__file__).resolve().parent.parent / "systemd" / name).read_text(encoding="utf-8")


class Target(NamedTuple):
    """Where the unit goes, and how systemctl is called and names the service."""

    unit_path: Path
    systemctl: str
    name: str


def _target(
    system: bool, user: str | None, unit_dir: Path | None, environ: Mapping[str, str]
) -> Target:
    if system and not user:
        raise ServiceError("--system needs --as USER, the account the daemon runs as", usage=True)
    if user and not system:
        raise ServiceError("--as USER goes with --system (a --user unit runs as you)", usage=True)
    if system:
        return Target((unit_dir or SYSTEM_UNIT_DIR) / SYSTEM_UNIT, "systemctl", f"nemowatch@{user}")
    base = Path(environ.get("XDG_CONFIG_HOME") or _home(environ) / ".config")
    unit_path = (unit_dir or base / "systemd" / "user") / USER_UNIT
    return Target(unit_path, "systemctl --user", "nemowatch")


def _home(environ: Mapping[str, str]) -> Path:
    return Path(environ.get("HOME") or os.path.expanduser("~"))


def writable_folders(settings: Settings) -> dict[str, Path]:
    """The folders the daemon writes, by role; one inside another is left to its parent."""
    f = settings.folders
    roles = ("inbox", "outbox", "failed folder", "state folder", "work folder", "archive")
    found = (f.inbox, f.outbox, f.failed, f.state_dir, f.work_dir, f.archive_dir)
    paths = dict(zip(roles, found, strict=True))
    paths["NemoVideo client-id folder"] = settings.api.client_id_file.parent
    paths = {role: Path(os.path.abspath(path)) for role, path in paths.items()}
    kept: dict[str, Path] = {}
    for role, path in paths.items():
        covered = any(path != other and path.is_relative_to(other) for other in paths.values())
        if not covered and path not in kept.values():
            kept[role] = path
    return kept


def quote(word: str, *, command: bool = False) -> str:
    """One word of a unit file, kept literal: no specifiers (nor variables in a command)."""
    if "\n" in word:
        raise ServiceError(f"a path with a line break cannot go into a unit: {word!r}")
    word = word.replace("%", "%%")
    if command:
        word = word.replace("$", "$$")
    if any(c.isspace() or c in "\"'\\;" for c in word):
        word = '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return word


def exec_start(config_path: Path | None, python: str = sys.executable) -> str:
    """`ExecStart=`'s value: this interpreter, `-m nemowatch`, the file in force, `run`."""
    if not python:
        raise ServiceError("cannot tell which Python runs nemowatch (sys.executable is empty)")
    words = [python, "-m", "nemowatch"]
    if config_path is not None:
        words += ["--config", os.path.abspath(config_path)]
    return " ".join(quote(word, command=True) for word in [*words, "run"])


def python_kind(prefix: str = sys.prefix, base_prefix: str = sys.base_prefix) -> str:
    if prefix == base_prefix:
        return f"the Python in {prefix} (no virtual environment)"
    if "pipx" in Path(prefix).parts:
        return f"the pipx environment {prefix}"
    return f"the virtual environment {prefix}"


def render(text: str, command: str, folders: Mapping[str, Path], stop_grace: float) -> str:
    """The template with this installation's ExecStart, folders and stop timeout."""
    out = ["# Written by `nemowatch service install`; run it again after changing folders."]
    for line in text.splitlines():
        key = line.partition("=")[0]
        if key == "ExecStart":
            out.append(f"ExecStart={command}")
        elif key == "ReadWritePaths":
            for role, path in folders.items():
                out += [f"# the {role}", f"ReadWritePaths=-{quote(str(path))}"]
        elif key == "TimeoutStopSec":
            out.append(f"TimeoutStopSec={math.ceil(stop_grace) + STOP_MARGIN_SECONDS}s")
        else:
            out.append(line)
    return "\n".join(out) + "\n"


def _make_folder(path: Path, owner: tuple[int, int] | None, notes: list[str]) -> bool:
    """Create `path` and its missing parents (owned by `owner`); True if any was missing."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    try:
        for p in reversed(missing):
            p.mkdir(mode=0o700, exist_ok=True)
            if owner is not None:
                os.chown(p, *owner)
    except OSError as exc:
        notes.append(f"could not create {path} ({exc.strerror}): create it before starting")
    return bool(missing)


def _rebase(path: Path, old: Path, new: Path) -> Path:
    return new / path.relative_to(old) if path.is_relative_to(old) else path


def _systemctl(target: Target, args: str, run: Runner) -> str | None:
    """Run systemctl; the reason when it failed, None when it worked."""
    command = f"{target.systemctl} {args}"
    try:
        done = run(command.split(), check=False, capture_output=True, text=True)
    except OSError as exc:
        return f"`{command}` could not run: {exc.strerror}"
    return f"`{command}` failed: {str(done.stderr).strip()}" if done.returncode else None


def _is_booted(booted: bool | None) -> bool:
    return Path("/run/systemd/system").exists() if booted is None else booted


def install(
    settings: Settings,
    config_path: Path | None,
    *,
    system: bool,
    user: str | None,
    unit_dir: Path | None = None,
    run: Runner = subprocess.run,
    booted: bool | None = None,
    environ: Mapping[str, str] = os.environ,
) -> str:
    """Write the unit for this installation, create its folders, reload systemd.

    Args:
        settings, config_path: the configuration in force and its file (None: defaults).
        system, user: a system template unit run as `user`, or (False, None) a user unit.
        unit_dir: write the unit here instead of the standard folder (tests).
        run, booted, environ: systemctl runner; whether systemd runs (None: look
            at /run/systemd/system); HOME and XDG_CONFIG_HOME.

    Returns:
        What was done, ending with the command that starts the service.

    Raises:
        ServiceError: a usage error (`usage` set), or the unit could not be written.
    """
    target, notes = _target(system, user, unit_dir, environ), []
    folders, owner = writable_folders(settings), None
    if user is not None:
        try:
            account = pwd.getpwnam(user)
        except KeyError:
            raise ServiceError(
                f"there is no account {user!r} on this machine", usage=True
            ) from None
        if account.pw_uid != os.getuid():  # the settings are yours: move them to user's home
            old, new = _home(environ), Path(account.pw_dir)
            folders = {role: _rebase(path, old, new) for role, path in folders.items()}
            owner = (account.pw_uid, account.pw_gid)
            notes.append(f"paths in your home ({old}) became {user}'s ({new})")
            if Path(sys.executable).is_relative_to(old):
                notes.append(f"{sys.executable} is in your home: can {user} run it?")
            if config_path is not None:
                config_path = _rebase(Path(os.path.abspath(config_path)), old, new)
                if not config_path.is_file():
                    notes.append(f"copy your configuration to {config_path} for {user}")
    command = exec_start(config_path)
    created = [path for path in folders.values() if _make_folder(path, owner, notes)]
    paths = [str(path) for path in [*folders.values(), config_path] if path]
    in_tmp = [path for path in paths if path.startswith(("/tmp/", "/var/tmp/"))]
    if in_tmp:
        notes.append(f"the service has a /tmp of its own (PrivateTmp=): {', '.join(in_tmp)}")
    text = template(SYSTEM_UNIT if system else USER_UNIT)
    unit = render(text, command, folders, settings.jobs.stop_grace_seconds)
    try:
        write_atomic(target.unit_path, unit.encode("utf-8"), mode=0o644)
    except OSError as exc:
        hint = " (a system unit needs root: use sudo)" if system else ""
        raise ServiceError(f"cannot write {target.unit_path}: {exc.strerror}{hint}") from exc
    lines = [
        f"wrote {target.unit_path}",
        f"  runs:     {command}",
        f"  python:   {python_kind()}",
        f"  config:   {config_path or 'none, the built-in defaults'}",
        *(f"  writes:   {path}  ({role})" for role, path in folders.items()),
        *(f"  created:  {path}" for path in created),
        *(f"note: {note}" for note in notes),
    ]
    start = f"  {target.systemctl} enable --now {target.name}"
    if not _is_booted(booted):
        return "\n".join(
            [*lines, "systemd is not running here; where it runs, do:"]
            + [f"  {target.systemctl} daemon-reload", start]
        )
    error = _systemctl(target, "daemon-reload", run)
    if error:
        raise ServiceError(f"{error}\nthe unit is written: run `{target.systemctl} daemon-reload`")
    when = "at boot" if system else "at login (and at boot after `loginctl enable-linger`)"
    return "\n".join([*lines, f"systemd has re-read its units. Start it now and {when}:", start])


def uninstall(
    *,
    system: bool,
    user: str | None,
    unit_dir: Path | None = None,
    run: Runner = subprocess.run,
    booted: bool | None = None,
    environ: Mapping[str, str] = os.environ,
) -> str:
    """Stop and disable the service, remove its unit, reload systemd. Idempotent.

    The arguments are install()'s. Without systemd running the unit is still
    disabled (systemctl does that offline) and removed; the text says what to run.
    """
    target = _target(system, user, unit_dir, environ)
    if not target.unit_path.exists():
        return f"no unit at {target.unit_path}: nothing to remove"
    running = _is_booted(booted)
    error = _systemctl(target, f"disable {'--now ' if running else ''}{target.name}", run)
    try:
        target.unit_path.unlink(missing_ok=True)
    except OSError as exc:
        raise ServiceError(f"cannot remove {target.unit_path}: {exc.strerror}") from exc
    lines = [f"{'stopped, ' if running else ''}disabled and removed {target.unit_path}"]
    lines += [f"note: {error}"] if error else []
    lines += ["note: every nemowatch@ instance used that file"] if system else []
    if not running:
        return "\n".join(
            [*lines, "systemd is not running here; where it runs, do:"]
            + [f"  {target.systemctl} daemon-reload"]
        )
    error = _systemctl(target, "daemon-reload", run)
    return "\n".join([*lines, f"note: {error}" if error else "systemd has re-read its units"])


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `service install|uninstall [--user | --system --as USER]` to the command line."""
    service = commands.add_parser("service", help="install or remove the systemd unit")
    actions = service.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, text in (
        ("install", "write the unit for this installation (interpreter, config, folders)"),
        ("uninstall", "stop, disable and remove the unit"),
    ):
        parser = actions.add_parser(name, help=text, description=text)
        kind = parser.add_mutually_exclusive_group()
        kind.add_argument("--user", dest="system", action="store_false", help="a user unit")
        kind.add_argument("--system", dest="system", action="store_true", help="nemowatch@USER")
        parser.add_argument("--as", dest="as_user", metavar="USER", help="with --system: run as")
        parser.set_defaults(system=False)


def command(args: argparse.Namespace, loaded: config.Loaded) -> int:
    """The `service` command: 0 done, 1 failed, 2 usage error."""
    try:
        if args.action == "install":
            text = install(loaded.settings, loaded.path, system=args.system, user=args.as_user)
        else:
            text = uninstall(system=args.system, user=args.as_user)
    except ServiceError as exc:
        sys.stderr.write(f"nemowatch: {exc}\n")
        return ExitCode.USAGE if exc.usage else ExitCode.FAILED
    sys.stdout.write(text + "\n")
    return ExitCode.OK
