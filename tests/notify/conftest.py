"""The notifier on a fake clock, its sends recorded (see `fakes`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from devkit.clock import FakeClock
from nemowatch.config import Settings
from nemowatch.notify import Notifier
from tests.notify.fakes import ZONE, Recorder, Rig, local


@pytest.fixture
def rig() -> Callable[..., Rig]:
    """`rig(command="x", events=[...])`: a notifier on a fake clock, recording its sends."""

    def make(*, now: float = local(2026, 1, 10, 12, 0), **notify: Any) -> Rig:
        notify.setdefault("command", "record")
        settings = [Settings(notify=notify)]
        clock, sender = FakeClock(now), Recorder()
        notifier = Notifier(
            lambda: settings[0],
            clock=clock,
            zone=ZONE,
            sender=sender,
            environ={"PATH": "/usr/bin:/bin", "NEMO_TOKEN": "nmv_usr_thedaemonstoken"},
        )
        return Rig(notifier, sender, clock, settings)

    return make
