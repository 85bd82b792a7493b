"""The channels as real processes: the command, Apprise to a loopback server.

What a job must never feel: `handle()` returns at once whatever the channel
does, and `stop(grace)` returns within the grace even when a channel hangs.
Bounds on wall-clock time are generous: they catch a hang, not a slow machine.
"""

from __future__ import annotations

import asyncio
import json
import logging
import queue
import shlex
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from nemowatch.config import Settings
from nemowatch.jobs import events
from nemowatch.notify import Notifier, Sender, process
from tests.notify.fakes import ZONE

SECRET = "s3cretPassw0rd"
#: what the tests allow a `handle()` and a `stop(grace=1)`: far above what they take
AT_ONCE, GRACE, STOP_BOUND = 2.0, 1.0, 5.0  # bounds, not speeds: loaded machines differ

RECORDER = """
import json, os, sys, time
out, mode = sys.argv[1], sys.argv[2]
entry = {
    "stdin": json.loads(sys.stdin.read()),
    "env": {k: os.environ.get(k) for k in os.environ if k.startswith("NEMOWATCH_")},
    "token": os.environ.get("NEMO_TOKEN"),
}
with open(out, "a") as f:
    f.write(json.dumps(entry) + "\\n")
print("recorded", entry["stdin"]["event"])
if mode == "fail":
    sys.exit(1)
if mode == "hang":
    time.sleep(60)
"""


def recorder(tmp_path: Path, mode: str = "ok") -> tuple[str, Path]:
    """A notification command (a Python script) and the file it appends each call to."""
    script, out = tmp_path / "record.py", tmp_path / "received.jsonl"
    script.write_text(RECORDER)
    command = " ".join(shlex.quote(str(p)) for p in (sys.executable, script, out))
    return f"{command} {mode}", out


