"""The web page's frame and small pieces: escaping, times, stages in words.

Pages are plain HTML built here on the server; `static/app.js` adds the live
feed, the buttons and the drop zone. Every value put into a page goes through
`esc` (and the redactor, in `page`), so nothing a file name or an answer holds
becomes markup, and no token reaches the page.
"""

from __future__ import annotations

import html
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from aiohttp import web

from nemowatch import __version__
from nemowatch.doing import STAGE_WORDS, duration
from nemowatch.redact import redact


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


def credits(value: Any) -> str:
    if value is None:
        return "not known"
    return f"{float(value):g}"


def page(title: str, body: str, *, csrf: str = "", nav: str = "queue") -> web.Response:
    """A whole page: the frame, the navigation and `body` (already escaped)."""
    links = [("queue", "/", "Queue"), ("history", "/history", "History")]
    current = ' aria-current="page"'
    menu = "".join(
        f'<a href="{href}"{current if key == nav else ""}>{label}</a>' for key, href, label in links
    )
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
<div id="messages" role="status" aria-live="polite"></div>
<main>
{body}
</main>
<footer>nemowatch {esc(__version__)}</footer>
</body>
</html>
"""
    return web.Response(text=redact(text), content_type="text/html")


def button(
    label: str, action: str, *, cls: str = "", confirm_cost: str = "", body: str = ""
) -> str:
    """A button app.js turns into a POST of `action` (with the CSRF token and `body`, a
    JSON text); with `confirm_cost` (a URL answering {"cost"}) it asks first."""
    extra = f' data-cost-of="{esc(confirm_cost)}"' if confirm_cost else ""
    extra += f' data-json="{esc(body)}"' if body else ""
    klass = f' class="{cls}"' if cls else ""
    return f'<button type="button"{klass} data-post="{esc(action)}"{extra}>{esc(label)}</button>'
