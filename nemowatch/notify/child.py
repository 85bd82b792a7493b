"""Sends one message to one Apprise URL, in a child process of the daemon.

Apprise is synchronous: the daemon runs it here, where a channel that hangs
blocks nobody and is killed when it overruns. What to send comes on stdin as
JSON (`url`, `title`, `body`, `timeout`), so the URL, secrets and all, never
shows in the process list. Exit status 0: sent; 1: the channel refused or
failed (Apprise's reasons on stderr); 2: Apprise is missing or the URL is not
one it knows.

    python -P nemowatch/notify/child.py < message.json
"""

from __future__ import annotations

import json
import logging
import sys
import warnings
from typing import Any

SENT, FAILED, UNUSABLE = 0, 1, 2


def send(message: dict[str, Any]) -> int:
    try:
        import apprise
    except ImportError:
        sys.stderr.write("Apprise is not installed\n")
        return UNUSABLE
    plugin = apprise.Apprise.instantiate(str(message["url"]), suppress_exceptions=True)
    if plugin is None:
        sys.stderr.write("Apprise does not understand this URL\n")
        return UNUSABLE
    timeout = float(message["timeout"])
    # Apprise's own timeouts, so the child ends by itself; the daemon kills it otherwise
    plugin.socket_connect_timeout = timeout
    plugin.socket_read_timeout = timeout
    sent = plugin.notify(body=str(message["body"]), title=str(message["title"]))
    return SENT if sent else FAILED


def main() -> int:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    apprise_log = logging.getLogger("apprise")
    apprise_log.addHandler(handler)
    apprise_log.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            # Apprise's plugins import `imghdr`, deprecated since Python 3.11: not ours
            warnings.simplefilter("ignore", DeprecationWarning)
            return send(json.loads(sys.stdin.read()))
    except Exception as exc:  # noqa: BLE001 - said on stderr; the daemon retries, then logs
        sys.stderr.write(f"{type(exc).__name__}: {exc}\n")
        return FAILED


if __name__ == "__main__":
    sys.exit(main())
