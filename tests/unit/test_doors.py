"""Every door a job or a setting comes in by refuses a bad number, name, URL or header with one line
naming the field: the job rules (which the TUI editor and the engine's control use), the CLI options,
job files (TOML and JSON) and the config (file and CRONUI_* variables). A job stored with a bad value
before these checks existed is shown, not crashed on."""

from __future__ import annotations

import io
import json
import math
import sqlite3
from pathlib import Path

import pytest

from cronui.application.shapes import json_text
from cronui.cli.common import EXIT_BROKEN_PIPE, Neutralised, guarded
from cronui.config import ConfigError, load_settings
from cronui.jobs import JobError, number_errors, validate
from cronui.model import EventKind, Job, RunEvent
from cronui.present import event_text
from cronui.targets import AgentTarget, Delivery, HttpTarget, TargetKind
from tests.helpers import cli, make_job, ms

NOW = ms("2026-03-02T08:59:30Z")


def empty_config(tmp_path: Path) -> Path:
    path = tmp_path / "none.toml"
    path.write_text("")
    return path


def short_id(value: object) -> str:
    text = str(value)
    return text if len(text) <= 40 else f"{text[:20]}...({len(text)} chars)"


def http_job(url: str = "https://api.example.com/x", **target: object) -> Job:
    return Job("h", "@daily", "UTC", TargetKind.HTTP, HttpTarget(url=url, **target))  # type: ignore[arg-type]


def agent_job(**target: object) -> Job:
    values: dict = {"base_url": "http://127.0.0.1:11434/v1", "model": "m", "message": "hi", **target}
    return Job("a", "@daily", "UTC", TargetKind.AGENT, AgentTarget(**values))


# ---------------------------------------------------------------- the job rules (TUI editor, control, every door)


@pytest.mark.parametrize(
    ("job", "message"),
    [
        (make_job("j\n"), "name: 'j\\n' is not a valid job name"),
        (make_job(" j"), "name: ' j' is not a valid job name"),
        (make_job("j\x1b[2J"), "is not a valid job name"),
        (make_job("j", tags=["ok", "x\x1b"]), "tag: 'x\\x1b' must be a non-empty word"),
        (make_job("j", pool="gpu\n"), "pool: 'gpu\\n' must be a non-empty word"),
        (make_job("j", on_success=["k\n"]), "on-success: 'k\\n' is not a job name"),
        (make_job("j", timeout_s=math.inf), "timeout: expected at most 366d, got inf"),
        (make_job("j", timeout_s=math.nan), "timeout: expected a finite duration, got nan"),
        (make_job("j", timeout_s=0), "timeout: must be more than 0 seconds"),
        (make_job("j", misfire_grace_s=1e306), "misfire-grace: expected at most 366d, got 1e+306s"),
        (make_job("j", retry_delay_s=367 * 86400), "retry-delay: expected at most 366d, got 367d"),
        (make_job("j", max_retries=101), "retries: expected 0 to 100, got 101"),
        (make_job("j", queue_limit=0), "queue-limit: expected 1 to 10000, got 0"),
        (make_job("j", queue_limit=10**30), "queue-limit: expected 1 to 10000, got"),
        (http_job("http://"), "http: 'http://' has no host"),
        (http_job("https://:443/x"), "http: 'https://:443/x' has no host"),
        (http_job("ftp://example.com"), "http: expected an http:// or https:// URL"),
        (http_job("https://exa mple.com/"), "without spaces or control characters"),
        (http_job("https://example.com:99999/"), "has an invalid port"),
        (http_job(headers={"X-A": "b\r\nEvil: 1"}), "header: X-A: the value must be text without line breaks"),
        (http_job(headers={"X-A\n": "b"}), "header: 'X-A\\n' is not a valid header name"),
        (http_job(headers={"Bad Name": "b"}), "header: 'Bad Name' is not a valid header name"),
        (http_job(expect_status=600), "expect-status: expected an HTTP status code 100-599"),
        (agent_job(temperature=math.nan), "temperature: expected a finite number, got nan"),
        (agent_job(temperature=math.inf), "temperature: expected a finite number, got inf"),
        (agent_job(temperature=2.5), "temperature: expected a number from 0 to 2, got 2.5"),
        (agent_job(max_tokens=0), "max-tokens: expected 1 to 10000000, got 0"),
        (agent_job(idle_timeout_s=0.0), "idle-timeout: must be more than 0 seconds"),
        (agent_job(keep_turns=10_001), "keep-turns: expected 1 to 10000, got 10001"),
        (agent_job(headers={"Authorization": "Bearer x\n"}), "agent-headers: Authorization: the value must be"),
        (agent_job(extra={"top_p": math.nan}), "extra: holds a value a JSON request cannot carry"),
        (agent_job(model="gpt \n"), "model: 'gpt \\n' must not start or end with spaces"),
        (agent_job(base_url="http:///v1"), "agent: 'http:///v1' has no host"),
        (make_job("j", delivery=Delivery(mode="always", to="https://")), "deliver-to: 'https://' has no host"),
        (
            make_job("j", delivery=Delivery(mode="always", to="https://h.example", alert_cooldown_s=math.inf)),
            "alert-cooldown: expected at most 366d, got inf",
        ),
        (make_job("j", delivery=Delivery(mode="always", to="https://h.example", alert_after=0)), "alert-after:"),
    ],
)
def test_validate_refuses_each_bad_value_naming_its_field(job, message):
    with pytest.raises(JobError) as info:
        validate(job, NOW)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "job",
    [
        http_job("https://api.example.com:8443/v1/items?x=1"),
        http_job("http://[::1]:8080/"),
        http_job("${env:HOOK_URL}"),
        http_job("https://${env:HOST}/path"),
        http_job(headers={"Authorization": "Bearer ${env:TOKEN}", "X-Tab": "a\tb"}),
        agent_job(temperature=0, max_tokens=4096, idle_timeout_s=0.5, keep_turns=10, extra={"top_p": 0.9}),
        make_job("j", timeout_s=366 * 86400, retry_delay_s=0, misfire_grace_s=0, max_retries=100),
    ],
)
def test_validate_accepts_what_a_user_would_write(job):
    validate(job, NOW)


