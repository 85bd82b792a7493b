"""The inbox scanner: the filesystem side of the pairing and settling rules.

It keeps one `Seen` record per entry currently in the inbox (top level, and
one level into each sub-folder) and hands them to `rules.plan()`. It lists
folders and `lstat`s entries; it reads no file (a FIFO would block an
`open()` forever, and reading is the uploader's job, off the loop). The one
exception: once the rules would call a job ready, each of its regular files
is opened read-only and non-blocking, without following links, to ask the
kernel whether another program still has it open for writing (`lease.py`).
That happens per job about to be claimed, never per event.

Entries that are not plain files:

- FIFOs, sockets and devices are never opened nor moved: they wait with the
  reason "is not a regular file ...: remove it" (moving one to the failed
  folder may need a copy, which cannot be done safely).
- A symlink whose target lies inside the inbox is followed for size and
  mtime. One pointing outside the inbox (or into the work folder) is never
  followed: uploading it would read a file nobody put in the inbox. It gets
  a problem ("is a link to a file outside the inbox ..."), so its job fails
  and the link itself (moving a link is safe) goes to the failed folder.
- A folder inside a bundle folder is a problem for the bundle (bundles are
  one level deep).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path

from nemowatch.config import WatchSettings
from nemowatch.watch.files import Seen, fold, ignorer, observe
from nemowatch.watch.lease import held_for_writing
from nemowatch.watch.rules import Candidate, Entries, Plan, plan

NOT_REGULAR = "is not a regular file (a pipe, socket or device): remove it"
OUTSIDE = "is a link to a file outside the inbox: put the file itself in the inbox"
DANGLING = "is a link to a file that does not exist: remove the link or copy in the file"
LINKED_FOLDER = "is a link to a folder: put the files themselves in the inbox"
NESTED = "is a folder inside a bundle folder: bundles are one level deep, move its files up"


class Inbox:
    """The table of what is in the inbox, kept current by events and scans.

    Args:
        inbox: the folder people drop work into.
        work_dir: where claimed jobs live; skipped (it is hidden by default too).
        settings: the `[watch]` section (ignore patterns, settle and wait times).
        clock: the one clock; any monotonic float in seconds.
        skip: other folders nemowatch writes to, should one lie inside the inbox
            (an outbox there must never be read back as new work), and the hot
            folders, which have tables of their own.
        preset: this is the hot folder of that preset (its jobs carry it).
    """

    def __init__(
        self,
        inbox: Path,
        work_dir: Path,
        settings: WatchSettings,
        clock: Callable[[], float],
        *,
        skip: Iterable[Path] = (),
        preset: str | None = None,
    ) -> None:
        self._inbox = inbox
        self._real = os.path.realpath(inbox)
        self._work_dir = work_dir
        self._preset = preset
        self._settings = settings
        self._ignores = ignorer(settings.ignore_patterns)
        self._clock = clock
        self._files: dict[Path, Seen] = {}
        self._folders: dict[Path, dict[Path, Seen]] = {}
        self._skip: set[str] = set()
        #: each sub-folder's mtime at its last full look (unchanged: nothing came or went)
        self._folder_mtimes: dict[Path, int] = {}
        #: bumped by every change of the table; the last plan, and the version it saw
        self._version = 0
        self._last: tuple[int, Plan] | None = None
        self.skip(skip)

    def skip(self, paths: Iterable[Path]) -> None:
        """The folders in the inbox that are not its work (besides the work folder)."""
        self._skip = {os.path.realpath(path) for path in (self._work_dir, *paths)}
        self._version += 1
        for folder in [f for f in self._folders if os.path.realpath(f) in self._skip]:
            del self._folders[folder]

    def reconfigure(self, settings: WatchSettings) -> None:
        """New settle time, pair wait, default instructions or ignore patterns (a reload)."""
        self._settings = settings
        self._ignores = ignorer(settings.ignore_patterns)
        self._version += 1

    def entries(self) -> Entries:
        """A snapshot of the table, as `rules.plan()` takes it."""
        folders = {folder: list(seens.values()) for folder, seens in self._folders.items()}
        return Entries(list(self._files.values()), folders)

    def scan(self) -> None:
        """Look at the whole inbox again: one `scandir` per folder, one `lstat` per entry.

        Entries no longer there are forgotten, so the table never outgrows the inbox.

        Raises:
            OSError: the inbox itself cannot be listed.
        """
        now = self._clock()
        files: dict[Path, Seen] = {}
        folders: dict[Path, dict[Path, Seen]] = {}
        mtimes: dict[Path, int] = {}
        with os.scandir(self._inbox) as listing:
            for entry in listing:
                if self._ignored(entry.name):
                    continue
                path = self._inbox / entry.name
                try:
                    info = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue  # gone between the listing and the lstat
                if stat.S_ISDIR(info.st_mode):
                    old = self._folders.get(path)
                    if old is not None and self._folder_mtimes.get(path) == info.st_mtime_ns:
                        # Nothing added, removed or renamed in it: the rescan is a safety
                        # net for lost events, and a job's files are looked at again
                        # before it is called ready, so its entries are kept as they are.
                        folders[path] = old
                        mtimes[path] = info.st_mtime_ns
                        continue
                    seens = self._scan_folder(path, now, old or {})
                    if seens is not None:
                        folders[path] = seens
                        mtimes[path] = info.st_mtime_ns
                else:
                    files[path] = self._look(self._files.get(path), path, info, now)
        if files != self._files or folders != self._folders:
            self._version += 1  # an idle rescan of a big inbox changes nothing: no new plan
        self._files, self._folders, self._folder_mtimes = files, folders, mtimes

    def note(self, path: Path, closed: bool = False, at: float = 0.0) -> None:
        """Bring the table up to date for one watcher event (created, closed, removed).

        `at`: when the event arrived (on this inbox's clock), if stamped: events
        are looked at in batches, and the settle time counts from the change.
        """
        parts = self._parts(path)
        if not parts or self._ignored(parts[0]):
            return
        self._version += 1
        top = self._inbox / parts[0]
        now = at or self._clock()
        if len(parts) > 1 and top in self._folders:
            entry = top / parts[1]
            seens = self._folders[top]
            try:
                info = os.lstat(entry)
            except OSError:
                seens.pop(entry, None)
                return
            seens[entry] = self._look(seens.get(entry), entry, info, now, closed=closed)
            return
        # The top-level entry itself (or a folder not known yet): look at it whole.
        file, folder = self._files.pop(top, None), self._folders.pop(top, None)
        try:
            info = os.lstat(top)
        except OSError:
            return
        if stat.S_ISDIR(info.st_mode):
            inside = self._scan_folder(top, now, folder or {})
            if inside is not None:
                self._folders[top] = inside
        elif len(parts) == 1:
            self._files[top] = self._look(file, top, info, now, closed=closed)

    def forget(self, paths: Iterable[Path]) -> None:
        """Drop entries (files or bundle folders) the daemon has claimed."""
        self._version += 1
        for path in paths:
            self._files.pop(path, None)
            self._folders.pop(path, None)
            if path.parent in self._folders:
                self._folders[path.parent].pop(path, None)

    def plan(self) -> Plan:
        """`rules.plan()` on the table, with every ready job's files looked at again.

        Events do not report each write, so a record can be older than the
        file: before anything is called ready its entries are `lstat`ed once
        more, and the kernel is asked whether a writer still holds them open;
        a job whose files changed, or are still open for writing, goes back
        to waiting.

        A plan that found nothing ready and nothing to wake for (only a person can
        move things on) stays true until the table changes: it is kept, and given
        again while the table is unchanged (a rescan of a big, quiet inbox).
        """
        last = self._last
        if last is not None and last[0] == self._version:
            return last[1]
        result = self._plan()
        still = not result.ready and result.wake_at is None
        self._last = (self._version, result) if still else None
        return result

    def _plan(self) -> Plan:
        looked: set[Path] = set()
        while True:
            result = plan(self.entries(), self._clock(), self._settings, self._preset)
            fresh = [c for c in result.ready if _unit(c) - looked]
            if not fresh:
                return result
            changed = False
            for candidate in fresh:
                changed |= self._refresh(candidate)
                looked |= _unit(candidate)
            if not changed:
                return result

    # -- helpers ----------------------------------------------------------------

    def _refresh(self, candidate: Candidate) -> bool:
        """Look at a candidate's entries again; whether anything changed."""
        now = self._clock()
        if candidate.folder is not None:
            before = self._folders.pop(candidate.folder, None)
            after = self._scan_folder(candidate.folder, now, before or {})
            if after is not None:
                after = {path: self._writer(seen, now) for path, seen in after.items()}
                self._folders[candidate.folder] = after
            return before != after
        changed = False
        for path in candidate.files:
            prev = self._files.pop(path, None)
            try:
                info = os.lstat(path)
            except OSError:
                changed = True
                continue
            seen = self._writer(self._look(prev, path, info, now), now)
            self._files[path] = seen
            changed |= seen != prev
        return changed

    @staticmethod
    def _writer(seen: Seen, now: float) -> Seen:
        """The record with the kernel's answer: is another program still writing it?

        Unknown (no leases here, not a regular file) counts as no: the settle
        time alone decides then. Entries that are never used are not asked about.
        """
        if seen.problem or seen.blocked:
            return seen
        held = held_for_writing(seen.path)
        return replace(seen, writing_at=now if held else None)

    def _scan_folder(
        self, folder: Path, now: float, old: dict[Path, Seen]
    ) -> dict[Path, Seen] | None:
        """The entries of one sub-folder, updating `old`; None if it is skipped or gone."""
        if os.path.join(self._real, folder.name) in self._skip:
            return None
        seens: dict[Path, Seen] = {}
        try:
            with os.scandir(folder) as listing:
                for entry in listing:
                    path = folder / entry.name
                    try:
                        info = entry.stat(follow_symlinks=False)
                    except FileNotFoundError:
                        continue
                    seens[path] = self._look(old.get(path), path, info, now)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            # Keep the folder visible: a bundle nobody can read still waits, with the reason.
            reason = f"cannot be read ({exc.strerror}): check the folder's permissions"
            return {folder: observe(old.get(folder), folder, 0, 0, now, blocked=reason)}
        return seens

    def _look(
        self, prev: Seen | None, path: Path, info: os.stat_result, now: float, closed: bool = False
    ) -> Seen:
        """The new record for an entry from its `lstat`, following links inside the inbox."""
        problem = blocked = None
        linked = stat.S_ISLNK(info.st_mode)
        if linked:
            # realpath only reads links; the target itself is stat-ed only if it is ours.
            if not self._inside(os.path.realpath(path)):
                problem = OUTSIDE
            else:
                try:
                    info = os.stat(path)
                except OSError:
                    problem = DANGLING
        if problem is None and stat.S_ISDIR(info.st_mode):
            problem = LINKED_FOLDER if linked else NESTED
        elif problem is None and not stat.S_ISREG(info.st_mode):
            blocked = NOT_REGULAR
        return observe(
            prev,
            path,
            info.st_size,
            info.st_mtime_ns,
            now,
            closed=closed,
            problem=problem,
            blocked=blocked,
        )

    def _inside(self, target: str) -> bool:
        """Whether a resolved link target lies in the inbox and outside skipped folders."""
        if not target.startswith(self._real + os.sep):
            return False
        return not any(target == skip or target.startswith(skip + os.sep) for skip in self._skip)

    def _ignored(self, name: str) -> bool:
        return self._ignores(fold(name))

    def _parts(self, path: Path) -> tuple[str, ...]:
        """The path's parts below the inbox; empty for the inbox itself or outside it."""
        for base in (self._inbox, Path(self._real)):
            try:
                return path.relative_to(base).parts
            except ValueError:
                continue
        return ()


def _unit(candidate: Candidate) -> set[Path]:
    """What gets looked at again before a candidate counts as ready."""
    return {candidate.folder} if candidate.folder is not None else set(candidate.files)
