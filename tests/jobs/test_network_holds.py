"""The network goes away: held, probed, released; a job's own transient faults: kept trying.

The pipeline talks to the emulator through `devkit.proxy.Proxy`, which takes
the network away on request (new connections reset, open ones reset). A
network fault holds the job on the condition "network" where it stands; the
test releases it, as the daemon's probe does, and runs the pipeline again, as
the worker pool does. A 5xx while the balance answers is the job's own fault:
the step is tried again every `api.retry_max_seconds` (on the fake clock)
until `jobs.transient_give_up_minutes`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from jobkit import CREDITS, TURN_COST, FakeClock, MakeClient, MakeContext, MakeJob, Run, calls

from devkit.proxy import Proxy
from nemowatch.api import NemoClient
from nemowatch.board import StatusBoard
from nemowatch.conditions import Conditions, Work
from nemowatch.config import Settings
from nemowatch.emulator import EmulatorServer
from nemowatch.jobs import events
from nemowatch.jobs.context import Context, Outcome
from nemowatch.jobs.model import Job, JobStage, TurnState
from nemowatch.network import NETWORK, NetworkWatch
from nemowatch.systemd import Notifier
from nemowatch.workers import WorkerPool


@pytest.fixture
def proxy(emu: EmulatorServer) -> Iterator[Proxy]:
    with Proxy(emu.url) as running:
        yield running


@pytest.fixture
def via_proxy(
    settings: Settings, proxy: Proxy, make_client: MakeClient, make_ctx: MakeContext
) -> Context:
    """A context whose client reaches the emulator through the proxy."""
    settings.api = settings.api.model_copy(update={"base_url": proxy.url})
    return make_ctx(make_client(settings))


def waits(collected: list[events.JobEvent]) -> list[str]:
    return [e.reason for e in collected if isinstance(e, events.Waiting)]


async def until_the_turn_landed(client: NemoClient) -> None:
    """Really wait (with a deadline) until the emulator settled the turn's cost."""
    async with asyncio.timeout(5):
        while (await client.credits()).frozen:
            await asyncio.sleep(0.01)


def sleeping(
    clock: FakeClock, hook: Callable[[int], Awaitable[None]]
) -> Callable[[float], Awaitable[None]]:
    """The context's fake sleep, calling `hook(n)` before its n-th wait (from 1; the
    client's retries wait on the clock directly, uncounted)."""
    count = 0

    async def sleep(seconds: float) -> None:
        nonlocal count
        count += 1
        await hook(count)
        await clock.sleep(seconds)

    return sleep


# -- the network ----------------------------------------------------------------------------


async def test_a_turn_cut_off_by_the_network_is_recovered_once_it_is_back_never_resent(
    run: Run,
    make_job: MakeJob,
    emu: EmulatorServer,
    proxy: Proxy,
    via_proxy: Context,
    client: NemoClient,
    conditions: Conditions,
    collected: list[events.JobEvent],
) -> None:
    emu.control.set(turn_seconds=0.3)  # the turn runs on while the network is away

    def cut_during_the_turn(event: events.JobEvent) -> None:
        collected.append(event)
        if isinstance(event, events.Progress) and event.what == "edit" and proxy.mode == "pass":
            proxy.cut()

    via_proxy.emit = cut_during_the_turn
    folder = make_job()
    assert await run(folder, context=via_proxy) is Outcome.HELD
    job = folder.load()
    assert (job.stage, job.held, job.turns[0].state) == (
        JobStage.UPLOADED,
        NETWORK,
        TurnState.SENT,
    )
    condition = conditions.get(NETWORK)
    assert condition is not None and condition.holds == Work.API
    assert condition.reason.startswith("waiting for the network since ")
    assert "(last error: state: connection failed" in condition.reason
    (held,) = [e for e in collected if isinstance(e, events.Held)]
    assert held.condition == NETWORK and held.stage is JobStage.UPLOADED

    await until_the_turn_landed(client)
    proxy.restore()
    conditions.release(NETWORK)  # what the daemon's probe does once the service answers
    assert await run(folder, context=via_proxy) is Outcome.DONE
    assert len(calls(emu, "run_sse")) == 1, "sent once, recovered by reading the project"
    (answer,) = [e for e in collected if isinstance(e, events.TurnAnswered)]
    assert answer.verified
    assert (await client.credits()).available == CREDITS - TURN_COST


