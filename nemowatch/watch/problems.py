"""Why files cannot become a job, in one sentence that says how to fix it.

These sentences end up as the first line of `error.txt` in the failed
folder, or in `nemowatch status` while the job waits: they name the files
and say what to do, in words a person who only dropped files in understands.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from nemowatch.watch.files import ACCEPTED_TYPES, FileKind, Seen

#: what may stand alone beside its .txt (a link is taken for a video: the service fetches it)
STANDALONE = {FileKind.VIDEO, FileKind.LINK}


def top_level_problem(rest: Sequence[Seen], txts: Sequence[Seen]) -> str | None:
    """Why a group of top-level files cannot be a job, or None if it can (or may yet)."""
    problem = _problem_of_any(rest, txts)
    if problem is not None:
        return problem
    loose = next((s for s in rest if s.kind not in STANDALONE), None)
    if loose is not None:
        what = "an audio file" if loose.kind is FileKind.AUDIO else "an image"
        return (
            f"{loose.name} is {what} on its own: to use it, put it in a folder together "
            "with a .txt of instructions (and any videos or images that go with it)"
        )
    if len(rest) > 1:
        return (
            f"{_count(rest)} videos ({_names(rest)}) for one instructions file "
            f"({_names(txts)}): rename one so that each video has its own NAME.txt"
        )
    if len(txts) > 1:
        return (
            f"{_count(txts)} instructions files ({_names(txts)}) for one video "
            f"({_names(rest)}): keep one"
        )
    return None


def bundle_problem(
    folder: Path, rest: Sequence[Seen], txts: Sequence[Seen], *, instructed: bool = False
) -> str | None:
    """Why a settled folder cannot be a bundle, or None if it is one.

    `instructed`: the folder is in a hot folder, whose preset says what to do.
    """
    problem = _problem_of_any(rest, txts)
    if problem is not None:
        return problem
    if not txts and not instructed:
        return f"the folder {folder.name} has no .txt of instructions: add one"
    if len(txts) > 1:
        return (
            f"the folder {folder.name} holds {_count(txts)} .txt files ({_names(txts)}): "
            "keep only the one with the instructions"
        )
    if not rest:
        return f"the folder {folder.name} has no video, audio or image file: add the media to edit"
    return None


def _problem_of_any(rest: Sequence[Seen], txts: Sequence[Seen]) -> str | None:
    """Problems that any job has whatever its shape: unusable entries, unsupported types."""
    marked = next((s for s in [*rest, *txts] if s.problem), None)
    if marked is not None:
        return f"{marked.name} {marked.problem}"
    refine = next((s for s in rest if s.kind is FileKind.REFINE), None)
    if refine is not None:
        return (
            f"{refine.name} refines a delivered result: put it in the inbox itself (or in "
            "the hot folder the result came from), not in a folder with other files"
        )
    unsupported = next((s for s in rest if s.kind is FileKind.UNSUPPORTED), None)
    if unsupported is not None:
        return f"{unsupported.name} is not a type nemowatch accepts: use {ACCEPTED_TYPES}"
    return None


def _names(seens: Sequence[Seen]) -> str:
    return ", ".join(sorted((s.name for s in seens), key=str.casefold))


def _count(seens: Sequence[Seen]) -> str:
    return "two" if len(seens) == 2 else str(len(seens))
