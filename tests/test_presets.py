"""Presets: their names as folder names, and the settings their jobs run with."""

from __future__ import annotations

from pathlib import Path

import pytest

from nemowatch import presets
from nemowatch.config import Settings, load
from nemowatch.errors import ConfigError
from nemowatch.sections import preset_problems


def settings(tmp_path: Path, **preset: object) -> Settings:
    folders = {"inbox": tmp_path / "in", "outbox": tmp_path / "out", "failed": tmp_path / "f"}
    return Settings(
        folders=folders,  # type: ignore[arg-type]
        presets={"shorts": {"instructions": "Vertical.", **preset}},  # type: ignore[dict-item]
    )


def test_names_that_cannot_be_a_hot_folder() -> None:
    found = preset_problems(["ok", "OK", ".hidden", "a/b", "originals", " pad", "Café", "café"])
    text = "\n".join(found)
    assert "presets.OK: the same folder name as presets.ok" in text
    assert "presets..hidden: a preset's name may not be hidden" in text
    assert "presets.a/b: a preset's name is one folder name" in text
    assert "presets.originals:" in text and "presets. pad:" in text
    assert "presets.café: the same folder name as presets.Café" in text
    assert preset_problems(["shorts", "client-a", "Reels 9x16"]) == []


def test_every_problem_is_reported_by_the_configuration(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        '[presets.a]\ninstructions = "x"\n[presets.A]\ninstructions = "y"\n'
        '[presets.originals]\ninstructions = "z"\n'
    )
    with pytest.raises(ConfigError) as caught:
        load(path, environ={})
    assert "presets.A: the same folder name as presets.a" in str(caught.value.problems)
    assert "presets.originals" in str(caught.value.problems)


def test_blank_instructions_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[presets.a]\ninstructions = "  "\n')
    with pytest.raises(ConfigError):
        load(path, environ={})


def test_a_preset_job_runs_with_the_preset_over_the_defaults(tmp_path: Path) -> None:
    base = settings(tmp_path, quality="low", format="webm", language="de", after_success="keep")
    mine = presets.job_settings(base, "shorts")
    assert mine.folders.outbox == tmp_path / "out" / "shorts"
    assert mine.folders.archive_dir == tmp_path / "out" / "originals", "the archive stays"
    assert (mine.export.quality, mine.export.format) == ("low", "webm")
    assert mine.api.language == "de" and mine.jobs.after_success == "keep"
    assert presets.job_settings(base, None) is base
    plain = presets.job_settings(settings(tmp_path), "shorts")
    assert plain.export == base.export.model_copy(update={"quality": "high", "format": "mp4"})


def test_the_preset_opens_turn_1(tmp_path: Path) -> None:
    preset = settings(tmp_path).presets["shorts"]
    assert presets.opening(preset, "") == "Vertical."
    assert presets.opening(preset, "Cut.\n---\nMusic.") == "Vertical.\n\nCut.\n---\nMusic."
    assert presets.opening(None, "Cut.") == "Cut."


def test_hot_folders_follow_the_presets_in_force(tmp_path: Path) -> None:
    from nemowatch.hotfolders import HotFolders

    (tmp_path / "in").mkdir()
    hot = HotFolders(lambda: 0.0)
    hot.sync(settings(tmp_path))
    assert hot.folders() == [tmp_path / "in" / "shorts"]
    assert (tmp_path / "in" / "shorts").is_dir() and (tmp_path / "out" / "shorts").is_dir()
    assert hot.table_of(tmp_path / "in" / "shorts" / "a.mp4") is hot.tables["shorts"]
    assert hot.table_of(tmp_path / "in" / "a.mp4") is None
    hot.sync(settings(tmp_path).model_copy(update={"presets": {}}))  # a reload removed it
    assert hot.folders() == [] and hot.tables == {}
    assert (tmp_path / "in" / "shorts").is_dir(), "its folder and files stay"
