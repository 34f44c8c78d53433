"""A check job end to end, in real processes: `cronui --no-ui` watches it (never runs it), `cronui exec`,
`cronui ping` and `POST /ping/...` on `cronui serve` report its runs, and a slot nobody pings is recorded
missed after its grace."""

from __future__ import annotations

import httpx

from tests.e2e.processes import Processes, cronui, lease_pid, query, wait_for
from tests.e2e.test_faults_api import serve


def ping_runs(env: dict[str, str]) -> list[tuple[str, int | None, str]]:
    return query(env, "SELECT status, exit_code, output FROM runs WHERE trigger = 'ping' ORDER BY id")


def test_a_check_fed_by_exec_ping_and_http_with_a_slot_left_unpinged(env: dict[str, str], procs: Processes) -> None:
    cronui(env, "jobs", "add", "watched", "--check", "--schedule", "every 3s", "--grace", "1s")
    daemon = procs.spawn("--no-ui", env=env, name="daemon")
    wait_for(lambda: lease_pid(env) == daemon.pid, what="the daemon's lease")
    missed = "SELECT COUNT(*) FROM runs WHERE trigger = 'schedule' AND status = 'skipped' AND reason = 'missed'"
    wait_for(lambda: query(env, missed)[0][0] >= 1, timeout=15, what="a slot nobody pinged recorded missed")

    done = cronui(env, "exec", "watched", "--", "sh", "-c", "echo copied; exit 0")
    assert done.returncode == 0 and "copied" in done.stdout
    failed = cronui(env, "exec", "watched", "--", "sh", "-c", "echo broken >&2; exit 4", check=False)
    assert failed.returncode == 4
    cronui(env, "ping", "watched", "--fail", "--message", "by hand")

    token = cronui(env, "jobs", "token", "watched").stdout.strip()
    server, port = serve(procs, env)
    base = f"http://127.0.0.1:{port}"
    auth = {"Authorization": f"Bearer {token}"}
    assert httpx.post(f"{base}/ping/watched/start", headers=auth, timeout=10).status_code == 200
    r = httpx.post(f"{base}/ping/watched/0", headers=auth, content="12 GB", timeout=10)
    assert r.status_code == 200 and r.json()["status"] == "succeeded", r.text
    assert httpx.get(f"{base}/ping/watched", params={"token": "wrong"}, timeout=10).status_code == 401

    assert ping_runs(env) == [
        ("succeeded", 0, "copied\n"),
        ("failed", 4, "broken\n"),
        ("failed", None, "by hand"),
        ("succeeded", 0, "12 GB"),
    ]
    # the daemon never ran the check: every row of its own is a missed slot
    assert query(env, "SELECT DISTINCT status FROM runs WHERE trigger != 'ping'") == [("skipped",)]
    assert daemon.poll() is None and server.poll() is None
