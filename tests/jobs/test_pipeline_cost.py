"""Cost control in the pipeline, on a fake clock: work hours, the budget, duplicates, cost.

The pipeline runs against the emulator (one turn costs 50 credits there); the
clock of the conditions is set to local times of one day, so the work hours
and midnight are those of the machine's own time zone, as in the daemon.
"""

from __future__ import annotations

import hashlib
import time
from datetime import datetime
from typing import Any

import pytest
from jobkit import TURN_COST, VIDEO, FakeClock, MakeJob, Run, calls

from nemowatch.budget import BUDGET, HOURS, CostControl
from nemowatch.conditions import Conditions
from nemowatch.config import JobSettings, Settings
from nemowatch.emulator import EmulatorServer
from nemowatch.history import HISTORY_FILE, History
from nemowatch.history_cost import MARKER
from nemowatch.jobs import events
from nemowatch.jobs.context import Context, Outcome
from nemowatch.jobs.model import Job
from nemowatch.notify.times import local_zone

ZONE = local_zone()


def at(day: int, hour: int, minute: int = 0) -> float:
    """A local time of March 2036 (the machine's zone), as the clock gives it: after
    the real time the job events carry, so that only the fake clock's days count."""
    return datetime(2036, 3, day, hour, minute, tzinfo=ZONE).timestamp()


@pytest.fixture
def history(settings: Settings, clock: FakeClock) -> Any:
    state = settings.folders.state_dir
    state.mkdir(parents=True, exist_ok=True)
    with History(state / HISTORY_FILE, clock=clock) as opened:
        yield opened


@pytest.fixture
def cost(ctx: Context, conditions: Conditions, history: History) -> CostControl:
    """Cost control wired as the daemon wires it (through the context, and told of the
    job events as the daemon's bus tells it)."""
    ctx.cost = control = CostControl(conditions, lambda: ctx.settings.jobs, history, zone=ZONE)
    emit = ctx.emit

    def told(event: events.JobEvent) -> None:
        emit(event)
        control.in_flight.handle(event)

    ctx.emit = told
    return control


def configure(ctx: Context, **jobs: Any) -> None:
    """Put `[jobs]` keys in force, as a reload does."""
    ctx.settings = ctx.settings.model_copy(update={"jobs": JobSettings(**jobs)})


def journal(folder: Any) -> Job:
    return folder.load()  # type: ignore[no-any-return]


def record_all(history: History, collected: list[events.JobEvent]) -> None:
    """What the daemon's history subscriber does with the job events."""
    for event in collected:
        history.record(event)


# -- work hours -------------------------------------------------------------------------


async def test_outside_work_hours_the_upload_runs_ahead_and_the_turn_waits_for_22h(
    ctx: Context,
    cost: CostControl,
    clock: FakeClock,
    conditions: Conditions,
    make_job: MakeJob,
    run: Run,
    emu: EmulatorServer,
) -> None:
    configure(ctx, work_hours="22:00-07:00")
    clock.now = at(10, 15, 0)
    folder = make_job()
    assert await run(folder) is Outcome.HELD
    job = journal(folder)
    assert job.stage.value == "uploaded" and job.held == HOURS, "uploads may run ahead"
    assert calls(emu, "upload") and not calls(emu, "run_sse")
    condition = conditions.get(HOURS)
    assert condition is not None and condition.next_check == at(10, 22, 0)
    assert "paid turns start at 22:00" in condition.reason

    clock.now = at(10, 21, 59)
    await cost.check()
    assert conditions.get(HOURS) is not None, "still outside"
    clock.now = at(10, 23, 30)  # inside, before midnight
    await cost.check()
    assert conditions.get(HOURS) is None
    assert await run(folder) is Outcome.DONE
    assert len(calls(emu, "run_sse")) == 1


