"""The README's health screenshot shows what the app itself finds: on the demo data with two checks that
crontab pings (one whose slot this morning had no ping, one started and not ended) and a job too new to have
run, the app's own engine makes them `late` and `overrun`, and the job list sorted by health shows every
health there is, the worst first."""

from __future__ import annotations

from pathlib import Path

from cronui.model.alerts import HEALTHS
from cronui.ui.catalog import HEALTH_RANK
from cronui.ui.widgets.job_table import JobTable
from tests.ui.demo_data import DEMO_NOW
from tests.ui.make_screenshots import at_health, demo_app, prepare_shot_db


async def test_the_health_shot_shows_every_health_the_worst_first(tmp_path: Path) -> None:
    db = tmp_path / "health.db"
    await prepare_shot_db("health", db)
    app = demo_app(db)
    async with app.run_test(size=(120, 36)) as pilot:
        await at_health(pilot)  # waits until the engine found ledger-export late and offsite-copy overrun
        table = app.screen.query_one(JobTable)
        shown = [app.catalog.health_of(j.id) for j in table.rows]
        assert set(shown) == set(HEALTHS), "every health is in the picture"
        assert shown == sorted(shown, key=lambda h: HEALTH_RANK[h or ""]), "the worst first (never ran last)"
        ledger, offsite = app.catalog.by_name["ledger-export"], app.catalog.by_name["offsite-copy"]
        assert "! late" in [str(c) for c in table.render_cells(ledger, 0)]
        assert "▲ overrun" in [str(c) for c in table.render_cells(offsite, 0)]
        assert ledger.next_run_at is not None and ledger.next_run_at > DEMO_NOW, "its missed slot is behind it"
