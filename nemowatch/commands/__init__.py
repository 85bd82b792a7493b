"""The commands' bodies, one module per group; `nemowatch.cli` parses the line and picks one.

Each command is a `Command`: it takes the parsed arguments and the loaded
configuration and returns an exit code (`ExitCode`). What a command prints goes
through `say` (stdout) and `complain` (stderr, prefixed with `nemowatch:`).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Mapping

from nemowatch import config

Command = Callable[[argparse.Namespace, config.Loaded], int]

#: the version of every `--json` output's format
SCHEMA = 1
#: the exit code after Ctrl-C, as the shell's 128 + SIGINT
INTERRUPTED = 130


def say(text: str) -> None:
    """A line of the command's answer, on stdout."""
    sys.stdout.write(text + "\n")


def complain(text: str) -> None:
    """One sentence about what went wrong, on stderr."""
    sys.stderr.write(f"nemowatch: {text}\n")


def say_json(data: Mapping[str, object]) -> None:
    """A `--json` answer: one JSON document on one line, `schema` first."""
    say(json.dumps({"schema": SCHEMA} | dict(data)))
