"""The job editor's "What" section, one group of fields per job kind (only the job's kind is shown)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Checkbox, Label

from cronui.targets import HTTP_METHODS
from cronui.ui.screens.editor_fields import FieldMaker, row

# A check runs nothing: its shell command, if any, names what runs elsewhere (what the crontab runs)
CHECK_COMMAND_PLACEHOLDER = "optional: the command it watches (what crontab runs)"
COMMAND_PLACEHOLDER = "e.g. restic backup ~/work"

# Said where it is typed: an empty working directory is not "none", it is wherever the scheduling process
# (this TUI, or the daemon) was started; the run's request view (`v`) shows the directory used.
CWD_PLACEHOLDER = "empty: where the scheduler (TUI or daemon) started"


def shell_fields(f: FieldMaker) -> ComposeResult:
    with Vertical(id="shell-fields", classes="kind-fields"):
        yield row("Command", f.input("command", placeholder=COMMAND_PLACEHOLDER))
        yield f.error_line("command")
        yield row("Cwd", f.input("cwd", placeholder=CWD_PLACEHOLDER))
        yield f.error_line("cwd")
        yield row("Env", f.input("env", placeholder="e.g. KEY=value TOKEN=${env:TOKEN}"))
        yield f.error_line("env")


def http_fields(f: FieldMaker) -> ComposeResult:
    with Vertical(id="http-fields", classes="kind-fields"):
        yield row(
            "Request",
            f.select("method", [(m, m) for m in HTTP_METHODS]),
            f.input("url", placeholder="e.g. https://example.com/health"),
        )
        yield f.error_line("url")
        yield row(
            "Headers",
            f.input("headers", placeholder="e.g. Authorization: Bearer ${env:TOKEN}; Accept: text/csv"),
        )
        yield f.error_line("headers")
        yield row("Body", f.input("body", placeholder="text, JSON or @file (optional)"))
        yield f.error_line("body")
        yield row(
            "Expect",
            f.input("expect_status", placeholder="status (any 2xx)", classes="status-input"),
            Label("Body has", classes="short"),
            f.input("expect_body", placeholder="text it must contain (optional)"),
        )
        yield f.error_line("expect_status")


def agent_fields(f: FieldMaker) -> ComposeResult:
    with Vertical(id="agent-fields", classes="kind-fields"):
        yield row(
            "Endpoint",
            f.input("base_url", placeholder="e.g. http://127.0.0.1:11434/v1"),
            Label("Model", classes="short"),
            f.input("model", placeholder="e.g. llama3.1:8b"),
        )
        yield f.error_line("base_url")
        yield row(
            "API key",
            f.input("api_key_env", placeholder="name of the variable holding it, e.g. OPENAI_API_KEY"),
        )
        yield f.error_line("api_key_env")
        yield row(
            "Message",
            f.input("message", placeholder="e.g. Summarise what changed in {job} since {scheduled_for}"),
        )
        yield f.error_line("message")
        yield row("System", f.input("system", placeholder="system prompt (optional)"))
        yield f.error_line("system")
        yield row("Chat", f.input("conversation", placeholder="isolated, persistent or session:NAME (shared)"))
        yield f.error_line("conversation")
        yield row(
            "Fallbacks",
            f.input("fallbacks", placeholder="MODEL or MODEL@BASE_URL, asked in order when one fails"),
        )
        yield f.error_line("fallbacks")
        yield row("Tools", f.input("tools", placeholder="cronui: the model may schedule follow-ups, read runs"))
        yield f.error_line("tools")
        yield row(
            "Gate",
            f.input("gate", placeholder="optional shell check: exit 0 asks, 1 skips"),
            Label("Max cost", classes="short"),
            f.input("max_cost", placeholder="USD", classes="narrow-input"),
        )
        yield f.error_line("gate")


def check_fields(f: FieldMaker) -> ComposeResult:
    """A check (cronui watches it, never runs it: pings report its runs) and its grace, above the target."""
    yield row(
        "Check",
        Checkbox("watch only: pings report its runs", f.values["check"], id="check"),
        Label("Grace", classes="short"),
        f.input("grace", placeholder="5m", classes="narrow-input"),
    )
    yield f.error_line("check")


def kind_fields(f: FieldMaker) -> ComposeResult:
    """Every kind's fields; the editor shows the group of the kind chosen."""
    yield from shell_fields(f)
    yield from http_fields(f)
    yield from agent_fields(f)
