"""Which inbox files make a job, and when: a pure function of what was seen.

`plan()` gets the `Seen` records of the inbox (top-level files, and the
entries of each sub-folder) and the time; it never touches the clock or the
filesystem, so every rule below is tested with plain numbers. Names are
compared after Unicode NFC normalisation (`Seen.name`, `files.nfc`) and case
folding: a video named on a Mac pairs with its `.txt` named on Linux.

Timing, in one place:

- a job is ready when all of its files have settled (`settled()`): unchanged
  for `settle_seconds`, and not found open for writing by another program
  (the scanner asks the kernel once time alone would call a job ready, and
  records the answer in `Seen.writing_at`);
- a decision that goes ahead without the user, a video with the default
  instructions or a job that fails with a problem, waits a further
  `pair_wait_seconds` after everything in it settled: counting from the
  settle rather than from first sight gives a person who copies a large
  video and then writes its `.txt` the full wait after the copy ended.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePath
from typing import Literal

from nemowatch.config import WatchSettings
from nemowatch.watch.files import (
    FileKind,
    Seen,
    classify,
    ignorer,
    is_ignored,
    nfc,
    observe,
    open_for_writing,
    refined_name,
    settled,
    settled_at,
)
from nemowatch.watch.pairing import group_top_level, instructions_key
from nemowatch.watch.problems import bundle_problem, top_level_problem

__all__ = [
    "Candidate",
    "Entries",
    "FileKind",
    "Plan",
    "Seen",
    "Waiting",
    "classify",
    "is_ignored",
    "observe",
    "plan",
    "settled",
]

SETTLING = "still being written (settling)"
WRITING = "still being written (open for writing by another program)"

#: what the inbox saw of a file when its job was found ready: (path, size, mtime_ns)
Stat = tuple[Path, int, int]


@dataclass(frozen=True)
class Candidate:
    """A job ready to be claimed, or one that must fail before any upload.

    `kind` is "pair" for top-level files, "bundle" for a sub-folder (claimed
    as its `folder`) and "refine" for a `NAME.refine.txt` (no media: it
    continues the session of the delivered result NAME). When `problem` is set, `media` holds
    every file of the job except `instructions`, whatever its type, so that
    moving `files` (or the folder) takes all of them to the failed folder.
    """

    name: str
    kind: Literal["pair", "bundle", "refine"]
    media: tuple[Path, ...]
    instructions: Path | None
    use_default_instructions: bool = False
    folder: Path | None = None
    #: one sentence saying what is wrong and how to fix it; None for a good job
    problem: str | None = None
    #: the preset of the hot folder it was dropped in (None: the inbox itself)
    preset: str | None = None
    #: size and mtime of each file when the job was found ready: the claim checks
    #: them again, so a file that changed since is put back (not part of equality)
    seen_as: tuple[Stat, ...] = field(default=(), compare=False)

    @property
    def files(self) -> tuple[Path, ...]:
        return self.media + ((self.instructions,) if self.instructions else ())


@dataclass(frozen=True)
class Waiting:
    """An inbox file or folder that is not a job yet, and why (shown by `status`)."""

    path: Path
    reason: str


@dataclass(frozen=True)
class Entries:
    """What the scanner holds: top-level files, and each sub-folder's entries."""

    files: Sequence[Seen] = ()
    folders: Mapping[Path, Sequence[Seen]] = field(default_factory=dict)


@dataclass
class Plan:
    """The outcome of one look at the inbox."""

    ready: list[Candidate] = field(default_factory=list)
    waiting: list[Waiting] = field(default_factory=list)
    #: the earliest time something waiting may become ready with no new event;
    #: the daemon plans again then. None when only a person can move things on.
    wake_at: float | None = None

    def wake(self, at: float) -> None:
        self.wake_at = at if self.wake_at is None else min(self.wake_at, at)


