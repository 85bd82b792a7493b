"""The web page without JavaScript: the queue, the history and a result are whole pages,
and every action is a form that posts, acts and comes back with its answer on the page.

Requests are sent as a browser with scripts off sends them: the forms' own fields
(`htmlforms`), urlencoded or multipart, no `x-csrftoken` header, no JSON.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

from htmlforms import Form, find, forms, read
from webfakes import ENTRY, Page, served_page

from nemowatch.history_schema import Entry
from nemowatch.web.html import stage_words

NOW = 1_800_000_000.0


def entry(outbox: Path) -> Entry:
    """The history's `ENTRY`, delivered with its video and report in `outbox`."""
    outbox.mkdir(parents=True, exist_ok=True)
    (outbox / "holiday.mp4").write_bytes(b"\x00\x00\x00\x18ftypisom" + b"v" * 100)
    (outbox / "holiday.report.txt").write_text("holiday: delivered in 2 min\n")
    return Entry(
        id=str(ENTRY["id"]),
        name="holiday",
        kind="pair",
        outcome="delivered",
        started=NOW - 120,
        ended=NOW,
        result=str(outbox / "holiday.mp4"),
        report=str(outbox / "holiday.report.txt"),
        reason=None,
        code=None,
        stage=None,
        preset=None,
        media=[{"name": "holiday.mp4", "size": 112, "sha256": None}],
        instructions=["Trim the silences"],
        session_id="ses_1",
        render_id="rnd_1",
        stages={},
        turns=[{"text": "Trim the silences", "answer": "Done: trimmed", "verified": True}],
        credits_before=10.0,
        credits_after=7.0,
        refines=None,
    )


def messages(html: str) -> str:
    found = re.search(r'<div id="messages"[^>]*>(.*?)</div>', html, re.S)
    assert found is not None
    return found.group(1)


def check_posts(page: Page, html: str) -> list[Form]:
    """Every button is in a form; each form that posts carries the session's CSRF token
    and a way back; the actions that pay never post from the page itself."""
    reader = read(html)
    assert reader.stray_buttons == []  # nothing that only a script could make work
    posting = [f for f in reader.forms if f.method == "post"]
    for form in posting:
        fields = form.fields()
        assert fields["csrftoken"] == page.csrf, form
        assert form.action == "/drop" or fields["next"].startswith("/"), form
    assert all("pays" not in label for f in posting for label in f.buttons)
    return posting


async def test_the_queue_history_and_a_result_are_whole_pages(tmp_path: Path) -> None:
    shown = entry(tmp_path / "outbox")
    async with served_page(tmp_path, job=lambda i: shown if i == shown.id else None) as page:
        home = (await page.tcp.get("/")).text
        assert 'data-job="j1"' in home and stage_words("rendering") in home
        assert "cat.mp4" in home and "waiting for its note" in home
        assert "paused by the user" in home
        actions = {label for form in check_posts(page, home) for label in form.buttons}
        assert {"Resume", "Cancel", "Set aside", "Send", "Log out"} <= actions

        history = await page.tcp.get("/history", params={"q": "holi"})
        assert history.status_code == 200
        assert f'href="/jobs/{shown.id}"' in history.text
        assert ("history", False, None, 51, 0, "holi") in page.control.calls
        search = find(history.text, "Search")
        assert (search.method, search.action) == ("get", "/history")

        result = await page.tcp.get(f"/jobs/{shown.id}")
        assert result.status_code == 200
        assert f'<video id="result" controls preload="metadata" src="/jobs/{shown.id}/video"' in (
            result.text
        )
        assert "Done: trimmed" in result.text and "delivered in 2 min" in result.text
        assert "<dt>Cost</dt><dd>3 credits</dd>" in result.text
        video = await page.tcp.get(f"/jobs/{shown.id}/video", headers={"Range": "bytes=0-3"})
        assert video.status_code == 206 and video.content == b"\x00\x00\x00\x18"


async def test_a_button_posts_acts_and_comes_back_with_its_answer(tmp_path: Path) -> None:
    async with served_page(tmp_path) as page:
        resume = find((await page.tcp.get("/")).text, "Resume")
        assert (resume.method, resume.action) == ("post", "/api/resume")

        done = await page.tcp.post(resume.action, data=resume.fields())

        assert done.status_code == 303 and done.headers["location"] == "/"
        assert ("resume",) in page.control.calls
        back = (await page.tcp.get("/")).text
        assert "Resumed; every condition is checked again now." in messages(back)
        assert messages((await page.tcp.get("/")).text) == ""  # said once
        cancel = find(back, "Cancel")
        assert (await page.tcp.post(cancel.action, data=cancel.fields())).status_code == 303
        assert ("cancel", "j1") in page.control.calls


