"""An HTTP job's `@FILE` body is read off the loop, and only when it is a regular file within the cap."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from cronui.engine.engine import Engine
from cronui.model import Job, RunStatus, TargetKind
from tests.engine.servers import Sink
from tests.engine.test_agent_streams import run_to_end


def post_job(name: str, sink: Sink, body: str) -> Job:
    target = {"url": f"{sink.url}/ok", "method": "POST", "body": body}
    job = Job(name=name, schedule="@yearly", timezone="UTC", kind=TargetKind.HTTP, target=target)
    job.timeout_s = 10
    return job


async def test_a_device_body_fails_the_run_without_reading_it(eng: Engine, sink: Sink):
    async with asyncio.timeout(30):  # before: /dev/zero was read until memory ran out
        [run] = await run_to_end(eng, post_job("zero", sink, "@/dev/zero"))
    assert run.status is RunStatus.FAILED  # one attempt only: run_to_end follows retries, and none came
    assert run.error == (
        "body file: /dev/zero is not a regular file (a device, FIFO or directory cannot be a request body)"
    )
    assert sink.requests == []


async def test_a_fifo_body_fails_the_run_and_never_blocks_the_engine(eng: Engine, sink: Sink, tmp_path: Path):
    fifo = tmp_path / "body"
    os.mkfifo(fifo)
    async with asyncio.timeout(30):  # before: opening it blocked the loop until a writer came, forever
        [run] = await run_to_end(eng, post_job("fifo", sink, f"@{fifo}"))
    assert run.status is RunStatus.FAILED and "is not a regular file" in (run.error or "")


async def test_a_body_file_grown_past_the_cap_fails_the_run(eng: Engine, sink: Sink, tmp_path: Path):
    big = tmp_path / "big.txt"
    big.write_bytes(b"x" * (1024 * 1024 + 1))
    [run] = await run_to_end(eng, post_job("big", sink, f"@{big}"))
    assert run.status is RunStatus.FAILED
    assert run.error == f"body file: {big} is 1,048,577 bytes long; a request body is at most 1 MiB"
    assert sink.requests == []


async def test_a_json_body_file_is_sent_as_json(eng: Engine, sink: Sink, tmp_path: Path):
    small = tmp_path / "body.json"
    small.write_text('{"hello": "world"}')
    [run] = await run_to_end(eng, post_job("json", sink, f"@{small}"))
    assert run.status is RunStatus.SUCCEEDED
    [req] = sink.requests
    assert req.headers["content-type"] == "application/json" and req.json() == {"hello": "world"}
