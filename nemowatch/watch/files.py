"""What one file in the inbox is, and whether it has stopped changing.

Pure functions of names, sizes and times: the caller owns the clock and the
filesystem (see inbox.py), so these rules are tested with plain numbers.
"""

from __future__ import annotations

import fnmatch
import functools
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path

from nemowatch.media import AUDIO_TYPES, IMAGE_TYPES, LINK_TYPES, VIDEO_TYPES

#: how long a file found open for writing waits before the kernel is asked again
#: (a close event asks again at once; this covers filesystems that send none)
WRITER_RECHECK_SECONDS = 1.0


class FileKind(StrEnum):
    """The role a file can play in a job, decided by its extension alone."""

    VIDEO = "video"
    AUDIO = "audio"
    IMAGE = "image"
    #: `.url`, `.webloc`, `.link`: an address the service fetches (stands for a video)
    LINK = "link"
    INSTRUCTIONS = "instructions"
    #: `NAME.refine.txt`: more turns for the delivered result NAME (never a plain `.txt`)
    REFINE = "refine"
    UNSUPPORTED = "unsupported"


_KIND_OF_EXTENSION: dict[str, FileKind] = {
    **dict.fromkeys(VIDEO_TYPES, FileKind.VIDEO),
    **dict.fromkeys(AUDIO_TYPES, FileKind.AUDIO),
    **dict.fromkeys(IMAGE_TYPES, FileKind.IMAGE),
    **dict.fromkeys(LINK_TYPES, FileKind.LINK),
    "txt": FileKind.INSTRUCTIONS,
}

#: the sentence a problem uses to say what is accepted
ACCEPTED_TYPES = (
    f"video ({', '.join(VIDEO_TYPES)}), audio ({', '.join(AUDIO_TYPES)}) "
    f"or image ({', '.join(IMAGE_TYPES)}), or a link ({', '.join(LINK_TYPES)}), "
    "with a .txt of instructions"
)


def classify(name: str) -> FileKind:
    """The kind of a file from its extension, case-insensitively (`CLIP.MP4` is a video)."""
    stem, dot, extension = _base(name).rpartition(".")
    if not dot or not stem:
        return FileKind.UNSUPPORTED
    if refined_name(name) is not None:
        return FileKind.REFINE
    return _KIND_OF_EXTENSION.get(extension.lower(), FileKind.UNSUPPORTED)


REFINE_SUFFIX = ".refine.txt"


def refined_name(name: str) -> str | None:
    """`clip` for `clip.refine.txt` (any case): the result a refinement is for; else None."""
    base = _base(name)
    if len(base) > len(REFINE_SUFFIX) and base.casefold().endswith(REFINE_SUFFIX):
        return base[: -len(REFINE_SUFFIX)]
    return None


def is_ignored(name: str, patterns: Iterable[str]) -> bool:
    """Whether a base name matches one of `watch.ignore_patterns` (case-insensitive).

    Temporary names (`*.part`, `~$*`, hidden files) belong to programs still
    at work; the finished file arrives later under its real name.
    """
    return ignorer(patterns)(fold(name))


def ignorer(patterns: Iterable[str]) -> Callable[[str], bool]:
    """`is_ignored` for these patterns, as one function of a `fold`ed name: for asking it
    of many names (a `Seen` keeps its name folded)."""
    match = _ignore_matcher(tuple(patterns))
    return lambda folded: match(folded) is not None


def fold(name: str) -> str:
    """A base name as names are matched: NFC, case-folded."""
    return nfc(_base(name)).casefold()


@functools.lru_cache(maxsize=8)
def _ignore_matcher(patterns: tuple[str, ...]) -> Callable[[str], object]:
    """One compiled expression for all the patterns: every scan asks this per entry."""
    if not patterns:
        return lambda _: None
    return re.compile("|".join(fnmatch.translate(nfc(p).casefold()) for p in patterns)).match


def nfc(name: str) -> str:
    """A name as it is compared: Unicode NFC, so that `café` typed on a Mac (which
    writes NFD, `e` + a combining accent) and on Linux is one name. Only compared
    names are normalised: files keep the names they came with."""
    return unicodedata.normalize("NFC", name)


