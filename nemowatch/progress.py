"""Progress bars for `nemowatch submit`: upload, edit, render and download (tqdm).

The bars and the console log share one stream. While the bars are shown the
log's console handler writes through `tqdm.write`
(`tqdm.contrib.logging.logging_redirect_tqdm`), which clears the bars, writes
the line and draws them again below it: a log line never lands inside a bar.
Each bar is closed when its phase ends (the stage after it is reached, or its
turn is answered), so a finished phase stays on screen as one complete line.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from typing import Any, TextIO

from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from nemowatch.jobs import events
from nemowatch.jobs.model import JobStage

#: the stage each phase has ended by
ENDED_BY = {
    "upload": JobStage.UPLOADED,
    "edit": JobStage.EDITED,
    "render": JobStage.DOWNLOADING,
    "download": JobStage.DELIVERED,
}
#: the stages in the order a job goes through them
ORDER = list(JobStage)
UNITS = {"upload": "B", "download": "B", "render": "%", "edit": " events"}


class Bar(tqdm):  # type: ignore[misc]
    """tqdm without its monitor thread (a bar here is updated by events, never stalls)."""

    monitor_interval = 0


class ProgressBars:
    """A job-event listener that draws one bar per phase on `file`."""

    def __init__(self, file: TextIO | None = None) -> None:
        self._file = file if file is not None else sys.stderr
        self._bars: dict[str, Any] = {}

    def handle(self, event: events.JobEvent) -> None:
        if isinstance(event, events.StageReached):
            self._close_ended(event.stage)
            Bar.write(f"{event.name}: {event.stage.value}", file=self._file)
        elif isinstance(event, events.Progress):
            self.progress(event.what, event.done, event.total, turn=event.turn, turns=event.turns)
        elif isinstance(event, events.TurnAnswered):
            self._close("edit")
        elif isinstance(event, events.Held | events.Stopped | events.Failed | events.Cancelled):
            self.close()

    def progress(
        self, what: str, done: float, total: float, *, turn: int = 0, turns: int = 0
    ) -> None:
        bar = self._bars.get(what)
        if bar is None:
            unit = UNITS.get(what, "")
            bar = Bar(
                total=total or None,
                desc=f"turn {turn} of {turns}" if what == "edit" and turns > 1 else what,
                unit=unit,
                unit_scale=unit == "B",
                leave=True,
                file=self._file,
                dynamic_ncols=_has_width(self._file),
            )
            self._bars[what] = bar
        if what == "edit":
            bar.update(1)  # an edit has no known end: its bar counts the stream's events
        else:
            bar.update(done - bar.n)

    def _close_ended(self, stage: JobStage) -> None:
        if stage not in ORDER:
            return
        reached = ORDER.index(stage)
        for what in [w for w in self._bars if ORDER.index(ENDED_BY.get(w, stage)) <= reached]:
            self._close(what)

    def _close(self, what: str) -> None:
        bar = self._bars.pop(what, None)
        if bar is not None:
            bar.close()

    def close(self) -> None:
        for what in list(self._bars):
            self._close(what)

    @property
    def open(self) -> list[str]:
        """The phases whose bar is shown now."""
        return list(self._bars)


def _has_width(file: TextIO) -> bool:
    """Whether `file` is a terminal that knows its width (a bar follows its resizing);
    a terminal of width 0, as a bare pseudo-terminal reports, gets tqdm's default."""
    try:
        return os.get_terminal_size(file.fileno()).columns > 0
    except (OSError, ValueError, AttributeError):
        return False


def console_stream() -> TextIO:
    """The stream the root logger's console handler writes to (stderr when there is none)."""
    for handler in logging.getLogger().handlers:
        if type(handler) is logging.StreamHandler:
            return handler.stream  # type: ignore[no-any-return]
    return sys.stderr


@contextlib.contextmanager
def progress_bars() -> Iterator[ProgressBars]:
    """Bars on the log's own stream, the log written above them; every bar closed on exit.

    `logging_redirect_tqdm` takes over the handler that writes to `sys.stderr`;
    a command's `sys.stderr` is a masking wrapper around that stream, so the
    handler is looked for while `sys.stderr` is the stream itself (its masking
    filter goes with it to the handler that takes its place).
    """
    stream = console_stream()
    bars = ProgressBars(stream)
    with contextlib.ExitStack() as stack:
        with contextlib.redirect_stderr(stream):
            stack.enter_context(logging_redirect_tqdm(tqdm_class=Bar))
        stack.callback(bars.close)
        yield bars
