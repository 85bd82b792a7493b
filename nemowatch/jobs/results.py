"""Where a job ends: the outbox (result and report), the archive, or the failed folder.

Every move is idempotent, so a restart in the middle of finishing simply
finishes. Nothing is ever overwritten: a taken name gets ` (2)`, ` (3)`, ...
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

from nemowatch.fsutil import write_atomic
from nemowatch.redact import redact


def numbered(folder: Path, stem: str, suffix: str) -> Iterator[Path]:
    """`NAME.mp4`, `NAME (2).mp4`, `NAME (3).mp4`, ... (the caller skips taken ones)."""
    yield folder / f"{stem}{suffix}"
    n = 2
    while True:
        yield folder / f"{stem} ({n}){suffix}"
        n += 1


def free_name(folder: Path, name: str) -> Path:
    """The first name of `numbered` not taken (for folders and reports)."""
    stem, suffix = (name, "") if "." not in name else (Path(name).stem, Path(name).suffix)
    return next(p for p in numbered(folder, stem, suffix) if not p.exists())


def write_new(path: Path, text: str) -> Path:
    """Write a new file beside a result, numbered if its name is taken."""
    target = path if not path.exists() else free_name(path.parent, path.name)
    write_atomic(target, redact(text).encode())
    return target


def move_all(sources: list[Path], dest_dir: Path) -> None:
    """Move files into `dest_dir`; a source already gone (moved before a crash) is skipped."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    for src in sources:
        if src.exists() or src.is_symlink():
            shutil.move(str(src), str(dest_dir / src.name))


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
