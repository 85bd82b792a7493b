"""Secrets never reach a log line: token shapes, Bearer values and registered literals."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from nemowatch.redact import MASK, RedactingFilter, Redactor, redact

USER_TOKEN = "nmv_usr_9f8e7d6c5b4a3210"
CLAIM = "clm_AbC123-xyz.456"


@dataclass
class Captured:
    logger: logging.Logger
    stream: io.StringIO
    redactor: Redactor

    @property
    def text(self) -> str:
        return self.stream.getvalue()


@pytest.fixture
def captured() -> Iterator[Captured]:
    """A logger whose one handler writes to a StringIO through a RedactingFilter."""
    stream = io.StringIO()
    redactor = Redactor()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter(redactor))
    logger = logging.getLogger("nemowatch.test_redact")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        yield Captured(logger, stream, redactor)
    finally:
        logger.removeHandler(handler)
        handler.close()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"token {USER_TOKEN} used", "token nmv_*** used"),
        ("nmv_abcdef123456 alone", "nmv_*** alone"),
        (
            f"link https://nemovideo.com/workspace/claim?ct={CLAIM}",
            "link https://nemovideo.com/workspace/claim?ct=clm_***",
        ),
        ("Authorization: Bearer xyz.abc-123", "Authorization: Bearer ***"),
        ("{'Authorization': 'Bearer abc123'}", "{'Authorization': 'Bearer ***'}"),
        ("authorization: bearer lower-case-value", "authorization: bearer ***"),
    ],
)
def test_token_shaped_values_are_masked(text: str, expected: str) -> None:
    assert Redactor()(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "uploaded clip.mp4 (12.5 MB) to session sess-42 in 3.1 s",
        "render render_1700000000123 completed: https://cdn.example/out.mp4",
        "Timeline (3 tracks): 1. Video: city timelapse (0-10s)",
        "client id 2b1f4c1e-6a7d-4c55-9d2b-0f1e2d3c4b5a, 100 credits, 50% done",
        "/home/me/NemoInbox/holiday_clm.mp4 and nmv-notes.txt",
        "",
    ],
)
def test_ordinary_text_is_untouched(text: str) -> None:
    assert Redactor()(text) == text


def test_registered_literal_secret_is_masked_wherever_it_appears() -> None:
    redactor = Redactor()
    redactor.register("hunter2-correct-horse")
    assert redactor("a=hunter2-correct-horse;b") == f"a={MASK};b"


def test_too_short_values_are_not_registered() -> None:
    redactor = Redactor()
    redactor.register("")
    redactor.register("abc")
    assert redactor("abc and more") == "abc and more"


def test_secret_in_the_message_is_masked_in_the_log(captured: Captured) -> None:
    captured.logger.info(f"using {USER_TOKEN} for the call")
    assert captured.text == "INFO nemowatch.test_redact: using nmv_*** for the call\n"


def test_secret_in_percent_args_is_masked_in_the_log(captured: Captured) -> None:
    captured.logger.warning(
        "headers %s, claim %s, %d%% done", {"Authorization": "Bearer s3cr3t"}, CLAIM, 50
    )
    assert "s3cr3t" not in captured.text
    assert CLAIM not in captured.text
    assert "Bearer ***" in captured.text
    assert "clm_***" in captured.text
    assert "50% done" in captured.text


def test_registered_secret_in_args_is_masked_in_the_log(captured: Captured) -> None:
    captured.redactor.register("plain-user-token-value")
    captured.logger.error("token=%s", "plain-user-token-value")
    assert captured.text == f"ERROR nemowatch.test_redact: token={MASK}\n"


def test_secret_in_an_exception_traceback_is_masked(captured: Captured) -> None:
    def failing() -> None:
        try:
            raise KeyError(f"lookup failed for {CLAIM}")
        except KeyError as exc:
            raise RuntimeError(f"request with Bearer {USER_TOKEN} refused") from exc

    try:
        failing()
    except RuntimeError:
        captured.logger.exception("call failed for %s", USER_TOKEN)
    text = captured.text
    assert "Traceback (most recent call last)" in text
    assert "RuntimeError: request with Bearer ***" in text
    assert "KeyError" in text
    assert USER_TOKEN not in text
    assert "9f8e7d6c5b4a3210" not in text
    assert CLAIM not in text


def test_secret_in_an_exception_logged_with_exc_info_is_masked(captured: Captured) -> None:
    error = ValueError(f"bad token {USER_TOKEN}")
    captured.logger.warning("failed", exc_info=(ValueError, error, None))
    assert "ValueError: bad token nmv_***" in captured.text
    assert USER_TOKEN not in captured.text


def test_record_already_redacted_by_one_handler_stays_correct_for_the_next(
    captured: Captured,
) -> None:
    second = io.StringIO()
    handler = logging.StreamHandler(second)
    handler.addFilter(RedactingFilter(captured.redactor))
    captured.logger.addHandler(handler)
    try:
        captured.logger.info("100%% of %s", USER_TOKEN)
    finally:
        captured.logger.removeHandler(handler)
    assert second.getvalue() == "100% of nmv_***\n"
    assert captured.text.endswith(": 100% of nmv_***\n")


def test_process_wide_redactor_masks_token_shapes() -> None:
    assert redact(f"x {USER_TOKEN}") == "x nmv_***"
