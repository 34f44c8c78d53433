"""`cronui tokens add|list|rm`: the API's and MCP's bearer tokens, each with a scope (read < run < write <
admin), an optional expiry and its own overrides of the `[policy]` (`--policy KEY=VALUE`). A token's secret is
printed once, when it is made; only its hash is kept."""

from __future__ import annotations

import argparse

from cronui.application import tokens
from cronui.application.context import Cronui
from cronui.cli.common import Commands, command, group, print_json, say, with_app
from cronui.timefmt import human_span

EPILOG = """\
scopes: read (list, show, stats, events), run (+ run now, cancel, approve/reject, enable/disable),
write (+ add, change, remove jobs), admin (everything). The API token of the config (CRONUI_API_TOKEN,
[api] token) is an admin token, not held to the [policy].

policy: callers with a stored token are held to the config's [policy] (kinds, max_jobs_per_owner,
max_creations_per_day, min_interval, daily_budget_usd); --policy KEY=VALUE (repeatable) overrides a key
for this token alone: kinds=agent,http,shell  max_jobs_per_owner=50  min_interval=10s  daily_budget_usd=none

examples:
  cronui tokens add ci-bot --scope run --expires 90d
  cronui tokens add agent-runtime --scope write --policy max_jobs_per_owner=50 --policy daily_budget_usd=2
  curl -H "Authorization: Bearer cu_..." http://127.0.0.1:8377/api/v1/jobs
  cronui tokens list --json
  cronui tokens rm ci-bot
"""


def add_parsers(sub: Commands) -> None:
    """Registers tokens (add, list, rm)."""
    actions = group(
        sub,
        "tokens",
        "bearer tokens for the HTTP API and MCP, each with a scope",
        dest="tokens_command",
        description="Bearer tokens for the HTTP API and MCP: read < run < write < admin.",
    )
    a = command(
        actions,
        "add",
        "make a token and print its secret (shown this once)",
        cmd_add,
        description="Make a token NAME with a scope and print its secret: it is shown this once, and only its "
        "hash is stored.",
        epilog=EPILOG,
    )
    a.add_argument("name", metavar="NAME", help="what the token is called (in `tokens list`, jobs' owners, the audit)")
    a.add_argument("--scope", required=True, metavar="SCOPE", help="read, run, write or admin")
    a.add_argument("--expires", metavar="DUR", help="expire this long from now, e.g. 12h, 30d (default: never)")
    a.add_argument(
        "--policy",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="this token's own value of a [policy] key (repeatable): kinds, max_jobs_per_owner, "
        "max_creations_per_day, min_interval, daily_budget_usd",
    )
    a.add_argument("--json", action="store_true", help="print {name, scope, created_at, expires_at, policy, secret}")
    ls = command(actions, "list", "the tokens (never their secrets)", cmd_list)
    ls.add_argument("--json", action="store_true", help="one JSON object per token, in a list")
    rm = command(actions, "rm", "remove a token: its secret is refused from then on", cmd_rm)
    rm.add_argument("name", metavar="NAME")


def cmd_add(args: argparse.Namespace) -> int:
    async def body(app: Cronui) -> int:
        made = await tokens.add_token(app, args.name, args.scope, args.expires, args.policy)
        shown = tokens.token_json(made.token, app.now_ms())
        if args.json:
            keys = ("name", "scope", "created_at", "expires_at", "policy")
            print_json({k: shown[k] for k in keys} | {"secret": made.secret})
            return 0
        until = shown["expires_at"]
        say(f"token {made.token.name!r} ({made.token.scope}" + (f", expires {until})" if until else ", never expires)"))
        if made.token.policy is not None:
            say(f"its policy, over [policy]: {tokens.policy_text(made.token)}")
        say("its secret, shown this once (send it as `Authorization: Bearer SECRET`):")
        print(made.secret)
        return 0

    return with_app(args, body)


def cmd_list(args: argparse.Namespace) -> int:
    async def body(app: Cronui) -> int:
        now = app.now_ms()
        found = await tokens.list_tokens(app)
        if args.json:
            print_json([tokens.token_json(t, now) for t in found])
            return 0
        if not found:
            say("no tokens (make one with `cronui tokens add NAME --scope read|run|write|admin`)")
            return 0
        say(f"{'NAME':<24} {'SCOPE':<6} {'CREATED':<10} {'EXPIRES':<14} {'LAST USED':<12} POLICY")
        for t in found:
            created = f"{human_span(max(0, now - t.created_at))} ago"
            if t.expires_at is None:
                expires = "never"
            elif tokens.expired(t, now):
                expires = "expired"
            else:
                expires = f"in {human_span(t.expires_at - now)}"
            used = "never" if t.last_used_at is None else f"{human_span(max(0, now - t.last_used_at))} ago"
            policy = tokens.policy_text(t) or "[policy]"
            say(f"{t.name:<24} {t.scope:<6} {created:<10} {expires:<14} {used:<12} {policy}")
        return 0

    return with_app(args, body)


def cmd_rm(args: argparse.Namespace) -> int:
    async def body(app: Cronui) -> int:
        await tokens.remove_token(app, args.name)
        say(f"removed token {args.name!r}")
        return 0

    return with_app(args, body)
