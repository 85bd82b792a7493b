"""The settings tree, the example file, lookup order, overrides, and the config commands."""

from __future__ import annotations

import re
import stat
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from pydantic import BaseModel

from nemowatch import config
from nemowatch.cli import main
from nemowatch.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "config" / "nemowatch.toml"

#: the keys DESIGN.md names as a public contract
CONTRACT = {
    "folders": ["inbox", "outbox", "failed"],
    "watch": [
        "settle_seconds",
        "rescan_seconds",
        "polling",
        "pair_wait_seconds",
        "default_instructions",
    ],
    "api": [
        "base_url",
        "web_url",
        "token",
        "language",
        "sse_idle_timeout_seconds",
        "recovery_first_wait_seconds",
        "recovery_wait_seconds",
        "recovery_max_checks",
    ],
    "jobs": [
        "max_parallel",
        "max_file_mb",
        "min_credits",
        "credit_check_minutes",
        "retries",
        "after_success",
    ],
    "export": [
        "format",
        "quality",
        "poll_first_seconds",
        "poll_max_seconds",
        "state_settle_seconds",
        "timeout_seconds",
    ],
    "logging": ["level"],
}


def _sections() -> dict[str, type[BaseModel]]:
    fields = config.Settings.model_fields.items()
    sections = {name: field.annotation for name, field in fields}
    # presets are a table of tables, documented by a commented example
    return {name: kind for name, kind in sections.items() if isinstance(kind, type)}  # type: ignore[misc]


def test_every_contract_key_exists_with_its_documented_default() -> None:
    defaults = config.Settings()
    documented = (
        tomllib.loads(
            (REPO.parent / "shared" / "DESIGN.md").read_text().split("```toml")[1].split("```")[0]
        )
        if (REPO.parent / "shared" / "DESIGN.md").exists()
        else None
    )
    for section, keys in CONTRACT.items():
        model = getattr(defaults, section)
        for key in keys:
            assert hasattr(model, key), f"{section}.{key} missing"
            if documented is not None:
                value = getattr(model, key)
                expected = documented[section][key]
                if section == "folders":
                    value, expected = str(value), str(Path(expected).expanduser())
                elif key == "token":
                    value = value.get_secret_value()
                assert value == expected, f"{section}.{key}: {value!r} != {expected!r}"


def test_example_file_equals_the_built_in_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    loaded = config.load(EXAMPLE)
    monkeypatch.chdir(REPO.parent)  # not the checkout: no ./config/ there
    defaults = config.load(None)
    assert defaults.path is None
    assert loaded.settings.model_dump() == defaults.settings.model_dump()


def test_example_documents_every_key_with_a_comment() -> None:
    text = EXAMPLE.read_text()
    for section, model in _sections().items():
        block = text.split(f"[{section}]\n", 1)[1].split("\n[", 1)[0]
        for key in model.model_fields:
            match = re.search(rf"^(?:# )?{key} = ", block, re.MULTILINE)
            assert match, f"[{section}] {key} is not in the example file"
            before = block[: match.start()].rstrip().splitlines()
            assert before and before[-1].startswith("#"), f"{section}.{key} has no comment"
    preset = text.split("# [presets.", 1)[1]
    assert re.search(r"^# instructions = ", preset, re.MULTILINE), "the preset example"


