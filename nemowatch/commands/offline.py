"""What runs without NemoVideo: the `emulator` of its API, and the `demo` on it."""

from __future__ import annotations

import argparse
from pathlib import Path

from nemowatch import config
from nemowatch.commands import complain, say
from nemowatch.errors import ExitCode


def demo(args: argparse.Namespace, loaded: config.Loaded) -> int:
    from nemowatch.demo import run_demo
    from nemowatch.jobs import events

    ended = run_demo(loaded.settings, args.dir)
    if isinstance(ended, events.Failed):
        complain(f"the demo job failed: {ended.message}")
        return ExitCode.FAILED
    say(f"video:    {ended.result}")
    say(f"report:   {ended.report}")
    if ended.report:
        say("")
        say(Path(ended.report).read_text(encoding="utf-8").rstrip("\n"))
    return ExitCode.OK


def emulator(argv: list[str]) -> int:
    """The emulator parses its own options (see `nemowatch emulator --help`)."""
    try:
        from nemowatch.emulator.server import main as emulator_main
    except ImportError as exc:
        complain(
            f"the emulator needs the 'emulator' extra (pip install 'nemowatch[emulator]'): {exc}"
        )
        return ExitCode.START
    return emulator_main(argv)
