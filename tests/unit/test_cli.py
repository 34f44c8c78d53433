"""The CLI contract: names, JSON fields, exit codes, and one-line errors for bad input."""

from __future__ import annotations

import ast
import asyncio
import json
import os
import sqlite3
from pathlib import Path

import pytest

import cronui.cli
import cronui.main
from cronui.main import main
from tests.helpers import cli


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "cli.db"
    monkeypatch.setenv("CRONUI_DB", str(path))
    monkeypatch.setenv("CRONUI_TIMEZONE", "UTC")
    return path


def snapshot(path: Path) -> list:
    con = sqlite3.connect(path)
    try:
        return [
            con.execute("SELECT * FROM jobs ORDER BY id").fetchall(),
            con.execute("SELECT id, status FROM runs ORDER BY id").fetchall(),
        ]
    finally:
        con.close()


# ---------------------------------------------------------------- cronui next


def test_next_prints_instants_in_the_zone_then_the_reading(capsys):
    code, out, err = cli(
        capsys, "next", "0 9 * * 1-5", "--tz", "Europe/Berlin", "--from", "2026-11-20T12:00", "-n", "3"
    )
    assert code == 0 and err == ""
    assert out.splitlines() == [
        "2026-11-23T09:00:00+01:00",
        "2026-11-24T09:00:00+01:00",
        "2026-11-25T09:00:00+01:00",
        "At 09:00, Monday through Friday (Europe/Berlin)",
    ]


def test_next_json_is_only_the_array(capsys):
    code, out, _ = cli(
        capsys, "next", "*/15 * * * *", "--tz", "UTC", "--from", "2026-11-23T10:07:00Z", "-n", "2", "--json"
    )
    assert code == 0
    assert json.loads(out) == ["2026-11-23T10:15:00+00:00", "2026-11-23T10:30:00+00:00"]


def test_next_is_strictly_after_from(capsys):
    _, out, _ = cli(capsys, "next", "0 9 * * *", "--tz", "UTC", "--from", "2026-11-23T09:00:00Z", "-n", "1", "--json")
    assert json.loads(out) == ["2026-11-24T09:00:00+00:00"]


def test_next_from_with_an_offset_is_that_instant(capsys):
    _, out, _ = cli(
        capsys,
        "next",
        "0 9 * * *",
        "--tz",
        "America/New_York",
        "--from",
        "2026-03-08T13:59:00+00:00",
        "-n",
        "1",
        "--json",
    )
    assert json.loads(out) == ["2026-03-09T09:00:00-04:00"]


def test_next_defaults_to_the_configured_zone(capsys, monkeypatch):
    monkeypatch.setenv("CRONUI_TIMEZONE", "Asia/Kolkata")
    _, out, _ = cli(capsys, "next", "0 9 * * *", "--from", "2026-11-23T00:00:00", "-n", "1", "--json")
    assert json.loads(out) == ["2026-11-23T09:00:00+05:30"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["next", "0 61 * * *"], "hour field: 61 is out of range 0-23"),
        (["next", "61 * * * *"], "minute field: 61 is out of range 0-59"),
        (["next", "0 9 * * *", "--tz", "Mars/Olympus"], "unknown time zone"),
        (["next", "0 9 * * *", "-n", "zero"], "-n: expected a positive integer, got 'zero'"),
        (["next", "0 9 * * *", "-n", "0"], "-n: expected a positive integer"),
        (["next", "0 9 * * *", "--from", "yesterday"], "--from: 'yesterday' is not an ISO-8601 time"),
        (["next", "0 9 31 2 *"], "never"),
        (["next"], "the following arguments are required: EXPR"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
    ],
)
def test_next_bad_input_is_one_line_exit_2(capsys, argv, message):
    code, out, err = cli(capsys, *argv)
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert message in err
    assert "Traceback" not in err


