"""The envelope helpers: Retry-After parsing, `check`, `data_of`, `translated`."""

from __future__ import annotations

import email.utils

import httpx
import pytest

from nemowatch.api.envelope import check, data_of, retry_after_seconds, translated
from nemowatch.errors import (
    ApiCodeError,
    OutOfCreditsError,
    RateLimitedError,
    ServerError,
    TransportError,
)

NOW = 1_700_000_000.0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        (" 7 ", 7.0),
        ("2.5", 2.5),
        ("0", 0.0),
        ("-5", 0.0),
        (None, None),
        ("", None),
        ("soon", None),
    ],
)
def test_retry_after_seconds_reads_delta_seconds(value: str | None, expected: float | None) -> None:
    assert retry_after_seconds(value, now=NOW) == expected


def test_retry_after_seconds_reads_an_http_date_relative_to_now() -> None:
    date = email.utils.formatdate(NOW + 90, usegmt=True)
    assert retry_after_seconds(date, now=NOW) == pytest.approx(90.0)


def test_retry_after_seconds_of_a_past_http_date_is_zero() -> None:
    date = email.utils.formatdate(NOW - 3600, usegmt=True)
    assert retry_after_seconds(date, now=NOW) == 0.0


def test_retry_after_seconds_without_now_uses_the_wall_clock() -> None:
    import time

    date = email.utils.formatdate(time.time() + 60, usegmt=True)
    assert 55 < retry_after_seconds(date) <= 60  # type: ignore[operator]


def test_check_returns_the_whole_body_not_only_data() -> None:
    body = {"code": 0, "data": {"a": 1}, "status": "completed", "extra": [1, 2]}
    assert check(httpx.Response(200, json=body), "poll") == body


def test_check_accepts_a_body_without_code() -> None:
    body = {"status": "processing"}
    assert check(httpx.Response(200, json=body), "poll") == body


def test_check_accepts_a_string_zero_code() -> None:
    body = {"code": "0", "data": {}}
    assert check(httpx.Response(200, json=body), "poll") == body


def test_check_reads_a_string_code_as_a_number() -> None:
    with pytest.raises(OutOfCreditsError) as info:
        check(httpx.Response(200, json={"code": "2001", "msg": "no credits"}), "session")
    assert info.value.code == 2001
    assert info.value.api_message == "no credits"


def test_check_keeps_the_envelope_message_endpoint_and_status_on_the_error() -> None:
    response = httpx.Response(200, json={"code": 2001, "message": "balance too low"})
    with pytest.raises(OutOfCreditsError) as info:
        check(response, "session")
    assert info.value.http_status == 200
    assert info.value.endpoint == "session"
    assert "balance too low" in str(info.value)


def test_check_attaches_retry_after_to_a_rate_limit() -> None:
    response = httpx.Response(429, headers={"Retry-After": "12"})
    with pytest.raises(RateLimitedError) as info:
        check(response, "credits")
    assert info.value.retry_after == 12.0


def test_check_of_an_error_status_uses_the_reason_phrase_without_a_body() -> None:
    with pytest.raises(ServerError) as info:
        check(httpx.Response(503), "credits")
    assert info.value.api_message == "Service Unavailable"


def test_check_of_a_json_list_is_a_transport_error() -> None:
    with pytest.raises(TransportError):
        check(httpx.Response(200, json=[1, 2]), "credits")


def test_check_of_a_boolean_code_is_not_a_code() -> None:
    body = {"code": True, "data": {}}
    assert check(httpx.Response(200, json=body), "credits") == body


def test_check_of_an_unknown_code_keeps_it() -> None:
    with pytest.raises(ApiCodeError) as info:
        check(httpx.Response(200, json={"code": 9876}), "credits")
    assert type(info.value) is ApiCodeError
    assert info.value.code == 9876


@pytest.mark.parametrize("data", [None, "text", [1], 3])
def test_data_of_is_empty_when_data_is_not_an_object(data: object) -> None:
    assert data_of({"code": 0, "data": data}) == {}


def test_data_of_returns_the_data_object() -> None:
    assert data_of({"code": 0, "data": {"token": "x"}}) == {"token": "x"}


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("slow"),
        httpx.RemoteProtocolError("cut"),
        httpx.StreamClosed(),
    ],
)
def test_translated_turns_httpx_errors_into_transport_errors(exc: Exception) -> None:
    with pytest.raises(TransportError) as info, translated("upload"):
        raise exc
    assert info.value.__cause__ is exc
    assert str(info.value).startswith("upload: ")


def test_translated_leaves_other_exceptions_alone() -> None:
    with pytest.raises(KeyError), translated("upload"):
        raise KeyError("x")
