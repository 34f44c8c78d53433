"""The pieces that keep an agent reply bounded: stream lines split as SSE says (CRLF, LF or CR) however the
bytes are cut into chunks, with a cap per line; reply text kept head and tail; tool calls capped in number
and argument length, with what was left out counted."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cronui.engine.executors.agent.reply import (
    MAX_TOOL_ARGUMENT_CHARS,
    MAX_TOOL_CALLS,
    CappedText,
    Reply,
    ToolCalls,
)
from cronui.engine.executors.agent.shapes import StreamError
from cronui.engine.executors.agent.stream import Lines


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


@given(
    st.lists(st.sampled_from([b"a", b"bc", b"\r", b"\n", b"\r\n", b"data: {}"]), max_size=30).map(b"".join),
    st.lists(st.integers(min_value=0, max_value=300), max_size=10),
)
def test_lines_are_the_same_however_the_stream_is_cut(data, cuts):
    *lines, rest = re.split(rb"\r\n|\r|\n", data)  # SSE: CRLF, LF or CR ends a line
    expected = lines + ([rest] if rest else [])
    reader = Lines(cap=1024)
    got = [line for chunk in split(data, cuts) for line in reader.feed(chunk)] + reader.end()
    assert got == expected
    assert reader.count == len(expected)


def test_a_line_past_the_cap_fails_whether_it_ends_or_not():
    with pytest.raises(StreamError, match=re.escape("line 2 is longer than 100 bytes")):
        Lines(cap=100).feed(b"ok\n" + b"x" * 101 + b"\n")
    reader = Lines(cap=100)
    reader.feed(b"ok\n")
    for _ in range(10):
        reader.feed(b"x" * 10)  # exactly the cap: still a line
    with pytest.raises(StreamError, match="line 2 is longer"):
        reader.feed(b"x")


def test_capped_text_keeps_head_and_tail_and_counts_the_rest():
    text = CappedText(100)
    for i in range(1000):
        text.add(f"{i:04d}")
    kept = text.text()
    assert text.total == 4000
    assert kept.startswith("0000000100020003") and kept.endswith("09970998" + "0999")
    assert "\n… [3,900 characters omitted] …\n" in kept
    short = CappedText(100)
    short.add("all of it")
    assert short.text() == "all of it"


def test_tool_calls_keep_the_first_calls_and_the_head_of_long_arguments():
    calls = ToolCalls()
    calls.add([{"index": 0, "id": "c0", "name": "write", "arguments": None}])
    for _ in range(100):
        calls.add([{"index": 0, "id": None, "name": None, "arguments": "a" * 1000}])  # 100,000 characters
    for i in range(1, 1000):
        calls.add([{"index": i, "id": f"c{i}", "name": "f", "arguments": "{"}])
        calls.add([{"index": i, "id": None, "name": None, "arguments": "}"}])
    calls.add([{"index": None, "id": "c-last", "name": "g", "arguments": "{}"}])  # no index: a new call
    reply = Reply()
    calls.finish(reply)
    assert len(reply.tool_calls) == MAX_TOOL_CALLS
    first = reply.tool_calls[0]
    assert first["arguments_chars"] == 100_000
    omitted = 100_000 - MAX_TOOL_ARGUMENT_CHARS
    assert first["arguments"] == "a" * MAX_TOOL_ARGUMENT_CHARS + f"… [{omitted:,} more characters not kept]"
    assert reply.tool_calls[1] == {"id": "c1", "name": "f", "arguments": "{}"}
    assert reply.tool_calls_cut == {
        "calls": 1001,
        "kept": MAX_TOOL_CALLS,
        "dropped": 1001 - MAX_TOOL_CALLS,
        "arguments_cut": 1,
        "max_arguments_chars": MAX_TOOL_ARGUMENT_CHARS,
    }
    assert calls.chars == len("write") + 100_000 + 999 * 3 + 3
