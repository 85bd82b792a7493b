"""Time for notifications: one clock, quiet hours and the daily summary's time.

Every time of day is found with APScheduler's `CronTrigger.get_next_fire_time`
on the clock handed in (local time, so daylight saving time is followed), the
way work hours are: tests run quiet hours and the summary on a fake clock.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, tzinfo

from apscheduler.triggers.cron import CronTrigger
from tzlocal import get_localzone

#: a clock: an aware datetime, or seconds since the epoch (as `time.time` gives)
Clock = Callable[[], "datetime | float"]

#: just past an instant: a window includes its start and excludes its end
_TICK = timedelta(microseconds=1)


def local_zone() -> tzinfo:
    """The machine's time zone (what "22:00" in the configuration means)."""
    return get_localzone()


def as_local(value: datetime | float, zone: tzinfo) -> datetime:
    """A clock's reading as an aware datetime in `zone`."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("the clock must give aware datetimes")
        return value.astimezone(zone)
    return datetime.fromtimestamp(value, UTC).astimezone(zone)


def iso(at: float, zone: tzinfo) -> str:
    """ISO 8601 with the offset, to the second: `2026-11-22T18:00:00+01:00`."""
    return datetime.fromtimestamp(at, UTC).astimezone(zone).isoformat(timespec="seconds")


def parse_hhmm(text: str) -> tuple[int, int]:
    hours, _, minutes = text.strip().partition(":")
    return int(hours), int(minutes)


def next_time(hhmm: str, now: datetime) -> datetime:
    """The first moment at `hhmm` (local to `now`) strictly after `now`."""
    hour, minute = parse_hhmm(hhmm)
    trigger = CronTrigger(hour=hour, minute=minute, timezone=now.tzinfo)
    fire: datetime | None = trigger.get_next_fire_time(None, now + _TICK)
    if fire is None:  # a daily trigger always fires again; this is only for the type
        raise ValueError(f"no next time for {hhmm!r}")
    return fire


def quiet_until(window: str, now: datetime) -> datetime | None:
    """The end of the quiet window `now` lies in ("22:00-07:00"), or None outside it.

    The window may run across midnight; it includes its start and excludes its end.
    """
    if not window:
        return None
    start, _, end = window.partition("-")
    next_end = next_time(end, now)
    # inside exactly when the window ends before it starts again
    return next_end if next_end < next_time(start, now) else None