def test_number_errors_lists_every_bad_number_of_a_stored_job():
    job = agent_job(temperature=math.nan)
    job.misfire_grace_s = math.inf
    job.max_retries = 1000
    assert [str(e) for e in number_errors(job)] == [
        "retries: expected 0 to 100, got 1000",
        "misfire-grace: expected at most 366d, got inf",
        "temperature: expected a finite number, got nan",
    ]


# ---------------------------------------------------------------- the config: file and environment


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[lease]\nttl = inf\n", "lease.ttl: expected a finite number, got inf"),
        ("[lease]\nrenew = nan\n", "lease.renew: expected a finite number, got nan"),
        ("[lease]\nttl = 0.5\n", "lease.ttl: expected a number from 1 to 86400, got 0.5"),
        ("[retention]\ndays = inf\n", "retention.days: expected a finite number, got inf"),
        ("[retention]\nevent_hours = nan\n", "retention.event_hours: expected a finite number, got nan"),
        ("[retention]\nruns_per_job = 0\n", "retention.runs_per_job: expected 1 to 100000000, got 0"),
        ("misfire_grace = 1e306\n", "misfire_grace: expected at most 366d, got 1e+306s"),
        ("default_timeout = inf\n", "default_timeout: expected at most 366d, got inf"),
        ("default_timeout = 0\n", "default_timeout: must be more than 0 seconds"),
        ("kill_grace = nan\n", "kill_grace: expected a finite duration, got nan"),
        ("max_concurrent = 100000\n", "max_concurrent: expected 1 to 10000, got 100000"),
        ("[pools]\ngpu = 99999999999999999999\n", "pools.gpu: expected 1 to 10000, got"),
        ("[prices.m]\ninput = nan\noutput = 1\n", "prices.m: expected a finite number, got nan"),
        ("output_cap = 0\n", "output_cap: expected 1 to"),
        (f"max_concurrent = {'9' * 5000}\n", "invalid TOML: a number is too long to read"),
    ],
    ids=short_id,
)
def test_the_config_file_refuses_non_finite_and_out_of_bounds_numbers(tmp_path, toml, message):
    cfg = tmp_path / "config.toml"
    cfg.write_text(toml)
    with pytest.raises(ConfigError) as info:
        load_settings(cfg, env={})
    assert str(info.value).startswith(str(cfg)) and message in str(info.value)


