"""Presets and their hot folders: `[presets.NAME]` makes `<inbox>/NAME/` a folder with settings.

A video dropped into a hot folder is a job with the preset's settings: its
instructions open turn 1 (or are the whole of it when the video has no
`.txt`), its `quality`, `format`, `language` and `after_success` replace
the defaults, and its result goes to `<outbox>/NAME/`. This module says
which folders those are and what a job of a preset runs with; the inbox
rules (`watch/`) and the pipeline take it from there. Which names a preset
may have is checked with the configuration (`sections.preset_problems`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from nemowatch.config import Settings
from nemowatch.sections import PresetSettings


def hot_folders(settings: Settings) -> dict[str, Path]:
    """Each preset's hot folder, by the preset's name."""
    return {name: settings.folders.inbox / name for name in settings.presets}


def results_folder(settings: Settings, preset: str | None) -> Path:
    """Where a job's result goes: the outbox, or `<outbox>/NAME/` for a preset's job."""
    outbox = settings.folders.outbox
    return outbox / preset if preset else outbox


def job_settings(settings: Settings, preset: str | None) -> Settings:
    """The settings a job runs with: its preset's over the defaults.

    The archive stays where it is (it is not moved under `<outbox>/NAME/`).
    A preset no longer configured (a reload removed it) leaves the defaults,
    with its results still in its own folder.
    """
    if not preset:
        return settings
    chosen: PresetSettings | None = settings.presets.get(preset)
    folders = settings.folders.model_copy(
        update={"outbox": results_folder(settings, preset), "archive": settings.folders.archive_dir}
    )
    update: dict[str, object] = {"folders": folders}
    if chosen is not None:
        update |= _sections(settings, chosen)
    return settings.model_copy(update=update)


def _sections(settings: Settings, preset: PresetSettings) -> Mapping[str, object]:
    export = {k: v for k, v in (("format", preset.format), ("quality", preset.quality)) if v}
    out: dict[str, object] = {}
    if export:
        out["export"] = settings.export.model_copy(update=export)
    if preset.language:
        out["api"] = settings.api.model_copy(update={"language": preset.language})
    if preset.after_success:
        out["jobs"] = settings.jobs.model_copy(update={"after_success": preset.after_success})
    return out


def opening(preset: PresetSettings | None, text: str) -> str:
    """The instructions of a preset's job: the preset's first, then the job's own.

    The preset's paragraph opens turn 1 (turns are split by `---` afterwards).
    """
    if preset is None:
        return text
    own = text.strip()
    return f"{preset.instructions.strip()}\n\n{own}" if own else preset.instructions.strip()
