"""`cronui jobs backfill`: a dry run's count and first and last slots, the runs queued once, refusals in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import cli

WINDOW = ("--from", "2025-01-01T00:00Z", "--to", "2025-01-07T23:00Z")


def test_backfill_dry_run_then_queue_then_nothing_left(capsys: pytest.CaptureFixture[str], cli_db: Path) -> None:
    assert cli(capsys, "jobs", "add", "hourly", "--schedule", "0 * * * *", "--shell", "true")[0] == 0
    code, out, _ = cli(capsys, "jobs", "backfill", "hourly", *WINDOW, "--dry-run")
    assert code == 0
    assert out == "hourly: 168 slots, 2025-01-01T00:00:00.000Z .. 2025-01-07T23:00:00.000Z (dry run: nothing queued)\n"
    assert cli(capsys, "runs", "list")[1].count("backfill") == 0
    code, out, _ = cli(capsys, "jobs", "backfill", "hourly", *WINDOW)
    assert code == 0 and out.startswith("hourly: queued 168 of 168 slots")
    code, out, _ = cli(capsys, "jobs", "backfill", "hourly", *WINDOW)
    assert code == 0 and "queued 0 of 168 slots" in out and "168 skipped" in out


@pytest.mark.parametrize(
    ("extra", "error"),
    [
        (("--max", "100"), "cronui: hourly: the window holds 168 slots, more than --max 100; nothing was queued\n"),
        (("--max", "x"), None),
    ],
)
def test_a_refused_backfill_is_one_line_exit_2_and_queues_nothing(
    capsys: pytest.CaptureFixture[str], cli_db: Path, extra: tuple[str, ...], error: str | None
) -> None:
    assert cli(capsys, "jobs", "add", "hourly", "--schedule", "0 * * * *", "--shell", "true")[0] == 0
    code, out, err = cli(capsys, "jobs", "backfill", "hourly", *WINDOW, *extra)
    assert code == 2 and out == "" and len(err.splitlines()) == 1
    if error is not None:
        assert err == error
    assert "backfill" not in cli(capsys, "runs", "list")[1]
