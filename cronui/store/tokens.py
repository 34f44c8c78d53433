"""API and MCP tokens as both SQL backends keep them (`cronui tokens`): a name, a scope, the sha256 of the
secret (the secret itself is shown once, when it is made, and never stored), when it was made, when it
expires and when it was last used, and its own `[policy]` overrides (JSON text, NULL for none).

A request's token is found by its hash, one indexed lookup: the secret is never compared byte by byte
against stored ones, so how long a refusal takes tells nothing about them. `last_used_at` is written at
most once per `touch_ms` per token (a compare in SQL), not once per request.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cronui.store.sql_writes import SqlWrites

TOKEN_COLUMNS = "name, scope, created_at, expires_at, last_used_at, policy"
MAX_TOKENS = 10_000  # what one listing returns at most


@dataclass
class StoredToken:
    """A token as the store keeps it (never its secret)."""

    name: str
    scope: str  # read | run | write | admin
    created_at: int
    expires_at: int | None = None
    last_used_at: int | None = None
    policy: str | None = None  # JSON text: the token's own `[policy]` overrides


def _token(row: Sequence[Any]) -> StoredToken:
    name, scope, created_at, expires_at, last_used_at, policy = row
    return StoredToken(str(name), str(scope), int(created_at), expires_at, last_used_at, policy)


class SqlTokens(SqlWrites):
    """Tokens, the same SQL on each engine."""

    async def add_token(self, token: StoredToken, secret_sha256: str) -> bool:
        """Store `token` with its secret's hash; False (nothing written) when its name is taken."""
        async with self.write() as tx:
            row = await tx.row(
                f"INSERT INTO tokens ({TOKEN_COLUMNS}, secret_sha256) VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (name) DO NOTHING RETURNING id",
                (
                    token.name,
                    token.scope,
                    token.created_at,
                    token.expires_at,
                    token.last_used_at,
                    token.policy,
                    secret_sha256,
                ),
            )
        return row is not None

    async def list_tokens(self) -> list[StoredToken]:
        rows = await self.select_rows(f"SELECT {TOKEN_COLUMNS} FROM tokens ORDER BY name LIMIT ?", (MAX_TOKENS,))
        return [_token(r) for r in rows]

    async def remove_token(self, name: str) -> bool:
        """Remove the token named `name`; False when there is none."""
        return await self.write_one("DELETE FROM tokens WHERE name = ?", (name,)) > 0

    async def token_by_hash(self, secret_sha256: str) -> StoredToken | None:
        row = await self.select_one(f"SELECT {TOKEN_COLUMNS} FROM tokens WHERE secret_sha256 = ?", (secret_sha256,))
        return None if row is None else _token(row)

    async def token_by_name(self, name: str) -> StoredToken | None:
        row = await self.select_one(f"SELECT {TOKEN_COLUMNS} FROM tokens WHERE name = ?", (name,))
        return None if row is None else _token(row)

    async def has_tokens(self) -> bool:
        return await self.select_one("SELECT 1 FROM tokens LIMIT 1", ()) is not None

    async def touch_token(self, name: str, now: int, touch_ms: int) -> bool:
        """Note that the token was used at `now`, unless that was noted less than `touch_ms` ago."""
        return (
            await self.write_one(
                "UPDATE tokens SET last_used_at = ? WHERE name = ? AND (last_used_at IS NULL OR last_used_at <= ?)",
                (now, name, now - touch_ms),
            )
            > 0
        )