@pytest.mark.parametrize(
    ("var", "value", "message"),
    [
        ("CRONUI_LEASE_TTL", "inf", "environment CRONUI_LEASE_TTL: lease.ttl: expected a finite number, got inf"),
        ("CRONUI_LEASE_RENEW", "nan", "environment CRONUI_LEASE_RENEW: lease.renew: expected a finite number"),
        ("CRONUI_RETENTION_DAYS", "1e400", "environment CRONUI_RETENTION_DAYS: retention.days: expected a finite"),
        ("CRONUI_MISFIRE_GRACE", "nan", "environment CRONUI_MISFIRE_GRACE: misfire_grace: expected a finite duration"),
        ("CRONUI_DEFAULT_TIMEOUT", "9" * 400, "default_timeout: expected at most 366d, got inf"),
        ("CRONUI_KILL_GRACE", "soon", "kill_grace: expected a number, got 'soon'"),
        ("CRONUI_MAX_CONCURRENT", "9" * 5000, "max_concurrent: expected 1 to 10000, got '9999"),
    ],
    ids=short_id,
)
def test_config_variables_refuse_non_finite_and_out_of_bounds_numbers(tmp_path, var, value, message):
    with pytest.raises(ConfigError) as info:
        load_settings(empty_config(tmp_path), env={"CRONUI_TIMEZONE": "UTC", var: value})
    assert message in str(info.value)


def test_the_lease_renewal_must_stay_shorter_than_its_ttl(tmp_path):
    cfg = empty_config(tmp_path)
    with pytest.raises(ConfigError, match=r"lease.renew \(3s\) must be shorter than lease.ttl \(3s\)"):
        load_settings(cfg, env={"CRONUI_TIMEZONE": "UTC", "CRONUI_LEASE_TTL": "3", "CRONUI_LEASE_RENEW": "3"})
    s = load_settings(cfg, env={"CRONUI_TIMEZONE": "UTC", "CRONUI_LEASE_TTL": "3", "CRONUI_LEASE_RENEW": "1"})
    assert (s.lease.ttl, s.lease.renew) == (3.0, 1.0)


# ---------------------------------------------------------------- the CLI: options, job files, stored jobs


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "cli.db"
    monkeypatch.setenv("CRONUI_DB", str(path))
    monkeypatch.setenv("CRONUI_TIMEZONE", "UTC")
    monkeypatch.chdir(tmp_path)
    return path


def snapshot(path: Path) -> list:
    con = sqlite3.connect(path)
    try:
        return [con.execute(f"SELECT * FROM {t} ORDER BY id").fetchall() for t in ("jobs", "runs", "run_events")]
    finally:
        con.close()


def sql(path: Path, statement: str, params: tuple = ()) -> None:
    con = sqlite3.connect(path)
    try:
        con.execute(statement, params)
        con.commit()
    finally:
        con.close()


