"""The HTTP API is safe by default: a real `cronui serve` process on loopback, abused as a web page, a careless
client and a hostile one would. A DNS-rebinding Host and a cross-site Origin are refused and create nothing;
a 300 MB body is refused before it is read while the server's memory (VmRSS, VmHWM) stays flat; event
streams past the cap are refused while 50 clients that never read hold no memory to speak of; the OpenAPI
document needs the token; literal credentials show masked in the API and the CLI's JSON alike."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from tests.e2e.processes import Processes, cronui, wait_for

TOKEN = "e2e-api-token-0123456789"
MIB = 1 << 20
MASK = "••••••••"


def memory(pid: int) -> dict[str, int]:
    """The process's resident memory now (VmRSS) and at its peak (VmHWM), in MiB."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0]) // 1024
    return out


def serve(procs: Processes, env: dict[str, str], *flags: str) -> tuple[subprocess.Popen[str], int]:
    """`cronui serve` on a free loopback port; the process and its port, once it answers."""
    proc = procs.spawn("serve", "--listen", "127.0.0.1:0", *flags, env=env, name="serve")
    log = Path(proc.log_path)  # type: ignore[attr-defined]
    found: list[int] = []

    def serving() -> bool:
        assert proc.poll() is None, log.read_text()
        m = re.search(r"serving http://127\.0\.0\.1:(\d+)/api/v1", log.read_text())
        found.extend([int(m.group(1))] if m else [])
        return bool(found)

    wait_for(serving, what="the server's address")
    return proc, found[0]


