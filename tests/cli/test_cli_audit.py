"""Who did what, from the command line: `jobs show` / `jobs list --json` name a job's owner and `jobs list
--owner` filters by it; `jobs run` records who asked (`runs show`); `cronui audit` lists the changes, newest
first, secrets masked, as text and as JSON; bad limits are one line, exit 2; `[retention] audit_days`."""

from __future__ import annotations

import json
import re
import textwrap

import pytest

from cronui.application.caller import host_user
from cronui.config import ConfigError, load_settings
from cronui.secrets import MASK
from tests.helpers import cli

SECRET = "s3cr3t-deploy-key-do-not-print"


def test_owner_shown_and_filtered_and_the_run_says_who_asked(capsys, cli_db):
    me = f"cli:{host_user()}"
    assert cli(capsys, "jobs", "add", "hello", "--schedule", "@yearly", "--shell", "echo hi")[0] == 0
    code, out, _ = cli(capsys, "jobs", "show", "hello")
    assert f"  owner      {me}" in out.splitlines()
    [listed] = json.loads(cli(capsys, "jobs", "list", "--json")[1])
    assert listed["owner"] == me
    assert json.loads(cli(capsys, "jobs", "show", "hello", "--json")[1])["owner"] == me
    assert [j["name"] for j in json.loads(cli(capsys, "jobs", "list", "--owner", me, "--json")[1])] == ["hello"]
    assert json.loads(cli(capsys, "jobs", "list", "--owner", "api:someone", "--json")[1]) == []

    code, out, err = cli(capsys, "jobs", "run", "hello", "--json")  # nothing schedules: it runs here
    assert code == 0, err
    run = json.loads(out)
    assert (run["trigger"], run["requested_by"], run["triggered_by"]) == ("manual", me, None)
    code, out, _ = cli(capsys, "runs", "show", str(run["id"]))
    assert f"  requested by {me}" in out.splitlines()


def test_audit_lists_every_change_newest_first_with_secrets_masked(capsys, cli_db):
    me = f"cli:{host_user()}"
    add = ["jobs", "add", "deploy", "--schedule", "0 9 * * *", "--shell", "./deploy.sh", "--env", f"API_KEY={SECRET}"]
    assert cli(capsys, *add)[0] == 0
    assert cli(capsys, "jobs", "edit", "deploy", "--schedule", "0 10 * * *", "--env", "API_KEY=another-one-123")[0] == 0
    assert cli(capsys, "jobs", "disable", "deploy")[0] == 0
    assert cli(capsys, "jobs", "add", "other", "--schedule", "@daily", "--shell", "true")[0] == 0
    assert cli(capsys, "jobs", "token", "deploy")[0] == 0
    assert cli(capsys, "jobs", "rm", "deploy")[0] == 0

    code, out, err = cli(capsys, "audit", "--job", "deploy", "--json")
    assert code == 0, err
    rows = json.loads(out)
    assert [r["action"] for r in rows] == ["removed", "token_created", "disabled", "changed", "created"]
    for r in rows:
        assert set(r) == {"id", "at", "who", "job", "job_id", "action", "changes"}
        assert r["who"] == me and r["job"] == "deploy" and isinstance(r["job_id"], int)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", r["at"])
    assert rows[3]["changes"] == {"schedule": ["0 9 * * *", "0 10 * * *"], "env.API_KEY": [MASK, MASK]}
    assert rows[4]["changes"]["env.API_KEY"] == [None, MASK] and rows[4]["changes"]["shell"] == [None, "./deploy.sh"]
    assert rows[2]["changes"] == {"enabled": [True, False]}
    assert SECRET not in out and "another-one-123" not in out

    code, out, _ = cli(capsys, "audit")
    lines = out.splitlines()
    assert code == 0 and f"{me}  removed  deploy" in lines[0]
    assert any("created  other" in line for line in lines)
    assert '  schedule: "0 9 * * *" -> "0 10 * * *"; env.API_KEY: "••••••••" -> "••••••••"' in lines
    assert SECRET not in out
    assert len(json.loads(cli(capsys, "audit", "--limit", "2", "--json")[1])) == 2
    assert cli(capsys, "audit", "--job", "nothing-here")[1].strip() == "no changes recorded for nothing-here"


@pytest.mark.parametrize("limit", ["0", "1001", "lots"])
def test_a_bad_limit_is_one_line_exit_2(capsys, cli_db, limit):
    code, out, err = cli(capsys, "audit", "--limit", limit)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "limit: expected a positive integer" in err


def test_audit_days_is_read_from_the_config(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(textwrap.dedent("[retention]\naudit_days = 30\n"))
    assert load_settings(path).retention.audit_days == 30
    assert load_settings(env={}).retention.audit_days == 90
    path.write_text("[retention]\naudit_days = -1\n")
    with pytest.raises(ConfigError, match=r"retention\.audit_days"):
        load_settings(path)
