"""Logging for the command line and the daemon: one handler, secrets masked."""

from __future__ import annotations

import logging
import sys

from nemowatch.redact import RedactingFilter

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def configure(level: str) -> None:
    """Send log lines to stderr at `level`, with every token masked."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT, datefmt="%Y-%m-%d %H:%M:%S"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # Libraries that narrate every request or scheduler tick: warnings only.
    for noisy in ("httpx", "httpcore", "apscheduler", "tzlocal", "watchdog", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
