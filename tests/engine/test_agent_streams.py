"""Agent streams in odd shapes, from a real server on loopback: every malformed payload is a permanent
failure that names what was wrong; missing or null usage is unknown; the idle timeout counts content only."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from cronui.config import Price
from cronui.engine.engine import Engine
from cronui.model import Job, Run, RunStatus, TargetKind
from tests.engine.servers import Request, Server, send
from tests.helpers import settle

Script = Callable[[asyncio.StreamWriter], Awaitable[None]]
SSE_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"


def data(payload: Any) -> bytes:
    """One SSE event; a str is sent as it is (not JSON-encoded), anything else as JSON."""
    text = payload if isinstance(payload, str) else json.dumps(payload)
    return f"data: {text}\n\n".encode()


def delta(**fields: Any) -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": fields}]}


HELLO = [delta(role="assistant", content="Hello"), {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}]


class ShapeServer(Server):
    """Answers each model name with what `streams` (events sent as SSE, then [DONE]), `bodies` (one plain
    JSON body) or `scripts` (a coroutine writing the stream itself) say for it."""

    def __init__(self) -> None:
        super().__init__()
        self.streams: dict[str, list[bytes]] = {}
        self.bodies: dict[str, bytes] = {}
        self.scripts: dict[str, Script] = {}

    async def respond(self, req: Request, writer: asyncio.StreamWriter) -> None:
        model = req.json()["model"]
        if model in self.bodies:
            await send(writer, 200, self.bodies[model])
            return
        writer.write(SSE_HEAD)
        if model in self.scripts:
            await self.scripts[model](writer)
            return
        for event in self.streams[model]:
            writer.write(event)
            await writer.drain()
        writer.write(b"data: [DONE]\n\n")
        await writer.drain()


@pytest.fixture
async def server() -> AsyncIterator[ShapeServer]:
    s = ShapeServer()
    await s.start()
    yield s
    await s.stop()


def agent_job(server: ShapeServer, model: str, *, retries: int = 2, **target: object) -> Job:
    spec = {"base_url": f"{server.url}/v1", "model": model, "message": "hi", **target}
    job = Job(name=model, schedule="@yearly", timezone="UTC", kind=TargetKind.AGENT, target=spec)
    job.max_retries, job.retry_delay_s = retries, 0
    return job


async def run_to_end(eng: Engine, job: Job) -> list[Run]:
    """Add the job, run it now and follow its retries to the final attempt."""
    await eng.control.add_job(job)
    first = await eng.control.trigger(job.name)
    for _ in range(1000):
        await settle(eng)
        attempts = await eng.store.attempts(first.id)
        if attempts[-1].status.is_final:
            return attempts
        await asyncio.sleep(max(0.01, (attempts[-1].not_before - eng.clock.now_ms()) / 1000))
    raise AssertionError("the run did not finish")


# ---------------------------------------------------------------- malformed: permanent, and says what

MALFORMED_STREAMS: dict[str, tuple[list[bytes], str]] = {
    "not-json": (
        [data(HELLO[0]), data("{this is not json")],
        "malformed stream: line 3 is not JSON: '{this is not json'",
    ),
    "array-chunk": ([data([1, 2])], "malformed stream: line 1: the chunk is an array, not an object"),
    "string-chunk": ([data('"hello"')], "malformed stream: line 1: the chunk is a string, not an object"),
    "null-chunk": ([data("null")], "malformed stream: line 1: the chunk is null, not an object"),
    "no-choices": (
        [data({"id": "c1", "object": "chat.completion.chunk"})],
        "malformed stream: line 1: the chunk has no choices",
    ),
    "choices-not-array": ([data({"choices": "Hello"})], "malformed stream: line 1: choices is a string, not an array"),
    "choice-not-object": ([data({"choices": [7]})], "malformed stream: line 1: choices[0] is a number, not an object"),
    "delta-not-object": (
        [data({"choices": [{"delta": "Hello"}]})],
        "line 1: choices[0].delta is a string, not an object",
    ),
    "content-number": ([data(delta(content=42))], "line 1: choices[0].delta.content is a number, not a string"),
    "content-object": (
        [data(delta(content={"text": "hi"}))],
        "line 1: choices[0].delta.content is an object, not a string",
    ),
    "tool-calls-object": (
        [data(delta(tool_calls={"name": "search"}))],
        "line 1: choices[0].delta.tool_calls is an object, not an array",
    ),
    "tool-call-not-object": (
        [data(delta(tool_calls=["search"]))],
        "choices[0].delta.tool_calls[0] is a string, not an object",
    ),
    "tool-call-index-string": (
        [data(delta(tool_calls=[{"index": "0", "function": {"name": "search"}}]))],
        "choices[0].delta.tool_calls[0].index is a string, not an integer",
    ),
    "tool-call-index-negative": (
        [data(delta(tool_calls=[{"index": -1, "function": {"name": "search"}}]))],
        "choices[0].delta.tool_calls[0].index is -1, not a non-negative integer",
    ),
    "tool-call-function-array": (
        [data(delta(tool_calls=[{"index": 0, "function": ["search"]}]))],
        "choices[0].delta.tool_calls[0].function is an array, not an object",
    ),
    "tool-call-arguments-object": (
        [data(delta(tool_calls=[{"index": 0, "function": {"name": "search", "arguments": {"q": "x"}}}]))],
        "choices[0].delta.tool_calls[0].function.arguments is an object, not a string",
    ),
    "finish-reason-number": (
        [data({"choices": [{"delta": {"content": "Hi"}, "finish_reason": 1}]})],
        "line 1: choices[0].finish_reason is a number, not a string",
    ),
    "usage-string": (
        [*map(data, HELLO), data({"choices": [], "usage": "lots"})],
        "line 5: usage is a string, not an object",
    ),
    "usage-count-string": (
        [*map(data, HELLO), data({"choices": [], "usage": {"prompt_tokens": "12", "completion_tokens": 5}})],
        "line 5: usage.prompt_tokens is a string, not an integer",
    ),
    "usage-count-fraction": (
        [*map(data, HELLO), data({"choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 2.5}})],
        "line 5: usage.completion_tokens is a number, not an integer",
    ),
    "usage-count-negative": (
        [*map(data, HELLO), data({"choices": [], "usage": {"prompt_tokens": -3, "completion_tokens": 5}})],
        "line 5: usage.prompt_tokens is -3, not a count of tokens",
    ),
    "usage-count-huge": (
        [*map(data, HELLO), data({"choices": [], "usage": {"prompt_tokens": 10**400, "completion_tokens": 5}})],
        "line 5: usage.prompt_tokens is a number of 401 digits, not a count of tokens",
    ),
    "error-mid-stream": (
        [data(HELLO[0]), data({"error": {"message": "model overloaded", "code": 529}})],
        "the server reported an error mid-stream: model overloaded",
    ),
}


@pytest.mark.parametrize("shape", list(MALFORMED_STREAMS))
async def test_a_malformed_stream_is_a_permanent_failure_naming_the_problem(eng, server, shape):
    events, expected = MALFORMED_STREAMS[shape]
    server.streams[shape] = events
    runs = await run_to_end(eng, agent_job(server, shape))
    assert len(runs) == 1, "retried, though trying again cannot help"
    [run] = runs
    assert run.status is RunStatus.FAILED
    assert expected in run.error
    assert "Error" not in run.error and "Traceback" not in run.error  # no raw Python exception text


MALFORMED_BODIES: dict[str, tuple[bytes, str]] = {
    "body-not-json": (b"<html>502 Bad Gateway</html>", "malformed reply: not JSON: '<html>502 Bad Gateway</html>'"),
    "body-array": (b"[]", "malformed reply: the reply is an array, not an object"),
    "body-no-choices": (b'{"id": "c1"}', "malformed reply: choices is null, not an array"),
    "body-empty-choices": (b'{"choices": []}', "malformed reply: choices is empty"),
    "body-message-string": (
        b'{"choices": [{"message": "Hello"}]}',
        "malformed reply: choices[0].message is a string, not an object",
    ),
    "body-content-number": (
        b'{"choices": [{"message": {"content": 42}}]}',
        "malformed reply: choices[0].message.content is a number, not a string",
    ),
    "body-usage-count-null-string": (
        b'{"choices": [{"message": {"content": "Hi"}}], "usage": {"prompt_tokens": "null"}}',
        "malformed reply: usage.prompt_tokens is a string, not an integer",
    ),
}


@pytest.mark.parametrize("shape", list(MALFORMED_BODIES))
async def test_a_malformed_plain_reply_is_a_permanent_failure_naming_the_problem(eng, server, shape):
    server.bodies[shape], expected = MALFORMED_BODIES[shape]
    runs = await run_to_end(eng, agent_job(server, shape))
    assert len(runs) == 1
    assert runs[0].status is RunStatus.FAILED and runs[0].error == expected


# ---------------------------------------------------------------- usage: unknown, never an error


async def test_usage_with_null_counts_and_a_price_is_a_good_reply_with_unknown_usage(eng, server, settings):
    settings.prices["nulls"] = Price(input=1.0, output=2.0)
    usage = {"prompt_tokens": None, "completion_tokens": None, "total_tokens": None}
    server.streams["nulls"] = [*map(data, HELLO), data({"choices": [], "usage": usage})]
    runs = await run_to_end(eng, agent_job(server, "nulls"))
    assert len(runs) == 1
    [run] = runs
    assert run.status is RunStatus.SUCCEEDED and run.output == "Hello" and run.error is None
    assert (run.prompt_tokens, run.completion_tokens, run.total_tokens, run.cost_usd) == (None, None, None, None)
    assert [m.name for m in run.milestones][-1] == "usage-calculated"


async def test_null_usage_on_every_chunk_and_no_usage_chunk_is_unknown(eng, server, settings):
    settings.prices["no-usage"] = Price(input=1.0, output=2.0)
    server.streams["no-usage"] = [data({**chunk, "usage": None}) for chunk in HELLO]
    [run] = await run_to_end(eng, agent_job(server, "no-usage"))
    assert run.status is RunStatus.SUCCEEDED and run.output == "Hello"
    assert (run.total_tokens, run.cost_usd) == (None, None)


async def test_partly_known_usage_keeps_what_is_known_and_the_cost_unknown(eng, server, settings):
    settings.prices["partial"] = Price(input=1.0, output=2.0)
    usage = {"prompt_tokens": 12, "completion_tokens": None}
    server.streams["partial"] = [*map(data, HELLO), data({"choices": [], "usage": usage})]
    [run] = await run_to_end(eng, agent_job(server, "partial"))
    assert run.status is RunStatus.SUCCEEDED
    assert (run.prompt_tokens, run.completion_tokens, run.total_tokens, run.cost_usd) == (12, None, None, None)


async def test_a_usage_only_chunk_without_choices_counts_and_prices_the_reply(eng, server, settings):
    settings.prices["usage-only"] = Price(input=1.0, output=2.0)
    server.streams["usage-only"] = [*map(data, HELLO), data({"usage": {"prompt_tokens": 12, "completion_tokens": 5}})]
    [run] = await run_to_end(eng, agent_job(server, "usage-only"))
    assert run.status is RunStatus.SUCCEEDED
    assert (run.prompt_tokens, run.completion_tokens, run.total_tokens) == (12, 5, 17)  # the total is their sum
    assert run.cost_usd == pytest.approx((12 * 1.0 + 5 * 2.0) / 1e6)


async def test_a_plain_reply_with_null_usage_is_unknown(eng, server, settings):
    settings.prices["plain-nulls"] = Price(input=1.0, output=2.0)
    body = {"choices": [{"message": {"content": "Hi"}, "finish_reason": "stop"}], "usage": {"prompt_tokens": None}}
    server.bodies["plain-nulls"] = json.dumps(body).encode()
    [run] = await run_to_end(eng, agent_job(server, "plain-nulls"))
    assert run.status is RunStatus.SUCCEEDED and run.output == "Hi"
    assert (run.total_tokens, run.cost_usd) == (None, None)


# ---------------------------------------------------------------- the end of a stream, and the idle timeout


async def test_a_stream_cut_before_the_reply_ends_is_a_transient_failure(eng, server):
    async def cut(writer: asyncio.StreamWriter) -> None:
        writer.write(data(delta(content="Hel")))
        await writer.drain()  # and the connection closes: no finish_reason, no [DONE]

    server.scripts["cut"] = cut
    runs = await run_to_end(eng, agent_job(server, "cut", retries=1))
    assert [r.status for r in runs] == [RunStatus.FAILED, RunStatus.FAILED]  # retried: the next try may get it all
    assert runs[-1].error == "the stream ended before the reply was complete (no finish_reason and no [DONE])"
    assert runs[-1].output == "Hel"


async def idle_forever(writer: asyncio.StreamWriter, event: bytes) -> None:
    """A token, then `event` every 50 ms (for up to 30 s, or until the client hangs up)."""
    writer.write(data(delta(content="Hel")))
    for _ in range(600):
        writer.write(event)
        await writer.drain()
        await asyncio.sleep(0.05)


@pytest.mark.parametrize(
    "event",
    [b": keep-alive\n\n", b":\n\n", data(delta()), data(delta(content="")), data({"choices": []})],
    ids=["comment", "bare-colon", "empty-delta", "empty-content", "empty-choices"],
)
async def test_keep_alives_and_empty_chunks_do_not_reset_the_idle_timeout(eng, server, event):
    async def stall(writer: asyncio.StreamWriter) -> None:
        await idle_forever(writer, event)

    server.scripts["stall"] = stall
    job = agent_job(server, "stall", retries=0, idle_timeout_s=0.5)
    job.timeout_s = 30
    [run] = await run_to_end(eng, job)
    assert run.status is RunStatus.TIMED_OUT
    assert run.error.startswith("no token for 0.5s (idle timeout; ")  # the idle timeout, not the job's 30 s
    assert "keep-alives or empty chunks meanwhile" in run.error
    assert run.output == "Hel"


async def test_content_arriving_slower_than_keep_alives_still_completes(eng, server):
    async def slow_but_steady(writer: asyncio.StreamWriter) -> None:
        for word in ["one ", "two ", "three ", "four ", "five ", "six ", "seven ", "eight"]:
            writer.write(data(delta(content=word)) + b": keep-alive\n\n")
            await writer.drain()
            await asyncio.sleep(0.2)
        writer.write(data({"choices": [{"delta": {}, "finish_reason": "stop"}]}) + b"data: [DONE]\n\n")
        await writer.drain()

    server.scripts["steady"] = slow_but_steady
    job = agent_job(server, "steady", retries=0, idle_timeout_s=1.0)  # the whole reply takes longer than that
    [run] = await run_to_end(eng, job)
    assert run.status is RunStatus.SUCCEEDED and run.output == "one two three four five six seven eight"
