"""The hot folders: one inbox table per preset, under the inbox itself.

`<inbox>/NAME/` of each `[presets.NAME]` is scanned like the inbox (its
files pair, its sub-folders are bundles) by an `Inbox` of its own, whose
plan marks every job with the preset. The inbox's own table skips these
folders, so a hot folder is never taken for a bundle. They are created at
start and by a reload that adds a preset (with their results folder in the
outbox); one removed under the running daemon is made again at the next
rescan.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path

from nemowatch import presets
from nemowatch.config import Settings, WatchSettings
from nemowatch.watch.inbox import Inbox

log = logging.getLogger("nemowatch")


def hot_watch(watch: WatchSettings, instructions: str) -> WatchSettings:
    """A hot folder's `[watch]`: the preset's instructions stand in for a missing `.txt`."""
    return watch.model_copy(update={"default_instructions": instructions})


class HotFolders:
    """The tables of the hot folders, kept in step with the presets in force."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self.tables: dict[str, Inbox] = {}
        self._roots: dict[str, Path] = {}

    def folders(self) -> list[Path]:
        return list(self._roots.values())

    def sync(self, settings: Settings) -> None:
        """Follow the presets in force: new ones get their folders and a table, removed
        ones are no longer watched (their folders and files stay as they are)."""
        folders = settings.folders
        wanted = presets.hot_folders(settings)
        for name in list(self.tables):
            if name not in wanted:
                root = self._roots.pop(name)
                del self.tables[name]
                log.info("preset %s removed: %s is an ordinary folder again", name, root)
        for name, root in wanted.items():
            watch = hot_watch(settings.watch, settings.presets[name].instructions)
            if name in self.tables:
                self.tables[name].reconfigure(watch)
                continue
            self.tables[name] = Inbox(
                root,
                folders.work_dir,
                watch,
                self._clock,
                skip=(folders.outbox, folders.failed),
                preset=name,
            )
            self._roots[name] = root
        self.make(settings)

    def make(self, settings: Settings) -> None:
        """Create each hot folder and its results folder (when the inbox is there)."""
        if not settings.folders.inbox.is_dir():
            return
        for name, root in self._roots.items():
            for path in (root, presets.results_folder(settings, name)):
                try:
                    path.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    log.error("cannot create the folder %s of preset %s: %s", path, name, exc)

    def table_of(self, path: Path) -> Inbox | None:
        """The table of the hot folder holding `path` (None: not in a hot folder)."""
        for name, root in self._roots.items():
            if path == root or root in path.parents:
                return self.tables[name]
        return None

    def scan(self) -> None:
        for name, table in self.tables.items():
            try:
                table.scan()
            except OSError as exc:
                log.warning("cannot look into the hot folder %s: %s", self._roots[name], exc)

    def __iter__(self) -> Iterator[tuple[str, Inbox]]:
        return iter(list(self.tables.items()))
