"""The web page's sections, as HTML: the live part (conditions, queue, waiting files,
failures), the drop zone, the history table and a job's page."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from nemowatch.doing import duration
from nemowatch.history_schema import Entry
from nemowatch.web.html import (
    credits,
    elapsed,
    esc,
    form_ask,
    form_post,
    hidden,
    stage_words,
    url,
    when,
)
from nemowatch.web.security import CSRF_FIELD
from nemowatch.web.site import Failure

HISTORY_PAGE = 50


def live(status: dict[str, Any], failed: list[Failure], csrf: str) -> str:
    """What changes as jobs go: app.js replaces it when an event says so. Its buttons
    are forms that post with `csrf` and come back to the queue."""
    return (
        '<div id="live">'
        + _conditions(status, csrf)
        + _queue(status.get("jobs") or [], int(status.get("queued") or 0), csrf)
        + _waiting(status.get("waiting") or [], csrf)
        + _failures(failed, csrf)
        + "</div>"
    )


def _conditions(status: dict[str, Any], csrf: str) -> str:
    conditions = status.get("conditions") or []
    paused = any(c.get("name") == "paused" for c in conditions)
    label, action = ("Resume", "/api/resume") if paused else ("Pause", "/api/pause")
    toggle = form_post(label, action, csrf=csrf)
    items = "".join(
        f'<li class="condition"><strong>{esc(c.get("name"))}</strong>: {esc(c.get("reason"))}'
        f' <span class="since">since {when(c.get("since"))}</span></li>'
        for c in conditions
    )
    state = (
        f'<ul class="conditions" aria-label="What holds the work">{items}</ul>'
        if items
        else '<p class="ok">Nothing holds the work.</p>'
    )
    return (
        '<section aria-labelledby="h-state"><h2 id="h-state">State</h2>'
        f'<div class="line">Credits: <strong id="credits">{esc(credits(status.get("credits")))}'
        f"</strong> {toggle}</div>{state}</section>"
    )


def _queue(jobs: list[dict[str, Any]], queued: int, csrf: str) -> str:
    if not jobs:
        rows = '<p id="no-jobs">No job in progress.</p>'
    else:
        rows = '<ul class="jobs">' + "".join(_job(j, csrf) for j in jobs) + "</ul>"
    more = f"<p>{queued} more in line.</p>" if queued else ""
    return f'<section aria-labelledby="h-queue"><h2 id="h-queue">Queue</h2>{rows}{more}</section>'


def _job(job: dict[str, Any], csrf: str) -> str:
    job_id, stage = str(job.get("id")), str(job.get("stage") or "")
    doing = str(job.get("doing") or "")
    held = doing.startswith("held: ")
    # held, the stage's own words ("the editor is working") would not be true: the line
    # below says what it waits for
    words = "on hold" if held else stage_words(stage)
    cancel = url("api", "jobs", job_id, "cancel")
    return (
        f'<li class="job{" held" if held else ""}" data-job="{esc(job_id)}" id="job-{esc(job_id)}">'
        f'<div class="job-head"><strong class="name">{esc(job.get("name"))}</strong> '
        f'<span class="stage" data-stage="{esc(stage)}">{esc(words)}</span> '
        f"{elapsed(job.get('since'))}</div>"
        f'<div class="doing">{esc(doing)}</div>'
        f'<progress class="bar" max="1" aria-label="progress of {esc(job.get("name"))}" hidden>'
        "</progress>"
        f'<div class="actions">{form_post("Cancel", cancel, csrf=csrf)}</div>'
        "</li>"
    )


def _waiting(waiting: list[dict[str, Any]], csrf: str) -> str:
    if not waiting:
        return ""
    items = "".join(
        f"<li><span class='path'>{esc(Path(str(w.get('path'))).name)}</span>: "
        f"{esc(w.get('reason'))} "
        + form_post(
            "Set aside", url("api", "jobs", Path(str(w.get("path"))).name, "cancel"), csrf=csrf
        )
        + "</li>"
        for w in waiting
    )
    return (
        '<section aria-labelledby="h-waiting"><h2 id="h-waiting">Waiting in the inbox</h2>'
        f'<ul class="waiting">{items}</ul></section>'
    )


def _failures(failed: list[Failure], csrf: str) -> str:
    if not failed:
        return ""
    items = "".join(_failure(f, csrf) for f in failed)
    return (
        '<section aria-labelledby="h-failed"><h2 id="h-failed">Failed</h2>'
        f'<ul class="failures">{items}</ul>'
        f'<div class="line">{form_post("Retry all", "/api/retry-all", csrf=csrf)}</div></section>'
    )


def _failure(failure: Failure, csrf: str) -> str:
    return (
        f'<li class="failure" data-failed="{esc(failure.name)}">'
        f"<strong>{esc(failure.name)}</strong> {when(failure.at)}"
        f'<p class="reason">{esc(failure.reason)}</p><div class="actions">'
        + retry_buttons(failure.name, csrf)
        + "</div></li>"
    )


#: the retries that pay again: the button's words, and `how`
PAYING = (("Send the turn again (pays)", "resend"), ("Start over (pays)", "start-over"))


def retry_buttons(name: str, csrf: str, back: str = "/") -> str:
    """Retry (free, posts at once) and the paying retries (which ask first)."""
    action = url("api", "failed", name, "retry")
    cost, ask = url("api", "failed", name, "cost"), url("failed", name, "retry")
    return form_post("Retry", action, csrf=csrf, back=back, cls="retry") + "".join(
        form_ask(label, ask, action, f"{cost}?how={how}", {"how": how}) for label, how in PAYING
    )


def drop(max_mb: float, csrf: str) -> str:
    """The drop zone: app.js uploads its files in chunks; without JavaScript the form
    posts them whole to /drop (the CSRF token first: it is checked before any file)."""
    return f"""<section aria-labelledby="h-drop"><h2 id="h-drop">New job</h2>
