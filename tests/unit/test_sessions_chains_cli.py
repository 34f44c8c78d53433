"""`--conversation session:NAME` and `--on-success JOB --when contains:X|regex:X` from the CLI and job
files: one-line refusals (exit 2, nothing changed), `jobs show` (text and JSON), and export -> apply ->
export round trips with per-edge options."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from cronui.config import Settings
from cronui.model import ChainEdge, Job, TargetKind
from cronui.ui.jobform import form_from_job, form_job
from tests.helpers import cli, live_jobs

AGENT = ["--agent", "http://127.0.0.1:9/v1", "--model", "m", "--message", "hi"]


def add(capsys, name: str, *more: str) -> tuple[int, str, str]:
    return cli(capsys, "jobs", "add", name, "--schedule", "@daily", *more)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            ["--conversation", "session:two words"],
            "conversation: 'two words' is not a valid session name (letters, digits, '.', '_', '-'; up to 80; "
            "starting with a letter or digit)",
        ),
        (["--conversation", "session:"], "conversation: '' is not a valid session name"),
        (["--conversation", "shared"], "conversation: expected isolated, persistent or session:NAME, got 'shared'"),
        (
            ["--on-success", "publish", "--when", "regex:(open"],
            "--when: '(open' is not a valid regular expression (missing ), unterminated subpattern at position 0)",
        ),
        (
            ["--on-success", "publish", "--when", r"regex:(ok) \1"],
            r"--when: '(ok) \\1' uses a backreference (\1), which re2 (the linear-time engine conditions are "
            "matched with) does not support",
        ),
        (
            ["--on-success", "publish", "--when", "regex:(?<!not )ready"],
            "--when: '(?<!not )ready' uses negative lookbehind (?<!...), which re2",
        ),
        (
            ["--on-success", "publish", "--when", "has:X"],
            "--when: expected contains:TEXT or regex:PATTERN, got 'has:X'",
        ),
        (["--on-success", "publish", "--when", "contains:"], "--when: contains: needs something to look for"),
        (["--when", "contains:X"], "--when: the job has no on-success chain to put a condition on"),
    ],
)
def test_bad_sessions_and_conditions_are_one_line_refusals(capsys, cli_db, options, message):
    assert add(capsys, "publish", "--shell", "true")[0] == 0
    before = live_jobs(cli_db)
    code, out, err = add(capsys, "talk", *AGENT, *options)
    assert (code, out) == (2, "")
    assert err.startswith(f"cronui: {message}"), err
    assert len(err.splitlines()) == 1
    assert live_jobs(cli_db) == before


def test_show_names_the_session_its_jobs_and_the_chain_condition(capsys, cli_db):
    add(capsys, "publish", "--shell", "true")
    add(capsys, "tidy", "--shell", "true")
    code, _, err = add(
        capsys,
        "writer",
        *AGENT,
        "--conversation",
        "session:desk",
        "--on-success",
        "publish",
        "--when",
        "contains:READY",
    )
    assert code == 0, err
    add(capsys, "editor", *AGENT, "--conversation", "session:desk")
    add(capsys, "loner", *AGENT, "--conversation", "session:alone")
    out = cli(capsys, "jobs", "show", "writer")[1]
    assert "  session    desk · 0 messages kept · shared with editor\n" in out
    assert "  chains     on success: publish (when contains:READY) · on failure: —\n" in out
    assert (
        "  session    alone · 0 messages kept · shared with no other job\n" in cli(capsys, "jobs", "show", "loner")[1]
    )
    data = json.loads(cli(capsys, "jobs", "show", "writer", "--json")[1])
    assert data["session"] == {"name": "desk", "jobs": ["editor", "writer"], "messages": 0}
    assert data["target"]["conversation"] == "session:desk"
    assert data["chain_options"] == {"on_success": {"publish": {"when": "contains:READY"}}}
    # --on-success keeps the condition of an edge it still names; --when '' clears it
    cli(capsys, "jobs", "edit", "writer", "--on-success", "publish", "--on-success", "tidy")
    assert json.loads(cli(capsys, "jobs", "show", "writer", "--json")[1])["chain_options"] == {
        "on_success": {"publish": {"when": "contains:READY"}}
    }
    cli(capsys, "jobs", "edit", "writer", "--when", "regex:^ok")
    shown = cli(capsys, "jobs", "show", "writer")[1]
    assert "on success: publish (when regex:^ok), tidy (when regex:^ok)" in shown
    assert cli(capsys, "jobs", "edit", "writer", "--when", "")[0] == 0
    assert json.loads(cli(capsys, "jobs", "show", "writer", "--json")[1])["chain_options"] == {}
    assert json.loads(live_jobs(cli_db)["writer"]["chain_options"]) == {}
    cli(capsys, "jobs", "edit", "writer", "--when", "contains:x")
    cli(capsys, "jobs", "edit", "writer", "--on-success", "")  # no chain: no condition left behind
    assert json.loads(live_jobs(cli_db)["writer"]["chain_options"]) == {}


EDGES = """\
[[job]]
name = "publish"
schedule = "@daily"
shell = "true"

[[job]]
name = "tidy"
schedule = "@daily"
shell = "true"

