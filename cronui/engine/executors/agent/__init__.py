"""Agent jobs over the OpenAI-compatible Chat Completions protocol (OpenAI, OpenRouter, Ollama, vLLM,
LiteLLM, llama.cpp's server, LM Studio, the OpenClaw gateway).

Streams by default (SSE with `stream_options.include_usage`) so viewers can follow the reply as it is
written, and falls back to one plain request when the server refuses to stream. Milestones, in order:
setup-completed, execution-started, first-token, execution-completed, usage-calculated.

The parts: executor (the run), ask (one model's request and fallbacks), stream (reading the answer within
bounds), reply (the reply and its tool calls, capped), shapes (checking what the server sends), sentinels
(what a reply means), cost (prices and --max-cost), gate (the shell check before asking), history (how
much of a conversation is carried and recorded).
"""

from cronui.engine.executors.agent.cost import cost_usd, load_price_table, table_cost, token_prices
from cronui.engine.executors.agent.executor import CONVERSATION_KEY, SESSION_UNREAD, run
from cronui.engine.executors.agent.reply import MAX_TOOL_ARGUMENT_CHARS, MAX_TOOL_CALLS, Reply
from cronui.engine.executors.agent.sentinels import (
    FAILED_SENTINEL,
    QUIET_SENTINELS,
    find_sentinel,
    render_message,
    transient_reply,
)
from cronui.engine.executors.agent.stream import MAX_BODY_BYTES, MAX_LINE_BYTES

__all__ = [
    "CONVERSATION_KEY",
    "FAILED_SENTINEL",
    "MAX_BODY_BYTES",
    "MAX_LINE_BYTES",
    "MAX_TOOL_ARGUMENT_CHARS",
    "MAX_TOOL_CALLS",
    "QUIET_SENTINELS",
    "SESSION_UNREAD",
    "Reply",
    "cost_usd",
    "find_sentinel",
    "load_price_table",
    "render_message",
    "run",
    "table_cost",
    "token_prices",
    "transient_reply",
]