@pytest.mark.parametrize(
    ("day", "hour", "minute", "opens"),
    [
        (10, 21, 59, at(10, 22)),  # just before the window
        (10, 22, 0, None),  # its start is inside
        (10, 23, 59, None),
        (11, 0, 0, None),  # across midnight
        (11, 6, 59, None),
        (11, 7, 0, at(11, 22)),  # its end is outside: tonight at 22:00
        (11, 12, 0, at(11, 22)),
    ],
)
def test_work_hours_run_across_midnight(
    ctx: Context, cost: CostControl, clock: FakeClock, day: int, hour: int, minute: int, opens: Any
) -> None:
    configure(ctx, work_hours="22:00-07:00")
    assert cost._closed_until(at(day, hour, minute)) == opens


async def test_a_job_in_its_turns_finishes_though_work_hours_close(
    ctx: Context,
    cost: CostControl,
    clock: FakeClock,
    conditions: Conditions,
    make_job: MakeJob,
    run: Run,
    emu: EmulatorServer,
) -> None:
    configure(ctx, work_hours="22:00-07:00", daily_credit_budget=2 * TURN_COST)
    clock.now = at(10, 6, 59)
    folder = make_job(text="Cut the intro\n---\nAdd a title")

    def first_answered(event: events.JobEvent) -> bool:
        return isinstance(event, events.TurnAnswered) and event.index == 0

    assert await run(folder, crash_when=first_answered) is None  # a restart between turns
    clock.now = at(10, 7, 30)  # the window closed meanwhile; the budget is spent, too
    configure(ctx, work_hours="22:00-07:00", daily_credit_budget=TURN_COST)
    assert await run(folder) is Outcome.DONE, "never held between its turns"
    assert len(calls(emu, "run_sse")) == 2
    assert conditions.get(HOURS) is None and conditions.get(BUDGET) is None


# -- the budget -------------------------------------------------------------------------


async def test_the_budget_holds_the_next_job_until_midnight(
    ctx: Context,
    cost: CostControl,
    clock: FakeClock,
    conditions: Conditions,
    history: History,
    collected: list[events.JobEvent],
    make_job: MakeJob,
    run: Run,
    emu: EmulatorServer,
) -> None:
    configure(ctx, daily_credit_budget=TURN_COST, turn_cost_estimate=TURN_COST)
    clock.now = at(10, 9, 0)
    first = make_job("first")
    assert await run(first) is Outcome.DONE
    record_all(history, collected)
    second = make_job("second", text="Another edit")
    assert await run(second) is Outcome.HELD
    assert journal(second).held == BUDGET and journal(second).failure is None
    condition = conditions.get(BUDGET)
    assert condition is not None and condition.next_check == at(11, 0, 0)
    assert "50 of 50 credits spent today" in condition.reason
    assert "midnight" in condition.reason

    clock.now = at(10, 23, 59)
    await cost.check()
    assert conditions.get(BUDGET) is not None
    clock.now = at(11, 0, 0)
    await cost.check()
    assert conditions.get(BUDGET) is None, "released at midnight"
    assert await run(second) is Outcome.DONE
    assert len(calls(emu, "run_sse")) == 2


async def test_a_raised_budget_releases_the_held_job(
    ctx: Context,
    cost: CostControl,
    clock: FakeClock,
    conditions: Conditions,
    make_job: MakeJob,
    run: Run,
) -> None:
    configure(ctx, daily_credit_budget=TURN_COST)
    clock.now = at(10, 9, 0)
    assert await run(make_job("first")) is Outcome.DONE
    second = make_job("second", text="Another edit")
    assert await run(second) is Outcome.HELD
    configure(ctx, daily_credit_budget=2 * TURN_COST)  # a reload
    await cost.check()
    assert conditions.get(BUDGET) is None
    assert await run(second) is Outcome.DONE


async def test_a_job_of_more_turns_than_the_budget_waits_for_all_of_them(
    ctx: Context, cost: CostControl, clock: FakeClock, make_job: MakeJob, run: Run
) -> None:
    configure(ctx, daily_credit_budget=TURN_COST)
    clock.now = at(10, 9, 0)
    folder = make_job(text="Cut the intro\n---\nAdd a title")
    assert await run(folder) is Outcome.HELD, "checked once, for all its turns"
    condition = ctx.conditions.get(BUDGET)
    assert condition is not None and "needs about 100 (2 turns)" in condition.reason


