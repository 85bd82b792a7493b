"""Fakes for the notification tests: a sender that records, a zone, local times."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from devkit.clock import FakeClock
from nemowatch.config import Settings
from nemowatch.notify import Notifier, Sender
from nemowatch.notify.channels import Attempt, run_command

#: quiet hours and the summary are read in this zone (it has DST, and is not UTC)
ZONE = ZoneInfo("Europe/Berlin")


def local(*when: int) -> float:
    """Epoch seconds of a local time in `ZONE`: `local(2026, 1, 10, 22, 0)`."""
    return datetime(*when, tzinfo=ZONE).timestamp()  # type: ignore[misc]


@dataclass
class Sent:
    """One delivery the notifier asked for, as the channel would have got it."""

    what: str
    attempt: Attempt

    @property
    def kind(self) -> str:
        assert isinstance(self.attempt, partial)
        return "command" if self.attempt.func is run_command else "apprise"

    @property
    def data(self) -> dict[str, Any]:
        """The command's stdin, parsed."""
        assert isinstance(self.attempt, partial) and self.kind == "command"
        parsed: dict[str, Any] = json.loads(self.attempt.args[1])
        return parsed

    @property
    def env(self) -> dict[str, str]:
        assert isinstance(self.attempt, partial) and self.kind == "command"
        env: dict[str, str] = self.attempt.args[2]
        return env

    @property
    def message(self) -> tuple[str, str]:
        """(title, body) of an Apprise message."""
        assert isinstance(self.attempt, partial) and self.kind == "apprise"
        return self.attempt.args[1], self.attempt.args[2]


class Recorder(Sender):
    """A sender that only records what it was asked to deliver."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[Sent] = []

    def submit(self, what: str, attempt: Attempt) -> None:
        self.sent.append(Sent(what, attempt))

    def of(self, kind: str) -> list[Sent]:
        return [s for s in self.sent if s.kind == kind]

    def events(self) -> list[str]:
        return [s.data["event"] for s in self.of("command")]


@dataclass
class Rig:
    notifier: Notifier
    sender: Recorder
    clock: FakeClock
    settings: list[Settings]

    def reload(self, **notify: Any) -> None:
        self.settings[0] = Settings(notify=notify)
