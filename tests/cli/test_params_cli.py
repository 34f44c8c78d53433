"""Run-time parameters on the command line: `jobs add/edit --param-decl`, `jobs run --param K=V` (refusals
exit 2 with one line and queue nothing), `jobs show`, `runs show` and their JSON, and a job file's
`[job.params]` through `apply` and `export`."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from tests.helpers import cli

JOBFILE = """
[[job]]
name = "deploy"
schedule = "0 9 * * 1-5"
timezone = "Europe/Berlin"
shell = 'echo "deploying to $CRONUI_PARAM_env x$CRONUI_PARAM_count"'

[job.params]
env = { default = "staging", choices = ["staging", "prod"] }
count = { type = "int", default = 1 }
"""


def runs(capsys: pytest.CaptureFixture[str]) -> list[dict]:
    code, out, err = cli(capsys, "runs", "list", "--json")
    assert code == 0, err
    return json.loads(out)


def test_declared_on_the_command_line_given_to_a_run_and_shown(capsys, cli_db: Path) -> None:
    code, _, err = cli(
        capsys,
        "jobs", "add", "deploy", "--schedule", "0 9 * * *",
        "--shell", 'echo "to $CRONUI_PARAM_env x$CRONUI_PARAM_count"',
        "--param-decl", "env=staging", "--param-decl", "count:int=1",
    )  # fmt: skip
    assert code == 0, err
    out = cli(capsys, "jobs", "show", "deploy")[1]
    assert "  params     count:int=1 · env=staging\n" in out
    shown = json.loads(cli(capsys, "jobs", "show", "deploy", "--json")[1])
    assert shown["params"] == {"count": {"type": "int", "default": 1}, "env": {"default": "staging"}}

    code, out, err = cli(capsys, "jobs", "run", "deploy", "--param", "env=prod", "--param", "count=4", "--wait")
    assert (code, err) == (0, "")
    assert out.splitlines()[1] == "to prod x4"
    (run,) = runs(capsys)
    assert run["params"] == {"count": 4, "env": "prod"}
    out = cli(capsys, "runs", "show", str(run["id"]))[1]
    assert "  params count=4 · env=prod\n" in out


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["--param", "region=eu"], "cronui: param: unknown name 'region' (declared: count, env)\n"),
        (["--param", "count=lots"], "cronui: param: count: expected a whole number, got 'lots'\n"),
        (["--param", "env=dev"], "cronui: param: env: 'dev' is not one of 'staging', 'prod'\n"),
        (["--param", "env"], "cronui: param: expected --param NAME=VALUE, got 'env'\n"),
    ],
)
def test_a_bad_value_exits_2_with_one_line_and_queues_nothing(capsys, cli_db: Path, tmp_path: Path, args, line):
    (tmp_path / "jobs.toml").write_text(JOBFILE)
    assert cli(capsys, "apply", "jobs.toml")[0] == 0
    code, out, err = cli(capsys, "jobs", "run", "deploy", *args)
    assert (code, out, err) == (2, "", line)
    assert runs(capsys) == []


def test_a_required_param_needs_a_disabled_job_and_a_value(capsys, cli_db: Path) -> None:
    add = [
        "jobs",
        "add",
        "greet",
        "--schedule",
        "@daily",
        "--shell",
        "echo hi $CRONUI_PARAM_who",
        "--param-decl",
        "who",
    ]
    code, out, err = cli(capsys, *add)
    assert code == 2 and out == ""
    assert err == (
        "cronui: param: who has no default, but the job runs on its schedule, which gives no values: "
        "give it a default, or keep the job disabled and run it with --param\n"
    )
    assert cli(capsys, *add, "--disabled")[0] == 0
    code, _, err = cli(capsys, "jobs", "run", "greet")
    assert (code, err) == (2, "cronui: param: who is required (it has no default): give it a value\n")
    assert runs(capsys) == []
    code, out, _ = cli(capsys, "jobs", "run", "greet", "--param", "who=you", "--wait")
    assert code == 0 and out.splitlines()[1] == "hi you"
    assert cli(capsys, "jobs", "enable", "greet")[0] == 2  # it would run on its schedule with no value


def test_edit_redeclares_one_param_and_an_empty_value_drops_them_all(capsys, cli_db: Path) -> None:
    assert cli(capsys, "jobs", "add", "j", "--schedule", "@daily", "--shell", "true", "--param-decl", "a=1")[0] == 0
    assert cli(capsys, "jobs", "edit", "j", "--param-decl", "b:bool=true")[0] == 0
    shown = json.loads(cli(capsys, "jobs", "show", "j", "--json")[1])
    assert shown["params"] == {"a": {"default": "1"}, "b": {"type": "bool", "default": True}}
    code, _, err = cli(capsys, "jobs", "edit", "j", "--param-decl", "c:date=x")
    assert (
        code == 2
        and err == "cronui: param-decl: 'c:date=x': unknown type 'date' (expected one of str, int, float, bool)\n"
    )
    assert cli(capsys, "jobs", "edit", "j", "--param-decl", "")[0] == 0
    assert json.loads(cli(capsys, "jobs", "show", "j", "--json")[1])["params"] == {}


def test_a_job_files_params_apply_export_and_apply_again_unchanged(capsys, cli_db: Path, tmp_path: Path) -> None:
    (tmp_path / "jobs.toml").write_text(JOBFILE)
    code, _, err = cli(capsys, "apply", "jobs.toml")
    assert code == 0, err
    code, out, _ = cli(capsys, "export")
    assert code == 0
    assert "[job.params]\n" in out
    assert tomllib.loads(out)["job"][0]["params"] == {
        "count": {"type": "int", "default": 1},
        "env": {"default": "staging", "choices": ["staging", "prod"]},
    }
    (tmp_path / "jobs.toml").write_text(out)
    assert cli(capsys, "apply", "jobs.toml")[1] == "jobs.toml: no changes (1 jobs up to date)\n"


def test_a_job_files_bad_params_are_named_by_key(capsys, cli_db: Path, tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text(
        '[[job]]\nname = "x"\nschedule = "@daily"\nshell = "true"\n'
        'params = { n = { type = "int", default = "ten" }, m = { typ = "int", default = "1" }, "1a" = {} }\n'
    )
    code, out, err = cli(capsys, "apply", "bad.toml")
    assert code == 2 and out == ""
    assert "bad.toml:5: job 'x': params.n.default: n default: expected a whole number, got 'ten'" in err
    assert "bad.toml:5: job 'x': params.m.typ: unknown key (did you mean 'type'?)" in err
    assert "bad.toml:5: job 'x': params.1a: not a valid param name" in err