<form id="drop" class="drop" method="post" action="/drop" enctype="multipart/form-data"
 data-max-bytes="{int(max_mb * 1024 * 1024)}">{hidden({CSRF_FIELD: csrf})}
<div class="zone" id="zone">
<label for="files">Videos and other media (each at most {esc(f"{max_mb:g}")} MB)</label>
<input type="file" id="files" name="files" multiple accept="video/*,audio/*,image/*">
<p class="hint">or drop files here</p>
</div>
<label for="instructions">What to do</label>
<textarea id="instructions" name="instructions" rows="4"
 placeholder="Trim the silences, add a title and lo-fi music"></textarea>
<label for="note">or the instructions from a .txt file</label>
<input type="file" id="note" name="note" accept=".txt,text/plain">
<fieldset><legend>Several files</legend>
<label><input type="radio" name="mode" value="each" checked> one job per video</label>
<label><input type="radio" name="mode" value="bundle"> one job with all of them</label>
</fieldset>
<button type="submit" id="send">Send</button>
<progress id="upload" max="1" value="0" hidden aria-label="upload progress"></progress>
<span id="upload-text"></span>
</form></section>"""


def history(entries: list[dict[str, Any]], q: str, page: int, failed: bool, more: bool) -> str:
    """The history table (entries as the API gives them), with search and paging."""
    checked = " checked" if failed else ""
    form = (
        '<form class="search" method="get" action="/history" role="search">'
        f'<label for="q">Search</label><input id="q" name="q" value="{esc(q)}">'
        f'<label><input type="checkbox" name="failed" value="1"{checked}> failed only</label>'
        '<button type="submit">Search</button></form>'
    )
    if not entries:
        return form + "<p>No job found.</p>"
    rows = "".join(
        f'<tr><td><a href="{url("jobs", str(e["id"]))}">{esc(e["name"])}</a></td>'
        f"<td>{when(e.get('ended'))}</td><td>{esc(e.get('outcome'))}</td><td>{esc(_what(e))}</td>"
        f"<td>{duration(_seconds(e))}</td><td>{esc(_cost(e))}</td></tr>"
        for e in entries
    )
    table = (
        '<div class="scroll"><table><caption class="sr">Finished jobs, newest first</caption>'
        "<thead><tr><th scope=col>Name</th><th scope=col>Ended</th><th scope=col>Outcome</th>"
        "<th scope=col>Result or reason</th><th scope=col>Time</th><th scope=col>Credits</th>"
        f"</tr></thead><tbody>{rows}</tbody></table></div>"
    )
    base = f"/history?q={quote(q)}" + ("&amp;failed=1" if failed else "")
    links = []
    if page > 1:
        links.append(f'<a rel="prev" href="{base}&amp;page={page - 1}">Newer</a>')
    if more:
        links.append(f'<a rel="next" href="{base}&amp;page={page + 1}">Older</a>')
    return form + table + f'<nav class="pages" aria-label="Pages">{" ".join(links)}</nav>'


def _what(entry: dict[str, Any]) -> str:
    if entry.get("outcome") == "delivered":
        return Path(str(entry["result"])).name if entry.get("result") else "delivered"
    return str(entry.get("reason") or entry.get("outcome"))


def _seconds(entry: dict[str, Any]) -> float:
    try:
        started = datetime.fromisoformat(str(entry["started"]))
        ended = datetime.fromisoformat(str(entry["ended"]))
    except (KeyError, ValueError):
        return 0.0
    return max(0.0, (ended - started).total_seconds())


def _cost(row: dict[str, Any]) -> str:
    return credits(row.get("credits"), row.get("cost_approximate"))


def refined(entry: Entry) -> str:
    """What a refinement refines, in words."""
    return f"version {entry.version}, refining job {entry.refines}"


def job(
    entry: Entry, report: str, has_video: bool, has_editor: bool, failed_name: str, csrf: str
) -> str:
    parts = [f"<h1>{esc(entry.name)}</h1>"]
    facts = [
        ("Outcome", esc(entry.outcome)),
        ("Started", when(entry.started)),
        ("Ended", when(entry.ended)),
        ("Time", duration(entry.duration)),
        *([("Refines", esc(refined(entry)))] if entry.refines else []),
        ("Cost", f"{esc(credits(entry.credits, entry.cost_approximate))} credits"),
    ]
    if entry.reason:
        facts.append(("Reason", esc(entry.reason)))
    parts.append(
        '<dl class="facts">' + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts) + "</dl>"
    )
    if has_video:
        video = url("jobs", entry.id, "video")
        parts.append(
            f'<video id="result" controls preload="metadata" src="{video}"></video>'
            f'<p><a href="{video}" download>Download the video</a></p>'
        )
    if has_editor:
        link = url("jobs", entry.id, "editor")
        parts.append(
            f'<p><a href="{link}" target="_blank" rel="noopener">Open in the web editor</a></p>'
        )
    if failed_name:
        back = url("jobs", entry.id)
        parts.append(f'<div class="actions">{retry_buttons(failed_name, csrf, back)}</div>')
    turns = entry.turns or [{"text": t} for t in entry.instructions]
    if turns:
        items = "".join(
            f"<li><h3>Turn {i}</h3><p class='said'>{esc(t.get('text'))}</p>"
            f"<p class='answer'>{esc(t.get('answer') or '(no answer kept)')}</p></li>"
            for i, t in enumerate(turns, 1)
        )
        parts.append(f'<h2>Instructions and answers</h2><ol class="turns">{items}</ol>')
    if report:
        parts.append(f'<h2>Report</h2><pre class="report">{esc(report)}</pre>')
    return "".join(parts)
