"""`retry NAME --start-over` for a refinement whose session is gone (1002).

The refinement cannot continue a session NemoVideo no longer knows, and a new
session holds none of the earlier edits. Starting over therefore redoes the
whole chain in a new session: the original's instructions, each earlier
refinement's, then this one's, from the originals archived when the original
was delivered (copied: the archive keeps them). Every turn is paid again,
which `retry` states and has confirmed first. The result keeps its version
name (`clip v2.mp4`).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from nemowatch.config import Settings
from nemowatch.errors import InputError, UsageError
from nemowatch.history import History
from nemowatch.history_schema import Entry
from nemowatch.jobs.checks import read_instructions, split_turns
from nemowatch.jobs.model import Job, Turn, new_job_id
from nemowatch.jobs.refine import version_stem
from nemowatch.watch.files import FileKind, classify


def chain_of(settings: Settings, name: str, old: Job) -> list[Entry]:
    """The original and the refinements before `old`, oldest first.

    Raises:
        UsageError: the history no longer knows them.
    """
    history = History.existing(settings.folders.state_dir) if old.refines else None
    if history is None:
        raise UsageError(f"{name}: the history does not know the result it refines; {_AGAIN}")
    with history:
        chain = history.chain(old.refines or "")
    if not chain:
        raise UsageError(f"{name}: the history no longer knows the result it refines; {_AGAIN}")
    return chain


_AGAIN = "drop the video again with a .txt holding every instruction, to start a new job"


def archived(settings: Settings, name: str, original: Entry) -> list[Path]:
    """The original's media as archived at its delivery.

    Raises:
        UsageError: they are not in the archive (kept or deleted instead, or pruned).
    """
    folder = settings.folders.archive_dir / original.id
    media = (
        sorted(p for p in folder.iterdir() if classify(p.name) not in _NOT_MEDIA)
        if folder.is_dir()
        else []
    )
    if not media:
        raise UsageError(
            f"{name}: the originals of {original.name} are not in the archive ({folder}); {_AGAIN}"
        )
    return media


_NOT_MEDIA = {FileKind.INSTRUCTIONS, FileKind.REFINE}


def start_over(settings: Settings, source: Path, old: Job) -> tuple[Job, list[Path]]:
    """The journal of the redo, and the archived files to copy into its folder.

    Raises:
        UsageError: the chain or its originals cannot be found (nothing was changed).
        InputError: this refinement's own instructions cannot be read.
    """
    chain = chain_of(settings, source.name, old)
    original = chain[0]
    media = archived(settings, source.name, original)
    own = source / (old.instructions_file or "")
    try:
        texts = split_turns(read_instructions(own)) if old.instructions_file else []
    except (OSError, InputError) as exc:
        raise InputError(f"{own}: {exc}; fix it there first (nothing was changed)") from exc
    turns = [text for entry in chain for text in entry.instructions] + texts
    job = Job(
        id=new_job_id(old.name),
        name=old.name,
        kind="bundle" if original.kind == "bundle" else "pair",
        media=[p.name for p in media],
        turns=[Turn(text=t) for t in turns],
        preset=old.preset,
        refines=old.refines,
        refines_result=old.refines_result,
        result_version=old.result_version,
        result_stem=version_stem(old.name, old.result_version),
        pay_again=True,  # asked for: the duplicate guard does not refuse it
    )
    return job, media


def copy_in(media: list[Path], files: Path) -> None:
    """Copy the archived originals into the new job's `files/` (the archive keeps them)."""
    for path in media:
        shutil.copy2(path, files / path.name)
