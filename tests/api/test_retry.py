"""The retry policy: which faults are repeated, how often, and how long it waits."""

from __future__ import annotations

import email.utils
import random
import time

import httpx
import pytest
import respx
from apifakes import CREDITS_PATH, FakeClock, envelope, ok

from nemowatch.api import NemoClient, RetryPolicy
from nemowatch.errors import (
    ApiCodeError,
    ApiError,
    ClientIdError,
    FileTooLargeError,
    OutOfCreditsError,
    PlanBlockedError,
    RateLimitedError,
    ScopeError,
    ServerError,
    SessionLostError,
    TransportError,
    UnsupportedFileError,
)

CREDITS = {"available": 1, "frozen": 0, "total": 1}


@pytest.mark.parametrize(
    "fault",
    [
        httpx.ConnectError("refused"),
        httpx.ConnectTimeout("connect timed out"),
        httpx.ReadTimeout("read timed out"),
        httpx.RemoteProtocolError("peer closed the connection"),
        httpx.Response(500),
        httpx.Response(503, json=envelope(code=503)),
        httpx.Response(200, json=envelope(code=500)),
        httpx.Response(429),
    ],
    ids=["connect", "connect-timeout", "read-timeout", "cut", "500", "503", "env-500", "429"],
)
async def test_transient_fault_is_retried_retries_times_then_raised(
    client: NemoClient, server: respx.MockRouter, clock: FakeClock, fault: object
) -> None:
    route = server.get(CREDITS_PATH).mock(side_effect=[fault] * 3 + [ok(CREDITS)])
    with pytest.raises(ApiError) as info:
        await client.credits()
    assert info.value.transient
    assert route.call_count == 3  # 1 + retries
    assert len(clock.sleeps) == 2


@pytest.mark.parametrize(
    "fault",
    [httpx.ConnectError("refused"), httpx.Response(502), httpx.Response(429)],
    ids=["connect", "502", "429"],
)
async def test_transient_fault_then_success_returns_the_answer(
    client: NemoClient, server: respx.MockRouter, fault: object
) -> None:
    route = server.get(CREDITS_PATH).mock(side_effect=[fault, fault, ok(CREDITS)])
    credits = await client.credits()
    assert credits.available == 1
    assert route.call_count == 3


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (httpx.Response(200, json=envelope(code=4001)), UnsupportedFileError),
        (httpx.Response(200, json=envelope(code=4002)), FileTooLargeError),
        (httpx.Response(402), PlanBlockedError),
        (httpx.Response(403), ScopeError),
        (httpx.Response(200, json=envelope(code=1002)), SessionLostError),
        (httpx.Response(200, json=envelope(code=2001)), OutOfCreditsError),
        (httpx.Response(400), ClientIdError),
        (httpx.Response(404), ApiCodeError),
        (httpx.Response(200, json=envelope(code=9999)), ApiCodeError),
    ],
)
async def test_non_transient_error_is_raised_at_once_after_one_request(
    client: NemoClient,
    server: respx.MockRouter,
    clock: FakeClock,
    answer: httpx.Response,
    error: type[ApiError],
) -> None:
    route = server.get(CREDITS_PATH).mock(side_effect=[answer, ok(CREDITS)])
    with pytest.raises(error):
        await client.credits()
    assert route.call_count == 1
    assert clock.sleeps == []


@pytest.mark.parametrize("retries", [0, 1, 4])
async def test_number_of_requests_is_one_plus_retries(
    make_client, server: respx.MockRouter, retries: int
) -> None:
    route = server.get(CREDITS_PATH).respond(500)
    with pytest.raises(ServerError):
        await make_client(retries=retries).credits()
    assert route.call_count == 1 + retries


async def test_backoff_grows_exponentially_with_jitter_within_half_to_full() -> None:
    clock = FakeClock()
    policy = RetryPolicy(
        retries=5, base_seconds=1.0, max_seconds=60.0, sleep=clock.sleep, rng=random.Random(42)
    )
    calls = 0

    async def failing() -> None:
        nonlocal calls
        calls += 1
        raise ServerError("down", code=500)

    with pytest.raises(ServerError):
        await policy.run(failing, "test")
    assert calls == 6
    assert len(clock.sleeps) == 5
    for attempt, wait in enumerate(clock.sleeps):
        full = 2.0**attempt
        assert full / 2 <= wait <= full, (attempt, wait)
    # jitter: not simply the lower or upper bound every time
    assert any(w not in (2.0**a, 2.0**a / 2) for a, w in enumerate(clock.sleeps))


