"""What a reply costs: the config's `[prices]`, the gateway's own `usage.cost`, or genai-prices' table;
and `--max-cost`, which stops a streaming reply once its estimated cost passes the limit."""

from __future__ import annotations

import asyncio
import importlib
import json
import sys
from collections.abc import Callable
from typing import Any

from cronui.engine.executors.agent.reply import Reply
from cronui.engine.executors.base import RunContext

# Where a run's cost came from (the usage-calculated milestone's cost_source)
COST_FROM_PRICES, COST_FROM_GATEWAY, COST_FROM_TABLE, COST_UNKNOWN = "prices", "gateway", "table", "unknown"
CHARS_PER_TOKEN = 4  # a rough count of tokens from text, for a cost estimate while the reply streams


class CostLimit(Exception):
    """The reply's estimated cost passed the job's --max-cost: the stream is stopped."""


def cost_usd(ctx: RunContext, model: str, base_url: str, reply: Reply) -> tuple[float | None, str]:
    """The reply's cost in USD and where it came from, first that knows: the config's `[prices]` (it
    overrides the rest), the gateway's own `usage.cost`, the genai-prices table; else unknown (None, never
    zero: unknown token counts, or a model none of them knows)."""
    usage = reply.usage or {}
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    price = ctx.prices.get(model)
    if price is not None:
        if prompt is None or completion is None:
            return None, COST_UNKNOWN
        return (prompt * price.input + completion * price.output) / 1e6, COST_FROM_PRICES
    if reply.gateway_cost is not None:
        return reply.gateway_cost, COST_FROM_GATEWAY
    if prompt is None or completion is None:
        return None, COST_UNKNOWN
    cost = table_cost(model, base_url, prompt, completion)
    return (cost, COST_FROM_TABLE) if cost is not None else (None, COST_UNKNOWN)


async def load_price_table() -> None:
    """Import genai-prices (its table takes a moment to load) off the event loop, once per process."""
    if "genai_prices" not in sys.modules:
        await asyncio.to_thread(importlib.import_module, "genai_prices")


def table_cost(model: str, base_url: str, prompt: int, completion: int) -> float | None:
    """From genai-prices' table (the provider recognised by its API URL, else by the model's name);
    None for a model it does not know."""
    from genai_prices import Usage, calc_price  # loaded on first use (load_price_table), not with the CLI

    usage = Usage(input_tokens=prompt, output_tokens=completion)
    try:
        return float(calc_price(usage, model, provider_api_url=base_url).total_price)
    except LookupError:
        pass
    try:
        return float(calc_price(usage, model).total_price)
    except LookupError:
        return None


def token_prices(ctx: RunContext, model: str, base_url: str) -> tuple[float, float] | None:
    """USD per input and per output token for a model: the config's `[prices]`, else genai-prices' table;
    None when neither knows it."""
    price = ctx.prices.get(model)
    if price is not None:
        return price.input / 1e6, price.output / 1e6
    per_input = table_cost(model, base_url, 1_000_000, 0)
    per_output = table_cost(model, base_url, 0, 1_000_000)
    if per_input is None or per_output is None:
        return None
    return per_input / 1e6, per_output / 1e6


def cost_limit(
    ctx: RunContext, model: str, base_url: str, body: dict[str, Any], max_cost: float
) -> Callable[[int], None] | None:
    """A check that stops a streaming reply once its estimated cost passes `max_cost`: the prompt and
    the characters streamed so far (text, tool calls' names and arguments), counted from their length
    (usage arrives only at the end), at the model's price. None when no price is known for the model (the
    milestone says the limit cannot be checked)."""
    prices = token_prices(ctx, model, base_url)
    if prices is None:
        ctx.milestone("max-cost-unchecked", model=model, reason="no price known for the model")
        return None
    per_in, per_out = prices
    prompt_tokens = len(json.dumps(body["messages"], ensure_ascii=False)) / CHARS_PER_TOKEN

    def check(chars: int) -> None:
        estimate = prompt_tokens * per_in + chars / CHARS_PER_TOKEN * per_out
        if estimate > max_cost:
            ctx.milestone("max-cost-reached", estimate_usd=round(estimate, 6), max_cost_usd=max_cost)
            raise CostLimit(
                f"stopped: the reply's estimated cost ${estimate:.4f} passed --max-cost ${max_cost:g}"
                f" (about {int(chars / CHARS_PER_TOKEN)} tokens streamed)"
            )

    return check
