"""The command line as its ecosystem expects it: global options anywhere, help for
everything, "did you mean", JSON outputs, and no traceback for a closed pipe,
Ctrl-C, a missing file or a wrong environment override."""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from nemowatch import cli, config, status
from nemowatch.cli import main
from nemowatch.jobs.journal import JobFolder
from nemowatch.jobs.model import Job
from nemowatch.lock import LOCK_FILE, DaemonLock


def run(
    *args: str, env: dict[str, str] | None = None, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nemowatch", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )


def write_config(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "nemowatch.toml"
    folders = {name: tmp_path / name for name in ("inbox", "outbox", "failed", "state")}
    path.write_text("[folders]\n" + "".join(f'{k} = "{v}"\n' for k, v in folders.items()) + extra)
    return path


# -- global options before or after the command ----------------------------------


def test_config_is_accepted_after_the_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(tmp_path)
    assert main(["config", "path", "--config", str(path)]) == 0
    assert capsys.readouterr().out == f"{path} (--config)\n"


def test_the_option_after_the_command_wins_over_the_one_before(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = tmp_path / "a.toml", tmp_path / "b.toml"
    first.write_text("")
    second.write_text("")
    assert main(["--config", str(first), "config", "path", "--config", str(second)]) == 0
    assert capsys.readouterr().out.startswith(str(second))


@pytest.mark.parametrize(
    "argv",
    [
        ["-v", "--config", "x.toml", "status", "--json"],
        ["status", "-v", "--config", "x.toml", "--json"],
        ["--json", "status", "--verbose", "--config", "x.toml"],
    ],
)
def test_global_options_parse_alike_before_or_after_the_command(argv: list[str]) -> None:
    args = cli._parser().parse_args(argv)
    assert (args.config, args.verbose, args.quiet, args.json) == (Path("x.toml"), True, False, True)


def test_options_left_out_keep_their_defaults() -> None:
    args = cli._parser().parse_args(["status"])
    assert (args.config, args.verbose, args.quiet, args.json) == (None, False, False, False)


def test_verbose_and_quiet_set_the_log_level_but_run_keeps_its_own_unless_told(
    tmp_path: Path,
) -> None:
    loaded = config.load(write_config(tmp_path, '[logging]\nlevel = "ERROR"\n'))

    def level(*argv: str) -> str:
        return cli._log_level(cli._parser().parse_args(list(argv)), loaded)

    assert level("status", "-v") == "DEBUG"
    assert level("-q", "status") == "WARNING"
    assert level("status") == "ERROR"
    assert level("run") == "ERROR"
    assert level("run", "-v") == "DEBUG"
    assert level("credits") == "WARNING", "credits is quiet by default"


def test_verbose_and_quiet_together_are_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["-v", "status", "-q"])
    assert caught.value.code == 2
    assert "-v and -q contradict each other" in capsys.readouterr().err


def test_json_on_a_command_without_json_output_is_a_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["--json", "config", "path"])
    assert caught.value.code == 2
    assert "has no JSON output" in capsys.readouterr().err


# -- help ---------------------------------------------------------------------


def _parsers(
    parser: argparse.ArgumentParser, name: str = "nemowatch"
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, sub in action.choices.items():
                yield from _parsers(sub, f"{name} {sub_name}")


def test_every_command_and_option_has_a_help_line() -> None:
    missing = []
    for name, parser in _parsers(cli._parser()):
        if name == "nemowatch emulator":
            continue  # parses its own options: see test_emulator's --help
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                listed = {a.dest for a in action._choices_actions if a.help}
                missing += [f"{name} {c}" for c in action.choices if c not in listed]
            elif not action.help or action.help == argparse.SUPPRESS:
                missing.append(f"{name}: {action.option_strings or action.dest}")
    assert missing == []


def test_help_works_for_the_program_and_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    names = [name.split()[1:] for name, _ in _parsers(cli._parser())]
    for words in names:
        if words == ["emulator"]:
            continue
        with pytest.raises(SystemExit) as caught:
            main([*words, "--help"])
        assert caught.value.code == 0
        shown = capsys.readouterr().out
        assert "--config PATH" in shown and "-v, --verbose" in shown, words
    assert len(names) > 12


# -- did you mean -------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "suggested"),
    [(["stauts"], "'status'"), (["histroy"], "'history'"), (["config", "shwo"], "'show'")],
)
def test_a_mistyped_command_gets_a_suggestion(
    argv: list[str], suggested: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        main(argv)
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert f"did you mean {suggested}?" in err, err
    assert "choose from" not in err


def test_a_command_like_no_other_points_to_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["xyzzy"])
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert "unknown command 'xyzzy'; see `nemowatch --help`" in err
    assert "choose from" not in err


# -- no tracebacks ------------------------------------------------------------


def test_submit_of_a_missing_file_is_a_plain_usage_error(tmp_path: Path) -> None:
    done = run("submit", str(tmp_path / "nope.mp4"), "-i", "edit")
    assert done.returncode == 2
    assert (
        done.stderr == f"nemowatch: {tmp_path / 'nope.mp4'} does not exist; check the name "
        "(nothing was sent)\n"
    )
    assert not (tmp_path / "home" / ".local" / "state" / "nemowatch" / "submit").exists()


def test_submit_with_a_missing_instructions_file_is_a_plain_usage_error(
    tmp_path: Path, sample_video: Path
) -> None:
    done = run("submit", str(sample_video), "-f", str(tmp_path / "nope.txt"))
    assert done.returncode == 2
    assert "nope.txt does not exist" in done.stderr and "Traceback" not in done.stderr


def test_a_missing_config_file_is_said_to_be_missing_not_invalid(tmp_path: Path) -> None:
    done = run("status", "--config", str(tmp_path / "gone.toml"))
    assert done.returncode == 2
    said = f"the configuration file {tmp_path / 'gone.toml'} (named by --config) does not exist"
    assert said in done.stderr
    assert "invalid" not in done.stderr and "Traceback" not in done.stderr


def test_a_wrong_environment_override_names_the_variable_not_the_file(tmp_path: Path) -> None:
    path = write_config(tmp_path)
    done = run("--config", str(path), "status", env={"NEMOWATCH_JOBS__MAX_PARALLEL": "abc"})
    assert done.returncode == 2
    assert done.stderr.startswith("nemowatch: invalid configuration in the environment:\n")
    assert "NEMOWATCH_JOBS__MAX_PARALLEL (sets jobs.max_parallel): " in done.stderr
    assert str(path) not in done.stderr, "the file is fine"


def _many_waiting(tmp_path: Path) -> Path:
    """A configuration whose status file lists thousands of waiting files: a long answer."""
    path = write_config(tmp_path)
    state = tmp_path / "state"
    state.mkdir()
    waiting = [{"path": f"/in/clip{n}.mp4", "reason": "no instructions yet"} for n in range(5000)]
    status.write(state, status.Snapshot(pid=1, started_at=0, updated_at=0, waiting=waiting))
    return path


def test_status_into_head_through_a_real_shell_pipe_prints_no_traceback(tmp_path: Path) -> None:
    path = _many_waiting(tmp_path)
    nemowatch = f"{sys.executable} -m nemowatch --config {path}"
    script = f'{nemowatch} status | head -1; {nemowatch} status --json | head -c 20; echo ""'
    done = subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, timeout=30, check=False
    )
    assert done.stdout == "nemowatch is not running\n" + '{"schema": 1, "running"'[:20] + "\n"
    assert done.stderr == "", done.stderr


