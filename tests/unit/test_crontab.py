"""`cronui import crontab`: crontab(5) lines become shell jobs that do what cron would have done."""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cronui.crontab import derive_name, looks_like_system, parse_crontab, split_percent, unique_name, with_stdin
from tests.helpers import cli, live_jobs

DATA = Path(__file__).parent / "data"
CRONTAB = DATA / "crontab.txt"


def run_sh(command: str, env: dict[str, str] | None = None) -> str:
    return subprocess.run(
        ["/bin/sh", "-c", command], capture_output=True, text=True, check=True, env=env, timeout=10
    ).stdout


# ---------------------------------------------------------------- % and stdin, as crontab(5) says


@pytest.mark.parametrize(
    ("line", "command", "stdin"),
    [
        ("echo hi", "echo hi", None),
        ("cat%one%two", "cat", "one\ntwo"),
        ("cat%", "cat", ""),
        (r"date +\%Y-\%m-\%d", "date +%Y-%m-%d", None),
        (r"mail -s 'at 100\%' root%body with 50\% off%", "mail -s 'at 100%' root", "body with 50% off\n"),
        (r"echo a\b%x\y", r"echo a\b", r"x\y"),  # other backslashes stay
        (r"echo \\%in", "echo \\\\", "in"),  # an escaped backslash does not escape the %
        ("cat%trailing\\", "cat", "trailing\\"),
    ],
)
def test_percent_splits_command_and_stdin(line, command, stdin):
    assert split_percent(line) == (command, stdin)


def test_the_rewritten_command_feeds_the_input_exactly():
    command, stdin = split_percent(r"cat -A%line one%it's 100\% 'quoted' $HOME `x`%")
    assert run_sh(with_stdin(command, stdin)) == "line one$\nit's 100% 'quoted' $HOME `x`$\n"
    command, stdin = split_percent("tr a-z A-Z # shout%no newline at the end")
    assert run_sh(with_stdin(command, stdin)) == "NO NEWLINE AT THE END"
    # a pipeline gets the input at its start, as under cron
    command, stdin = split_percent("sort | head -n 1%b%a%c")
    assert run_sh(with_stdin(command, stdin)) == "a\n"


@given(st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40))
def test_any_input_reaches_the_command_unchanged(text):
    out = subprocess.run(["/bin/sh", "-c", with_stdin("cat", text)], capture_output=True, check=True).stdout
    assert out == text.encode()


def test_another_shell_wraps_the_command():
    assert with_stdin("echo $((1+1))", None, "/bin/bash") == "/bin/bash -c 'echo $((1+1))'"
    assert with_stdin("cat", "x", "/bin/bash") == "printf '%s' x | /bin/bash -c cat"


# ---------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("command", "name"),
    [
        ("/usr/local/bin/backup.sh --full >> /var/log/backup.log 2>&1", "backup-sh"),
        ("restic backup ~", "restic-backup"),
        ("python3 /srv/app/report.py --daily", "report-py"),
        ("cd /srv/app && ./manage.py clearsessions", "manage-py-clearsessions"),
        ("nice -n 10 flock -n /tmp/sync.lock /opt/bin/sync.sh", "sync-sh"),
        ("php /var/www/artisan schedule:run >> /dev/null 2>&1", "artisan-schedule-run"),
        ("curl -fsS https://www.example.com/ping > /dev/null", "curl-example-com"),
        ("FOO=1 docker system prune -f", "docker-system"),
        ("/bin/sh -c 'pg_dump shop > /backups/shop.sql'", "pg-dump-shop"),
        ('echo "unbalanced', "echo"),
        ("%%%", "cron-job"),
    ],
)
def test_names_come_from_the_command(command, name):
    assert derive_name(split_percent(command)[0]) == name


def test_names_are_made_unique():
    taken = {"backup-sh"}
    assert [unique_name("backup-sh", taken) for _ in range(3)] == ["backup-sh-2", "backup-sh-3", "backup-sh-4"]


# ---------------------------------------------------------------- parsing a real crontab


