"""`cronui alerts test URL` against loopback services (exit 0 sent, 1 refused, 2 not a channel, each refusal
one line naming the field), `cronui alerts` refusing what it cannot list (exit 2, one line), and listing notices
(a budget spent, a retry planned) as notices, not as recovered."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from cronui.engine import job_notices
from cronui.engine.alerts import raise_alert
from cronui.model import Run, RunStatus, Trigger
from cronui.model.alerts import AlertKind, job_subject
from cronui.model.records import day_start
from cronui.store.sqlite import SQLiteStore
from tests.alert_receivers import json_receiver
from tests.helpers import cli, make_job, ms


@pytest.fixture
def refusing() -> Iterator[int]:
    """A loopback service that answers every post with 500: the port it listens on."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(500)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_a_test_notice_reaches_a_json_receiver_exit_0(capsys: pytest.CaptureFixture[str], cli_db: Path) -> None:
    with json_receiver() as receiver:
        code, out, err = cli(capsys, "alerts", "test", f"json://127.0.0.1:{receiver.port}/hook")
        assert code == 0, err
        assert out.splitlines()[0].startswith(f"sent to json://127.0.0.1:{receiver.port}/")
        [body] = receiver.bodies
        assert "A test notice from cronui" in body["message"]


def test_a_refusing_service_exits_1_saying_what_it_answered(
    capsys: pytest.CaptureFixture[str], cli_db: Path, refusing: int
) -> None:
    code, out, _ = cli(capsys, "alerts", "test", f"json://127.0.0.1:{refusing}/hook", "--json")
    assert code == 1
    assert '"sent": false' in out and "500" in out


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("nosuch://host/x", "unknown channel scheme 'nosuch://'"),
        ("json://${env:CRONUI_TEST_UNSET_TOKEN}@127.0.0.1/x", "CRONUI_TEST_UNSET_TOKEN is not set"),
    ],
)
def test_an_unknown_scheme_or_an_unset_secret_exits_2_in_one_line(
    capsys: pytest.CaptureFixture[str], cli_db: Path, monkeypatch: pytest.MonkeyPatch, url: str, says: str
) -> None:
    monkeypatch.delenv("CRONUI_TEST_UNSET_TOKEN", raising=False)
    code, out, err = cli(capsys, "alerts", "test", url)
    assert (code, out) == (2, "")
    [line] = err.splitlines()
    assert line.startswith("cronui: URL: ") and says in line


@pytest.mark.parametrize(
    ("flags", "field"),
    [(("--limit", "0"), "limit: "), (("--limit", "many"), "limit: "), (("--job", "nosuch"), "job named 'nosuch'")],
)
def test_alerts_refuses_a_bad_limit_or_an_unknown_job_exit_2_in_one_line(
    capsys: pytest.CaptureFixture[str], cli_db: Path, flags: tuple[str, ...], field: str
) -> None:
    code, out, err = cli(capsys, "alerts", *flags)
    assert (code, out) == (2, "")
    [line] = err.splitlines()
    assert line.startswith("cronui: ") and field in line


async def _notices_and_a_recovery(db: Path) -> None:
    """A budget notice (closed at its day's end), a retry notice (recorded closed) and a failure episode
    that recovered, for the job `nightly`."""

    store = SQLiteStore(db)
    await store.open()
    try:
        job = await store.create_job(make_job("nightly", max_retries=2))
        assert job.id is not None
        at = ms("2026-03-02T09:30:00Z")
        budget = job_notices.budget_episode(job.id, day_start(at), "💸 nightly: budget spent", at)
        run = Run(job_id=job.id, trigger=Trigger.SCHEDULE, scheduled_for=at, status=RunStatus.FAILED, id=41)
        retry = job_notices.retry_episode(run, job, 30_000, at + 1000)
        assert len(await store.open_alerts([budget, retry])) == 2
        subject = job_subject(job.id)
        assert await raise_alert(store, subject, AlertKind.FAILURE, "7", "🚨 nightly failed", job_id=job.id, now=at)
        assert await store.close_alerts(subject, "failure", at + 60_000)
    finally:
        await store.close()


def test_alerts_shows_notices_as_notices_not_as_recovered(capsys: pytest.CaptureFixture[str], cli_db: Path) -> None:

    asyncio.run(_notices_and_a_recovery(cli_db))
    code, out, err = cli(capsys, "alerts")
    assert code == 0, err
    heads = [ln for ln in out.splitlines() if ln.startswith("#")]
    assert heads == [
        "#3 failure nightly · opened 2026-03-02T09:30:00.000Z · recovered 2026-03-02T09:31:00.000Z",
        "#2 failure nightly · notice at 2026-03-02T09:30:01.000Z",
        "#1 budget nightly · notice at 2026-03-02T09:30:00.000Z",
    ], out
    found = json.loads(cli(capsys, "alerts", "--json")[1])
    assert [(a["kind"], a["recovers"]) for a in found] == [("failure", True), ("failure", False), ("budget", False)]
