"""Where a job ends: the outbox (result and report), the archive, or the failed folder.

Every move is idempotent, so a restart in the middle of finishing simply
finishes. Nothing is ever overwritten: a taken name gets ` (2)`, ` (3)`, ...
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

from nemowatch.fsutil import fsync_dir, rename_new, write_atomic
from nemowatch.jobs.journal import JOURNAL
from nemowatch.redact import redact


def numbered(folder: Path, stem: str, suffix: str) -> Iterator[Path]:
    """`NAME.mp4`, `NAME (2).mp4`, `NAME (3).mp4`, ... (the caller skips taken ones)."""
    yield folder / f"{stem}{suffix}"
    n = 2
    while True:
        yield folder / f"{stem} ({n}){suffix}"
        n += 1


#: what a result's stem may get added: a number, then the report's suffix
LONGEST_ADDITION = len(" (9999)") + len(".report.txt")


def fitting_stem(folder: Path, stem: str) -> str:
    """`stem`, shortened (at a character) so that every name made from it fits `folder`.

    A name that is too long would fail only after the edit was paid for (the
    result, its report, a numbered name): it is shortened before paying instead.
    """
    try:
        limit = os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError):
        limit = 255
    room = max(limit - LONGEST_ADDITION, 16)
    encoded = stem.encode("utf-8", "surrogateescape")
    if len(encoded) <= room:
        return stem
    return encoded[:room].decode("utf-8", "ignore").rstrip() or "result"


def link_free_name(part: Path, folder: Path, stem: str, suffix: str) -> Path:
    """Publish the whole file `part` under the first free numbered name (never replacing)."""
    for dest in numbered(folder, stem, suffix):
        try:
            os.link(part, dest)
        except FileExistsError:
            continue
        fsync_dir(folder)
        return dest
    raise AssertionError("numbered() never ends")


def published_as(part: Path, folder: Path, stem: str, suffix: str) -> Path | None:
    """The result that `part` was linked to before a crash (the same inode), if any."""
    try:
        mine = part.stat()
    except OSError:
        return None
    if mine.st_nlink < 2:
        return None
    for entry in folder.glob(f"{glob_escape(stem)}*{suffix}"):
        try:
            if entry.samefile(part):
                return entry
        except OSError:
            continue
    return None


def glob_escape(text: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)


def free_name(folder: Path, name: str) -> Path:
    """The first name of `numbered` not taken (for folders and reports)."""
    stem, suffix = (name, "") if "." not in name else (Path(name).stem, Path(name).suffix)
    return next(p for p in numbered(folder, stem, suffix) if not p.exists())


#: a failed folder being filled, inside the failed folder: `.nw-failing-<id>`, hidden
#: until it is whole (the listings of failed jobs skip names that start with a dot)
STAGING = ".nw-failing-"


def shown_entries(failed: Path) -> list[Path]:
    """What a person sees in the failed folder: not a folder being filled (`STAGING`) or
    any other hidden name; none when it cannot be listed."""
    try:
        return [p for p in failed.iterdir() if not p.name.startswith(".")]
    except OSError:
        return []


def publish_folder(staging: Path, stem: str, naming: Callable[[Path], None]) -> Path:
    """Rename the whole folder `staging` to the first free numbered `stem` beside it, in
    one step and never over another; `naming(target)` runs before each name is tried
    (to write the files that name it). Someone watching sees all of it or nothing."""
    for target in numbered(staging.parent, stem, ""):
        if os.path.lexists(target):
            continue
        naming(target)
        if rename_new(staging, target):
            fsync_dir(staging.parent)
            return target
    raise AssertionError("numbered() never ends")


def failed_folder_of(failed: Path, name: str, job_id: str) -> Path | None:
    """The folder in `failed` that holds the journal of the job `job_id` named `name`
    (`NAME`, or `NAME (2)`, ... when the name was taken), if any."""
    stem = fitting_stem(failed, name)
    ours = re.compile(re.escape(stem) + r"( \(\d+\))?")
    for path in failed.glob(glob_escape(stem) + "*"):
        if not ours.fullmatch(path.name) or path.is_symlink():
            continue
        try:
            if json.loads((path / JOURNAL).read_bytes()).get("id") == job_id:
                return path
        except (OSError, ValueError, AttributeError):
            continue  # not a job's folder, or its journal is damaged
    return None


def write_new(path: Path, text: str, mode: int = 0o644) -> Path:
    """Write a new file beside a result, numbered if its name is taken."""
    target = path if not path.exists() else free_name(path.parent, path.name)
    write_atomic(target, redact(text).encode(), mode=mode)
    return target


def move_folder(src: Path, dest: Path) -> bool:
    """Rename the folder `src` to `dest` in one step; False where that cannot be done
    (another filesystem, or `dest` there already with files in it): then the caller moves
    the files one by one. One rename instead of a folder made and a rename per file."""
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.rename(src, dest)  # an empty `dest` (made before a crash) is replaced
    except OSError as exc:
        if exc.errno in (errno.EXDEV, errno.EEXIST, errno.ENOTEMPTY):
            return False
        raise
    return True


def move_all(sources: list[Path], dest_dir: Path) -> None:
    """Move files into `dest_dir`; a source already gone (moved before a crash) is skipped."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    for src in sources:
        if src.exists() or src.is_symlink():
            shutil.move(str(src), str(dest_dir / src.name))


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
