"""`submit`'s progress bars: a log line is written above them, never into one; each bar
is closed when its phase ends."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator

import pytest

from nemowatch.jobs import events
from nemowatch.jobs.model import Job, JobStage
from nemowatch.progress import ProgressBars, progress_bars

JOB = Job(id="20260101-000000-clip-abcdef", name="clip", kind="submit", media=["clip.mp4"])
LOG_LINE = re.compile(r"LOG (DEBUG|WARNING): ")
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def segments(text: str) -> list[str]:
    """What a terminal shows line by line: the text cut at every newline and carriage return."""
    plain = ANSI.sub("", text)  # tqdm moves the cursor up over several bars
    return [part.strip(" ") for line in plain.split("\n") for part in line.split("\r")]


@pytest.fixture
def console() -> Iterator[io.StringIO]:
    """A console log handler on a stream of its own, as `logsetup.configure` installs one."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("LOG %(levelname)s: %(message)s"))
    root = logging.getLogger()
    level, others = root.level, list(root.handlers)  # left by earlier tests in this process
    for other in others:
        root.removeHandler(other)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield stream
    root.removeHandler(handler)
    for other in others:
        root.addHandler(other)
    root.setLevel(level)


def test_a_log_line_while_bars_are_drawn_is_written_above_them_not_into_them(
    console: io.StringIO,
) -> None:
    handlers = list(logging.getLogger().handlers)
    with progress_bars() as bars:
        bars.progress("upload", 1000, 4000)
        logging.getLogger("nemowatch.api").debug("POST /api/upload -> HTTP 200")
        bars.progress("render", 40, 100)
        logging.getLogger("nemowatch").warning("the network is away")
    assert logging.getLogger().handlers == handlers, "the console handler is put back"

    shown = segments(console.getvalue())
    logged = [s for s in shown if LOG_LINE.search(s)]
    assert len(logged) == 2, shown
    assert all(LOG_LINE.match(s) for s in logged), f"a log line glued to a bar: {logged}"
    assert any(s.startswith("upload:") for s in shown) and any(
        s.startswith("render:") for s in shown
    )


def test_each_bar_is_closed_when_its_phase_ends() -> None:
    bars = ProgressBars(io.StringIO())
    bars.progress("upload", 10, 100)
    assert bars.open == ["upload"]
    bars.handle(events.StageReached.of(JOB, stage=JobStage.UPLOADED))
    assert bars.open == []

    bars.handle(events.Progress.of(JOB, what="edit", turn=1, turns=2))
    bars.handle(events.TurnAnswered.of(JOB, index=0, count=2))
    assert bars.open == [], "a turn's bar ends with its answer"

    bars.progress("render", 50, 100)
    bars.handle(events.StageReached.of(JOB, stage=JobStage.RENDERING))
    assert bars.open == ["render"], "a render tried again is still the render"
    bars.handle(events.StageReached.of(JOB, stage=JobStage.DOWNLOADING))
    assert bars.open == []

    bars.progress("download", 5, 10)
    bars.handle(events.Stopped.of(JOB))
    assert bars.open == [], "Ctrl-C closes what is open"


def test_a_closed_bar_stays_as_one_complete_line() -> None:
    stream = io.StringIO()
    bars = ProgressBars(stream)
    bars.progress("render", 100, 100)
    bars.handle(events.StageReached.of(JOB, stage=JobStage.DOWNLOADING))
    lines = stream.getvalue().split("\n")
    assert lines[0].split("\r")[-1].startswith("render: 100%"), lines
