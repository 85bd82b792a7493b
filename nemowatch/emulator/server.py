"""Running the emulator: inside a loop, in a background thread, or as a command.

- ``serve()``: an async context manager for an existing event loop (the demo).
- ``EmulatorServer``: its own loop in a thread, for synchronous tests.
- ``main()``: ``nemowatch emulator`` / ``python -m nemowatch.emulator``; prints
  one ready line, serves until SIGINT or SIGTERM, exits 0.

All bind 127.0.0.1 and a free port by default, and keep uploads and renders in
a temporary directory removed on exit unless a data directory is given.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import tempfile
import threading
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from concurrent.futures import Future
from pathlib import Path
from types import TracebackType
from typing import Any

from aiohttp import web

from nemowatch.emulator.app import build_app
from nemowatch.emulator.control import EmulatorControl
from nemowatch.emulator.faults import FaultPlan, FaultRule
from nemowatch.emulator.journal import Journal
from nemowatch.emulator.settings import EmulatorSettings, parse_assignments
from nemowatch.emulator.world import World

READY_LINE = "NemoVideo emulator listening on {url}"
FaultsArg = Iterable[FaultRule | Mapping[str, Any]]


@contextlib.asynccontextmanager
async def serve(
    settings: EmulatorSettings | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    faults: FaultsArg = (),
    data_dir: str | Path | None = None,
) -> AsyncIterator[str]:
    """Serve the emulator in the running loop; yields its base URL.

    Args:
        settings: the knobs (defaults when None).
        host: the address to bind; loopback unless you mean otherwise.
        port: the port, 0 for a free one.
        faults: rules armed from the start.
        data_dir: where uploads and renders go; a temporary directory when None.

    Raises:
        OSError: the address cannot be bound.
    """
    with contextlib.ExitStack() as stack:
        if data_dir is None:
            temp = tempfile.TemporaryDirectory(prefix="nemowatch-emulator-")
            root = Path(stack.enter_context(temp))
        else:
            root = Path(data_dir)
        world = World(settings or EmulatorSettings(), root)
        plan = FaultPlan()
        plan.add(faults)
        runner = web.AppRunner(
            build_app(world, plan, Journal()),
            handle_signals=False,
            access_log=None,
            shutdown_timeout=2.0,
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, host, port)
            await site.start()
            bound = runner.addresses[0][1]
            shown = f"[{host}]" if ":" in host else host
            yield f"http://{shown}:{bound}"
        finally:
            # Background turns end their streams when cancelled, so open SSE
            # handlers return before the runner waits for them.
            await world.close()
            await runner.cleanup()
            await world.close()


class EmulatorServer:
    """The emulator on its own event loop in a background thread.

    Use as a context manager::

        with EmulatorServer(settings=EmulatorSettings(turn_seconds=0.2)) as emu:
            httpx.get(emu.url + "/api/credits/balance/simple", ...)
            emu.control.journal(endpoint="run_sse")
    """

    def __init__(
        self,
        settings: EmulatorSettings | None = None,
        faults: FaultsArg = (),
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        data_dir: str | Path | None = None,
        startup_timeout: float = 15.0,
    ) -> None:
        """Args are those of ``serve()``; ``settings`` are the knobs it starts with
        (change them live with ``control.set``, which this attribute does not track).
        """
        self.settings = settings or EmulatorSettings()
        # Validate here, so a bad rule fails in the caller's thread.
        self.faults = [
            f if isinstance(f, FaultRule) else FaultRule.model_validate(f) for f in faults
        ]
        self.host, self.port, self.data_dir = host, port, data_dir
        self.startup_timeout = startup_timeout
        self._started: Future[str] = Future()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._control: EmulatorControl | None = None

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:40123``."""
        if not self._started.done():
            raise RuntimeError("the emulator is not running")
        return self._started.result()

    @property
    def control(self) -> EmulatorControl:
        """A control client for this emulator (closed on stop)."""
        if self._control is None:
            self._control = EmulatorControl(self.url)
        return self._control

    def start(self) -> EmulatorServer:
        """Start serving; returns once the port is bound.

        Raises:
            OSError: the address cannot be bound.
            TimeoutError: not ready within ``startup_timeout``.
        """
        self._thread = threading.Thread(target=self._run, name="nemowatch-emulator", daemon=True)
        self._thread.start()
        try:
            self._started.result(timeout=self.startup_timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, timeout: float = 15.0) -> None:
        """Stop serving, join the thread and remove the temporary data."""
        if self._loop is not None and self._stop is not None:
            with contextlib.suppress(RuntimeError):  # the loop already ended
                self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if self._control is not None:
            self._control.close()
            self._control = None

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        finally:
            if not self._started.done():
                self._started.set_exception(RuntimeError("the emulator stopped while starting"))

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            async with serve(
                self.settings, self.host, self.port, faults=self.faults, data_dir=self.data_dir
            ) as url:
                self._started.set_result(url)
                await self._stop.wait()
        except OSError as exc:
            if self._started.done():
                raise
            self._started.set_exception(exc)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nemowatch emulator",
        description="A local NemoVideo-compatible API server (loopback only by default).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port; 0 picks a free one")
    parser.add_argument(
        "--faults", help='fault rules: a JSON file, or inline JSON ([rule, ...] or {"faults": ...})'
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KNOB=VALUE",
        help="change a knob (VALUE is JSON when it parses); repeatable",
    )
    parser.add_argument("--data-dir", help="keep uploads and renders here (default: temporary)")
    return parser


def load_faults(value: str | None) -> list[FaultRule]:
    """Rules from inline JSON or a JSON file (a list, or ``{"faults": [...]}``).

    Raises:
        ValueError: not JSON, or not valid rules.
        OSError: the file cannot be read.
    """
    if not value:
        return []
    text = value if value.lstrip()[:1] in ("[", "{") else Path(value).read_text(encoding="utf-8")
    loaded = json.loads(text)
    rules = loaded.get("faults", []) if isinstance(loaded, dict) else loaded
    if not isinstance(rules, list):
        raise ValueError("faults must be a JSON list of rules")
    return [FaultRule.model_validate(rule) for rule in rules]


async def _serve_until_signalled(
    settings: EmulatorSettings, faults: Sequence[FaultRule], args: argparse.Namespace
) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    signals = (signal.SIGINT, signal.SIGTERM)
    for signum in signals:
        loop.add_signal_handler(signum, stop.set)
    try:
        async with serve(
            settings, args.host, args.port, faults=faults, data_dir=args.data_dir
        ) as url:
            sys.stdout.write(READY_LINE.format(url=url) + "\n")
            sys.stdout.flush()
            await stop.wait()
    finally:
        for signum in signals:
            loop.remove_signal_handler(signum)


def main(argv: list[str] | None = None) -> int:
    """Run the emulator until SIGINT/SIGTERM.

    Returns:
        0 after a signal, 2 for bad arguments, knobs or faults, 3 if it
        could not bind.
    """
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # argparse exits on --help and on usage errors
        return exc.code if isinstance(exc.code, int) else 2
    try:
        settings = EmulatorSettings().updated(parse_assignments(args.set))
        faults = load_faults(args.faults)
    except (ValueError, OSError) as exc:
        sys.stderr.write(f"nemowatch emulator: {exc}\n")
        return 2
    try:
        asyncio.run(_serve_until_signalled(settings, faults, args))
    except OSError as exc:
        sys.stderr.write(f"nemowatch emulator: could not start: {exc}\n")
        return 3
    return 0