ADD = ["jobs", "add", "n", "--schedule", "@daily"]
AGENT = [*ADD, "--agent", "http://127.0.0.1:11434/v1", "--model", "m", "--message", "hi"]
BAD_OPTIONS = [
    ([*ADD, "--shell", "true", "--misfire-grace", "9" * 400], "--misfire-grace: expected at most 366d"),
    ([*ADD, "--shell", "true", "--timeout", "400d"], "--timeout: expected at most 366d, got '400d'"),
    ([*ADD, "--shell", "true", "--timeout", "0"], "--timeout: must be more than 0 seconds"),
    ([*ADD, "--shell", "true", "--retry-delay", "1e306"], "--retry-delay: expected a duration like"),
    ([*ADD, "--shell", "true", "--retries", "9" * 5000], "--retries: expected 0 to 100"),
    ([*ADD, "--shell", "true", "--queue-limit", "0"], "--queue-limit: expected 1 to 10000, got 0"),
    ([*ADD, "--shell", "true", "--alert-cooldown", "inf"], "--alert-cooldown: expected a duration like"),
    (["jobs", "add", "n\n", "--schedule", "@daily", "--shell", "true"], "name: 'n\\n' is not a valid job name"),
    (["jobs", "add", "n ", "--schedule", "@daily", "--shell", "true"], "name: 'n ' is not a valid job name"),
    ([*ADD, "--shell", "true", "--tag", "a\x1bb"], "tag: 'a\\x1bb' must be a non-empty word"),
    ([*ADD, "--http", "http://"], "http: 'http://' has no host"),
    ([*ADD, "--http", "https://example.com/a b"], "http: expected an http:// or https:// URL"),
    ([*ADD, "--http", "https://e.com", "--header", "X-A: b\r\nEvil: 1"], "header: X-A: the value must be text"),
    ([*ADD, "--http", "https://e.com", "--header", "X-A: b\n"], "header: X-A: the value must be text"),
    ([*ADD, "--shell", "true", "--deliver-to", "https://"], "deliver-to: 'https://' has no host"),
    ([*AGENT, "--temperature", "nan"], "--temperature: expected a finite number, got nan"),
    ([*AGENT, "--temperature", "inf"], "--temperature: expected a finite number, got inf"),
    ([*AGENT, "--temperature", "7"], "--temperature: expected a number from 0 to 2, got 7"),
    ([*AGENT, "--max-tokens", "0"], "--max-tokens: expected 1 to 10000000, got 0"),
    ([*AGENT, "--idle-timeout", "0s"], "--idle-timeout: must be more than 0 seconds"),
    (["runs", "list", "--since", "9" * 400], "--since: expected at most"),
    (["runs", "list", "--limit", "9" * 5000], "--limit: expected 1 to 100000"),
    (["jobs", "edit", "existing", "--misfire-grace", "9" * 400], "--misfire-grace: expected at most 366d"),
    (["jobs", "edit", "existing", "--name", "x\n"], "name: 'x\\n' is not a valid job name"),
]


@pytest.mark.parametrize(("argv", "message"), BAD_OPTIONS, ids=short_id)
def test_a_bad_option_is_one_line_exit_2_and_changes_nothing(capsys, db, argv, message):
    assert cli(capsys, "jobs", "add", "existing", "--schedule", "@daily", "--shell", "true")[0] == 0
    before = snapshot(db)
    code, out, err = cli(capsys, *argv)
    assert (code, out) == (2, ""), err
    assert len(err.strip().splitlines()) == 1, err
    assert message in err and "Traceback" not in err
    assert snapshot(db) == before


def test_a_nan_default_from_the_config_is_refused_as_such(capsys, db, monkeypatch):
    monkeypatch.setenv("CRONUI_MISFIRE_GRACE", "nan")
    code, _, err = cli(capsys, *ADD, "--shell", "true")
    assert code == 2
    assert err == "cronui: environment CRONUI_MISFIRE_GRACE: misfire_grace: expected a finite duration, got nan\n"


