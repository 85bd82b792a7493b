"""What the notifier tells, and when: in-process, on a fake clock, sends recorded."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from nemowatch.conditions import Conditions, Work
from nemowatch.jobs import events
from nemowatch.jobs.model import Failure, Job
from tests.notify.fakes import Rig, local

KEYS = {"schema", "event", "job", "name", "result", "reason", "link", "at"}


def delivered(name: str = "holiday", at: float | None = None) -> events.Delivered:
    return events.Delivered(
        f"id-{name}",
        name,
        result=f"/out/{name}.mp4",
        report=f"/out/{name}.report.txt",
        at=at if at is not None else local(2026, 1, 10, 12, 0),
    )


def failed(name: str = "broken", at: float | None = None) -> events.Failed:
    job = Job(id=f"id-{name}", name=name, kind="pair", media=[f"{name}.mp4"])
    job.failure = Failure(
        message=f"{name}.mp4 is empty.", stage="claimed", advice="Drop the whole file again."
    )
    return events.Failed(
        job.id,
        name,
        stage="claimed",
        message=job.failure.message,
        record=job,
        at=at if at is not None else local(2026, 1, 10, 12, 0),
    )


def held(name: str, condition: str = "credits") -> events.Held:
    return events.Held(f"id-{name}", name, condition=condition, reason="out of credits: top up")


def wired(rig: Rig) -> Conditions:
    """A registry on the rig's clock, followed by the notifier as `Outlets` wires it."""
    conditions = Conditions(clock=rig.clock)
    conditions.listen(lambda: rig.notifier.conditions_changed(conditions.active()))
    return conditions


# -- the event as JSON and in the environment -------------------------------------


def test_a_delivered_event_is_json_with_the_contract_keys_and_an_offset(
    rig: Callable[..., Rig],
) -> None:
    r = rig(events=["delivered"])
    r.settings[0] = r.settings[0].model_copy(
        update={"web": r.settings[0].web.model_copy(update={"public_url": "https://nw.example/"})}
    )
    r.notifier.handle(delivered(at=local(2026, 1, 10, 18, 30, 5)))

    (sent,) = r.sender.of("command")
    data = sent.data
    assert KEYS <= set(data) and data["schema"] == 1
    assert data["event"] == "delivered" and data["job"] == "id-holiday"
    assert data["name"] == "holiday" and data["result"] == "/out/holiday.mp4"
    assert data["reason"] is None and data["report"] == "/out/holiday.report.txt"
    assert data["at"] == "2026-01-10T18:30:05+01:00"
    assert data["link"] == "https://nw.example/jobs/id-holiday/editor"
    assert datetime.fromisoformat(data["at"]).timestamp() == local(2026, 1, 10, 18, 30, 5)


def test_the_command_gets_the_four_variables_and_not_the_daemons_secrets(
    rig: Callable[..., Rig],
) -> None:
    r = rig()
    r.notifier.handle(failed())
    (sent,) = r.sender.of("command")
    assert sent.env["NEMOWATCH_EVENT"] == "failed"
    assert sent.env["NEMOWATCH_JOB"] == "id-broken"
    assert sent.env["NEMOWATCH_RESULT"] == ""
    assert sent.env["NEMOWATCH_REASON"] == "broken.mp4 is empty. Drop the whole file again."
    assert sent.env["PATH"] == "/usr/bin:/bin", "the daemon's own environment, added to"
    assert "NEMO_TOKEN" not in sent.env
    assert sent.data["reason"] == sent.env["NEMOWATCH_REASON"]
    assert sent.data["link"] == "http://127.0.0.1:8686/jobs/id-broken/editor", "the page's default"


def test_events_not_chosen_are_not_sent(rig: Callable[..., Rig]) -> None:
    r = rig(events=["failed"])
    r.notifier.handle(delivered())
    r.notifier.handle(events.Progress("id-x", "x", what="upload", done=1, total=2))
    r.notifier.handle(failed())
    assert r.sender.events() == ["failed"]


def test_by_default_all_but_the_summary_are_chosen(rig: Callable[..., Rig]) -> None:
    r = rig(summary_at="18:00")
    r.notifier.tick()
    r.clock.now = local(2026, 1, 10, 18, 0, 10)
    r.notifier.tick()
    r.notifier.handle(delivered())
    assert r.sender.events() == ["delivered"]


