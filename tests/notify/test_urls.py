"""Secrets inside Apprise URLs are masked wherever they are shown; problems said plainly."""

from __future__ import annotations

import pytest

from nemowatch.config import Settings
from nemowatch.notify import apprise_problem, mask_url, masked_urls
from nemowatch.notify import urls as urls_module
from nemowatch.notify.urls import crude_mask, scrub

SECRET = "s3cretPassw0rd"
TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"


@pytest.mark.parametrize(
    "url",
    [
        f"json://user:{SECRET}@127.0.0.1:8080/hook",
        f"mailto://me:{SECRET}@gmail.com",
        f"tgram://{TOKEN}/987654321",
        f"discord://4174216298/{SECRET}JKGHFfkjdfgkjdfgGHFD",
        f"gotify://push.example.org/{SECRET}",
    ],
)
def test_apprise_masks_the_secret_in_each_url(url: str) -> None:
    shown = mask_url(url)
    assert SECRET not in shown and TOKEN not in shown and TOKEN.split(":")[1] not in shown
    assert shown.split("://")[0].startswith(url.split("://")[0]), "the channel stays named"


def test_the_options_the_user_wrote_stay_and_apprises_defaults_are_left_out() -> None:
    assert mask_url(f"json://u:{SECRET}@127.0.0.1:8080/hook?method=PUT") == (
        "json://u:****@127.0.0.1:8080/hook?method=PUT"
    )


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (f"json://user:{SECRET}@example.com:8080/hook", "json://user:****@example.com:8080/****"),
        (f"pover://{SECRET}@{SECRET}xyz", "pover://****@****"),
        (f"tgram://{TOKEN}/1234", "tgram://****"),
        (f"ntfy://ntfy.sh/{SECRET}?token={SECRET}", "ntfy://ntfy.sh/****"),
        ("no scheme at all", "****"),
    ],
)
def test_without_apprise_a_crude_mask_keeps_only_scheme_login_and_host(
    url: str, shown: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert crude_mask(url) == shown
    monkeypatch.setattr(urls_module, "apprise_installed", lambda: False)
    assert mask_url(url) == shown


def test_config_show_gets_the_urls_masked() -> None:
    settings = Settings(notify={"urls": [f"json://user:{SECRET}@127.0.0.1:8080/hook"]})
    assert masked_urls(settings.notify) == ["json://user:****@127.0.0.1:8080/hook"]


def test_apprise_problem_names_a_missing_apprise_and_urls_it_does_not_know(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert apprise_problem(Settings().notify) is None
    good = Settings(notify={"urls": [f"json://u:{SECRET}@127.0.0.1:8080/hook"]})
    assert apprise_problem(good.notify) is None

    bad = Settings(notify={"urls": [f"nosuchservice://u:{SECRET}@example.com/x"]})
    problem = apprise_problem(bad.notify)
    assert problem is not None and "does not understand" in problem
    assert SECRET not in problem and "nosuchservice://u:****@example.com/****" in problem

    monkeypatch.setattr(urls_module, "apprise_installed", lambda: False)
    problem = apprise_problem(good.notify)
    assert problem is not None and "not installed" in problem and "nemowatch[notify]" in problem


def test_scrub_masks_every_secret_piece_of_a_url_in_a_channels_message() -> None:
    url = f"json://user:{SECRET}@127.0.0.1:8080/hook?token=abcdef123"
    said = f"could not post to {url}; password {SECRET}, token abcdef123"
    cleaned = scrub(said, [url])
    assert SECRET not in cleaned and "abcdef123" not in cleaned
