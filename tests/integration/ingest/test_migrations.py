"""A store made by an older program (only migration 1) upgrades in place and keeps its data."""

from __future__ import annotations

from pathlib import Path

from ingest.load import ingest_file
from ioc import migrations
from ioc.store import Store

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "ingest" / "good"


def test_old_store_upgrades_in_place_and_keeps_its_data(tmp_path: Path) -> None:
    assert len(migrations.MIGRATIONS) > 1, "needs a later migration to upgrade to"
    data_dir = tmp_path / "data"
    old = Store(data_dir, migrate=False)
    assert migrations.migrate(old, migrations.MIGRATIONS[:1]) == [1]
    # today's loader also writes each run's message template (migration 4); the older program
    # wrote the rest of the run log alike, so its rows are written with those columns, then the
    # columns dropped: the store is as the older program left it
    template = [(t, c) for t in ("ingest_runs", "rejections") for c in ("message_id", "message_params")]
    old.write(lambda c: [c.execute(f"ALTER TABLE {t} ADD COLUMN {col} VARCHAR") for t, col in template])
    for name in ("schools_2025-07-01.csv", "attendance_2026-11-23.csv"):
        assert ingest_file(old, FIXTURES / name).status == "loaded"
    old.write(lambda c: [c.execute(f"ALTER TABLE {t} DROP COLUMN {col}") for t, col in template])
    before = old.execute("SELECT * FROM attendance ORDER BY school_id").rows
    old.close()

    upgraded = Store(data_dir)  # opening migrates
    try:
        assert migrations.current_version(upgraded) == migrations.LATEST
        applied = [
            row[0] for row in upgraded.execute("SELECT version FROM schema_version ORDER BY version").rows
        ]
        assert applied == [m.version for m in migrations.MIGRATIONS]
        assert upgraded.execute("SELECT * FROM attendance ORDER BY school_id").rows == before
        assert upgraded.execute("SELECT count(*) FROM schools").scalar() == 3
        assert upgraded.execute("SELECT count(*) FROM ingest_runs WHERE status = 'loaded'").scalar() == 2
        # the older program's runs have no template: data health shows their stored text
        assert upgraded.execute("SELECT count(*) FROM ingest_runs WHERE message_id IS NULL").scalar() == 2
        # and the upgraded store keeps working: the same file is recognised, a new one loads
        assert ingest_file(upgraded, FIXTURES / "attendance_2026-11-23.csv").status == "unchanged"
        assert ingest_file(upgraded, FIXTURES / "connectivity_2026-11-23.csv").status == "loaded"
    finally:
        upgraded.close()