JOB_HEAD = '[[job]]\nname = "f"\nschedule = "@daily"\n'
BAD_FILES = [
    ("f.toml", JOB_HEAD + 'shell = "true"\ntimeout = 1e306\n', "f.toml:5: job 'f': timeout: expected at most 366d"),
    ("f.toml", JOB_HEAD + 'shell = "true"\nmisfire_grace = inf\n', "misfire_grace: expected at most 366d, got inf"),
    ("f.toml", JOB_HEAD + 'shell = "true"\nretry_delay = nan\n', "retry_delay: expected a finite duration, got nan"),
    (
        "f.toml",
        JOB_HEAD + 'shell = "true"\ndeliver_to = "https://h.example"\nalert_cooldown = "999d"\n',
        "alert_cooldown: expected at most 366d, got '999d'",
    ),
    ("f.toml", JOB_HEAD + 'shell = "true"\nretries = 1000\n', "retries: expected 0 to 100, got 1000"),
    ("f.toml", JOB_HEAD + f'shell = "true"\nretries = {"9" * 5000}\n', "f.toml: invalid TOML: a number is too long"),
    ("f.toml", '[[job]]\nname = "f\\n"\nschedule = "@daily"\nshell = "true"\n', "name: 'f\\n' is not a valid job"),
    ("f.toml", JOB_HEAD + 'http = { url = "http://" }\n', "http.url: 'http://' has no host"),
    (
        "f.toml",
        JOB_HEAD + 'http = { url = "https://e.com", headers = { X-A = "b\\r\\nEvil: 1" } }\n',
        "http.headers: X-A: the value must be text without line breaks",
    ),
    (
        "f.toml",
        JOB_HEAD + 'agent = { base_url = "http://h/v1", model = "m", message = "x", temperature = nan }\n',
        "agent.temperature: expected a finite number, got nan",
    ),
    (
        "f.toml",
        JOB_HEAD + 'agent = { base_url = "http://h/v1", model = "m", message = "x", temperature = 3 }\n',
        "agent.temperature: expected a number from 0 to 2, got 3",
    ),
    (
        "f.toml",
        JOB_HEAD + 'agent = { base_url = "http://h/v1", model = "m", message = "x", extra = { p = inf } }\n',
        "agent.extra: holds a date, time, nan or inf",
    ),
    (
        "f.json",
        '{"job": [{"name": "f", "schedule": "@daily", "shell": "true", "timeout": Infinity}]}',
        "timeout: expected at most 366d, got inf",
    ),
    (
        "f.json",
        '{"job": [{"name": "f", "schedule": "@daily", "shell": "true", "misfire_grace": NaN}]}',
        "misfire_grace: expected a finite duration, got nan",
    ),
    (
        "f.json",
        '{"job": [{"name": "f", "schedule": "@daily", "shell": "true", "retries": ' + "9" * 5000 + "}]}",
        "f.json: invalid JSON: a number is too long to read",
    ),
]


@pytest.mark.parametrize(("name", "text", "message"), BAD_FILES, ids=short_id)
def test_a_bad_job_file_value_is_one_line_exit_2_and_changes_nothing(capsys, db, name, text, message):
    assert cli(capsys, "jobs", "add", "existing", "--schedule", "@daily", "--shell", "true")[0] == 0
    before = snapshot(db)
    Path(name).write_text(text)
    code, out, err = cli(capsys, "apply", name)
    assert (code, out) == (2, ""), err
    assert len(err.strip().splitlines()) == 1, err
    assert message in err and "Traceback" not in err
    assert snapshot(db) == before


def test_a_job_stored_with_bad_numbers_is_shown_and_not_exported(capsys, db):
    assert cli(capsys, "jobs", "add", "j", "--schedule", "@daily", "--shell", "true")[0] == 0
    target = json.dumps({"base_url": "http://h/v1", "model": "m", "message": "x", "temperature": math.nan})
    sql(db, "UPDATE jobs SET misfire_grace_s = 1e306, timeout_s = 9e999 WHERE name = 'j'")  # 9e999: SQLite's Inf
    assert cli(capsys, "jobs", "add", "a", "--schedule", "@daily", "--shell", "true")[0] == 0
    sql(db, "UPDATE jobs SET kind = 'agent', target = ? WHERE name = 'a'", (target,))

    code, out, err = cli(capsys, "jobs", "list")
    assert code == 0 and [line.split()[0] for line in out.splitlines()] == ["NAME", "a", "j"]

    code, out, err = cli(capsys, "jobs", "show", "j")
    assert code == 0 and "Traceback" not in err
    assert "policies" in out and "timeout infs" in out
    assert "cronui: warning: job 'j': timeout: expected at most 366d, got inf (a stored value;" in err
    assert "`cronui jobs edit j --misfire-grace ...`" in err

    code, out, _ = cli(capsys, "jobs", "show", "a", "--json")
    data = json.loads(out, parse_constant=lambda c: pytest.fail(f"{c} is not JSON"))
    assert code == 0 and data["target"]["temperature"] is None

    before = snapshot(db)
    code, out, err = cli(capsys, "export")
    assert (code, out) == (2, "")
    assert err.splitlines() == [
        "cronui: job 'a': temperature: expected a finite number, got nan (a stored value; set it again with "
        "`cronui jobs edit a --temperature ...` or `cronui apply`)",
        "cronui: job 'j': timeout: expected at most 366d, got inf (a stored value; set it again with "
        "`cronui jobs edit j --timeout ...` or `cronui apply`)",
        "cronui: job 'j': misfire-grace: expected at most 366d, got 1e+306s (a stored value; set it again with "
        "`cronui jobs edit j --misfire-grace ...` or `cronui apply`)",
        "cronui: 3 stored values out of bounds; nothing exported",
    ]
    assert snapshot(db) == before

    assert cli(capsys, "jobs", "edit", "j", "--timeout", "10m", "--misfire-grace", "5m")[0] == 0
    assert cli(capsys, "jobs", "edit", "a", "--temperature", "0.2")[0] == 0
    code, out, err = cli(capsys, "export")
    assert code == 0 and err == "" and 'name = "j"' in out


