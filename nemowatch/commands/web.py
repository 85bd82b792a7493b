"""`nemowatch web`: the web page's address, with a one-time login token.

The token comes from the running daemon over its Unix socket (only its user
can connect), is printed here for that user alone, is never logged, and is
spent by the first login; the browser keeps a session cookie instead.
"""

from __future__ import annotations

import argparse

from nemowatch import config
from nemowatch.commands import say
from nemowatch.errors import ExitCode


def web(args: argparse.Namespace, loaded: config.Loaded) -> int:
    """Print the address that logs this user into the web page."""
    from nemowatch.commands.daemon import daemon_client

    with daemon_client(loaded.settings) as client:
        url = client.login_address()
    say(url)
    say("Open it in a browser on this machine within 10 minutes; it works once.")
    return ExitCode.OK
