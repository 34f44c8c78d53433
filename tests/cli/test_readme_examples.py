"""The job files README.md shows are ones `cronui apply` takes, as printed: a reader who pastes one gets
the job it describes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.helpers import cli

README = Path(__file__).resolve().parents[2] / "README.md"
EXAMPLES = [b for b in re.findall(r"```toml\n(.*?)```", README.read_text(), re.S) if "[[job]]" in b]


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