async def test_state_reads_that_failed_for_the_network_do_not_count_toward_the_checks(
    run: Run,
    make_job: MakeJob,
    emu: EmulatorServer,
    proxy: Proxy,
    via_proxy: Context,
    client: NemoClient,
    settings: Settings,
    clock: FakeClock,
    conditions: Conditions,
) -> None:
    settings.api.recovery_max_checks = 2
    emu.control.set(turn_seconds=0.5)  # lands ~0.5 s after it was sent, stream or no stream
    emu.control.add_faults([{"endpoint": "run_sse", "drop_after_events": 1}])

    async def hook(n: int) -> None:
        # waits: 30 s before the 1st check (it finds the project unchanged), 60 s before
        # the 2nd: the network is gone by then, and the read fails
        if n == 2:
            proxy.cut()

    via_proxy.sleep = sleeping(clock, hook)
    folder = make_job()
    assert await run(folder, context=via_proxy) is Outcome.HELD
    assert folder.load().held == NETWORK
    unchanged = [r for r in calls(emu, "state") if r["status"] == 200]
    assert len(unchanged) == 2, "the fingerprint before the turn, then one check"

    await until_the_turn_landed(client)
    proxy.restore()
    conditions.release(NETWORK)
    via_proxy.sleep = clock.sleep
    assert await run(folder, context=via_proxy) is Outcome.DONE, "no check was spent"
    assert len(calls(emu, "run_sse")) == 1


async def test_with_no_network_at_the_start_nothing_fails_and_the_job_goes_on_after(
    run: Run,
    make_job: MakeJob,
    emu: EmulatorServer,
    proxy: Proxy,
    via_proxy: Context,
    conditions: Conditions,
    settings: Settings,
) -> None:
    proxy.cut()
    folder = make_job()
    assert await run(folder, context=via_proxy) is Outcome.HELD
    job = folder.load()
    assert (job.stage, job.held) == (JobStage.CLAIMED, NETWORK)
    assert calls(emu) == [], "nothing reached the service"
    assert list(settings.folders.failed.glob("*")) == []

    proxy.restore()
    conditions.release(NETWORK)
    assert await run(folder, context=via_proxy) is Outcome.DONE
    assert len(calls(emu, "run_sse")) == 1


async def test_a_job_fails_for_the_network_only_after_network_give_up_minutes(
    run: Run,
    make_job: MakeJob,
    proxy: Proxy,
    via_proxy: Context,
    settings: Settings,
    clock: FakeClock,
) -> None:
    settings.jobs.network_give_up_minutes = 30
    proxy.cut()
    folder = make_job()
    assert await run(folder, context=via_proxy) is Outcome.HELD
    clock.now += 29 * 60
    assert await run(folder, context=via_proxy) is Outcome.HELD, "still within the limit"
    clock.now += 60
    assert await run(folder, context=via_proxy) is Outcome.FAILED
    error = (settings.folders.failed / "clip" / "error.txt").read_text().splitlines()
    assert error[0] == "NemoVideo could not be reached, even after several retries."
    assert "Stage: claimed" in error


async def test_the_probe_releases_the_network_once_the_service_answers_and_stops_cleanly(
    proxy: Proxy, via_proxy: Context
) -> None:
    conditions = Conditions()
    stopping = asyncio.Event()
    watch = NetworkWatch(via_proxy.client, conditions, stopping, first=0.05, longest=0.2)
    await via_proxy.client.credits()  # a token in hand: a probe is one request
    proxy.cut()
    conditions.raise_(NETWORK, "waiting for the network", Work.API)
    watch.watch()
    async with asyncio.timeout(5):
        while proxy.refused < 4:  # probed again and again, with backoff
            await asyncio.sleep(0.01)
    condition = conditions.get(NETWORK)
    assert condition is not None and condition.next_check is not None, "status says when"
    back = time.monotonic()
    proxy.restore()
    async with asyncio.timeout(5):
        await conditions.wait_released(NETWORK)
    print(f"released {time.monotonic() - back:.2f} s after the network came back")  # noqa: T201

    conditions.raise_(NETWORK, "waiting for the network", Work.API)
    proxy.cut()
    watch.watch()
    stopping.set()  # the daemon stops: the probing ends with it
    async with asyncio.timeout(2):
        await watch.stop()
    assert conditions.get(NETWORK) is not None


async def test_the_worker_pool_fails_a_parked_job_once_the_network_stayed_away_too_long(
    make_job: MakeJob,
    proxy: Proxy,
    via_proxy: Context,
    settings: Settings,
    collected: list[events.JobEvent],
) -> None:
    settings.jobs.network_give_up_minutes = 0.01  # 0.6 s, on the real clock of the registry
    ctx = dataclasses.replace(via_proxy, conditions=Conditions())
    pool = WorkerPool(ctx, lambda: 1)
    proxy.cut()
    pool.resize()
    pool.add(make_job())
    try:
        async with asyncio.timeout(10):
            while not any(isinstance(e, events.Failed) for e in collected):
                await asyncio.sleep(0.01)
    finally:
        ctx.stopping.set()
        await pool.stop(1)
    kinds = [type(e).__name__ for e in collected if not isinstance(e, events.StageReached)]
    assert kinds == ["Held", "Released", "Failed"], "parked, woken at the limit, failed"
    assert (settings.folders.failed / "clip" / "error.txt").is_file()
    assert ctx.conditions.get(NETWORK) is not None, "the network is still away"


