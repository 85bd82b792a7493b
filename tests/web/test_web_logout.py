"""Logging out of the web page: the session ends on the server, so the old cookie no
longer works anywhere, and a logout needs the session's CSRF token from this site."""

from __future__ import annotations

from pathlib import Path

import httpx
from htmlforms import find
from webfakes import served_page

from nemowatch.web.security import SESSION_COOKIE


async def test_log_out_ends_the_session_and_the_old_cookie_is_refused(tmp_path: Path) -> None:
    async with served_page(tmp_path) as page:
        form = find((await page.tcp.get("/")).text, "Log out")
        assert (form.method, form.action) == ("post", "/logout")
        assert form.fields()["csrftoken"] == page.csrf
        old = page.tcp.cookies[SESSION_COOKIE]

        out = await page.tcp.post(form.action, data=form.fields())

        assert out.status_code == 303 and out.headers["location"] == "/login"
        cleared = out.headers["set-cookie"]
        assert cleared.startswith(f'{SESSION_COOKIE}=""') and "Max-Age=0" in cleared
        assert SESSION_COOKIE not in page.tcp.cookies  # the browser drops it
        cookies = {SESSION_COOKIE: old}
        async with httpx.AsyncClient(base_url=page.tcp.base_url, cookies=cookies) as replay:
            home = await replay.get("/")
            assert home.status_code == 303 and home.headers["location"] == "/login"
            assert (await replay.get("/api/status")).status_code == 403
            assert (await replay.get("/part/live")).status_code == 303
            pause = await replay.post("/api/pause", headers={"x-csrftoken": page.csrf})
            assert pause.status_code == 403
            again = await replay.post("/logout", data={"csrftoken": page.csrf})
            assert again.status_code == 403
            assert (await replay.get("/login")).status_code == 200  # a login page, not "/"
        assert ("pause",) not in page.control.calls


async def test_log_out_without_the_csrf_token_or_from_another_site_is_refused(
    tmp_path: Path,
) -> None:
    async with served_page(tmp_path) as page:
        refused = [
            await page.tcp.post("/logout"),
            await page.tcp.post("/logout", data={"csrftoken": "0" * 64}),
            await page.tcp.post(
                "/logout",
                data={"csrftoken": page.csrf},
                headers={"Origin": "http://evil.example"},
            ),
            await page.tcp.post(
                "/logout", data={"csrftoken": page.csrf}, headers={"Sec-Fetch-Site": "cross-site"}
            ),
            await page.anonymous.post("/logout", data={"csrftoken": page.csrf}),
        ]
        assert [r.status_code for r in refused] == [403] * 5
        assert all("set-cookie" not in r.headers for r in refused)
        # a link (or a prefetch) cannot log out: only the form's POST does
        assert (await page.tcp.get("/logout")).status_code == 405
        assert (await page.tcp.get("/api/status")).status_code == 200  # still logged in


async def test_the_socket_s_pages_carry_no_log_out_button(tmp_path: Path) -> None:
    async with served_page(tmp_path) as page:
        home = (await page.unix.get("/")).text  # the socket's user needs no session
        assert "Log out" not in home
        assert "Log out" in (await page.tcp.get("/")).text
