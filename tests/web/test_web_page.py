"""The web page's server in process, over loopback TCP: logins, CSRF, the Host header,
the drop zone's uploads, names from the browser, pages, security headers.

What a person does in the page is tested in a real browser (tests/browser); here
is what a program (or an attacker) sends.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from webfakes import Page, served_page

from nemowatch.errors import UsageError
from nemowatch.web.address import is_loopback, parse_listen, url_of
from nemowatch.web.drop import NOTE
from nemowatch.web.names import safe_name
from nemowatch.web.security import Logins, split_host


async def test_a_login_token_works_once_and_only_from_the_socket(tmp_path: Path) -> None:
    async with served_page(tmp_path) as page:
        assert (await page.anonymous.post("/api/web/login-token")).status_code == 403
        url = (await page.unix.post("/api/web/login-token")).json()["url"]
        first = await page.anonymous.get(url)
        assert first.status_code == 303 and "HttpOnly" in first.headers["set-cookie"]
        assert "SameSite=Strict" in first.headers["set-cookie"]
        async with httpx.AsyncClient(timeout=5) as other:
            assert (await other.get(url)).status_code == 403


async def test_state_changes_need_the_csrf_token_of_the_session(tmp_path: Path) -> None:
    async with served_page(tmp_path) as page:
        assert (await page.tcp.post("/api/pause")).status_code == 403
        wrong = await page.tcp.post("/api/pause", headers={"x-csrftoken": "0" * 64})
        assert wrong.status_code == 403
        right = await page.tcp.post("/api/pause", headers={"x-csrftoken": page.csrf})
        assert right.status_code == 200 and "Paused" in right.json()["message"]
        assert (await page.anonymous.post("/api/pause")).status_code == 403


async def test_pages_carry_no_secret_and_forbid_framing(tmp_path: Path) -> None:
    async with served_page(tmp_path) as page:
        home = await page.tcp.get("/")
        assert home.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in home.headers["content-security-policy"]
        assert "nemowatch_session" not in home.text
        assert (await page.tcp.get("/static/app.js")).status_code == 200
        assert (await page.tcp.get("/static/../pages.py")).status_code in (403, 404)


async def test_a_foreign_host_is_refused(tmp_path: Path) -> None:
    async with served_page(tmp_path) as page:
        rebound = await page.tcp.get("/api/status", headers={"Host": "attacker.example"})
        assert rebound.status_code == 421
        assert (await page.tcp.get("/api/status", headers={"Host": "localhost"})).status_code == 421
        assert (await page.tcp.get("/api/status")).status_code == 200


async def upload(page: Page, name: str, data: bytes, mode: str = "each") -> httpx.Response:
    headers = {"x-csrftoken": page.csrf}
    body = {"files": [{"name": name, "size": len(data)}], "instructions": "Trim", "mode": mode}
    start = await page.tcp.post("/api/drop", json=body, headers=headers)
    assert start.status_code == 200, start.text
    upload_id, chunk = start.json()["id"], 4
    for offset in range(0, len(data), chunk):
        sent = await page.tcp.put(
            f"/api/drop/{upload_id}/0?offset={offset}",
            content=data[offset : offset + chunk],
            headers=headers,
        )
        assert sent.status_code == 200, sent.text
    return await page.tcp.post(f"/api/drop/{upload_id}/finish", headers=headers)


async def test_a_drop_lands_in_the_inbox_with_its_note_under_a_safe_name(tmp_path: Path) -> None:
    async with served_page(tmp_path) as page:
        done = await upload(page, "../../etc/.holiday.mp4", b"0123456789")
        assert done.status_code == 200, done.text
        inbox = page.settings.folders.inbox
        assert sorted(p.name for p in inbox.iterdir()) == ["holiday.mp4", "holiday.txt"]
        assert (inbox / "holiday.mp4").read_bytes() == b"0123456789"
        assert (inbox / "holiday.txt").read_text() == "Trim\n"
        again = await upload(page, "holiday.mp4", b"x")  # a name taken: the next free one
        assert "holiday (2).mp4" in again.json()["message"]
        bundle = await upload(page, "clip.mp4", b"abc", mode="bundle")
        assert bundle.status_code == 200
        assert sorted(p.name for p in (inbox / "clip").iterdir()) == ["clip.mp4", NOTE]


async def test_an_upload_over_the_limit_or_out_of_order_is_refused(tmp_path: Path) -> None:
    async with served_page(tmp_path, max_file_mb=0.001) as page:
        headers = {"x-csrftoken": page.csrf}
        big = {"files": [{"name": "big.mp4", "size": 2000}], "instructions": "x"}
        refused = await page.tcp.post("/api/drop", json=big, headers=headers)
        assert refused.status_code == 413 and "max_file_mb" in refused.json()["error"]
        small = {"files": [{"name": "a.mp4", "size": 10}], "instructions": "x"}
        upload_id = (await page.tcp.post("/api/drop", json=small, headers=headers)).json()["id"]
        skip = await page.tcp.put(
            f"/api/drop/{upload_id}/0?offset=5", content=b"x", headers=headers
        )
        assert skip.status_code == 409
        over = await page.tcp.put(
            f"/api/drop/{upload_id}/0?offset=0", content=b"x" * 11, headers=headers
        )
        assert over.status_code == 400
        early = await page.tcp.post(f"/api/drop/{upload_id}/finish", headers=headers)
        assert early.status_code == 400
        assert [p.name for p in page.settings.folders.inbox.iterdir()][0].startswith(".nw-drop-")
    assert list(page.settings.folders.inbox.iterdir()) == []  # removed at the stop


@pytest.mark.parametrize(
    ("raw", "safe"),
    [
        ("../../x.mp4", "x.mp4"),
        ("..\\..\\win.mp4", "win.mp4"),
        (".hidden.mp4", "hidden.mp4"),
        ("a\x00b\nc.mp4", "abc.mp4"),
        ("é" * 200 + ".mp4", "é" * 119 + ".mp4"),
    ],
)
def test_names_from_the_browser_are_made_safe(raw: str, safe: str) -> None:
    assert safe_name(raw) == safe
    assert len(safe_name(raw).encode()) <= 255


@pytest.mark.parametrize("raw", ["", "..", "../", "...", "/"])
def test_a_name_with_nothing_left_is_refused(raw: str) -> None:
    with pytest.raises(UsageError):
        safe_name(raw)


def test_a_login_token_expires_and_passwords_lock_after_tries() -> None:
    now = [0.0]
    logins = Logins(password="open sesame", clock=lambda: now[0])
    token = logins.mint()
    now[0] = 601
    assert logins.spend(token) is None
    sid = logins.check_password("open sesame")
    assert sid is not None and logins.session(sid) == sid
    for _ in range(5):
        assert logins.check_password("wrong") is None
    assert logins.check_password("open sesame") is None  # locked for a minute
    now[0] += 61
    assert logins.check_password("open sesame") is not None


def test_listen_addresses() -> None:
    assert parse_listen("127.0.0.1:8686") == ("127.0.0.1", 8686)
    assert parse_listen("[::1]:9000") == ("::1", 9000)
    assert parse_listen("localhost") == ("localhost", 8686)
    with pytest.raises(UsageError):
        parse_listen("0.0.0.0:http")
    assert is_loopback("::1") and is_loopback("localhost") and not is_loopback("0.0.0.0")
    assert url_of("::1", 80) == "http://[::1]:80/"
    assert split_host("[::1]:8686") == ("::1", 8686)
