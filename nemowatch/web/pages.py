"""The web page's routes: the queue, the history, a job's page and video, the login.

GET  /                      the queue (live), waiting files, failures, the drop zone
GET  /part/live             the live part alone (app.js fetches it when an event says so)
GET  /history               finished jobs, with search and paging
GET  /jobs/{id}             a job's page: video, report, instructions and answers, cost
GET  /jobs/{id}/video       the result (range requests: it plays and seeks in the page)
GET  /jobs/{id}/editor      on to the web editor (its address carries a claim token,
                            so it never appears in a page)
GET  /api/failed/{name}/cost  what a paying retry costs, to confirm first
GET  /failed/{name}/retry   the same as a page, with the button that pays (no JavaScript)
POST /drop                  the drop zone's files in one form post (no JavaScript)
GET  /login, POST /login    the one-time token, or `[web] password`
POST /logout                ends the session on the server and clears its cookie
POST /api/web/login-token   a login address for `nemowatch web` (the socket only)
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from aiohttp import web

from nemowatch.errors import InputError, UsageError
from nemowatch.jobs.results import failed_folder_of
from nemowatch.retry import Mode, cost_of
from nemowatch.web import drop, forms, views
from nemowatch.web.control import RETRY_HOWS
from nemowatch.web.html import esc, form_post, page, url
from nemowatch.web.routes import CONTROL, answer, over_unix_socket
from nemowatch.web.security import (
    LOGINS,
    SESSION_COOKIE,
    csrf_of,
    session_of,
    set_session,
)
from nemowatch.web.site import SITE, editor_link, failures, read_text

STATIC = Path(__file__).parent / "static"
MODES = {"": Mode.RESUME, "resend": Mode.RESEND, "start-over": Mode.START_OVER}
EDITOR_LINE = "Open in the web editor: "


def _page(request: web.Request, title: str, body: str, nav: str = "queue") -> web.Response:
    """A page for this request's session: its CSRF token, and what its last form said."""
    return page(title, body, csrf=csrf_of(request), nav=nav, said=forms.said(request))


async def home(request: web.Request) -> web.Response:
    settings = request.app[SITE].settings()
    csrf = csrf_of(request)
    body = "<h1>Queue</h1>" + await _live(request) + views.drop(settings.jobs.max_file_mb, csrf)
    return _page(request, "Queue", body)


async def live(request: web.Request) -> web.Response:
    return web.Response(text=await _live(request), content_type="text/html")


async def _live(request: web.Request) -> str:
    status = request.app[CONTROL].status()
    failed = await asyncio.to_thread(failures, request.app[SITE].settings().folders.failed)
    return views.live(status, failed, csrf_of(request))


async def history(request: web.Request) -> web.Response:
    q = request.query.get("q", "").strip()
    failed = request.query.get("failed") == "1"
    try:
        number = max(1, int(request.query.get("page", "1")))
    except ValueError:
        number = 1
    size = views.HISTORY_PAGE
    offset = (number - 1) * size
    found = await request.app[CONTROL].history(failed, None, size + 1, offset, q or None)
    body = "<h1>History</h1>" + views.history(found[:size], q, number, failed, len(found) > size)
    return _page(request, "History", body, nav="history")


async def job(request: web.Request) -> web.Response:
    site = request.app[SITE]
    entry = await asyncio.to_thread(site.job, request.match_info["id"])
    if entry is None:
        text = "<h1>Not found</h1><p>No finished job by that id. <a href='/history'>History</a></p>"
        response = _page(request, "Not found", text, nav="history")
        response.set_status(404)
        return response
    folders = site.settings().folders
    report = await asyncio.to_thread(read_text, entry.report)
    has_editor = EDITOR_LINE in report
    report = "\n".join(
        f"{EDITOR_LINE}(the link above)" if line.startswith(EDITOR_LINE) else line
        for line in report.splitlines()
    )
    has_video = _inside(entry.result, folders.outbox) is not None
    failed_name = ""
    if entry.outcome != "delivered":  # its own folder, not another job's of the same name
        found = await asyncio.to_thread(failed_folder_of, folders.failed, entry.name, entry.id)
        failed_name = found.name if found is not None else ""
    body = views.job(entry, report, has_video, has_editor, failed_name, csrf_of(request))
    return _page(request, entry.name, body, nav="history")


async def video(request: web.Request) -> web.StreamResponse:
    entry = await asyncio.to_thread(request.app[SITE].job, request.match_info["id"])
    path = _inside(entry.result if entry else None, request.app[SITE].settings().folders.outbox)
    if path is None:
        raise web.HTTPNotFound(text="this job's result is not in the outbox (any more)")
    return web.FileResponse(path, headers={"Content-Type": "video/mp4"})


async def editor(request: web.Request) -> web.StreamResponse:
    entry = await asyncio.to_thread(request.app[SITE].job, request.match_info["id"])
    link = await asyncio.to_thread(editor_link, entry.report if entry else None)
    if link is None:
        raise web.HTTPNotFound(text="no web editor link was kept for this job")
    raise web.HTTPSeeOther(link)


