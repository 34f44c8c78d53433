"""The state of the endpoints runs call (agent gateways, HTTP targets), written with the run ends that observed
them: an endpoint goes down when a run could not reach it and it was up, and comes back when a run reaches it
while it was down. Each change is a compare-and-set in the transaction that records the ends, so with many
nodes (or a restart in between) one outage is one episode, found down once and back up once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cronui.model.records import EndpointChange, EndpointState, Recorded, RunEnd
from cronui.store.dialect import Dialect, Tx

ERROR_CAP = 300  # characters of the error kept with an endpoint's state

# down: only one that was up (or never seen) changes; RETURNING names it when it did
ENDPOINT_DOWN = (
    "INSERT INTO endpoints (endpoint, down_since, error, episode, changed_at) VALUES (?, ?, ?, 1, ?) "
    "ON CONFLICT (endpoint) DO UPDATE SET down_since = excluded.down_since, error = excluded.error, "
    "episode = endpoints.episode + 1, changed_at = excluded.changed_at WHERE endpoints.down_since IS NULL "
    "RETURNING episode"
)
ENDPOINTS_DOWN = "SELECT endpoint, down_since FROM endpoints WHERE endpoint {among} AND down_since IS NOT NULL"
ENDPOINT_UP = (
    "UPDATE endpoints SET down_since = NULL, changed_at = ? WHERE endpoint = ? AND down_since IS NOT NULL "
    "RETURNING episode"
)
ENDPOINTS_SELECT = "SELECT endpoint, down_since, error, episode, changed_at FROM endpoints ORDER BY endpoint"


def fold(observed: Sequence[tuple[int, Mapping[str, str | None]]]) -> dict[str, tuple[int, str | None]]:
    """What a batch of run ends says of each endpoint: its last observation (the index of the end that made
    it, and why the endpoint could not be reached, or None when it answered). Ends come in the order they
    finished."""
    last: dict[str, tuple[int, str | None]] = {}
    for index, endpoints in observed:
        for endpoint, error in endpoints.items():
            last[endpoint] = (index, None if error is None else error[:ERROR_CAP])
    return last


async def record_endpoints(
    tx: Tx, dialect: Dialect, ends: Sequence[RunEnd], live: Sequence[int], results: list[Recorded | None]
) -> None:
    """Write what the ends written (`live`) found of their endpoints; each change goes to the Recorded of the
    end that made it. Nothing is read or written for ends that called no endpoint (shell jobs)."""
    last = fold([(i, ends[i].endpoints) for i in live if ends[i].endpoints])
    if not last:
        return
    answered = sorted(e for e, (_, error) in last.items() if error is None)
    down_since: dict[str, int] = {}
    if answered:  # the common case: all up, and one look at the table says so
        among, params = dialect.in_list(answered)
        down_since = {row[0]: row[1] for row in await tx.rows(ENDPOINTS_DOWN.format(among=among), params)}
    # one pass in the endpoints' order: two nodes' transactions take their rows' locks in the same order
    for endpoint, (index, error) in sorted(last.items()):
        at = ends[index].run.finished_at or 0
        if error is None and endpoint in down_since:
            back = await tx.row(ENDPOINT_UP, (at, endpoint))
            if back is not None:
                since = down_since[endpoint]
                _note(results, index, EndpointChange(endpoint, False, int(back[0]), at, down_since=since))
        elif error is not None:
            down = await tx.row(ENDPOINT_DOWN, (endpoint, at, error, at))
            if down is not None:
                _note(results, index, EndpointChange(endpoint, True, int(down[0]), at, error=error))


def _note(results: list[Recorded | None], index: int, change: EndpointChange) -> None:
    rec = results[index]
    if rec is not None:
        rec.endpoints.append(change)


def endpoint_from_row(row: Sequence[Any]) -> EndpointState:
    """A row of ENDPOINTS_SELECT."""
    endpoint, down_since, error, episode, changed_at = row
    return EndpointState(endpoint, down_since, error if down_since is not None else None, int(episode), changed_at)
