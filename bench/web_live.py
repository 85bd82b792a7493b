"""The live part of `bench.web_page`: job events from the daemon to the stream and the screen.

Each job event carries the wall time it was made at (`JobEvent.at`), and the
daemon's history keeps that time, to the microsecond, in its `events` table
(the live feed's `at` is rounded to the second). So the start of every
measurement is the event itself, read back from the history once the daemon
has stopped, and no guess about when the daemon acted is needed:

- on the stream: a thread reads `GET /api/events` (what the page subscribes
  to) and notes `time.time()` as each `data:` line arrives; the n-th event of
  a job on the stream is the n-th row of that job in the history (progress
  events are not kept there, and are left out on both sides);
- on screen: a headless Chromium shows the page, logged in as a person is; a
  `MutationObserver` notes, at the next animation frame after each change of
  the page, which jobs the queue shows. A job's row appearing is its claim on
  screen, its row going away is its delivery on screen.

The benchmark, the daemon and the browser read the same clock.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

#: the feed's event names, as the history's `events.type` spells them
FEED_TYPES = {
    "claimed": "Claimed",
    "stage": "StageReached",
    "turn": "TurnAnswered",
    "held": "Held",
    "waiting": "Waiting",
    "released": "Released",
    "delivered": "Delivered",
    "failed": "Failed",
    "cancelled": "Cancelled",
    "stopped": "Stopped",
}
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-component-update"]
#: in the page: note, at the frame after each change, which jobs the queue shows
OBSERVER = """() => {
  window.__seen = [];
  const note = () => requestAnimationFrame(() => {
    const rows = Array.from(document.querySelectorAll('#live li.job'), li => li.dataset.job);
    window.__seen.push([Date.now() / 1000, rows]);
  });
  new MutationObserver(note).observe(document.querySelector('main'),
                                     {childList: true, subtree: true});
  note();
}"""


@dataclass
class Arrival:
    """An event of the stream, as it arrived."""

    kind: str
    job: str
    at: float  # wall time of arrival


@dataclass
class StreamReader:
    """Reads `GET /api/events` in a thread, noting when each event arrives.

    Ends when the stream does (the daemon stops), or at the first keep-alive
    after `stop()`.
    """

    client: httpx.Client
    arrivals: list[Arrival] = field(default_factory=list)
    connected: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sse-reader", daemon=True)
        self.error: BaseException | None = None

    def __enter__(self) -> StreamReader:
        self._thread.start()
        if not self.connected.wait(10):
            raise RuntimeError(f"the live feed did not answer within 10 s ({self.error})")
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self, timeout: float = 30) -> None:
        """Stop reading (the daemon's stop ends the stream at once; else a keep-alive does)."""
        self._stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        try:
            with self.client.stream("GET", "/api/events", timeout=httpx.Timeout(60)) as response:
                response.raise_for_status()
                for line in response.iter_lines():
                    now = time.time()
                    if line.startswith(": connected"):
                        self.connected.set()
                    elif line.startswith("data: "):
                        data = json.loads(line.removeprefix("data: "))
                        self.arrivals.append(Arrival(data["event"], str(data["job"]), now))
                    if self._stop.is_set():
                        return
        except (httpx.HTTPError, ValueError) as exc:  # the stream ends with the daemon
            self.error = exc

    def seen(self, kind: str, job: str) -> bool:
        return any(a.kind == kind and a.job == job for a in list(self.arrivals))


def history_events(state: Path, jobs: set[str]) -> dict[str, list[tuple[str, float]]]:
    """The rows of the history's `events` table for `jobs`, in the order they were written."""
    found: dict[str, list[tuple[str, float]]] = {job: [] for job in jobs}
    uri = f"{(state / 'history.sqlite3').absolute().as_uri()}?mode=ro"
    with sqlite3.connect(uri, uri=True) as conn:
        for job_id, kind, at in conn.execute("SELECT job_id, type, at FROM events ORDER BY rowid"):
            if job_id in found:
                found[job_id].append((kind, at))
    conn.close()
    return found


def stream_latencies(arrivals: list[Arrival], state: Path) -> dict[str, list[float]]:
    """Seconds from each job event to its arrival on the stream, by the feed's event name.

    Raises:
        RuntimeError: the stream and the history disagree on a job's events.
    """
    kept = [a for a in arrivals if a.kind in FEED_TYPES]
    made = history_events(state, {a.job for a in kept})
    by_kind: dict[str, list[float]] = {}
    for job, rows in made.items():
        came = [a for a in kept if a.job == job]
        if [FEED_TYPES[a.kind] for a in came] != [kind for kind, _ in rows]:
            raise RuntimeError(
                f"job {job}: the stream brought {[a.kind for a in came]}, "
                f"the history holds {[kind for kind, _ in rows]}"
            )
        for arrival, (_, at) in zip(came, rows, strict=True):
            by_kind.setdefault(arrival.kind, []).append(arrival.at - at)
    return by_kind


def screen_latencies(
    seen: list[tuple[float, list[str]]], state: Path, jobs: list[str]
) -> dict[str, list[float]]:
    """Seconds from each job's claim to its row on screen, and from its delivery to the
    row's removal (`seen`: the observer's notes, in order)."""
    made = history_events(state, set(jobs))
    found: dict[str, list[float]] = {"claimed": [], "delivered": []}
    for job in jobs:
        times = dict(made[job])  # the first of each type (one of each here)
        shown = next((at for at, rows in seen if job in rows), None)
        if shown is None or "Claimed" not in times or "Delivered" not in times:
            continue  # never on screen (too quick for any refetch): its n falls short
        gone = next((at for at, rows in seen if at > shown and job not in rows), None)
        found["claimed"].append(shown - times["Claimed"])
        if gone is not None:
            found["delivered"].append(gone - times["Delivered"])
    return found


def chromium_problem() -> str | None:
    """Why the on-screen part cannot run here (None: it can)."""
    if not Path(CHROMIUM).exists():
        return f"no Chromium at {CHROMIUM} (`apt-get install chromium`)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "no Playwright (`pip install -e '.[dev]'`)"
    return None


@contextmanager
def watched_page(login_address: str) -> Iterator[Any]:
    """The web page in a headless Chromium, logged in with `login_address` (spent here),
    with the observer of `OBSERVER` running; closed on the way out."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            # bypass_csp: the observer is evaluated as a string, which the page's policy forbids
            context = browser.new_context(bypass_csp=True)
            context.set_default_timeout(20_000)
            page = context.new_page()
            page.goto(login_address)
            page.wait_for_selector("#live")
            page.wait_for_function("document.body.dataset.live === 'connected'")
            page.evaluate(OBSERVER)
            yield page
        finally:
            browser.close()


def screen_notes(page: Any) -> list[tuple[float, list[str]]]:
    return [(float(at), list(rows)) for at, rows in page.evaluate("window.__seen")]