def test_a_reload_changes_what_is_sent(rig: Callable[..., Rig]) -> None:
    r = rig(events=["failed"])
    r.notifier.handle(delivered())
    r.reload(command="record", events=["delivered"])
    r.notifier.handle(delivered())
    assert r.sender.events() == ["delivered"]


# -- paused and resumed ---------------------------------------------------------------


def test_ten_jobs_held_by_one_lasting_condition_make_one_paused_message(
    rig: Callable[..., Rig],
) -> None:
    r = rig()
    conditions = wired(r)
    start = r.clock.now
    conditions.raise_("credits", "out of credits: top up", Work.PAID_TURNS)
    for i in range(10):
        r.notifier.handle(held(f"clip{i}"))
    r.clock.now = start + 60
    r.notifier.tick()
    assert r.sender.events() == [], "not yet: it may pass by itself"

    r.clock.now = start + 121
    r.notifier.tick()
    r.clock.now = start + 300
    r.notifier.tick()
    (paused,) = r.sender.of("command")
    assert paused.data["event"] == "paused" and paused.data["condition"] == "credits"
    assert paused.data["jobs"] == [f"clip{i}" for i in range(10)]
    assert paused.data["reason"] == "out of credits: top up"
    assert paused.env["NEMOWATCH_EVENT"] == "paused"


def test_a_one_minute_outage_sends_nothing(rig: Callable[..., Rig]) -> None:
    r = rig()
    conditions = wired(r)
    start = r.clock.now
    conditions.raise_("network", "the network is down", Work.API)
    r.notifier.handle(held("clip", "network"))
    for seconds in (15, 30, 45, 60):
        r.clock.now = start + seconds
        r.notifier.tick()
    conditions.release("network")
    r.clock.now = start + 600
    r.notifier.tick()
    assert r.sender.sent == []


def test_resumed_follows_paused_once_the_condition_clears(rig: Callable[..., Rig]) -> None:
    r = rig()
    conditions = wired(r)
    start = r.clock.now
    conditions.raise_("disk", "the outbox is full: free some space", Work.DELIVERIES)
    r.clock.now = start + 130
    r.notifier.tick()
    conditions.release("disk")
    r.notifier.tick()
    assert r.sender.events() == ["paused", "resumed"]
    resumed = r.sender.of("command")[1].data
    assert resumed["condition"] == "disk" and "outbox is full" in resumed["reason"]


def test_the_users_own_pause_is_not_told(rig: Callable[..., Rig]) -> None:
    r = rig()
    conditions = wired(r)
    conditions.raise_("paused", "paused by `nemowatch pause`", Work.CLAIMS)
    r.clock.now += 600
    r.notifier.tick()
    assert r.sender.sent == []


# -- held -------------------------------------------------------------------------------


def test_a_jobs_own_hold_is_told_at_once_and_once(rig: Callable[..., Rig]) -> None:
    r = rig()
    hold = events.Held("id-v2", "v2", condition="refinement", reason="its first version is gone")
    r.notifier.handle(hold)
    r.notifier.handle(hold)
    (sent,) = r.sender.of("command")
    assert sent.data["event"] == "held" and sent.data["name"] == "v2"
    assert sent.data["job"] == "id-v2" and sent.data["reason"] == "its first version is gone"


def test_a_file_waiting_on_its_user_is_held_after_two_minutes_not_while_written(
    rig: Callable[..., Rig],
) -> None:
    r = rig()
    start = r.clock.now
    waiting = [
        ("talk.mp4", "waiting for instructions: add talk.txt"),
        ("big.mp4", "still being written (settling)"),
    ]
    r.notifier.waiting(waiting)
    r.notifier.tick()
    assert r.sender.sent == []
    r.clock.now = start + 125
    r.notifier.waiting(waiting)
    r.notifier.tick()
    r.notifier.tick()
    (sent,) = r.sender.of("command")
    assert sent.data["event"] == "held" and sent.data["name"] == "talk.mp4"
    assert sent.data["job"] is None and "add talk.txt" in sent.data["reason"]

    r.notifier.held("locked.mp4", "cannot be read (Permission denied)")  # the daemon's call
    assert r.sender.events() == ["held", "held"]


# -- credits ----------------------------------------------------------------------------


def test_credits_low_is_sent_once_then_again_only_after_the_balance_recovered(
    rig: Callable[..., Rig],
) -> None:
    r = rig(events=["credits_low"])
    r.notifier.credits(500, 100)
    r.notifier.credits(80, 100)
    r.notifier.credits(40, 150)
    assert r.sender.events() == ["credits_low"]
    assert r.sender.of("command")[0].data["balance"] == 80
    r.notifier.credits(200, 150)
    r.notifier.credits(100, 150)
    assert r.sender.events() == ["credits_low", "credits_low"]


