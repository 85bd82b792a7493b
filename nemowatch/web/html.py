"""The web page's frame and small pieces: escaping, times, stages in words.

Pages are plain HTML built here on the server, whole without JavaScript: every
button is a form that posts and comes back (see `forms`). `static/app.js`
adds the live feed, sends the forms with `fetch` (answers shown in place) and
uploads in chunks from the drop zone. Every value put into a page goes through
`esc` (and the redactor, in `page`), so nothing a file name or an answer holds
becomes markup, and no token reaches the page but the CSRF token.
"""

from __future__ import annotations

import html
import json
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from aiohttp import web

from nemowatch import __version__
from nemowatch.doing import STAGE_WORDS, duration
from nemowatch.redact import redact
from nemowatch.web.forms import NEXT_FIELD, Said
from nemowatch.web.security import CSRF_FIELD


def esc(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def url(*parts: str) -> str:
    """A path from escaped segments: `url("jobs", job_id)` is "/jobs/<id>"."""
    return "/" + "/".join(quote(p, safe="") for p in parts)


def stage_words(stage: str) -> str:
    """The stage as `status` words it (one table for both)."""
    return STAGE_WORDS.get(stage, stage)


def when(at: float | str | None) -> str:
    """A `<time>` for an epoch or ISO time, in the viewer's own clock (see app.js)."""
    if at is None or at == "":
        return "–"
    if isinstance(at, str):
        try:
            epoch = datetime.fromisoformat(at).timestamp()
        except ValueError:
            return esc(at)
    else:
        epoch = float(at)
    iso = datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")
    text = time.strftime("%Y-%m-%d %H:%M", time.localtime(epoch))
    return f'<time datetime="{iso}" data-at="{epoch:.0f}">{esc(text)}</time>'


def elapsed(since: float | None) -> str:
    """A duration that app.js keeps counting ("2 min 5 s")."""
    if since is None:
        return ""
    seconds = max(0.0, time.time() - since)
    return f'<span class="elapsed" data-since="{since:.3f}">{esc(duration(seconds))}</span>'


def credits(value: Any, approximate: Any = False) -> str:
    """A cost in words; "about" when other jobs' turns ran meanwhile (said, not coloured)."""
    if value is None:
        return "not known"
    return f"about {float(value):g}" if approximate else f"{float(value):g}"


def page(
    title: str, body: str, *, csrf: str = "", nav: str = "queue", said: Said | None = None
) -> web.Response:
    """A whole page: the frame, the navigation and `body` (already escaped).

    Args:
        csrf: the session's CSRF token ("": no session, no Log out button).
        nav: the menu entry to mark as current.
        said: what the last action answered (a form posted without JavaScript).
    """
    links = [("queue", "/", "Queue"), ("history", "/history", "History")]
    current = ' aria-current="page"'
    menu = "".join(
        f'<a href="{href}"{current if key == nav else ""}>{label}</a>' for key, href, label in links
    )
    if csrf:
        menu += form_post("Log out", "/logout", csrf=csrf, cls="logout")
    message = ""
    if said is not None:
        klass = ' class="problem"' if said.problem else ""
        message = f"<p{klass}>{esc(said.text)}</p>"
    text = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="csrf-token" content="{esc(csrf)}">
<title>{esc(title)} · nemowatch</title>
<link rel="stylesheet" href="/static/style.css">
<script src="/static/app.js" defer></script>
</head>
<body>
<header><span class="brand">nemowatch</span><nav aria-label="Main">{menu}</nav></header>
<div id="messages" role="status" aria-live="polite">{message}</div>
<main>
{body}
</main>
<footer>nemowatch {esc(__version__)}</footer>
</body>
</html>
"""
    return web.Response(text=redact(text), content_type="text/html")


def hidden(fields: dict[str, str]) -> str:
    return "".join(
        f'<input type="hidden" name="{esc(name)}" value="{esc(value)}">'
        for name, value in fields.items()
    )


def form_post(
    label: str,
    action: str,
    *,
    csrf: str,
    back: str = "/",
    cls: str = "",
    fields: dict[str, str] | None = None,
) -> str:
    """A button that posts `action` with the CSRF token and `fields`, and comes back to
    `back`. app.js sends it with `fetch` instead (`fields` as a JSON body) and shows the
    answer in place; without JavaScript the browser posts it (see `forms`)."""
    data = f' data-json="{esc(json.dumps(fields))}"' if fields else ""
    klass = f' class="{cls}"' if cls else ""
    inputs = hidden({CSRF_FIELD: csrf, NEXT_FIELD: back, **(fields or {})})
    return (
        f'<form class="act" method="post" action="{esc(action)}"{data}>{inputs}'
        f'<button type="submit"{klass}>{esc(label)}</button></form>'
    )


def form_ask(label: str, ask: str, action: str, cost_of: str, fields: dict[str, str]) -> str:
    """A button for an action that pays: it never posts by itself. Without JavaScript it
    opens `ask`, a page that states the cost and has the button that posts; app.js
    reads `cost_of` (a URL answering {"cost"}), asks, then posts `action` itself."""
    return (
        f'<form class="act" method="get" action="{esc(ask)}" data-post="{esc(action)}" '
        f'data-cost-of="{esc(cost_of)}" data-json="{esc(json.dumps(fields))}">'
        f'{hidden(fields)}<button type="submit">{esc(label)}</button></form>'
    )