# -- a job's own transient faults -----------------------------------------------------------


async def test_a_503_burst_on_state_reads_while_the_balance_answers_keeps_trying(
    run: Run,
    make_job: MakeJob,
    emu: EmulatorServer,
    settings: Settings,
    clock: FakeClock,
    conditions: Conditions,
    collected: list[events.JobEvent],
) -> None:
    # after the fingerprint before the turn: the export's reads fail, three calls' worth
    tries = settings.jobs.retries + 1
    emu.control.add_faults(
        [{"endpoint": "state", "http_status": 503, "after": 1, "times": 2 * tries + 2}]
    )
    assert await run(make_job()) is Outcome.DONE
    assert conditions.active() == [], "one job's fault holds no other job"
    assert clock.sleeps.count(settings.api.retry_max_seconds) >= 2
    reasons = waits(collected)
    assert len(reasons) == 3 and reasons[-1] == "", "shown, then cleared once it went through"
    assert reasons[0].startswith("waiting for the service since ")
    assert "503" in reasons[0] and "trying again every 60 s" in reasons[0]
    assert len(calls(emu, "run_sse")) == 1
    assert (settings.folders.outbox / "clip.mp4").is_file()


async def test_a_503_burst_while_recovering_a_sent_turn_spends_no_check_and_no_resend(
    run: Run,
    make_job: MakeJob,
    emu: EmulatorServer,
    client: NemoClient,
    settings: Settings,
    clock: FakeClock,
    make_ctx: MakeContext,
    collected: list[events.JobEvent],
) -> None:
    settings.api.recovery_max_checks = 2
    emu.control.set(turn_seconds=0.5)
    tries = settings.jobs.retries + 1
    emu.control.add_faults(
        [
            {"endpoint": "run_sse", "drop_after_events": 1},
            # the fingerprint and the first check answer; then a call's worth of 503s
            {"endpoint": "state", "http_status": 503, "after": 2, "times": tries},
        ]
    )

    async def hook(n: int) -> None:
        # waits: 30 s before the 1st check, 60 s before the 2nd (its read meets the 503s),
        # then the job's own wait: the turn has landed by the time it is read again
        if n >= 3:
            await until_the_turn_landed(client)

    context = make_ctx(client)
    context.sleep = sleeping(clock, hook)
    assert await run(make_job(), context=context) is Outcome.DONE
    assert len(calls(emu, "run_sse")) == 1
    assert [s["status"] for s in calls(emu, "state")][:3] == [200, 200, 503]
    (answer,) = [e for e in collected if isinstance(e, events.TurnAnswered)]
    assert answer.verified
    assert waits(collected)[-1] == ""


async def test_a_job_gives_up_after_transient_give_up_minutes_at_that_safe_step(
    run: Run,
    make_job: MakeJob,
    emu: EmulatorServer,
    client: NemoClient,
    settings: Settings,
    clock: FakeClock,
) -> None:
    settings.jobs.transient_give_up_minutes = 5
    emu.control.add_faults([{"endpoint": "state", "http_status": 503, "after": 1, "times": 0}])
    started = clock.now
    assert await run(make_job()) is Outcome.FAILED
    assert 5 * 60 <= clock.now - started < 5 * 60 + 2 * 75, "about five minutes of trying"
    rounds = clock.sleeps.count(settings.api.retry_max_seconds)
    assert rounds >= 3
    assert len(calls(emu, "state")) == 1 + (rounds + 1) * (settings.jobs.retries + 1)
    lines = (settings.folders.failed / "clip" / "error.txt").read_text().splitlines()
    assert lines[0].startswith("NemoVideo had a fault on its side (HTTP 503)")
    assert "Stage: edited" in lines and "API code: 503" in lines
    assert len(calls(emu, "run_sse")) == 1
    assert (await client.credits()).available == CREDITS - TURN_COST, "paid once"


async def test_the_status_board_shows_a_job_waiting_for_the_service_until_it_goes_on(
    tmp_path: Path,
) -> None:
    board = StatusBoard(tmp_path, Conditions(), Notifier(None), lambda: 0)
    job = Job(id="j1", name="clip", kind="pair", media=["clip.mp4"], stage=JobStage.EDITED)
    reason = "waiting for the service since 14:02 (NemoVideo answered code 503 on state: ...)"
    board.handle(events.StageReached.of(job, stage=JobStage.EDITED))
    board.handle(events.Waiting.of(job, stage=JobStage.EDITED, reason=reason))
    board.write(force=True)
    (line,) = json.loads((tmp_path / "status.json").read_text())["jobs"]
    assert (line["stage"], line["progress"], line["held"]) == ("edited", reason, None)
    board.handle(events.Waiting.of(job, stage=JobStage.EDITED, reason=""))
    board.write(force=True)
    (line,) = json.loads((tmp_path / "status.json").read_text())["jobs"]
    assert line["progress"] == ""