async def test_backoff_is_reproducible_with_a_seeded_random() -> None:
    async def run(seed: int) -> list[float]:
        clock = FakeClock()
        policy = RetryPolicy(
            retries=4, base_seconds=1.0, sleep=clock.sleep, rng=random.Random(seed)
        )

        async def failing() -> None:
            raise TransportError("cut")

        with pytest.raises(TransportError):
            await policy.run(failing, "test")
        return clock.sleeps

    first, again, other = await run(7), await run(7), await run(8)
    assert first == again
    assert first != other


def test_backoff_is_capped_at_max_seconds() -> None:
    policy = RetryPolicy(base_seconds=10.0, max_seconds=15.0, rng=random.Random(1))
    error = ServerError("down", code=500)
    for attempt in range(2, 8):
        assert 7.5 <= policy.delay(attempt, error) <= 15.0


def test_rate_limit_without_retry_after_waits_rate_limit_seconds() -> None:
    policy = RetryPolicy(base_seconds=1.0, rate_limit_seconds=30.0, rng=random.Random(1))
    assert policy.delay(0, RateLimitedError("slow down", code=429)) == 30.0


def test_retry_after_longer_than_the_backoff_wins() -> None:
    policy = RetryPolicy(base_seconds=1.0, rng=random.Random(1))
    assert policy.delay(0, ServerError("down", code=503, retry_after=9.0)) == 9.0


def test_backoff_longer_than_retry_after_wins() -> None:
    policy = RetryPolicy(base_seconds=8.0, rng=random.Random(1))
    assert policy.delay(0, RateLimitedError("slow", code=429, retry_after=1.0)) >= 4.0


async def test_429_without_retry_after_waits_rate_limit_seconds(
    make_client, server: respx.MockRouter, clock: FakeClock
) -> None:
    server.get(CREDITS_PATH).mock(side_effect=[httpx.Response(429), ok(CREDITS)])
    client = make_client(
        retry=RetryPolicy(retries=2, base_seconds=0, rate_limit_seconds=30, sleep=clock.sleep)
    )
    await client.credits()
    assert clock.sleeps == [30.0]


async def test_429_honours_retry_after_in_seconds(
    client: NemoClient, server: respx.MockRouter, clock: FakeClock
) -> None:
    server.get(CREDITS_PATH).mock(
        side_effect=[httpx.Response(429, headers={"Retry-After": "7"}), ok(CREDITS)]
    )
    await client.credits()
    assert clock.sleeps == [7.0]


async def test_429_honours_retry_after_as_an_http_date(
    client: NemoClient, server: respx.MockRouter, clock: FakeClock
) -> None:
    when = email.utils.formatdate(time.time() + 120, usegmt=True)
    server.get(CREDITS_PATH).mock(
        side_effect=[httpx.Response(429, headers={"Retry-After": when}), ok(CREDITS)]
    )
    await client.credits()
    assert len(clock.sleeps) == 1
    assert 115 < clock.sleeps[0] <= 120


async def test_503_honours_retry_after(
    client: NemoClient, server: respx.MockRouter, clock: FakeClock
) -> None:
    server.get(CREDITS_PATH).mock(
        side_effect=[httpx.Response(503, headers={"Retry-After": "4"}), ok(CREDITS)]
    )
    await client.credits()
    assert clock.sleeps == [4.0]


async def test_envelope_429_in_http_200_is_retried_like_the_status(
    client: NemoClient, server: respx.MockRouter, clock: FakeClock
) -> None:
    route = server.get(CREDITS_PATH).mock(
        side_effect=[httpx.Response(200, json=envelope(code=429)), ok(CREDITS)]
    )
    await client.credits()
    assert route.call_count == 2
    assert clock.sleeps == [30.0]