async def test_an_error_comes_back_as_a_problem_and_next_stays_on_this_site(
    tmp_path: Path,
) -> None:
    async with served_page(tmp_path) as page:
        fields = {"csrftoken": page.csrf, "next": "/history"}
        refused = await page.tcp.post("/api/jobs/nothing/cancel", data=fields)
        assert refused.status_code == 303 and refused.headers["location"] == "/history"
        said = messages((await page.tcp.get("/history")).text)
        assert 'class="problem"' in said and "no job named nothing" in said
        for elsewhere in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
            fields["next"] = elsewhere
            away = await page.tcp.post("/api/pause", data=fields)
            assert away.status_code == 303 and away.headers["location"] == "/"


async def test_retry_posts_and_a_paying_retry_states_its_cost_first(tmp_path: Path) -> None:
    async with served_page(tmp_path) as page:
        broken = page.settings.folders.failed / "broken"
        broken.mkdir()
        (broken / "broken.mp4").write_bytes(b"\x00" * 64)
        (broken / "broken.txt").write_text("Trim the silences")
        (broken / "error.txt").write_text("The upload was refused.\n\nWhat to do: try again.\n")
        home = (await page.tcp.get("/")).text
        assert "The upload was refused." in home

        retry = find(home, "Retry")
        assert (await page.tcp.post(retry.action, data=retry.fields())).status_code == 303
        assert ("retry", "broken", "") in page.control.calls

        paying = find(home, "Start over (pays)")
        assert (paying.method, paying.action) == ("get", "/failed/broken/retry")
        asked = await page.tcp.get(paying.action, params=paying.fields())
        assert asked.status_code == 200 and "credit" in asked.text
        assert not any(c[:2] == ("retry", "broken") and c[2] for c in page.control.calls)
        go = find(asked.text, "Go ahead")
        assert go.fields()["how"] == "start-over" and go.fields()["csrftoken"] == page.csrf
        assert (await page.tcp.post(go.action, data=go.fields())).status_code == 303
        assert ("retry", "broken", "start-over") in page.control.calls

        resend = find(home, "Send the turn again (pays)")
        nothing = await page.tcp.get(resend.action, params=resend.fields())
        assert nothing.status_code == 400 and "nothing to resend" in nothing.text
        assert "Go ahead" not in nothing.text


def drop_form(html: str) -> Form:
    [form] = [f for f in forms(html) if f.attrs.get("id") == "drop"]
    assert (form.method, form.action) == ("post", "/drop")
    assert form.attrs["enctype"] == "multipart/form-data"
    assert form.inputs[0][:2] == ("csrftoken", "hidden")  # first: checked before any file
    return form


async def test_the_drop_zone_posts_whole_files(tmp_path: Path) -> None:
    async with served_page(tmp_path, max_file_mb=1) as page:
        inbox = page.settings.folders.inbox
        form = drop_form((await page.tcp.get("/")).text)
        fields = {**form.fields(), "instructions": "Add a title"}
        assert fields["mode"] == "each"
        files = [
            ("files", ("clip.mp4", b"0123456789", "video/mp4")),
            ("files", ("../../.b.mp4", b"xyz", "video/mp4")),
        ]

        done = await page.tcp.post("/drop", data=fields, files=files)

        assert done.status_code == 303 and done.headers["location"] == "/"
        assert sorted(p.name for p in inbox.iterdir()) == ["b.mp4", "b.txt", "clip.mp4", "clip.txt"]
        assert (inbox / "clip.mp4").read_bytes() == b"0123456789"
        assert (inbox / "b.txt").read_text() == "Add a title\n"
        assert "2 jobs in the inbox: clip.mp4, b.mp4" in messages((await page.tcp.get("/")).text)

        big = [("files", ("big.mp4", b"x" * (1024 * 1024 + 1), "video/mp4"))]
        over = await page.tcp.post("/drop", data=fields, files=big)
        assert over.status_code == 303
        assert "over the 1 MB of jobs.max_file_mb" in messages((await page.tcp.get("/")).text)
        untyped = {**fields, "instructions": ""}
        assert (await page.tcp.post("/drop", data=untyped, files=files)).status_code == 303
        assert "say what to do" in messages((await page.tcp.get("/")).text)
        assert len(list(inbox.iterdir())) == 4  # nothing more, and no partial folder left