def test_output_into_a_closed_pipe_ends_quietly_with_141(tmp_path: Path) -> None:
    path = _many_waiting(tmp_path)
    reader, writer = os.pipe()
    os.close(reader)  # the reader went away before anything was written
    try:
        done = subprocess.run(
            [sys.executable, "-m", "nemowatch", "--config", str(path), "status", "--json"],
            stdout=writer,
            stderr=subprocess.PIPE,
            text=True,
            timeout=30,
            check=False,
        )
    finally:
        os.close(writer)
    assert (done.returncode, done.stderr) == (141, "")


@pytest.fixture
def silent_server() -> Iterator[socket.socket]:
    """A loopback server that accepts connections and never answers."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(20)
        yield server


@pytest.mark.parametrize("command", ["credits", "submit"])
def test_ctrl_c_while_waiting_on_the_api_ends_with_130_and_one_line(
    command: str, silent_server: socket.socket, sample_video: Path
) -> None:
    port = silent_server.getsockname()[1]
    argv = ["submit", str(sample_video), "-i", "edit"] if command == "submit" else [command]
    env = {**os.environ, "NEMO_API_URL": f"http://127.0.0.1:{port}"}
    with subprocess.Popen(
        [sys.executable, "-m", "nemowatch", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    ) as proc:
        try:
            connection, _ = silent_server.accept()  # the command is waiting for an answer
            with connection:
                proc.send_signal(signal.SIGINT)
                out, err = proc.communicate(timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
    assert proc.returncode == 130
    # submit logs its steps (INFO) before; the end is one line, never a traceback
    assert err.endswith("\nnemowatch: interrupted\n") or err == "nemowatch: interrupted\n", err
    assert "Traceback" not in err and "Error" not in err, err
    assert out == ""


# -- JSON ---------------------------------------------------------------------


def test_status_json_when_no_daemon_runs_exits_3_with_schema_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(tmp_path)
    assert main(["status", "--json", "--config", str(path)]) == 3
    data = json.loads(capsys.readouterr().out)
    assert data["schema"] == 1
    assert data["running"] is False and data["pid"] is None
    for key in ("conditions", "jobs", "waiting"):
        assert data[key] == []
    assert "credits" in data


def test_status_text_exits_3_when_no_daemon_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", str(write_config(tmp_path)), "status"]) == 3
    assert capsys.readouterr().out.startswith("nemowatch is not running")


def test_status_json_of_a_running_daemon_exits_0_with_its_jobs_and_conditions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(tmp_path)
    state = tmp_path / "state"
    lock = DaemonLock(state / LOCK_FILE)
    lock.acquire(wait=0)  # this process plays the daemon
    try:
        now = time.time()
        snapshot = status.Snapshot(
            pid=os.getpid(),
            started_at=now - 60,
            updated_at=now,
            paused="out of credits",
            conditions=[{"name": "credits", "reason": "out of credits", "since": now - 5}],
            credits=3,
            jobs=[
                status.JobLine("j1", "holiday", "uploaded", "upload 40%"),
                status.JobLine("j2", "birthday", "claimed", "", held="out of credits"),
            ],
            waiting=[{"path": str(tmp_path / "inbox" / "a.mp4"), "reason": "no instructions"}],
        )
        status.write(state, snapshot)
        assert main(["status", "--config", str(path), "--json"]) == 0
    finally:
        lock.release()
    data = json.loads(capsys.readouterr().out)
    assert (data["schema"], data["running"], data["pid"], data["credits"]) == (
        1,
        True,
        os.getpid(),
        3,
    )
    assert data["conditions"] == [
        {"name": "credits", "reason": "out of credits", "since": now - 5, "next_check": None}
    ]
    holiday, birthday = data["jobs"]
    assert holiday == {
        "id": "j1",
        "name": "holiday",
        "stage": "uploaded",
        "doing": "upload 40%",
        "since": None,  # no journal in the work folder for it
        "progress": "upload 40%",
    }
    assert birthday["doing"] == "held: out of credits" and birthday["progress"] == ""
    assert data["waiting"] == [
        {"path": str(tmp_path / "inbox" / "a.mp4"), "reason": "no instructions"}
    ]


def test_doctor_json_lists_every_check_with_name_ok_and_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("NEMO_API_URL", "http://127.0.0.1:9")  # refused at once: a warning
    monkeypatch.setenv("NEMOWATCH_JOBS__RETRIES", "0")
    code = main(["doctor", "--json", "--config", str(write_config(tmp_path))])
    data = json.loads(capsys.readouterr().out)
    assert data["schema"] == 1
    assert code == (1 if data["problems"] else 0)
    names = [c["name"] for c in data["checks"]]
    assert "token and credits" in names and len(names) >= 8
    for check in data["checks"]:
        assert isinstance(check["ok"], bool) and check["message"]
    api = next(c for c in data["checks"] if c["name"] == "token and credits")
    assert api["ok"] is False and api["level"] == "warning" and "not reachable" in api["message"]


def test_status_json_after_the_daemon_stopped_lists_the_unfinished_jobs_from_their_journals(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(tmp_path)
    folder = JobFolder(tmp_path / "inbox" / ".nemowatch" / "20260101-000000-clip-abcdef")
    folder.path.mkdir(parents=True)
    job = Job(id=folder.path.name, name="clip", kind="pair", media=["clip.mp4"], held="credits")
    job.reached["claimed"] = 1234.5
    folder.save(job)
    conditions: list[dict[str, object]] = [
        {"name": "credits", "reason": "out of credits", "since": 1.0}
    ]
    snapshot = status.Snapshot(pid=1, started_at=0, updated_at=0, conditions=conditions)
    status.write(tmp_path / "state", snapshot)
    assert main(["status", "--json", "--config", str(path)]) == 3
    data = json.loads(capsys.readouterr().out)
    assert data["running"] is False and data["conditions"] == []
    assert data["jobs"] == [
        {
            "id": job.id,
            "name": "clip",
            "stage": "claimed",
            "doing": "held: out of credits",
            "since": 1234.5,
            "progress": "",
        }
    ]
