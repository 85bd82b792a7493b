"""`nemowatch config init / show / path`: the configuration file and its effect."""

from __future__ import annotations

import argparse
import os
import shutil

import tomli_w

from nemowatch import config
from nemowatch.commands import complain, say
from nemowatch.errors import ExitCode


def init(args: argparse.Namespace, loaded: config.Loaded) -> int:
    target = args.path or config.user_config_path(os.environ)
    if target.exists() and not args.force:
        complain(f"{target} exists already; use --force to replace it")
        return ExitCode.USAGE
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(config.example_path(), target)
    say(f"wrote {target}")
    return ExitCode.OK


def show(args: argparse.Namespace, loaded: config.Loaded) -> int:
    say(f"# from {loaded.path or 'the built-in defaults'} ({loaded.origin})")
    say(tomli_w.dumps(config.masked_dump(loaded.settings)).rstrip("\n"))
    return ExitCode.OK


def path(args: argparse.Namespace, loaded: config.Loaded) -> int:
    if loaded.path is None:
        say("none: using the built-in defaults")
    else:
        say(f"{loaded.path} ({loaded.origin})")
    return ExitCode.OK
