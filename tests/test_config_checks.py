"""Values are checked, not only typed: durations, counts and the folders' layout.

Every bad value is refused with a problem naming its key (and, for a bound,
the bound); several problems come together in one `ConfigError`, which
`run`, `config show` and `doctor` all print before exiting 2.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nemowatch import config
from nemowatch.cli import main
from nemowatch.config import FolderSettings, Settings, WatchSettings
from nemowatch.errors import ConfigError, ExitCode
from nemowatch.watch.files import Seen, is_ignored
from nemowatch.watch.rules import Entries, plan

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "config" / "nemowatch.toml"


def problems_of(path: Path, text: str) -> list[str]:
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        config.load(path)
    return caught.value.problems


def folders_toml(root: Path, **folders: str) -> str:
    """A [folders] section: inbox, outbox and failed under `root`, then `folders`."""
    values = {"inbox": root / "in", "outbox": root / "out", "failed": root / "failed"}
    values |= {key: Path(value) for key, value in folders.items()}
    return "[folders]\n" + "".join(f'{k} = "{v}"\n' for k, v in values.items())


# -- durations and counts ------------------------------------------------------------


@pytest.mark.parametrize(
    ("section", "key", "value", "says"),
    [
        ("watch", "settle_seconds", "0", "greater than or equal to 0.1"),
        ("watch", "settle_seconds", "0.05", "greater than or equal to 0.1"),
        ("watch", "pair_wait_seconds", "inf", "finite"),
        ("watch", "pair_wait_seconds", "nan", "finite"),
        ("watch", "rescan_seconds", "1e12", "less than or equal to 604800"),
        ("watch", "rescan_seconds", "0", "greater than or equal to 0.1"),
        ("api", "sse_idle_timeout_seconds", "inf", "finite"),
        ("api", "recovery_wait_seconds", "-1", "greater than or equal to 0"),
        ("api", "read_timeout_seconds", "1e9", "less than or equal to 604800"),
        ("jobs", "max_parallel", "10000000", "less than or equal to 64"),
        ("jobs", "max_parallel", "0", "greater than or equal to 1"),
        ("jobs", "max_parallel_uploads", "65", "less than or equal to 64"),
        ("jobs", "credit_check_minutes", "0", "greater than 0"),
        ("jobs", "credit_check_minutes", "inf", "finite"),
        ("jobs", "stop_grace_seconds", "-inf", "finite"),
        ("jobs", "max_file_mb", "nan", "finite"),
        ("jobs", "keep_originals_days", "inf", "finite"),
        ("jobs", "keep_failed_days", "-1", "greater than or equal to 0"),
        ("export", "timeout_seconds", "0", "greater than 0"),
        ("export", "poll_max_seconds", "1e300", "less than or equal to 604800"),
    ],
)
def test_a_bad_duration_or_count_is_refused_naming_its_key_and_bound(
    tmp_path: Path, section: str, key: str, value: str, says: str
) -> None:
    (problem,) = problems_of(tmp_path / "bad.toml", f"[{section}]\n{key} = {value}\n")
    assert problem.startswith(f"{section}.{key}: "), problem
    assert says in problem


def test_an_environment_override_is_checked_like_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEMOWATCH_JOBS__MAX_PARALLEL", "1000")
    (problem,) = problems_of(tmp_path / "ok.toml", "")
    assert problem.startswith("NEMOWATCH_JOBS__MAX_PARALLEL (sets jobs.max_parallel): ")
    assert "64" in problem


def test_durations_within_bounds_and_fractions_load(tmp_path: Path) -> None:
    path = tmp_path / "ok.toml"
    path.write_text(
        "[watch]\nsettle_seconds = 0.1\npair_wait_seconds = 0\nrescan_seconds = 604800\n"
        "[jobs]\nmax_parallel = 64\nmax_parallel_uploads = 64\ncredit_check_minutes = 0.05\n"
        "keep_originals_days = 0.5\nkeep_failed_days = 90\n"
    )
    settings = config.load(path).settings
    assert settings.watch.settle_seconds == 0.1
    assert settings.jobs.credit_check_minutes == 0.05
    assert (settings.jobs.keep_originals_days, settings.jobs.keep_failed_days) == (0.5, 90)


# -- folders ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("folders", "keys", "says"),
    [
        ({"outbox": "{root}/in"}, ("folders.inbox", "folders.outbox"), "the same folder"),
        ({"state": "{root}/in"}, ("folders.inbox", "folders.state"), "the same folder"),
        ({"work": "{root}/out"}, ("folders.work", "folders.outbox"), "the same folder"),
        ({"archive": "{root}/failed"}, ("folders.failed", "folders.archive"), "the same folder"),
        ({"failed": "{root}/in/failed"}, ("folders.failed", "folders.inbox"), "new work"),
        ({"archive": "{root}/in/done"}, ("folders.archive", "folders.inbox"), "new work"),
        ({"outbox": "{root}/in/out"}, ("folders.outbox", "folders.inbox"), "new work"),
        ({"outbox": "{root}/failed/out"}, ("folders.outbox", "folders.failed"), "inside"),
        ({"inbox": "{root}/out/in"}, ("folders.inbox", "folders.outbox"), "inside"),
        ({"inbox": "/"}, ("folders.inbox",), "the root folder"),
        ({"inbox": "~"}, ("folders.inbox",), "home folder itself"),
        ({"failed": "~"}, ("folders.failed",), "home folder itself"),
        ({"archive": "/"}, ("folders.archive",), "the root folder"),
    ],
)
def test_folders_that_would_loop_or_lose_files_are_refused(
    tmp_path: Path, folders: dict[str, str], keys: tuple[str, ...], says: str
) -> None:
    given = {key: value.format(root=tmp_path) for key, value in folders.items()}
    found = problems_of(tmp_path / "bad.toml", folders_toml(tmp_path, **given))
    assert any(says in p and all(k in p for k in keys) for p in found), found


def test_a_link_to_the_inbox_is_the_inbox(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    os.symlink(tmp_path / "in", tmp_path / "out")
    found = problems_of(tmp_path / "bad.toml", folders_toml(tmp_path))
    assert any("folders.inbox" in p and "folders.outbox" in p for p in found), found


def test_a_default_folder_is_named_as_such(tmp_path: Path) -> None:
    found = problems_of(tmp_path / "bad.toml", folders_toml(tmp_path, outbox=str(tmp_path / "in")))
    archive = next(p for p in found if p.startswith("folders.archive"))
    assert f"({tmp_path / 'in' / 'originals'}, its default)" in archive


@pytest.mark.parametrize(
    "folders",
    [
        {},
        {"work": "{root}/in/.claimed"},
        {"work": "{root}/work"},
        {"archive": "{root}/out/kept", "failed": "{root}/out/failed"},
        {"state": "{root}/out/.state"},
        {"inbox": "~/Videos/in"},
    ],
)
def test_the_layouts_of_the_defaults_and_their_like_load(
    tmp_path: Path, folders: dict[str, str]
) -> None:
    path = tmp_path / "ok.toml"
    given = {key: value.format(root=tmp_path) for key, value in folders.items()}
    path.write_text(folders_toml(tmp_path, **given))
    config.load(path)


def test_the_built_in_defaults_and_the_example_file_load(tmp_path: Path) -> None:
    assert Settings().folders.inbox.name == "NemoInbox"
    loaded = config.load(EXAMPLE)
    assert loaded.settings.jobs.keep_originals_days == 0 == loaded.settings.jobs.keep_failed_days


def test_a_settings_object_cannot_be_built_with_looping_folders(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="same folder"):
        FolderSettings(inbox=tmp_path, outbox=tmp_path, failed=tmp_path / "f")


# -- every problem at once, from every command ------------------------------------------


BROKEN = "[watch]\nsettle_seconds = 0\npair_wait_seconds = inf\n[jobs]\nmax_parallel = 10000000\n"


def test_several_problems_are_reported_together(tmp_path: Path) -> None:
    found = problems_of(
        tmp_path / "bad.toml", folders_toml(tmp_path, outbox=str(tmp_path / "in")) + BROKEN
    )
    text = "\n".join(found)
    for key in (
        "folders.outbox",
        "watch.settle_seconds",
        "watch.pair_wait_seconds",
        "jobs.max_parallel",
    ):
        assert key in text, text


@pytest.mark.parametrize("command", [["run"], ["config", "show"], ["doctor"]])
def test_run_config_show_and_doctor_exit_2_listing_every_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(folders_toml(tmp_path, outbox=str(tmp_path / "in")) + BROKEN)
    assert main(["--config", str(path), *command]) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert f"invalid configuration in {path}" in err
    for key in ("folders.inbox", "watch.settle_seconds", "watch.pair_wait_seconds"):
        assert key in err
    assert "jobs.max_parallel" in err and "Traceback" not in err
    assert not (tmp_path / "in").exists()  # refused before anything was made


# -- what the default ignore patterns leave out ----------------------------------------


NAS_LITTER = ["Thumbs.db", "desktop.ini", ".DS_Store", "@eaDir", "$RECYCLE.BIN", "#recycle"]


@pytest.mark.parametrize("name", NAS_LITTER + ["THUMBS.DB", "Desktop.ini"])
def test_the_default_ignore_patterns_cover_what_file_managers_and_nas_boxes_leave(
    name: str,
) -> None:
    assert is_ignored(name, WatchSettings().ignore_patterns)


def test_litter_inside_a_bundle_takes_no_part_in_the_job() -> None:
    folder = Path("/in/holiday")
    seen = [Seen(folder / n, 10, 1, 0.0, 0.0) for n in ["clip.mp4", "notes.txt", *NAS_LITTER]]
    found = plan(Entries(folders={folder: seen}), 100.0, WatchSettings())
    (ready,) = found.ready
    assert ready.problem is None
    assert [p.name for p in ready.media] == ["clip.mp4"]


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("NEMOWATCH_WATCH__RESCAN_SECONDS", "soon", "NEMOWATCH_WATCH__RESCAN_SECONDS"),
        ("nemowatch_jobs__retries", "-1", "nemowatch_jobs__retries"),
        ("NEMOWATCH_JOBS", '{"max_parallel": 0}', "NEMOWATCH_JOBS"),
        ("NEMO_API_URL", "ftp://example", "NEMO_API_URL"),
    ],
)
def test_a_wrong_override_names_its_variable_and_not_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str, value: str, named: str
) -> None:
    path = tmp_path / "ok.toml"
    path.write_text("[jobs]\nretries = 3\n")
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as caught:
        config.load(path)
    assert caught.value.source == "the environment"
    (problem,) = caught.value.problems
    assert problem.startswith(f"{named} (sets "), problem


def test_a_file_and_an_override_both_wrong_are_both_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEMOWATCH_JOBS__MAX_PARALLEL", "abc")
    problems = problems_of(tmp_path / "bad.toml", "[jobs]\nretries = -1\n")
    assert sorted(p.split(":")[0] for p in problems) == [
        "NEMOWATCH_JOBS__MAX_PARALLEL (sets jobs.max_parallel)",
        "jobs.retries",
    ]


def test_a_section_given_as_json_is_only_blamed_for_its_own_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEMOWATCH_JOBS", '{"retries": 2}')
    (problem,) = problems_of(tmp_path / "bad.toml", "[jobs]\nmax_parallel = 0\n")
    assert problem.startswith("jobs.max_parallel: "), problem


@pytest.mark.parametrize(
    ("section", "key", "text", "value"),
    [
        ("watch", "rescan_seconds", "90s", 90),
        ("watch", "rescan_seconds", "15m", 900),
        ("watch", "settle_seconds", "500ms", 0.5),
        ("export", "timeout_seconds", "1h30m", 5400),
        ("api", "sse_idle_timeout_seconds", "2h", 7200),
        ("watch", "rescan_seconds", "90", 90),
        ("jobs", "credit_check_minutes", "90s", 1.5),
        ("jobs", "transient_give_up_minutes", "2h", 120),
        ("jobs", "network_give_up_minutes", "1d", 1440),
        ("jobs", "refine_days", "12h", 0.5),
        ("jobs", "duplicate_days", "2d", 2),
        ("history", "keep_days", "1w", 7),
        ("notify", "timeout_seconds", "1m", 60),
    ],
)
def test_a_duration_may_be_written_with_its_unit(
    tmp_path: Path, section: str, key: str, text: str, value: float
) -> None:
    path = tmp_path / "c.toml"
    path.write_text(f'[{section}]\n{key} = "{text}"\n')
    assert getattr(getattr(config.load(path).settings, section), key) == pytest.approx(value)


def test_a_duration_with_a_unit_is_bounded_like_a_number(tmp_path: Path) -> None:
    (problem,) = problems_of(tmp_path / "bad.toml", '[watch]\nrescan_seconds = "8d"\n')
    assert problem.startswith("watch.rescan_seconds: ") and "604800" in problem
    (problem,) = problems_of(tmp_path / "bad.toml", '[watch]\nsettle_seconds = "0s"\n')
    assert "greater than or equal to 0.1" in problem


@pytest.mark.parametrize("text", ["soon", "10x", "", "1h and a bit", "h"])
def test_a_duration_that_is_not_one_says_how_to_write_it(tmp_path: Path, text: str) -> None:
    (problem,) = problems_of(tmp_path / "bad.toml", f'[jobs]\ncredit_check_minutes = "{text}"\n')
    assert problem.startswith("jobs.credit_check_minutes: must be a number or a duration"), problem
    assert '"15m"' in problem


def test_a_duration_from_the_environment_takes_units_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEMOWATCH_JOBS__CREDIT_CHECK_MINUTES", "30s")
    monkeypatch.setenv("NEMOWATCH_WATCH__RESCAN_SECONDS", "120")
    path = tmp_path / "c.toml"
    path.write_text("")
    settings = config.load(path).settings
    assert settings.jobs.credit_check_minutes == 0.5 and settings.watch.rescan_seconds == 120