def test_tilde_is_expanded_in_paths(isolated_env: Path, tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[folders]\ninbox = "~/In"\n[api]\nclient_id_file = "~/id"\n')
    settings = config.load(path).settings
    assert settings.folders.inbox == isolated_env / "In"
    assert settings.folders.work_dir == isolated_env / "In" / ".nemowatch"
    assert settings.api.client_id_file == isolated_env / "id"
    assert settings.folders.state_dir == isolated_env / ".local" / "state" / "nemowatch"


def test_lookup_order(tmp_path: Path, isolated_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def write(path: Path, parallel: int) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"[jobs]\nmax_parallel = {parallel}\n")
        return path

    system = Path("/etc/nemowatch/nemowatch.toml")
    assert not system.exists(), "this test needs no system-wide file"
    assert config.load().origin == "built-in defaults"
    user = write(isolated_env / ".config" / "nemowatch" / "nemowatch.toml", 3)
    assert (config.load().path, config.load().settings.jobs.max_parallel) == (user, 3)
    checkout = write(tmp_path / "config" / "nemowatch.toml", 4)
    assert config.load().path == checkout
    env_file = write(tmp_path / "env.toml", 5)
    monkeypatch.setenv("NEMOWATCH_CONFIG", str(env_file))
    assert config.load().settings.jobs.max_parallel == 5
    explicit = write(tmp_path / "explicit.toml", 6)
    assert config.load(explicit).settings.jobs.max_parallel == 6


def test_a_named_file_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        config.load(tmp_path / "missing.toml")


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[jobs]\nmax_parallel = 2\n[api]\ntoken = "nmv_usr_fromfile"\n')
    monkeypatch.setenv("NEMOWATCH_JOBS__MAX_PARALLEL", "4")
    monkeypatch.setenv("NEMOWATCH_EXPORT__POLL_FIRST_SECONDS", "0.05")
    monkeypatch.setenv("NEMO_TOKEN", "nmv_usr_official")
    monkeypatch.setenv("NEMO_API_URL", "http://127.0.0.1:9/")
    monkeypatch.setenv("NEMO_WEB_URL", "http://web.example")
    monkeypatch.setenv("NEMO_CLIENT_ID", "0b6c1f2e-0000-4000-8000-000000000000")
    s = config.load(path).settings
    assert s.jobs.max_parallel == 4
    assert s.export.poll_first_seconds == 0.05
    assert s.api.token.get_secret_value() == "nmv_usr_official"
    assert s.api.base_url == "http://127.0.0.1:9"
    assert s.api.web_url == "http://web.example"
    assert s.api.client_id == "0b6c1f2e-0000-4000-8000-000000000000"
    monkeypatch.setenv("NEMOWATCH_API__TOKEN", "nmv_usr_specific")
    assert config.load(path).settings.api.token.get_secret_value() == "nmv_usr_specific"


def test_a_broken_file_reports_every_problem_with_its_path(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(
        '[jobs]\nmax_parallel = 0\nafter_success = "shred"\n[watch]\nsettle = 1\n[extra]\n'
    )
    with pytest.raises(ConfigError) as caught:
        config.load(path)
    err = caught.value
    assert err.source.startswith(str(path))
    text = "\n".join(err.problems)
    assert len(err.problems) == 4, text
    for fragment in ("jobs.max_parallel", "jobs.after_success", "watch.settle", "extra"):
        assert fragment in text


def test_the_command_line_exits_2_on_a_broken_file_without_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[jobs\nmax_parallel = 1\n")
    done = subprocess.run(
        [sys.executable, "-m", "nemowatch", "--config", str(path), "config", "show"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert str(path) in done.stderr and "line 1" in done.stderr
    assert "Traceback" not in done.stderr


def test_config_show_masks_the_token(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = "nmv_usr_0123456789abcdef0123"
    monkeypatch.setenv("NEMO_TOKEN", secret)
    assert main(["config", "show"]) == 0
    out = capsys.readouterr().out
    assert secret not in out and "0123456789abcdef" not in out
    shown = tomllib.loads(out.split("\n", 1)[1])
    assert shown["api"]["token"].endswith("(masked)")
    assert shown["jobs"]["max_parallel"] == 2


def test_config_init_writes_the_example_and_never_overwrites(
    isolated_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = isolated_env / ".config" / "nemowatch" / "nemowatch.toml"
    assert main(["config", "init"]) == 0
    assert target.read_text() == EXAMPLE.read_text()
    target.write_text("# mine\n")
    assert main(["config", "init"]) == 2
    assert target.read_text() == "# mine\n"
    assert main(["config", "init", "--force"]) == 0
    assert target.read_text() == EXAMPLE.read_text()
    capsys.readouterr()
    assert main(["config", "path"]) == 0
    assert str(target) in capsys.readouterr().out


def test_config_path_names_the_defaults_when_no_file_exists(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["config", "path"]) == 0
    assert "built-in defaults" in capsys.readouterr().out


@pytest.mark.slow
def test_the_wheel_ships_the_example_file(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(REPO),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    (wheel,) = tmp_path.glob("nemowatch-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        info = zf.getinfo("nemowatch/data/nemowatch.toml")
        assert zf.read(info) == EXAMPLE.read_bytes()
        assert not stat.S_ISLNK(info.external_attr >> 16)
        for unit in ("nemowatch.service", "nemowatch@.service"):  # `service install` needs them
            shipped = zf.read(f"nemowatch/data/systemd/{unit}")
            assert shipped == (REPO / "systemd" / unit).read_bytes()


def test_a_reload_applies_what_may_change_and_keeps_the_restart_only_keys(tmp_path: Path) -> None:
    from nemowatch.config import Settings, merge_reload

    old = Settings.model_validate(
        {"folders": {"inbox": str(tmp_path / "in")}, "api": {"base_url": "http://a"}}
    )
    new = Settings.model_validate(
        {
            "folders": {"inbox": str(tmp_path / "elsewhere")},
            "api": {"base_url": "http://b", "retry_max_seconds": 7},
            "jobs": {"max_parallel": 5},
        }
    )
    merged, kept = merge_reload(old, new)
    assert kept == ["folders", "api.base_url"]
    assert merged.folders == old.folders and merged.api.base_url == "http://a"
    assert merged.jobs.max_parallel == 5 and merged.api.retry_max_seconds == 7


def test_a_reload_with_nothing_restart_only_changed_keeps_nothing() -> None:
    from nemowatch.config import Settings, merge_reload

    old = Settings()
    merged, kept = merge_reload(old, Settings.model_validate({"jobs": {"retries": 1}}))
    assert kept == [] and merged.jobs.retries == 1