async def test_a_drop_without_the_csrf_token_first_is_refused_before_any_file(
    tmp_path: Path,
) -> None:
    async with served_page(tmp_path) as page:
        files = [("files", ("clip.mp4", b"0123", "video/mp4"))]
        text = {"instructions": "Add a title"}
        missing = await page.tcp.post("/drop", data=text, files=files)
        wrong = await page.tcp.post("/drop", data={"csrftoken": "0" * 64, **text}, files=files)
        late = await page.tcp.post("/drop", data={**text, "csrftoken": page.csrf}, files=files)
        foreign = await page.tcp.post(
            "/drop",
            data={"csrftoken": page.csrf, **text},
            files=files,
            headers={"Origin": "http://evil.example"},
        )
        assert [r.status_code for r in (missing, wrong, late, foreign)] == [403] * 4
        assert list(page.settings.folders.inbox.iterdir()) == []


async def test_a_form_from_our_page_says_origin_null_and_is_told_apart_by_sec_fetch_site(
    tmp_path: Path,
) -> None:
    async with served_page(tmp_path) as page:
        # what Chromium sends for a form posted from a page with Referrer-Policy: no-referrer
        ours = {"Origin": "null", "Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "navigate"}
        fields = find((await page.tcp.get("/")).text, "Resume").fields()
        done = await page.tcp.post("/api/resume", data=fields, headers=ours)
        assert done.status_code == 303
        # a sandboxed frame of another site also says "null": the browser's word decides
        for theirs in ({"Origin": "null"}, {"Origin": "null", "Sec-Fetch-Site": "cross-site"}):
            refused = await page.tcp.post("/api/pause", data=fields, headers=theirs)
            assert refused.status_code == 403
        assert page.control.calls == [("resume",)]


async def test_an_approximate_cost_and_a_refinement_are_said_in_words(tmp_path: Path) -> None:
    refined = replace(entry(tmp_path / "outbox"), cost_approximate=True, refines="j0", version=2)
    async with served_page(tmp_path, job=lambda i: refined if i == refined.id else None) as page:
        result = (await page.tcp.get(f"/jobs/{refined.id}")).text
    assert "<dt>Cost</dt><dd>about 3 credits</dd>" in result
    assert "<dt>Refines</dt><dd>version 2, refining job j0</dd>" in result


def test_a_held_job_says_on_hold_not_its_stage_words() -> None:
    from nemowatch.web import views

    held = {"id": "j9", "name": "emma", "stage": "uploaded", "doing": "held: out of credits"}
    row = views._job(held, "token")
    assert "on hold" in row and "held: out of credits" in row
    assert stage_words("uploaded") not in row
    running = views._job({**held, "doing": "turn 1 of 1: the editor is working"}, "token")
    assert stage_words("uploaded") in running


async def test_a_failed_jobs_page_retries_its_own_folder_not_another_of_its_name(
    tmp_path: Path,
) -> None:
    """Two failed jobs named `broken`: the second's folder is `broken (2)`, and its page's
    buttons put back that one (found by the journal's id), never the first."""
    failed_entry = replace(
        entry(tmp_path / "outbox"), id="job-2", name="broken", outcome="failed", result=None
    )
    async with served_page(tmp_path, job=lambda i: failed_entry if i == "job-2" else None) as page:
        failed = page.settings.folders.failed
        for folder, job_id in (("broken", "job-1"), ("broken (2)", "job-2")):
            (failed / folder).mkdir(parents=True)
            (failed / folder / "job.json").write_text(f'{{"id": "{job_id}"}}')
            (failed / folder / "error.txt").write_text("The upload was refused.\n")
        shown = (await page.tcp.get("/jobs/job-2")).text
        retry = find(shown, "Retry")
        assert (await page.tcp.post(retry.action, data=retry.fields())).status_code == 303
        assert ("retry", "broken (2)", "") in page.control.calls
        assert not any(c[:2] == ("retry", "broken") for c in page.control.calls)

        (failed / "broken (2)" / "job.json").unlink()  # its folder gone, or not a job's
        assert "Retry" not in (await page.tcp.get("/jobs/job-2")).text
