"""What a CLI user expects on day one: `cronui --version`, tab completion in a real bash (commands, options,
job names, run ids), scripts for zsh and fish, and `cronui service install` writing the README's systemd
unit, enabling it through systemctl and saying how to read its log."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from cronui.cli import service
from tests.helpers import cli

BIN = Path(sys.executable).parent
CRONUI = BIN / "cronui"


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as ended:
        cli(capsys, "--version")
    assert ended.value.code == 0
    assert capsys.readouterr().out.strip() == f"cronui {version('cronui')}"


def test_version_of_the_installed_command() -> None:
    done = subprocess.run([str(CRONUI), "--version"], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0 and done.stdout.strip() == f"cronui {version('cronui')}"


# ---------------------------------------------------------------- completion

BASH_COMPLETE = r"""
source <(cronui completion bash)
complete_line() {
    COMP_LINE="$1"; COMP_POINT=${#COMP_LINE}
    read -ra COMP_WORDS <<< "$1"
    [[ "$1" == *" " ]] && COMP_WORDS+=("")
    COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    COMPREPLY=()
    _python_argcomplete cronui
    echo "${COMPREPLY[*]}"
}
for line in "$@"; do complete_line "$line"; done
"""


def bash_completions(lines: list[str], env: dict[str, str]) -> list[list[str]]:
    """What bash offers after each command line, through the script `cronui completion bash` prints."""
    done = subprocess.run(
        ["bash", "-c", BASH_COMPLETE, "complete", *lines],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout.splitlines()
    assert len(out) == len(lines), done.stdout + done.stderr
    return [sorted(o.split()) for o in out]


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_bash_completes_commands_options_job_names_and_run_ids(
    capsys: pytest.CaptureFixture[str], cli_db: Path
) -> None:
    for name in ("backup", "build", "digest"):
        assert cli(capsys, "jobs", "add", name, "--schedule", "@daily", "--shell", "true")[0] == 0
    assert cli(capsys, "jobs", "run", "backup")[0] == 0
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    offered = bash_completions(
        [
            "cronui jo",
            "cronui jobs run b",
            "cronui jobs add x --sched",
            "cronui runs list --job d",
            "cronui runs show ",
            "cronui service install --",
            "cronui jobs add ",
        ],
        env,
    )
    assert offered[0] == ["jobs"]
    assert offered[1] == ["backup", "build"]
    assert offered[2] == ["--schedule"]
    assert offered[3] == ["digest"]
    assert "1" in offered[4], "the run just made"
    assert offered[5] == ["--force", "--help", "--serve", "--user"]
    assert not any(o.startswith((".", "/")) or o.endswith("/") for o in offered[6]), "a new name: no files"


def test_completion_from_a_missing_database_offers_nothing_and_creates_nothing(tmp_path: Path) -> None:
    db = tmp_path / "none.db"
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "CRONUI_DB": str(db)}
    offered = bash_completions(["cronui jobs run "], env)[0]
    assert [o for o in offered if not o.startswith("-")] == [], "no job names, no files"
    assert not db.exists()


@pytest.mark.parametrize(("shell", "mark"), [("bash", "complete"), ("zsh", "#compdef cronui"), ("fish", "complete")])
def test_each_shell_gets_its_script(capsys: pytest.CaptureFixture[str], shell: str, mark: str) -> None:
    code, out, err = cli(capsys, "completion", shell)
    assert code == 0 and err == ""
    assert mark in out and "cronui" in out


def test_an_unknown_shell_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "completion", "tcshh")
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "bash" in err


# ---------------------------------------------------------------- service install

FAKE_SYSTEMCTL = """#!/bin/sh
echo "$@" >> "$CALLS"
"""


@pytest.fixture
def systemctl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A systemctl on PATH that records how it was called."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "systemctl"
    fake.write_text(FAKE_SYSTEMCTL)
    fake.chmod(0o755)
    calls = tmp_path / "calls"
    monkeypatch.setenv("CALLS", str(calls))
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    return calls


def test_service_install_user_writes_the_unit_enables_it_and_names_its_log(
    capsys: pytest.CaptureFixture[str], cli_db: Path, systemctl: Path, tmp_path: Path
) -> None:
    code, out, err = cli(capsys, "service", "install", "--user")
    assert code == 0, err
    unit = Path(os.environ["XDG_CONFIG_HOME"]) / "systemd" / "user" / "cronui.service"
    text = unit.read_text()
    exec_line = next(line for line in text.splitlines() if line.startswith("ExecStart="))
    assert exec_line.endswith(f"--db {cli_db} --no-ui")
    assert Path(exec_line.removeprefix("ExecStart=").split()[0]).is_absolute()
    assert "Restart=on-failure" in text and "WantedBy=default.target" in text
    assert "WorkingDirectory=%h" in text and "EnvironmentFile=-%h/.config/cronui/secrets.env" in text
    assert systemctl.read_text().splitlines() == ["--user daemon-reload", "--user enable --now cronui"]
    assert "journalctl --user -u cronui -f" in out and str(unit) in out


def test_service_install_serve_is_the_api_unit(
    capsys: pytest.CaptureFixture[str], cli_db: Path, systemctl: Path
) -> None:
    code, out, _ = cli(capsys, "service", "install", "--user", "--serve")
    assert code == 0
    unit = Path(os.environ["XDG_CONFIG_HOME"]) / "systemd" / "user" / "cronui-api.service"
    assert "serve --listen 127.0.0.1:8377" in unit.read_text()
    assert systemctl.read_text().splitlines()[-1] == "--user enable --now cronui-api"
    assert "journalctl --user -u cronui-api -f" in out


def test_service_install_system_unit_runs_as_the_user(
    capsys: pytest.CaptureFixture[str],
    cli_db: Path,
    systemctl: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(service, "SYSTEM_UNIT_DIR", tmp_path / "system")
    monkeypatch.setenv("SUDO_USER", "root")
    code, out, _ = cli(capsys, "service", "install")
    assert code == 0
    text = (tmp_path / "system" / "cronui.service").read_text()
    assert "User=root" in text and "WantedBy=multi-user.target" in text
    assert systemctl.read_text().splitlines() == ["daemon-reload", "enable --now cronui"]
    assert "journalctl -u cronui -f" in out


def test_service_install_keeps_a_changed_unit_unless_forced(
    capsys: pytest.CaptureFixture[str], cli_db: Path, systemctl: Path
) -> None:
    unit = Path(os.environ["XDG_CONFIG_HOME"]) / "systemd" / "user" / "cronui.service"
    unit.parent.mkdir(parents=True)
    unit.write_text("[Service]\nExecStart=/my/own/cronui --no-ui\n")
    code, _, err = cli(capsys, "service", "install", "--user")
    assert code == 2 and "--force" in err and len(err.strip().splitlines()) == 1
    assert unit.read_text().startswith("[Service]\nExecStart=/my/own")
    assert not systemctl.exists(), "nothing was enabled"
    assert cli(capsys, "service", "install", "--user", "--force")[0] == 0
    assert "--no-ui" in unit.read_text() and "[Install]" in unit.read_text()


def test_service_install_says_when_systemctl_fails(
    capsys: pytest.CaptureFixture[str], cli_db: Path, systemctl: Path
) -> None:
    fake = Path(os.environ["PATH"].split(os.pathsep)[0]) / "systemctl"
    fake.write_text('#!/bin/sh\necho "Failed to connect to bus: No medium found" >&2\nexit 1\n')
    code, _, err = cli(capsys, "service", "install", "--user")
    assert code == 1
    first, then = err.strip().splitlines()
    assert first == "cronui: systemctl --user daemon-reload failed: Failed to connect to bus: No medium found"
    assert then.endswith("is written; start it with `systemctl --user enable --now cronui` where systemd runs")
