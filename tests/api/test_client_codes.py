"""Every code of the API page's table becomes its exception, however it arrives.

Failure arrives two ways: a non-zero `code` in an HTTP 200 body, or an HTTP
error status with or without a JSON body. An envelope code inside an error
body is more precise than the status and wins.
"""

from __future__ import annotations

import httpx
import pytest
import respx
from apifakes import CREDITS_PATH, envelope

from nemowatch.api import NemoClient
from nemowatch.errors import (
    ApiCodeError,
    ClientIdError,
    FileTooLargeError,
    OutOfCreditsError,
    PlanBlockedError,
    RateLimitedError,
    ScopeError,
    ServerError,
    SessionLostError,
    TokenError,
    TokenRejectedError,
    TransportError,
    UnsupportedFileError,
)

#: code, exception, transient, account_wide (as errors.py defines them)
TABLE = [
    (1001, TokenError, False, False),
    (1002, SessionLostError, False, False),
    (2001, OutOfCreditsError, False, True),
    (4001, UnsupportedFileError, False, False),
    (4002, FileTooLargeError, False, False),
    (400, ClientIdError, False, False),
    (402, PlanBlockedError, False, True),
    (403, ScopeError, False, False),
    (429, RateLimitedError, True, False),
    (500, ServerError, True, False),
    (503, ServerError, True, False),
    (7777, ApiCodeError, False, False),
]
HTTP_STATUSES = [
    (400, ClientIdError),
    (402, PlanBlockedError),
    (403, ScopeError),
    (429, RateLimitedError),
    (500, ServerError),
    (502, ServerError),
    (503, ServerError),
    (504, ServerError),
    (418, ApiCodeError),
]


async def raised(client: NemoClient) -> ApiCodeError:
    with pytest.raises(ApiCodeError) as info:
        await client.credits()
    return info.value


@pytest.mark.parametrize(("code", "error", "transient", "account_wide"), TABLE)
async def test_envelope_code_in_http_200_raises_its_error(
    client: NemoClient,
    server: respx.MockRouter,
    code: int,
    error: type[ApiCodeError],
    transient: bool,
    account_wide: bool,
) -> None:
    server.get(CREDITS_PATH).respond(200, json=envelope(code=code, message="said no"))
    exc = await raised(client)
    assert type(exc) is error
    assert exc.code == code
    assert exc.http_status == 200
    assert exc.endpoint == "credits"
    assert exc.api_message == "said no"
    assert exc.transient is transient
    assert exc.account_wide is account_wide


@pytest.mark.parametrize(("status", "error"), HTTP_STATUSES)
async def test_http_error_status_without_a_body_raises_its_error(
    client: NemoClient, server: respx.MockRouter, status: int, error: type[ApiCodeError]
) -> None:
    server.get(CREDITS_PATH).respond(status)
    exc = await raised(client)
    assert type(exc) is error
    assert exc.code == status
    assert exc.http_status == status


@pytest.mark.parametrize(("status", "error"), HTTP_STATUSES)
async def test_http_error_status_with_an_html_body_raises_its_error(
    client: NemoClient, server: respx.MockRouter, status: int, error: type[ApiCodeError]
) -> None:
    server.get(CREDITS_PATH).respond(
        status, text="<html>Bad gateway</html>", headers={"content-type": "text/html"}
    )
    exc = await raised(client)
    assert type(exc) is error
    assert exc.code == status


@pytest.mark.parametrize(("status", "error"), HTTP_STATUSES)
async def test_http_error_status_with_a_json_body_without_code_keeps_its_message(
    client: NemoClient, server: respx.MockRouter, status: int, error: type[ApiCodeError]
) -> None:
    server.get(CREDITS_PATH).respond(status, json={"message": "explained"})
    exc = await raised(client)
    assert type(exc) is error
    assert exc.code == status
    assert exc.api_message == "explained"


@pytest.mark.parametrize(("status", "error"), HTTP_STATUSES)
async def test_http_error_status_with_a_zero_envelope_code_uses_the_status(
    client: NemoClient, server: respx.MockRouter, status: int, error: type[ApiCodeError]
) -> None:
    server.get(CREDITS_PATH).respond(status, json=envelope(code=0))
    assert type(await raised(client)) is error


@pytest.mark.parametrize(
    ("status", "code", "error"),
    [
        (400, 4001, UnsupportedFileError),
        (413, 4002, FileTooLargeError),
        (401, 1001, TokenError),
        (404, 1002, SessionLostError),
        (402, 2001, OutOfCreditsError),
        (500, 2001, OutOfCreditsError),
        (403, 402, PlanBlockedError),
        (400, 6006, ApiCodeError),
    ],
)
async def test_envelope_code_in_an_http_error_body_wins_over_the_status(
    client: NemoClient,
    server: respx.MockRouter,
    status: int,
    code: int,
    error: type[ApiCodeError],
) -> None:
    server.get(CREDITS_PATH).respond(status, json=envelope(code=code, message="precise"))
    exc = await raised(client)
    assert type(exc) is error
    assert exc.code == code
    assert exc.http_status == status
    assert exc.api_message == "precise"


async def test_token_error_for_an_anonymous_token_is_not_token_rejected(
    client: NemoClient, server: respx.MockRouter
) -> None:
    server.get(CREDITS_PATH).respond(401, json=envelope(code=1001))
    exc = await raised(client)
    assert not isinstance(exc, TokenRejectedError)
    assert exc.account_wide is False


async def test_non_json_200_is_a_transport_error(
    client: NemoClient, server: respx.MockRouter
) -> None:
    route = server.get(CREDITS_PATH).respond(
        200, text="<html>captive portal</html>", headers={"content-type": "text/html"}
    )
    with pytest.raises(TransportError) as info:
        await client.credits()
    assert "not JSON" in str(info.value)
    assert "text/html" in str(info.value)
    assert info.value.transient is True
    assert route.call_count == 3  # transient: 1 + retries


async def test_success_envelope_returns_the_data(
    client: NemoClient, server: respx.MockRouter
) -> None:
    server.get(CREDITS_PATH).respond(
        200, json=envelope({"available": 80, "frozen": "20", "total": 100, "new": "ignored"})
    )
    credits = await client.credits()
    assert (credits.available, credits.frozen, credits.total) == (80, 20, 100)


async def test_connection_error_is_a_transport_error_not_an_httpx_error(
    client: NemoClient, server: respx.MockRouter
) -> None:
    server.get(CREDITS_PATH).mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(TransportError) as info:
        await client.credits()
    assert isinstance(info.value.__cause__, httpx.ConnectError)
