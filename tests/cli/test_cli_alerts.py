"""`cronui alerts test URL` against loopback services (exit 0 sent, 1 refused, 2 not a channel, each refusal
one line naming the field) and `cronui alerts` refusing what it cannot list (exit 2, one line)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.alert_receivers import json_receiver
from tests.helpers import cli


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
