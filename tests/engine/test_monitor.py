"""The scheduler's own dead-man's switch (`[monitor] ping_url`): the process holding the scheduler requests it at
each lease renewal, against a real server on loopback; a monitor that hangs or refuses never holds the loop
and never raises, and a log line never shows the URL's secret part."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest

from cronui.config import ConfigError, load_settings
from cronui.engine.clock import SystemClock
from cronui.engine.engine import Engine
from cronui.engine.monitor import DeadMansSwitch
from tests.engine.servers import Request, Server, send
from tests.engine.test_infra_failures import closed_port


class Monitor(Server):
    """An outside monitor: answers every ping 200, and says when it has had `want` of them."""

    def __init__(self, want: int = 3) -> None:
        super().__init__()
        self.want = want
        self.enough = asyncio.Event()

    async def respond(self, req: Request, writer: asyncio.StreamWriter) -> None:
        await send(writer, 200, b"OK", ctype="text/plain")
        if len(self.requests) >= self.want:
            self.enough.set()


class Hanging(Server):
    """A monitor that takes the request and never answers."""

    def __init__(self) -> None:
        super().__init__()
        self.reached = asyncio.Event()

    async def respond(self, req: Request, writer: asyncio.StreamWriter) -> None:
        self.reached.set()
        await asyncio.Event().wait()


async def test_the_holder_pings_at_each_lease_renewal(store, settings, monkeypatch):
    monitor = Monitor(want=3)
    await monitor.start()
    settings.lease.ttl, settings.lease.renew = 2.0, 0.05
    settings.monitor.ping_url = f"{monitor.url}/ping/scheduler?token=abc"
    settings.monitor.ping_token = "${env:WATCHER_TOKEN}"
    monkeypatch.setenv("WATCHER_TOKEN", "tok-123")
    eng = Engine(store, settings, SystemClock())
    await eng.open()
    stop = asyncio.Event()
    task = asyncio.create_task(eng.run(stop))
    try:
        await asyncio.wait_for(monitor.enough.wait(), 10)
    finally:
        stop.set()
        await task
        await eng.close()
        await monitor.stop()
    assert all(r.method == "GET" and r.path == "/ping/scheduler?token=abc" for r in monitor.requests)
    assert all(r.headers["authorization"] == "Bearer tok-123" for r in monitor.requests)
    assert eng.monitor.sent >= 3 and eng.monitor.failed == 0


async def test_a_hanging_monitor_never_holds_the_loop(store, settings):
    hanging = Hanging()
    await hanging.start()
    settings.lease.ttl, settings.lease.renew = 2.0, 0.02
    settings.monitor.ping_url = f"{hanging.url}/ping/scheduler"
    eng = Engine(store, settings, SystemClock())
    eng.monitor.timeout_s = 0.5
    await eng.open()
    stop = asyncio.Event()
    task = asyncio.create_task(eng.run(stop))
    try:
        await asyncio.wait_for(hanging.reached.wait(), 10)
        passes = eng.wakeups
        await eng.monitor.wait()  # the ping in flight gives up at its deadline
        assert eng.wakeups > passes + 3  # the loop went on renewing meanwhile
        assert eng.monitor.skipped >= 3 and eng.monitor.failed >= 1  # one ping at a time
        assert eng.holding and not task.done()
    finally:
        stop.set()
        await task
        await eng.close()
        await hanging.stop()
    assert len(hanging.requests) <= 2


async def test_a_refused_ping_is_logged_by_its_origin_never_raised(caplog):
    async with httpx.AsyncClient() as client:
        dead = f"http://127.0.0.1:{closed_port()}"
        switch = DeadMansSwitch(f"{dead}/ping/sekrit-uuid-123", lambda: client, env={})
        with caplog.at_level(logging.WARNING, logger="cronui.engine.monitor"):
            switch.ping()
            await switch.wait()
        assert switch.failed == 1 and switch.sent == 0
        assert f"monitor ping to {dead} failed: ConnectError" in caplog.text
        assert "sekrit" not in caplog.text

        caplog.clear()
        missing = DeadMansSwitch("${env:PING_URL}", lambda: client, env={})
        with caplog.at_level(logging.WARNING, logger="cronui.engine.monitor"):
            missing.ping()
            await missing.wait()
        assert missing.failed == 1 and "PING_URL" in caplog.text


async def test_no_ping_url_no_ping():
    switch = DeadMansSwitch(None, lambda: pytest.fail("no client wanted"))
    switch.ping()
    await switch.wait()
    assert (switch.sent, switch.failed, switch.skipped) == (0, 0, 0)


def test_ping_url_in_the_config_and_the_environment(tmp_path):
    config = tmp_path / "cronui.toml"
    config.write_text('timezone = "UTC"\n[monitor]\nping_url = "https://hc-ping.com/${env:HC_UUID}"\n')
    assert load_settings(config, env={}).monitor.ping_url == "https://hc-ping.com/${env:HC_UUID}"
    env = {"CRONUI_MONITOR_PING_URL": "http://watcher:8080/ping/scheduler", "CRONUI_TIMEZONE": "UTC"}
    assert load_settings(None, env=env).monitor.ping_url == "http://watcher:8080/ping/scheduler"
    config.write_text('timezone = "UTC"\n[monitor]\nping_url = "watcher:8080/ping"\n')
    with pytest.raises(ConfigError, match=r"monitor\.ping_url: expected an http\(s\) URL"):
        load_settings(config, env={})