# ---------------------------------------------------------------- the terminal


ESC_OUTPUT = "\x1b]0;pwned\x07\x1b[31mred\x1b[0m\x9b2J\n"


def add_run(db: Path, output: str = ESC_OUTPUT, error: str | None = None) -> int:
    con = sqlite3.connect(db)
    try:
        job_id = con.execute("SELECT id FROM jobs WHERE name = 'existing'").fetchone()[0]
        cur = con.execute(
            "INSERT INTO runs (job_id, trigger, scheduled_for, status, queued_at, started_at, finished_at, output,"
            " stderr, error) VALUES (?, 'manual', 1, 'failed', 1, 1, 2, ?, ?, ?)",
            (job_id, output, output, error),
        )
        con.commit()
        assert cur.lastrowid is not None
        return cur.lastrowid
    finally:
        con.close()


def test_runs_show_list_and_logs_neutralise_escape_sequences_and_raw_keeps_them(capsys, db):
    assert cli(capsys, "jobs", "add", "existing", "--schedule", "@daily", "--shell", "true")[0] == 0
    run_id = add_run(db, error="boom \x1b[2J\x1b[H")
    shown = "^[]0;pwned^G^[[31mred^[[0m\\x9b2J"
    for argv in (["runs", "show", str(run_id)], ["runs", "list"], ["runs", "logs", str(run_id)]):
        code, out, err = cli(capsys, *argv)
        assert code == 0
        assert not any(c in out + err for c in "\x1b\x07\x9b"), argv
    assert shown in cli(capsys, "runs", "show", str(run_id))[1]
    assert "boom ^[[2J^[[H" in cli(capsys, "runs", "list")[1]
    code, out, err = cli(capsys, "runs", "logs", str(run_id))
    assert (out, err) == (shown + "\n", shown + "\n")
    code, out, err = cli(capsys, "runs", "logs", str(run_id), "--raw")
    assert (out, err) == (ESC_OUTPUT, ESC_OUTPUT)
    code, out, _ = cli(capsys, "runs", "show", str(run_id), "--json")
    assert "\x9b" not in out and json.loads(out)["output"] == ESC_OUTPUT


def test_an_event_line_shows_output_escapes_visibly():
    ev = RunEvent(EventKind.OUTPUT, 0, run_id=1, job_name="j", name="stdout", data={"text": "a\x1b[31mb\r\n"})
    assert event_text(ev).endswith("[stdout] a^[[31mb")


def test_errors_are_printed_with_control_characters_visible(capsys, db):
    code, _, err = cli(capsys, "jobs", "show", "x\x1b[2J")
    assert code == 2 and err == "cronui: no job named 'x\\x1b[2J'\n"


def test_a_crlf_split_across_two_writes_is_still_a_line_end():
    buf = io.StringIO()
    stream = Neutralised(buf)
    stream.write("50%\r")
    stream.write("\ndone\x1b[K\r")
    stream.end()
    assert buf.getvalue() == "50%\ndone^[[K^M"


def test_a_closed_pipe_ends_quietly(capsys):
    def writes_to_a_closed_pipe() -> int:
        raise BrokenPipeError(32, "Broken pipe")

    assert guarded(writes_to_a_closed_pipe) == EXIT_BROKEN_PIPE
    assert capsys.readouterr() == ("", "")


def test_json_output_has_no_nan_or_infinity():
    assert json_text({"a": math.inf, "b": [math.nan, 1.5]}, indent=None) == '{"a": null, "b": [null, 1.5]}'
