"""Shared fakes for the client tests: a fake clock, a respx server, a client factory.

Every test talks to `https://api.test` through respx; nothing leaves the
process. Waits are recorded by a fake sleep instead of being waited.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from apifakes import ANON_PATH, ANON_TOKEN, BASE, FakeClock, ok

from nemowatch.api import NemoClient, RetryPolicy
from nemowatch.config import ApiSettings, ExportSettings


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="session")
def tls() -> ssl.SSLContext:
    """One TLS context for the session: building one per client costs ~0.1 s."""
    return ssl.create_default_context()


@pytest.fixture
async def http(tls: ssl.SSLContext) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(verify=tls) as client:
        yield client


@pytest.fixture
def server() -> Iterator[respx.MockRouter]:
    """The mocked API; the anonymous-token call answers with a token by default."""
    with respx.mock(base_url=BASE, assert_all_called=False) as mock:
        mock.post(ANON_PATH, name="anon").mock(
            return_value=ok({"token": ANON_TOKEN, "credits": 100})
        )
        yield mock


@pytest.fixture
def anon(server: respx.MockRouter) -> respx.Route:
    return server["anon"]


@pytest.fixture
def client_id_file(tmp_path: Path) -> Path:
    return tmp_path / "config" / "client_id"


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"


MakeClient = Callable[..., NemoClient]


@pytest.fixture
def make_client(
    http: httpx.AsyncClient, client_id_file: Path, state_dir: Path, clock: FakeClock
) -> MakeClient:
    """Build a client; keyword arguments override `[api]`/`[export]` settings."""

    def make(
        *,
        api: dict[str, Any] | None = None,
        export: dict[str, Any] | None = None,
        retries: int = 2,
        retry: RetryPolicy | None = None,
        real_clock: bool = False,
    ) -> NemoClient:
        api_settings = ApiSettings(base_url=BASE, client_id_file=client_id_file, **(api or {}))
        export_settings = ExportSettings(
            **({"poll_first_seconds": 2, "poll_max_seconds": 5} | (export or {}))
        )
        return NemoClient(
            http,
            api_settings,
            export_settings,
            state_dir=state_dir,
            retry=retry or RetryPolicy(retries=retries, base_seconds=0, sleep=clock.sleep),
            clock=time.monotonic if real_clock else clock,
        )

    return make


@pytest.fixture
def client(make_client: MakeClient) -> NemoClient:
    return make_client()
