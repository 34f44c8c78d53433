"""What genai-prices' table knows about a model besides its price: its context window, so a run's tokens can
be read against it ("1,539 / 128k context (1.2%)"). The table is the maintained source the cost estimates
already use; a model it does not know (a local one, a gateway's own name) has no window: the tokens alone
are shown. The table loads on first use (a moment): callers on an event loop ask from a thread."""

from __future__ import annotations

from typing import Any

from cronui.model import Run


def context_window(model: str, base_url: str | None = None) -> int | None:
    """The model's context window in tokens, None when unknown. The provider is recognised by its API URL,
    else by the model's name (a gateway on localhost serving `gpt-4o-mini` still names a known model)."""
    from genai_prices.data_snapshot import get_snapshot  # loaded on first use, not with the CLI

    snapshot = get_snapshot()
    for url in ([base_url] if base_url else []) + [None]:
        try:
            _, info = snapshot.find_provider_model(model, None, None, url)
        except LookupError:
            continue
        return info.context_window
    return None


def run_model(run: Run) -> tuple[str, str | None] | None:
    """The model whose reply an agent run recorded and the URL it was asked at (None for a fallback, whose
    URL the run does not keep); None for a run that asked no model."""
    request: dict[str, Any] = run.request or {}
    body = request.get("body")
    asked = body.get("model") if isinstance(body, dict) else None
    model = run.answered_by or asked
    if not isinstance(model, str) or not model:
        return None
    url = request.get("url")
    return model, (url if isinstance(url, str) and url and model == asked else None)


def run_context_window(run: Run) -> int | None:
    """The context window of the model that answered the run, None when unknown or no model answered."""
    asked = run_model(run)
    return context_window(*asked) if asked is not None else None


def window_text(n: int) -> str:
    """128000 → 128k, 1000000 → 1M, 8192 → 8.2k."""
    if n >= 1_000_000:
        return f"{n / 1_000_000:.3g}M"
    if n >= 10_000:
        return f"{n / 1000:.0f}k"
    return f"{n / 1000:.2g}k" if n >= 1000 else str(n)


def context_text(tokens: int, window: int) -> str:
    """`tokens` as a share of the window: "/ 128k context (9.6%)"."""
    share = tokens / window * 100 if window > 0 else 0.0
    pct = "<0.1%" if 0 < share < 0.1 else f"{share:.1f}%"
    return f"/ {window_text(window)} context ({pct})"