def _inside(path: str | None, folder: Path) -> Path | None:
    """`path` when it is a file inside `folder` (the history names it; never elsewhere)."""
    if not path:
        return None
    found = Path(path).resolve()
    return found if found.is_file() and found.is_relative_to(folder.resolve()) else None


async def retry_cost(request: web.Request) -> web.Response:
    how = request.query.get("how", "")
    if how not in RETRY_HOWS:
        raise UsageError(f'how must be "", "resend" or "start-over", not {how!r}')
    settings = request.app[SITE].settings()
    cost = await asyncio.to_thread(cost_of, settings, request.match_info["name"], MODES[how])
    return answer({"cost": cost})


async def retry_ask(request: web.Request) -> web.Response:
    """What a paying retry costs, and the button that pays: the page a paying retry
    opens without JavaScript (with it, app.js asks the same in a dialog)."""
    name, how = request.match_info["name"], request.query.get("how", "")
    if how not in RETRY_HOWS:
        how = ""
    settings = request.app[SITE].settings()
    try:
        cost = await asyncio.to_thread(cost_of, settings, name, MODES[how])
    except (UsageError, InputError) as exc:
        problem = f'<p class="problem">{esc(exc)}</p><p><a href="/">Back</a></p>'
        response = _page(request, f"Retry {name}", f"<h1>Retry {esc(name)}</h1>{problem}")
        response.set_status(400)
        return response
    action = url("api", "failed", name, "retry")
    fields = {"how": how} if how else None
    body = (
        f"<h1>Retry {esc(name)}</h1><p>{esc(cost or 'This costs nothing more.')}</p>"
        f"<p>{form_post('Go ahead', action, csrf=csrf_of(request), fields=fields)} "
        '<a href="/">Back, without retrying</a></p>'
    )
    return _page(request, f"Retry {name}", body)


async def login(request: web.Request) -> web.StreamResponse:
    logins = request.app[LOGINS]
    token = request.query.get("token")
    if token is not None:
        sid = logins.spend(token)
        if sid is None:
            return _login_page(
                request,
                "This login address was used already or is out of "
                "date: run `nemowatch web` again for a new one.",
                403,
            )
        response = web.HTTPSeeOther("/")
        set_session(response, sid, request.secure)
        raise response
    if session_of(request) is not None:
        raise web.HTTPSeeOther("/")
    return _login_page(request, "", 200)


async def login_password(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    sid = request.app[LOGINS].check_password(str(form.get("password", "")))
    if sid is None:
        return _login_page(request, "Wrong password (or too many tries: wait a minute).", 403)
    response = web.HTTPSeeOther("/")
    set_session(response, sid, request.secure)
    raise response


async def logout(request: web.Request) -> web.StreamResponse:
    """End the session: its id is forgotten on the server (the cookie, kept or copied, no
    longer logs in) and the browser is told to drop the cookie."""
    sid = session_of(request)
    if sid is not None:
        request.app[LOGINS].end(sid)
    response = web.HTTPSeeOther("/login")
    response.del_cookie(SESSION_COOKIE, path="/")
    raise response


def _login_page(request: web.Request, problem: str, status: int) -> web.Response:
    parts = ["<h1>Log in</h1>"]
    if problem:
        parts.append(f'<p class="problem" role="alert">{esc(problem)}</p>')
    parts.append(
        "<p>On the machine where nemowatch runs, run <code>nemowatch web</code> and open "
        "the address it prints: it logs you in.</p>"
    )
    if request.app[LOGINS].password:
        parts.append(
            '<form method="post" action="/login"><label for="password">Password '
            '([web] password)</label><input type="password" id="password" name="password" '
            'autocomplete="current-password" required><button type="submit">Log in</button>'
            "</form>"
        )
    response = page("Log in", "".join(parts), nav="")
    response.set_status(status)
    return response


async def login_token(request: web.Request) -> web.Response:
    """A one-time login address (asked for by `nemowatch web` over the socket)."""
    if not over_unix_socket(request):
        raise web.HTTPForbidden(text="only over the daemon's Unix socket")
    address = request.app[SITE].address
    if not address:
        raise UsageError(
            'the web page is off: set [web] listen (e.g. "127.0.0.1:8686") and restart '
            "nemowatch, or see its log for why it could not listen"
        )
    token = request.app[LOGINS].mint()
    return answer({"url": f"{address}login?token={token}", "address": address})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/", home)
    app.router.add_get("/part/live", live)
    app.router.add_get("/history", history)
    app.router.add_get("/jobs/{id}", job)
    app.router.add_get("/jobs/{id}/video", video)
    app.router.add_get("/jobs/{id}/editor", editor)
    app.router.add_get("/api/failed/{name}/cost", retry_cost)
    app.router.add_get("/failed/{name}/retry", retry_ask)
    app.router.add_get("/login", login)
    app.router.add_post("/login", login_password)
    app.router.add_post("/logout", logout)
    app.router.add_post("/api/web/login-token", login_token)
    app.router.add_static("/static", STATIC, show_index=False, follow_symlinks=False)
    drop.add_routes(app)
