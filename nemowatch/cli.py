"""The `nemowatch` command: builds `Settings` once and hands it down.

Exit codes: 0 success, 1 a job or check failed, 2 usage or configuration
error, 3 could not start.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import tomli_w

from nemowatch import __version__, config, logsetup, service
from nemowatch.errors import AlreadyRunningError, ConfigError, ExitCode, NemoError, UsageError
from nemowatch.redact import RedactingWriter

Command = Callable[[argparse.Namespace, config.Loaded], int]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nemowatch",
        description="Watch-folder daemon for the NemoVideo AI video editor.",
    )
    parser.add_argument("--version", action="version", version=f"nemowatch {__version__}")
    parser.add_argument("--config", type=Path, help="configuration file to use")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    cfg = commands.add_parser("config", help="show, locate or create the configuration")
    cfg_commands = cfg.add_subparsers(dest="action", required=True, metavar="ACTION")
    init = cfg_commands.add_parser("init", help="write the documented example file")
    init.add_argument("--path", type=Path, help="where to write it (default: the user path)")
    init.add_argument("--force", action="store_true", help="replace an existing file")
    cfg_commands.add_parser("show", help="print the effective configuration, secrets masked")
    cfg_commands.add_parser("path", help="say which configuration file is in force")

    commands.add_parser("credits", help="show the credit balance")
    commands.add_parser("run", help="run the daemon in the foreground")
    commands.add_parser("status", help="what the daemon is doing, waiting and failed jobs")
    submit = commands.add_parser("submit", help="process one job now, in the foreground")
    submit.add_argument("files", nargs="+", type=Path, metavar="FILE", help="video and media")
    how = submit.add_mutually_exclusive_group(required=True)
    how.add_argument("-i", "--instructions", help="what to do, as text")
    how.add_argument("-f", "--file", type=Path, help="a .txt file of instructions")
    retry = commands.add_parser(
        "retry", help="put a failed job back in line (it pays again only when asked)"
    )
    retry.add_argument("name", help="the job's folder name in the failed folder")
    again = retry.add_mutually_exclusive_group()
    again.add_argument(
        "--resend",
        action="store_true",
        help="send the unanswered turn once more in the same session (pays for it again)",
    )
    again.add_argument(
        "--start-over",
        action="store_true",
        help="start a new session and send every turn again (pays for every turn again)",
    )
    retry.add_argument(
        "--yes", action="store_true", help="pay again without asking (needed without a terminal)"
    )
    commands.add_parser(
        "doctor", help="check folders, filesystem, inotify limits, token and disk space"
    )
    service.add_parser(commands)
    demo = commands.add_parser("demo", help="the whole flow offline, on the emulator")
    demo.add_argument("--dir", type=Path, help="keep the demo folders here")

    # The emulator parses its own options (see `nemowatch emulator --help`).
    commands.add_parser("emulator", help="run the local NemoVideo API emulator", add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    if args.command == "emulator":
        return _emulator(extra)
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        loaded = config.load(args.config)
    except ConfigError as exc:
        print(f"nemowatch: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    # Started by systemd with stderr on the journal: priorities, no timestamps.
    logsetup.configure(
        loaded.settings.logging.level, journal=bool(os.environ.get("JOURNAL_STREAM"))
    )
    handler = COMMANDS[(args.command, getattr(args, "action", None))]
    # what a command prints is masked like the log: a message may quote a token
    out, err = RedactingWriter(sys.stdout), RedactingWriter(sys.stderr)
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            return handler(args, loaded)
        except NemoError as exc:
            print(f"nemowatch: {exc}", file=sys.stderr)
            return ExitCode.FAILED


def _config_init(args: argparse.Namespace, loaded: config.Loaded) -> int:
    target = args.path or config.user_config_path(os.environ)
    if target.exists() and not args.force:
        print(f"nemowatch: {target} exists already; use --force to replace it", file=sys.stderr)
        return ExitCode.USAGE
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(config.example_path(), target)
    print(f"wrote {target}")
    return ExitCode.OK


def _config_show(args: argparse.Namespace, loaded: config.Loaded) -> int:
    print(f"# from {loaded.path or 'the built-in defaults'} ({loaded.origin})")
    print(tomli_w.dumps(config.masked_dump(loaded.settings)), end="")
    return ExitCode.OK


def _config_path(args: argparse.Namespace, loaded: config.Loaded) -> int:
    if loaded.path is None:
        print("none: using the built-in defaults")
    else:
        print(f"{loaded.path} ({loaded.origin})")
    return ExitCode.OK


def _credits(args: argparse.Namespace, loaded: config.Loaded) -> int:
    from nemowatch.api import open_client

    async def balance() -> str:
        async with open_client(loaded.settings) as client:
            c = await client.credits()
        return f"available {c.available:g}, frozen {c.frozen:g}, total {c.total:g}"

    print(asyncio.run(balance()))
    return ExitCode.OK


def _emulator(argv: list[str]) -> int:
    try:
        from nemowatch.emulator.server import main as emulator_main
    except ImportError as exc:
        print(
            f"nemowatch: the emulator needs the 'emulator' extra "
            f"(pip install 'nemowatch[emulator]'): {exc}",
            file=sys.stderr,
        )
        return ExitCode.START
    return emulator_main(argv)


def _run(args: argparse.Namespace, loaded: config.Loaded) -> int:
    from nemowatch.api import open_client
    from nemowatch.daemon import Daemon
    from nemowatch.systemd import Notifier

    notifier = Notifier(os.environ.get("NOTIFY_SOCKET"), _watchdog_usec(os.environ))

    def reload() -> config.Settings:
        return config.load(args.config).settings  # SIGHUP: the same lookup as at start

    async def serve() -> int:
        async with open_client(loaded.settings) as client:
            daemon = Daemon(loaded.settings, client, notifier=notifier, reload=reload)
            return await daemon.serve()

    try:
        return asyncio.run(serve())
    except AlreadyRunningError as exc:
        print(f"nemowatch: could not start: {exc}", file=sys.stderr)
        return ExitCode.START
    except OSError as exc:
        print(f"nemowatch: could not start: {exc}", file=sys.stderr)
        return ExitCode.START


def _watchdog_usec(environ: Mapping[str, str]) -> int | None:
    """systemd's watchdog interval, when it is meant for this process."""
    usec, pid = environ.get("WATCHDOG_USEC", ""), environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or (pid.isdigit() and int(pid) != os.getpid()):
        return None
    return int(usec)


