"""The conditions registry: raise, hold, probe, release; one place for the reason."""

from __future__ import annotations

import asyncio

from nemowatch.conditions import Conditions, Work


def test_a_condition_holds_only_the_work_it_names() -> None:
    conditions = Conditions(clock=lambda: 100.0)
    conditions.raise_("credits", "out of credits", Work.PAID_TURNS)
    assert conditions.blocking(Work.PAID_TURNS) is conditions.get("credits")
    assert conditions.blocking(Work.EXPORTS) is None
    assert conditions.blocking(Work.API_CALLS | Work.PAID_TURNS) is not None


def test_all_api_work_holds_turns_exports_and_calls_but_not_claims() -> None:
    conditions = Conditions()
    conditions.raise_("token", "token rejected", Work.API)
    for work in (Work.PAID_TURNS, Work.EXPORTS, Work.API_CALLS):
        assert conditions.blocking(work) is not None
    assert conditions.blocking(Work.CLAIMS | Work.DELIVERIES) is None


def test_raising_again_keeps_since_and_updates_the_reason() -> None:
    now = [10.0]
    changes: list[int] = []
    conditions = Conditions(clock=lambda: now[0], on_change=lambda: changes.append(1))
    conditions.raise_("credits", "3 left", Work.PAID_TURNS)
    now[0] = 20.0
    same = conditions.raise_("credits", "3 left", Work.PAID_TURNS)
    assert len(changes) == 1, "an unchanged condition is not news"
    updated = conditions.raise_("credits", "1 left", Work.PAID_TURNS)
    assert updated is same and updated.since == 10.0 and updated.reason == "1 left"
    assert len(changes) == 2


async def test_wait_clear_returns_when_the_holding_condition_is_released() -> None:
    conditions = Conditions()
    conditions.raise_("plan", "export blocked", Work.EXPORTS)
    conditions.raise_("credits", "no credits", Work.PAID_TURNS)
    waiter = asyncio.create_task(conditions.wait_clear(Work.EXPORTS))
    await asyncio.sleep(0)
    conditions.release("credits")  # not the one that holds exports
    await asyncio.sleep(0)
    assert not waiter.done()
    conditions.release("plan")
    await asyncio.wait_for(waiter, 1)
    assert conditions.active() == []


async def test_probe_releases_only_the_conditions_whose_probe_says_passed() -> None:
    conditions = Conditions()
    answers = {"credits": False, "plan": True}

    def probe_of(name: str):  # type: ignore[no-untyped-def]
        async def probe() -> bool:
            return answers[name]

        return probe

    for name in answers:
        conditions.set_probe(name, probe_of(name))
    conditions.raise_("credits", "none", Work.PAID_TURNS)
    conditions.raise_("plan", "blocked", Work.EXPORTS)
    conditions.raise_("disk", "full", Work.DELIVERIES)  # no probe: stays
    await conditions.probe()
    assert [c.name for c in conditions.active()] == ["credits", "disk"]
    answers["credits"] = True
    await conditions.probe()
    assert [c.name for c in conditions.active()] == ["disk"]