def test_a_real_crontab_is_read_as_cron_reads_it():
    tab = parse_crontab(CRONTAB.read_text())
    assert tab.errors == []
    assert [n for n, _ in tab.notes] == [6, 23]  # MAILTO, @reboot
    assert [(e.line, e.schedule, e.zone) for e in tab.entries] == [
        (10, "30 2 * * *", None),
        (13, "@daily", None),
        (15, "*/15 * * * *", None),
        (20, "0 9 * * 1-5", "America/New_York"),
        (22, "0 8 * * mon", "America/New_York"),
        (24, "0 0 1 * *", "America/New_York"),
    ]
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "BACKUP_DIR": "/var/backups/db"}
    assert all(e.env == env for e in tab.entries)
    assert [e.description for e in tab.entries] == [
        "nightly database backup",
        "clean old temp files",
        "",  # a commented-out job line is not a description
        "weekday report, New York morning",
        "mail the disk usage every Monday",
        "",
    ]
    mail = tab.entries[4]
    assert mail.command == "printf '%s' 'Hi team,\nhere it is.\n' | (df -h | mail -s \"Disk 100% report\" root)"


def test_environment_lines_follow_cron_rules():
    tab = parse_crontab(
        "A = \"  spaced  \"\nB='x=y'\nC=plain value\nD=\nSHELL=/bin/bash\n"
        "RANDOM_DELAY=10\n* * * * * env\nA=changed\n0 * * * * env\n"
    )
    assert tab.entries[0].env == {"A": "  spaced  ", "B": "x=y", "C": "plain value", "D": ""}
    assert tab.entries[1].env["A"] == "changed"
    assert tab.entries[0].command == "/bin/bash -c env"
    assert [t for _, t in tab.notes] == [
        "SHELL=/bin/bash: the commands after this line are run as /bin/bash -c '...', as cron would",
        "RANDOM_DELAY=10: not supported by cronui; ignored",
    ]


def test_tz_sets_the_zone_and_the_environment_and_cron_tz_wins():
    tab = parse_crontab("TZ=Asia/Tokyo\n0 9 * * * a\nCRON_TZ=Europe/Paris\n0 9 * * * b\nCRON_TZ=\n0 9 * * * c\n")
    assert [(e.zone, e.env) for e in tab.entries] == [
        ("Asia/Tokyo", {"TZ": "Asia/Tokyo"}),
        ("Europe/Paris", {"TZ": "Asia/Tokyo"}),
        ("Asia/Tokyo", {"TZ": "Asia/Tokyo"}),
    ]


def test_a_system_crontab_is_recognized_and_its_user_column_dropped():
    text = "SHELL=/bin/sh\n17 * * * * root cd / && run-parts --report /etc/cron.hourly\n"
    assert looks_like_system(text)
    assert not looks_like_system("17 * * * * cd / && run-parts /etc/cron.hourly\n")
    assert looks_like_system("17 * * * * whoever x\n", "/etc/cron.d/backup")
    tab = parse_crontab(text, system=True)
    (entry,) = tab.entries
    assert (entry.user, entry.command) == ("root", "cd / && run-parts --report /etc/cron.hourly")
    assert tab.notes[0][1].startswith("system crontab format: the user column after the schedule was dropped")


def test_a_user_name_that_is_also_a_command_reads_as_the_command(monkeypatch):
    monkeypatch.setattr("cronui.crontab.shutil.which", lambda word: f"/usr/local/bin/{word}")
    assert not looks_like_system("0 2 * * * root --full\n")


# ---------------------------------------------------------------- the command


def test_dry_run_previews_and_writes_nothing(capsys, cli_db):
    code, out, err = cli(capsys, "import", "crontab", str(CRONTAB), "--dry-run")
    assert code == 0 and err == ""
    c = str(CRONTAB)
    assert out.splitlines() == [
        f"{c}:6: MAILTO=ops@example.com: cronui sends no mail; to get results or failure alerts, give the jobs a "
        "delivery target (cronui jobs edit NAME --deliver-to URL --deliver on_failure)",
        f"{c}:23: @reboot is not supported: cronui runs jobs by time, not at boot; not imported (start it from a "
        "systemd unit or your init system instead)",
        "+ backup-sh  30 2 * * * (UTC)  /usr/local/bin/backup.sh --full >> /var/log/backup.log 2>&1",
        "+ find  @daily (UTC)  find /tmp -type f -mtime +7 -delete",
        "+ curl-example-com  */15 * * * * (UTC)  curl -fsS https://example.com/ping > /dev/null",
        '+ report-sh  0 9 * * 1-5 (America/New_York)  /usr/local/bin/report.sh --since "1 day ago"',
        "+ df  0 8 * * mon (America/New_York)  printf '%s' 'Hi team,\\nhere it is.\\n' | "
        '(df -h | mail -s "Disk 100% report" root)',
        "+ backup-sh-2  0 0 1 * * (America/New_York)  /usr/local/bin/backup.sh --monthly",
        "note: cron has no time limit; these jobs stop after 10m (--timeout sets another, or later: "
        "cronui jobs edit NAME --timeout 2h)",
        f"dry run: 6 jobs to import from {c}; nothing written",
    ]
    assert not cli_db.exists() or live_jobs(cli_db) == {}


