"""`nemowatch credits` and `nemowatch doctor`: the account and the setup, checked."""

from __future__ import annotations

import argparse
import asyncio

from nemowatch import config
from nemowatch.commands import say, say_json
from nemowatch.errors import ExitCode


def credits(args: argparse.Namespace, loaded: config.Loaded) -> int:
    """The balance: "100 credits"; every figure with `-v`; `{"credits": N, ...}` with `--json`."""
    from nemowatch.api import open_client

    async def balance() -> tuple[float, float, float]:
        async with open_client(loaded.settings) as client:
            c = await client.credits()
        return c.available, c.frozen, c.total

    available, frozen, total = asyncio.run(balance())
    if args.json:
        say_json({"credits": available, "frozen": frozen, "total": total})
    elif args.verbose:
        say(f"available {available:g}, frozen {frozen:g}, total {total:g}")
    else:
        say(f"{available:g} credit{'' if available == 1 else 's'}")
    return ExitCode.OK


def doctor(args: argparse.Namespace, loaded: config.Loaded) -> int:
    from nemowatch import doctor

    return doctor.command(args, loaded)
