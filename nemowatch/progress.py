"""Progress bars for `nemowatch submit`: upload, edit and render (tqdm)."""

from __future__ import annotations

from typing import Any

from tqdm import tqdm

from nemowatch.jobs import events


class ProgressBars:
    """A job-event listener that draws one bar per phase on stderr."""

    def __init__(self) -> None:
        self._bars: dict[str, Any] = {}

    def handle(self, event: events.JobEvent) -> None:
        if isinstance(event, events.StageReached):
            tqdm.write(f"{event.name}: {event.stage.value}")
        elif isinstance(event, events.Progress):
            self.progress(event.what, event.done, event.total)

    def progress(self, what: str, done: float, total: float) -> None:
        bar = self._bars.get(what)
        if bar is None:
            unit = {"upload": "B", "download": "B", "render": "%", "edit": " events"}[what]
            bar = tqdm(
                total=total or None,
                desc=what,
                unit=unit,
                unit_scale=unit == "B",
                leave=True,
            )
            self._bars[what] = bar
        if what == "edit":
            bar.update(1)
        else:
            bar.update(done - bar.n)

    def close(self) -> None:
        for bar in self._bars.values():
            bar.close()
