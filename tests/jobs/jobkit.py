"""Helpers of the pipeline tests (the fixtures that use them are in conftest.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from devkit.clock import FakeClock as FakeClock  # re-exported for the tests
from nemowatch.api import NemoClient
from nemowatch.config import Settings
from nemowatch.emulator import EmulatorServer
from nemowatch.jobs import events
from nemowatch.jobs.context import Context
from nemowatch.jobs.journal import JobFolder

#: the instructions of a test job
NOTE = 'Trim the silences and add the title "Pipeline Test"'
#: the smallest start of an MP4 (an ftyp box), then some bytes: without ffmpeg the
#: emulator renders a copy of the upload, so a delivered result is this file again
VIDEO = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + bytes(range(256)) * 16
#: what one turn costs on the emulator, and what a new account holds
TURN_COST = 50
CREDITS = 1000
#: no time spent on the emulator's side: turns, renders and the second stage are instant
KNOBS: dict[str, Any] = {
    "credits": CREDITS,
    "turn_cost": TURN_COST,
    "turn_seconds": 0.0,
    "heartbeat_seconds": 0.05,
    "silent_share": 0.0,
    "force_silent": False,
    "second_stage": False,
    "render_seconds": 0.0,
    "transcode": False,
    "use_ffmpeg": False,
}
#: the recovery schedule of the API page: 30 s, then 60 s between reads, five reads
RECOVERY_WAITS = [30.0, 60.0, 60.0, 60.0, 60.0]


#: the `make_client` fixture: a `NemoClient` for some `Settings`
MakeClient = Callable[[Settings], NemoClient]
#: the `make_ctx` fixture: a `Context` around a client (`results=` optional)
MakeContext = Callable[..., Context]
#: the `make_job` fixture: a claimed job folder with its journal
MakeJob = Callable[..., JobFolder]
#: the `run` fixture: `await run(folder, crash_at=..., ...)` -> Outcome | None
Run = Callable[..., Any]


class Crash(Exception):
    """The process died right after journaling a step (raised by the event listener)."""


def calls(emu: EmulatorServer, endpoint: str | None = None) -> list[dict[str, Any]]:
    """The emulator's journal records (of one endpoint), oldest first."""
    return emu.control.journal(endpoint=endpoint)


def endpoints(emu: EmulatorServer) -> list[str]:
    """Which calls the emulator received, in order."""
    return [r["endpoint"] for r in calls(emu)]


def accepted(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The calls the API answered with success (HTTP 200, no error code)."""
    return [r for r in records if r["status"] == 200 and r["code"] in (None, 0)]


def header(record: dict[str, Any], name: str) -> str | None:
    """A request header of a journal record, looked up case-insensitively."""
    return next((v for k, v in record["headers"].items() if k.lower() == name.lower()), None)


def session_of(record: dict[str, Any]) -> str:
    """The session a journaled call went to (its path's last part, or its body)."""
    body = record.get("body") or {}
    return str(body.get("session_id") or body.get("sessionId") or record["path"].split("/")[-1])


def milestones(collected: list[events.JobEvent]) -> list[tuple[str, str]]:
    """The events without the progress ones, as (kind, stage or detail)."""
    out = []
    for event in collected:
        if isinstance(event, events.Progress):
            continue
        detail = getattr(event, "stage", "") or getattr(event, "condition", "")
        if isinstance(event, events.TurnAnswered):
            detail = f"turn {event.index + 1}"
        out.append((type(event).__name__, str(detail)))
    return out


def names(folder: Path) -> list[str]:
    """The names in a folder, sorted (nothing when it does not exist)."""
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
