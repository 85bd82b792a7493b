"""The page without JavaScript: its buttons are forms, posted and answered with a redirect.

Every action on the page (Pause, Resume, Cancel, Retry, Log out) is a real
`<form method="post">` carrying the CSRF token (`csrftoken`) and the page to
come back to (`next`). With JavaScript, app.js sends it with `fetch` and shows
the JSON answer in place. Without, the browser posts the form itself, and the
`forms` middleware turns the API's JSON answer, or its error, into a 303 back
to `next`; the sentence is kept for that session's next page (`said`), where
it shows as the scripted page would show it. A form post is never answered
with JSON, which a person without JavaScript would only see as raw text.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass

from aiohttp import web

from nemowatch.errors import UsageError
from nemowatch.web.routes import Handler
from nemowatch.web.security import session_of

NEXT_FIELD = "next"
FORM_TYPE = "application/x-www-form-urlencoded"
#: sessions with a sentence waiting; past that the oldest is forgotten
KEPT_MAX = 100


@dataclass(frozen=True)
class Said:
    """What an action answered, for the next page: a sentence, and whether it went wrong."""

    text: str
    problem: bool = False


SAID = web.AppKey[OrderedDict[str, Said]]("said")


def local_path(value: object) -> str:
    """`value` when it is a path on this server, else "/": `next` never leads elsewhere."""
    text = str(value or "")
    if not text.startswith("/") or text.startswith("//") or "\\" in text:
        return "/"
    if any(ord(ch) < 32 or ch == "\x7f" for ch in text):
        return "/"
    return text


def keep(request: web.Request, said: Said) -> None:
    """Keep `said` for the next page this session asks for (nothing without a session)."""
    sid = session_of(request)
    if sid is None:
        return
    kept = request.app[SAID]
    kept.pop(sid, None)
    kept[sid] = said
    while len(kept) > KEPT_MAX:
        kept.popitem(last=False)


def said(request: web.Request) -> Said | None:
    """The sentence kept for this session, once (a reload does not show it again)."""
    sid = session_of(request)
    return request.app[SAID].pop(sid, None) if sid is not None else None


def back(request: web.Request, said: Said, target: str) -> web.HTTPSeeOther:
    """A redirect to `target`, whose page will show `said`."""
    keep(request, said)
    return web.HTTPSeeOther(local_path(target))


@web.middleware
async def forms(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The API's answer to a form post, as a redirect back (see the module's docstring)."""
    if not (
        request.method == "POST"
        and request.path.startswith("/api/")
        and request.content_type == FORM_TYPE
    ):
        return await handler(request)
    target = local_path((await request.post()).get(NEXT_FIELD))
    try:
        response = await handler(request)
    except UsageError as exc:
        raise back(request, Said(str(exc), problem=True), target) from None
    if not isinstance(response, web.Response) or response.content_type != "application/json":
        return response
    data = json.loads(response.text or "{}")
    if response.status >= 400:
        raise back(request, Said(str(data.get("error") or response.reason), problem=True), target)
    raise back(request, Said(str(data.get("message") or "Done.")), target)