async def test_a_history_started_anew_today_counts_the_day_as_spent(
    ctx: Context,
    cost: CostControl,
    clock: FakeClock,
    conditions: Conditions,
    history: History,
    settings: Settings,
    make_job: MakeJob,
    run: Run,
) -> None:
    configure(ctx, daily_credit_budget=10 * TURN_COST)
    state = settings.folders.state_dir
    (state / MARKER).write_text('{"first": 1.0, "anew": null}')  # a history was kept here
    clock.now = at(10, 9, 0)  # the database is created now: started anew
    folder = make_job()
    assert await run(folder) is Outcome.HELD
    condition = conditions.get(BUDGET)
    assert condition is not None and "history was started anew today at 09:00" in condition.reason
    clock.now = at(11, 0, 0)
    await cost.check()
    assert conditions.get(BUDGET) is None


# -- duplicates -------------------------------------------------------------------------


async def test_the_same_drop_again_fails_before_its_turn_and_says_how_to_pay_again(
    ctx: Context,
    cost: CostControl,
    clock: FakeClock,
    history: History,
    collected: list[events.JobEvent],
    settings: Settings,
    make_job: MakeJob,
    run: Run,
    emu: EmulatorServer,
) -> None:
    clock.now = time.time()  # the time the history's rows carry
    assert await run(make_job("clip")) is Outcome.DONE
    record_all(history, collected)
    copy = make_job("copy")  # the same bytes and instructions under another name
    assert await run(copy) is Outcome.FAILED
    assert len(calls(emu, "run_sse")) == 1, "the copy was not paid for"
    error = (settings.folders.failed / "copy" / "error.txt").read_text()
    today = time.strftime("%Y-%m-%d", time.localtime())
    assert f"copy was already delivered as clip.mp4 on {today} " in error
    assert "nemowatch retry copy --start-over" in error

    again = make_job("again", pay_again=True)  # what `retry --start-over` puts back
    assert await run(again) is Outcome.DONE
    other = make_job("other", text="Different instructions")
    assert await run(other) is Outcome.DONE
    refinement = make_job("refined", refines="20260310-clip")  # never its original's twin
    assert await run(refinement) is Outcome.DONE


async def test_the_media_checksum_comes_from_the_upload(
    make_job: MakeJob, run: Run, collected: list[events.JobEvent]
) -> None:
    assert await run(make_job()) is Outcome.DONE
    (done,) = [e for e in collected if isinstance(e, events.Delivered)]
    assert done.record is not None
    assert done.record.media_sha256 == {"clip.mp4": hashlib.sha256(VIDEO).hexdigest()}


# -- what it cost -----------------------------------------------------------------------


async def test_the_report_says_what_the_job_cost(
    ctx: Context, cost: CostControl, settings: Settings, make_job: MakeJob, run: Run
) -> None:
    folder = make_job(text="Cut the intro\n---\nAdd a title")
    assert await run(folder) is Outcome.DONE
    report = (settings.folders.outbox / "clip.report.txt").read_text()
    assert f"Cost: {2 * TURN_COST} credits" in report


def test_a_cost_is_approximate_when_another_jobs_turns_overlapped(
    conditions: Conditions, clock: FakeClock
) -> None:
    cost = CostControl(conditions, JobSettings, None, zone=ZONE)
    a, b, c = (Job(id=n, name=n, kind="pair", media=[]) for n in ("a", "b", "c"))
    cost.started(a, 1000)
    clock.now += 10
    cost.started(b, 950)
    clock.now += 10
    a.credits_after = 900
    cost.finished(a)
    assert a.cost_approximate and a.cost_text() == "about 100 credits" + (
        " (approximate: other jobs' turns ran meanwhile)"
    )
    clock.now += 10
    b.credits_after = 850
    cost.finished(b)
    assert b.cost_approximate
    clock.now += 10
    cost.started(c, 850)
    clock.now += 10
    c.credits_after = 800
    cost.finished(c)
    assert not c.cost_approximate, "alone: exact"
