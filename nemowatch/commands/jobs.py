"""The commands about jobs: `submit` one now, `retry` a failed one, read the `history`."""

from __future__ import annotations

import argparse
import asyncio
import shlex
import sys
from pathlib import Path

from nemowatch import config
from nemowatch.commands import INTERRUPTED, complain, say
from nemowatch.errors import ExitCode, UsageError


def submit(args: argparse.Namespace, loaded: config.Loaded) -> int:
    """One job in the foreground; `--resume [ID]` takes up one that was interrupted.

    Ctrl-C stops the job at a checkpoint and exits 130 with the command that
    finishes it; that command pays for nothing already sent.
    """
    from nemowatch import submit
    from nemowatch.jobs.context import Outcome

    if args.resume is not None:
        if args.files or args.instructions is not None or args.file is not None:
            raise UsageError("--resume takes up a job as it was sent: give no files or text")
        ended = asyncio.run(submit.resume(loaded.settings, args.resume or None))
    else:
        ended = asyncio.run(submit.submit(loaded.settings, *_what_to_submit(args)))
    if not ended.unfinished:
        say(ended.text)
        return ExitCode.OK if ended.outcome is Outcome.DONE else ExitCode.FAILED
    again = ["nemowatch", "submit", "--resume", ended.job_id]
    if args.config is not None:
        again[1:1] = ["--config", str(args.config)]
    hint = f"to finish it (what was sent is not paid again):\n  {shlex.join(again)}\n"
    if ended.outcome is not Outcome.STOPPED:
        complain(ended.text)
        sys.stderr.write(hint)
        return ExitCode.FAILED
    sys.stderr.write(f"{ended.text}; {hint}nemowatch: interrupted\n")
    return INTERRUPTED


def _what_to_submit(args: argparse.Namespace) -> tuple[list[Path], str]:
    """The files and the instructions, checked before anything is created or sent."""
    from nemowatch.jobs.checks import read_instructions

    files: list[Path] = list(args.files)
    if not files or (args.instructions is None) == (args.file is None):
        raise UsageError("name the video (and more media) and give -i TEXT or -f FILE")
    for path in files + ([args.file] if args.file is not None else []):
        _must_be_a_file(path)
    text = args.instructions if args.instructions is not None else read_instructions(args.file)
    return files, text


def _must_be_a_file(path: Path) -> None:
    """Refuse a name given by mistake before anything is created or sent."""
    if path.is_dir():
        raise UsageError(f"{path} is a folder; name the files in it")
    if not path.exists():
        raise UsageError(f"{path} does not exist; check the name (nothing was sent)")


def retry(args: argparse.Namespace, loaded: config.Loaded) -> int:
    """Put a failed job (or, with `--all`, every one) back in line. A running daemon
    does it and takes the job at once; without one the files are put back here."""
    from nemowatch.retry import Mode, cost_of, retry, retry_all
    from nemowatch.status import running_daemon

    settings = loaded.settings
    if args.all == (args.name is not None):
        raise UsageError("name one failed job, or say --all (as `nemowatch status` lists them)")
    mode = Mode.RESEND if args.resend else Mode.START_OVER if args.start_over else Mode.RESUME
    if args.all and mode is not Mode.RESUME:
        raise UsageError("--all never pays again: resend or start over one job at a time")
    cost = None if args.all else cost_of(settings, args.name, mode)
    if cost is not None and not confirm_payment(cost, yes=args.yes):
        complain("not confirmed; nothing was sent and nothing was changed")
        return ExitCode.FAILED
    done = None
    if running_daemon(settings) is not None:
        from nemowatch.commands.daemon import daemon_client
        from nemowatch.errors import DaemonNotRunningError
        from nemowatch.web.control import RetryHow

        how: RetryHow = "resend" if args.resend else "start-over" if args.start_over else ""
        try:
            with daemon_client(settings) as client:
                done = client.retry_all() if args.all else client.retry(args.name, how)
        except DaemonNotRunningError as exc:  # its socket is off: the files, as without it
            complain(f"{exc}; putting the files back here (taken at the next rescan)")
    if done is None:
        done = retry_all(settings) if args.all else retry(settings, args.name, mode, _yes)
    say(done or "nothing was changed")
    return ExitCode.OK


def _yes(cost: str) -> bool:
    return True  # asked above, before anything changed


def confirm_payment(cost: str, *, yes: bool) -> bool:
    """Say what paying again costs, then take `--yes` or ask on the terminal.

    Without a terminal nobody can answer: a script must say `--yes` itself.
    """
    say(cost)
    if yes:
        return True
    if not sys.stdin.isatty():
        raise UsageError(
            "this pays again and there is no terminal to ask on: add --yes to confirm "
            "(nothing was changed)"
        )
    sys.stdout.write("Pay again? [y/N] ")
    sys.stdout.flush()
    return sys.stdin.readline().strip().lower() in {"y", "yes"}


def history(args: argparse.Namespace, loaded: config.Loaded) -> int:
    from nemowatch import history_view

    text, code = history_view.command(
        loaded.settings, failed=args.failed, since=args.since, limit=args.limit, as_json=args.json
    )
    (sys.stdout if code == ExitCode.OK else sys.stderr).write(text + "\n")
    return code