def test_help_explains_the_syntax(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["next", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for needle in ("every 15m", "@daily", "at 2026", "seconds"):
        assert needle in out
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "cronui next" in capsys.readouterr().out


# ---------------------------------------------------------------- jobs


def test_job_lifecycle_json_contract(capsys, db):
    code, out, _ = cli(capsys, "jobs", "add", "hello", "--schedule", "*/5 * * * *", "--shell", "echo hi", "--json")
    assert code == 0
    job = json.loads(out)
    for key in ("id", "name", "schedule", "timezone", "kind", "enabled", "next_run_at", "last_status"):
        assert key in job
    assert (job["name"], job["schedule"], job["timezone"], job["kind"], job["enabled"]) == (
        "hello",
        "*/5 * * * *",
        "UTC",
        "shell",
        True,
    )
    assert job["next_run_at"].endswith("Z")

    code, out, _ = cli(capsys, "jobs", "run", "hello", "--wait", "--json")
    assert code == 0
    run = json.loads(out)
    for key in (
        "id",
        "job",
        "status",
        "trigger",
        "attempt",
        "scheduled_for",
        "started_at",
        "finished_at",
        "duration_ms",
        "exit_code",
        "error",
        "output",
        "milestones",
        "node",
    ):
        assert key in run
    assert (run["job"], run["status"], run["trigger"], run["attempt"], run["exit_code"]) == (
        "hello",
        "succeeded",
        "manual",
        1,
        0,
    )
    assert run["output"] == "hi\n"
    assert [m["name"] for m in run["milestones"]] == ["process-started", "process-exited"]
    assert set(run["milestones"][0]) == {"name", "at", "data"}

    code, out, _ = cli(capsys, "runs", "list", "--job", "hello", "--json")
    assert [r["id"] for r in json.loads(out)] == [run["id"]]
    code, out, _ = cli(capsys, "runs", "show", str(run["id"]), "--json")
    assert json.loads(out)["output"] == "hi\n"
    code, out, _ = cli(capsys, "jobs", "list", "--json")
    listed = json.loads(out)
    assert [j["name"] for j in listed] == ["hello"] and listed[0]["last_status"] == "succeeded"

    assert cli(capsys, "jobs", "disable", "hello")[0] == 0
    assert json.loads(cli(capsys, "jobs", "show", "hello", "--json")[1])["enabled"] is False
    assert cli(capsys, "jobs", "enable", "hello")[0] == 0
    code, out, _ = cli(capsys, "jobs", "edit", "hello", "--schedule", "@daily", "--retries", "2", "--json")
    assert json.loads(out)["schedule"] == "@daily"
    assert cli(capsys, "jobs", "rm", "hello")[0] == 0
    assert json.loads(cli(capsys, "jobs", "list", "--json")[1]) == []


def test_run_wait_exits_1_when_the_job_fails(capsys, db):
    cli(capsys, "jobs", "add", "bad", "--schedule", "@daily", "--shell", "exit 4")
    code, out, _ = cli(capsys, "jobs", "run", "bad", "--wait", "--json")
    assert code == 1
    assert json.loads(out)["exit_code"] == 4


def test_edit_clears_an_option_with_an_empty_value(capsys, db):
    cli(capsys, "jobs", "add", "t", "--schedule", "@daily", "--shell", "true", "--tag", "ops", "--tag", "db")
    assert json.loads(cli(capsys, "jobs", "show", "t", "--json")[1])["tags"] == ["ops", "db"]
    cli(capsys, "jobs", "edit", "t", "--tag", "")
    assert json.loads(cli(capsys, "jobs", "show", "t", "--json")[1])["tags"] == []


BAD_JOB_INPUT = [
    (["jobs", "add", "x", "--schedule", "61 * * * *", "--shell", "true"], "minute field: 61 is out of range 0-59"),
    (["jobs", "add", "x", "--schedule", "@daily", "--tz", "Nowhere/City", "--shell", "true"], "unknown time zone"),
    (["jobs", "add", "x", "--schedule", "@daily", "--tz", "+02:00", "--shell", "true"], "fixed offset"),
    (["jobs", "add", "existing", "--schedule", "@daily", "--shell", "true"], "a job named 'existing' already exists"),
    (["jobs", "add", "bad name", "--schedule", "@daily", "--shell", "true"], "not a valid job name"),
    (["jobs", "add", "x", "--schedule", "@daily"], "--shell"),
    (
        ["jobs", "add", "x", "--schedule", "@daily", "--shell", "true", "--retries", "many"],
        "--retries: expected a whole number",
    ),
    (
        ["jobs", "add", "x", "--schedule", "@daily", "--shell", "true", "--timeout", "soon"],
        "--timeout: expected a duration",
    ),
    (
        ["jobs", "add", "x", "--schedule", "@daily", "--shell", "true", "--overlap", "sometimes"],
        "invalid choice: 'sometimes'",
    ),
    (["jobs", "add", "x", "--schedule", "@daily", "--shell", "true", "--on-success", "ghost"], "no job named 'ghost'"),
    (["jobs", "add", "x", "--schedule", "@daily", "--shell", "true", "--env", "NOEQUALS"], "--env: expected KEY=VALUE"),
    (["jobs", "add", "x", "--schedule", "@daily", "--shell", "true", "--pool", "gpu"], "unknown pool 'gpu'"),
    (["jobs", "add", "x", "--schedule", "@reboot", "--shell", "true"], "@reboot"),
    (["jobs", "add", "x", "--schedule", "at 2020-01-01T09:00", "--shell", "true"], "is in the past"),
    (["jobs", "show", "ghost"], "no job named 'ghost'"),
    (["jobs", "edit", "ghost", "--schedule", "@daily"], "no job named 'ghost'"),
    (["jobs", "edit", "existing", "--schedule", "0 0 30 2 *"], "never"),
    (["jobs", "rm", "ghost"], "no job named 'ghost'"),
    (["jobs", "run", "ghost"], "no job named 'ghost'"),
    (["jobs", "enable", "ghost"], "no job named 'ghost'"),
    (["runs", "show", "999"], "no run #999"),
    (["runs", "show", "abc"], "RUN_ID: expected a whole number"),
    (["runs", "cancel", "999"], "no run #999"),
    (["runs", "list", "--status", "exploded"], "--status: expected one of"),
    (["runs", "list", "--since", "a while"], "--since: expected a duration"),
    (["jobs", "frobnicate"], "invalid choice"),
]


@pytest.mark.parametrize(("argv", "message"), BAD_JOB_INPUT)
def test_bad_input_changes_nothing(capsys, db, argv, message):
    assert cli(capsys, "jobs", "add", "existing", "--schedule", "@daily", "--shell", "true")[0] == 0
    before = snapshot(db)
    code, out, err = cli(capsys, *argv)
    assert code == 2, (out, err)
    assert len(err.strip().splitlines()) == 1, err
    assert message in err
    assert "Traceback" not in err
    assert snapshot(db) == before


def test_bad_config_names_file_key_and_reason(capsys, tmp_path, monkeypatch):
    cfg = tmp_path / "config.toml"
    cfg.write_text('max_concurrent = "lots"\n')
    code, _, err = cli(capsys, "--config", str(cfg), "locate", "db")
    assert code == 2 and f"{cfg}: max_concurrent: expected a whole number, got 'lots'" in err
    cfg.write_text("colour = 'blue'\n")
    code, _, err = cli(capsys, "--config", str(cfg), "locate", "db")
    assert code == 2 and f"{cfg}: colour: unknown key" in err
    cfg.write_text("[retention\n")
    code, _, err = cli(capsys, "--config", str(cfg), "locate", "db")
    assert code == 2 and "invalid TOML" in err and len(err.strip().splitlines()) == 1
    monkeypatch.setenv("CRONUI_MAX_CONCURRENT", "-3")
    code, _, err = cli(capsys, "locate", "db")
    assert code == 2 and "environment CRONUI_MAX_CONCURRENT: max_concurrent" in err
    code, _, err = cli(capsys, "--config", str(tmp_path / "missing.toml"), "locate", "db")
    assert code == 2 and "config file not found" in err


def test_locate_prints_paths_in_use(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("CRONUI_DB", str(tmp_path / "x.db"))
    assert cli(capsys, "locate", "db")[1].strip() == str(tmp_path / "x.db")
    assert cli(capsys, "--db", str(tmp_path / "y.db"), "locate", "db")[1].strip() == str(tmp_path / "y.db")
    assert cli(capsys, "locate", "config")[1].strip().endswith("cronui/config.toml")
    assert cli(capsys, "locate", "themes")[1].strip().endswith("cronui/themes")


def test_status_exits_1_when_nothing_schedules(capsys, db):
    code, out, _ = cli(capsys, "status", "--json")
    assert code == 1
    data = json.loads(out)
    assert data["scheduler"] is None and data["paused"] is False


def test_pause_and_resume_show_in_status(capsys, db):
    cli(capsys, "jobs", "add", "p", "--schedule", "@daily", "--shell", "true")
    cli(capsys, "pause")
    assert json.loads(cli(capsys, "status", "--json")[1])["paused"] is True
    code, _, err = cli(capsys, "jobs", "run", "p", "--wait")
    assert code == 2 and "is paused" in err and "nothing was queued" in err
    code, out, err = cli(capsys, "jobs", "run", "p", "--json")
    assert code == 0 and json.loads(out)["status"] == "pending" and "starts on `cronui resume`" in err
    cli(capsys, "resume")
    assert json.loads(cli(capsys, "status", "--json")[1])["paused"] is False


def test_db_check_backup_prune(capsys, db, tmp_path):
    cli(capsys, "jobs", "add", "a", "--schedule", "@daily", "--shell", "true")
    assert cli(capsys, "db", "check")[1].strip() == "ok"
    assert cli(capsys, "db", "backup", str(tmp_path / "b.db"))[0] == 0
    assert (tmp_path / "b.db").exists()
    code, _, err = cli(capsys, "db", "backup", str(tmp_path / "b.db"))
    assert code == 2 and "already exists" in err
    assert cli(capsys, "db", "prune")[1].startswith("pruned 0 runs")


async def test_agent_job_from_the_cli_with_delivery(capsys, db, monkeypatch):
    from tests.engine.servers import ChatServer, Sink

    llm, sink = ChatServer(), Sink()
    await llm.start()
    await sink.start()
    try:
        monkeypatch.setenv("HOOK", f"{sink.url}/ok")
        code, out, err = await asyncio.to_thread(
            cli,
            capsys,
            "jobs",
            "add",
            "digest",
            "--schedule",
            "0 9 * * 1-5",
            "--agent",
            f"{llm.url}/v1",
            "--model",
            "echo",
            "--message",
            "What changed in {job}?",
            "--max-tokens",
            "200",
            "--deliver-to",
            "${env:HOOK}",
            "--deliver-format",
            "slack",
            "--json",
        )
        assert code == 0, err
        job = json.loads(out)
        assert job["kind"] == "agent" and job["target"]["max_tokens"] == 200
        code, out, err = await asyncio.to_thread(cli, capsys, "jobs", "run", "digest", "--wait", "--json")
        assert code == 0, err
        run = json.loads(out)
        assert run["output"] == "Hello! You said: What changed in digest?"
        assert run["tokens"] == {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17}
        assert run["delivery_status"] == "delivered" and run["cost_usd"] is None and run["tool_calls"] == []
        assert sink.requests[0].json()["text"].startswith("✅ digest")
        code, out, _ = await asyncio.to_thread(cli, capsys, "jobs", "show", "digest", "--json")
        stats = json.loads(out)["stats"]
        assert stats["all"]["runs"] == 1 and stats["last_7d"]["success_rate"] == 1.0
        assert stats["all"]["total_tokens"] == 17
        # as README promises, in text: the reply, its tokens and cost, and where it was delivered
        code, out, err = await asyncio.to_thread(cli, capsys, "jobs", "run", "digest", "--wait")
        assert code == 0, err
        lines = out.splitlines()
        assert lines[0].startswith("#2 ") and "succeeded" in lines[0]
        assert lines[1:] == [
            "Hello! You said: What changed in digest?",
            "  tokens in 12 · out 5 · total 17 · cost unknown",
            "  delivery delivered",
        ]
    finally:
        await llm.stop()
        await sink.stop()


async def test_http_job_from_the_cli(capsys, db):
    from tests.engine.servers import Sink

    sink = Sink()
    await sink.start()
    try:
        code, _, err = await asyncio.to_thread(
            cli,
            capsys,
            "jobs",
            "add",
            "health",
            "--schedule",
            "*/5 * * * *",
            "--http",
            f"{sink.url}/status/503",
            "--header",
            "X-A: 1",
            "--expect-status",
            "200",
        )
        assert code == 0, err
        code, out, _ = await asyncio.to_thread(cli, capsys, "jobs", "run", "health", "--wait", "--json")
        run = json.loads(out)
        assert code == 1 and run["http_status"] == 503 and run["error"] == "HTTP 503 Service Unavailable"
        assert sink.requests[0].headers["x-a"] == "1"
    finally:
        await sink.stop()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--shell", "true", "--http", "http://x"], "exactly one of --shell CMD, --http URL, --agent URL"),
        (["--http", "ftp://x"], "http: expected an http:// or https:// URL"),
        (["--http", "http://x", "--method", "FETCH"], "method: expected one of"),
        (["--http", "http://x", "--header", "nocolon"], "--header: expected 'Name: value'"),
        (["--http", "http://x", "--body", "@/dev/zero"], "--body: /dev/zero is not a regular file"),
        (["--agent", "http://x/v1", "--message", "hi"], "model: say which model"),
        (["--agent", "http://x/v1", "--model", "m", "--message", "hi", "--api-key-env", "sk-123"], "api-key-env"),
        (["--shell", "true", "--model", "m"], "only for --agent jobs"),
        (["--shell", "true", "--deliver-to", "nope"], "deliver-to: expected an http"),
        (["--shell", "true", "--deliver", "always"], "deliver-to: delivery is on but there is no target URL"),
    ],
)
def test_agent_http_bad_input(capsys, db, argv, message):
    code, _, err = cli(capsys, "jobs", "add", "x", "--schedule", "@daily", *argv)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err


def test_a_body_file_over_the_cap_is_refused_and_nothing_saved(capsys, db, tmp_path):
    big = tmp_path / "big.json"
    big.write_bytes(b"[" + b" " * (1024 * 1024) + b"]")
    assert cli(capsys, "jobs", "add", "existing", "--schedule", "@daily", "--shell", "true")[0] == 0
    before = snapshot(db)
    code, _, err = cli(capsys, "jobs", "add", "x", "--schedule", "@daily", "--http", "http://x", "--body", f"@{big}")
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "a request body is at most 1 MiB" in err and snapshot(db) == before


# ---------------------------------------------------------------- the package's layering


def _cli_imports(path: Path) -> set[str]:
    """The cronui.cli modules a file imports (`from cronui.cli import jobs` counts as cronui.cli.jobs)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return {name for name in found if name.startswith("cronui.cli.")}


def test_command_modules_import_common_never_each_other():
    root = Path(cronui.cli.__file__).parent
    helpers = {"common", "job_options"}
    helpers |= {"calendar_options", "fires", "pauses"}  # options, renderers and handlers the commands share
    helpers |= {"retry_options", "backfill"}  # options of jobs add/edit; `jobs backfill`, a subcommand of jobs
    modules = {p.stem: p for p in root.glob("*.py")}
    commands = set(modules) - helpers - {"__init__"}
    assert {"jobs", "runs", "files", "system"} <= commands
    for name in commands | helpers:
        imported = {m.removeprefix("cronui.cli.") for m in _cli_imports(modules[name])}
        assert not imported & commands, f"cronui.cli.{name} imports {sorted(imported & commands)}"
    assert not _cli_imports(modules["common"]), "common is the bottom layer"
    # the program's entry, above the faces, registers every command module
    assert {f"cronui.cli.{c}" for c in commands} <= _cli_imports(Path(cronui.main.__file__))


def test_the_cli_works_against_postgresql(capsys, monkeypatch, tmp_path):
    """`CRONUI_DB=postgresql://...` (or --db): the same commands against a server (a schema of the test's own)."""
    from tests.store.backends import drop_schema, postgres_url

    url = asyncio.run(postgres_url())
    monkeypatch.setenv("CRONUI_DB", url)
    monkeypatch.setenv("CRONUI_TIMEZONE", "UTC")
    try:
        code, out, _ = cli(capsys, "jobs", "add", "hello", "--schedule", "*/5 * * * *", "--shell", "echo hi", "--json")
        assert code == 0 and json.loads(out)["name"] == "hello"
        code, _, err = cli(capsys, "jobs", "add", "hello", "--schedule", "@daily", "--shell", "true")
        assert code == 2 and "a job named 'hello' already exists" in err
        code, out, _ = cli(capsys, "jobs", "list", "--json")
        assert [j["name"] for j in json.loads(out)] == ["hello"]
        # no node schedules: a CLI never runs a cluster's jobs itself (tests/e2e/test_cluster.py runs nodes)
        code, _, err = cli(capsys, "jobs", "run", "hello", "--wait")
        assert code == 2 and "no node schedules this database" in err
        code, out, _ = cli(capsys, "jobs", "run", "hello", "--json")  # queued for when a node runs
        assert code == 0
        code, out, _ = cli(capsys, "--db", url, "runs", "list", "--json")
        assert [r["status"] for r in json.loads(out)] == ["pending"]
        assert cli(capsys, "db", "check")[1] == "ok\n"
        code, _, err = cli(capsys, "db", "backup", str(tmp_path / "copy.sql"))
        assert code == 2 and "pg_dump" in err and not (tmp_path / "copy.sql").exists()
    finally:
        asyncio.run(drop_schema(url))


def test_an_unreachable_postgresql_server_is_a_one_line_error(capsys, monkeypatch):
    monkeypatch.setenv("CRONUI_DB", "postgresql://someone:secret@127.0.0.1:1/cronui")
    code, _, err = cli(capsys, "jobs", "list")
    assert code == 2
    assert err.startswith("cronui: postgresql://someone:***@127.0.0.1:1/cronui: cannot connect to PostgreSQL: ")
    assert err.count("\n") == 1 and "secret" not in err


def test_nodes_shows_a_node_of_this_host_whose_process_is_gone_as_gone(capsys, cli_db):
    """A scheduler killed before it could say goodbye leaves its heartbeat row; on this host its pid tells."""
    import socket

    from cronui.model.records import Node
    from cronui.store.sqlite import SQLiteStore

    async def beat() -> None:
        store = SQLiteStore(cli_db)
        await store.open()
        now = int(__import__("time").time() * 1000)
        here = socket.gethostname()
        dead = 2**22 + 12345  # above the default pid_max: no such process
        await store.heartbeat(Node(f"{here}:{dead}:x", here, dead, now, now, now + 60_000, 0))
        await store.heartbeat(Node(f"{here}:{os.getpid()}:y", here, os.getpid(), now, now, now + 60_000, 1))
        await store.close()

    asyncio.run(beat())
    code, out, _ = cli(capsys, "nodes", "--json")
    assert code == 0
    assert {n["pid"]: n["alive"] for n in json.loads(out)} == {2**22 + 12345: False, os.getpid(): True}
