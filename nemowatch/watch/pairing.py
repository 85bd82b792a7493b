"""Which top-level files belong together: a video and the `.txt` that names it.

A `.txt` names a file by its stem (`clip.txt` for `clip.mp4`) or by its whole
name (`clip.mp4.txt`), case-insensitively. The whole-name spelling is the
more specific one and wins: `clip.mp4` takes `clip.mp4.txt`, which leaves
`clip.txt` to a `clip.mov` beside it instead of making both ambiguous.

Files that name the same `.txt`, directly or through a chain, form one
group; rules.py then decides whether a group is a job, waits, or fails
(two videos for one `.txt`, an unsupported file, ...). Grouping every file,
not only videos, is what lets `notes.docx` fail together with `notes.txt`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path, PurePath

from nemowatch.watch.files import FileKind, Seen


def instructions_key(name: str) -> str:
    """What a `.txt` names: its name without `.txt`, case-folded."""
    return name[: -len(".txt")].casefold()


def group_top_level(seens: Sequence[Seen]) -> list[list[Seen]]:
    """Split top-level files into groups that stand or fall together, in name order."""
    ordered = sorted(seens, key=lambda s: s.name.casefold())
    txts_by_key: dict[str, list[Seen]] = {}
    for seen in ordered:
        if seen.kind is FileKind.INSTRUCTIONS:
            txts_by_key.setdefault(instructions_key(seen.name), []).append(seen)

    parent = {seen.path: seen.path for seen in ordered}

    def root(path: Path) -> Path:
        while parent[path] != path:
            parent[path] = parent[parent[path]]
            path = parent[path]
        return path

    for seen in ordered:
        if seen.kind is FileKind.INSTRUCTIONS:
            continue
        name = seen.name.casefold()
        named = txts_by_key.get(name) or txts_by_key.get(PurePath(name).stem, [])
        for txt in named:
            parent[root(txt.path)] = root(seen.path)

    groups: dict[Path, list[Seen]] = {}
    for seen in ordered:
        groups.setdefault(root(seen.path), []).append(seen)
    return list(groups.values())