def received(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []


async def eventually(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {timeout} s")
        await asyncio.sleep(0.02)
    return value


def notifier(**notify: Any) -> Notifier:
    settings = Settings(notify=notify)
    return Notifier(
        lambda: settings,
        zone=ZONE,
        sender=Sender(pauses=(0.05,)),
        environ={"PATH": "/usr/bin:/bin", "NEMO_TOKEN": "nmv_usr_thedaemonstoken"},
    )


def delivered(name: str = "holiday") -> events.Delivered:
    return events.Delivered(f"id-{name}", name, result=f"/out/{name}.mp4")


def failed(name: str = "broken") -> events.Failed:
    return events.Failed(f"id-{name}", name, stage="claimed", message=f"{name}.mp4 is empty.")


def timed(call: Callable[[], None]) -> float:
    started = time.monotonic()
    call()
    return time.monotonic() - started


# -- the command ----------------------------------------------------------------------


async def test_the_command_gets_each_event_as_json_and_in_its_environment(
    tmp_path: Path,
) -> None:
    command, out = recorder(tmp_path)
    n = notifier(command=command, events=["delivered", "failed", "held", "credits_low"])
    n.handle(delivered())
    n.handle(failed())
    n.held("locked.mp4", "cannot be read (Permission denied): check its permissions")
    n.credits(10, 100)
    await eventually(lambda: len(received(out)) == 4, 20, "four calls")
    await n.stop(GRACE)

    calls = {c["stdin"]["event"]: c for c in received(out)}
    assert set(calls) == {"delivered", "failed", "held", "credits_low"}
    for event, call in calls.items():
        assert call["env"]["NEMOWATCH_EVENT"] == event
        assert {"schema", "event", "job", "name", "result", "reason", "link", "at"} <= set(
            call["stdin"]
        )
        assert call["stdin"]["at"].endswith(("+01:00", "+02:00")), "local time with its offset"
        assert call["env"]["NEMOWATCH_JOB"] == (call["stdin"]["job"] or "")
        assert call["env"]["NEMOWATCH_RESULT"] == (call["stdin"]["result"] or "")
        assert call["env"]["NEMOWATCH_REASON"] == (call["stdin"]["reason"] or "")
        assert call["token"] is None, "the daemon's token stays with the daemon"
    assert calls["delivered"]["env"]["NEMOWATCH_RESULT"] == "/out/holiday.mp4"
    assert calls["failed"]["env"]["NEMOWATCH_REASON"] == "broken.mp4 is empty."
    assert calls["failed"]["env"]["NEMOWATCH_JOB"] == "id-broken"
    assert calls["held"]["stdin"]["name"] == "locked.mp4"


async def test_a_command_that_hangs_delays_neither_the_job_nor_the_stop(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    command, out = recorder(tmp_path, "hang")
    n = notifier(command=command)
    assert timed(lambda: n.handle(failed())) < AT_ONCE
    await eventually(lambda: received(out), 20, "the command to start")  # it sleeps now

    started = time.monotonic()
    await n.stop(GRACE)
    assert time.monotonic() - started < STOP_BOUND
    assert "1 notification(s) given up at stop" in caplog.text
    # its process is gone: the autouse leak check fails the test otherwise


async def test_a_command_that_overruns_its_timeout_is_killed_and_tried_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    command, out = recorder(tmp_path, "hang")
    n = notifier(command=command, timeout_seconds=0.5)
    n.handle(failed())
    await n.stop(20)  # three tries of half a second, then the warning
    assert len(received(out)) == 3
    assert "not sent (3 tries): killed after 0.5 s without finishing" in caplog.text


async def test_a_command_that_fails_is_tried_three_times_then_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="nemowatch")
    command, out = recorder(tmp_path, "fail")
    n = notifier(command=command)
    assert timed(lambda: n.handle(failed())) < AT_ONCE
    await n.stop(20)
    assert [c["stdin"]["event"] for c in received(out)] == ["failed"] * 3
    assert "notification command not sent (3 tries): exited with status 1" in caplog.text
    assert "notification command stdout: recorded failed" in caplog.text, "output at DEBUG"


# -- Apprise --------------------------------------------------------------------------


@dataclass
class Hook:
    """A loopback HTTP server taking Apprise's `json://` posts."""

    status: int = 200
    posts: queue.Queue[tuple[dict[str, str], dict[str, Any]]] = field(default_factory=queue.Queue)
    port: int = 0

    def url(self, path: str = "hook") -> str:
        return f"json://user:{SECRET}@127.0.0.1:{self.port}/{path}"


@pytest.fixture
def hook() -> Iterator[Hook]:
    found = Hook()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
            body = self.rfile.read(int(self.headers["Content-Length"]))
            found.posts.put((dict(self.headers), json.loads(body)))
            self.send_response(found.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    found.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, name="hook", daemon=True)
    thread.start()
    yield found
    server.shutdown()
    server.server_close()
    thread.join(5)


def posts(hook: Hook) -> list[tuple[dict[str, str], dict[str, Any]]]:
    found = []
    while not hook.posts.empty():
        found.append(hook.posts.get_nowait())
    return found


async def test_an_apprise_url_gets_the_message(
    hook: Hook, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="nemowatch")
    n = notifier(urls=[hook.url()])
    assert timed(lambda: n.handle(delivered())) < AT_ONCE
    got: list[tuple[dict[str, str], dict[str, Any]]] = []
    await eventually(lambda: got.extend(posts(hook)) or got, 30, "the post")
    # the child ends by itself once answered: a loaded machine may take seconds for it,
    # and this test is not about the stop (cancelling a child is tested above)
    await n.stop(30)
    ((headers, body),) = got
    assert body["title"] == "nemowatch: delivered: holiday"
    assert "Result: /out/holiday.mp4" in body["message"]
    assert headers["Authorization"].startswith("Basic "), "the URL's login was used"
    assert SECRET not in caplog.text
    assert f"notification sent to json://user:****@127.0.0.1:{hook.port}/hook" in caplog.text


async def test_an_apprise_url_that_fails_is_tried_three_times_and_logged_masked(
    hook: Hook, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="nemowatch")
    hook.status = 500
    n = notifier(urls=[hook.url()])
    n.handle(failed())
    await n.stop(60)
    assert len(posts(hook)) == 3
    assert f"json://user:****@127.0.0.1:{hook.port}/hook not sent (3 tries)" in caplog.text
    assert SECRET not in caplog.text


@pytest.fixture
def silent_server() -> Iterator[tuple[int, list[socket.socket]]]:
    """A server that accepts connections and never answers; (port, the accepted)."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.05)
    accepted: list[socket.socket] = []
    done = threading.Event()

    def accept() -> None:
        while not done.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, name="silent", daemon=True)
    thread.start()
    yield listener.getsockname()[1], accepted
    done.set()
    thread.join(5)
    for conn in accepted:
        conn.close()
    listener.close()


async def test_an_apprise_url_that_never_answers_does_not_delay_the_stop(
    silent_server: tuple[int, list[socket.socket]], caplog: pytest.LogCaptureFixture
) -> None:
    port, accepted = silent_server
    n = notifier(urls=[f"json://user:{SECRET}@127.0.0.1:{port}/hook"], timeout_seconds=60)
    assert timed(lambda: n.handle(delivered())) < AT_ONCE
    await eventually(lambda: accepted, 30, "the connection")  # Apprise waits for an answer now

    started = time.monotonic()
    await n.stop(GRACE)
    assert time.monotonic() - started < STOP_BOUND
    assert "1 notification(s) given up at stop" in caplog.text
    assert SECRET not in caplog.text


@pytest.mark.parametrize("after", [0.0, 0.001, 0.005, 0.05])
async def test_a_run_cancelled_while_its_child_starts_ends_and_kills_the_child(
    after: float,
) -> None:
    """Python 3.11 never finishes a subprocess spawn cancelled while its pipes connect:
    the daemon's stop would hang on such a notification."""
    argv = [sys.executable, "-c", "import time; time.sleep(60)"]
    task = asyncio.create_task(process.run(argv, "", timeout=60))
    await asyncio.sleep(after)
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=15)
    assert done, "the cancelled run ended"
    # the child is gone: the autouse leak check fails the test otherwise
