"""Logging in to the web page, and what is refused: no session, a spent token, a foreign
Host header (DNS rebinding), a POST without the CSRF token or from another origin."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from browserkit import logged_in, login_address, shot

from devkit.daemon import Daemon


def test_the_printed_address_logs_in_once_and_the_session_stays(
    web_daemon: Callable[..., Daemon], page: Any
) -> None:
    daemon = web_daemon()
    address = login_address(daemon)
    assert "/login?token=" in address and address.startswith(daemon.web_url)  # type: ignore[attr-defined]

    page.goto(address)
    page.wait_for_selector("#live")
    assert "token=" not in page.url  # the token leaves the address bar at once
    cookie = next(c for c in page.context.cookies() if c["name"] == "nemowatch_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    page.reload()
    page.wait_for_selector("#live")
    assert "Nothing holds the work." in page.inner_text("#live")
    shot(page, "queue-empty")

    other = page.context.browser.new_context()
    try:
        spent = other.new_page()
        spent.goto(address)  # the same address again: spent
        assert "used already" in spent.inner_text("main")
        spent.goto(daemon.web_url)  # type: ignore[attr-defined]
        assert spent.url.endswith("/login")
    finally:
        other.close()


def test_without_a_session_the_api_and_the_actions_are_refused(
    web_daemon: Callable[..., Daemon],
) -> None:
    daemon = web_daemon()
    url = daemon.web_url  # type: ignore[attr-defined]
    with httpx.Client(base_url=url, timeout=10) as http:
        assert http.get("/api/status").status_code == 403
        assert http.post("/api/pause").status_code == 403
        assert http.get("/").headers["location"] == "/login"
        assert http.post("/api/web/login-token").status_code == 403  # the socket's alone
        wrong = http.get("/login", params={"token": "not-a-token"})
        assert wrong.status_code == 403
    assert "paused" not in [c["name"] for c in daemon.status().get("conditions", [])]


def test_a_post_without_the_csrf_token_or_from_another_site_is_refused(
    web_daemon: Callable[..., Daemon], page: Any
) -> None:
    daemon = web_daemon()
    logged_in(page, daemon)
    without = page.evaluate("fetch('/api/pause', {method: 'POST'}).then(r => r.status)")
    assert without == 403
    csrf = page.get_attribute('meta[name="csrf-token"]', "content")
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    with httpx.Client(base_url=daemon.web_url, cookies=cookies, timeout=10) as http:  # type: ignore[attr-defined]
        foreign = http.post(
            "/api/pause", headers={"x-csrftoken": csrf, "Origin": "http://evil.example"}
        )
        assert foreign.status_code == 403
        cross = http.post(
            "/api/pause", headers={"x-csrftoken": csrf, "Sec-Fetch-Site": "cross-site"}
        )
        assert cross.status_code == 403
    assert not any(c["name"] == "paused" for c in daemon.status().get("conditions", []))
    # the page's own button, with its token, is obeyed
    page.click("button:has-text('Pause')")
    page.wait_for_selector("button:has-text('Resume')")
    assert "paused" in page.inner_text("#live")
    page.click("button:has-text('Resume')")
    page.wait_for_selector("button:has-text('Pause')")


def test_a_foreign_host_header_is_refused(web_daemon: Callable[..., Daemon], page: Any) -> None:
    daemon = web_daemon()
    logged_in(page, daemon)
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    url = daemon.web_url  # type: ignore[attr-defined]
    with httpx.Client(base_url=url, cookies=cookies, timeout=10) as http:
        assert http.get("/api/status").status_code == 200
        rebound = http.get("/api/status", headers={"Host": "evil.example:8686"})
        assert rebound.status_code == 421
        assert http.get("/", headers={"Host": "evil.example"}).status_code == 421
    response = page.goto(url + "api/status")
    assert response is not None and response.status == 200
    headers = response.headers
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
