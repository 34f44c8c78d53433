"""`cronui db copy`: move a database's jobs, history and job memory to another database — the current
one (--db) to `--to URL`, or `--from URL` into the current one — e.g. from a SQLite file to PostgreSQL
when one machine is outgrown (see `cronui.store.copy`)."""

from __future__ import annotations

import argparse
import asyncio

from cronui.cli.common import Commands, UsageError, command, live_holder, settings_from
from cronui.redaction import redacted
from cronui.store import Store, make_store
from cronui.store.copy import TargetNotEmpty, copy_database

URL_FORMS = "postgresql://user@host/db[?schema=NAME] or sqlite:///path/to/file.db"


def add_copy_parser(dsub: Commands) -> None:
    """Registers `db copy` in the `db` group."""
    p = command(
        dsub,
        "copy",
        "copy jobs, history and job memory to (or from) another database",
        cmd_db_copy,
        description="Copy jobs, runs (with output, milestones and events) and job memory from the current "
        "database (--db) to --to URL, or from --from URL into the current one. Ids are kept and new runs "
        "continue after the copied ones. A target that holds jobs or runs is refused unless --replace. "
        "Stop the schedulers of both databases first.",
    )
    way = p.add_mutually_exclusive_group(required=True)
    way.add_argument("--to", metavar="URL", help=f"copy the current database into URL ({URL_FORMS})")
    way.add_argument("--from", dest="source", metavar="URL", help="copy URL into the current database")
    p.add_argument("--replace", action="store_true", help="empty a target that holds jobs or runs, then copy")


def _other_url(url: str, option: str) -> str:
    """The other database's URL, checked before anything is opened (a typo must not create a file)."""
    url = url.strip()
    if url.startswith(("postgresql://", "postgres://")):
        return url
    if url.startswith("sqlite:///") and len(url) > len("sqlite:///"):
        return url
    raise UsageError(f"cronui: {option}: {url!r} is not a database URL (expected {URL_FORMS})")


def _shown(url: str) -> str:
    return redacted(url)


def cmd_db_copy(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    other = _other_url(args.to if args.to is not None else args.source, "--to" if args.to is not None else "--from")
    source_url, target_url = (settings.db, other) if args.to is not None else (other, settings.db)
    if _same(source_url, target_url):
        raise UsageError("cronui: db copy: the source and the target are the same database")

    async def go() -> int:
        source = make_store(source_url)
        await source.open()
        try:
            target = make_store(target_url)
            await target.open()
            try:
                await _refuse_live(source, "source", source_url)
                await _refuse_live(target, "target", target_url)
                try:
                    copied = await copy_database(source, target, replace=args.replace)
                except TargetNotEmpty as e:
                    raise UsageError(f"cronui: {e} (--replace empties it first)") from None
            finally:
                await target.close()
        finally:
            await source.close()
        print(f"copied {copied.summary()} from {_shown(source_url)} to {_shown(target_url)}")
        return 0

    return asyncio.run(go())


async def _refuse_live(store: Store, side: str, url: str) -> None:
    if await live_holder(store):
        raise UsageError(
            f"cronui: db copy: a scheduler is running on the {side} ({_shown(url)}); stop it first "
            "(runs recorded during the copy would be missing or overwritten)"
        )


def _same(a: str, b: str) -> bool:
    def norm(url: str) -> str:
        return url[len("sqlite:///") :] if url.startswith("sqlite:///") else url

    return norm(a) == norm(b)
