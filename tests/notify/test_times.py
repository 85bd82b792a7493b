"""Quiet hours and times of day, on the one clock (APScheduler's cron arithmetic)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from nemowatch.notify.times import as_local, iso, next_time, quiet_until
from tests.notify.fakes import ZONE


def at(*when: int) -> datetime:
    return datetime(*when, tzinfo=ZONE)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("now", "until"),
    [
        (at(2026, 1, 10, 21, 59, 59), None),
        (at(2026, 1, 10, 22, 0), at(2026, 1, 11, 7, 0)),
        (at(2026, 1, 10, 23, 59), at(2026, 1, 11, 7, 0)),
        (at(2026, 1, 11, 0, 0), at(2026, 1, 11, 7, 0)),
        (at(2026, 1, 11, 6, 59, 59), at(2026, 1, 11, 7, 0)),
        (at(2026, 1, 11, 7, 0), None),
        (at(2026, 1, 11, 12, 0), None),
    ],
)
def test_a_window_across_midnight_includes_its_start_and_excludes_its_end(
    now: datetime, until: datetime | None
) -> None:
    assert quiet_until("22:00-07:00", now) == until


def test_a_window_within_one_day() -> None:
    assert quiet_until("09:00-17:30", at(2026, 1, 10, 8, 59)) is None
    assert quiet_until("09:00-17:30", at(2026, 1, 10, 12, 0)) == at(2026, 1, 10, 17, 30)
    assert quiet_until("09:00-17:30", at(2026, 1, 10, 17, 30)) is None
    assert quiet_until("", at(2026, 1, 10, 12, 0)) is None


def test_the_window_follows_daylight_saving_time() -> None:
    # the night of 29 March 2026 loses an hour in Berlin: 07:00 is still 07:00 local
    end = quiet_until("22:00-07:00", at(2026, 3, 28, 23, 0))
    assert end == at(2026, 3, 29, 7, 0) and end is not None
    assert end.utcoffset() == at(2026, 7, 1, 0, 0).utcoffset()


def test_next_time_is_strictly_after_now() -> None:
    assert next_time("18:00", at(2026, 1, 10, 17, 0)) == at(2026, 1, 10, 18, 0)
    assert next_time("18:00", at(2026, 1, 10, 18, 0)) == at(2026, 1, 11, 18, 0)


def test_a_clock_may_give_epoch_seconds_or_an_aware_datetime() -> None:
    noon = at(2026, 1, 10, 12, 0)
    assert as_local(noon.timestamp(), ZONE) == noon
    assert as_local(noon.astimezone(UTC), ZONE) == noon
    with pytest.raises(ValueError, match="aware"):
        as_local(datetime(2026, 1, 10, 12, 0), ZONE)  # noqa: DTZ001 - the case refused
    assert iso(noon.timestamp(), ZONE) == "2026-01-10T12:00:00+01:00"