def _base(name: str) -> str:
    """The last part of a path given as text (`PurePath(name).name`, without building one)."""
    return name.rstrip("/").rpartition("/")[2]


@dataclass(frozen=True)
class Seen:
    """What the scanner last saw of one inbox entry, and when it last changed.

    Times are the caller's clock (any monotonic float), never file times: a
    copied file keeps its old mtime, so only "unchanged since we looked" is
    evidence that nobody is writing it.
    """

    path: Path
    size: int
    mtime_ns: int
    #: when the scanner first saw this entry
    first_seen: float
    #: the last time size, mtime or what the entry is changed (by the caller's clock)
    changed_at: float
    #: the last close-after-write event, or None (renames and network shares send none)
    closed_at: float | None = None
    #: the entry can be moved but never used, e.g. "is a link to a file outside the inbox";
    #: a predicate that follows the file's name. Its job fails with this reason.
    problem: str | None = None
    #: the entry must not be touched at all (a FIFO, a device): it waits with this reason
    blocked: str | None = None
    #: when the kernel last said another program has the file open for writing
    #: (see `lease.py`); None when not asked, not held, or since closed
    writing_at: float | None = None

    @functools.cached_property
    def name(self) -> str:
        """The entry's name as compared and shown (NFC, see `nfc`); `path` is untouched.
        Kept once made: every plan asks it of every entry, several times."""
        return nfc(self.path.name)

    @functools.cached_property
    def kind(self) -> FileKind:
        """`classify(name)`, kept as `name` is."""
        return classify(self.name)

    @functools.cached_property
    def folded(self) -> str:
        """`fold(name)`, kept as `name` is: what `ignorer()` takes."""
        return self.name.casefold()


def observe(
    prev: Seen | None,
    path: Path,
    size: int,
    mtime_ns: int,
    now: float,
    *,
    closed: bool = False,
    problem: str | None = None,
    blocked: str | None = None,
) -> Seen:
    """The record after one more look at an entry; `prev` is None for a new one.

    Any difference in size, mtime or in what the entry is restarts the
    settle clock; a close event is only noted (see `settled`), and lets the
    kernel be asked again at once whether a writer still has the file open.
    """
    closed_at = now if closed else None
    if prev is None:
        return Seen(path, size, mtime_ns, now, now, closed_at, problem, blocked)
    same = (prev.size, prev.mtime_ns, prev.problem, prev.blocked) == (
        size,
        mtime_ns,
        problem,
        blocked,
    )
    if same and not closed:
        return prev  # unchanged: the record (and what it keeps, its folded name) stays
    return replace(
        prev,
        size=size,
        mtime_ns=mtime_ns,
        changed_at=prev.changed_at if same else now,
        closed_at=closed_at if closed else prev.closed_at,
        problem=problem,
        blocked=blocked,
        writing_at=None if closed else prev.writing_at,
    )


def settled(seen: Seen, now: float, settle_seconds: float) -> bool:
    """Whether an entry has been unchanged in size and mtime for `settle_seconds`,
    and no writer was found holding it open in the last `WRITER_RECHECK_SECONDS`.

    A close event is never enough on its own: a copier may close and reopen
    the file, and inotify cannot tell an open for writing from an open for
    reading. Nor is one required: renames, network shares and files already
    there at startup never send one, so time alone settles them. Whether a
    writer still holds the file open is asked of the kernel (`lease.py`) by
    the scanner, once the time alone would call the file complete.
    """
    return now >= settled_at(seen, settle_seconds)


def settled_at(seen: Seen, settle_seconds: float) -> float:
    """When `settled` becomes true with no new look at the entry."""
    at = seen.changed_at + settle_seconds
    if seen.writing_at is not None:
        at = max(at, seen.writing_at + WRITER_RECHECK_SECONDS)
    return at


def open_for_writing(seen: Seen, now: float) -> bool:
    """Whether a writer held the entry open at the last look, recently enough to count."""
    return seen.writing_at is not None and now < seen.writing_at + WRITER_RECHECK_SECONDS