# -- quiet hours ---------------------------------------------------------------------


def test_quiet_hours_across_midnight_keep_url_messages_and_send_one_at_their_end(
    rig: Callable[..., Rig],
) -> None:
    r = rig(urls=["json://127.0.0.1:9/hook"], quiet_hours="22:00-07:00")
    r.clock.now = local(2026, 1, 10, 21, 59)
    r.notifier.handle(delivered("evening"))
    assert len(r.sender.of("apprise")) == 1, "before the window: sent at once"

    r.clock.now = local(2026, 1, 10, 23, 30)
    r.notifier.handle(delivered("late"))
    r.clock.now = local(2026, 1, 11, 2, 0)
    r.notifier.handle(failed("night"))
    r.notifier.tick()
    r.clock.now = local(2026, 1, 11, 6, 59, 59)
    r.notifier.tick()
    assert len(r.sender.of("apprise")) == 1, "kept through the night"
    assert r.sender.events() == ["delivered", "delivered", "failed"], "the command runs at once"

    r.clock.now = local(2026, 1, 11, 7, 0, 10)
    r.notifier.tick()
    r.notifier.tick()
    apprise = r.sender.of("apprise")
    assert len(apprise) == 2
    title, body = apprise[1].message
    assert "2 notifications" in title
    assert "late" in body and "night" in body
    assert apprise[1].what == "json://127.0.0.1:9/hook"


def test_messages_are_sent_at_once_outside_the_quiet_hours(rig: Callable[..., Rig]) -> None:
    r = rig(urls=["json://127.0.0.1:9/hook"], quiet_hours="22:00-07:00")
    r.clock.now = local(2026, 1, 11, 7, 0)
    r.notifier.handle(delivered())
    assert len(r.sender.of("apprise")) == 1


# -- the summary ----------------------------------------------------------------------


def test_the_daily_summary_counts_the_day_at_summary_at(rig: Callable[..., Rig]) -> None:
    r = rig(summary_at="18:00", events=["summary"], now=local(2026, 1, 10, 17, 0))
    r.notifier.tick()
    r.notifier.handle(delivered("a", at=local(2026, 1, 10, 17, 10)))
    r.notifier.handle(delivered("b", at=local(2026, 1, 10, 17, 20)))
    r.notifier.handle(failed("c", at=local(2026, 1, 10, 17, 30)))
    r.clock.now = local(2026, 1, 10, 17, 59, 50)
    r.notifier.tick()
    assert r.sender.sent == []

    r.clock.now = local(2026, 1, 10, 18, 0, 10)
    r.notifier.tick()
    r.clock.now = local(2026, 1, 10, 18, 30)
    r.notifier.tick()
    (summary,) = r.sender.of("command")
    data = summary.data
    assert data["event"] == "summary"
    assert (data["delivered"], data["failed"], data["cancelled"]) == (2, 1, 0)
    assert data["since"] == "2026-01-09T18:00:00+01:00"
    assert data["until"] == "2026-01-10T18:00:00+01:00"
    assert "2 delivered, 1 failed" in data["reason"]

    r.clock.now = local(2026, 1, 11, 18, 0, 5)
    r.notifier.tick()
    assert r.sender.events() == ["summary", "summary"]
    assert r.sender.of("command")[1].data["delivered"] == 0


def test_the_summary_reads_the_history_when_given_one(rig: Callable[..., Rig]) -> None:
    r = rig(summary_at="18:00", events=["summary"], now=local(2026, 7, 1, 12, 0))
    asked: list[tuple[float, float]] = []

    def day_summary(since: float, until: float) -> dict[str, float]:
        asked.append((since, until))
        return {"delivered": 7, "failed": 2, "cancelled": 1, "credits": 450}

    r.notifier.summary_source = day_summary
    r.notifier.tick()
    r.clock.now = local(2026, 7, 1, 18, 0, 1)
    r.notifier.tick()
    assert asked == [(local(2026, 6, 30, 18, 0), local(2026, 7, 1, 18, 0))]
    data = r.sender.of("command")[0].data
    assert data["credits"] == 450 and data["at"] == "2026-07-01T18:00:00+02:00"
    assert "7 delivered, 2 failed, 1 cancelled; 450 credits spent" == data["reason"]
