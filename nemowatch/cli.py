"""The `nemowatch` command line: parses it, builds `Settings` once and hands it down.

The command bodies live in `nemowatch.commands`, one module per group; this
module keeps the parser, the global options and what every command shares:
logging, masking, and the way errors end a command.

Global options (`--config`, `-v`, `-q`, and `--json` on the commands that read)
are accepted before or after the command name, as restic's and rclone's are.

Exit codes: 0 success, 1 a job or check failed, 2 usage or configuration
error, 3 could not start (and `status` when no daemon runs), 130 interrupted
(Ctrl-C), 141 the reader of the output went away (`nemowatch status | head -1`).
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, cast

from nemowatch import __version__, config, logsetup, service
from nemowatch.commands import (
    INTERRUPTED,
    Command,
    account,
    configuration,
    daemon,
    jobs,
    offline,
    web,
)
from nemowatch.errors import ConfigError, ExitCode, NemoError, UsageError
from nemowatch.redact import RedactingWriter

#: 128 + SIGINT, what a shell reports for a command stopped by Ctrl-C
#: 128 + SIGPIPE. git and restic do not catch a closed pipe: SIGPIPE ends them and
#: the shell reports 141, which `set -o pipefail` scripts see. Python ignores
#: SIGPIPE, so the write fails instead; ending with the same code keeps the
#: convention (and `| head` in an ordinary pipeline does not look at it).
CLOSED_PIPE = 141

#: the commands that take `--json` (schema 1)
JSON_COMMANDS = ("status", "history", "credits", "doctor")


class Parser(argparse.ArgumentParser):
    """argparse, saying "did you mean ...?" for a mistyped command instead of listing all."""

    def _check_value(self, action: argparse.Action, value: Any) -> None:
        choices = action.choices
        if isinstance(action, argparse._SubParsersAction) and value not in (choices or ()):
            close = difflib.get_close_matches(str(value), list(choices or ()), n=3)
            hint = " or ".join(repr(c) for c in close)
            advice = f"did you mean {hint}?" if close else f"see `{self.prog} --help`"
            raise argparse.ArgumentError(None, f"unknown command {value!r}; {advice}")
        super()._check_value(action, value)


def _command(
    commands: argparse._SubParsersAction[Parser], name: str, text: str, **kwargs: Any
) -> Parser:
    """A command whose help line (in the list) and description (in its --help) are `text`."""
    return commands.add_parser(name, help=text, description=text, **kwargs)


def _parser() -> Parser:
    parser = Parser(
        prog="nemowatch",
        description="Watch-folder daemon for the NemoVideo AI video editor.",
        epilog="Options such as --config, -v and -q go before or after the command's name.",
    )
    parser.add_argument("--version", action="version", version=f"nemowatch {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    # -- the daemon, and the commands that talk to it --------------------------
    _command(commands, "run", "run the daemon in the foreground (what systemd starts)")
    _command(commands, "status", "what the daemon is doing; exit 3 when it does not run")
    _command(commands, "pause", "hold new jobs and steps until `resume` (kept across restarts)")
    _command(commands, "resume", "go on after a pause; check credits and network now")
    cancel = _command(commands, "cancel", "stop a job at its next checkpoint; nothing more is sent")
    cancel.add_argument("job", metavar="ID-or-NAME", help="a job's id or name, as status lists")
    _command(commands, "web", "print the web page's address with a one-time login token")

    # -- jobs ------------------------------------------------------------------
    submit = _command(commands, "submit", "process one job now, in the foreground")
    submit.add_argument("files", nargs="*", type=Path, metavar="FILE", help="video and media")
    how = submit.add_mutually_exclusive_group()
    how.add_argument("-i", "--instructions", metavar="TEXT", help="what to do, as text")
    how.add_argument("-f", "--file", type=Path, help="a .txt file of instructions")
    how.add_argument(
        "--resume",
        nargs="?",
        const="",
        metavar="ID",
        help="finish an interrupted submit (the only one, or ID); never pays twice",
    )
    retry = _command(
        commands, "retry", "put a failed job back in line (it pays again only when asked)"
    )
    retry.add_argument("name", nargs="?", help="the job's folder name in the failed folder")
    retry.add_argument("--all", action="store_true", help="every failed job, never paying again")
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
    history = _command(commands, "history", "past jobs: results, reasons, times, credits")
    history.add_argument("--failed", action="store_true", help="only the failed jobs")
    history.add_argument("--since", type=float, metavar="DAYS", help="only the last DAYS days")
    history.add_argument("--limit", type=int, metavar="N", help="at most N jobs, newest first")

    # -- the account, the setup, the configuration -----------------------------
    _command(commands, "credits", "show the credit balance (every figure with -v)")
    _command(commands, "doctor", "check folders, filesystem, inotify limits, token, disk space")
    cfg = _command(commands, "config", "show, locate or create the configuration")
    cfg_commands = cfg.add_subparsers(dest="action", required=True, metavar="ACTION")
    init = _command(cfg_commands, "init", "write the documented example file")
    init.add_argument("--path", type=Path, help="where to write it (default: the user path)")
    init.add_argument("--force", action="store_true", help="replace an existing file")
    _command(cfg_commands, "show", "print the effective configuration, secrets masked")
    _command(cfg_commands, "path", "say which configuration file is in force")
    service.add_parser(cast("argparse._SubParsersAction[argparse.ArgumentParser]", commands))

    # -- offline ---------------------------------------------------------------
    demo = _command(commands, "demo", "the whole flow offline, on the emulator")
    demo.add_argument("--dir", type=Path, help="keep the demo folders here")
    # The emulator parses its own options (see `nemowatch emulator --help`).
    _command(commands, "emulator", "run the local NemoVideo API emulator", add_help=False)

    _add_global_options(parser, top=True)
    for name, sub in _subparsers(parser):
        if name != "emulator":
            _add_global_options(sub, top=False, json=name in JSON_COMMANDS)
    return parser


def _add_global_options(parser: argparse.ArgumentParser, *, top: bool, json: bool = True) -> None:
    """The options accepted before or after a command's name.

    Below the top, their default is SUPPRESS: an option left out after the
    command does not overwrite the value given before it.
    """
    group = parser.add_argument_group("global options")

    def unset(value: object) -> object:
        return value if top else argparse.SUPPRESS

    group.add_argument(
        "--config", type=Path, metavar="PATH", default=unset(None), help="configuration file to use"
    )
    group.add_argument(
        "-v", "--verbose", action="store_true", default=unset(False), help="log details (DEBUG)"
    )
    group.add_argument(
        "-q", "--quiet", action="store_true", default=unset(False), help="log only warnings"
    )
    if json:
        text = f"print JSON (schema 1): {', '.join(JSON_COMMANDS)}" if top else "print JSON"
        group.add_argument("--json", action="store_true", default=unset(False), help=text)


def _subparsers(parser: argparse.ArgumentParser) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """Every command's parser, nested ones (`config show`) too, by the command's name."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield name, sub
                yield from _subparsers(sub)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; every way it can end becomes an exit code, never a traceback."""
    try:
        code = _main(argv)
        sys.stdout.flush()  # a reader gone away shows here at the latest
        return code
    except KeyboardInterrupt:
        with contextlib.suppress(OSError):
            sys.stderr.write("nemowatch: interrupted\n")
        return INTERRUPTED
    except BrokenPipeError:
        # What is still buffered would fail again at exit: let it go nowhere.
        with contextlib.suppress(OSError, ValueError):  # stdout without a descriptor
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
        return CLOSED_PIPE


def _main(argv: Sequence[str] | None) -> int:
    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    if args.command == "emulator":
        return offline.emulator(extra)
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.verbose and args.quiet:
        parser.error("-v and -q contradict each other: choose one")
    if args.json and args.command not in JSON_COMMANDS:
        parser.error(f"--json: `{args.command}` has no JSON output")
    try:
        loaded = config.load(args.config, os.environ)
    except ConfigError as exc:
        sys.stderr.write(f"nemowatch: {exc}\n")
        return ExitCode.USAGE
    # Started by systemd with stderr on the journal: priorities, no timestamps.
    logsetup.configure(_log_level(args, loaded), journal=bool(os.environ.get("JOURNAL_STREAM")))
    handler = COMMANDS[(args.command, getattr(args, "action", None))]
    # what a command prints is masked like the log: a message may quote a token
    out, err = RedactingWriter(sys.stdout), RedactingWriter(sys.stderr)
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            return handler(args, loaded)
        except UsageError as exc:
            sys.stderr.write(f"nemowatch: {exc}\n")
            return ExitCode.USAGE
        except NemoError as exc:
            sys.stderr.write(f"nemowatch: {exc}\n")
            return ExitCode.FAILED
        except BrokenPipeError:
            raise  # the reader went away: see main()
        except OSError as exc:  # a file or folder the command needed: one sentence
            where = f"{exc.filename}: " if exc.filename else ""
            sys.stderr.write(f"nemowatch: {where}{exc.strerror or exc}\n")
            return ExitCode.FAILED


def _log_level(args: argparse.Namespace, loaded: config.Loaded) -> str:
    """-v and -q decide; without them `run` logs at its configured level, and `credits`,
    whose answer is one line, only warnings."""
    if args.verbose:
        return "DEBUG"
    if args.quiet or args.command == "credits":
        return "WARNING"
    return loaded.settings.logging.level


COMMANDS: dict[tuple[str, str | None], Command] = {
    ("run", None): daemon.run,
    ("status", None): daemon.status,
    ("pause", None): daemon.pause,
    ("resume", None): daemon.resume,
    ("cancel", None): daemon.cancel,
    ("web", None): web.web,
    ("submit", None): jobs.submit,
    ("retry", None): jobs.retry,
    ("history", None): jobs.history,
    ("credits", None): account.credits,
    ("doctor", None): account.doctor,
    ("config", "init"): configuration.init,
    ("config", "show"): configuration.show,
    ("config", "path"): configuration.path,
    ("service", "install"): service.command,
    ("service", "uninstall"): service.command,
    ("demo", None): offline.demo,
}