def _status(args: argparse.Namespace, loaded: config.Loaded) -> int:
    from nemowatch import status

    print(status.render(loaded.settings))
    return ExitCode.OK


def _submit(args: argparse.Namespace, loaded: config.Loaded) -> int:
    from nemowatch.jobs.checks import read_instructions
    from nemowatch.jobs.context import Outcome
    from nemowatch.submit import submit

    text = args.instructions if args.instructions is not None else read_instructions(args.file)
    outcome, said = asyncio.run(submit(loaded.settings, list(args.files), text))
    print(said)
    return ExitCode.OK if outcome is Outcome.DONE else ExitCode.FAILED


def _retry(args: argparse.Namespace, loaded: config.Loaded) -> int:
    from nemowatch.retry import Mode, retry

    mode = Mode.RESEND if args.resend else Mode.START_OVER if args.start_over else Mode.RESUME
    try:
        done = retry(
            loaded.settings, args.name, mode, lambda cost: _confirm_payment(cost, yes=args.yes)
        )
    except UsageError as exc:
        print(f"nemowatch: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    if done is None:
        print("nemowatch: not confirmed; nothing was sent and nothing was changed", file=sys.stderr)
        return ExitCode.FAILED
    print(done)
    return ExitCode.OK


def _confirm_payment(cost: str, *, yes: bool) -> bool:
    """Say what paying again costs, then take `--yes` or ask on the terminal.

    Without a terminal nobody can answer: a script must say `--yes` itself.
    """
    print(cost)
    if yes:
        return True
    if not sys.stdin.isatty():
        raise UsageError(
            "this pays again and there is no terminal to ask on: add --yes to confirm "
            "(nothing was changed)"
        )
    print("Pay again? [y/N] ", end="", flush=True)
    return sys.stdin.readline().strip().lower() in {"y", "yes"}


def _demo(args: argparse.Namespace, loaded: config.Loaded) -> int:
    from nemowatch.demo import run_demo
    from nemowatch.jobs import events

    ended = run_demo(loaded.settings, args.dir)
    if isinstance(ended, events.Failed):
        print(f"nemowatch: the demo job failed: {ended.message}", file=sys.stderr)
        return ExitCode.FAILED
    print(f"video:    {ended.result}")
    print(f"report:   {ended.report}")
    if ended.report:
        print()
        print(Path(ended.report).read_text(encoding="utf-8"), end="")
    return ExitCode.OK


def _doctor(args: argparse.Namespace, loaded: config.Loaded) -> int:
    from nemowatch import doctor

    return doctor.command(args, loaded)


COMMANDS: dict[tuple[str, str | None], Command] = {
    ("config", "init"): _config_init,
    ("config", "show"): _config_show,
    ("config", "path"): _config_path,
    ("credits", None): _credits,
    ("run", None): _run,
    ("status", None): _status,
    ("submit", None): _submit,
    ("retry", None): _retry,
    ("demo", None): _demo,
    ("doctor", None): _doctor,
    ("service", "install"): service.command,
    ("service", "uninstall"): service.command,
}
