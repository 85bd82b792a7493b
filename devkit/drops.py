"""Dropping work into an inbox the way people and tools do."""

from __future__ import annotations

import os
import random
import shutil
import time
from pathlib import Path

#: the instruction of a pair unless told otherwise
NOTE = "Add a title"

#: the start of an MP4 (an ISO media `ftyp` box): the daemon checks a download has it
FTYP = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"


def fake_mp4(path: Path, size: int, seed: int | None = None) -> Path:
    """A file of `size` bytes shaped like an MP4 (an `ftyp` box, then random bytes).

    With ffmpeg off, the emulator's render is a copy of the upload: this passes
    the daemon's check that a result is an MP4 without costing any decoding.
    """
    rng = random.Random(seed)
    path.write_bytes(FTYP + rng.randbytes(max(size - len(FTYP), 0)))
    return path


def drop_file(source: Path, target: Path, how: str = "cp") -> Path:
    """Put a copy of `source` at `target`, the way `how` says.

    `cp`: written under its final name, then closed; `rsync`: written as
    `<target>.part` and renamed; `link`: a hard link to `source` (no copy,
    nothing left to write back, the same cached pages as `source`).
    """
    if how == "rsync":
        part = target.with_name(target.name + ".part")
        shutil.copyfile(source, part)
        os.rename(part, target)
    elif how == "link":
        os.link(source, target)
    elif how == "cp":
        shutil.copyfile(source, target)
    else:
        raise ValueError(f"unknown way to drop a file: {how!r}")
    return target


def write_note(target: Path, text: str | bytes) -> Path:
    """An instruction file (or any small file) written whole: text as UTF-8, or bytes."""
    if isinstance(text, str):
        target.write_text(text, encoding="utf-8")
    else:
        target.write_bytes(text)
    return target


def drop_pair(inbox: Path, name: str, clip: Path, how: str = "cp", *, text: str = NOTE) -> float:
    """`name.txt` holding `text`, then `name.mp4` from `clip` (see `drop_file` for `how`).

    Returns the wall time (`time.time()`, comparable with the emulator's
    journal) at which the video was complete under its name.
    """
    write_note(inbox / f"{name}.txt", text)
    drop_file(clip, inbox / f"{name}.mp4", how)
    return time.time()