def test_import_makes_shell_jobs_and_a_second_import_adds_only_new_lines(capsys, cli_db):
    code, out, err = cli(capsys, "import", "crontab", str(CRONTAB), "--timeout", "2h")
    assert code == 0, err
    assert out.splitlines()[-1] == f"imported 6 jobs from {CRONTAB}"
    jobs = live_jobs(cli_db)
    assert list(jobs) == ["backup-sh", "find", "curl-example-com", "report-sh", "df", "backup-sh-2"]
    report = jobs["report-sh"]
    assert (report["schedule"], report["timezone"], report["timeout_s"]) == ("0 9 * * 1-5", "America/New_York", 7200)
    assert json.loads(report["target"]) == {
        "command": '/usr/local/bin/report.sh --since "1 day ago"',
        "cwd": None,
        "env": {"PATH": "/usr/local/bin:/usr/bin:/bin", "BACKUP_DIR": "/var/backups/db"},
    }
    assert report["description"] == "weekday report, New York morning"
    assert (json.loads(report["tags"]), report["source"]) == (["crontab"], f"crontab:{CRONTAB}")
    assert all(j["next_run_at"] for j in jobs.values())
    # the same crontab again, plus one line: only that line is new
    extra = Path("crontab2.txt")
    extra.write_text(CRONTAB.read_text() + "5 4 * * sun /usr/local/bin/backup.sh --weekly\n")
    code, out, _ = cli(capsys, "import", "crontab", str(extra))
    lines = out.splitlines()
    assert lines[2:8] == [
        f"= crontab2.txt:{n}: already imported as {name!r}; skipped"
        for n, name in [
            (10, "backup-sh"),
            (13, "find"),
            (15, "curl-example-com"),
            (20, "report-sh"),
            (22, "df"),
            (24, "backup-sh-2"),
        ]
    ]
    assert lines[8] == "+ backup-sh-3  5 4 * * sun (America/New_York)  /usr/local/bin/backup.sh --weekly"
    assert lines[-1] == "imported 1 jobs from crontab2.txt"


def test_imported_jobs_export_and_apply_back(capsys, cli_db, tmp_path):
    cli(capsys, "import", "crontab", str(CRONTAB))
    exported = cli(capsys, "export")[1]
    os.environ["CRONUI_DB"] = str(tmp_path / "other.db")
    try:
        Path("jobs.toml").write_text(exported)
        assert cli(capsys, "apply", "jobs.toml")[0] == 0
        assert cli(capsys, "export")[1] == exported
    finally:
        os.environ["CRONUI_DB"] = str(cli_db)


BAD = """\
MAILTO=""
0 3 * * * /usr/local/bin/good.sh
0 61 * * * /usr/local/bin/bad-hour.sh
* * * /usr/local/bin/short.sh
@fortnightly /usr/local/bin/odd.sh
*/5 * * * * /usr/local/bin/also-good.sh
"""


