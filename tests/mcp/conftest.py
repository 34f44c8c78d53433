"""MCP driven with the SDK's own client: over stdio (a real `python -m cronui mcp` process), over streamable
HTTP (a real `cronui serve` on a loopback port, /mcp with its token), and in-process (the server built over
a test's store and caller, for the engine on a fake clock)."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx2
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp_types import CallToolResult

import cronui
from cronui.api.app import ApiState
from cronui.config import Settings
from cronui.mcp.transports import http_mount
from tests.api.conftest import TOKEN, running_api
from tests.store.conftest import backend  # noqa: F401  (both backends for the flag's store path)

ROOT = str(Path(cronui.__file__).resolve().parent.parent)  # the tree under test, first on the child's path
TOOLS = {
    "list_jobs",
    "get_job",
    "explain_schedule",
    "why_not_run",
    "list_runs",
    "get_run",
    "run_now",
    "create_job",
    "update_job",
    "delete_job",
    "schedule_followup",
    "approve_run",
    "reject_run",
    "pause_job",
    "resume_job",
}


class Said:
    """Everything a client was told, to look for a secret in."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def note(self, result: Any) -> None:
        self.texts.append(result.model_dump_json())


async def call(client: Client, said: Said, tool: str, **args: Any) -> dict[str, Any]:
    """A tool's structured answer; the test fails on a tool error."""
    result = await client.call_tool(tool, args)
    said.note(result)
    assert isinstance(result, CallToolResult)
    assert not result.is_error, f"{tool} refused: {result.content[0].text}"  # type: ignore[union-attr]
    assert isinstance(result.structured_content, dict)
    # the text a client without structured output reads says the same
    assert json.loads(result.content[0].text) == result.structured_content  # type: ignore[union-attr]
    return result.structured_content


async def refused(client: Client, said: Said, tool: str, **args: Any) -> str:
    """A tool error's text; the test fails when the tool answered."""
    result = await client.call_tool(tool, args)
    said.note(result)
    assert isinstance(result, CallToolResult)
    assert result.is_error, f"{tool} answered: {result.structured_content}"
    text = result.content[0].text  # type: ignore[union-attr]
    assert "Traceback" not in text and "Error executing tool" not in text
    return str(text)


def stdio_params(db: Path, *extra: str, env: dict[str, str] | None = None) -> StdioServerParameters:
    """`cronui --db DB mcp EXTRA...` as a process, with `env` besides what it needs to start."""
    env = {
        **(env or {}),
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),
        "PYTHONPATH": ROOT,
        "CRONUI_TIMEZONE": "UTC",
        **{k: v for k, v in os.environ.items() if k.startswith("XDG_")},
    }
    return StdioServerParameters(
        command=sys.executable, args=["-m", "cronui", "--db", str(db), "mcp", *extra], env=env, cwd=ROOT
    )


@contextlib.asynccontextmanager
async def over_stdio(db: Path, env: dict[str, str] | None = None) -> AsyncIterator[Client]:
    async with Client(stdio_params(db, env=env), read_timeout_seconds=30) as client:
        yield client


@contextlib.asynccontextmanager
async def over_http(settings: Settings) -> AsyncIterator[tuple[Client, Any]]:
    """A `cronui serve` with MCP mounted as `cronui serve` mounts it, and a client sending the API token."""

    def with_mcp(state: ApiState) -> None:
        state.mounts.append(http_mount)

    async with running_api(settings, configure=with_mcp) as api:
        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
        async with http, Client(streamable_http_client(f"{api.url}/mcp", http_client=http)) as client:
            yield client, api
