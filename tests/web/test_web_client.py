"""`DaemonClient` (synchronous, run here in a thread) against the real server."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from nemowatch.errors import AmbiguousError, DaemonNotRunningError, NotFoundError, UsageError
from nemowatch.web.client import DaemonClient
from tests.web.webfakes import ENTRY, served


@pytest.fixture
def state(tmp_path: Path) -> Path:
    folder = tmp_path / "state"
    folder.mkdir()
    return folder


async def test_the_client_reads_and_acts_through_the_socket(state: Path) -> None:
    async with served(state) as api:

        def use() -> tuple[object, ...]:
            with DaemonClient(api.socket) as client:
                return (
                    client.status(),
                    client.jobs(),
                    client.history(failed=True, since_days=1.5, limit=2, offset=4, search="x"),
                    client.pause(),
                    client.resume(),
                    client.cancel("holiday"),
                    client.retry("holiday", "start-over"),
                    client.retry_all(),
                    client.metrics(),
                )

        (
            status,
            jobs,
            history,
            paused,
            resumed,
            cancelled,
            retried,
            every,
            text,
        ) = await asyncio.to_thread(use)
    assert isinstance(status, dict) and status["schema"] == 1 and status["pid"] == 1234
    assert jobs == status["jobs"]
    assert history == [ENTRY]
    assert paused == "Paused: running steps stop at their next checkpoint."
    assert isinstance(resumed, str) and resumed.startswith("Resumed")
    assert cancelled == "Cancelling holiday at its next checkpoint."
    assert retried == "holiday is back in line."
    assert every == "2 failed jobs are back in line."
    assert isinstance(text, str) and "nemowatch_jobs_total" in text
    assert ("history", True, 1.5, 2, 4, "x") in api.control.calls
    assert ("retry", "holiday", "start-over") in api.control.calls


async def test_the_answers_errors_come_back_as_the_packages(state: Path) -> None:
    async with served(state) as api:

        def fail(call: str, *args: str) -> BaseException:
            with DaemonClient(api.socket) as client:
                try:
                    getattr(client, call)(*args)
                except Exception as exc:  # noqa: BLE001 - the test returns what was raised
                    return exc
            raise AssertionError(f"{call} did not raise")

        missing = await asyncio.to_thread(fail, "cancel", "nothing")
        ambiguous = await asyncio.to_thread(fail, "cancel", "twins")
        usage = await asyncio.to_thread(fail, "retry", "holiday", "twice")
    assert isinstance(missing, NotFoundError) and str(missing) == "no job named nothing"
    assert isinstance(ambiguous, AmbiguousError) and ambiguous.ids == ["t1", "t2"]
    assert type(usage) is UsageError and "start-over" in str(usage)


def test_no_socket_means_the_daemon_is_not_running(tmp_path: Path) -> None:
    path = tmp_path / "nemowatch.sock"
    with DaemonClient(path) as client, pytest.raises(DaemonNotRunningError, match="not running"):
        client.status()


def test_a_socket_nobody_listens_on_means_the_daemon_is_not_running(tmp_path: Path) -> None:
    path = tmp_path / "nemowatch.sock"
    dead = socket.socket(socket.AF_UNIX)
    dead.bind(str(path))
    dead.close()
    with DaemonClient(path) as client, pytest.raises(DaemonNotRunningError, match=str(path)):
        client.pause()
