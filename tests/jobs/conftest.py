"""Fixtures for the in-process pipeline tests: the emulator on loopback, a fake clock.

The pipeline runs in the test's event loop against `NemoClient` on a real
`httpx.AsyncClient` talking to the emulator, served by a thread of this
process with no delays of its own. Every wait of the pipeline (recovery
reads, render polls, retries, the settle time) goes through a fake `sleep`
that advances a fake clock at once, so the waits are the documented ones
(30 s, 60 s, ...) and cost nothing.

Each test has an emulator of its own (nothing carries over from one test to
the next), and its own client id, token cache and folders.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import ssl
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from jobkit import (
    KNOBS,
    NOTE,
    VIDEO,
    Crash,
    FakeClock,
    MakeClient,
    MakeContext,
    MakeJob,
    Run,
)

from nemowatch.api import NemoClient, RetryPolicy
from nemowatch.conditions import Conditions
from nemowatch.config import ApiSettings, ExportSettings, FolderSettings, Settings
from nemowatch.emulator import EmulatorServer, EmulatorSettings
from nemowatch.jobs import events, finish
from nemowatch.jobs.context import Context, Outcome
from nemowatch.jobs.journal import JobFolder
from nemowatch.jobs.model import Job, JobStage
from nemowatch.jobs.pipeline import Pipeline

#: how long one pipeline run may take before the test fails (it takes ~0.1 s)
RUN_TIMEOUT = 15.0


@pytest.fixture
def emu() -> Iterator[EmulatorServer]:
    """An emulator of this test's own, with no delays (one starts in ~30 ms)."""
    with EmulatorServer(settings=EmulatorSettings(**KNOBS)) as emulator:
        yield emulator


def _open_fds() -> dict[int, str]:
    fds: dict[int, str] = {}
    for name in os.listdir("/proc/self/fd"):
        try:
            fds[int(name)] = os.readlink(f"/proc/self/fd/{name}")
        except OSError:
            continue  # the listing's own descriptor, closed meanwhile
    return fds


@pytest.fixture(autouse=True)
def no_fd_leak() -> Iterator[None]:
    """A test must close every file and socket it opened.

    The emulator's side of a connection closes a moment after the client's,
    so the check waits for the count to come back, up to a few seconds.
    """
    before = _open_fds()
    yield
    deadline = time.monotonic() + 5
    while len(now := _open_fds()) > len(before) and time.monotonic() < deadline:
        time.sleep(0.02)
    leaked = sorted(target for fd, target in now.items() if before.get(fd) != target)
    assert len(now) <= len(before), f"file descriptors left open: {leaked}"


# -- settings, client, context -------------------------------------------------------


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "nw"


@pytest.fixture
def settings(root: Path, emu: EmulatorServer) -> Settings:
    """The documented waits (they cost nothing on the fake clock), folders under `root`."""
    return Settings(
        folders=FolderSettings(
            inbox=root / "inbox",
            outbox=root / "outbox",
            failed=root / "failed",
            work=root / "work",
            state=root / "state",
        ),
        api=ApiSettings(
            base_url=emu.url,
            client_id_file=root / "client_id",
            sse_idle_timeout_seconds=10,
            read_timeout_seconds=10,
        ),
        export=ExportSettings(state_settle_seconds=0),
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="session")
def tls() -> ssl.SSLContext:
    """One TLS context for the session: loading the certificates costs ~40 ms a client
    (the emulator speaks plain HTTP; the client builds a context all the same)."""
    return ssl.create_default_context()


@pytest.fixture
async def http(tls: ssl.SSLContext) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10, verify=tls) as client:
        yield client


@pytest.fixture
def make_client(http: httpx.AsyncClient, clock: FakeClock) -> MakeClient:
    """A `NemoClient` for `settings`, its retries waiting on the fake clock."""

    def make(settings: Settings) -> NemoClient:
        retry = RetryPolicy(
            retries=settings.jobs.retries,
            base_seconds=settings.api.retry_base_seconds,
            max_seconds=settings.api.retry_max_seconds,
            rate_limit_seconds=settings.api.rate_limit_seconds,
            sleep=clock.sleep,
        )
        return NemoClient(
            http, settings.api, settings.export, state_dir=settings.folders.state_dir, retry=retry
        )

    return make


@pytest.fixture
def client(make_client: MakeClient, settings: Settings) -> NemoClient:
    return make_client(settings)


@pytest.fixture
def conditions(clock: FakeClock) -> Conditions:
    return Conditions(clock=clock)


@pytest.fixture
def collected() -> list[events.JobEvent]:
    """Every job event the pipeline emitted, in order."""
    return []


@pytest.fixture
def make_ctx(
    settings: Settings, conditions: Conditions, clock: FakeClock, collected: list[events.JobEvent]
) -> MakeContext:
    """A `Context` around `client`, on the fake clock, collecting events; `results`
    defaults to inbox results."""

    def make(client: NemoClient, results: finish.Results | None = None) -> Context:
        return Context(
            client,
            settings,
            conditions,
            asyncio.Semaphore(1),
            asyncio.Event(),
            emit=collected.append,
            results=results or finish.InboxResults(),
            sleep=clock.sleep,
            clock=clock,
        )

    return make


@pytest.fixture
def ctx(make_ctx: MakeContext, client: NemoClient) -> Context:
    return make_ctx(client)


# -- jobs ------------------------------------------------------------------------------


@pytest.fixture
def make_job(settings: Settings) -> MakeJob:
    """A claimed job folder: `files/NAME.mp4` and `files/NAME.txt`, and its journal.

    Keyword arguments: `text` (the instructions; turns split by `---`), `video`
    (the media's bytes), and any other field of `Job`.
    """
    made: list[str] = []

    def make(
        name: str = "clip",
        *,
        text: str = NOTE,
        video: bytes = VIDEO,
        **fields: Any,
    ) -> JobFolder:
        made.append(name)
        folder = JobFolder(settings.folders.work_dir / f"20260101-000000-{name}-{len(made):04x}")
        folder.files.mkdir(parents=True)
        media, note = f"{name}.mp4", f"{name}.txt"
        (folder.files / media).write_bytes(video)
        (folder.files / note).write_text(text, encoding="utf-8")
        inbox = settings.folders.inbox
        job = Job(
            id=folder.path.name,
            name=name,
            kind="pair",
            media=[media],
            instructions_file=note,
            origins={media: str(inbox / media), note: str(inbox / note)},
            **fields,
        )
        folder.save(job)
        return folder

    return make


@pytest.fixture
def run(ctx: Context) -> Run:
    """Run the pipeline on a job folder from its journal on disk, as a worker does.

    `crash_at`: a stage; the run ends right after that stage was journaled
    (what a `kill -9` there leaves behind) and returns None. `crash_when`:
    the same after any event for which it answers True. `context`: another
    context than the test's `ctx`.
    """

    async def run_job(
        folder: JobFolder,
        *,
        crash_at: JobStage | None = None,
        crash_when: Callable[[events.JobEvent], bool] | None = None,
        context: Context | None = None,
    ) -> Outcome | None:
        base = context or ctx

        def listener(event: events.JobEvent) -> None:
            base.emit(event)
            reached = isinstance(event, events.StageReached) and event.stage is crash_at
            if reached or (crash_when is not None and crash_when(event)):
                raise Crash(event)

        pipeline = Pipeline(folder, folder.load(), dataclasses.replace(base, emit=listener))
        try:
            async with asyncio.timeout(RUN_TIMEOUT):
                with folder.log_kept_open():
                    return await pipeline.run()
        except Crash:
            return None

    return run_job
