"""Telling infrastructure failures from job failures: an endpoint is an origin (no credentials, path or query),
what counts as unreachable, a run's failure kind, how a batch of ends folds into each endpoint's last word,
and `runs show` saying it (a refused target, through the CLI)."""

from __future__ import annotations

import json
import ssl

import httpx
import pytest
from rich.style import Style

from cronui.engine.infra import (
    alert_subject,
    change_event,
    change_text,
    endpoint_of,
    failure_kind,
    unreachable_error,
)
from cronui.model import EventKind, FailureKind, Run, RunStatus, Trigger
from cronui.model.records import EndpointChange
from cronui.store.endpoints import fold
from cronui.ui.screens.run_text import fact_rows
from tests.engine.test_infra_failures import closed_port
from tests.helpers import cli


@pytest.mark.parametrize(
    ("url", "endpoint"),
    [
        ("https://user:pw@API.example.com/v1/chat/completions?key=s3cret", "https://api.example.com"),
        ("https://api.example.com:443/x", "https://api.example.com"),
        ("http://gateway.internal:8080/v1", "http://gateway.internal:8080"),
        ("http://[::1]:9000/ping", "http://[::1]:9000"),
        ("http://bad:port/x", "?"),
    ],
)
def test_an_endpoint_is_the_origin_without_anything_secret(url, endpoint):
    assert endpoint_of(url) == endpoint


def test_what_counts_as_unreachable():
    request = httpx.Request("GET", "https://api.example.com")
    assert unreachable_error(httpx.ConnectError("[Errno 111] Connection refused", request=request))
    assert unreachable_error(httpx.ConnectError("[Errno -2] Name or service not known", request=request))
    assert unreachable_error(httpx.ConnectTimeout("timed out", request=request))
    tls = httpx.ReadError("handshake", request=request)
    tls.__cause__ = ssl.SSLCertVerificationError("certificate verify failed")
    assert unreachable_error(tls)
    assert not unreachable_error(httpx.ReadTimeout("slow", request=request))  # it answered, then stalled
    assert not unreachable_error(httpx.RemoteProtocolError("cut", request=request))


def test_the_failure_kind_of_a_run():
    down = {"https://a": "refused"}
    assert failure_kind(RunStatus.FAILED, down) is FailureKind.INFRA
    assert failure_kind(RunStatus.TIMED_OUT, down) is FailureKind.INFRA
    assert failure_kind(RunStatus.FAILED, {**down, "https://b": None}) is FailureKind.JOB  # a fallback answered
    assert failure_kind(RunStatus.FAILED, {}) is FailureKind.JOB  # a shell job, a missing secret
    assert failure_kind(RunStatus.SUCCEEDED, down) is None
    assert failure_kind(RunStatus.CANCELLED, down) is None


def test_a_batch_folds_into_each_endpoints_last_word():
    long = "x" * 1000
    assert fold([(0, {"a": "refused", "b": None}), (2, {"a": None}), (3, {"b": long})]) == {
        "a": (2, None),
        "b": (3, "x" * 300),
    }


def test_a_change_as_text_and_as_a_job_less_event():
    down = EndpointChange("https://api.example.com", True, 3, 1_000, error="HTTP 503 Service Unavailable")
    assert change_text(down) == "🔌 https://api.example.com cannot be reached: HTTP 503 Service Unavailable"
    up = EndpointChange("https://api.example.com", False, 3, 181_000, down_since=1_000)
    assert change_text(up) == "✅ https://api.example.com answers again after 3m00s"
    ev = change_event(up)
    assert (ev.kind, ev.job_id, ev.run_id, ev.at) == (EventKind.INFRA, None, None, 181_000)
    assert ev.data == {"endpoint": "https://api.example.com", "state": "up", "episode": 3, "down_ms": 180_000}
    assert alert_subject(up.endpoint) == "endpoint:https://api.example.com"


def test_runs_show_says_a_run_failed_for_its_infrastructure(capsys, cli_db):
    url = f"http://127.0.0.1:{closed_port()}/health"
    assert cli(capsys, "jobs", "add", "pinger", "--schedule", "@daily", "--http", url)[0] == 0
    _, out, _ = cli(capsys, "jobs", "run", "pinger", "--wait", "--json")
    run = json.loads(out)
    assert run["status"] == "failed" and run["failure_kind"] == "infra"
    code, out, _ = cli(capsys, "runs", "show", str(run["id"]))
    assert code == 0
    assert "  failure infra: its endpoint could not be reached" in out
    shown = json.loads(cli(capsys, "jobs", "show", "pinger", "--json")[1])
    assert shown["consecutive_failures"] == 0


class PlainStyles:
    """Styles without a theme: what fact_rows asks of a widget."""

    def status_style(self, status: object) -> Style:
        return Style()

    def component_style(self, name: str) -> Style:
        return Style()


def test_the_run_detail_says_an_infra_failure_apart():
    run = Run(job_id=1, trigger=Trigger.SCHEDULE, scheduled_for=0, status=RunStatus.FAILED, error="could not connect")
    run.failure_kind = FailureKind.INFRA
    rows = dict(fact_rows(run, PlainStyles()))  # type: ignore[arg-type]
    assert rows["failure"] == "infra: its endpoint could not be reached (not counted against the job)"
    run.failure_kind = FailureKind.JOB
    assert "failure" not in dict(fact_rows(run, PlainStyles()))  # type: ignore[arg-type]