[[job]]
name = "writer"
schedule = "@daily"
agent = { base_url = "http://127.0.0.1:9/v1", model = "m", message = "hi", conversation = "session:desk" }
on_success = [{ job = "publish", when = "contains:READY" }, "tidy"]
on_failure = { job = "tidy", when = "regex:(?i)disk full" }
"""


def test_job_files_carry_options_per_edge_and_round_trip(capsys, cli_db, tmp_path, monkeypatch):
    (tmp_path / "edges.toml").write_text(EDGES)
    code, _, err = cli(capsys, "apply", "edges.toml")
    assert code == 0, err
    row = live_jobs(cli_db)["writer"]
    assert json.loads(row["on_success"]) == ["publish", "tidy"] and json.loads(row["on_failure"]) == ["tidy"]
    assert json.loads(row["chain_options"]) == {
        "on_success": {"publish": {"when": "contains:READY"}},
        "on_failure": {"tidy": {"when": "regex:(?i)disk full"}},
    }
    assert json.loads(row["target"])["conversation"] == "session:desk"
    assert cli(capsys, "apply", "edges.toml")[1] == "edges.toml: no changes (3 jobs up to date)\n"
    code, first, err = cli(capsys, "export")
    assert code == 0 and err == ""
    writer = tomllib.loads(first)["job"][2]
    assert writer["on_success"] == [{"job": "publish", "when": "contains:READY"}, "tidy"]
    assert writer["on_failure"] == [{"job": "tidy", "when": "regex:(?i)disk full"}]
    assert writer["agent"]["conversation"] == "session:desk"
    as_json = cli(capsys, "export", "--json")[1]
    for fmt, name, text in (("toml", "fresh.db", first), ("json", "fresh2.db", as_json)):
        monkeypatch.setenv("CRONUI_DB", str(tmp_path / name))
        (tmp_path / f"export.{fmt}").write_text(text)
        code, _, err = cli(capsys, "apply", f"export.{fmt}")
        assert code == 0, err
        assert cli(capsys, "export")[1] == first
    # a changed condition is a change a dry run shows
    (tmp_path / "edges.toml").write_text(EDGES.replace("contains:READY", "contains:DONE"))
    monkeypatch.setenv("CRONUI_DB", str(cli_db))
    out = cli(capsys, "apply", "--dry-run", "edges.toml")[1]
    assert "contains:DONE" in out and "contains:READY" in out


@pytest.mark.parametrize(
    ("chain", "message"),
    [
        (
            'on_success = [{ job = "publish", when = "regex:[" }]',
            "on_success[1].when: '[' is not a valid regular expression",
        ),
        ('on_success = [{ job = "publish", approve = true }]', "on_success[1].approve: unknown key"),
        ('on_success = [{ when = "contains:x" }]', "on_success[1].job: missing (required)"),
        ("on_success = [1]", "on_success[1]: expected a job name or tables like"),
        (
            'agent = { base_url = "http://h/v1", model = "m", message = "x", conversation = "session:a/b" }',
            "agent.conversation: 'a/b' is not a valid session name",
        ),
    ],
)
def test_bad_edges_in_files_name_the_edge(capsys, cli_db, tmp_path: Path, chain, message):
    add(capsys, "existing", "--shell", "true")
    before = live_jobs(cli_db)
    body = chain if chain.startswith("agent") else f'shell = "true"\n{chain}'
    publish = '[[job]]\nname = "publish"\nschedule = "@daily"\nshell = "true"\n'
    text = f'{publish}\n[[job]]\nname = "x"\nschedule = "@daily"\n{body}\n'
    (tmp_path / "bad.toml").write_text(text)
    code, out, err = cli(capsys, "apply", "bad.toml")
    assert (code, out) == (2, "")
    assert f"job 'x': {message}" in err, err
    assert live_jobs(cli_db) == before


def test_the_editor_form_sets_the_session_and_the_on_success_condition(tmp_path):
    settings = Settings(db=str(tmp_path / "x.db"), timezone="UTC")
    job = Job(
        name="writer",
        schedule="@daily",
        timezone="UTC",
        kind=TargetKind.AGENT,
        target={"base_url": "http://127.0.0.1:9/v1", "model": "m", "message": "hi", "conversation": "session:desk"},
        on_success=["publish", "tidy"],
    )
    job.set_edge("on_success", "publish", ChainEdge(when="contains:READY"))
    job.set_edge("on_success", "tidy", ChainEdge(when="regex:ok"))
    values = form_from_job(job, settings)
    assert values["conversation"] == "session:desk"
    assert values["when"] == ""  # the edges differ: the field leaves each its own
    same, errors = form_job(values, job)
    assert errors == [] and same == job
    values.update(when="contains:GO", conversation="persistent", on_success="publish")
    changed, errors = form_job(values, job)
    assert errors == [] and changed.target.conversation == "persistent"
    assert changed.chain_options_dict() == {"on_success": {"publish": {"when": "contains:GO"}}}
    assert form_from_job(changed, settings)["when"] == "contains:GO"
    values.update(when="")
    cleared, _ = form_job(values, changed)
    assert cleared.chain_options == {}
