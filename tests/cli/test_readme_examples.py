"""README.md's examples do what it says, as printed: a job file it shows is one `cronui apply` takes, a
config it shows is one cronui loads, and the "Watching jobs" walk-through, replayed command by command,
prints what its transcripts show."""

from __future__ import annotations

import io
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from cronui.config import load_settings
from tests.helpers import cli

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
TEXT = README.read_text()
TOML = re.findall(r"```toml\n(.*?)```", TEXT, re.S)
EXAMPLES = [b for b in TOML if "[[job]]" in b]
CONFIGS = [b for b in TOML if "[[job]]" not in b]
WATCHING = TEXT.split("\n## Watching jobs\n", 1)[1].split("\n## ", 1)[0]


def test_the_readme_has_job_file_examples() -> None:
    assert len(EXAMPLES) >= 2  # the jobs-as-code file, the morning digest


@pytest.mark.parametrize("text", EXAMPLES, ids=[re.search(r'name = "([^"]+)"', b)[1] for b in EXAMPLES])  # type: ignore[index]
def test_each_job_file_example_applies(text: str, capsys, cli_db: Path, tmp_path: Path) -> None:
    path = tmp_path / "example.toml"
    path.write_text(text)
    code, out, err = cli(capsys, "apply", str(path))
    assert code == 0, err
    assert "added" in out


def test_the_morning_digest_has_what_it_says(capsys, cli_db: Path, tmp_path: Path) -> None:
    [text] = [b for b in EXAMPLES if 'name = "morning-digest"' in b]
    (tmp_path / "digest.toml").write_text(text)
    assert cli(capsys, "apply", str(tmp_path / "digest.toml"))[0] == 0
    code, out, err = cli(capsys, "jobs", "show", "morning-digest", "--json")
    assert code == 0, err
    job = json.loads(out)
    agent = job["target"]
    assert agent["gate"] and len(agent["fallbacks"]) == 2
    assert agent["daily_budget_usd"] == 0.5 and agent["max_cost_usd"] == 0.1
    assert job["delivery"] == {
        "mode": "always",
        "to": "${env:SLACK_HOOK}",
        "format": "slack",
        "notify_retries": True,
    }


@pytest.mark.parametrize("text", CONFIGS, ids=[b.strip().splitlines()[0].strip() for b in CONFIGS])
def test_each_config_example_loads(text: str, tmp_path: Path) -> None:
    """A config the README shows (the whole file, or a table of it) is one cronui reads without a complaint."""
    path = tmp_path / "config.toml"
    path.write_text(text)
    settings = load_settings(path, env={"CRONUI_TIMEZONE": "UTC"})
    assert settings.config_file == path


def test_the_config_examples_include_the_watching_ones() -> None:
    tables = {line.strip() for b in CONFIGS for line in b.splitlines() if line.strip().startswith("[")}
    assert {"[alerts]", "[monitor]", "[metrics]"} <= tables


def _blocks(text: str) -> list[tuple[str, str]]:
    """The fenced blocks of `text` in order: (language, body)."""
    return re.findall(r"```(\w*)\n(.*?)```", text, re.S)


def _transcript(body: str) -> list[tuple[str, list[str]]]:
    """A console block as (command, the lines it printed)."""
    steps: list[tuple[str, list[str]]] = []
    for line in body.splitlines():
        if line.startswith("$ "):
            steps.append((line[2:], []))
        else:
            steps[-1][1].append(line)
    return steps


def _in_order(shown: list[str], printed: list[str]) -> bool:
    """Every line shown is printed, in this order; `...` stands for lines left out."""
    rest = iter(printed)
    return all(any(p == s for p in rest) for s in shown if s != "...")


def test_the_watching_walk_through_prints_what_the_readme_shows(
    capsys, cli_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Replays the section's cronui commands in order (not those that reach a network or start a server),
    with its config, and compares each transcript with what cronui prints."""
    monkeypatch.setenv("CRONUI_TIMEZONE", "Etc/UTC")  # the zone the transcripts were made in
    config = tmp_path / "config.toml"
    config.touch()
    monkeypatch.setenv("CRONUI_CONFIG", str(config))
    replayed, compared = 0, 0
    for lang, body in _blocks(WATCHING):
        if lang == "toml":
            config.write_text(config.read_text() + body)
        elif lang == "sh":
            for line in body.splitlines():
                argv = shlex.split(line, comments=True)
                if argv[:1] != ["cronui"] or argv[1:3] == ["alerts", "test"] or argv[1:2] == ["serve"]:
                    continue
                if argv[1] == "exec":  # it runs a command of its own: in a process of its own, as from crontab
                    env = {**os.environ, "PYTHONPATH": str(ROOT)}
                    done = subprocess.run([sys.executable, "-m", "cronui", *argv[1:]], env=env, capture_output=True)
                    code, err = done.returncode, done.stderr.decode()
                else:
                    code, _, err = cli(capsys, *argv[1:])
                assert code == 0, f"{line}: {err}"
                replayed += 1
        elif lang == "console":
            code = 0
            for command, shown in _transcript(body):
                if command == "echo $?":
                    assert shown == [str(code)], command
                    continue
                feed, _, command = command.rpartition(" | ")
                if feed == "crontab -l":  # the crontab the printed lines came from: each without its prefix
                    lines = [re.sub(r"cronui exec \S+ -- ", "", s.strip()) for s in shown if "cronui exec" in s]
                    monkeypatch.setattr(sys, "stdin", io.StringIO("\n".join(lines) + "\n"))
                code, out, err = cli(capsys, *shlex.split(command)[1:])
                assert _in_order(shown, out.splitlines()), f"$ {command}\nREADME:\n{shown}\nprinted:\n{out}{err}"
                compared += 1
    assert replayed >= 4 and compared >= 3