def body(total: int) -> Iterator[bytes]:
    """`total` bytes, a MiB at a time: the test never holds more than one."""
    chunk = b"x" * MIB
    for _ in range(total // MIB):
        yield chunk


def test_a_rebinding_host_or_a_cross_site_origin_creates_nothing(env: dict[str, str], procs: Processes) -> None:
    proc, port = serve(procs, env, "--allow-host", "cron.example.com")  # no token: loopback only
    url = f"http://127.0.0.1:{port}"
    job = {"name": "pwn", "schedule": "every 1h", "shell": "id"}
    refused = {
        "Host: attacker.example (a rebinding page)": {"Host": f"attacker.example:{port}"},
        "Host: 127.0.0.1.attacker.example": {"Host": "127.0.0.1.attacker.example"},
        "Origin: http://attacker.example": {"Origin": "http://attacker.example"},
        "Origin of another local port": {"Origin": "http://127.0.0.1:1"},
        "Origin: null (a sandboxed page)": {"Origin": "null"},
    }
    for what, headers in refused.items():
        r = httpx.post(f"{url}/api/v1/jobs", json=job, headers=headers, timeout=10)
        assert r.status_code == 403, (what, r.text)
        assert r.json()["error"], what
        r = httpx.post(f"{url}/hooks/pwn", content=b"x", headers=headers, timeout=10)
        assert r.status_code == 403, ("hook", what, r.text)
    assert httpx.get(f"{url}/api/v1/jobs", timeout=10).json() == [], "a refused request created a job"
    assert "pwn" not in cronui(env, "jobs", "list").stdout
    # the listen address's own names, a name allowed on the command line, and a same-origin page: answered
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", "cron.example.com"):
        r = httpx.get(f"{url}/api/v1/jobs", headers={"Host": host, "Origin": f"http://{host}"}, timeout=10)
        assert r.status_code == 200, (host, r.text)
    assert proc.poll() is None


def test_a_300_mb_body_is_refused_before_it_is_read_and_memory_stays_flat(
    env: dict[str, str], procs: Processes
) -> None:
    env["CRONUI_API_TOKEN"] = TOKEN
    proc, port = serve(procs, env)
    url = f"http://127.0.0.1:{port}"
    auth = {"Authorization": f"Bearer {TOKEN}"}
    sized = {"Content-Length": str(300 * MIB)}
    cases = [  # (what, headers, the answer)
        ("no token, chunked", {}, 401),
        ("no token, Content-Length", sized, 401),
        ("token, Content-Length over the cap", {**auth, **sized}, 413),
        ("token, chunked past the cap", auth, 413),
    ]
    before = memory(proc.pid)
    for what, headers, status in cases:
        r = httpx.post(
            f"{url}/api/v1/jobs",
            content=body(300 * MIB),
            headers={"Content-Type": "application/json", **headers},
            timeout=60,
        )
        assert r.status_code == status, (what, r.text)
        after = memory(proc.pid)
        print(f"300 MB POST, {what}: {r.status_code}; server memory {before} -> {after} MiB")
        # the peak too: a body buffered and then freed would show there (it was +900 MiB)
        assert after["VmHWM"] - before["VmHWM"] < 40, (what, before, after)
    r = httpx.post(f"{url}/hooks/x", content=body(8 * MIB), timeout=60)
    assert r.status_code in (401, 413), r.text  # no token: refused; the hook's own cap is 64 KiB
    assert httpx.get(f"{url}/api/v1/jobs", headers=auth, timeout=10).json() == []
    assert proc.poll() is None


def test_event_streams_past_the_cap_are_refused_and_clients_that_never_read_hold_little(
    env: dict[str, str], procs: Processes
) -> None:
    env.update(CRONUI_API_TOKEN=TOKEN, CRONUI_API_MAX_STREAMS="10")
    cronui(env, "jobs", "add", "chatty", "--schedule", "every 1s", "--shell", "seq 1 2000")
    proc, port = serve(procs, env)
    wait_for(lambda: cronui(env, "runs", "list", "--json").stdout.count('"trigger"') >= 2, what="two runs")
    before = memory(proc.pid)
    clients: list[socket.socket] = []
    statuses: dict[str, int] = {}
    try:
        for _ in range(55):
            s = socket.create_connection(("127.0.0.1", port))
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            head = f"GET /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {TOKEN}\r\n\r\n"
            s.sendall(head.encode())
            clients.append(s)
        for s in clients:  # the status line only: the clients read nothing more
            s.settimeout(10)
            head = s.recv(12).decode()
            statuses[head[9:12]] = statuses.get(head[9:12], 0) + 1
        assert statuses == {"200": 10, "503": 45}, statuses
        # the streams that opened keep sending events (the job runs every second) to clients that never read:
        # the abuse goes on for a while, then the server's memory is read
        time.sleep(15)
        assert proc.poll() is None
        after = memory(proc.pid)
        print(f"55 event-stream clients that never read: {statuses}; server memory {before} -> {after} MiB")
        assert after["VmRSS"] - before["VmRSS"] < 60, (before, after)
        r = httpx.get(f"http://127.0.0.1:{port}/api/v1/status", headers={"Authorization": f"Bearer {TOKEN}"})
        assert r.status_code == 200, "the API still answers"
    finally:
        for s in clients:
            s.close()

    # once the clients are gone their streams end, and new ones may open
    def opens() -> bool:
        with httpx.stream(
            "GET", f"http://127.0.0.1:{port}/api/v1/events", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
        ) as r:
            return r.status_code == 200

    wait_for(opens, what="an event stream to open again")


def test_the_openapi_document_needs_the_token(env: dict[str, str], procs: Processes) -> None:
    env["CRONUI_API_TOKEN"] = TOKEN
    _, port = serve(procs, env)
    url = f"http://127.0.0.1:{port}/api/v1/openapi.json"
    r = httpx.get(url, timeout=10)
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer", r.text
    assert "paths" not in r.text
    r = httpx.get(url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert r.status_code == 200 and "/api/v1/jobs" in r.json()["paths"]


PAT = "ghp_" + "Q7r8A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6"
LITERALS = {
    "DATABASE_URL": ("postgres://app:hunter2-db-pass@db.internal/app", f"postgres://app:{MASK}@db.internal/app"),
    "MYSQL_PWD": ("hunter2-mysql", MASK),
    "GITHUB_PAT": (PAT, MASK),
    "SOME_ID": (PAT, MASK),  # a token by its shape, whatever its name
    "AWS_KEY_ID": ("AKIAIOSFODNN7EXAMPLE", MASK),
    "GREETING": ("hello world", "hello world"),
    "TOKEN_REF": ("${env:MY_TOKEN}", "${env:MY_TOKEN}"),  # a reference holds no secret: shown
}
HIDDEN = ("hunter2", PAT, "AKIAIOSFODNN7EXAMPLE")


def test_literal_credentials_show_masked_in_the_api_and_the_cli(env: dict[str, str], procs: Processes) -> None:
    env["CRONUI_API_TOKEN"] = TOKEN
    _, port = serve(procs, env)
    api = httpx.Client(base_url=f"http://127.0.0.1:{port}/api/v1", headers={"Authorization": f"Bearer {TOKEN}"})
    command = f"curl -H 'Authorization: Bearer {PAT}' https://deploy:hunter2-url@example.com/x"
    entry = {"name": "m", "schedule": "every 1h", "shell": command, "env": {k: v for k, (v, _) in LITERALS.items()}}
    created = api.post("/jobs", json=entry)
    assert created.status_code == 201, created.text
    shown = {
        "API POST /jobs": created.json(),
        "API GET /jobs/m": api.get("/jobs/m").json(),
        "CLI jobs show --json": json.loads(cronui(env, "jobs", "show", "m", "--json").stdout),
    }
    for face, job in shown.items():
        assert job["target"]["env"] == {k: masked for k, (_, masked) in LITERALS.items()}, face
        assert job["target"]["command"] == f"curl -H 'Authorization: Bearer {MASK}' https://deploy:{MASK}@example.com/x"
        assert not any(secret in json.dumps(job) for secret in HIDDEN), face
    text = cronui(env, "jobs", "show", "m").stdout
    assert not any(secret in text for secret in HIDDEN), text
    # the job as a response showed it, sent back with one change: the stored values are kept
    back = shown["API GET /jobs/m"]["target"]
    r = api.patch("/jobs/m", json={"env": back["env"], "shell": back["command"], "retries": 2})
    assert r.status_code == 200, r.text
    exported = cronui(env, "export").stdout  # a job file: what is stored, for apply to read back
    assert "hunter2-db-pass" in exported and PAT in exported and "hunter2-url" in exported, exported
    assert '"retries": 2' in cronui(env, "jobs", "show", "m", "--json").stdout
