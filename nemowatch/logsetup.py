"""Logging for the command line and the daemon: one handler, secrets masked."""

from __future__ import annotations

import logging
import sys

from nemowatch.redact import RedactingFilter

FORMAT = "%(asctime)s.%(msecs)03d %(levelname)-7s %(name)s: %(message)s"
#: syslog priorities, which journald reads from a `<N>` prefix on each line
PRIORITIES = {"DEBUG": 7, "INFO": 6, "WARNING": 4, "ERROR": 3, "CRITICAL": 2}


class JournalFormatter(logging.Formatter):
    """No timestamp (journald adds its own); a `<N>` priority prefix per line."""

    def format(self, record: logging.LogRecord) -> str:
        prefix = f"<{PRIORITIES.get(record.levelname, 6)}>"
        text = f"{record.name}: {super().format(record)}"
        return "\n".join(prefix + line for line in text.splitlines())


def configure(level: str, *, journal: bool = False) -> None:
    """Send log lines to stderr at `level`, with every token masked.

    `journal`: started by systemd with stderr connected to journald
    (`$JOURNAL_STREAM` set), so lines carry priorities instead of timestamps.
    """
    handler = logging.StreamHandler(sys.stderr)
    if journal:
        handler.setFormatter(JournalFormatter("%(message)s"))
    else:
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
