"""The daemon in-process: wiring of watcher, batches, claims, worker pool, board, conditions.

A real inbox on disk, a real watcher, the emulator on loopback in a thread of
this process and `Daemon.serve()` on the test's event loop. What needs a
separate process (signals, kill -9, systemd) stays in `tests/e2e`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from devkit.daemon import TEST_SETTINGS
from devkit.drops import drop_pair
from devkit.emulator import emulator_thread
from nemowatch.api import open_client
from nemowatch.config import Settings
from nemowatch.daemon import RELOAD, Daemon
from nemowatch.emulator import EmulatorServer
from nemowatch.jobs import events


@pytest.fixture
def emulator() -> Iterator[EmulatorServer]:
    with emulator_thread() as emu:
        yield emu


def settings_for(root: Path, url: str, **extra: dict[str, Any]) -> Settings:
    data: dict[str, Any] = {k: dict(v) for k, v in TEST_SETTINGS.items()}
    data["folders"] = {
        "inbox": str(root / "inbox"),
        "outbox": str(root / "outbox"),
        "failed": str(root / "failed"),
        "state": str(root / "state"),
    }
    data["api"]["base_url"] = url
    data["api"]["client_id_file"] = str(root / "client_id")
    data["logging"] = {"level": "INFO"}
    for section, values in extra.items():
        data.setdefault(section, {}).update(values)
    return Settings.model_validate(data)


class Running:
    """A daemon serving in a task of the test's loop, with the events it emitted."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self.seen: list[events.JobEvent] = []
        daemon.bus.subscribe("test", self.seen.append)
        self.task = asyncio.create_task(daemon.serve())

    async def until(self, predicate: Callable[[], Any], what: str, timeout: float = 20) -> Any:
        async with asyncio.timeout(timeout):
            while not (found := predicate()):
                if self.task.done():
                    raise AssertionError(f"the daemon stopped while waiting for {what}")
                await asyncio.sleep(0.02)
        return found

    def of(self, kind: type[events.JobEvent]) -> list[events.JobEvent]:
        return [e for e in self.seen if isinstance(e, kind)]

    def status(self) -> dict[str, Any]:
        path = self.daemon.settings.folders.state_dir / "status.json"
        data: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
        return data


@pytest.fixture
async def run(tmp_path: Path, emulator: EmulatorServer) -> AsyncIterator[Callable[..., Any]]:
    started: list[Running] = []

    async def start(**extra: dict[str, Any]) -> Running:
        settings = settings_for(tmp_path, emulator.url, **extra)
        client_cm = open_client(settings)
        client = await client_cm.__aenter__()
        closers.append(client_cm)
        started.append(Running(Daemon(settings, client, reload=lambda: reloaded[0])))
        return started[-1]

    closers: list[Any] = []
    reloaded: list[Settings] = []
    start.reloaded = reloaded  # type: ignore[attr-defined]
    yield start
    for running in started:
        running.daemon.request_stop()
        assert await asyncio.wait_for(running.task, 20) == 0
    for closer in closers:
        await closer.__aexit__(None, None, None)


async def test_a_dropped_pair_is_delivered_and_every_event_told(
    run: Callable[..., Any], sample_video: Path
) -> None:
    running = await run()
    inbox = running.daemon.settings.folders.inbox
    await running.until(lambda: inbox.is_dir(), "the inbox")
    drop_pair(inbox, "holiday", sample_video)
    delivered = await running.until(lambda: running.of(events.Delivered), "the delivery")
    outbox = running.daemon.settings.folders.outbox
    assert Path(delivered[0].result) == outbox / "holiday.mp4"
    assert (outbox / "holiday.report.txt").is_file()
    stages = [e.stage.value for e in running.of(events.StageReached)]  # type: ignore[attr-defined]
    assert stages == [
        "claimed",
        "session",
        "uploaded",
        "edited",
        "rendering",
        "downloading",
        "delivered",
        "done",
    ]
    assert [e.name for e in running.of(events.Claimed)] == ["holiday"]
    assert any(e.what == "upload" for e in running.of(events.Progress))  # type: ignore[attr-defined]
    # nothing is kept for the life of the process once the job is done
    await running.until(lambda: not running.daemon.pool.present, "the pool to let go")
    await running.until(lambda: not running.daemon.board.jobs, "the board to let go")


async def test_out_of_credits_holds_the_paid_turn_until_the_balance_is_back(
    run: Callable[..., Any], emulator: EmulatorServer, sample_video: Path
) -> None:
    emulator.control.set(credits=0)  # the account the daemon's token opens has none
    running = await run(jobs={"credit_check_minutes": 60})  # the test probes by hand
    daemon = running.daemon
    await running.until(lambda: daemon.settings.folders.inbox.is_dir(), "the inbox")
    drop_pair(daemon.settings.folders.inbox, "unpaid", sample_video)
    held = await running.until(lambda: running.of(events.Held), "the hold")
    assert held[0].condition == "credits"  # type: ignore[attr-defined]
    assert held[0].stage.value == "uploaded", "uploads run ahead; the paid turn waits"  # type: ignore[attr-defined]
    status = await running.until(lambda: running.status().get("paused"), "the status file")
    assert "out of credits" in status
    await daemon.account.check()  # still no credits: nothing changes
    assert daemon.conditions.get("credits") is not None
    emulator.control.action("set_credits", 100)
    await daemon.account.check()
    assert daemon.conditions.get("credits") is None
    await running.until(lambda: running.of(events.Delivered), "the delivery")
    assert len(emulator.control.journal("run_sse")) == 1, "the turn was paid once"
    assert [type(e) for e in running.seen if isinstance(e, events.Released)] == [events.Released]


async def test_a_reload_applies_new_limits_and_keeps_the_folders(
    run: Callable[..., Any], tmp_path: Path, emulator: EmulatorServer
) -> None:
    running = await run()
    daemon = running.daemon
    await running.until(lambda: daemon.settings.folders.inbox.is_dir(), "the inbox")
    run.reloaded.append(  # type: ignore[attr-defined]
        settings_for(tmp_path / "elsewhere", emulator.url, jobs={"max_parallel": 3})
    )
    daemon.events.put_nowait(RELOAD)
    await running.until(lambda: daemon.settings.jobs.max_parallel == 3, "the reload")
    assert daemon.settings.folders.inbox == tmp_path / "inbox"
    await running.until(lambda: len([t for t in daemon.pool._workers if not t.done()]) == 3, "3")