def plan(entries: Entries, now: float, settings: WatchSettings, preset: str | None = None) -> Plan:
    """Decide which jobs are ready, which must fail, and what waits for what.

    `preset`: the entries are a hot folder's. Its jobs carry the preset, and the
    preset's instructions stand in for a missing `.txt` (in `default_instructions`)
    after one more `settle_seconds` instead of `pair_wait_seconds`: the folder
    itself says what to do, so nobody is waited for beyond a `.txt` copied along.
    """
    return _Planner(now, settings, entries, preset).run()


class _Planner:
    """One run of the rules: walks the groups and folders, filling in a `Plan`."""

    def __init__(
        self, now: float, settings: WatchSettings, entries: Entries, preset: str | None
    ) -> None:
        self.now = now
        self.preset = preset
        self.settings = settings
        self.entries = entries
        self.out = Plan()
        self.folder_names = {nfc(folder.name).casefold(): folder for folder in entries.folders}
        self.ignored = ignorer(settings.ignore_patterns)
        self.top = [s for s in entries.files if not self.ignored(s.folded)]
        #: top-level .txt files by what they name, to spot one left beside its bundle folder
        self.top_txts = {
            instructions_key(s.name): s.name for s in self.top if s.kind is FileKind.INSTRUCTIONS
        }

    def run(self) -> Plan:
        for blocked in (s for s in self.top if s.blocked):
            self.out.waiting.append(Waiting(blocked.path, f"{blocked.name} {blocked.blocked}"))
        for group in group_top_level([s for s in self.top if not s.blocked]):
            self._top_level(group)
        for folder in sorted(self.entries.folders, key=lambda p: p.name.casefold()):
            self._bundle(folder, self.entries.folders[folder])
        return self.out

    # -- timing -----------------------------------------------------------------

    def _settle_at(self, seens: Sequence[Seen]) -> float:
        return max(settled_at(s, self.settings.settle_seconds) for s in seens)

    def _decide_at(self, seens: Sequence[Seen], wait: float | None = None) -> float:
        pause = self.settings.pair_wait_seconds if wait is None else wait
        return self._settle_at(seens) + pause

    def _ready(self, candidate: Candidate) -> None:
        self.out.ready.append(replace(candidate, preset=self.preset))

    def _in(self, at: float) -> str:
        return f"{math.ceil(at - self.now)}s"

    def _decide(self, seens: Sequence[Seen], candidate: Candidate, waits: Sequence[Path]) -> None:
        """Fail `candidate` with its problem once the wait is over; until then say when."""
        at = self._decide_at(seens)
        if self.now >= at:
            self._ready(candidate)
            return
        for path in waits:
            self.out.waiting.append(Waiting(path, f"{candidate.problem} (fails in {self._in(at)})"))
        self.out.wake(at)

    # -- top level --------------------------------------------------------------

    def _top_level(self, group: list[Seen]) -> None:
        if len(group) == 1 and group[0].kind is FileKind.REFINE:
            self._refine(group[0])
            return
        txts = [s for s in group if s.kind is FileKind.INSTRUCTIONS]
        rest = [s for s in group if s not in txts]
        unsettled = [s for s in group if not settled(s, self.now, self.settings.settle_seconds)]
        if unsettled:
            names = ", ".join(s.name for s in unsettled)
            for s in group:
                if s not in unsettled:
                    reason = f"waiting for {names} (still being written)"
                else:
                    reason = WRITING if open_for_writing(s, self.now) else SETTLING
                self.out.waiting.append(Waiting(s.path, reason))
            self.out.wake(self._settle_at(group))
            return
        problem = top_level_problem(rest, txts)
        if problem is not None:
            name = PurePath(rest[0].name).stem if rest else txts[0].name[:-4]
            media = tuple(s.path for s in rest + txts[1:])
            instructions = txts[0].path if txts else None
            candidate = Candidate(
                name, "pair", media, instructions, problem=problem, seen_as=_stats(group)
            )
            self._decide(group, candidate, [s.path for s in group])
        elif not rest:
            self.out.waiting.append(Waiting(txts[0].path, self._orphan_reason(txts[0])))
        elif txts:
            video, txt = rest[0], txts[0]
            stem = PurePath(video.name).stem
            candidate = Candidate(
                stem, "pair", (video.path,), txt.path, seen_as=_stats([video, txt])
            )
            self._ready(candidate)
        else:
            self._lone_video(rest[0])

    def _refine(self, note: Seen) -> None:
        """`NAME.refine.txt`: a job of its own once settled (the pipeline finds NAME)."""
        if not settled(note, self.now, self.settings.settle_seconds):
            reason = WRITING if open_for_writing(note, self.now) else SETTLING
            self.out.waiting.append(Waiting(note.path, reason))
            self.out.wake(self._settle_at([note]))
            return
        name = refined_name(note.name) or note.name
        self._ready(Candidate(name, "refine", (), note.path, seen_as=_stats([note])))

    def _lone_video(self, video: Seen) -> None:
        stem = PurePath(video.name).stem
        reason = f"waiting for instructions: add {stem}.txt"
        if not self.settings.default_instructions.strip():
            self.out.waiting.append(Waiting(video.path, reason))
            return
        # a hot folder's video waits only for a .txt copied along with it
        at = self._decide_at([video], self.settings.settle_seconds if self.preset else None)
        if self.now >= at:
            candidate = Candidate(
                stem,
                "pair",
                (video.path,),
                None,
                use_default_instructions=True,
                seen_as=_stats([video]),
            )
            self._ready(candidate)
            return
        what = "the preset's instructions" if self.preset else "default instructions"
        reason += f" ({what} in {self._in(at)})"
        self.out.waiting.append(Waiting(video.path, reason))
        self.out.wake(at)

    def _orphan_reason(self, txt: Seen) -> str:
        key = txt.name[:-4]
        folder = self.folder_names.get(key.casefold())
        if folder is not None:
            return f"instructions beside the folder {folder.name}: move {txt.name} into it"
        if classify(key) is FileKind.VIDEO:
            return f"instructions waiting for their video: add {key}"
        return f"instructions waiting for their video: add {key}.mp4 (or .mov, .mkv, ...)"

    # -- bundles ----------------------------------------------------------------

    def _bundle(self, folder: Path, seens: Sequence[Seen]) -> None:
        used = [s for s in seens if not self.ignored(s.folded)]
        if not used:
            reason = "empty folder: put a video and a .txt of instructions in it"
            self.out.waiting.append(Waiting(folder, reason))
            return
        # A person must act on these whatever else happens: say so at once.
        blocked = next((s for s in used if s.blocked), None)
        if blocked is not None:
            self.out.waiting.append(Waiting(folder, f"{blocked.name} {blocked.blocked}"))
            return
        # Ignored names take no part in the job, but one still changing (a
        # download's .part) means the folder is not complete yet.
        if not all(settled(s, self.now, self.settings.settle_seconds) for s in seens):
            writing = next((s for s in seens if open_for_writing(s, self.now)), None)
            reason = (
                f"folder {SETTLING}"
                if writing is None
                else f"folder still being written ({writing.name} is open for writing "
                "by another program)"
            )
            self.out.waiting.append(Waiting(folder, reason))
            self.out.wake(self._settle_at(seens))
            return
        txts = sorted(
            (s for s in used if s.kind is FileKind.INSTRUCTIONS),
            key=lambda s: s.name.casefold(),
        )
        rest = sorted((s for s in used if s not in txts), key=lambda s: s.name.casefold())
        beside = self.top_txts.get(nfc(folder.name).casefold())
        if not txts and beside is not None:
            reason = f"no .txt inside: move {beside} into the folder"
            self.out.waiting.append(Waiting(folder, reason))
            return
        media = tuple(s.path for s in rest + txts[1:])
        instructions = txts[0].path if txts else None
        problem = bundle_problem(folder, rest, txts, instructed=self.preset is not None)
        candidate = Candidate(
            folder.name,
            "bundle",
            media,
            instructions,
            use_default_instructions=instructions is None,
            folder=folder,
            problem=problem,
            seen_as=_stats(used),
        )
        if problem is None:
            self._ready(candidate)
        else:
            self._decide(seens, candidate, [folder])


def _stats(seens: Iterable[Seen]) -> tuple[Stat, ...]:
    return tuple((s.path, s.size, s.mtime_ns) for s in seens)