def test_bad_lines_stop_the_import_unless_skip_invalid(capsys, cli_db, tmp_path):
    (tmp_path / "bad.cron").write_text(BAD)
    code, out, err = cli(capsys, "import", "crontab", "bad.cron")
    assert (code, out) == (2, "")
    assert err.splitlines() == [
        "cronui: bad.cron:3: schedule: hour field: 61 is out of range 0-23",
        "cronui: bad.cron:4: expected five time fields and a command (or @daily-style alias and a command)",
        "cronui: bad.cron:5: schedule: unknown alias '@fortnightly' (expected one of @yearly, @annually, @monthly, "
        "@weekly, @daily, @midnight, @hourly)",
        "cronui: bad.cron: 3 bad lines; nothing imported (--skip-invalid imports the rest)",
    ]
    assert not cli_db.exists() or live_jobs(cli_db) == {}
    code, out, err = cli(capsys, "import", "crontab", "bad.cron", "--skip-invalid")
    assert code == 0
    assert err.splitlines()[0] == "cronui: bad.cron:3: schedule: hour field: 61 is out of range 0-23 (skipped)"
    assert out.splitlines()[-1] == "imported 2 jobs from bad.cron (3 bad lines skipped)"
    assert list(live_jobs(cli_db)) == ["good-sh", "also-good-sh"]


def test_one_bad_line_is_one_line(capsys, cli_db, tmp_path):
    (tmp_path / "one.cron").write_text("0 3 * * * ok\n0 3 * * 8 nope\n")
    code, out, err = cli(capsys, "import", "crontab", "one.cron")
    assert (code, out) == (2, "")
    assert err == (
        "cronui: one.cron:2: schedule: day-of-week field: 8 is out of range 0-7 "
        "(nothing imported; --skip-invalid imports the rest)\n"
    )


def test_a_bad_cron_tz_invalidates_the_lines_it_governs(capsys, cli_db, tmp_path):
    (tmp_path / "tz.cron").write_text("0 1 * * * a\nCRON_TZ=Europe/Berln\n0 2 * * * b\n0 3 * * * c\n")
    code, _, err = cli(capsys, "import", "crontab", "tz.cron", "--skip-invalid")
    assert code == 0
    assert err.splitlines()[1:] == [
        "cronui: tz.cron:3: not imported: its time zone (line 2) is not valid (skipped)",
        "cronui: tz.cron:4: not imported: its time zone (line 2) is not valid (skipped)",
    ]
    assert err.splitlines()[0].startswith("cronui: tz.cron:2: time zone: unknown time zone: 'Europe/Berln'")
    assert list(live_jobs(cli_db)) == ["a"]


def test_dash_reads_standard_input_and_tz_sets_the_default_zone(capsys, cli_db, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO("# from crontab -l\n15 6 * * * /opt/bin/sync.sh%go\n"))
    code, out, err = cli(capsys, "import", "crontab", "-", "--tz", "Asia/Tokyo")
    assert code == 0, err
    assert out.splitlines()[0] == "+ sync-sh  15 6 * * * (Asia/Tokyo)  printf '%s' go | (/opt/bin/sync.sh)"
    job = live_jobs(cli_db)["sync-sh"]
    assert (job["source"], job["description"]) == ("crontab:stdin", "from crontab -l")


def test_without_a_file_it_reads_crontab_l(capsys, cli_db, tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "crontab"
    fake.write_text('#!/bin/sh\n[ "$1" = "-l" ] || exit 9\necho "@hourly /usr/bin/true"\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    code, out, _ = cli(capsys, "import", "crontab")
    assert code == 0 and out.splitlines()[-1] == "imported 1 jobs from crontab -l"
    fake.write_text("#!/bin/sh\necho 'no crontab for alice' >&2\nexit 1\n")
    assert cli(capsys, "import", "crontab") == (2, "", "cronui import crontab: crontab -l: no crontab for alice\n")


def test_a_missing_file_and_a_bad_zone_are_one_line(capsys, cli_db):
    assert cli(capsys, "import", "crontab", "nope") == (2, "", "cronui import crontab: nope: no such file\n")
    code, _, err = cli(capsys, "import", "crontab", str(CRONTAB), "--tz", "Mars/Base")
    assert code == 2 and len(err.splitlines()) == 1 and "Mars/Base" in err


def test_an_imported_job_runs_with_its_input_and_environment(capsys, cli_db, tmp_path):
    out = tmp_path / "out.txt"
    (tmp_path / "run.cron").write_text(f"GREETING=hello\n* * * * * cat > {out}; echo $GREETING >> {out}%a%b\n")
    assert cli(capsys, "import", "crontab", "run.cron")[0] == 0
    (name,) = live_jobs(cli_db)
    code, _, err = cli(capsys, "jobs", "run", name, "--wait")
    assert code == 0, err
    assert out.read_text() == "a\nbhello\n"
