"""A property-based run against the served OpenAPI document (schemathesis): requests generated from it,
with the token and without, never get a server error. Bounded, so it stays a quick part of the suite."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from cronui.api.server import listen_socket, serve
from cronui.config import Settings

TOKEN = "fuzz-token-0123456789"
EXAMPLES = 5  # per operation


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real server in a thread of its own (its own event loop), with jobs and runs to find."""
    db = tmp_path_factory.mktemp("fuzz") / "cronui.db"
    cfg = Settings(db=str(db), timezone="UTC", timezone_source="test")
    sock = listen_socket("127.0.0.1", 0)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    ended: list[int] = []
    thread = threading.Thread(target=lambda: ended.append(loop.run_until_complete(serve(cfg, sock, TOKEN, stop=stop))))
    thread.start()
    auth = {"Authorization": f"Bearer {TOKEN}"}
    for _ in range(200):
        try:
            httpx.get(f"{url}/api/v1/openapi.json", timeout=5)
            break
        except httpx.TransportError:
            threading.Event().wait(0.05)
    for name, command in (("a", "true"), ("b", "false")):
        job = {"name": name, "schedule": "every 1h", "shell": command}
        assert httpx.post(f"{url}/api/v1/jobs", json=job, headers=auth, timeout=10).status_code == 201
        assert httpx.post(f"{url}/api/v1/jobs/{name}/run", headers=auth, timeout=10).status_code == 202
    try:
        yield url
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(30)
        assert ended == [0]


@pytest.fixture(scope="module")
def api_schema(server_url: str) -> schemathesis.BaseSchema:
    schema = schemathesis.openapi.from_url(f"{server_url}/api/v1/openapi.json")
    schema.config.base_url = server_url
    schema.config.phases.coverage.enabled = False  # its boundary cases double the time; fuzzing stays on
    return schema


# the event stream never ends, so a request for it that is right never returns: tested in test_events
schema = schemathesis.pytest.from_fixture("api_schema").exclude(path="/api/v1/events")


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_request_gets_a_server_error(case: schemathesis.Case, server_url: str) -> None:
    for headers in ({"Authorization": f"Bearer {TOKEN}"}, {}):
        response = case.call(base_url=server_url, headers=headers, timeout=10)
        assert response.status_code < 500, (case.method, case.formatted_path, response.text)
        case.validate_response(response, checks=[not_a_server_error])
        if not headers and case.path != "/api/v1/openapi.json":  # nothing is granted without a token
            assert 400 <= response.status_code < 500, (case.method, case.formatted_path, response.text)
